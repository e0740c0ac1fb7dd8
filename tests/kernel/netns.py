"""Two throwaway pods, each with its own network: the kernel as a judge.

This module knows nothing about chainwalk. It loads a ruleset into real pod namespaces, makes
real connections as a given uid/gid, and reports two things the kernel decides:

* which rules the first packet of a connection matched (their packet counters), and
* where the connection ended up: which listener accepted it, with which addresses, and the
  original destination conntrack remembers; or, when none did, which verdict discarded it.

A pod mirrors a Kubernetes pod: ``lo`` and ``eth0`` (one end of a veth pair; 10.0.0.5/24, a
secondary 10.0.0.6/24 and fd00::5/64; default routes via 10.0.0.1 and fd00::1, whose
neighbour entries are pinned) and the policy routing Istio's TPROXY mode adds (fwmark 1337 is
delivered locally). Its network namespace holds the other end (10.0.0.1/24, fd00::1/64, the
pod's addresses pinned as neighbours), 10.0.0.99 and fd01::99 on its ``lo`` and whole ranges
routed to itself as local (AnyIP), so that every connection that leaves the pod is accepted by
a listener there and can be observed.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, replace
from typing import Literal, NoReturn, Self

POD_IP = "10.0.0.5"
POD_SECONDARY_IP = "10.0.0.6"  # a second address on eth0: REDIRECT and routing use the first
POD_PREFIX = 24
GATEWAY_IP = "10.0.0.1"
REMOTE_HOST = "10.0.0.99"  # on the network's lo, in the pod's subnet: reached without a router
# Ranges the network namespace treats as its own (AnyIP local routes), reached via the gateway.
REMOTE_RANGES = ("10.96.0.0/16", "172.16.0.0/12", "192.168.0.0/16", "fd01::/64")
# The same pod and network in IPv6.
POD_IP6 = "fd00::5"
POD_PREFIX6 = 64
GATEWAY_IP6 = "fd00::1"
# Behind the gateway: IPv6 answers neighbour solicitations only for the link's own addresses.
REMOTE_HOST6 = "fd01::99"
# Istio's TPROXY mode routes packets with this mark to the pod itself, from this table.
TPROXY_MARK = 1337
TPROXY_TABLE = 133
# The link-layer addresses of the veth ends, fixed so that each side's neighbour entry for the
# other can be pinned: no neighbour discovery crosses the hooks while a probe runs.
POD_MAC = "02:00:0a:00:00:05"
GATEWAY_MAC = "02:00:0a:00:00:01"

Proto = Literal["tcp", "udp"]
Side = Literal["pod", "network"]
Family = Literal[4, 6]
Address = tuple[str, int]

HARNESS_TAG = "chainwalk-harness"
# The harness rules that drop what no probe sent (see ``_Stack.chatter``); unlike the
# HARNESS_TAG rules, what they drop is no answer to the probe, so it is not counted as one.
CHATTER_TAG = "chainwalk-chatter"
TABLES = ("raw", "mangle", "nat", "filter", "security")

# The longest a first packet may take to finish its journey. It normally ends in a few
# milliseconds, when its answer reaches the harness rules; only a silently dropped packet waits
# this long. Kept well under 1 s, when an unanswered SYN would be sent again.
SETTLE_MAX_S = 0.3
# How long the landing client waits for a connection or an ICMP error before calling it dropped.
LANDING_TIMEOUT_S = 0.4
# How long a forked client may take to start before the harness gives up on it.
CLIENT_START_SLACK_S = 10.0

_CLONE_NEWNET = 0x40000000
_SO_ORIGINAL_DST = 80  # IP6T_SO_ORIGINAL_DST has the same number
_NETLINK_NETFILTER = 12
_NFNL_SUBSYS_CTNETLINK = 1
_IPCTNL_MSG_CT_DELETE = 2
_NLM_F_REQUEST = 0x1
_NLM_F_ACK = 0x4
_NLMSG_ERROR = 2

_libc = ctypes.CDLL(None, use_errno=True)


@dataclass(frozen=True)
class _Stack:
    """What differs between IPv4 and IPv6 for the harness: tools, socket options, harness."""

    af: socket.AddressFamily
    level: int  # SOL_IP or SOL_IPV6 (IPPROTO_IPV6)
    wildcard: str
    restore: str
    save: str
    transparent: int  # IP_TRANSPARENT, IPV6_TRANSPARENT
    recv_pktinfo: int  # IP_PKTINFO, IPV6_RECVPKTINFO
    pktinfo: int  # the control message type: IP_PKTINFO, IPV6_PKTINFO
    recv_origdst: int  # IP_RECVORIGDSTADDR, IPV6_RECVORIGDSTADDR (also the message type)
    # Dropped in raw, before anything else sees them: every packet that is not the first of
    # its connection (answers, resets, ICMP errors). The counters then describe the first
    # packet alone.
    harness: tuple[str, ...]
    # Dropped before those: packets no probe sends, which the pod's kernel sends on its own
    # (IPv6 router solicitations and MLD reports from the link-local address to multicast
    # groups, seconds apart, for as long as the pod lives). A rule that matches every packet
    # would count them in whichever probe's counter pass they fall. Nothing needs them: the
    # neighbours are pinned.
    chatter: tuple[str, ...]


_STACKS: dict[Family, _Stack] = {
    4: _Stack(
        socket.AF_INET, socket.SOL_IP, "0.0.0.0", "iptables-restore", "iptables-save",
        19, 8, 8, 20,
        ("-p tcp ! --tcp-flags SYN,ACK,RST,FIN SYN", "-p icmp"),
        (),
    ),
    6: _Stack(
        socket.AF_INET6, socket.IPPROTO_IPV6, "::", "ip6tables-restore", "ip6tables-save",
        75, 49, 50, 74,
        (
            "-p tcp ! --tcp-flags SYN,ACK,RST,FIN SYN",
            "-p ipv6-icmp -m icmp6 --icmpv6-type destination-unreachable",
        ),
        ("-s fe80::/10", "-d ff00::/8"),
    ),
}  # fmt: skip


def family_of(address: str) -> Family:
    """4 or 6, from how an address is written."""
    return 6 if ":" in address else 4


class HarnessError(RuntimeError):
    """The harness itself failed (a command, a namespace); no verdict about chainwalk."""


# ---------------------------------------------------------------------------------------------
# Commands and namespaces


def run(argv: list[str], stdin: str | None = None) -> str:
    """Run a command and return its stdout; raise HarnessError with its stderr on failure."""
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise HarnessError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def in_netns(netns: str, *argv: str, stdin: str | None = None) -> str:
    """Run a command inside a named network namespace."""
    return run(["ip", "netns", "exec", netns, *argv], stdin=stdin)


def _setns(fd: int) -> None:
    """setns(2) for network namespaces; os.setns only exists from Python 3.12."""
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def enter_netns(netns: str) -> None:
    """Move the calling thread into a named network namespace, for good."""
    fd = os.open(f"/var/run/netns/{netns}", os.O_RDONLY)
    try:
        _setns(fd)
    finally:
        os.close(fd)


@contextmanager
def inside(netns: str) -> Iterator[None]:
    """Run a block in a named network namespace, then come back.

    Sockets belong to the namespace they were created in, so listeners created here keep
    listening in ``netns`` after the thread has returned home; no extra process is needed.
    """
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        enter_netns(netns)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(home)


@dataclass(frozen=True)
class Topology:
    """The names of a pod namespace and of the network namespace its eth0 is plugged into."""

    pod: str
    network: str

    @classmethod
    def create(cls, tag: str) -> Topology:
        """Create both namespaces and wire them; remove everything again if a step fails."""
        topology = cls(pod=f"cw-{tag}-pod", network=f"cw-{tag}-net")
        try:
            topology._build(veth_pod=f"cw{tag}p", veth_net=f"cw{tag}n")
        except BaseException:
            topology.destroy()
            raise
        return topology

    def _build(self, veth_pod: str, veth_net: str) -> None:
        """The ip commands and sysctls that make the two namespaces a pod and its network."""
        pod, net = self.pod, self.network
        steps = [
            f"netns add {pod}",
            f"netns add {net}",
            f"link add {veth_pod} address {POD_MAC} type veth peer name {veth_net} "
            f"address {GATEWAY_MAC}",
            f"link set {veth_pod} netns {pod}",
            f"link set {veth_net} netns {net}",
            f"-n {pod} link set {veth_pod} name eth0",
            f"-n {pod} addr add {POD_IP}/{POD_PREFIX} dev eth0",
            f"-n {pod} addr add {POD_SECONDARY_IP}/{POD_PREFIX} dev eth0",
            f"-n {pod} addr add {POD_IP6}/{POD_PREFIX6} dev eth0 nodad",
            f"-n {pod} link set lo up",
            f"-n {pod} link set eth0 up",
            f"-n {pod} route add default via {GATEWAY_IP}",
            f"-n {pod} -6 route add default via {GATEWAY_IP6}",
            f"-n {pod} rule add fwmark {TPROXY_MARK} lookup {TPROXY_TABLE}",
            f"-n {pod} route add local default dev lo table {TPROXY_TABLE}",
            f"-n {net} addr add {GATEWAY_IP}/{POD_PREFIX} dev {veth_net}",
            f"-n {net} addr add {GATEWAY_IP6}/{POD_PREFIX6} dev {veth_net} nodad",
            f"-n {net} addr add {REMOTE_HOST}/32 dev lo",
            f"-n {net} addr add {REMOTE_HOST6}/128 dev lo",  # IPv6 binds to addresses only
            f"-n {net} link set lo up",
            f"-n {net} link set {veth_net} up",
            *(f"-n {net} route add local {cidr} dev lo" for cidr in REMOTE_RANGES),
            *(f"-n {pod} neigh replace {ip} lladdr {GATEWAY_MAC} dev eth0 nud permanent"
              for ip in (GATEWAY_IP, GATEWAY_IP6)),
            *(f"-n {net} neigh replace {ip} lladdr {POD_MAC} dev {veth_net} nud permanent"
              for ip in (POD_IP, POD_SECONDARY_IP, POD_IP6)),
        ]
        for step in steps:
            run(["ip", *step.split()])
        in_netns(net, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
        # Every UDP probe to a closed port is answered by an ICMP error, which ends its counter
        # pass early; the default rate limits would silence most of them.
        for netns in (pod, net):
            in_netns(netns, "sysctl", "-q", "-w", "net.ipv4.icmp_ratelimit=0")
            in_netns(netns, "sysctl", "-q", "-w", "net.ipv6.icmp.ratelimit=0")

    def destroy(self) -> None:
        """Delete both namespaces (and with them the veth pair); missing ones are fine."""
        for netns in (self.pod, self.network):
            subprocess.run(["ip", "netns", "del", netns], capture_output=True, check=False)


def flush_conntrack(netns: str) -> None:
    """Forget every connection in a namespace, so the next packet is a first packet again.

    The nat table is consulted only for a connection's first packet; a leftover entry with the
    same addresses and ports would make the next probe skip nat. The ``conntrack`` tool is not
    installed, so this sends ctnetlink's "delete all" request itself.
    """
    with inside(netns):
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_NETFILTER)
    with sock:
        for family in (socket.AF_INET, socket.AF_INET6):
            body = struct.pack("=BBH", family, 0, 0)  # nfgenmsg: family, version, res_id
            kind = (_NFNL_SUBSYS_CTNETLINK << 8) | _IPCTNL_MSG_CT_DELETE
            flags = _NLM_F_REQUEST | _NLM_F_ACK
            sock.send(struct.pack("=IHHII", 16 + len(body), kind, flags, 1, 0) + body)
            answer = sock.recv(4096)
            answer_kind = struct.unpack_from("=H", answer, 4)[0]
            code = struct.unpack_from("=i", answer, 16)[0] if answer_kind == _NLMSG_ERROR else 0
            if code not in (0, -errno.ENOENT):
                raise HarnessError(f"conntrack flush in {netns}: {os.strerror(-code)}")


# ---------------------------------------------------------------------------------------------
# Rulesets and counters


@dataclass(frozen=True, order=True)
class RuleRef:
    """A rule as chainwalk names it: table, chain, 1-based position in the chain."""

    table: str
    chain: str
    rule: int

    def __str__(self) -> str:
        return f"{self.table} {self.chain} #{self.rule}"


def _tables_of(ruleset: str) -> dict[str, list[str]]:
    """The lines of each ``*table`` ... ``COMMIT`` block of an iptables-restore file."""
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    for raw_line in ruleset.splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            current = blocks.setdefault(line[1:].strip(), [])
        elif line == "COMMIT":
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def harness_rules(family: Family = 4) -> list[str]:
    """Restore lines that put the chatter filter, then the first-packet filter, at the top of
    raw PREROUTING and OUTPUT."""
    stack = _STACKS[family]
    tagged = [(m, CHATTER_TAG) for m in stack.chatter] + [(m, HARNESS_TAG) for m in stack.harness]
    return [
        f"-I {chain} {position} {matches} -m comment --comment {tag} -j DROP"
        for chain in ("PREROUTING", "OUTPUT")
        for position, (matches, tag) in enumerate(tagged, start=1)
    ]


# The built-in chains of the tables a connection's later packets cross (nat sees only first
# packets).
_LATER_PACKET_CHAINS: dict[str, tuple[str, ...]] = {
    "raw": ("PREROUTING", "OUTPUT"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
}


def open_return_path_rules(table: str) -> list[str]:
    """Restore lines that let every TCP packet but a connection's first (a bare SYN) through
    a table before its own rules: the landing pass then shows where the first packet lands
    even when the ruleset would drop the answer or the handshake's last ACK."""
    return [
        f"-I {chain} 1 -p tcp ! --tcp-flags SYN,ACK SYN -m comment --comment {HARNESS_TAG} "
        "-j ACCEPT"
        for chain in _LATER_PACKET_CHAINS.get(table, ())
    ]


