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
from .._ruleset_cache import load_rules
from ..netfilter import Host, Interface, Ruleset, family_of, host_with
from ..netfilter._nft_model import NftRuleset
from ._model import (
    InboundModeChange,
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


def pod_host(pod: Pod) -> Host:
    """The pod's network namespace as the netfilter engine sees it: default route via eth0.

    Shared between runs: a Host caches its parsed addresses, which routing asks for on
    every hop."""
    return _host(pod.interfaces)


@lru_cache(maxsize=1024)
def _host(interfaces: tuple[Interface, ...]) -> Host:
    return host_with({i.name: i.addresses for i in interfaces})


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
    hosts = {pod.name: pod_host(pod) for pod in topology.pods}
    return World(topology, family, rulesets, hosts)
