"""The ``listing`` view: ``iptables -t TABLE -L -v -n`` as iptables 1.8.9 prints it.

Column widths, the ``K``/``M`` abbreviation of counters, ``(N references)`` and the
trailing spaces are the real command's (``xtables_print_num``, ``print_header``,
``print_rule_details`` in iptables' ``xshared.c``). The counters are the ones a set
of journeys would leave: see :class:`Counters`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ..journey import Journey, Scenario
from ..netfilter import Chain, Option, Rule, Ruleset, Table
from ..netfilter._nft_model import NftRuleset
from ..netfilter._nft_writer import write_nft_ruleset
from ..netfilter._trace import NftStep
from ._iptables_list import address, match_words, protocol_number, target_name, target_words
from ._journeys import traces_with
from ._messages import ENGLISH, Messages

SYN_BYTES = 60  # a TCP SYN with the usual options (MSS, SACK, timestamps, window scale)


@dataclass
class Counters:
    """Packet and byte counters of rules (``(chain, number)``) and policies (chain)."""

    rules: Counter[tuple[str, int]] = field(default_factory=Counter)
    policies: Counter[str] = field(default_factory=Counter)
    packet_bytes: int = SYN_BYTES

    def rule(self, chain: str, number: int) -> tuple[int, int]:
        packets = self.rules[(chain, number)]
        return packets, packets * self.packet_bytes

    def policy(self, chain: str) -> tuple[int, int]:
        packets = self.policies[chain]
        return packets, packets * self.packet_bytes


def number(value: int, table: bool = True) -> str:
    """``xtables_print_num`` without ``-x``: 5 columns, then K, M, G, T (rounded)."""
    if value <= 99999:
        return f"{value:5d} " if table else f"{value} "
    for unit in "KMGT":
        value = (value + 500) // 1000
        if value <= 9999 or unit == "T":
            return f"{value:4d}{unit} " if table else f"{value}{unit} "
    raise AssertionError("unreachable")


def _references(table: Table, chain: Chain) -> int:
    return sum(1 for c in table.chains for r in c.rules
               if r.target is not None and r.target.is_chain and r.target.name == chain.name)


def _base(rule: Rule) -> dict[str, Option]:
    base = rule.match("")
    return {o.name: o for o in base.options} if base else {}


def rule_line(rule: Rule, family: int, counts: tuple[int, int]) -> str:
    base = _base(rule)
    line = number(counts[0]) + number(counts[1])
    line += f"{target_name(rule):<9} "
    proto = base.get("protocol")
    line += ("!" if proto is not None and proto.negated else " ")
    line += f"{protocol_number(proto.value) if proto else '0':<4} "
    fragment = base.get("fragment")
    line += ("!" if fragment is not None and fragment.negated else "-")
    line += ("f" if fragment is not None else "-") + " "
    anywhere = "0.0.0.0/0" if family == 4 else "::/0"
    for name, width in (("in-interface", " %-6s "), ("out-interface", "%-6s ")):
        option = base.get(name)
        text = ("!" if option is not None and option.negated else "") + (
            option.value if option is not None else "*")
        line += width % text
    for name in ("source", "destination"):
        option = base.get(name)
        line += "!" if option is not None and option.negated else " "
        line += f"{address(option.value, family) if option else anywhere:<19} "
    if rule.target is not None and rule.target.goto:
        line += "[goto] "
    return line + match_words(rule) + target_words(rule)


def listing(ruleset: Ruleset, table_name: str, counters: Counters | None = None) -> str:
    """The listing of one table (empty when the ruleset has no such table)."""
    table = ruleset.table(table_name)
    if table is None:
        return ""
    counters = counters or Counters()
    blocks = []
    for chain in table.chains:
        if chain.builtin:
            packets, octets = counters.policy(chain.name)
            head = (f"Chain {chain.name} (policy {chain.policy} {number(packets, False)}"
                    f"packets, {number(octets, False)}bytes)")
        else:
            head = f"Chain {chain.name} ({_references(table, chain)} references)"
        lines = [head, " pkts bytes target     prot opt in     out     source               "
                 "destination         "]
        lines.extend(rule_line(rule, ruleset.family, counters.rule(chain.name, n))
                     for n, rule in enumerate(chain.rules, start=1))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def protocol_note(ruleset: Ruleset, table_name: str, msg: Messages = ENGLISH) -> str:
    """The sentence saying that the listing's ``prot`` column holds numbers (``-n`` makes
    iptables 1.8.9 print 6, not tcp), with the numbers it holds; "" when it holds none."""
    table = ruleset.table(table_name)
    names: set[str] = set()
    for chain in table.chains if table else []:
        for rule in chain.rules:
            base = rule.match("")
            names.update(o.value for o in (base.options if base else []) if o.name == "protocol")
    numbered = sorted((protocol_number(name), name) for name in names
                      if protocol_number(name) != name)
    if not numbered:
        return ""
    pairs = msg("listing.protocols-joiner").join(
        msg("listing.protocol", number=number, name=name) for number, name in numbered)
    return msg("listing.protocols", pairs=pairs)


def count_journeys(runs: list[tuple[Scenario, Journey]], ruleset_path: str,
                   table: str) -> Counters:
    """The counters ``runs`` leave in ``table`` of the file ``ruleset_path``: each rule
    (and policy) counts one packet per hop trace it matched in."""
    counters = Counters()
    for scenario, journey in runs:
        for _, trace in traces_with(scenario, journey, ruleset_path):
            rules = {(s.chain, s.rule) for s in trace.steps if s.table == table and s.hit}
            policies = {s.chain for s in trace.steps if s.table == table and s.kind == "policy"}
            counters.rules.update(rules)
            counters.policies.update(policies)
    return counters


def count_nft_journeys(runs: list[tuple[Scenario, Journey]],
                       ruleset_path: str) -> dict[tuple[str, str, str, int], tuple[int, int]]:
    """The counters ``runs`` leave in the nftables file ``ruleset_path``, by (table family,
    table, chain, rule position): one packet of ``SYN_BYTES`` per hop trace a rule matched
    in (as :func:`count_journeys` counts for iptables). The kernel counts a packet when it
    reaches the ``counter`` statement: the same for a rule whose counter follows its matches
    (as nft and Istio write them), not for one with a match after its counter."""
    packets: Counter[tuple[str, str, str, int]] = Counter()
    for scenario, journey in runs:
        for _, trace in traces_with(scenario, journey, ruleset_path):
            packets.update({(s.family, s.table, s.chain, s.rule) for s in trace.steps
                            if isinstance(s, NftStep) and s.hit and s.family is not None})
    return {key: (n, n * SYN_BYTES) for key, n in sorted(packets.items())}


def nft_listing(ruleset: NftRuleset,
                counts: dict[tuple[str, str, str, int], tuple[int, int]] | None = None) -> str:
    """``nft list ruleset``, each counter showing ``counts`` (zero without)."""
    return write_nft_ruleset(ruleset, counts=counts or {})
