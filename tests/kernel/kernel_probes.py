"""The probes of the kernel tests: which connections to make against which ruleset.

Each probe is one connection: who makes it (uid and gid, for the owner match), from where,
to where, by which protocol. They are generated from small tables so that every ruleset is
probed with the same questions (an app, the proxy and a gid-only proxy calling other hosts,
the pod itself, localhost and the Istio ports; inbound connections to app and excluded
ports), plus the questions that only make sense for one ruleset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from itertools import product
from pathlib import Path
from typing import Literal

from netns import (
    GATEWAY_IP,
    GATEWAY_IP6,
    POD_IP,
    POD_IP6,
    POD_SECONDARY_IP,
    REMOTE_HOST,
    REMOTE_HOST6,
    Client,
    Family,
    Proto,
    Topology,
)

REPO = Path(__file__).resolve().parents[2]
ISTIO_PORTS = (15001, 15006, 15008, 15020, 15021, 15053, 15090)

Hook = Literal["output", "prerouting"]


@dataclass(frozen=True)
class Identity:
    """Who owns the socket: the owner match compares these with --uid-owner/--gid-owner;
    ``mark`` is the socket's SO_MARK (ambient mode's ztunnel marks its sockets 0x539; setting
    it needs root, so a marked identity is uid 0)."""

    name: str
    uid: int
    gid: int
    mark: int = 0


APP = Identity("app", 1000, 1000)
# ztunnel's mark 0x539 in the bits its rules test (mask 0xfff); the high bit keeps the socket
# off the lab pods' TPROXY policy rule (fwmark 1337 = 0x539, whole mark), which would
# route it to lo.
ZTUNNEL = Identity("ztunnel", 0, 0, 0x1539)
ROOT = Identity("root", 0, 0)
PROXY = Identity("proxy", 1337, 1337)
PROXY_GID = Identity("gid1337", 1001, 1337)  # another uid in the proxy's group
PROXY_UID = Identity("uid1337", 1337, 1000)  # the proxy's uid, another group


@dataclass(frozen=True)
class Ruleset:
    """A ruleset file and the identities that mean something to it."""

    name: str
    path: Path
    identities: tuple[Identity, ...]
    family: Family = 4

    @cached_property
    def text(self) -> str:
        """The file's content, read once."""
        return self.path.read_text()

    @cached_property
    def nat_ports(self) -> frozenset[int]:
        """Ports its NAT rules can send a connection to: REDIRECT, DNAT, SNAT targets (every
        port of a range)."""
        found = re.findall(r"--to-ports (\d+)(?:-(\d+))?|--to-destination [\d.\[\]:a-f-]+:"
                           r"(\d+)(?:-(\d+))?", self.text)
        ports: set[int] = set()
        for low, high, dlow, dhigh in found:
            first = int(low or dlow)
            ports.update(range(first, int(high or dhigh or first) + 1))
        return frozenset(ports)


def _istio(name: str, *identities: Identity) -> Ruleset:
    return Ruleset(name, REPO / "rules" / "rulesets" / f"{name}.rules", identities)


CUSTOM_PROXY = Identity("proxy1000670000", 1000670000, 1000670001)
CUSTOM_PROXY_GID = Identity("gid1000670001", 1001, 1000670001)

CLASSIC = _istio("classic", APP, PROXY, PROXY_GID)
CURRENT = _istio("current", APP, PROXY, PROXY_GID, PROXY_UID)
DNS = _istio("dns", APP, PROXY, PROXY_GID)
INCLUDE_EXCLUDE = _istio("include-exclude", APP, PROXY, PROXY_GID)
# uid 1337 is just another app here.
CUSTOM_UID = _istio("custom-uid", APP, CUSTOM_PROXY, CUSTOM_PROXY_GID, PROXY)
CURRENT_IPV6 = Ruleset(
    "current-ipv6",
    Path(__file__).parent / "rulesets" / "current-ipv6.rules",
    (APP, PROXY, PROXY_GID),
    family=6,
)
TPROXY = Ruleset(
    "tproxy", Path(__file__).parent / "rulesets" / "tproxy.rules", (APP, PROXY, PROXY_GID)
)
DNAT_MARKS = Ruleset(
    "dnat-marks", REPO / "tests" / "fixtures" / "rulesets" / "dnat-marks.rules", (APP, ROOT, PROXY)
)
ISTIO_RULESETS = (CLASSIC, CURRENT, DNS, INCLUDE_EXCLUDE, CUSTOM_UID, TPROXY)


