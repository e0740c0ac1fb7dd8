"""Parsers for option values: each validates one argument and returns the spelling
``iptables-save`` prints, or raises :class:`ValueError` whose text says what was
expected. Evaluation-side decoders (``network``, ``port_range``...) turn the normal
spelling into numbers once, when a rule is compiled.
"""

from __future__ import annotations

import ipaddress
import re

# socket's C module, whose functions these are: socket.py would add its enums and selectors
# to every start (bench/README.md).
from _socket import AF_INET, AF_INET6, getservbyname, inet_ntop, inet_pton
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Final

# An IPv4 address exactly as ipaddress accepts and prints it (no leading zeros).
_OCTET: Final = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4_CANONICAL: Final = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}")
_NAME: Final = re.compile(r"^[A-Za-z0-9_.:@+-]{1,29}$")
MAX_U32: Final = 0xFFFFFFFF
# The largest uid or gid iptables-restore takes (4294967295 is (uid_t)-1, "no id").
MAX_ID: Final = MAX_U32 - 1
# A prefix length as iptables-save prints it -> its value (no leading zeros, ASCII digits).
_PREFIX_LENGTHS: Final = {str(length): length for length in range(33)}


def _pton_is_canonical() -> bool:
    """Whether inet_pton refuses the spellings that are not canonical (glibc, musl and the
    BSDs do); Python leaves what it accepts to the C library."""
    for odd in ("01.2.3.4", "1.2.3.04", "00.0.0.0", "0x1.2.3.4", "1.2.3", "1", "1.2.3.4.",
                "1..2.3", " 1.2.3.4", "1.2.3.4 ", "1.2.3.4\n", "256.0.0.0", "1.2.3.1000"):
        try:
            inet_pton(AF_INET, odd)
        except OSError:
            continue
        return False
    return True


_PTON_IS_CANONICAL: Final = _pton_is_canonical()


def _ipv4_packed(text: str) -> bytes | None:
    """The four bytes of ``text`` if it is an IPv4 address in canonical spelling (what
    ``_IPV4_CANONICAL`` matches), else None.

    The rules of a large ruleset hold tens of thousands of addresses. The regex's
    alternations backtrack at every octet: inet_pton costs some 60% of it. Its exception
    makes the spellings that iptables-save never prints (leading zeros...) a little slower.
    """
    if ":" in text:
        return None  # IPv6 (ip6tables' rules): cheaper than the exception inet_pton raises
    if _PTON_IS_CANONICAL:
        try:
            return inet_pton(AF_INET, text)
        except (OSError, ValueError):  # ValueError: a NUL, or a lone surrogate
            return None
    return inet_pton(AF_INET, text) if _IPV4_CANONICAL.fullmatch(text) else None


def family_of(text: str) -> int:
    """4 or 6, from the spelling of an address or network."""
    return 6 if ":" in text else 4


@lru_cache(maxsize=4096)
def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """``ipaddress.ip_address``, remembered (a ``ValueError`` is raised again each time): a
    trace reads the same few addresses over and over, and parsing one costs more than
    evaluating most rules."""
    return ipaddress.ip_address(text)


