"""The netfilter engine: parse real rulesets, trace a packet as the kernel would.

Data flows one way: text -> :func:`parse_text` -> :class:`Ruleset` ->
:func:`trace` -> :class:`Trace`. Nothing here knows about Istio or MkDocs.

Each name is imported from its module on first use, so that a caller that only parses
(``chainwalk check``) does not load the trace.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._extensions import MODULES, TARGETS
    from ._model import BUILTIN_CHAINS, Chain, Match, Option, Rule, Ruleset, Table, Target
    from ._packet import Host, Interface, Packet, host_with
    from ._parser import parse_file, parse_text
    from ._routing import Route, is_local, route_output
    from ._trace import (
        HOOK_TABLES,
        Branch,
        Disposition,
        EventKind,
        Hit,
        Jump,
        Step,
        StepKind,
        StepResult,
        Trace,
        Verdict,
        trace,
    )
    from ._writer import rule_line, rule_spec, write_ruleset

_MODULE_OF = {
    "MODULES": "_extensions", "TARGETS": "_extensions",
    **dict.fromkeys(("BUILTIN_CHAINS", "Chain", "Match", "Option", "Rule", "Ruleset", "Table",
                     "Target"), "_model"),
    **dict.fromkeys(("Host", "Interface", "Packet", "host_with"), "_packet"),
    "parse_file": "_parser", "parse_text": "_parser",
    **dict.fromkeys(("Route", "is_local", "route_output"), "_routing"),
    **dict.fromkeys(("HOOK_TABLES", "Branch", "Disposition", "EventKind", "Hit", "Jump", "Step",
                     "StepKind", "StepResult", "Trace", "Verdict", "trace"), "_trace"),
    **dict.fromkeys(("rule_line", "rule_spec", "write_ruleset"), "_writer"),
}

__all__ = [
    "BUILTIN_CHAINS", "HOOK_TABLES", "MODULES", "TARGETS", "Branch", "Chain", "Disposition",
    "EventKind", "Hit", "Host", "Interface", "Jump", "Match", "Option", "Packet", "Route",
    "Rule", "Ruleset", "Step", "StepKind", "StepResult", "Table", "Target", "Trace", "Verdict",
    "host_with", "is_local", "parse_file", "parse_text", "route_output", "rule_line",
    "rule_spec", "trace", "write_ruleset",
]


def __getattr__(name: str) -> object:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