def _kernel_rules(name: str) -> Ruleset:
    return Ruleset(name, Path(__file__).parent / "rulesets" / f"{name}.rules", (APP,))


RAW_CONNTRACK = _kernel_rules("raw-conntrack")
MASKS = _kernel_rules("masks")
NO_CONNTRACK = _kernel_rules("no-conntrack")
PORT_RANGES = _kernel_rules("port-ranges")
HANDSHAKE = _kernel_rules("handshake")


@dataclass(frozen=True)
class Probe:
    """One connection to make, and then to trace with chainwalk."""

    ruleset: Ruleset
    hook: Hook
    proto: Proto
    dst: str
    dport: int
    who: Identity = ROOT  # output probes only: prerouting traffic has no local owner
    src: str | None = None  # bind address (output) or the client's address (prerouting)
    sport: int = 0  # 0: an ephemeral port chosen by the kernel

    @property
    def id(self) -> str:
        who = self.who.name if self.hook == "output" else "in"
        parts = [self.ruleset.name, who, self.proto, f"{self.dst}:{self.dport}"]
        if self.src is not None or self.sport:
            parts.append(f"from-{self.src or '*'}:{self.sport or '*'}")
        return "-".join(parts)

    def client(self, topology: Topology) -> Client:
        """The kernel-side connection: from the pod as ``who``, or from the network as root."""
        if self.hook == "output":
            return Client(
                topology.pod, self.proto, self.dst, self.dport,
                self.who.uid, self.who.gid, self.src, self.sport, self.who.mark,
            )  # fmt: skip
        return Client(
            topology.network, self.proto, self.dst, self.dport, src=self.src, sport=self.sport
        )

    @property
    def pod_ports(self) -> frozenset[int]:
        """Where in the pod it could land: its port, NAT targets, Istio's listeners."""
        ports = {self.dport, *self.ruleset.nat_ports, *ISTIO_PORTS}
        return frozenset(ports - {self.sport})  # the client binds that one itself

    @property
    def network_ports(self) -> frozenset[int]:
        """Where in the network it could land when it leaves the pod."""
        return frozenset({self.dport, *self.ruleset.nat_ports} - {self.sport})


# ---------------------------------------------------------------------------------------------
# The questions every Istio ruleset is asked

_OUTBOUND_TCP = (
    (GATEWAY_IP, 80),  # another host: captured to 15001 unless proxy or excluded
    (REMOTE_HOST, 8080),  # another pod in the subnet; excluded CIDR in include-exclude
    ("192.168.7.7", 443),  # routed via the gateway; excluded /24 inside an included /16
    ("192.168.1.1", 443),  # included /16 in include-exclude
    ("172.16.0.7", 9000),  # outside include-exclude's include ranges
    (POD_IP, 8080),  # the pod's own IP: app direct, proxy hairpins to 15006
    (POD_SECONDARY_IP, 8080),  # its second address: the source routing picks is the first
    ("127.0.0.1", 8080),  # localhost
    (POD_IP, 15008),  # HBONE is never redirected inbound
    (GATEWAY_IP, 15008),
    (GATEWAY_IP, 15020),  # agent port excluded outbound in current rulesets
    ("127.0.0.1", 15020),
    (POD_IP, 15090),
    (GATEWAY_IP, 15001),  # would loop into Envoy's own outbound listener
    (POD_IP, 15006),
    (GATEWAY_IP, 5555),  # excluded outbound port in include-exclude
    (GATEWAY_IP, 53),  # DNS over TCP: captured to 15053 in dns
    (POD_IP, 53),  # dns: the proxy's hairpin excludes port 53 (multiport ! --dports)
)
_OUTBOUND_UDP = (
    (GATEWAY_IP, 53),  # the nameserver
    ("10.96.0.10", 53),  # a cluster DNS service IP
    ("127.0.0.1", 53),  # a local resolver
    (GATEWAY_IP, 15020),
    (REMOTE_HOST, 5555),
    (GATEWAY_IP, 8125),  # statsd-like UDP that Istio never captures
)
_INBOUND_TCP_PORTS = (8080, 22, 1111, 2222, 5555, 15001, 15006, 15008, 15020, 15021, 15090)
_INBOUND_UDP_PORTS = (53, 8125)


