"""The values of the journey layer: what a scenario file says, and what a journey found.

Everything here is a frozen dataclass so a loaded scenario and a computed journey can
be cached, shared between pages and compared in tests. Field names are a contract with
the renderer and the MkDocs plugin: add fields, do not rename them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from .._errors import ChainwalkError, Location, Problem
from .._named import first_named
from ..netfilter import Interface, Trace, hostport
from ..netfilter._reasons import Reason

# The ports Envoy listens on in a standard Istio pod.
OUTBOUND_PORT = 15001
INBOUND_PORT = 15006
DNS_PORT = 15053
DEFAULT_SIDECAR_PORTS = (15001, 15006, 15008, 15020, 15021, 15053, 15090)
PROXY_ID = 1337
HBONE_PORT = 15008
# Ambient mode: the node's ztunnel opens these listeners inside each ambient pod, and
# marks its sockets so that the pod's rules leave its own connections alone.
ZTUNNEL_PORTS = (15001, 15006, 15008, 15053)
ZTUNNEL_MARK = 0x539
SIDECAR_KINDS = ("envoy", "ztunnel")

INBOUND_MODES = ("passthrough", "localhost")
OUTBOUND_POLICIES = ("ALLOW_ANY", "REGISTRY_ONLY")
#: How a journey ends.
Result = Literal["delivered", "loop", "refused", "blackholed", "dropped", "hop-limit"]
#: What became of one hop's connection.
HopOutcome = Literal["accepted", "proxied", "blackholed", "refused", "dropped", "loop",
                     "hop-limit"]
RESULTS: tuple[Result, ...] = get_args(Result)
HOP_OUTCOMES: tuple[HopOutcome, ...] = get_args(HopOutcome)
WILDCARD = ""  # a process that listens on every local address (0.0.0.0 and ::)


@dataclass(frozen=True, slots=True)
class Process:
    """A program in a pod: who it runs as and where it listens.

    ``ports`` are TCP listening ports, ``udp_ports`` UDP ones; ``bind`` is the
    address they are bound to (:data:`WILDCARD`, the default, means every local
    address, as 0.0.0.0 / :: do).
    """

    name: str
    uid: int
    gid: int
    ports: tuple[int, ...] = ()
    udp_ports: tuple[int, ...] = ()
    bind: str = WILDCARD
    location: Location | None = field(default=None, compare=False)
    mark: int = 0  # SO_MARK of its sockets


@dataclass(frozen=True, slots=True)
class Sidecar:
    """The proxy of a pod (Envoy): its identity, listeners and the Istio settings that
    decide where it sends a connection.

    ``inbound_mode``: ``passthrough`` connects to the original destination from
    127.0.0.6 (Istio >= 1.10), ``localhost`` to 127.0.0.1:PORT (Istio <= 1.9).
    ``outbound_policy``: ``ALLOW_ANY`` passes unknown destinations through,
    ``REGISTRY_ONLY`` blackholes them.

    ``kind`` ``ztunnel`` is ambient mode's proxy: the node's ztunnel, whose listeners
    (transparent sockets marked ``mark``) are opened inside the pod's namespace.
    ``transparent``: the listeners are IP_TRANSPARENT (ztunnel's; Envoy's for TPROXY
    interception, which hands connections only to such sockets).
    """

    kind: str = "envoy"
    uid: int = PROXY_ID
    gid: int = PROXY_ID
    ports: tuple[int, ...] = DEFAULT_SIDECAR_PORTS
    inbound_mode: str = "passthrough"
    outbound_policy: str = "ALLOW_ANY"
    location: Location | None = field(default=None, compare=False)
    mark: int = 0  # SO_MARK of the proxy's sockets
    transparent: bool = False


@dataclass(frozen=True, slots=True)
class Pod:
    """A network namespace: its addresses, its iptables rules and what runs in it.

    ``ruleset`` is the ruleset file as the scenario file names it (relative to the
    rules/ folder); ``ruleset_path`` the file it resolved to (empty: no rules).
    ``interfaces`` include ``lo``; ``addresses`` are the pod's own (eth0) IPs.
    """

    name: str
    addresses: tuple[str, ...]
    ruleset: str
    ruleset_path: str
    interfaces: tuple[Interface, ...]
    processes: tuple[Process, ...] = ()
    sidecar: Sidecar | None = None
    location: Location | None = field(default=None, compare=False)
    ruleset6: str = ""  # the ip6tables ruleset for IPv6 connections ("": no rules)
    ruleset6_path: str = ""
    # Policy routing: the files of ``ip rule show`` and ``ip route show table all`` (both
    # or neither); without them the pod is routed as a pod is (connected and default).
    routing_paths: tuple[str, str] | None = None
    # ipset members, by set name, for the rules that match sets.
    ipsets: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def process(self, name: str) -> Process | None:
        return first_named(self.processes, name)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a service sends a connection: a pod and a port (``None``: the service port)."""

    pod: str
    port: int | None = None

    def __str__(self) -> str:
        return self.pod if self.port is None else f"{self.pod}:{self.port}"


