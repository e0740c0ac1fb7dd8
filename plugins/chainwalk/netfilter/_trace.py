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
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from .._errors import ChainwalkError, Location, Problem
from ._compile import Choice
from ._model import Chain, Option, Rule, Ruleset, Table
from ._packet import Host, Packet, hostport
from ._policy_routing import RouteDecision
from ._reasons import Reason, because
from ._routing import Route, martian, route_input, route_output
from ._state import State
from ._targets import ACTIONS, Outcome

if TYPE_CHECKING:
    from ._nft_model import NftRule, NftRuleset

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
# Rules one branch may evaluate. Jumps can make that exponential in the file's size (each
# chain jumping to the next twice: 2**N rules for N chains, which the kernel walks and a
# trace would have to record); a trace that long is refused, naming the chain.
MAX_STEPS = 1_000_000
_INDEX_MIN_RULES = 16

StepKind = Literal["rule", "policy", "return", "skipped", "event"]
#: A rule's result (``rule`` and ``skipped`` steps), a policy (``policy``), or ``return``.
StepResult = Literal["matched", "not-matched", "assumed", "assumed-not", "ACCEPT", "DROP",
                     "return", ""]
#: How a matched rule passed the packet to the chain ``target``.
Jump = Literal["jump", "goto"]
#: What an ``event`` step reports: a routing decision, a route changed after OUTPUT, routing
#: refusing the packet, its loop back through ``lo``, or where it ends; nat skipped because
#: nothing turns conntrack on; a known connection's NAT applied to a later packet.
EventKind = Literal["route", "reroute", "refused", "loopback", "delivered", "sent",
                    "forwarded", "untracked-namespace", "connection-nat"]
Verdict = Literal["ACCEPT", "DROP", "REJECT", "QUEUE"]
Disposition = Literal["delivered", "sent", "dropped", "rejected", "queued", "unroutable"]


@dataclass(slots=True)
class Step:
    """One thing that happened to the packet.

    ``kind`` is ``rule`` (a rule was evaluated; ``result`` is ``matched``,
    ``not-matched`` or, for a criterion decided by chance or assumption, ``assumed``
    / ``assumed-not``), ``policy`` (a built-in chain's policy applied: ``result`` and
    ``target`` are it), ``return`` (the end of a user chain), ``skipped`` (rules the
    destination index ruled out without evaluating them; ``rule`` is the first of
    them, ``count`` how many) or ``event`` (``event`` says which, ``reason`` what
    happened, an ``event.*`` :class:`Reason`, written only when shown).
    A matched rule's ``target`` is its target's name, or the chain it jumped to
    (``jump`` says how) with the target's options in ``target_options``; ``effect``
    says what the target did (an ``effect.*`` :class:`Reason`).
    """

    kind: StepKind
    table: str = ""
    hook: str = ""
    chain: str = ""
    rule: int = 0
    text: str = ""
    result: StepResult = ""
    reason: Reason | None = None
    target: str | None = None
    effect: Reason | None = None
    count: int = 1
    location: Location | None = None
    jump: Jump | None = None
    target_options: tuple[Option, ...] = ()
    event: EventKind | None = None

    @property
    def hit(self) -> bool:
        return self.kind == "rule" and self.result in ("matched", "assumed")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        for key in ("table", "hook", "chain", "rule", "text", "result", "reason", "target",
                    "effect"):
            value = getattr(self, key)
            if key == "text" and self.kind == "event":
                value = str(self.reason)  # the JSON's text of an event is its reason
            elif key == "reason" and self.kind == "event":
                continue
            if value not in ("", None, 0) or (key == "rule" and self.kind == "rule"):
                out[key] = str(value) if key in ("reason", "effect") else value
        if self.kind == "skipped":
            out["count"] = self.count
        return out


@dataclass(slots=True)
class NftStep(Step):
    """A step in an nftables ruleset: also the table's family and the rule's handle (a
    subclass, so that the iptables trace's many steps stay as small and quick to make)."""

    family: str | None = None
    handle: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out = Step.to_dict(self)
        out["family"] = self.family
        if self.handle is not None:
            out["handle"] = self.handle
        return out