def _text(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """An address as iptables-save prints it, inet_ntop's spelling: an IPv4-mapped IPv6
    address ends in dotted quad (::ffff:1.2.3.4), which str before Python 3.13 does not."""
    return str(addr) if addr.version == 4 else inet_ntop(AF_INET6, addr.packed)


def address(text: str) -> str:
    """A host address, IPv4 or IPv6, in canonical spelling."""
    if _ipv4_packed(text) is not None:
        return text  # already canonical: what ipaddress would give, without its cost
    try:
        return _text(ipaddress.ip_address(text))
    except ValueError:
        raise ValueError("an IPv4 or IPv6 address") from None


@lru_cache(maxsize=65536)
def network(text: str) -> str:
    """``10.0.0.1``, ``10.0.0.0/8``, ``10.0.0.0/255.0.0.0`` or ``::1`` -> ``a.b.c.d/len``.

    Host bits are cleared, as the kernel stores them.
    """
    addr, slash, mask = text.partition("/")
    packed = _ipv4_packed(addr)
    if packed is not None:
        if mask == "32":
            return text  # a host as iptables-save prints it (kube-proxy's endpoints): as is
        value = int.from_bytes(packed, "big")
        length = _PREFIX_LENGTHS.get(mask)
        if length is not None and (value & (MAX_U32 << (32 - length))) == value:
            return text  # a network as iptables-save prints it: as is
    else:
        value = _c_ipv4(addr) if ":" not in addr else -1
    if "." in mask or ":" in mask:
        return _masked_network(addr, mask)
    # A prefix length as xtables_strtoui reads it ("/010" is 8, "/08" nothing).
    if value >= 0:
        length = c_number(mask, 32) if slash else 32
        if length is None:
            raise ValueError("a prefix length from 0 to 32")
        value &= (MAX_U32 << (32 - length)) & MAX_U32
        return (f"{value >> 24}.{(value >> 16) & 255}.{(value >> 8) & 255}.{value & 255}"
                f"/{length}")
    bits = c_number(mask, 128) if slash else 128
    try:
        if bits is None:
            raise ValueError
        net = ipaddress.ip_network(f"{addr}/{bits}", strict=False)
    except ValueError:
        raise ValueError("an address or network such as 10.0.0.0/8 or fd00::/64") from None
    return f"{_text(net.network_address)}/{net.prefixlen}"


def _c_ipv4(text: str) -> int:
    """An IPv4 address as iptables reads one (xtables_numeric_to_ipaddr), or -1: up to four
    parts between dots, each a number to 255 as xtables_strtoui reads it ("010" is 8, "0x0a"
    10), the parts not given 0 ("10.1" is 10.1.0.0, "80" 80.0.0.0); it reads only the
    first 19 characters. A host name (which iptables would look up) is not one."""
    parts = text[:19].split(".")
    if len(parts) > 4:
        return -1
    value = 0
    for k in range(4):
        number = c_number(parts[k], 255) if k < len(parts) else 0
        if number is None:
            return -1
        value = value << 8 | number
    return value


def _address_and_mask(addr: str, mask: str) -> tuple[ipaddress.IPv4Address
                                                     | ipaddress.IPv6Address,
                                                     ipaddress.IPv4Address
                                                     | ipaddress.IPv6Address]:
    """An address and a mask spelt as an address, of one family."""
    try:
        address_value, mask_value = ip(addr), ip(mask)
    except ValueError:
        raise ValueError("an address or network such as 10.0.0.0/8 or fd00::/64") from None
    if address_value.version != mask_value.version:
        raise ValueError(f"a mask of the address's family (IPv{address_value.version})")
    return address_value, mask_value


def _masked_network(addr: str, mask: str) -> str:
    """``ADDRESS/MASK`` with the mask spelt as an address, contiguous or not
    (``10.0.0.0/255.0.255.0``): what iptables-save prints, ``/len`` when the mask's ones
    are contiguous, else the masked address and the mask as an address."""
    address_value, mask_value = _address_and_mask(addr, mask)
    bits = address_value.max_prefixlen
    ones = int(mask_value)
    length = ones.bit_count()
    masked = ipaddress.ip_address(int(address_value) & ones) if bits == 32 else (
        ipaddress.IPv6Address(int(address_value) & ones))
    if ones == ((1 << bits) - 1) ^ ((1 << (bits - length)) - 1):
        return f"{_text(masked)}/{length}"
    return f"{_text(masked)}/{_text(mask_value)}"


def network_bits(text: str) -> tuple[int, int, int]:
    """Normal ``addr/len`` or ``addr/mask`` -> (family, value, mask) as integers."""
    addr, slash, length = text.partition("/")
    packed = _ipv4_packed(addr)
    if packed is not None:
        # What ipaddress.ip_network(text, strict=False) gives, without its cost: compiling
        # the rules of a long chain reads thousands of these.
        bits = _PREFIX_LENGTHS.get(length) if slash else 32
        if bits is None and length.isascii() and length.isdigit() and int(length) <= 32:
            bits = int(length)  # leading zeros
        if bits is not None:
            mask = (MAX_U32 << (32 - bits)) & MAX_U32
            value = int.from_bytes(packed, "big")
            return 4, value & mask, mask
    if "." in length or ":" in length:  # a mask spelt as an address
        address_value, mask_value = _address_and_mask(addr, length)
        ones = int(mask_value)
        return address_value.version, int(address_value) & ones, ones
    net = ipaddress.ip_network(text, strict=False)
    return net.version, int(net.network_address), int(net.netmask)


def address_int(text: str) -> int:
    return int(ipaddress.ip_address(text))


def interface(text: str) -> str:
    """An interface name as iptables takes it: 1 to 15 bytes of anything (a '/' or a space
    only draws a warning); ``+`` at the end matches any suffix, ``+`` alone any interface."""
    if not text or len(text) > 15 or (
            not text.isascii() and len(text.encode("utf-8", "surrogatepass")) > 15):
        raise ValueError("an interface name of 1 to 15 bytes (UTF-8), optionally ending in '+'")
    return text


def interface_matches(pattern: str, name: str | None) -> bool:
    if name is None:
        return False
    if pattern.endswith("+"):
        return name.startswith(pattern[:-1])
    return name == pattern


_PROTOCOLS: Final = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58, "ipv6-icmp": 58, "sctp": 132,
              "dccp": 33, "udplite": 136, "esp": 50, "ah": 51, "gre": 47, "mh": 135, "all": 0}
