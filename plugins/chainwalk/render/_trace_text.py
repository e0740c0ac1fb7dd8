"""A trace as text, in the style of the kernel's TRACE target with the reasons added
(what ``chainwalk trace`` prints, and a failed claim's counterexample)."""

from __future__ import annotations

from ..netfilter import Branch, Step, Trace


def format_trace(result: Trace) -> str:
    """Lines in the style of the kernel's TRACE target, with the reasons added."""
    lines = []
    for n, branch in enumerate(result.branches, start=1):
        if len(result.branches) > 1:
            chance = ("unknown" if branch.probability is None
                      else f"{branch.probability:.4g}")
            lines.append(f"== branch {n} of {len(result.branches)} (probability {chance})")
            lines.extend(f"   assuming {a}" for a in branch.assumptions)
        for step in branch.steps:
            lines.append(_format_step(step))
        lines.append(f"=> {branch.disposition.upper()}: {_where(branch)}")
        shake = branch.handshake
        if shake is not None and shake.outcome != "completes":
            verb = "may not complete" if shake.outcome == "unknown" else "does not complete"
            lines.append(f"   but the connection {verb} ({shake.outcome}): {shake.reason}")
    return "\n".join(lines)


def _format_step(step: Step) -> str:
    if step.kind == "event":
        return f"   -- {step.reason}"
    head = f"{step.table}:{step.chain}"
    if step.kind == "policy":
        return f"{head}:policy:{step.rule}:{step.result}"
    if step.kind == "return":
        return f"{head}:return:{step.rule}"
    if step.kind == "skipped":
        last = step.rule + step.count - 1
        return f"{head}:rules:{step.rule}-{last}:NO-MATCH   {step.reason}"
    if step.hit:
        if step.jump is not None:
            return f"{head}:rule:{step.rule}:{step.jump.upper()}:{step.target}   {step.text}"
        line = f"{head}:rule:{step.rule}:{step.target or '-'}   {step.text}"
        return line + (f"   [{step.effect}]" if step.effect else "")
    return f"{head}:rule:{step.rule}:NO-MATCH   {step.reason}"


def _where(branch: Branch) -> str:
    f = branch.final
    if branch.disposition == "delivered":
        if branch.tproxy:
            return f"transparent socket port {branch.tproxy[1]} (destination {f.dst}:{f.dport})"
        return f"local socket {f.dst}:{f.dport} (from {f.src}:{f.sport})"
    if branch.disposition == "sent":
        return f"leaves on {f.out_interface} to {f.dst}:{f.dport} (from {f.src}:{f.sport})"
    if branch.decided_by is not None:
        d = branch.decided_by
        return f"by {d.table}:{d.chain}:{d.kind}:{d.rule}"
    return branch.disposition
