"""The ``trace`` view: a journey's hops and every rule decision as a Markdown table.

One row per thing that happened, in order: routing and other events, each rule that
matched (and, with ``reasons: true``, each rule that did not, with the first
criterion that failed), the policies that applied, and where each hop landed. The
result comes right after the rule's number, before the rule's text: the text is the
long column, and a reader scans the results.

The table is wrapped in a ``div`` with ``data-search-exclude`` (Material's search
skips it): hundreds of generated rows such as "no match: protocol tcp" are no answer
to a search, the prose around the table is.
"""

from __future__ import annotations

from ..journey import Hop, Journey
from ..netfilter import Trace, hostport
from ..netfilter._trace import Step
from ._escape import md_code, md_text
from ._html import unsearched
from ._journeys import Numbering
from ._messages import ENGLISH, Messages


def _result(step: Step, msg: Messages) -> str:
    if step.kind == "policy":
        return msg("trace.policy", policy=md_code(step.result))
    if step.kind == "return":
        return msg("trace.return")
    if step.kind == "skipped":
        return md_text(msg.reason(step.reason)) if step.reason else msg("trace.skipped")
    if step.result in ("not-matched", "assumed-not"):
        return msg("trace.no-match",
                   reason=md_text(msg.reason(step.reason)) if step.reason else "")
    text = msg("trace.match-assumed" if step.result == "assumed" else "trace.match")
    if step.effect:
        return msg("trace.match-doing", match=text, what=md_text(msg.reason(step.effect)))
    if step.target:
        return msg("trace.match-doing", match=text, what=md_code(step.target))
    return text


def _removed(pod: str, step: Step, numbering: Numbering, shown: set[tuple[str, str, int]],
             before: int | None, msg: Messages) -> list[list[str]]:
    """Rows for the rules a what-if removed from ``step``'s chain that came before rule
    ``before`` (None: all the rest), each once per chain visit, struck through."""
    rows = []
    for number, spec in numbering.removed.get((pod, step.table, step.chain), []):
        key = (step.table, step.chain, number)
        if key in shown or (before is not None and number > before):
            continue
        shown.add(key)
        rows.append([md_text(pod), md_text(f"{step.table} {step.chain}"), f"<del>{number}</del>",
                     msg("trace.removed"), f"<del>{md_code(spec)}</del>"])
    return rows


def _rows(trace: Trace, pod: str, reasons: bool, numbering: Numbering,
          msg: Messages) -> list[list[str]]:
    rows: list[list[str]] = []
    shown: set[tuple[str, str, int]] = set()
    for step in trace.steps:
        if step.kind == "event":
            assert step.reason is not None  # an event says what happened
            rows.append([md_text(pod), "", "", md_text(msg.reason(step.reason)), ""])
            continue
        in_file = numbering.number(pod, step.table, step.chain, step.rule)
        rows.extend(_removed(pod, step, numbering, shown,
                             in_file if step.kind in ("rule", "skipped") else None, msg))
        quiet = (step.kind == "return" or step.kind == "skipped"
                 or (step.kind == "rule" and not step.hit))
        if quiet and not reasons:
            continue
        number = str(in_file)
        if step.kind == "skipped":
            number = f"{in_file}&#8211;{in_file + step.count - 1}"
        elif step.kind in ("policy", "return"):
            number = ""
        chain = md_text(f"{step.table} {step.chain}")
        rows.append([md_text(pod), chain, number, _result(step, msg), md_code(step.text)])
    return rows


def _landing(hop: Hop, msg: Messages) -> str:
    outcome = msg(f"outcome.{hop.outcome}")
    if hop.listener is not None:
        return md_text(msg("trace.lands", listener=hop.listener, pod=hop.receiver_pod,
                           original=hop.original, outcome=outcome))
    return md_text(outcome)


def result_line(journey: Journey, msg: Messages = ENGLISH) -> str:
    """The journey's result and why, below its table or diagram."""
    return msg("result.line", result=md_text(msg(f"result.{journey.result}")),
               reason=md_text(msg.reason(journey.reason))) + "\n"


def trace_table(journey: Journey, reasons: bool, numbering: Numbering,
                msg: Messages = ENGLISH) -> str:
    """The Markdown table of ``journey`` and the result below it."""
    return (unsearched(hops_table(journey, reasons, numbering, msg), "trace") + "\n"
            + result_line(journey, msg))


def hops_table(journey: Journey, reasons: bool, numbering: Numbering,
               msg: Messages = ENGLISH) -> str:
    """The Markdown table of ``journey``'s hops, one row per thing that happened; rules
    numbered as in the ruleset file, a rule a what-if removed struck through where it
    would have been evaluated."""
    header = [msg(f"trace.column.{name}") for name in ("hop", "pod", "chain", "number",
                                                         "result", "rule")]
    lines = ["| " + " | ".join(header) + " |", "| --- | --- | --- | --- | --- | --- |"]
    for hop in journey.hops:
        first = md_text(msg("trace.hop", number=hop.number, pod=hop.pod, process=hop.process,
                            uid=hop.uid, destination=hostport(hop.dst, hop.dport)))
        rows = _rows(hop.output_trace, hop.pod, reasons, numbering, msg)
        if hop.prerouting_trace is not None:
            rows.extend(_rows(hop.prerouting_trace, hop.receiver_pod or "", reasons, numbering,
                              msg))
        rows.append([md_text(hop.receiver_pod or hop.pod), "", "", _landing(hop, msg), ""])
        rows.extend([md_text(hop.receiver_pod or hop.pod), "", "", md_text(msg.reason(note)), ""]
                    for note in hop.notes)
        previous = ""
        for i, row in enumerate(rows):
            pod = row[0] if row[0] != previous else ""
            previous = row[0]
            cells = [first if i == 0 else "", pod, *row[1:]]
            lines.append("| " + " | ".join(c or " " for c in cells) + " |")
    return "\n".join(lines) + "\n"