def _istio_probes(rs: Ruleset) -> list[Probe]:
    probes = [
        Probe(rs, "output", "tcp", dst, dport, who)
        for who, (dst, dport) in product(rs.identities, _OUTBOUND_TCP)
    ]
    probes += [
        Probe(rs, "output", "udp", dst, dport, who)
        for who, (dst, dport) in product(rs.identities, _OUTBOUND_UDP)
    ]
    for who in rs.identities:
        # Envoy's inbound passthrough: bound to 127.0.0.6, to the app on the pod IP.
        probes.append(Probe(rs, "output", "tcp", POD_IP, 8080, who, src="127.0.0.6"))
        # istio-validation: bound to 127.0.0.1, dialing 127.0.0.6:15002.
        probes.append(Probe(rs, "output", "tcp", "127.0.0.6", 15002, who, src="127.0.0.1"))
        # Bound to localhost, to the pod IP: leaves on lo with a loopback source.
        probes.append(Probe(rs, "output", "tcp", POD_IP, 8080, who, src="127.0.0.1"))
    probes += [Probe(rs, "prerouting", "tcp", POD_IP, port) for port in _INBOUND_TCP_PORTS]
    probes += [Probe(rs, "prerouting", "udp", POD_IP, port) for port in _INBOUND_UDP_PORTS]
    probes += [
        Probe(rs, "prerouting", "tcp", POD_IP, 8080, src=REMOTE_HOST),
        Probe(rs, "prerouting", "tcp", POD_IP, 9080, src="192.168.7.7"),
        # REDIRECT sends it to the first address of eth0, not to the one it was sent to.
        Probe(rs, "prerouting", "tcp", POD_SECONDARY_IP, 8080),
    ]
    return probes


_OUTBOUND_TCP6 = (
    (GATEWAY_IP6, 80),
    (REMOTE_HOST6, 8080),  # routed via the gateway
    (POD_IP6, 8080),
    ("::1", 8080),
    (POD_IP6, 15008),
    (GATEWAY_IP6, 15008),
    (GATEWAY_IP6, 15020),
    ("::1", 15020),
    (POD_IP6, 15090),
    (GATEWAY_IP6, 15001),
    (POD_IP6, 15006),
)
_OUTBOUND_UDP6 = ((GATEWAY_IP6, 53), ("::1", 53), (GATEWAY_IP6, 15020))
_INBOUND_TCP_PORTS6 = (8080, 22, 15001, 15006, 15008, 15020, 15021, 15090)


def _istio6_probes(rs: Ruleset) -> list[Probe]:
    """The same questions in IPv6: REDIRECT goes to ::1 outbound, loopback is ::1 alone."""
    probes = [
        Probe(rs, "output", "tcp", dst, dport, who)
        for who, (dst, dport) in product(rs.identities, _OUTBOUND_TCP6)
    ]
    probes += [
        Probe(rs, "output", "udp", dst, dport, who)
        for who, (dst, dport) in product(rs.identities, _OUTBOUND_UDP6)
    ]
    probes += [Probe(rs, "output", "tcp", POD_IP6, 8080, who, src="::1") for who in rs.identities]
    probes += [Probe(rs, "prerouting", "tcp", POD_IP6, port) for port in _INBOUND_TCP_PORTS6]
    return [
        *probes,
        Probe(rs, "prerouting", "udp", POD_IP6, 53),
        Probe(rs, "prerouting", "tcp", POD_IP6, 8080, src=REMOTE_HOST6),
    ]


def _dns_zone_probes() -> list[Probe]:
    """Packets raw's CT --zone rules single out by source port.

    The DNS proxy answering from 127.0.0.1:15053, and a nameserver's datagram from port 53.
    """
    probes = [
        Probe(DNS, "output", "udp", "127.0.0.1", 5300, who, src="127.0.0.1", sport=15053)
        for who in DNS.identities
    ]
    return [*probes, Probe(DNS, "prerouting", "udp", POD_IP, 5300, src=GATEWAY_IP, sport=53)]


