"""How ``iptables -L -v -n`` (iptables 1.8.9) words a rule: its base criteria, each
match module's and each target's text, exactly as the kernel's listing prints them.

The listing view lays these out in columns; the rules view shows the same words
("owner UID match 1337", "tcp dpt:!15008"), so a reader can match a page with what
``iptables -L`` shows on a real pod. Each module's printer follows the ``print``
function of its iptables extension (``libxt_tcp.c``, ``libxt_owner.c``...); each was
checked against a real listing (see ``tests/render/fixtures/listing``).
"""

from __future__ import annotations

from collections.abc import Callable

from ..netfilter import Match, Option, Rule, family_of

FULL_MASK = 0xFFFFFFFF
PROTOCOL_NUMBERS = {"all": 0, "icmp": 1, "tcp": 6, "udp": 17, "ipv6-icmp": 58, "icmpv6": 58,
                    "sctp": 132, "dccp": 33, "udplite": 136, "esp": 50, "ah": 51, "gre": 47}
_TCP_FLAGS = {"FIN": 0x01, "SYN": 0x02, "RST": 0x04, "PSH": 0x08, "ACK": 0x10, "URG": 0x20,
              "ECE": 0x40, "CWR": 0x80, "NONE": 0, "ALL": 0x3F}
_CT_STATES = ("INVALID", "NEW", "RELATED", "ESTABLISHED", "UNTRACKED", "SNAT", "DNAT")
_CT_STATUS = ("NONE", "EXPECTED", "SEEN_REPLY", "ASSURED", "CONFIRMED")
_ADDRTYPES = ("UNSPEC", "UNICAST", "LOCAL", "BROADCAST", "ANYCAST", "MULTICAST", "BLACKHOLE",
              "UNREACHABLE", "PROHIBIT", "THROW", "NAT", "XRESOLVE")
_LOG_LEVELS = {"emerg": 0, "alert": 1, "crit": 2, "error": 3, "err": 3, "warning": 4,
               "warn": 4, "notice": 5, "info": 6, "debug": 7, "panic": 0}
_LOG_FLAGS = {"log-tcp-sequence": 0x01, "log-tcp-options": 0x02, "log-ip-options": 0x04,
              "log-uid": 0x08, "log-macdecode": 0x20}
# (type, lowest code, highest code) of the ICMP names iptables knows.
_ICMP = {
    "any": (255, 0, 255), "echo-reply": (0, 0, 255), "pong": (0, 0, 255),
    "destination-unreachable": (3, 0, 255), "network-unreachable": (3, 0, 0),
    "host-unreachable": (3, 1, 1), "protocol-unreachable": (3, 2, 2),
    "port-unreachable": (3, 3, 3), "fragmentation-needed": (3, 4, 4),
    "source-route-failed": (3, 5, 5), "network-unknown": (3, 6, 6), "host-unknown": (3, 7, 7),
    "network-prohibited": (3, 9, 9), "host-prohibited": (3, 10, 10),
    "TOS-network-unreachable": (3, 11, 11), "TOS-host-unreachable": (3, 12, 12),
    "communication-prohibited": (3, 13, 13), "host-precedence-violation": (3, 14, 14),
    "precedence-cutoff": (3, 15, 15), "source-quench": (4, 0, 255), "redirect": (5, 0, 255),
    "network-redirect": (5, 0, 0), "host-redirect": (5, 1, 1),
    "TOS-network-redirect": (5, 2, 2), "TOS-host-redirect": (5, 3, 3),
    "echo-request": (8, 0, 255), "ping": (8, 0, 255), "router-advertisement": (9, 0, 255),
    "router-solicitation": (10, 0, 255), "time-exceeded": (11, 0, 255),
    "ttl-exceeded": (11, 0, 255), "ttl-zero-during-transit": (11, 0, 0),
    "ttl-zero-during-reassembly": (11, 1, 1), "parameter-problem": (12, 0, 255),
    "ip-header-bad": (12, 0, 0), "required-option-missing": (12, 1, 1),
    "timestamp-request": (13, 0, 255), "timestamp-reply": (14, 0, 255),
    "address-mask-request": (17, 0, 255), "address-mask-reply": (18, 0, 255),
}