@dataclass(frozen=True, slots=True)
class Hit:
    """A rule whose criteria all held: the kernel raises its packet counter."""

    table: str
    chain: str
    rule: int
    target: str
    family: str | None = None  # nftables: the table's family and the rule's handle
    handle: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"table": self.table, "chain": self.chain, "rule": self.rule,
                               "target": self.target}
        if self.family is not None:
            out["family"], out["handle"] = self.family, self.handle
        return out


HandshakeOutcome = Literal["completes", "reply-dropped", "ack-dropped", "unknown"]


@dataclass(frozen=True, slots=True)
class Handshake:
    """Whether a TCP connection whose first packet lands also completes its handshake: the
    answer (SYN-ACK) traced back to the client, then the client's ACK along the first
    packet's way, both as packets of a known connection (nat not consulted, its mapping
    applied). ``unknown`` when the file cannot say (the answering socket's owner, chance)."""

    outcome: HandshakeOutcome
    reason: Reason

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "reason": str(self.reason)}


@dataclass(slots=True)
class Branch:
    """One complete path of the packet, with the chance of it."""

    probability: float | None  # None: depends on something unknown
    assumptions: tuple[str, ...]
    steps: tuple[Step, ...]
    verdict: Verdict
    disposition: Disposition
    final: Packet
    decided_by: Step | None = None
    tproxy: tuple[str, int] | None = None  # TPROXY's socket (address, port)
    # SNAT/MASQUERADE to ports that exclude the original one: the kernel draws the source
    # port at random from this range (final.sport is its first port).
    sport_range: tuple[int, int] | None = None
    # A TCP connection's handshake after its first packet lands; None otherwise.
    handshake: Handshake | None = None
    # Policy routing's decisions, in order (only on a host with routing dumps).
    routes: tuple[RouteDecision, ...] = ()

    @property
    def hits(self) -> tuple[Hit, ...]:
        return tuple(Hit(s.table, s.chain, s.rule, s.target or "", s.family, s.handle)
                     if isinstance(s, NftStep) else Hit(s.table, s.chain, s.rule, s.target or "")
                     for s in self.steps if s.hit)

    def to_dict(self) -> dict[str, Any]:
        final = {"src": self.final.src, "sport": self.final.sport, "dst": self.final.dst,
                 "dport": self.final.dport, "in": self.final.in_interface,
                 "out": self.final.out_interface, "mark": self.final.mark}
        if self.tproxy:
            final["tproxy"] = {"address": self.tproxy[0], "port": self.tproxy[1]}
        if self.sport_range:
            final["sport_range"] = list(self.sport_range)
        out = {"probability": self.probability, "assumptions": list(self.assumptions),
               "verdict": self.verdict, "disposition": self.disposition, "final": final,
               "handshake": self.handshake.to_dict() if self.handshake else None,
               "hits": [h.to_dict() for h in self.hits],
               "steps": [s.to_dict() for s in self.steps]}
        if self.routes:
            out["routing"] = [r.to_dict() for r in self.routes]
        return out


@dataclass(slots=True)
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
    def verdict(self) -> Verdict:
        return self.main.verdict

    @property
    def disposition(self) -> Disposition:
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
        for key in ("verdict", "disposition", "final", "handshake", "hits", "steps",
                    "routing"):
            if key in main:
                out[key] = main[key]
        out["branches"] = [b.to_dict() for b in self.branches]
        return out


# -- the destination index --------------------------------------------------------

@dataclass(slots=True)
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


