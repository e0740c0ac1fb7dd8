"""Checks the kernel makes when a table is committed.

``iptables-restore`` refuses a table whose jumps form a loop, and a rule that
uses a match or target from a hook it does not support (``-m owner`` reached
from PREROUTING, ``-j REDIRECT`` reached from INPUT...). The same checks here
give the same refusals, with the file and line of the offending rule.
"""

from __future__ import annotations

from .._errors import Location, Problem
from ._extensions import MODULES, TARGETS
from ._model import BASE_MODULE, Table


def reaching_hooks(table: Table) -> dict[str, frozenset[str]]:
    """For every chain, the built-in chains (hooks) from which a packet can reach it."""
    reach: dict[str, set[str]] = {c.name: set() for c in table.chains}
    for chain in table.chains:
        if not chain.builtin:
            continue
        stack, seen = [chain.name], {chain.name}
        while stack:
            current = table.by_name[stack.pop()]
            reach[current.name].add(chain.name)
            for rule in current.rules:
                t = rule.target
                if t is not None and t.is_chain and t.name in reach and t.name not in seen:
                    seen.add(t.name)
                    stack.append(t.name)
    return {name: frozenset(hooks) for name, hooks in reach.items()}


def _loops(table: Table) -> list[Problem]:
    problems = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for rule in table.by_name[name].rules:
            t = rule.target
            if t is None or not t.is_chain or t.name not in table.by_name:
                continue
            if state.get(t.name) == 1:
                cycle = [*path[path.index(t.name):], t.name]
                assert rule.location is not None
                problems.append(Problem(rule.location, "jump loop: " + " -> ".join(cycle),
                                        t.name, "jumps that never lead back to a calling chain"))
            elif t.name not in state:
                visit(t.name, [*path, t.name])
        state[name] = 2

    for chain in table.chains:
        if chain.name not in state:
            visit(chain.name, [chain.name])
    return problems


def validate_table(table: Table) -> list[Problem]:
    problems = _loops(table)
    if problems:
        return problems
    reach = reaching_hooks(table)
    for chain in table.chains:
        hooks = reach[chain.name]
        for rule in chain.rules:
            location = rule.location or Location("<input>", 0)
            for match in rule.matches:
                if match.module == BASE_MODULE:
                    continue
                allowed = MODULES[match.module].hooks
                if hooks - allowed:
                    problems.append(Problem(
                        location, f"-m {match.module} works only in "
                        + ", ".join(sorted(allowed)) + f", but chain {chain.name} is reached "
                        "from " + ", ".join(sorted(hooks - allowed)), match.module,
                        "a chain reached only from " + ", ".join(sorted(allowed))))
            t = rule.target
            if t is not None and not t.is_chain:
                allowed = TARGETS[t.name].hooks
                if hooks - allowed:
                    problems.append(Problem(
                        location, f"-j {t.name} works only in " + ", ".join(sorted(allowed))
                        + f", but chain {chain.name} is reached from "
                        + ", ".join(sorted(hooks - allowed)), t.name,
                        "a chain reached only from " + ", ".join(sorted(allowed))))
            if t is not None and t.name == "RETURN" and chain.builtin:
                pass  # RETURN in a built-in chain applies the policy: valid.
    return problems
