"""Claims in pages, proved over every packet when the site is built.

A claim is written inline, as a code span that the page shows as ordinary text::

    `chainwalk: never ISTIO_OUTPUT#10 in current | never reached`

or as a ``view: claim`` block (``claim``, ``ruleset`` and optionally ``where``, ``table``,
``hook``, ``host``). Its grammar, inline::

    KIND ARGUMENT in RULESET [where DESCRIPTION] [| TEXT]

- ``never CHAIN#N``: no described packet matches rule N of CHAIN (its counters never
  rise); ``reached CHAIN#N``: some does (the note gives one);
- ``every CHAIN#N`` / ``none CHAIN#N``: every / no described packet's walk through the
  table ends at rule N (``CHAIN#policy``: at the built-in chain's policy);
- ``same-as OTHER``: the ruleset OTHER gives every described packet the same outcome
  (verdict, and the destination and port NAT leaves it).

RULESET is an iptables stem or an nftables ruleset's file name (``current.nft``: its
table defaults to the one holding CHAIN, and a walk ends where the hook's base chains of
that table leave the packet; ``same-as`` with an nftables side compares the outcome of
the whole hook, marks and TPROXY listener included). The description is
``netfilter._proof``'s (default: every packet). The packets are
first packets of connections at ``hook`` (``output``: sent by a process of a pod
whose ``eth0`` has ``host``, by default 10.0.0.5/24; ``prerouting``: arriving), through
the tables of the hook up to ``table`` (default ``nat``). A claim that does not hold
is a problem at the page's line, with the claim and a counterexample packet traced;
one that cannot be decided (``-m statistic``, an ipset...) is a problem too.
"""

from __future__ import annotations

import re
from dataclasses import replace

from .._errors import ChainwalkError, Location, Problem
from ..journey import RuleEdit, run_scenario
from ..netfilter import Host, Packet, Ruleset, Trace, host_with, trace
from ..netfilter._nft_model import NftChain, NftRuleset
from ..netfilter._proof import Description, differences, exploration, parse_description
from ..netfilter._space import (
    CannotProve,
    Decision,
    Exploration,
    Piece,
    witness_packet,
)
from ..render import format_text, journey_key
from ..render._claims import DEFAULT_HOST, KINDS, OUTCOMES, Claim, ClaimResult, Outcome, describe
from ..render._trace_text import format_trace
from ._project import Project, is_nft

_RULE = re.compile(r"^(?P<chain>[^\s#]+)#(?P<rule>\d+|policy)$")
_HOOKS = ("output", "prerouting")


def parse_inline(text: str, where: Location) -> Claim:
    """``KIND ARGUMENT in RULESET [where DESCRIPTION] [| TEXT]`` (after ``chainwalk:``)."""
    body, bar, shown = text.partition("|")
    words = body.split()
    grammar = "KIND ARGUMENT in RULESET [where DESCRIPTION] [| TEXT]"
    if len(words) < 4 or words[2] != "in":
        raise ChainwalkError([Problem(where, "not a claim", text.strip(), grammar)])
    if words[0] == "without":  # without CHAIN#N in RULESET then SCENARIO OUTCOME [PORT]
        if len(words) < 7 or words[4] != "then":
            raise ChainwalkError([Problem(where, "not a claim", text.strip(),
                                          "without CHAIN#N in RULESET then SCENARIO OUTCOME")])
        claim = make_claim("without", " ".join([words[1], *words[4:]]), words[3], where,
                           text=shown.strip() if bar else None)
        return claim
    described = ""
    at = None
    if len(words) > 4:
        if words[4] != "where" or len(words) == 5:
            raise ChainwalkError([Problem(where, "not a claim", text.strip(), grammar)])
        start = re.search(r"\swhere\s+", body)
        assert start is not None
        described = body[start.end():].rstrip()
        # The column in the page: the span's backtick and "chainwalk:" come first.
        at = Location(where.path, where.line, where.column + len("`chainwalk:") + start.end())
    claim = make_claim(words[0], words[1], words[3], where, described,
                       text=shown.strip() if bar else None)
    return replace(claim, where_at=at)