def _bang(option: Option) -> str:
    return " !" if option.negated else ""


def _opts(match: Match | Rule) -> dict[str, Option]:
    options = match.options if isinstance(match, Match) else ()
    return {o.name: o for o in options}


def _mark(text: str) -> str:
    value, slash, mask = text.partition("/")
    if not slash or int(mask, 16) == FULL_MASK:
        return f"{int(value, 16):#x}"
    return f"{int(value, 16):#x}/{int(mask, 16):#x}"


def address(text: str, family: int) -> str:
    """``10.0.0.0/8`` stays, a host route loses its ``/32`` (``/128``)."""
    host, _, length = text.partition("/")
    full = "32" if family == 4 else "128"
    return host if length in ("", full) else f"{host}/{length}"


def protocol_number(name: str) -> str:
    return str(PROTOCOL_NUMBERS.get(name, name))


# -- match modules --------------------------------------------------------------

def _ports(label: str, option: Option | None) -> str:
    if option is None:
        return ""
    low, _, high = option.value.partition(":")
    if not option.negated and low in ("", "0") and high == "65535":
        return ""
    inv = "!" if option.negated else ""
    if not high or low == high:
        return f" {label}:{inv}{low}"
    return f" {label}s:{inv}{low or 0}:{high}"


def _flags(names: str) -> int:
    return sum(_TCP_FLAGS[n] for n in names.split(",") if n) if names != "NONE" else 0


def _tcp(match: Match) -> str:
    o = _opts(match)
    text = " tcp" + _ports("spt", o.get("sport")) + _ports("dpt", o.get("dport"))
    if "tcp-option" in o:
        text += f" option={'!' if o['tcp-option'].negated else ''}{o['tcp-option'].value}"
    if "tcp-flags" in o:
        flags = o["tcp-flags"]
        mask, comp = flags.values
        text += (f" flags:{'!' if flags.negated else ''}0x{_flags(mask):02X}/"
                 f"0x{_flags(comp):02X}")
    return text


def _udp(match: Match) -> str:
    o = _opts(match)
    return " udp" + _ports("spt", o.get("sport")) + _ports("dpt", o.get("dport"))


def _icmp(match: Match) -> str:
    option = _opts(match).get("icmp-type")
    if option is None:
        return " icmp"
    value = option.value
    if value in _ICMP:
        kind, low, high = _ICMP[value]
    else:
        kind_text, slash, code = value.partition("/")
        kind, low, high = (int(kind_text), int(code), int(code)) if slash else (
            int(kind_text), 0, 255)
    text = " icmp" + (" !" if option.negated else "") + f"type {kind}"
    if low == high:
        text += f" code {low}"
    elif low != 0 or high != 255:
        text += f" codes {low}-{high}"
    return text


def _multiport(match: Match) -> str:
    for name in ("sports", "dports", "ports"):
        option = _opts(match).get(name)
        if option is not None:
            return f" multiport {name} {' !' if option.negated else ''}{option.value}"
    return " multiport"


def _owner(match: Match) -> str:
    o = _opts(match)
    text = ""
    for name, label in (("socket-exists", "owner socket exists"),
                        ("uid-owner", "owner UID match"), ("gid-owner", "owner GID match"),
                        ("suppl-groups", "incl. suppl. groups")):
        if name in o:
            option = o[name]
            text += _bang(option) + f" {label}" + (f" {option.value}" if option.values else "")
    return text


def _mark_match(match: Match) -> str:
    option = _opts(match)["mark"]
    return " mark match" + _bang(option) + f" {_mark(option.value)}"


def _connmark(match: Match) -> str:
    option = _opts(match)["mark"]
    return f" connmark match {'!' if option.negated else ''} {_mark(option.value)}"


def _in_order(value: str, order: tuple[str, ...]) -> str:
    items = set(value.split(","))
    return ",".join(name for name in order if name in items)


