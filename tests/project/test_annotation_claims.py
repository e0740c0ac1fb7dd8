"""What annotation files claim (``scenario``, ``steps``, ``article``) is checked against
the computed journeys and the article's chain, on a copy of the site's own rules folder;
every problem of a file is reported at once, at the field's line and column."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from chainwalk.cli import main
from chainwalk.project import Project, Site
from chainwalk.project._annotation_claims import annotation_problems

REPO = Path(__file__).resolve().parents[2]
ISTIO_REDIRECT_NOTE = """      article: 9
      steps: [10, 11]
      scenario: bookinfo/outbound"""


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(REPO / "rules", target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def line_of(path: Path, text: str) -> int:
    """The number of the last line that is ``text``."""
    lines = path.read_text(encoding="utf-8").split("\n")
    return len(lines) - lines[::-1].index(text)


def problems(rules: Path, stem: str) -> list[str]:
    return [str(p) for p in annotation_problems(Project(rules, rules.parent), stem)]


def test_the_sites_annotations_hold() -> None:
    project = Project(REPO / "rules", REPO)
    for stem in project.ruleset_stems():
        assert annotation_problems(project, stem) == [], stem


def test_the_issues_example_fails_on_each_field_at_once(rules: Path) -> None:
    notes = rules / "rulesets" / "current.annotations.yaml"
    edit(notes, ISTIO_REDIRECT_NOTE, "      article: 4\n      steps: [14, 15]\n"
         "      scenario: bookinfo/localhost\n      colour: red")
    line = line_of(notes, "      article: 4")
    found = problems(rules, "current")
    at = "rules/rulesets/current.annotations.yaml"
    assert found == [
        f"{at}:{line + 3}:7: unknown annotation field: got 'colour', expected one of name, "
        "purpose, steps, article, scenario, zh",
        f"{at}:{line + 2}:7: the scenario's journey never meets this rule (nat ISTIO_OUTPUT: "
        "-j ISTIO_REDIRECT): got 'bookinfo/localhost', expected a scenario whose journey the "
        "rule matches",
        f"{at}:{line + 1}:7: the figure's journeys (bookinfo/inbound, bookinfo/outbound) "
        "number this rule's moves otherwise (nat ISTIO_OUTPUT: -j ISTIO_REDIRECT): got "
        "'[14, 15]', expected steps: [10, 11]",
        f"{at}:{line}:7: the article's rule 4 (ISTIO_OUTPUT: -m owner --uid-owner 1337 -j "
        "RETURN) is not this rule (ISTIO_OUTPUT: -j ISTIO_REDIRECT): got '4', expected the "
        "number of the article's rule with this target and criteria"]


@pytest.mark.parametrize(("new", "message"), [
    ("      article: 4", "the article's rule 4"),
    ("      article: 12", "the article's ISTIO_OUTPUT has no rule 12: got '12', expected 1 to 9"),
    ("      steps: [14, 15]", "number this rule's moves otherwise"),
    ("      scenario: bookinfo/localhost", "the scenario's journey never meets this rule"),
    ("      scenario: bookinfo/nothing", "the annotation names an unknown scenario"),
    ("      scenario: nofile/inbound", "the annotation names an unknown scenario"),
])
def test_each_false_field_alone_fails(rules: Path, new: str, message: str) -> None:
    notes = rules / "rulesets" / "current.annotations.yaml"
    field = new.split(":")[0]
    old = next(line for line in ISTIO_REDIRECT_NOTE.split("\n") if line.startswith(field))
    edit(notes, "\n".join(["", *ISTIO_REDIRECT_NOTE.split("\n")]),
         "\n".join(["", *(new if line == old else line
                          for line in ISTIO_REDIRECT_NOTE.split("\n"))]))
    found = problems(rules, "current")
    assert len(found) == 1 and message in found[0], found
    assert found[0].startswith(f"rules/rulesets/current.annotations.yaml:"
                               f"{line_of(notes, new)}:7: ")


def test_steps_on_a_rule_the_figure_never_meets(rules: Path) -> None:
    notes = rules / "rulesets" / "current.annotations.yaml"
    edit(notes, "      name: HBONE port\n", "      name: HBONE port\n      steps: [3, 4]\n")
    found = problems(rules, "current")
    assert len(found) == 1 and "never move a connection by this rule" in found[0], found


def test_an_article_rule_narrowed_by_more_criteria_is_the_same_rule(rules: Path) -> None:
    """Current rule 3 is the article's rule 2 with ``-p tcp ! --dport 15008``: it holds;
    the article's rule 5 (the gid twin) is another rule."""
    notes = rules / "rulesets" / "current.annotations.yaml"
    assert problems(rules, "current") == []
    edit(notes, "      article: 2\n", "      article: 5\n")
    found = problems(rules, "current")
    assert len(found) == 1 and "the article's rule 5" in found[0], found


