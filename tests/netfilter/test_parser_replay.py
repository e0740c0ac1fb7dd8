"""The parser reads a rule whose shape it has met before by replaying the first reading
(``_Reader.append_known``): that must give exactly what reading every rule token by token
gives, the same rules (with their locations) and the same problems, in every chain."""

from __future__ import annotations

import contextlib
import runpy
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nf_helpers import FIXTURES, REPO, RULESETS, rules
from nf_strategies import ruleset_text
from test_goldens import BUILDER, GOLDENS, _goldens, group_by_family, restore_blocks

from chainwalk import ChainwalkError
from chainwalk.netfilter import Ruleset, write_ruleset
from chainwalk.netfilter._parser import _parse, _Reader

# Rules of one shape met again: in other chains (checks that depend on the chain), with
# values that fail, that change the family, that steer the reading (-p) or a module's
# completion (--mode), quoted, or as free text that looks like an option.
TRICKY = {
    "-i in built-in OUTPUT": """
        *filter
        -A INPUT -i eth0 -j ACCEPT
        -A OUTPUT -i eth0 -j ACCEPT
        -A FORWARD -i eth1 -j ACCEPT
        COMMIT
        """,
    "-o in built-in INPUT after a user chain": """
        *filter
        :USER - [0:0]
        -A USER -o eth0 -j ACCEPT
        -A INPUT -o eth0 -j ACCEPT
        -A OUTPUT -o eth0 -j ACCEPT
        COMMIT
        """,
    "a bad value after good ones": """
        *filter
        -A OUTPUT -p tcp -m tcp --dport 80 -j ACCEPT
        -A OUTPUT -p tcp -m tcp --dport 99999 -j ACCEPT
        -A OUTPUT -p tcp -m tcp --dport http -j ACCEPT
        -A OUTPUT -d 10.0.0.1/32 -j DROP
        -A OUTPUT -d 10.0.0.300/32 -j DROP
        COMMIT
        """,
    "an IPv6 address in an IPv4 ruleset": """
        *filter
        -A OUTPUT -d 10.0.0.1/32 -j DROP
        -A OUTPUT -d fd00::1/128 -j DROP
        -A OUTPUT -s 10.0.0.0/8 -d 10.0.0.2 -j DROP
        -A OUTPUT -s fd00::/8 -d 10.0.0.2 -j DROP
        COMMIT
        """,
    "protocols spelt many ways": """
        *filter
        -A OUTPUT -p tcp --dport 80 -j ACCEPT
        -A OUTPUT -p udp --dport 80 -j ACCEPT
        -A OUTPUT -p TCP --dport 81 -j ACCEPT
        -A OUTPUT -p 17 --dport 82 -j ACCEPT
        -A OUTPUT -p icmp --dport 83 -j ACCEPT
        -A OUTPUT -p all -j ACCEPT
        -A OUTPUT -p 0 -j ACCEPT
        -A OUTPUT ! -p all -j ACCEPT
        COMMIT
        """,
    "statistic modes": """
        *nat
        :SVC - [0:0]
        -A SVC -m statistic --mode random --probability 0.5 -j DNAT --to-destination 10.1.0.1:80
        -A SVC -m statistic --mode nth --probability 0.5 -j DNAT --to-destination 10.1.0.2:80
        -A SVC -m statistic --mode random --probability 1.5 -j DNAT --to-destination 10.1.0.3:80
        -A SVC -m statistic --mode nth --every 2 -j DNAT --to-destination 10.1.0.4:80
        -A SVC -m statistic --mode nth --every 2 -j DNAT --to-destination 10.1.0.5
        -A OUTPUT -j SVC
        COMMIT
        """,
    "comments": """
        *filter
        -A OUTPUT -m comment --comment "a b" -j ACCEPT
        -A OUTPUT -m comment --comment -x -j ACCEPT
        -A OUTPUT -m comment --comment "!" -j ACCEPT
        -A OUTPUT -m comment --comment 'c "d"' -j ACCEPT
        -A OUTPUT -m comment --comment "e \\"f\\"" -j ACCEPT
        -A OUTPUT -m comment --comment tcp -j ACCEPT
        -A OUTPUT -m comment --comment "" -j ACCEPT
        COMMIT
        """,
    "targets and chains of one shape": """
        *nat
        :A - [0:0]
        :B - [0:0]
        -A OUTPUT -d 10.96.0.1/32 -j A
        -A OUTPUT -d 10.96.0.2/32 -j B
        -A OUTPUT -d 10.96.0.3/32 -j C
        -A OUTPUT -d 10.96.0.4/32 -j RETURN
        -A OUTPUT -d 10.96.0.5/32 -j REJECT
        -A A -d 10.96.0.6/32 -g B
        -A B -d 10.96.0.7/32 -j A
        COMMIT
        """,
    "values that look like a literal where a shape has a value": """
        *filter
        :C - [0:0]
        -A C -s 10.0.0.1/32 -m comment --comment a -j ACCEPT
        -A C -s 10.0.0.2/32 -m comment --comment b -j ACCEPT
        -A C -s 10.0.0.3/32 -m comment --comment tcp -j ACCEPT
        -A C -s 10.0.0.4/32 -m comment --comment +x -j ACCEPT
        -A C -s 10.0.0.5/32 -m comment --comment "" -j ACCEPT
        -A C -s 10.0.0.6/32 -m comment --comment -x -j ACCEPT
        -A C -s 10.0.0.7/32 -m comment --comment "!" -j ACCEPT
        -A C -s 10.0.0.8/32 -m comment --comment "a b" -j ACCEPT
        -A C -s 10.0.0.9/32 -m comment --comment c -j DROP
        -A C -s 10.0.0.10/32 -m comment --comment d -j C
        -A C -s -5 -m comment --comment e -j ACCEPT
        -A C -s 10.0.0.11/32 -m comment --comment f -j ACCEPT
        -A OUTPUT -s 10.0.0.12/32 -m comment --comment g -j C
        -A OUTPUT -s 10.0.0.13/32 -m comment --comment h -j C
        COMMIT
        """,
    "names where a shape has values": """
        *nat
        :tcp - [0:0]
        :SVC - [0:0]
        -A OUTPUT -d 10.96.0.1/32 -p tcp -m tcp --dport 8080 -j SVC
        -A OUTPUT -d 10.96.0.1/32 -p tcp -m tcp --dport 8081 -j SVC
        -A OUTPUT -d 10.96.0.1/32 -p tcp -m tcp --dport 8082 -j SVC
        -A OUTPUT -d 10.96.0.2/32 -p tcp -m tcp --dport 80 -j SVC
        -A OUTPUT -d 10.96.0.3/32 -p tcp -m tcp --dport 53 -j tcp
        -A OUTPUT -d 10.96.0.4/32 -p tcp -m tcp --dport 8443 -j ACCEPT
        -A OUTPUT -d 10.96.0.5/32 -p tcp -m tcp --dport 8444 -j DNAT
        -A OUTPUT -d 10.96.0.6/32 -p tcp -m tcp --dport 8445 -g tcp
        -A OUTPUT -d 10.96.0.7/32 -p tcp -m tcp --dport 8446 -j MASQUERADE
        COMMIT
        """,
    "shapes in turn, and a table given twice": """
        *nat
        :S - [0:0]
        -A S -s 10.1.0.1/32 -j MARK --set-xmark 0x4000/0x4000
        -A S -p tcp -m tcp -j DNAT --to-destination 10.1.0.1:80
        -A S -s 10.1.0.2/32 -j MARK --set-xmark 0x4000/0x4000
        -A S -p tcp -m tcp -j DNAT --to-destination 10.1.0.2
        -A S -s 10.1.0.3/32 -j MARK --set-xmark 0x4000/0x4000
        -A S -p tcp -m tcp -j DNAT --to-destination 10.1.0.3:99999
        -A S -p tcp -m tcp -j MASQUERADE
        -A PREROUTING -j S
        COMMIT
        *nat
        :S - [0:0]
        -A S -s 10.1.0.4/32 -j MARK --set-xmark 0x4000/0x4000
        -A S -p tcp -m tcp -j DNAT --to-destination 10.1.0.4:80
        -A POSTROUTING -j S
        COMMIT
        """,
    "a target outside its table": """
        *filter
        -A OUTPUT -p tcp -j REJECT --reject-with tcp-reset
        *nat
        -A OUTPUT -p tcp -j REJECT --reject-with tcp-reset
        -A OUTPUT -p tcp -j REDIRECT --to-ports 15001
        COMMIT
        *mangle
        -A OUTPUT -p tcp -j REDIRECT --to-ports 15001
        COMMIT
        """,
}


