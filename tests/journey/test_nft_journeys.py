"""Journeys through nftables rulesets: Bookinfo with Istio's native nftables rules
(``rules/rulesets/current.nft``) takes the same hops as with its iptables rules
(``current.rules``), scenario by scenario; a what-if rule edit on an nftables pod is a
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
