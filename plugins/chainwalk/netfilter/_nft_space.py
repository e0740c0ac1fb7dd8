"""Symbolic evaluation of an nftables ruleset: ``_space``'s sets of packets, through the
base chains of a hook.

Each nftables expression a rule reads is translated to the constraints ``_space`` uses for
iptables' matches (``ip daddr`` is the destination's intervals, ``tcp dport`` the protocol
and the port, ``meta skuid`` the owner, ``meta mark & M`` a mark pattern, ``oifname "x*"``
the interfaces of a prefix, a set one constraint per element), so both backends are
decided by the same cubes, splits and mark maps; an expression whose value is the same
for every first packet (``ct state``, ``meta nfproto``) is evaluated once, as the trace
does. The walk is the trace's (``_nft_trace``): every base chain of the hook whose table
carries the family, in priority order; ``accept`` ends a base chain, not the hook; nat
chains only until one set up NAT; a verdict map splits the packets by its elements.

What it cannot decide raises :class:`~._space.CannotProve` naming the rule: ``numgen``,
sets filled by another program, owners by name, ``ct zone``, ``notrack``, source NAT,
``meta`` keys other than those above.
"""

from __future__ import annotations

from .._errors import Location
from . import _nft_model as model
from . import _nft_values as nv
from ._nft_compile import SetIndex
from ._nft_trace import CONNTRACK_PRIORITY, hook_entries
from ._packet import Host
from ._space import (
    CT_MARK,
    DPORT,
    DST,
    GID,
    IN,
    MARK,
    NATTED,
    OUT,
    PROTO,
    SPORT,
    SRC,
    UID,
    CannotProve,
    Constraint,
    Cube,
    Decision,
    Exploration,
    Intervals,
    Piece,
    Universe,
    _compact,
    _marks,
    _normal,
    _preimage,
    _set,
    _set_marks,
    _Walker,
    partition,
    split,
    start,
)

_TRANSPORT = {"tcp": ((6, 6),), "udp": ((17, 17),),
              # th: the protocols with ports, as the trace reads them
              "th": _normal([(6, 6), (17, 17), (33, 33), (132, 132), (136, 136)])}
_PAYLOAD = {("ip", "saddr"): SRC, ("ip", "daddr"): DST, ("ip6", "saddr"): SRC,
            ("ip6", "daddr"): DST, ("ip", "protocol"): PROTO, ("ip6", "nexthdr"): PROTO}
_META = {"l4proto": PROTO, "mark": MARK, "skuid": UID, "skgid": GID, "iifname": IN,
         "oifname": OUT}
_STATIC_META = ("nfproto", "protocol")
_CT_NEW, _CT_INVALID = nv.CT_STATES["new"], nv.CT_STATES["invalid"]
_NAT_TARGETS = {"redirect": "REDIRECT", "dnat": "DNAT"}
#: A statement that ends the walk of some packets, with those packets.
_Ending = tuple[model.Verdict | model.Nat | model.Reject, list[Piece]]


def interface_names(ruleset: model.NftRuleset) -> set[str]:
    """The interface names (``x+`` for a wildcard ``x*``) the rules and sets name."""
    found: set[str] = set()

    def add(expr: object, elements: tuple[object, ...]) -> None:
        parts = expr.parts if isinstance(expr, model.Concat) else (expr,)
        for position, part in enumerate(parts):
            if isinstance(part, model.Meta) and part.key in ("iifname", "oifname"):
                for element in elements:
                    if isinstance(element, tuple):
                        element = element[0]
                    if isinstance(element, str):
                        found.add(_interface(element.split(" . ")[position]))

    for table in ruleset.tables:
        for chain in table.chains:
            for rule in chain.rules:
                for s in rule.statements:
                    if isinstance(s, model.Match | model.Vmap):
                        right = s.right if isinstance(s, model.Match) else s.map
                        key = s.left if isinstance(s, model.Match) else s.key
                        if isinstance(right, model.SetRef):
                            named = table.sets_by_name.get(right.name)
                            add(key, named.elements if named else ())
                        elif isinstance(right, tuple):
                            add(key, right)
                        else:
                            add(key, (right,))
    return found