@dataclass(frozen=True, slots=True)
class Service:
    """A Kubernetes service: a virtual IP, its ports and the pods behind it, in order."""

    name: str
    vip: str
    ports: tuple[int, ...]
    endpoints: tuple[Endpoint, ...]
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Topology:
    """Pods and services of one scenario file."""

    name: str
    path: str
    pods: tuple[Pod, ...]
    services: tuple[Service, ...] = ()

    def pod(self, name: str) -> Pod | None:
        return first_named(self.pods, name)

    def service(self, name: str) -> Service | None:
        return first_named(self.services, name)

    def service_at(self, vip: str, port: int) -> Service | None:
        for s in self.services:
            if s.vip == vip and port in s.ports:
                return s
        return None

    def pod_with_address(self, address: str) -> Pod | None:
        for p in self.pods:
            if address in p.addresses:
                return p
        return None


@dataclass(frozen=True, slots=True)
class Request:
    """The connection a scenario starts with.

    ``to`` is the destination as written (``reviews:9080``, ``10.96.0.20:9080``,
    ``localhost:9080``); ``dst``/``dport`` what it resolves to (a service name
    becomes its VIP, as DNS would). ``source`` is the address the client binds to
    (empty: routing chooses).
    """

    pod: str
    process: str
    to: str
    dst: str
    dport: int
    protocol: str = "tcp"
    source: str = ""
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class RuleEdit:
    """A what-if on a pod's ruleset (``pod`` empty: every pod that has rules):
    ``delete``, ``insert`` or ``replace`` a rule.

    The rule is named by ``table``, ``chain`` and either ``spec`` (its normal form,
    as ``rule_spec`` prints it) or ``number`` (1-based). ``insert`` puts ``new_rule``
    before that rule (or at ``number``; at the end of the chain when both are
    missing); ``replace`` swaps it for ``new_rule``.
    """

    pod: str
    action: str
    table: str
    chain: str
    spec: str | None = None
    number: int | None = None
    new_rule: str | None = None
    location: Location | None = field(default=None, compare=False)

    def describe(self) -> str:
        which = self.spec if self.spec is not None else f"rule {self.number}"
        pod = self.pod or "every pod"
        if self.action == "delete":
            return f"{pod}: delete {self.table} {self.chain} {which}"
        if self.action == "replace":
            return f"{pod}: replace {self.table} {self.chain} {which} with {self.new_rule}"
        where = "" if self.spec is None and self.number is None else f" before {which}"
        return f"{pod}: insert into {self.table} {self.chain}{where}: {self.new_rule}"


@dataclass(frozen=True, slots=True)
class ProcessChange:
    """A what-if: a process runs as another uid (and gid)."""

    pod: str
    process: str
    uid: int
    gid: int
    location: Location | None = field(default=None, compare=False)

    def describe(self) -> str:
        return f"{self.pod}: {self.process} runs as uid {self.uid} gid {self.gid}"


@dataclass(frozen=True, slots=True)
class InboundModeChange:
    """A what-if: the pod's sidecar delivers inbound connections another way."""

    pod: str
    inbound_mode: str
    location: Location | None = field(default=None, compare=False)

    def describe(self) -> str:
        return f"{self.pod}: sidecar inbound mode {self.inbound_mode}"


@dataclass(frozen=True, slots=True)
class IpRuleDelete:
    """A what-if: the pod's policy rule of this priority is gone (``ip rule del``)."""

    pod: str
    priority: int
    location: Location | None = field(default=None, compare=False)

    def describe(self) -> str:
        return f"{self.pod}: ip rule {self.priority} deleted"


WhatIf = RuleEdit | ProcessChange | InboundModeChange | IpRuleDelete


@dataclass(frozen=True, slots=True)
class HopExpectation:
    """What one hop should be: its listener ``port``, ``receiver``
    (``pod/process`` or ``pod/process:port``), ``original`` destination
    (``ip:port`` as SO_ORIGINAL_DST shows it) and/or ``outcome``. ``None`` fields
    are not checked."""

    port: int | None = None
    receiver: str | None = None
    original: str | None = None
    location: Location | None = field(default=None, compare=False)
    outcome: HopOutcome | None = None