def _conntrack(match: Match) -> str:
    o = _opts(match)
    text = ""
    if "ctstate" in o:
        text += _bang(o["ctstate"]) + " ctstate " + _in_order(o["ctstate"].value, _CT_STATES)
    if "ctproto" in o:
        text += _bang(o["ctproto"]) + f" ctproto {protocol_number(o['ctproto'].value)}"
    for name in ("ctorigsrc", "ctorigdst", "ctreplsrc", "ctrepldst"):
        if name in o:
            text += _bang(o[name]) + f" {name} {address(o[name].value, family_of(o[name].value))}"
    for name in ("ctorigsrcport", "ctorigdstport", "ctreplsrcport", "ctrepldstport"):
        if name in o:
            text += _bang(o[name]) + f" {name} {o[name].value}"
    if "ctstatus" in o:
        text += _bang(o["ctstatus"]) + " ctstatus " + _in_order(o["ctstatus"].value,
                                                                  _CT_STATUS)
    if "ctdir" in o:
        text += f" ctdir {o['ctdir'].value}"
    return text


def _state(match: Match) -> str:
    option = _opts(match)["state"]
    return _bang(option) + " state " + _in_order(option.value, _CT_STATES)


def _comment(match: Match) -> str:
    return f" /* {_opts(match)['comment'].value} */"


def _addrtype(match: Match) -> str:
    o = _opts(match)
    text = " ADDRTYPE match"
    for name in ("src-type", "dst-type"):
        if name in o:
            text += f" {name} {'!' if o[name].negated else ''}"
            text += _in_order(o[name].value, _ADDRTYPES)
    if "limit-iface-in" in o:
        text += " limit-in"
    if "limit-iface-out" in o:
        text += " limit-out"
    return text


def _statistic(match: Match) -> str:
    o = _opts(match)
    if o["mode"].value == "random":
        option = o["probability"]
        return f" statistic mode random{_bang(option)} probability {option.value}"
    every = o["every"]
    text = f" statistic mode nth{_bang(every)} every {every.value}"
    packet = o.get("packet")
    if packet is not None and packet.value != "0":
        text += f" packet {packet.value}"
    return text


def _iprange(match: Match) -> str:
    o = _opts(match)
    text = ""
    for name, label in (("src-range", "source IP range"), ("dst-range", "destination IP range")):
        if name in o:
            text += f" {label}{_bang(o[name])} {o[name].value}"
    return text


def _set(match: Match) -> str:
    o = _opts(match)
    option = o["match-set"]
    text = f" {'! ' if option.negated else ''}match-set {option.values[0]} {option.values[1]}"
    if "return-nomatch" in o:
        text += " return-nomatch"
    for name in ("update-counters", "update-subcounters"):
        if name in o:
            text += f"{_bang(o[name])} {name}"
    for name in ("packets-eq", "bytes-eq"):
        if name in o:
            text += f" {'! ' if o[name].negated else ''}{name.replace('-eq', '')}-eq {o[name].value}"
    return text


def _socket(match: Match) -> str:
    return " socket" + "".join(f" --{o.name}" for o in match.options)


_MATCHES: dict[str, Callable[[Match], str]] = {
    "tcp": _tcp, "udp": _udp, "icmp": _icmp, "multiport": _multiport, "owner": _owner,
    "mark": _mark_match, "connmark": _connmark, "conntrack": _conntrack, "state": _state,
    "comment": _comment, "addrtype": _addrtype, "statistic": _statistic, "iprange": _iprange,
    "set": _set, "socket": _socket,
}


def _generic_match(match: Match) -> str:
    parts = [f" {match.module}"]
    for option in match.options:
        parts.append(("! " if option.negated else "") + " ".join((option.name, *option.values)))
    return " ".join(parts)


def match_words(rule: Rule) -> str:
    """Every match module of ``rule`` as the listing prints it (with a leading space)."""
    return "".join(_MATCHES.get(m.module, _generic_match)(m) for m in rule.matches
                   if m.module != "")


# -- targets ---------------------------------------------------------------------

