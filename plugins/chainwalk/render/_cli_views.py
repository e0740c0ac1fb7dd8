"""Plain views of a journey for the command line: JSON, text and a simple Mermaid
sequence diagram. (The site's rich diagrams are the other renderers' job.)"""

from __future__ import annotations

import re
from typing import Any

from ..journey import Hop, Journey, Scenario, WhatIf, hop_summary
from ..netfilter import hostport
from ._escape import mermaid_text


def hop_to_dict(hop: Hop) -> dict[str, Any]:
    return {
        "number": hop.number, "pod": hop.pod, "process": hop.process, "uid": hop.uid,
        "gid": hop.gid, "protocol": hop.protocol, "src": hop.src, "sport": hop.sport,
        "dst": hop.dst, "dport": hop.dport, "receiver_pod": hop.receiver_pod,
        "receiver_process": hop.receiver_process, "receiver_port": hop.receiver_port,
        "receiver": hop.receiver, "listener": hop.listener, "original_dst": hop.original_dst,
        "original_dport": hop.original_dport, "outcome": hop.outcome,
        "notes": [str(note) for note in hop.notes],
        "output_trace": hop.output_trace.to_dict(),
        "prerouting_trace": (hop.prerouting_trace.to_dict()
                             if hop.prerouting_trace is not None else None),
    }


def journey_to_dict(journey: Journey, scenario: Scenario | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"scenario": journey.scenario_id}
    if scenario is not None:
        out["title"] = scenario.title
        out["what_ifs"] = [w.describe() for w in scenario.what_ifs]
    out.update({"result": journey.result, "receiver": journey.receiver,
                "reason": str(journey.reason), "hops": [hop_to_dict(h) for h in journey.hops]})
    return out


def _what_if_lines(what_ifs: tuple[WhatIf, ...]) -> list[str]:
    return [f"  what if {w.describe()}" for w in what_ifs]


def format_text(journey: Journey, scenario: Scenario | None = None) -> str:
    lines = [f"{journey.scenario_id}: {scenario.title}" if scenario else journey.scenario_id]
    if scenario is not None:
        lines.extend(_what_if_lines(scenario.what_ifs))
    for hop in journey.hops:
        lines.append(f"hop {hop.number}: {hop.pod}/{hop.process} (uid {hop.uid} gid {hop.gid})"
                     f" {hop.protocol} {hostport(hop.src, hop.sport)} -> "
                     f"{hostport(hop.dst, hop.dport)}")
        for trace in hop.traces:
            hits = ", ".join(f"{h.table}:{h.chain}:{h.rule} {h.target}" for h in trace.hits)
            lines.append(f"    {trace.hook}: {hits or 'no rule matched'} -> "
                         f"{trace.disposition} {hostport(trace.final.dst, trace.final.dport)}")
        if hop.listener is not None:
            lines.append(f"    lands on {hop.listener} in pod {hop.receiver_pod}, original "
                         f"destination {hop.original} ({hop.outcome})")
        else:
            lines.append(f"    {hop.outcome}")
        lines.extend(f"    {note}" for note in hop.notes)
    lines.append(f"=> {journey.result.upper()}: {journey.reason}")
    return "\n".join(lines)


def _actor(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def format_mermaid(journey: Journey, scenario: Scenario | None = None) -> str:
    """A sequenceDiagram: one participant per pod/process, one arrow per hop. Every text
    from a file is escaped as the site's diagrams escape it (a newline in a title cannot
    start a statement of its own, such as ``click`` or ``%%{init}%%``)."""
    lines = ["sequenceDiagram"]
    if scenario is not None:
        lines.append(f"    title {mermaid_text(f'{scenario.id}: {scenario.title}')}")
    declared: list[str] = []

    def participant(pod: str, process: str) -> str:
        name = f"{pod}/{process}"
        if name not in declared:
            declared.append(name)
            lines.append(f"    participant {_actor(name)} as {mermaid_text(name)}")
        return _actor(name)

    arrows: list[str] = []
    for hop in journey.hops:
        sender = participant(hop.pod, hop.process)
        label = f"{hop.number}: {hostport(hop.dst, hop.dport)}"
        if hop.receiver_pod is not None and hop.receiver_process is not None:
            receiver = participant(hop.receiver_pod, hop.receiver_process)
            arrows.append(f"    {sender}->>{receiver}: " + mermaid_text(
                f"{label} -> :{hop.receiver_port} (orig {hop.original})"))
            if hop.outcome not in ("accepted", "proxied"):
                arrows.append(f"    Note over {receiver}: {mermaid_text(hop.outcome)}")
        else:
            arrows.append(f"    {sender}-x{sender}: {mermaid_text(f'{label} {hop_summary(hop)}')}")
    lines.extend(arrows)
    return "\n".join(lines)