class _Run:
    """One deterministic run of the packet: ``decisions`` are the choices it takes, in
    order (more are appended, as ``True``, when it meets new ones)."""

    def __init__(self, ruleset: Ruleset | NftRuleset, host: Host, decisions: list[bool],
                 use_index: bool, mapping: _Mapping | None = None) -> None:
        # A later packet of a known connection: the destination conntrack's NAT gives it
        # at the destination-NAT hooks, the source at the others.
        self.mapping = mapping
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
        self.routes: list[RouteDecision] = []
        # "UNROUTABLE": routing refused the packet (it is dropped, by no rule).
        self.verdict: Verdict | Literal["UNROUTABLE"] = "ACCEPT"

    # -- choices -------------------------------------------------------------
    def choose(self, choice: Choice, where: str, rule: Rule | NftRule) -> bool:
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

    def decide(self, choice: Choice, table: str, chain: str, number: int,
               rule: Rule | NftRule) -> Reason | None:
        """Whether rule ``number`` of ``chain`` meets the criterion ``choice`` in this run:
        ``None`` if it does (``assumed``), else why not (``assumed-not``)."""
        if self.choose(choice, f"{table}:{chain}:{number}", rule):
            return None
        return because("assumed-not", choice=choice.description)

    # -- a table at a hook ---------------------------------------------------
    def run_table(self, table: Table, hook: str) -> Outcome:
        table_name = table.name
        st, host, steps, use_index = self.st, self.host, self.steps, self.use_index
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
                        steps.append(Step("skipped", table_name, hook, name, position + 1, "",
                                          "not-matched",
                                          because("index", address=st.dst,
                                                  count=nxt - position), count=nxt - position))
                        position = nxt
                        if position >= count:
                            continue  # to the end of the chain
                rule = rules[position]
                number = position + 1
                position += 1
                compiled = rule.compiled
                reason = None
                result: StepResult = "matched"
                for check in compiled.checks:
                    outcome = check(st, host)
                    if outcome is None:
                        continue
                    if isinstance(outcome, Choice):
                        reason = self.decide(outcome, table_name, name, number, rule)
                        if reason is None:
                            result = "assumed"
                            continue
                        result = "assumed-not"
                    else:
                        result, reason = "not-matched", outcome
                    break
                target = rule.target
                if reason is not None or target is None:
                    # Not matched (a reason), or matched without a target: nothing happens.
                    # A check keeps its reasons, so a rule missed again for the same reason
                    # at the same place takes the same step, kept with the rule.
                    step = compiled.missed.get(hook)
                    if step is None or step.reason is not reason or step.result != result or \
                            step.rule != number or step.chain != name or \
                            step.table != table_name:
                        step = Step("rule", table_name, hook, name, number, rule.spec, result,
                                    reason, target.name if target else None, None, 1,
                                    compiled.location)
                        if result == "not-matched":
                            compiled.missed[hook] = step
                    steps.append(step)
                    continue
                if target.is_chain:
                    if len(steps) > MAX_STEPS:
                        raise ChainwalkError([Problem(
                            rule.location or Location(self.ruleset.source, 0),
                            f"too many paths: the trace evaluates more than {MAX_STEPS} "
                            f"rules, here in {table_name} {name} jumping to {target.name}",
                            None, "chains that do not jump to the same chains again and "
                            "again (each jump walks the whole chain it names)")])
                    steps.append(self.jump_step(table_name, hook, name, number, rule, result))
                    if not target.goto:
                        stack.append((chain, position))
                    chain, position = chains[target.name], 0
                    break
                verdict, effect = ACTIONS[target.name](st, host, compiled.target_options, hook)
                steps.append(Step("rule", table_name, hook, name, number, rule.spec, result,
                                  None, target.name, effect, location=compiled.location,
                                  target_options=target.options))
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
                steps.append(Step("return", table_name, hook, name, count + 1, "", "return"))
                if not stack:
                    return self.policy(table_name, hook, builtin)
                chain, position = stack.pop()

    def policy(self, table_name: str, hook: str, chain: Chain) -> Literal["ACCEPT", "DROP"]:
        assert chain.policy is not None
        policy: Literal["ACCEPT", "DROP"] = "DROP" if chain.policy == "DROP" else "ACCEPT"
        self.steps.append(Step("policy", table_name, hook, chain.name, len(chain.rules) + 1,
                               "", policy, target=policy))
        return policy

    # -- hooks and the path between them ------------------------------------
    def hook(self, hook: str) -> None:
        st = self.st
        new_route: str | None = None
        assert isinstance(self.ruleset, Ruleset)
        present = self.ruleset.by_name
        for table in HOOK_TABLES[hook]:
            if table == "nat":
                if self.nat_bound or st.untracked or st.ctstate != "NEW":
                    if self.mapping is not None and not st.untracked:
                        before = (st.dst, st.mark)
                        self.map_addresses(hook)
                        if hook == "OUTPUT" and (st.dst, st.mark) != before:
                            new_route = self.reroute("nat")
                    continue
                if not self.ruleset.tracks_connections:
                    if table in present:
                        self.event("untracked-namespace", because("event.untracked-namespace"))
                    continue
            if table not in present:
                # A table the ruleset lacks accepts without a step and changes nothing.
                if table == "raw":
                    st.ct_attached = True  # conntrack runs right after raw all the same
                continue
            before = (st.dst, st.mark)
            verdict = self.run_table(present[table], hook)
            if verdict != "ACCEPT":
                assert verdict != "CONTINUE" and verdict != "RETURN"
                self.stop(verdict)
            if table == "raw":
                st.ct_attached = True  # conntrack runs right after raw and attaches one
                st.ct_template = False
            if hook == "OUTPUT" and table in ("mangle", "nat") and (st.dst, st.mark) != before:
                new_route = self.reroute(table)
        if new_route is not None and new_route != st.out_if:
            self.event("reroute", because("event.reroute-postrouting", interface=new_route))
            st.out_if = new_route

    def map_addresses(self, hook: str) -> None:
        st, mapping = self.st, self.mapping
        assert mapping is not None
        destination = hook in ("PREROUTING", "OUTPUT")  # else the source
        address, port = mapping[0] if destination else mapping[1]
        old = (st.dst, st.dport) if destination else (st.src, st.sport)
        if old == (address, port):
            return
        if destination:
            st.set_dst(address)
            st.dport = port
        else:
            st.set_src(address)
            st.sport = port
        self.event("connection-nat", because(
            "event.connection-nat.destination" if destination else
            "event.connection-nat.source", old=hostport(*old), new=hostport(address, port)))

    def reroute(self, table: str) -> str | None:
        """Route again after mangle or nat OUTPUT changed the destination or the mark.

        The kernel re-routes right after that table (and drops the packet there if the
        new route is refused), but the hook's output device was fixed when the hook
        began: the rest of OUTPUT still sees the old interface (``-o``); only
        POSTROUTING sees the new one, which this returns.
        """
        st = self.st
        route = self.routed(route_output(self.host, st.dst, st.mark, st.src))
        if route.interface is None and route.decision is not None:
            self.event("refused", because("event.reroute-refused", table=table,
                                          decision=route.decision.describe()))
            self.stop("UNROUTABLE")
        refused = martian(st.src, st.dst, route.interface)
        if refused:
            self.event("refused", because("event.reroute-martian", table=table, martian=refused))
            self.stop("UNROUTABLE")
        if route.interface != st.out_if:
            self.event("reroute", because("event.rerouted", table=table,
                                          interface=route.interface, previous=st.out_if))
        return route.interface

    def routed(self, route: Route) -> Route:
        """``route``, its policy routing decision (if any) recorded."""
        if route.decision is not None:
            self.routes.append(route.decision)
        return route

    @staticmethod
    def jump_step(table: str, hook: str, chain: str, number: int, rule: Rule,
                  result: StepResult) -> Step:
        """The step of a rule that jumps (or goes) to a chain: the same for every packet
        that takes it, so made once per place (a rule built in code may sit in several
        chains) and result and kept with the compiled rule (steps are not changed once
        made)."""
        compiled = rule.compiled
        kept = compiled.steps
        key = (hook, chain, number, result)
        step = kept.get(key)
        if step is None:
            target = rule.target
            assert target is not None
            step = kept[key] = Step(
                "rule", table, hook, chain, number, rule.spec, result, None, target.name,
                because("effect.goto" if target.goto else "effect.jump", chain=target.name),
                location=compiled.location, jump="goto" if target.goto else "jump")
        return step

    def event(self, kind: EventKind, what: Reason) -> None:
        self.steps.append(Step("event", "", self.st.hook, "", 0, "", "", what, None, None, 1, None,
                               None, (), kind))

    def stop(self, verdict: Literal["DROP", "REJECT", "QUEUE", "UNROUTABLE"]) -> None:
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
        tcp = packet.protocol == "tcp"
        st.tcp_flags = frozenset(packet.tcp_flags) if tcp else frozenset()
        disposition: Disposition
        try:
            disposition = self.local_out(packet) if start == "OUTPUT" else self.arrive(packet)
        except _Stop:
            disposition = _STOPPED[self.verdict]
        decided = next((s for s in reversed(self.steps) if s.kind in ("rule", "policy")
                        and (s.target or s.result) == self.verdict),
                       None) if disposition in ("dropped", "rejected") else None
        if decided is None and disposition == "dropped" and self.steps[-1].hit:
            decided = self.steps[-1]  # a target that drops when it cannot act (TPROXY...)
        final = Packet(st.dst, st.dport, st.protocol, st.src, st.sport, st.in_if, st.out_if,
                       st.uid, st.gid, st.groups, st.mark, st.ctmark, st.ctstate,
                       tuple(sorted(st.tcp_flags)))
        verdict = self.verdict if self.verdict != "UNROUTABLE" else "DROP"
        return Branch(self.probability, tuple(self.assumptions), tuple(self.steps), verdict,
                      disposition, final, decided, st.tproxy, st.sport_range, None,
                      tuple(self.routes))

    def local_out(self, packet: Packet) -> Disposition:
        st = self.st
        route = self.routed(route_output(self.host, packet.dst, packet.mark, packet.src))
        st.out_if = packet.out_interface or route.interface
        decision = route.decision.describe() if route.decision else None
        if st.out_if is None:
            self.event("refused", because("event.no-route", destination=packet.dst)
                       if decision is None else
                       because("event.no-route-decided", destination=packet.dst,
                               decision=decision))
            self.stop("UNROUTABLE")
        st.set_src(packet.src or route.source)
        refused = martian(st.src, st.dst, st.out_if)
        if refused:
            self.event("refused", because("event.martian", martian=refused))
            self.stop("UNROUTABLE")
        st.orig_src, st.orig_dst = st.src, st.dst
        st.orig_sport, st.orig_dport = st.sport, st.dport
        st.hook = "OUTPUT"
        self.event("route", because("event.route", destination=packet.dst,
                                    interface=st.out_if, source=st.src)
                   if decision is None else
                   because("event.route-decided", destination=packet.dst, interface=st.out_if,
                           source=st.src, decision=decision))
        self.hook("OUTPUT")
        self.hook("POSTROUTING")
        self.nat_bound = True
        if st.out_if != "lo":
            st.hook = "POSTROUTING"
            self.event("sent", because("event.sent", interface=st.out_if,
                                       destination=hostport(st.dst, st.dport)))
            return "sent"
        st.in_if, st.out_if = "lo", None
        st.hook = "PREROUTING"
        self.event("loopback", because("event.loopback"))
        return self.input_side()

    def arrive(self, packet: Packet) -> Disposition:
        st = self.st
        st.in_if = packet.in_interface or self.host.default_interface
        st.set_src(packet.src or "0.0.0.0")
        st.orig_src, st.orig_dst = st.src, st.dst
        st.orig_sport, st.orig_dport = st.sport, st.dport
        return self.input_side()

    def input_side(self) -> Disposition:
        st = self.st
        self.hook("PREROUTING")
        refused = martian(st.src, st.dst, st.in_if)
        if refused:
            self.event("refused", because("event.input-martian", martian=refused))
            self.stop("UNROUTABLE")
        route = self.routed(route_input(self.host, st.dst, st.src, st.mark, st.in_if or ""))
        if route.decision is not None:
            self.event("route", because("event.input-route",
                                        decision=route.decision.describe()))
            if st.tproxy is not None and not route.local:
                # ip_forward drops a packet that TPROXY assigned to a socket.
                self.event("refused", because("event.tproxy-not-local"))
                self.stop("UNROUTABLE")
            if route.interface is None:
                self.event("refused", because("event.input-no-route", destination=st.dst))
                self.stop("UNROUTABLE")
        if (st.tproxy is not None and route.decision is None) or route.local:
            self.hook("INPUT")
            self.nat_bound = True
            st.hook = "INPUT"
            self.event("delivered", because("event.delivered-transparent", port=st.tproxy[1])
                       if st.tproxy else
                       because("event.delivered", address=hostport(st.dst, st.dport)))
            return "delivered"
        if not self.host.forwarding:
            self.event("refused", because("event.not-forwarding", destination=st.dst))
            self.stop("UNROUTABLE")
        st.out_if = route.interface
        self.hook("FORWARD")
        self.hook("POSTROUTING")
        st.hook = "POSTROUTING"
        self.event("forwarded", because("event.forwarded", interface=st.out_if,
                                        destination=hostport(st.dst, st.dport)))
        return "sent"