def make_claim(kind: str, argument: str, ruleset: str, where: Location, described: str = "",
               *, table: str = "nat", hook: str = "output", host: str = DEFAULT_HOST,
               text: str | None = None) -> Claim:
    if kind not in KINDS:
        raise ChainwalkError([Problem(where, "unknown kind of claim", kind,
                                      "one of " + ", ".join(KINDS))])
    if hook not in _HOOKS:
        raise ChainwalkError([Problem(where, "unknown hook", hook, " or ".join(_HOOKS))])
    if kind == "same-as":
        return Claim("same-as", ruleset, other=argument, where=described, table=table,
                     hook=hook, host=host, text=text, location=where)
    scenario, port = "", 0
    outcome: Outcome | None = None
    if kind == "without":  # ARGUMENT: CHAIN#N then SCENARIO OUTCOME [PORT]
        parts = argument.split()
        expected = "CHAIN#N then SCENARIO " + "|".join(OUTCOMES) + " (lands PORT)"
        if len(parts) < 4 or parts[1] != "then" or parts[3] not in OUTCOMES or \
                (parts[3] == "lands") != (len(parts) == 5) or len(parts) > 5 or \
                (len(parts) == 5 and not parts[4].isdigit()):
            raise ChainwalkError([Problem(where, "without: not a what-if", argument,
                                          expected)])
        argument, scenario = parts[0], parts[2]
        outcome = next(o for o in OUTCOMES if o == parts[3])
        port = int(parts[4]) if len(parts) == 5 else 0
    found = _RULE.match(argument)
    if found is None or (found.group("rule") == "policy" and kind in ("never", "reached")):
        raise ChainwalkError([Problem(where, f"{kind}: not a rule", argument,
                                      "CHAIN#NUMBER, e.g. ISTIO_OUTPUT#7"
                                      + (" or CHAIN#policy" if kind in ("every", "none")
                                         else ""))])
    number = 0 if found.group("rule") == "policy" else int(found.group("rule"))
    if kind == "without" and number == 0:
        raise ChainwalkError([Problem(where, "without: not a rule", argument, "CHAIN#N")])
    return Claim(kind, ruleset, found.group("chain"), number, "", described, table, hook, host,
                 text, where, scenario=scenario,
                 outcome=outcome, port=port)



def _host(claim: Claim) -> Host:
    return host_from(claim.host, claim.location)


def host_from(text: str, where: Location) -> Host:
    """The host a text such as ``eth0=10.0.0.5/24 lo=127.0.0.1/8`` describes; a problem at
    ``where`` when it is not one."""
    addresses: dict[str, tuple[str, ...]] = {}
    for item in text.split():
        name, _, address = item.partition("=")
        addresses.setdefault(name, ())
        addresses[name] += (address,)
    try:
        return host_with(addresses)
    except ChainwalkError as e:
        raise ChainwalkError([Problem(where, f"host: {p.message}", text,
                                      "IF=ADDRESS/PREFIX, e.g. eth0=10.0.0.5/24")
                              for p in e.problems]) from None


def check_claim(project: Project, claim: Claim) -> ClaimResult:
    """The claim's proof; raises :class:`ChainwalkError` (at the claim's place) when it
    does not hold, with a counterexample traced, or cannot be decided."""
    return project.memo(("claim", claim), lambda: _check(project, claim))


def _rules(project: Project, name: str) -> Ruleset | NftRuleset:
    """The ruleset a claim names: ``NAME.nft`` an nftables one, else an iptables stem."""
    return project.nft_ruleset(name) if is_nft(name) else project.ruleset(name)


def _family(project: Project, claim: Claim) -> int:
    """The claim's address family: its iptables ruleset's (an nftables one holds both:
    IPv4, or the other ruleset's when that is an iptables one)."""
    for name in (claim.ruleset, claim.other):
        if name and not is_nft(name):
            return project.ruleset(name).family
    return 4


