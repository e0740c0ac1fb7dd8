"""The parsed form of a ruleset: typed values, compared by meaning.

A :class:`Rule` is its criteria (``matches``, the base criteria ``-s -d -i -o -p -f``
first as the pseudo-module ``""``) and its :class:`Target`; every option holds the
spelling ``iptables-save`` prints, so two rules that the kernel would store alike
compare equal. Where a rule or chain came from (file, line, column, counters) is kept
beside it but left out of comparisons; its :class:`Location` is made when asked for, not
for each of a large file's rules. Nothing changes a parsed model: the classes are not
frozen only because a frozen dataclass's ``__init__`` costs several times a plain one's
and a large file makes hundreds of thousands of these (options, matches and targets are
hashed by value).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._errors import Location
from .._named import first_named
from ._values import named_ids

if TYPE_CHECKING:
    from ._compile import CompiledRule
    from ._trace import ChainIndex

#: Built-in chains of each table, in the order the kernel registers them.
BUILTIN_CHAINS: dict[str, tuple[str, ...]] = {
    "raw": ("PREROUTING", "OUTPUT"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "security": ("INPUT", "FORWARD", "OUTPUT"),
}
TABLES = tuple(BUILTIN_CHAINS)
BASE_MODULE = ""


@dataclass(slots=True, unsafe_hash=True)
class Option:
    """One option with its values, e.g. ``! --dport 15008`` is ``Option("dport", ("15008",), True)``."""

    name: str
    values: tuple[str, ...] = ()
    negated: bool = False

    @property
    def value(self) -> str:
        return self.values[0] if self.values else ""


@dataclass(slots=True, unsafe_hash=True)
class Match:
    """A match module and its options (``module == ""`` holds the base criteria)."""

    module: str
    options: tuple[Option, ...]

    def get(self, name: str) -> Option | None:
        return first_named(self.options, name)


@dataclass(slots=True, unsafe_hash=True)
class Target:
    """What a rule does when it matches: a target extension, or a jump/goto to a chain."""

    name: str
    options: tuple[Option, ...] = ()
    goto: bool = False
    is_chain: bool = False

    def get(self, name: str) -> Option | None:
        return first_named(self.options, name)


def _location(source: str | None, line: int, column: int) -> Location | None:
    return None if source is None else Location(source, line, column)


@dataclass(slots=True)
class Rule:
    """One rule of a chain; ``source`` is the file it was read from (``None``: not read)."""

    matches: tuple[Match, ...]
    target: Target | None
    source: str | None = field(default=None, compare=False, repr=False)
    line: int = field(default=0, compare=False, repr=False)
    column: int = field(default=1, compare=False, repr=False)
    counters: tuple[int, int] | None = field(default=None, compare=False, repr=False)
    _spec: str | None = field(default=None, init=False, compare=False, repr=False)
    _compiled: CompiledRule | None = field(default=None, init=False, compare=False, repr=False)

    @property
    def location(self) -> Location | None:
        return _location(self.source, self.line, self.column)

    def match(self, module: str) -> Match | None:
        for match in self.matches:
            if match.module == module:
                return match
        return None

    @property
    def spec(self) -> str:
        """The rule in normal form, without ``-A CHAIN`` (what annotations key on)."""
        if self._spec is None:
            from ._writer import rule_spec

            self._spec = rule_spec(self)
        return self._spec

    @property
    def compiled(self) -> CompiledRule:
        """The rule's checks, made on first use (see ``_compile``)."""
        if self._compiled is None:
            from ._compile import compile_rule

            self._compiled = compile_rule(self)
        return self._compiled

    def __getstate__(self) -> tuple[Any, ...]:  # the checks are closures: not pickled
        return (self.matches, self.target, self.source, self.line, self.column, self.counters)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.matches, self.target, self.source, self.line, self.column, self.counters = state
        self._spec = self._compiled = None


@dataclass(slots=True)
class Chain:
    """A chain and its rules; ``source``, ``line`` and ``column`` as a rule's."""

    name: str
    policy: str | None  # None for a user-defined chain
    rules: tuple[Rule, ...] = ()
    source: str | None = field(default=None, compare=False, repr=False)
    line: int = field(default=0, compare=False, repr=False)
    column: int = field(default=1, compare=False, repr=False)
    counters: tuple[int, int] | None = field(default=None, compare=False, repr=False)
    _index: ChainIndex | None = field(default=None, init=False, compare=False, repr=False)
    _indexed: bool = field(default=False, init=False, compare=False, repr=False)

    @property
    def location(self) -> Location | None:
        return _location(self.source, self.line, self.column)

    @property
    def builtin(self) -> bool:
        return self.policy is not None

    @property
    def index(self) -> ChainIndex | None:
        """Where each exact ``-d`` address occurs, for long chains (see ``_trace``)."""
        if not self._indexed:
            from ._trace import build_index

            self._index, self._indexed = build_index(self), True
        return self._index


@dataclass(slots=True)
class Table:
    """One table's chains, built-in ones first, as the kernel lists them."""

    name: str
    chains: tuple[Chain, ...]
    location: Location | None = field(default=None, compare=False, repr=False)
    by_name: dict[str, Chain] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.by_name = {chain.name: chain for chain in self.chains}

    def chain(self, name: str) -> Chain | None:
        return self.by_name.get(name)


@dataclass(slots=True)
class Ruleset:
    """Every table of one address family, as one ``iptables-save`` would print them."""

    family: int  # 4 or 6
    tables: tuple[Table, ...]
    source: str = field(default="<input>", compare=False)
    by_name: dict[str, Table] = field(init=False, compare=False, repr=False)
    _tracks: bool | None = field(default=None, init=False, compare=False, repr=False)
    _owner_ids: tuple[int, ...] | None = field(default=None, init=False, compare=False,
                                               repr=False)

    def __post_init__(self) -> None:
        self.by_name = {table.name: table for table in self.tables}

    def table(self, name: str) -> Table | None:
        return self.by_name.get(name)

    def chain(self, table: str, chain: str) -> Chain | None:
        found = self.by_name.get(table)
        return found.chain(chain) if found else None

    @property
    def tracks_connections(self) -> bool:
        """Whether a rule turns connection tracking on (without one, nat is never run)."""
        if self._tracks is None:
            from ._extensions import tracks_connections

            self._tracks = any(tracks_connections(rule) for table in self.tables
                               for chain in table.chains for rule in chain.rules)
        return self._tracks

    @property
    def owner_ids(self) -> tuple[int, ...]:
        """The uids and gids owner matches name (a range by its bounds), in order."""
        if self._owner_ids is None:
            owners = (rule.match("owner") for table in self.tables for chain in table.chains
                      for rule in chain.rules)
            self._owner_ids = named_ids(option.value for match in owners if match is not None
                                        for option in match.options)
        return self._owner_ids
