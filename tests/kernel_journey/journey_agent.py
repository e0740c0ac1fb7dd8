"""What runs inside a pod's network namespace: forked from the test process, which
then enters the namespace (``setns``), so nothing pays Python's start-up again.

``serve_pod``: start the pod's listeners — each app process as its uid/gid, and a
minimal sidecar as the proxy's uid/gid that acts exactly as chainwalk's model of its
kind says (``chainwalk.journey._envoy.decide`` for Envoy, ``_ztunnel.decide`` for
ambient mode's ztunnel) — then write READY and wait to be killed. The proxy's sockets
are transparent (IP_TRANSPARENT) and marked (SO_MARK) as the topology says; an upstream
connection the model calls transparent is bound to the client's address. An HBONE
connection (to 15008) carries its target as its first line, ``dst dport client``
(real ztunnels speak HTTP CONNECT over mTLS; netfilter sees the same connection).
``client``: make the scenario's request as the client's uid/gid and record how the
connect ended.

Every listener records each connection it accepts, with its original destination
(SO_ORIGINAL_DST for TCP, IP_RECVORIGDSTADDR for UDP; the local address when the
connection was not NATed), as one JSON line appended to the shared events file.
Appends of one short line are atomic, and hop n+1 starts only after hop n was
accepted, so the file's order is the journey's order.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import selectors
import signal
import socket
import struct
import sys
import threading
import time
from typing import Any

SO_ORIGINAL_DST = 80
IP_RECVORIGDSTADDR = 20
IP_ORIGDSTADDR = 20
CONNECT_TIMEOUT_S = 0.6  # an unanswered SYN is resent after ~1 s: under that means dropped
CLONE_NEWNET = 0x40000000
IP_TRANSPARENT = 19
TUNNEL_READ_TIMEOUT_S = 1.0

_libc = ctypes.CDLL(None, use_errno=True)


def enter_netns(name: str) -> None:
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {name}")
    finally:
        os.close(fd)


def spawn(netns: str, body: Any) -> int:
    """Fork a child in its own process group that enters ``netns`` and runs ``body``."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setpgid(0, 0)
            enter_netns(netns)
            body()
        except BaseException as e:  # report, and never return into the test process
            print(f"journey agent: {e!r}", file=sys.stderr)
            os._exit(1)
        os._exit(0)
    return pid


def record(config: dict[str, Any], event: dict[str, Any]) -> None:
    line = (json.dumps(event) + "\n").encode()
    fd = os.open(config["events"], os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def count_accepts(config: dict[str, Any]) -> int:
    with open(config["events"], encoding="utf-8") as f:
        return sum(1 for line in f if '"accept"' in line)


def become(uid: int, gid: int) -> None:
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)


def original_tcp(conn: socket.socket) -> tuple[str, int]:
    try:
        raw = conn.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
        port, address = struct.unpack("!2xH4s8x", raw)
        return socket.inet_ntoa(address), port
    except OSError as e:
        if e.errno != errno.ENOENT:
            raise
        # Not NATed in this namespace: the destination is the socket's own address.
        address, port = conn.getsockname()[:2]
        return address, port


def original_udp(ancillary: list[tuple[int, int, bytes]], sock: socket.socket
                 ) -> tuple[str, int]:
    for level, kind, data in ancillary:
        if level == socket.SOL_IP and kind == IP_ORIGDSTADDR:
            port, address = struct.unpack("!2xH4s8x", data[:16])
            return socket.inet_ntoa(address), port
    address, port = sock.getsockname()[:2]
    return address, port


def marked_socket(kind: int, transparent: bool = False, mark: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, kind)
    if transparent:
        sock.setsockopt(socket.SOL_IP, IP_TRANSPARENT, 1)
    if mark:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, mark)
    return sock


def connect(config: dict[str, Any], who: str, dst: str, dport: int, protocol: str,
            source: str, *, transparent: bool = False, mark: int = 0,
            first_line: str = "") -> socket.socket | None:
    """Open a connection and record how it ended (connected, refused, timeout, ...)."""
    kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
    sock = marked_socket(kind, transparent, mark)
    sock.settimeout(CONNECT_TIMEOUT_S)
    result = "connected"
    try:
        if source:
            sock.bind((source, 0))
        sock.connect((dst, dport))
        if first_line:
            sock.sendall(first_line.encode() + b"\n")
        if protocol == "udp":
            sock.send(b"query")
            # A port unreachable comes back as ECONNREFUSED on the next call.
            with contextlib.suppress(TimeoutError):
                sock.recv(512)
    except ConnectionRefusedError:
        result = "refused"
    except TimeoutError:
        result = "timeout"
    except OSError as e:
        result = errno.errorcode.get(e.errno or 0, str(e))
    record(config, {"kind": "connect", "who": who, "dst": dst, "dport": dport,
                    "result": result})
    if result != "connected":
        sock.close()
        return None
    return sock


# -- listeners -------------------------------------------------------------------------


def bind_listeners(specs: list[tuple[str, str, int]], transparent: bool = False, mark: int = 0
                   ) -> list[tuple[socket.socket, str, int]]:
    """(protocol, address, port) -> bound sockets, bound as root (ports below 1024,
    IP_TRANSPARENT and SO_MARK need it)."""
    sockets = []
    for protocol, address, port in specs:
        if protocol == "tcp":
            sock = marked_socket(socket.SOCK_STREAM, transparent, mark)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address or "0.0.0.0", port))
            sock.listen(64)
        else:
            sock = marked_socket(socket.SOCK_DGRAM, transparent, mark)
            sock.setsockopt(socket.SOL_IP, IP_RECVORIGDSTADDR, 1)
            sock.bind((address or "0.0.0.0", port))
        sockets.append((sock, protocol, port))
    return sockets