@dataclass(frozen=True, slots=True)
class RuleExpectation:
    """A rule that must decide (hit) somewhere in the journey, or in hop ``hop``.

    Named by ``table``:``chain``:``number``, or by ``chain`` and ``spec`` (normal
    form); ``table`` empty means any table.
    """

    table: str
    chain: str
    number: int | None = None
    spec: str | None = None
    hop: int | None = None
    location: Location | None = field(default=None, compare=False)

    def describe(self) -> str:
        head = f"{self.table}:{self.chain}" if self.table else self.chain
        which = f":{self.number}" if self.number is not None else f" {self.spec}"
        return head + which + (f" in hop {self.hop}" if self.hop is not None else "")


@dataclass(frozen=True, slots=True)
class Expectations:
    """What a scenario's journey must show; ``None`` / empty parts are not checked."""

    result: Result | None = None
    receiver: str | None = None
    hops: tuple[HopExpectation, ...] | None = None
    rules: tuple[RuleExpectation, ...] = ()
    reason: str | None = None  # a substring of Journey.reason
    location: Location | None = field(default=None, compare=False)
    # Where each expectation was written ("result", "receiver", "hops", "reason").
    locations: tuple[tuple[str, Location], ...] = field(default=(), compare=False)

    def where(self, name: str) -> Location | None:
        for key, location in self.locations:
            if key == name:
                return location
        return self.location


@dataclass(frozen=True, slots=True)
class Scenario:
    """One request through one topology, with what-ifs and expectations.

    ``id`` is ``<file stem>/<name>``; the site's pages reference it.
    ``topology`` is as the file describes it, before the what-ifs.
    """

    id: str
    name: str
    title: str
    topology: Topology
    request: Request
    what_ifs: tuple[WhatIf, ...] = ()
    expectations: Expectations = Expectations()
    description: str = ""
    location: Location | None = field(default=None, compare=False)
    hop_limit: int = 16
    zh_title: str = ""  # the title on the Chinese pages (the file's ``zh: {title: ...}``)

    def title_in(self, language: str) -> str:
        """The title in ``language`` ("en" or "zh"); a Chinese page showing a scenario
        without a Chinese title is an error at the scenario's line."""
        if language == "en":
            return self.title
        if not self.zh_title:
            raise ChainwalkError([Problem(
                self.location or Location(self.topology.path, 0),
                f"scenario {self.id} has no Chinese title, and a /zh/ page shows it",
                self.name, "zh: {title: ...} in the scenario")])
        return self.zh_title


@dataclass(frozen=True)
class Hop:
    """One connection in one network namespace, from the socket that opened it to the
    socket that accepted it (or to where it failed).

    ``src``/``sport``/``dst``/``dport`` are the connection as the sender opened it
    (``src`` is the bound address or the one routing chose). ``output_trace`` is the
    sender namespace's OUTPUT trace; ``prerouting_trace`` the receiving pod's
    PREROUTING trace when the connection crosses to another pod (``None`` otherwise).
    ``listener`` describes the receiving socket (``envoy virtualOutbound :15001``,
    ``app reviews :9080``); ``original_dst``/``original_dport`` are what
    SO_ORIGINAL_DST would show on the accepted socket (the destination as opened
    when no NAT happened). ``outcome`` is one of :data:`HOP_OUTCOMES`; ``notes`` say
    why in words (a service resolved to its first endpoint, a passthrough, ...).
    """

    number: int
    pod: str
    process: str
    uid: int
    gid: int
    protocol: str
    src: str
    sport: int
    dst: str
    dport: int
    output_trace: Trace
    prerouting_trace: Trace | None = None
    receiver_pod: str | None = None
    receiver_process: str | None = None
    receiver_port: int | None = None
    listener: str | None = None
    original_dst: str | None = None
    original_dport: int | None = None
    outcome: HopOutcome = "accepted"
    notes: tuple[Reason, ...] = ()

    @property
    def traces(self) -> tuple[Trace, ...]:
        """The netfilter traces of this hop, in the order the packet met them."""
        if self.prerouting_trace is None:
            return (self.output_trace,)
        return (self.output_trace, self.prerouting_trace)

    @property
    def receiver(self) -> str | None:
        """``pod/process:port`` of the accepting socket, if any."""
        if self.receiver_pod is None or self.receiver_process is None:
            return None
        return f"{self.receiver_pod}/{self.receiver_process}:{self.receiver_port}"

    @property
    def original(self) -> str | None:
        """``ip:port`` (``[ip]:port`` for IPv6) of the original destination."""
        if self.original_dst is None:
            return None
        return hostport(self.original_dst, self.original_dport)


@dataclass(frozen=True)
class Journey:
    """Every hop of a scenario's request, and how it ended.

    ``result`` is one of :data:`RESULTS`; ``receiver`` is ``pod/process:port`` of
    the final (non-proxy) listener when delivered; ``reason`` says why the journey ended
    where it did (``str(reason)`` in English words).
    """

    scenario_id: str
    hops: tuple[Hop, ...]
    result: Result
    receiver: str | None
    reason: Reason
