"""The kernel judges the symbolic engine's witnesses over nftables rulesets: for every rule
``reach`` says some TCP connection matches (from a local socket at output, from the
network at prerouting), the witness, made for real in pods loaded with ``nft -f``, raises
the counters chainwalk's trace names and lands where it says (``test_nft_kernel``'s judge).
Rulesets: ``current.nft``, ``nft-maps.nft`` (named sets, verdict maps over
concatenations) and, when ``../shared`` is present, two of Istio's sidecar goldens."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from kernel_compare import POD_ADDRESSES
from kernel_probes import APP, PROXY, Identity, Probe
from netns import GATEWAY_IP, POD_IP, POD_PREFIX, REMOTE_RANGES
from nft_lab import NftLab, NftRuleset
from test_nft_kernel import GOLDENS, MAPS
from test_nft_kernel import nft_lab as nft_lab  # the module's lab, shared
from test_nft_kernel import test_chainwalk_traces_nftables_like_the_kernel as judge

from chainwalk.netfilter import host_with, trace
from chainwalk.netfilter._nft_parser import parse_nft_text
from chainwalk.netfilter._proof import concrete_hits, parse_description, reach
from chainwalk.netfilter._space import Location

pytestmark = pytest.mark.kernel

REPO = Path(__file__).resolve().parents[2]
CURRENT = NftRuleset("nft-current", REPO / "rules" / "rulesets" / "current.nft", (APP, PROXY))


def _rulesets() -> list[NftRuleset]:
    found = [CURRENT, MAPS]
    if GOLDENS.is_dir():
        found += [NftRuleset(f"nft-{name}", GOLDENS / f"{name}.golden", (APP, PROXY))
                  for name in ("ipnets", "inbound-ports-include")]
    return found


def _lab_answers(dst: str) -> bool:
    networks = (f"{POD_IP}/{POD_PREFIX}", "127.0.0.0/8", *REMOTE_RANGES)
    address = ipaddress.ip_address(dst)
    return any(address in ipaddress.ip_network(n, strict=False) for n in networks)


def _probes(ruleset: NftRuleset) -> list[tuple[str, Probe]]:
    addresses: dict[str, tuple[str, ...]] = {}
    for item in POD_ADDRESSES:
        name, _, address = item.partition("=")
        if ":" not in address:
            addresses[name] = (*addresses.get(name, ()), address)
    host = host_with(addresses)
    parsed = parse_nft_text(ruleset.path.read_text(), str(ruleset.path))
    out = []
    sent = parse_description("socket sport=32768-60999 tcp mark=0", Location("<test>", 1))
    for found in reach(parsed, host, "OUTPUT", sent, None):
        w = found.witness
        if w is None or w.uid is None or w.gid is None or not _lab_answers(w.dst):
            continue
        hit = (found.table, found.chain, found.rule)
        assert hit in concrete_hits(trace(parsed, w, host), "OUTPUT"), (hit, w)
        who = Identity(f"u{w.uid}g{w.gid}", w.uid, w.gid)
        out.append((f"{ruleset.name}-{found.chain}-{found.rule}",
                    Probe(ruleset, "output", "tcp", w.dst, w.dport, who, w.src, w.sport)))
    arriving = parse_description(f"tcp in=eth0 mark=0 src={GATEWAY_IP} dst={POD_IP} "
                                 "sport=32768-60999", Location("<test>", 1))
    host = host_with({"eth0": (f"{POD_IP}/{POD_PREFIX}",)})
    for found in reach(parsed, host, "PREROUTING", arriving, None):
        w = found.witness
        if w is None:
            continue
        hit = (found.table, found.chain, found.rule)
        assert hit in concrete_hits(trace(parsed, w, host, "PREROUTING"), "PREROUTING")
        out.append((f"{ruleset.name}-in-{found.chain}-{found.rule}",
                    Probe(ruleset, "prerouting", "tcp", w.dst, w.dport, src=w.src,
                          sport=w.sport)))
    return out


PROBES = [p for r in _rulesets() for p in _probes(r)]


def test_enough_witnesses() -> None:
    assert len(PROBES) >= 20
    assert {p.ruleset.name for _, p in PROBES} >= {"nft-current", "nft-maps"}


@pytest.mark.parametrize("probe", [p for _, p in PROBES], ids=[n for n, _ in PROBES])
def test_each_nft_witness_does_in_the_kernel_what_chainwalk_says(probe: Probe,
                                                                  nft_lab: NftLab) -> None:
    judge(probe, nft_lab)
