"""Each view on the mini fixture, compared byte for byte with its golden file."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from render_helpers import MINI

from chainwalk.project import Project, Site
from chainwalk.render import Request

CASES = {
    "sequence-call.md": Request("sequence", scenario="mini/call"),
    "sequence-loop.md": Request("sequence", scenario="mini/loop"),
    "sequence-refused.md": Request("sequence", scenario="mini/refused"),
    "sequence-rejected.md": Request("sequence", scenario="mini/rejected"),
    "sequence-blackhole.md": Request("sequence", scenario="mini/blackhole"),
    "trace-call.md": Request("trace", scenario="mini/call"),
    "trace-call-reasons.md": Request("trace", scenario="mini/call", reasons=True),
    "trace-loop.md": Request("trace", scenario="mini/loop"),
    "chains.md": Request("chains", ruleset="mini"),
    "chains-highlight.md": Request("chains", ruleset="mini", highlight="mini/call"),
    "chains-filter.md": Request("chains", ruleset="mini", table="filter"),
    "rules-output.md": Request("rules", ruleset="mini", chain="ISTIO_OUTPUT"),
    "rules-inbound.md": Request("rules", ruleset="mini", chain="ISTIO_INBOUND"),
    "rules-policy.md": Request("rules", ruleset="mini", chain="OUTPUT", table="filter"),
    "listing.md": Request("listing", ruleset="mini"),
    "listing-counters.md": Request("listing", ruleset="mini", topology="mini"),
    "coverage.md": Request("coverage", topology="mini"),
    "diff.md": Request("diff", ruleset="mini-v2", against="mini"),
    "diff-same.md": Request("diff", ruleset="mini", against="mini"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_view_matches_golden(site: Site, golden: Callable[[str, str], None],
                             name: str) -> None:
    golden(name, site.render(CASES[name]).markdown)


@pytest.mark.parametrize("name", sorted(CASES))
def test_view_is_deterministic(name: str) -> None:
    """Two independent projects over the same files give byte-identical output."""
    outputs = []
    for _ in range(2):
        fresh = Site(Project(MINI / "rules", MINI))
        fresh.begin_build()
        outputs.append(fresh.render(CASES[name]).markdown)
    assert outputs[0] == outputs[1]


def test_coverage_warns_about_unreached_rules(site: Site) -> None:
    rendered = site.render(Request("coverage", topology="mini"))
    warned = [str(w) for w in rendered.warnings]
    assert any("ISTIO_INBOUND rule 1" in w and "mini.rules:15" in w for w in warned), warned
    # Reached rules are not warned about.
    assert not any("ISTIO_REDIRECT rule 1" in w for w in warned)


def test_rules_view_puts_owner_in_its_own_column(site: Site) -> None:
    table = site.render(Request("rules", ruleset="mini", chain="ISTIO_OUTPUT")).markdown
    row = next(line for line in table.splitlines() if line.startswith("| 2 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[6] == "&#33;127.0.0.1"  # destination: only the address
    assert cells[7] == "`owner UID match 1337`"  # the owner match has its column


def test_listing_counts_each_trace_once_with_60_bytes(site: Site) -> None:
    text = site.render(Request("listing", ruleset="mini", topology="mini")).markdown
    assert "60 bytes" in text
    line = next(line for line in text.splitlines() if "ISTIO_REDIRECT" in line
                and line.strip().split()[2] == "ISTIO_REDIRECT")
    packets, octets = line.split()[:2]
    assert int(octets) == 60 * int(packets) and int(packets) > 0
