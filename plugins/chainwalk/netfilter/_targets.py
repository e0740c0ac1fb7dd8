"""What each target does to the packet: one entry per target of ``_extensions.TARGETS``.

An action takes the packet's :class:`~._state.State`, the :class:`Host`, the target's
options by name and the hook it runs at; it changes the state as the kernel's target
would and returns the outcome for the chain walk (a verdict, ``RETURN``, or ``CONTINUE``
to the next rule) and what it did, an ``effect.*`` :class:`Reason` (``None``: nothing
worth saying). Jumps and
gotos to chains are the walk's own business (``_trace``); what a match checks lives in
``_compile``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Literal

from . import _values as v
from ._compile import listener
from ._packet import Host, hostport
from ._reasons import Reason, because
from ._routing import masquerade_address, primary_address
from ._state import State

Outcome = Literal["ACCEPT", "DROP", "REJECT", "QUEUE", "RETURN", "CONTINUE"]
Options = dict[str, tuple[str, ...]]
Action = Callable[[State, Host, Options, str], tuple[Outcome, Reason | None]]


def nat_range_start(text: str) -> tuple[str, str]:
    """``a[-b][:p[-q]]`` -> the first address (the kernel's first choice) and the ports
    (empty: none given)."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:]
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    return host.split("-")[0], port


def _destination_port(ports: str, port: int) -> int:
    """The port REDIRECT or DNAT to ``ports`` (``p[-q]``) gives a connection to ``port``:
    kept when in the range, else the range's first (nf_nat_l4proto_unique_tuple)."""
    low, high = v.nat_port_bounds(ports)
    return port if low <= port <= high else low


def _verdict(outcome: Outcome) -> Action:
    return lambda st, host, opts, hook: (outcome, None)


def _mark(st: State, host: Host, opts: Options, hook: str) -> tuple[Outcome, Reason | None]:
    value, mask = v.mark_bits(opts["set-xmark"][0])
    before = st.mark
    st.mark = (st.mark & ~mask & v.MAX_U32) ^ value
    return "CONTINUE", because("effect.mark", before=hex(before), after=hex(st.mark))


def _connmark(st: State, host: Host, opts: Options, hook: str) -> tuple[Outcome, Reason | None]:
    if st.untracked or not st.ct_attached:
        return "CONTINUE", because("effect.no-connection")
    if "set-xmark" in opts:
        value, mask = v.mark_bits(opts["set-xmark"][0])
        st.ctmark = (st.ctmark & ~mask & v.MAX_U32) ^ value
        return "CONTINUE", because("effect.ctmark", mark=hex(st.ctmark))
    nfmask = int(opts["nfmask"][0], 16)
    ctmask = int(opts["ctmask"][0], 16)
    if "save-mark" in opts:
        st.ctmark = (st.ctmark & ~ctmask & v.MAX_U32) ^ (st.mark & nfmask)
        return "CONTINUE", because("effect.ctmark-saved", mark=hex(st.ctmark))
    st.mark = (st.mark & ~nfmask & v.MAX_U32) ^ (st.ctmark & ctmask)
    return "CONTINUE", because("effect.mark-restored", mark=hex(st.mark))


def _ct(notrack: bool) -> Action:
    def action(st: State, host: Host, opts: Options, hook: str) -> tuple[Outcome, Reason | None]:
        if st.ct_attached:
            # xt_CT leaves a packet that already has conntrack settings (an earlier CT
            # rule, or a connection seen before it looped back) alone.
            return "CONTINUE", because("effect.has-conntrack")
        st.ct_attached = True
        if notrack or "notrack" in opts:
            st.untracked = True
            return "CONTINUE", because("effect.notrack")
        st.ct_template = True
        if "zone" in opts:
            st.zone = int(opts["zone"][0])
            return "CONTINUE", because("effect.zone", zone=st.zone)
        return "CONTINUE", None

    return action


def _redirect(st: State, host: Host, opts: Options, hook: str) -> tuple[Outcome, Reason | None]:
    # To the loopback address from OUTPUT, to the incoming interface's primary address
    # from PREROUTING.
    old = hostport(st.dst, st.dport)
    if hook == "OUTPUT":
        address = "127.0.0.1" if st.family == 4 else "::1"
    else:
        address = primary_address(host, st.in_if or "", st.family) or ""
        if not address:
            return "DROP", because("effect.redirect-no-address", interface=st.in_if)
    st.set_dst(address)
    if "to-ports" in opts:
        st.dport = _destination_port(opts["to-ports"][0], st.dport)
    # conntrack's DNAT status only when the tuple changed (nf_nat_setup_info)
    st.dnat = st.dnat or (st.dst, st.dport) != (st.orig_dst, st.orig_dport)
    return "ACCEPT", because("effect.destination", old=old, new=hostport(st.dst, st.dport))


def _dnat(st: State, host: Host, opts: Options, hook: str) -> tuple[Outcome, Reason | None]:
    old = hostport(st.dst, st.dport)
    address, ports = nat_range_start(opts["to-destination"][0])
    if address:
        st.set_dst(address)
    if ports:
        st.dport = _destination_port(ports, st.dport)
    st.dnat = st.dnat or (st.dst, st.dport) != (st.orig_dst, st.orig_dport)
    return "ACCEPT", because("effect.destination", old=old, new=hostport(st.dst, st.dport))


def _source_nat(masquerade: bool) -> Action:
    def action(st: State, host: Host, opts: Options, hook: str) -> tuple[Outcome, Reason | None]:
        old = hostport(st.src, st.sport)
        if masquerade:
            address = masquerade_address(host, st.out_if or "", st.family) or ""
            ports = opts["to-ports"][0] if "to-ports" in opts else ""
            if not address:
                return "DROP", because("effect.masquerade-no-address",
                                       interface=st.out_if)
        else:
            address, ports = nat_range_start(opts["to-source"][0])
        if address:
            st.set_src(address)
        chance: tuple[int, int] | None = None
        if ports:
            low, high = v.nat_port_bounds(ports)
            if not low <= st.sport <= high:
                # nf_nat_l4proto_unique_tuple: a new source port is drawn at random.
                st.sport, st.sport_range = low, (low, high)
                chance = low, high
        st.snat = st.snat or (st.src, st.sport) != (st.orig_src, st.orig_sport)
        new = hostport(st.src, st.sport)
        if chance is not None:
            return "ACCEPT", because("effect.source-random", old=old, new=new, low=chance[0],
                                     high=chance[1])
        return "ACCEPT", because("effect.source", old=old, new=new)

    return action


def _tproxy(st: State, host: Host, opts: Options, hook: str) -> tuple[Outcome, Reason | None]:
    on_ip = opts["on-ip"][0]
    port = int(opts["on-port"][0]) or st.dport
    sockets = host.socket_list()
    if sockets is not None:
        # tproxy_tg4/6: a listener on --on-ip (else the incoming interface's primary
        # address) and --on-port, which must be transparent, or the packet is dropped.
        wildcard = on_ip in ("0.0.0.0", "::")
        laddr = (primary_address(host, st.in_if or "", st.family) or st.dst) if wildcard \
            else on_ip
        found = listener(sockets, st.protocol, laddr, port)
        if found is None or not found.transparent:
            return "DROP", because("effect.tproxy-no-listener" if found is None
                                   else "effect.tproxy-not-transparent",
                                   address=hostport(laddr, port))
    value, mask = v.mark_bits(opts["tproxy-mark"][0])
    st.mark = (st.mark & ~mask & v.MAX_U32) ^ value
    address = st.dst if on_ip in ("0.0.0.0", "::") else on_ip
    st.tproxy = (address, port)
    return "ACCEPT", because("effect.tproxy", port=port, mark=hex(st.mark))


#: What each target does, by name (every name of ``_extensions.TARGETS``).
ACTIONS: Final[dict[str, Action]] = {
    "ACCEPT": _verdict("ACCEPT"), "DROP": _verdict("DROP"), "REJECT": _verdict("REJECT"),
    "QUEUE": _verdict("QUEUE"), "RETURN": _verdict("RETURN"),
    "LOG": _verdict("CONTINUE"), "TRACE": _verdict("CONTINUE"),
    "MARK": _mark, "CONNMARK": _connmark, "CT": _ct(notrack=False), "NOTRACK": _ct(notrack=True),
    "REDIRECT": _redirect, "DNAT": _dnat, "SNAT": _source_nat(masquerade=False),
    "MASQUERADE": _source_nat(masquerade=True), "TPROXY": _tproxy,
}
