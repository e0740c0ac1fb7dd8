"""The symbolic walk over nftables rulesets (``_nft_space``) agrees with the concrete nft
trace, which the kernel tests judge: for random rulesets and packets, the piece holding
the packet matches the rules the trace matched and ends as the trace ends (verdict,
destination and port after NAT, mark); every witness it gives, traced, ends where it says;
what it cannot decide it refuses, naming the rule."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_space import HOST, arriving, packets

from chainwalk import ChainwalkError
from chainwalk._errors import Location
from chainwalk.netfilter import Packet, trace
from chainwalk.netfilter._nft_model import NftRuleset
from chainwalk.netfilter._nft_parser import parse_nft_text
from chainwalk.netfilter._proof import (
    concrete_hits,
    differences,
    exploration,
    outcome,
    parse_description,
    point,
    reach,
)
from chainwalk.netfilter._space import TPROXY_PORT, CannotProve, _marks

REPO = Path(__file__).resolve().parents[2]
HERE = Location("<test>", 1, 1)

CRITERIA = ["ip saddr 127.0.0.6", "ip saddr != 10.0.0.0/8", "ip daddr 127.0.0.1",
            "ip daddr != 127.0.0.1", "ip daddr 10.0.0.0/24", "ip daddr { 10.0.0.13, 127.0.0.6 }",
            "ip6 daddr ::1", "oifname \"lo\"", "oifname != \"lo\"", "oifname \"eth*\"",
            "meta l4proto tcp", "meta l4proto udp", "meta l4proto { tcp, udp }",
            "tcp dport 15020", "tcp dport != 15008", "tcp dport != { 53, 15008 }",
            "udp dport 53", "th dport { 80, 443-450 }", "tcp sport 1000-2000",
            "tcp dport < 1024", "th dport >= 15000", "meta skuid 1337", "meta skuid != 1337",
            "meta skgid 1337", "meta skgid != 1337", "meta skuid 1000-1500",
            "meta mark 0x00000001", "meta mark & 0x00000fff == 0x00000539",
            "meta mark & 0x00000fff != 0x00000539", "meta mark { 0x00000010-0x0000001f }",
            "ct state new", "ct state established,related", "ct mark & 0x00000fff == 0x00000111",
            "meta nfproto ipv4", "ip daddr . tcp dport { 10.0.0.13 . 80, 127.0.0.1 . 15001 }",
            "meta mark @marks", "ip daddr @local"]
MARKING = ["meta mark set 0x00000539", "meta mark set meta mark & 0xffff0000 | 0x00000111",
           "ct mark set 0x00000111", "ct mark set ct mark & 0xfffff000 | 0x00000111",
           "meta mark set ct mark", "ct mark set meta mark", "ct zone set 1"]
VERDICTS = ["accept", "drop", "return", "jump a", "goto b", "counter",
            "tcp dport vmap { 80 : accept, 443 : drop, 15001 : jump a }",
            "meta l4proto tcp redirect to :15001", "meta l4proto tcp dnat ip to 10.0.0.13:9080",
            *MARKING]
SETS = ("add set inet t marks { type mark ; flags interval ; }\n"
        "add element inet t marks { 0x00000539, 0x00004000-0x00004fff }\n"
        "add set inet t local { type ipv4_addr ; flags interval ; }\n"
        "add element inet t local { 127.0.0.0/8, 10.0.0.12 }\n")


def protocols_agree(rule: str) -> bool:
    """Whether nft takes the rule's protocols (it refuses ``udp dport 53 tcp dport 80``)."""
    try:
        parse_nft_text("add table inet t\nadd chain inet t c\nadd chain inet t a\n"
                       f"add chain inet t b\n{SETS}add rule inet t c {rule}\n")
    except ChainwalkError as e:
        return "conflicting protocols" not in str(e)
    return True