_PROTOCOL_NAMES: Final = {6: "tcp", 17: "udp", 1: "icmp", 58: "ipv6-icmp", 132: "sctp", 33: "dccp",
                   136: "udplite", 50: "esp", 51: "ah", 47: "gre"}


@lru_cache(maxsize=1)
def _netdb_protocols() -> tuple[dict[str, int], dict[int, str]]:
    """The machine's /etc/protocols as the C library reads it: each name and alias ->
    its number, and each number -> its first name. Empty without the file."""
    by_name: dict[str, int] = {}
    by_number: dict[int, str] = {}
    try:
        with open("/etc/protocols", encoding="utf-8", errors="replace") as lines:
            for line in lines:
                fields = line.partition("#")[0].split()
                if len(fields) < 2 or not (fields[1].isascii() and fields[1].isdigit()):
                    continue
                number = int(fields[1])
                for name in (fields[0], *fields[2:]):
                    by_name.setdefault(name, number)
                by_number.setdefault(number, fields[0])
    except OSError:
        pass
    return by_name, by_number


def _protocol_value(text: str) -> int:
    """xtables_parse_protocol: a number as xtables_strtoui reads it, else a name of
    /etc/protocols (in its case: "TCP" is an alias there, "Tcp" nothing), else one of
    iptables' own."""
    number = c_number(text, 255)
    if number is None:
        number = _netdb_protocols()[0].get(text, _PROTOCOLS.get(text))
        if number is None:
            raise ValueError("a protocol name (tcp, udp, icmp, all...) or number")
    return number


def protocol(text: str) -> str:
    """-p's value as iptables reads it (lower case first): a number as xtables_strtoui
    reads it, "all", a name of /etc/protocols or one of iptables' own (icmpv6, mh...); the
    spelling iptables-save prints: the number's name (ours, else /etc/protocols'), else the
    number. 0 is "any protocol", which iptables spells "all"."""
    number = _protocol_value(text.lower())
    if number == 0:
        return "all"
    return _PROTOCOL_NAMES.get(number) or _netdb_protocols()[1].get(number) or str(number)


def port(text: str, base: int = 0) -> int:
    """A port number as xtables_parse_port reads it (strtoul, ``base`` 0: "0x50" is 80,
    "010" is 8, "080" is nothing), else a service name. ``base`` 10: as the newer option
    parser reads it, through getaddrinfo's service: "010" is 10, and the number is cut to
    a C int (one that is negative is refused), then to 16 bits: 65536 is 0, 4294967296 is
    0, 4294967295 nothing (as the kernel shows)."""
    if text.isascii() and text.isdigit() and text[0] != "0" and len(text) <= 5:
        value = int(text)  # most ports: plain decimal
        if base == 10:
            return value & 0xFFFF
    else:
        found = c_number(text, 65535 if base == 0 else 2**64 - 1, base)
        if found is not None and base == 10 and found & 0xFFFFFFFF >= 2**31:
            raise ValueError("a port from 0 to 65535")
        if found is not None:
            return found & 0xFFFF
        if (_C_NUMBER if base == 0 else _C_DECIMAL).fullmatch(text):
            raise ValueError("a port from 0 to 65535")
        try:
            return getservbyname(text)
        except (OSError, ValueError):  # ValueError: a NUL, or a lone surrogate
            raise ValueError("a port number or service name") from None
    if value > 65535:
        raise ValueError("a port from 0 to 65535")
    return value