# ---------------------------------------------------------------------------------------------
# The questions for the DNAT/mark firewall

_FIREWALL_OUTBOUND_TCP = (
    ("10.96.0.20", 80),  # DNAT to 10.0.0.99:8080 through the goto; marked, SNAT to :61000
    ("10.96.0.20", 443),  # DNAT to 192.168.7.7:8443
    ("10.96.0.20", 8080),  # SVC_WEB falls off its end: back in OUTPUT, not in SERVICES
    ("10.96.0.20", 9050),
    ("10.96.0.10", 53),  # DNAT without a port
    ("10.96.0.30", 8000),  # DNAT to 127.0.0.1: filter OUTPUT's -o still sees eth0
    (POD_IP, 80),  # DNAT to 127.0.0.1:9080, then SNAT on lo
    (POD_SECONDARY_IP, 80),  # not DNATed: the rule names the first address
    ("127.0.0.1", 8082),  # DNAT to another host, but a loopback source cannot leave on eth0
    (POD_IP, 30080),  # addrtype LOCAL: DNAT to another host
    (REMOTE_HOST, 7001),  # app: APP_OUT ends, back in OUTPUT, REJECT with tcp-reset
    (REMOTE_HOST, 7002),  # RETURN from the built-in OUTPUT chain: its policy, DROP
    (REMOTE_HOST, 7000),  # app: policy DROP; root: REJECT icmp-port-unreachable
    (REMOTE_HOST, 25),  # app: REJECT icmp-admin-prohibited
    (REMOTE_HOST, 6000),  # DROP unless the proxy RETURNed before
    (REMOTE_HOST, 8080),
    ("127.0.0.1", 9080),
    ("192.168.7.7", 443),  # marked 0x10: ACCEPT by mark, SNAT
    ("172.16.0.7", 9000),
)
_FIREWALL_OUTBOUND_UDP = (
    ("10.96.0.10", 53),  # DNAT to 10.0.0.1:53, MASQUERADE to port 62000
    ("10.96.0.20", 5000),  # DNAT keeping the port; app: dropped by the OUTPUT policy
    (GATEWAY_IP, 53),
    (REMOTE_HOST, 9999),
)
_FIREWALL_INBOUND: tuple[tuple[Proto, int], ...] = (
    ("tcp", 8080),  # DNAT to :9080, accepted by multiport
    ("tcp", 2222),  # REDIRECT to 22
    ("tcp", 22),
    ("tcp", 9050),  # marked in mangle PREROUTING, accepted by mark
    ("tcp", 23),  # REJECT tcp-reset
    ("tcp", 9999),  # DROP
    ("tcp", 8443),  # REJECT icmp-port-unreachable
    ("udp", 53),
    ("udp", 5353),  # REDIRECT to 53
    ("udp", 9000),  # REJECT
    ("udp", 8125),  # INPUT policy ACCEPT
    ("tcp", 8081),  # DNAT to 127.0.0.1: a martian destination on eth0 (route_localnet=0)
    ("tcp", 30080),  # DNAT to another host: the pod does not forward
)


def _firewall_probes() -> list[Probe]:
    rs = DNAT_MARKS
    probes = [
        Probe(rs, "output", "tcp", dst, dport, who)
        for who, (dst, dport) in product(rs.identities, _FIREWALL_OUTBOUND_TCP)
    ]
    probes += [
        Probe(rs, "output", "udp", dst, dport, who)
        for who, (dst, dport) in product(rs.identities, _FIREWALL_OUTBOUND_UDP)
    ]
    probes += [Probe(rs, "prerouting", proto, POD_IP, port) for proto, port in _FIREWALL_INBOUND]
    probes += [
        Probe(rs, "prerouting", "tcp", POD_IP, 9050, src="192.168.7.7"),  # SNAT in nat INPUT
        Probe(rs, "prerouting", "tcp", POD_IP, 8080, src=REMOTE_HOST),
        Probe(rs, "prerouting", "tcp", POD_SECONDARY_IP, 2222),  # REDIRECT: to the first address
        Probe(rs, "prerouting", "tcp", POD_SECONDARY_IP, 8080),  # DNAT to the first address
    ]
    return probes


