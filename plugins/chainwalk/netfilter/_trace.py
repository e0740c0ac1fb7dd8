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
from dataclasses import dataclass, fields
from typing import Any

from .._errors import ChainwalkError, Location, Problem
from . import _values as v
from ._compile import Choice, CompiledRule, State
from ._model import Chain, Rule, Ruleset, builder
from ._packet import Host, Packet, hostport
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


# Step and Packet are frozen: they are made through builders (_model.builder), in a third
# of the time Step(...) takes.
_STEP_FIELDS = ("kind", "table", "hook", "chain", "rule", "text", "result", "reason", "target",
                "effect", "count", "location")
_PACKET_FIELDS = ("dst", "dport", "protocol", "src", "sport", "in_interface", "out_interface",
                  "uid", "gid", "groups", "mark", "ctmark", "ctstate", "tcp_flags")


_StepBuilder = builder(Step, _STEP_FIELDS)


def _step(kind: str, table: str, hook: str, chain: str, rule: int, text: str = "",
          result: str = "", reason: str | None = None, target: str | None = None,
          effect: str | None = None, count: int = 1, location: Location | None = None) -> Step:
    step = _StepBuilder()
    step.kind = kind
    step.table = table
    step.hook = hook
    step.chain = chain
    step.rule = rule
    step.text = text
    step.result = result
    step.reason = reason
    step.target = target
    step.effect = effect
    step.count = count
    step.location = location
    step.__class__ = Step
    made: Step = step
    return made


# A Step is immutable and equal to any Step with the same fields, so the steps that recur
# from trace to trace (events, policies, a rule evaluated the same way at the same place) are
# made once and shared, keyed by what sets their fields (a rule's Steps by its CompiledRule,
# hashed by identity, and where and how it was evaluated). Each dict is emptied when full:
# a few MB at most, whatever is traced.
_SHARED_MAX = 4096
_RULE_STEPS_MAX = 16384
_shared: dict[tuple[str, str, str, str, int, str, str, str | None], Step] = {}
_RuleKey = tuple[CompiledRule, str, str, str, int, str, str | None]
_rule_steps: dict[_RuleKey, Step] = {}


def _shared_step(kind: str, table: str, hook: str, chain: str, rule: int, text: str = "",
                 result: str = "", target: str | None = None) -> Step:
    key = (kind, table, hook, chain, rule, text, result, target)
    step = _shared.get(key)
    if step is None:
        if len(_shared) >= _SHARED_MAX:
            _shared.clear()
        step = _shared[key] = _step(kind, table, hook, chain, rule, text, result, None, target)
    return step


def _rule_step(rule: Rule, table: str, hook: str, chain: str, number: int, result: str,
               reason: str | None, effect: str | None) -> Step:
    """The Step of a rule evaluated at ``number`` of ``table:chain`` at ``hook``.

    ``reason`` is set only for the results ``not-matched`` and ``assumed-not``, ``effect``
    only for the others: the result says which of the two the key's last item is.
    """
    key = (rule.compiled, table, hook, chain, number, result,
           reason if effect is None else effect)
    return _rule_steps.get(key) or _new_rule_step(rule, key, reason, effect)


def _new_rule_step(rule: Rule, key: _RuleKey, reason: str | None, effect: str | None) -> Step:
    if len(_rule_steps) >= _RULE_STEPS_MAX:
        _rule_steps.clear()
    _, table, hook, chain, number, result, _ = key
    target = rule.target
    step = _rule_steps[key] = _step("rule", table, hook, chain, number, rule.spec, result,
                                    reason, target.name if target else None, effect, 1,
                                    rule.location)
    return step


# The packet at the end of a branch, from the trace's state: built like a Step, and refused
# by Packet's own __post_init__ wherever Packet(...) would refuse it.
_PacketBuilder = builder(Packet, _PACKET_FIELDS)


