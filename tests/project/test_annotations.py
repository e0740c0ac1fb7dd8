"""Annotation files: their format, and drift when a rule changes."""

from __future__ import annotations

import pytest

from chainwalk import ChainwalkError
from chainwalk.netfilter import parse_text
from chainwalk.project import drift, parse_annotations

RULES = """*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:X - [0:0]
-A OUTPUT -j X
-A X -p tcp -m tcp --dport 15020 -j RETURN
-A X -m owner --uid-owner 1337 -j RETURN
COMMIT
"""


def notes(text: str) -> list[str]:
    return [str(p) for p in drift(parse_annotations(text, "r.annotations.yaml"),
                                  parse_text(RULES, "r.rules"))]


def test_annotations_are_read_with_their_lines() -> None:
    found = parse_annotations('nat:\n  X:\n    "-m owner --uid-owner 1337 -j RETURN":\n'
                              "      name: N\n      purpose: P\n      steps: [14, 15]\n"
                              "      article: 4\n      scenario: a/b\n      zh: {name: 名, purpose: 用途}\n",
                              "r.annotations.yaml")
    note = found.get("nat", "X", "-m owner --uid-owner 1337 -j RETURN")
    assert note is not None
    assert (note.name, note.purpose, note.steps, note.article, note.scenario) == \
        ("N", "P", (14, 15), (4,), "a/b")
    assert note.text("zh") == ("名", "用途") and note.text("en") == ("N", "P")
    assert str(note.location) == "r.annotations.yaml:3:5"


def test_an_annotation_of_an_existing_rule_is_no_drift() -> None:
    assert notes('nat:\n  X:\n    "-p tcp -m tcp --dport 15020 -j RETURN": {name: a, zh: {name: 甲}}\n') == []


def test_a_rule_that_is_gone_is_drift_at_the_annotation_line() -> None:
    found = notes('nat:\n  X:\n    "-p tcp -m tcp --dport 15021 -j RETURN": {name: a, zh: {name: 甲}}\n')
    assert len(found) == 1
    assert found[0].startswith("r.annotations.yaml:3:5: annotated rule is no longer in nat X "
                               "of r.rules (the rule changed or was removed): got "
                               "'-p tcp -m tcp --dport 15021 -j RETURN', expected one of its "
                               "rules (1: -p tcp -m tcp --dport 15020 -j RETURN; 2: ")


def test_another_spelling_asks_for_the_normal_form() -> None:
    found = notes('nat:\n  X:\n    "-p tcp --dport 15020 -j RETURN": {name: a, zh: {name: 甲}}\n')
    assert found == ["r.annotations.yaml:3:5: annotated rule is not in normal form: got "
                     "'-p tcp --dport 15020 -j RETURN', expected "
                     "'-p tcp -m tcp --dport 15020 -j RETURN'"]


def test_a_chain_that_is_gone_is_drift() -> None:
    found = notes('nat:\n  Y:\n    "-j RETURN": {name: a, zh: {name: 甲}}\n')
    assert found == ["r.annotations.yaml:3:5: annotated chain nat Y is not in r.rules: "
                     "got 'Y', expected a chain of the ruleset"]


def test_every_format_problem_is_reported() -> None:
    with pytest.raises(ChainwalkError) as e:
        parse_annotations('nat:\n  X:\n    "-j RETURN": {name: 3, colour: red, steps: x}\n'
                          "  Y: [1]\n", "r.yaml")
    found = [str(p) for p in e.value.problems]
    assert any("name: expected a short name" in p for p in found)
    assert any("unknown annotation field: got 'colour'" in p for p in found)
    assert any("steps: expected a list" in p for p in found)
    assert any(p.startswith("r.yaml:4:3: chain Y: expected a mapping of rules") for p in found)


def test_empty_file_is_no_annotations() -> None:
    assert parse_annotations("# nothing yet\n", "r.yaml").notes == {}


def _problems(text: str) -> list[str]:
    with pytest.raises(ChainwalkError) as e:
        parse_annotations(text, "r.annotations.yaml")
    return [str(p) for p in e.value.problems]


def test_a_name_or_purpose_without_its_chinese_text_is_a_problem() -> None:
    found = _problems('nat:\n  X:\n    "-j RETURN":\n      name: N\n      purpose: P\n'
                      "      zh: {name: 名}\n")
    assert found == ["r.annotations.yaml:3:5: rule '-j RETURN' has no Chinese text of its "
                     "purpose (the /zh/ pages show it), expected zh: {purpose: ...}"]


def test_chinese_text_must_have_its_english_twin_and_known_fields() -> None:
    found = _problems('nat:\n  X:\n    "-j RETURN":\n      name: N\n'
                      "      zh: {name: 名, purpose: 用途, title: 题}\n")
    assert found == [
        "r.annotations.yaml:5:21: zh gives a purpose the rule has no English text of: got "
        "'purpose', expected purpose: in English beside zh",
        "r.annotations.yaml:5:34: unknown field of zh: got 'title', expected one of name, "
        "purpose"]
