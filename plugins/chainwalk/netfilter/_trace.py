"""Follows one packet through a ruleset the way the kernel does.

Theory of operation. A locally generated packet is routed (output interface and
source address), then crosses the OUTPUT hook and the POSTROUTING hook; a packet
arriving on an interface crosses PREROUTING, then INPUT when routing finds its
destination local, or FORWARD and POSTROUTING. At each hook the tables run in
the kernel's priority order (``HOOK_TABLES``). The nat table is consulted only
for a connection's first packet: once the connection's NAT is set up (after
POSTROUTING) a packet that loops back through ``lo`` skips nat PREROUTING and nat
INPUT. Within a table, chains are walked as ``ipt_do_table`` walks them: a jump
pushes the return position, a goto does not, RETURN (or the end of a user chain)
pops, and an empty stack falls to the built-in chain's policy.

Where a criterion depends on chance (``-m statistic``) or on what the file cannot
say (ipset members, in lenient mode), the trace forks: each run records its
decisions, and every alternative decision is run again from the start, so each
:class:`Branch` is a complete, deterministic trace with its probability.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field, fields
from typing import Any

from .._errors import ChainwalkError, Location, Problem
from . import _values as v
from ._compile import Choice, State
from ._model import Chain, Rule, Ruleset
from ._packet import Host, Packet
from ._routing import input_is_local, martian, primary_address, route_output

#: Tables consulted at each hook, in the kernel's priority order.
HOOK_TABLES: dict[str, tuple[str, ...]] = {
    "PREROUTING": ("raw", "mangle", "nat"),
    "INPUT": ("mangle", "filter", "security", "nat"),
    "FORWARD": ("mangle", "filter", "security"),
    "OUTPUT": ("raw", "mangle", "nat", "filter", "security"),
    "POSTROUTING": ("mangle", "nat"),
}
START_HOOKS = ("OUTPUT", "PREROUTING")
EPHEMERAL_PORT = 40000  # the source port of an unbound socket, when none is given
MAX_BRANCHES = 256
_INDEX_MIN_RULES = 16


@dataclass(frozen=True, slots=True)
class Step:
    """One thing that happened to the packet.

    ``kind`` is ``rule`` (a rule was evaluated; ``result`` is ``matched``,
    ``not-matched`` or, for a criterion decided by chance or assumption, ``assumed``
    / ``assumed-not``), ``policy`` (a built-in chain's policy applied), ``return``
    (the end of a user chain), ``skipped`` (rules the destination index ruled out
    without evaluating them; ``rule`` is the first of them, ``count`` how many) or
    ``event`` (routing, NAT set-up, loopback, delivery).
    """

    kind: str
    table: str = ""
    hook: str = ""
    chain: str = ""
    rule: int = 0
    text: str = ""
    result: str = ""
    reason: str | None = None
    target: str | None = None
    effect: str | None = None
    count: int = 1
    location: Location | None = None

    @property
    def hit(self) -> bool:
        return self.kind == "rule" and self.result in ("matched", "assumed")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        for key in ("table", "hook", "chain", "rule", "text", "result", "reason", "target",
                    "effect"):
            value = getattr(self, key)
            if value not in ("", None, 0) or (key == "rule" and self.kind == "rule"):
                out[key] = value
        if self.kind == "skipped":
            out["count"] = self.count
        return out


# Step is frozen, so its generated __init__ sets each of its twelve fields through
# object.__setattr__: a trace makes a Step for every rule it reads, and that was a third of
# the time of a short trace. _step sets the slots directly: the same Step, twice as fast.
_STEP_FIELDS = ("kind", "table", "hook", "chain", "rule", "text", "result", "reason", "target",
                "effect", "count", "location")
if tuple(f.name for f in fields(Step)) != _STEP_FIELDS:  # a new field would go unset
    raise TypeError("Step's fields changed: update _step")
(_set_kind, _set_table, _set_hook, _set_chain, _set_rule, _set_text, _set_result, _set_reason,
 _set_target, _set_effect, _set_count, _set_location) = (
    Step.__dict__[name].__set__ for name in _STEP_FIELDS)
_new = object.__new__


def _step(kind: str, table: str, hook: str, chain: str, rule: int, text: str = "",
          result: str = "", reason: str | None = None, target: str | None = None,
          effect: str | None = None, count: int = 1, location: Location | None = None) -> Step:
    step: Step = _new(Step)
    _set_kind(step, kind)
    _set_table(step, table)
    _set_hook(step, hook)
    _set_chain(step, chain)
    _set_rule(step, rule)
    _set_text(step, text)
    _set_result(step, result)
    _set_reason(step, reason)
    _set_target(step, target)
    _set_effect(step, effect)
    _set_count(step, count)
    _set_location(step, location)
    return step


# The packet at the end of a branch, from the trace's state: a Packet set field by field
# like _step, then checked by Packet's own __post_init__, as Packet(...) would be.
_PACKET_FIELDS = ("dst", "dport", "protocol", "src", "sport", "in_interface", "out_interface",
                  "uid", "gid", "groups", "mark", "ctmark", "ctstate", "tcp_flags")
if tuple(f.name for f in fields(Packet)) != _PACKET_FIELDS:
    raise TypeError("Packet's fields changed: update _PACKET_FIELDS")
(_set_dst, _set_dport, _set_protocol, _set_src, _set_sport, _set_in, _set_out, _set_uid,
 _set_gid, _set_groups, _set_mark, _set_ctmark, _set_ctstate, _set_flags) = (
    Packet.__dict__[name].__set__ for name in _PACKET_FIELDS)


def _packet(st: State) -> Packet:
    packet: Packet = _new(Packet)
    _set_dst(packet, st.dst)
    _set_dport(packet, st.dport)
    _set_protocol(packet, st.protocol)
    _set_src(packet, st.src)
    _set_sport(packet, st.sport)
    _set_in(packet, st.in_if)
    _set_out(packet, st.out_if)
    _set_uid(packet, st.uid)
    _set_gid(packet, st.gid)
    _set_groups(packet, st.groups)
    _set_mark(packet, st.mark)
    _set_ctmark(packet, st.ctmark)
    _set_ctstate(packet, st.ctstate)
    _set_flags(packet, tuple(sorted(st.tcp_flags)))
    packet.__post_init__()
    return packet


@dataclass(frozen=True, slots=True)
class Hit:
    """A rule whose criteria all held: the kernel raises its packet counter."""

    table: str
    chain: str
    rule: int
    target: str

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "chain": self.chain, "rule": self.rule,
                "target": self.target}


@dataclass(frozen=True)
class Branch:
    """One complete path of the packet, with the chance of it."""

    probability: float | None  # None: depends on something unknown
    assumptions: tuple[str, ...]
    steps: tuple[Step, ...]
    verdict: str  # ACCEPT, DROP, REJECT or QUEUE
    disposition: str  # delivered, sent, dropped, rejected, queued, unroutable
    final: Packet
    decided_by: Step | None = None
    tproxy: tuple[str, int] | None = None  # TPROXY's socket (address, port)

    @property
    def hits(self) -> tuple[Hit, ...]:
        return tuple(Hit(s.table, s.chain, s.rule, s.target or "") for s in self.steps if s.hit)

    def to_dict(self) -> dict[str, Any]:
        final = {"src": self.final.src, "sport": self.final.sport, "dst": self.final.dst,
                 "dport": self.final.dport, "in": self.final.in_interface,
                 "out": self.final.out_interface, "mark": self.final.mark}
        if self.tproxy:
            final["tproxy"] = {"address": self.tproxy[0], "port": self.tproxy[1]}
        return {"probability": self.probability, "assumptions": list(self.assumptions),
                "verdict": self.verdict, "disposition": self.disposition, "final": final,
                "hits": [h.to_dict() for h in self.hits],
                "steps": [s.to_dict() for s in self.steps]}


@dataclass(frozen=True)
class Trace:
    """Every way the packet can go; ``branches[0]`` is the only one when nothing forks."""

    packet: Packet
    hook: str
    branches: tuple[Branch, ...]

    @property
    def main(self) -> Branch:
        return self.branches[0]

    @property
    def steps(self) -> tuple[Step, ...]:
        return self.main.steps

    @property
    def hits(self) -> tuple[Hit, ...]:
        return self.main.hits

    @property
    def verdict(self) -> str:
        return self.main.verdict

    @property
    def disposition(self) -> str:
        return self.main.disposition

    @property
    def final(self) -> Packet:
        return self.main.final

    def to_dict(self) -> dict[str, Any]:
        p = self.packet
        out: dict[str, Any] = {
            "hook": self.hook,
            "packet": {"family": p.family, "protocol": p.protocol, "src": p.src,
                       "sport": p.sport, "dst": p.dst, "dport": p.dport,
                       "in": p.in_interface, "out": p.out_interface, "uid": p.uid,
                       "gid": p.gid, "mark": p.mark},
        }
        main = self.main.to_dict()
        for key in ("verdict", "disposition", "final", "hits", "steps"):
            out[key] = main[key]
        out["branches"] = [b.to_dict() for b in self.branches]
        return out


# -- the destination index --------------------------------------------------------

@dataclass(frozen=True)
class ChainIndex:
    """Positions of rules demanding one exact destination, and of all other rules.

    A rule with ``-d a/32`` cannot match a packet to another address, whatever its
    other criteria, so the walk may jump over it; it changes what the trace lists
    (one ``skipped`` step), never what matches.
    """

    by_destination: dict[int, list[int]]
    others: list[int]


def build_index(chain: Chain) -> ChainIndex | None:
    if len(chain.rules) < _INDEX_MIN_RULES:
        return None
    by_destination: dict[int, list[int]] = {}
    others: list[int] = []
    for position, rule in enumerate(chain.rules):
        exact = rule.compiled.exact_destination
        if exact is None:
            others.append(position)
        else:
            by_destination.setdefault(exact, []).append(position)
    if len(others) * 2 > len(chain.rules):
        return None
    return ChainIndex(by_destination, others)


def _next_candidate(index: ChainIndex, position: int, destination: int) -> int:
    best = 1 << 62
    i = bisect_left(index.others, position)
    if i < len(index.others):
        best = index.others[i]
    same = index.by_destination.get(destination)
    if same:
        j = bisect_left(same, position)
        if j < len(same) and same[j] < best:
            best = same[j]
    return best


# -- one run ------------------------------------------------------------------------

class _Stop(Exception):
    """Raised inside a run when the packet's fate is decided."""


@dataclass
class _Run:
    ruleset: Ruleset
    host: Host
    decisions: list[bool]
    use_index: bool
    cursor: int = 0
    probability: float | None = 1.0
    assumptions: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    st: State = field(default_factory=State)
    nat_bound: bool = False

    # -- choices -------------------------------------------------------------
    def choose(self, choice: Choice, where: str, rule: Rule) -> bool:
        if choice.probability is None and not self.host.lenient:
            raise ChainwalkError([Problem(rule.location or Location(self.ruleset.source, 0),
                                          f"cannot decide {choice.description} at {where}",
                                          None, "the missing facts given to the trace, "
                                          "or lenient mode to follow both ways")])
        if self.cursor == len(self.decisions):
            self.decisions.append(True)
        taken = self.decisions[self.cursor]
        self.cursor += 1
        if choice.probability is None:
            self.probability = None
        elif self.probability is not None:
            self.probability *= choice.probability if taken else 1.0 - choice.probability
        self.assumptions.append(f"{where}: {'' if taken else 'not '}{choice.description}")
        return taken

    # -- a table at a hook ---------------------------------------------------
    def run_table(self, table_name: str, hook: str) -> str:
        table = self.ruleset.table(table_name)
        if table is None:
            return "ACCEPT"
        st, host, steps = self.st, self.host, self.steps
        st.hook = hook
        builtin = table.by_name[hook]
        chain: Chain = builtin
        position = 0
        stack: list[tuple[Chain, int]] = []
        while True:
            rules = chain.rules
            index = chain.index if self.use_index else None
            if index is not None and position < len(rules):
                nxt = _next_candidate(index, position, st.dst_int)
                nxt = min(nxt, len(rules))
                if nxt > position:
                    steps.append(_step("skipped", table_name, hook, chain.name, position + 1,
                                       "", "not-matched",
                                       f"destination {st.dst} is not the -d of these "
                                       f"{nxt - position} rules (index)", None, None,
                                       nxt - position))
                    position = nxt
            if position >= len(rules):
                if chain.builtin:
                    return self.policy(table_name, hook, chain)
                steps.append(_step("return", table_name, hook, chain.name, len(rules) + 1, "",
                                   "return"))
                if not stack:
                    return self.policy(table_name, hook, builtin)
                chain, position = stack.pop()
                continue
            rule = rules[position]
            number = position + 1
            position += 1
            reason = None
            result = "matched"
            for check in rule.compiled.checks:
                outcome = check(st, host)
                if outcome is None:
                    continue
                if isinstance(outcome, Choice):
                    if self.choose(outcome, f"{table_name}:{chain.name}:{number}", rule):
                        result = "assumed"
                        continue
                    result, reason = "assumed-not", f"assumed not: {outcome.description}"
                else:
                    result, reason = "not-matched", outcome
                break
            target = rule.target
            tname = target.name if target else None
            if result in ("not-matched", "assumed-not"):
                steps.append(_step("rule", table_name, hook, chain.name, number, rule.spec,
                                   result, reason, tname, None, 1, rule.location))
                continue
            if target is None:
                steps.append(_step("rule", table_name, hook, chain.name, number, rule.spec,
                                   result, None, None, None, 1, rule.location))
                continue
            if target.is_chain:
                steps.append(_step("rule", table_name, hook, chain.name, number, rule.spec,
                                   result, None, tname,
                                   ("goto " if target.goto else "jump ") + target.name, 1,
                                   rule.location))
                if not target.goto:
                    stack.append((chain, position))
                chain, position = table.by_name[target.name], 0
                continue
            verdict, effect = self.apply(rule, table_name, hook)
            steps.append(_step("rule", table_name, hook, chain.name, number, rule.spec, result,
                              None, tname, effect, location=rule.location))
            if verdict == "CONTINUE":
                continue
            if verdict == "RETURN":
                if not stack:
                    return self.policy(table_name, hook, builtin)
                chain, position = stack.pop()
                continue
            return verdict

    def policy(self, table_name: str, hook: str, chain: Chain) -> str:
        assert chain.policy is not None
        self.steps.append(_step("policy", table_name, hook, chain.name, len(chain.rules) + 1,
                               result=chain.policy, target=chain.policy))
        return chain.policy

    # -- targets -------------------------------------------------------------
    def apply(self, rule: Rule, table: str, hook: str) -> tuple[str, str | None]:
        st = self.st
        target = rule.target
        assert target is not None
        name = target.name
        opts = {o.name: o.values for o in target.options}
        if name in ("ACCEPT", "DROP", "RETURN", "QUEUE", "REJECT"):
            return name, None
        if name in ("LOG", "TRACE"):
            return "CONTINUE", None
        if name == "MARK":
            value, mask = v.mark_bits(opts["set-xmark"][0])
            before = st.mark
            st.mark = (st.mark & ~mask & v.MAX_U32) ^ value
            return "CONTINUE", f"mark {hex(before)} -> {hex(st.mark)}"
        if name == "CONNMARK":
            return "CONTINUE", self.connmark(opts)
        if name in ("CT", "NOTRACK"):
            if st.ct_attached:
                # xt_CT: a packet that already has conntrack settings (an earlier CT
                # rule, or a connection seen before it looped back) is left alone.
                return "CONTINUE", "ignored: the packet already has conntrack settings"
            st.ct_attached = True
            if name == "NOTRACK" or "notrack" in opts:
                st.untracked = True
                return "CONTINUE", "connection not tracked: nat will not see it"
            if "zone" in opts:
                st.zone = int(opts["zone"][0])
                return "CONTINUE", f"conntrack zone {st.zone}"
            return "CONTINUE", None
        if name == "REDIRECT":
            old = f"{_hostport(st.dst, st.dport)}"
            if hook == "OUTPUT":
                address = "127.0.0.1" if st.family == 4 else "::1"
            else:
                address = primary_address(self.host, st.in_if or "", st.family) or ""
                if not address:
                    return "DROP", f"{st.in_if} has no address to redirect to"
            st.set_dst(address)
            if "to-ports" in opts:
                st.dport = int(opts["to-ports"][0].split("-")[0])
            st.dnat = True
            return "ACCEPT", f"destination {old} -> {_hostport(st.dst, st.dport)}"
        if name == "DNAT":
            old = _hostport(st.dst, st.dport)
            address, port = _nat_destination(opts["to-destination"][0])
            if address:
                st.set_dst(address)
            if port:
                st.dport = port
            st.dnat = True
            return "ACCEPT", f"destination {old} -> {_hostport(st.dst, st.dport)}"
        if name in ("SNAT", "MASQUERADE"):
            old = _hostport(st.src, st.sport)
            if name == "SNAT":
                address, port = _nat_destination(opts["to-source"][0])
            else:
                address = primary_address(self.host, st.out_if or "", st.family) or ""
                port = int(opts["to-ports"][0].split("-")[0]) if "to-ports" in opts else 0
                if not address:
                    return "DROP", f"{st.out_if} has no address to masquerade as"
            if address:
                st.set_src(address)
            if port:
                st.sport = port
            st.snat = True
            return "ACCEPT", f"source {old} -> {_hostport(st.src, st.sport)}"
        if name == "TPROXY":
            value, mask = v.mark_bits(opts["tproxy-mark"][0])
            st.mark = (st.mark & ~mask & v.MAX_U32) ^ value
            on_ip = opts["on-ip"][0]
            address = st.dst if on_ip in ("0.0.0.0", "::") else on_ip
            st.tproxy = (address, int(opts["on-port"][0]))
            return "ACCEPT", (f"to the transparent socket on port {st.tproxy[1]} "
                              f"(destination kept), mark {hex(st.mark)}")
        raise AssertionError(f"target {name} has no behaviour")

    def connmark(self, opts: dict[str, tuple[str, ...]]) -> str:
        st = self.st
        if "set-xmark" in opts:
            value, mask = v.mark_bits(opts["set-xmark"][0])
            st.ctmark = (st.ctmark & ~mask & v.MAX_U32) ^ value
            return f"connection mark -> {hex(st.ctmark)}"
        nfmask = int(opts["nfmask"][0], 16)
        ctmask = int(opts["ctmask"][0], 16)
        if "save-mark" in opts:
            st.ctmark = (st.ctmark & ~ctmask & v.MAX_U32) ^ (st.mark & nfmask)
            return f"connection mark -> {hex(st.ctmark)} (saved from the packet)"
        st.mark = (st.mark & ~nfmask & v.MAX_U32) ^ (st.ctmark & ctmask)
        return f"mark -> {hex(st.mark)} (restored from the connection)"

    # -- hooks and the path between them ------------------------------------
    def hook(self, hook: str) -> None:
        st = self.st
        new_route: str | None = None
        present = self.ruleset.by_name
        for table in HOOK_TABLES[hook]:
            if table == "nat" and (self.nat_bound or st.untracked or st.ctstate != "NEW"):
                continue
            if table not in present:
                # A table the ruleset lacks accepts without a step and changes nothing.
                if table == "raw":
                    st.ct_attached = True  # conntrack runs right after raw all the same
                continue
            before = (st.dst, st.mark)
            verdict = self.run_table(table, hook)
            if verdict != "ACCEPT":
                self.stop(verdict)
            if table == "raw":
                st.ct_attached = True  # conntrack runs right after raw and attaches one
            if hook == "OUTPUT" and table in ("mangle", "nat") and (st.dst, st.mark) != before:
                new_route = self.reroute(table)
        if new_route is not None and new_route != st.out_if:
            self.event(f"from POSTROUTING on the packet leaves on {new_route}")
            st.out_if = new_route

    def reroute(self, table: str) -> str | None:
        """Route again after mangle or nat OUTPUT changed the destination or the mark.

        The kernel re-routes right after that table (and drops the packet there if the
        new route is refused), but the hook's output device was fixed when the hook
        began: the rest of OUTPUT still sees the old interface (``-o``); only
        POSTROUTING sees the new one, which this returns.
        """
        st = self.st
        route = route_output(self.host, st.dst, st.mark)
        refused = martian(st.src, st.dst, route.interface)
        if refused:
            self.event(f"rerouted after {table} OUTPUT: {refused}: dropped")
            self.stop("UNROUTABLE")
        if route.interface != st.out_if:
            self.event(f"rerouted after {table} OUTPUT to {route.interface} (the rest of "
                       f"OUTPUT still sees -o {st.out_if})")
        return route.interface

    def event(self, text: str) -> None:
        self.steps.append(_step("event", "", self.st.hook, "", 0, text))

    def stop(self, verdict: str) -> None:
        self.verdict = verdict
        raise _Stop

    def execute(self, packet: Packet, start: str) -> Branch:
        st = self.st
        st.family = packet.family
        st.protocol = packet.protocol
        st.set_dst(packet.dst)
        st.sport = packet.sport or EPHEMERAL_PORT
        st.dport = packet.dport
        st.uid, st.gid, st.groups = packet.uid, packet.gid, packet.groups
        st.mark, st.ctmark, st.ctstate = packet.mark, packet.ctmark, packet.ctstate
        st.tcp_flags = frozenset(packet.tcp_flags) if packet.protocol == "tcp" else frozenset()
        self.verdict = "ACCEPT"
        disposition = ""
        try:
            disposition = self.local_out(packet) if start == "OUTPUT" else self.arrive(packet)
        except _Stop:
            disposition = {"DROP": "dropped", "REJECT": "rejected", "QUEUE": "queued",
                           "UNROUTABLE": "unroutable"}.get(self.verdict, "dropped")
        decided = next((s for s in reversed(self.steps) if s.kind in ("rule", "policy")
                        and (s.target or s.result) == self.verdict),
                       None) if disposition in ("dropped", "rejected") else None
        final = _packet(st)
        return Branch(self.probability, tuple(self.assumptions), tuple(self.steps),
                      self.verdict if self.verdict != "UNROUTABLE" else "DROP", disposition,
                      final, decided if disposition in ("dropped", "rejected") else None,
                      st.tproxy)

    def local_out(self, packet: Packet) -> str:
        st = self.st
        route = route_output(self.host, packet.dst, packet.mark)
        st.out_if = packet.out_interface or route.interface
        if st.out_if is None:
            self.event(f"no route to {packet.dst}")
            self.stop("UNROUTABLE")
        st.set_src(packet.src or route.source)
        refused = martian(st.src, st.dst, st.out_if)
        if refused:
            self.event(f"routing: {refused}: the connection fails")
            self.stop("UNROUTABLE")
        st.orig_src, st.orig_dst = st.src, st.dst
        st.orig_sport, st.orig_dport = st.sport, st.dport
        st.hook = "OUTPUT"
        self.event(f"routing: {packet.dst} leaves on {st.out_if}, source {st.src}")
        self.hook("OUTPUT")
        self.hook("POSTROUTING")
        self.nat_bound = True
        if st.out_if != "lo":
            st.hook = "POSTROUTING"
            self.event(f"sent on {st.out_if} to {_hostport(st.dst, st.dport)}")
            return "sent"
        st.in_if, st.out_if = "lo", None
        st.hook = "PREROUTING"
        self.event("loops back through lo; nat is not consulted again for this connection")
        return self.input_side()

    def arrive(self, packet: Packet) -> str:
        st = self.st
        st.in_if = packet.in_interface or self.host.default_interface
        st.set_src(packet.src or "0.0.0.0")
        st.orig_src, st.orig_dst = st.src, st.dst
        st.orig_sport, st.orig_dport = st.sport, st.dport
        return self.input_side()

    def input_side(self) -> str:
        st = self.st
        self.hook("PREROUTING")
        refused = martian(st.src, st.dst, st.in_if)
        if refused:
            self.event(f"input routing: {refused}: dropped")
            self.stop("UNROUTABLE")
        if st.tproxy is not None or input_is_local(self.host, st.dst, st.mark):
            self.hook("INPUT")
            self.nat_bound = True
            where = (f"transparent socket on port {st.tproxy[1]}" if st.tproxy
                     else f"local socket {_hostport(st.dst, st.dport)}")
            st.hook = "INPUT"
            self.event(f"delivered to a {where}")
            return "delivered"
        if not self.host.forwarding:
            self.event(f"{st.dst} is not local and forwarding is off: dropped")
            self.stop("UNROUTABLE")
        route = route_output(self.host, st.dst, st.mark)
        st.out_if = route.interface
        self.hook("FORWARD")
        self.hook("POSTROUTING")
        st.hook = "POSTROUTING"
        self.event(f"forwarded on {st.out_if} to {_hostport(st.dst, st.dport)}")
        return "sent"


def _hostport(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _nat_destination(text: str) -> tuple[str, int]:
    """``a[-b][:p[-q]]`` -> the first address and port (the kernel's first choice)."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:]
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    address = host.split("-")[0]
    return address, int(port.split("-")[0]) if port else 0


def trace(ruleset: Ruleset, packet: Packet, host: Host | None = None, hook: str = "OUTPUT",
          *, explain_all: bool = False) -> Trace:
    """Trace ``packet`` from ``hook`` (``OUTPUT`` for a local process, ``PREROUTING``
    for a packet arriving on an interface) through ``ruleset`` on ``host``.

    ``explain_all`` evaluates every rule, even those the destination index can
    rule out, so each gets its own not-matched reason.
    """
    hook = hook.upper()
    if hook not in START_HOOKS:
        raise ChainwalkError(f"a trace starts at OUTPUT or PREROUTING, not {hook}")
    if packet.family != ruleset.family:
        raise ChainwalkError(f"an IPv{packet.family} packet cannot cross the "
                             f"IPv{ruleset.family} ruleset {ruleset.source}")
    host = host or Host()
    branches: list[tuple[tuple[bool, ...], Branch]] = []
    pending: list[list[bool]] = [[]]
    while pending:
        prefix = pending.pop()
        run = _Run(ruleset, host, list(prefix), not explain_all)
        branch = run.execute(packet, hook)
        for k in range(len(prefix), len(run.decisions)):
            pending.append([*run.decisions[:k], not run.decisions[k]])
        branches.append((tuple(run.decisions), branch))
        if len(branches) > MAX_BRANCHES:
            raise ChainwalkError(f"the trace forks into more than {MAX_BRANCHES} branches")
    if len(branches) > 1:
        branches.sort(key=lambda item: tuple(not d for d in item[0]))
    return Trace(packet, hook, tuple(b for _, b in branches))
