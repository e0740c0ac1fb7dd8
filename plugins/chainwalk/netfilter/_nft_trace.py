"""Follows one packet through an nftables ruleset, as the kernel does.

The path between hooks, routing, forks and handshakes are the iptables trace's
(``_trace._Run``); what differs is how a hook is crossed. Every base chain of the hook
whose table carries the packet's family (``ip``, ``ip6`` or ``inet``) runs, in priority
order across tables. ``accept`` ends a base chain, not the hook: the next base chain
still sees the packet; ``drop`` and ``reject`` are final. Connection tracking runs at
priority -200 in prerouting and output (before it, ``ct state`` reads ``invalid`` and
``ct zone set`` still applies). nat chains are not hooked themselves: the NAT core runs
them at its own priority (-100 in prerouting and output, 100 in input and postrouting),
in their priority order, only for a connection's first packet, and the first that sets
up NAT ends the search; later packets get the connection's mapping there. After a
``type route`` (or nat) output chain changed the mark or an address, the packet is
routed again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .._errors import ChainwalkError, Location, Problem
from . import _nft_model as model
from . import _nft_values as nv
from ._compile import Choice
from ._nft_compile import (
    MissedRun,
    Value,
    _Missing,
    anonymous_map,
    numgen_choice,
    read,
    set_index,
)
from ._nft_model import NftChain, NftRule, NftRuleset, NftTable, Verdict
from ._reasons import Reason, because
from ._targets import ACTIONS, Outcome
from ._trace import MAX_STEPS, Jump, NftStep, Step, StepKind, StepResult, _Run

_NAT_CORE = {"prerouting": -100, "output": -100, "input": 100, "postrouting": 100}
CONNTRACK_PRIORITY = -200
_STEPS_KEPT_PER_RULESET = 1 << 14  # a few MB at most; emptied when full
_VERDICTS: dict[str, Outcome] = {"accept": "ACCEPT", "drop": "DROP", "return": "RETURN"}


def _given(verdict: Verdict) -> tuple[str | None, list[Reason | None], Outcome, Verdict | None]:
    """What a verdict statement (not ``continue``) gives the walk, as ``finish`` takes it:
    the step's target, no effects, the outcome and the jump or goto it takes."""
    if verdict.kind in ("jump", "goto"):
        return verdict.chain, [], "CONTINUE", verdict
    return verdict.kind, [], _VERDICTS[verdict.kind], None


@dataclass(frozen=True, slots=True)
class _Entry:
    """A base chain at a hook (``chain`` None: the NAT core's own place), with what the walk
    reads of it: the priority it runs at (a nat chain's: the NAT core's), and its type."""

    table: NftTable | None
    chain: NftChain | None
    priority: int
    type: str  # filter, nat or route; "nat" for the NAT core's own place


def hook_entries(ruleset: NftRuleset, hook: str, family: int) -> tuple[_Entry, ...]:
    """The base chains a packet of IPv``family`` crosses at ``hook``, in order."""
    keyed: list[tuple[tuple[int, int, int, int], _Entry]] = []
    order = 0
    for table in ruleset.tables:
        if not table.carries(family):
            continue
        for chain in table.chains:
            base = chain.base
            if base is None or base.hook != hook:
                continue
            order += 1
            if base.type == "nat":
                keyed.append(((_NAT_CORE.get(hook, base.priority), 1, base.priority, order),
                              _Entry(table, chain, _NAT_CORE.get(hook, 0), "nat")))
            else:
                keyed.append(((base.priority, 0, 0, order),
                              _Entry(table, chain, base.priority, base.type)))
    if hook in _NAT_CORE and any(c.base is not None and c.base.type == "nat"
                                 for t in ruleset.tables if t.carries(family)
                                 for c in t.chains):
        # where a known connection's mapping is applied, even without a nat chain here
        keyed.append(((_NAT_CORE[hook], 1, -(1 << 30), 0),
                      _Entry(None, None, _NAT_CORE[hook], "nat")))
    keyed.sort(key=lambda item: item[0])
    return tuple(entry for _, entry in keyed)


