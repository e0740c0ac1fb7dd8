"""Expectations: the shipped scenarios hold; each kind of mismatch is reported at its line."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from journey_helpers import RULES, scenario_file

from chainwalk.journey import check_scenario, load_scenarios, run_scenario

Write = Callable[..., Path]

ALL = load_scenarios(RULES / "scenarios")


@pytest.mark.parametrize("scenario", ALL, ids=[s.id for s in ALL])
def test_every_shipped_scenario_holds(scenario: object) -> None:
    from chainwalk.journey import Scenario

    assert isinstance(scenario, Scenario)
    assert check_scenario(scenario, run_scenario(scenario)) == []


def test_every_shipped_scenario_expects_something() -> None:
    for scenario in ALL:
        e = scenario.expectations
        assert e.receiver or e.result or e.hops, scenario.id


def mismatches(write: Write, expect: str) -> list[str]:
    block = textwrap.indent(textwrap.dedent(expect), "    ")
    path = write(scenario_file("s:\n  title: t\n  from: client\n  to: server\n  expect:\n"
                               + block))
    (scenario,) = load_scenarios(path)
    return [str(p) for p in check_scenario(scenario, run_scenario(scenario))]


def test_the_right_expectations_hold(write: Write) -> None:
    assert mismatches(write, """\
            result: delivered
            receiver: server/app
            reason: accepts
            hops: [15001, server/envoy, {receiver: server/app:9080, original: 10.0.0.12:9080,
                                         outcome: accepted}]
            rules: [nat:ISTIO_REDIRECT:1, {hop: 2, chain: ISTIO_INBOUND, rule: 5}]
    """) == []


@pytest.mark.parametrize(("expect", "line", "words"), [
    ("    result: loop", 17, ["s: result", "got 'delivered (", "expected loop"]),
    ("    receiver: server/envoy:15006", 17,
     ["final receiver", "got 'server/app:9080'", "expected server/envoy:15006"]),
    ("    reason: forever", 17, ["reason", "containing 'forever'"]),
    ("    hops: [15001, 15006]", 17, ["number of hops", "got '3: client/envoy:15001 <- "
                                      "10.96.0.12:9080,", "expected 2"]),
    ("    hops: [15001, 15007, 9080]", 17, ["hop 2 listener port", "expected 15007"]),
    ("    hops:\n      - 15001\n      - {receiver: server/envoy, original: 10.0.0.12:9081}"
     "\n      - 9080", 19, ["hop 2 original destination", "got '10.0.0.12:9080'",
                           "expected 10.0.0.12:9081"]),
    ("    hops: [15001, 15006, refused]", 17, ["hop 3 outcome", "expected refused"]),
    ("    rules: [nat:ISTIO_OUTPUT:4]", 17, ["deciding rule", "hop 1: nat:OUTPUT:1",
                                             "expected nat:ISTIO_OUTPUT:4 to match"]),
    ("    rules: [{hop: 1, chain: ISTIO_INBOUND, rule: 5}]", 17,
     ["deciding rule", "got 'hop 1: ", "ISTIO_INBOUND:5 in hop 1 to match"]),
    ("    rules: [{hop: 9, chain: ISTIO_INBOUND, rule: 5}]", 17, ["no hop 9"]),
])
def test_a_mismatch_names_its_line_expected_and_got(write: Write, expect: str, line: int,
                                                     words: list[str]) -> None:
    found = mismatches(write, expect + "\n")
    assert len(found) == 1, found
    assert f"test.yaml:{line}:" in found[0], found
    for word in words:
        assert word in found[0], found


def test_all_mismatches_are_reported(write: Write) -> None:
    found = mismatches(write, """\
            result: refused
            receiver: client/app
            hops: [1, 2, 3]
    """)
    assert len(found) == 5, found  # result, receiver, and each of the three hops
