"""Rulesets of pods: parsed once per file version, and edited by what-ifs.

A site build runs dozens of scenarios over the same few files, so a parsed
:class:`Ruleset` is cached under the file's path, modification time and size (an
edited file is parsed again). A what-if edit produces a new ruleset; it is cached
too, keyed by the ruleset it edits and the edits themselves (both hashable values).

Rules are named the way people read them: by chain and the rule's normal-form text
(what ``rule.spec`` prints) or by 1-based number. A spec is compared by meaning: it
is parsed in the context of its table (so ``-j ISTIO_REDIRECT`` resolves) and
compared with ``Rule`` equality, which ignores spelling differences such as option
order or a missing ``-m tcp``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace

from .._errors import ChainwalkError, Location, Problem
from ..netfilter import Rule, Ruleset, Table, parse_file, parse_text
from ..netfilter._writer import write_table
from ._model import RuleEdit

# A file that failed to parse keeps its error, so that the pods sharing it do not
# parse it again each.
_parsed: dict[tuple[str, int, int, int], Ruleset | ChainwalkError] = {}
# Keyed by id() of a cached ruleset or table (hashing a whole ruleset on every run
# would cost more than the lookup saves); the value keeps that object alive so the
# id cannot be reused, and is checked to be the same object.
_edited: dict[tuple[int, tuple[RuleEdit, ...]], tuple[Ruleset, Ruleset]] = {}
_specs: dict[tuple[int, str, str], tuple[Table, Rule]] = {}
_EMPTY = {4: Ruleset(4, (), "<no rules>"), 6: Ruleset(6, (), "<no rules>")}


def empty_ruleset(family: int) -> Ruleset:
    """The rules of a namespace where nobody installed any: everything is accepted."""
    return _EMPTY[family]


def load_ruleset(path: str, family: int) -> Ruleset:
    """The parsed file, from the cache while the file is unchanged (its error too)."""
    try:
        stat = os.stat(path)
    except OSError:
        return parse_file(path, family)  # raises, saying why the file cannot be read
    key = (os.path.abspath(path), stat.st_mtime_ns, stat.st_size, family)
    found = _parsed.get(key)
    if found is None:
        try:
            found = parse_file(path, family)
        except ChainwalkError as e:
            found = e
        _parsed[key] = found
    if isinstance(found, ChainwalkError):
        raise ChainwalkError(found.problems)
    return found


def parse_rule(table: Table, chain: str, text: str, family: int) -> Rule:
    """``text`` (a rule without ``-A CHAIN``) parsed as a rule of ``chain`` in ``table``.

    Raises :class:`ChainwalkError` with the parser's problems (their locations are
    inside a made-up file; callers re-anchor them at the scenario's line).
    """
    key = (id(table), chain, text)
    cached = _specs.get(key)
    if cached is not None and cached[0] is table:
        return cached[1]
    body = write_table(table).removesuffix("COMMIT\n")
    ruleset = parse_text(f"{body}-A {chain} {text}\nCOMMIT\n", "<rule>", family)
    parsed = ruleset.chain(table.name, chain)
    assert parsed is not None and parsed.rules  # the line just written is its last rule
    found = parsed.rules[-1]
    _specs[key] = (table, found)
    return found


def rule_index(ruleset: Ruleset, table: str, chain: str, ref: str | int,
               where: Location | None) -> int:
    """The 0-based index of the rule ``ref`` (spec or 1-based number) in ``table chain``.

    Raises :class:`ChainwalkError` at ``where`` saying what rules there are.
    """
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
    _edited[key] = (ruleset, found)
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
