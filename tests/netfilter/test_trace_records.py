"""A trace's records are plain data: a trace run twice is equal to itself, to a trace of a
fresh parse of the same file, and survives pickling; its final packet is a ``Packet``, refused
where ``Packet`` refuses one."""

from __future__ import annotations

import pickle
from dataclasses import replace

from nf_helpers import OTHER_POD, RULESETS, pod_host, rules

from chainwalk.netfilter import Packet, Rule, Ruleset, parse_file, parse_text, trace
from chainwalk.netfilter._nft_parser import parse_nft_text


def _fresh() -> Ruleset:
    return parse_file(RULESETS / "current.rules")


def test_traces_of_a_ruleset_used_again_equal_fresh_ones() -> None:
    warm = _fresh()
    packets = [Packet(OTHER_POD, port, protocol, uid=uid, gid=uid)
               for port in range(15000, 15010)
               for protocol in ("tcp", "udp") for uid in (1000, 1337)]
    for packet in packets:
        trace(warm, packet, pod_host())
    for packet in packets[::3]:
        again = trace(warm, packet, pod_host())
        fresh = trace(_fresh(), packet, pod_host())
        assert again == fresh
        assert repr(again) == repr(fresh)
        assert again.to_dict() == fresh.to_dict()
        assert again.hits == fresh.hits


def _with_chain_b(parsed: Ruleset, rules: tuple[Rule, ...]) -> Ruleset:
    """``parsed`` with chain B of its one table holding ``rules`` (objects of another
    chain: a ruleset built in code may share them)."""
    table = parsed.tables[0]
    b = replace(table.by_name["B"], rules=rules)
    chains = tuple(b if chain.name == "B" else chain for chain in table.chains)
    return replace(parsed, tables=(replace(table, chains=chains),))


def test_a_rule_object_in_two_chains_gets_each_chains_steps() -> None:
    # Built in code, one Rule can sit in several chains: its Steps must say which.
    parsed = parse_text(rules("""
        *filter
        :OUTPUT ACCEPT [0:0]
        :A - [0:0]
        :B - [0:0]
        -A OUTPUT -j A
        -A OUTPUT -j B
        -A A -p udp -j RETURN
        -A B -p udp -j RETURN
        COMMIT
        """))
    a = parsed.tables[0].by_name["A"]
    shared = _with_chain_b(parsed, a.rules)  # the very same Rule objects
    packet = Packet(OTHER_POD, 80, uid=1000, gid=1000)
    for _ in range(2):
        steps = [s for s in trace(shared, packet, pod_host()).steps if s.kind == "rule"]
        assert [(s.chain, s.rule, s.result) for s in steps] == [
            ("OUTPUT", 1, "matched"), ("A", 1, "not-matched"),
            ("OUTPUT", 2, "matched"), ("B", 1, "not-matched")]


def test_a_jumping_rule_object_in_two_chains_gets_each_chains_steps() -> None:
    # A jump's step is kept with its rule, for each place the rule sits.
    parsed = parse_text(rules("""
        *filter
        :OUTPUT ACCEPT [0:0]
        :A - [0:0]
        :B - [0:0]
        :C - [0:0]
        -A OUTPUT -j A
        -A OUTPUT -j B
        -A A -p udp -j RETURN
        -A A -p tcp -j C
        -A B -p udp -j RETURN
        -A B -p tcp -j C
        COMMIT
        """))
    a = parsed.tables[0].by_name["A"]
    shared = _with_chain_b(parsed, (a.rules[1], a.rules[1]))  # one Rule, twice
    packet = Packet(OTHER_POD, 80, uid=1000, gid=1000)
    for _ in range(2):
        steps = [s for s in trace(shared, packet, pod_host()).steps if s.kind == "rule"]
        assert [(s.chain, s.rule, s.result, s.target) for s in steps] == [
            ("OUTPUT", 1, "matched", "A"), ("A", 1, "not-matched", "RETURN"),
            ("A", 2, "matched", "C"), ("OUTPUT", 2, "matched", "B"),
            ("B", 1, "matched", "C"), ("B", 2, "matched", "C")]


def test_an_nft_rule_object_in_two_chains_gets_each_chains_steps() -> None:
    # The steps of rules a first match rules out are kept with the rule, for each place.
    parsed = parse_nft_text(rules("""
        table ip t {
            chain output {
                type filter hook output priority 0; policy accept;
                jump a
                jump b
            }
            chain a {
                udp dport 53 counter accept
                udp dport 54 counter accept
            }
            chain b {
                counter
            }
        }
        """), "t.nft")
    table = parsed.tables[0]
    a = table.by_name["a"]
    b = replace(table.by_name["b"], rules=(a.rules[1], a.rules[0]))  # the same objects
    chains = tuple(b if chain.name == "b" else chain for chain in table.chains)
    shared = replace(parsed, tables=(replace(table, chains=chains),))
    packet = Packet(OTHER_POD, 80, uid=1000, gid=1000)
    for _ in range(2):
        steps = [s for s in trace(shared, packet, pod_host()).steps if s.kind == "rule"]
        assert [(s.chain, s.rule, s.result) for s in steps] == [
            ("output", 1, "matched"), ("a", 1, "not-matched"), ("a", 2, "not-matched"),
            ("output", 2, "matched"), ("b", 1, "not-matched"), ("b", 2, "not-matched")]


def test_a_trace_pickles_and_compares_by_value() -> None:
    made = trace(_fresh(), Packet(OTHER_POD, 8080, uid=1000, gid=1000), pod_host())
    assert pickle.loads(pickle.dumps(made)) == made
    assert replace(made, hook="OUTPUT") == made
    assert replace(made, hook="PREROUTING") != made
    assert isinstance(made.final, Packet) and made.final.dport == 15001
