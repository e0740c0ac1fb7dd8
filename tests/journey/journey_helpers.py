"""Scenario text for the journey tests (a module of its own: conftest is not importable)."""

from __future__ import annotations

import textwrap
from pathlib import Path

RULES = Path(__file__).resolve().parents[2] / "rules"

# A small topology on current Istio rules; tests append scenarios to it.
TOPOLOGY = """\
ruleset: rulesets/current.rules
pods:
  client:
    address: 10.0.0.11
    processes: {app: {ports: [9080]}}
  server:
    address: 10.0.0.12
    processes: {app: {ports: [9080]}}
services:
  server: {vip: 10.96.0.12, port: 9080, endpoints: [server]}
"""


def scenario_file(scenarios: str, topology: str = TOPOLOGY) -> str:
    """The shared topology plus a ``scenarios:`` block (given without indentation)."""
    return topology + "scenarios:\n" + textwrap.indent(textwrap.dedent(scenarios), "  ")
