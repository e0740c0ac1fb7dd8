"""The "try it" link under a journey's diagram or trace table: its state (the fragment
the playground decodes) names the client pod's ruleset and the journey's first
connection, and the playground's trace of it lands where the journey's first hop did."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from chainwalk.journey import load_scenarios
from chainwalk.playground import trace
from chainwalk.project import Project, Site
from chainwalk.render import decode_state, encode_state, playground_state

ROOT = Path(__file__).resolve().parents[2]
OPTIONS = [("hook", "--hook"), ("proto", "--proto"), ("src", "--src"), ("dst", "--dst"),
           ("sport", "--sport"), ("dport", "--dport"), ("uid", "--uid"), ("gid", "--gid")]
LINK = re.compile(r'data-chainwalk-try="([^"]*)"')


def argv(state: dict[str, str]) -> list[str]:
    found = [item for key, option in OPTIONS if state.get(key)
             for item in (option, state[key])]
    for address in state.get("addr", "").split():
        found += ["--addr", address]
    return found


def test_the_state_round_trips() -> None:
    state = {"ruleset": "current.rules", "dst": "10.0.0.9", "uid": "<b>1000</b>"}
    encoded = encode_state(state)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", encoded)
    assert decode_state(encoded) == state


@pytest.mark.parametrize("view", ["sequence", "trace"])
def test_a_journey_s_block_links_to_the_playground(view: str) -> None:
    page = f"```chainwalk\nview: {view}\nscenario: bookinfo/inbound\n```\n"
    site = Site(Project(ROOT / "rules", ROOT), playground="playground/")
    links = LINK.findall(site.render_page("page.md", page).markdown)
    assert len(links) == 1
    target, _, encoded = html.unescape(links[0]).partition("#s=")
    assert target == "playground/"
    scenario = site.project.scenario("bookinfo/inbound")
    state = decode_state(encoded)
    assert state == playground_state(scenario, site.project.journey(scenario))
    assert state["ruleset"] == "current.rules" and state["uid"] == "1000"
    # A Chinese page links to the Chinese playground, with the same state.
    chinese = LINK.findall(site.render_page("page.zh.md", page).markdown)
    assert [html.unescape(link) for link in chinese] == [
        "zh/" + html.unescape(link) for link in links]
    # Without the option, no link: the site has no playground.
    plain = Site(Project(ROOT / "rules", ROOT)).render_page("page.md", page).markdown
    assert not LINK.search(plain)


def test_each_link_s_trace_lands_where_the_journey_s_first_hop_did() -> None:
    project = Project(ROOT / "rules", ROOT)
    checked = 0
    for path in sorted((ROOT / "rules" / "scenarios").glob("*.yaml")):
        for scenario in load_scenarios(str(path)):
            journey = project.journey(scenario)
            state = playground_state(scenario, journey)
            if state is None:
                pod = scenario.topology.pod(journey.hops[0].pod)
                assert pod is not None
                assert (scenario.what_ifs or ":" in journey.hops[0].dst or not pod.ruleset
                        or pod.routing_paths
                        or pod.ipsets or (pod.sidecar is not None and (
                            pod.sidecar.transparent or pod.sidecar.mark))), scenario.id
                continue
            rules = (ROOT / "rules" / "rulesets" / state["ruleset"]).read_text("utf-8")
            result = trace(rules, state["ruleset"], argv(state))["trace"]
            hop = journey.hops[0]
            if hop.receiver_port is not None and hop.receiver_pod == hop.pod:
                assert result["disposition"] == "delivered", scenario.id
                assert result["final"]["dport"] == hop.receiver_port, scenario.id
            checked += 1
    assert checked >= 20
