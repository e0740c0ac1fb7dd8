"""Journeys through nftables rulesets: Bookinfo with Istio's native nftables rules
(``rules/rulesets/current.nft``) takes the same hops as with its iptables rules
(``current.rules``), scenario by scenario, and ambient mode with istio-cni's nftables rules
(``ambient.nft``) as with its iptables ones; a what-if rule edit on an nftables pod is a
clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainwalk import ChainwalkError
from chainwalk.journey import load_scenarios, run_scenario

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "rules" / "scenarios"


def _hops(path: Path, name: str) -> list[tuple[object, ...]]:
    (scenario,) = [s for s in load_scenarios(str(path)) if s.id.endswith("/" + name)]
    journey = run_scenario(scenario)
    return [(h.pod, h.process, h.dst, h.dport, h.receiver, h.original_dst, h.original_dport,
             h.outcome) for h in journey.hops] + [(journey.result, journey.receiver)]


@pytest.mark.parametrize("name", ["inbound", "outbound", "same-pod", "excluded-15020"])
def test_nftables_journeys_take_the_iptables_hops(name: str) -> None:
    nft = _hops(SCENARIOS / "bookinfo-nft.yaml", name)
    assert nft == _hops(SCENARIOS / "bookinfo.yaml", name)
    assert len(nft) >= 2


def test_the_hops_name_nftables_chains() -> None:
    (scenario,) = [s for s in load_scenarios(str(SCENARIOS / "bookinfo-nft.yaml"))
                   if s.id.endswith("/outbound")]
    first = run_scenario(scenario).hops[0].output_trace
    assert [(h.family, h.table, h.chain, h.target) for h in first.hits] == [
        ("inet", "istio-proxy-nat", "output", "istio-output"),
        ("inet", "istio-proxy-nat", "istio-output", "istio-redirect"),
        ("inet", "istio-proxy-nat", "istio-redirect", "redirect")]


def test_a_rule_edit_on_an_nftables_pod_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "rulesets").mkdir()
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "rulesets" / "current.nft").write_text(
        (REPO / "rules" / "rulesets" / "current.nft").read_text())
    text = (SCENARIOS / "bookinfo-nft.yaml").read_text()
    text += ("  edited:\n    title: an edit\n    from: reviews\n    to: ratings:9080\n"
             "    what-if:\n      - delete: {chain: istio-output, rule: 1}\n")
    path = tmp_path / "scenarios" / "edited.yaml"
    path.write_text(text)
    with pytest.raises(ChainwalkError, match="rule edits apply to iptables rulesets"):
        for scenario in load_scenarios(str(path)):
            run_scenario(scenario)


@pytest.mark.parametrize("name", ["outbound", "inbound-plaintext", "proxy-own-traffic",
                                  "kubelet-probe", "dns", "no-fwmark-rule"])
def test_ambient_nftables_journeys_take_the_iptables_hops(name: str) -> None:
    nft = _hops(SCENARIOS / "ambient-nft.yaml", name)
    assert nft == _hops(SCENARIOS / "ambient.yaml", name)


def test_an_nftables_rule_expectation_that_names_no_rule_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "rulesets").mkdir()
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "rulesets" / "current.nft").write_text(
        (REPO / "rules" / "rulesets" / "current.nft").read_text())
    text = (SCENARIOS / "bookinfo-nft.yaml").read_text()
    text += ("  expecting:\n    title: a wrong rule\n    from: reviews\n    to: ratings:9080\n"
             "    expect:\n      rules:\n        - {chain: istio-output, rule: \"counter drop\"}\n")
    path = tmp_path / "scenarios" / "expecting.yaml"
    path.write_text(text)
    with pytest.raises(ChainwalkError) as raised:
        load_scenarios(str(path))
    message = str(raised.value)
    assert "expecting.yaml:" in message and "no such rule in istio-proxy-nat istio-output" in message
    assert "1: " in message  # the rules there are listed
