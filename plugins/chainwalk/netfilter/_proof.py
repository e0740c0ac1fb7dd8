"""Claims over every packet, on top of the symbolic walk (``_space``).

A *description* names a set of first packets, as words separated by spaces::

    tcp uid!=1337 out=eth0 dst!=127.0.0.0/8 dport=1-1024

``tcp``, ``udp``, ``icmp`` (or ``proto=N``); ``src``, ``dst`` (an address or prefix);
``sport``, ``dport`` (a port or ``LOW-HIGH``); ``in``, ``out`` (an interface, ``x+`` for
a prefix); ``uid``, ``gid`` (an id or ``LOW-HIGH``); ``mark`` (a number, or ``V/M``: the
marks ``m`` with ``m & M == V``); ``socket`` and
``no-socket``. ``=`` keeps the values, ``!=`` the others; words combine with "and".
:func:`reach` says of each rule whether some described packet matches it (with a
witness), and :func:`decisions` where each described packet's walk through a table
ends. A witness is a :class:`Packet` that :func:`~._trace.trace` follows to the same
place.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Literal

from .._errors import ChainwalkError, Location, Problem
from . import _values as v
from ._model import Chain, Ruleset
from ._nft_model import NftChain, NftRuleset
from ._packet import Host, Packet
from ._space import (
    ANY_MARK,
    DPORT,
    DROPPED,
    DST,
    FIELDS,
    GID,
    IN,
    MARK,
    OUT,
    PROTO,
    PROTOCOLS,
    SPORT,
    SRC,
    TPROXY_PORT,
    UID,
    Cube,
    Decision,
    Exploration,
    Intervals,
    Piece,
    Universe,
    _complement,
    _intersect,
    _marks,
    _pattern_meet,
    _pattern_minus,
    explore,
    meet,
    universe_for,
    witness_packet,
)
from ._trace import Trace

_WORD = re.compile(r"\S+")
_TERM = re.compile(r"^([a-z-]+)(!=|=)(.+)$")
Reach = Literal["reached", "never"]


@dataclass(frozen=True)
class Description:
    """A parsed description: each field's allowed values (absent: any; the mark's as
    patterns, ``_space``'s)."""

    text: str
    fields: tuple[tuple[int, Intervals], ...]
    interfaces: tuple[str, ...]  # the interface names it mentions

    def cubes(self, universe: Universe) -> list[Cube]:
        cube = list(universe.full())
        for f, allowed in self.fields:
            if f in (IN, OUT):
                continue
            cube[f] = meet(f, cube[f], allowed)
        for f, pattern, negated in self._interfaces():
            wanted = universe.interface_set(pattern)
            cube[f] = _intersect(cube[f], _complement(wanted, universe.tops[f])
                                 if negated else wanted)
        return [tuple(cube)] if all(cube) else []

    def _interfaces(self) -> list[tuple[int, str, bool]]:
        out = []
        for word in self.text.split():
            term = _TERM.match(word)
            if term and term.group(1) in ("in", "out"):
                out.append((IN if term.group(1) == "in" else OUT, term.group(3),
                            term.group(2) == "!="))
        return out