def decimal_port(text: str) -> int:
    """A port as the newer option parser reads it (udp, conntrack, TPROXY): base 10."""
    return port(text, 10)


def port_range(text: str, base: int = 0) -> str:
    """``80``, ``1000:2000``, ``:1024``, ``1024:`` -> the spelling iptables-save prints
    (numbers in ``base``, see ``port``)."""
    if ":" in text:
        low, _, high = text.partition(":")
        lo = port(low, base) if low else 0
        hi = port(high, base) if high else 65535
        if lo > hi:
            raise ValueError("a port range whose first port is not above its last")
        return str(lo) if lo == hi else f"{lo}:{hi}"
    return str(port(text, base))


def decimal_port_range(text: str) -> str:
    """``port_range`` as the newer option parser reads it (udp, conntrack): base 10."""
    return port_range(text, 10)


def port_bounds(text: str) -> tuple[int, int]:
    low, _, high = text.partition(":")
    return int(low), int(high or low)


def port_list(text: str) -> str:
    """multiport's comma list of ports and ``a:b`` ranges: both bounds given, the first
    below the last, a range taking two of the 15 places (libxt_multiport)."""
    items = []
    places = 0
    for item in text.split(","):
        low, colon, high = item.partition(":")
        if colon:
            lo, hi = port(low), port(high)
            if lo >= hi:
                raise ValueError("a range whose first port is below its last")
            items.append(f"{lo}:{hi}")
            places += 2
        else:
            items.append(str(port(item)))
            places += 1
    if places > 15:
        raise ValueError("a comma-separated list of at most 15 ports or ranges (a range "
                         "counts as two)")
    return ",".join(items)


def decimal(text: str, limit: int) -> int | None:
    """``text`` as a number, if it is ASCII digits (all strtoul reads) for a number no
    larger than ``limit``; else ``None``. Never converts thousands of digits."""
    if not (text.isascii() and text.isdigit()):
        return None
    digits = text.lstrip("0") or "0"
    if len(digits) > len(str(limit)):
        return None
    value = int(digits)
    return value if value <= limit else None


# A number as xtables_strtoui reads one (strtoul with base 0, the whole text): C whitespace
# first, an optional "+" (it refuses "-"), then 0x and hex digits, 0 and octal digits, or
# decimal digits. "010" is 8; "08", "0x" and "0o10" are refused.
_C_NUMBER: Final = re.compile(r"[ \t\n\v\f\r]*\+?(?:0[xX]([0-9a-fA-F]+)|0([0-7]*)|([1-9][0-9]*))")


# The same read in base 10, as the option parser of newer extensions reads a port (udp's,
# conntrack's, TPROXY's): "010" is 10, "0x10" nothing.
_C_DECIMAL: Final = re.compile(r"[ \t\n\v\f\r]*\+?()()([0-9]+)")


def c_number(text: str, limit: int, base: int = 0) -> int | None:
    """``text`` as xtables_strtoui reads it (in ``base``, 0 or 10), if it is a number no
    larger than ``limit``; else ``None``. Never converts thousands of digits."""
    m = (_C_NUMBER if base == 0 else _C_DECIMAL).fullmatch(text)
    if m is None:
        return None
    hexa, octal, digits = m.groups()
    base = 16 if hexa else 8 if octal is not None and digits is None else 10
    significant = (hexa or octal or digits or "0").lstrip("0") or "0"
    if len(significant) > 24:  # more than any limit (strtoul's ERANGE, or too large)
        return None
    value = int(significant, base)
    return value if value <= limit else None


def integer(text: str, limit: int = MAX_U32) -> int:
    """A number of an extension's option, as xtables_strtoui reads it (see c_number)."""
    value = c_number(text, limit)
    if value is None:
        raise ValueError(f"a number from 0 to {limit}" if _C_NUMBER.fullmatch(text)
                         else "a number (decimal, 0x hex or 0 octal)")
    return value


def mark(text: str) -> str:
    """``value[/mask]`` -> ``0xvalue[/0xmask]`` as iptables-save prints it."""
    value, slash, mask = text.partition("/")
    out = hex(integer(value))
    if slash:
        out += "/" + hex(integer(mask))
    return out


def mark_bits(text: str) -> tuple[int, int]:
    value, slash, mask = text.partition("/")
    return int(value, 0), (int(mask, 0) if slash else MAX_U32)