def _packet(st: State, tcp_flags: tuple[str, ...]) -> Packet:
    packet = _PacketBuilder()
    packet.dst = dst = st.dst
    packet.dport = st.dport
    packet.protocol = st.protocol
    packet.src = src = st.src
    packet.sport = st.sport
    packet.in_interface = st.in_if
    packet.out_interface = st.out_if
    packet.uid = st.uid
    packet.gid = st.gid
    packet.groups = st.groups
    packet.mark = st.mark
    packet.ctmark = st.ctmark
    packet.ctstate = st.ctstate
    packet.tcp_flags = tcp_flags
    packet.__class__ = Packet
    made: Packet = packet
    # Its addresses were read when the trace set them (State.set_src, set_dst): what else
    # Packet checks is checked here, and __post_init__ runs only to say what is wrong.
    if (src and (":" in src) != (":" in dst)) or not (0 <= st.sport <= 65535
                                                      and 0 <= st.dport <= 65535):
        made.__post_init__()
    return made


# A packet's TCP flags as the trace's State holds them and as its final Packet lists them.
_flags: dict[tuple[str, ...], tuple[frozenset[str], tuple[str, ...]]] = {}


def _tcp_flags(flags: tuple[str, ...]) -> tuple[frozenset[str], tuple[str, ...]]:
    known = _flags.get(flags)
    if known is None:
        if len(_flags) >= 256:
            _flags.clear()
        as_set = frozenset(flags)
        known = _flags[flags] = (as_set, tuple(sorted(as_set)))
    return known


_NO_FLAGS: tuple[frozenset[str], tuple[str, ...]] = (frozenset(), ())


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


# Branch and Trace are frozen too, and a trace makes one of each. They keep their fields
# in a __dict__, so they are filled through it (the names checked once, here).
_BRANCH_FIELDS = ("probability", "assumptions", "steps", "verdict", "disposition", "final",
                  "decided_by", "tproxy")
if tuple(f.name for f in fields(Branch)) != _BRANCH_FIELDS or tuple(
        f.name for f in fields(Trace)) != ("packet", "hook", "branches"):
    raise TypeError("Branch's or Trace's fields changed: update _branch and _trace")


def _branch(probability: float | None, assumptions: tuple[str, ...], steps: tuple[Step, ...],
            verdict: str, disposition: str, final: Packet, decided_by: Step | None,
            tproxy: tuple[str, int] | None) -> Branch:
    branch: Branch = object.__new__(Branch)
    branch.__dict__.update(zip(_BRANCH_FIELDS, (
        probability, assumptions, steps, verdict, disposition, final, decided_by, tproxy),
        strict=True))
    return branch


def _trace(packet: Packet, hook: str, branches: tuple[Branch, ...]) -> Trace:
    made: Trace = object.__new__(Trace)
    made.__dict__.update(packet=packet, hook=hook, branches=branches)
    return made


# -- the destination index --------------------------------------------------------

class ChainIndex:
    """Positions of rules demanding one exact destination, and of all other rules.

    A rule with ``-d a/32`` cannot match a packet to another address, whatever its
    other criteria, so the walk may jump over it; it changes what the trace lists
    (one ``skipped`` step), never what matches.
    """

    # A plain class: a dataclass costs milliseconds to create at import.
    __slots__ = ("by_destination", "others")

    def __init__(self, by_destination: dict[int, list[int]], others: list[int]) -> None:
        self.by_destination = by_destination
        self.others = others


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