def serve_forever(config: dict[str, Any], name: str, sockets: list[tuple[socket.socket, str, int]],
                  on_accept: Any) -> None:
    selector = selectors.DefaultSelector()
    for sock, protocol, port in sockets:
        selector.register(sock, selectors.EVENT_READ, (protocol, port))
    keep: list[socket.socket] = []  # accepted connections stay open: no RST races
    while True:
        for key, _ in selector.select():
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            protocol, port = key.data
            conn: socket.socket | None = None
            if protocol == "tcp":
                conn, peer = sock.accept()
                keep.append(conn)
                original = original_tcp(conn)
            else:
                _, ancillary, _, peer = sock.recvmsg(512, 256)
                original = original_udp(ancillary, sock)
            record(config, {"kind": "accept", "pod": config["pod"], "process": name,
                            "port": port, "protocol": protocol, "original": list(original),
                            "peer": list(peer[:2])})
            on_accept(port, protocol, original, peer[0], conn)


def run_app(config: dict[str, Any], process: dict[str, Any]) -> None:
    specs = [("tcp", process["bind"], p) for p in process["ports"]]
    specs += [("udp", process["bind"], p) for p in process["udp_ports"]]
    sockets = bind_listeners(specs, mark=process["mark"])
    become(process["uid"], process["gid"])
    serve_forever(config, process["name"], sockets, lambda *_: None)


def read_tunnel(conn: socket.socket | None) -> Any:
    """What an HBONE connection carries (its first line), or None."""
    from chainwalk.journey import _ztunnel

    if conn is None:
        return None
    conn.settimeout(TUNNEL_READ_TIMEOUT_S)
    line = b""
    with contextlib.suppress(OSError):
        while not line.endswith(b"\n") and len(line) < 256:
            chunk = conn.recv(1)
            if not chunk:
                break
            line += chunk
    fields = line.decode(errors="replace").split()
    if len(fields) != 3:
        return None
    return _ztunnel.Tunnel(fields[0], int(fields[1]), fields[2])


def run_sidecar(config: dict[str, Any], world: Any) -> None:
    from chainwalk.journey import _envoy, _ztunnel
    from chainwalk.journey._model import DNS_PORT, HBONE_PORT

    pod = world.topology.pod(config["pod"])
    sidecar = pod.sidecar
    ztunnel = sidecar.kind == "ztunnel"
    udp = (tuple(p for p in sidecar.ports if p == DNS_PORT) if ztunnel
           else _envoy.udp_ports(sidecar))
    specs = [("tcp", "", p) for p in sidecar.ports]
    specs += [("udp", "", p) for p in udp]
    sockets = bind_listeners(specs, sidecar.transparent, sidecar.mark)
    become(sidecar.uid, sidecar.gid)
    upstreams: list[socket.socket] = []

    def forward(port: int, protocol: str, original: tuple[str, int], peer: str,
                conn: socket.socket | None) -> None:
        if ztunnel:
            tunnel = read_tunnel(conn) if port == HBONE_PORT else None
            decision = _ztunnel.decide(world.topology, port, original[0], original[1], peer,
                                       tunnel)
        else:
            decision = _envoy.decide(sidecar, world.topology, port, original[0], original[1])
        if isinstance(decision, _envoy.Blackhole):
            record(config, {"kind": "blackhole", "pod": config["pod"], "port": port})
            return
        if isinstance(decision, _envoy.Answer):
            return
        if count_accepts(config) >= config["hop_limit"]:
            record(config, {"kind": "stopped", "pod": config["pod"]})
            return

        tunnel = decision.tunnel
        first_line = f"{tunnel.dst} {tunnel.dport} {tunnel.client}" if tunnel else ""

        def go() -> None:
            sock = connect(config, f"{config['pod']}/{sidecar.kind}", decision.dst,
                           decision.dport, protocol, decision.source,
                           transparent=decision.transparent, mark=sidecar.mark,
                           first_line=first_line)
            if sock is not None:
                upstreams.append(sock)

        threading.Thread(target=go, daemon=True).start()

    serve_forever(config, sidecar.kind, sockets, forward)


def serve_pod(config: dict[str, Any], world: Any) -> None:
    pod = world.topology.pod(config["pod"])
    for process in pod.processes:
        if not process.ports and not process.udp_ports:
            continue
        spec = {"name": process.name, "uid": process.uid, "gid": process.gid,
                "ports": list(process.ports), "udp_ports": list(process.udp_ports),
                "bind": process.bind, "mark": process.mark}
        _fork(lambda spec=spec: run_app(config, spec))
    if pod.sidecar is not None:
        _fork(lambda: run_sidecar(config, world))
    time.sleep(0.05)
    with open(config["ready"], "w", encoding="utf-8") as f:
        f.write("ready\n")
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:  # nothing listens in this pod (a client only)
            signal.pause()
            continue
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) != 0:
            print(f"journey agent child {pid} failed", file=sys.stderr)


def _fork(body: Any) -> int:
    pid = os.fork()
    if pid == 0:
        try:
            body()
        except BaseException as e:  # report, then leave without running the parent's code
            print(f"agent: {e!r}", file=sys.stderr)
            os._exit(1)
        os._exit(0)
    return pid


def client(config: dict[str, Any]) -> None:
    become(config["uid"], config["gid"])
    sock = connect(config, config["who"], config["dst"], config["dport"], config["protocol"],
                   config["source"], mark=config["mark"])
    if sock is not None:
        time.sleep(0.05)
        sock.close()