def _read(text: str, replay: bool = True, family: int | None = None) -> tuple[str, object]:
    """What parse_text gives: the ruleset as written back with every rule's location and
    counters (which equality leaves out), or the problems; with ``replay=False``, reading
    every rule token by token."""
    try:
        ruleset = _parse(_Reader("t.rules", family, replay), text)
    except ChainwalkError as e:
        return "problems", str(e)
    return "ruleset", (ruleset, write_ruleset(ruleset, counters=True), _places(ruleset))


def _places(ruleset: Ruleset) -> list[object]:
    return [(t.name, c.name, r.location, r.counters)
            for t in ruleset.tables for c in t.chains for r in c.rules] + [
        (t.name, c.name, c.location, c.counters) for t in ruleset.tables for c in t.chains]


def _inputs() -> Iterator[tuple[str, str]]:
    for name, text in TRICKY.items():
        yield name, rules(text)
    for path in sorted([*RULESETS.glob("*.rules"), *FIXTURES.glob("*.rules")]):
        yield path.name, path.read_text(encoding="utf-8")


@pytest.mark.parametrize(("name", "text"), list(_inputs()), ids=[n for n, _ in _inputs()])
def test_replaying_a_shape_reads_what_reading_each_token_reads(name: str, text: str) -> None:
    assert _read(text) == _read(text, replay=False)


