"""The nftables page's views on the project's own rules: the ``nft list ruleset`` listing
with the counters the Bookinfo journeys leave, and how a block names an nftables ruleset."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from chainwalk import ChainwalkError
from chainwalk.netfilter._nft_model import Counter
from chainwalk.netfilter._nft_parser import parse_nft_text
from chainwalk.project import Project, Site
from chainwalk.render import Request
from chainwalk.render._blocks import Block, parse_request

REPO = Path(__file__).resolve().parents[2]
LISTING = Request("listing", ruleset="current.nft", topology="bookinfo-nft")


@pytest.fixture
def site() -> Site:
    found = Site(Project(REPO / "rules", REPO))
    found.begin_build()
    return found


def _listed(markdown: str) -> str:
    return markdown.split("```text\n", 1)[1].split("```", 1)[0]


def _counters(text: str, chain: str) -> list[int]:
    ruleset = parse_nft_text(text, "listing")
    found = ruleset.chain("istio-proxy-nat", chain)
    assert found is not None
    return [next(s for s in r.statements if isinstance(s, Counter)).packets
            for r in found.rules]


def test_nft_listing_reads_back_as_the_same_ruleset(site: Site) -> None:
    text = _listed(site.render(LISTING).markdown)
    listed = parse_nft_text(text, "listing")
    assert listed == site.project.nft_ruleset("current.nft")
    assert text.startswith("table inet istio-proxy-nat {\n")


def test_nft_listing_counts_every_connection_once_where_it_ends(site: Site) -> None:
    """Each packet that jumps to istio-output ends at exactly one of its rules (its last
    rule matches everything), and each counts 60 bytes."""
    markdown = site.render(LISTING).markdown
    text = _listed(markdown)
    (entered,) = _counters(text, "output")
    assert entered > 0
    ended = 0
    for line in text.split("chain istio-output {", 1)[1].split("}", 1)[0].splitlines():
        m = re.search(r"counter packets (\d+) bytes (\d+) (return|jump)", line)
        if m:
            assert int(m.group(2)) == 60 * int(m.group(1))
            ended += int(m.group(1))
    assert ended == entered
    # the journeys' outbound connections are redirected to Envoy's 15001 by istio-redirect
    assert _counters(text, "istio-redirect") == [_counters(text, "istio-output")[-1]]
    assert "4 scenarios of `bookinfo-nft`" in markdown


def test_nft_listing_without_topology_has_zero_counters(site: Site) -> None:
    text = _listed(site.render(Request("listing", ruleset="current.nft")).markdown)
    assert set(re.findall(r"counter packets (\d+) bytes (\d+)", text)) == {("0", "0")}


def _block(body: str) -> Block:
    return Block("docs/x.md", 3, "", body, 2, 6)


@pytest.mark.parametrize("body", ["view: rules\nruleset: current.nft\nchain: ISTIO_OUTPUT",
                                  "view: diff\nruleset: current\nagainst: current.nft"])
def test_a_view_that_reads_iptables_only_names_the_nft_ruleset(body: str) -> None:
    with pytest.raises(ChainwalkError) as raised:
        parse_request(_block(body))
    message = str(raised.value)
    assert "docs/x.md:" in message and "cannot take an nftables ruleset" in message, message
    assert "current.nft" in message


def test_an_nft_listing_takes_no_table() -> None:
    with pytest.raises(ChainwalkError) as raised:
        parse_request(_block("view: listing\nruleset: current.nft\ntable: nat"))
    assert "docs/x.md:6:1:" in str(raised.value) and "every table" in str(raised.value)


def test_an_nft_name_holding_iptables_rules_is_a_clear_error(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules", rules)
    shutil.copy(rules / "rulesets" / "current.rules", rules / "rulesets" / "wrong.nft")
    fresh = Site(Project(rules, tmp_path))
    fresh.begin_build()
    with pytest.raises(ChainwalkError) as raised:
        fresh.render(Request("listing", ruleset="wrong.nft"))
    assert "rules/rulesets/wrong.nft:1:1: rules/rulesets/wrong.nft holds iptables rules" in \
        str(raised.value), str(raised.value)
