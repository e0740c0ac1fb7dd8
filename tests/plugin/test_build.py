"""``mkdocs build --strict`` of fixture projects: a good one builds; each kind of drift
or mistake fails with one error naming the page line and the rules file line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from plugin_helpers import Built, build, copy_fixture, edit, run_cli


@pytest.fixture
def ok(tmp_path: Path) -> Path:
    return copy_fixture("ok", tmp_path)


def errors(built: Built) -> list[str]:
    """The problem lines of the single chainwalk error."""
    assert not built.ok
    blocks = re.findall(r"ERROR: chainwalk: (\d+) problems?:\n((?:  .*\n?)+)", built.log)
    assert len(blocks) == 1, built.log
    count, body = blocks[0]
    lines = [line.strip() for line in body.splitlines()]
    assert len(lines) == int(count)
    return lines


# -- a good project --------------------------------------------------------------------

def test_the_fixture_builds_strict(ok: Path) -> None:
    built = build(ok)
    assert built.ok, built.log
    home = built.page("index.html")
    assert home.count('class="mermaid"') == 4  # 3 sequences (one indented) and the chains
    assert "Inbound delivery" in home and "owner UID match 1337" in home
    assert "<script>window.__pwned" not in home and "<img src=x" not in home
    more = built.page("more/index.html")
    assert "view: nonsense" in more  # the example inside a ````markdown fence stays code
    assert "Chain ISTIO_OUTPUT (1 references)" in more
    assert (built.site / "js" / "mermaid.min.js").stat().st_size > 1_000_000
    assert not any(line.startswith("WARNING") for line in built.log.splitlines())


def test_the_build_is_deterministic(ok: Path, tmp_path: Path) -> None:
    first = build(ok).page("index.html")
    other = copy_fixture("ok", tmp_path / "again")
    assert build(other).page("index.html") == first


def test_the_cli_builds_and_fails_with_the_right_exit_status(ok: Path) -> None:
    done = run_cli(ok, "build", "--strict", "-d", str(ok / "cli-site"))
    assert done.returncode == 0, done.stderr
    edit(ok / "docs" / "index.md", "scenario: shop/call\n```", "scenario: shop/cal\n```")
    done = run_cli(ok, "build", "--strict", "-d", str(ok / "cli-site"))
    assert done.returncode == 1
    assert "chainwalk: 1 problem:" in done.stderr
    assert "docs/index.md:8:1: rules/scenarios/shop.yaml: no scenario 'cal' in shop: got 'cal', " \
        "expected one of call, same-pod, loop" in done.stderr


# -- drift: the rules changed under the pages ---------------------------------------------

def test_an_annotated_rule_that_changed_fails_the_build(ok: Path) -> None:
    edit(ok / "rules" / "rulesets" / "pod.rules", "-s 127.0.0.6/32 -o lo -j RETURN",
         "-s 127.0.0.7/32 -o lo -j RETURN")
    found = errors(build(ok))
    drift = [p for p in found if "annotated rule is no longer in nat ISTIO_OUTPUT" in p]
    assert len(drift) == 1
    assert drift[0].startswith("docs/index.md:37:1: rules/rulesets/pod.annotations.yaml:3:5: ")
    assert "docs/more.md:22:1" in drift[0]  # the diff block shows pod too


def test_a_scenario_expectation_that_no_longer_holds_fails_the_build(ok: Path) -> None:
    edit(ok / "rules" / "rulesets" / "pod.rules", "--to-ports 15006", "--to-ports 15007")
    found = errors(build(ok))
    assert any(p.startswith("docs/index.md:8:1: rules/scenarios/shop.yaml:21:17: shop/call: "
                            "final receiver") for p in found), found


def test_every_problem_is_in_one_error(ok: Path) -> None:
    edit(ok / "docs" / "index.md", "chain: ISTIO_OUTPUT", "chain: ISTIO_OUTPUTT")
    edit(ok / "docs" / "index.md", "view: trace", "view: tracer")
    edit(ok / "docs" / "more.md", "ruleset: pod-v2", "ruleset: ../pod-v2")
    edit(ok / "rules" / "rulesets" / "pod.annotations.yaml", "name: Inbound delivery",
         "name: Inbound delivery\n      colour: red")
    found = errors(build(ok))
    assert len(found) == 4, found
    assert any(p.startswith("docs/index.md:16:7: unknown view: got 'tracer'") for p in found)
    assert any(p.startswith("docs/index.md:37:1: rules/rulesets/pod.rules:") and
               "no chain ISTIO_OUTPUTT in table nat" in p for p in found)
    assert any(p.startswith("docs/more.md:24:10: ruleset: not a file stem inside the rules "
                            "folder: got '../pod-v2'") for p in found)
    assert any(p.startswith("docs/index.md:37:1: rules/rulesets/pod.annotations.yaml:5:7: "
                            "unknown annotation field: got 'colour'") for p in found)


@pytest.mark.parametrize(("page", "old", "new", "expected"), [
    ("index.md", "scenario: shop/call\n```", "scenario: nope/call\n```",
     "docs/index.md:8:1: rules/scenarios/nope.yaml: no scenario file rules/scenarios/nope.yaml"),
    ("index.md", "ruleset: pod\nchain", "ruleset: missing\nchain",
     "docs/index.md:37:1: rules/rulesets/missing.rules: no ruleset file "
     "rules/rulesets/missing.rules"),
    ("index.md", "view: rules\nruleset: pod\n", "view: rules\nruleset: pod\ntable: raw\n",
     "docs/index.md:37:1: rules/rulesets/pod.rules: pod has no table raw: got 'raw', "
     "expected one of its tables (nat)"),
    ("index.md", "reasons: true", "reasons: [true",
     "docs/index.md:18:15: invalid YAML"),
    ("more.md", "topology: shop\n```\n\n```chainwalk\nview: coverage",
     "topology: shop\n```\n\n```chainwalk\nview: coverage\nruleset: /etc/passwd",
     "docs/more.md:19:10: ruleset: not a file stem inside the rules folder"),
])
def test_mistakes_in_a_block_name_the_page_line(ok: Path, page: str, old: str, new: str,
                                                expected: str) -> None:
    edit(ok / "docs" / page, old, new)
    found = errors(build(ok))
    assert any(p.startswith(expected) for p in found), found


def test_a_block_the_extension_cannot_read_fails_the_build(ok: Path) -> None:
    edit(ok / "docs" / "index.md", "```chainwalk\nview: sequence\nscenario: shop/call",
         "```chainwalk {.x}\nview: sequence\nscenario: shop/call")
    built = build(ok)
    assert not built.ok
    assert "chainwalk: a block was not rendered: a chainwalk block opens with ```chainwalk " \
        "alone: remove what follows the word chainwalk (options, attributes) (index.md)" \
        in built.log, built.log


def test_lines_count_from_the_top_of_the_file_despite_front_matter(ok: Path) -> None:
    edit(ok / "docs" / "index.md", "view: sequence\nscenario: shop/same-pod",
         "view: sequence\nscenario: shop/unknown")
    found = errors(build(ok))
    assert found[0].startswith("docs/index.md:30:1: "), found


def test_a_broken_ruleset_fails_at_its_line(ok: Path) -> None:
    edit(ok / "rules" / "rulesets" / "pod-v2.rules", "-j ISTIO_REDIRECT", "-j ISTIO_NOWHERE")
    found = errors(build(ok))
    assert any(p.startswith("docs/more.md:22:1: rules/rulesets/pod-v2.rules:16:") and
               "ISTIO_NOWHERE" in p for p in found), found


def test_invalid_yaml_in_a_scenario_file_fails_at_its_line(ok: Path) -> None:
    edit(ok / "rules" / "scenarios" / "shop.yaml", "from: client/app\n    to: web:80",
         "from: [client/app\n    to: web:80")
    found = errors(build(ok))
    assert any(p.startswith("docs/index.md:8:1: rules/scenarios/shop.yaml:") for p in found) \
        or any(p.startswith("rules/scenarios/shop.yaml:") for p in found), found


def test_an_annotation_naming_an_unknown_scenario_fails(ok: Path) -> None:
    edit(ok / "rules" / "rulesets" / "pod.annotations.yaml", "scenario: shop/call",
         "scenario: shop/nothing")
    found = errors(build(ok))
    assert any(p.startswith("docs/index.md:37:1: rules/rulesets/pod.annotations.yaml:7:7: "
                            "the annotation names an unknown scenario") for p in found), found


# -- warnings: strict builds fail on them ---------------------------------------------------

def test_an_uncovered_rule_is_a_warning(ok: Path) -> None:
    edit(ok / "rules" / "rulesets" / "pod.rules", "-A ISTIO_REDIRECT -p tcp",
         "-A ISTIO_REDIRECT -p udp -j RETURN\n-A ISTIO_REDIRECT -p tcp")
    strict = build(ok)
    assert not strict.ok and "Aborted with 1 warnings in strict mode" in strict.log
    assert ("WARNING: chainwalk: docs/more.md:17:1: rules/rulesets/pod.rules:20:4: nat "
            "ISTIO_REDIRECT rule 1 (-p udp -j RETURN) is exercised by no scenario of shop"
            in strict.log), strict.log
    assert build(ok, strict=False).ok


def test_a_scenario_no_page_shows_is_a_warning(ok: Path) -> None:
    edit(ok / "docs" / "index.md", "```chainwalk\nview: sequence\nscenario: shop/same-pod\n```",
         "")
    edit(ok / "docs" / "more.md", "```chainwalk\nview: listing\nruleset: pod\ntopology: shop\n```",
         "")
    edit(ok / "docs" / "more.md", "```chainwalk\nview: coverage\ntopology: shop\n```", "")
    built = build(ok)
    assert not built.ok and "Aborted with 1 warnings in strict mode" in built.log
    assert ("WARNING: chainwalk: rules/scenarios/shop.yaml:23:3: scenario shop/same-pod is "
            "shown on no page") in built.log, built.log


# -- prerequisites --------------------------------------------------------------------------

def test_missing_mermaid_says_how_to_install_it(ok: Path) -> None:
    edit(ok / "mkdocs.yml", "mermaid_js: !ENV [CHAINWALK_MERMAID_JS, ../../../../node_modules/"
         "mermaid/dist/mermaid.min.js]", "mermaid_js: node_modules/mermaid/dist/mermaid.min.js")
    built = build(ok)
    assert not built.ok
    assert "Mermaid is missing: node_modules/mermaid/dist/mermaid.min.js" in built.log
    assert "`make serve` (or `npm ci`)" in built.log


def test_missing_mermaid_fence_is_explained(ok: Path) -> None:
    edit(ok / "mkdocs.yml", "        - name: mermaid\n          class: mermaid\n          "
         "format: !!python/name:mermaid2.fence_mermaid_custom\n", "")
    built = build(ok)
    assert not built.ok and "a custom fence named mermaid" in built.log


def test_missing_rules_folder_is_explained(ok: Path) -> None:
    edit(ok / "mkdocs.yml", "  - chainwalk\n", "  - chainwalk:\n      rules_dir: regles\n")
    built = build(ok)
    assert not built.ok
    assert ("the rules folder 'regles' (rules_dir of the chainwalk Markdown extension) does "
            "not exist") in built.log


def test_a_missing_extension_is_explained(ok: Path) -> None:
    edit(ok / "mkdocs.yml", "  - chainwalk\n", "")
    built = build(ok)
    assert not built.ok
    assert "add chainwalk to markdown_extensions" in built.log


def test_a_bad_extension_option_is_explained(ok: Path) -> None:
    edit(ok / "mkdocs.yml", "  - chainwalk\n", "  - chainwalk:\n      rules_dir: 3\n")
    built = build(ok)
    assert not built.ok
    assert "the extension option rules_dir is a folder name, got 3" in built.log
    edit(ok / "mkdocs.yml", "rules_dir: 3", "rule_dir: rules")
    built = build(ok)
    assert not built.ok and "rule_dir" in built.log, built.log


def test_a_rule_whose_nft_twin_ends_differently_fails_a_strict_build(ok: Path) -> None:
    """A correspondence block whose iptables and nftables chains end a rule's packet
    differently shows it, and the strict build does not let it pass."""
    repo = Path(__file__).resolve().parents[2] / "rules" / "rulesets"
    rulesets = ok / "rules" / "rulesets"
    for name in ("current.rules", "current.nft"):
        (rulesets / name).write_text((repo / name).read_text(encoding="utf-8"),
                                     encoding="utf-8")
    block = ("\n```chainwalk\nview: correspondence\nruleset: current\nchain: ISTIO_OUTPUT\n"
             "against: current.nft\nagainst_chain: istio-output\nwhere: tcp\n```\n")
    more = ok / "docs" / "more.md"
    more.write_text(more.read_text(encoding="utf-8") + block, encoding="utf-8")
    assert build(ok).ok
    edit(rulesets / "current.nft", "redirect to :15001", "redirect to :15002")
    strict = build(ok)
    assert not strict.ok and "Aborted with 1 warnings in strict mode" in strict.log
    assert re.search(r"WARNING: chainwalk: docs/more\.md:\d+:1: rules/rulesets/current\.rules"
                     r":\d+:\d+: ISTIO_OUTPUT rule 11: its packet \(tcp .*\) ends differently "
                     r"in current\.nft", strict.log), strict.log
    relaxed = build(ok, strict=False)
    assert relaxed.ok and "✘ <strong>differs</strong>" in relaxed.page("more/index.html")
