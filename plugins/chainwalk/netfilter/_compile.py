"""What each match does: a rule compiled once into a list of checks.

A check takes the packet's current :class:`~._state.State` and the :class:`Host` and
returns ``None`` when the criterion holds, a :class:`~._reasons.Reason` saying why not
when it does not ("leaves on eth0, rule wants lo"), or a :class:`Choice` when the answer is a
matter of chance (``-m statistic``) or cannot be known from the file (``-m set``
without the set's members). Checks run in the kernel's order: the base
criteria, then the match modules in the rule's order; the first that fails is
the reason a rule did not match.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import TYPE_CHECKING, Literal

from . import _values as v
from ._model import BASE_MODULE, Match, Option, Rule
from ._packet import Host, Socket, hostport
from ._reasons import KeptReasons, Reason, ReasonCode, because
from ._routing import is_local
from ._state import State

if TYPE_CHECKING:
    from .._errors import Location
    from ._trace import Step


@dataclass(slots=True)
class Choice:
    """A criterion decided by chance (probability) or unknown (probability ``None``)."""

    probability: float | None
    description: Reason


Result = Reason | Choice | None
Check = Callable[[State, Host], Result]


@dataclass(slots=True, eq=False)
class CompiledRule:
    """A rule's checks, in the kernel's order, and what the trace reads of it per packet."""

    checks: tuple[Check, ...]
    # For the chain index: the single address a non-negated ``-d a/32`` demands.
    exact_destination: int | None
    # The target's options by name, read once, not per packet.
    target_options: dict[str, tuple[str, ...]]
    # Where the rule was read (the steps of every trace name it), made once.
    location: Location | None
    # The trace's steps that are the same for every packet (a jump's), by hook, chain,
    # position and result.
    steps: dict[tuple[str, str, int, str], Step] = field(default_factory=dict)
    # By hook, the last step of the rule not matched (its reason kept by a check).
    missed: dict[str, Step] = field(default_factory=dict)


def compile_rule(rule: Rule) -> CompiledRule:
    checks: list[Check] = []
    exact = None
    for match in rule.matches:
        compiler = _BASE if match.module == BASE_MODULE else None
        if compiler is not None:
            for option in match.options:
                checks.append(compiler[option.name](option))
                if option.name == "destination" and not option.negated:
                    family, value, mask = v.network_bits(option.value)
                    if mask == (v.MAX_U32 if family == 4 else (1 << 128) - 1):
                        exact = value
        else:
            checks.append(_MODULES[match.module](match))
    options = {o.name: o.values for o in rule.target.options} if rule.target else {}
    return CompiledRule(tuple(checks), exact, options, rule.location)


# -- base criteria --------------------------------------------------------------

def _address(which: str) -> Callable[[Option], Check]:
    def build(option: Option) -> Check:
        _, value, mask = v.network_bits(option.value)
        net, neg = option.value, option.negated
        outside: ReasonCode = "source.in-negated" if which == "source" else \
            "destination.in-negated"
        inside: ReasonCode = "source.not-in" if which == "source" else "destination.not-in"

        failed = KeptReasons(lambda shown: because(outside if neg else inside,
                                                     address=shown, network=net))

        def check(st: State, host: Host) -> Result:
            addr = st.src_int if which == "source" else st.dst_int
            if ((addr & mask) == value) != neg:
                return None
            shown = st.src if which == "source" else st.dst
            return failed[shown]

        return check

    return build


def _interface(which: str) -> Callable[[Option], Check]:
    none: ReasonCode = "in.none" if which == "in" else "out.none"
    other: ReasonCode = "in.other" if which == "in" else "out.other"
    other_negated: ReasonCode = "in.other-negated" if which == "in" else "out.other-negated"

    def build(option: Option) -> Check:
        pattern, neg = option.value, option.negated
        # by the hook (no interface there) or by the interface's name
        failed = KeptReasons(lambda key: because(
            none, hook=key[0], wanted=f"{'!' if neg else ''}{pattern}") if key[1] is None
            else because(other_negated if neg else other, interface=key[1], wanted=pattern))

        def check(st: State, host: Host) -> Result:
            name = st.in_if if which == "in" else st.out_if
            if v.interface_matches(pattern, name) != neg:
                return None
            key = (st.hook if name is None else "", name)
            return failed[key]

        return check

    return build


def _protocol(option: Option) -> Check:
    wanted, neg = option.value, option.negated
    failed = KeptReasons(lambda protocol: because(
        "protocol.negated" if neg else "protocol", protocol=protocol, wanted=wanted))

    def check(st: State, host: Host) -> Result:
        hit = wanted == "all" or st.protocol == wanted
        if hit != neg:
            return None
        return failed[st.protocol]

    return check


def _fragment(option: Option) -> Check:
    neg = option.negated

    def check(st: State, host: Host) -> Result:
        # A connection's first packet is never a non-first fragment.
        return None if neg else because("fragment")

    return check


_BASE: dict[str, Callable[[Option], Check]] = {
    "source": _address("source"), "destination": _address("destination"),
    "in-interface": _interface("in"), "out-interface": _interface("out"),
    "protocol": _protocol, "fragment": _fragment,
}


# -- match modules ----------------------------------------------------------------

def _all(checks: list[Check]) -> Check:
    if len(checks) == 1:
        return checks[0]

    def check(st: State, host: Host) -> Result:
        for c in checks:
            result = c(st, host)
            if result is not None:
                return result
        return None

    return check


def _port_check(attr: Literal["sport", "dport"], option: Option) -> Check:
    ranges = [v.port_bounds(item) for item in option.value.split(",")]
    neg, shown = option.negated, option.value
    port_of = attrgetter(attr)
    lo, hi = ranges[0]
    several = len(ranges) > 1  # most rules give one port or range: no any() for them
    negated: ReasonCode = "sport.negated" if attr == "sport" else "dport.negated"
    failed = KeptReasons(lambda port: because(negated if neg else attr, port=port,
                                                wanted=shown))

    def check(st: State, host: Host) -> Result:
        port: int = port_of(st)
        hit = any(lo <= port <= hi for lo, hi in ranges) if several else lo <= port <= hi
        if hit != neg:
            return None
        return failed[port]

    return check


def _tcp(match: Match) -> Check:
    checks: list[Check] = []
    for option in match.options:
        if option.name == "sport":
            checks.append(_port_check("sport", option))
        elif option.name == "dport":
            checks.append(_port_check("dport", option))
        elif option.name == "tcp-flags":
            checks.append(_tcp_flags(option))
        elif option.name == "tcp-option":
            checks.append(_tcp_option(option))
    return _all(checks) if checks else (lambda st, host: None)


def _tcp_option(option: Option) -> Check:
    # A trace's packet carries no TCP options: only the negated test holds.
    reason = None if option.negated else because("tcp-option", option=option.value)
    return lambda st, host: reason


def _tcp_flags(option: Option) -> Check:
    mask_text, comp_text = option.values
    mask = set() if mask_text == "NONE" else set(mask_text.split(","))
    comp = set() if comp_text == "NONE" else set(comp_text.split(","))
    neg = option.negated

    def check(st: State, host: Host) -> Result:
        if ((st.tcp_flags & mask) == comp) != neg:
            return None
        flags = ",".join(f for f in v.TCP_FLAGS if f in st.tcp_flags) or "none"
        return because("tcp-flags.negated" if neg else "tcp-flags", flags=flags,
                       wanted=comp_text, mask=mask_text)

    return check


def _multiport(match: Match) -> Check:
    option = match.options[0]
    if option.name == "sports":
        return _port_check("sport", option)
    if option.name == "dports":
        return _port_check("dport", option)
    ranges = [v.port_bounds(item) for item in option.value.split(",")]
    neg = option.negated

    def check(st: State, host: Host) -> Result:
        hit = any(lo <= p <= hi for lo, hi in ranges for p in (st.sport, st.dport))
        if hit != neg:
            return None
        return because("ports.negated" if neg else "ports", sport=st.sport, dport=st.dport,
                       wanted=option.value)

    return check


def _owner(match: Match) -> Check:
    opts = {o.name: o for o in match.options}
    uid, gid = opts.get("uid-owner"), opts.get("gid-owner")
    exists, suppl = opts.get("socket-exists"), "suppl-groups" in opts
    specified = [o for o in (uid, gid, exists) if o is not None]
    all_negated = all(o.negated for o in specified)
    # Worked out once, not per packet: a user or group given by name, and the id ranges.
    by_name = next((Choice(None, because("owner.uid-name" if named is uid else "owner.gid-name",
                                         name=named.value))
                    for named in (uid, gid)
                    if named is not None and not named.value[0].isdigit()), None)
    uid_lo, uid_hi = v.id_bounds(uid.value) if uid is not None and by_name is None else (0, 0)
    gid_lo, gid_hi = v.id_bounds(gid.value) if gid is not None and by_name is None else (0, 0)
    uid_failed = KeptReasons(lambda owner: because(
        "owner.uid.negated" if uid is not None and uid.negated else "owner.uid", uid=owner,
        wanted=uid.value if uid is not None else ""))
    gid_failed = KeptReasons(lambda owner: because(
        "owner.gid.negated" if gid is not None and gid.negated else "owner.gid", gid=owner,
        wanted=gid.value if gid is not None else ""))

    def check(st: State, host: Host) -> Result:
        if st.uid is None:
            # xt_owner without a socket: matches only if every criterion is negated.
            return None if all_negated else because("owner.no-socket")
        if exists is not None and exists.negated:
            return because("owner.socket-exists")
        if by_name is not None:
            return by_name
        if uid is not None:
            lo, hi = uid_lo, uid_hi
            if (lo <= st.uid <= hi) == uid.negated:
                return uid_failed[st.uid]
        if gid is not None:
            lo, hi = gid_lo, gid_hi
            assert st.gid is not None
            hit = lo <= st.gid <= hi or (suppl and any(lo <= g <= hi for g in st.groups))
            if hit == gid.negated:
                return gid_failed[st.gid]
        return None

    return check


def _mark(attr: Literal["mark", "ctmark"]) -> Callable[[Match], Check]:
    def build(match: Match) -> Check:
        option = match.options[0]
        value, mask = v.mark_bits(option.value)
        neg = option.negated
        negated: ReasonCode = "mark.negated" if attr == "mark" else "ctmark.negated"

        def check(st: State, host: Host) -> Result:
            if attr == "ctmark" and (st.untracked or not st.ct_attached):
                # xt_connmark fails without a connection, negated or not.
                return because("no-connection")
            mark = getattr(st, attr)
            if ((mark & mask) == value) != neg:
                return None
            return because(negated if neg else attr, mark=hex(mark), wanted=option.value)

        return check

    return build


def _states(st: State) -> set[str]:
    if st.untracked:
        return {"UNTRACKED"}
    if not st.ct_attached:
        return {"INVALID"}  # raw runs before conntrack: no connection yet
    states = {st.ctstate}
    if st.dnat:
        states.add("DNAT")
    if st.snat:
        states.add("SNAT")
    return states


def _conntrack(match: Match) -> Check:
    state_options = [o for o in match.options if o.name in ("ctstate", "state")]
    tracked = _all([_conntrack_option(option) for option in match.options])
    # xt_conntrack without a connection (before conntrack in raw, or untracked): only the
    # state is tested; without a state option the match fails.
    untracked = (_conntrack_option(state_options[0]) if state_options
                 else lambda st, host: _NO_CONNECTION)

    def check(st: State, host: Host) -> Result:
        if st.untracked or not st.ct_attached:
            return untracked(st, host)
        # CT's template (a zone...) before conntrack: NEW, with an empty tuple.
        return tracked(_TEMPLATES[st.family] if st.ct_template else st, host)

    return check


def _template(family: int) -> State:
    """The packet as a conntrack match sees CT's template: state NEW, every field zero."""
    st = State()
    st.family, st.protocol, st.ct_attached = family, "all", True
    st.orig_src = st.orig_dst = "0.0.0.0" if family == 4 else "::"
    return st


