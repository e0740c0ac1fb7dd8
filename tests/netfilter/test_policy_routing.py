"""Policy routing: the ``ip rule``/``ip route`` dumps, lookups, and traces that use them.

The dumps in ``tests/fixtures/routing/`` were printed by ``ip rule show`` and ``ip route show
table all`` in a namespace with the ambient (fwmark 0x111/0xfff, table 100) and TPROXY
(fwmark 0x539, table 133) rules, a blackhole and an unreachable route.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nf_helpers import OTHER_POD, POD_IP, REMOTE, pod_host, rules

from chainwalk._errors import ChainwalkError
from chainwalk.netfilter import Packet, parse_text, trace
from chainwalk.netfilter._packet import Socket
from chainwalk.netfilter._policy_routing import (
    PolicyRouting,
    load_policy_routing,
    lookup,
    policy_routing,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "routing"


@pytest.fixture(scope="module")
def routing() -> PolicyRouting:
    return load_policy_routing(str(FIXTURES / "pod.ip-rule"), str(FIXTURES / "pod.ip-route"))


def test_the_dumps_parse(routing: PolicyRouting) -> None:
    assert [(r.priority, r.table, r.fwmark) for r in routing.rules] == [
        (0, "255", None), (32763, "133", (0x539, 0xFFFFFFFF)), (32764, "100", (0x111, 0xFFF)),
        (32766, "254", None), (32767, "253", None)]
    assert [r.type for r in routing.table("133")] == ["local", "unreachable"]
    # ``ip route show table all`` also printed ``local ::1``: not an IPv4 route.
    assert all(":" not in r.prefix for _, routes in routing.tables for r in routes)


@pytest.mark.parametrize(("destination", "mark", "outcome", "interface", "source", "rule"), [
    (POD_IP, 0, "local", "lo", POD_IP, 0),
    ("127.0.0.9", 0, "local", "lo", "127.0.0.1", 0),
    (OTHER_POD, 0, "unicast", "eth0", POD_IP, 32766),
    (REMOTE, 0, "unicast", "eth0", "", 32766),  # default via 10.0.0.1: no src of its own
    (REMOTE, 0x111, "local", "lo", REMOTE, 32764),  # the mask: 0x111 of 0xfff
    (REMOTE, 0x7111, "local", "lo", REMOTE, 32764),
    (REMOTE, 0x112, "unicast", "eth0", "", 32766),
    (REMOTE, 0x539, "local", "lo", REMOTE, 32763),
    ("10.201.0.1", 0x539, "unreachable", None, "", 32763),  # longest prefix of table 133
    ("10.200.0.1", 0, "blackhole", None, "", 32766),
])
def test_lookup(routing: PolicyRouting, destination: str, mark: int, outcome: str,
                interface: str | None, source: str, rule: int) -> None:
    decision = lookup(routing, destination, mark=mark)
    assert (decision.outcome, decision.interface, decision.source) == (outcome, interface,
                                                                       source)
    assert decision.rule is not None and decision.rule.priority == rule


def test_selectors_and_not() -> None:
    routing = policy_routing(rules("""
        0:	from all lookup local
        100:	not from 10.0.0.0/8 iif eth0 unreachable
        200:	from all to 10.96.0.0/12 oif eth1 lookup 7
        32766:	from all lookup main
        """), "r", rules("""
        10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.5
        10.96.0.0/12 dev eth1 table 7
        local 10.0.0.5 dev eth0 table local proto kernel scope host src 10.0.0.5
        """), "t")
    assert lookup(routing, OTHER_POD, source="192.168.0.1", iif="eth0").outcome == "unreachable"
    assert lookup(routing, OTHER_POD, source="10.0.0.7", iif="eth0").interface == "eth0"
    # ``not`` inverts all the selectors together (FIB_RULE_INVERT): iif lo fails them too.
    assert lookup(routing, OTHER_POD, source="10.0.0.7", iif="lo").outcome == "unreachable"
    inside = {"source": "10.0.0.7", "iif": "eth0"}  # past rule 100
    assert lookup(routing, "10.96.0.1", **inside).outcome == "no-route"  # 200 wants oif eth1
    assert lookup(routing, "10.96.0.1", oif="eth1", **inside).interface == "eth1"


def problems(rule_text: str, route_text: str) -> list[str]:
    with pytest.raises(ChainwalkError) as caught:
        policy_routing(rule_text, "node.ip-rule", route_text, "node.ip-route")
    return [str(p) for p in caught.value.problems]


def test_errors_name_file_line_and_column() -> None:
    assert problems("0:\tfrom all lookup local\nx: from all lookup main\n"
                    "10:\tfrom all fwmark 0xzz lookup local\n10:\tfrom all sideways\n"
                    "11:\tfrom all\n",
                    "local 127.0.0.1 dev lo table local\n10.0.0.0/33 dev eth0\n"
                    "default via 10.0.0.1 dev eth0 colour blue\n10.1.0.0/16 via nowhere dev x\n"
                    "10.2.0.0/16\n") == [
        "node.ip-rule:2:1: a rule starts with its priority: got 'x:', expected a priority "
        "such as 32766:",
        "node.ip-rule:3:21: fwmark: not a mark: got '0xzz', expected a mark such as 0x111/0xfff",
        "node.ip-rule:4:14: unknown rule selector or action: got 'sideways', expected not, "
        "from, to, fwmark, iif, oif, lookup, suppress_prefixlength, blackhole, unreachable or "
        "prohibit",
        "node.ip-rule:5:13: the rule does not say what to do, expected lookup TABLE, blackhole, "
        "unreachable or prohibit",
        "node.ip-route:2:1: not a route's destination: got '10.0.0.0/33', expected a route "
        "type, a prefix or default",
        "node.ip-route:3:31: unknown route attribute: got 'colour', expected dev, via, src, "
        "table, proto, scope, metric or another attribute ip route show prints",
        "node.ip-route:4:17: via: not an address: got 'nowhere', expected an IP address",
        "node.ip-route:5:12: a unicast route needs its interface, expected dev NAME",
    ]


def test_a_rule_naming_a_table_the_dump_lacks_is_reported() -> None:
    assert problems("0:\tfrom all lookup local\n32764:\tfrom all fwmark 0x111/0xfff lookup 100\n"
                    "32767:\tfrom all lookup default\n",
                    "local 127.0.0.1 dev lo table local\n") == [
        "node.ip-rule:2:43: the rule looks up table 100, which node.ip-route does not have: "
        "got '100', expected a table of the route dump (255) or the dump of ip route show "
        "table all"]


def test_an_empty_rule_dump_is_refused() -> None:
    assert problems("\n", "") == ["node.ip-rule: no rule in the dump, expected the output "
                                  "of ip rule show"]


# -- traces on a host with routing dumps ---------------------------------------------------

# The ambient in-pod mangle rules (Istio's cni default.golden).
AMBIENT_MANGLE = rules("""
    *raw
    COMMIT
    *mangle
    :ISTIO_PRERT - [0:0]
    :ISTIO_OUTPUT - [0:0]
    -A PREROUTING -j ISTIO_PRERT
    -A OUTPUT -j ISTIO_OUTPUT
    -A ISTIO_PRERT -m mark --mark 0x539/0xfff -j CONNMARK --set-xmark 0x111/0xfff
    -A ISTIO_OUTPUT -m connmark --mark 0x111/0xfff -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff
    COMMIT
    """)


def test_a_restored_connection_mark_reroutes_the_answer_to_lo(routing: PolicyRouting) -> None:
    # ztunnel (mark 0x539) connects to the app from the client's address (transparent);
    # the app's answer to that address must come back to ztunnel, not leave on eth0.
    host = pod_host(routing=(routing,))
    first = trace(parse_text(AMBIENT_MANGLE), Packet(POD_IP, 8080, src=REMOTE, mark=0x539,
                                                     uid=0, gid=0), host,
                  with_handshake=True)
    assert first.disposition == "delivered" and first.final.ctmark == 0x111
    assert first.main.handshake is not None and first.main.handshake.outcome == "completes"
    without_restore = parse_text(AMBIENT_MANGLE.replace(
        "-A ISTIO_OUTPUT -m connmark", "-A ISTIO_OUTPUT -p udp -m connmark"))
    broken = trace(without_restore, Packet(POD_IP, 8080, src=REMOTE, mark=0x539, uid=0, gid=0),
                   host, with_handshake=True)
    assert broken.main.handshake is not None
    assert (broken.main.handshake.outcome, str(broken.main.handshake.reason)) == (
        "reply-dropped", "the answer (SYN-ACK) leaves on eth0 to 93.184.216.34:40000 instead "
        "of coming back to the local client")


def test_the_reroute_after_mangle_output_is_reported(routing: PolicyRouting) -> None:
    ruleset = parse_text("*mangle\n-A OUTPUT -j MARK --set-xmark 0x111/0xfff\nCOMMIT\n")
    result = trace(ruleset, Packet(REMOTE, 80, uid=1000, gid=1000), pod_host(routing=(routing,)))
    events = [str(s.reason) for s in result.steps if s.kind == "event"]
    assert events[0] == ("routing: 93.184.216.34 leaves on eth0, source 10.0.0.5 (rule 32766 "
                         "(from all lookup main): default via 10.0.0.1 dev eth0 linkdown)")
    assert "rerouted after mangle OUTPUT to lo" in events[1]
    assert result.disposition == "delivered"
    assert [r.rule.priority for r in result.main.routes if r.rule] == [32766, 32764, 32764]
    out = json.loads(json.dumps(result.to_dict()))
    assert [r["outcome"] for r in out["routing"]] == ["unicast", "local", "local"]


def test_without_routing_dumps_nothing_changes() -> None:
    ruleset = parse_text("*mangle\n-A OUTPUT -j MARK --set-xmark 0x111/0xfff\nCOMMIT\n")
    result = trace(ruleset, Packet(REMOTE, 80, uid=1000, gid=1000), pod_host())
    assert result.disposition == "sent" and "routing" not in result.to_dict()


TPROXY = "*mangle\n-A PREROUTING -p tcp -j TPROXY --on-port 15006 --tproxy-mark 0x539/0xffffffff\nCOMMIT\n"


@pytest.mark.parametrize(("sockets", "disposition"), [
    ((Socket("tcp", "0.0.0.0", 15006, transparent=True),), "delivered"),
    ((Socket("tcp", "0.0.0.0", 15006),), "dropped"),  # not IP_TRANSPARENT
    ((Socket("tcp", "0.0.0.0", 15001, transparent=True),), "dropped"),  # not on --on-port
    (("tcp:10.0.0.5:15006,transparent",), "delivered"),  # the incoming interface's address
    (("tcp:127.0.0.1:15006,transparent",), "dropped"),
])
def test_tproxy_needs_a_transparent_listener(sockets: tuple[Socket | str, ...],
                                             disposition: str) -> None:
    result = trace(parse_text(TPROXY), Packet(REMOTE, 80, src=OTHER_POD, in_interface="eth0"),
                   pod_host(sockets=sockets), "PREROUTING")
    assert result.disposition == disposition


def test_tproxy_without_the_policy_rule_is_dropped_by_routing(routing: PolicyRouting) -> None:
    host_sockets = ("tcp:0.0.0.0:15006,transparent",)
    packet = Packet(REMOTE, 80, src=OTHER_POD, in_interface="eth0")
    kept = trace(parse_text(TPROXY), packet, pod_host(sockets=host_sockets, routing=(routing,)),
                 "PREROUTING")
    assert kept.disposition == "delivered"
    no_rule = PolicyRouting(4, tuple(r for r in routing.rules if r.priority != 32763),
                            routing.tables)
    dropped = trace(parse_text(TPROXY), packet,
                    pod_host(sockets=host_sockets, routing=(no_rule,)), "PREROUTING")
    assert dropped.disposition == "unroutable"
    assert str(dropped.steps[-1].reason) == ("TPROXY assigned the packet to a socket, but routing does "
                                      "not deliver it locally: dropped")


def test_socket_match_restores_the_socket_mark() -> None:
    ruleset = parse_text(rules("""
        *mangle
        -A PREROUTING -p tcp -m socket --transparent --restore-skmark -j ACCEPT
        COMMIT
        """))
    host = pod_host(sockets=("tcp:10.0.0.5:15008,transparent,mark=0x539",))
    result = trace(ruleset, Packet(POD_IP, 15008, src=OTHER_POD, in_interface="eth0"), host,
                   "PREROUTING")
    assert result.hits and result.final.mark == 0x539
