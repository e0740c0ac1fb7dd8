"""The ``sequence`` view: a journey as a Mermaid sequence diagram.

Each pod is a box holding the processes the journey touches; the kernel is not a
lifeline of its own, so a diagram has one lifeline per process and fits the text
column. A hop is one arrow, from the socket that opened the connection to the socket
that accepted it (``connect 10.96.0.12:9080``, then where it landed when NAT moved
it), preceded by a note over the sender naming the nat rules its OUTPUT walk crossed,
one chain a line (``OUTPUT #1``, ``ISTIO_OUTPUT #11``, ``ISTIO_REDIRECT #1``,
``REDIRECT :15001``), and, when it crosses to another pod, a note over the receiver
for that pod's PREROUTING walk. Rules are named by their number in the ruleset the
pod runs; the trace table gives their text. A failure (a loop, a refusal, a
blackhole, a drop, the hop limit) is a crossed arrow in a red band, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..journey import Hop, Journey, Scenario
from ..netfilter import Trace, hostport
from ..netfilter._trace import Step
from ._escape import mermaid_text
from ._journeys import Numbering, Walk, walks
from ._messages import ENGLISH, Messages

FAIL_BAND = "rect rgba(220, 53, 69, 0.18)"
BOX = "rgba(127, 127, 127, 0.08)"


@dataclass(slots=True)
class _Actor:
    id: str
    pod: str
    label: str


class _Diagram:
    def __init__(self, scenario: Scenario, numbering: Numbering, msg: Messages) -> None:
        self.scenario = scenario
        self.numbering = numbering
        self.msg = msg
        self.actors: dict[tuple[str, str], _Actor] = {}
        self.pods: list[str] = []
        self.lines: list[str] = []

    def actor(self, pod: str, role: str, label: str) -> str:
        key = (pod, role)
        if key not in self.actors:
            if pod not in self.pods:
                self.pods.append(pod)
            self.actors[key] = _Actor(f"a{len(self.actors) + 1}", pod, label)
        return self.actors[key].id

    def process(self, pod: str, name: str, uid: int) -> str:
        found = self.scenario.topology.pod(pod)
        sidecar = found.sidecar if found is not None else None
        if sidecar is not None and name == sidecar.kind:
            # ztunnel is the node's, listening in the pod: not the pod's own sidecar.
            label = (self.msg("sequence.in-pod-sockets", name=name) if sidecar.kind == "ztunnel"
                     else self.msg("sequence.sidecar", name=name))
            return self.actor(pod, "sidecar", label)
        return self.actor(pod, f"app {name}", name)

    def say(self, line: str) -> None:
        self.lines.append("    " + line)

    def render(self) -> str:
        # No Mermaid title: Mermaid sizes the drawing without it, and a title wider than
        # the lifelines is cut off. The page shows it as the figure's caption.
        out = ["sequenceDiagram"]
        for pod in self.pods:
            out.append(f"    box {BOX} {mermaid_text(self.msg('sequence.pod', pod=pod))}")
            out.extend(f"        participant {a.id} as {mermaid_text(a.label)}"
                       for a in self.actors.values() if a.pod == pod)
            out.append("    end")
        return "\n".join(out + self.lines) + "\n"


# A line break inside a Mermaid label (the only markup labels carry), HTML-escaped:
# the site puts diagram source in a <code> element and Mermaid reads its text.
BREAK = "&lt;br/&gt;"

def _chain(table: str, chain: str) -> str:
    return chain if table == "nat" else f"{table} {chain}"


def decision(step: Step, msg: Messages = ENGLISH) -> str:
    """``REDIRECT :15001``, ``DNAT 10.0.0.1:53``, ``RETURN``, ``policy DROP``..."""
    if step.kind == "policy":
        return msg("sequence.policy", policy=step.result)
    target = step.target or ""
    options = {option.name: option.value for option in step.target_options}
    if target == "REDIRECT" and "to-ports" in options:
        return f"REDIRECT :{options['to-ports']}"
    if target == "TPROXY" and "on-port" in options:
        return f"TPROXY :{options['on-port']}"
    for key in ("to-destination", "to-source", "set-xmark"):
        if key in options:
            return f"{target} {options[key]}"
    if "zone" in options:
        return f"{target} zone {options['zone']}"
    return target


def walk_lines(walk: Walk, pod: str, numbering: Numbering,
               msg: Messages = ENGLISH) -> list[str]:
    """The deciding rules of one table walk, one chain a line (a note is as wide as its
    longest line): ``OUTPUT #1``, ``ISTIO_OUTPUT #3``, ``RETURN``; numbered as in the
    ruleset file, with the rules a what-if removed from a chain it crossed."""
    lines = [mermaid_text(_chain(walk.table, chain) if i == 0 else chain)
             + (f" #35;{numbering.number(pod, walk.table, chain, number)}" if number else "")
             for i, (chain, number) in enumerate(walk.path)]
    if walk.end is not None:
        lines.append(mermaid_text(decision(walk.end, msg)))
    for chain, _ in walk.path:
        lines.extend(mermaid_text(msg("sequence.removed", chain=chain, number=number))
                     for number, _ in numbering.removed.get((pod, walk.table, chain), []))
    return lines


def _trace(d: _Diagram, trace: Trace, pod: str, over: str) -> None:
    """A note over ``over`` with the rules of each of the trace's decided walks."""
    lines = [line for walk in walks(trace) if walk.decided
             for line in walk_lines(walk, pod, d.numbering, d.msg)]
    if lines:
        d.say(f"Note over {over}: {BREAK.join(lines)}")


