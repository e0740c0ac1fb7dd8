"""The topology a journey actually runs in: the file's topology with the what-ifs applied.

A scenario keeps its topology as written (the site shows it); the what-ifs are
applied here, each time a journey runs, from cached pieces: parsed rulesets (by
file content) and edited rulesets (by the edits). ``World`` is what the journey
engine and the loader's checks both look at.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

from .._errors import ChainwalkError, Location, Problem
from .._files import read_text
from .._ruleset_cache import load_rules
from ..netfilter import Host, Interface, Ruleset, family_of, host_with
from ..netfilter._nft_model import NftRuleset
from ..netfilter._packet import Socket
from ..netfilter._policy_routing import PolicyRouting, policy_routing
from ._model import (
    InboundModeChange,
    IpRuleDelete,
    Pod,
    ProcessChange,
    RuleEdit,
    Scenario,
    Topology,
    WhatIf,
)
from ._rulesets import apply_edits, empty_ruleset


@dataclass(slots=True)
class World:
    """Pods after the what-ifs, with the rules and the network view of each, for one
    address family (a journey never changes family)."""

    topology: Topology
    family: int
    rulesets: dict[str, Ruleset | NftRuleset]
    hosts: dict[str, Host]


def pod_host(pod: Pod, family: int = 4) -> Host:
    """The pod's network namespace as the netfilter engine sees it: default route via eth0,
    or its policy routing dumps; its sockets when a rule may ask (policy routing, a
    transparent proxy), its ipsets.

    Shared between runs: a Host caches its parsed addresses, which routing asks for on
    every hop."""
    transparent = pod.sidecar is not None and pod.sidecar.transparent
    if pod.routing_paths is None and not transparent and not pod.ipsets:
        return _host(pod.interfaces)
    routing: tuple[PolicyRouting, ...] = ()
    if pod.routing_paths is not None and family == 4:  # the dumps are IPv4's
        rules, routes = pod.routing_paths
        routing = (_routing(read_text(rules, what="ip rule dump"), rules,
                            read_text(routes, what="ip route dump"), routes, family),)
    return _host(pod.interfaces, routing, pod_sockets(pod), pod.ipsets)


def pod_sockets(pod: Pod) -> tuple[Socket, ...]:
    """The pod's listening sockets: its processes' and its proxy's."""
    sockets: list[Socket] = []
    for process in pod.processes:
        address = process.bind or "0.0.0.0"
        sockets.extend(Socket("tcp", address, port) for port in process.ports)
        sockets.extend(Socket("udp", address, port) for port in process.udp_ports)
    sidecar = pod.sidecar
    if sidecar is not None:
        sockets.extend(Socket("tcp", "0.0.0.0", port, sidecar.transparent, sidecar.mark)
                       for port in sidecar.ports)
    return tuple(sockets)


@lru_cache(maxsize=64)
def _routing(rules_text: str, rules: str, routes_text: str, routes: str, family: int
             ) -> PolicyRouting:
    # By content: an edited dump is read again (mkdocs serve).
    return policy_routing(rules_text, rules, routes_text, routes, family)


@lru_cache(maxsize=1024)
def _host(interfaces: tuple[Interface, ...], routing: tuple[PolicyRouting, ...] = (),
          sockets: tuple[Socket, ...] | None = None,
          ipsets: tuple[tuple[str, tuple[str, ...]], ...] = ()) -> Host:
    return host_with({i.name: i.addresses for i in interfaces}, routing=routing,
                     sockets=sockets, ipsets=dict(ipsets) if ipsets else None)


def _without_ip_rules(host: Host, pod: str, what_ifs: tuple[WhatIf, ...]) -> Host:
    gone = {w.priority for w in what_ifs if isinstance(w, IpRuleDelete) and w.pod == pod}
    if not gone or not host.routing:
        return host
    return replace(host, routing=tuple(
        replace(r, rules=tuple(rule for rule in r.rules if rule.priority not in gone))
        for r in host.routing), _cache={})


def pod_ruleset(pod: Pod, family: int) -> Ruleset | NftRuleset:
    """The pod's rules as the file names them (no what-ifs): iptables or nftables."""
    path = pod.ruleset_path if family == 4 else pod.ruleset6_path
    return load_rules(path, family) if path else empty_ruleset(family)


def edits_for(pod: Pod, what_ifs: tuple[WhatIf, ...]) -> tuple[RuleEdit, ...]:
    """The rule edits that apply to ``pod``: its own and those for every pod with rules."""
    return tuple(w for w in what_ifs if isinstance(w, RuleEdit)
                 and (w.pod == pod.name or (w.pod == "" and pod.ruleset_path)))


def apply_people_changes(topology: Topology, what_ifs: tuple[WhatIf, ...]) -> Topology:
    """Processes' uids and sidecars' inbound modes as the what-ifs change them."""
    if not any(isinstance(w, (ProcessChange, InboundModeChange)) for w in what_ifs):
        return topology  # most scenarios: nothing to copy
    pods = []
    for pod in topology.pods:
        for w in what_ifs:
            if w.pod != pod.name:
                continue
            if isinstance(w, ProcessChange):
                pod = replace(pod, processes=tuple(
                    replace(p, uid=w.uid, gid=w.gid) if p.name == w.process else p
                    for p in pod.processes))
            elif isinstance(w, InboundModeChange) and pod.sidecar is not None:
                pod = replace(pod, sidecar=replace(pod.sidecar, inbound_mode=w.inbound_mode))
        pods.append(pod)
    return replace(topology, pods=tuple(pods))


def build_world(scenario: Scenario) -> World:
    """Raises :class:`ChainwalkError` (at the what-if's line) when an edit does not apply."""
    family = family_of(scenario.request.dst)
    topology = apply_people_changes(scenario.topology, scenario.what_ifs)
    rulesets: dict[str, Ruleset | NftRuleset] = {}
    problems: list[Problem] = []
    for pod in topology.pods:
        try:
            rules = pod_ruleset(pod, family)
            edits = edits_for(pod, scenario.what_ifs)
            if isinstance(rules, NftRuleset):
                if edits:
                    raise ChainwalkError([Problem(edits[0].location or Location(
                        rules.source, 0), "rule edits apply to iptables rulesets; "
                        f"{rules.source} is nftables", None, "a pod with iptables rules")])
                rulesets[pod.name] = rules
                continue
            rulesets[pod.name] = apply_edits(rules, edits)
        except ChainwalkError as e:
            problems.extend(e.problems)
    if problems:  # an edit for every pod fails alike in pods that share a ruleset
        raise ChainwalkError(dict.fromkeys(problems))
    hosts = {pod.name: _without_ip_rules(pod_host(pod, family), pod.name, scenario.what_ifs)
             for pod in topology.pods}
    return World(topology, family, rulesets, hosts)
