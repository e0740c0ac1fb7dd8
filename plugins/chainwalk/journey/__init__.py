"""Journeys: a request followed through pods, sidecars and the kernel's rules.

Theory of operation. A scenario file (YAML, validated by ``scenario.schema.json``)
describes a topology — pods, each a network namespace with addresses, an iptables
ruleset, processes and an optional Envoy sidecar, and services with virtual IPs —
and scenarios: one request from a pod's process, optional what-ifs and
expectations.

A journey is a sequence of hops; each hop is one connection in one network
namespace. For each hop, routing (``netfilter.route_output``) picks the source and
output interface, the OUTPUT trace decides NAT; a connection that leaves through
eth0 crosses the cluster network (a service VIP is translated to its first
endpoint, as kube-proxy would) and enters the receiving pod's PREROUTING trace.
The final destination then lands on a listening socket of that pod (or is refused
or dropped). A sidecar listener acts as Envoy does (``_envoy``): it reads the
original destination and opens the next hop as the proxy's uid/gid. The journey
ends at a listener that is not a proxy, or in a failure: refused, blackholed,
dropped, a loop (the same listener receiving the same original destination again)
or the hop limit.

API: ``load_scenarios(path_or_folder)`` -> scenarios (raises ``ChainwalkError``
listing every problem as file:line); ``run_scenario(scenario)`` -> an immutable
``Journey``; ``check_scenario(scenario, journey)`` -> expectation mismatches as
``Problem`` values. Modules: ``_model`` (the values), ``chainwalk._yaml`` and ``_schema``
(lines and structure), ``_loader`` (meaning), ``_rulesets`` (what-if edits, on rulesets
read through ``chainwalk._ruleset_cache``), ``_world`` (the topology after what-ifs),
``_envoy`` (the sidecar), ``_engine`` (hops), ``_check`` (expectations). Plain views of
a journey for the command line are ``chainwalk.render``'s (``format_text``,
``format_mermaid``).
"""

from ._check import check_scenario, hop_summary
from ._engine import run_scenario
from ._loader import load_scenarios
from ._model import (
    DEFAULT_SIDECAR_PORTS,
    HOP_OUTCOMES,
    INBOUND_MODES,
    OUTBOUND_POLICIES,
    RESULTS,
    Endpoint,
    Expectations,
    Hop,
    HopExpectation,
    InboundModeChange,
    IpRuleDelete,
    Journey,
    Pod,
    Process,
    ProcessChange,
    Request,
    RuleEdit,
    RuleExpectation,
    Scenario,
    Service,
    Sidecar,
    Topology,
    WhatIf,
)

__all__ = [
    "DEFAULT_SIDECAR_PORTS", "HOP_OUTCOMES", "INBOUND_MODES", "OUTBOUND_POLICIES", "RESULTS",
    "Endpoint", "Expectations", "Hop", "HopExpectation", "InboundModeChange", "IpRuleDelete",
    "Journey", "Pod", "Process", "ProcessChange", "Request", "RuleEdit", "RuleExpectation", "Scenario",
    "Service", "Sidecar", "Topology", "WhatIf", "check_scenario", "hop_summary",
    "load_scenarios", "run_scenario",
]