def _conntrack_option(option: Option) -> Check:
    name, neg, wanted = option.name, option.negated, option.value
    if name in ("ctstate", "state"):
        allowed = set(wanted.split(","))

        def state(st: State, host: Host) -> Result:
            have = _states(st)
            if bool(have & allowed) != neg:
                return None
            return because("ctstate.negated" if neg else "ctstate",
                           states=",".join(sorted(have)), wanted=wanted)

        return state
    if name == "ctproto":  # iptables-save's number (6), not the name the packet has (tcp)
        return lambda st, host: None if (v.protocol_number(st.protocol) == wanted) != neg else (
            because("ctproto.negated" if neg else "ctproto", protocol=st.protocol,
                    wanted=wanted))
    if name in ("ctorigsrc", "ctorigdst", "ctreplsrc", "ctrepldst"):
        _, value, mask = v.network_bits(wanted)

        def addr(st: State, host: Host) -> Result:
            # Before NAT the reply tuple mirrors the original one.
            text = {"ctorigsrc": st.orig_src, "ctorigdst": st.orig_dst,
                    "ctreplsrc": st.dst if st.dnat else st.orig_dst,
                    "ctrepldst": st.src if st.snat else st.orig_src}[name]
            hit = (int(v.ip(text)) & mask) == value
            return None if hit != neg else because("ct-address", option=name, address=text,
                                                   wanted=f"{'!' if neg else ''}{wanted}")

        return addr
    if name in ("ctorigsrcport", "ctorigdstport"):
        lo, hi = v.port_bounds(wanted)

        def port(st: State, host: Host) -> Result:
            p = st.orig_sport if name == "ctorigsrcport" else st.orig_dport
            return None if (lo <= p <= hi) != neg else (
                because("ct-port", option=name, port=p, wanted=f"{'!' if neg else ''}{wanted}"))

        return port
    if name == "ctstatus":
        allowed_status = set(wanted.split(","))
        # A connection's first packet: none of EXPECTED, SEEN_REPLY, ASSURED, CONFIRMED.
        return lambda st, host: None if (("NONE" in allowed_status) != neg) else (
            because("ctstatus.negated" if neg else "ctstatus", wanted=wanted))
    if name == "ctdir":
        reason = None if wanted == "ORIGINAL" else because("ctdir")
        return lambda st, host: reason
    raise AssertionError(name)


