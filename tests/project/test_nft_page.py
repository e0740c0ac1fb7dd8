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


CORRESPONDENCE = Request("correspondence", ruleset="current", chain="ISTIO_OUTPUT",
                         against="current.nft", against_chain="istio-output", where="tcp")


def _rows(markdown: str) -> dict[int, list[str]]:
    return {int(cells[0]): cells for line in markdown.splitlines()
            if line.startswith("| ") and (cells := [c.strip() for c in
                                                    line.strip("|").split(" | ")])[0].isdigit()}


def test_correspondence_has_a_row_per_rule_and_both_backends_agree(site: Site) -> None:
    rendered = site.render(CORRESPONDENCE)
    rows = _rows(rendered.markdown)
    chain = site.project.ruleset("current").chain("nat", "ISTIO_OUTPUT")
    assert chain is not None and sorted(rows) == list(range(1, len(chain.rules) + 1))
    assert rendered.warnings == []
    assert "Every rule's packet ends alike in both." in rendered.markdown
    # the IPv4 redirect of the proxy's own traffic to itself is istio-output's 5th rule
    # (each address rule has an IPv6 twin before the next)
    assert rows[4][3].startswith("5 (handle ") and "meta skuid 1337" in rows[4][4]
    # a packet without a socket passes `-m owner ! --uid-owner 1337` but not
    # `meta skuid != 1337`: nftables decides it later, and it still ends alike
    assert "no-socket" in rows[5][2] and "meta skuid" not in rows[5][4]
    assert rows[5][5].startswith("✔")
    assert rows[11][5] == "✔ alike: delivered, 127.0.0.1:15001"
    # the gid rules that only lo traffic reaches are shadowed by rule 5
    assert rows[7][2] == rows[8][2] == "no such packet reaches it"
    assert rows[2][2] == "no such packet reaches it"  # a UDP rule: no TCP packet


def test_correspondence_witnesses_are_decided_by_their_own_rule(site: Site) -> None:
    """Each row's packet, traced through the iptables rules, is decided by that row's rule
    (the witness is real), and through the nftables rules by the rule the row names."""
    from chainwalk._errors import Location
    from chainwalk.netfilter._correspondence import correspondence
    from chainwalk.project._claims import host_from
    from chainwalk.render._claims import DEFAULT_HOST

    rows = correspondence(site.project.ruleset("current"), "nat", "ISTIO_OUTPUT",
                          site.project.nft_ruleset("current.nft"), "istio-output",
                          host_from(DEFAULT_HOST, Location("x", 0)), where="tcp")
    reached = [row for row in rows if row.witness is not None]
    assert len(reached) == 7
    for row in reached:
        assert row.decider is not None and row.decider.rule == row.rule, row
        assert row.other_decider is not None and row.other_decider.handle is not None


def test_correspondence_shows_and_warns_about_an_nft_rule_that_disagrees(
        tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules", rules)
    nft = rules / "rulesets" / "current.nft"
    text = nft.read_text(encoding="utf-8")
    assert "redirect to :15001" in text
    nft.write_text(text.replace("redirect to :15001", "redirect to :15002"), encoding="utf-8")
    fresh = Site(Project(rules, tmp_path))
    fresh.begin_build()
    rendered = fresh.render(CORRESPONDENCE)
    rows = _rows(rendered.markdown)
    assert "✘ **differs**" in rows[11][5] and "15002" in rows[11][5], rows[11]
    assert "The packets of 1 rules end differently" in rendered.markdown
    warned = [str(w) for w in rendered.warnings]
    assert len(warned) == 1 and "rules/rulesets/current.rules:" in warned[0] and \
        "ISTIO_OUTPUT rule 11" in warned[0], warned


def test_correspondence_names_what_is_missing(site: Site) -> None:
    with pytest.raises(ChainwalkError) as raised:
        site.render(Request("correspondence", ruleset="current", chain="ISTIO_OUTPUT",
                            against="current.nft"))
    assert "current.nft has no chain ISTIO_OUTPUT" in str(raised.value)
    assert "istio-output" in str(raised.value)
    with pytest.raises(ChainwalkError) as raised:
        site.render(Request("correspondence", ruleset="current", chain="ISTIO_OUTPUT",
                            against="classic", against_chain="istio-output"))
    assert "classic.rules holds iptables rules" in str(raised.value)
    with pytest.raises(ChainwalkError) as raised:
        site.render(Request("correspondence", ruleset="current", chain="ISTIO_OUT",
                            against="current.nft"))
    assert "rules/rulesets/current.rules:" in str(raised.value)
    assert "current has no chain ISTIO_OUT in table nat" in str(raised.value)


def test_correspondence_of_arriving_packets(site: Site) -> None:
    rendered = site.render(Request("correspondence", ruleset="current", chain="ISTIO_INBOUND",
                                   against="current.nft", against_chain="istio-inbound",
                                   hook="prerouting", where="tcp"))
    assert "(arriving packets matching `tcp`," in rendered.markdown
    rows = _rows(rendered.markdown)
    assert sorted(rows) == [1, 2, 3, 4, 5] and rendered.warnings == []
    assert "in=eth0" in rows[5][2] and rows[5][5] == "✔ alike: delivered, 10.0.0.5:15006"


@pytest.mark.parametrize("request_", [LISTING, CORRESPONDENCE], ids=["listing", "correspondence"])
def test_nft_page_views_are_deterministic(request_: Request) -> None:
    outputs = []
    for _ in range(2):
        fresh = Site(Project(REPO / "rules", REPO))
        fresh.begin_build()
        outputs.append(fresh.render(request_).markdown)
    assert outputs[0] == outputs[1]
