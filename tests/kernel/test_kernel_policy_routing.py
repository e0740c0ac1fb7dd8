"""Marks, connection marks, TPROXY and policy routing: the engine against the kernel.

A pod namespace (see ``netns.Topology``) gets Istio's rules for TPROXY interception or for
ambient mode, the policy rule and table they need, and real sockets: a transparent Envoy
listener, or a "ztunnel" whose sockets are transparent and marked 0x539. Real connections
are made; the engine traces the same first packets with the pod's own ``ip rule show`` and
``ip route show table all`` dumps and its sockets, and must agree on where each connection
landed (listener, original destination, source) and on whether its handshake completes.
"""

from __future__ import annotations

import errno
import select
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from netns import (
    GATEWAY_IP,
    POD_IP,
    REMOTE_HOST,
    HarnessError,
    Topology,
    flush_conntrack,
    in_netns,
    inside,
)

from chainwalk.netfilter import Packet, Trace, host_with, parse_file, parse_text, trace
from chainwalk.netfilter._packet import Host, Socket
from chainwalk.netfilter._policy_routing import policy_routing
from kernel_requirement import cannot_run, require_kernel

REPO = Path(__file__).resolve().parents[2]
AMBIENT = REPO / "rules" / "rulesets" / "ambient.rules"
TPROXY = Path(__file__).parent / "rulesets" / "tproxy.rules"
ZTUNNEL_MARK = 0x539
PROBE_SOURCE = "169.254.7.127"  # the node's address for the kubelet's probes (ambient)
APP_PORT = 8080
_IP_TRANSPARENT = 19
_SO_ORIGINAL_DST = 80
WAIT_S = 0.5


@dataclass(frozen=True)
class Landed:
    """What the kernel did with a connection: which listener took it and how it saw it."""

    listener: int | None  # the listening port that accepted it; None: none did
    local: tuple[str, int] | None  # the accepted socket's address (the destination it saw)
    peer: tuple[str, int] | None
    original: tuple[str, int] | None  # SO_ORIGINAL_DST; None when not NATed
    established: bool  # the client's connect completed


def _socket(transparent: bool, mark: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if transparent:
        sock.setsockopt(socket.SOL_IP, _IP_TRANSPARENT, 1)
    if mark:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, mark)
    return sock


def listen(netns: str, address: str, port: int, transparent: bool = False, mark: int = 0
           ) -> socket.socket:
    with inside(netns):
        sock = _socket(transparent, mark)
    sock.bind((address, port))
    sock.listen(16)
    sock.setblocking(False)
    return sock


def connect(netns: str, listeners: list[socket.socket], destination: tuple[str, int], *,
            bind: str | None = None, transparent: bool = False, mark: int = 0) -> Landed:
    """Connect from ``netns`` and report which of ``listeners`` accepted the connection."""
    with inside(netns):
        client = _socket(transparent, mark)
    with client:
        if bind:
            client.bind((bind, 0))
        client.setblocking(False)
        code = client.connect_ex(destination)
        established = False
        if code in (0, errno.EINPROGRESS):
            _, writable, _ = select.select([], [client], [], WAIT_S)
            established = bool(writable) and client.getsockopt(
                socket.SOL_SOCKET, socket.SO_ERROR) == 0
        ready, _, _ = select.select(listeners, [], [], 0 if established else 0.05)
        for listener in ready:
            try:
                conn, peer = listener.accept()
            except BlockingIOError:
                continue
            with conn:
                try:
                    raw = conn.getsockopt(socket.SOL_IP, _SO_ORIGINAL_DST, 16)
                    original: tuple[str, int] | None = (
                        socket.inet_ntoa(raw[4:8]), int.from_bytes(raw[2:4], "big"))
                except OSError:
                    original = None
                return Landed(listener.getsockname()[1], conn.getsockname(), peer, original,
                              established)
        return Landed(None, None, None, None, established)


