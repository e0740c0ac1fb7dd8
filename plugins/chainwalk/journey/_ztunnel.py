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
from ..netfilter._reasons import because
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
            return _envoy.Answer(because("ztunnel.no-tunnel"))
        target = hostport(tunnel.dst, tunnel.dport)
        return _envoy.Upstream(tunnel.dst, tunnel.dport, tunnel.client,
                               because("ztunnel.hbone", target=target, client=tunnel.client),
                               transparent=True)
    if port == INBOUND_PORT:
        if original_dport == INBOUND_PORT:
            return _envoy.Blackhole(because("ztunnel.inbound-loop", port=INBOUND_PORT,
                                            original=original))
        return _envoy.Upstream(original_dst, original_dport, peer,
                               because("ztunnel.inbound", original=original, peer=peer),
                               transparent=True)
    return _envoy.Answer(because("sidecar.answers", listener=listener_name(port)))


def _outbound(topology: Topology, original_dst: str, original_dport: int, original: str,
              client: str) -> _envoy.Decision:
    if original_dport == OUTBOUND_PORT:
        return _envoy.Blackhole(because("ztunnel.outbound-loop", port=OUTBOUND_PORT,
                                        original=original))
    dst, dport = original_dst, original_dport
    what = because("ztunnel.unknown-service", original=original)
    service = topology.service_at(original_dst, original_dport)
    if service is not None:
        endpoint = service.endpoints[0]
        pod = topology.pod(endpoint.pod)
        family = family_of(original_dst)
        addresses = [a for a in pod.addresses if family_of(a) == family] if pod else []
        if not addresses:
            return _envoy.Blackhole(because("service.no-address", service=service.name,
                                            endpoint=str(endpoint), family=family))
        dst, dport = addresses[0], endpoint.port or original_dport
        what = because("ztunnel.service", service=service.name, original=original,
                       pod=endpoint.pod, address=hostport(dst, dport))
    peer = topology.pod_with_address(dst)
    if peer is not None and peer.sidecar is not None and peer.sidecar.kind == "ztunnel":
        return _envoy.Upstream(dst, HBONE_PORT, "",
                               because("ztunnel.hbone-to", what=what,
                                       address=hostport(dst, HBONE_PORT)),
                               tunnel=Tunnel(dst, dport, client))
    return _envoy.Upstream(dst, dport, "", because("ztunnel.direct", what=what))