def restore_input(ruleset: str, with_harness: bool, family: Family = 4,
                  open_return_path: bool = False) -> str:
    """One iptables-restore document that replaces every table.

    Tables the ruleset does not mention are emptied too, so nothing from a previous ruleset
    (or the harness of a previous pass) survives. The harness rules are inserted at position
    1 *after* the ruleset's own rules, so they stay first whatever the ruleset does; so are
    the rules that open the return path (``open_return_path_rules``).
    """
    blocks = _tables_of(ruleset)
    out: list[str] = []
    for table in TABLES:
        out.append(f"*{table}")
        out.extend(blocks.pop(table, []))
        if table == "raw" and with_harness:
            out.extend(harness_rules(family))
        if open_return_path:
            out.extend(open_return_path_rules(table))
        out.append("COMMIT")
    if blocks:
        raise HarnessError(f"unknown tables in ruleset: {', '.join(blocks)}")
    return "\n".join(out) + "\n"


def load_ruleset(netns: str, ruleset: str, with_harness: bool, family: Family = 4,
                 open_return_path: bool = False) -> None:
    """Load a ruleset (fresh counters) into a namespace, optionally with the harness rules
    or the rules that open the return path."""
    document = restore_input(ruleset, with_harness, family, open_return_path)
    in_netns(netns, _STACKS[family].restore, stdin=document)


