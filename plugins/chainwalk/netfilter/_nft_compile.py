"""What each nftables expression reads from the packet, and what each match checks.

A match is compiled once into a check on the trace's :class:`State` that returns ``None``
(it holds), the reason it does not, or a :class:`Choice` (decided by chance or by what the
file cannot say); an expression with nothing to read (``oifname`` with no output device,
``ct mark`` without a connection) makes the rule not match, whatever the operator, as the
kernel's ``NFT_BREAK`` does.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from ipaddress import IPv6Address
from socket import inet_ntoa
from typing import TYPE_CHECKING

from . import _nft_model as model
from . import _nft_values as nv
from ._compile import Choice
from ._packet import Host
from ._reasons import KeptReasons, Reason, ReasonCode, because
from ._state import State

if TYPE_CHECKING:
    from ._trace import Step

Result = Reason | Choice | None
#: Rules a first match's reason rules out: the reason, their steps, the position after them,
#: and the chain and position of the first (``CompiledNftRule.missed``).
MissedRun = tuple[Reason, tuple["Step", ...], int, model.NftChain, int]
Check = Callable[[State, Host], Result]
#: A value read from the packet: a number, an interface name, one per part of a
#: concatenation; the reason in ``_Missing`` says why there is none.
Value = int | str | tuple[int | str, ...]

_CT_STATE_BITS = {"NEW": 8, "ESTABLISHED": 2, "RELATED": 4, "INVALID": 1, "UNTRACKED": 64}
_TRANSPORT = ("tcp", "udp", "sctp", "dccp", "udplite")


class _Missing(Exception):
    """The expression has nothing to read for this packet (the kernel's NFT_BREAK)."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason)
        self.reason = reason


def _protocol_number(name: str) -> int:
    """A packet's protocol (a name, or a number as a witness may carry) as a number."""
    number = nv.PROTOCOLS.get(name)
    return number if number is not None else int(name) if name.isdigit() else 0


def read(expr: model.Expr, st: State) -> Value:
    """The value of ``expr`` for the packet in ``st``; :class:`_Missing` when none."""
    if isinstance(expr, model.Payload):
        proto = expr.protocol
        if proto in ("ip", "ip6"):
            if st.family != (4 if proto == "ip" else 6):
                raise _Missing(because("nft.not-ipv4" if proto == "ip" else "nft.not-ipv6"))
            if expr.field in ("protocol", "nexthdr"):
                return _protocol_number(st.protocol)
            return st.src_int if expr.field == "saddr" else st.dst_int
        if (proto != "th" and st.protocol != proto) or st.protocol not in _TRANSPORT:
            raise _Missing(because("nft.not-protocol", wanted=proto, protocol=st.protocol))
        return st.sport if expr.field == "sport" else st.dport
    if isinstance(expr, model.Meta):
        key = expr.key
        if key == "l4proto":
            return _protocol_number(st.protocol)
        if key == "nfproto":
            return 2 if st.family == 4 else 10
        if key == "protocol":
            return 0x0800 if st.family == 4 else 0x86DD
        if key == "mark":
            return st.mark
        if key in ("skuid", "skgid"):
            owner = st.uid if key == "skuid" else st.gid
            if owner is None:
                raise _Missing(because("nft.no-socket"))
            return owner
        interface = st.in_if if key in ("iifname", "iif") else st.out_if
        if interface is None:
            raise _Missing(because("nft.no-input" if key.startswith("i") else "nft.no-output"))
        return interface
    if isinstance(expr, model.Ct):
        if expr.key == "state":
            if st.untracked:
                return 64
            return _CT_STATE_BITS.get(st.ctstate, 1) if st.ct_attached else 1
        if st.untracked or not st.ct_attached:
            raise _Missing(because("nft.no-connection"))
        return st.ctmark if expr.key == "mark" else st.zone
    if isinstance(expr, model.Bitwise):
        value = read(expr.expr, st)
        assert isinstance(value, int)
        return (value & expr.mask) ^ expr.xor
    if isinstance(expr, model.Concat):
        return tuple(_one(read(p, st)) for p in expr.parts)
    raise _Missing(because("nft.numgen-read"))  # pragma: no cover - parser forbids it


def _one(value: Value) -> int | str:
    assert not isinstance(value, tuple)
    return value


def shown(types: tuple[str, ...], value: Value) -> str:
    """A value read from the packet (of ``types``) as the rule would write it."""
    if not isinstance(value, tuple):
        return _shown(types[0], value)
    return " . ".join(_shown(t, x) for t, x in zip(types, value, strict=True))


def _shown(dtype: str, value: int | str) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if dtype == "ipv4_addr":
        return inet_ntoa(value.to_bytes(4, "big"))
    if dtype == "ipv6_addr":
        return str(IPv6Address(value))
    if dtype == "mark":
        return f"0x{value:08x}"
    if dtype == "inet_proto":
        return next((n for n, v in nv.PROTOCOLS.items() if v == value), str(value))
    if dtype == "ct_state":
        return ",".join(n for n, bit in nv.CT_STATES.items() if value & bit) or "none"
    return str(value)


@dataclass(frozen=True, slots=True)
class Matcher:
    """Whether a value is one element: an interval of numbers, or an interface pattern."""

    parts: tuple[tuple[int, int] | str | None, ...]  # None: a name not known (uid names)

    def holds(self, value: Value) -> bool | None:
        values = value if isinstance(value, tuple) else (value,)
        for part, x in zip(self.parts, values, strict=True):
            if part is None:
                return None
            if isinstance(part, str):
                if not isinstance(x, str) or not (
                        fnmatch.fnmatchcase(x, part) if part.endswith("*") else x == part):
                    return False
            elif isinstance(x, str) or not part[0] <= x <= part[1]:
                return False
        return True


def matcher(element: model.Element, types: tuple[str, ...]) -> Matcher:
    parts: list[tuple[int, int] | str | None] = []
    for text, dtype in zip(element.split(" . "), types, strict=True):
        if dtype == "ifname":
            parts.append(text.strip('"').replace("\\*", "*"))
        elif dtype in ("uid", "gid") and not text[:1].isdigit():
            parts.append(None)
        else:
            parts.append(nv.interval(text, dtype))
    return Matcher(tuple(parts))


class SetIndex:
    """A set's (or map's) elements, for lookups: exact keys in a dict, the others (ranges,
    prefixes, wildcards, names) tried in turn. ``holds`` gives the position of an element
    that holds (``None``: none does; ``-1``: only one whose owner name the file cannot
    resolve might)."""

    def __init__(self, elements: tuple[model.Element, ...], types: tuple[str, ...],
                 values: tuple[object, ...] = ()) -> None:
        self.values = values  # a map's value of each element
        self.exact: dict[object, int] = {}
        self.others: list[tuple[Matcher, int]] = []
        for position, element in enumerate(elements):
            m = matcher(element, types)
            if all(isinstance(p, tuple) and p[0] == p[1] for p in m.parts):
                key = tuple(p[0] for p in m.parts if isinstance(p, tuple))
                self.exact.setdefault(key if len(key) > 1 else key[0], position)
            elif all(isinstance(p, str) and not p.endswith("*") for p in m.parts) and \
                    len(m.parts) == 1:
                self.exact.setdefault(m.parts[0], position)
            else:
                self.others.append((m, position))

    def find(self, value: Value) -> int | None:
        found = self.exact.get(value)
        if found is not None:
            return found
        unknown = False
        for m, position in self.others:
            holds = m.holds(value)
            if holds:
                return position
            unknown = unknown or holds is None
        return -1 if unknown else None


def set_index(table: model.NftTable, ref: model.SetRef, host: Host, types: tuple[str, ...]
              ) -> SetIndex | None:
    """The index of a named set: the table's (made once), else of the host's ``ipsets`` (a
    set the file uses without declaring it, filled by another program); None when
    unknown."""
    declared = table.sets_by_name.get(ref.name)
    if declared is not None:
        if declared._index is None:
            declared._index = SetIndex(
                tuple(e if isinstance(e, str) else e[0] for e in declared.elements), types,
                tuple(e[1] for e in declared.elements if isinstance(e, tuple)))
        return declared._index
    if host.ipsets is not None and ref.name in host.ipsets:
        return SetIndex(tuple(nv.normal(e, types[0]) if len(types) == 1 else e
                              for e in host.ipsets[ref.name]), types)
    return None


@lru_cache(maxsize=4096)
def anonymous_map(vmap: model.Vmap) -> SetIndex:
    """The index of a verdict map written in the rule (``vmap { 80 : accept }``)."""
    assert isinstance(vmap.map, tuple)
    return SetIndex(tuple(e for e, _ in vmap.map), nv.type_of(vmap.key),
                    tuple(v for _, v in vmap.map))


def _getter(expr: model.Expr) -> Callable[[State], Value | Reason]:
    """:func:`read` made for ``expr`` once: its value for the packet, or the reason there is
    none (returned, not raised: a trace meets many rules of the other family)."""
    if isinstance(expr, model.Payload) and expr.field in ("saddr", "daddr"):
        version = 4 if expr.protocol == "ip" else 6
        other = because("nft.not-ipv4" if version == 4 else "nft.not-ipv6")
        if expr.field == "saddr":
            return lambda st: st.src_int if st.family == version else other
        return lambda st: st.dst_int if st.family == version else other
    if isinstance(expr, model.Payload) and expr.protocol != "ip6" and expr.field in ("sport",
                                                                                "dport"):
        proto, source = expr.protocol, expr.field == "sport"
        # the reason, by the packet's protocol
        others = KeptReasons(lambda protocol: because("nft.not-protocol", wanted=proto,
                                                      protocol=protocol))

        def port(st: State) -> Value | Reason:
            if (proto != "th" and st.protocol != proto) or st.protocol not in _TRANSPORT:
                return others[st.protocol]
            return st.sport if source else st.dport
        return port
    if isinstance(expr, model.Meta) and expr.key in ("mark", "l4proto"):
        if expr.key == "mark":
            return lambda st: st.mark
        return lambda st: _protocol_number(st.protocol)
    if isinstance(expr, model.Meta) and expr.key in ("skuid", "skgid"):
        no_socket = because("nft.no-socket")
        if expr.key == "skuid":
            return lambda st: no_socket if st.uid is None else st.uid
        return lambda st: no_socket if st.gid is None else st.gid
    if isinstance(expr, model.Meta) and expr.key in ("iifname", "iif", "oifname", "oif"):
        if expr.key.startswith("i"):
            no_input = because("nft.no-input")
            return lambda st: no_input if st.in_if is None else st.in_if
        no_output = because("nft.no-output")
        return lambda st: no_output if st.out_if is None else st.out_if

    def value_of(st: State) -> Value | Reason:
        try:
            return read(expr, st)
        except _Missing as e:
            return e.reason
    return value_of


def compile_match(match: model.Match, table: model.NftTable) -> Check:
    left, op, right = match.left, match.op, match.right
    types = nv.type_of(left)
    get = _getter(left)
    found_fixed = SetIndex((right,) if isinstance(right, str) else
                           right if isinstance(right, tuple) else (), types)
    wanted = right if isinstance(right, str) else (
        f"@{right.name}" if isinstance(right, model.SetRef) else "{ " + ", ".join(right) + " }")
    bound = nv.interval(right, types[0])[0] if op not in ("==", "!=") and \
        isinstance(right, str) else 0
    negated = op == "!="
    one = matcher(right, types).parts[0] if isinstance(right, str) and len(types) == 1 \
        else None

    # The reason a value fails the match, made once per value (a few values recur:
    # the packet's interface, uid, protocol).
    failed_code: ReasonCode = "nft.in" if negated else "nft.not-in"
    failed = KeptReasons(lambda value: because(failed_code, value=shown(types, value),
                                                 wanted=wanted))

    if op in ("==", "!=") and isinstance(one, tuple) and isinstance(left, model.Payload) and \
            left.field in ("saddr", "daddr"):
        # the commonest checks, with the read inline: an address in a prefix...
        low, high = one
        version = 4 if left.protocol == "ip" else 6
        other = because("nft.not-ipv4" if version == 4 else "nft.not-ipv6")
        source = left.field == "saddr"

        def check_address(st: State, host: Host) -> Result:
            if st.family != version:
                return other
            value = st.src_int if source else st.dst_int
            if (low <= value <= high) != negated:
                return None
            return failed[value]
        return check_address
    if op in ("==", "!=") and isinstance(one, str) and not one.endswith("*") and \
            isinstance(left, model.Meta) and left.key in ("iifname", "oifname"):
        # ... and an interface's name
        incoming = left.key == "iifname"
        none = because("nft.no-input" if incoming else "nft.no-output")

        def check_interface(st: State, host: Host) -> Result:
            name = st.in_if if incoming else st.out_if
            if name is None:
                return none
            if (name == one) != negated:
                return None
            return failed[name]
        return check_interface
    if op in ("==", "!=") and isinstance(one, tuple):
        # one number or one interval (a prefix, a range): the common rule, checked inline
        low, high = one

        def check_interval(st: State, host: Host) -> Result:
            value = get(st)
            if value.__class__ is Reason:
                return value
            if (low <= value <= high) != negated:  # type: ignore[operator]
                return None
            return failed[value]
        return check_interval
    if op in ("==", "!=") and isinstance(one, str) and not one.endswith("*"):
        def check_name(st: State, host: Host) -> Result:
            value = get(st)
            if value.__class__ is Reason:
                return value
            if (value == one) != negated:
                return None
            return failed[value]
        return check_name

    def check(st: State, host: Host) -> Result:
        value = get(st)
        if isinstance(value, Reason):
            return value
        if op not in ("==", "!="):
            assert isinstance(value, int)
            holds = {"<": value < bound, ">": value > bound, "<=": value <= bound,
                     ">=": value >= bound}[op]
            return None if holds else because("nft.compare", value=shown(types, value), op=op,
                                              wanted=right)
        if isinstance(right, model.SetRef):
            index = set_index(table, right, host, types)
            if index is None:
                return Choice(None, because("nft.set-unknown", value=shown(types, value),
                                            set=right.name))
        else:
            index = found_fixed
        position = index.find(value)
        if position == -1:
            return Choice(None, because("nft.owner-name", value=shown(types, value)))
        if (position is not None) == negated:
            return failed[value]
        return None

    return check


@dataclass(slots=True, eq=False)
class CompiledNftRule:
    """A check for each match of the rule, by the match's position in its statements;
    ``leading`` the checks of the matches before its first other statement (counters and
    logs aside), in order, and ``rest`` the position of that statement. ``missed`` is the
    trace's: by hook, the last reason the rule's first match gave, with the steps of the
    rules it decides (``_nft_trace.NftRun.missed``)."""

    checks: dict[int, Check]
    leading: tuple[Check, ...]
    rest: int
    # The rule's verdict when that is all it does after its leading matches (counters and
    # logs aside): the same outcome for every packet the matches let through.
    verdict: model.Verdict | None = None
    missed: dict[str, MissedRun] = field(default_factory=dict)


def compile_rule(rule: model.NftRule, table: model.NftTable) -> CompiledNftRule:
    shared = table._checks
    checks: dict[int, Check] = {}
    for i, s in enumerate(rule.statements):
        if isinstance(s, model.Match):
            check = shared.get(s)
            if check is None:
                check = shared[s] = compile_match(s, table)
            checks[i] = check
    rest = next((i for i, s in enumerate(rule.statements)
                 if not isinstance(s, model.Match | model.Counter | model.Log)),
                len(rule.statements))
    then = [s for s in rule.statements[rest:] if not isinstance(s, model.Counter | model.Log)]
    verdict = then[0] if len(then) == 1 and isinstance(then[0], model.Verdict) and \
        then[0].kind != "continue" else None
    return CompiledNftRule(checks, tuple(checks[i] for i in sorted(checks) if i < rest), rest,
                           verdict)


def numgen_choice(expr: model.Numgen, value: int) -> Choice:
    """``numgen random mod N`` gives ``value``, given it gave none below it."""
    return Choice(1.0 / (expr.modulus - value), because("nft.numgen", modulus=expr.modulus,
                                                        value=value))
