"""Each view of a block as the page shows it: a renderer's output with what goes around
it (the Mermaid fence, the result line, the listing's header). Each takes the data the
application layer (``chainwalk.project``) computed and returns Markdown.
"""

from __future__ import annotations

from ..journey import Hop, Journey, Scenario
from ..netfilter import Ruleset, Trace
from ._chains import chains_flowchart
from ._escape import longest_backticks, md_code, md_text
from ._listing import SYN_BYTES, Counters, listing
from ._sequence import sequence


def fenced(kind: str, body: str) -> str:
    """``body`` in a fenced block of ``kind`` (longer fences than any run of backticks)."""
    ticks = "`" * max(3, longest_backticks(body) + 1)
    return f"{ticks}{kind}\n{body}{'' if body.endswith(chr(10)) else chr(10)}{ticks}\n"


def sequence_view(scenario: Scenario, journey: Journey) -> str:
    """The journey's sequence diagram and its result."""
    return (fenced("mermaid", sequence(scenario, journey)) + "\n"
            + f"**Result: {md_text(journey.result)}.** {md_text(journey.reason)}\n")


def chains_view(ruleset: Ruleset, table: str, scenario_id: str = "",
                traces: list[tuple[Hop, Trace]] | None = None) -> str:
    """The table's chains; with ``traces`` (of scenario ``scenario_id`` through this
    ruleset), what they cross highlighted."""
    if not traces:
        return fenced("mermaid", chains_flowchart(ruleset, table))
    steps = [step for _, found in traces for step in found.steps]
    hops = sorted({hop.number for hop, _ in traces})
    note = (f"Highlighted: the chains and rules that {md_code(scenario_id)} crosses "
            f"(hop{'s' if len(hops) > 1 else ''} {', '.join(map(str, hops))}).")
    return fenced("mermaid", chains_flowchart(ruleset, table, steps)) + "\n" + note + "\n"


def listing_view(stem: str, ruleset: Ruleset, table: str, topology: str = "",
                 counters: Counters | None = None, counted: int = 0) -> str:
    """``iptables -L -v -n`` of the table: counters zero, or with ``counters`` those that
    the ``counted`` scenarios of ``topology`` crossing it would leave."""
    header = f"`iptables -t {table} -L -v -n` of {md_code(stem + '.rules')}"
    if counters is None:
        return f"{header}, counters zero:\n\n" + fenced("text", listing(ruleset, table))
    text = (f"{header}, with the counters the {counted} scenarios of "
            f"{md_code(topology)} that cross it would leave: each connection "
            f"counts one packet (its first, a TCP SYN, taken as {SYN_BYTES} bytes) in every "
            "rule it matched and every policy that applied.")
    return text + "\n\n" + fenced("text", listing(ruleset, table, counters))