def _check(project: Project, claim: Claim) -> ClaimResult:
    ruleset = _rules(project, claim.ruleset)
    host = _host(claim)
    hook = claim.hook.upper()
    family = _family(project, claim)
    description = parse_description(claim.where, claim.where_at or claim.location, family)
    if claim.kind != "same-as" and isinstance(ruleset, NftRuleset) and \
            ruleset.table(claim.table) is None:  # (the default, nat: the chain's table)
        holder = next((t for t in ruleset.tables if t.chain(claim.chain)), None)
        claim = replace(claim, table=holder.name) if holder else claim
    if claim.kind != "same-as":
        chain = ruleset.chain(claim.table, claim.chain)
        policy = chain.base if isinstance(chain, NftChain) else \
            chain.policy if chain is not None else None
        if chain is None or claim.rule > len(chain.rules) or \
                (claim.rule == 0 and policy is None):
            raise ChainwalkError([Problem(
                claim.location, f"{claim.ruleset} has no {claim.subject()}",
                f"{claim.chain}#{claim.rule or 'policy'}",
                f"a rule of {claim.table} {claim.chain}" if chain else "a chain of the ruleset")])
    if claim.kind == "without":
        if isinstance(ruleset, NftRuleset):
            raise ChainwalkError([Problem(claim.location, "a what-if edits iptables rulesets "
                                          "only", claim.ruleset, "an iptables ruleset's stem")])
        return _without(project, claim, ruleset)

    def explore() -> Exploration | CannotProve:
        try:
            return exploration(ruleset, host, hook, description, claim.table,
                               family=family)
        except CannotProve as e:  # an answer, kept like one
            return e

    try:
        if claim.kind == "same-as":
            return _same(project, claim, host, description)
    except CannotProve as e:
        raise _unproved(claim, e) from None
    # One exploration serves every claim about the same packets of the same rules.
    found = project.memo(("exploration", claim.ruleset, claim.host, hook, claim.where,
                          claim.table), explore)
    if isinstance(found, CannotProve):
        raise _unproved(claim, found)
    key = (claim.table, claim.chain, claim.rule)
    if claim.kind in ("never", "reached"):
        matched = found.matched.get(key, [])
        if claim.kind == "reached":
            if not matched:
                raise _fails(claim, "no described packet matches it", None)
            return ClaimResult(claim, _packet(found, matched[0], hook))
        if matched:
            raise _fails(claim, "this packet matches it",
                         _traced(ruleset, host, hook, _packet(found, matched[0], hook)))
        return ClaimResult(claim)
    ends = [(found.ending(d, piece), piece) for d, pieces in sorted(found.decisions.items())
            if d.table == claim.table for piece in pieces]
    if claim.kind == "none":
        there = [piece for end, piece in ends if (end.table, end.chain, end.rule) == key]
        if there:
            raise _fails(claim, "this packet ends there",
                         _traced(ruleset, host, hook, _packet(found, there[0], hook)))
        return ClaimResult(claim)
    for end, piece in ends:
        if (end.table, end.chain, end.rule) != key:
            raise _fails(claim, f"this packet ends at {end} instead",
                         _traced(ruleset, host, hook, _packet(found, piece, hook)))
    return ClaimResult(claim)


def _unproved(claim: Claim, refusal: CannotProve) -> ChainwalkError:
    return ChainwalkError([Problem(claim.location, f"the claim '{claim}' cannot be proved "
                                   f"({refusal.problems[0]})")])


def _packet(found: Exploration, piece: Piece, hook: str) -> Packet:
    return witness_packet(piece, found.universe, hook)


def _traced(ruleset: Ruleset | NftRuleset, host: Host, hook: str,
            packet: Packet) -> tuple[Packet, Trace]:
    return packet, trace(ruleset, packet, host, hook)


def _fails(claim: Claim, why: str,
           counterexample: tuple[Packet, Trace] | None) -> ChainwalkError:
    message = f"the claim '{claim}' does not hold: {why}"
    if counterexample is not None:
        packet, traced = counterexample
        message += f": {describe(packet)}\n" + "\n".join(
            "    " + line for line in format_trace(traced).split("\n"))
    return ChainwalkError([Problem(claim.location, message)])