_Mapping = tuple[tuple[str, int], tuple[str, int]]  # (destination, source) after NAT


_UNNAMED_ID = 4_000_000_000  # an owner no rule names

def handshake(ruleset: Ruleset | NftRuleset, packet: Packet, host: Host, hook: str,
              branch: Branch) -> Handshake | None:
    """The handshake of the TCP connection whose first packet ``branch`` landed."""
    if packet.protocol != "tcp" or branch.disposition not in ("delivered", "sent"):
        return None
    if branch.probability is None or branch.assumptions:
        return Handshake("unknown", because("handshake.assumptions"))
    if not branch.final.src:
        return Handshake("unknown", because("handshake.no-source"))
    final = branch.final
    local_client = hook == "OUTPUT"
    local_server = branch.disposition == "delivered"
    # The client's address before any NAT: routing chose it for an unbound local socket.
    src = packet.src or (route_output(host, packet.dst, packet.mark).source or ""
                         if local_client else "0.0.0.0")
    # The answer: from where the first packet landed back to the client, the NAT undone.
    undo: _Mapping = ((src, packet.sport or EPHEMERAL_PORT), (packet.dst, packet.dport))
    # Later packets carry the connection's mark (CONNMARK). A local answering socket's
    # owner is not in the file: the answer is followed as sent by each owner the rules
    # tell apart (the ids they name, and one they do not).
    owners = (*ruleset.owner_ids, _UNNAMED_ID) if local_server else (None,)
    replies: list[Branch] = []
    for owner in owners:
        answer = Packet(final.src, final.sport, "tcp", final.dst, final.dport,
                        None if local_server else final.out_interface, None, owner, owner, (),
                        0, final.ctmark, "ESTABLISHED", ("ACK", "SYN"))
        try:
            replies.append(_follow(ruleset, answer, host,
                                   "OUTPUT" if local_server else "PREROUTING", undo))
        except ChainwalkError as e:
            return Handshake("unknown", because("handshake.answer-unfollowable", error=str(e)))
    if len({reply.disposition for reply in replies}) > 1:
        return Handshake("unknown", because("handshake.owner"))
    reply = replies[0]
    expected = "delivered" if local_client else "sent"
    if reply.disposition != expected:
        if reply.disposition == "sent":  # routed away from the local client
            return Handshake("reply-dropped", because(
                "handshake.reply-leaves", interface=reply.final.out_interface,
                destination=hostport(reply.final.dst, reply.final.dport)))
        return Handshake("reply-dropped", because("handshake.reply",
                                                  disposition=reply.disposition, by=_by(reply)))
    # The client's ACK: the first packet's way, NATed as the first packet was.
    ack = Packet(packet.dst, packet.dport, "tcp", src, packet.sport or EPHEMERAL_PORT,
                 packet.in_interface, packet.out_interface, packet.uid, packet.gid,
                 packet.groups, packet.mark, final.ctmark, "ESTABLISHED", ("ACK",))
    redo: _Mapping = ((final.dst, final.dport), (final.src, final.sport))
    try:
        last = _follow(ruleset, ack, host, hook, redo)
    except ChainwalkError as e:
        return Handshake("unknown", because("handshake.ack-unfollowable", error=str(e)))
    if last.disposition != branch.disposition:
        return Handshake("ack-dropped", because("handshake.ack", disposition=last.disposition,
                                                by=_by(last)))
    return Handshake("completes", because("handshake.completes"))