_USER_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$")


def id_range(text: str) -> str:
    """owner's ``1337``, ``1000-2000`` or a user/group name.

    A name is kept as written: which id it stands for is a fact of the node, not
    of the file, so a trace treats it as unknown (see ``_compile._owner``).
    """
    if _USER_NAME.match(text):
        return text
    # Numbers as xtables_strtoui reads them ("0x539" is 1337), written in decimal.
    low, dash, high = text.partition("-")
    if not _C_NUMBER.fullmatch(low) or (dash and not _C_NUMBER.fullmatch(high)):
        raise ValueError("a uid/gid, a range such as 1000-2000, or a name")
    first = c_number(low, MAX_ID)
    last = c_number(high, MAX_ID) if dash else first
    if first is None or last is None:
        raise ValueError(f"ids from 0 to {MAX_ID}")
    if first > last:
        raise ValueError("a range whose first id is not above its last")
    return str(first) if first == last else f"{first}-{last}"


def named_ids(values: Iterable[str]) -> tuple[int, ...]:
    """The uids and gids owner values name (a range by its bounds, a user name none), in
    order."""
    return tuple(sorted({int(bound) for value in values for bound in value.split("-")
                         if bound.isdigit()}))


def id_bounds(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    return int(low), int(high or low)


def _range_address(text: str) -> str:
    """iprange's address: an IPv4 one as iptables reads -s's (see _c_ipv4), else IPv6."""
    value = _c_ipv4(text) if ":" not in text else -1
    if value < 0:
        return address(text)
    return f"{value >> 24}.{(value >> 16) & 255}.{(value >> 8) & 255}.{value & 255}"


def address_range(text: str) -> str:
    """iprange's ``FIRST-LAST``; one address is the range of it (iptables-save prints
    ``a-a``)."""
    low, dash, high = text.partition("-")
    lo = _range_address(low)
    hi = _range_address(high) if dash else lo
    if int(ipaddress.ip_address(lo)) > int(ipaddress.ip_address(hi)) or (
            ":" in lo) != (":" in hi):
        raise ValueError("a range whose first address is not above its last")
    return f"{lo}-{hi}"


def name(text: str) -> str:
    if not _NAME.match(text):
        raise ValueError("a name of letters, digits and _.:@+- (at most 29 characters)")
    return text


# A number as strtod reads one, the whole text (C whitespace first only): decimal with an
# exponent maybe, hex with a binary exponent maybe ("0x0.8" is 0.5), nan or inf. Python's
# float takes "1_0" and whitespace after, and no hex.
_STRTOD: Final = re.compile(
    r"[ \t\n\v\f\r]*([+-]?)(?:(0x(?:[0-9a-f]+\.?[0-9a-f]*|\.[0-9a-f]+)(?:p[+-]?[0-9]+)?)"
    r"|((?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[+-]?[0-9]+)?)|(nan(?:\([0-9a-z_]*\))?|inf(?:inity)?))",
    re.IGNORECASE | re.ASCII)


def probability(text: str) -> str:
    """The kernel stores ``lround(p * 2**31)``; iptables-save prints it back with 11 decimals.
    p is read as strtod reads it; nan passes iptables' range check and is stored as 0."""
    m = _STRTOD.fullmatch(text)
    if m is None:
        raise ValueError("a probability from 0 to 1")
    sign, hexa, digits, special = m.groups()
    value = (float.fromhex(sign + hexa) if hexa else float(sign + digits) if digits
             else float(sign + special.partition("(")[0]))
    if value != value:  # nan
        value = 0.0
    if not 0.0 <= value <= 1.0:
        raise ValueError("a probability from 0 to 1")
    stored = int(value * 0x80000000 + 0.5)
    return f"{stored / 0x80000000:.11f}"


def choice(*allowed: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text.upper() in allowed:
            return text.upper()
        raise ValueError("one of " + ", ".join(allowed))

    return parse


def choice_list(*allowed: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        items = {item.upper() for item in text.split(",")}
        if not items <= set(allowed):
            raise ValueError("a comma-separated list of " + ", ".join(allowed))
        # The kernel keeps a bit mask: iptables-save prints it in ``allowed``'s order.
        return ",".join(item for item in allowed if item in items)

    return parse


TCP_FLAGS: Final = ("FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR")
# The flags --tcp-flags can name: iptables knows no ECE or CWR, and its ALL is these six.
_TCP_FLAG_NAMES: Final = TCP_FLAGS[:6]


def tcp_flag_list(text: str) -> str:
    """A flag list in the kernel's bit order (iptables-save prints it that way)."""
    upper = text.upper()
    if upper == "ALL":
        items = set(_TCP_FLAG_NAMES)
    elif upper == "NONE":
        return "NONE"
    else:
        items = set(upper.split(","))
        if not items <= set(_TCP_FLAG_NAMES):
            raise ValueError("a comma-separated list of FIN,SYN,RST,PSH,ACK,URG, ALL or NONE")
    return ",".join(flag for flag in _TCP_FLAG_NAMES if flag in items)


def dnat_destination(text: str) -> str:
    """``ip[-ip][:port[-port]]`` (IPv6 as ``[addr]:port``) as iptables-save prints it: the
    ports as numbers (read as xtables_parse_port reads them: "010" is 8, "http" 80), a range
    of one address or port as that one, the addresses canonical."""
    # ADDRESS:PORT, a canonical IPv4 address and a port of 1 to 5 ASCII digits, no 0
    # first: most DNAT destinations (kube-proxy's endpoints).
    addr, colon, port_text = text.partition(":")
    if (colon and len(port_text) <= 5 and port_text.isdigit() and port_text.isascii()
            and (port_text[0] != "0" or port_text == "0") and int(port_text) <= 65535
            and _ipv4_packed(addr) is not None):
        return text
    bracketed = text.startswith("[")
    host, port_part = text, ""
    if bracketed:
        host, _, rest = text[1:].partition("]")
        port_part = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port_part = text.partition(":")
    try:
        hosts = [address(part) for part in host.split("-")] if host else []
        ports = [port(part) for part in port_part.split("-")] if port_part else []
    except ValueError:
        raise ValueError("ADDRESS[-ADDRESS][:PORT[-PORT]]") from None
    if (not host and not port_part) or len(hosts) > 2 or len(ports) > 2:
        raise ValueError("ADDRESS[-ADDRESS][:PORT[-PORT]]")
    if len(ports) == 2 and ports[0] > ports[1]:
        raise ValueError("a port range whose first port is not above its last")
    out = "-".join(hosts[:1] if len(hosts) == 2 and hosts[0] == hosts[1] else hosts)
    if bracketed:
        out = f"[{out}]"
    if ports:
        out += ":" + "-".join(map(str, ports[:1] if ports[0] == ports[-1] else ports))
    return out


def redirect_ports(text: str) -> str:
    low, dash, high = text.partition("-")
    try:
        lo = port(low)
        hi = port(high) if dash else lo
    except ValueError:
        raise ValueError("a port or port range such as 15001 or 1000-2000") from None
    return str(lo) if lo == hi else f"{lo}-{hi}"


def nat_port_bounds(text: str) -> tuple[int, int]:
    """A NAT target's normal ``p[-q]`` -> (first port, last port)."""
    low, _, high = text.partition("-")
    return int(low), int(high or low)


def any_text(text: str) -> str:
    return text


def text_of_at_most(limit: int) -> Callable[[str], str]:
    """Free text the kernel keeps ``limit`` characters of (a comment: 255, a log prefix:
    29). iptables-restore cuts a longer one silently; refusing it keeps what a page
    shows the same as what the kernel holds."""
    def parse(text: str) -> str:
        if len(text) > limit:
            raise ValueError(f"at most {limit} characters (it has {len(text)}; the kernel "
                             f"keeps only the first {limit})")
        return text
    return parse


def protocol_number(text: str) -> str:
    """conntrack's ``--ctproto`` (read as it is, not in lower case as -p is): iptables-save
    prints the number."""
    return str(_protocol_value(text))


def conntrack_network(text: str) -> str:
    """conntrack's addresses: an IPv4 address as inet_aton reads it (getaddrinfo's: "80" is
    0.0.0.80, "10.1" 10.0.0.1, no sign), a prefix length as xtables_strtoui reads it or a
    mask; the host bits kept (iptables-save prints 1.2.3.4/16), a single host without its
    length. IPv6 as ``network`` reads it."""
    addr, slash, mask = text.partition("/")
    if ":" in text:  # IPv6: the host bits kept too
        normal = network(text)
        kept = f"{address(addr)}/{normal.partition('/')[2]}"
        return kept.partition("/")[0] if kept.endswith("/128") else kept
    value = _aton(addr)
    length: int | None = c_number(mask, 32) if slash and "." not in mask else 32
    if slash and "." in mask:
        ones = _aton(mask) if mask.count(".") == 3 else -1
        contiguous = [n for n in range(33) if ones == (MAX_U32 << (32 - n)) & MAX_U32]
        if not contiguous:  # iptables-save prints no mask then; this keeps the mask
            return network(text)
        length = contiguous[0]
    if value < 0 or length is None:
        raise ValueError("an address or network such as 10.0.0.0/8")
    host = f"{value >> 24}.{(value >> 16) & 255}.{(value >> 8) & 255}.{value & 255}"
    return host if length == 32 else f"{host}/{length}"


_ATON_PART: Final = re.compile(r"0[xX][0-9a-fA-F]{1,8}|0[0-7]{0,11}|[1-9][0-9]{0,9}")


def _aton(text: str) -> int:
    """An IPv4 address as inet_aton reads it, exactly, or -1: one to four parts, each hex
    (0x), octal (0) or decimal; the last part fills the bits the others leave."""
    parts = text.split(".")
    if len(parts) > 4 or not all(_ATON_PART.fullmatch(p) for p in parts):
        return -1
    numbers = [int(p, 16) if p[1:2] in ("x", "X") else int(p, 8) if p[:1] == "0" else int(p)
               for p in parts]
    last_bits = 32 - 8 * (len(numbers) - 1)
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >> last_bits:
        return -1
    value = 0
    for n in numbers[:-1]:
        value = value << 8 | n
    return value << last_bits | numbers[-1]


# iptables' ICMP type names, printed back as ``type`` or ``type/code``.
_ICMP_TYPES: Final = {
    "echo-reply": "0", "pong": "0", "destination-unreachable": "3",
    "network-unreachable": "3/0", "host-unreachable": "3/1", "protocol-unreachable": "3/2",
    "port-unreachable": "3/3", "fragmentation-needed": "3/4", "source-route-failed": "3/5",
    "network-unknown": "3/6", "host-unknown": "3/7", "network-prohibited": "3/9",
    "host-prohibited": "3/10", "TOS-network-unreachable": "3/11",
    "TOS-host-unreachable": "3/12", "communication-prohibited": "3/13",
    "host-precedence-violation": "3/14", "precedence-cutoff": "3/15", "source-quench": "4",
    "redirect": "5", "network-redirect": "5/0", "host-redirect": "5/1",
    "TOS-network-redirect": "5/2", "TOS-host-redirect": "5/3", "echo-request": "8",
    "ping": "8", "router-advertisement": "9", "router-solicitation": "10",
    "time-exceeded": "11", "ttl-exceeded": "11", "ttl-zero-during-transit": "11/0",
    "ttl-zero-during-reassembly": "11/1", "parameter-problem": "12", "ip-header-bad": "12/0",
    "required-option-missing": "12/1", "timestamp-request": "13", "timestamp-reply": "14",
    "address-mask-request": "17", "address-mask-reply": "18", "any": "any",
}


def icmp_type(text: str) -> str:
    """A name as libxt_icmp takes one: any case, and the only name it begins ("echo-req",
    "PING"); else TYPE[/CODE], numbers as xtables_strtoui reads them."""
    if text in _ICMP_TYPES:
        return _ICMP_TYPES[text]
    lowered = text.lower()
    names = [name for name in _ICMP_TYPES if name.lower().startswith(lowered)]
    if len(names) == 1:
        return _ICMP_TYPES[names[0]]
    if names:
        raise ValueError(f"one ICMP type name: {text} begins {names[0]} and {names[1]}")
    kind, slash, code = text.partition("/")
    number = c_number(kind, 255)
    code_number = c_number(code, 255) if slash else 0
    if number is not None and code_number is not None:
        return f"{number}/{code_number}" if slash else str(number)
    raise ValueError("an ICMP type name (echo-request, ...) or TYPE[/CODE]")


def nat_range_has_port(text: str) -> bool:
    """Whether a DNAT/SNAT range (``a[-b][:p[-q]]``, IPv6 ``[a]:p``) names ports."""
    if text.startswith("["):
        return "]:" in text
    return text.count(":") == 1
