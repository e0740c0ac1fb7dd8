"""nftables' data types: which type an expression has, an element's normal form, and the
interval of numbers (or the name pattern) an element stands for."""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable

from ._nft_model import Bitwise, Concat, Ct, Expr, Meta, Numgen, Payload
from ._values import _PREFIX_LENGTHS, _ipv4_packed

#: Layer-4 protocols by the name ``nft`` prints.
PROTOCOLS = {"icmp": 1, "igmp": 2, "tcp": 6, "udp": 17, "dccp": 33, "ipv6-icmp": 58,
             "icmpv6": 58, "gre": 47, "esp": 50, "ah": 51, "sctp": 132, "udplite": 136}
_PROTOCOL_NAMES = {6: "tcp", 17: "udp", 1: "icmp", 58: "ipv6-icmp", 132: "sctp",
                   33: "dccp", 136: "udplite", 47: "gre", 50: "esp", 51: "ah", 2: "igmp"}
#: ``ct state`` bits, in the order nft prints them.
CT_STATES = {"invalid": 1, "established": 2, "related": 4, "new": 8, "untracked": 64}
NFPROTO = {"ipv4": 2, "ipv6": 10}
#: The payload family of each ``meta nfproto`` value.
NFPROTO_FAMILY = {"ipv4": "ip", "ipv6": "ip6"}

PAYLOAD_FIELDS: dict[str, dict[str, str]] = {
    "ip": {"saddr": "ipv4_addr", "daddr": "ipv4_addr", "protocol": "inet_proto"},
    "ip6": {"saddr": "ipv6_addr", "daddr": "ipv6_addr", "nexthdr": "inet_proto"},
    "tcp": {"sport": "inet_service", "dport": "inet_service"},
    "udp": {"sport": "inet_service", "dport": "inet_service"},
    "th": {"sport": "inet_service", "dport": "inet_service"},
    "sctp": {"sport": "inet_service", "dport": "inet_service"},
}
META_KEYS = {"l4proto": "inet_proto", "nfproto": "nf_proto", "mark": "mark",
             "skuid": "uid", "skgid": "gid", "iifname": "ifname", "oifname": "ifname",
             "iif": "ifname", "oif": "ifname", "protocol": "ether_type"}
#: Meta keys ``nft`` accepts (and prints) without ``meta``.
BARE_META = ("iifname", "oifname", "iif", "oif", "mark", "skuid", "skgid")
CT_KEYS = {"state": "ct_state", "mark": "mark", "zone": "zone"}
#: The types a set's ``type`` may name.
TYPES = ("ipv4_addr", "ipv6_addr", "inet_service", "inet_proto", "mark", "uid", "gid",
         "ifname", "ct_state", "integer", "nf_proto", "ether_type")
MAX_U32 = 0xFFFFFFFF


def type_of(expr: Expr) -> tuple[str, ...]:
    """The data type of ``expr``'s value (one per part of a concatenation)."""
    if isinstance(expr, Payload):
        return (PAYLOAD_FIELDS[expr.protocol][expr.field],)
    if isinstance(expr, Meta):
        return (META_KEYS[expr.key],)
    if isinstance(expr, Ct):
        return (CT_KEYS[expr.key],)
    if isinstance(expr, Bitwise):
        return type_of(expr.expr)
    if isinstance(expr, Numgen):
        return ("integer",)
    assert isinstance(expr, Concat)
    return tuple(t for part in expr.parts for t in type_of(part))


# A number as nft's scanner and value parsers read one (C's strtoull with base 0).
_C_NUMBER = re.compile(r"0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*")


def c_number(text: str, decimal_too: bool = False) -> int:
    """``text`` as nft reads a number: hex after ``0x``, octal after a leading 0 (``010`` is
    8), else decimal, ASCII digits only; ``decimal_too``: a leading-0 number that is no
    octal one (``08``) is decimal, as nft reads ports and user ids. ValueError otherwise."""
    if text.isascii() and text.isdigit() and (text[0] != "0" or len(text) == 1):
        return int(text)  # the common case, without the pattern
    if _C_NUMBER.fullmatch(text):
        if text[:2] in ("0x", "0X"):
            return int(text, 16)
        return int(text, 8) if text.startswith("0") else int(text, 10)
    if decimal_too and text.isascii() and text.isdigit():
        return int(text, 10)
    raise ValueError(text)


def _number(text: str) -> int:
    value = c_number(text)
    if not 0 <= value <= MAX_U32:
        raise ValueError(text)
    return value


