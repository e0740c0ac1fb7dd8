"""Option values: every accepted spelling becomes the one iptables-save prints; every bad
value is a ValueError whose text says what was expected."""

from __future__ import annotations

import importlib.util
import ipaddress
import re
import socket
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Final

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainwalk.netfilter
from chainwalk.netfilter import _values as v

_VALUES_SOURCE: Final = Path(chainwalk.netfilter.__file__).parent / "_values.py"

NORMALISED: list[tuple[Callable[[str], object], str, object]] = [
    # addresses and networks: host bits cleared, /32 and /128 written out
    (v.network, "10.0.0.7", "10.0.0.7/32"),
    (v.network, "10.0.0.7/24", "10.0.0.0/24"),
    (v.network, "10.0.0.0/255.255.255.0", "10.0.0.0/24"),
    (v.network, "10.1.2.3/0", "0.0.0.0/0"),
    # a mask spelt as an address, as iptables-save prints it: contiguous as /len, any other
    # kept, applied to the address (never read as a host mask)
    (v.network, "10.1.2.3/255.255.0.0", "10.1.0.0/16"),
    (v.network, "10.1.2.3/255.0.255.0", "10.0.2.0/255.0.255.0"),
    (v.network, "0.0.0.5/0.0.0.255", "0.0.0.5/0.0.0.255"),
    (v.network, "10.1.2.3/0.0.0.0", "0.0.0.0/0"),
    (v.network, "fd00::1/ffff:0:ffff::", "fd00::/ffff:0:ffff::"),
    (v.network, "::1", "::1/128"),
    (v.network, "FD00:0:0::1/64", "fd00::/64"),
    (v.address, "fd00:0::1", "fd00::1"),
    (v.address_range, "10.0.0.1-10.0.0.9", "10.0.0.1-10.0.0.9"),
    (v.address_range, "fd00::1-fd00::0:9", "fd00::1-fd00::9"),
    (v.address_range, "010.0.0.1-10.1", "8.0.0.1-10.1.0.0"),  # as -s reads them (seen)
    (v.address_range, "10.0.0.1", "10.0.0.1-10.0.0.1"),
    # ports
    (v.port_range, "80", "80"),
    (v.port_range, "80:80", "80"),
    (v.port_range, "1024:", "1024:65535"),
    (v.port_range, ":1024", "0:1024"),
    (v.port_range, "1000:2000", "1000:2000"),
    (v.port_list, "80,443,1000:2000", "80,443,1000:2000"),
    (v.port_list, "53,0x10:021,8:9", "53,16:17,8:9"),  # strtoul's numbers
    (v.redirect_ports, "15001", "15001"),
    (v.redirect_ports, "100-200", "100-200"),
    (v.redirect_ports, "100-100", "100"),
    # protocols
    (v.protocol, "TCP", "tcp"),
    (v.protocol, "6", "tcp"),
    (v.protocol, "17", "udp"),
    (v.protocol, "icmpv6", "ipv6-icmp"),
    (v.protocol, "all", "all"),
    (v.protocol, "0", "all"),
    # marks: hexadecimal, mask kept only when given
    (v.mark, "1337", "0x539"),
    (v.mark, "0x539/0xfff", "0x539/0xfff"),
    (v.mark, "10/0", "0xa/0x0"),
    (v.integer, "0x10", 16),
    # numbers as xtables_strtoui reads them: 0x hex, 0 octal, "+" and C whitespace first
    (v.integer, "010", 8),
    (v.integer, " +0X1f", 31),
    (v.port_range, "010:0x50", "8:80"),
    # udp's, conntrack's and TPROXY's ports: the newer option parser reads them in decimal
    (v.decimal_port_range, "010:+020", "10:20"),
    (v.decimal_port_range, "080", "80"),
    (v.decimal_port, "65536", 0),  # getaddrinfo's service: 16 bits of a C int (seen)
    (v.decimal_port, "4294967296", 0),
    (v.protocol, "+06", "tcp"),
    (v.protocol, "ICMPv6", "ipv6-icmp"),
    (v.protocol_number, "0x11", "17"),
    (v.protocol, "0x0", "all"),
    (v.protocol, "253", "253"),  # no name (experimentation) in /etc/protocols
    (v.icmp_type, "010/0x1", "8/1"),
    (v.icmp_type, "Echo-Req", "8"),  # libxt_icmp: any case, the only name it begins
    (v.icmp_type, "tos-host-r", "5/3"),
    (v.network, "010.0x0a.1/030", "8.10.1.0/24"),
    (v.network, "80", "80.0.0.0/32"),
    # conntrack's: inet_aton's reading, the host bits kept (seen)
    (v.conntrack_network, "80", "0.0.0.80"),
    (v.conntrack_network, "10.1/255.255.0.0", "10.0.0.1/16"),
    (v.conntrack_network, "fd00::1/0x40", "fd00::1/64"),
    # owner ids: a range of one id is that id; names are kept as written
    (v.id_range, "1337", "1337"),
    (v.id_range, "1000-2000", "1000-2000"),
    (v.id_range, "5-5", "5"),
    (v.id_range, "java", "java"),
    (v.id_range, "0x539", "1337"),  # xtables_strtoui's numbers (seen)
    (v.id_range, "010-0x10", "8-16"),
    # statistic: the kernel stores lround(p * 2**31), iptables-save prints 11 decimals (seen)
    (v.probability, "0.5", "0.50000000000"),
    (v.probability, "0x0.8", "0.50000000000"),  # strtod's readings (seen)
    (v.probability, " +.25e+0", "0.25000000000"),
    (v.probability, "nan", "0.00000000000"),
    (v.probability, "0.333", "0.33300000010"),
    (v.probability, "1", "1.00000000000"),
    (v.probability, "0", "0.00000000000"),
    # tcp flags in the kernel's bit order; ALL is the six flags iptables knows
    (v.tcp_flag_list, "ack,syn", "SYN,ACK"),
    (v.tcp_flag_list, "SYN,RST,ACK,FIN", "FIN,SYN,RST,ACK"),
    (v.tcp_flag_list, "ALL", "FIN,SYN,RST,PSH,ACK,URG"),
    (v.tcp_flag_list, "none", "NONE"),
    (v.dnat_destination, "10.0.0.5:9080", "10.0.0.5:9080"),
    (v.dnat_destination, "[fd00::1]:80", "[fd00::1]:80"),
    (v.dnat_destination, "10.0.0.1-10.0.0.3", "10.0.0.1-10.0.0.3"),
    (v.dnat_destination, "10.0.0.1-10.0.0.1:http-80", "10.0.0.1:80"),
    (v.dnat_destination, "[fd00:0::1]:010", "[fd00::1]:8"),
    # IPv6 as inet_ntop spells it (iptables-save's): a mapped IPv4 address dotted
    (v.network, "::ffff:102:304", "::ffff:1.2.3.4/128"),
    (v.network, "::ffff:1.2.3.4/ffff:ffff:ffff:ffff:ffff:ffff:ff00:ff",
     "::ffff:1.0.0.4/ffff:ffff:ffff:ffff:ffff:ffff:ff00:ff"),
    (v.address, "::FFFF:1.2.3.4", "::ffff:1.2.3.4"),
    (v.interface, "eth+", "eth+"),
    (v.interface, "a/b c\u00e9", "a/b c\u00e9"),  # iptables only warns of '/' and ' '
    (v.interface, "-x", "-x"),
    (v.name, "KUBE-SVC_a.b:c@d+e", "KUBE-SVC_a.b:c@d+e"),
]


