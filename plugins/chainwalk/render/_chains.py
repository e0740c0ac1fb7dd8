"""The ``chains`` view: a table of a ruleset as a Mermaid flowchart, hooks -> chains ->
targets, optionally with one scenario's path drawn over it.

Built-in chains (where the hooks enter the table) are stadiums, user chains boxes,
targets hexagons; every rule is on an edge, labelled with its number: the edge from
``ISTIO_OUTPUT`` to ``ISTIO_REDIRECT`` reads ``#12``. Rules with the same source and
destination share an edge, their numbers written as runs (``#1–3, 5, 8–10``). Rules
that let the packet go on (MARK, LOG, CT...) are dashed edges. A RETURN goes to a
per-chain "return" node. With a highlighted scenario, the chains its traces crossed
are drawn in the accent colour, and each rule that matched has an edge of its own,
thick in the accent colour.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..netfilter import Chain, Rule, Ruleset, Table
from ..netfilter._trace import Step
from ._escape import mermaid_text
from ._words import target_words

ACCENT = "#e8590c"
_CONTINUING = ("MARK", "CONNMARK", "LOG", "CT", "NOTRACK", "TRACE")


def _target_label(rule: Rule) -> str:
    assert rule.target is not None
    return (rule.target.name + target_words(rule)).strip()


class _Graph:
    def __init__(self, table: Table) -> None:
        self.table = table
        self.ids: dict[str, str] = {}
        self.nodes: list[str] = []
        self.edges: list[tuple[str, str, list[int], bool, bool]] = []

    def node(self, key: str, shape: tuple[str, str], label: str) -> str:
        if key not in self.ids:
            self.ids[key] = f"n{len(self.ids) + 1}"
            self.nodes.append(f'    {self.ids[key]}{shape[0]}"{mermaid_text(label)}"{shape[1]}')
        return self.ids[key]

    def chain(self, chain: Chain) -> str:
        if chain.builtin:
            return self.node(f"chain {chain.name}", ("([", "])"),
                             f"{chain.name} (policy {chain.policy})")
        return self.node(f"chain {chain.name}", ("[", "]"), chain.name)

    def edge(self, source: str, target: str, number: int, dashed: bool, hit: bool) -> None:
        """The rule's edge: its own when ``hit``, else shared with its siblings'."""
        for edge in self.edges:
            if not hit and not edge[4] and edge[:2] == (source, target) and edge[3] == dashed:
                edge[2].append(number)
                return
        self.edges.append((source, target, [number], dashed, hit))


def runs(numbers: list[int]) -> str:
    """``#1–3, 5, 8–10``: ascending rule numbers, consecutive ones as a run."""
    parts: list[str] = []
    start = previous = numbers[0]
    for number in [*numbers[1:], None]:
        if number is not None and number == previous + 1:
            previous = number
            continue
        parts.append(str(start) if start == previous else
                     f"{start}{'–' if previous > start + 1 else ', '}{previous}")
        if number is not None:
            start = previous = number
    return "#" + ", ".join(parts)


def chains_flowchart(ruleset: Ruleset, table_name: str,
                     hits: Iterable[Step] = ()) -> str:
    """The Mermaid source (no fence) of ``table_name``'s flowchart; ``hits`` are the
    steps (of traces through this ruleset) to highlight."""
    table = ruleset.table(table_name)
    assert table is not None
    g = _Graph(table)
    steps = [step for step in hits if step.table == table_name]
    hit_rules = {(step.chain, step.rule) for step in steps if step.hit}
    for chain in table.chains:
        g.chain(chain)
    for chain in table.chains:
        source = g.chain(chain)
        for number, rule in enumerate(chain.rules, start=1):
            target = rule.target
            if target is None:
                continue
            if target.is_chain:
                found = table.chain(target.name)
                assert found is not None
                dest = g.chain(found)
            elif target.name == "RETURN":
                dest = g.node(f"return {chain.name}", ("((", "))"), "return")
            else:
                label = _target_label(rule)
                dest = g.node(f"target {label}", ("{{", "}}"), label)
            g.edge(source, dest, number, (not target.is_chain) and target.name in _CONTINUING,
                   (chain.name, number) in hit_rules)
    lines = ["flowchart LR", *g.nodes]
    hit_nodes: list[str] = []
    hit_edges: list[int] = []
    for step in steps:
        chain_id = g.ids.get(f"chain {step.chain}")
        if chain_id and chain_id not in hit_nodes:
            hit_nodes.append(chain_id)
    for index, (source, dest, numbers, dashed, hit) in enumerate(g.edges):
        label = mermaid_text(runs(numbers))
        arrow = "-.->" if dashed else "-->"
        lines.append(f'    {source} {arrow}|"{label}"| {dest}')
        if hit:
            hit_edges.append(index)
            if dest not in hit_nodes:
                hit_nodes.append(dest)
    if hit_nodes:
        lines.append(f"    classDef hit stroke:{ACCENT},stroke-width:3px")
        lines.append(f"    class {','.join(hit_nodes)} hit")
    if hit_edges:
        lines.append(f"    linkStyle {','.join(map(str, hit_edges))} "
                     f"stroke:{ACCENT},stroke-width:3px")
    return "\n".join(lines) + "\n"