def _by(branch: Branch) -> Reason | str:
    step = branch.decided_by
    if step is None:
        return ""
    where = f"{step.table}:{step.chain}:{'policy' if step.kind == 'policy' else step.rule}"
    return because("handshake.by", where=where)


def _follow(ruleset: Ruleset | NftRuleset, packet: Packet, host: Host, hook: str,
            mapping: _Mapping) -> Branch:
    """A later packet of a known connection (one way: no fork is followed)."""
    return _runner(ruleset)(ruleset, host, [], True, mapping).execute(packet, hook)


def _runner(ruleset: Ruleset | NftRuleset) -> type[_Run]:
    """How a run walks the ruleset: iptables' tables, or nftables' base chains."""
    if isinstance(ruleset, Ruleset):
        return _Run
    if not _NFT_RUN:  # imported here: _nft_trace builds on this module
        from ._nft_trace import NftRun

        _NFT_RUN.append(NftRun)
    return _NFT_RUN[0]


_NFT_RUN: list[type[_Run]] = []

# The host of a trace given none; one for all, so that its routing answers are kept.
_DEFAULT_HOST = Host()

_STOPPED: dict[str, Disposition] = {"DROP": "dropped", "REJECT": "rejected", "QUEUE": "queued",
                                    "UNROUTABLE": "unroutable"}