def _engine_rule_probes() -> list[Probe]:
    """The kernel's rules that random rulesets found chainwalk getting wrong (issue 18): raw's
    view of conntrack, masks spelt as addresses, nat without conntrack, NAT port ranges."""
    raw, masks, plain, ranges = RAW_CONNTRACK, MASKS, NO_CONNTRACK, PORT_RANGES
    return [
        Probe(raw, "output", "tcp", GATEWAY_IP, 80, APP),
        Probe(raw, "output", "tcp", "127.0.0.1", 8080, APP),  # NEW in raw PREROUTING over lo
        Probe(raw, "output", "tcp", POD_IP, 7002, APP),  # untracked in raw OUTPUT
        Probe(raw, "output", "tcp", "127.0.0.1", 7003, APP),  # redirected, then over lo
        Probe(raw, "output", "udp", "127.0.0.1", 7000, APP),  # CT in PREROUTING: too late
        Probe(raw, "prerouting", "tcp", POD_IP, 80),
        Probe(raw, "prerouting", "udp", POD_IP, 7000),  # untracked
        Probe(raw, "prerouting", "udp", POD_IP, 7001),  # a zone's template
        Probe(masks, "output", "tcp", GATEWAY_IP, 81, APP),
        Probe(masks, "output", "tcp", GATEWAY_IP, 82, APP),
        Probe(masks, "output", "tcp", "192.168.1.1", 82, APP),
        Probe(masks, "output", "tcp", "192.168.7.7", 82, APP),
        Probe(masks, "output", "tcp", GATEWAY_IP, 83, APP),
        Probe(masks, "output", "tcp", "127.0.0.1", 83, APP),
        Probe(masks, "output", "tcp", REMOTE_HOST, 85, APP),
        Probe(masks, "output", "tcp", "10.96.0.10", 85, APP),
        Probe(masks, "prerouting", "tcp", POD_IP, 84),  # from 10.0.0.1
        Probe(masks, "prerouting", "tcp", POD_IP, 84, src=REMOTE_HOST),
        Probe(plain, "output", "tcp", GATEWAY_IP, 80, APP),
        Probe(plain, "output", "tcp", POD_IP, 8080, APP),
        Probe(plain, "output", "udp", GATEWAY_IP, 53, APP),
        Probe(plain, "prerouting", "tcp", POD_IP, 8080),
        Probe(ranges, "output", "tcp", GATEWAY_IP, 15002, APP),  # kept
        Probe(ranges, "output", "tcp", GATEWAY_IP, 80, APP),  # the first: 15001
        Probe(ranges, "output", "tcp", "10.96.0.20", 9001, APP),
        Probe(ranges, "output", "tcp", "10.96.0.20", 80, APP),
        Probe(ranges, "output", "udp", "10.96.0.30", 9002, APP),
        Probe(ranges, "prerouting", "tcp", POD_IP, 15003),
        Probe(ranges, "prerouting", "tcp", POD_IP, 15000),
        Probe(ranges, "prerouting", "tcp", POD_IP, 8005),
        Probe(ranges, "prerouting", "tcp", POD_IP, 8001),
        Probe(ranges, "output", "tcp", "192.168.7.7", 443, APP, sport=20001),  # kept
        Probe(ranges, "output", "tcp", "192.168.7.7", 443, APP),  # drawn from the range
        Probe(ranges, "output", "tcp", "172.16.0.7", 9000, APP, sport=20006),
        Probe(ranges, "output", "tcp", "172.16.0.7", 9000, APP),
        Probe(HANDSHAKE, "output", "tcp", GATEWAY_IP, 80, APP),
        Probe(HANDSHAKE, "output", "tcp", GATEWAY_IP, 81, APP),  # the answer dropped
        Probe(HANDSHAKE, "output", "tcp", GATEWAY_IP, 82, APP),  # the ACK dropped
    ]


def all_probes() -> list[Probe]:
    """Every probe of the suite, in a stable order."""
    probes = [p for rs in ISTIO_RULESETS for p in _istio_probes(rs)]
    return (probes + _dns_zone_probes() + _firewall_probes() + _istio6_probes(CURRENT_IPV6)
            + _engine_rule_probes())
