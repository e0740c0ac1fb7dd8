"""The kernel judges the symbolic engine's witnesses: for every rule ``reach`` says some
packet matches (in the site's rulesets, packets sent by a local socket), the witness
packet, sent for real, raises exactly the counters chainwalk's trace names (so the kernel
counts the rule too: the trace matches it, which collecting the probes asserts). A witness that the kernel treated otherwise fails here.

Ambient's and TPROXY's rulesets decide on marks under masks: their witnesses without a
mark are replayed (the lab's client sets no SO_MARK; those with one are checked against
the trace only)."""

from __future__ import annotations

import ipaddress

import pytest
from kernel_compare import POD_ADDRESSES, judge
from kernel_probes import (
    APP,
    CLASSIC,
    CURRENT,
    DNS,
    PROXY,
    TPROXY,
    Identity,
    Probe,
    Ruleset,
    _istio,
)
from netns import GATEWAY_IP, POD_IP, POD_PREFIX, REMOTE_RANGES, Lab

from chainwalk.netfilter import host_with, parse_file, trace
from chainwalk.netfilter._proof import concrete_hits, parse_description, reach
from chainwalk.netfilter._space import Location

pytestmark = pytest.mark.kernel


def _lab_answers(dst: str) -> bool:
    """The lab's network answers for the pod's subnet, loopback and its remote ranges only
    (ambient's 169.254.7.127 is unroutable there)."""
    networks = (f"{POD_IP}/{POD_PREFIX}", "127.0.0.0/8", *REMOTE_RANGES)
    address = ipaddress.ip_address(dst)
    return any(address in ipaddress.ip_network(n, strict=False) for n in networks)


def _probes(ruleset: Ruleset) -> list[tuple[str, Probe, tuple[str, str, int]]]:
    addresses: dict[str, tuple[str, ...]] = {}
    for item in POD_ADDRESSES:
        name, _, address = item.partition("=")
        if ":" not in address:
            addresses[name] = (*addresses.get(name, ()), address)
    host = host_with(addresses)
    parsed = parse_file(str(ruleset.path))
    # Packets a process of the pod sends (a socket, an unprivileged source port).
    described = parse_description("socket sport=32768-60999 tcp mark=0", Location("<test>", 1))
    out = []
    for found in reach(parsed, host, "OUTPUT", described, "nat"):
        w = found.witness
        if w is None or w.uid is None or w.gid is None or w.mark or not _lab_answers(w.dst):
            continue
        who = Identity(f"u{w.uid}g{w.gid}", w.uid, w.gid)
        assert ("nat", found.chain, found.rule) in concrete_hits(trace(parsed, w, host),
                                                                 "OUTPUT")
        out.append((f"{ruleset.name}-{found.chain}-{found.rule}",
                    Probe(ruleset, "output", "tcp", w.dst, w.dport, who, w.src, w.sport),
                    ("nat", found.chain, found.rule)))
    return out


def _arriving_probes(ruleset: Ruleset) -> list[tuple[str, Probe, tuple[str, str, int]]]:
    """For every mangle and nat rule that some connection from the network to the pod
    matches at PREROUTING (from the gateway, without a mark: it crosses namespaces), its
    witness, made by the network's client."""
    host = host_with({"eth0": (POD_IP + "/" + str(POD_PREFIX),)})
    parsed = parse_file(str(ruleset.path))
    described = parse_description(f"tcp in=eth0 mark=0 src={GATEWAY_IP} dst={POD_IP} "
                                  "sport=32768-60999", Location("<test>", 1))
    out = []
    for table in ("mangle", "nat"):
        for found in reach(parsed, host, "PREROUTING", described, table):
            w = found.witness
            if w is None:
                continue
            assert (table, found.chain, found.rule) in concrete_hits(
                trace(parsed, w, host, "PREROUTING"), "PREROUTING")
            out.append((f"{ruleset.name}-in-{table}-{found.chain}-{found.rule}",
                        Probe(ruleset, "prerouting", "tcp", w.dst, w.dport, src=w.src,
                              sport=w.sport), (table, found.chain, found.rule)))
    return out


AMBIENT = _istio("ambient", APP, PROXY)
PROBES = [p for r in (CLASSIC, CURRENT, DNS, AMBIENT, TPROXY) for p in _probes(r)] + \
    [p for r in (CURRENT, TPROXY) for p in _arriving_probes(r)]


@pytest.mark.parametrize("probe", [p for _, p, _ in PROBES], ids=[n for n, _, _ in PROBES])
def test_each_witness_does_in_the_kernel_what_chainwalk_says(probe: Probe, lab: Lab) -> None:
    report = judge(probe, lab)
    if report is not None:
        pytest.fail(report, pytrace=False)
