"""The journey engine: hops, sidecar decisions, failures, what-ifs, caching."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from journey_helpers import RULES, TOPOLOGY, scenario_file

from chainwalk import ChainwalkError
from chainwalk.journey import Journey, Scenario, load_scenarios, run_scenario

Write = Callable[..., Path]


def journey(path: Path, name: str | None = None) -> Journey:
    scenarios = load_scenarios(path)
    (scenario,) = [s for s in scenarios if name is None or s.name == name]
    return run_scenario(scenario)


def bookinfo(name: str) -> tuple[Scenario, Journey]:
    (scenario,) = [s for s in load_scenarios(RULES / "scenarios" / "bookinfo.yaml")
                   if s.name == name]
    return scenario, run_scenario(scenario)


def receivers(j: Journey) -> list[str | None]:
    return [h.receiver for h in j.hops]


# -- the article's journeys ---------------------------------------------------------------


def test_inbound_is_the_articles_steps_1_to_8() -> None:
    _, j = bookinfo("inbound")
    assert (j.result, j.receiver) == ("delivered", "reviews/reviews:9080")
    one, two, three = j.hops
    # 1: the app's connection to the VIP is redirected to its own sidecar.
    assert (one.pod, one.process, one.uid, one.src, one.dst, one.dport) == (
        "productpage", "productpage", 1000, "10.0.0.11", "10.96.0.12", 9080)
    assert one.prerouting_trace is None and one.listener == "envoy virtualOutbound :15001"
    assert one.original == "10.96.0.12:9080" and one.outcome == "proxied"
    assert any("first" in n or "only endpoint" in n for n in map(str, one.notes))
    # 2: Envoy's upstream leaves the pod and enters reviews' PREROUTING from the pod IP.
    assert (two.process, two.uid, two.gid, two.dst) == ("envoy", 1337, 1337, "10.0.0.12")
    assert two.output_trace.disposition == "sent"
    assert two.prerouting_trace is not None
    assert two.prerouting_trace.packet.in_interface == "eth0"
    assert two.prerouting_trace.packet.src == "10.0.0.11"
    assert two.prerouting_trace.final.dport == 15006
    assert two.listener == "envoy virtualInbound :15006" and two.original == "10.0.0.12:9080"
    # 3: inbound passthrough from 127.0.0.6 to the original destination.
    assert (three.pod, three.src, three.dst, three.dport) == ("reviews", "127.0.0.6",
                                                              "10.0.0.12", 9080)
    assert three.listener == "app reviews :9080" and three.outcome == "accepted"
    assert len(three.traces) == 1


def test_outbound_leaves_by_the_uid_rule() -> None:
    _, j = bookinfo("outbound")
    hits = [(h.chain, h.rule) for h in j.hops[1].output_trace.hits]
    assert ("ISTIO_OUTPUT", 6) in hits


def test_localhost_is_not_captured() -> None:
    _, j = bookinfo("localhost")
    (hop,) = j.hops
    assert (hop.receiver, hop.original, hop.src) == ("ratings/mongodb:27017",
                                                     "127.0.0.1:27017", "127.0.0.1")


def test_validation_probe_lands_on_15006_with_port_15002() -> None:
    _, j = bookinfo("validation-probe")
    (hop,) = j.hops
    assert (hop.receiver_port, hop.original) == (15006, "127.0.0.6:15002")
    _, other = bookinfo("validation-probe-other-uid")
    assert other.result == "refused" and other.receiver is None
    assert "nothing listens on tcp 127.0.0.6:15002" in str(other.reason)


def test_removing_the_127_0_0_6_rule_loops_at_15006() -> None:
    _, j = bookinfo("no-127-0-0-6-rule")
    assert j.result == "loop" and j.hops[-1].outcome == "loop"
    assert "again, as hop 2 did" in str(j.reason)
    _, gid = bookinfo("no-uid-return")
    assert gid.result == "delivered"
    _, both = bookinfo("no-uid-gid-return")
    assert both.result == "loop" and both.hops[-1].receiver_port == 15001


def test_a_journey_is_immutable() -> None:
    _, j = bookinfo("inbound")
    with pytest.raises(dataclasses.FrozenInstanceError):
        j.result = "dropped"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        j.hops[0].dst = "1.2.3.4"  # type: ignore[misc]
    assert isinstance(j.hops, tuple)


def test_running_twice_gives_equal_journeys() -> None:
    scenario, first = bookinfo("same-pod")
    assert run_scenario(scenario) == first


# -- sidecar decisions ----------------------------------------------------------------------


def test_allow_any_passes_an_unknown_destination_through(write: Write) -> None:
    j = journey(write(scenario_file("s: {title: t, from: client, to: 10.0.0.12:9080}")))
    assert receivers(j) == ["client/envoy:15001", "server/envoy:15006", "server/app:9080"]
    assert any("ALLOW_ANY" in n for n in map(str, j.hops[0].notes))


def test_registry_only_blackholes_an_unknown_destination(write: Write) -> None:
    topology = TOPOLOGY.replace("    processes: {app: {ports: [9080]}}\n  server:",
                                "    processes: {app: {ports: [9080]}}\n"
                                "    sidecar: {outbound-policy: REGISTRY_ONLY}\n  server:")
    path = write(scenario_file("""\
        unknown: {title: t, from: client, to: 10.0.0.12:9080}
        known: {title: t, from: client, to: server:9080}
        """, topology))
    blackholed = journey(path, "unknown")
    assert blackholed.result == "blackholed" and "REGISTRY_ONLY" in str(blackholed.reason)
    assert blackholed.hops[-1].outcome == "blackholed"
    assert journey(path, "known").result == "delivered"


@pytest.mark.parametrize(("port", "where"), [(15001, "virtualOutbound"),
                                             (15006, "virtualInbound")])
def test_a_sidecar_blackholes_its_own_port(write: Write, port: int, where: str) -> None:
    j = journey(write(scenario_file(f"s: {{title: t, from: client, to: 10.0.0.12:{port}}}")))
    assert j.result == "blackholed" and where in str(j.reason) and f"port {port}" in str(j.reason)


def test_localhost_inbound_mode_delivers_to_127_0_0_1(write: Write) -> None:
    path = write(scenario_file("""\
        s:
          title: t
          from: client
          to: server
          what-if: [{inbound-mode: {pod: server, mode: localhost}}]
        """))
    j = journey(path)
    assert (j.hops[-1].dst, j.hops[-1].src, j.hops[-1].original) == ("127.0.0.1", "127.0.0.1",
                                                                     "127.0.0.1:9080")


def test_the_first_endpoint_is_chosen_and_said(write: Write) -> None:
    topology = TOPOLOGY.replace("endpoints: [server]", "endpoints: [server, client]")
    j = journey(write(scenario_file("s: {title: t, from: client, to: server}", topology)))
    assert j.receiver == "server/app:9080"
    assert any("first of 2 endpoints" in n for n in map(str, j.hops[0].notes))


# -- failures -------------------------------------------------------------------------------


def test_nothing_listening_is_refused(write: Write) -> None:
    j = journey(write(scenario_file("s: {title: t, from: client, to: 10.0.0.12:7777}")))
    assert j.result == "refused" and j.hops[-1].outcome == "refused"
    assert j.hops[-1].receiver_pod == "server" and j.hops[-1].receiver is None
    assert "nothing listens on tcp 10.0.0.12:7777 in pod server" in str(j.reason)


def test_udp_without_a_listener_is_refused(write: Write) -> None:
    j = journey(write(scenario_file(
        "s: {title: t, from: client, to: 10.0.0.12:9080, protocol: udp}")))
    # Not captured (ISTIO_REDIRECT only redirects tcp): straight to server, no udp socket.
    assert j.result == "refused" and "ICMP port unreachable" in str(j.reason)


def test_an_address_outside_the_topology_is_dropped(write: Write) -> None:
    j = journey(write(scenario_file("s: {title: t, from: client, to: 192.0.2.1:443}")))
    assert j.result == "dropped" and "no pod or service of the topology has 192.0.2.1" in str(j.reason)


def test_a_drop_rule_says_which_rule(write: Write, rules_dir: Path) -> None:
    (rules_dir / "drop.rules").write_text(
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
        "-A INPUT -p tcp -m tcp --dport 9080 -j DROP\nCOMMIT\n")
    topology = TOPOLOGY.replace("ruleset: rulesets/current.rules", "ruleset: drop.rules")
    j = journey(write(scenario_file("s: {title: t, from: client, to: server}", topology)))
    assert j.result == "dropped"
    assert "filter:INPUT:1" in str(j.reason) and j.hops[-1].receiver_pod == "server"


def test_a_reject_rule_is_refused(write: Write, rules_dir: Path) -> None:
    (rules_dir / "reject.rules").write_text(
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
        "-A OUTPUT -p tcp -j REJECT --reject-with tcp-reset\nCOMMIT\n")
    topology = TOPOLOGY.replace("ruleset: rulesets/current.rules", "ruleset: reject.rules")
    j = journey(write(scenario_file("s: {title: t, from: client, to: server}", topology)))
    assert j.result == "refused" and "filter:OUTPUT:1" in str(j.reason)


def test_the_hop_limit_stops_a_journey(write: Write) -> None:
    path = write(scenario_file("""\
        s:
          title: t
          from: client
          to: server
          hop-limit: 2
          what-if: [{delete: {chain: ISTIO_OUTPUT, rule: -s 127.0.0.6/32 -o lo -j RETURN}}]
        """))
    j = journey(path)
    assert j.result == "hop-limit" and len(j.hops) == 2 and j.hops[-1].outcome == "hop-limit"
    assert "2 hops" in str(j.reason)


def test_an_inserted_rule_takes_effect(write: Write) -> None:
    path = write(scenario_file("""\
        s:
          title: t
          from: client
          to: server
          what-if: [{insert: {pod: client, chain: ISTIO_OUTPUT, before: 1, rule: -j RETURN}}]
        """))
    j = journey(path)
    # The client's app is not captured any more: kube-proxy takes it to server's sidecar.
    assert receivers(j) == ["server/envoy:15006", "server/app:9080"]
    assert any("kube-proxy" in n for n in map(str, j.hops[0].notes))


def test_a_replaced_rule_takes_effect(write: Write) -> None:
    path = write(scenario_file("""\
        s:
          title: t
          from: client
          to: server
          what-if:
            - replace: {pod: client, chain: ISTIO_REDIRECT, rule: 1,
                        with: -p tcp -j REDIRECT --to-ports 15006}
        """))
    j = journey(path)
    assert j.hops[0].receiver == "client/envoy:15006"


def test_ipv6_pods_without_rules_talk_directly(write: Write) -> None:
    path = write("""\
        pods:
          a: {addresses: [fd00::11], processes: {app: {ports: [80]}}}
          b: {addresses: [fd00::12], processes: {app: {ports: [80]}}}
        scenarios:
          s: {title: t, from: a, to: "[fd00::12]:80"}
        """)
    j = journey(path)
    assert (j.result, j.receiver, j.hops[0].original) == ("delivered", "b/app:80",
                                                          "[fd00::12]:80")


def test_a_journey_that_cannot_be_evaluated_says_why(write: Write, rules_dir: Path) -> None:
    (rules_dir / "set.rules").write_text(
        "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
        ":POSTROUTING ACCEPT [0:0]\n-A OUTPUT -m set --match-set blocked dst -j RETURN\n"
        "-A OUTPUT -p udp -j REDIRECT\nCOMMIT\n")  # REDIRECT: nat runs only with conntrack on
    topology = TOPOLOGY.replace("ruleset: rulesets/current.rules", "ruleset: set.rules")
    (scenario,) = load_scenarios(write(scenario_file("s: {title: t, from: client, to: server}",
                                                     topology)))
    with pytest.raises(ChainwalkError) as caught:
        run_scenario(scenario)
    (problem,) = caught.value.problems
    assert str(problem).startswith(f"{rules_dir / 'set.rules'}:6:")
    assert "test/s: " in str(problem) and "ipset blocked" in str(problem)
