"""What ambient mode's ztunnel does with a connection its in-pod listeners accepted.

In ambient mode the node's ztunnel opens its listeners inside each ambient pod's network
namespace; the pod's rules (istio-cni) send the app's outbound TCP to 15001, inbound TCP to
15006 (plaintext) and leave 15008 (HBONE) to ztunnel. Every socket ztunnel opens carries
its mark (0x539), which those rules leave alone. Modelled decisions:

- outbound (15001): the original destination; a service goes to its first endpoint (as
  ``_envoy`` does). An endpoint in an ambient pod is reached through HBONE: a connection
  to that pod's 15008 carrying the real target. Anything else is connected to directly.
- HBONE (15008): the tunnel's target, connected to from the original client's address
  (a transparent socket: the app sees its real peer).
- inbound (15006): the original destination, from the peer's address (transparent).
- DNS (15053) and anything else: answered by ztunnel itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..netfilter import family_of, hostport
from . import _envoy
from ._model import HBONE_PORT, INBOUND_PORT, OUTBOUND_PORT, Topology

LISTENERS = {
    OUTBOUND_PORT: "ztunnel outbound",
    INBOUND_PORT: "ztunnel inbound (plaintext)",
    HBONE_PORT: "ztunnel HBONE",
    15053: "ztunnel DNS proxy",
}


@dataclass(frozen=True, slots=True)
class Tunnel:
    """What an HBONE connection carries: the real target and the client's address."""

    dst: str
    dport: int
    client: str


def listener_name(port: int) -> str:
    return LISTENERS.get(port, "ztunnel listener")


def decide(topology: Topology, port: int, original_dst: str, original_dport: int,
           peer: str, tunnel: Tunnel | None) -> _envoy.Decision:
    """``peer``: the accepted connection's source; ``tunnel``: what the HBONE connection
    that reached 15008 carries."""
    original = hostport(original_dst, original_dport)
    if port == OUTBOUND_PORT:
        return _outbound(topology, original_dst, original_dport, original, peer)
    if port == HBONE_PORT:
        if tunnel is None:
            return _envoy.Answer("ztunnel HBONE: no tunnelled connection to deliver")
        target = hostport(tunnel.dst, tunnel.dport)
        return _envoy.Upstream(tunnel.dst, tunnel.dport, tunnel.client,
                               f"ztunnel HBONE: delivers the tunnelled connection to {target} "
                               f"from the client's address {tunnel.client} (transparent)",
                               transparent=True)
    if port == INBOUND_PORT:
        if original_dport == INBOUND_PORT:
            return _envoy.Blackhole(f"ztunnel inbound refuses original port {INBOUND_PORT} "
                                    f"({original}): it would come back to itself")
        return _envoy.Upstream(original_dst, original_dport, peer,
                               f"ztunnel inbound: connects to {original} from the peer's "
                               f"address {peer} (transparent)", transparent=True)
    return _envoy.Answer(f"{listener_name(port)} answers itself")


def _outbound(topology: Topology, original_dst: str, original_dport: int, original: str,
              client: str) -> _envoy.Decision:
    if original_dport == OUTBOUND_PORT:
        return _envoy.Blackhole(f"ztunnel outbound refuses original port {OUTBOUND_PORT} "
                                f"({original}): it would come back to itself")
    dst, dport, what = original_dst, original_dport, f"{original} is not a known service"
    service = topology.service_at(original_dst, original_dport)
    if service is not None:
        endpoint = service.endpoints[0]
        pod = topology.pod(endpoint.pod)
        family = family_of(original_dst)
        addresses = [a for a in pod.addresses if family_of(a) == family] if pod else []
        if not addresses:
            return _envoy.Blackhole(f"service {service.name}'s first endpoint {endpoint} has "
                                    f"no IPv{family} address")
        dst, dport = addresses[0], endpoint.port or original_dport
        what = f"{service.name} {original}: endpoint {endpoint.pod} at {hostport(dst, dport)}"
    peer = topology.pod_with_address(dst)
    if peer is not None and peer.sidecar is not None and peer.sidecar.kind == "ztunnel":
        return _envoy.Upstream(dst, HBONE_PORT, "",
                               f"ztunnel outbound: {what}, an ambient pod: HBONE to "
                               f"{hostport(dst, HBONE_PORT)}",
                               tunnel=Tunnel(dst, dport, client))
    return _envoy.Upstream(dst, dport, "", f"ztunnel outbound: {what}; connected to directly")
