"""Finding blocks in Markdown and reading their parameters."""

from __future__ import annotations

import pytest

from chainwalk import ChainwalkError
from chainwalk.render import Request, find_blocks, parse_request


def one(markdown: str) -> Request:
    blocks, problems = find_blocks(markdown, "docs/p.md")
    assert not problems and len(blocks) == 1
    return parse_request(blocks[0])


def problems_of(body: str) -> list[str]:
    blocks, _ = find_blocks(f"intro\n\n```chainwalk\n{body}\n```\n", "docs/p.md")
    with pytest.raises(ChainwalkError) as e:
        parse_request(blocks[0])
    return [str(p) for p in e.value.problems]


def test_blocks_keep_their_lines_and_indentation() -> None:
    text = ("# T\n\n```chainwalk\nview: rules\nruleset: current\nchain: X\n```\n\n"
            "!!! note\n\n    ~~~~chainwalk\n    view: sequence\n    scenario: a/b\n    ~~~~\n")
    blocks, problems = find_blocks(text, "docs/p.md")
    assert not problems
    assert [(b.line, b.indent, b.start, b.end) for b in blocks] == [(3, "", 2, 7),
                                                                      (11, "    ", 10, 14)]
    assert blocks[1].body == "view: sequence\nscenario: a/b"
    assert parse_request(blocks[1]) == Request("sequence", scenario="a/b")


def test_fences_inside_other_fences_are_not_blocks() -> None:
    text = "````markdown\n```chainwalk\nview: rules\n```\n````\n\n```text\n```chainwalk\n```\n"
    blocks, problems = find_blocks(text, "docs/p.md")
    assert blocks == [] and problems == []


def test_other_info_strings_are_not_blocks() -> None:
    blocks, _ = find_blocks("```chainwalk-x\nview: a\n```\n```chainwalk {.x}\nv: 1\n```\n", "p")
    assert blocks == []


def test_unclosed_block_is_a_problem_at_its_line() -> None:
    blocks, problems = find_blocks("a\n```chainwalk\nview: rules\n", "docs/p.md")
    assert blocks == []
    assert [str(p) for p in problems] == [
        "docs/p.md:2:1: the chainwalk block is never closed, expected a closing ```"]


def test_parameters_and_defaults() -> None:
    assert one("```chainwalk\nview: trace\nscenario: bookinfo/inbound\nreasons: true\n```") == \
        Request("trace", scenario="bookinfo/inbound", reasons=True)
    assert one("```chainwalk\nview: rules\nruleset: current\nchain: ISTIO_OUTPUT\n```").table \
        is None


def test_unknown_view_names_the_line_and_the_choices() -> None:
    assert problems_of("view: flow") == [
        "docs/p.md:4:7: unknown view: got 'flow', expected one of sequence, trace, chains, "
        "rules, listing, coverage, diff, overview, compare, claim, behaviour, correspondence"]


def test_missing_and_unknown_keys_are_all_reported() -> None:
    found = problems_of("view: rules\nruleset: current\ncolour: red")
    assert "docs/p.md:3:1: view rules needs 'chain', expected chain: ..." in found
    assert any(p.startswith("docs/p.md:6:1: unknown key for view rules: got 'colour'")
               for p in found)


@pytest.mark.parametrize("value", ["../secrets", "/etc/passwd", "a/../../b", ".hidden",
                                   "a b", "x\\y"])
def test_paths_must_stay_in_the_rules_folder(value: str) -> None:
    found = problems_of(f"view: listing\nruleset: {value}")
    assert len(found) == 1 and "ruleset: not a file stem inside the rules folder" in found[0]


def test_scenario_ids_and_types_are_checked() -> None:
    assert "scenario: not a scenario id" in problems_of("view: sequence\nscenario: inbound")[0]
    assert "reasons: expected true or false" in problems_of(
        "view: trace\nscenario: a/b\nreasons: yes please")[0]
    assert "table: unknown table" in problems_of(
        "view: rules\nruleset: a\nchain: X\ntable: nats")[0]


def test_invalid_yaml_is_a_problem_at_its_line() -> None:
    found = problems_of("view: rules\nruleset: [current")
    assert len(found) == 1 and found[0].startswith("docs/p.md:") and "invalid YAML" in found[0]


def test_duplicate_keys_are_a_problem() -> None:
    found = problems_of("view: rules\nview: listing\nruleset: a")
    assert found == ["docs/p.md:5:1: duplicate key: got 'view', expected each key once"]


def test_a_block_that_is_not_a_mapping() -> None:
    assert problems_of("- view: rules") == [
        "docs/p.md:3:1: a chainwalk block holds YAML keys, expected view: ... and the view's keys"]