def _comment(match: Match) -> Check:
    return lambda st, host: None


def _address_type(st: State, host: Host, address: str, limit: str | None) -> str:
    addr = v.ip(address)
    if addr.is_multicast:
        return "MULTICAST"
    if addr.version == 4 and address == "255.255.255.255":
        return "BROADCAST"
    if limit is None and is_local(host, address):
        return "LOCAL"
    if limit is not None and (
            any(n == limit and a.ip == addr for n, a in host.addresses(addr.version))
            or (limit == "lo" and is_local(host, address) and addr.is_loopback)):
        return "LOCAL"
    for _, a in host.addresses(addr.version):
        if addr.version == 4 and a.network.prefixlen < 31 and addr == a.network.broadcast_address:
            return "BROADCAST"
    if addr.is_unspecified:
        return "UNSPEC"
    return "UNICAST"


def _addrtype(match: Match) -> Check:
    opts = {o.name: o for o in match.options}
    limit_in, limit_out = "limit-iface-in" in opts, "limit-iface-out" in opts
    return _all([_address_type_check(opts[which], which, limit_in, limit_out)
                 for which in ("src-type", "dst-type") if which in opts])


def _address_type_check(option: Option, which: str, limit_in: bool, limit_out: bool) -> Check:
    code: ReasonCode = "addrtype.source" if which == "src-type" else "addrtype.destination"
    negated: ReasonCode = "addrtype.source.negated" if which == "src-type" else \
        "addrtype.destination.negated"
    wanted = option.value.split(",")

    def check(st: State, host: Host) -> Result:
        address = st.src if which == "src-type" else st.dst
        limit = st.in_if if limit_in else st.out_if if limit_out else None
        kind = _address_type(st, host, address, limit)
        if (kind in wanted) != option.negated:
            return None
        return because(negated if option.negated else code, address=address, kind=kind,
                       wanted=option.value)

    return check


