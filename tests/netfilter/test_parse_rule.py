"""``parse_rule``: one rule read in the context of its table, as a rule of the file."""

from __future__ import annotations

import pytest
from nf_helpers import RULESETS

from chainwalk import ChainwalkError
from chainwalk.netfilter import Table, parse_file, parse_rule

CURRENT = parse_file(RULESETS / "current.rules")


def nat() -> Table:
    table = CURRENT.table("nat")
    assert table is not None
    return table


def file_rule(chain: str, number: int) -> object:
    found = CURRENT.chain("nat", chain)
    assert found is not None
    return found.rules[number - 1]


def test_a_rule_is_read_as_the_file_reads_it() -> None:
    rule = parse_rule(nat(), "ISTIO_OUTPUT", "-s 127.0.0.6/32 -o lo -j RETURN", 4)
    assert rule == file_rule("ISTIO_OUTPUT", 3)
    assert rule.spec == "-s 127.0.0.6/32 -o lo -j RETURN"


def test_a_jump_resolves_to_a_chain_of_the_table() -> None:
    rule = parse_rule(nat(), "PREROUTING", "-p tcp -j ISTIO_INBOUND", 4)
    assert rule.target is not None and rule.target.is_chain
    assert rule == file_rule("PREROUTING", 1)


def test_another_spelling_gives_the_same_rule() -> None:
    rule = parse_rule(nat(), "ISTIO_INBOUND", "-p tcp --dport 15008 -j RETURN", 4)
    assert rule == file_rule("ISTIO_INBOUND", 1)
    assert rule.spec == "-p tcp -m tcp --dport 15008 -j RETURN"


def test_a_rule_is_checked_from_the_hooks_that_reach_its_chain() -> None:
    # -m owner works from OUTPUT (ISTIO_OUTPUT) but not from PREROUTING (ISTIO_INBOUND).
    assert parse_rule(nat(), "ISTIO_OUTPUT", "-m owner --uid-owner 7 -j RETURN", 4)
    with pytest.raises(ChainwalkError, match="owner"):
        parse_rule(nat(), "ISTIO_INBOUND", "-m owner --uid-owner 7 -j RETURN", 4)


@pytest.mark.parametrize(("chain", "text", "says"), [
    ("ISTIO_OUTPUT", "-j NO_SUCH_CHAIN", "NO_SUCH_CHAIN"),
    ("NO_SUCH_CHAIN", "-j RETURN", "NO_SUCH_CHAIN"),
    ("ISTIO_OUTPUT", "-s fd00::1 -j RETURN", "IPv6"),
    ("ISTIO_OUTPUT", "-j RETURN\n-A OUTPUT -j DROP", "one line"),
])
def test_a_rule_that_is_not_one_is_a_clear_error(chain: str, text: str, says: str) -> None:
    with pytest.raises(ChainwalkError) as caught:
        parse_rule(nat(), chain, text, 4)
    assert says in str(caught.value)