def parse_description(text: str, where: Location, family: int = 4) -> Description:
    """Read a description; every problem at its column (``where`` is the text's start)."""
    problems: list[Problem] = []
    fields: list[tuple[int, Intervals]] = []
    names: list[str] = []
    address_top = (1 << (32 if family == 4 else 128)) - 1
    tops = {SRC: address_top, DST: address_top, PROTO: 255, SPORT: 65535, DPORT: 65535,
            UID: v.MAX_ID + 1, GID: v.MAX_ID + 1, MARK: v.MAX_U32}
    for found in _WORD.finditer(text):
        word = found.group()
        at = Location(where.path, where.line, where.column + found.start())
        if word in ("tcp", "udp", "icmp"):
            number = PROTOCOLS[word] if family == 4 or word != "icmp" else 58
            fields.append((PROTO, ((number, number),)))
            continue
        if word in ("socket", "no-socket"):
            fields.append((UID, ((1, tops[UID]),) if word == "socket" else ((0, 0),)))
            continue
        term = _TERM.match(word)
        if term is None or term.group(1) not in _FIELD_NAMES:
            problems.append(Problem(at, "not a term of a packet description", word,
                                    "tcp, udp, icmp, socket, no-socket or NAME=VALUE / "
                                    "NAME!=VALUE with NAME one of " + ", ".join(_FIELD_NAMES)))
            continue
        name, op, value = term.groups()
        f = FIELDS.index(name) if name != "proto" else PROTO
        try:
            if f in (IN, OUT):
                v.interface(value)
                names.append(value.rstrip("+"))
                continue
            allowed = _values(f, value, family)
        except (ValueError, ChainwalkError):
            problems.append(Problem(at, f"{name}: not {_EXPECTED[f]}", value, _EXPECTED[f]))
            continue
        if f in (UID, GID):  # kept plus one: 0 is "no socket"
            allowed = tuple((lo + 1, hi + 1) for lo, hi in allowed)
            if op == "!=":
                allowed = _complement(allowed, tops[f])
            # An owner's id implies a socket; "uid!=1337" still takes packets without one.
            fields.append((f, allowed))
            continue
        if op == "!=":
            allowed = _pattern_minus(ANY_MARK, allowed) if f == MARK else \
                _complement(allowed, tops[f])
        fields.append((f, allowed))
    if problems:
        raise ChainwalkError(problems)
    return Description(text, tuple(fields), tuple(names))


_FIELD_NAMES = ("src", "dst", "proto", "sport", "dport", "in", "out", "uid", "gid", "mark")
_EXPECTED = {SRC: "an address or prefix", DST: "an address or prefix",
             PROTO: "a protocol number or name", SPORT: "a port or LOW-HIGH",
             DPORT: "a port or LOW-HIGH", UID: "an id or LOW-HIGH",
             GID: "an id or LOW-HIGH", MARK: "a number or VALUE/MASK", IN: "an interface",
             OUT: "an interface"}


def _values(f: int, value: str, family: int) -> Intervals:
    if f in (SRC, DST):
        network = ipaddress.ip_network(value, strict=False)
        if network.version != family:
            raise ValueError(value)
        return ((int(network.network_address), int(network.broadcast_address)),)
    if f == PROTO:
        number = PROTOCOLS.get(value, int(value) if value.isdigit() else -1)
        if not 0 <= number <= 255:
            raise ValueError(value)
        return ((number, number),)
    if f == MARK:  # patterns
        mark, mask = v.mark_bits(value)
        if not (0 <= mark <= v.MAX_U32 and 0 <= mask <= v.MAX_U32):
            raise ValueError(value)
        return ((mark & mask, mask),)
    low, _, high = value.partition("-")
    lo, hi = int(low), int(high or low)
    top = 65535 if f in (SPORT, DPORT) else v.MAX_ID
    if not 0 <= lo <= hi <= top:
        raise ValueError(value)
    return ((lo, hi),)


# -- questions ----------------------------------------------------------------------

@dataclass(frozen=True)
class RuleReach:
    """Whether some described packet matches rule ``rule`` of ``table`` ``chain``."""

    table: str
    chain: str
    rule: int
    status: Reach
    witness: Packet | None = None


def exploration(ruleset: Ruleset | NftRuleset, host: Host, hook: str,
                description: Description, last_table: str = "",
                universe: Universe | None = None, family: int = 4) -> Exploration:
    """The described packets through ``hook`` (``family``: an nftables ruleset's, which
    holds both)."""
    universe = universe or universe_for(ruleset, host, description.interfaces,
                                        family=family)
    return explore(ruleset, host, hook, description.cubes(universe), universe, last_table)


