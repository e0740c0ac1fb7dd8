"""Reading journeys for the views: which traces ran through which ruleset file, and a
trace's rule decisions grouped the way a person reads them.

A hop's OUTPUT trace ran in the sender's pod and its PREROUTING trace in the receiving
pod, each with that pod's ruleset for the hop's address family. A pod whose rules a
scenario's what-ifs edit ran an edited copy, so its traces say nothing about the file
and are left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ..journey import Hop, Journey, Pod, RuleEdit, Scenario
from ..netfilter import Ruleset, Trace, family_of
from ..netfilter._trace import Step


def _edited(pod: Pod, scenario: Scenario) -> bool:
    return any(isinstance(w, RuleEdit) and (w.pod == pod.name or
                                            (w.pod == "" and bool(pod.ruleset_path)))
               for w in scenario.what_ifs)


def _ruleset_of(pod: Pod | None, hop: Hop) -> str:
    if pod is None:
        return ""
    return pod.ruleset6_path if family_of(hop.dst) == 6 else pod.ruleset_path


def traces_with(scenario: Scenario, journey: Journey, ruleset_path: str,
                pod_name: str = "", edited: bool = False) -> Iterator[tuple[Hop, Trace]]:
    """The (hop, trace) pairs of ``journey`` that ran through the file ``ruleset_path``
    (in the pod ``pod_name`` only, when given; with ``edited``, also through a copy the
    scenario's what-ifs edited)."""
    topology = scenario.topology
    for hop in journey.hops:
        for name, found in ((hop.pod, hop.output_trace),
                                (hop.receiver_pod, hop.prerouting_trace)):
            if found is None or name is None or pod_name not in ("", name):
                continue
            pod = topology.pod(name)
            if pod is not None and _ruleset_of(pod, hop) == ruleset_path and \
                    (edited or not _edited(pod, scenario)):
                yield hop, found


class Numbering:
    """Rule numbers as the ruleset files have them, for a journey whose what-ifs edited
    a pod's rules: a trace through an edited copy numbers its rules after the edit
    (deleting rule 3 makes rule 4 the third), but a reader compares with the file, so
    each rule keeps its number there (a rule keeps its file location through an edit).
    ``removed`` lists, per pod and chain, the rules the what-ifs deleted."""

    def __init__(self, scenario: Scenario, journey: Journey,
                 ruleset_at: Callable[[str], Ruleset]) -> None:
        self.numbers: dict[tuple[str, str, str, int], int] = {}
        self.removed: dict[tuple[str, str, str], list[tuple[int, str]]] = {}
        edited = {pod.name: pod for pod in scenario.topology.pods if _edited(pod, scenario)}
        # By line and column: the journey's copy may name the file by another path.
        in_file: dict[str, dict[tuple[int, int], int]] = {}
        for name, pod in edited.items():
            if not pod.ruleset_path:
                continue
            intact = ruleset_at(pod.ruleset_path)
            in_file[name] = {(rule.location.line, rule.location.column): number
                             for table in intact.tables
                             for chain in table.chains
                             for number, rule in enumerate(chain.rules, start=1)
                             if rule.location is not None}
            for edit in scenario.what_ifs:
                if not isinstance(edit, RuleEdit) or edit.action == "insert" or \
                        edit.pod not in ("", name):
                    continue
                chain = intact.chain(edit.table, edit.chain)
                rules = list(chain.rules) if chain is not None else []
                number = next((n for n, rule in enumerate(rules, start=1)
                               if rule.spec == edit.spec), edit.number or 0)
                if 0 < number <= len(rules):
                    self.removed.setdefault((name, edit.table, edit.chain), []).append(
                        (number, rules[number - 1].spec))
        for hop in journey.hops:
            for ran_in, trace in ((hop.pod, hop.output_trace),
                                  (hop.receiver_pod, hop.prerouting_trace)):
                if ran_in is None or ran_in not in in_file or trace is None:
                    continue
                for step in trace.steps:
                    at = step.location
                    found = in_file[ran_in].get((at.line, at.column)) if at else None
                    if step.kind == "rule" and found is not None:
                        self.numbers[(ran_in, step.table, step.chain, step.rule)] = found

    def number(self, pod: str, table: str, chain: str, number: int) -> int:
        """The file's number of the rule a trace in ``pod`` numbered ``number``."""
        return self.numbers.get((pod, table, chain, number), number)


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