def trace(ruleset: Ruleset | NftRuleset, packet: Packet, host: Host | None = None, hook: str = "OUTPUT",
          *, explain_all: bool = False, with_handshake: bool = False) -> Trace:
    """Trace ``packet`` from ``hook`` (``OUTPUT`` for a local process, ``PREROUTING``
    for a packet arriving on an interface) through ``ruleset`` on ``host``.

    ``explain_all`` evaluates every rule, even those the destination index can
    rule out, so each gets its own not-matched reason. ``with_handshake`` also follows a
    landed TCP connection's answer and ACK (``Branch.handshake``; it costs two to four
    more traces).
    """
    hook = hook.upper()
    if hook not in START_HOOKS:
        raise ChainwalkError(f"a trace starts at OUTPUT or PREROUTING, not {hook}")
    if isinstance(ruleset, Ruleset) and packet.family != ruleset.family:
        raise ChainwalkError(f"an IPv{packet.family} packet cannot cross the "
                             f"IPv{ruleset.family} ruleset {ruleset.source}")
    host = host or _DEFAULT_HOST
    branches: list[tuple[tuple[bool, ...], Branch]] = []
    pending: list[list[bool]] = [[]]
    while pending:
        prefix = pending.pop()
        run = _runner(ruleset)(ruleset, host, list(prefix), not explain_all)
        branch = run.execute(packet, hook)
        for k in range(len(prefix), len(run.decisions)):
            pending.append([*run.decisions[:k], not run.decisions[k]])
        branches.append((tuple(run.decisions), branch))
        if len(branches) > MAX_BRANCHES:
            raise ChainwalkError(f"the trace forks into more than {MAX_BRANCHES} branches")
    if with_handshake:
        branches = [(decisions, _with_handshake(ruleset, packet, host, hook, branch))
                    for decisions, branch in branches]
    if len(branches) > 1:
        branches.sort(key=lambda item: tuple(not d for d in item[0]))
    return Trace(packet, hook, tuple([b for _, b in branches]))


def _with_handshake(ruleset: Ruleset | NftRuleset, packet: Packet, host: Host, hook: str,
                    branch: Branch) -> Branch:
    if packet.protocol != "tcp" or packet.ctstate != "NEW" or branch.disposition not in (
            "delivered", "sent"):
        return branch
    return replace(branch, handshake=handshake(ruleset, packet, host, hook, branch))
