"""Files named by path, as the command line names them: rulesets and scenario files
checked, and a scenario file's journeys run.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from .._errors import ChainwalkError, Location, Problem
from .._ruleset_cache import load_ruleset
from ..journey import Journey, Scenario, check_scenario, load_scenarios, run_scenario


@dataclass(frozen=True)
class CheckReport:
    """Every problem found in the files, and how many scenarios were run."""

    problems: list[Problem]
    scenarios: int


def is_scenario_path(path: str) -> bool:
    """A scenario file (``.yaml``, ``.yml``) or a folder of them; else a ruleset."""
    return os.path.isdir(path) or path.endswith((".yaml", ".yml"))


def check_files(paths: Sequence[str]) -> CheckReport:
    """Parse every ruleset; load every scenario file, run each scenario and check its
    expectations."""
    problems: list[Problem] = []
    scenarios = 0
    for path in paths:
        try:
            if not is_scenario_path(path):
                load_ruleset(path)
                continue
            for scenario in load_scenarios(path):
                scenarios += 1
                problems.extend(check_scenario(scenario, run_scenario(scenario)))
        except ChainwalkError as e:
            problems.extend(e.problems)
    return CheckReport(problems, scenarios)


def journeys_of(path: str, name: str = "") -> list[tuple[Scenario, Journey]]:
    """The journey of every scenario of ``path`` (only the one called ``name``, a name or
    an id, when given)."""
    scenarios = load_scenarios(path)
    if name:
        found = [s for s in scenarios if name in (s.name, s.id)]
        if not found:
            names = ", ".join(s.name for s in scenarios)
            raise ChainwalkError([Problem(Location(path, 0), f"no scenario {name!r}", name,
                                          f"one of {names}")])
        scenarios = found
    return [(s, run_scenario(s)) for s in scenarios]
