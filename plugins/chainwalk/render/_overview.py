"""The ``overview`` view: one pod as a flowchart, in the style of the article's figure.

The pod's processes (the application, its sidecar), the nat chains its connections
cross, and the interfaces they cross (``lo``, ``eth0``) are the nodes; every move of a
connection of two journeys (typically the inbound one, then the outbound one) inside
the pod is an edge. The moves are numbered in the order they happen, which for the
article's two journeys gives the article's steps 1-15: a connection arriving on
``eth0`` enters PREROUTING (1), each jump is a move to the next chain, a REDIRECT
moves to the listener that accepts the connection, and any other end of the walk
moves to the interface the connection leaves on (``lo`` and then its receiver, or
``eth0`` out of the pod).

Where a ruleset's annotations give a rule's ``steps`` (the article's numbers for the
move into the rule's chain and the rule's own move, once per time it is crossed), the
computed numbers must equal them, or the view is a problem naming the annotation:
the figure and the prose can then never disagree.

Below the flowchart, a legend names each numbered move and the rule that made it,
by its number in the ruleset shown and its text.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._errors import ChainwalkError, Location, Problem
from ..journey import Hop, Journey, Scenario
from ..netfilter import Trace
from ..netfilter._trace import Step
from ._annotations import Annotations
from ._escape import md_code, md_text, mermaid_text
from ._journeys import walks
from ._messages import ENGLISH, Messages

# Targets that hand the connection to a listener of their own choosing: the move goes
# from the chain straight to the process that accepts it.
_HANDS_TO_LISTENER = ("REDIRECT", "TPROXY", "DNAT")


@dataclass(frozen=True)
class Move:
    """One numbered edge: from a node to a node, made by ``rule`` when a rule made it."""

    step: int
    source: str  # node key: "process NAME", "chain NAME", "interface NAME", "end OUTCOME"
    target: str
    rule: Step | None = None


def _process(hop: Hop, receiving: bool) -> str:
    return f"process {hop.receiver_process if receiving else hop.process}"


def _nat_walk(trace: Trace, hook: str) -> list[tuple[str, int]]:
    """The chain path, ``[(chain, deciding rule)]``, of the trace's nat walk at ``hook``
    (none: nat was not consulted)."""
    for walk in walks(trace):
        if walk.table == "nat" and walk.hook == hook:
            return list(walk.path)
    return []


def _rule_step(trace: Trace, chain: str, number: int) -> Step | None:
    for step in trace.steps:
        if step.kind == "rule" and step.table == "nat" and step.chain == chain \
                and step.rule == number and step.hit:
            return step
    return None


class _Moves:
    def __init__(self) -> None:
        self.moves: list[Move] = []

    def add(self, source: str, target: str, rule: Step | None = None) -> None:
        self.moves.append(Move(len(self.moves) + 1, source, target, rule))

    def walk(self, trace: Trace, hook: str, start: str, hop: Hop, receiving_here: bool,
             leaves_on: str | None) -> None:
        """From ``start`` through the nat walk of ``trace`` to where the connection goes
        next in this pod (the listener, an interface, or the failure)."""
        path = _nat_walk(trace, hook)
        here = start
        end: Step | None = None
        for chain, number in path:
            self.add(here, f"chain {chain}", end)
            here = f"chain {chain}"
            end = _rule_step(trace, chain, number) if number else None
        target = end.target if end is not None else None
        if receiving_here and hop.receiver_process is not None and \
                target in _HANDS_TO_LISTENER:
            self.add(here, _process(hop, True), end)
            return
        if leaves_on is not None:
            self.add(here, f"interface {leaves_on}", end)
            if receiving_here and hop.receiver_process is not None:
                self.add(f"interface {leaves_on}", _process(hop, True))
            return
        if receiving_here and hop.receiver_process is not None:
            self.add(here, _process(hop, True), end)
            return
        self.add(here, f"end {hop.outcome}", end)


def moves_in_pod(pod: str, journeys: list[Journey]) -> list[Move]:
    """Every move of the journeys' connections inside ``pod``, numbered from 1."""
    found = _Moves()
    for journey in journeys:
        for hop in journey.hops:
            stays = hop.prerouting_trace is None
            if hop.pod == pod:
                if stays:
                    lo = hop.output_trace.final.in_interface
                    found.walk(hop.output_trace, "OUTPUT", _process(hop, False), hop,
                               hop.receiver_pod == pod, lo)
                else:
                    found.walk(hop.output_trace, "OUTPUT", _process(hop, False), hop, False,
                               hop.output_trace.final.out_interface or "network")
            if hop.receiver_pod == pod and hop.prerouting_trace is not None:
                arriving = hop.prerouting_trace
                interface = f"interface {arriving.packet.in_interface or 'network'}"
                found.walk(arriving, "PREROUTING", interface, hop, True, None)
    return found.moves