@pytest.mark.parametrize(("parse", "raw", "normal"), NORMALISED,
                         ids=[f"{p.__name__}:{raw}" for p, raw, _ in NORMALISED])
def test_value_is_normalised(parse: Callable[[str], object], raw: str, normal: object) -> None:
    assert parse(raw) == normal


def test_state_lists_follow_the_kernel_bit_order() -> None:
    ctstate = v.choice_list("INVALID", "NEW", "RELATED", "ESTABLISHED", "UNTRACKED")
    assert ctstate("established,related") == "RELATED,ESTABLISHED"  # type: ignore[operator]
    assert ctstate("NEW,NEW") == "NEW"  # type: ignore[operator]


REFUSED: list[tuple[Callable[[str], object], str, str]] = [
    (v.network, "10.0.0.0/33", "a prefix length from 0 to 32"),
    (v.network, "10.0.0.0.1", "an address or network such as 10.0.0.0/8 or fd00::/64"),
    (v.network, "10.0.0.0/08", "a prefix length from 0 to 32"),  # 0 first: octal
    (v.network, "fd00::/129", "an address or network such as 10.0.0.0/8 or fd00::/64"),
    (v.network, "10.0.0.256", "an address or network such as 10.0.0.0/8 or fd00::/64"),
    (v.address, "10.0.0.0/8", "an IPv4 or IPv6 address"),
    (v.address_range, "10.0.0.9-10.0.0.1", "a range whose first address is not above its last"),
    (v.port_range, "65536", "a port from 0 to 65535"),
    (v.port_range, "2000:1000", "a port range whose first port is not above its last"),
    (v.port_range, "no-such-service", "a port number or service name"),
    (v.port_list, ",".join(["1"] * 16), "a comma-separated list of at most 15 ports or ranges "
     "(a range counts as two)"),
    (v.port_list, "1:2,3:4,5:6,7:8,9:10,11:12,13:14,15:16", "a comma-separated list of at most "
     "15 ports or ranges (a range counts as two)"),
    (v.port_list, "1,,2", "a port number or service name"),
    (v.port_list, "5:5", "a range whose first port is below its last"),
    (v.port_list, ":80", "a port number or service name"),
    (v.redirect_ports, "abc", "a port or port range such as 15001 or 1000-2000"),
    (v.protocol, "tcpx", "a protocol name (tcp, udp, icmp, all...) or number"),
    (v.protocol, "256", "a protocol name (tcp, udp, icmp, all...) or number"),
    (v.mark, "x", "a number (decimal, 0x hex or 0 octal)"),
    (v.mark, "0o10", "a number (decimal, 0x hex or 0 octal)"),
    (v.mark, "0x100000000", "a number from 0 to 4294967295"),
    (v.integer, "-1", "a number (decimal, 0x hex or 0 octal)"),
    (v.port, "080", "a port number or service name"),
    (v.decimal_port, "0x10", "a port number or service name"),
    (v.decimal_port, "4294967295", "a port from 0 to 65535"),
    (v.protocol_number, "Tcp", "a protocol name (tcp, udp, icmp, all...) or number"),
    (v.icmp_type, "08", "an ICMP type name (echo-request, ...) or TYPE[/CODE]"),
    (v.icmp_type, "e", "one ICMP type name: e begins echo-reply and echo-request"),
    (v.id_range, "2000-1000", "a range whose first id is not above its last"),
    (v.id_range, "1-x", "a uid/gid, a range such as 1000-2000, or a name"),
    (v.probability, "1.5", "a probability from 0 to 1"),
    (v.probability, "half", "a probability from 0 to 1"),
    (v.probability, "0_5", "a probability from 0 to 1"),
    (v.probability, "0.5 ", "a probability from 0 to 1"),
    (v.tcp_flag_list, "ECE", "a comma-separated list of FIN,SYN,RST,PSH,ACK,URG, ALL or NONE"),
    (v.dnat_destination, "x", "ADDRESS[-ADDRESS][:PORT[-PORT]]"),
    (v.dnat_destination, "10.0.0.1:99999", "ADDRESS[-ADDRESS][:PORT[-PORT]]"),
    (v.interface, "a" * 16, "an interface name of 1 to 15 bytes (UTF-8), optionally ending in '+'"),
    (v.interface, "\u00e9" * 8, "an interface name of 1 to 15 bytes (UTF-8), optionally ending in '+'"),
    (v.interface, "", "an interface name of 1 to 15 bytes (UTF-8), optionally ending in '+'"),
    (v.name, "bad name", "a name of letters, digits and _.:@+- (at most 29 characters)"),
]


