"""Option values: every accepted spelling becomes the one iptables-save prints; every bad
value is a ValueError whose text says what was expected."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from chainwalk.netfilter import _values as v

NORMALISED: list[tuple[Callable[[str], object], str, object]] = [
    # addresses and networks: host bits cleared, /32 and /128 written out
    (v.network, "10.0.0.7", "10.0.0.7/32"),
    (v.network, "10.0.0.7/24", "10.0.0.0/24"),
    (v.network, "10.0.0.0/255.255.255.0", "10.0.0.0/24"),
    (v.network, "10.1.2.3/0", "0.0.0.0/0"),
    (v.network, "::1", "::1/128"),
    (v.network, "FD00:0:0::1/64", "fd00::/64"),
    (v.address, "fd00:0::1", "fd00::1"),
    (v.address_range, "10.0.0.1-10.0.0.9", "10.0.0.1-10.0.0.9"),
    (v.address_range, "fd00::1-fd00::0:9", "fd00::1-fd00::9"),
    # ports
    (v.port_range, "80", "80"),
    (v.port_range, "80:80", "80"),
    (v.port_range, "1024:", "1024:65535"),
    (v.port_range, ":1024", "0:1024"),
    (v.port_range, "1000:2000", "1000:2000"),
    (v.port_list, "80,443,1000:2000", "80,443,1000:2000"),
    (v.port_list, "53,15008:15008", "53,15008"),
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
    # owner ids: a range of one id is that id; names are kept as written
    (v.id_range, "1337", "1337"),
    (v.id_range, "1000-2000", "1000-2000"),
    (v.id_range, "5-5", "5"),
    (v.id_range, "java", "java"),
    # statistic: the kernel stores lround(p * 2**31), iptables-save prints 11 decimals (seen)
    (v.probability, "0.5", "0.50000000000"),
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
    (v.interface, "eth+", "eth+"),
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
    (v.network, "10.0.0", "an address or network such as 10.0.0.0/8 or fd00::/64"),
    (v.network, "fd00::/129", "an address or network such as 10.0.0.0/8 or fd00::/64"),
    (v.network, "10.0.0.256", "an address or network such as 10.0.0.0/8 or fd00::/64"),
    (v.address, "10.0.0.0/8", "an IPv4 or IPv6 address"),
    (v.address_range, "10.0.0.1", "an address range such as 10.0.0.1-10.0.0.9"),
    (v.address_range, "10.0.0.9-10.0.0.1", "a range whose first address is not above its last"),
    (v.port_range, "65536", "a port from 0 to 65535"),
    (v.port_range, "2000:1000", "a port range whose first port is not above its last"),
    (v.port_range, "no-such-service", "a port number or service name"),
    (v.port_list, ",".join(["1"] * 16), "a comma-separated list of at most 15 ports or ranges"),
    (v.port_list, "1,,2", "a comma-separated list of at most 15 ports or ranges"),
    (v.redirect_ports, "abc", "a port or port range such as 15001 or 1000-2000"),
    (v.protocol, "tcpx", "a protocol name (tcp, udp, icmp, all...) or number"),
    (v.protocol, "256", "a protocol name (tcp, udp, icmp, all...) or number"),
    (v.mark, "x", "a number"),
    (v.mark, "0x100000000", "a number from 0 to 4294967295"),
    (v.integer, "-1", "a number from 0 to 4294967295"),
    (v.id_range, "2000-1000", "a range whose first id is not above its last"),
    (v.id_range, "1-x", "a uid/gid, a range such as 1000-2000, or a name"),
    (v.probability, "1.5", "a probability from 0 to 1"),
    (v.probability, "half", "a probability from 0 to 1"),
    (v.tcp_flag_list, "ECE", "a comma-separated list of FIN,SYN,RST,PSH,ACK,URG, ALL or NONE"),
    (v.dnat_destination, "x", "ADDRESS[-ADDRESS][:PORT[-PORT]]"),
    (v.dnat_destination, "10.0.0.1:99999", "ADDRESS[-ADDRESS][:PORT[-PORT]]"),
    (v.interface, "a" * 16, "an interface name of at most 15 characters, optionally ending in '+'"),
    (v.interface, "a/b", "an interface name of at most 15 characters, optionally ending in '+'"),
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
