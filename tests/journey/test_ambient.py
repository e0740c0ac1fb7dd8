"""Ambient mode and TPROXY interception in journeys: ztunnel's listeners, HBONE, policy
routing dumps, and what the scenario files say about them when they are wrong."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from journey_helpers import RULES

from chainwalk import ChainwalkError
from chainwalk.journey import IpRuleDelete, load_scenarios, run_scenario

Write = Callable[..., Path]


@pytest.fixture
def routing_dir(rules_dir: Path) -> Path:
    shutil.copytree(RULES / "routing", rules_dir / "routing")
    return rules_dir / "routing"


AMBIENT = """\
ruleset: rulesets/ambient.rules
pods:
  sleep:
    address: 10.0.1.10
    routing: {rules: routing/sleep.ip-rule, routes: routing/sleep.ip-route}
    sidecar: {kind: ztunnel}
    processes: {sleep: {}}
  httpbin:
    address: 10.0.1.20
    routing: {rules: routing/httpbin.ip-rule, routes: routing/httpbin.ip-route}
    sidecar: {kind: ztunnel}
    processes: {httpbin: {ports: [8000]}}
services:
  httpbin: {vip: 10.96.0.20, port: 8000, endpoints: [httpbin]}
scenarios:
  s:
    title: t
    from: sleep/sleep
    to: httpbin:8000
"""


def test_outbound_goes_through_both_ztunnels(write: Write, routing_dir: Path) -> None:
    (scenario,) = load_scenarios(write(AMBIENT))
    journey = run_scenario(scenario)
    assert [(h.receiver, h.original, h.src) for h in journey.hops] == [
        ("sleep/ztunnel:15001", "10.96.0.20:8000", "10.0.1.10"),
        ("httpbin/ztunnel:15008", "10.0.1.20:15008", "10.0.1.10"),
        # ztunnel connects to the app from the client's address, with its mark
        ("httpbin/httpbin:8000", "10.0.1.20:8000", "10.0.1.10")]
    assert journey.hops[2].output_trace.packet.mark == 0x539
    assert journey.result == "delivered"


def test_without_routing_dumps_the_answer_leaves_the_pod(write: Write,
                                                         routing_dir: Path) -> None:
    # No policy rule for 0x111: the app's answer to the client's address leaves on eth0.
    text = AMBIENT.replace(
        "    routing: {rules: routing/httpbin.ip-rule, routes: routing/httpbin.ip-route}\n", "")
    (scenario,) = load_scenarios(write(text))
    journey = run_scenario(scenario)
    assert (journey.result, journey.hops[-1].outcome) == ("dropped", "dropped")
    assert "the answer (SYN-ACK) leaves on eth0 to 10.0.1.10:40003" in str(journey.reason)


def test_the_ip_rule_what_if(write: Write, routing_dir: Path) -> None:
    text = AMBIENT + "    what-if: [{ip-rule: {pod: httpbin, delete: 32764}}]\n"
    (scenario,) = load_scenarios(write(text))
    assert scenario.what_ifs == (IpRuleDelete("httpbin", 32764),)
    assert run_scenario(scenario).result == "dropped"


@pytest.mark.parametrize(("edit", "line", "message"), [
    ("    what-if: [{ip-rule: {pod: httpbin, delete: 7}}]\n", 20,
     "pod httpbin's ip rules have no rule of this priority: got '7'"),
    ("    what-if: [{ip-rule: {pod: httpbin, delete: 32764}}]\n", None, None),
])
def test_the_ip_rule_what_if_names_a_rule_that_exists(write: Write, routing_dir: Path,
                                                      edit: str, line: int | None,
                                                      message: str | None) -> None:
    path = write(AMBIENT + edit)
    if message is None:
        assert load_scenarios(path)
        return
    with pytest.raises(ChainwalkError) as caught:
        load_scenarios(path)
    assert [str(p) for p in caught.value.problems] == [f"{path}:{line}:48: {message}, expected "
                                                       "a priority that ip rule show prints"]


def test_a_bad_routing_dump_is_reported_at_its_line(write: Write, routing_dir: Path) -> None:
    (routing_dir / "httpbin.ip-rule").write_text(
        "0:\tfrom all lookup local\n32764:\tfrom all fwmark 0x111/0xfff lookup 101\n")
    with pytest.raises(ChainwalkError) as caught:
        load_scenarios(write(AMBIENT))
    assert [str(p) for p in caught.value.problems] == [
        f"{routing_dir / 'httpbin.ip-rule'}:2:43: the rule looks up table 101, which "
        f"{routing_dir / 'httpbin.ip-route'} does not have: got '101', expected a table of "
        "the route dump (100, 254, 255) or the dump of ip route show table all"]


def test_a_missing_routing_dump_is_reported(write: Write, routing_dir: Path) -> None:
    (routing_dir / "httpbin.ip-route").unlink()
    with pytest.raises(ChainwalkError) as caught:
        load_scenarios(write(AMBIENT))
    (problem,) = caught.value.problems
    assert str(problem).endswith(":10:55: routing dump file not found: got "
                                 "'routing/httpbin.ip-route', expected a file relative to "
                                 f"{routing_dir.parent}")