@pytest.mark.parametrize(("parse", "raw", "expected"), REFUSED,
                         ids=[f"{p.__name__}:{raw[:20]}" for p, raw, _ in REFUSED])
def test_bad_value_says_what_was_expected(parse: Callable[[str], object], raw: str,
                                          expected: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse(raw)
    assert str(caught.value) == expected


@pytest.mark.parametrize(("text", "bits"), [
    ("10.0.0.0/24", (4, 0x0A000000, 0xFFFFFF00)),
    ("127.0.0.1/32", (4, 0x7F000001, 0xFFFFFFFF)),
    ("0.0.0.0/0", (4, 0, 0)),
    ("0.0.0.5/0.0.0.255", (4, 5, 0xFF)),  # the kernel matches addr & mask == net & mask
    ("10.0.2.0/255.0.255.0", (4, 0x0A000200, 0xFF00FF00)),
    ("::1/128", (6, 1, (1 << 128) - 1)),
])
def test_network_bits(text: str, bits: tuple[int, int, int]) -> None:
    assert v.network_bits(text) == bits


@pytest.mark.parametrize(("text", "bounds"), [("80", (80, 80)), ("1000:2000", (1000, 2000))])
def test_port_bounds(text: str, bounds: tuple[int, int]) -> None:
    assert v.port_bounds(text) == bounds


@pytest.mark.parametrize(("text", "bits"), [
    ("0x539", (0x539, 0xFFFFFFFF)), ("0x539/0xfff", (0x539, 0xFFF)), ("0x0/0x0", (0, 0))])
def test_mark_bits(text: str, bits: tuple[int, int]) -> None:
    assert v.mark_bits(text) == bits


@pytest.mark.parametrize(("pattern", "name", "hit"), [
    ("eth0", "eth0", True),
    ("eth0", "eth1", False),
    ("eth+", "eth1", True),
    ("eth+", "veth1", False),
    ("+", "lo", True),
    ("lo", None, False),
])
def test_interface_wildcard(pattern: str, name: str | None, hit: bool) -> None:
    assert v.interface_matches(pattern, name) is hit


@pytest.mark.parametrize(("text", "family"), [("10.0.0.1", 4), ("fd00::1/64", 6), ("::", 6)])
def test_family_of(text: str, family: int) -> None:
    assert v.family_of(text) == family


# The address fast paths (inet_pton instead of regexes) against the definitions they
# replaced, kept here as they were: the same result, or the same error, for any text.
# (ASCII digits only, since iptables refuses others: `-s １０.0.0.5`, `/²`.)
_REF_OCTET: Final = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_REF_CANONICAL: Final = re.compile(rf"(?:{_REF_OCTET}\.){{3}}{_REF_OCTET}")
_REF_IPV4_PORT: Final = re.compile(rf"(?:{_REF_OCTET}\.){{3}}{_REF_OCTET}:([0-9]{{1,5}})")


def _ref_text(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """inet_ntop's spelling, as iptables-save prints an address."""
    return str(address) if address.version == 4 else socket.inet_ntop(socket.AF_INET6,
                                                                         address.packed)


def _ref_address(text: str) -> str:
    if _REF_CANONICAL.fullmatch(text):
        return text
    try:
        return _ref_text(ipaddress.ip_address(text))
    except ValueError:
        raise ValueError("an IPv4 or IPv6 address") from None


def _ref_masked(addr: str, mask: str) -> tuple[int, int, str]:
    """A mask spelt as an address: (family, mask, addr & mask written as iptables-save
    writes the network: /len when the mask's ones are contiguous, else addr/mask)."""
    try:
        a, m = ipaddress.ip_address(addr), ipaddress.ip_address(mask)
    except ValueError:
        raise ValueError("an address or network such as 10.0.0.0/8 or fd00::/64") from None
    if a.version != m.version:
        raise ValueError(f"a mask of the address's family (IPv{a.version})")
    masked = type(a)(int(a) & int(m))
    bits = format(int(m), f"0{a.max_prefixlen}b")
    text = (f"{_ref_text(masked)}/{bits.count('1')}" if "01" not in bits
            else f"{_ref_text(masked)}/{_ref_text(m)}")
    return a.version, int(m), text


def _ref_number(text: str, limit: int) -> int | None:
    """strtoul(text, &end, 0) over the whole text, as xtables_strtoui takes it: C
    whitespace, an optional "+" (not "-"), then 0x hex, 0 octal or decimal digits."""
    rest = text.lstrip(" \t\n\v\f\r").removeprefix("+")
    if rest[:2] in ("0x", "0X"):
        base, digits, allowed = 16, rest[2:], "0123456789abcdefABCDEF"
    elif rest[:1] == "0":
        base, digits, allowed = 8, rest, "01234567"
    else:
        base, digits, allowed = 10, rest, "0123456789"
    if not digits or any(c not in allowed for c in digits):
        return None
    try:
        value = int(digits, base)
    except ValueError:  # more digits than int converts: far beyond any limit
        return None
    return value if value <= limit else None


def _ref_network(text: str) -> str:
    """As iptables reads it: an IPv4 address of up to four parts (the rest 0), each a
    number to 255 as strtoul reads it, of its first 19 characters; a prefix length too."""
    addr, slash, mask = text.partition("/")
    if "." in mask or ":" in mask:
        return _ref_masked(addr, mask)[2]
    parts = addr[:19].split(".")
    numbers = [_ref_number(p, 255) for p in parts] if ":" not in addr and len(parts) <= 4 \
        else [None]
    if None not in numbers:
        a, b, c, d = [*numbers, 0, 0, 0][:4]  # type: ignore[misc]
        length = _ref_number(mask, 32) if slash else 32
        if length is None:
            raise ValueError("a prefix length from 0 to 32")
        value = (a << 24 | b << 16 | c << 8 | d) & (v.MAX_U32 << (32 - length)) & v.MAX_U32
        return (f"{value >> 24}.{(value >> 16) & 255}.{(value >> 8) & 255}.{value & 255}"
                f"/{length}")
    bits = _ref_number(mask, 128) if slash else 128
    try:
        net = ipaddress.ip_network(f"{addr}/{bits}", strict=False)
        if bits is None:
            raise ValueError
    except ValueError:
        raise ValueError("an address or network such as 10.0.0.0/8 or fd00::/64") from None
    return f"{_ref_text(net.network_address)}/{net.prefixlen}"


def _ref_network_bits(text: str) -> tuple[int, int, int]:
    addr, slash, length = text.partition("/")
    if "." in length or ":" in length:
        family, mask, _ = _ref_masked(addr, length)
        return family, int(ipaddress.ip_address(addr)) & mask, mask
    if _REF_CANONICAL.fullmatch(addr) and (not slash or (
            length.isascii() and length.isdigit() and int(length) <= 32)):
        bits = int(length) if slash else 32
        mask = (v.MAX_U32 << (32 - bits)) & v.MAX_U32
        a, b, c, d = map(int, addr.split("."))
        return 4, (a << 24 | b << 16 | c << 8 | d) & mask, mask
    net = ipaddress.ip_network(text, strict=False)
    return net.version, int(net.network_address), int(net.netmask)


def _ref_dnat_destination(text: str) -> str:
    """iptables-save's spelling: canonical addresses, ports as numbers, a range of one
    address or port as that one."""
    host, port_part = text, ""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_part = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port_part = text.partition(":")
    try:
        hosts = [_ref_address(part) for part in host.split("-")] if host else []
        ports = [v.port(part) for part in port_part.split("-")] if port_part else []
    except ValueError:
        raise ValueError("ADDRESS[-ADDRESS][:PORT[-PORT]]") from None
    if (not host and not port_part) or len(hosts) > 2 or len(ports) > 2:
        raise ValueError("ADDRESS[-ADDRESS][:PORT[-PORT]]")
    if len(ports) == 2 and ports[0] > ports[1]:
        raise ValueError("a port range whose first port is not above its last")
    if len(set(hosts)) == 1:
        hosts = hosts[:1]
    out = "-".join(hosts)
    if text.startswith("["):
        out = f"[{out}]"
    if ports:
        out += ":" + ("-".join(map(str, ports)) if len(set(ports)) == 2 else str(ports[0]))
    return out


def _pairs(module: ModuleType) -> list[tuple[Callable[[str], object], Callable[[str], object]]]:
    return [
        (module.address, _ref_address),
        (module.network.__wrapped__, _ref_network),
        (module.network_bits, _ref_network_bits),
        (module.dnat_destination, _ref_dnat_destination),
    ]


def _outcome(parse: Callable[[str], object], text: str) -> tuple[str, object]:
    try:
        return "value", parse(text)
    except Exception as error:  # the type and text of any error must be the same too
        return type(error).__name__, str(error)


def _assert_same_as_before(text: str, module: ModuleType = v) -> None:
    assert (module._ipv4_packed(text) is not None) == bool(_REF_CANONICAL.fullmatch(text))
    for new, old in _pairs(module):
        assert _outcome(new, text) == _outcome(old, text), (new.__name__, text)


# Digits ipaddress and iptables-save never write, but str.isdigit (and \d, and int) take.
_OTHER_DIGITS: Final = "٠١٣٩۳०５𝟗²³¹"
_DIGIT: Final = st.one_of(st.sampled_from("0123456789"), st.sampled_from(_OTHER_DIGITS))
_PART: Final = st.one_of(
    st.integers(0, 999).map(str),
    st.integers(0, 255).map(lambda n: f"0{n}"),
    st.text(_DIGIT, max_size=4),
)
_QUAD: Final = st.builds(
    lambda parts, end: ".".join(parts) + end,
    st.lists(_PART, min_size=1, max_size=5),
    st.sampled_from(["", "", "", ".", " ", "\n", "-"]),
)
_NUMBER: Final = st.one_of(
    st.integers(0, 40).map(str),
    st.integers(0, 99999).map(str),
    st.integers(0, 99).map(lambda n: f"0{n}"),
    st.text(_DIGIT, max_size=6),
)
_SUFFIX: Final = st.one_of(
    st.just(""),
    _NUMBER.map(lambda n: f"/{n}"),
    _QUAD.map(lambda q: f"/{q}"),
    st.ip_addresses(v=4).map(lambda m: f"/{m}"),
    _NUMBER.map(lambda n: f":{n}"),
    st.tuples(_NUMBER, _NUMBER).map(lambda p: f":{p[0]}-{p[1]}"),
    st.text(max_size=4),
)
_CANONICAL: Final = st.ip_addresses(v=4).map(str)
_ADDRESS_TEXT: Final = st.one_of(
    st.builds(str.__add__, _CANONICAL, _SUFFIX),  # the spellings iptables-save prints...
    st.builds(str.__add__, _QUAD, _SUFFIX),  # ... and others
    st.builds(lambda a, b, s: f"{a}-{b}{s}", st.one_of(_CANONICAL, _QUAD),
              st.one_of(_CANONICAL, _QUAD), _SUFFIX),
    st.builds(str.__add__, st.ip_addresses(v=6).map(str), _SUFFIX),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]:80"),
    st.text(max_size=20),
)


@settings(max_examples=1000, deadline=None)
@given(_ADDRESS_TEXT)
def test_address_fast_paths_give_what_the_regexes_gave(text: str) -> None:
    _assert_same_as_before(text)


ODD_ADDRESSES: Final = [
    "10.96.0.10", "10.96.0.10/32", "10.0.0.0/8", "10.244.3.17:8080", "10.244.3.17/24",
    "0.0.0.0/0", "255.255.255.255/32", "0.0.0.0", "1.2.3.4/0", "10.0.0.1/",
    # leading zeros, out of range, digits that are not ASCII
    "010.0.0.1", "10.0.0.01/32", "00.0.0.0", "256.1.1.1", "1.2.3.256/32", "1000.1.1.1",
    "١٠.0.0.1", "١٠.0.0.1/32", "10.0.0.1/٣٢", "10.0.0.1/²", "10.0.0.²", "²", "10.0.0.1:٨٠",
    "10.0.0.1/8_0", "1_0.0.0.1", "10.0.0.1:8_0", "+1.2.3.4", "1.2.3.4/+8",
    # missing and extra parts, whitespace
    "", ".", "...", "1.2.3", "1.2.3.", "1.2.3.4.", "1..2.3", "1.2.3.4.5", " 1.2.3.4",
    "1.2.3.4 ", "1.2.3.4\n", "1.2.3.4/32\n", "1.2.3.4/ 8", "1.2.3.4/8 ", "1.2.3.4\x00",
    "\ud800", "0x1.2.3.4", "1",
    # prefix lengths and masks
    "10.0.0.0/33", "10.0.0.0/033", "10.0.0.0/032", "10.0.0.0/08", "10.0.0.0/-1",
    "10.0.0.0/255.0.0.0", "10.0.0.0/255.0.255.0", "10.0.0.0/0.0.0.255", "10.0.0.0/8/8",
    "10.0.0.1/" + "9" * 5000,
    # ports and ranges
    "10.1.2.3:0", "10.1.2.3:65535", "10.1.2.3:65536", "10.1.2.3:08080", "10.1.2.3:000000",
    "10.1.2.3:", ":80", ":", "10.1.2.3:80:90", "10.0.0.1-10.0.0.3", "10.0.0.1-10.0.0.3:80-90",
    "010.0.0.1:80", "10.0.0.1:80-", "10.0.0.1:" + "9" * 5000,
    # IPv6
    "::1", "::", "fd00::1", "fd00::/64", "fd00::1/129", "::ffff:10.0.0.1", "[fd00::1]:80",
    "[fd00::1]", "fd00::1:80",
]


@pytest.mark.parametrize("text", ODD_ADDRESSES)
def test_odd_addresses_give_what_the_regexes_gave(text: str) -> None:
    _assert_same_as_before(text)


@pytest.fixture(scope="module")
def values_as_python() -> ModuleType:
    """The module's source, loaded apart, so that changing its flag leaves the engine's
    own module as it is."""
    spec = importlib.util.spec_from_file_location("_values_as_python", _VALUES_SOURCE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("text", ODD_ADDRESSES)
def test_where_inet_pton_is_lenient_the_regex_decides(text: str, values_as_python: ModuleType,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(values_as_python, "_PTON_IS_CANONICAL", False)
    _assert_same_as_before(text, values_as_python)