def _text(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """As inet_ntop writes it: IPv4-mapped and -compatible addresses end in dotted form."""
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        return f"::ffff:{mapped}"
    if address.version == 6 and int(address) >> 16 and not int(address) >> 32:
        return f"::{ipaddress.IPv4Address(int(address))}"
    return str(address)


# A prefix length as nft's scanner reads one (no leading zero: /08 is refused).
_PREFIX_LENGTH = re.compile(r"0|[1-9][0-9]*")


def _address(text: str, version: int) -> str:
    _, _, length_text = text.partition("/")
    if "%" in text or (length_text and not _PREFIX_LENGTH.fullmatch(length_text)):
        raise ValueError(text)  # nft takes no scope (fe80::1%eth0) nor a mask (/255.0.0.0)
    if version == 4:
        # the spellings nft prints (an address, a prefix without host bits) as they are
        host, _, length_text = text.partition("/")
        packed = _ipv4_packed(host)
        if packed is not None:
            if not length_text:
                return text
            length = _PREFIX_LENGTHS.get(length_text)
            if length == 32:
                return host
            value = int.from_bytes(packed, "big")
            if length is not None and value & (MAX_U32 >> length) == 0:
                return text
    if "/" in text:
        network = ipaddress.ip_network(text, strict=False)
        if network.version != version:
            raise ValueError(text)
        if network.prefixlen == network.max_prefixlen:
            return _text(network.network_address)
        return f"{_text(network.network_address)}/{network.prefixlen}"
    if "-" in text:
        low, high = (ipaddress.ip_address(x) for x in text.split("-", 1))
        if low.version != version or high.version != version or int(low) > int(high):
            raise ValueError(text)
        return f"{_text(low)}-{_text(high)}"
    address = ipaddress.ip_address(text)
    if address.version != version:
        raise ValueError(text)
    return _text(address)


def _ranged(text: str, one: Callable[[str], str]) -> str:
    """``a`` or ``a-b`` of numbers, each through ``one``."""
    parts = text.split("-")
    if len(parts) == 2 and parts[0] and parts[1]:
        low, high = one(parts[0]), one(parts[1])
        if _number_of(low) > _number_of(high):
            raise ValueError(text)
        return f"{low}-{high}"
    return one(text)


def _number_of(text: object) -> int:
    s = str(text)
    return int(s, 16) if s.startswith("0x") else int(s)


def _port(text: str) -> str:
    """A port: a number, or a service name as nft resolves it (the system's services
    database: http is 80)."""
    try:
        value = int(text) if text.isdigit() and text.isascii() and text[0] != "0" else \
            c_number(text, decimal_too=True)
    except ValueError:
        if not text.isascii():
            raise
        try:
            value = socket.getservbyname(text)
        except OSError:
            raise ValueError(text) from None
    if not 0 <= value <= 65535:
        raise ValueError(text)
    return str(value)


def _proto(text: str) -> str:
    if text in PROTOCOLS:
        return "ipv6-icmp" if text == "icmpv6" else text
    value = c_number(text)
    if not 0 <= value <= 255:
        raise ValueError(text)
    return _PROTOCOL_NAMES.get(value, str(value))


def _zone(text: str) -> str:
    value = _number(text)
    if value > 0xFFFF:  # a zone is 16 bits
        raise ValueError(text)
    return str(value)


def _mark(text: str) -> str:
    return f"0x{_number(text):08x}"


def _owner(text: str) -> str:
    if text[:1].isascii() and text[:1].isdigit():
        value = c_number(text, decimal_too=True)
        if value > MAX_U32:
            raise ValueError(text)
        return str(value)
    if text.replace("-", "").replace("_", "").isalnum():
        return text  # a user or group name: the kernel stores the id the system gives it
    raise ValueError(text)


EXPECTED = {
    "ipv4_addr": "an IPv4 address, prefix or range (10.0.0.1, 10.0.0.0/8, 10.0.0.1-10.0.0.9)",
    "ipv6_addr": "an IPv6 address, prefix or range (fd00::1, fd00::/8)",
    "inet_service": "a port or a port range (80, 80-90)",
    "inet_proto": "a protocol (tcp, udp, icmp or a number 0-255)",
    "mark": "a 32-bit number (1337, 0x539)",
    "uid": "a user id", "gid": "a group id",
    "ifname": "an interface name (\"eth0\", \"veth*\")",
    "ct_state": "connection states (new, established, related, invalid, untracked)",
    "integer": "a number",
    "zone": "a conntrack zone (0-65535)",
    "nf_proto": "ipv4 or ipv6",
    "ether_type": "ip or ip6",
}


def normal(text: str, dtype: str) -> str:
    """``text`` as ``nft list ruleset`` prints an element of type ``dtype``; ValueError
    when it is not one."""
    if dtype == "ipv4_addr":
        return _address(text, 4)
    if dtype == "ipv6_addr":
        return _address(text, 6)
    if dtype == "inet_service":
        if text[:1].isalpha():  # a name, dashes and all (nft's scanner reads it whole)
            return _port(text)
        return _ranged(text, _port)
    if dtype == "inet_proto":
        return _proto(text)
    if dtype == "mark":
        return _ranged(text, _mark)
    if dtype in ("uid", "gid"):
        return _ranged(text, _owner) if text[:1].isdigit() else _owner(text)
    if dtype == "ifname":
        if not text or len(text) > 15 or text == "*":  # nft: no all-wildcard name
            raise ValueError(text)
        return f'"{text}"'
    if dtype == "ct_state":
        names = [name.strip() for name in text.split(",")]
        if not names or any(name not in CT_STATES for name in names):
            raise ValueError(text)
        return ",".join(name for name in CT_STATES if name in names)
    if dtype == "integer":
        return _ranged(text, lambda t: str(_number(t)))
    if dtype == "zone":
        return _ranged(text, _zone)
    if dtype == "nf_proto":
        if text not in NFPROTO:
            raise ValueError(text)
        return text
    if dtype == "ether_type":
        if text not in ("ip", "ip6"):
            raise ValueError(text)
        return text
    raise ValueError(dtype)


def set_elements(items: list[str], types: tuple[str, ...], spans: bool) -> tuple[str, ...]:
    """An anonymous set's elements as the kernel keeps them (and nft lists them): each
    once, in order of value; in an interval set (``spans``: a range, prefix or wildcard
    was written), numbers and addresses that overlap or touch joined into one. A
    concatenation's stay in the order written."""
    unique = list(dict.fromkeys(items))
    if len(types) > 1:
        return tuple(unique)
    dtype = types[0]
    if dtype == "ifname":  # the kernel compares names as bytes: an interval set in
        # their order, a plain one as little-endian numbers (lo before eth0)
        def name_key(e: str) -> bytes:
            raw = e.strip('"').rstrip("*").encode()
            return raw if spans else raw.ljust(16, b"\0")[::-1]
        wild = [e.strip('"')[:-1] for e in unique if e.endswith('*"')]
        kept = [e for e in unique if not any(  # a name a wildcard covers is joined to it
            e.strip('"').startswith(w) and e.strip('"') != w + "*" for w in wild)]
        return tuple(sorted(kept, key=name_key))
    try:
        spans_of = sorted(interval(e, dtype) for e in unique)
    except (ValueError, KeyError):  # a user or group name: left as written
        return tuple(unique)
    if not spans or dtype not in _JOINED:
        return tuple(sorted(unique, key=lambda e: interval(e, dtype)))
    joined: list[list[int]] = []
    for low, high in spans_of:
        if joined and low <= joined[-1][1] + 1:
            joined[-1][1] = max(joined[-1][1], high)
        else:
            joined.append([low, high])
    return tuple(_span_text(low, high, dtype) for low, high in joined)


#: The types whose interval sets nft joins (and how wide their numbers are).
_JOINED = {"ipv4_addr": 32, "ipv6_addr": 128, "inet_service": 16, "mark": 32,
           "integer": 32, "uid": 32, "gid": 32, "zone": 16}


def _span_text(low: int, high: int, dtype: str) -> str:
    """``low``-``high`` as nft lists it: one value, an address prefix when the span is
    one, else a range."""
    if dtype in ("ipv4_addr", "ipv6_addr"):
        bits = _JOINED[dtype]
        make = ipaddress.IPv4Address if bits == 32 else ipaddress.IPv6Address
        size = high - low + 1
        if low == high:
            return _text(make(low))
        if size & (size - 1) == 0 and low % size == 0:
            return f"{_text(make(low))}/{bits - size.bit_length() + 1}"
        return f"{_text(make(low))}-{_text(make(high))}"
    if dtype == "mark":
        return _mark(str(low)) if low == high else f"{_mark(str(low))}-{_mark(str(high))}"
    return str(low) if low == high else f"{low}-{high}"


def interval(element: str, dtype: str) -> tuple[int, int]:
    """The numbers a normal-form element of a numeric type covers, inclusive."""
    if dtype in ("ipv4_addr", "ipv6_addr"):
        host, _, length_text = element.partition("/")
        packed = _ipv4_packed(host)
        length = _PREFIX_LENGTHS.get(length_text) if length_text else 32
        if packed is not None and length is not None:
            # a normal-form IPv4 address or prefix, read without ipaddress
            value = int.from_bytes(packed, "big")
            return value, value | (MAX_U32 >> length)
        if "/" in element:
            network = ipaddress.ip_network(element)
            return int(network.network_address), int(network.broadcast_address)
        if "-" in element:
            low, high = element.split("-", 1)
            return int(ipaddress.ip_address(low)), int(ipaddress.ip_address(high))
        value = int(ipaddress.ip_address(element))
        return value, value
    if dtype == "inet_proto":
        number = PROTOCOLS.get(element)
        value = number if number is not None else int(element)
        return value, value
    if dtype == "ct_state":
        bits = sum(CT_STATES[name] for name in element.split(","))
        return bits, bits
    if dtype == "nf_proto":
        return NFPROTO[element], NFPROTO[element]
    if dtype == "ether_type":
        return (0x0800, 0x0800) if element == "ip" else (0x86DD, 0x86DD)
    parts = element.split("-")
    if len(parts) == 2 and parts[0] and parts[1]:
        return _number_of(parts[0]), _number_of(parts[1])
    value = _number_of(element)
    return value, value
