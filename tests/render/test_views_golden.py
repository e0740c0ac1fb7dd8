"""Each view on the mini fixture, compared byte for byte with its golden file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from render_helpers import MINI

from chainwalk._errors import ChainwalkError
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
    "chains-highlight-pod.md": Request("chains", ruleset="mini", highlight="mini/call",
                                       pod="server"),
    "chains-filter.md": Request("chains", ruleset="mini", table="filter"),
    "rules-output.md": Request("rules", ruleset="mini", chain="ISTIO_OUTPUT"),
    "rules-inbound.md": Request("rules", ruleset="mini", chain="ISTIO_INBOUND"),
    "rules-policy.md": Request("rules", ruleset="mini", chain="OUTPUT", table="filter"),
    "listing.md": Request("listing", ruleset="mini"),
    "listing-counters.md": Request("listing", ruleset="mini", topology="mini"),
    "coverage.md": Request("coverage", topology="mini"),
    "diff.md": Request("diff", ruleset="mini-v2", against="mini"),
    "diff-same.md": Request("diff", ruleset="mini", against="mini"),
    "overview.md": Request("overview", scenario="mini/call", then="mini/refused", pod="server"),
    "compare.md": Request("compare", topology="mini", versus="mini"),
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


def test_overview_numbers_the_moves_in_order_and_checks_annotated_steps(
        mini_copy: Path) -> None:
    """The computed step numbers are checked against the annotations' ``steps``: an
    annotation that disagrees is a problem naming its line and the computed numbers."""
    request = Request("overview", scenario="mini/call", then="mini/refused", pod="server")
    notes = mini_copy / "rules" / "rulesets" / "mini.annotations.yaml"
    text = notes.read_text(encoding="utf-8")
    fresh = Site(Project(mini_copy / "rules", mini_copy))
    fresh.begin_build()
    legend = fresh.render(request).markdown.split("| step |", 1)[1]
    assert [int(row.split("|")[1]) for row in legend.splitlines()[2:] if row] == \
        list(range(1, 12))
    notes.write_text(text.replace("steps: [6, 7]", "steps: [5, 6]"), encoding="utf-8")
    fresh = Site(Project(mini_copy / "rules", mini_copy))
    fresh.begin_build()
    with pytest.raises(ChainwalkError) as raised:
        fresh.render(request)
    message = str(raised.value)
    assert "mini.annotations.yaml:12:7:" in message and "steps: [6, 7]" in message, message


def test_chains_highlight_in_one_pod_shows_that_pods_path(site: Site) -> None:
    """The same journey's path differs from pod to pod (the client redirects to its
    outbound listener, the server to its inbound one), and each matched rule has an
    edge of its own."""
    def highlighted(pod: str) -> set[str]:
        text = site.render(Request("chains", ruleset="mini", highlight="mini/call",
                                   pod=pod)).markdown
        edges = [line for line in text.splitlines() if "-->" in line or "-.->" in line]
        styled = next(line for line in text.splitlines() if "linkStyle" in line)
        return {edges[int(i)].strip() for i in styled.split()[1].split(",")}

    client, server = highlighted("client"), highlighted("server")
    assert 'n7 -->|"#35;6"| n8' in client and 'n7 -->|"#35;6"| n8' not in server
    assert 'n5 -->|"#35;3"| n6' in server and 'n5 -->|"#35;3"| n6' not in client


def test_a_what_if_keeps_the_files_numbers_and_strikes_the_removed_rule(site: Site) -> None:
    """Without the 127.0.0.6 rule (ISTIO_OUTPUT #1 of mini.rules), Envoy's hand-off is
    caught by ISTIO_OUTPUT #2, as the file numbers it, not by "#1" of the edited copy."""
    diagram = site.render(Request("sequence", scenario="mini/loop")).markdown
    last_note = [line for line in diagram.splitlines() if "Note over" in line][-1]
    assert "ISTIO_OUTPUT #35;2&lt;br/&gt;ISTIO_IN_REDIRECT" in last_note, last_note
    assert "ISTIO_OUTPUT #35;1 removed" in last_note
    table = site.render(Request("trace", scenario="mini/loop")).markdown
    assert "| <del>1</del> | removed by the what-if | <del>`-s 127.0.0.6/32 -o lo -j " \
        "RETURN`</del> |" in table
    assert "| 2 | match: jump ISTIO&#95;IN&#95;REDIRECT | `! -d 127.0.0.1/32 -o lo -m owner " \
        "--uid-owner 1337 -j ISTIO_IN_REDIRECT` |" in table


def test_compare_needs_scenario_names_in_common(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    (rules / "scenarios").mkdir(parents=True)
    (rules / "rulesets").mkdir()
    for stem, name in (("one", "a"), ("two", "b")):
        (rules / "scenarios" / f"{stem}.yaml").write_text(
            f"ruleset: null\npods:\n  p: {{address: 10.0.0.1, processes: {{x: {{ports: [80]}}}}}}\n"
            f"scenarios:\n  {name}: {{title: t, from: p, to: 10.0.0.1:80}}\n", encoding="utf-8")
    site = Site(Project(rules, tmp_path))
    site.begin_build()
    with pytest.raises(ChainwalkError) as caught:
        site.render(Request("compare", topology="one", versus="two"))
    assert str(caught.value) == ("rules/scenarios/one.yaml: one and two have no scenario name in "
                                 "common, expected scenarios of the same name in both files")
