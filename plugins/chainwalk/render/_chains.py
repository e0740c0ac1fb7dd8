"""The ``chains`` view: a table of a ruleset as a Mermaid flowchart, hooks -> chains ->
targets, optionally with one scenario's path drawn over it.

Built-in chains (where the hooks enter the table) are stadiums, user chains boxes,
targets hexagons; every rule is on an edge, labelled with its number: the edge from
``ISTIO_OUTPUT`` to ``ISTIO_REDIRECT`` reads ``#12``. Rules that let the packet go
on (MARK, LOG, CT...) are dashed edges. A RETURN goes to a per-chain "return" node.
With a highlighted scenario, the chains its traces crossed and the edges of the rules
that matched are drawn thick in the accent colour.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..netfilter import Chain, Rule, Ruleset, Table
from ..netfilter._trace import Step
from ._escape import mermaid_text
from ._iptables_list import target_words

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
        self.edges: list[tuple[str, str, list[int], bool]] = []

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

    def edge(self, source: str, target: str, number: int, dashed: bool) -> None:
        for edge in self.edges:
            if edge[:2] == (source, target) and edge[3] == dashed:
                edge[2].append(number)
                return
        self.edges.append((source, target, [number], dashed))


def chains_flowchart(ruleset: Ruleset, table_name: str,
                     hits: Iterable[Step] = ()) -> str:
    """The Mermaid source (no fence) of ``table_name``'s flowchart; ``hits`` are the
    steps (of traces through this ruleset) to highlight."""
    table = ruleset.table(table_name)
    assert table is not None
    g = _Graph(table)
    for chain in table.chains:
        g.chain(chain)
    edge_rules: dict[tuple[str, int], tuple[str, str]] = {}
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
            g.edge(source, dest, number, (not target.is_chain) and target.name in _CONTINUING)
            edge_rules[(chain.name, number)] = (source, dest)
    lines = ["flowchart LR", *g.nodes]
    for source, dest, numbers, dashed in g.edges:
        label = mermaid_text(", ".join(f"#{n}" for n in numbers))
        arrow = "-.->" if dashed else "-->"
        lines.append(f'    {source} {arrow}|"{label}"| {dest}')
    hit_nodes: list[str] = []
    hit_edges: list[int] = []
    for step in hits:
        if step.table != table_name:
            continue
        chain_id = g.ids.get(f"chain {step.chain}")
        if chain_id and chain_id not in hit_nodes:
            hit_nodes.append(chain_id)
        if step.hit and (step.chain, step.rule) in edge_rules:
            source, dest = edge_rules[(step.chain, step.rule)]
            index = next(i for i, e in enumerate(g.edges) if e[0] == source and e[1] == dest)
            if index not in hit_edges:
                hit_edges.append(index)
            if dest not in hit_nodes:
                hit_nodes.append(dest)
    if hit_nodes:
        lines.append(f"    classDef hit stroke:{ACCENT},stroke-width:3px")
        lines.append(f"    class {','.join(hit_nodes)} hit")
    if hit_edges:
        lines.append(f"    linkStyle {','.join(map(str, sorted(hit_edges)))} "
                     f"stroke:{ACCENT},stroke-width:3px")
    return "\n".join(lines) + "\n"