def reach(ruleset: Ruleset | NftRuleset, host: Host, hook: str, description: Description,
          table: str | None, family: int = 4) -> list[RuleReach]:
    """Each rule of each chain of ``table`` (``None``: of every table an nftables ruleset
    has for ``family``): matched by some described packet (with a witness), or by none."""
    found = exploration(ruleset, host, hook, description, table or "", family=family)
    tables: list[tuple[str, tuple[Chain, ...] | tuple[NftChain, ...]]]
    if isinstance(ruleset, Ruleset):
        chosen = ruleset.table(table or "nat")
        tables = [(chosen.name, chosen.chains)] if chosen else []
    else:
        tables = [(t.name, t.chains) for t in ruleset.tables
                  if t.carries(found.universe.family) and table in (None, t.name)]
    out = []
    for name, chains in tables:
        for chain in chains:
            for number, _ in enumerate(chain.rules, start=1):
                cubes = found.matched.get((name, chain.name, number), [])
                out.append(RuleReach(name, chain.name, number,
                                     "reached" if cubes else "never",
                                     witness_packet(cubes[0], found.universe, hook)
                                     if cubes else None))
    return out


def decisions(ruleset: Ruleset, host: Host, hook: str, description: Description,
              table: str) -> dict[Decision, Packet]:
    """Where the described packets' walks through ``table`` end, each with a witness."""
    found = exploration(ruleset, host, hook, description, table)
    return {d: witness_packet(cubes[0], found.universe, hook)
            for d, cubes in sorted(found.decisions.items()) if d.table == table and cubes}


def concrete_hits(result: Trace, hook: str) -> set[tuple[str, str, int]]:
    """The rules a concrete trace matched at ``hook``, as the symbolic walk keys them."""
    return {(s.table, s.chain, s.rule) for s in result.steps
            if s.hit and s.hook == hook}


def concrete_decision(result: Trace, hook: str, table: str) -> Decision | None:
    """Where the concrete trace's walk through ``table`` at ``hook`` ended."""
    ending = None
    for s in result.steps:
        if s.hook != hook or s.table != table:
            continue
        if s.kind == "policy":
            ending = Decision(table, s.chain, 0, s.target or "")
        elif s.hit and s.jump is None and s.target is not None and \
                s.target not in ("RETURN", "LOG", "NFLOG", "MARK", "CT"):
            ending = Decision(table, s.chain, s.rule, s.target)
    return ending


def point(packet: Packet) -> Description:
    """A packet as a description's fields (one value each)."""
    src = int(ipaddress.ip_address(packet.src))
    dst = int(ipaddress.ip_address(packet.dst))
    proto = PROTOCOLS.get(packet.protocol, 0)
    fields = [(SRC, ((src, src),)), (DST, ((dst, dst),)), (PROTO, ((proto, proto),)),
              (SPORT, ((packet.sport, packet.sport),)),
              (DPORT, ((packet.dport, packet.dport),)), (MARK, ((packet.mark, v.MAX_U32),))]
    uid = 0 if packet.uid is None else packet.uid + 1
    gid = 0 if packet.gid is None else packet.gid + 1
    fields += [(UID, ((uid, uid),)), (GID, ((gid, gid),))]
    if packet.in_interface:
        return Description(f"in={packet.in_interface}", tuple(fields), (packet.in_interface,))
    return Description("", tuple(fields), ())




@dataclass(frozen=True)
class Difference:
    """A class of packets two rulesets treat differently: one of them, and where each
    ruleset's walk through the table ends."""

    witness: Packet
    mine: Decision
    theirs: Decision


def outcome(decision: Decision, piece: Piece) -> tuple[str, int | None, int | None]:
    """What a walk's end does to the packet: the verdict, and NAT's new destination and
    port (``None``: unchanged)."""
    changed = dict(piece[1])
    verdict = decision.target.upper() if decision.target.upper() in ("DROP", "REJECT") else \
        "DROP" if DROPPED in changed else "ACCEPT"
    return verdict, changed.get(DST), changed.get(DPORT)