def test_the_replay_is_used() -> None:
    """Rules of one shape are replayed, so the test above compares two ways of reading."""
    text = rules(TRICKY["targets and chains of one shape"])
    reader = _Reader("t.rules", None)
    _read_with(reader, text)
    # "-d V -j CHAIN" is read once and replayed for the 2nd, 3rd and last rules (-j RETURN,
    # -j REJECT and -g are shapes of their own), none of them read again.
    assert reader.replayed == 3
    off = _Reader("t.rules", None, replay=False)
    _read_with(off, text)
    assert off.replayed == 0


def test_a_name_where_a_shape_has_a_value_is_replayed() -> None:
    """A port that is also a protocol number is read as any other port; the name after -j
    is not: a target (ACCEPT, DNAT, MASQUERADE) or a chain (tcp) is a shape of its own."""
    reader = _Reader("t.rules", None)
    _read_with(reader, rules(TRICKY["names where a shape has values"]))
    # --dport 8081 and 8082 as 8080 (their key is its), and 80 as the rule before it.
    assert reader.replayed == 3


def _read_with(reader: _Reader, text: str) -> None:
    # The jump to C, which does not exist, is a problem: the reading is what counts here.
    with contextlib.suppress(ChainwalkError):
        _parse(reader, text)


@st.composite
def _repeated_shapes(draw: st.DrawFn) -> str:
    """A valid ruleset whose every -A rule is also appended, as written, to another chain
    of its table: the second one has the shape of the first, but maybe not its place."""
    text, _ = draw(ruleset_text())
    lines, chains = text.splitlines(), ["OUTPUT", "INPUT", "PREROUTING", "POSTROUTING"]
    out: list[str] = []
    for line in lines:
        if line == "COMMIT" and (extra := [draw(st.sampled_from(chains)) + " " + spec
                                           for spec in _appended(out)]):
            out.extend(f"-A {rest}" for rest in extra)
        out.append(line)
    return "\n".join(out) + "\n"


def _appended(lines: list[str]) -> list[str]:
    """The rule specs of the ``-A``/``--append`` lines of the table being written."""
    start = max((n for n, line in enumerate(lines) if line.startswith("*")), default=0)
    return [line.split(None, 2)[2] for line in lines[start:]
            if line.startswith(("-A ", "--append ")) and len(line.split(None, 2)) == 3]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_repeated_shapes())
def test_replaying_generated_shapes_reads_what_reading_each_token_reads(text: str) -> None:
    assert _read(text) == _read(text, replay=False)


@pytest.mark.parametrize("comments", [True, False])
def test_replaying_kube_proxys_ruleset_reads_what_reading_each_token_reads(
        comments: bool) -> None:
    generate = runpy.run_path(str(REPO / "bench" / "kube_proxy.py"))["generate"]
    text = generate(120, comments=comments)
    reader = _Reader("t.rules", None)
    found = _read(text)
    _read_with(reader, text)
    assert found[0] == "ruleset" and reader.replayed > 0.9 * text.count("\n-A ")
    assert found == _read(text, replay=False)


def _golden_groups() -> list[object]:
    params = [pytest.param(group.text(path.read_text()), group.family,
                           id=f"{path.name}:ipv{group.family}")
              for path in _goldens() if not BUILDER.match(path.name)
              for group in group_by_family(restore_blocks(path.read_text()))]
    return params or [pytest.param("", None, id="no-goldens", marks=pytest.mark.skip(
        reason=f"Istio goldens not found at {GOLDENS.resolve()}"))]


@pytest.mark.parametrize(("text", "family"), _golden_groups())
def test_replaying_istios_goldens_reads_what_reading_each_token_reads(
        text: str, family: int) -> None:
    assert _read(text, family=family) == _read(text, replay=False, family=family)
