"""The project cache: unchanged inputs are not evaluated again; a changed file makes
exactly what read it be evaluated again."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chainwalk import ChainwalkError
from chainwalk.render import Project, Request, Site

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
