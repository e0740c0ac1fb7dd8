"""The netfilter engine: parse real rulesets, trace a packet as the kernel would.

Data flows one way: text -> :func:`parse_text` -> :class:`Ruleset` ->
:func:`trace` -> :class:`Trace`. Nothing here knows about Istio or MkDocs.

Each name is imported from its module on first use, so that a caller that only parses
(``chainwalk check``) does not load the trace.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy_names import lazy_names

if TYPE_CHECKING:
    from ._extensions import MODULES, TARGETS
    from ._model import BUILTIN_CHAINS, Chain, Match, Option, Rule, Ruleset, Table, Target
    from ._packet import Host, Interface, Packet, host_address, host_with, hostport
    from ._parser import parse_file, parse_rule, parse_text
    from ._routing import Route, is_local, route_output
    from ._trace import (
        HOOK_TABLES,
        Branch,
        Disposition,
        EventKind,
        Handshake,
        HandshakeOutcome,
        Hit,
        Jump,
        Step,
        StepKind,
        StepResult,
        Trace,
        Verdict,
        trace,
    )
    from ._values import family_of
    from ._writer import rule_line, rule_spec, write_ruleset

_MODULE_OF = {
    "MODULES": "_extensions", "TARGETS": "_extensions",
    **dict.fromkeys(("BUILTIN_CHAINS", "Chain", "Match", "Option", "Rule", "Ruleset", "Table",
                     "Target"), "_model"),
    **dict.fromkeys(("Host", "Interface", "Packet", "host_address", "host_with", "hostport"),
                    "_packet"),
    **dict.fromkeys(("parse_file", "parse_rule", "parse_text"), "_parser"),
    **dict.fromkeys(("Route", "is_local", "route_output"), "_routing"),
    **dict.fromkeys(("HOOK_TABLES", "Branch", "Disposition", "EventKind", "Handshake",
                     "HandshakeOutcome", "Hit", "Jump", "Step", "StepKind", "StepResult",
                     "Trace", "Verdict", "trace"), "_trace"),
    "family_of": "_values",
    **dict.fromkeys(("rule_line", "rule_spec", "write_ruleset"), "_writer"),
}

__all__ = [
    "BUILTIN_CHAINS", "HOOK_TABLES", "MODULES", "TARGETS", "Branch", "Chain", "Disposition",
    "EventKind", "Handshake", "HandshakeOutcome", "Hit", "Host", "Interface", "Jump", "Match",
    "Option", "Packet", "Route",
    "Rule", "Ruleset", "Step", "StepKind", "StepResult", "Table", "Target", "Trace", "Verdict",
    "family_of", "host_address", "host_with", "hostport", "is_local", "parse_file",
    "parse_rule", "parse_text", "route_output", "rule_line",
    "rule_spec", "trace", "write_ruleset",
]

__getattr__ = lazy_names(__name__, _MODULE_OF)
