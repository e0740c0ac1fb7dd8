"""Files named by path, as the command line names them: a scenario file's journeys."""

from __future__ import annotations

from .._errors import ChainwalkError, Location, Problem
from ..journey import Journey, Scenario, load_scenarios, run_scenario


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
