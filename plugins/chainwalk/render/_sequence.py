"""The ``sequence`` view: a journey as a Mermaid sequence diagram, in the style of the
article's figure (each chain crossed and each listener reached is a numbered step).

Each pod is a box holding the processes the journey touches, the pod's ``iptables``
and its sidecar. A hop is drawn as: the sender's connect to its pod's iptables; one
self-message per chain entered; a note per table walk naming the deciding rules
(``OUTPUT #1 -> ISTIO_OUTPUT #9 -> ISTIO_REDIRECT #1: REDIRECT :15001``); the
crossing to another pod (which enters that pod's PREROUTING); and the listener that
accepts it. A failure (a loop, a refusal, a blackhole, a drop, the hop limit) is a
crossed arrow in a red band, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..journey import Hop, Journey, Scenario
from ..netfilter import Trace
from ..netfilter._trace import Step
from ._escape import mermaid_text
from ._journeys import Walk, hostport, walks

FAIL_BAND = "rect rgba(220, 53, 69, 0.18)"
BOX = "rgba(127, 127, 127, 0.08)"


@dataclass(slots=True)
class _Actor:
    id: str
    pod: str
    label: str


class _Diagram:
    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
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

    def kernel(self, pod: str) -> str:
        return self.actor(pod, "kernel", "iptables")

    def process(self, pod: str, name: str, uid: int) -> str:
        found = self.scenario.topology.pod(pod)
        sidecar = found.sidecar if found is not None else None
        if sidecar is not None and name == sidecar.kind:
            return self.actor(pod, "sidecar", f"{name} (sidecar)")
        return self.actor(pod, f"app {name}", name)

    def say(self, line: str) -> None:
        self.lines.append("    " + line)

    def render(self) -> str:
        out = ["sequenceDiagram", "    autonumber"]
        if self.scenario.title:
            out.append(f"    title {mermaid_text(self.scenario.title)}")
        for pod in self.pods:
            out.append(f"    box {BOX} pod {mermaid_text(pod)}")
            out.extend(f"        participant {a.id} as {mermaid_text(a.label)}"
                       for a in self.actors.values() if a.pod == pod)
            out.append("    end")
        return "\n".join(out + self.lines) + "\n"


# A line break inside a Mermaid label (the only markup labels carry), HTML-escaped:
# the site puts diagram source in a <code> element and Mermaid reads its text.
BREAK = "&lt;br/&gt;"

def _chain(table: str, chain: str) -> str:
    return chain if table == "nat" else f"{table} {chain}"


def decision(step: Step) -> str:
    """``REDIRECT :15001``, ``DNAT 10.0.0.1:53``, ``RETURN``, ``policy DROP``..."""
    if step.kind == "policy":
        return f"policy {step.result}"
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


def walk_note(walk: Walk) -> str:
    """The deciding rules of one table walk, e.g. ``OUTPUT #1 -> ISTIO_OUTPUT #3: RETURN``."""
    parts = [mermaid_text(_chain(walk.table, chain) if i == 0 else chain)
             + (f" #35;{number}" if number else "")
             for i, (chain, number) in enumerate(walk.path)]
    # One chain a line: a note is as wide as its longest line, and a wide note pushes
    # every participant after it to the right.
    text = BREAK.join(parts[:1] + ["-> " + p for p in parts[1:]])
    if walk.end is not None:
        text += "#58; " + mermaid_text(decision(walk.end))
    return text


def _trace(d: _Diagram, trace: Trace, kernel: str) -> None:
    for walk in walks(trace):
        if not walk.decided:
            continue
        for chain, _ in walk.path[1:]:
            d.say(f"{kernel}->>{kernel}: {mermaid_text(_chain(walk.table, chain))}")
        d.say(f"Note right of {kernel}: {walk_note(walk)}")


def _fail(d: _Diagram, source: str, target: str, text: str) -> None:
    d.say(FAIL_BAND)
    d.say(f"    {source}-x{target}: {mermaid_text(text)}")
    d.say("end")


def _failure_text(hop: Hop) -> str:
    return f"{hop.outcome}: {hop.notes[-1]}" if hop.notes else hop.outcome


def _hop(d: _Diagram, hop: Hop, journey: Journey) -> None:
    sender = d.process(hop.pod, hop.process, hop.uid)
    kernel = d.kernel(hop.pod)
    pod = d.scenario.topology.pod(hop.pod)
    bound = "" if pod is not None and hop.src in pod.addresses else f"from {hop.src} "
    connect = (mermaid_text(f"connect {hostport(hop.dst, hop.dport)}") + BREAK
               + mermaid_text(f"{bound}(uid {hop.uid})"))
    d.say(f"{sender}->>{kernel}: {connect}")
    _trace(d, hop.output_trace, kernel)
    here = kernel
    arriving = hop.prerouting_trace
    if arriving is not None and hop.receiver_pod is not None:
        there = d.kernel(hop.receiver_pod)
        packet = arriving.packet
        via = hostport(packet.dst, packet.dport)
        final = hop.output_trace.final
        label = mermaid_text(f"eth0 to {via}")
        if (final.dst, final.dport) != (packet.dst, packet.dport):
            label += BREAK + mermaid_text(f"(service {hostport(final.dst, final.dport)})")
        d.say(f"{kernel}->>{there}: {label}")
        _trace(d, arriving, there)
        here = there
    if hop.listener is not None and hop.receiver_pod is not None:
        receiver = d.process(hop.receiver_pod, hop.receiver_process or "", 0)
        label = f"{hop.listener} (original {hop.original})"
        if hop.outcome == "loop":
            _fail(d, here, receiver, f"{label}: loop, as in an earlier hop")
            return
        label = mermaid_text(hop.listener) + BREAK + mermaid_text(f"(original {hop.original})")
        d.say(f"{here}->>{receiver}: {label}")
        if hop.outcome in ("blackholed", "hop-limit"):
            _fail(d, receiver, receiver, _failure_text(hop) if hop.outcome == "blackholed"
                  else f"hop limit: {journey.reason}")
        return
    failed_at = d.kernel(hop.receiver_pod) if hop.receiver_pod else here
    _fail(d, here, failed_at, _failure_text(hop))


def sequence(scenario: Scenario, journey: Journey) -> str:
    """The Mermaid source (no fence) of ``journey``'s sequence diagram."""
    d = _Diagram(scenario)
    for hop in journey.hops:
        _hop(d, hop, journey)
    return d.render()
