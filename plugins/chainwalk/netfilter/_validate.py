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


def _jumps(table: Table) -> dict[str, list[tuple[Rule, str]]]:
    """For every chain, its rules that jump (or go) to a chain of the table, in order."""
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


def _hook_bits(graph: list[list[int]], builtins: list[int]) -> list[int] | None:
    """For every chain (by number), the built-in chains (hooks) from which a packet can reach
    it, as bits (one per chain of ``builtins``, the numbers of the table's built-in chains in
    its order); ``None`` if the jumps loop. Each chain is taken once all the chains that
    jump to it are (Kahn's order), so one pass over the jumps finds both."""
    indegree = [0] * len(graph)
    for out in graph:
        for to in out:
            indegree[to] += 1
    reach = [0] * len(graph)
    for bit, k in enumerate(builtins):
        reach[k] = 1 << bit
    ready = [k for k, count in enumerate(indegree) if not count]
    taken = 0
    while ready:
        k = ready.pop()
        taken += 1
        bits = reach[k]
        for to in graph[k]:
            reach[to] |= bits
            indegree[to] -= 1
            if not indegree[to]:
                ready.append(to)
    return reach if taken == len(graph) else None


def validate_table(table: Table, graph: list[list[int]],
                   uses: list[frozenset[str]]) -> list[Problem]:
    """The problems the kernel finds in ``table``, whose jumps are ``graph``: for every chain,
    by its number in ``table.chains``, the numbers of the chains its rules jump (or go) to,
    in order (COMMIT works them out as it checks that each jump names a chain). Only the
    jumps matter to the walk: a table of 50,000 rules has far fewer jumps between chains
    to follow than rules to look at again for every hook; and a large table has 20,000
    chains, so they are numbered: a list is indexed for less than a dict is read.

    ``uses`` names for each chain (by number) at least the modules and targets of its
    rules that work only from some hooks ("-m owner", "-j DNAT"): only the chains
    that use one their hooks rule out are looked at again, rule by rule."""
    # The policy, not the Chain.builtin property: a large table has 20,000 chains.
    builtins = [k for k, c in enumerate(table.chains) if c.policy is not None]
    bits = _hook_bits(graph, builtins)
    if bits is None:
        return _loops(table, _jumps(table))
    names = [table.chains[k].name for k in builtins]
    # For each set of hooks (as bits), the hooks and the modules and targets they rule out,
    # as names and as uses: a large table has thousands of chains, not of hook sets. Then a
    # rule costs a set lookup per match instead of a set difference.
    seen: dict[int, tuple[frozenset[str], frozenset[str], frozenset[str], frozenset[str]]] = {}
    problems: list[Problem] = []
    for number, chain in enumerate(table.chains):
        if not uses[number]:
            continue  # nothing in the chain works only from some hooks
        name = chain.name
        chain_bits = bits[number]
        found = seen.get(chain_bits)
        if found is None:
            hooks = frozenset(b for k, b in enumerate(names) if chain_bits >> k & 1)
            found = seen[chain_bits] = (hooks, *_ruled_out(hooks), _ruled_out_uses(hooks))
        hooks, bad_modules, bad_targets, bad_uses = found
        if not bad_modules and not bad_targets:
            continue
        if bad_uses.isdisjoint(uses[number]):
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
