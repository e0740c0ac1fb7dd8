"""The model as plain data: compared by meaning, hashed by value where it is a value, and
what a rule computes for the trace (its normal form, its checks) made once, on first use."""

from __future__ import annotations

import pickle
from dataclasses import replace

from chainwalk._errors import Location
from chainwalk.netfilter import parse_text
from chainwalk.netfilter._model import Match, Option, Rule, Target
from chainwalk.netfilter._nft_parser import parse_nft_text


def _rule() -> Rule:
    return Rule((Match("", (Option("protocol", ("tcp",)),)),), Target("ACCEPT"), "f", 3, 4,
                (1, 2))


def test_rules_compare_by_meaning_not_by_where_they_came_from() -> None:
    assert _rule() == Rule(_rule().matches, _rule().target, "g", 9, 1)
    assert _rule().location == Location("f", 3, 4)
    assert _rule() != Rule(_rule().matches, Target("DROP"))


def test_options_matches_and_targets_are_hashed_by_value() -> None:
    assert {Option("dport", ("80",)), Option("dport", ("80",))} == {Option("dport", ("80",))}
    assert hash(Match("tcp", (Option("dport", ("80",)),))) == hash(
        Match("tcp", (Option("dport", ("80",)),)))
    assert hash(Target("X", (), False, True)) != hash(Target("X", (), True, True))


def test_a_rule_computes_its_spec_and_checks_once() -> None:
    rule = _rule()
    assert rule.spec == "-p tcp -j ACCEPT"
    assert rule.spec is rule.spec
    assert rule.compiled is rule.compiled
    changed = replace(rule, target=Target("DROP"))
    assert changed.spec == "-p tcp -j DROP"  # not the cached spec of the rule it came from


def test_a_pickled_rule_leaves_its_checks_behind_and_makes_them_again() -> None:
    rule = _rule()
    assert rule.compiled.checks
    again = pickle.loads(pickle.dumps(rule))
    assert again == rule and (again.location, again.counters) == (rule.location, rule.counters)
    assert again.compiled is not rule.compiled and len(again.compiled.checks) == 1


def test_tables_and_rulesets_find_their_parts_by_name() -> None:
    ruleset = parse_text("*nat\n:OUTPUT ACCEPT [0:0]\n:X - [0:0]\n-A X -j RETURN\nCOMMIT\n")
    nat = ruleset.table("nat")
    assert nat is not None and nat.chain("X") is ruleset.chain("nat", "X")
    assert ruleset.chain("nat", "Y") is None and ruleset.table("filter") is None


def test_both_models_list_the_ids_their_owner_matches_name() -> None:
    """A range by its bounds, a user name none, each id once and in order, whatever the
    backend (the trace tries each as a local server's owner)."""
    ruleset = parse_text(
        "*filter\n:OUTPUT ACCEPT [0:0]\n"
        "-A OUTPUT -m owner --uid-owner 2000-3000 --gid-owner 1337 -j ACCEPT\n"
        "-A OUTPUT -m owner ! --uid-owner nobody -j ACCEPT\n"
        "-A OUTPUT -m owner --uid-owner 1337 -j DROP\nCOMMIT\n", "f.rules")
    nft = parse_nft_text(
        "add table inet t\nadd chain inet t out { type filter hook output priority 0 ; }\n"
        "add rule inet t out meta skuid 2000-3000 meta skgid 1337 accept\n"
        "add rule inet t out meta skuid != \"nobody\" accept\n"
        "add rule inet t out meta skuid { 1337, 5 } drop\n", "f.nft")
    assert ruleset.owner_ids == (1337, 2000, 3000)
    assert nft.owner_ids == (5, 1337, 2000, 3000)
