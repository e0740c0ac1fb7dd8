"""The syntax of every match module and target chainwalk understands, as data.

Each :class:`ModuleSpec` / :class:`TargetSpec` lists its options in the order
``iptables-save`` prints them, the spellings ``iptables-restore`` accepts, how
many values each takes and how a value is normalised. The parser, the writer
and the documentation all read these tables; what a module *does* lives in
``_compile.py`` and what a target does in ``_targets.py``, keyed by the same names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from . import _values as v
from ._model import Option, Rule

#: Hooks by name, as the kernel numbers them.
HOOKS: Final = ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING")
ALL_HOOKS: Final = frozenset(HOOKS)
PORT_PROTOCOLS: Final = ("tcp", "udp", "sctp", "dccp", "udplite")


@dataclass(slots=True, eq=False)  # compared (and hashed) by identity: one per option
class OptionSpec:
    """One option of a match module or target: its spellings and how its values read."""

    name: str  # as iptables-save prints it, without the dashes
    spellings: tuple[str, ...]  # every spelling iptables-restore accepts
    arity: int = 1
    parse: Callable[[str], object] = v.any_text
    negatable: bool = True
    store_as: str | None = None  # an alias whose normal form is another option

    @property
    def canonical(self) -> str:
        return self.store_as or self.name


def opt(name: str, *aliases: str, arity: int = 1, parse: Callable[[str], object] = v.any_text,
        negatable: bool = True, store_as: str | None = None) -> OptionSpec:
    return OptionSpec(name, (f"--{name}", *aliases), arity, parse, negatable, store_as)


Finish = Callable[[list[Option]], list[Option]]


def _keep(options: list[Option]) -> list[Option]:
    return options


@dataclass(slots=True, eq=False)
class ModuleSpec:
    """A match module (``-m NAME``): its options and where it works."""

    name: str
    options: tuple[OptionSpec, ...]
    protocols: tuple[str, ...] = ()  # -p must be one of these (empty: any)
    hooks: frozenset[str] = ALL_HOOKS
    finish: Finish = _keep  # checks required options and fills defaults; raises ValueError
    summary: str = ""
    implicit: bool = False  # loaded by -p PROTO without -m
    lookup: dict[str, OptionSpec] = field(init=False)  # by every spelling
    order: dict[str, int] = field(init=False)  # where each option comes in iptables-save's

    def __post_init__(self) -> None:
        self.lookup = {s: o for o in self.options for s in o.spellings}
        self.order = {o.canonical: n for n, o in enumerate(self.options)}


@dataclass(slots=True, eq=False)
class TargetSpec:
    """A target extension (``-j NAME``): its options and where it works."""

    name: str
    options: tuple[OptionSpec, ...] = ()
    tables: tuple[str, ...] = ()  # empty: any table
    hooks: frozenset[str] = ALL_HOOKS
    protocols_for: tuple[str, ...] = ()  # options that, naming ports, need -p tcp/udp
    # Option values that need "-p tcp" (not negated): REJECT's tcp-reset, which the kernel's
    # checkentry refuses for any other protocol.
    tcp_only: frozenset[tuple[str, str]] = frozenset()
    finish: Finish = _keep
    terminal: bool = True  # False: evaluation goes on with the next rule
    summary: str = ""
    lookup: dict[str, OptionSpec] = field(init=False)  # by every spelling
    order: dict[str, int] = field(init=False)  # where each option comes in iptables-save's

    def __post_init__(self) -> None:
        self.lookup = {s: o for o in self.options for s in o.spellings}
        self.order = {o.canonical: n for n, o in enumerate(self.options)}


def _require_one(*names: str) -> Finish:
    def finish(options: list[Option]) -> list[Option]:
        for o in options:  # not any(): a large file calls this tens of thousands of times
            if o.name in names:
                return options
        raise ValueError("one of " + ", ".join("--" + n for n in names))

    return finish


def _only_one(*names: str) -> Finish:
    def finish(options: list[Option]) -> list[Option]:
        given = [o.name for o in options if o.name in names]
        if len(given) != 1:
            raise ValueError("exactly one of " + ", ".join("--" + n for n in names))
        return options

    return finish


def _statistic(options: list[Option]) -> list[Option]:
    mode = next((o.value for o in options if o.name == "mode"), None)
    names = {o.name for o in options}
    if mode is None:
        raise ValueError("--mode random or --mode nth")
    if mode == "random" and "probability" not in names:
        raise ValueError("--probability with --mode random")
    # iptables refuses --every without --packet ('option "--every" also requires
    # "--packet"'), so there is no default to fill in.
    if mode == "nth" and ("every" not in names or "packet" not in names):
        raise ValueError("--every and --packet with --mode nth")
    # libxt_statistic: --probability goes with neither --every nor --packet, --every is at
    # least 1 and --packet below it.
    if "probability" in names and names & {"every", "packet"}:
        raise ValueError("--probability without --every or --packet")
    values = {o.name: o.value for o in options}
    if "every" in values and not 0 <= int(values.get("packet", "0")) < int(values["every"]):
        raise ValueError("--every N of at least 1 and --packet P with 0 <= P <= N - 1")
    return options


def _defaults(**defaults: str) -> Finish:
    def finish(options: list[Option]) -> list[Option]:
        names = {o.name for o in options}
        return options + [Option(k.replace("_", "-"), (val,)) for k, val in defaults.items()
                          if k.replace("_", "-") not in names]

    return finish


def _connmark_target(options: list[Option]) -> list[Option]:
    names = {o.name for o in options}
    actions = names & {"set-xmark", "save-mark", "restore-mark"}
    if len(actions) != 1:
        raise ValueError("one of --set-xmark, --set-mark, --save-mark, --restore-mark")
    if actions & {"save-mark", "restore-mark"}:
        mask = next((o.value for o in options if o.name == "mask"), None)
        options = [o for o in options if o.name != "mask"]
        for name in ("nfmask", "ctmask"):
            if name not in names:
                options.append(Option(name, (mask or "0xffffffff",)))
    return options


def _tproxy(options: list[Option]) -> list[Option]:
    if not any(o.name == "on-port" for o in options):
        raise ValueError("--on-port")
    names = {o.name for o in options}
    out = list(options)
    # The default --on-ip (0.0.0.0 or ::) depends on the family: filled in by the parser.
    if "tproxy-mark" not in names:
        out.append(Option("tproxy-mark", ("0x0/0x0",)))
    return out


# syslog levels by the names iptables accepts; LOG's default level 4 is not printed.
_LOG_LEVELS: Final = {"emerg": 0, "panic": 0, "alert": 1, "crit": 2, "error": 3, "warning": 4,
               "notice": 5, "info": 6, "debug": 7}


def _log_level(text: str) -> str:
    level = int(text) if text.isdigit() else _LOG_LEVELS.get(text)
    if level is None or level > 7:
        raise ValueError("a syslog level from 0 to 7 or one of " + ", ".join(_LOG_LEVELS))
    return str(level)


def _log(options: list[Option]) -> list[Option]:
    return [o for o in options if not (o.name == "log-level" and o.value == "4")]


def _mark_with_mask(text: str) -> str:
    value, slash, mask = text.partition("/")
    return f"{hex(v.integer(value))}/{hex(v.integer(mask) if slash else v.MAX_U32)}"


# tcp reads its ports with xtables_parse_port (0x hex, 0 octal); udp with the newer option
# parser, in decimal ("010" is 8 to tcp, 10 to udp; seen).
_tcp_ports = (
    opt("sport", "--source-port", parse=v.port_range),
    opt("dport", "--destination-port", parse=v.port_range),
)
_udp_ports = (
    opt("sport", "--source-port", parse=v.decimal_port_range),
    opt("dport", "--destination-port", parse=v.decimal_port_range),
)

MODULES: Final[dict[str, ModuleSpec]] = {m.name: m for m in (
    ModuleSpec("tcp", (
        *_tcp_ports,
        opt("tcp-flags", arity=2, parse=v.tcp_flag_list),
        opt("syn", arity=0, store_as="tcp-flags"),
        opt("tcp-option", parse=lambda t: str(v.integer(t, 255))),
    ), protocols=("tcp",), implicit=True, summary="TCP ports and flags"),
    ModuleSpec("udp", _udp_ports, protocols=("udp",), implicit=True, summary="UDP ports"),
    ModuleSpec("icmp", (opt("icmp-type", parse=v.icmp_type),), protocols=("icmp",),
               implicit=True, finish=_require_one("icmp-type"), summary="ICMP type"),
    ModuleSpec("multiport", (
        opt("sports", "--source-ports", parse=v.port_list),
        opt("dports", "--destination-ports", parse=v.port_list),
        opt("ports", parse=v.port_list),
    ), protocols=PORT_PROTOCOLS, finish=_only_one("sports", "dports", "ports"),
        summary="up to 15 ports or ranges"),
    ModuleSpec("owner", (
        opt("socket-exists", arity=0),
        opt("uid-owner", parse=v.id_range),
        opt("gid-owner", parse=v.id_range),
        opt("suppl-groups", arity=0, negatable=False),
    ), hooks=frozenset({"OUTPUT", "POSTROUTING"}),
        finish=_require_one("uid-owner", "gid-owner", "socket-exists"),
        summary="the local socket's owner"),
    ModuleSpec("mark", (opt("mark", parse=v.mark),), finish=_require_one("mark"),
               summary="the packet's mark (nfmark)"),
    ModuleSpec("connmark", (opt("mark", parse=v.mark),), finish=_require_one("mark"),
               summary="the connection's mark (ctmark)"),
    ModuleSpec("conntrack", (
        opt("ctstate", parse=v.choice_list("INVALID", "NEW", "RELATED", "ESTABLISHED",
                                            "UNTRACKED", "SNAT", "DNAT")),
        opt("ctproto", parse=v.protocol_number),
        opt("ctorigsrc", parse=v.conntrack_network),
        opt("ctorigdst", parse=v.conntrack_network),
        opt("ctreplsrc", parse=v.conntrack_network),
        opt("ctrepldst", parse=v.conntrack_network),
        opt("ctorigsrcport", parse=v.decimal_port_range),
        opt("ctorigdstport", parse=v.decimal_port_range),
        opt("ctstatus", parse=v.choice_list("NONE", "EXPECTED", "SEEN_REPLY", "ASSURED",
                                             "CONFIRMED")),
        opt("ctdir", parse=v.choice("ORIGINAL", "REPLY"), negatable=False),
    ), finish=_require_one("ctstate", "ctproto", "ctorigsrc", "ctorigdst", "ctreplsrc",
                           "ctrepldst", "ctorigsrcport", "ctorigdstport", "ctstatus", "ctdir"),
        summary="connection tracking state"),
    ModuleSpec("state", (
        opt("state", parse=v.choice_list("INVALID", "NEW", "RELATED", "ESTABLISHED",
                                          "UNTRACKED")),
    ), finish=_require_one("state"), summary="connection state (old name of conntrack)"),
    ModuleSpec("comment", (opt("comment", parse=v.text_of_at_most(255), negatable=False),), finish=_require_one("comment"),
               summary="a comment; always matches"),
    ModuleSpec("addrtype", (
        opt("src-type", parse=v.choice_list("UNSPEC", "UNICAST", "LOCAL", "BROADCAST",
                                             "ANYCAST", "MULTICAST", "BLACKHOLE",
                                             "UNREACHABLE", "PROHIBIT", "THROW", "NAT",
                                             "XRESOLVE")),
        opt("dst-type", parse=v.choice_list("UNSPEC", "UNICAST", "LOCAL", "BROADCAST",
                                             "ANYCAST", "MULTICAST", "BLACKHOLE",
                                             "UNREACHABLE", "PROHIBIT", "THROW", "NAT",
                                             "XRESOLVE")),
        opt("limit-iface-in", arity=0, negatable=False),
        opt("limit-iface-out", arity=0, negatable=False),
    ), finish=_require_one("src-type", "dst-type"), summary="address types (LOCAL, ...)"),
    ModuleSpec("statistic", (
        opt("mode", parse=v.choice("RANDOM", "NTH"), negatable=False),
        opt("probability", parse=v.probability),
        opt("every", parse=lambda t: str(v.integer(t))),
        opt("packet", parse=lambda t: str(v.integer(t)), negatable=False),
    ), finish=_statistic, summary="random or every-nth packet"),
    ModuleSpec("iprange", (
        opt("src-range", parse=v.address_range),
        opt("dst-range", parse=v.address_range),
    ), finish=_require_one("src-range", "dst-range"), summary="address ranges"),
    ModuleSpec("set", (
        opt("match-set", arity=2, parse=v.any_text),
        opt("return-nomatch", arity=0, negatable=False),
        opt("update-counters", arity=0, negatable=False),
        opt("update-subcounters", arity=0, negatable=False),
        opt("packets-eq", parse=lambda t: str(v.integer(t))),
        opt("bytes-eq", parse=lambda t: str(v.integer(t))),
    ), finish=_require_one("match-set"), summary="ipset membership (not in the file)"),
    ModuleSpec("socket", (
        opt("transparent", arity=0, negatable=False),
        opt("nowildcard", arity=0, negatable=False),
        opt("restore-skmark", arity=0, negatable=False),
    ), hooks=frozenset({"PREROUTING", "INPUT"}), summary="a local socket for the packet"),
)}

# statistic's --mode values are lower case in iptables-save's output.
_STATISTIC_MODE: Final = {"RANDOM": "random", "NTH": "nth"}

TARGETS: Final[dict[str, TargetSpec]] = {t.name: t for t in (
    TargetSpec("ACCEPT", summary="stop this table; let the packet go on"),
    TargetSpec("DROP", summary="discard the packet"),
    TargetSpec("RETURN", summary="back to the calling chain (or the built-in chain's policy)"),
    TargetSpec("QUEUE", summary="hand the packet to user space"),
    TargetSpec("REJECT", (
        opt("reject-with", parse=v.choice("ICMP-NET-UNREACHABLE", "ICMP-HOST-UNREACHABLE",
                                          "ICMP-PORT-UNREACHABLE", "ICMP-PROTO-UNREACHABLE",
                                          "ICMP-NET-PROHIBITED", "ICMP-HOST-PROHIBITED",
                                          "ICMP-ADMIN-PROHIBITED", "TCP-RESET",
                                          "ICMP6-NO-ROUTE", "ICMP6-ADM-PROHIBITED",
                                          "ICMP6-ADDR-UNREACHABLE", "ICMP6-PORT-UNREACHABLE"),
            negatable=False),
    ), tables=("filter",), hooks=frozenset({"INPUT", "FORWARD", "OUTPUT"}),
        tcp_only=frozenset({("reject-with", "tcp-reset")}),
        # The default --reject-with depends on the family: filled in by the parser.
        summary="discard the packet and answer with an error"),
    TargetSpec("LOG", (
        opt("log-prefix", parse=v.text_of_at_most(29), negatable=False),
        opt("log-level", parse=_log_level, negatable=False),
        opt("log-tcp-sequence", arity=0, negatable=False),
        opt("log-tcp-options", arity=0, negatable=False),
        opt("log-ip-options", arity=0, negatable=False),
        opt("log-uid", arity=0, negatable=False),
    ), finish=_log, terminal=False, summary="log the packet to the kernel log; go on"),
    # iptables-nft runs TRACE as nftables' nftrace, in any table.
    TargetSpec("TRACE", terminal=False, summary="trace the packet; go on"),
    TargetSpec("REDIRECT", (
        opt("to-ports", "--to-port", parse=v.redirect_ports, negatable=False),
        opt("random", arity=0, negatable=False),
    ), tables=("nat",), hooks=frozenset({"PREROUTING", "OUTPUT"}), protocols_for=("to-ports",),
        summary="send to this host (127.0.0.1 from OUTPUT, the incoming interface's address "
                "from PREROUTING)"),
    TargetSpec("DNAT", (
        opt("to-destination", parse=v.dnat_destination, negatable=False),
        opt("random", arity=0, negatable=False),
        opt("persistent", arity=0, negatable=False),
    ), tables=("nat",), hooks=frozenset({"PREROUTING", "OUTPUT"}),
        protocols_for=("to-destination",), finish=_require_one("to-destination"), summary="rewrite the destination"),
    TargetSpec("SNAT", (
        opt("to-source", parse=v.dnat_destination, negatable=False),
        opt("random", arity=0, negatable=False),
        opt("random-fully", arity=0, negatable=False),
        opt("persistent", arity=0, negatable=False),
    ), tables=("nat",), hooks=frozenset({"POSTROUTING", "INPUT"}),
        protocols_for=("to-source",), finish=_require_one("to-source"), summary="rewrite the source"),
    TargetSpec("MASQUERADE", (
        opt("to-ports", parse=v.redirect_ports, negatable=False),
        opt("random", arity=0, negatable=False),
        opt("random-fully", arity=0, negatable=False),
    ), tables=("nat",), hooks=frozenset({"POSTROUTING"}), protocols_for=("to-ports",),
        summary="rewrite the source to the outgoing interface's address"),
    TargetSpec("TPROXY", (
        opt("on-port", parse=lambda t: str(v.decimal_port(t)), negatable=False),
        opt("on-ip", parse=v.address, negatable=False),
        opt("tproxy-mark", parse=_mark_with_mask, negatable=False),
    ), tables=("mangle",), hooks=frozenset({"PREROUTING"}), finish=_tproxy,
        summary="deliver to a local transparent socket, keeping the destination"),
    TargetSpec("MARK", (
        opt("set-xmark", parse=_mark_with_mask, negatable=False),
        opt("set-mark", parse=v.mark, negatable=False, store_as="set-xmark"),
        opt("and-mark", parse=v.mark, negatable=False, store_as="set-xmark"),
        opt("or-mark", parse=v.mark, negatable=False, store_as="set-xmark"),
        opt("xor-mark", parse=v.mark, negatable=False, store_as="set-xmark"),
    ), finish=_require_one("set-xmark"), terminal=False, summary="set the packet's mark; go on"),
    TargetSpec("CONNMARK", (
        opt("set-xmark", parse=_mark_with_mask, negatable=False),
        opt("save-mark", arity=0, negatable=False),
        opt("restore-mark", arity=0, negatable=False),
        opt("nfmask", parse=lambda t: hex(v.integer(t)), negatable=False),
        opt("ctmask", parse=lambda t: hex(v.integer(t)), negatable=False),
        opt("mask", parse=lambda t: hex(v.integer(t)), negatable=False),
        opt("set-mark", parse=v.mark, negatable=False, store_as="set-xmark"),
        opt("and-mark", parse=v.mark, negatable=False, store_as="set-xmark"),
        opt("or-mark", parse=v.mark, negatable=False, store_as="set-xmark"),
        opt("xor-mark", parse=v.mark, negatable=False, store_as="set-xmark"),
    ), finish=_connmark_target, terminal=False,
        summary="set, save or restore the connection's mark; go on"),
    TargetSpec("CT", (
        opt("notrack", arity=0, negatable=False),
        opt("helper", negatable=False),
        opt("ctevents", negatable=False),
        opt("expevents", negatable=False),
        opt("zone-orig", parse=lambda t: str(v.integer(t, 65535)), negatable=False),
        opt("zone-reply", parse=lambda t: str(v.integer(t, 65535)), negatable=False),
        opt("zone", parse=lambda t: str(v.integer(t, 65535)), negatable=False),
        opt("timeout", negatable=False),
    ), tables=("raw",), terminal=False, summary="set up connection tracking (zone, notrack); go on"),
    TargetSpec("NOTRACK", tables=("raw",), terminal=False,
               summary="do not track this connection; go on"),
)}


def expand_alias(spec: OptionSpec, values: tuple[str, ...]) -> Option:
    """Turn an alias (``--syn``, ``--set-mark``, ``--and-mark``...) into the option
    iptables-save prints for it."""
    name = spec.name
    if name == "syn":
        return Option("tcp-flags", ("FIN,SYN,RST,ACK", "SYN"))
    if spec.store_as == "set-xmark":
        value, mask = v.mark_bits(values[0])
        has_mask = "/" in values[0]
        if name == "set-mark":
            return Option("set-xmark", (f"{hex(value)}/{hex(mask if has_mask else v.MAX_U32)}",))
        if name == "and-mark":
            return Option("set-xmark", (f"0x0/{hex(~value & v.MAX_U32)}",))
        if name == "or-mark":
            return Option("set-xmark", (f"{hex(value)}/{hex(value)}",))
        if name == "xor-mark":
            return Option("set-xmark", (f"{hex(value)}/0x0",))
    return Option(spec.canonical, values)


def normalise_value(spec: OptionSpec, raw: str) -> str:
    value = spec.parse(raw)
    if spec.name == "mode":
        return _STATISTIC_MODE[str(value)]
    if spec.name == "reject-with":
        return str(value).lower()
    return str(value)


# Targets iptables refuses in a table where their spec would allow them (TargetSpec.tables,
# .hooks), with the reason iptables gives.
REFUSED_IN_TABLE: Final = {
    ("nat", "DROP"): "the nat table is not intended for filtering",
}

# Extensions whose rules make the kernel track connections in their namespace (each one's
# check calls nf_ct_netns_get when the rule is loaded). Without any, conntrack never sees a
# packet and the nat table's chains are never consulted. CT counts unless it only untracks.
CONNTRACK_MODULES: Final = frozenset({"conntrack", "state", "connmark"})
CONNTRACK_TARGETS: Final = frozenset({"DNAT", "SNAT", "MASQUERADE", "REDIRECT", "CONNMARK",
                                      "CT"})


def tracks_connections(rule: Rule) -> bool:
    """Whether loading ``rule`` turns connection tracking on in its namespace."""
    target = rule.target
    if (target is not None and not target.is_chain and target.name in CONNTRACK_TARGETS
            and not (target.name == "CT" and target.get("notrack") is not None)):
        return True
    return any(match.module in CONNTRACK_MODULES for match in rule.matches)
