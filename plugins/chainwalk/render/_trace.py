"""The ``trace`` view: a journey's hops and every rule decision as a Markdown table.

One row per thing that happened, in order: routing and other events, each rule that
matched (and, with ``reasons: true``, each rule that did not, with the first
criterion that failed), the policies that applied, and where each hop landed.
"""

from __future__ import annotations

from ..journey import Hop, Journey, Scenario
from ..netfilter import Trace, hostport
from ..netfilter._trace import Step
from ._escape import md_code, md_text


def _result(step: Step) -> str:
    if step.kind == "policy":
        return f"policy {md_code(step.result)}"
    if step.kind == "return":
        return "end of chain: back to the caller"
    if step.kind == "skipped":
        return md_text(step.reason or "skipped")
    if step.result in ("not-matched", "assumed-not"):
        return "no match: " + md_text(step.reason or "")
    text = "match" + (" (assumed)" if step.result == "assumed" else "")
    if step.effect:
        return f"{text}: {md_text(step.effect)}"
    if step.target:
        return f"{text}: {md_code(step.target)}"
    return text


def _rows(trace: Trace, pod: str, reasons: bool) -> list[list[str]]:
    rows = []
    for step in trace.steps:
        if step.kind == "event":
            rows.append([pod, "", "", "", md_text(step.text)])
            continue
        quiet = (step.kind == "return" or step.kind == "skipped"
                 or (step.kind == "rule" and not step.hit))
        if quiet and not reasons:
            continue
        number = str(step.rule)
        if step.kind == "skipped":
            number = f"{step.rule}&#8211;{step.rule + step.count - 1}"
        elif step.kind in ("policy", "return"):
            number = ""
        chain = md_text(f"{step.table} {step.chain}")
        rows.append([pod, chain, number, md_code(step.text), _result(step)])
    return rows


def _landing(hop: Hop) -> str:
    if hop.listener is not None:
        return md_text(f"lands on {hop.listener} in pod {hop.receiver_pod} (original "
                       f"destination {hop.original}): {hop.outcome}")
    return md_text(hop.outcome)


def trace_table(scenario: Scenario, journey: Journey, reasons: bool) -> str:
    """The Markdown table of ``journey`` (and the result below it)."""
    lines = ["| hop | pod | chain | # | rule | result |",
             "| --- | --- | --- | --- | --- | --- |"]
    for hop in journey.hops:
        first = md_text(f"{hop.number}: {hop.pod}/{hop.process} (uid {hop.uid}) to "
                        f"{hostport(hop.dst, hop.dport)}")
        rows = _rows(hop.output_trace, md_text(hop.pod), reasons)
        if hop.prerouting_trace is not None:
            rows.extend(_rows(hop.prerouting_trace, md_text(hop.receiver_pod or ""), reasons))
        rows.append([md_text(hop.receiver_pod or hop.pod), "", "", "", _landing(hop)])
        rows.extend([md_text(hop.receiver_pod or hop.pod), "", "", "", md_text(note)]
                    for note in hop.notes)
        previous = ""
        for i, row in enumerate(rows):
            pod = row[0] if row[0] != previous else ""
            previous = row[0]
            cells = [first if i == 0 else "", pod, *row[1:]]
            lines.append("| " + " | ".join(c or " " for c in cells) + " |")
    lines.append("")
    lines.append(f"**Result: {md_text(journey.result)}.** {md_text(journey.reason)}")
    return "\n".join(lines) + "\n"
