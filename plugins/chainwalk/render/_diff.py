"""The ``diff`` view: two rulesets side by side, and the journeys that change.

Chains are compared rule by rule on their normal form (``difflib`` on ``rule.spec``):
a rule present on one side only is added or removed; where a run of rules is
replaced by a run of the same length, each pair is a changed rule. Chains and
policies that differ are listed too. Then every scenario whose pods use either
ruleset is run again with the other one; a scenario whose journey differs (its
result, or a hop's receiver, original destination or outcome) is listed with both
journeys in short.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Literal

from ..journey import Journey
from ..netfilter import Chain, Ruleset
from ._escape import md_code, md_text
from ._messages import ENGLISH, Messages

ChangeKind = Literal["added", "removed", "changed", "chain added", "chain removed", "policy"]


@dataclass(slots=True)
class Change:
    """One difference between two rulesets: ``old`` and ``new`` are (rule number, text)."""

    table: str
    chain: str
    kind: ChangeKind
    old: tuple[int, str] | None
    new: tuple[int, str] | None


def _chain_changes(table: str, old: Chain | None, new: Chain | None) -> list[Change]:
    name = (old or new).name  # type: ignore[union-attr]
    if old is None:
        assert new is not None
        return [Change(table, name, "chain added", None, None),
                *(Change(table, name, "added", None, (n, r.spec))
                  for n, r in enumerate(new.rules, start=1))]
    if new is None:
        return [Change(table, name, "chain removed", None, None),
                *(Change(table, name, "removed", (n, r.spec), None)
                  for n, r in enumerate(old.rules, start=1))]
    changes = []
    if old.policy != new.policy:
        changes.append(Change(table, name, "policy", (0, old.policy or "-"),
                              (0, new.policy or "-")))
    a = [r.spec for r in old.rules]
    b = [r.spec for r in new.rules]
    for op, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        if op == "replace" and i2 - i1 == j2 - j1:
            changes.extend(Change(table, name, "changed", (i + 1, a[i]), (j + 1, b[j]))
                           for i, j in zip(range(i1, i2), range(j1, j2), strict=True))
            continue
        changes.extend(Change(table, name, "removed", (i + 1, a[i]), None)
                       for i in range(i1, i2))
        changes.extend(Change(table, name, "added", None, (j + 1, b[j]))
                       for j in range(j1, j2))
    return changes


def ruleset_changes(old: Ruleset, new: Ruleset, table: str | None) -> list[Change]:
    names = [t.name for t in old.tables] + [t.name for t in new.tables
                                              if old.table(t.name) is None]
    changes: list[Change] = []
    for name in names:
        if table is not None and name != table:
            continue
        old_table, new_table = old.table(name), new.table(name)
        chains = ([c.name for c in old_table.chains] if old_table else []) + [
            c.name for c in (new_table.chains if new_table else ())
            if old_table is None or old_table.chain(c.name) is None]
        for chain in chains:
            changes.extend(_chain_changes(name, old.chain(name, chain), new.chain(name, chain)))
    return changes


def journey_summary(journey: Journey, msg: Messages = ENGLISH) -> str:
    hops = []
    for hop in journey.hops:
        outcome = msg(f"outcome.{hop.outcome}")
        where = hop.receiver or (msg("diff.pod-outcome", pod=hop.receiver_pod, outcome=outcome)
                                 if hop.receiver_pod else outcome)
        hops.append(where)
    return " &#8594; ".join(md_text(h) for h in hops) + msg(
        "diff.result", result=md_text(msg(f"result.{journey.result}")))


def journey_key(journey: Journey) -> tuple[object, ...]:
    """What makes two journeys the same for a reader: the result and where each hop
    lands (which rules decide is expected to differ between two rulesets)."""
    return (journey.result, journey.receiver,
            tuple((h.receiver, h.original, h.outcome) for h in journey.hops))


def _cell(side: tuple[int, str] | None) -> tuple[str, str]:
    if side is None:
        return "", ""
    number, text = side
    return (str(number) if number else ""), md_code(text)


def diff_table(old_name: str, new_name: str, changes: list[Change],
               journeys: list[tuple[str, Journey | str, Journey | str]],
               msg: Messages = ENGLISH) -> str:
    """``journeys``: ``(scenario title, journey with old, journey with new)`` (a string:
    why it could not run) for the scenarios whose journey changed."""
    lines: list[str] = []
    if not changes:
        lines.append(msg("diff.same", old=md_code(old_name), new=md_code(new_name)))
    else:
        lines.append(msg("diff.header", old=md_code(old_name), new=md_code(new_name)))
        lines.append("| --- | --- | --- | --- | --- | --- |")
        for c in changes:
            old_number, old_text = _cell(c.old)
            new_number, new_text = _cell(c.new)
            kind = msg(f"diff.kind.{c.kind.replace(' ', '-')}")
            lines.append(f"| {md_text(f'{c.table} {c.chain}')} | {md_text(kind)} | "
                         f"{old_number or ' '} | {old_text or ' '} | {new_number or ' '} | "
                         f"{new_text or ' '} |")
    lines.append("")
    if not journeys:
        lines.append(msg("diff.no-journey"))
    else:
        lines.append(journeys_table(
            msg("diff.journeys-header", old=md_code(old_name), new=md_code(new_name)),
            journeys, msg))
    return "\n".join(lines) + "\n"


def journeys_table(header: str, journeys: list[tuple[str, Journey | str, Journey | str]],
                   msg: Messages) -> str:
    """Two journeys per row, in short, under ``header`` (a Markdown table's header row):
    ``(title, journey, journey)`` (a string: why it could not run)."""
    lines = [header, "| --- | --- | --- |"]
    for title, one, other in journeys:
        cells = [journey_summary(j, msg) if isinstance(j, Journey) else md_text(j)
                 for j in (one, other)]
        lines.append(f"| {md_text(title)} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)