@pytest.fixture(scope="module")
def pod() -> Iterator[Topology]:
    require_kernel()
    try:
        topology = Topology.create("pr")
    except (HarnessError, OSError) as e:
        cannot_run(f"cannot create network namespaces: {e}")
    try:
        # Ambient's policy rule and table. The Topology's TPROXY rule (fwmark 1337, which
        # is 0x539) would send ztunnel's own packets to lo: the TPROXY tests add it back.
        for step in ("rule del fwmark 1337 lookup 133",
                     "rule add fwmark 0x111/0xfff pref 32764 lookup 100",
                     "route add local 0.0.0.0/0 dev lo table 100"):
            in_netns(topology.pod, "ip", *step.split())
        in_netns(topology.network, "ip", "addr", "add", f"{PROBE_SOURCE}/32", "dev", "lo")
        yield topology
    finally:
        topology.destroy()


def without(ruleset: Path, fragment: str) -> str:
    """The text of ``ruleset`` without its lines holding ``fragment`` (a what-if)."""
    text = ruleset.read_text(encoding="utf-8")
    return "".join(line for line in text.splitlines(True) if fragment not in line)


def load(topology: Topology, text: str) -> None:
    """Load a ruleset into the pod instead of the previous one; no connection remembered."""
    for table in ("raw", "mangle", "nat", "filter"):
        in_netns(topology.pod, "iptables", "-t", table, "-F")
        in_netns(topology.pod, "iptables", "-t", table, "-X")
    in_netns(topology.pod, "iptables-restore", stdin=text)
    flush_conntrack(topology.pod)


def pod_host(topology: Topology, sockets: list[socket.socket]) -> Host:
    """The engine's view of the pod: its addresses, its own routing dumps, its sockets."""
    rules = in_netns(topology.pod, "ip", "rule", "show")
    routes = in_netns(topology.pod, "ip", "route", "show", "table", "all")
    listed = []
    for sock in sockets:
        address, port = sock.getsockname()
        listed.append(Socket("tcp", address, port,
                             bool(sock.getsockopt(socket.SOL_IP, _IP_TRANSPARENT)),
                             sock.getsockopt(socket.SOL_SOCKET, socket.SO_MARK)))
    return host_with({"eth0": (f"{POD_IP}/24", "10.0.0.6/24")}, sockets=tuple(listed),
                     routing=(policy_routing(rules, "ip-rule", routes, "ip-route"),))


def computed_listener(result: Trace) -> tuple[int | None, tuple[str, int] | None]:
    """The port of the socket the engine delivers to, and the original destination
    SO_ORIGINAL_DST shows (that of any tracked connection: these rulesets all track)."""
    branch = result.main
    if branch.disposition != "delivered":
        return None, None
    port = branch.tproxy[1] if branch.tproxy is not None else branch.final.dport
    return port, (result.packet.dst, result.packet.dport)


def computed_handshake(result: Trace) -> bool:
    handshake = result.main.handshake
    assert handshake is not None
    return handshake.outcome == "completes"


# -- ambient ------------------------------------------------------------------------------

Ambient = tuple[list[socket.socket], Host]


@pytest.fixture()
def ambient(pod: Topology) -> Iterator[Ambient]:
    load(pod, AMBIENT.read_text(encoding="utf-8"))
    sockets = [listen(pod.pod, "0.0.0.0", port, transparent=True, mark=ZTUNNEL_MARK)
               for port in (15001, 15006, 15008)]
    sockets.append(listen(pod.pod, "0.0.0.0", APP_PORT))
    try:
        yield sockets, pod_host(pod, sockets)
    finally:
        for sock in sockets:
            sock.close()


def test_ambient_app_outbound_is_captured_to_15001(pod: Topology, ambient: Ambient) -> None:
    sockets, host = ambient
    landed = connect(pod.pod, sockets, (REMOTE_HOST, 80))
    computed = trace(parse_file(AMBIENT), Packet(REMOTE_HOST, 80, uid=1000, gid=1000), host,
                     with_handshake=True)
    assert (landed.listener, landed.original) == computed_listener(computed) == (
        15001, (REMOTE_HOST, 80))
    assert landed.established and computed_handshake(computed)
    assert landed.peer is not None and landed.peer[0] == computed.final.src == POD_IP


