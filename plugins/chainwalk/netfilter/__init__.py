"""The netfilter engine: parse real rulesets, trace a packet as the kernel would.

Data flows one way: text -> :func:`parse_text` -> :class:`Ruleset` ->
:func:`trace` -> :class:`Trace`. Nothing here knows about Istio or MkDocs.
"""

from .. import _compiled

_compiled.load(__path__)  # the compiled parser, if built for these sources: see _compiled

from ._extensions import MODULES, TARGETS
from ._model import BUILTIN_CHAINS, Chain, Match, Option, Rule, Ruleset, Table, Target
from ._packet import Host, Interface, Packet, host_address, host_with, hostport
from ._parser import parse_file, parse_rule, parse_text
from ._routing import Route, is_local, route_output
from ._trace import HOOK_TABLES, Branch, Hit, Step, Trace, trace
from ._values import family_of
from ._writer import rule_line, rule_spec, write_ruleset

__all__ = [
    "BUILTIN_CHAINS", "HOOK_TABLES", "MODULES", "TARGETS", "Branch", "Chain", "Hit", "Host",
    "Interface", "Match", "Option", "Packet", "Route", "Rule", "Ruleset", "Step", "Table",
    "Target", "Trace", "family_of", "host_address", "host_with", "hostport", "is_local", "parse_file", "parse_rule", "parse_text", "route_output", "rule_line",
    "rule_spec", "trace", "write_ruleset",
]
