"""Hypothesis strategies: random valid rules and rulesets, written as iptables-restore input.

A rule is built from the option tables the parser reads (``MODULES``, ``TARGETS``): every
option is written with one of the spellings its table lists, negated only where the table
says it can be, with a value drawn from ``VALUES`` in one of the spellings iptables accepts
(decimal or hex marks, netmasks, open port ranges, lower-case names...). What the tables do
not say (which options a module needs, which exclude each other, where a target may be
used) is in the small ``_combination_ok`` rules below; the placement of a rule follows the
hooks and tables the specs declare, so every generated ruleset is one iptables-restore and
the parser accept.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from hypothesis import strategies as st

from chainwalk.netfilter import BUILTIN_CHAINS, MODULES, TARGETS
from chainwalk.netfilter._extensions import (
    ALL_HOOKS,
    REFUSED_IN_TABLE,
    ModuleSpec,
    OptionSpec,
    TargetSpec,
)

Draw = Callable[..., object]
V4_FLAGS = ("FIN", "SYN", "RST", "PSH", "ACK", "URG")
STATES = ("INVALID", "NEW", "ESTABLISHED", "RELATED", "UNTRACKED")
CT_STATES = (*STATES, "SNAT", "DNAT")
CT_STATUS = ("NONE", "EXPECTED", "SEEN_REPLY", "ASSURED", "CONFIRMED")
ADDRTYPES = ("UNSPEC", "UNICAST", "LOCAL", "BROADCAST", "ANYCAST", "MULTICAST", "BLACKHOLE",
             "UNREACHABLE", "PROHIBIT", "THROW", "NAT", "XRESOLVE")
# The types the kernel's addrtype takes for IPv6.
ADDRTYPES6 = ("UNSPEC", "UNICAST", "LOCAL", "ANYCAST", "MULTICAST", "UNREACHABLE")
REJECT4 = ("icmp-net-unreachable", "icmp-host-unreachable", "icmp-port-unreachable",
           "icmp-proto-unreachable", "icmp-net-prohibited", "icmp-host-prohibited",
           "icmp-admin-prohibited", "tcp-reset")
REJECT6 = ("icmp6-no-route", "icmp6-adm-prohibited", "icmp6-addr-unreachable",
           "icmp6-port-unreachable", "tcp-reset")
USER_CHAINS = ("ISTIO_INBOUND", "ISTIO_OUTPUT", "KUBE-SVC-1", "a.b", "Z9")
INTERFACES = ("eth0", "eth1", "lo", "veth+", "eth+", "cali1234abcd", "+")


def _case(text: str) -> st.SearchStrategy[str]:
    return st.sampled_from([text, text.lower(), text.upper()]) if text.isalpha() else st.just(text)


def _port() -> st.SearchStrategy[int]:
    return st.one_of(st.integers(0, 65535), st.sampled_from([22, 53, 80, 443, 15001, 15006]))


@st.composite
def port_range(draw: Draw, sep: str = ":") -> str:
    low, high = sorted((draw(_port()), draw(_port())))
    form = draw(st.sampled_from(["one", "range", "open-low", "open-high"]))
    if form == "one":
        return str(low)
    if form == "open-low" and sep == ":":
        return f"{sep}{high}"
    if form == "open-high" and sep == ":":
        return f"{low}{sep}"
    return f"{low}{sep}{high}"


@st.composite
def _multiport_item(draw: Draw) -> str:
    """A port, or a range with both bounds, the first below the last (multiport's)."""
    low, high = sorted((draw(_port()), draw(_port())))
    return str(low) if low == high or draw(st.booleans()) else f"{low}:{high}"


@st.composite
def port_list(draw: Draw) -> str:
    # At most 7: a range takes two of multiport's 15 places.
    items = draw(st.lists(_multiport_item(), min_size=1, max_size=7))
    return ",".join(items)


def address(family: int) -> st.SearchStrategy[str]:
    if family == 4:
        return st.integers(0, 2**32 - 1).map(lambda n: str(ipaddress.IPv4Address(n)))
    return st.integers(0, 2**128 - 1).map(lambda n: str(ipaddress.IPv6Address(n)))


@st.composite
def network(draw: Draw, family: int) -> str:
    addr = draw(address(family))
    bits = 32 if family == 4 else 128
    form = draw(st.sampled_from(["host", "prefix", "netmask", "mask"]))
    if form == "host":
        return addr
    if form == "mask":  # any mask spelt as an address, contiguous or not
        mask = draw(st.integers(1, (1 << bits) - 1))
        return f"{addr}/{ipaddress.IPv4Address(mask) if family == 4 else ipaddress.IPv6Address(mask)}"
    length = draw(st.integers(0, bits))
    if form == "netmask":
        return f"{addr}/{ipaddress.ip_network(f'{addr}/{length}', strict=False).netmask}"
    return f"{addr}/{length}"


def network_is_everything(text: str) -> bool:
    """Whether a network the strategy drew holds every address (a mask of no bits)."""
    _, slash, mask = text.partition("/")
    if not slash:
        return False
    return (int(mask) if mask.isdigit() else int(ipaddress.ip_address(mask))) == 0


@st.composite
def address_range(draw: Draw, family: int) -> str:
    low, high = sorted((draw(address(family)), draw(address(family))), key=ipaddress.ip_address)
    return f"{low}-{high}"


@st.composite
def nat_destination(draw: Draw, family: int, with_port: bool) -> str:
    host = draw(st.one_of(address(family), address_range(family)))
    if not with_port:
        return host
    ports = draw(port_range(sep="-"))
    return f"[{host}]:{ports}" if family == 6 else f"{host}:{ports}"


def number(limit: int = 2**32 - 1) -> st.SearchStrategy[str]:
    return st.integers(0, limit).flatmap(lambda n: st.sampled_from([str(n), hex(n)]))


@st.composite
def mark(draw: Draw, mask: bool = True) -> str:
    value = draw(number())
    return f"{value}/{draw(number())}" if mask and draw(st.booleans()) else value


@st.composite
def word_list(draw: Draw, words: tuple[str, ...], lower: bool = True) -> str:
    items = draw(st.lists(st.sampled_from(words), min_size=1, max_size=len(words), unique=True))
    text = ",".join(items)
    return text.lower() if lower and draw(st.booleans()) else text


@st.composite
def tcp_flags(draw: Draw) -> tuple[str, str]:
    def flags() -> st.SearchStrategy[str]:
        return st.one_of(st.sampled_from(["ALL", "NONE"]), word_list(V4_FLAGS))

    return draw(flags()), draw(flags())


@st.composite
def id_range(draw: Draw) -> str:
    low, high = sorted((draw(st.integers(0, 2**32 - 2)), draw(st.integers(0, 2**32 - 2))))
    return draw(st.sampled_from([str(low), f"{low}-{high}", "daemon", "nobody"]))


@st.composite
def probability(draw: Draw) -> str:
    p = draw(st.floats(0, 1))
    return f"{p:.{draw(st.integers(1, 11))}f}"


def free_text(max_size: int) -> st.SearchStrategy[str]:
    tricky = st.sampled_from(["", "-x", "!", "--dport", "a b", "it's", 'say "hi"', "back\\slash",
                              "svc: web", "ü"])
    return st.one_of(tricky, st.text(st.characters(blacklist_categories=("Cc", "Cs")),
                                     max_size=max_size))


def values_for(name: str, family: int) -> st.SearchStrategy[tuple[str, ...]]:
    """Values (one per arity) for the option ``name`` of any module or target."""
    one: dict[str, st.SearchStrategy[str]] = {
        "sport": port_range(), "dport": port_range(),
        "tcp-option": st.integers(0, 255).map(str),
        "icmp-type": st.sampled_from(["8", "0", "3/1", "echo-request"]),
        "sports": port_list(), "dports": port_list(), "ports": port_list(),
        "uid-owner": id_range(), "gid-owner": id_range(),
        "mark": mark(),
        "ctstate": word_list(CT_STATES), "state": word_list(STATES),
        "ctproto": st.sampled_from(["tcp", "udp", "6", "17"]),
        "ctorigsrc": network(family), "ctorigdst": network(family),
        "ctreplsrc": network(family), "ctrepldst": network(family),
        "ctorigsrcport": port_range(), "ctorigdstport": port_range(),
        "ctstatus": word_list(CT_STATUS), "ctdir": st.sampled_from(["ORIGINAL", "reply"]),
        "comment": free_text(60),
        "src-type": word_list(ADDRTYPES if family == 4 else ADDRTYPES6),
        "dst-type": word_list(ADDRTYPES if family == 4 else ADDRTYPES6),
        "mode": st.sampled_from(["random", "nth", "Random"]),
        "probability": probability(), "every": st.integers(1, 1000).map(str),
        "packet": st.integers(0, 999).map(str),
        "src-range": address_range(family), "dst-range": address_range(family),
        "packets-eq": number().filter(lambda t: not t.startswith("0x")),
        "bytes-eq": number().filter(lambda t: not t.startswith("0x")),
        "reject-with": st.sampled_from(REJECT4 if family == 4 else REJECT6),
        "log-level": st.sampled_from(["0", "3", "4", "7", "info", "debug", "warning", "emerg"]),
        "log-prefix": free_text(29),
        "to-ports": port_range(sep="-"),
        "to-destination": nat_destination(family, with_port=False),
        "to-source": nat_destination(family, with_port=False),
        "on-port": _port().map(str), "on-ip": address(family),
        "tproxy-mark": mark(),
        "set-xmark": mark(), "set-mark": mark(),
        "and-mark": mark(mask=False), "or-mark": mark(mask=False), "xor-mark": mark(mask=False),
        "nfmask": number(), "ctmask": number(), "mask": number(),
        "helper": st.sampled_from(["ftp", "tftp"]),
        "ctevents": st.sampled_from(["new", "related,destroy"]),
        "expevents": st.just("new"),
        "zone": number(65535), "zone-orig": number(65535), "zone-reply": number(65535),
        "timeout": st.sampled_from(["tcp-short", "udp1"]),
    }
    if name == "tcp-flags":
        return tcp_flags()
    if name == "match-set":
        return st.tuples(st.from_regex(r"[a-z][a-z0-9_-]{0,9}", fullmatch=True),
                         st.sampled_from(["src", "dst", "src,dst", "dst,src"]))
    return st.tuples(one[name])


#: Options whose value strategy lives in ``values_for`` (arity-0 options need none).
def options_without_values() -> list[str]:
    missing = []
    specs: list[ModuleSpec | TargetSpec] = [*MODULES.values(), *TARGETS.values()]
    for spec in specs:
        for option in spec.options:
            if option.arity == 0:
                continue
            try:
                values_for(option.name, 4)
            except KeyError:
                missing.append(f"{spec.name} --{option.name}")
    return missing


def input_value(text: str) -> str:
    """A value as it can be written in restore input: quoted when it needs to be."""
    if text and all(c.isalnum() or c in "._:/,-+[]@" for c in text) and text.isascii():
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@st.composite
def option_text(draw: Draw, spec: OptionSpec, family: int) -> str:
    spelling = draw(st.sampled_from(spec.spellings))
    negated = spec.negatable and draw(st.booleans())
    values = draw(values_for(spec.name, family)) if spec.arity else ()
    return " ".join(["!"] * negated + [spelling, *map(input_value, values)])


def _combination_ok(owner: str, names: set[str]) -> bool:
    """What a module or target needs beyond its option list (iptables' own checks)."""
    def one_of(*wanted: str) -> bool:
        return bool(names & set(wanted))

    needs: dict[str, Callable[[], bool]] = {
        "multiport": lambda: len(names & {"sports", "dports", "ports"}) == 1,
        "owner": lambda: one_of("uid-owner", "gid-owner", "socket-exists")
        and ("suppl-groups" not in names or "gid-owner" in names),
        "mark": lambda: one_of("mark"), "connmark": lambda: one_of("mark"),
        "state": lambda: one_of("state"), "comment": lambda: one_of("comment"),
        "icmp": lambda: one_of("icmp-type"),
        "conntrack": lambda: bool(names),
        "addrtype": lambda: one_of("src-type", "dst-type")
        and not {"limit-iface-in", "limit-iface-out"} <= names,
        "iprange": lambda: one_of("src-range", "dst-range"),
        "set": lambda: one_of("match-set"),
        "DNAT": lambda: one_of("to-destination"), "SNAT": lambda: one_of("to-source"),
        "TPROXY": lambda: one_of("on-port"),
        "MARK": lambda: len(names) == 1,
        "CONNMARK": lambda: (
            len(names & {"set-xmark", "set-mark", "and-mark", "or-mark", "xor-mark"}) == 1
            and not names & {"save-mark", "restore-mark", "nfmask", "ctmask", "mask"})
        or (len(names & {"save-mark", "restore-mark"}) == 1
            and names <= {"save-mark", "restore-mark", "nfmask", "ctmask", "mask"}
            and not ("mask" in names and names & {"nfmask", "ctmask"})),
        "CT": lambda: bool(names) and ("notrack" not in names or names == {"notrack"}),
    }
    check = needs.get(owner)
    return check() if check else True


@st.composite
def extension_options(draw: Draw, spec: ModuleSpec | TargetSpec, family: int) -> list[str]:
    """The options of one module or target, each canonical option at most once."""
    if spec.name == "statistic":
        mode = draw(st.sampled_from(["random", "nth"]))
        by_name = {o.name: o for o in spec.options}
        parts = [f"--mode {mode}"]
        if mode == "random":
            parts.append(draw(option_text(by_name["probability"], family)))
        else:
            every = draw(st.integers(1, 1000))
            neg = "! " if draw(st.booleans()) else ""
            parts.append(f"{neg}--every {every}")
            parts.append(f"--packet {draw(st.integers(0, every - 1))}")
        return parts
    if not spec.options:
        return []
    canonical: dict[str, list[OptionSpec]] = {}
    for option in spec.options:
        canonical.setdefault(option.canonical, []).append(option)
    chosen = draw(st.lists(st.sampled_from(sorted(canonical)), unique=True,
                           max_size=len(canonical)).flatmap(
        lambda keys: st.tuples(*[st.sampled_from(canonical[k]) for k in keys])).filter(
        lambda options: _combination_ok(spec.name, {o.name for o in options})))
    return [draw(option_text(option, family)) for option in chosen]


PORT_MODULES = ("tcp", "udp", "multiport")


@st.composite
def rule_text(draw: Draw, family: int, table: str, chain: str, user_chains: tuple[str, ...] = (),
              hook_free: bool = False) -> str:
    """The arguments of one ``-A CHAIN`` line: base criteria, matches, then a target.

    ``chain`` is the built-in chain the rule sits in (its hook decides which matches and
    targets may appear); ``hook_free`` restricts to what works from every hook (for user
    chains); ``user_chains`` are the chains a jump or goto may name.
    """
    def usable(spec: ModuleSpec | TargetSpec) -> bool:
        if family == 6 and spec.name == "icmp":
            return False  # ip6tables has icmp6 instead
        return spec.hooks == ALL_HOOKS if hook_free else chain in spec.hooks

    targets = [t for t in TARGETS.values() if usable(t) and (not t.tables or table in t.tables)
               and t.name != "QUEUE" and (table, t.name) not in REFUSED_IN_TABLE]
    target_kind = draw(st.sampled_from(["none", "jump", "goto", "extension", "extension"])
                       if user_chains else st.sampled_from(["none", "extension", "extension"]))
    parts: list[str] = []
    target_parts: list[str] = []
    target: TargetSpec | None = None
    if target_kind in ("jump", "goto"):
        flag = draw(st.sampled_from(["-j", "--jump"] if target_kind == "jump" else ["-g", "--goto"]))
        target_parts = [flag, draw(st.sampled_from(user_chains))]
    elif target_kind == "extension":
        target = draw(st.sampled_from(targets))
        target_parts = [draw(st.sampled_from(["-j", "--jump"])), target.name,
                        *draw(extension_options(target, family))]
    modules = draw(st.lists(st.sampled_from(sorted(m.name for m in MODULES.values()
                                                   if usable(m))), max_size=3))
    if sum(m in ("tcp", "udp", "icmp") for m in modules) > 1:
        modules = [*[m for m in modules if m not in ("tcp", "udp", "icmp")][:2], "tcp"]
    needs_port_proto = any(m in PORT_MODULES for m in modules) or (
        target is not None and target.name in ("REDIRECT", "MASQUERADE", "TPROXY")
        and any(p.startswith(("--to-port", "--on-port")) for p in target_parts))
    if needs_port_proto and "icmp" in modules:
        modules = [m for m in modules if m != "icmp"]
    # The kernel's REJECT resets TCP only (an option's text is "--reject-with tcp-reset").
    needs_tcp = any(part.endswith(" tcp-reset") for part in target_parts)
    if needs_tcp:
        modules = [m for m in modules if m not in ("udp", "icmp")]
    protocol = None
    if needs_tcp:
        protocol = draw(st.sampled_from(["tcp", "6"]))
    elif "udp" in modules:
        protocol = "udp"
    elif "tcp" in modules:
        protocol = "tcp"
    elif "icmp" in modules:
        protocol = "icmp"
        modules = [m for m in modules if m not in PORT_MODULES]
    elif needs_port_proto:
        protocol = draw(st.sampled_from(["tcp", "udp"]))
    elif draw(st.booleans()):
        protocol = draw(st.sampled_from(["tcp", "udp", "all", "6", "sctp"]
                                        + (["icmp"] if family == 4 else ["ipv6-icmp"])))
    base: list[str] = []
    if protocol is not None:
        negated = protocol not in ("all",) and not modules and not needs_port_proto \
            and not needs_tcp and draw(st.booleans())
        base.append(("! " if negated else "") + draw(st.sampled_from(["-p", "--protocol"]))
                    + f" {protocol}")
    for flags, values in ((("-s", "--source", "--src"), network(family)),
                          (("-d", "--destination", "--dst"), network(family))):
        if draw(st.booleans()):
            value = draw(values)
            # The kernel refuses a negated network of every address.
            neg = "! " if draw(st.booleans()) and not network_is_everything(value) else ""
            base.append(f"{neg}{draw(st.sampled_from(flags))} {value}")
    if (hook_free or chain in ("PREROUTING", "INPUT", "FORWARD")) and draw(st.booleans()):
        neg = "! " if draw(st.booleans()) else ""
        base.append(f"{neg}{draw(st.sampled_from(['-i', '--in-interface']))} "
                    f"{draw(st.sampled_from(INTERFACES))}")
    if (hook_free or chain in ("OUTPUT", "POSTROUTING", "FORWARD")) and draw(st.booleans()):
        neg = "! " if draw(st.booleans()) else ""
        base.append(f"{neg}{draw(st.sampled_from(['-o', '--out-interface']))} "
                    f"{draw(st.sampled_from(INTERFACES))}")
    if family == 4 and draw(st.integers(0, 9)) == 0:
        base.append(draw(st.sampled_from(["-f", "! -f", "--fragment"])))
    parts.extend(draw(st.permutations(base)))
    for name in modules:
        spec = MODULES[name]
        implicit = spec.implicit and protocol == name and modules.count(name) == 1 \
            and draw(st.booleans())
        options = draw(extension_options(spec, family))
        if name == "addrtype" and not hook_free:
            # The kernel refuses a limit to an interface the built-in chain's packets lack.
            lacking = {"OUTPUT": "--limit-iface-in", "POSTROUTING": "--limit-iface-in",
                       "PREROUTING": "--limit-iface-out", "INPUT": "--limit-iface-out"}
            options = [o for o in options if o != lacking.get(chain)]
        if implicit:
            parts.extend(options)
        else:
            parts.extend([draw(st.sampled_from(["-m", "--match"])), name, *options])
    return " ".join(parts + target_parts)


@st.composite
def ruleset_text(draw: Draw, family: int | None = None) -> tuple[str, int]:
    """A whole file in restore form (some iptables-save spellings mixed in) and its family."""
    family = family or draw(st.sampled_from([4, 6]))
    lines: list[str] = []
    for table in draw(st.lists(st.sampled_from(sorted(BUILTIN_CHAINS)), min_size=1, max_size=3,
                               unique=True)):
        lines.append(draw(st.sampled_from([f"*{table}", f"* {table}"])))
        users = tuple(draw(st.lists(st.sampled_from(USER_CHAINS), max_size=3, unique=True)))
        for name in BUILTIN_CHAINS[table]:
            if draw(st.booleans()):
                policy = draw(st.sampled_from(["ACCEPT", "DROP"]))
                lines.append(f":{name} {policy} [{draw(st.integers(0, 99))}:0]")
        for name in users:
            lines.append(draw(st.sampled_from([f":{name} - [0:0]", f"-N {name}"])))
        count: dict[str, int] = {}
        for _ in range(draw(st.integers(0, 6))):
            where = draw(st.sampled_from([*BUILTIN_CHAINS[table], *users]))
            if where in users:
                # A user chain jumps only to chains after it: no loops.
                later = users[users.index(where) + 1:]
                spec = draw(rule_text(family, table, where, later, hook_free=True))
            else:
                spec = draw(rule_text(family, table, where, users))
            n = count.get(where, 0)
            verb = draw(st.sampled_from(["-A", "--append", "-I", "-I N"]))
            if verb == "-I N":
                verb = f"-I {where} {draw(st.integers(1, n + 1))}"
            else:
                verb = f"{verb} {where}"
            counters = f"[{draw(st.integers(0, 9))}:{draw(st.integers(0, 999))}] " \
                if draw(st.integers(0, 3)) == 0 else ""
            lines.append(f"{counters}{verb} {spec}".rstrip())
            count[where] = n + 1
        lines.append("COMMIT")
    return "\n".join(lines) + "\n", family