class NftRun(_Run):
    """One run of the packet through an nftables ruleset (see the module's docstring)."""

    def hook(self, hook: str) -> None:
        ruleset = self.ruleset
        assert isinstance(ruleset, NftRuleset)
        st = self.st
        name = hook.lower()
        key = (name, st.family)
        entries = ruleset._hooks.get(key)
        if entries is None:
            entries = ruleset._hooks[key] = hook_entries(ruleset, name, st.family)
        tracked = name not in ("prerouting", "output")
        first = not (self.nat_bound or st.untracked or st.ctstate != "NEW")
        nat_done = False
        new_route: str | None = None
        for entry in entries:
            table, chain = entry.table, entry.chain
            if not tracked and entry.priority >= CONNTRACK_PRIORITY:
                tracked = True
                st.ct_attached, st.ct_template = True, False
            if table is None or chain is None:
                if not first and self.mapping is not None and not st.untracked:
                    mapped_from = st.dst
                    self.map_addresses(hook)
                    if hook == "OUTPUT" and st.dst != mapped_from:
                        new_route = self.reroute("nat")
                continue
            if entry.type == "nat" and (not first or nat_done):
                continue
            before = (st.dst, st.src, st.mark)
            verdict, natted = self.run_chain(table, chain, hook)
            if verdict == "DROP" or verdict == "REJECT" or verdict == "QUEUE":
                self.stop(verdict)
            nat_done = nat_done or natted
            if hook == "OUTPUT" and entry.type != "filter" and \
                    (st.dst, st.src, st.mark) != before:
                new_route = self.reroute(f"{table.family} {table.name} {chain.name}")
        if not tracked:
            st.ct_attached, st.ct_template = True, False
        if new_route is not None and new_route != st.out_if:
            self.event("reroute", because("event.reroute-postrouting", interface=new_route))
            st.out_if = new_route

    # -- one base chain ----------------------------------------------------------
    def run_chain(self, table: NftTable, base_chain: NftChain, hook: str
                  ) -> tuple[Outcome, bool]:
        """Walk ``base_chain`` and the chains it jumps to: the verdict, and whether a
        NAT statement set up the connection's NAT."""
        steps, st, host = self.steps, self.st, self.host
        chain = base_chain
        position = 0
        stack: list[tuple[NftChain, int]] = []
        while True:
            rules = chain.rules
            while position < len(rules):
                rule = rules[position]
                position += 1
                compiled = rule._compiled
                if compiled is None:
                    compiled = rule.compiled(table)
                found: Reason | Choice | None = None
                for check in compiled.leading:  # most rules: matches, then one statement
                    found = check(st, host)
                    if found is not None:
                        break
                if isinstance(found, Reason):  # the common step, inline
                    run = compiled.missed.get(hook)
                    # kept for this reason, here (a rule built in code may sit in several
                    # chains)
                    if run is None or run[0] is not found or run[3] is not chain or \
                            run[4] != position:
                        run = self.missed(table, chain, position, hook, found)
                    steps.extend(run[1])
                    position = run[2]
                    continue
                verdict, natted, jump = self.run_rule(table, chain, position, rule, hook,
                                                      found is None)
                if jump is not None:
                    if len(steps) > MAX_STEPS:
                        raise ChainwalkError([Problem(
                            rule.location or Location(self.ruleset.source, 0),
                            f"too many paths: the trace evaluates more than {MAX_STEPS} "
                            f"rules, here in {table.name} {chain.name}", None,
                            "chains that do not jump to the same chains again and again")])
                    if jump.kind == "jump":
                        stack.append((chain, position))
                    assert jump.chain is not None
                    chain, position = table.by_name[jump.chain], 0
                    break
                if verdict == "CONTINUE":
                    continue
                if verdict == "RETURN":
                    if not stack:
                        return self.policy_of(table, base_chain, hook), False
                    chain, position = stack.pop()
                    break
                return verdict, natted
            else:
                if chain is base_chain or not stack:
                    if chain is not base_chain:
                        steps.append(self.chain_end(table, chain, hook))
                    return self.policy_of(table, base_chain, hook), False
                steps.append(self.chain_end(table, chain, hook))
                chain, position = stack.pop()

    def policy_of(self, table: NftTable, chain: NftChain, hook: str) -> Outcome:
        assert chain.base is not None
        policy: Outcome = "DROP" if chain.base.policy == "drop" else "ACCEPT"
        self.steps.append(self.kept_step(
            ("policy", hook, id(chain)), lambda: self.step(
                "policy", table, hook, chain, len(chain.rules) + 1,
                result="DROP" if policy == "DROP" else "ACCEPT", target=policy)))
        return policy

    def chain_end(self, table: NftTable, chain: NftChain, hook: str) -> Step:
        return self.kept_step(("return", hook, id(chain)), lambda: self.step(
            "return", table, hook, chain, len(chain.rules) + 1, result="return"))

    def kept_step(self, key: tuple[object, ...], make: Callable[[], Step]) -> Step:
        """The step ``key`` names, made by ``make`` the first time (``key`` holds the ids of
        the ruleset's own chains and rules, which live as long as the ruleset)."""
        kept = self.ruleset._steps  # type: ignore[union-attr]
        step: Step | None = kept.get(key)
        if step is None:
            if len(kept) >= _STEPS_KEPT_PER_RULESET:
                kept.clear()
            step = kept[key] = make()
        return step

    def step(self, kind: StepKind, table: NftTable, hook: str, chain: NftChain, number: int,
             rule: NftRule | None = None, result: StepResult = "", reason: Reason | None = None,
             target: str | None = None, effect: Reason | None = None,
             jump: Jump | None = None) -> Step:
        return NftStep(kind, table.name, hook, chain.name, number,
                       rule.spec if rule is not None else "", result, reason, target, effect,
                       location=rule.location if rule is not None else None, jump=jump,
                       family=table.family, handle=rule.handle if rule is not None else None)

    def missed(self, table: NftTable, chain: NftChain, number: int, hook: str,
               reason: Reason) -> MissedRun:
        """Rule ``number`` of ``chain`` is not matched for ``reason``, its first match's, and
        so are the rules after it that start with the same match (the same check): their
        steps and the position after them, kept with the rule's compiled checks for the next
        packet that misses it there for the same reason (checks keep their reasons, so a
        reason that recurs is the same object)."""
        rules = chain.rules
        first = rules[number - 1].compiled(table).leading[0]
        # Only a reason of the first check holds for the rules that start alike (checks
        # are pure: asking again tells which check gave it).
        alike = first(self.st, self.host) is reason
        found: list[Step] = []
        position = number
        while position <= len(rules):
            rule = rules[position - 1]
            leading = rule.compiled(table).leading
            if position > number and (not alike or not leading or leading[0] is not first):
                break
            found.append(NftStep("rule", table.name, hook, chain.name, position, rule.spec,
                                 "not-matched", reason, location=rule.location,
                                 family=table.family, handle=rule.handle))
            position += 1
        run = rules[number - 1].compiled(table).missed[hook] = (
            reason, tuple(found), position - 1, chain, number)
        return run

    def run_rule(self, table: NftTable, chain: NftChain, number: int, rule: NftRule,
                 hook: str, leading_hold: bool) -> tuple[Outcome, bool, Verdict | None]:
        """Run one rule's statements in order (from the first after the leading matches
        when those are known to hold): the outcome for the walk, whether it set up NAT,
        and the jump or goto it took."""
        st, host = self.st, self.host
        compiled = rule.compiled(table)
        if leading_hold and compiled.verdict is not None:  # the same for every such packet
            return self.finish(table, hook, chain, number, rule, "matched", None,
                               *_given(compiled.verdict))
        result: StepResult = "matched"
        checks = compiled.checks
        effects: list[Reason | None] = []
        outcome: Outcome = "CONTINUE"
        target: str | None = None
        natted = False
        jumped: Verdict | None = None
        statements = rule.statements
        for i in range(compiled.rest if leading_hold else 0, len(statements)):
            s = statements[i]
            if isinstance(s, model.Match):
                found = checks[i](st, host)
                if found is None:
                    continue
                if isinstance(found, Choice):
                    said = self.decide(found, table.name, chain.name, number, rule)
                    if said is None:
                        result = "assumed"
                        continue
                    return self.finish(table, hook, chain, number, rule, "assumed-not", said,
                                       None, effects, "CONTINUE")
                return self.finish(table, hook, chain, number, rule, "not-matched", found,
                                   None, effects, "CONTINUE")
            if isinstance(s, (model.Counter, model.Log)):
                continue
            if isinstance(s, model.Vmap):
                picked = self.vmap(table, s, f"{table.name}:{chain.name}:{number}", rule)
                if isinstance(picked, Reason):
                    effects.append(picked)
                    break
                s = picked
            if isinstance(s, Verdict):
                if s.kind == "continue":
                    continue
                target, _, outcome, jumped = _given(s)
                break
            if isinstance(s, model.Reject):
                outcome, target = "REJECT", "reject"
                break
            if isinstance(s, model.Nat) and s.family not in (None, "ip" if st.family == 4
                                                       else "ip6"):
                continue  # an inet table's NAT for the other family: no effect
            if isinstance(s, model.Nat):
                outcome, effect = self.nat(s, hook)
                effects.append(effect)
                natted, target = outcome == "ACCEPT", s.kind
                break
            if isinstance(s, model.Tproxy):
                on_ip = s.address or ("0.0.0.0" if st.family == 4 else "::")
                _, effect = ACTIONS["TPROXY"](st, host, {
                    "tproxy-mark": ("0x0/0x0",), "on-ip": (on_ip,),
                    "on-port": (str(s.port or st.dport),)}, hook)
                effects.append(because("effect.tproxy-socket",
                                       port=st.tproxy[1] if st.tproxy else ""))
                target = "tproxy"
                continue
            if isinstance(s, model.SetStmt):
                said = self.set_value(s)
                effects.append(said)
                target = f"{'meta' if isinstance(s.key, model.Meta) else 'ct'} {s.key.key} set"
                if said.code == "effect.stops":
                    break
                continue
            if isinstance(s, model.Notrack):
                target = "notrack"
                if not st.ct_attached:
                    st.untracked = st.ct_attached = True
                    effects.append(because("effect.untracked"))
                continue
        return self.finish(table, hook, chain, number, rule, result, None, target, effects,
                           outcome, jumped, natted)

    def finish(self, table: NftTable, hook: str, chain: NftChain, number: int, rule: NftRule,
               result: StepResult, reason: Reason | None, target: str | None,
               effects: list[Reason | None], outcome: Outcome, jumped: Verdict | None = None,
               natted: bool = False) -> tuple[Outcome, bool, Verdict | None]:
        effect: Reason | None = None
        for said in effects:
            if said is not None:
                effect = said if effect is None else because("effect.then", first=effect,
                                                               then=said)
        jump: Jump | None = None if jumped is None else (
            "goto" if jumped.kind == "goto" else "jump")
        if effect is None and reason is None:
            # the same for every packet that takes this way through the rule
            self.steps.append(self.kept_step(
                (id(rule), hook, id(chain), number, result, target, jump),
                lambda: self.step("rule", table, hook, chain, number, rule, result, None,
                                  target, None if jumped is None else because(
                                      "effect.goto" if jumped.kind == "goto" else
                                      "effect.jump", chain=jumped.chain), jump)))
        else:
            self.steps.append(self.step("rule", table, hook, chain, number, rule, result,
                                        reason, target, effect, jump))
        return outcome, natted, jumped

    def vmap(self, table: NftTable, s: model.Vmap, where: str, rule: NftRule) -> Verdict | Reason:
        """The verdict a verdict map gives the packet, or why it gives none."""
        if isinstance(s.key, model.Numgen):
            drawn = s.key.modulus - 1
            for value in range(s.key.modulus - 1):
                if self.choose(numgen_choice(s.key, value), where, rule):
                    drawn = value
                    break
            key_value: Value = drawn
        else:
            try:
                key_value = read(s.key, self.st)
            except _Missing as e:
                return because("effect.stops", reason=e.args[0])
        if isinstance(s.map, model.SetRef):
            index = set_index(table, s.map, self.host, nv.type_of(s.key))
            assert index is not None  # the parser checked that the map exists
        else:
            index = anonymous_map(s)
        position = index.find(key_value)
        if position is not None and position >= 0:
            verdict = index.values[position]
            assert isinstance(verdict, Verdict)
            return verdict
        return because("effect.no-element")

    def set_value(self, s: model.SetStmt) -> Reason:
        st = self.st
        if isinstance(s.value, int):
            value = s.value
        else:
            try:
                read_value = read(s.value, st)
            except _Missing as e:
                return because("effect.stops", reason=e.args[0])
            assert isinstance(read_value, int)
            value = read_value
        if s.key == model.Meta("mark"):
            before, st.mark = st.mark, value & nv.MAX_U32
            return because("effect.mark", before=hex(before), after=hex(st.mark))
        if s.key == model.Ct("mark"):
            if st.untracked or not st.ct_attached:
                return because("effect.no-connection")
            st.ctmark = value & nv.MAX_U32
            return because("effect.ctmark", mark=hex(st.ctmark))
        if st.ct_attached:
            return because("effect.has-connection")
        st.zone = value
        return because("effect.zone", zone=value)

    def nat(self, s: model.Nat, hook: str) -> tuple[Outcome, Reason | None]:
        st, host = self.st, self.host
        port = (s.port,) if s.port is not None else ()
        if s.kind == "redirect":
            return ACTIONS["REDIRECT"](st, host, {"to-ports": port} if port else {}, hook)
        if s.kind == "masquerade":
            return ACTIONS["MASQUERADE"](st, host, {"to-ports": port} if port else {}, hook)
        address = s.address or ""
        if ":" in address and s.port is not None:
            address = f"[{address}]"
        text = address + (f":{s.port}" if s.port is not None else "")
        if s.kind == "dnat":
            return ACTIONS["DNAT"](st, host, {"to-destination": (text,)}, hook)
        return ACTIONS["SNAT"](st, host, {"to-source": (text,)}, hook)
