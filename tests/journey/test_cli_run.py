"""``chainwalk run`` and ``chainwalk check`` on scenario files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from journey_helpers import RULES, scenario_file

from chainwalk.cli import main

Write = Callable[..., Path]
BOOKINFO = str(RULES / "scenarios" / "bookinfo.yaml")


def test_run_prints_the_hops_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", f"{BOOKINFO}#inbound"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("bookinfo/inbound: ")
    assert "hop 3: reviews/envoy (uid 1337 gid 1337) tcp 127.0.0.6:" in out
    assert "lands on envoy virtualInbound :15006 in pod reviews" in out
    assert "PREROUTING: nat:PREROUTING:1 ISTIO_INBOUND" in out
    assert out.rstrip().endswith("(original destination 10.0.0.12:9080)")


def test_run_json_is_the_journey(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", f"{BOOKINFO}#no-127-0-0-6-rule", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["scenario"] == "bookinfo/no-127-0-0-6-rule" and data["result"] == "loop"
    assert data["what_ifs"] == ["every pod: delete nat ISTIO_OUTPUT -s 127.0.0.6/32 -o lo "
                                "-j RETURN"]
    assert [h["receiver"] for h in data["hops"]] == [
        "productpage/envoy:15001", "reviews/envoy:15006", "reviews/envoy:15006"]
    assert data["hops"][1]["prerouting_trace"]["hook"] == "PREROUTING"


def test_run_mermaid_is_a_sequence_diagram(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", f"{BOOKINFO}#outbound", "--mermaid"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("sequenceDiagram")
    # Labels escaped as the site's diagrams escape them (#58; is ":").
    assert "reviews_reviews->>reviews_envoy: 1#58; 10.96.0.13#58;9080 -#62; #58;15001" in out


def test_run_without_a_name_runs_every_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(RULES / "scenarios" / "classic.yaml"), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 4


def test_run_an_unknown_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", f"{BOOKINFO}#nope"]) == 1
    err = capsys.readouterr().err
    assert "no scenario 'nope'" in err and "inbound" in err


def test_check_accepts_scenarios_and_rulesets(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(RULES / "scenarios"),
                 str(RULES / "rulesets" / "current.rules")]) == 0
    assert "OK" in capsys.readouterr().out


def test_check_reports_a_mismatch_at_its_line(write: Write,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = write(scenario_file("s:\n  title: t\n  from: client\n  to: server\n"
                               "  expect: {receiver: server/envoy}\n"))
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:16:" in err
    assert "got 'server/app:9080', expected server/envoy" in err
    assert "1 problem(s) in 1 file(s), 1 scenario(s)" in err


def test_check_reports_a_bad_scenario_file(write: Write,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = write(scenario_file("s: {title: t, from: ghost, to: server}"))
    assert main(["check", str(path)]) == 1
    assert f"{path}:12:" in capsys.readouterr().err
