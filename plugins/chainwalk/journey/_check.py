"""Compares a journey with what its scenario expects.

Each mismatch is a :class:`Problem` at the line of the expectation that failed,
with what was expected and what the journey got, so ``chainwalk check`` output can
be read like a compiler's.
"""

from __future__ import annotations

from .._errors import Location, Problem
from ._model import Hop, HopExpectation, Journey, RuleExpectation, Scenario


def check_scenario(scenario: Scenario, journey: Journey) -> list[Problem]:
    """Every expectation of ``scenario`` that ``journey`` does not meet (empty: all hold)."""
    expect = scenario.expectations
    fallback = scenario.location or Location(scenario.topology.path, 0)
    problems: list[Problem] = []

    def mismatch(where: Location | None, what: str, got: str | None, expected: str) -> None:
        problems.append(Problem(where or fallback, f"{scenario.id}: {what}",
                                "nothing" if got is None else got, expected))

    if expect.result is not None and journey.result != expect.result:
        mismatch(expect.where("result"), "result", f"{journey.result} ({journey.reason})",
                 expect.result)
    if expect.receiver is not None and not _receiver_matches(expect.receiver,
                                                              journey.receiver):
        mismatch(expect.where("receiver"), "final receiver",
                 journey.receiver or f"{journey.result} ({journey.reason})", expect.receiver)
    if expect.reason is not None and expect.reason not in str(journey.reason):
        mismatch(expect.where("reason"), "reason", str(journey.reason),
                 f"a reason containing {expect.reason!r}")
    if expect.hops is not None:
        if len(expect.hops) != len(journey.hops):
            mismatch(expect.where("hops"), "number of hops",
                     f"{len(journey.hops)}: {hops_summary(journey)}", str(len(expect.hops)))
        for hop_expect, hop in zip(expect.hops, journey.hops, strict=False):
            for what, got, expected in _hop_mismatches(hop_expect, hop):
                mismatch(hop_expect.location, f"hop {hop.number} {what}", got, expected)
    for rule in expect.rules:
        if not _rule_decided(rule, journey):
            mismatch(rule.location, "deciding rule", _hits_summary(journey, rule.hop),
                     f"{rule.describe()} to match")
    return problems


def hop_summary(hop: Hop) -> str:
    """``reviews/envoy:15006 <- 10.0.0.12:9080`` or the hop's failure."""
    if hop.receiver is None:
        return hop.outcome
    text = f"{hop.receiver} <- {hop.original}"
    return text if hop.outcome in ("accepted", "proxied") else f"{text} ({hop.outcome})"


def hops_summary(journey: Journey) -> str:
    return ", ".join(hop_summary(h) for h in journey.hops)


def _receiver_matches(expected: str, got: str | None) -> bool:
    if got is None:
        return False
    if ":" in expected:
        return expected == got
    return got.partition(":")[0] == expected


def _hop_mismatches(expect: HopExpectation, hop: Hop) -> list[tuple[str, str | None, str]]:
    found: list[tuple[str, str | None, str]] = []
    if expect.port is not None and hop.receiver_port != expect.port:
        found.append(("listener port", hop_summary(hop), str(expect.port)))
    if expect.receiver is not None and not _receiver_matches(expect.receiver, hop.receiver):
        found.append(("receiver", hop_summary(hop), expect.receiver))
    if expect.original is not None and hop.original != expect.original:
        found.append(("original destination", hop.original, expect.original))
    if expect.outcome is not None and hop.outcome != expect.outcome:
        found.append(("outcome", hop.outcome, expect.outcome))
    return found


def _rule_decided(rule: RuleExpectation, journey: Journey) -> bool:
    for hop in journey.hops:
        if rule.hop is not None and hop.number != rule.hop:
            continue
        for trace in hop.traces:
            for step in trace.steps:
                if (step.hit and step.chain == rule.chain
                        and (not rule.table or step.table == rule.table)
                        and (step.rule == rule.number if rule.number is not None
                             else step.text == rule.spec)):
                    return True
    return False


def _hits_summary(journey: Journey, only: int | None) -> str:
    parts = []
    for hop in journey.hops:
        if only is not None and hop.number != only:
            continue
        hits = [f"{s.table}:{s.chain}:{s.rule}" for t in hop.traces for s in t.steps if s.hit]
        parts.append(f"hop {hop.number}: {', '.join(hits) or 'no rule matched'}")
    if not parts:
        return f"no hop {only} (the journey has {len(journey.hops)})"
    return "; ".join(parts)