@st.composite
def rulesets(draw: st.DrawFn, hook: str = "output") -> str:
    """An inet table with a filter base chain (at a drawn priority) and a nat base chain at
    ``hook``, and two regular chains the nat chain jumps to; a second table's filter chain
    after them."""
    def rules(chain: str, verdicts: list[str], table: str = "t") -> list[str]:
        out = []
        for _ in range(draw(st.integers(0, 4))):
            criteria = [c for c in CRITERIA if table == "t" or "@" not in c]  # t's sets
            verdict = draw(st.sampled_from(verdicts))
            picked = draw(st.lists(st.sampled_from(criteria), max_size=2, unique=True).filter(
                lambda p, v=verdict: protocols_agree(" ".join([*p, v]))))
            out.append(f"add rule inet {table} {chain} {' '.join([*picked, verdict])}")
        return out
    nat = [v for v in VERDICTS if v != "drop"]
    # (a and b hold NAT, valid only under a nat chain: only nat jumps to them)
    plain = [v for v in VERDICTS if not any(w in v for w in ("nat", "redirect", " a", " b"))]
    priority = draw(st.sampled_from([-300, -150, 0]))
    policy = draw(st.sampled_from(["accept", "drop"]))
    lines = ["add table inet t", SETS,
             f"add chain inet t filter {{ type filter hook {hook} priority {priority} ; "
             f"policy {policy} ; }}",
             f"add chain inet t nat {{ type nat hook {hook} priority -100 ; }}",
             "add chain inet t a", "add chain inet t b",
             *rules("filter", plain), *rules("nat", nat),
             *rules("a", [v for v in nat if "jump a" not in v]),
             *rules("b", [v for v in nat if "jump a" not in v and v != "goto b"]),
             "add table inet u",
             f"add chain inet u late {{ type filter hook {hook} priority 10 ; }}",
             *rules("late", ["accept", "drop", "counter", *MARKING], "u")]
    return "\n".join(lines) + "\n"


def agrees(ruleset: NftRuleset, packet: Packet, hook: str = "OUTPUT") -> None:
    found = exploration(ruleset, HOST, hook, point(packet))
    concrete = trace(ruleset, packet, HOST, hook)
    symbolic_hits = {key for key, cubes in found.matched.items() if cubes}
    assert symbolic_hits == concrete_hits(concrete, hook), (packet, concrete.steps)
    ends = found.hook_endings()
    assert len(ends) == 1, ends
    _, decision, piece = ends[0]
    verdict, dst, dport = outcome(decision, piece)
    branch = concrete.main
    if verdict != "ACCEPT":
        assert branch.disposition in ("dropped", "rejected", "unroutable"), (packet, decision)
        return
    # (arriving, a packet routing refuses after the hook was accepted by the hook's rules)
    refused = ("dropped", "rejected") if hook == "PREROUTING" else \
        ("dropped", "rejected", "unroutable")
    assert branch.disposition not in refused, (packet, decision)
    assert (branch.final.dst, branch.final.dport) == (
        packet.dst if dst is None else str(ipaddress.ip_address(dst)),
        packet.dport if dport is None else dport), (packet, decision)
    kept, flipped = _marks(piece, False)
    assert branch.final.mark == (packet.mark & kept) ^ flipped, (packet, decision)
    assert dict(piece[1]).get(TPROXY_PORT) is None


@settings(max_examples=250, deadline=None)
@given(rulesets(), packets())
def test_the_symbolic_walk_agrees_with_the_nft_trace(text: str, packet: Packet) -> None:
    agrees(parse_nft_text(text, "random.nft"), packet)


@settings(max_examples=150, deadline=None)
@given(rulesets("prerouting"), arriving())
def test_the_symbolic_walk_agrees_with_the_nft_trace_of_arriving_packets(
        text: str, packet: Packet) -> None:
    agrees(parse_nft_text(text, "random.nft"), packet, "PREROUTING")


@settings(max_examples=80, deadline=None)
@given(rulesets())
def test_every_nft_witness_lands_where_the_analysis_says(text: str) -> None:
    ruleset = parse_nft_text(text, "random.nft")
    every = parse_description("", HERE)
    for found in reach(ruleset, HOST, "OUTPUT", every, None):
        if found.witness is not None:
            hits = concrete_hits(trace(ruleset, found.witness, HOST, "OUTPUT"), "OUTPUT")
            assert (found.table, found.chain, found.rule) in hits, found


