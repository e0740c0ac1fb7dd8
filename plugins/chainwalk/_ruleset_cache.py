"""Ruleset files, parsed once per content: the one cache that the journeys, the
application layer (``chainwalk.project``) and the CLI all read rulesets through.

An entry is kept per file and requested family, with the SHA-256 of the bytes it was
parsed from: a lookup reads the file again and parses it only when those bytes changed
(an edit, whatever its modification time). A file's new version replaces its old one, and
at most :data:`KEPT` files are kept (the least recently used goes first), so a long
``mkdocs serve`` keeps one model per file however often the files are saved. A file that
does not parse keeps its error the same way, so it is not parsed again for every pod.

Values computed from cached rulesets and keyed by the objects' ``id()`` (what-if edits,
traces) are kept in a :class:`DerivedCache`, which empties itself whenever a model leaves
this cache, so none of them keeps one alive.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import TYPE_CHECKING, Generic, TypeVar

from ._errors import ChainwalkError
from ._files import decode, read_bytes
from .netfilter import Ruleset, parse_text
from .netfilter._format import detect_format

if TYPE_CHECKING:
    from .netfilter._nft_model import NftRuleset

KEPT = 32  # files: more than a site reads, few enough to bound the memory of a session

_Key = tuple[str, int | None]  # (path, the family asked for; None: from the addresses)
_entries: OrderedDict[_Key, tuple[str, Ruleset | NftRuleset | ChainwalkError]] = OrderedDict()
_NFT = 0  # the family part of an nftables file's key (one ruleset for every family)
_generation = 0  # changes whenever a parsed ruleset is dropped from the cache
K = TypeVar("K")
V = TypeVar("V")
M = TypeVar("M", bound="Ruleset | NftRuleset")  # a parsed model


class DerivedCache(Generic[K, V]):
    """Values computed from cached rulesets: at most ``kept`` (emptied when full), and
    emptied whenever a model leaves the ruleset cache."""

    def __init__(self, kept: int) -> None:
        self.kept = kept
        self.values: dict[K, V] = {}
        self.generation = _generation

    def get(self, key: K) -> V | None:
        if self.generation != _generation:
            self.values.clear()
            self.generation = _generation
        return self.values.get(key)

    def put(self, key: K, value: V) -> None:
        if len(self.values) >= self.kept:
            self.values.clear()
        self.values[key] = value


def load_ruleset(path: str, family: int | None = None) -> Ruleset:
    """``path`` parsed (as ``family``; ``None``: the family its addresses have, else 4),
    from the cache while the file holds the same bytes.

    Raises :class:`ChainwalkError` for a file that cannot be read or does not parse.
    """
    content = read_bytes(path, what="ruleset")
    digest = hashlib.sha256(content).hexdigest()
    found: Ruleset | ChainwalkError | str | None = _cached_ruleset(path, family, digest)
    if found is None:
        try:
            found = decode(content, path)
        except ChainwalkError as e:  # kept like a parse's problems
            found = e
    return _ruleset(path, family, digest, found)


def load_rules(path: str, family: int | None = None) -> Ruleset | NftRuleset:
    """``path`` parsed as iptables (see :func:`load_ruleset`) or as nftables rules, by its
    first line; from the cache while the file holds the same bytes. The file is read and
    decoded once, and a file of cached bytes is not looked at again."""
    content = read_bytes(path, what="ruleset")
    digest = hashlib.sha256(content).hexdigest()
    key: _Key = (path, _NFT)
    found = _cached(key, digest)
    if found is None:
        iptables = _cached_ruleset(path, family, digest)
        if iptables is not None:
            return _ruleset(path, family, digest, iptables)
        text = decode(content, path)
        if detect_format(text) == "iptables":
            return _ruleset(path, family, digest, text)
        from .netfilter._nft_parser import parse_nft_text

        try:
            found = parse_nft_text(text, path)
        except ChainwalkError as e:
            found = e
    return _kept(key, digest, found)


def _cached(key: _Key, digest: str) -> Ruleset | NftRuleset | ChainwalkError | None:
    entry = _entries.get(key)
    return entry[1] if entry is not None and entry[0] == digest else None


def _cached_ruleset(path: str, family: int | None, digest: str
                    ) -> Ruleset | ChainwalkError | None:
    """The iptables model (or error) of these bytes of ``path`` for ``family``, if kept."""
    found = _cached((path, family), digest)
    if found is None:
        # A file that parses as IPv4 (or has no addresses) parses alike whether the
        # family is asked for or read from its addresses: one model serves both.
        other = _cached((path, 4 if family is None else None), digest)
        if isinstance(other, Ruleset) and other.family == (family or 4):
            found = other
    # (An nftables model has a key of its own: never found here.)
    return found if isinstance(found, (Ruleset, ChainwalkError)) else None


def _ruleset(path: str, family: int | None, digest: str,
             found: Ruleset | ChainwalkError | str) -> Ruleset:
    """The model ``found`` in the cache, or parsed from the text ``found``; kept as the
    entry of ``path`` and ``family``. Raises the file's :class:`ChainwalkError`."""
    if isinstance(found, str):
        try:
            found = parse_text(found, path, family)
        except ChainwalkError as e:
            found = e
    return _kept((path, family), digest, found)


def _kept(key: _Key, digest: str, found: M | ChainwalkError) -> M:
    """``found`` kept as the entry of ``key``, or the file's :class:`ChainwalkError` kept and
    raised (a new one: raising the same would grow it)."""
    _store(key, digest, found)
    if isinstance(found, ChainwalkError):
        raise ChainwalkError(found.problems)
    return found


def _store(key: _Key, digest: str, value: Ruleset | NftRuleset | ChainwalkError) -> None:
    global _generation
    old = _entries.pop(key, None)
    if old is not None and old[1] is not value:
        _generation += 1
    _entries[key] = (digest, value)
    while len(_entries) > KEPT:
        _entries.popitem(last=False)
        _generation += 1


def clear() -> None:
    """Forget every parsed ruleset."""
    global _generation
    _entries.clear()
    _generation += 1


def load_text(text: str, path: str, family: int | None, nft: bool) -> Ruleset | NftRuleset:
    """Rules held in memory (the playground's paste), named ``path``, parsed as iptables
    (as ``family``) or nftables rules: from the cache while the text is the same, so a
    trace of another packet through them parses nothing."""
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    key: _Key = (path, _NFT if nft else family)
    found = _cached(key, digest)
    if found is None:
        try:
            if nft:
                from .netfilter._nft_parser import parse_nft_text

                found = parse_nft_text(text, path)
            else:
                found = parse_text(text, path, family)
        except ChainwalkError as e:
            found = e
    return _kept(key, digest, found)