def _interface(text: str) -> str:
    name = text.strip('"').replace("\\*", "*")
    return name[:-1] + "+" if name.endswith("*") else name


def explore_nft(ruleset: model.NftRuleset, host: Host, hook: str, described: list[Cube],
                universe: Universe) -> Exploration:
    """``_space.explore`` for an nftables ruleset (see the module's docstring)."""
    result = Exploration(universe, hook)
    walker = _NftWalker(ruleset, host, result)
    pieces = start(universe, host, hook, described)
    for entry in hook_entries(ruleset, hook.lower(), universe.family):
        if entry.table is None or entry.chain is None:
            continue  # the NAT core's place for known connections: not a first packet
        pieces = walker.base_chain(entry.table, entry.chain, pieces)
    result.final = pieces
    return result


class _NftWalker(_Walker):
    """The walk of ``_space._Walker`` (its NAT, TPROXY and bounds) over nftables chains."""

    def __init__(self, ruleset: model.NftRuleset, host: Host, result: Exploration) -> None:
        super().__init__(ruleset, host, result)  # type: ignore[arg-type]
        self.nft = ruleset
        self.tracked = False  # whether conntrack has run before the chain walked now

    def base_chain(self, table: model.NftTable, chain: model.NftChain, pieces: list[Piece]
                   ) -> list[Piece]:
        """Walk one base chain; returns the packets that go on to the next one."""
        base = chain.base
        assert base is not None
        priority = base.priority if base.type != "nat" else -100
        self.tracked = self.result.hook not in ("PREROUTING", "OUTPUT") or \
            priority >= CONNTRACK_PRIORITY
        skipped: list[Piece] = []
        if base.type == "nat":  # only until one nat chain set up NAT
            skipped = [p for p in pieces if NATTED in dict(p[1])]
            pieces = [p for p in pieces if NATTED not in dict(p[1])]
        if not pieces:
            return skipped
        going_on: list[Piece] = []
        left = self.nft_chain(table, chain, pieces, going_on, 0)
        if left:
            policy = base.policy
            left = self.result.decide(Decision(table.name, chain.name, 0, policy), left)
            if policy == "accept":
                going_on.extend(left)
        return skipped + going_on

    def nft_chain(self, table: model.NftTable, chain: model.NftChain, pieces: list[Piece],
                  going_on: list[Piece], depth: int) -> list[Piece]:
        """Walk ``chain``; returns the packets that fall off its end or return."""
        self.enter(chain, depth)
        returned: list[Piece] = []
        for number, rule in enumerate(chain.rules, start=1):
            if not pieces:
                break
            key = (table.name, chain.name, number)
            where = rule.location or Location(self.nft.source, 0)
            self.reach(key, where, pieces)
            matched, endings, pieces = self.rule(table, rule, pieces, where)
            self.bounded(where, chain.name, pieces, matched)
            if matched:
                self.result.matched.setdefault(key, []).extend(matched)
            for verdict, hit in endings:
                if isinstance(verdict, model.Verdict) and verdict.kind in ("jump", "goto"):
                    assert verdict.chain is not None
                    back = self.nft_chain(table, table.by_name[verdict.chain], hit, going_on,
                                          depth + 1)
                    if verdict.kind == "goto":
                        returned.extend(back)
                    else:
                        pieces = pieces + back
                    continue
                if isinstance(verdict, model.Verdict) and verdict.kind == "return":
                    returned.extend(self.returning(key, "return", hit))
                    continue
                going: list[Piece] = []
                name: str
                if isinstance(verdict, model.Nat):
                    hit, going = self.nat(verdict, hit, where)
                    name = verdict.kind
                elif isinstance(verdict, model.Verdict):
                    name = verdict.kind
                    going = hit if name == "accept" else []
                else:
                    name = "reject"
                going_on.extend(self.result.decide(Decision(table.name, chain.name, number,
                                                            name), hit, going))
        return returned + pieces

    def nat(self, s: model.Nat, pieces: list[Piece],
            where: Location) -> tuple[list[Piece], list[Piece]]:
        if s.kind not in _NAT_TARGETS:
            raise CannotProve(where, f"{s.kind} (source NAT)")
        if s.kind == "dnat" and (s.address is None or "-" in s.address):
            raise CannotProve(where, f"dnat to {s.address}")
        changed, going = self.rewrite(s.address if s.kind == "dnat" else None, s.port,
                                      pieces, where)
        return changed, [_set(p, NATTED, 1) for p in going]

    # -- one rule -------------------------------------------------------------------
    def rule(self, table: model.NftTable, rule: model.NftRule, pieces: list[Piece], where: Location
             ) -> tuple[list[Piece], list[_Ending], list[Piece]]:
        """The packets whose matches all hold, what ends their walk here (each verdict
        with its packets), and the packets that go on to the next rule."""
        live = pieces
        going: list[Piece] = []
        ends: list[_Ending] = []
        matched: list[Piece] | None = None
        family = "ip" if self.universe.family == 4 else "ip6"
        for s in rule.statements:
            if not live:
                break
            if isinstance(s, model.Match):
                live, failed = self.match(table, s, live, where)
                going.extend(failed)
                continue
            if matched is None:
                matched = live
            if isinstance(s, model.Counter | model.Log) or (isinstance(s, model.Verdict) and
                                                            s.kind == "continue"):
                continue
            if isinstance(s, model.Vmap):
                found, missing = self.vmap(table, s, live, where)
                ends.extend(found)
                going.extend(missing)  # no element: the rule ends, the next one runs
                live = []
            elif isinstance(s, model.Verdict | model.Reject):
                ends.append((s, live))
                live = []
            elif isinstance(s, model.Nat):
                if s.family not in (None, family):
                    continue  # an inet table's NAT for the other family: no effect
                ends.append((s, live))
                live = []
            elif isinstance(s, model.Tproxy):
                if s.port is None:
                    raise CannotProve(where, "tproxy without a port")
                live = self.tproxy(s.port, 0, 0, live, where)
            elif isinstance(s, model.SetStmt):
                read = s.value.expr if isinstance(s.value, model.Bitwise) else s.value
                if read == model.Ct("mark") and not self.tracked:
                    going.extend(live)  # no connection to read the mark of: the rule stops
                    live = []
                    break
                live = self.set_statement(s, live, where)
            elif isinstance(s, model.Notrack):
                raise CannotProve(where, "notrack (nat is then not consulted)")
        return (live if matched is None else matched), ends, going + live

    def match(self, table: model.NftTable, s: model.Match, pieces: list[Piece],
              where: Location) -> tuple[list[Piece], list[Piece]]:
        """(holding, failing) for one match statement."""
        types = nv.type_of(s.left)
        elements = self.elements(table, s.right, types, where)
        static = self.static_value(s.left, where)
        if static is not None:
            value = static[0]
            if value is None:  # nothing to read: no operator holds
                return [], pieces
            if s.op in ("==", "!="):
                hit = SetIndex(elements, types).find(value) is not None
            else:
                bound = nv.interval(elements[0], types[0])[0]
                hit = {"<": value < bound, ">": value > bound, "<=": value <= bound,
                       ">=": value >= bound}[s.op]
            return (pieces, []) if hit == (s.op != "!=") else ([], pieces)
        present = self.presence(s.left, where)
        if present is None:
            return [], pieces
        there, absent = split(pieces, [present])
        if s.op in ("==", "!="):
            wanted = [self.element(s.left, e, types, where) for e in elements]
        else:
            low, high = nv.interval(elements[0], types[0])
            top = self.top(s.left)
            bounds = {"<": (0, low - 1), ">": (high + 1, top), "<=": (0, high),
                      ">=": (low, top)}[s.op]
            wanted = [self.constraint(s.left, (bounds,), where)]
        found, outside = partition(there, wanted)
        inside = [piece for hit in found for piece in hit]
        if s.op == "!=":
            return outside, inside + absent
        return inside, outside + absent

    def vmap(self, table: model.NftTable, s: model.Vmap, pieces: list[Piece], where: Location
             ) -> tuple[list[_Ending], list[Piece]]:
        """The packets of each element's verdict, and those no element holds."""
        types = nv.type_of(s.key)
        if isinstance(s.map, model.SetRef):
            named = table.sets_by_name.get(s.map.name)
            if named is None:
                raise CannotProve(where, f"map @{s.map.name} (filled by another program)")
            pairs = [(e[0], e[1]) for e in named.elements if isinstance(e, tuple)]
        else:
            pairs = list(s.map)
        static = self.static_value(s.key, where)
        if static is not None:
            index = SetIndex(tuple(e for e, _ in pairs), types)
            position = index.find(static[0]) if static[0] is not None else None
            if position is None or position < 0:
                return [], pieces
            verdict = pairs[position][1]
            assert isinstance(verdict, model.Verdict)
            return [(verdict, pieces)], []
        present = self.presence(s.key, where)
        if present is None:
            return [], pieces
        there, absent = split(pieces, [present])
        hits, rest = partition(there, [self.element(s.key, e, types, where) for e, _ in pairs])
        found: list[_Ending] = []
        for (_, verdict), hit in zip(pairs, hits, strict=True):
            assert isinstance(verdict, model.Verdict)
            if hit:
                found.append((verdict, hit))
        return found, rest + absent

    def set_statement(self, s: model.SetStmt, pieces: list[Piece], where: Location) -> list[Piece]:
        """The packets after ``meta mark set`` or ``ct mark set`` (``ct zone set``: no field
        of the analysis changes)."""
        if s.key == model.Ct("zone"):
            return pieces
        connection = s.key == model.Ct("mark")
        if s.key != model.Meta("mark") and not connection:
            raise CannotProve(where, f"{s.key.key} set")
        if connection and not self.tracked:
            return pieces  # before conntrack: no connection to mark, as the trace says
        value = s.value
        mask, xor = 0, 0
        source: bool | None = None  # the mark the value reads: the packet's or the ct's
        if isinstance(value, int):
            xor = value
        else:
            inner = value.expr if isinstance(value, model.Bitwise) else value
            if isinstance(value, model.Bitwise):
                mask, xor = value.mask, value.xor
            else:
                mask = nv.MAX_U32
            if inner == model.Meta("mark"):
                source = False
            elif inner == model.Ct("mark") and self.tracked:
                source = True
            else:
                raise CannotProve(where, f"{s.key.key} set from {inner}")
        out = []
        for piece in pieces:
            kept, flipped = _marks(piece, source) if source is not None else (0, 0)
            out.append(_set_marks(piece, connection, kept & mask, (flipped & mask) ^ xor))
        return out

    # -- expressions as constraints ---------------------------------------------------
    def static_value(self, expr: model.Expr, where: Location) -> tuple[int | None] | None:
        """``(value,)`` when ``expr`` reads the same for every first packet (``(None,)``:
        nothing to read), else ``None``."""
        if isinstance(expr, model.Numgen) and expr.modulus == 1:  # random mod 1: always 0
            return (0,)
        if isinstance(expr, model.Ct) and expr.key == "state":
            return (_CT_NEW if self.tracked else _CT_INVALID,)
        if isinstance(expr, model.Meta) and expr.key in _STATIC_META:
            family = self.universe.family
            if expr.key == "nfproto":
                return (2 if family == 4 else 10,)
            return (0x0800 if family == 4 else 0x86DD,)
        if isinstance(expr, model.Payload) and expr.protocol in ("ip", "ip6") and \
                expr.protocol != ("ip" if self.universe.family == 4 else "ip6"):
            return (None,)
        if isinstance(expr, model.Ct) and expr.key == "mark" and not self.tracked:
            return (None,)
        return None

    def field(self, expr: model.Expr, where: Location) -> int:
        """The field of the analysis ``expr`` reads (a mark's expression: MARK or CT_MARK)."""
        inner = expr.expr if isinstance(expr, model.Bitwise) else expr
        found: int | None = None
        if isinstance(inner, model.Payload):
            found = DPORT if inner.field == "dport" else SPORT if inner.field == "sport" \
                else None
            if inner.protocol in ("ip", "ip6"):
                found = _PAYLOAD.get((inner.protocol, inner.field))
            elif inner.protocol not in _TRANSPORT:
                found = None
        elif isinstance(inner, model.Meta):
            found = _META.get(inner.key)
        elif isinstance(inner, model.Ct) and inner.key == "mark":
            found = CT_MARK
        if found is None or (isinstance(expr, model.Bitwise) and found not in (MARK, CT_MARK)):
            raise CannotProve(where, f"the expression {_spoken(expr)}")
        return found

    def presence(self, expr: model.Expr, where: Location) -> Constraint | None:
        """What a packet must be for ``expr`` to have a value (``None``: never)."""
        parts = expr.parts if isinstance(expr, model.Concat) else (expr,)
        out: list[tuple[int, Intervals]] = []
        for part in parts:
            static = self.static_value(part, where)
            if static is not None:
                if static[0] is None:
                    return None
                continue
            f = self.field(part, where)
            inner = part.expr if isinstance(part, model.Bitwise) else part
            if isinstance(inner, model.Payload) and inner.protocol in _TRANSPORT:
                out.append((PROTO, _TRANSPORT[inner.protocol]))
            elif f in (UID, GID, IN, OUT):  # a socket, an interface
                out.append((f, ((1, self.universe.tops[f]),)))
        return tuple(out)

    def top(self, expr: model.Expr) -> int:
        f = self.field(expr, Location(self.nft.source, 0))
        return self.universe.tops[MARK if f == CT_MARK else f]

    def elements(self, table: model.NftTable, right: object, types: tuple[str, ...],
                 where: Location) -> tuple[model.Element, ...]:
        if isinstance(right, model.SetRef):
            named = table.sets_by_name.get(right.name)
            if named is None:
                raise CannotProve(where, f"set @{right.name} (filled by another program)")
            return tuple(e if isinstance(e, str) else e[0] for e in named.elements)
        assert isinstance(right, str | tuple)
        return (right,) if isinstance(right, str) else right

    def element(self, expr: model.Expr, element: model.Element, types: tuple[str, ...],
                where: Location) -> Constraint:
        """The packets whose ``expr`` is ``element`` (one value, a range or prefix, a
        wildcard; a concatenation's element part by part)."""
        parts = expr.parts if isinstance(expr, model.Concat) else (expr,)
        out: list[tuple[int, Intervals]] = []
        for part, text, dtype in zip(parts, element.split(" . "), types, strict=True):
            f = self.field(part, where)
            if f in (IN, OUT):
                wanted = self.universe.interface_set(_interface(text))
                out.append((f, wanted))
                continue
            if dtype in ("uid", "gid") and not text[:1].isdigit():
                raise CannotProve(where, f"owner {text} (a name: its id is known only on "
                                  "the node)")
            out.extend(self.constraint(part, (nv.interval(text, dtype),), where))
        return tuple(out)

    def constraint(self, expr: model.Expr, values: Intervals, where: Location) -> Constraint:
        """The packets whose ``expr`` reads one of ``values``."""
        f = self.field(expr, where)
        if f in (UID, GID):  # kept plus one: 0 is "no socket"
            return ((f, tuple((lo + 1, hi + 1) for lo, hi in values)),)
        if f not in (MARK, CT_MARK):
            return ((f, values),)
        patterns = _compact([p for lo, hi in values for p in _patterns(lo, hi)])
        if isinstance(expr, model.Bitwise):  # (m & mask) ^ xor in the patterns: their preimage
            patterns = _preimage(patterns, expr.mask, expr.xor)
        return ((f, patterns),)  # (no pattern: no packet)


def _patterns(low: int, high: int) -> list[tuple[int, int]]:
    """The marks from ``low`` to ``high`` as disjoint patterns (aligned blocks)."""
    out = []
    top = nv.MAX_U32
    while low <= high:
        size = low & -low if low else top + 1
        while size > high - low + 1:
            size >>= 1
        out.append((low, top & ~(size - 1)))
        low += size
    return out


def _spoken(expr: model.Expr) -> str:
    if isinstance(expr, model.Payload):
        return f"{expr.protocol} {expr.field}"
    if isinstance(expr, model.Meta):
        return f"meta {expr.key}"
    if isinstance(expr, model.Ct):
        return f"ct {expr.key}"
    if isinstance(expr, model.Bitwise):
        return f"{_spoken(expr.expr)} & 0x{expr.mask:x}"
    if isinstance(expr, model.Concat):
        return " . ".join(_spoken(p) for p in expr.parts)
    return "numgen random"