def _statistic(match: Match) -> Check:
    opts = {o.name: o for o in match.options}
    mode = opts["mode"].value
    if mode == "random":
        option = opts["probability"]
        p = float(option.value)
        text = because("statistic.random.negated" if option.negated else "statistic.random",
                       probability=option.value)
    else:
        option = opts["every"]
        every = int(option.value)
        p = 1.0 / every if every else 0.0
        text = because("statistic.every.negated" if option.negated else "statistic.every",
                       every=every)
    if option.negated:
        p = 1.0 - p
    choice = Choice(p, text)
    return lambda st, host: choice


def _iprange(match: Match) -> Check:
    checks: list[Check] = []
    for option in match.options:
        low, _, high = option.value.partition("-")
        lo, hi = v.address_int(low), v.address_int(high)
        attr = "src_int" if option.name == "src-range" else "dst_int"
        code: ReasonCode = ("iprange.source" if attr == "src_int" else "iprange.destination"
                            ) if not option.negated else (
            "iprange.source.negated" if attr == "src_int" else "iprange.destination.negated")

        def check(st: State, host: Host, o: Option = option, a: str = attr,
                  code: ReasonCode = code, lo: int = lo, hi: int = hi) -> Result:
            if (lo <= getattr(st, a) <= hi) != o.negated:
                return None
            shown = st.src if a == "src_int" else st.dst
            return because(code, address=shown, wanted=o.value)

        checks.append(check)
    return _all(checks)