@pytest.mark.parametrize("stem", ["current", "ambient"])
@settings(max_examples=60, deadline=None)
@given(packet=packets())
def test_the_sites_nft_rulesets(stem: str, packet: Packet) -> None:
    ruleset = parse_nft_text((REPO / "rules/rulesets" / f"{stem}.nft").read_text(), stem)
    agrees(ruleset, packet)


def test_an_edited_twin_is_told_apart() -> None:
    """Delete the rule that returns port 15020 from istio-output: the proof finds the
    packets it returned, and its witness, traced, is captured by one and not the other."""
    text = (REPO / "rules/rulesets/current.nft").read_text()
    edited = text.replace("add rule inet istio-proxy-nat istio-output tcp dport 15020 "
                          "counter return\n", "")
    assert edited != text
    current = parse_nft_text(text, "current.nft")
    broken = parse_nft_text(edited, "edited.nft")
    socket = parse_description("socket", HERE)
    assert differences(current, current, HOST, "OUTPUT", socket, None) == []
    found = differences(current, broken, HOST, "OUTPUT", socket, None)
    assert found and all(d.witness.dport == 15020 and d.witness.protocol == "tcp"
                         for d in found)
    assert str(found[0].mine) == "istio-proxy-nat istio-output#1 return"
    one = trace(current, found[0].witness, HOST, "OUTPUT").main.final
    other = trace(broken, found[0].witness, HOST, "OUTPUT").main.final
    assert one.dport == 15020 and other.dport in (15001, 15006)  # captured by the proxy


@pytest.mark.parametrize(("rule", "reason", "hook"), [
    ("meta l4proto tcp numgen random mod 2 vmap { 0 : accept, 1 : drop }",
     "the expression numgen random", "output"),
    ("ip daddr @probes accept", "set @probes (filled by another program)", "output"),
    ("meta skuid \"nobody\" accept", "owner nobody (a name", "output"),
    ("ct zone 1 accept", "the expression ct zone", "output"),
    ("meta iif 1 accept", "the expression meta iif", "output"),
    ("notrack", "notrack", "output"),
    # the kernel takes snat at input and postrouting only
    ("meta l4proto tcp snat ip to 10.0.0.1", "snat (source NAT)", "postrouting"),
])
def test_what_it_cannot_decide_is_refused(rule: str, reason: str, hook: str) -> None:
    text = ("add table ip t\n"
            f"add chain ip t out {{ type nat hook {hook} priority 100 ; }}\n"
            f"add rule ip t out {rule}\n")
    ruleset = parse_nft_text(text, "t.nft")
    with pytest.raises(CannotProve) as refused:
        exploration(ruleset, HOST, hook.upper(), parse_description("", HERE))
    assert str(refused.value).startswith("t.nft:3:"), str(refused.value)
    assert reason in refused.value.reason


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(*[st.sampled_from([((0, 0),), ((3, 9),), ((5, 5),), ((12, 40),),
                                             ((20, 20), (22, 30))])] * 2),
                min_size=8, max_size=30),
       st.lists(st.tuples(st.integers(0, 45), st.integers(0, 45), st.integers(0, 45),
                          st.integers(0, 45)), min_size=1, max_size=4))
def test_partition_is_split_one_alternative_after_another(
        keys: list[tuple[tuple[tuple[int, int], ...], ...]],
        boxes: list[tuple[int, int, int, int]]) -> None:
    """The trie of a set's elements gives exactly what splitting the rest by each element
    in turn gives, element by element, and the rest (checked point by point)."""
    from chainwalk.netfilter._space import DPORT, DST, partition, split

    universe = exploration(parse_nft_text("add table ip t\n", "t.nft"), HOST, "OUTPUT",
                           parse_description("", HERE)).universe
    pieces = []
    for a, b, c, d in boxes:
        cube = list(universe.full())
        cube[DST], cube[DPORT] = ((min(a, b), max(a, b)),), ((min(c, d), max(c, d)),)
        pieces.append((tuple(cube), ()))
    alternatives = [((DST, k[0]), (DPORT, k[1])) for k in keys]
    fast, fast_rest = partition(pieces, alternatives)
    slow: list[list[object]] = []
    rest = pieces
    for alternative in alternatives:
        hit, rest = split(rest, [alternative])
        slow.append(hit)

    def points(found: list[object]) -> set[tuple[int, int]]:
        out = set()
        for cube, _ in found:  # type: ignore[misc]
            for lo, hi in cube[DST]:
                for lo2, hi2 in cube[DPORT]:
                    out |= {(x, y) for x in range(lo, hi + 1) for y in range(lo2, hi2 + 1)}
        return out

    assert [points(f) for f in fast] == [points(s) for s in slow]
    assert points(fast_rest) == points(rest)