def test_ambient_ztunnel_traffic_is_not_captured(pod: Topology, ambient: Ambient) -> None:
    sockets, host = ambient
    remote = listen(pod.network, REMOTE_HOST, 80)
    with remote:
        landed = connect(pod.pod, [*sockets, remote], (REMOTE_HOST, 80), mark=ZTUNNEL_MARK)
    computed = trace(parse_file(AMBIENT), Packet(REMOTE_HOST, 80, uid=0, gid=0,
                                                 mark=ZTUNNEL_MARK), host, with_handshake=True)
    assert landed.listener == 80 and landed.original is None  # the network tracks nothing
    assert landed.established and computed_handshake(computed)
    assert (computed.disposition, computed.final.dst, computed.final.dport) == (
        "sent", REMOTE_HOST, 80)


@pytest.mark.parametrize(("source", "port", "listener", "original"), [
    (GATEWAY_IP, APP_PORT, 15006, (POD_IP, APP_PORT)),  # plaintext inbound: ztunnel's 15006
    (GATEWAY_IP, 15008, 15008, (POD_IP, 15008)),  # HBONE: left to ztunnel's own listener
    (PROBE_SOURCE, APP_PORT, APP_PORT, (POD_IP, APP_PORT)),  # the kubelet's probe, let through
])
def test_ambient_inbound(pod: Topology, ambient: Ambient, source: str, port: int,
                         listener: int, original: tuple[str, int] | None) -> None:
    sockets, host = ambient
    landed = connect(pod.network, sockets, (POD_IP, port), bind=source)
    computed = trace(parse_file(AMBIENT), Packet(POD_IP, port, src=source, in_interface="eth0"),
                     host, "PREROUTING", with_handshake=True)
    assert (landed.listener, landed.original) == computed_listener(computed) == (
        listener, original)
    assert landed.established and computed_handshake(computed)
    assert landed.peer is not None and landed.peer[0] == source == computed.final.src


@pytest.mark.parametrize("what_if", [None, "--restore-mark", "fwmark-rule"])
def test_ambient_ztunnel_reaches_the_app_as_the_client(pod: Topology, ambient: Ambient,
                                                       what_if: str | None) -> None:
    # ztunnel delivers inbound traffic from the client's own address (transparent socket,
    # mark 0x539): the app's answer must come back to ztunnel, through the connection mark
    # restored in OUTPUT and the fwmark rule's table 100. Without either it leaves on eth0.
    sockets, host = ambient
    ruleset = parse_file(AMBIENT)
    if what_if == "--restore-mark":
        text = without(AMBIENT, what_if)
        load(pod, text)
        ruleset = parse_text(text, str(AMBIENT))
    elif what_if == "fwmark-rule":
        in_netns(pod.pod, "ip", "rule", "del", "pref", "32764")
        host = pod_host(pod, sockets)
    try:
        landed = connect(pod.pod, sockets, (POD_IP, APP_PORT), bind=REMOTE_HOST,
                         transparent=True, mark=ZTUNNEL_MARK)
        computed = trace(ruleset, Packet(POD_IP, APP_PORT, src=REMOTE_HOST, uid=0, gid=0,
                                         mark=ZTUNNEL_MARK), host, with_handshake=True)
    finally:
        if what_if == "fwmark-rule":
            in_netns(pod.pod, "ip", "rule", "add", "fwmark", "0x111/0xfff", "pref", "32764",
                     "lookup", "100")
    assert computed_listener(computed) == (APP_PORT, (POD_IP, APP_PORT))
    assert computed.final.src == REMOTE_HOST
    assert landed.established == computed_handshake(computed) == (what_if is None)
    if what_if is None:  # the app accepts only what completes its handshake
        assert (landed.listener, landed.original) == (APP_PORT, (POD_IP, APP_PORT))
        assert landed.peer is not None and landed.peer[0] == REMOTE_HOST


# -- sidecar TPROXY -----------------------------------------------------------------------