def computed_steps(moves: list[Move]) -> dict[tuple[str, str], list[int]]:
    """For each nat rule that moved a connection, by (chain, normal form): for each time it
    did, the number of the move into its chain and its own move's number."""
    computed: dict[tuple[str, str], list[int]] = {}
    for before, move in zip([None, *moves], moves, strict=False):
        if move.rule is None:
            continue
        into = before.step if before is not None and before.target == move.source else 0
        computed.setdefault((move.rule.chain, move.rule.text), []).extend([into, move.step])
    return computed


def check_steps(moves: list[Move], notes: Annotations) -> list[Problem]:
    """Problems where an annotated nat rule's ``steps`` differ from the computed moves."""
    problems = []
    for (chain, spec), numbers in computed_steps(moves).items():
        note = notes.get("nat", chain, spec)
        if note is not None and note.steps and list(note.steps) != numbers:
            problems.append(Problem(
                note.where("steps") or Location(notes.path, 0),
                f"the rule's steps disagree with the computed overview ({chain}: {spec})",
                str(list(note.steps)), f"steps: {numbers}"))
    return problems


def _node(key: str, msg: Messages) -> tuple[str, str]:
    """A node's label and Mermaid shape brackets."""
    kind, _, name = key.partition(" ")
    if kind == "process":
        return name, '(["{}"])'
    if kind == "chain":
        return name, '["{}"]'
    if kind == "interface":
        return name, '(("{}"))'
    return msg(f"outcome.{name}"), '{{{{"{}"}}}}'


# Mermaid's spacing between ranks and nodes, halved: the figure must fit the text column
# without shrinking its 16 px labels below 11 px.
_COMPACT = ("---", "config:", "  flowchart:", "    rankSpacing: 10", "    nodeSpacing: 16",
            "    padding: 4", "    diagramPadding: 2", "---")


def overview(moves: list[Move], msg: Messages = ENGLISH) -> str:
    """The Mermaid source (no fence) of a pod's flowchart, its moves numbered."""
    ids: dict[str, str] = {}
    nodes: list[str] = []
    for move in moves:
        for key in (move.source, move.target):
            if key not in ids:
                ids[key] = f"n{len(ids) + 1}"
                label, shape = _node(key, msg)
                nodes.append(f"    {ids[key]}{shape.format(mermaid_text(label))}")
    edges: dict[tuple[str, str], list[int]] = {}
    for move in moves:
        edges.setdefault((move.source, move.target), []).append(move.step)
    lines = [*_COMPACT, "flowchart LR", *nodes]
    for (source, target), steps in edges.items():
        label = mermaid_text(", ".join(map(str, steps)))
        lines.append(f'    {ids[source]} -->|"{label}"| {ids[target]}')
    return "\n".join(lines) + "\n"


def _describe(key: str, msg: Messages) -> str:
    kind, _, name = key.partition(" ")
    return name if kind != "end" else msg("overview.fails", outcome=msg(f"outcome.{name}"))


def legend(moves: list[Move], msg: Messages = ENGLISH) -> str:
    """The Markdown table naming each move and the rule that made it."""
    header = [msg(f"overview.column.{name}") for name in ("step", "move", "rule")]
    lines = ["| " + " | ".join(header) + " |", "| --- | --- | --- |"]
    for move in moves:
        rule = ""
        if move.rule is not None:
            rule = (md_text(f"{move.rule.chain} #{move.rule.rule}") + " "
                    + md_code(move.rule.text))
        arrow = (md_text(_describe(move.source, msg)) + " &#8594; "
                 + md_text(_describe(move.target, msg)))
        lines.append(f"| {move.step} | {arrow} | {rule or ' '} |")
    return "\n".join(lines) + "\n"


def shared_pod(first: Journey, then: Journey) -> str | None:
    """The pod the first journey ends in, when the second starts there."""
    if not first.hops or not then.hops:
        return None
    ends = first.hops[-1].receiver_pod
    return ends if ends is not None and ends == then.hops[0].pod else None


def no_pod_problem(first: Scenario, then: Scenario) -> ChainwalkError:
    where = first.location or Location(first.topology.path, 0)
    return ChainwalkError([Problem(where, f"scenario {first.id} does not end in the pod "
                                   f"where {then.id} starts", None,
                                   "a pod: key naming the pod to draw")])