# Characters a line of a failure's text: a self-message is as wide as its longest line,
# and the width past the lifeline widens the whole diagram.
FAIL_LINE = 32


def _lines(text: str, width: int) -> str:
    """``text`` as Mermaid text broken into lines of at most ``width`` characters (a
    longer word keeps its own line)."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return BREAK.join(mermaid_text(line) for line in lines)


def _fail(d: _Diagram, source: str, target: str, text: str) -> None:
    d.say(FAIL_BAND)
    d.say(f"    {source}-x{target}: {_lines(text, FAIL_LINE)}")
    d.say("end")


def _failure_text(hop: Hop, msg: Messages) -> str:
    outcome = msg(f"outcome.{hop.outcome}")
    return msg("sequence.failure", outcome=outcome, why=msg.reason(hop.notes[-1])) if hop.notes \
        else outcome


def _hop(d: _Diagram, hop: Hop, journey: Journey) -> None:
    sender = d.process(hop.pod, hop.process, hop.uid)
    pod = d.scenario.topology.pod(hop.pod)
    msg = d.msg
    bound = pod is not None and hop.src in pod.addresses
    label = (mermaid_text(msg("sequence.connect", destination=hostport(hop.dst, hop.dport)))
             + BREAK + mermaid_text(msg("sequence.uid", uid=hop.uid) if bound
                                    else msg("sequence.from-uid", source=hop.src, uid=hop.uid)))
    _trace(d, hop.output_trace, hop.pod, sender)
    arriving = hop.prerouting_trace
    if hop.receiver_pod is None:
        _fail(d, sender, sender, _failure_text(hop, msg))
        return
    if hop.listener is None:
        # Refused, rejected or dropped on the way: the arrow ends in the pod it reached,
        # at its kernel when no process there took part.
        receiver = d.process(hop.receiver_pod, hop.receiver_process, 0) \
            if hop.receiver_process else d.actor(hop.receiver_pod, "kernel", msg("sequence.kernel")) \
            if hop.receiver_pod != hop.pod else sender
        if arriving is not None and receiver != sender:
            _trace(d, arriving, hop.receiver_pod, receiver)
        _fail(d, sender, receiver, _failure_text(hop, msg))
        return
    receiver = d.process(hop.receiver_pod, hop.receiver_process or "", 0)
    if arriving is not None:
        _trace(d, arriving, hop.receiver_pod, receiver)
    landed = hop.listener.rpartition(" ")[2]
    if hop.original != hostport(hop.dst, hop.dport) or landed != f":{hop.dport}":
        label += BREAK + mermaid_text(msg("sequence.lands", where=landed))
    if hop.outcome == "loop":
        _fail(d, sender, receiver, msg("sequence.loop", listener=hop.listener))
        return
    d.say(f"{sender}->>{receiver}: {label}")
    if hop.outcome in ("blackholed", "hop-limit"):
        _fail(d, receiver, receiver, _failure_text(hop, msg) if hop.outcome == "blackholed"
              else msg("sequence.hop-limit", reason=msg.reason(journey.reason)))


def sequence(scenario: Scenario, journey: Journey, numbering: Numbering,
             msg: Messages = ENGLISH) -> str:
    """The Mermaid source (no fence) of ``journey``'s sequence diagram."""
    d = _Diagram(scenario, numbering, msg)
    for hop in journey.hops:
        _hop(d, hop, journey)
    return d.render()