@pytest.mark.parametrize("transparent", [True, False])
def test_tproxy_hands_inbound_to_the_transparent_listener(pod: Topology,
                                                          transparent: bool) -> None:
    load(pod, TPROXY.read_text(encoding="utf-8"))
    envoy = listen(pod.pod, "0.0.0.0", 15006, transparent=transparent)
    in_netns(pod.pod, "ip", "rule", "add", "fwmark", "1337", "lookup", "133")
    try:
        with envoy:
            host = pod_host(pod, [envoy])
            landed = connect(pod.network, [envoy], (POD_IP, APP_PORT))
    finally:
        in_netns(pod.pod, "ip", "rule", "del", "fwmark", "1337", "lookup", "133")
    computed = trace(parse_file(TPROXY), Packet(POD_IP, APP_PORT, src=GATEWAY_IP,
                                                in_interface="eth0"), host, "PREROUTING")
    if transparent:
        # TPROXY keeps the destination: Envoy's accepted socket is the app's address.
        assert landed.listener == computed_listener(computed)[0] == 15006
        assert landed.local == (computed.final.dst, computed.final.dport) == (POD_IP, APP_PORT)
        assert landed.peer is not None and landed.peer[0] == computed.final.src == GATEWAY_IP
    else:
        assert (landed.listener, landed.established) == (None, False)
        assert computed.disposition == "dropped"


def test_socket_match_ignores_wildcard_listeners_without_nowildcard(pod: Topology) -> None:
    rules = ("*mangle\n-A PREROUTING -p tcp -m socket -j MARK --set-xmark 0x1/0xffffffff\n"
             "-A PREROUTING -p tcp -m socket --nowildcard -j MARK --set-xmark 0x2/0xffffffff\n"
             "COMMIT\n")
    load(pod, rules)
    app = listen(pod.pod, "0.0.0.0", APP_PORT)
    with app:
        host = pod_host(pod, [app])
        connect(pod.network, [app], (POD_IP, APP_PORT))
    counters = in_netns(pod.pod, "iptables", "-t", "mangle", "-L", "PREROUTING", "-v", "-n",
                        "-x")
    # Packets of the established connection match both rules; only the first packet tells
    # them apart: one more for --nowildcard.
    first, second = (int(line.split()[0]) for line in counters.splitlines()[2:4])
    computed = trace(parse_text(rules), Packet(POD_IP, APP_PORT, src=GATEWAY_IP,
                                               in_interface="eth0"), host, "PREROUTING")
    assert second - first == 1
    assert [h.rule for h in computed.hits] == [2]


def udp_listen(netns: str, address: str, port: int, mark: int = 0) -> socket.socket:
    with inside(netns):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if mark:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, mark)
    sock.bind((address, port))
    sock.setblocking(False)
    return sock


@pytest.mark.parametrize(("mark", "lands"), [(0, "ztunnel"), (ZTUNNEL_MARK, "network")])
def test_ambient_dns_goes_to_ztunnel_unless_ztunnel_sends_it(pod: Topology, mark: int,
                                                            lands: str) -> None:
    load(pod, AMBIENT.read_text(encoding="utf-8"))
    dns = ("10.96.0.10", 53)  # inside the network namespace's AnyIP ranges
    proxy = udp_listen(pod.pod, "0.0.0.0", 15053, ZTUNNEL_MARK)
    server = udp_listen(pod.network, dns[0], dns[1])
    with proxy, server:
        host = pod_host(pod, [])
        with inside(pod.pod):
            client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with client:
            if mark:
                client.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, mark)
            client.sendto(b"query", dns)
            ready, _, _ = select.select([proxy, server], [], [], WAIT_S)
        landed = "ztunnel" if proxy in ready else "network" if server in ready else None
    computed = trace(parse_file(AMBIENT), Packet(dns[0], dns[1], "udp", uid=1000, gid=1000,
                                                 mark=mark), host)
    where = ("ztunnel" if computed.disposition == "delivered" and computed.final.dport == 15053
             else "network" if computed.disposition == "sent" else None)
    assert landed == where == lands
