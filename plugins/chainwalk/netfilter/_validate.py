"""Checks the kernel makes when a table is committed.

``iptables-restore`` refuses a table whose jumps form a loop, and a rule that
uses a match or target from a hook it does not support (``-m owner`` reached
from PREROUTING, ``-j REDIRECT`` reached from INPUT...). The same checks here
give the same refusals, with the file and line of the offending rule.
"""

from __future__ import annotations

from functools import lru_cache

from .._errors import Location, Problem
from ._extensions import MODULES, TARGETS
from ._model import Rule, Table


def _builtin_names(table: Table) -> list[str]:
    # The policy, not the Chain.builtin property: a large table has 20,000 chains.
    return [c.name for c in table.chains if c.policy is not None]


def _jumps(table: Table) -> dict[str, list[tuple[Rule, str]]]:
    """For every chain, its rules that jump (or go) to a chain of the table, in order.

    Only these rules matter to the walks below: a table of 50,000 rules has far fewer jumps
    between chains to follow than rules to look at again for every hook.
    """
    names = table.by_name
    jumps: dict[str, list[tuple[Rule, str]]] = {}
    for chain in table.chains:
        out = jumps[chain.name] = []
        for rule in chain.rules:
            t = rule.target
            if t is not None and t.is_chain and t.name in names:
                out.append((rule, t.name))
    return jumps


def _loops(table: Table, jumps: dict[str, list[tuple[Rule, str]]]) -> list[Problem]:
    problems = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for rule, to in jumps[name]:
            if state.get(to) == 1:
                cycle = [*path[path.index(to):], to]
                assert rule.location is not None
                problems.append(Problem(rule.location, "jump loop: " + " -> ".join(cycle),
                                        to, "jumps that never lead back to a calling chain"))
            elif to not in state:
                visit(to, [*path, to])
        state[name] = 2

    for chain in table.chains:
        if chain.name not in state:
            visit(chain.name, [chain.name])
    return problems


def _hook_bits(jumps: dict[str, list[tuple[Rule, str]]], builtins: list[str]
               ) -> dict[str, int] | None:
    """For every chain, the built-in chains (hooks) from which a packet can reach it, as bits
    (one per chain of ``builtins``, the table's built-in chains in its order); ``None`` if
    the jumps loop. Each chain is taken once all the chains that jump to it are (Kahn's
    order), so one pass over the jumps finds both. The chains are numbered for the walk:
    a large table has 20,000 chains, and a list is indexed for less than a dict is read."""
    number = {name: k for k, name in enumerate(jumps)}
    targets = [[number[to] for _, to in out] for out in jumps.values()]
    indegree = [0] * len(targets)
    for out in targets:
        for to in out:
            indegree[to] += 1
    reach = [0] * len(targets)
    for bit, name in enumerate(builtins):
        reach[number[name]] = 1 << bit
    ready = [k for k, count in enumerate(indegree) if not count]
    taken = 0
    while ready:
        k = ready.pop()
        taken += 1
        bits = reach[k]
        for to in targets[k]:
            reach[to] |= bits
            indegree[to] -= 1
            if not indegree[to]:
                ready.append(to)
    return dict(zip(jumps, reach, strict=True)) if taken == len(targets) else None


def validate_table(table: Table, jumps: dict[str, list[tuple[Rule, str]]] | None = None,
                   uses: dict[str, frozenset[str]] | None = None) -> list[Problem]:
    """The problems the kernel finds in ``table``. ``jumps`` is what ``_jumps`` gives, if
    known; ``uses``, if given, names for each chain at least the modules and targets of its
    rules that work only from some hooks ("-m owner", "-j DNAT"): only the chains that use
    one their hooks rule out are looked at again, rule by rule."""
    if jumps is None:
        jumps = _jumps(table)
    builtins = _builtin_names(table)
    bits = _hook_bits(jumps, builtins)
    if bits is None:
        return _loops(table, jumps)
    # For each set of hooks (as bits), the hooks and the modules and targets they rule out,
    # as names and as uses: a large table has thousands of chains, not of hook sets. Then a
    # rule costs a set lookup per match instead of a set difference.
    seen: dict[int, tuple[frozenset[str], frozenset[str], frozenset[str], frozenset[str]]] = {}
    problems: list[Problem] = []
    for chain in table.chains:
        name = chain.name
        if uses is not None and not uses[name]:
            continue  # nothing in the chain works only from some hooks
        chain_bits = bits[name]
        found = seen.get(chain_bits)
        if found is None:
            hooks = frozenset(b for k, b in enumerate(builtins) if chain_bits >> k & 1)
            found = seen[chain_bits] = (hooks, *_ruled_out(hooks), _ruled_out_uses(hooks))
        hooks, bad_modules, bad_targets, bad_uses = found
        if not bad_modules and not bad_targets:
            continue
        if uses is not None and bad_uses.isdisjoint(uses[name]):
            continue
        for rule in chain.rules:
            location = rule.location or Location("<input>", 0)
            for match in rule.matches:
                if match.module not in bad_modules:
                    continue
                allowed = MODULES[match.module].hooks
                problems.append(Problem(
                    location, f"-m {match.module} works only in "
                    + ", ".join(sorted(allowed)) + f", but chain {name} is reached "
                    "from " + ", ".join(sorted(hooks - allowed)), match.module,
                    "a chain reached only from " + ", ".join(sorted(allowed))))
            t = rule.target
            if t is not None and not t.is_chain and t.name in bad_targets:
                allowed = TARGETS[t.name].hooks
                problems.append(Problem(
                    location, f"-j {t.name} works only in " + ", ".join(sorted(allowed))
                    + f", but chain {name} is reached from "
                    + ", ".join(sorted(hooks - allowed)), t.name,
                    "a chain reached only from " + ", ".join(sorted(allowed))))
            # RETURN in a built-in chain applies the policy: valid.
    return problems


@lru_cache(maxsize=64)
def _ruled_out_uses(hooks: frozenset[str]) -> frozenset[str]:
    """``_ruled_out(hooks)`` spelt as ``uses`` are: "-m owner", "-j DNAT"."""
    bad_modules, bad_targets = _ruled_out(hooks)
    return frozenset([*("-m " + m for m in bad_modules), *("-j " + t for t in bad_targets)])


@lru_cache(maxsize=64)
def _ruled_out(hooks: frozenset[str]) -> tuple[frozenset[str], frozenset[str]]:
    """The match modules and the targets that do not work from every one of ``hooks``."""
    return (frozenset(name for name, spec in MODULES.items() if hooks - spec.hooks),
            frozenset(name for name, spec in TARGETS.items() if hooks - spec.hooks))
