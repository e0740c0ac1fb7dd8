"""The kernel harness for nftables rulesets: the iptables harness's pods, clients and
landing pass (``netns``), with the ruleset loaded by ``nft -f`` and counters read from
``nft -j list ruleset``.

Rules are named as chainwalk's JSON names them: table, chain, 1-based position (the
family and handle are checked too). Only rules with a ``counter`` can be judged by their
counters; the others are judged through the landing pass. The counting pod's harness is an
nftables table of its own whose base chains run first (priority -1000) and drop every packet
that is not the first of its connection, like the iptables harness's raw rules, and IPv6's
link-local and multicast chatter (an inet table's rules see it while an IPv4 probe runs;
neighbours are pinned instead).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from functools import cached_property

from kernel_probes import Ruleset
from netns import (
    GATEWAY_IP6,
    HARNESS_TAG,
    POD_IP6,
    Client,
    Counters,
    Family,
    FirstPacket,
    Lab,
    RuleRef,
    Topology,
    flush_conntrack,
    in_netns,
    started,
)

SETTLE_MAX_S = 0.3

HARNESS = f"""table inet {HARNESS_TAG} {{
    chain pre {{
        type filter hook prerouting priority -1000; policy accept;
        ip6 saddr fe80::/10 drop
        ip6 daddr ff00::/8 drop
        tcp flags & (fin | syn | rst | ack) != syn counter drop
        meta l4proto icmp counter drop
        icmpv6 type destination-unreachable counter drop
    }}
    chain out {{
        type filter hook output priority -1000; policy accept;
        tcp flags & (fin | syn | rst | ack) != syn counter drop
        meta l4proto icmp counter drop
        icmpv6 type destination-unreachable counter drop
    }}
}}
"""


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


def _pin_neighbours(topology: Topology) -> None:
    """Permanent neighbour entries between the pod's eth0 and the network's end of it: a
    neighbour solicitation would otherwise cross prerouting during a probe, and counted by
    a rule that matches every packet (Istio's ``counter jump istio-inbound``) it would look
    like the probe's packet."""
    ends = {}
    for netns in (topology.pod, topology.network):
        for link in json.loads(in_netns(netns, "ip", "-j", "addr", "show")):
            addresses = {a["local"] for a in link.get("addr_info", [])}
            if addresses & {POD_IP6, GATEWAY_IP6}:
                ends[netns] = (link["ifname"], link["address"], addresses)
    (pod_if, pod_mac, pod_addrs), (net_if, net_mac, net_addrs) = \
        ends[topology.pod], ends[topology.network]
    for netns, dev, mac, peers in ((topology.pod, pod_if, net_mac, net_addrs),
                                   (topology.network, net_if, pod_mac, pod_addrs)):
        for peer in sorted(peers):
            if peer.startswith("fe80") or (":" not in peer and not peer.startswith("10.0.0.")):
                continue
            in_netns(netns, "ip", "neigh", "replace", peer, "lladdr", mac, "dev", dev,
                     "nud", "permanent")


class NftLab(Lab):
    """The counting and landing pods with nftables rulesets (see ``netns.Lab``)."""

    @classmethod
    def create(cls, tag: str) -> NftLab:
        lab = super().create(tag)
        try:
            for topology in (lab.counting, lab.landing):
                _pin_neighbours(topology)
        except BaseException:
            lab.destroy()
            raise
        assert isinstance(lab, NftLab)
        return lab

    def use(self, ruleset: str, family: Family = 4, open_return_path: bool = False) -> None:
        assert not open_return_path, "the nftables harness has no open return path"
        if self._loaded.get(4) == (ruleset, False):
            return
        self._loaded.clear()
        load_nft(self.counting.pod, ruleset, True)
        load_nft(self.landing.pod, ruleset, False)
        self._loaded[4] = (ruleset, False)


def trace_first_packet_nft(topology: Topology, client: Client) -> FirstPacket:
    """``netns.trace_first_packet`` with nftables counters."""
    flush_conntrack(topology.pod)
    flush_conntrack(topology.network)
    before = read_nft_counters(topology.pod)
    with started(client, blocking=False) as running:
        report = running.next_report(timeout=2.0)
        deadline = time.monotonic() + SETTLE_MAX_S
        counted = read_nft_counters(topology.pod).since(before)
        while counted.harness_packets == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
            counted = read_nft_counters(topology.pod).since(before)
    return FirstPacket(counted, report)
