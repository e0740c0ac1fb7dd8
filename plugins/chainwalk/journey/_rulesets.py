"""Rulesets of pods: read through the one ruleset cache, and edited by what-ifs.

A site build runs dozens of scenarios over the same few files: a pod's ruleset comes
from :mod:`chainwalk._ruleset_cache` (parsed once per file content). A what-if edit
produces a new ruleset, made on the model (the rules around it are not read again); it
is cached too, keyed by the ruleset it edits and the edits themselves.

Rules are named the way people read them: by chain and the rule's normal-form text
(what ``rule.spec`` prints) or by 1-based number. A spec is compared by meaning: it
is read in the context of its table (``netfilter.parse_rule``, so ``-j ISTIO_REDIRECT``
resolves) and compared with ``Rule`` equality, which ignores spelling differences
such as option order or a missing ``-m tcp``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from .._errors import ChainwalkError, Location, Problem
from .._ruleset_cache import DerivedCache
from ..netfilter import Ruleset, parse_rule
from ..netfilter._nft_model import NftRuleset
from ._model import RuleEdit

# Keyed by id() of a cached ruleset (hashing a whole ruleset on every run would cost
# more than the lookup saves); the value keeps that object alive so the id cannot be
# reused, and is checked to be the same object.
_edited: DerivedCache[tuple[int, tuple[RuleEdit, ...]], tuple[Ruleset, Ruleset]] = \
    DerivedCache(1024)
_EMPTY = {4: Ruleset(4, (), "<no rules>"), 6: Ruleset(6, (), "<no rules>")}


def empty_ruleset(family: int) -> Ruleset:
    """The rules of a namespace where nobody installed any: everything is accepted."""
    return _EMPTY[family]


def rule_index(ruleset: Ruleset | NftRuleset, table: str, chain: str, ref: str | int,
               where: Location | None) -> int:
    """The 0-based index of the rule ``ref`` (spec or 1-based number) in ``table chain``.

    Raises :class:`ChainwalkError` at ``where`` saying what rules there are.
    """
    if isinstance(ruleset, NftRuleset):
        return _nft_rule_index(ruleset, table, chain, ref, where)
    found_table = ruleset.table(table)
    found_chain = ruleset.chain(table, chain)
    at = where or Location(ruleset.source, 0)
    if found_table is None or found_chain is None:
        chains = sorted(c.name for t in ruleset.tables if t.name == table for c in t.chains)
        raise ChainwalkError([Problem(at, f"no chain {chain} in table {table} of "
                                      f"{ruleset.source}", chain,
                                      f"one of {', '.join(chains)}" if chains else
                                      "a table the ruleset has")])
    rules = found_chain.rules
    if isinstance(ref, int):
        if not 1 <= ref <= len(rules):
            raise ChainwalkError([Problem(at, f"{table} {chain} of {ruleset.source} has "
                                          f"{len(rules)} rules", str(ref),
                                          f"a number from 1 to {len(rules)}")])
        return ref - 1
    for n, rule in enumerate(rules):
        if rule.spec == ref:
            return n
    try:
        wanted = parse_rule(found_table, chain, ref, ruleset.family)
    except ChainwalkError as e:
        raise ChainwalkError([Problem(at, f"rule {ref!r}: {p.message}", p.token, p.expected)
                              for p in e.problems]) from None
    for n, rule in enumerate(rules):
        if rule == wanted:
            return n
    listing = "; ".join(f"{n}: {r.spec}" for n, r in enumerate(rules, start=1))
    raise ChainwalkError([Problem(at, f"no such rule in {table} {chain} of {ruleset.source}",
                                  ref, f"one of its rules ({listing})")])


def _nft_rule_index(ruleset: NftRuleset, table: str, chain: str, ref: str | int,
                    where: Location | None) -> int:
    """:func:`rule_index` for nftables: a spec is the rule's normal form (as ``nft list
    ruleset`` prints it, without its counter's values)."""
    at = where or Location(ruleset.source, 0)
    found = ruleset.chain(table, chain)
    if found is None:
        raise ChainwalkError([Problem(at, f"no chain {chain} in table {table} of "
                                      f"{ruleset.source}", chain, "a chain the ruleset has")])
    specs = [rule.spec for rule in found.rules]
    if isinstance(ref, int) and 1 <= ref <= len(specs):
        return ref - 1
    if isinstance(ref, str) and ref in specs:
        return specs.index(ref)
    listing = "; ".join(f"{n}: {spec}" for n, spec in enumerate(specs, start=1))
    raise ChainwalkError([Problem(at, f"no such rule in {table} {chain} of {ruleset.source}",
                                  str(ref), f"one of its rules ({listing})")])


def apply_edits(ruleset: Ruleset, edits: Sequence[RuleEdit]) -> Ruleset:
    """``ruleset`` with ``edits`` applied in order; each problem is reported at the
    edit's line in the scenario file."""
    if not edits:
        return ruleset
    key = (id(ruleset), tuple(edits))
    cached = _edited.get(key)
    if cached is not None and cached[0] is ruleset:
        return cached[1]
    found = ruleset
    for edit in edits:
        found = _apply(found, edit)
    _edited.put(key, (ruleset, found))
    return found


def _apply(ruleset: Ruleset, edit: RuleEdit) -> Ruleset:
    ref: str | int | None = edit.spec if edit.spec is not None else edit.number
    if ref is None:  # insert without a position: at the end of the chain
        chain = ruleset.chain(edit.table, edit.chain)
        index = len(chain.rules) if chain is not None else 0
        if chain is None:
            rule_index(ruleset, edit.table, edit.chain, 1, edit.location)  # raises
    else:
        index = rule_index(ruleset, edit.table, edit.chain, ref, edit.location)
    table = ruleset.table(edit.table)
    chain = ruleset.chain(edit.table, edit.chain)
    assert table is not None and chain is not None
    rules = list(chain.rules)
    if edit.action == "delete":
        del rules[index]
    else:
        assert edit.new_rule is not None
        try:
            new = parse_rule(table, edit.chain, edit.new_rule, ruleset.family)
        except ChainwalkError as e:
            at = edit.location or Location(ruleset.source, 0)
            raise ChainwalkError([Problem(at, f"rule {edit.new_rule!r}: {p.message}", p.token,
                                          p.expected) for p in e.problems]) from None
        if edit.action == "insert":
            rules.insert(index, new)
        else:
            rules[index] = new
    new_chain = replace(chain, rules=tuple(rules))
    new_table = replace(table, chains=tuple(new_chain if c.name == chain.name else c
                                            for c in table.chains))
    return replace(ruleset, tables=tuple(new_table if t.name == table.name else t
                                         for t in ruleset.tables),
                   source=f"{ruleset.source} (what-if)")
