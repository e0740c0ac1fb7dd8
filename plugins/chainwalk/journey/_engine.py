"""The journey engine: one connection after another until something that is not a proxy
accepts it, or it fails.

One hop is one connection in one network namespace:

1. Routing in the sender's pod picks the source address (unless the socket is
   bound) and the output interface (``netfilter.route_output``).
2. The sender's OUTPUT trace decides NAT. "delivered" means the connection stays
   in the pod (through lo) and lands on a local socket.
3. "sent" means it leaves on eth0 into the cluster network. A service VIP is
   translated there to the service's first endpoint, as kube-proxy would on the
   node; the pod owning the destination receives it, and its PREROUTING trace
   (in_interface eth0, source = the sender's source after NAT) decides again.
4. The connection lands on the listening socket for its final destination in the
   receiving pod, or is refused (nothing listens) or dropped. Its original
   destination is what SO_ORIGINAL_DST shows in that namespace: the destination
   before that namespace's NAT.

A sidecar listener then decides (``_envoy``) and, for an upstream connection, the
next hop starts in the same pod as the proxy's uid/gid. The journey ends at a
listener that is not a proxy, at a sidecar that answers or blackholes, on a
failure, on a loop (a listener receives an original destination it already
received: the same state again means forever) or at the scenario's hop limit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from .._errors import ChainwalkError, Location, Problem
from ..netfilter import Branch, Packet, Trace, family_of, hostport, route_output, trace
from ..netfilter._reasons import Reason, because
from . import _envoy, _ztunnel
from ._model import Hop, Journey, Pod, Result, Scenario
from ._world import World, build_world

EPHEMERAL_BASE = 40000  # hop n's client uses port 40000 + n: stable output, distinct hops


@dataclass(slots=True)
class _Sender:
    pod: str
    process: str
    uid: int
    gid: int
    mark: int = 0  # SO_MARK of its socket
    transparent: bool = False  # bound to an address that is not the pod's (IP_TRANSPARENT)


@dataclass(slots=True)
class _Listener:
    process: str
    description: str
    proxy: bool


@dataclass(slots=True)
class _Ending:
    """Why a journey stops: its result and the reason."""

    result: Result
    reason: Reason


def run_scenario(scenario: Scenario) -> Journey:
    """Follow the scenario's request; raises :class:`ChainwalkError` (at the scenario's
    line) only when a trace cannot be evaluated at all."""
    try:
        world = build_world(scenario)
        return _Walk(scenario, world).run()
    except ChainwalkError as e:
        where = scenario.location or Location(scenario.topology.path, 0)
        raise ChainwalkError([Problem(p.location if p.location.line else where,
                                      f"{scenario.id}: {p.message}", p.token, p.expected)
                              for p in e.problems]) from None


def _peer(hop: Hop) -> str:
    """The source address the receiving socket sees."""
    last = hop.prerouting_trace or hop.output_trace
    return last.final.src


def _decided_by(branch: Branch) -> Reason | str:
    step = branch.decided_by
    if step is None:
        return ""
    if step.kind == "policy":
        return because("decided.policy", table=step.table, chain=step.chain)
    if step.effect:
        return because("decided.rule-effect", table=step.table, chain=step.chain,
                       rule=step.rule, text=step.text, effect=step.effect)
    return because("decided.rule", table=step.table, chain=step.chain, rule=step.rule,
                   text=step.text)


class _Walk:
    def __init__(self, scenario: Scenario, world: World) -> None:
        self.scenario = scenario
        self.world = world
        self.topology = world.topology
        self.protocol = scenario.request.protocol

    def pod(self, name: str) -> Pod:
        pod = self.topology.pod(name)
        assert pod is not None  # the loader checked every name
        return pod

    def run(self) -> Journey:
        request = self.scenario.request
        client = self.pod(request.pod).process(request.process)
        assert client is not None
        sender = _Sender(request.pod, client.name, client.uid, client.gid, client.mark)
        dst, dport, source = request.dst, request.dport, request.source
        seen: dict[tuple[object, ...], int] = {}
        hops: list[Hop] = []
        tunnel: _ztunnel.Tunnel | None = None  # what an HBONE connection carries
        limit = self.scenario.hop_limit
        for number in range(1, limit + 1):
            hop, listener, ending = self.connect(number, sender, dst, dport, source)
            if listener is None:
                assert ending is not None
                hops.append(hop)
                return self.journey(hops, ending)
            key = (hop.receiver_pod, hop.receiver_port, hop.original_dst, hop.original_dport)
            if key in seen:
                hops.append(replace(hop, outcome="loop"))
                return self.journey(hops, _Ending("loop", because(
                    "journey.loop", number=number, listener=hop.listener, pod=hop.receiver_pod,
                    original=hop.original, first=seen[key])))
            seen[key] = number
            receiver = self.pod(hop.receiver_pod or "")
            where = {"listener": hop.listener, "pod": receiver.name}
            if not listener.proxy or receiver.sidecar is None:
                hops.append(hop)
                return self.journey(hops, _Ending("delivered", because(
                    "journey.accepts", **where, original=hop.original)))
            assert hop.receiver_port is not None and hop.original_dst is not None
            assert hop.original_dport is not None
            if receiver.sidecar.kind == "ztunnel":
                decision = _ztunnel.decide(self.topology, hop.receiver_port, hop.original_dst,
                                           hop.original_dport, _peer(hop), tunnel)
            else:
                decision = _envoy.decide(receiver.sidecar, self.topology, hop.receiver_port,
                                         hop.original_dst, hop.original_dport)
            if isinstance(decision, _envoy.Answer):
                hops.append(replace(hop, notes=(*hop.notes, decision.note)))
                return self.journey(hops, _Ending("delivered", because(
                    "journey.sidecar", **where, decision=decision.note)))
            if isinstance(decision, _envoy.Blackhole):
                hops.append(replace(hop, outcome="blackholed",
                                    notes=(*hop.notes, decision.reason)))
                return self.journey(hops, _Ending("blackholed", because(
                    "journey.sidecar", **where, decision=decision.reason)))
            hops.append(replace(hop, outcome="proxied", notes=(*hop.notes, decision.note)))
            sidecar = receiver.sidecar
            sender = _Sender(receiver.name, sidecar.kind, sidecar.uid, sidecar.gid,
                             sidecar.mark, decision.transparent)
            dst, dport, source = decision.dst, decision.dport, decision.source
            tunnel = decision.tunnel
        hops[-1] = replace(hops[-1], outcome="hop-limit")
        return self.journey(hops, _Ending("hop-limit", because(
            "journey.hop-limit", limit=limit, listener=hops[-1].listener,
            pod=hops[-1].receiver_pod)))

    def journey(self, hops: list[Hop], ending: _Ending) -> Journey:
        receiver = hops[-1].receiver if ending.result == "delivered" else None
        return Journey(self.scenario.id, tuple(hops), ending.result, receiver, ending.reason)

    # -- one connection --------------------------------------------------------

    def connect(self, number: int, sender: _Sender, dst: str, dport: int, source: str
                ) -> tuple[Hop, _Listener | None, _Ending | None]:
        pod = self.pod(sender.pod)
        host = self.world.hosts[pod.name]
        route = route_output(host, dst, sender.mark, source)
        sport = EPHEMERAL_BASE + number
        packet = Packet(dst, dport, self.protocol, source, sport, None, None, sender.uid,
                        sender.gid, mark=sender.mark)
        # A connection from an address that is not the pod's: whether the answer finds
        # its way back is the question (policy routing, the connection's mark).
        output = trace(self.world.rulesets[pod.name], packet, host, "OUTPUT",
                       with_handshake=sender.transparent)
        hop = Hop(number, pod.name, sender.process, sender.uid, sender.gid, self.protocol,
                  source or route.source, sport, dst, dport, output,
                  notes=self.fork_note(output))
        branch = output.main
        shake = branch.handshake
        if shake is not None and shake.outcome in ("reply-dropped", "ack-dropped"):
            return self.end(replace(hop, receiver_pod=pod.name), list(hop.notes), "dropped",
                            because("hop.handshake", source=hostport(source, sport),
                                    reason=shake.reason, outcome=shake.outcome))
        if branch.disposition == "delivered":
            local = self.local_socket(branch, dst)
            return self.land(hop, pod, local[0], local[1], dst, dport)
        if branch.disposition == "sent":
            return self.cross(hop, pod, branch)
        return self.failed(hop, pod, branch)

    @staticmethod
    def fork_note(result: Trace) -> tuple[Reason, ...]:
        if len(result.branches) == 1:
            return ()
        return (because("hop.fork", count=len(result.branches)),)

    @staticmethod
    def local_socket(branch: Branch, dst: str) -> tuple[str, int]:
        if branch.tproxy is not None:  # TPROXY hands the packet to that socket as it is
            address, port = branch.tproxy
            return (dst if address in ("", "0.0.0.0", "::") else address), port
        return branch.final.dst, branch.final.dport

    def cross(self, hop: Hop, pod: Pod, branch: Branch
              ) -> tuple[Hop, _Listener | None, _Ending | None]:
        final = branch.final
        dst, dport = final.dst, final.dport
        notes = list(hop.notes)
        service = self.topology.service_at(dst, dport)
        if service is not None:
            endpoint = service.endpoints[0]
            target = self.pod(endpoint.pod)
            family = family_of(dst)
            address = next((a for a in target.addresses if family_of(a) == family), None)
            if address is None:
                return self.end(hop, notes, "dropped", because(
                    "service.no-address", service=service.name, endpoint=str(endpoint),
                    family=family))
            port = endpoint.port or dport
            notes.append(because("hop.kube-proxy", service=service.name,
                                 address=hostport(dst, dport), pod=endpoint.pod,
                                 endpoint=hostport(address, port)))
            dst, dport = address, port
        receiver = self.topology.pod_with_address(dst)
        leaves = because("hop.leaves", pod=pod.name, interface=final.out_interface,
                         destination=hostport(dst, dport),
                         source=hostport(final.src, final.sport))
        if receiver is None:
            return self.end(hop, notes, "dropped",
                            because("hop.no-receiver", leaves=leaves, address=dst))
        if receiver.name == pod.name:
            return self.end(hop, notes, "dropped", because("hop.martian", leaves=leaves))
        packet = Packet(dst, dport, self.protocol, final.src, final.sport, "eth0")
        arriving = trace(self.world.rulesets[receiver.name], packet,
                          self.world.hosts[receiver.name], "PREROUTING")
        notes.extend(self.fork_note(arriving))
        hop = replace(hop, prerouting_trace=arriving, notes=tuple(notes))
        if arriving.main.disposition != "delivered":
            return self.failed(hop, receiver, arriving.main)
        local = self.local_socket(arriving.main, dst)
        return self.land(hop, receiver, local[0], local[1], dst, dport)

    def end(self, hop: Hop, notes: list[Reason], outcome: Literal["refused", "dropped"],
            reason: Reason) -> tuple[Hop, _Listener | None, _Ending | None]:
        return (replace(hop, outcome=outcome, notes=(*notes, reason)), None,
                _Ending(outcome, because("journey.hop", number=hop.number, reason=reason)))

    def failed(self, hop: Hop, pod: Pod, branch: Branch
               ) -> tuple[Hop, _Listener | None, _Ending | None]:
        notes = list(hop.notes)
        hop = replace(hop, receiver_pod=pod.name)
        how = _decided_by(branch)
        if branch.disposition == "rejected":
            return self.end(hop, notes, "refused", because("hop.rejected", pod=pod.name, how=how))
        if branch.disposition == "unroutable":
            return self.end(hop, notes, "dropped", because("hop.unroutable", pod=pod.name,
                                                           destination=branch.final.dst))
        if branch.disposition == "queued":
            return self.end(hop, notes, "dropped", because("hop.queued", pod=pod.name, how=how))
        if branch.disposition == "sent":  # arrived, then routed onward: pods do not forward
            return self.end(hop, notes, "dropped", because("hop.not-forwarded", pod=pod.name,
                                                           destination=branch.final.dst))
        return self.end(hop, notes, "dropped", because("hop.dropped", pod=pod.name, how=how))

    def land(self, hop: Hop, pod: Pod, address: str, port: int, original_dst: str,
             original_dport: int) -> tuple[Hop, _Listener | None, _Ending | None]:
        listener = self.listener(pod, address, port)
        if listener is None:
            hop = replace(hop, receiver_pod=pod.name)
            return self.end(hop, list(hop.notes), "refused", because(
                "hop.refused.udp" if self.protocol == "udp" else "hop.refused.tcp",
                protocol=self.protocol, address=hostport(address, port), pod=pod.name))
        return (replace(hop, receiver_pod=pod.name, receiver_process=listener.process,
                        receiver_port=port, listener=listener.description,
                        original_dst=original_dst, original_dport=original_dport),
                listener, None)

    def listener(self, pod: Pod, address: str, port: int) -> _Listener | None:
        """The socket the kernel picks: one bound to the address beats a wildcard one."""
        udp = self.protocol == "udp"
        wildcard: _Listener | None = None
        for process in pod.processes:
            if port in (process.udp_ports if udp else process.ports):
                found = _Listener(process.name, f"app {process.name} :{port}", False)
                if process.bind == address:
                    return found
                if not process.bind:
                    wildcard = wildcard or found
        sidecar = pod.sidecar
        if sidecar is not None and port in (_envoy.udp_ports(sidecar) if udp else sidecar.ports):
            name = (_ztunnel.listener_name(port) if sidecar.kind == "ztunnel"
                    else _envoy.listener_name(port))
            return _Listener(sidecar.kind, f"{name} :{port}", True)
        return wildcard