class _Run:
    __slots__ = ("assumptions", "cursor", "decisions", "host", "nat_bound", "probability",
                 "ruleset", "st", "steps", "use_index", "verdict")

    def __init__(self, ruleset: Ruleset, host: Host, decisions: list[bool],
                 use_index: bool) -> None:
        self.ruleset = ruleset
        self.host = host
        self.decisions = decisions
        self.use_index = use_index
        self.cursor = 0
        self.probability: float | None = 1.0
        self.assumptions: list[str] = []
        self.steps: list[Step] = []
        self.st = State()
        self.nat_bound = False
        self.verdict = "ACCEPT"

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
        st, host, steps, use_index = self.st, self.host, self.steps, self.use_index
        rule_steps = _rule_steps
        st.hook = hook
        chains = table.by_name
        builtin = chains[hook]
        chain: Chain = builtin
        position = 0
        stack: list[tuple[Chain, int]] = []
        while True:  # once per chain entered or returned to
            rules = chain.rules
            count = len(rules)
            name = chain.name
            index = chain.index if use_index else None
            while position < count:  # once per rule
                if index is not None:
                    nxt = min(_next_candidate(index, position, st.dst_int), count)
                    if nxt > position:
                        steps.append(_step("skipped", table_name, hook, name, position + 1, "",
                                           "not-matched",
                                           f"destination {st.dst} is not the -d of these "
                                           f"{nxt - position} rules (index)", None, None,
                                           nxt - position))
                        position = nxt
                        if position >= count:
                            continue  # to the end of the chain
                rule = rules[position]
                number = position + 1
                position += 1
                compiled = rule.compiled
                reason = None
                result = "matched"
                for check in compiled.checks:
                    outcome = check(st, host)
                    if outcome is None:
                        continue
                    if isinstance(outcome, Choice):
                        if self.choose(outcome, f"{table_name}:{name}:{number}", rule):
                            result = "assumed"
                            continue
                        result, reason = "assumed-not", f"assumed not: {outcome.description}"
                    else:
                        result, reason = "not-matched", outcome
                    break
                target = rule.target
                if reason is not None or target is None:
                    # Not matched (a reason), or matched without a target: nothing happens.
                    # Most rules of a trace end here: _rule_step's lookup, inline.
                    key = (compiled, table_name, hook, name, number, result, reason)
                    steps.append(rule_steps.get(key) or _new_rule_step(rule, key, reason, None))
                    continue
                if target.is_chain:
                    steps.append(_rule_step(rule, table_name, hook, name, number, result, None,
                                            ("goto " if target.goto else "jump ")
                                            + target.name))
                    if not target.goto:
                        stack.append((chain, position))
                    chain, position = chains[target.name], 0
                    break
                verdict, effect = self.apply(rule, table_name, hook)
                steps.append(_rule_step(rule, table_name, hook, name, number, result, None,
                                        effect))
                if verdict == "CONTINUE":
                    continue
                if verdict == "RETURN":
                    if not stack:
                        return self.policy(table_name, hook, builtin)
                    chain, position = stack.pop()
                    break
                return verdict
            else:  # the end of the chain
                if chain.builtin:
                    return self.policy(table_name, hook, chain)
                steps.append(_shared_step("return", table_name, hook, name, count + 1, "",
                                          "return"))
                if not stack:
                    return self.policy(table_name, hook, builtin)
                chain, position = stack.pop()

    def policy(self, table_name: str, hook: str, chain: Chain) -> str:
        assert chain.policy is not None
        self.steps.append(_shared_step("policy", table_name, hook, chain.name,
                                       len(chain.rules) + 1, "", chain.policy, chain.policy))
        return chain.policy

    # -- targets -------------------------------------------------------------
    def apply(self, rule: Rule, table: str, hook: str) -> tuple[str, str | None]:
        st = self.st
        target = rule.target
        assert target is not None
        name = target.name
        opts = rule.compiled.target_options
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
            old = f"{hostport(st.dst, st.dport)}"
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
            return "ACCEPT", f"destination {old} -> {hostport(st.dst, st.dport)}"
        if name == "DNAT":
            old = hostport(st.dst, st.dport)
            address, port = _nat_destination(opts["to-destination"][0])
            if address:
                st.set_dst(address)
            if port:
                st.dport = port
            st.dnat = True
            return "ACCEPT", f"destination {old} -> {hostport(st.dst, st.dport)}"
        if name in ("SNAT", "MASQUERADE"):
            old = hostport(st.src, st.sport)
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
            return "ACCEPT", f"source {old} -> {hostport(st.src, st.sport)}"
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
        self.steps.append(_shared_step("event", "", self.st.hook, "", 0, text))

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
        st.tcp_flags, final_flags = (_tcp_flags(packet.tcp_flags) if packet.protocol == "tcp"
                                     else _NO_FLAGS)
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
        final = _packet(st, final_flags)
        return _branch(self.probability, tuple(self.assumptions), tuple(self.steps),
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
            self.event(f"sent on {st.out_if} to {hostport(st.dst, st.dport)}")
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
                     else f"local socket {hostport(st.dst, st.dport)}")
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
        self.event(f"forwarded on {st.out_if} to {hostport(st.dst, st.dport)}")
        return "sent"


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
    if len(branches) == 1:  # most traces: no fork
        return _trace(packet, hook, (branches[0][1],))
    branches.sort(key=lambda item: tuple(not d for d in item[0]))
    return _trace(packet, hook, tuple([b for _, b in branches]))