def _same(project: Project, claim: Claim, host: Host, description: Description) -> ClaimResult:
    hook = claim.hook.upper()
    mine, theirs = _rules(project, claim.ruleset), _rules(project, claim.other)
    found = differences(mine, theirs, host, hook, description, claim.table, limit=1,
                        family=_family(project, claim))
    if not found:
        return ClaimResult(claim)
    first = found[0]
    lines = [f"the claim '{claim}' does not hold: {describe(first.witness)} ends at "
             f"{first.mine} in {claim.ruleset}, at {first.theirs} in {claim.other}"]
    lines += ["    " + line for line in format_trace(trace(mine, first.witness, host,
                                                            hook)).split("\n")]
    lines.append(f"    -- in {claim.other}:")
    lines += ["    " + line for line in format_trace(trace(theirs, first.witness, host,
                                                            hook)).split("\n")]
    raise ChainwalkError([Problem(claim.location, "\n".join(lines))])


def _without(project: Project, claim: Claim, ruleset: Ruleset) -> ClaimResult:
    """The scenario's journey with the rule deleted in every pod that uses the ruleset."""
    scenario = project.scenario(claim.scenario)
    path = project.ruleset_path(claim.ruleset)
    chain = ruleset.chain(claim.table, claim.chain)
    assert chain is not None
    spec = chain.rules[claim.rule - 1].spec
    pods = [p.name for p in scenario.topology.pods if p.ruleset_path == path]
    if not pods:
        raise ChainwalkError([Problem(claim.location, f"scenario {scenario.id} has no pod "
                                      f"with {claim.ruleset}.rules", claim.scenario,
                                      "a scenario whose pods use the ruleset")])
    edits = tuple(RuleEdit(pod, "delete", claim.table, claim.chain, spec) for pod in pods)
    before = project.journey(scenario)
    after = run_scenario(replace(scenario, what_ifs=(*scenario.what_ifs, *edits)))
    last = after.hops[-1] if after.hops else None
    holds = {
        "loops": after.result == "loop", "refused": after.result == "refused",
        "blackholed": after.result == "blackholed", "dropped": after.result == "dropped",
        "delivered": after.result == "delivered",
        "lands": last is not None and last.receiver_port == claim.port,
        "unchanged": journey_key(after) == journey_key(before),
    }[claim.outcome or "unchanged"]
    if holds:
        return ClaimResult(claim)
    landed = f", its last connection lands on port {last.receiver_port}" \
        if last is not None and last.receiver_port else ""
    raise ChainwalkError([Problem(claim.location, f"the claim '{claim}' does not hold: "
                                  f"the journey ends {after.result}{landed}: "
                                  f"{after.reason}\n" + "\n".join(
                                      "    " + line for line in format_text(after).split("\n")))])


_MAX_DIFFERENCES = 10_000


def behaviour_rows(project: Project, claim: Claim) -> list[tuple[Packet, Decision, Decision]]:
    """Each way ``claim.other`` (old) and ``claim.ruleset`` (new) treat the described
    packets differently, once, with an example packet: (packet, end in old, end in new)."""
    def compute() -> list[tuple[Packet, Decision, Decision]]:
        try:
            found = differences(project.ruleset(claim.other), project.ruleset(claim.ruleset),
                                _host(claim), claim.hook.upper(),
                                parse_description(claim.where, claim.location,
                                                  project.ruleset(claim.ruleset).family),
                                claim.table, limit=_MAX_DIFFERENCES)
        except CannotProve as e:
            raise _unproved(claim, e) from None
        if len(found) == _MAX_DIFFERENCES:  # a table that would not say everything
            raise ChainwalkError([Problem(claim.location, f"{claim.other} and "
                                          f"{claim.ruleset} differ in more than "
                                          f"{_MAX_DIFFERENCES} classes of packets", None,
                                          "a narrower description (where: ...)")])
        rows: dict[tuple[Decision, Decision], Packet] = {}
        for d in found:
            rows.setdefault((d.mine, d.theirs), d.witness)
        return [(packet, old, new) for (old, new), packet in rows.items()]
    return project.memo(("behaviour", claim), compute)