def _xmark(kind: str, value_mask: str) -> str:
    value, _, mask_text = value_mask.partition("/")
    mark, mask = int(value, 16), int(mask_text, 16)
    if mark == 0:
        return f" {kind} and {~mask & FULL_MASK:#x}"
    if mark == mask:
        return f" {kind} or {mark:#x}"
    if mask == 0:
        return f" {kind} xor {mark:#x}"
    if mask == FULL_MASK:
        return f" {kind} set {mark:#x}"
    return f" {kind} xset {mark:#x}/{mask:#x}"


def _connmark_target(o: dict[str, Option]) -> str:
    if "set-xmark" in o:
        return _xmark("CONNMARK", o["set-xmark"].value)
    nfmask, ctmask = int(o["nfmask"].value, 16), int(o["ctmask"].value, 16)
    if "save-mark" in o:
        if nfmask == ctmask == FULL_MASK:
            return " CONNMARK save"
        if nfmask == ctmask:
            return f" CONNMARK save mask {nfmask:#x}"
        return f" CONNMARK save nfmask {nfmask:#x} ctmask ~{ctmask:#x}"
    if nfmask == ctmask == FULL_MASK:
        return " CONNMARK restore"
    if nfmask == ctmask:
        return f" CONNMARK restore mask {ctmask:#x}"
    return f" CONNMARK restore ctmask {ctmask:#x} nfmask ~{nfmask:#x}"


def _ct(o: dict[str, Option]) -> str:
    text = " CT"
    if "notrack" in o:
        text += " notrack"
    for name in ("helper", "timeout", "ctevents", "expevents", "zone", "zone-orig",
                 "zone-reply"):
        if name in o:
            text += f" {name} {o[name].value}"
    return text


def _log(o: dict[str, Option]) -> str:
    level_text = o["log-level"].value if "log-level" in o else "4"
    level = int(level_text) if level_text.isdigit() else _LOG_LEVELS.get(level_text.lower(), 4)
    flags = sum(bit for name, bit in _LOG_FLAGS.items() if name in o)
    text = f" LOG flags {flags} level {level}"
    if "log-prefix" in o and o["log-prefix"].value:
        text += f' prefix "{o["log-prefix"].value}"'
    return text


def _nat_flags(o: dict[str, Option]) -> str:
    return "".join(f" {name}" for name in ("random", "random-fully", "persistent") if name in o)


def target_words(rule: Rule) -> str:
    """The target's own text in the listing (with a leading space; empty for most)."""
    target = rule.target
    if target is None or target.is_chain:
        return ""
    o = {option.name: option for option in target.options}
    name = target.name
    if name == "MARK":
        return _xmark("MARK", o["set-xmark"].value)
    if name == "CONNMARK":
        return _connmark_target(o)
    if name == "CT":
        return _ct(o)
    if name == "NOTRACK":
        return " NOTRACK"
    if name == "LOG":
        return _log(o)
    if name == "REJECT":
        return f" reject-with {o['reject-with'].value}" if "reject-with" in o else ""
    if name == "REDIRECT":
        text = f" redir ports {o['to-ports'].value}" if "to-ports" in o else ""
        return text + (" random" if "random" in o else "")
    if name in ("DNAT", "SNAT"):
        key = "to-destination" if name == "DNAT" else "to-source"
        return f" to:{o[key].value}" + _nat_flags(o)
    if name == "MASQUERADE":
        text = f" masq ports: {o['to-ports'].value}" if "to-ports" in o else ""
        return text + _nat_flags(o)
    if name == "TPROXY":
        on_ip = o["on-ip"].value if "on-ip" in o else "0.0.0.0"
        value, _, mask = (o["tproxy-mark"].value if "tproxy-mark" in o else "0x0/0x0"
                          ).partition("/")
        return (f" TPROXY redirect {on_ip}:{o['on-port'].value} mark "
                f"{int(value, 16):#x}/{int(mask, 16):#x}")
    return ""


def target_name(rule: Rule) -> str:
    """The listing's target column (``CT`` for NOTRACK, as iptables-nft shows it)."""
    if rule.target is None:
        return ""
    return "CT" if rule.target.name == "NOTRACK" else rule.target.name