def differences(ruleset: Ruleset | NftRuleset, other: Ruleset | NftRuleset, host: Host,
                hook: str, description: Description, table: str | None, limit: int = 20,
                family: int = 4) -> list[Difference]:
    """Packet classes whose outcome differs between the two rulesets (at most ``limit``),
    each with a witness; empty when they treat every described packet alike. With a
    ``table`` (two iptables rulesets): where their walks through it end; else (``None``,
    or an nftables ruleset on either side) at the end of the hook, the packet's and the
    connection's marks and TPROXY's listener included."""
    if not isinstance(ruleset, Ruleset):
        family = other.family if isinstance(other, Ruleset) else family
    universe = universe_for(ruleset, host, description.interfaces, (other,), family=family)
    whole = table is None or not isinstance(ruleset, Ruleset) or \
        not isinstance(other, Ruleset)
    last = "" if whole else table or ""
    mine = exploration(ruleset, host, hook, description, last, universe)
    theirs = exploration(other, host, hook, description, last, universe)
    if whole:
        return _compare(mine.hook_endings(), theirs.hook_endings(), universe, hook, limit,
                        True)
    return _compare(_table_endings(mine, last), _table_endings(theirs, last), universe, hook,
                    limit, False)


def _table_endings(found: Exploration, table: str) -> list[tuple[Decision, Decision, Piece]]:
    return [(found.ending(d, piece), d, piece) for d, pieces in sorted(found.decisions.items())
            if d.table == table for piece in pieces]


def _compare(mine: list[tuple[Decision, Decision, Piece]],
             theirs: list[tuple[Decision, Decision, Piece]], universe: Universe, hook: str,
             limit: int, whole: bool) -> list[Difference]:
    """The classes where ``mine`` and ``theirs`` (each piece with where it ended as shown
    and the decision that gives its verdict) differ."""
    found: list[Difference] = []

    def treated(decision: Decision, piece: Piece) -> tuple[object, ...]:
        """What the pair compares (the verdict first): cheap, so that only pairs treated
        differently are intersected."""
        said = outcome(decision, piece)
        if not whole or said[0] != "ACCEPT":
            return said
        return (*said, dict(piece[1]).get(TPROXY_PORT), _marks(piece, False),
                _marks(piece, True))

    others = [(their_shown, treated(b, their), their) for their_shown, b, their in theirs]
    for shown, a, piece in mine:
        left = treated(a, piece)
        for their_shown, right, their in others:
            if len(left) == len(right) == 6 and left[:4] == right[:4] and left != right:
                marks = True  # alike but for the mark maps: where the maps differ
            elif left == right:
                continue
            else:
                marks = False
            both = tuple(meet(f, x, y) for f, (x, y) in enumerate(
                zip(piece[0], their[0], strict=True)))
            if not all(both):
                continue
            if marks:  # the sent marks either map (packet's, connection's) treats apart
                packet = _marks_differ(both[MARK], _marks(piece, False), _marks(their, False))
                connection = _marks_differ(both[MARK], _marks(piece, True),
                                           _marks(their, True))
                differ = (*packet, *_pattern_minus(connection, packet))
                if not differ:
                    continue
                both = tuple(differ if f == MARK else both[f] for f in range(len(both)))
            found.append(Difference(witness_packet((both, ()), universe, hook), shown,
                                    their_shown))
            if len(found) >= limit:
                return found
    return found


def _marks_differ(sent: Intervals, mine: tuple[int, int], theirs: tuple[int, int]
                  ) -> Intervals:
    """The sent marks (patterns, of ``sent``) that two maps ``x -> (x & kept) ^ flipped``
    send to different marks."""
    if mine == theirs:
        return ()
    differ = mine[0] ^ theirs[0]  # bits one map keeps and the other sets
    flipped = mine[1] ^ theirs[1]
    if flipped & ~differ & v.MAX_U32:  # a bit both set, to different values: all differ
        return sent
    agree = ((flipped & differ, differ),)  # where the sent bit equals what the other sets
    return _pattern_minus(sent, _pattern_meet(sent, agree))
