"""The nftables engine's fast paths give what the plain ways give.

The tokenizer against a reference written from its documented rules, character by
character; IPv4 elements read without ``ipaddress`` against ``ipaddress``; whole files
(Istio's nftables goldens when ``../shared`` is present, the project's rulesets, the
benchmark's kube-proxy ruleset) parsed with and without the fast paths into equal models;
and traces that share steps across packets and rules equal to traces made the plain way.
"""

from __future__ import annotations

import ipaddress
import re
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nf_helpers import pod_host

from chainwalk.netfilter import Packet, _nft_parser, _nft_values, trace
from chainwalk.netfilter._nft_compile import MissedRun
from chainwalk.netfilter._nft_model import NftChain, NftTable
from chainwalk.netfilter._nft_parser import parse_nft_text
from chainwalk.netfilter._nft_tokens import (
    CarriageReturn,
    Token,
    TokenError,
    UnclosedString,
    UnendedComment,
    tokenize,
)
from chainwalk.netfilter._nft_trace import NftRun
from chainwalk.netfilter._nft_writer import write_nft_ruleset
from chainwalk.netfilter._reasons import Reason
from chainwalk.netfilter._trace import NftStep

ROOT = Path(__file__).resolve().parents[2]
GOLDENS = ROOT / ".." / "shared" / "istio-goldens-nft"
_HANDLE = re.compile(r"#\s*handle\s+(\d+)")
_WORD_ENDS = ' \t\r\n{};,"#\\'


def reference_tokens(text: str) -> list[tuple[str, str, int, int]]:
    """The tokens of ``text`` by _nft_tokens' documented rules, one character at a time."""
    out: list[tuple[str, str, int, int]] = []
    line, column, i = 1, 1, 0
    while i < len(text):
        c = text[i]
        if c in " \t":
            i, column = i + 1, column + 1
        elif c == "\r":
            raise CarriageReturn(line, column)
        elif c == "\\" and text[i + 1:i + 2] == "\n":  # joins the line to the next
            i, line, column = i + 2, line + 1, 1
        elif c == "\n":
            out.append(("nl", "\n", line, column))
            i, line, column = i + 1, line + 1, 1
        elif c in "{};,":
            out.append(("punct", c, line, column))
            i, column = i + 1, column + 1
        elif c == '"':
            end = text.find('"', i + 1)
            if end < 0 or "\n" in text[i + 1:end]:
                raise UnclosedString(line, column)
            out.append(("string", text[i + 1:end], line, column))
            column += end + 1 - i
            i = end + 1
        elif c == "#":
            end = text.find("\n", i)
            if end < 0:  # nft's scanner needs the line feed after a comment
                raise UnendedComment(line, column)
            handle = _HANDLE.match(text[i:end])
            if handle:
                out.append(("handle", handle.group(1), line, column))
            column += end - i
            i = end
        elif c == "\\":
            out.append(("word", "\\", line, column))
            i, column = i + 1, column + 1
        else:
            end = i
            while end < len(text) and text[end] not in _WORD_ENDS:
                end += 1
            out.append(("word", text[i:end], line, column))
            column += end - i
            i = end
    out.append(("eof", "", line, column))
    return out


def _reference_tokenize(text: str) -> list[Token]:
    return [Token(kind, word, line, column)  # type: ignore[arg-type]
            for kind, word, line, column in reference_tokens(text)]


def _tokens_or_error(tokenizer, text: str) -> object:  # type: ignore[no-untyped-def]
    try:
        return [(t.kind, t.text, t.line, t.column) for t in tokenizer(text)]
    except TokenError as e:
        return (type(e).__name__, e.line, e.column)


_PIECES = ["add", "rule", "ip", "10.0.0.1", "-", ".", " ", "  ", "\t", "\r", "\n", "{", "}",
           ";", ",", '"', '"lo"', "#", "# handle 7", "#handle 12 x", "\\", "\\\n", "é", "0x1"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=30).map("".join))
def test_the_tokenizer_follows_its_rules(text: str) -> None:
    assert _tokens_or_error(tokenize, text) == _tokens_or_error(_reference_tokenize, text)


def _reference_address(text: str) -> str:
    """nft's spelling of an IPv4 address or prefix, by ``ipaddress`` (host bits cleared)."""
    if "/" not in text:
        return str(ipaddress.IPv4Address(text))
    network = ipaddress.IPv4Network(text, strict=False)
    if network.prefixlen == 32:
        return str(network.network_address)
    return f"{network.network_address}/{network.prefixlen}"


_OCTETS = st.one_of(st.sampled_from([0, 1, 10, 127, 128, 255]), st.integers(0, 255))


@settings(max_examples=500, deadline=None)
@given(st.tuples(_OCTETS, _OCTETS, _OCTETS, _OCTETS),
       st.one_of(st.just(""), st.integers(0, 32).map(lambda n: f"/{n}")))
def test_ipv4_elements_read_without_ipaddress_as_with_it(octets: tuple[int, ...],
                                                          length: str) -> None:
    text = ".".join(map(str, octets)) + length
    normal = _nft_values.normal(text, "ipv4_addr")
    assert normal == _reference_address(text)
    network = ipaddress.IPv4Network(normal, strict=True)
    assert _nft_values.interval(normal, "ipv4_addr") == (
        int(network.network_address), int(network.broadcast_address))


@pytest.mark.parametrize("text", ["01.2.3.4", "1.2.3", "1.2.3.4/08", "1.2.3.4/33",
                                  "256.1.1.1", "::1", "1.2.3.4 ", "10.0.0.9-10.0.0.1"])
