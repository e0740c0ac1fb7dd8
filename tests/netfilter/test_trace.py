"""Tracing: a packet followed through a ruleset as the Linux kernel follows it.

The expectations are the kernel's behaviour, seen with real connections:
the Istio journeys, nat consulted only for a connection's first packet (not again on the
``lo`` re-entry), REDIRECT's addresses, ipt_do_table's jumps, gotos and RETURN.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nf_helpers import OTHER_POD, POD_IP, REMOTE, RULESETS, pod_host, rules

from chainwalk import ChainwalkError
from chainwalk.netfilter import (
    Hit,
    Packet,
    Ruleset,
    Trace,
    host_with,
    parse_file,
    parse_text,
    trace,
)

CLASSIC = parse_file(RULESETS / "classic.rules")
CURRENT = parse_file(RULESETS / "current.rules")

APP = {"uid": 1000, "gid": 1000}
ENVOY = {"uid": 1337, "gid": 1337}


def nat(chain: str, rule: int, target: str) -> Hit:
    return Hit("nat", chain, rule, target)


def outbound(dst: str, dport: int, **kw: object) -> tuple[Packet, str]:
    return Packet(dst, dport, **kw), "OUTPUT"  # type: ignore[arg-type]


def inbound(dport: int, dst: str = POD_IP) -> tuple[Packet, str]:
    return Packet(dst, dport, src=OTHER_POD, in_interface="eth0"), "PREROUTING"


# -- Istio ---------------------------------------------------------------------------------

ISTIO = [
    # (ruleset, id, packet and hook, hits, final destination, disposition)
    (CLASSIC, "app-to-another-host-goes-to-15001", outbound(OTHER_POD, 8080, **APP),
     [nat("OUTPUT", 1, "ISTIO_OUTPUT"), nat("ISTIO_OUTPUT", 9, "ISTIO_REDIRECT"),
      nat("ISTIO_REDIRECT", 1, "REDIRECT")], "127.0.0.1:15001", "delivered"),
    (CLASSIC, "envoy-to-its-pod-ip-goes-to-15006", outbound(POD_IP, 9080, **ENVOY),
     [nat("OUTPUT", 1, "ISTIO_OUTPUT"), nat("ISTIO_OUTPUT", 2, "ISTIO_IN_REDIRECT"),
      nat("ISTIO_IN_REDIRECT", 1, "REDIRECT")], "127.0.0.1:15006", "delivered"),
    (CLASSIC, "bound-to-127.0.0.6-returns-at-rule-1",
     outbound(POD_IP, 9080, src="127.0.0.6", **ENVOY),
     [nat("OUTPUT", 1, "ISTIO_OUTPUT"), nat("ISTIO_OUTPUT", 1, "RETURN")],
     "10.0.0.5:9080", "delivered"),
    (CLASSIC, "app-to-localhost-not-captured", outbound("127.0.0.1", 9080, **APP),
     [nat("OUTPUT", 1, "ISTIO_OUTPUT"), nat("ISTIO_OUTPUT", 3, "RETURN")],
     "127.0.0.1:9080", "delivered"),
    (CLASSIC, "app-to-its-pod-ip-not-captured", outbound(POD_IP, 9080, **APP),
     [nat("OUTPUT", 1, "ISTIO_OUTPUT"), nat("ISTIO_OUTPUT", 3, "RETURN")],
     "10.0.0.5:9080", "delivered"),
    (CLASSIC, "envoy-upstream-leaves-by-uid", outbound(OTHER_POD, 9080, **ENVOY),
     [nat("OUTPUT", 1, "ISTIO_OUTPUT"), nat("ISTIO_OUTPUT", 4, "RETURN")],
     "10.0.0.9:9080", "sent"),
    (CLASSIC, "gid-1337-proxy-leaves-by-gid", outbound(OTHER_POD, 9080, uid=1000, gid=1337),
     [nat("OUTPUT", 1, "ISTIO_OUTPUT"), nat("ISTIO_OUTPUT", 7, "RETURN")],
     "10.0.0.9:9080", "sent"),
    (CLASSIC, "app-udp-not-captured", outbound(REMOTE, 53, protocol="udp", **APP), [],
     "93.184.216.34:53", "sent"),
    (CLASSIC, "validation-as-1337-lands-on-15006",
     outbound("127.0.0.6", 15002, src="127.0.0.1", **ENVOY),
     [nat("OUTPUT", 1, "ISTIO_OUTPUT"), nat("ISTIO_OUTPUT", 2, "ISTIO_IN_REDIRECT"),
      nat("ISTIO_IN_REDIRECT", 1, "REDIRECT")], "127.0.0.1:15006", "delivered"),
    (CLASSIC, "validation-as-1000-not-redirected",
     outbound("127.0.0.6", 15002, src="127.0.0.1", **APP),
     [nat("OUTPUT", 1, "ISTIO_OUTPUT"), nat("ISTIO_OUTPUT", 3, "RETURN")],
     "127.0.0.6:15002", "delivered"),
    (CLASSIC, "inbound-9080-goes-to-15006", inbound(9080),
     [nat("PREROUTING", 1, "ISTIO_INBOUND"), nat("ISTIO_INBOUND", 4, "ISTIO_IN_REDIRECT"),
      nat("ISTIO_IN_REDIRECT", 1, "REDIRECT")], "10.0.0.5:15006", "delivered"),
    (CLASSIC, "inbound-22-excluded", inbound(22),
     [nat("PREROUTING", 1, "ISTIO_INBOUND"), nat("ISTIO_INBOUND", 1, "RETURN")],
     "10.0.0.5:22", "delivered"),
    (CLASSIC, "inbound-15090-excluded", inbound(15090),
     [nat("PREROUTING", 1, "ISTIO_INBOUND"), nat("ISTIO_INBOUND", 2, "RETURN")],
     "10.0.0.5:15090", "delivered"),
    (CLASSIC, "inbound-15020-excluded", inbound(15020),
     [nat("PREROUTING", 1, "ISTIO_INBOUND"), nat("ISTIO_INBOUND", 3, "RETURN")],
     "10.0.0.5:15020", "delivered"),
    (CURRENT, "current-app-to-another-host-goes-to-15001", outbound(OTHER_POD, 8080, **APP),
     [nat("OUTPUT", 1, "ISTIO_OUTPUT"), nat("ISTIO_OUTPUT", 11, "ISTIO_REDIRECT"),
      nat("ISTIO_REDIRECT", 1, "REDIRECT")], "127.0.0.1:15001", "delivered"),
    (CURRENT, "current-envoy-to-its-pod-ip-goes-to-15006", outbound(POD_IP, 9080, **ENVOY),
     [nat("OUTPUT", 1, "ISTIO_OUTPUT"), nat("ISTIO_OUTPUT", 4, "ISTIO_IN_REDIRECT"),
      nat("ISTIO_IN_REDIRECT", 1, "REDIRECT")], "127.0.0.1:15006", "delivered"),
    (CURRENT, "current-envoy-hbone-15008-not-redirected", outbound(POD_IP, 15008, **ENVOY),
     [nat("OUTPUT", 1, "ISTIO_OUTPUT"), nat("ISTIO_OUTPUT", 6, "RETURN")],
     "10.0.0.5:15008", "delivered"),
    (CURRENT, "current-bound-to-127.0.0.6-returns",
     outbound(POD_IP, 9080, src="127.0.0.6", **ENVOY),
     [nat("OUTPUT", 1, "ISTIO_OUTPUT"), nat("ISTIO_OUTPUT", 3, "RETURN")],
     "10.0.0.5:9080", "delivered"),
    (CURRENT, "current-app-to-localhost-not-captured", outbound("127.0.0.1", 9080, **APP),
     [nat("OUTPUT", 1, "ISTIO_OUTPUT"), nat("ISTIO_OUTPUT", 5, "RETURN")],
     "127.0.0.1:9080", "delivered"),
    (CURRENT, "current-app-to-its-pod-ip-not-captured", outbound(POD_IP, 9080, **APP),
     [nat("OUTPUT", 1, "ISTIO_OUTPUT"), nat("ISTIO_OUTPUT", 5, "RETURN")],
     "10.0.0.5:9080", "delivered"),
    (CURRENT, "current-app-to-15020-excluded", outbound(OTHER_POD, 15020, **APP),
     [nat("OUTPUT", 1, "ISTIO_OUTPUT"), nat("ISTIO_OUTPUT", 1, "RETURN")],
     "10.0.0.9:15020", "sent"),
    (CURRENT, "current-app-udp-crosses-istio-output-uncaptured",
     outbound(OTHER_POD, 53, protocol="udp", **APP),
     [nat("OUTPUT", 1, "ISTIO_OUTPUT"), nat("ISTIO_OUTPUT", 11, "ISTIO_REDIRECT")],
     "10.0.0.9:53", "sent"),
    (CURRENT, "current-inbound-9080-goes-to-15006", inbound(9080),
     [nat("PREROUTING", 1, "ISTIO_INBOUND"), nat("ISTIO_INBOUND", 5, "ISTIO_IN_REDIRECT"),
      nat("ISTIO_IN_REDIRECT", 1, "REDIRECT")], "10.0.0.5:15006", "delivered"),
    (CURRENT, "current-inbound-15008-excluded", inbound(15008),
     [nat("PREROUTING", 1, "ISTIO_INBOUND"), nat("ISTIO_INBOUND", 1, "RETURN")],
     "10.0.0.5:15008", "delivered"),
    (CURRENT, "current-inbound-15020-excluded", inbound(15020),
     [nat("PREROUTING", 1, "ISTIO_INBOUND"), nat("ISTIO_INBOUND", 2, "RETURN")],
     "10.0.0.5:15020", "delivered"),
    (CURRENT, "current-inbound-15021-excluded", inbound(15021),
     [nat("PREROUTING", 1, "ISTIO_INBOUND"), nat("ISTIO_INBOUND", 3, "RETURN")],
     "10.0.0.5:15021", "delivered"),
    (CURRENT, "current-inbound-15090-excluded", inbound(15090),
     [nat("PREROUTING", 1, "ISTIO_INBOUND"), nat("ISTIO_INBOUND", 4, "RETURN")],
     "10.0.0.5:15090", "delivered"),
]


@pytest.mark.parametrize(("ruleset", "start", "hits", "final", "disposition"),
                         [case[0:1] + case[2:] for case in ISTIO],
                         ids=[case[1] for case in ISTIO])
def test_istio(ruleset: Ruleset, start: tuple[Packet, str], hits: list[Hit], final: str,
               disposition: str) -> None:
    packet, hook = start
    result = trace(ruleset, packet, pod_host(), hook)
    assert len(result.branches) == 1
    assert list(result.hits) == hits
    assert f"{result.final.dst}:{result.final.dport}" == final
    assert (result.verdict, result.disposition) == ("ACCEPT", disposition)


def test_redirect_keeps_the_original_destination_in_the_trace() -> None:
    result = trace(CLASSIC, Packet(OTHER_POD, 8080, **APP), pod_host())
    assert (result.packet.dst, result.packet.dport) == (OTHER_POD, 8080)
    redirect = [s for s in result.steps if s.target == "REDIRECT"]
    assert len(redirect) == 1
    assert str(redirect[0].effect) == "destination 10.0.0.9:8080 -> 127.0.0.1:15001"
    assert (result.final.dst, result.final.dport) == ("127.0.0.1", 15001)
    assert result.to_dict()["packet"]["dst"] == OTHER_POD


def test_routing_happens_before_nat_and_again_after_redirect() -> None:
    result = trace(CLASSIC, Packet(OTHER_POD, 8080, **APP), pod_host())
    events = [str(s.reason) for s in result.steps if s.kind == "event"]
    assert events[0] == "routing: 10.0.0.9 leaves on eth0, source 10.0.0.5"
    rerouted = [e for e in events if e.startswith("rerouted after nat OUTPUT")]
    assert len(rerouted) == 1 and " lo" in rerouted[0]
    assert result.final.src == POD_IP


@pytest.mark.parametrize(("ruleset", "packet"), [
    pytest.param(CLASSIC, Packet(OTHER_POD, 8080, **APP), id="redirected-to-15001"),
    pytest.param(CLASSIC, Packet(POD_IP, 9080, **APP), id="app-to-its-pod-ip"),
    pytest.param(CURRENT, Packet(POD_IP, 9080, **ENVOY), id="envoy-to-15006"),
])
def test_nat_is_not_consulted_on_the_lo_re_entry(ruleset: Ruleset, packet: Packet) -> None:
    result = trace(ruleset, packet, pod_host())
    loop = next(i for i, s in enumerate(result.steps)
                if s.kind == "event" and str(s.reason).startswith("loops back through lo"))
    after = result.steps[loop + 1:]
    assert not [s for s in after if s.table == "nat"]
    # -A PREROUTING -p tcp -j ISTIO_INBOUND counts 0 for pod-internal connections (seen).
    assert not [s for s in result.steps if s.chain == "ISTIO_INBOUND"]
    assert result.main.final.in_interface == "lo"


REDIRECT_RULES = parse_text(rules("""
    *nat
    -A PREROUTING -p tcp -j REDIRECT --to-ports 15006
    -A OUTPUT -p tcp -j REDIRECT --to-ports 15001
    COMMIT
    """))


@pytest.mark.parametrize(("packet", "hook", "destination"), [
    pytest.param(Packet("10.0.0.6", 80, src=OTHER_POD, in_interface="eth0"), "PREROUTING",
                 "10.0.0.5", id="prerouting-secondary-address-to-primary"),
    pytest.param(Packet("10.0.0.5", 80, src=OTHER_POD, in_interface="eth0"), "PREROUTING",
                 "10.0.0.5", id="prerouting-primary-address"),
    pytest.param(Packet("192.168.1.1", 80, src="192.168.1.7", in_interface="eth1"),
                 "PREROUTING", "192.168.1.1", id="prerouting-other-interface"),
    pytest.param(Packet(REMOTE, 80, uid=0, gid=0), "OUTPUT", "127.0.0.1", id="output-to-127.0.0.1"),
])
def test_redirect_destination(packet: Packet, hook: str, destination: str) -> None:
    host = host_with({"eth0": ("10.0.0.5/24", "10.0.0.6/24"), "eth1": ("192.168.1.1/24",)})
    result = trace(REDIRECT_RULES, packet, host, hook)
    assert result.final.dst == destination
    assert result.disposition == "delivered"


def test_redirect_in_output_of_ipv6_goes_to_loopback() -> None:
    ruleset = parse_text("*nat\n-A OUTPUT -p tcp -j REDIRECT --to-ports 15001\nCOMMIT\n", family=6)
    result = trace(ruleset, Packet("fd00::9", 80, uid=1000, gid=1000), pod_host())
    assert (result.final.dst, result.final.dport) == ("::1", 15001)


# -- chains: jumps, gotos, RETURN and policies ------------------------------------------

CHAINS = parse_text(rules("""
    *filter
    :OUTPUT DROP [0:0]
    :A - [0:0]
    :B - [0:0]
    :C - [0:0]
    -A OUTPUT -p tcp --dport 1 -j RETURN
    -A OUTPUT -p tcp --dport 2 -j A
    -A OUTPUT -p tcp --dport 3 -g A
    -A OUTPUT -p tcp --dport 4 -j C
    -A OUTPUT -p tcp --dport 5 -j C
    -A OUTPUT -p tcp -m multiport --dports 2,4 -j ACCEPT
    -A A -j B
    -A A -p tcp --dport 2 -j LOG
    -A B -j RETURN
    -A B -j DROP
    -A C -p tcp --dport 5 -g B
    COMMIT
    """))


def hits(result: Trace) -> list[tuple[str, int, str]]:
    return [(h.chain, h.rule, h.target) for h in result.hits]


@pytest.mark.parametrize(("dport", "verdict", "expected_hits", "last"), [
    pytest.param(1, "DROP", [("OUTPUT", 1, "RETURN")], ("policy", "OUTPUT"),
                 id="return-from-builtin-applies-the-policy"),
    pytest.param(2, "ACCEPT", [("OUTPUT", 2, "A"), ("A", 1, "B"), ("B", 1, "RETURN"),
                               ("A", 2, "LOG"), ("OUTPUT", 6, "ACCEPT")], ("rule", "OUTPUT"),
                 id="jump-returns-to-the-next-rule"),
    pytest.param(3, "DROP", [("OUTPUT", 3, "A"), ("A", 1, "B"), ("B", 1, "RETURN")],
                 ("policy", "OUTPUT"), id="goto-from-builtin-ends-in-the-policy"),
    pytest.param(4, "ACCEPT", [("OUTPUT", 4, "C"), ("OUTPUT", 6, "ACCEPT")], ("rule", "OUTPUT"),
                 id="end-of-user-chain-returns"),
    pytest.param(5, "DROP", [("OUTPUT", 5, "C"), ("C", 1, "B"), ("B", 1, "RETURN")],
                 ("policy", "OUTPUT"), id="goto-then-return-goes-past-the-caller"),
])
def test_jumps_gotos_and_returns(dport: int, verdict: str, expected_hits: list[tuple[str, int, str]],
                                 last: tuple[str, str]) -> None:
    result = trace(CHAINS, Packet(OTHER_POD, dport, uid=0, gid=0), pod_host())
    assert result.verdict == verdict
    assert hits(result) == expected_hits
    decisive = [s for s in result.steps if s.kind in ("rule", "policy", "return")][-1]
    assert (decisive.kind, decisive.chain) == last


def test_goto_then_return_resumes_in_the_chain_that_jumped() -> None:
    ruleset = parse_text(rules("""
        *filter
        :OUTPUT DROP [0:0]
        -N A
        -N B
        -A OUTPUT -j A
        -A OUTPUT -j ACCEPT
        -A A -g B
        -A A -j DROP
        -A B -j RETURN
        COMMIT
        """))
    result = trace(ruleset, Packet(OTHER_POD, 80, uid=0, gid=0), pod_host())
    assert hits(result) == [("OUTPUT", 1, "A"), ("A", 1, "B"), ("B", 1, "RETURN"),
                            ("OUTPUT", 2, "ACCEPT")]


def test_a_dropped_packet_says_what_dropped_it() -> None:
    result = trace(CHAINS, Packet(OTHER_POD, 1, uid=0, gid=0), pod_host())
    assert result.disposition == "dropped"
    decided = result.main.decided_by
    assert decided is not None and (decided.kind, decided.chain, decided.rule) == (
        "policy", "OUTPUT", 7)


def test_reject_is_a_rejection_by_its_rule() -> None:
    ruleset = parse_text("*filter\n-A OUTPUT -p tcp --dport 23 -j REJECT --reject-with tcp-reset\n"
                         "COMMIT\n")
    result = trace(ruleset, Packet(OTHER_POD, 23, uid=0, gid=0), pod_host())
    assert (result.verdict, result.disposition) == ("REJECT", "rejected")
    assert result.main.decided_by is not None and result.main.decided_by.rule == 1


def test_hits_are_every_rule_whose_matches_all_held() -> None:
    ruleset = parse_text(rules("""
        *mangle
        -A OUTPUT -j MARK --set-mark 0x1
        -A OUTPUT -m mark --mark 0x2 -j MARK --set-mark 0x3
        COMMIT
        *filter
        -N SIDE
        -A OUTPUT -p tcp
        -A OUTPUT -p udp -j LOG
        -A OUTPUT -j LOG --log-prefix "out "
        -A OUTPUT -j SIDE
        -A OUTPUT -m mark --mark 0x1 -j ACCEPT
        -A OUTPUT -j DROP
        -A SIDE -p tcp
        COMMIT
        """))
    result = trace(ruleset, Packet(OTHER_POD, 80, uid=0, gid=0), pod_host())
    assert list(result.hits) == [
        Hit("mangle", "OUTPUT", 1, "MARK"),
        Hit("filter", "OUTPUT", 1, ""),
        Hit("filter", "OUTPUT", 3, "LOG"),
        Hit("filter", "OUTPUT", 4, "SIDE"),
        Hit("filter", "SIDE", 1, ""),
        Hit("filter", "OUTPUT", 5, "ACCEPT"),
    ]
    assert [s.rule for s in result.steps if s.kind == "rule" and not s.hit
            and s.table == "filter"] == [2]


# -- targets that change the packet --------------------------------------------------------

def test_dnat_changes_the_destination_for_later_tables() -> None:
    ruleset = parse_text(rules("""
        *nat
        -A OUTPUT -d 10.96.0.10 -p udp --dport 53 -j DNAT --to-destination 10.0.0.1:5353
        COMMIT
        *filter
        :OUTPUT DROP [0:0]
        -A OUTPUT -d 10.96.0.10 -j DROP
        -A OUTPUT -m conntrack --ctstate DNAT -d 10.0.0.1 -p udp --dport 5353 -j ACCEPT
        COMMIT
        """))
    result = trace(ruleset, Packet("10.96.0.10", 53, "udp", uid=0, gid=0), pod_host())
    assert hits(result) == [("OUTPUT", 1, "DNAT"), ("OUTPUT", 2, "ACCEPT")]
    assert (result.final.dst, result.final.dport, result.disposition) == ("10.0.0.1", 5353, "sent")


HOST_FIREWALL = parse_text(rules("""
    *mangle
    -A OUTPUT -p tcp -m multiport --dports 80,443 -j MARK --set-mark 0x10
    -A OUTPUT -m mark ! --mark 0x0 -j CONNMARK --save-mark
    COMMIT
    *nat
    :SERVICES - [0:0]
    :SVC_WEB - [0:0]
    -A OUTPUT -d 10.96.0.0/16 -j SERVICES
    -A OUTPUT -d 10.0.0.5/32 -p tcp --dport 80 -j DNAT --to-destination 127.0.0.1:9080
    -A OUTPUT -d 10.96.0.20/32 -j DNAT --to-destination 10.0.0.98
    -A POSTROUTING -o eth0 -p tcp -m mark --mark 0x10 -j SNAT --to-source 10.0.0.5:61000
    -A SERVICES -d 10.96.0.10/32 -p udp --dport 53 -j DNAT --to-destination 10.0.0.1:53
    -A SERVICES -d 10.96.0.20/32 -p tcp -g SVC_WEB
    -A SERVICES -d 10.96.0.20/32 -j DNAT --to-destination 10.0.0.99
    -A SVC_WEB -p tcp --dport 80 -j DNAT --to-destination 10.0.0.99:8080
    -A SVC_WEB -p tcp --dport 443 -j DNAT --to-destination 192.168.7.7:8443
    COMMIT
    *filter
    :OUTPUT DROP [0:0]
    -A OUTPUT -m mark --mark 0x10 -j ACCEPT
    -A OUTPUT -m conntrack --ctstate DNAT -j ACCEPT
    -A OUTPUT -o lo -j ACCEPT
    COMMIT
    """))


def test_dnat_to_a_local_address_goes_through_lo() -> None:
    result = trace(HOST_FIREWALL, Packet(POD_IP, 80, uid=1000, gid=1000), pod_host())
    assert (result.final.dst, result.final.dport) == ("127.0.0.1", 9080)
    assert result.disposition == "delivered"
    assert Hit("nat", "OUTPUT", 2, "DNAT") in result.hits


def test_dnat_to_another_host_reroutes_out_of_lo() -> None:
    ruleset = parse_text("*nat\n-A OUTPUT -d 127.0.0.1 -p tcp -j DNAT --to-destination "
                         "10.0.0.9:80\nCOMMIT\n")
    # A socket bound to the pod IP: once DNATed, nothing loopback is left to leave eth0.
    result = trace(ruleset, Packet("127.0.0.1", 8080, src=POD_IP, uid=0, gid=0), pod_host())
    assert (result.disposition, result.final.out_interface) == ("sent", "eth0")
    assert (result.final.dst, result.final.dport) == (OTHER_POD, 80)
    first_event = next(str(s.reason) for s in result.steps if s.kind == "event")
    assert first_event == "routing: 127.0.0.1 leaves on lo, source 10.0.0.5"


def test_mark_set_in_mangle_is_seen_by_filter_and_snat() -> None:
    result = trace(HOST_FIREWALL, Packet(OTHER_POD, 443, uid=1000, gid=1000), pod_host())
    assert [(h.table, h.chain, h.rule, h.target) for h in result.hits] == [
        ("mangle", "OUTPUT", 1, "MARK"),
        ("mangle", "OUTPUT", 2, "CONNMARK"),
        ("filter", "OUTPUT", 1, "ACCEPT"),
        ("nat", "POSTROUTING", 1, "SNAT"),
    ]
    assert (result.final.mark, result.final.ctmark) == (0x10, 0x10)
    assert (result.final.src, result.final.sport) == (POD_IP, 61000)


def test_goto_into_a_service_chain_then_dnat() -> None:
    result = trace(HOST_FIREWALL, Packet("10.96.0.20", 80, uid=1000, gid=1000), pod_host())
    assert [(h.chain, h.rule, h.target) for h in result.hits if h.table == "nat"] == [
        ("OUTPUT", 1, "SERVICES"), ("SERVICES", 2, "SVC_WEB"), ("SVC_WEB", 1, "DNAT"),
        ("POSTROUTING", 1, "SNAT")]
    assert (result.final.dst, result.final.dport) == ("10.0.0.99", 8080)


def test_end_of_a_goto_chain_returns_to_the_caller_of_the_caller() -> None:
    """SERVICES -g SVC_WEB: SVC_WEB's end returns to OUTPUT, not to SERVICES' rule 3."""
    result = trace(HOST_FIREWALL, Packet("10.96.0.20", 22, uid=1000, gid=1000), pod_host())
    nat_rules = [(s.chain, s.rule, s.result) for s in result.steps
                 if s.table == "nat" and s.hook == "OUTPUT" and s.kind in ("rule", "return")]
    assert nat_rules[-4:] == [("SVC_WEB", 2, "not-matched"), ("SVC_WEB", 3, "return"),
                              ("OUTPUT", 2, "not-matched"), ("OUTPUT", 3, "matched")]
    assert (result.final.dst, result.disposition) == ("10.0.0.98", "sent")


def test_masquerade_uses_the_outgoing_interfaces_address() -> None:
    ruleset = parse_text("*nat\n-A POSTROUTING -o eth0 -j MASQUERADE\nCOMMIT\n")
    host = host_with({"eth0": ("10.0.0.5/24", "10.0.0.6/24")})
    result = trace(ruleset, Packet(OTHER_POD, 80, src="10.0.0.6", uid=0, gid=0), host)
    assert result.final.src == "10.0.0.5"
    assert str(result.steps[-2].effect) == "source 10.0.0.6:40000 -> 10.0.0.5:40000"


@pytest.mark.parametrize(("target", "mark_before", "mark_after"), [
    ("--set-mark 0x10", 0x3, 0x10),
    ("--set-xmark 0x1/0x3", 0xF, 0xD),
    ("--or-mark 0x100", 0x1, 0x101),
    ("--and-mark 0xff", 0x1F0F, 0xF),
    ("--xor-mark 0x3", 0x1, 0x2),
])
def test_mark_arithmetic(target: str, mark_before: int, mark_after: int) -> None:
    ruleset = parse_text(f"*mangle\n-A OUTPUT -j MARK {target}\nCOMMIT\n")
    result = trace(ruleset, Packet(OTHER_POD, 80, uid=0, gid=0, mark=mark_before), pod_host())
    assert result.final.mark == mark_after


def test_connmark_save_and_restore() -> None:
    ruleset = parse_text(rules("""
        *mangle
        -A PREROUTING -j CONNMARK --restore-mark --mask 0xff
        -A PREROUTING -m mark --mark 0x7 -j MARK --set-mark 0x1f
        -A PREROUTING -j CONNMARK --save-mark --nfmask 0xf0 --ctmask 0xff
        -A PREROUTING -m connmark --mark 0x110 -j ACCEPT
        COMMIT
        """))
    # restore: mark = (0 & ~0xff) ^ (0x107 & 0xff) = 0x7; save: ctmark = (0x107 & ~0xff) ^
    # (0x1f & 0xf0) = 0x110, as xt_CONNMARK computes them.
    packet = Packet(POD_IP, 80, src=OTHER_POD, in_interface="eth0", ctmark=0x107)
    result = trace(ruleset, packet, pod_host(), "PREROUTING")
    assert hits(result) == [("PREROUTING", 1, "CONNMARK"), ("PREROUTING", 2, "MARK"),
                            ("PREROUTING", 3, "CONNMARK"), ("PREROUTING", 4, "ACCEPT")]
    assert (result.final.mark, result.final.ctmark) == (0x1F, 0x110)


def test_tproxy_delivers_to_the_transparent_socket_keeping_the_destination() -> None:
    ruleset = parse_text("*mangle\n-A PREROUTING -p tcp -j TPROXY --on-port 15006 "
                         "--tproxy-mark 0x539/0xffffffff\nCOMMIT\n")
    host = pod_host(local_marks=((0x539, 0xFFFFFFFF),))
    result = trace(ruleset, Packet(REMOTE, 80, src=OTHER_POD, in_interface="eth0"), host,
                   "PREROUTING")
    assert result.disposition == "delivered"
    assert result.main.tproxy == (REMOTE, 15006)
    assert (result.final.dst, result.final.dport, result.final.mark) == (REMOTE, 80, 0x539)


@pytest.mark.parametrize("untrack", ["-j CT --notrack", "-j NOTRACK"])
def test_untracked_connections_skip_nat(untrack: str) -> None:
    ruleset = parse_text(rules(f"""
        *raw
        -A OUTPUT {untrack}
        COMMIT
        *nat
        -A OUTPUT -p tcp -j REDIRECT --to-ports 15001
        COMMIT
        *filter
        :OUTPUT DROP [0:0]
        -A OUTPUT -m conntrack --ctstate UNTRACKED -j ACCEPT
        COMMIT
        """))
    result = trace(ruleset, Packet(OTHER_POD, 80, uid=0, gid=0), pod_host())
    assert not [s for s in result.steps if s.table == "nat"]
    assert (result.final.dst, result.verdict) == (OTHER_POD, "ACCEPT")


def test_nat_sees_only_a_connections_first_packet() -> None:
    result = trace(CLASSIC, Packet(OTHER_POD, 8080, ctstate="ESTABLISHED", **APP), pod_host())
    assert result.hits == ()
    assert (result.final.dst, result.disposition) == (OTHER_POD, "sent")


def test_ct_zone_is_recorded() -> None:
    dns = parse_file(RULESETS / "dns.rules")
    result = trace(dns, Packet(OTHER_POD, 53, "udp", uid=1000, gid=1000), pod_host())
    raw = [s for s in result.steps if s.table == "raw" and s.hook == "OUTPUT" and s.hit]
    assert [(s.chain, s.rule, str(s.effect)) for s in raw] == [
        ("OUTPUT", 1, "jump ISTIO_OUTPUT_DNS"), ("ISTIO_OUTPUT_DNS", 5, "conntrack zone 2")]
    assert (result.final.dst, result.final.dport) == ("127.0.0.1", 15053)


# -- criteria ------------------------------------------------------------------------------

CRITERIA = [
    # (rule, packet, hook, matched?)
    ("-m owner --uid-owner 1000-2000", Packet(OTHER_POD, 80, uid=1500, gid=0), "OUTPUT", True),
    ("-m owner --uid-owner 1000-2000", Packet(OTHER_POD, 80, uid=999, gid=0), "OUTPUT", False),
    ("-m owner ! --gid-owner 1337", Packet(OTHER_POD, 80, uid=1, gid=1337), "OUTPUT", False),
    ("-m owner --gid-owner 5 --suppl-groups",
     Packet(OTHER_POD, 80, uid=1, gid=1, groups=(5,)), "OUTPUT", True),
    ("-m owner --gid-owner 5", Packet(OTHER_POD, 80, uid=1, gid=1, groups=(5,)), "OUTPUT", False),
    ("-m owner --socket-exists", Packet(OTHER_POD, 80, uid=1, gid=1), "OUTPUT", True),
    # xt_owner without a local socket: only an all-negated rule matches
    ("-m owner --uid-owner 0", Packet(OTHER_POD, 80), "OUTPUT", False),
    ("-m owner ! --uid-owner 0", Packet(OTHER_POD, 80), "OUTPUT", True),
    ("-o eth+", Packet(OTHER_POD, 80, uid=0, gid=0), "OUTPUT", True),
    ("! -o lo", Packet("127.0.0.1", 80, uid=0, gid=0), "OUTPUT", False),
    ("-s 10.0.0.0/24 -d 10.0.0.9", Packet(OTHER_POD, 80, uid=0, gid=0), "OUTPUT", True),
    ("! -d 10.0.0.0/8", Packet(OTHER_POD, 80, uid=0, gid=0), "OUTPUT", False),
    ("-p tcp --sport 40000", Packet(OTHER_POD, 80, uid=0, gid=0), "OUTPUT", True),
    ("-p tcp ! --dport 1:1024", Packet(OTHER_POD, 80, uid=0, gid=0), "OUTPUT", False),
    ("-p udp", Packet(OTHER_POD, 80, uid=0, gid=0), "OUTPUT", False),
    ("! -p udp", Packet(OTHER_POD, 80, uid=0, gid=0), "OUTPUT", True),
    ("-p tcp --syn", Packet(OTHER_POD, 80, uid=0, gid=0), "OUTPUT", True),
    ("-p tcp --syn", Packet(OTHER_POD, 80, uid=0, gid=0, tcp_flags=("ACK",)), "OUTPUT", False),
    ("-p tcp -m multiport --ports 40000", Packet(OTHER_POD, 80, uid=0, gid=0), "OUTPUT", True),
    ("-p udp -m multiport --dports 53,5353", Packet(OTHER_POD, 5353, "udp", uid=0, gid=0),
     "OUTPUT", True),
    ("-m mark --mark 0x10/0xf0", Packet(OTHER_POD, 80, uid=0, gid=0, mark=0x1F), "OUTPUT", True),
    ("-m connmark ! --mark 0x1", Packet(OTHER_POD, 80, uid=0, gid=0, ctmark=1), "OUTPUT", False),
    ("-m conntrack --ctstate NEW", Packet(OTHER_POD, 80, uid=0, gid=0), "OUTPUT", True),
    ("-m conntrack --ctstate RELATED,ESTABLISHED", Packet(OTHER_POD, 80, uid=0, gid=0),
     "OUTPUT", False),
    ("-m comment --comment anything", Packet(OTHER_POD, 80, uid=0, gid=0), "OUTPUT", True),
    ("-m addrtype --dst-type LOCAL", Packet(POD_IP, 80, uid=0, gid=0), "OUTPUT", True),
    ("-m addrtype --dst-type LOCAL", Packet("127.0.0.53", 80, uid=0, gid=0), "OUTPUT", True),
    ("-m addrtype --dst-type LOCAL", Packet(OTHER_POD, 80, uid=0, gid=0), "OUTPUT", False),
    ("-m iprange --dst-range 10.0.0.1-10.0.0.9", Packet(OTHER_POD, 80, uid=0, gid=0),
     "OUTPUT", True),
    ("-m iprange ! --src-range 10.0.0.1-10.0.0.9", Packet(OTHER_POD, 80, uid=0, gid=0),
     "OUTPUT", False),
    ("-i eth0", Packet(POD_IP, 80, src=OTHER_POD, in_interface="eth0"), "PREROUTING", True),
    ("-i eth1", Packet(POD_IP, 80, src=OTHER_POD, in_interface="eth0"), "PREROUTING", False),
    # xt_socket ignores a listener bound to any address unless --nowildcard (seen in the
    # kernel: tests/kernel/test_kernel_policy_routing.py).
    ("-p tcp -m socket", Packet(POD_IP, 80, src=OTHER_POD, in_interface="eth0"), "PREROUTING",
     False),
    ("-p tcp -m socket --nowildcard", Packet(POD_IP, 80, src=OTHER_POD, in_interface="eth0"),
     "PREROUTING", True),
    ("-p tcp -m socket --nowildcard --transparent",
     Packet(POD_IP, 80, src=OTHER_POD, in_interface="eth0"), "PREROUTING", False),
]


@pytest.mark.parametrize(("spec", "packet", "hook", "matched"),
                         CRITERIA, ids=[f"{c[0]}|{'hit' if c[3] else 'miss'}" for c in CRITERIA])
def test_criterion(spec: str, packet: Packet, hook: str, matched: bool) -> None:
    ruleset = parse_text(f"*mangle\n-A {hook} {spec} -j MARK --set-mark 0x99\nCOMMIT\n")
    host = pod_host(sockets=("tcp:0.0.0.0:80",))
    result = trace(ruleset, packet, host, hook)
    assert (Hit("mangle", hook, 1, "MARK") in result.hits) is matched
    step = next(s for s in result.steps if s.kind == "rule")
    assert (step.reason is None) is matched


def test_not_matched_rules_say_why() -> None:
    result = trace(CLASSIC, Packet(OTHER_POD, 8080, **APP), pod_host())
    reasons = [s.reason for s in result.steps if s.kind == "rule" and s.chain == "ISTIO_OUTPUT"]
    assert [r.code for r in reasons[:4] if r is not None] == [
        "source.not-in", "out.other", "out.other", "owner.uid"]
    assert [str(r) for r in reasons[:4]] == ["source 10.0.0.5 is not in 127.0.0.6/32",
                           "leaves on eth0, rule wants lo", "leaves on eth0, rule wants lo",
                           "socket owner uid 1000, rule wants 1337"]


# -- forks: chance and the unknown ------------------------------------------------------

SERVICE = parse_text(rules("""
    *nat
    :SVC - [0:0]
    -A OUTPUT -d 10.96.0.1 -p tcp -j SVC
    -A OUTPUT -m set --match-set blocked dst -j DNAT --to-destination 10.9.9.9
    -A SVC -p tcp -m statistic --mode random --probability 0.33333333349 -j DNAT --to-destination 10.1.0.1:80
    -A SVC -p tcp -m statistic --mode random --probability 0.50000000000 -j DNAT --to-destination 10.1.0.2:80
    -A SVC -p tcp -j DNAT --to-destination 10.1.0.3:80
    COMMIT
    """))


def test_statistic_forks_into_branches_whose_probabilities_sum_to_one() -> None:
    result = trace(SERVICE, Packet("10.96.0.1", 80, uid=0, gid=0), pod_host())
    assert [b.final.dst for b in result.branches] == ["10.1.0.1", "10.1.0.2", "10.1.0.3"]
    probabilities = [b.probability for b in result.branches]
    assert probabilities == pytest.approx([1 / 3, 1 / 3, 1 / 3], abs=1e-9)
    assert sum(probabilities) == pytest.approx(1.0)  # type: ignore[arg-type]
    assert result.branches[1].assumptions == (
        "nat:SVC:1: not random, probability 0.33333333349",
        "nat:SVC:2: random, probability 0.50000000000")
    assert [h.rule for h in result.branches[2].hits if h.chain == "SVC"] == [3]


@pytest.mark.parametrize(("spec", "matched"), [
    ("--mode nth --every 4 --packet 0", 0.25),
    ("--mode nth ! --every 4 --packet 0", 0.75),
    ("--mode random --probability 0.25", 0.25),
    ("--mode random ! --probability 0.25", 0.75),
])
def test_statistic_probabilities(spec: str, matched: float) -> None:
    ruleset = parse_text(f"*mangle\n-A OUTPUT -m statistic {spec} -j MARK --set-mark 1\nCOMMIT\n")
    result = trace(ruleset, Packet(OTHER_POD, 80, uid=0, gid=0), pod_host())
    by_mark = {b.final.mark: b.probability for b in result.branches}
    assert by_mark == pytest.approx({1: matched, 0: 1 - matched})


def test_lenient_unknown_ipset_forks_with_unknown_probability() -> None:
    result = trace(SERVICE, Packet("10.96.0.2", 80, uid=0, gid=0), pod_host(lenient=True))
    assert [(b.probability, b.final.dst) for b in result.branches] == [
        (None, "10.9.9.9"), (None, "10.96.0.2")]
    assert result.branches[0].assumptions == (
        "nat:OUTPUT:2: membership of ipset blocked (not in the ruleset file)",)
    assert result.to_dict()["branches"][1]["probability"] is None


def test_strict_unknown_ipset_is_an_error_at_the_rule() -> None:
    with pytest.raises(ChainwalkError) as caught:
        trace(SERVICE, Packet("10.96.0.2", 80, uid=0, gid=0), pod_host())
    (problem,) = caught.value.problems
    assert problem.location.line == 4
    assert "ipset blocked" in problem.message


@pytest.mark.parametrize(("members", "destination"), [
    (("10.96.0.0/24",), "10.9.9.9"), (("192.168.0.1",), "10.96.0.2")])
def test_known_ipset_members_decide(members: tuple[str, ...], destination: str) -> None:
    result = trace(SERVICE, Packet("10.96.0.2", 80, uid=0, gid=0),
                   pod_host(ipsets={"blocked": members}))
    assert len(result.branches) == 1
    assert result.branches[0].probability == 1.0
    assert result.final.dst == destination


def test_owner_by_name_is_unknown() -> None:
    ruleset = parse_text("*nat\n-A OUTPUT -m owner --uid-owner istio-proxy -j RETURN\n"
                         "-A OUTPUT -p tcp -j REDIRECT --to-ports 15001\nCOMMIT\n")
    with pytest.raises(ChainwalkError):
        trace(ruleset, Packet(OTHER_POD, 80, uid=1337, gid=1337), pod_host())
    result = trace(ruleset, Packet(OTHER_POD, 80, uid=1337, gid=1337), pod_host(lenient=True))
    assert sorted(b.final.dport for b in result.branches) == [80, 15001]
    assert {b.probability for b in result.branches} == {None}


# -- the destination index ---------------------------------------------------------------

POOL = [f"10.96.0.{n}" for n in range(1, 9)]


@st.composite
def long_chain(draw: st.DrawFn) -> str:
    """A nat OUTPUT chain of 16 to 40 rules, most of them for one exact -d address."""
    lines = []
    size = draw(st.integers(16, 40))
    for _ in range(size):
        extra = draw(st.sampled_from(["", "-p tcp --dport 80", "-p udp", "-m mark --mark 0x1",
                                      "-p tcp ! --dport 443"]))
        target = draw(st.sampled_from(["-j RETURN", "-j LOG", "-j SIDE", "-j MARK --set-mark 1",
                                       "-j DNAT --to-destination 10.1.0.1"]))
        if draw(st.integers(0, 3)):
            lines.append(f"-A OUTPUT -d {draw(st.sampled_from(POOL))}/32 {extra} {target}")
        else:
            other = draw(st.sampled_from(["! -d 10.96.0.1", "-d 10.96.0.0/24", ""]))
            lines.append(f"-A OUTPUT {other} {extra} {target}")
    return "*nat\n:SIDE - [0:0]\n-A SIDE -p udp -j RETURN\n" + "\n".join(lines) + "\nCOMMIT\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=long_chain(),
       dst=st.sampled_from([*POOL, "10.96.0.200", OTHER_POD]),
       dport=st.sampled_from([80, 443, 53]), protocol=st.sampled_from(["tcp", "udp"]),
       mark=st.sampled_from([0, 1]))
def test_destination_index_gives_the_same_hits_as_explain_all(
        text: str, dst: str, dport: int, protocol: str, mark: int) -> None:
    ruleset = parse_text(text)
    chain = ruleset.chain("nat", "OUTPUT")
    assert chain is not None
    if chain.index is None:  # too few exact -d rules for an index: nothing to compare
        return
    packet = Packet(dst, dport, protocol, uid=0, gid=0, mark=mark)
    fast = trace(ruleset, packet, pod_host())
    slow = trace(ruleset, packet, pod_host(), explain_all=True)
    assert [b.hits for b in fast.branches] == [b.hits for b in slow.branches]
    assert [(b.verdict, b.disposition, b.final) for b in fast.branches] == [
        (b.verdict, b.disposition, b.final) for b in slow.branches]
    assert not [s for s in slow.steps if s.kind == "skipped"]


def test_destination_index_skips_rules_and_says_so() -> None:
    lines = [f"-A OUTPUT -d 10.96.{n // 250}.{n % 250 + 1}/32 -p tcp -j DNAT "
             f"--to-destination 10.1.0.{n % 250 + 1}" for n in range(40)]
    ruleset = parse_text("*nat\n" + "\n".join(lines) + "\nCOMMIT\n")
    chain = ruleset.chain("nat", "OUTPUT")
    assert chain is not None and chain.index is not None
    fast = trace(ruleset, Packet("10.96.0.30", 80, uid=0, gid=0), pod_host())
    slow = trace(ruleset, Packet("10.96.0.30", 80, uid=0, gid=0), pod_host(), explain_all=True)
    assert fast.hits == slow.hits == (Hit("nat", "OUTPUT", 30, "DNAT"),)
    skipped = [s for s in fast.steps if s.kind == "skipped"]
    assert [(s.rule, s.count) for s in skipped] == [(1, 29)]
    assert len([s for s in slow.steps if s.kind == "rule"]) == 30


# -- inputs and errors --------------------------------------------------------------------

def test_forwarding_off_drops_a_packet_for_another_host() -> None:
    ruleset = parse_text("*filter\n-A FORWARD -j ACCEPT\nCOMMIT\n")
    packet = Packet(OTHER_POD, 80, src="192.168.1.7", in_interface="eth1")
    dropped = trace(ruleset, packet, pod_host(), "PREROUTING")
    assert (dropped.verdict, dropped.disposition) == ("DROP", "unroutable")
    forwarded = trace(ruleset, packet, pod_host(forwarding=True), "PREROUTING")
    assert (forwarded.disposition, forwarded.final.out_interface) == ("sent", "eth0")
    assert forwarded.hits == (Hit("filter", "FORWARD", 1, "ACCEPT"),)


@pytest.mark.parametrize(("call", "message"), [
    pytest.param(lambda: trace(CLASSIC, Packet(OTHER_POD, 80), pod_host(), "INPUT"),
                 "a trace starts at OUTPUT or PREROUTING, not INPUT", id="bad-hook"),
    pytest.param(lambda: trace(CLASSIC, Packet("fd00::9", 80), pod_host()),
                 "an IPv6 packet cannot cross the IPv4 ruleset", id="family-mismatch"),
    pytest.param(lambda: Packet("10.0.0.300", 80), "packet dst '10.0.0.300' is not an IP address",
                 id="bad-destination"),
    pytest.param(lambda: Packet("10.0.0.1", 80, src="::1"),
                 "packet src and dst are of different address families", id="mixed-families"),
    pytest.param(lambda: Packet("10.0.0.1", 70000), "packet dport 70000 is not a port (0-65535)",
                 id="bad-port"),
    pytest.param(lambda: host_with({"eth0": ("10.0.0.5/33",)}),
                 "interface eth0: '10.0.0.5/33' is not an address such as 10.0.0.5/24",
                 id="bad-interface-address"),
])
def test_bad_trace_inputs_are_chainwalk_errors(call: object, message: str) -> None:
    with pytest.raises(ChainwalkError) as caught:
        call()  # type: ignore[operator]
    assert str(caught.value).startswith(message)


def test_trace_to_dict() -> None:
    result = trace(CLASSIC, Packet(OTHER_POD, 8080, **APP), pod_host(),
                   with_handshake=True).to_dict()
    assert set(result) == {"hook", "packet", "verdict", "disposition", "final", "handshake",
                           "hits", "steps", "branches"}
    assert result["handshake"]["outcome"] == "completes"
    assert result["hits"][1] == {"table": "nat", "chain": "ISTIO_OUTPUT", "rule": 9,
                                 "target": "ISTIO_REDIRECT"}
    assert result["final"]["dst"] == "127.0.0.1" and result["final"]["dport"] == 15001
    assert result["branches"][0]["probability"] == 1.0
    assert result["steps"][1] == {"kind": "rule", "table": "nat", "hook": "OUTPUT",
                                  "chain": "OUTPUT", "rule": 1, "text": "-p tcp -j ISTIO_OUTPUT",
                                  "result": "matched", "target": "ISTIO_OUTPUT",
                                  "effect": "jump ISTIO_OUTPUT"}


def test_the_first_ct_target_wins_and_later_ones_are_ignored() -> None:
    # xt_CT leaves a packet that already has conntrack settings alone (seen with the
    # DNS rules: Envoy's own query keeps zone 1, not the later zone 2).
    ruleset = parse_text(rules("""
        *raw
        -A OUTPUT -p udp -m udp --dport 53 -j CT --zone 1
        -A OUTPUT -p udp -m udp --dport 53 -j CT --zone 2
        -A OUTPUT -p udp -j CT --notrack
        COMMIT
        """))
    result = trace(ruleset, Packet("10.0.0.1", 53, "udp", uid=1337, gid=1337), pod_host())
    effects = [str(s.effect) for s in result.steps if s.hit]
    assert effects == ["conntrack zone 1", "ignored: the packet already has conntrack settings",
                       "ignored: the packet already has conntrack settings"]
    assert [h.rule for h in result.hits] == [1, 2, 3]


# -- the TCP handshake after the first packet lands ---------------------------------------

HANDSHAKE_RULES = rules("""
    *nat
    -A OUTPUT -d 10.96.0.1/32 -p tcp -j REDIRECT --to-ports 15001
    -A OUTPUT -d 10.96.0.3/32 -p tcp -j REDIRECT --to-ports 15003
    COMMIT
    *filter
    -A INPUT -p tcp -m tcp --sport 81 -j DROP
    -A OUTPUT -p tcp -m tcp --dport 82 --tcp-flags SYN,ACK ACK -j DROP
    -A OUTPUT -p tcp -m tcp --sport 15001 -m owner --uid-owner 1337 -j DROP
    -A OUTPUT -d 127.0.0.1/32 -p tcp -m tcp --dport 15002 -j REJECT
    -A OUTPUT -d 127.0.0.1/32 -p tcp -m tcp --dport 15003 --tcp-flags SYN,ACK ACK -j DROP
    COMMIT
    """)


@pytest.mark.parametrize(("dst", "dport", "outcome", "reason"), [
    (OTHER_POD, 80, "completes", "the answer and the client's ACK both get through"),
    # the answer comes from port 81 and INPUT drops it
    (OTHER_POD, 81, "reply-dropped", "the answer (SYN-ACK) is dropped by filter:INPUT:1"),
    # the SYN passes the flags test, the ACK does not
    (OTHER_POD, 82, "ack-dropped", "the client's ACK is dropped by filter:OUTPUT:1"),
    # redirected to 15001: the answer is dropped if its socket is uid 1337's, which the file
    # does not say
    ("10.96.0.1", 80, "unknown", "the answer's fate depends on the owner of the answering "
                                 "socket, which the file does not say"),
    # the ACK is NATed as the SYN was (nat not consulted again): to 127.0.0.1:15003
    ("10.96.0.3", 80, "ack-dropped", "the client's ACK is dropped by filter:OUTPUT:4"),
])
def test_the_handshake_says_whether_the_connection_completes(dst: str, dport: int,
                                                             outcome: str, reason: str) -> None:
    ruleset = parse_text(HANDSHAKE_RULES)
    result = trace(ruleset, Packet(dst, dport, uid=1000, gid=1000), pod_host(),
                   with_handshake=True)
    assert result.disposition in ("sent", "delivered")
    shake = result.main.handshake
    assert shake is not None and (shake.outcome, str(shake.reason)) == (outcome, reason)


def test_udp_dropped_and_unasked_traces_have_no_handshake() -> None:
    ruleset = parse_text(HANDSHAKE_RULES)
    def traced(packet: Packet, with_handshake: bool = True) -> Trace:
        return trace(ruleset, packet, pod_host(), with_handshake=with_handshake)

    udp = traced(Packet(OTHER_POD, 53, "udp", uid=1000, gid=1000))
    assert udp.disposition == "sent" and udp.main.handshake is None
    dropped = traced(Packet("127.0.0.1", 15002, uid=1000, gid=1000))
    assert dropped.disposition == "rejected" and dropped.main.handshake is None
    unasked = traced(Packet(OTHER_POD, 81, uid=1000, gid=1000), with_handshake=False)
    assert unasked.disposition == "sent" and unasked.main.handshake is None