def test_the_article_ruleset_itself_numbers_its_rules(rules: Path) -> None:
    notes = rules / "rulesets" / "classic.annotations.yaml"
    edit(notes, "      article: 7\n", "      article: 4\n")
    found = problems(rules, "classic")
    assert len(found) == 1 and "the article's rule 4" in found[0], found


def test_numbers_without_the_files_article_entry_are_an_error(rules: Path) -> None:
    notes = rules / "rulesets" / "current.annotations.yaml"
    text = notes.read_text(encoding="utf-8")
    start = text.index("article:\n  rules:")
    notes.write_text(text[:start] + text[text.index("nat:\n"):], encoding="utf-8")
    found = problems(rules, "current")
    assert any("steps need the journeys the figure numbers" in p for p in found), found
    assert any("article numbers need the article's chain" in p for p in found), found


def test_a_bad_article_entry_is_reported_with_the_rest(rules: Path) -> None:
    notes = rules / "rulesets" / "current.annotations.yaml"
    edit(notes, "  rules: classic nat ISTIO_OUTPUT\n",
         "  rules: classic\n  colour: red\n")
    edit(notes, "      name: HBONE port\n", "      name: HBONE port\n      size: 3\n")
    found = problems(rules, "current")
    assert any("rules: expected the article's chain" in p for p in found), found
    assert any("unknown field of article: got 'colour'" in p for p in found), found
    assert any("unknown annotation field: got 'size'" in p for p in found), found


def test_a_figure_whose_pod_has_another_ruleset(rules: Path) -> None:
    notes = rules / "rulesets" / "current.annotations.yaml"
    edit(notes, "  figure: [bookinfo/inbound, bookinfo/outbound]",
         "  figure: [classic/inbound, classic/outbound]")
    found = problems(rules, "current")
    assert len(found) == 1 and "do not meet in a pod that uses" in found[0], found


def test_site_check_reports_the_claims(rules: Path) -> None:
    edit(rules / "rulesets" / "current.annotations.yaml", ISTIO_REDIRECT_NOTE,
         "      article: 4\n      steps: [14, 15]\n      scenario: bookinfo/localhost")
    site = Site(Project(rules, rules.parent))
    site.begin_build()
    findings, _ = site.check()
    assert len(findings) == 3, [str(f) for f in findings]


def test_chainwalk_check_checks_the_annotation_file(
        rules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ruleset = rules / "rulesets" / "current.rules"
    assert main(["check", str(ruleset)]) == 0
    edit(rules / "rulesets" / "current.annotations.yaml", ISTIO_REDIRECT_NOTE,
         "      article: 4\n      steps: [14, 15]\n      scenario: bookinfo/localhost\n"
         "      colour: red")
    capsys.readouterr()
    assert main(["check", str(ruleset)]) == 1
    err = capsys.readouterr().err
    assert err.count("current.annotations.yaml:") == 4, err
    assert "4 problem(s) in 1 file(s)" in err
    # Outside a rules folder (no scenarios at hand): the format and drift only.
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(ruleset, alone / "current.rules")
    shutil.copy(rules / "rulesets" / "current.annotations.yaml",
                alone / "current.annotations.yaml")
    assert main(["check", str(alone / "current.rules")]) == 1
    err = capsys.readouterr().err
    assert "unknown annotation field: got 'colour'" in err and "1 problem(s)" in err, err
