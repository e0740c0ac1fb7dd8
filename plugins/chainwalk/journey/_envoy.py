"""What the sidecar does with a connection it accepted, as Envoy and istio-agent do.

Only the decisions that move a connection are modelled, those of Envoy's listeners:

- virtualOutbound (15001) reads the original destination. A service VIP:port goes
  to the service's first endpoint (real Envoy balances; a document needs one
  answer, so the first, and the hop says so). Original port 15001 is blackholed
  (a connection to the listener itself would loop). Any other destination is
  passed through under ``ALLOW_ANY`` and blackholed under ``REGISTRY_ONLY``.
- virtualInbound (15006) delivers to the app: ``passthrough`` connects to the
  original destination from 127.0.0.6 (IPv6 ::6), ``localhost`` to
  127.0.0.1:PORT (::1). Original port 15006 is blackholed.
- The other listeners (HBONE 15008, agent status 15020, health 15021, DNS proxy
  15053, Prometheus 15090, admin 15000) answer themselves: the journey ends there.

The upstream connection is opened by the proxy, i.e. as the sidecar's uid/gid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..netfilter import family_of, hostport
from ..netfilter._reasons import Reason, because
from ._model import DNS_PORT, INBOUND_PORT, OUTBOUND_PORT, Sidecar, Topology

if TYPE_CHECKING:
    from ._ztunnel import Tunnel

LISTENERS = {
    15000: "envoy admin",
    OUTBOUND_PORT: "envoy virtualOutbound",
    INBOUND_PORT: "envoy virtualInbound",
    15008: "envoy HBONE",
    15020: "istio-agent status",
    15021: "envoy health (readiness, answered through the agent)",
    DNS_PORT: "istio-agent DNS proxy",
    15090: "envoy Prometheus",
}
INBOUND_SOURCE = {4: "127.0.0.6", 6: "::6"}
LOCALHOST = {4: "127.0.0.1", 6: "::1"}


@dataclass(slots=True)
class Upstream:
    """The sidecar opens a new connection to ``dst``:``dport`` (bound to ``source``)."""

    dst: str
    dport: int
    source: str
    note: Reason
    transparent: bool = False  # bound to ``source``, an address not the pod's own
    tunnel: Tunnel | None = None  # HBONE: what the connection carries


@dataclass(slots=True)
class Answer:
    """The sidecar handles the connection itself: the journey ends here."""

    note: Reason


@dataclass(slots=True)
class Blackhole:
    """The sidecar closes the connection."""

    reason: Reason


Decision = Upstream | Answer | Blackhole


def listener_name(port: int) -> str:
    return LISTENERS.get(port, "envoy listener")


def udp_ports(sidecar: Sidecar) -> tuple[int, ...]:
    """Only the DNS proxy listens for UDP."""
    return tuple(p for p in sidecar.ports if p == DNS_PORT)


def decide(sidecar: Sidecar, topology: Topology, port: int, original_dst: str,
           original_dport: int) -> Decision:
    """What the sidecar's listener on ``port`` does with a connection whose original
    destination is ``original_dst``:``original_dport``."""
    family = family_of(original_dst)
    original = hostport(original_dst, original_dport)
    if port == OUTBOUND_PORT:
        return _outbound(sidecar, topology, family, original_dst, original_dport, original)
    if port == INBOUND_PORT:
        if original_dport == INBOUND_PORT:
            return Blackhole(because("envoy.inbound-loop", port=INBOUND_PORT,
                                     original=original))
        if sidecar.inbound_mode == "localhost":
            return Upstream(LOCALHOST[family], original_dport, "",
                            because("envoy.localhost", original=original,
                                    address=hostport(LOCALHOST[family], original_dport)))
        source = INBOUND_SOURCE[family]
        return Upstream(original_dst, original_dport, source,
                        because("envoy.passthrough", original=original, source=source))
    return Answer(because("sidecar.answers", listener=listener_name(port)))


def _outbound(sidecar: Sidecar, topology: Topology, family: int, original_dst: str,
              original_dport: int, original: str) -> Decision:
    if original_dport == OUTBOUND_PORT:
        return Blackhole(because("envoy.outbound-loop", port=OUTBOUND_PORT, original=original))
    service = topology.service_at(original_dst, original_dport)
    if service is not None:
        endpoint = service.endpoints[0]
        pod = topology.pod(endpoint.pod)
        addresses = [a for a in pod.addresses if (":" in a) == (family == 6)] if pod else []
        if not addresses:
            return Blackhole(because("service.no-address", service=service.name,
                                     endpoint=str(endpoint), family=family))
        port = endpoint.port or original_dport
        others = len(service.endpoints) - 1
        values = {"service": service.name, "original": original, "pod": endpoint.pod,
                  "address": hostport(addresses[0], port)}
        return Upstream(addresses[0], port, "",
                        because("envoy.endpoint", count=len(service.endpoints), **values)
                        if others else because("envoy.only-endpoint", **values))
    if sidecar.outbound_policy == "REGISTRY_ONLY":
        return Blackhole(because("envoy.registry-only", original=original))
    return Upstream(original_dst, original_dport, "",
                    because("envoy.allow-any", original=original))
