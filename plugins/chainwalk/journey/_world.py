"""The topology a journey actually runs in: the file's topology with the what-ifs applied.

A scenario keeps its topology as written (the site shows it); the what-ifs are
applied here, each time a journey runs, from cached pieces: parsed rulesets (by
file version) and edited rulesets (by the edits). ``World`` is what the journey
engine and the loader's checks both look at.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .._errors import ChainwalkError, Problem
from ..netfilter import Host, Interface, Ruleset, host_with
from ._model import (
    InboundModeChange,
    Pod,
    ProcessChange,
    RuleEdit,
    Scenario,
    Topology,
    WhatIf,
)
from ._rulesets import apply_edits, empty_ruleset, load_ruleset


@dataclass(slots=True)
class World:
    """Pods after the what-ifs, with the rules and the network view of each, for one
    address family (a journey never changes family)."""

    topology: Topology
    family: int
    rulesets: dict[str, Ruleset]
    hosts: dict[str, Host]


def family_of(address: str) -> int:
    return 6 if ":" in address else 4


_hosts: dict[tuple[Interface, ...], Host] = {}


def pod_host(pod: Pod) -> Host:
    """The pod's network namespace as the netfilter engine sees it: default route via eth0.

    Shared between runs: a Host caches its parsed addresses, which routing asks for on
    every hop."""
    host = _hosts.get(pod.interfaces)
    if host is None:
        host = host_with({i.name: i.addresses for i in pod.interfaces})
        _hosts[pod.interfaces] = host
    return host


def pod_ruleset(pod: Pod, family: int) -> Ruleset:
    """The pod's rules as the file names them (no what-ifs)."""
    path = pod.ruleset_path if family == 4 else pod.ruleset6_path
    return load_ruleset(path, family) if path else empty_ruleset(family)


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
    rulesets: dict[str, Ruleset] = {}
    problems: list[Problem] = []
    for pod in topology.pods:
        try:
            rulesets[pod.name] = apply_edits(pod_ruleset(pod, family),
                                             edits_for(pod, scenario.what_ifs))
        except ChainwalkError as e:
            problems.extend(e.problems)
    if problems:  # an edit for every pod fails alike in pods that share a ruleset
        raise ChainwalkError(dict.fromkeys(problems))
    hosts = {pod.name: pod_host(pod) for pod in topology.pods}
    return World(topology, family, rulesets, hosts)
