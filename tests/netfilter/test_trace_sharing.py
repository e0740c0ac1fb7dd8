"""What the trace keeps between calls changes nothing a caller can see.

A trace shares its immutable ``Step``s with earlier traces (a rule evaluated the same way at
the same place gives the same Step), builds ``Branch``, ``Trace`` and the final ``Packet``
without their ``__init__``, and remembers addresses' numbers and TCP flag sets. Each test
here compares with what a fresh ruleset, with nothing remembered, gives.
"""

from __future__ import annotations

import pickle
from dataclasses import replace

import pytest
from nf_helpers import OTHER_POD, RULESETS, pod_host, rules

from chainwalk import ChainwalkError
from chainwalk.netfilter import (
    Branch,
    Packet,
    Ruleset,
    Trace,
    _trace,
    parse_file,
    parse_text,
    trace,
)
from chainwalk.netfilter._compile import State
from chainwalk.netfilter._trace import _packet


def _fresh() -> Ruleset:
    return parse_file(RULESETS / "current.rules")


def test_traces_sharing_steps_equal_fresh_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_trace, "_rule_steps", {})  # whatever other tests left there
    monkeypatch.setattr(_trace, "_shared", {})
    monkeypatch.setattr(_trace, "_RULE_STEPS_MAX", 50)  # overflows often below
    monkeypatch.setattr(_trace, "_SHARED_MAX", 20)
    warm = _fresh()
    packets = [Packet(OTHER_POD, port, protocol, uid=uid, gid=uid)
               for port in range(15000, 15030)
               for protocol in ("tcp", "udp") for uid in (1000, 1337)]
    for packet in packets:
        trace(warm, packet, pod_host())
        assert len(_trace._rule_steps) <= 50 and len(_trace._shared) <= 20
    for packet in packets[::7]:
        again = trace(warm, packet, pod_host())
        fresh = trace(_fresh(), packet, pod_host())
        assert again == fresh
        assert repr(again) == repr(fresh)
        assert again.to_dict() == fresh.to_dict()
        assert again.hits == fresh.hits


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
    nat = parsed.tables[0]
    a = nat.by_name["A"]
    b = replace(nat.by_name["B"], rules=a.rules)  # the very same Rule object
    chains = tuple(b if chain.name == "B" else chain for chain in nat.chains)
    shared = replace(parsed, tables=(replace(nat, chains=chains),))
    packet = Packet(OTHER_POD, 80, uid=1000, gid=1000)
    for _ in range(2):
        steps = [s for s in trace(shared, packet, pod_host()).steps if s.kind == "rule"]
        assert [(s.chain, s.rule, s.result) for s in steps] == [
            ("OUTPUT", 1, "matched"), ("A", 1, "not-matched"),
            ("OUTPUT", 2, "matched"), ("B", 1, "not-matched")]


def test_branch_and_trace_are_what_their_constructors_make() -> None:
    made = trace(_fresh(), Packet(OTHER_POD, 8080, uid=1000, gid=1000), pod_host())
    branch = made.main
    built = Branch(branch.probability, branch.assumptions, branch.steps, branch.verdict,
                   branch.disposition, branch.final, branch.decided_by, branch.tproxy,
                   branch.sport_range, branch.handshake)
    assert built == branch
    assert repr(built) == repr(branch)
    assert vars(built) == vars(branch)
    assert Trace(made.packet, made.hook, made.branches) == made
    assert pickle.loads(pickle.dumps(made)) == made
    assert replace(made, hook="OUTPUT") == made


@pytest.mark.parametrize(("field", "value", "message"), [
    ("sport", 70000, "packet sport 70000 is not a port"),
    ("dport", -1, "packet dport -1 is not a port"),
    ("src", "fd00::5", "different address families"),
])
def test_the_final_packet_is_refused_as_packet_would_refuse_it(field: str, value: object,
                                                               message: str) -> None:
    st = State()
    st.set_dst(OTHER_POD)
    st.set_src("10.0.0.5")
    if field == "src":
        st.set_src(str(value))
    else:
        setattr(st, field, value)
    with pytest.raises(ChainwalkError, match=message):
        _packet(st, ())
