"""The ``coverage`` view: which scenario of a topology exercises which rule.

A rule "is exercised" by a scenario when it matched (its counter would rise) in a
trace through the ruleset file in one of the scenario's hops. A rule that no
scenario reaches is listed with a dash and reported as a warning: the site claims
nothing about it, so either a scenario is missing or the rule is dead.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._errors import Location, Problem
from ..journey import Journey, Scenario
from ..netfilter import Ruleset
from ._escape import md_code, md_text
from ._journeys import traces_with
from ._messages import ENGLISH, Messages


@dataclass(slots=True)
class Coverage:
    """The view's Markdown, and a warning for each rule no scenario exercises."""

    markdown: str
    uncovered: list[Problem]


def coverage(topology: str, runs: list[tuple[Scenario, Journey]],
             rulesets: list[tuple[str, str, Ruleset]], table: str | None,
             msg: Messages = ENGLISH) -> Coverage:
    """``rulesets`` are ``(name, file path, ruleset)``; ``table`` ``None``: every table."""
    out: list[str] = []
    uncovered: list[Problem] = []
    for name, path, ruleset in rulesets:
        by_rule: dict[tuple[str, str, int], list[str]] = {}
        for scenario, journey in runs:
            for _, trace in traces_with(scenario, journey, path):
                for step in trace.steps:
                    if step.hit:
                        users = by_rule.setdefault((step.table, step.chain, step.rule), [])
                        if scenario.name not in users:
                            users.append(scenario.name)
        rows = []
        for found in ruleset.tables:
            if table is not None and found.name != table:
                continue
            for chain in found.chains:
                for number, rule in enumerate(chain.rules, start=1):
                    users = by_rule.get((found.name, chain.name, number), [])
                    cells = [md_text(f"{found.name} {chain.name}"), str(number),
                             md_code(rule.spec), ", ".join(md_code(u) for u in users) or "&#8212;"]
                    rows.append("| " + " | ".join(cells) + " |")
                    if not users:
                        uncovered.append(Problem(
                            rule.location or Location(path, 0),
                            f"{found.name} {chain.name} rule {number} ({rule.spec}) is exercised "
                            f"by no scenario of {topology}"))
        covered = sum(1 for row in rows if not row.endswith("&#8212; |"))
        out.append(msg("coverage.summary", ruleset=md_code(name), covered=covered,
                       rules=len(rows), scenarios=len(runs), topology=md_code(topology)))
        out.append("")
        header = [msg(f"coverage.column.{c}") for c in ("chain", "number", "rule", "by")]
        out.extend(["| " + " | ".join(header) + " |", "| --- | --- | --- | --- |", *rows])
        out.append("")
    return Coverage("\n".join(out), uncovered)