def test_odd_ipv4_spellings_take_the_plain_way(text: str) -> None:
    try:
        expected: str | None = _reference_address(text)
    except ValueError:
        expected = None
    try:
        got: str | None = _nft_values.normal(text, "ipv4_addr")
    except ValueError:
        got = None
    if text in ("10.0.0.9-10.0.0.1", "1.2.3.4/08"):  # ends reversed; /08 nft refuses
        assert got is None
    else:
        assert got == expected


def _kube_proxy_ruleset() -> str:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from kube_proxy_nft import generate
    finally:
        sys.path.remove(str(ROOT / "bench"))
    return generate(60, 3)


def _files() -> list[tuple[str, str]]:
    found = [(p.name, p.read_text()) for p in sorted((ROOT / "rules" / "rulesets").glob("*.nft"))]
    found += [(p.name, p.read_text()) for p in sorted((ROOT / "tests" / "kernel" / "rulesets")
                                                       .glob("*.nft"))]
    if GOLDENS.is_dir():
        found += [(p.name, p.read_text()) for p in sorted(GOLDENS.glob("*.golden"))]
    return [*found, ("kube-proxy-60x3.nft", _kube_proxy_ruleset())]


def test_files_parse_alike_with_and_without_the_fast_paths(
        monkeypatch: pytest.MonkeyPatch) -> None:
    files = _files()
    assert len(files) >= 3
    fast = [parse_nft_text(text, name) for name, text in files]
    monkeypatch.setattr(_nft_parser, "tokenize", _reference_tokenize)
    monkeypatch.setattr(_nft_values, "_ipv4_packed", lambda text: None)
    for (name, text), model in zip(files, fast, strict=True):
        plain = parse_nft_text(text, name)
        assert plain == model, name
        assert write_nft_ruleset(plain) == write_nft_ruleset(model), name
        assert [t.handle for t in plain.tables] == [t.handle for t in model.tables], name


_ISTIO_LIKE = """\
add table inet nat
add chain inet nat output { type nat hook output priority -100 ; }
add chain inet nat istio-output
add chain inet nat istio-redirect
add rule inet nat output counter jump istio-output
add rule inet nat istio-output oifname lo ip saddr 127.0.0.6/32 counter return
add rule inet nat istio-output oifname lo ip6 saddr ::6/128 counter return
add rule inet nat istio-output oifname lo meta skuid 1337 ip daddr != 127.0.0.1/32 counter jump istio-redirect
add rule inet nat istio-output oifname lo tcp dport != 53 meta skuid != 1337 counter return
add rule inet nat istio-output meta skuid 1337 counter return
add rule inet nat istio-output ip daddr 127.0.0.1/32 counter return
add rule inet nat istio-output ip6 daddr ::1/128 counter return
add rule inet nat istio-output tcp dport != { 53, 15008 } ip daddr 10.0.0.0/8 counter jump istio-redirect
add rule inet nat istio-output udp dport 53 counter return
add rule inet nat istio-redirect meta l4proto tcp counter redirect to :15001
"""


_OWNER_NAMES = """\
add table inet nat
add chain inet nat output { type nat hook output priority -100 ; }
add rule inet nat output meta skuid root counter return
add rule inet nat output meta skuid root tcp dport 80 counter return
add rule inet nat output oifname eth0 meta skgid nobody counter return
add rule inet nat output oifname eth0 tcp dport 80 counter redirect to :15001
"""


def _one_miss(self: NftRun, table: NftTable, chain: NftChain, number: int, hook: str,
              reason: Reason) -> MissedRun:
    """A rule not matched, one step, kept nowhere: the plain way."""
    rule = chain.rules[number - 1]
    return reason, (NftStep("rule", table.name, hook, chain.name, number, rule.spec,
                            "not-matched", reason, location=rule.location,
                            family=table.family, handle=rule.handle),), number, chain, number


_PACKETS = [Packet("10.0.0.9", 80, "tcp", uid=1000, gid=1000),
            Packet("10.0.0.9", 53, "udp", uid=1000, gid=1000),
            Packet("127.0.0.1", 80, "tcp", uid=1000, gid=1000),
            Packet("127.0.0.1", 80, "tcp", uid=1337, gid=1337),
            Packet("10.0.0.5", 80, "tcp", uid=1337, gid=1337),
            Packet("10.0.0.5", 53, "tcp", uid=1000, gid=1000),
            Packet("10.0.0.9", 80, "tcp", uid=1337, gid=1337),
            Packet("192.168.1.1", 443, "tcp", uid=1000, gid=1000),
            Packet("fd00::9", 80, "tcp", uid=1000, gid=1000),
            Packet("::1", 53, "udp", uid=0, gid=0)]


def test_traces_that_share_steps_equal_traces_made_the_plain_way(
        monkeypatch: pytest.MonkeyPatch) -> None:
    texts = [_ISTIO_LIKE, _OWNER_NAMES] + ([(GOLDENS / name).read_text() for name in (
        "tproxy.golden", "basic-exclude-nic.golden", "ambient-default.golden")]
        if GOLDENS.is_dir() else [])
    host = pod_host(lenient=True)  # owner names: each way followed, as an assumption
    shared = [parse_nft_text(text, "t.nft") for text in texts]
    probes = [(p, hook) for p in _PACKETS for hook in ("OUTPUT", "PREROUTING")
              if hook == "OUTPUT" or ":" not in p.dst]
    seen = [[trace(rs, p, host, hook).to_dict() for p, hook in probes]
            for _ in range(2) for rs in shared]  # the second round reuses the first's steps
    monkeypatch.setattr(NftRun, "missed", _one_miss)
    monkeypatch.setattr(NftRun, "kept_step", lambda self, key, make: make())
    plain = [[trace(parse_nft_text(text, "t.nft"), p, host, hook).to_dict()
              for p, hook in probes] for text in texts]
    assert seen == plain + plain