def _set(match: Match) -> Check:
    option = match.get("match-set")
    assert option is not None
    name, dirs = option.values
    flags = dirs.split(",")
    neg = option.negated

    def check(st: State, host: Host) -> Result:
        if host.ipsets is None or name not in host.ipsets:
            return Choice(None, because("ipset.unknown", set=name))
        key = []
        for flag in flags:
            key.append(st.src if flag == "src" else st.dst)
        members = host.ipsets[name]
        hit = any(_set_member(member, key, st) for member in members)
        if hit != neg:
            return None
        return because("ipset.in" if hit else "ipset.not-in", key=",".join(key), set=name)

    return check


def _set_member(member: str, key: list[str], st: State) -> bool:
    parts = member.split(",")
    if not parts:
        return False
    try:
        if ipaddress.ip_address(key[0]) not in ipaddress.ip_network(parts[0], strict=False):
            return False
    except ValueError:
        return False
    if len(parts) > 1:
        port_text = parts[1].split(":")[-1]
        return port_text.isdigit() and int(port_text) == st.dport
    return True


def listener(sockets: tuple[Socket, ...], protocol: str, address: str, port: int
             ) -> Socket | None:
    """The socket a lookup for ``address:port`` finds: one bound to that address first,
    else one bound to any address (inet_lookup_listener's scoring)."""
    wildcard = None
    for socket in sockets:
        if socket.protocol != protocol or socket.port != port:
            continue
        if socket.address == address:
            return socket
        if socket.wildcard and wildcard is None:
            wildcard = socket
    return wildcard


def _socket(match: Match) -> Check:
    # xt_socket: the socket a lookup finds for the packet (for a connection's first packet,
    # a listener on its destination). One bound to any address is ignored unless
    # --nowildcard; --transparent wants IP_TRANSPARENT; --restore-skmark copies the
    # socket's mark to the packet when the socket counts.
    nowildcard = match.get("nowildcard") is not None
    transparent = match.get("transparent") is not None
    restore = match.get("restore-skmark") is not None

    def check(st: State, host: Host) -> Result:
        sockets = host.socket_list()
        if sockets is None:
            return _SOCKET_UNKNOWN
        found = listener(sockets, st.protocol, st.dst, st.dport)
        if found is None:
            return because("socket.none", protocol=st.protocol,
                           address=hostport(st.dst, st.dport))
        if found.wildcard and not nowildcard:
            return because("socket.wildcard", protocol=st.protocol,
                           address=hostport(st.dst, st.dport))
        if transparent and not found.transparent:
            return because("socket.not-transparent", protocol=st.protocol,
                           address=hostport(st.dst, st.dport))
        if restore:
            st.mark = found.mark
        return None

    return check


def _icmp(match: Match) -> Check:
    option = match.options[0]
    return lambda st, host: None if option.negated else (
        because("icmp", protocol=st.protocol, wanted=option.value))


_MODULES: dict[str, Callable[[Match], Check]] = {
    "tcp": _tcp, "udp": _tcp, "icmp": _icmp, "multiport": _multiport, "owner": _owner,
    "mark": _mark("mark"), "connmark": _mark("ctmark"),
    "conntrack": _conntrack, "state": _conntrack, "comment": _comment, "addrtype": _addrtype,
    "statistic": _statistic, "iprange": _iprange, "set": _set, "socket": _socket,
}


_TEMPLATES = {4: _template(4), 6: _template(6)}
_NO_CONNECTION = because("no-connection")
_SOCKET_UNKNOWN = Choice(None, because("socket.unknown"))
