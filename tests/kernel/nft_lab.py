"""The kernel harness for nftables rulesets: the iptables harness's pods, clients and
landing pass (``netns``), with the ruleset loaded by ``nft -f`` and counters read from
``nft -j list ruleset``.

Rules are named as chainwalk's JSON names them: table, chain, 1-based position (the
family and handle are checked too). Only rules with a ``counter`` can be judged by their
counters; the others are judged through the landing pass. The counting pod's harness is an
nftables table of its own whose base chains run first (priority -1000) and drop, like the
iptables harness's raw rules, the pod's IPv6 link-local and multicast chatter (an inet
table's rules see it while an IPv4 probe runs) and every packet that is not the first of its
connection.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property

from kernel_probes import Ruleset
from netns import (
    HARNESS_TAG,
    Counters,
    Family,
    Lab,
    RuleRef,
    in_netns,
)

# What no probe sends (see ``netns._Stack.chatter``): dropped uncounted, since it is no
# answer to the probe.
HARNESS_CHATTER = ("ip6 saddr fe80::/10 drop", "ip6 daddr ff00::/8 drop")
# Every packet but the first of its connection: counted, as the probe's answer.
HARNESS_ANSWERS = (
    "tcp flags & (fin | syn | rst | ack) != syn counter drop",
    "meta l4proto icmp counter drop",
    "icmpv6 type destination-unreachable counter drop",
)


def _harness_chain(name: str, hook: str) -> str:
    rules = "".join(f"        {rule}\n" for rule in (*HARNESS_CHATTER, *HARNESS_ANSWERS))
    return (f"    chain {name} {{\n        type filter hook {hook} priority -1000; "
            f"policy accept;\n{rules}    }}\n")


HARNESS = (f"table inet {HARNESS_TAG} {{\n{_harness_chain('pre', 'prerouting')}"
           f"{_harness_chain('out', 'output')}}}\n")


@dataclass(frozen=True)
class NftRuleset(Ruleset):
    """An nftables ruleset file for the probes (``nat_ports``: its redirect/dnat ports)."""

    @cached_property
    def nat_ports(self) -> frozenset[int]:
        ports: set[int] = set()
        for low, high in re.findall(r"(?:redirect|dnat|tproxy)[^\n]*?:(\d+)(?:-(\d+))?",
                                    self.text):
            ports.update(range(int(low), int(high or low) + 1))
        return frozenset(ports)


class NftCounters(Counters):
    """Counters read from ``nft -j list ruleset``; ``text`` holds each rule's statements."""

    def verdicts(self) -> set[str]:
        return {"REJECT" if "reject" in self.text[ref] else "DROP" for ref in self.hits
                if re.search(r'"(drop|reject)"', self.text[ref])}

    def since(self, earlier: Counters) -> NftCounters:
        base = super().since(earlier)
        return NftCounters(base.packets, base.text, base.harness_packets, base.policy_drops)


def read_nft_counters(netns: str) -> NftCounters:
    doc = json.loads(in_netns(netns, "nft", "-j", "list", "ruleset"))
    packets: dict[RuleRef, int] = {}
    text: dict[RuleRef, str] = {}
    positions: dict[tuple[str, str, str], int] = {}
    harness = 0
    for item in doc["nftables"]:
        rule = item.get("rule")
        if rule is None:
            continue
        key = (rule["family"], rule["table"], rule["chain"])
        position = positions[key] = positions.get(key, 0) + 1
        counted = next((e["counter"]["packets"] for e in rule["expr"] if "counter" in e), None)
        if rule["table"] == HARNESS_TAG:
            harness += counted or 0
            continue
        if counted is None:
            continue
        ref = RuleRef(rule["table"], rule["chain"], position)
        packets[ref] = counted
        text[ref] = f"handle {rule['handle']}: " + json.dumps(
            [e for e in rule["expr"] if "counter" not in e])
    return NftCounters(packets, text, harness, 0)


def load_nft(netns: str, ruleset: str, with_harness: bool) -> None:
    """Replace everything in the namespace (iptables-nft's tables too) with ``ruleset``."""
    in_netns(netns, "nft", "flush", "ruleset")
    in_netns(netns, "nft", "-f", "-", stdin=ruleset)
    if with_harness:
        in_netns(netns, "nft", "-f", "-", stdin=HARNESS)


class NftLab(Lab):
    """The counting and landing pods with nftables rulesets (see ``netns.Lab``)."""

    def use(self, ruleset: str, family: Family = 4, open_return_path: bool = False) -> None:
        assert not open_return_path, "the nftables harness has no open return path"
        if self._loaded.get(4) == (ruleset, False):
            return
        self._loaded.clear()
        load_nft(self.counting.pod, ruleset, True)
        load_nft(self.landing.pod, ruleset, False)
        self._loaded[4] = (ruleset, False)