_COUNTED_RULE = re.compile(r"^\[(\d+):\d+\] -A (\S+) ?(.*)$")
_COUNTED_POLICY = re.compile(r"^:(\S+) (ACCEPT|DROP) \[(\d+):\d+\]$")
_VERDICT = re.compile(r"-j (DROP|REJECT)\b")


@dataclass(frozen=True)
class Counters:
    """Packet counters of every rule, from ``iptables-save -c``, harness rules set apart."""

    packets: dict[RuleRef, int]
    text: dict[RuleRef, str]
    harness_packets: int
    policy_drops: int  # packets dropped by the DROP policy of a built-in chain

    @property
    def hits(self) -> frozenset[RuleRef]:
        """The rules whose counters rose."""
        return frozenset(ref for ref, n in self.packets.items() if n > 0)

    def since(self, earlier: Counters) -> Counters:
        """What was counted after ``earlier`` was read (the same ruleset must be loaded)."""
        if earlier.text != self.text:
            raise HarnessError("the ruleset changed between two readings of its counters")
        return Counters(
            {ref: n - earlier.packets[ref] for ref, n in self.packets.items()},
            self.text,
            self.harness_packets - earlier.harness_packets,
            self.policy_drops - earlier.policy_drops,
        )

    def verdicts(self) -> set[str]:
        """DROP and REJECT verdicts the counted rules and policies gave."""
        found = {m[1] for ref in self.hits if (m := _VERDICT.search(self.text[ref]))}
        return (found | {"DROP"}) if self.policy_drops else found

    def describe(self, ref: RuleRef) -> str:
        """A rule with its text, for failure messages."""
        return f"{ref}: {self.text.get(ref, '(no such rule in the kernel)')}"