def test_an_exponential_nft_ruleset_stops_with_the_bound() -> None:
    """Each chain jumps to the next three times: 3**14 walks (15 chains deep, within the
    kernel's 16 levels). The analysis stops, naming a chain and the bound."""
    lines = ["add table ip t", "add chain ip t out { type filter hook output priority 0 ; }",
             *(f"add chain ip t c{n}" for n in range(15)), "add rule ip t out jump c0"]
    for n in range(14):
        lines += [f"add rule ip t c{n} jump c{n + 1}"] * 3
    ruleset = parse_nft_text("\n".join(lines) + "\n", "deep.nft")
    with pytest.raises(ChainwalkError) as raised:
        exploration(ruleset, HOST, "OUTPUT", parse_description("", HERE))
    assert "deep.nft:" in str(raised.value)
    assert "the symbolic analysis needs more than 200000 rule evaluations" in str(raised.value)


def test_ipv6_and_one_table(capsys: pytest.CaptureFixture[str]) -> None:
    """``--family 6`` proves an nftables ruleset for IPv6; ``--table`` picks one table."""
    from chainwalk.cli import main

    nft = str(REPO / "rules/rulesets/current.nft")
    assert main(["reach", nft, "--family", "6", "--table", "istio-proxy-nat", "--addr",
                 "eth0=fd00::5/64",
                 "--where", "tcp uid=1337 out=lo dst=fd00::5"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert all(line.startswith("istio-proxy-nat:") for line in out)
    # the IPv6 twin of the uid rule to istio-in-redirect, not the IPv4 one
    assert any(line.startswith("istio-proxy-nat:istio-output:rule:6:REACHED   e.g. tcp "
                               "src=fd00::5 dst=fd00::5") for line in out), out
    assert "istio-proxy-nat:istio-output:rule:5:NEVER" in out


def test_the_sites_ambient_twins_are_proved_alike() -> None:
    """ambient.rules and ambient.nft (connection marks, a route chain copying the ct mark
    to the packet) give every packet the same outcome, mark included, at output and
    prerouting; with the mangle rule's mask made 0xff (so that ``mark & 0xff == 0x539``
    never holds), the proof finds ztunnel's packets, whose connection is no longer marked
    0x111, and their traces say so too."""
    from chainwalk.netfilter import parse_file

    iptables = parse_file(str(REPO / "rules/rulesets/ambient.rules"))
    text = (REPO / "rules/rulesets/ambient.nft").read_text()
    nft = parse_nft_text(text, "ambient.nft")
    every = parse_description("", HERE)
    for hook in ("OUTPUT", "PREROUTING"):
        assert differences(iptables, nft, HOST, hook, every, None) == []
    old = "istio-prerouting meta mark & 0xfff == 0x539 counter ct mark set"
    assert text.count(old) == 1
    changed = parse_nft_text(text.replace(old, old.replace("0xfff", "0xff")), "changed.nft")
    found = differences(iptables, changed, HOST, "PREROUTING", every, None)
    assert found and all(d.witness.mark & 0xfff == 0x539 for d in found), found
    for d in found:
        marked = trace(iptables, d.witness, HOST, "PREROUTING").main.final.ctmark
        assert (marked, trace(changed, d.witness, HOST, "PREROUTING").main.final.ctmark) == \
            (0x111, 0)


@pytest.mark.parametrize("stem", ["current", "ambient"])
@settings(max_examples=60, deadline=None)
@given(packet=arriving())
def test_arriving_packets_of_the_sites_nft_rulesets(stem: str, packet: Packet) -> None:
    ruleset = parse_nft_text((REPO / "rules/rulesets" / f"{stem}.nft").read_text(), stem)
    agrees(ruleset, packet, "PREROUTING")
