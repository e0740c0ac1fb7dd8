"""The symbolic walk agrees with the concrete trace: for random rulesets and packets, the
rules a packet matches and where each table's walk ends are the same; every witness,
traced, lands where the analysis says; what it cannot decide is refused, never guessed."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainwalk import ChainwalkError
from chainwalk.netfilter import Packet, Ruleset, host_with, parse_file, parse_text, trace
from chainwalk.netfilter._proof import (
    concrete_decision,
    concrete_hits,
    decisions,
    exploration,
    parse_description,
    point,
    reach,
)
from chainwalk.netfilter._space import (
    CannotProve,
    Decision,
    Location,
    _compact,
    _pattern_meet,
    _pattern_minus,
    _preimage,
)
from chainwalk.netfilter._values import MAX_U32

REPO = Path(__file__).resolve().parents[2]
GOLDENS = REPO / ".." / "shared" / "istio-goldens"
HOST = host_with({"eth0": ("10.0.0.12/24",)})
HERE = Location("<test>", 1, 1)

# Marks under masks that are not prefixes, as Istio (ambient, TPROXY) and kube-proxy use them.
MARKS = ["-m mark --mark 0x539/0xfff", "-m mark ! --mark 0x539/0xfff",
         "-m mark --mark 0x4000/0x4000", "-m mark ! --mark 0x1/0x1", "-m mark --mark 0x10/0x1f",
         "-m connmark --mark 0x111/0xfff", "-m connmark ! --mark 0x539/0xfff",
         "-m connmark --mark 0x0/0x4001"]
MARKING = ["-j MARK --set-xmark 0x111/0xfff", "-j MARK --set-xmark 0x4000/0x4000",
           "-j MARK --and-mark 0xffffbfff", "-j MARK --or-mark 0x539", "-j MARK --xor-mark 0x4001",
           "-j MARK --set-mark 0x539", "-j CONNMARK --set-xmark 0x539/0xfff",
           "-j CONNMARK --save-mark --nfmask 0xfff --ctmask 0xfff",
           "-j CONNMARK --save-mark", "-j CONNMARK --restore-mark --nfmask 0xffff --ctmask 0xfff",
           "-j CONNMARK --restore-mark --mask 0x4fff", "-j CONNMARK --xor-mark 0x4000"]
CRITERIA = ["-s 127.0.0.6/32", "! -s 10.0.0.0/8", "-d 127.0.0.1/32", "! -d 127.0.0.1/32",
            "-d 10.0.0.0/24", "-o lo", "! -o lo", "-o eth+", "-p tcp", "-p udp",
            "-p tcp -m tcp --dport 15020", "-p tcp -m tcp ! --dport 15008",
            "-p udp -m udp --dport 53", "-p tcp -m multiport --dports 80,443:450",
            "-p tcp -m tcp --sport 1000:2000",
            "-m owner --uid-owner 1337", "-m owner ! --uid-owner 1337",
            "-m owner --gid-owner 1337", "-m owner ! --gid-owner 1337",
            "-m owner --uid-owner 1000-1500 ! --gid-owner 1337", "-m mark --mark 0x1",
            "-m mark ! --mark 0x10/0xfffffff0", "-m comment --comment x",
            "-m conntrack --ctstate NEW", "-m conntrack --ctstate RELATED,ESTABLISHED",
            "-m state ! --state NEW", *MARKS]
TARGETS = ["-j RETURN", "-j ACCEPT", "-j A", "-g B", "-p tcp -j REDIRECT --to-ports 15001",
           "-p tcp -j DNAT --to-destination 10.0.0.13:9080", "-j MARK --set-xmark 0x1/0xffffffff",
           "-j LOG", "-j DROP", *MARKING]


def _kind(criterion: str) -> str:
    """Criteria of one kind may be given once in a rule."""
    words = criterion.lstrip("! ").split()
    return " ".join(words[:2]) if words[0] == "-m" else ("-p" if "-p" in words else words[0])


@st.composite
def rulesets(draw: st.DrawFn) -> str:
    def rules(chain: str, targets: list[str]) -> list[str]:
        out = []
        for _ in range(draw(st.integers(0, 5))):
            picked = draw(st.lists(st.sampled_from(CRITERIA), max_size=3, unique_by=_kind))
            target = draw(st.sampled_from(targets))
            if "-p tcp" in target and any("-p " in c for c in picked):
                picked = [c for c in picked if "-p " not in c]
            out.append(f"-A {chain} {' '.join(picked)} {target}".replace("  ", " "))
        return out
    policy = draw(st.sampled_from(["ACCEPT", "DROP"]))
    nat = [t for t in TARGETS if t != "-j DROP"]
    mangle = ["-j RETURN", "-j ACCEPT", "-j LOG", *MARKING]
    lines = ["*mangle", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]",
             ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]",
             *rules("OUTPUT", mangle), "COMMIT", "*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]",
             ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]", ":A - [0:0]", ":B - [0:0]",
             *rules("OUTPUT", nat), *rules("A", [t for t in nat if t not in ("-j A",)]),
             *rules("B", [t for t in nat if t not in ("-j A", "-g B")]), "COMMIT",
             "*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]",
             f":OUTPUT {policy} [0:0]",
             *rules("OUTPUT", ["-j ACCEPT", "-j DROP", "-j RETURN", "-j LOG"]), "COMMIT"]
    return "\n".join(lines) + "\n"


LOCAL = ("127.0.0.1", "127.0.0.6", "10.0.0.12")


@st.composite
def packets(draw: st.DrawFn) -> Packet:
    """First packets a process of the pod (10.0.0.12) can send: a loopback source only
    towards the pod itself."""
    dst = draw(st.sampled_from([*LOCAL, "10.0.0.13", "203.0.113.10"]))
    src = draw(st.sampled_from(LOCAL if dst in LOCAL else ("10.0.0.12",)))
    uid = draw(st.sampled_from([None, 0, 1000, 1337, 1500]))
    gid = None if uid is None else draw(st.sampled_from([uid, 1337]))
    return Packet(dst, draw(st.sampled_from([53, 80, 443, 449, 15001, 15008, 15020])),
                  draw(st.sampled_from(["tcp", "udp"])), src,
                  draw(st.sampled_from([999, 1000, 1500, 40000])), uid=uid, gid=gid,
                  mark=draw(st.sampled_from([0, 1, 0x10, 0x1f, 0x539, 0x111, 0x4000, 0x4539,
                                             0xfffff539])))


def agrees(ruleset: Ruleset, packet: Packet, hook: str = "OUTPUT") -> None:
    found = exploration(ruleset, HOST, hook, point(packet))
    concrete = trace(ruleset, packet, HOST, hook)
    symbolic_hits = {key for key, cubes in found.matched.items() if cubes}
    assert symbolic_hits == concrete_hits(concrete, hook), (packet, concrete.steps)
    for table in {d.table for d in found.decisions}:
        ends = [d for d, cubes in found.decisions.items() if d.table == table and cubes]
        assert len(ends) == 1, ends
        assert ends[0] == concrete_decision(concrete, hook, table), (packet, concrete.steps)


@settings(max_examples=200, deadline=None)
@given(rulesets(), packets())
def test_the_symbolic_walk_agrees_with_the_trace(text: str, packet: Packet) -> None:
    agrees(parse_text(text, "random.rules"), packet)


@settings(max_examples=100, deadline=None)
@given(rulesets())
def test_every_witness_lands_where_the_analysis_says(text: str) -> None:
    ruleset = parse_text(text, "random.rules")
    everything = parse_description("", HERE)
    for table in ("mangle", "nat", "filter"):
        for decision, witness in decisions(ruleset, HOST, "OUTPUT", everything,
                                           table).items():
            assert concrete_decision(trace(ruleset, witness, HOST), "OUTPUT", table) == \
                decision, (decision, witness)
        for found in reach(ruleset, HOST, "OUTPUT", everything, table):
            if found.witness is not None:
                hits = concrete_hits(trace(ruleset, found.witness, HOST), "OUTPUT")
                assert (found.table, found.chain, found.rule) in hits, found


@pytest.mark.parametrize("stem", ["current", "classic", "custom-uid", "include-exclude",
                                  "ambient", "tproxy"])
@settings(max_examples=100, deadline=None)
@given(packet=packets())
def test_the_sites_rulesets(stem: str, packet: Packet) -> None:
    agrees(parse_file(str(REPO / "rules" / "rulesets" / f"{stem}.rules")), packet)


def test_current_rules_never_matched_and_reached() -> None:
    """ISTIO_OUTPUT's gid twins (7, 8) and the 127.0.0.1 rule (10) never match a packet
    the pod sends; every other rule does, with a witness that the trace confirms."""
    ruleset = parse_file(str(REPO / "rules" / "rulesets" / "current.rules"))
    found = {r.rule: r for r in reach(ruleset, HOST, "OUTPUT", parse_description("", HERE),
                                      "nat") if r.chain == "ISTIO_OUTPUT"}
    assert sorted(n for n, r in found.items() if r.status == "never") == [7, 8, 10]
    for r in found.values():
        if r.witness is not None:
            assert ("nat", "ISTIO_OUTPUT", r.rule) in concrete_hits(
                trace(ruleset, r.witness, HOST), "OUTPUT")


def test_what_it_cannot_decide_is_refused() -> None:
    text = ("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
            ":POSTROUTING ACCEPT [0:0]\n-A OUTPUT -m statistic --mode random --probability 0.5"
            " -j RETURN\n-A OUTPUT -p tcp -j REDIRECT --to-ports 15001\nCOMMIT\n")
    with pytest.raises(CannotProve) as raised:
        exploration(parse_text(text, "s.rules"), HOST, "OUTPUT", parse_description("", HERE))
    assert str(raised.value) == "s.rules:6:4: cannot prove: -m statistic"


def test_a_description_that_does_not_parse_names_the_column() -> None:
    with pytest.raises(ChainwalkError) as raised:
        parse_description("tcp uid!=x colour=red dst=10.0.0.0/33", Location("p.md", 3, 10))
    assert [str(p) for p in raised.value.problems] == [
        "p.md:3:14: uid: not an id or LOW-HIGH: got 'x', expected an id or LOW-HIGH",
        "p.md:3:21: not a term of a packet description: got 'colour=red', expected tcp, udp, "
        "icmp, socket, no-socket or NAME=VALUE / NAME!=VALUE with NAME one of src, dst, proto, "
        "sport, dport, in, out, uid, gid, mark",
        "p.md:3:32: dst: not an address or prefix: got '10.0.0.0/33', expected an address or "
        "prefix"]


def _golden_rulesets() -> list[Path]:
    return sorted(GOLDENS.glob("*.golden")) if GOLDENS.is_dir() else []


@pytest.mark.skipif(not GOLDENS.is_dir(), reason="../shared/istio-goldens is absent")
@settings(max_examples=20, deadline=None)
@given(packet=packets())
def test_istio_goldens(packet: Packet) -> None:
    from test_goldens import group_by_family, restore_blocks

    checked = 0
    for golden in _golden_rulesets():
        if golden.name.startswith(("append-", "insert-", "multi-rules-")):
            continue
        text = golden.read_text(encoding="utf-8")
        for group in group_by_family(restore_blocks(text)):
            if group.family != 4:
                continue
            ruleset = parse_text(group.text(text), golden.name)
            try:
                agrees(ruleset, packet)
            except CannotProve:  # a match it cannot decide: refused, not guessed
                continue
            except ChainwalkError as e:  # the trace, in a later hook (an ipset...)
                assert not isinstance(e, CannotProve)
                continue
            checked += 1
    assert checked > 40  # all but the owners given by name (marks under masks decided)


@st.composite
def arriving(draw: st.DrawFn) -> Packet:
    """First packets arriving at the pod (no socket), on eth0, on lo or on an interface
    without an address (where REDIRECT drops)."""
    return Packet(draw(st.sampled_from(["10.0.0.12", "10.0.0.13", "127.0.0.1"])),
                  draw(st.sampled_from([22, 80, 15006, 15008, 15020, 15021, 15090])),
                  draw(st.sampled_from(["tcp", "udp"])),
                  draw(st.sampled_from(["10.0.0.11", "203.0.113.10"])), 40000,
                  in_interface=draw(st.sampled_from(["eth0", "eth1", "lo"])),
                  mark=draw(st.sampled_from([0, 0x539, 0x53a, 0x1539])))


@pytest.mark.parametrize("stem", ["current", "classic", "dns", "include-exclude", "ambient",
                                  "tproxy"])
@settings(max_examples=60, deadline=None)
@given(packet=arriving())
def test_arriving_packets(stem: str, packet: Packet) -> None:
    agrees(parse_file(str(REPO / "rules" / "rulesets" / f"{stem}.rules")), packet, "PREROUTING")


def test_an_exponential_ruleset_stops_with_the_bound() -> None:
    """Each chain jumps to the next twice: 2**40 walks. The analysis stops, naming a chain
    and the bound, in about a second."""
    chains = [f"C{n}" for n in range(40)]
    lines = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
             *(f":{c} - [0:0]" for c in chains), "-A OUTPUT -j C0"]
    for a, b in itertools.pairwise(chains):
        lines += [f"-A {a} -j {b}", f"-A {a} -j {b}"]
    ruleset = parse_text("\n".join([*lines, "COMMIT", ""]), "deep.rules")
    with pytest.raises(ChainwalkError) as raised:
        exploration(ruleset, HOST, "OUTPUT", parse_description("", HERE))
    assert "the symbolic analysis needs more than 200000 rule evaluations" in str(raised.value)


@st.composite
def marking_rulesets(draw: st.DrawFn) -> str:
    """A mangle OUTPUT chain of mark and connmark matches and MARK/CONNMARK targets:
    the mark maps compose over many rules."""
    lines = ["*mangle", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]",
             ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]"]
    for _ in range(draw(st.integers(2, 10))):
        picked = draw(st.lists(st.sampled_from(MARKS), max_size=2, unique_by=_kind))
        target = draw(st.sampled_from([*MARKING, *MARKING, "-j RETURN", "-j ACCEPT"]))
        lines.append(f"-A OUTPUT {' '.join(picked)} {target}".replace("  ", " "))
    return "\n".join([*lines, "COMMIT", ""])


@settings(max_examples=500, deadline=None)
@given(marking_rulesets(), packets())
def test_mark_maps_agree_with_the_trace(text: str, packet: Packet) -> None:
    agrees(parse_text(text, "marks.rules"), packet)


@settings(max_examples=100, deadline=None)
@given(marking_rulesets())
def test_mark_witnesses_land_where_the_analysis_says(text: str) -> None:
    ruleset = parse_text(text, "marks.rules")
    everything = parse_description("", HERE)
    for decision, witness in decisions(ruleset, HOST, "OUTPUT", everything, "mangle").items():
        assert concrete_decision(trace(ruleset, witness, HOST), "OUTPUT", "mangle") == \
            decision, (decision, witness)
    for found in reach(ruleset, HOST, "OUTPUT", everything, "mangle"):
        if found.witness is not None:
            hits = concrete_hits(trace(ruleset, found.witness, HOST), "OUTPUT")
            assert (found.table, found.chain, found.rule) in hits, found


def test_a_restored_connection_mark_is_seen() -> None:
    """The connection's mark, set under a mask and restored onto the packet under another,
    decides a later mark match: every mark as sent ends at rule 3, whose witness the trace
    confirms."""
    ruleset = parse_text("\n".join([
        "*mangle", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]",
        ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]",
        "-A OUTPUT -j CONNMARK --set-xmark 0x539/0xfff",
        "-A OUTPUT -j CONNMARK --restore-mark --nfmask 0xffff --ctmask 0xfff",
        "-A OUTPUT -m mark --mark 0x539/0xfff -j ACCEPT", "-A OUTPUT -j DROP", "COMMIT", ""]),
        "restore.rules")
    found = reach(ruleset, HOST, "OUTPUT", parse_description("mark=0x4fff", HERE), "mangle")
    assert [r.status for r in found if r.chain == "OUTPUT"] == ["reached"] * 3 + ["never"]
    witness = found[2].witness
    assert witness is not None and witness.mark == 0x4fff
    assert concrete_decision(trace(ruleset, witness, HOST), "OUTPUT", "mangle") == \
        Decision("mangle", "OUTPUT", 3, "ACCEPT")


patterns = st.lists(st.tuples(st.integers(0, 63), st.integers(0, 63)).map(
    lambda p: (p[0] & p[1], p[1])), max_size=4)


def _members(found: tuple[tuple[int, int], ...]) -> list[int]:
    """The marks 0..63 in ``found`` (patterns over the low six bits), each once per
    pattern holding it: a repeat means two patterns overlap."""
    return sorted(m for m in range(64) for value, care in found if m & care == value)


@settings(max_examples=300, deadline=None)
@given(patterns, patterns)
def test_pattern_sets_are_exact_and_disjoint(a: list[tuple[int, int]],
                                             b: list[tuple[int, int]]) -> None:
    """Meet, difference, compaction and preimages against the sets of marks they stand
    for."""
    def disjoint(given: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
        out: tuple[tuple[int, int], ...] = ()
        for p in given:
            out = _compact([*out, *_pattern_minus((p,), out)])
        return out

    set_a, set_b = disjoint(a), disjoint(b)
    in_a = {m for m in range(64) for value, care in a if m & care == value}
    in_b = {m for m in range(64) for value, care in b if m & care == value}
    assert _members(set_a) == sorted(in_a)  # a union made disjoint, nothing lost
    assert _members(_pattern_meet(set_a, set_b)) == sorted(in_a & in_b)
    assert _members(_pattern_minus(set_a, set_b)) == sorted(in_a - in_b)
    kept, flipped = 0b101100, 0b010110  # the high bits kept: only the low six matter
    assert _members(_preimage(set_b, kept | (MAX_U32 & ~63), flipped)) == sorted(
        m for m in range(64) if (m & kept) ^ flipped in in_b)


def test_a_description_names_marks_under_a_mask() -> None:
    """``mark=V/M`` and ``mark!=V/M`` in a description: the ambient rules' ztunnel mark."""
    ruleset = parse_file(str(REPO / "rules" / "rulesets" / "ambient.rules"))
    ztunnel = {(r.chain, r.rule): r for r in reach(
        ruleset, HOST, "OUTPUT", parse_description("tcp socket mark=0x1539/0xfff", HERE), "nat")}
    others = {(r.chain, r.rule): r for r in reach(
        ruleset, HOST, "OUTPUT", parse_description("tcp socket mark!=0x539/0xfff", HERE), "nat")}
    # ISTIO_OUTPUT#6 redirects to 15001 the TCP of every socket but ztunnel's.
    assert ztunnel[("ISTIO_OUTPUT", 6)].status == "never"
    found = others[("ISTIO_OUTPUT", 6)]
    assert found.status == "reached" and found.witness is not None
    assert found.witness.mark & 0xfff != 0x539
    with pytest.raises(ChainwalkError) as raised:
        parse_description("mark=0x1/0x100000000", HERE)
    assert "mark: not a number or VALUE/MASK" in str(raised.value)


def test_masks_that_overlap_without_nesting_stop_with_the_bound() -> None:
    """Excluding marks under masks shifted one bit apart needs exponentially many
    patterns: the analysis stops, naming the chain and the bound, in well under a second."""
    lines = ["*mangle", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]",
             ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]"]
    for i in range(40):
        mask = (0xfff << (i % 20)) & MAX_U32
        lines.append(f"-A OUTPUT -m mark --mark {hex(i * 2654435761 & mask)}/{hex(mask)} "
                     "-j RETURN")
    ruleset = parse_text("\n".join([*lines, "COMMIT", ""]), "masks.rules")
    with pytest.raises(ChainwalkError) as raised:
        exploration(ruleset, HOST, "OUTPUT", parse_description("", HERE))
    assert not isinstance(raised.value, CannotProve)
    assert "chain OUTPUT: the symbolic analysis needs more than 1000 mark patterns" in \
        str(raised.value)