def parse_counters(saved: str) -> Counters:
    """Parse ``iptables-save -c``; positions are counted without the harness rules, and
    what the chatter rules dropped is left out."""
    packets: dict[RuleRef, int] = {}
    text: dict[RuleRef, str] = {}
    positions: dict[tuple[str, str], int] = {}
    harness = policy_drops = 0
    table = ""
    for line in saved.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
            continue
        policy = _COUNTED_POLICY.match(line)
        if policy is not None and policy[2] == "DROP":
            policy_drops += int(policy[3])
        match = _COUNTED_RULE.match(line)
        if match is None:
            continue
        count, chain, rule = int(match[1]), match[2], match[3]
        if f"--comment {CHATTER_TAG}" in rule:
            continue
        if f"--comment {HARNESS_TAG}" in rule:
            harness += count
            continue
        position = positions[table, chain] = positions.get((table, chain), 0) + 1
        ref = RuleRef(table, chain, position)
        packets[ref] = count
        text[ref] = f"-A {chain} {rule}"
    return Counters(packets, text, harness, policy_drops)


def read_counters(netns: str, family: Family = 4) -> Counters:
    """The current counters of every rule in a namespace."""
    return parse_counters(in_netns(netns, _STACKS[family].save, "-c"))


# ---------------------------------------------------------------------------------------------
# Clients: forked, moved into a namespace, with the probe's uid and gid


