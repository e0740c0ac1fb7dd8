"""Reading journeys for the views: which traces ran through which ruleset file, and a
trace's rule decisions grouped the way a person reads them.

A hop's OUTPUT trace ran in the sender's pod and its PREROUTING trace in the receiving
pod, each with that pod's ruleset for the hop's address family. A pod whose rules a
scenario's what-ifs edit ran an edited copy, so its traces say nothing about the file
and are left out.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..journey import Hop, Journey, Pod, RuleEdit, Scenario
from ..netfilter import Trace
from ..netfilter._trace import Step


def _edited(pod: Pod, scenario: Scenario) -> bool:
    return any(isinstance(w, RuleEdit) and (w.pod == pod.name or
                                            (w.pod == "" and bool(pod.ruleset_path)))
               for w in scenario.what_ifs)


def _ruleset_of(pod: Pod | None, hop: Hop) -> str:
    if pod is None:
        return ""
    return pod.ruleset6_path if ":" in hop.dst else pod.ruleset_path


def traces_with(scenario: Scenario, journey: Journey, ruleset_path: str
                ) -> Iterator[tuple[Hop, Trace]]:
    """The (hop, trace) pairs of ``journey`` that ran through the file ``ruleset_path``."""
    topology = scenario.topology
    for hop in journey.hops:
        for pod_name, found in ((hop.pod, hop.output_trace),
                                (hop.receiver_pod, hop.prerouting_trace)):
            if found is None or pod_name is None:
                continue
            pod = topology.pod(pod_name)
            if pod is not None and _ruleset_of(pod, hop) == ruleset_path and \
                    not _edited(pod, scenario):
                yield hop, found


_CONTINUING = ("LOG", "TRACE")


@dataclass(slots=True)
class Walk:
    """One table's walk at one hook, as the kernel's chain stack saw it.

    ``path`` is the stack of chains, ``[(chain, rule number)]``, at the step that
    ends the walk: each number is the rule that jumped onward or, for the last
    chain, the rule that decided. ``end`` is the last rule whose target did something
    (a verdict, RETURN, NAT, a mark), or the policy when none did or when it is not
    ACCEPT; ``None`` when the walk had no steps. ``hits`` are all rules that matched.
    """

    table: str
    hook: str
    path: tuple[tuple[str, int], ...]
    end: Step | None
    hits: tuple[Step, ...]

    @property
    def decided(self) -> bool:
        """Something a reader should see happened: a rule matched, or a policy other
        than ACCEPT applied."""
        if self.hits:
            return True
        return self.end is not None and self.end.kind == "policy" and self.end.result != "ACCEPT"


def walks(trace: Trace) -> list[Walk]:
    """The trace's rule steps grouped into one :class:`Walk` per table and hook."""
    groups: list[list[Step]] = []
    key: tuple[str, str] | None = None
    for step in trace.steps:
        if step.kind == "event":
            continue
        if (step.table, step.hook) != key:
            groups.append([])
            key = (step.table, step.hook)
        groups[-1].append(step)
    return [_walk(group) for group in groups]


def _walk(steps: list[Step]) -> Walk:
    stack: list[tuple[str, int]] = []
    deepest: list[tuple[str, int]] = []
    path: list[tuple[str, int]] = []
    end: Step | None = None
    for step in steps:
        names = [chain for chain, _ in stack]
        if step.chain in names:
            del stack[names.index(step.chain) + 1:]
        else:
            stack.append((step.chain, 0))
        if len(stack) > len(deepest):
            deepest = list(stack)
        if step.kind == "policy":
            if end is None or step.result != "ACCEPT":
                end, path = step, (list(deepest) if end is None else list(stack))
            continue
        if not step.hit or step.target is None or step.target in _CONTINUING:
            continue
        stack[-1] = (step.chain, step.rule)
        if step.jump is None:
            end, path = step, list(stack)
    return Walk(steps[0].table, steps[0].hook, tuple(path or deepest), end,
                tuple(s for s in steps if s.hit))


def hostport(address: str, port: int | None) -> str:
    host = f"[{address}]" if ":" in address else address
    return host if port is None else f"{host}:{port}"
