"""Random rulesets and probes for the differential fuzzer, and the shrinking of a failing one.

A case is a ruleset over raw, mangle, nat and filter (policies, user chains reached by jumps
and gotos, rules drawn from every match and target chainwalk reads: addresses with prefixes
and masks spelt as addresses, contiguous or not, negations, ports and port ranges,
multiport, owner, marks, conntrack state, interfaces, RETURN, REDIRECT, DNAT, SNAT,
MASQUERADE, CT, CONNMARK, MARK, REJECT...) and probes (connections from the pod as some
user, or into it from the network). Everything comes from one ``random.Random(seed)``, so a
seed names a case. The rules are built to be mostly valid; the few the kernel refuses are
themselves compared (chainwalk must refuse them too).

``shrink`` makes a failing case smaller while it still fails: fewer rules, fewer parts in
each rule, fewer chains; each candidate is judged again, the kernel deciding.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace

from kernel_probes import APP, PROXY, ROOT, Identity
from netns import GATEWAY_IP, POD_IP, POD_SECONDARY_IP, REMOTE_HOST, Proto

TABLE_CHAINS: dict[str, tuple[str, ...]] = {
    "raw": ("PREROUTING", "OUTPUT"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
}
IDENTITIES = (APP, ROOT, PROXY)
# Where probes go from the pod: other hosts, the pod itself, localhost, AnyIP ranges.
OUTPUT_DESTINATIONS = (GATEWAY_IP, REMOTE_HOST, POD_IP, POD_SECONDARY_IP, "127.0.0.1",
                       "192.168.7.7", "172.16.0.7", "10.96.0.10")
# Where inbound probes come from (None: the network's own address, the gateway).
INBOUND_SOURCES = (None, REMOTE_HOST, "192.168.7.7", "172.16.0.7")
PORTS = (53, 80, 443, 8080, 9000, 15001, 15006, 15008)
# Where NAT may send a connection: hosts with listeners (the pod, the network) and others.
NAT_DESTINATIONS = (REMOTE_HOST, GATEWAY_IP, "192.168.7.7", POD_IP, "127.0.0.1", "10.96.0.20")
ADDRESSES = (*OUTPUT_DESTINATIONS, "10.0.0.0", "0.0.0.1", "0.0.0.99")


@dataclass(frozen=True)
class FuzzRule:
    """One rule: its chain, its removable parts (each a few tokens) and its target."""

    chain: str
    parts: tuple[str, ...]
    target: str  # "" for none

    def line(self) -> str:
        return " ".join(["-A", self.chain, *self.parts, *([self.target] if self.target else [])])


@dataclass(frozen=True)
class FuzzTable:
    name: str
    policies: tuple[tuple[str, str], ...]  # built-in chain, ACCEPT or DROP
    user_chains: tuple[str, ...]
    rules: tuple[FuzzRule, ...]

    def lines(self) -> list[str]:
        out = [f"*{self.name}"]
        out += [f":{chain} {policy} [0:0]" for chain, policy in self.policies]
        out += [f":{chain} - [0:0]" for chain in self.user_chains]
        out += [rule.line() for rule in self.rules]
        return [*out, "COMMIT"]


@dataclass(frozen=True)
class FuzzProbe:
    """One connection: from the pod (output) as ``who`` or into it (prerouting)."""

    hook: str
    proto: Proto
    dst: str
    dport: int
    who: Identity = ROOT
    src: str | None = None
    sport: int = 0

    def describe(self) -> str:
        who = f" as {self.who.name}" if self.hook == "output" else ""
        src = f" from {self.src or '*'}:{self.sport or '*'}" if self.src or self.sport else ""
        return f"{self.hook}{who}: {self.proto} to {self.dst}:{self.dport}{src}"


@dataclass(frozen=True)
class FuzzCase:
    seed: int
    tables: tuple[FuzzTable, ...]
    probes: tuple[FuzzProbe, ...]

    def ruleset(self) -> str:
        return "\n".join(line for table in self.tables for line in table.lines()) + "\n"


# ---------------------------------------------------------------------------------------------
# Generation


def _network(r: random.Random) -> str:
    address = r.choice(ADDRESSES)
    form = r.choice(("host", "prefix", "mask", "mask"))
    if form == "host":
        return address
    if form == "prefix":
        return f"{address}/{r.choice((0, 8, 16, 24, 28, 32))}"
    octets = [r.choice((0, 255, 255, r.randrange(256))) for _ in range(4)]
    return f"{address}/{'.'.join(map(str, octets))}"


def _neg(r: random.Random, chance: float = 0.3) -> str:
    return "! " if r.random() < chance else ""


def _port_range(r: random.Random) -> str:
    port = r.choice(PORTS)
    if r.random() < 0.3:
        return f"{port}:{port + r.choice((1, 10, 1000))}"
    return str(port)


def _match_parts(r: random.Random, hook: str, proto: str | None) -> list[str]:
    """A few criteria valid from ``hook`` (a built-in chain's, or a user chain's caller)."""
    makers: list[Callable[[], str]] = [
        lambda: f"{_neg(r)}-s {_network(r)}",
        lambda: f"{_neg(r)}-d {_network(r)}",
        lambda: f"-m mark {_neg(r)}--mark {r.choice(('0x1', '0x5', '0x1/0x1', '0x0'))}",
        lambda: "-m conntrack " + _neg(r) + "--ctstate " + r.choice(
            ("NEW", "INVALID", "UNTRACKED", "NEW,ESTABLISHED", "DNAT", "SNAT,DNAT")),
        lambda: f"-m state {_neg(r)}--state {r.choice(('NEW', 'INVALID', 'UNTRACKED'))}",
        lambda: f"-m addrtype {_neg(r)}--dst-type {r.choice(('LOCAL', 'UNICAST'))}",
        lambda: f"-m connmark {_neg(r)}--mark {r.choice(('0x1', '0x0'))}",
        lambda: "-m comment --comment fuzz",
    ]
    if proto is not None:
        # -m tcp written out, as iptables-save does: without it getopt would take --sport
        # after -m multiport as an abbreviation of multiport's --sports.
        makers += [
            lambda: f"-m {proto} {_neg(r)}--dport {_port_range(r)}",
            lambda: f"-m {proto} {_neg(r)}--sport {_port_range(r)}",
            lambda: "-m multiport " + _neg(r) + "--dports " + ",".join(
                sorted({_port_range(r) for _ in range(r.randint(1, 3))})),
        ]
    if hook in ("PREROUTING", "INPUT", "FORWARD"):
        makers.append(lambda: f"{_neg(r)}-i {r.choice(('eth0', 'lo', 'eth+'))}")
    if hook in ("OUTPUT", "POSTROUTING", "FORWARD"):
        makers.append(lambda: f"{_neg(r)}-o {r.choice(('eth0', 'lo', 'eth+'))}")
    if hook in ("OUTPUT", "POSTROUTING"):
        makers.append(lambda: "-m owner " + _neg(r) + r.choice(
            ("--uid-owner 1000", "--uid-owner 1337", "--gid-owner 1337", "--uid-owner 0-999")))
    # Each criterion once: iptables refuses -s twice, and reads the options of a module
    # given twice after another one with the same option names (-m mark, -m connmark)
    # as that other module's.
    parts = [make() for make in r.sample(makers, r.choice((0, 1, 1, 2, 2, 3)))]
    if proto is not None:
        # -p first; --dport/--sport need the protocol's module, which -p loads implicitly
        parts.insert(0, f"-p {proto}")
    return parts


def _nat_ports(r: random.Random) -> str:
    port = r.choice(PORTS)
    return f"{port}-{port + r.choice((1, 2))}" if r.random() < 0.4 else str(port)


def _target(r: random.Random, table: str, hook: str, proto: str | None,
            callable_chains: list[str]) -> str:
    options = ["", "-j ACCEPT", "-j RETURN", "-j MARK --set-mark 0x1",
               "-j MARK --set-xmark 0x5/0xf"]
    if callable_chains:
        options += [f"-j {r.choice(callable_chains)}", f"-g {r.choice(callable_chains)}",
                    f"-j {r.choice(callable_chains)}"]
    if table != "nat":
        options += ["-j DROP"]
    if table == "filter":
        options += ["-j REJECT", "-j DROP"]
        if proto == "tcp":
            options.append("-j REJECT --reject-with tcp-reset")
    if table == "mangle":
        options += ["-j CONNMARK --set-mark 0x1", "-j CONNMARK --save-mark"]
    if table == "raw" and proto == "udp":
        # Untracking a TCP connection or putting it in a zone its answers are not in ends its
        # handshake (resets, answers not NATed back; seen): a question about the return path,
        # not about where the first packet lands.
        options += ["-j CT --zone 3", "-j CT --notrack", "-j NOTRACK"]
    if table == "nat" and hook in ("PREROUTING", "OUTPUT"):
        ports = f" --to-ports {_nat_ports(r)}" if proto else ""
        options += [f"-j REDIRECT{ports}", f"-j REDIRECT{ports}"]
        port = f":{_nat_ports(r)}" if proto else ""
        options += [f"-j DNAT --to-destination {r.choice(NAT_DESTINATIONS)}{port}"]
    if table == "nat" and hook == "POSTROUTING":
        port = f":{_nat_ports(r)}" if proto and r.random() < 0.5 else ""
        options += [f"-j SNAT --to-source {POD_IP}{port}", "-j MASQUERADE"]
        if proto:
            options.append(f"-j MASQUERADE --to-ports {_nat_ports(r)}")
    if table == "nat" and hook == "INPUT":
        options += [f"-j SNAT --to-source {POD_SECONDARY_IP}"]
    return r.choice(options)


def _table(r: random.Random, name: str) -> FuzzTable:
    builtins = TABLE_CHAINS[name]
    policies = tuple((chain, "DROP" if name != "nat" and r.random() < 0.1 else "ACCEPT")
                     for chain in builtins)
    # Each user chain serves one built-in chain (its hook), and is called only from it and
    # from the user chains made before it: no loops, and valid matches and targets.
    owners = {f"U{name[0].upper()}{k}": r.choice(builtins) for k in range(r.choice((0, 1, 2)))}
    rules: list[FuzzRule] = []
    for chain in (*builtins, *owners):
        hook = owners.get(chain, chain)
        later = list(owners)[list(owners).index(chain) + 1:] if chain in owners else list(owners)
        callable_chains = [c for c in later if owners[c] == hook]
        for _ in range(r.choice((0, 1, 2, 3, 4))):
            proto = r.choice((None, "tcp", "tcp", "udp"))
            parts = tuple(_match_parts(r, hook, proto))
            rules.append(FuzzRule(chain, parts, _target(r, name, hook, proto, callable_chains)))
    return FuzzTable(name, policies, tuple(owners), tuple(rules))


def _probe(r: random.Random) -> FuzzProbe:
    proto: Proto = r.choice(("tcp", "tcp", "udp"))
    dport = r.choice(PORTS)
    if r.random() < 0.6:
        who = r.choice(IDENTITIES)
        dst = r.choice(OUTPUT_DESTINATIONS)
        src = "127.0.0.1" if dst.startswith("127.") and r.random() < 0.3 else None
        # Not a port NAT or the probe could send it to: the harness listens on those.
        sport = r.choice((0, 0, 0, 40001))
        return FuzzProbe("output", proto, dst, dport, who, src, sport)
    dst = r.choice((POD_IP, POD_IP, POD_SECONDARY_IP))
    return FuzzProbe("prerouting", proto, dst, dport, src=r.choice(INBOUND_SOURCES))


def random_case(seed: int, probes: int) -> FuzzCase:
    """The case a seed names: a ruleset over the four tables and ``probes`` probes."""
    r = random.Random(seed)
    tables = tuple(_table(r, name) for name in TABLE_CHAINS if r.random() < 0.85)
    return FuzzCase(seed, tables, tuple(_probe(r) for _ in range(probes)))


# ---------------------------------------------------------------------------------------------
# Shrinking


def _smaller(case: FuzzCase) -> list[FuzzCase]:
    """Cases one step smaller: a table, a rule, a rule's part or target, a chain, a policy."""
    out: list[FuzzCase] = []

    def with_table(k: int, table: FuzzTable | None) -> FuzzCase:
        tables = [*case.tables[:k], *([table] if table else []), *case.tables[k + 1:]]
        return replace(case, tables=tuple(tables))

    for k, table in enumerate(case.tables):
        out.append(with_table(k, None))
        for n in range(len(table.rules)):
            out.append(with_table(k, replace(table, rules=table.rules[:n] + table.rules[n + 1:])))
        for n, rule in enumerate(table.rules):
            for m in range(len(rule.parts)):
                smaller = replace(rule, parts=rule.parts[:m] + rule.parts[m + 1:])
                out.append(with_table(k, replace(table, rules=_put(table.rules, n, smaller))))
            if rule.target:
                out.append(with_table(k, replace(table, rules=_put(table.rules, n,
                                                                  replace(rule, target="")))))
        for chain in table.user_chains:
            if not any(chain in rule.target.split() or rule.chain == chain
                       for rule in table.rules):
                chains = tuple(c for c in table.user_chains if c != chain)
                out.append(with_table(k, replace(table, user_chains=chains)))
        if any(policy == "DROP" for _, policy in table.policies):
            policies = tuple((chain, "ACCEPT") for chain, _ in table.policies)
            out.append(with_table(k, replace(table, policies=policies)))
    return out


def _put(rules: tuple[FuzzRule, ...], n: int, rule: FuzzRule) -> tuple[FuzzRule, ...]:
    return (*rules[:n], rule, *rules[n + 1:])


def shrink(case: FuzzCase, fails: Callable[[FuzzCase], bool], budget: int = 200) -> FuzzCase:
    """The smallest case found, by greedy steps, that still ``fails`` (at most ``budget``
    judgements): ``case`` must fail and have one probe."""
    tries = 0
    improved = True
    while improved and tries < budget:
        improved = False
        for candidate in _smaller(case):
            tries += 1
            if fails(candidate):
                case, improved = candidate, True
                break
            if tries >= budget:
                break
    return case