@dataclass(frozen=True)
class Client:
    """A connection to make: from which namespace, as whom, from where, to where."""

    netns: str
    proto: Proto
    dst: str
    dport: int
    uid: int = 0
    gid: int = 0
    src: str | None = None  # bind address; None lets routing choose
    sport: int = 0  # 0 lets the kernel choose
    mark: int = 0  # SO_MARK (the client must be root to set it)

    @property
    def family(self) -> Family:
        return family_of(self.dst)


@dataclass(frozen=True)
class ClientReport:
    """What the client saw: its own address and port, and the error it got, if any."""

    src: str
    sport: int
    error: str | None  # errno name, "timeout", or None while all went well
    final: bool  # False: a UDP client still waits for an ICMP error after sending


class _RunningClient:
    """A forked client process: its report pipe and a pipe that holds it until released."""

    def __init__(self, pid: int, report_fd: int, release_fd: int) -> None:
        self.pid = pid
        self.report_fd = report_fd
        self.release_fd = release_fd
        self._pending = b""

    def has_report(self) -> bool:
        """Whether a whole report has already been read from the pipe (select won't tell)."""
        return b"\n" in self._pending

    def next_report(self, timeout: float) -> ClientReport:
        """Wait for the client's next one-line JSON report."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._pending:
            ready, _, _ = select.select([self.report_fd], [], [], deadline - time.monotonic())
            chunk = os.read(self.report_fd, 4096) if ready else b""
            if not chunk:
                raise HarnessError("the client exited or timed out without a report")
            self._pending += chunk
        line, self._pending = self._pending.split(b"\n", 1)
        fields = json.loads(line)
        if "failure" in fields:
            raise HarnessError(f"client failed: {fields['failure']}")
        return ClientReport(fields["src"], fields["sport"], fields["error"], fields["final"])

    def finish(self) -> None:
        """Release the client, kill it if it still runs, and reap it."""
        os.close(self.release_fd)
        with suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.report_fd)


@contextmanager
def started(client: Client, blocking: bool) -> Iterator[_RunningClient]:
    """Fork a client process and make sure it is gone afterwards.

    The fork joins the namespace and drops to the probe's credentials before creating its
    socket: the owner match looks at the credentials the socket was created with.
    """
    report_r, report_w = os.pipe()
    release_r, release_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(report_r)
        os.close(release_w)
        _client_main(client, blocking, report_w, release_r)
    os.close(report_w)
    os.close(release_r)
    running = _RunningClient(pid, report_r, release_w)
    try:
        yield running
    finally:
        running.finish()


def _client_main(client: Client, blocking: bool, report_fd: int, release_fd: int) -> NoReturn:
    """The forked client: connect, write its reports, wait to be released; never return."""

    def report(sock: socket.socket, error: str | None, final: bool) -> None:
        src, sport = sock.getsockname()[:2]
        fields = {"src": src, "sport": sport, "error": error, "final": final}
        os.write(report_fd, json.dumps(fields).encode() + b"\n")

    try:
        enter_netns(client.netns)
        os.setgroups([])
        os.setgid(client.gid)
        os.setuid(client.uid)
        sock = _client_socket(client)
        if blocking:
            _connect_and_wait(sock, client, report)
        else:
            report(sock, _start_connection(sock, client), True)
        os.read(release_fd, 1)  # hold the socket open until the parent has looked
        os._exit(0)
    except BaseException as e:  # a forked child must never return into pytest
        with suppress(BaseException):
            os.write(report_fd, json.dumps({"failure": repr(e)}).encode() + b"\n")
        os._exit(1)


def _client_socket(client: Client) -> socket.socket:
    stack = _STACKS[client.family]
    kind = socket.SOCK_STREAM if client.proto == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(stack.af, kind)
    if client.mark:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, client.mark)
    if client.src is not None or client.sport:
        sock.bind((client.src or stack.wildcard, client.sport))
    return sock


def _errno_name(e: OSError) -> str:
    return errno.errorcode.get(e.errno or 0, str(e))


def _start_connection(sock: socket.socket, client: Client) -> str | None:
    """Counter pass: send the first packet and return at once (error name or None).

    UDP uses a connected socket so that connect() picks the source address as routing does.
    A DROP or REJECT in OUTPUT makes send() fail with EPERM; that is a result, not a failure.
    """
    sock.setblocking(False)
    code = sock.connect_ex((client.dst, client.dport))
    if code not in (0, errno.EINPROGRESS):
        return errno.errorcode[code]
    if client.proto == "udp":
        try:
            sock.send(b"chainwalk probe")
        except OSError as e:
            return _errno_name(e)
    return None


def _connect_and_wait(
    sock: socket.socket, client: Client, report: Callable[[socket.socket, str | None, bool], None]
) -> None:
    """Landing pass: make the connection and report how it went.

    TCP: one final report once connect() succeeded or failed. UDP: a first report right after
    sending, then a final one with the ICMP error a REJECT sends back (recv() fails with it),
    or "timeout" when nothing came back. EPERM alone means netfilter dropped it in OUTPUT.
    """
    sock.settimeout(LANDING_TIMEOUT_S)
    try:
        sock.connect((client.dst, client.dport))
    except TimeoutError:
        report(sock, "timeout", True)
        return
    except OSError as e:
        report(sock, _errno_name(e), True)
        return
    if client.proto == "tcp":
        report(sock, None, True)
        return
    send_error: str | None = None
    try:
        sock.send(b"chainwalk probe")
    except OSError as e:
        send_error = _errno_name(e)
    report(sock, send_error, False)
    try:
        sock.recv(1)
        error = send_error
    except TimeoutError:
        error = send_error or "timeout"
    except OSError as e:
        error = _errno_name(e)
    report(sock, error, True)


# ---------------------------------------------------------------------------------------------
# The counter pass


@dataclass(frozen=True)
class FirstPacket:
    """The counter pass: which rules the first packet matched, and who sent it from where."""

    counters: Counters
    client: ClientReport


def trace_first_packet(
    topology: Topology, client: Client, read: Callable[[str], Counters] | None = None
) -> FirstPacket:
    """Send a connection's first packet and read which rules counted it.

    Expects the ruleset loaded with the harness rules (load_ruleset). The harness rules drop
    the pod's own chatter and every later packet (answers, resets, ICMP errors) in raw, so
    only the first packet reaches the ruleset; what it counted is the difference between two
    readings. Its journey is over once its answer has been dropped by the harness (counted
    there); a packet that is silently dropped gets SETTLE_MAX_S. ``read`` reads a namespace's
    counters (by default ``read_counters`` for the client's family).
    """
    read = read or (lambda netns: read_counters(netns, client.family))
    flush_conntrack(topology.pod)
    flush_conntrack(topology.network)
    before = read(topology.pod)
    with started(client, blocking=False) as running:
        report = running.next_report(timeout=2.0)
        deadline = time.monotonic() + SETTLE_MAX_S
        counted = read(topology.pod).since(before)
        while counted.harness_packets == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
            counted = read(topology.pod).since(before)
    return FirstPacket(counted, report)


# ---------------------------------------------------------------------------------------------
# The landing pass


@dataclass(frozen=True)
class Arrival:
    """A connection (or datagram) a listener received."""

    side: Side
    listener_port: int  # the port of the listening socket that got it
    local: Address  # the address and port it was accepted on (differ from it after TPROXY)
    peer: Address  # where it came from, as the listener sees it
    original_dst: Address | None  # conntrack's original destination, when it was NATed


@dataclass(frozen=True)
class Landing:
    """The landing pass: where the connection ended up, and what the client saw."""

    client: ClientReport
    arrival: Arrival | None

    def describe(self) -> str:
        """One line for failure messages."""
        c = self.client
        head = f"client {c.src}:{c.sport} error={c.error}"
        a = self.arrival
        if a is None:
            return f"{head}; no listener received it"
        local, peer = f"{a.local[0]}:{a.local[1]}", f"{a.peer[0]}:{a.peer[1]}"
        orig = f"{a.original_dst[0]}:{a.original_dst[1]}" if a.original_dst else "not NATed"
        return (
            f"{head}; {a.side} listener on port {a.listener_port} got it on {local} "
            f"from {peer}, original dst {orig}"
        )


def disposition(first: FirstPacket, landing: Landing) -> str:
    """The kernel's outcome in chainwalk's words.

    delivered or sent: a listener in the pod or in the network got it. Otherwise the counters
    of the first packet say who discarded it: rejected (a REJECT rule counted it), dropped (a
    DROP rule or policy did), or unroutable (no rule did: routing discarded it, as it does a
    martian destination or a packet the pod would have to forward).
    """
    if landing.arrival is not None:
        return "delivered" if landing.arrival.side == "pod" else "sent"
    verdicts = first.counters.verdicts()
    if "REJECT" in verdicts:
        return "rejected"
    if "DROP" in verdicts:
        return "dropped"
    if landing.client.error == "ECONNREFUSED":
        return "refused by no rule (a port without a listener?)"
    return "unroutable"


def land(
    topology: Topology, client: Client, pod_ports: Iterable[int], network_ports: Iterable[int]
) -> Landing:
    """Make the real connection and see which listener gets it.

    Expects the ruleset loaded without the harness rules, so that answers flow as they would
    in a pod. Listeners on 0.0.0.0 in the pod (for every port the connection could be
    redirected to) and in the network (for every port it could leave with) tell where it
    landed.
    """
    flush_conntrack(topology.pod)
    flush_conntrack(topology.network)
    with ExitStack() as stack:
        listeners: dict[socket.socket, Side] = {}
        sides: tuple[tuple[Side, str, Iterable[int]], ...] = (
            ("pod", topology.pod, pod_ports),
            ("network", topology.network, network_ports),
        )
        for side, netns, ports in sides:
            for sock in listening_sockets(netns, client, sorted(set(ports))):
                listeners[stack.enter_context(sock)] = side
        running = stack.enter_context(started(client, blocking=True))
        landing = _await_landing(running, listeners, client)
    return landing


def _await_landing(
    running: _RunningClient, listeners: dict[socket.socket, Side], client: Client
) -> Landing:
    """Wait until a listener receives the connection or the client reports a failure."""
    # The client reports within LANDING_TIMEOUT_S of its connect; the slack is for a
    # loaded machine, where the forked client may wait seconds to be scheduled at all.
    deadline = time.monotonic() + LANDING_TIMEOUT_S + CLIENT_START_SLACK_S
    report: ClientReport | None = None
    while time.monotonic() < deadline:
        if not running.has_report():
            watched: list[socket.socket | int] = [*listeners, running.report_fd]
            ready, _, _ = select.select(watched, [], [], max(0.0, deadline - time.monotonic()))
            for sock in ready:
                if isinstance(sock, socket.socket):
                    with _received(sock, listeners[sock], client) as arrival:
                        return Landing(report or running.next_report(timeout=2.0), arrival)
            if running.report_fd not in ready:
                continue
        report = running.next_report(timeout=1.0)
        if report.final and report.error is not None:
            return Landing(report, None)
        if report.final:  # TCP connected: the handshake's last ACK fills the accept queue
            deadline = min(deadline, time.monotonic() + 0.5)
    if report is not None and report.final:
        # The client saw the answer, but its ACK never completed the handshake: no accept.
        return Landing(replace(report, error="handshake-incomplete"), None)
    raise HarnessError(f"the landing client never finished: {report}")


def listening_sockets(netns: str, client: Client, ports: list[int]) -> list[socket.socket]:
    """Sockets bound to the wildcard address and PORT in a namespace, for the client's family
    and protocol, ready to report their destinations.

    They are transparent (IP_TRANSPARENT), as Envoy's are: TPROXY hands connections only to
    transparent sockets. That changes nothing for connections that reach them otherwise.
    """
    stack = _STACKS[client.family]
    kind = socket.SOCK_STREAM if client.proto == "tcp" else socket.SOCK_DGRAM
    socks: list[socket.socket] = []
    with inside(netns):
        for port in ports:
            sock = socket.socket(stack.af, kind)
            socks.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(stack.level, stack.transparent, 1)
            if client.proto == "udp":
                sock.setsockopt(stack.level, stack.recv_pktinfo, 1)
                sock.setsockopt(stack.level, stack.recv_origdst, 1)
            sock.bind((stack.wildcard, port))
            if client.proto == "tcp":
                sock.listen(8)
    return socks


@contextmanager
def _received(sock: socket.socket, side: Side, client: Client) -> Iterator[Arrival]:
    """Take what a listener received; an accepted connection stays open within the block.

    Kept open until the client has reported, so that the client sees its connect() succeed
    rather than the reset with which the connection is then closed (no TIME_WAIT is left
    behind to clash with the next probe whose SNAT picks the same fixed source port).
    """
    if client.proto == "udp":
        yield _datagram_arrival(sock, side, _STACKS[client.family])
        return
    conn, peer = sock.accept()
    with conn:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        original = _original_dst(conn, _STACKS[client.family])
        yield _arrival(sock, side, conn.getsockname()[:2], peer[:2], original)


def _datagram_arrival(sock: socket.socket, side: Side, stack: _Stack) -> Arrival:
    """Read a datagram with its destination address (packet info) and original one."""
    _, ancillary, _, peer = sock.recvmsg(2048, socket.CMSG_SPACE(64) * 2)
    local_ip, original = "", None
    for level, kind, data in ancillary:
        if level == stack.level and kind == stack.pktinfo:
            local_ip = _pktinfo_address(data, stack)
        elif level == stack.level and kind == stack.recv_origdst:
            original = _sockaddr(data)
    return _arrival(sock, side, (local_ip, sock.getsockname()[1]), peer[:2], original)


def _pktinfo_address(data: bytes, stack: _Stack) -> str:
    """The destination address in struct in_pktinfo (ifindex, spec_dst, addr) or in6_pktinfo
    (addr, ifindex)."""
    if stack.af == socket.AF_INET:
        return socket.inet_ntop(socket.AF_INET, data[8:12])
    return socket.inet_ntop(socket.AF_INET6, data[:16])


def _arrival(
    listener: socket.socket, side: Side, local: Address, peer: Address, original: Address | None
) -> Arrival:
    """An Arrival whose original destination is set only when NAT changed the destination.

    The kernel also answers with the (unchanged) destination when conntrack tracked the
    connection without NAT (and always does for UDP); that is not an original destination.
    """
    port = listener.getsockname()[1]
    return Arrival(side, port, local, peer, original if original != local else None)


def _original_dst(conn: socket.socket, stack: _Stack) -> Address | None:
    """SO_ORIGINAL_DST of an accepted TCP connection; None when conntrack has no entry."""
    try:
        return _sockaddr(conn.getsockopt(stack.level, _SO_ORIGINAL_DST, 64))
    except OSError as e:
        if e.errno == errno.ENOENT:
            return None
        raise


def _sockaddr(data: bytes) -> Address:
    """Address and port of a struct sockaddr_in or sockaddr_in6."""
    family = struct.unpack_from("=H", data)[0]
    if family == socket.AF_INET:
        port, packed = struct.unpack_from("!2xH4s", data)
        return socket.inet_ntop(socket.AF_INET, packed), port
    port, packed = struct.unpack_from("!2xH4x16s", data)
    return socket.inet_ntop(socket.AF_INET6, packed), port


# ---------------------------------------------------------------------------------------------
# Two pods: one counts first packets, the other lets connections land


class Lab:
    """Two identical pods, each with its own network: a counting pod and a landing pod.

    The counting pod has the ruleset with the harness rules (the counter pass); the landing
    pod has the plain ruleset (the landing pass). A ruleset is loaded into both only when it
    differs from the one they have, so consecutive probes of a ruleset reload nothing; the
    counter pass reads counter differences instead of fresh counters.
    """

    def __init__(self, counting: Topology, landing: Topology) -> None:
        self.counting = counting
        self.landing = landing
        # What each family's pods have (iptables and ip6tables rulesets are separate).
        self._loaded: dict[Family, tuple[str, bool]] = {}

    @classmethod
    def create(cls, tag: str) -> Self:
        """Create both pods; remove the first again if the second cannot be made."""
        counting = Topology.create(f"{tag}c")
        try:
            return cls(counting, Topology.create(f"{tag}l"))
        except BaseException:
            counting.destroy()
            raise

    def use(self, ruleset: str, family: Family = 4, open_return_path: bool = False) -> None:
        """Make ``ruleset`` the one loaded in both pods (for IPv4 or IPv6); with
        ``open_return_path``, the landing pod lets every later packet of a TCP connection
        through (see ``open_return_path_rules``)."""
        if self._loaded.get(family) == (ruleset, open_return_path):
            return
        self._loaded.pop(family, None)  # until both loads have succeeded
        load_ruleset(self.counting.pod, ruleset, True, family)
        load_ruleset(self.landing.pod, ruleset, False, family, open_return_path)
        self._loaded[family] = (ruleset, open_return_path)

    def destroy(self) -> None:
        """Delete all four namespaces."""
        self.counting.destroy()
        self.landing.destroy()
