"""The project cache: unchanged inputs are not evaluated again; a changed file makes
exactly what read it be evaluated again."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from chainwalk import ChainwalkError
from chainwalk.project import Project, Site
from chainwalk.render import Request

REQUESTS = [Request("rules", ruleset="mini", chain="ISTIO_OUTPUT"),
            Request("sequence", scenario="mini/call"),
            Request("listing", ruleset="mini", topology="mini"),
            Request("diff", ruleset="mini-v2", against="mini")]


def build(site: Site) -> tuple[list[str], int]:
    """Render every request as one build does; the outputs and the evaluations it took."""
    site.begin_build()
    before = site.project.evaluations
    outputs = [site.project.memo(("block", r), lambda r=r: site.render(r)).markdown
               for r in REQUESTS]
    return outputs, site.project.evaluations - before


def edit(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    stat = path.stat()  # make sure the mtime moves even on a coarse clock
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_an_unchanged_folder_is_not_evaluated_again(mini_copy: Path) -> None:
    site = Site(Project(mini_copy / "rules", mini_copy))
    first, cost = build(site)
    assert cost > 0
    again, cost = build(site)
    assert (again, cost) == (first, 0)


def test_touching_a_file_without_changing_it_costs_nothing(mini_copy: Path) -> None:
    site = Site(Project(mini_copy / "rules", mini_copy))
    build(site)
    path = mini_copy / "rules" / "rulesets" / "mini.rules"
    edit(path, path.read_text(encoding="utf-8"))
    assert build(site)[1] == 0


def test_an_edit_evaluates_what_read_the_file_and_nothing_else(mini_copy: Path) -> None:
    site = Site(Project(mini_copy / "rules", mini_copy))
    first, _ = build(site)
    path = mini_copy / "rules" / "rulesets" / "mini-v2.rules"
    edit(path, path.read_text(encoding="utf-8").replace("15002", "15003") + "# edited\n")
    site.begin_build()
    before = site.project.evaluations
    for request in REQUESTS[:3]:  # none of these reads mini-v2.rules
        site.project.memo(("block", request), lambda r=request: site.render(r))
    assert site.project.evaluations == before
    outputs, cost = build(site)
    assert cost == 7  # the diff block, the mini-v2 ruleset, the 5 journeys run with it
    assert outputs[:3] == first[:3]


def test_an_edit_to_a_scenario_file_reruns_its_journeys(mini_copy: Path) -> None:
    site = Site(Project(mini_copy / "rules", mini_copy))
    first, _ = build(site)
    path = mini_copy / "rules" / "scenarios" / "mini.yaml"
    edit(path, path.read_text(encoding="utf-8").replace("client calls web", "client asks web"))
    outputs, cost = build(site)
    assert cost > 0
    assert "client asks web" in outputs[1]
    # The rule table's annotation names mini/call by its title: it read the file too.
    assert "client calls web" in first[0] and "client asks web" in outputs[0]


def test_a_broken_file_is_an_error_until_it_is_fixed(mini_copy: Path) -> None:
    site = Site(Project(mini_copy / "rules", mini_copy))
    first, _ = build(site)
    path = mini_copy / "rules" / "rulesets" / "mini.rules"
    good = path.read_text(encoding="utf-8")
    edit(path, good.replace("-j ISTIO_REDIRECT\n", "-j ISTIO_NOWHERE\n"))
    site.begin_build()
    with pytest.raises(ChainwalkError) as e:
        site.render(Request("rules", ruleset="mini", chain="ISTIO_OUTPUT"))
    assert any(str(p).startswith("rules/rulesets/mini.rules:") for p in e.value.problems)
    edit(path, good)
    assert build(site)[0] == first


def test_a_new_scenario_file_is_seen(mini_copy: Path) -> None:
    site = Site(Project(mini_copy / "rules", mini_copy))
    build(site)
    scenarios = mini_copy / "rules" / "scenarios"
    (scenarios / "more.yaml").write_text(
        (scenarios / "mini.yaml").read_text(encoding="utf-8")
        .replace("client calls web", "client of more calls web"), encoding="utf-8")
    outputs, _ = build(site)
    assert "client of more calls web" in outputs[3]


def test_stems_cannot_leave_the_rules_folder(mini_copy: Path) -> None:
    project = Project(mini_copy / "rules", mini_copy)
    (mini_copy / "outside.rules").write_text("*nat\nCOMMIT\n", encoding="utf-8")
    with pytest.raises(ChainwalkError, match="leads outside the rules folder"):
        project.ruleset("../../outside")


def test_a_build_parses_each_ruleset_once(mini_copy: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The views, the journeys and the whole-folder checks read one model of each file."""
    from chainwalk import _ruleset_cache
    from chainwalk.netfilter import _parser

    _ruleset_cache.clear()
    parsed: list[str] = []
    real = _parser._parse

    def counting(reader: Any, text: str) -> Any:
        if reader.path != "<rule>":  # parse_rule's context of one rule
            parsed.append(Path(reader.path).name)
        return real(reader, text)

    monkeypatch.setattr(_parser, "_parse", counting)
    site = Site(Project(mini_copy / "rules", mini_copy))
    build(site)
    site.check()
    rulesets = sorted(p.name for p in (mini_copy / "rules" / "rulesets").glob("*.rules"))
    assert sorted(parsed) == rulesets


def test_a_session_of_page_edits_keeps_only_the_recent_blocks(mini_copy: Path) -> None:
    site = Site(Project(mini_copy / "rules", mini_copy))
    block = "```chainwalk\nview: sequence\nscenario: mini/call\n```\n"
    for edit_number in range(10):  # each edit moves the block down a line
        site.begin_build()
        result = site.render_page("page.md", "\n" * edit_number + block)
        assert not result.findings
    assert len(site._requests) + len(site._requests_before) == 2


def test_what_a_build_did_not_use_is_forgotten_and_what_it_did_is_kept(
        mini_copy: Path) -> None:
    site = Site(Project(mini_copy / "rules", mini_copy))
    build(site)  # every request once
    shown, dropped = REQUESTS[1], REQUESTS[0]  # a page keeps one block, loses another
    for _ in range(2):
        site.begin_build()
        site.project.memo(("block", shown), lambda: site.render(shown))
    site.begin_build()
    before = site.project.evaluations
    site.project.memo(("block", shown), lambda: site.render(shown))
    assert site.project.evaluations == before  # kept, with what it was computed from
    site.project.memo(("block", dropped), lambda: site.render(dropped))
    assert site.project.evaluations > before  # forgotten: computed again


def test_a_kept_result_keeps_what_it_was_computed_from(mini_copy: Path) -> None:
    site = Site(Project(mini_copy / "rules", mini_copy))
    sequence = REQUESTS[1]  # mini/call's diagram: its scenario file and journey
    for _ in range(3):  # builds served from the memo
        site.begin_build()
        site.project.memo(("block", sequence), lambda: site.render(sequence))
    site.begin_build()
    before = site.project.evaluations
    site.project.journey(site.project.scenario("mini/call"))
    assert site.project.evaluations == before
