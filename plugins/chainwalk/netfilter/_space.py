"""Symbolic evaluation: sets of packets through a hook's tables, over every packet.

Where :func:`~._trace.trace` follows one packet, :func:`explore` follows a *set* of
first packets of connections (a :class:`Space`) through the tables of one hook, exactly
as the trace does for each of its members: the same matches, jumps, gotos, RETURN,
policies, and NAT and MARK changes that later rules see. A set is a union of disjoint
*cubes*: one value set per field the matches read (addresses and ports as number
intervals, the protocol number, the interfaces as indexes into the names the ruleset
and the host know, the socket's uid and gid, the mark). Each rule splits a cube into
the part that matches and the part that does not, so every set computed is exact.

Marks are bits under masks, not numbers in ranges: the mark field of a cube is a union
of disjoint ternary *patterns* ``(value, care)``, the marks ``m`` with
``m & care == value`` (``care`` 0: every mark). Intersection, difference and complement
of patterns are exact and stay small (the complement of one pattern is one pattern per
cared bit). What targets do to marks is a map per piece, kept in its overrides: the mark
later rules see is ``(sent & kept) ^ flipped`` and the connection's mark
``(sent & ct_kept) ^ ct_flipped`` (a first packet's connection starts with mark 0:
``ct_kept`` 0, ``ct_flipped`` 0). ``MARK --set-xmark V/M`` (and ``--set/--and/--or/
--xor-mark``, TPROXY's ``--tproxy-mark``) and ``CONNMARK --set-xmark``, ``--save-mark``,
``--restore-mark`` with ``--nfmask``/``--ctmask`` are all ``x -> (x & ~M) ^ V`` or the
xor of two such maps of the sent mark, so the map stays of that form; a ``mark`` or
``connmark`` match on the current mark is a pattern on the sent mark (its preimage), and
a witness's mark is any member of its cube's patterns.

What this cannot decide exactly (ipset members, ``-m statistic``, string matches, a
target that changes what it cannot represent) raises :class:`CannotProve` naming the
rule: the answer is then "unknown", never a wrong yes or no. The source address is free
(a socket may be bound to any address); at OUTPUT the output interface follows the
destination as routing decides (``_routing``), and at PREROUTING there is no socket.
"""

from __future__ import annotations

import ipaddress
import itertools
from dataclasses import dataclass, field
from typing import Literal

from .._errors import ChainwalkError, Location, Problem
from . import _values as v
from ._model import BASE_MODULE, Chain, Match, Rule, Ruleset
from ._nft_model import NftChain, NftRuleset
from ._packet import Host, Packet
from ._routing import primary_address, route_output

Intervals = tuple[tuple[int, int], ...]  # sorted, disjoint, inclusive
# The mark field's values: sorted, disjoint ternary patterns (value, care), the marks m
# with m & care == value.
Patterns = tuple[tuple[int, int], ...]
Cube = tuple[Intervals, ...]  # per field in FIELDS order: intervals, patterns for the mark
# A cube of first packets as sent, and the fields targets have set since (field, value):
# later rules read those, a witness is drawn from the cube.
Overrides = tuple[tuple[int, int], ...]
Piece = tuple[Cube, Overrides]

FIELDS = ("src", "dst", "proto", "sport", "dport", "in", "out", "uid", "gid", "mark")
SRC, DST, PROTO, SPORT, DPORT, IN, OUT, UID, GID, MARK = range(len(FIELDS))
# Not a field: an override naming the last RETURN a piece took (an index into
# Exploration.returns), so that a walk a RETURN ends at a policy is the RETURN's.
RETURNED = len(FIELDS)
DROPPED = len(FIELDS) + 1  # an override: the target dropped the packet (REDIRECT, no address)
# The maps of the sent mark that targets left (overrides; see the module's docstring): the
# mark is (sent & MARK_KEPT) ^ MARK (absent: all bits kept, none flipped), the
# connection's mark (sent & CT_MARK_KEPT) ^ CT_MARK (absent: 0). CT_MARK is also a
# constraint's field: a connmark match, on the connection's mark.
MARK_KEPT = len(FIELDS) + 2
CT_MARK = len(FIELDS) + 3
CT_MARK_KEPT = len(FIELDS) + 4
# An override: the port of the transparent listener TPROXY handed the packet to.
TPROXY_PORT = len(FIELDS) + 5
# An override: where the piece's walk through the hook ended as a person says it (an index
# into Exploration.endings): the last decision that changed something, else the last one.
ENDED = len(FIELDS) + 6
# An override: a NAT statement set up the connection's NAT (nftables: later nat chains
# of the hook are not consulted).
NATTED = len(FIELDS) + 7
ANY_MARK: Patterns = ((0, 0),)
# uid and gid are kept plus one: 0 is "no local socket".
NO_SOCKET = 0
MAX_CUBES = 100_000  # a chain whose sets grow past this many cubes is refused
# A cube whose marks need more patterns than this is refused too: masks that overlap
# without nesting, excluded one after another, can need exponentially many.
MAX_MARK_PATTERNS = 1_000
MAX_DEPTH = 64
# Rule evaluations (one per piece and rule) an analysis may make: jumps can make the walk
# exponential in the file's size, as for the trace; past this, it stops naming the chain.
MAX_EVALUATIONS = 200_000
PROTOCOLS = {"tcp": 6, "udp": 17, "icmp": 1, "ipv6-icmp": 58, "icmpv6": 58, "sctp": 132,
             "udplite": 136, "dccp": 33, "esp": 50, "ah": 51, "gre": 47}
_NON_TERMINAL_NO_CHANGE = ("LOG", "NFLOG", "ULOG", "TRACE", "AUDIT")
_CT_ZONE = ("zone", "zone-orig", "zone-reply")

DecisionKind = Literal["rule", "policy"]


class CannotProve(ChainwalkError):
    """The analysis met a match or target it cannot decide for a set of packets."""

    def __init__(self, location: Location, reason: str) -> None:
        super().__init__([Problem(location, f"cannot prove: {reason}")])
        self.reason = reason


@dataclass(frozen=True, order=True)
class Decision:
    """Where a packet's walk through one table ends: rule ``rule`` (1-based) of ``chain``
    with ``target``, or (``rule`` 0) the built-in chain's policy."""

    table: str
    chain: str
    rule: int
    target: str

    def __str__(self) -> str:
        if self.rule == 0:
            return f"{self.table} {self.chain} policy {self.target}"
        return f"{self.table} {self.chain}#{self.rule} {self.target}"


# -- interval sets ------------------------------------------------------------

def _normal(pieces: list[tuple[int, int]]) -> Intervals:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(pieces):
        if lo > hi:
            continue
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return tuple(out)


def _intersect(a: Intervals, b: Intervals) -> Intervals:
    out = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def _complement(a: Intervals, top: int) -> Intervals:
    out = []
    start = 0
    for lo, hi in a:
        if lo > start:
            out.append((start, lo - 1))
        start = hi + 1
    if start <= top:
        out.append((start, top))
    return tuple(out)


# -- mark patterns --------------------------------------------------------------------

def _compact(patterns: list[tuple[int, int]]) -> Patterns:
    """Disjoint patterns, sorted, with each pair that differs in one cared bit merged."""
    if len(patterns) < 2:
        return tuple(patterns)
    found = set(patterns)
    merged = True
    while merged:
        merged = False
        for value, care in sorted(found):
            if (value, care) not in found:
                continue
            bits = care
            while bits:
                bit = bits & -bits
                bits ^= bit
                sibling = (value ^ bit, care)
                if sibling in found:
                    found -= {(value, care), sibling}
                    found.add((value & ~bit, care & ~bit))
                    merged = True
                    break
    return tuple(sorted(found))


def _pattern_meet(a: Patterns, b: Patterns) -> Patterns:
    if a == ANY_MARK or b == ANY_MARK:  # the common case: most cubes leave marks free
        return b if a == ANY_MARK else a
    return _compact([(va | vb, ca | cb) for va, ca in a for vb, cb in b
                     if not (va ^ vb) & ca & cb])


def _pattern_minus_one(p: tuple[int, int], q: tuple[int, int]) -> list[tuple[int, int]]:
    """``p`` without ``q``: one disjoint pattern per bit ``q`` cares about and ``p`` not."""
    (value, care), (q_value, q_care) = p, q
    if (value ^ q_value) & care & q_care:
        return [p]
    out = []
    free = q_care & ~care
    while free:
        bit = free & -free
        free ^= bit
        out.append((value | (~q_value & bit), care | bit))  # differs from q at this bit
        value, care = value | (q_value & bit), care | bit  # agrees, on to the next
    return out


def _pattern_minus(a: Patterns, b: Patterns) -> Patterns:
    pieces = list(a)
    for q in b:
        pieces = [r for p in pieces for r in _pattern_minus_one(p, q)]
    return _compact(pieces)


def _preimage(wanted: Patterns, kept: int, flipped: int) -> Patterns:
    """The sent marks whose image under ``x -> (x & kept) ^ flipped`` is in ``wanted``."""
    if kept == v.MAX_U32 and not flipped:
        return wanted
    out = []
    for value, care in wanted:
        if (flipped ^ value) & care & ~kept:  # a bit the map sets is not the wanted one
            continue
        out.append(((value ^ flipped) & care & kept, care & kept))
    return _compact(out)


def meet(f: int, a: Intervals, b: Intervals) -> Intervals:
    """Field ``f``'s values in both ``a`` and ``b`` (patterns for the mark)."""
    return _pattern_meet(a, b) if f == MARK else _intersect(a, b)


def _minus(f: int, a: Intervals, b: Intervals) -> Intervals:
    return _pattern_minus(a, b) if f == MARK else _intersect(a, _complement(b, 1 << 200))


def _marks(piece: Piece, connection: bool) -> tuple[int, int]:
    """(kept, flipped): the packet's or the connection's mark as a map of the sent mark."""
    fixed = dict(piece[1])
    if connection:
        return fixed.get(CT_MARK_KEPT, 0), fixed.get(CT_MARK, 0)
    return fixed.get(MARK_KEPT, v.MAX_U32), fixed.get(MARK, 0)


def _set_marks(piece: Piece, connection: bool, kept: int, flipped: int) -> Piece:
    fields = (CT_MARK_KEPT, CT_MARK) if connection else (MARK_KEPT, MARK)
    return _set(_set(piece, fields[0], kept & v.MAX_U32), fields[1], flipped & v.MAX_U32)


# -- the universe of one analysis ---------------------------------------------------

@dataclass
class Universe:
    """The fields' ranges for one family, and the interface names by index (0: none)."""

    family: int
    interfaces: list[str]
    local: tuple[int, ...] = ()  # the host's addresses (a witness's source, if it may)
    tops: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        address = (1 << (32 if self.family == 4 else 128)) - 1
        names = len(self.interfaces) - 1
        self.tops = (address, address, 255, 65535, 65535, names, names, v.MAX_ID + 1,
                     v.MAX_ID + 1, v.MAX_U32)

    def full(self) -> Cube:
        return tuple(ANY_MARK if f == MARK else ((0, top),) for f, top in enumerate(self.tops))

    def interface_set(self, pattern: str) -> Intervals:
        prefix = pattern[:-1] if pattern.endswith("+") else None
        return _normal([(i, i) for i, name in enumerate(self.interfaces) if i and (
            name.startswith(prefix) if prefix is not None else name == pattern)])

    def index(self, name: str | None) -> int:
        return 0 if name is None else self.interfaces.index(name)


def universe_for(ruleset: Ruleset | NftRuleset, host: Host, extra: tuple[str, ...] = (),
                 also: tuple[Ruleset | NftRuleset, ...] = (), family: int | None = None
                 ) -> Universe:
    """Every interface name the rules (``ruleset``'s and ``also``'s), the host or ``extra``
    mention, and for each wildcard ``x+`` and for all else a name that stands for the
    names not mentioned (``family``: an nftables ruleset's, which holds both)."""
    names: set[str] = {"lo", host.default_interface, *(i.name for i in host.interfaces)}
    names.update(extra)
    wildcards: set[str] = set()
    for rules in (ruleset, *also):
        for name in interface_names(rules):
            if name.endswith("+"):
                wildcards.add(name[:-1])
            else:
                names.add(name)
    stand_ins = {f"{prefix}0other" for prefix in wildcards} | {"other0"}
    family = ruleset.family if isinstance(ruleset, Ruleset) else family or 4
    local = tuple(int(a.ip) for name, a in host.addresses(family) if name != "lo")
    return Universe(family, ["", *sorted(names | stand_ins)], local)


def interface_names(ruleset: Ruleset | NftRuleset) -> set[str]:
    """The interface names a ruleset's rules name (``x+`` for a wildcard)."""
    if not isinstance(ruleset, Ruleset):
        from ._nft_space import interface_names as nft_names

        return nft_names(ruleset)
    found: set[str] = set()
    for table in ruleset.tables:
        for chain in table.chains:
            for rule in chain.rules:
                base = rule.match(BASE_MODULE)
                for option in base.options if base else ():
                    if option.name in ("in-interface", "out-interface"):
                        found.add(option.value)
    return found


# -- what a rule's criteria ask, as constraints -----------------------------------

Constraint = tuple[tuple[int, Intervals], ...]  # a conjunction: field -> allowed values


def _address(text: str, family: int) -> Intervals:
    _, value, mask = v.network_bits(text)
    top = (1 << (32 if family == 4 else 128)) - 1
    return ((value, value | (top ^ mask)),)


def _ports(text: str, sep: str = ",") -> Intervals:
    return _normal([v.port_bounds(item) for item in text.split(sep)])


def _maybe_not(values: Intervals, negated: bool, top: int) -> Intervals:
    return _complement(values, top) if negated else values


def constraints(rule: Rule, universe: Universe, table: str = "") -> list[Constraint]:
    """The rule's criteria in ``table`` as a union of conjunctions (raises
    :class:`CannotProve`)."""
    tops = universe.tops
    where = rule.location or Location("<rules>", 0)
    parts: list[tuple[int, Intervals]] = []
    alternatives: list[Constraint] = [()]
    for match in rule.matches:
        if match.module == BASE_MODULE:
            for o in match.options:
                if o.name in ("source", "destination"):
                    f = SRC if o.name == "source" else DST
                    parts.append((f, _maybe_not(_address(o.value, universe.family),
                                                o.negated, tops[f])))
                elif o.name in ("in-interface", "out-interface"):
                    f = IN if o.name == "in-interface" else OUT
                    wanted = universe.interface_set(o.value)
                    # No interface (index 0) matches neither a name nor its negation.
                    parts.append((f, _intersect(_maybe_not(wanted, o.negated, tops[f]),
                                                ((1, tops[f]),))))
                elif o.name == "protocol":
                    if o.value == "all":
                        wanted = ((0, 255),)
                    elif o.value.isdigit():
                        wanted = ((int(o.value), int(o.value)),)
                    elif o.value in PROTOCOLS:
                        wanted = ((PROTOCOLS[o.value],) * 2,)
                    else:
                        raise CannotProve(where, f"protocol {o.value}")
                    parts.append((PROTO, _maybe_not(wanted, o.negated, 255)))
                elif o.name == "fragment":
                    if not o.negated:  # a first packet is never a non-first fragment
                        return []
                else:
                    raise CannotProve(where, f"criterion {o.name}")
        else:
            found = _module(match, universe, where, table)
            if found is None:
                return []
            if isinstance(found, list):  # a disjunction (multiport --ports)
                alternatives = [a + b for a in alternatives for b in found]
            else:
                parts.extend(found)
    return [tuple(parts) + a for a in alternatives]


def _module(match: Match, universe: Universe, where: Location,
            table: str) -> tuple[tuple[int, Intervals], ...] | list[Constraint] | None:
    """A match module's constraint (``None``: it never matches a first packet)."""
    tops = universe.tops
    name = match.module
    if name == "comment":
        return ()
    if name in ("tcp", "udp"):
        out = []
        for o in match.options:
            if o.name in ("sport", "dport"):
                f = SPORT if o.name == "sport" else DPORT
                out.append((f, _maybe_not(_ports(o.value, ","), o.negated, 65535)))
            elif o.name == "tcp-flags":
                raise CannotProve(where, "--tcp-flags (the first packet's flags are not a "
                                  "field of the analysis)")
            else:
                raise CannotProve(where, f"--{o.name}")
        return tuple(out)
    if name == "multiport":
        o = match.options[0]
        ports = _ports(o.value)
        if o.name in ("sports", "source-ports"):
            return ((SPORT, _maybe_not(ports, o.negated, 65535)),)
        if o.name in ("dports", "destination-ports"):
            return ((DPORT, _maybe_not(ports, o.negated, 65535)),)
        if o.negated:  # neither port in the list
            return ((SPORT, _complement(ports, 65535)), (DPORT, _complement(ports, 65535)))
        return [((SPORT, ports),), ((DPORT, ports),)]
    if name == "owner":
        return _owner(match, tops, where)
    if name in ("mark", "connmark"):
        if name == "connmark" and table == "raw":
            raise CannotProve(where, "-m connmark in raw (before conntrack)")
        o = match.options[0]
        value, mask = v.mark_bits(o.value)
        wanted: Patterns = ((value & mask, mask),)
        return ((MARK if name == "mark" else CT_MARK,
                 _pattern_minus(ANY_MARK, wanted) if o.negated else wanted),)
    if name in ("conntrack", "state") and table != "raw" and all(
            o.name in ("ctstate", "state") for o in match.options):
        # Outside raw a first packet's connection is NEW (and DNAT once NAT changed it,
        # which no state list without DNAT and SNAT can tell apart).
        for o in match.options:
            states = set(o.value.split(","))
            if states & {"DNAT", "SNAT"}:
                raise CannotProve(where, f"--{o.name} {o.value}")
            if ("NEW" in states) == o.negated:
                return None
        return ()
    if name == "iprange":
        out = []
        for o in match.options:
            first, _, last = o.value.partition("-")
            f = SRC if o.name == "src-range" else DST
            out.append((f, _maybe_not(((v.address_int(first), v.address_int(last)),),
                                      o.negated, tops[f])))
        return tuple(out)
    if name == "icmp":
        return None if not match.options[0].negated else ()
    raise CannotProve(where, f"-m {name}")


def _owner(match: Match, tops: tuple[int, ...],
           where: Location) -> tuple[tuple[int, Intervals], ...]:
    opts = {o.name: o for o in match.options}
    if "suppl-groups" in opts:
        raise CannotProve(where, "--suppl-groups (supplementary groups)")
    specified = [o for k, o in opts.items() if k in ("uid-owner", "gid-owner", "socket-exists")]
    all_negated = all(o.negated for o in specified)
    out: list[tuple[int, Intervals]] = []
    exists = opts.get("socket-exists")
    if exists is not None and exists.negated:
        return ((UID, ((NO_SOCKET, NO_SOCKET),)),)
    for key, f in (("uid-owner", UID), ("gid-owner", GID)):
        o = opts.get(key)
        if o is None:
            continue
        if not o.value[0].isdigit():
            raise CannotProve(where, f"--{key} {o.value} (a name: its id is known only on "
                              "the node)")
        lo, hi = v.id_bounds(o.value)
        wanted: Intervals = ((lo + 1, hi + 1),)
        # Without a socket the match holds only when every criterion is negated.
        out.append((f, _complement(wanted, tops[f]) if o.negated else wanted))
    if not all_negated:
        out.append((UID, ((1, tops[UID]),)))
    return tuple(out)


def _split(piece: Piece, constraint: Constraint) -> tuple[Piece | None, list[Piece]]:
    """``piece`` as (the part meeting ``constraint``, disjoint pieces of the rest)."""
    cube, overrides = piece
    fixed = dict(overrides)
    inside = list(cube)
    rest: list[Piece] = []
    for f, allowed in constraint:
        if f in (MARK, CT_MARK):  # on the mark now: a condition on the mark as sent
            allowed = _preimage(allowed, *_marks(piece, f == CT_MARK))
            f = MARK
        elif f in fixed:  # a value a target set: all of the piece meets it, or none
            if not any(lo <= fixed[f] <= hi for lo, hi in allowed):
                rest.append((tuple(inside), overrides))
                return None, rest
            continue
        keep = meet(f, inside[f], allowed)
        drop = _minus(f, inside[f], allowed)
        if drop:
            other = list(inside)
            other[f] = drop
            rest.append((tuple(other), overrides))
        if not keep:
            return None, rest
        inside[f] = keep
    return (tuple(inside), overrides), rest


def split(pieces: list[Piece],
          alternatives: list[Constraint]) -> tuple[list[Piece], list[Piece]]:
    """(matching, not matching), each a list of disjoint pieces."""
    matched: list[Piece] = []
    rest = pieces
    for constraint in alternatives:
        left: list[Piece] = []
        for piece in rest:
            inside, outside = _split(piece, constraint)
            if inside is not None:
                matched.append(inside)
            left.extend(outside)
        rest = left
    return matched, rest


def partition(pieces: list[Piece], alternatives: list[Constraint]
              ) -> tuple[list[list[Piece]], list[Piece]]:
    """The pieces of each alternative (an earlier one first) and those of none: what
    :func:`split` gives one alternative after another, made without re-splitting the rest
    once per alternative when the alternatives ask the same fields (a set's or a verdict
    map's elements: thousands of them in kube-proxy's). Elements are grouped field by field
    by their values (a trie): values that do not overlap split each piece once."""
    fields = [f for f, _ in alternatives[0]] if alternatives else []
    if not alternatives or len(alternatives) < 8 or len(set(fields)) != len(fields) or \
            any(f in (MARK, CT_MARK) for f in fields) or \
            any([f for f, _ in a] != fields for a in alternatives) or \
            any(f in dict(p[1]) for p in pieces for f in fields):
        found = []
        for alternative in alternatives:
            hit, pieces = split(pieces, [alternative])
            found.append(hit)
        return found, pieces
    out: list[list[Piece]] = [[] for _ in alternatives]
    rest: list[Piece] = []
    _partition(pieces, list(range(len(alternatives))), alternatives, 0, out, rest)
    return out, rest


def _partition(pieces: list[Piece], members: list[int], alternatives: list[Constraint],
               depth: int, out: list[list[Piece]], rest: list[Piece]) -> None:
    if depth == len(alternatives[members[0]]):
        out[members[0]].extend(pieces)  # the same element twice: the first one holds
        return
    f = alternatives[members[0]][depth][0]
    groups: dict[Intervals, list[int]] = {}
    for i in members:
        groups.setdefault(alternatives[i][depth][1], []).append(i)
    flat = sorted(interval for value in groups for interval in value)
    if any(a[1] >= b[0] for a, b in itertools.pairwise(flat)):  # overlapping: one by one
        for i in members:
            hit, pieces = split(pieces, [alternatives[i][depth:]])
            out[i].extend(hit)
        rest.extend(pieces)
        return
    for value, group in groups.items():
        inside = [(_with_values(cube, f, part), overrides) for cube, overrides in pieces
                  if (part := _intersect(cube[f], value))]
        if inside:
            _partition(inside, group, alternatives, depth + 1, out, rest)
    outside = _complement(_normal(flat), 1 << 200)
    rest.extend((_with_values(cube, f, part), overrides) for cube, overrides in pieces
                if (part := _intersect(cube[f], outside)))


def _set(piece: Piece, f: int, value: int) -> Piece:
    """``piece`` after a target set field ``f`` to ``value``."""
    return piece[0], tuple(sorted({**dict(piece[1]), f: value}.items()))


# -- walking the chains -----------------------------------------------------------

@dataclass
class Exploration:
    """What a set of packets does at one hook: for each rule the packets that reach it
    and those it matches, and for each table where each packet's walk ends."""

    universe: Universe
    hook: str
    reached: dict[tuple[str, str, int], list[Piece]] = field(default_factory=dict)
    matched: dict[tuple[str, str, int], list[Piece]] = field(default_factory=dict)
    decisions: dict[Decision, list[Piece]] = field(default_factory=dict)
    returns: list[Decision] = field(default_factory=list)
    # Where walks ended (ENDED indexes it), and the packets the whole hook accepts (set
    # when every table or base chain of the hook was walked).
    endings: list[Decision] = field(default_factory=list)
    final: list[Piece] = field(default_factory=list)
    _ending_index: dict[Decision, int] = field(default_factory=dict, repr=False)

    def ending(self, decision: Decision, piece: Piece) -> Decision:
        """Where ``piece``'s walk ended as a person says it: at the RETURN that sent it
        back to a policy, else at ``decision``."""
        tag = dict(piece[1]).get(RETURNED)
        return self.returns[tag] if decision.rule == 0 and tag is not None else decision

    def decide(self, decision: Decision, recorded: list[Piece],
               going: list[Piece] | None = None) -> list[Piece]:
        """Record that the walk of ``recorded`` ends at ``decision``; returns ``going`` (the
        pieces that go on, default ``recorded``) tagged with where they ended (ENDED), a
        decision that changed something outranking a later one that did not."""
        self.decisions.setdefault(decision, []).extend(recorded)
        out = []
        for piece in recorded if going is None else going:
            ending = self.ending(decision, piece)
            earlier = dict(piece[1]).get(ENDED)
            if earlier is not None and _plain(ending) and not _plain(self.endings[earlier]):
                out.append(piece)
                continue
            index = self._ending_index.get(ending)
            if index is None:
                index = self._ending_index[ending] = len(self.endings)
                self.endings.append(ending)
            out.append(_set(piece, ENDED, index))
        return out

    def hook_endings(self) -> list[tuple[Decision, Decision, Piece]]:
        """Every piece at the end of the hook: those the hook accepts (``final``) and those
        a table or base chain dropped, each with where its walk ended as a person says it
        (:meth:`ending`) and the decision that gives its verdict."""
        out = []
        for decision, pieces in sorted(self.decisions.items()):
            for piece in pieces:
                if decision.target.upper() in ("DROP", "REJECT") or DROPPED in dict(piece[1]):
                    out.append((self.ending(decision, piece), decision, piece))
        for piece in self.final:
            tag = dict(piece[1]).get(ENDED)
            shown = self.endings[tag] if tag is not None else Decision("", self.hook, 0,
                                                                        "ACCEPT")
            out.append((shown, shown, piece))
        return out


def _plain(decision: Decision) -> bool:
    """A decision that lets the packet go on unchanged (accept, return, a policy)."""
    return decision.target.upper() in ("ACCEPT", "RETURN")


class _Walker:
    def __init__(self, ruleset: Ruleset, host: Host, result: Exploration) -> None:
        self.ruleset = ruleset
        self.host = host
        self.result = result
        self.universe = result.universe
        self.cache: dict[int, list[Constraint]] = {}
        self.evaluations = 0

    def _constraints(self, rule: Rule, table: str) -> list[Constraint]:
        key = id(rule)
        if key not in self.cache:
            self.cache[key] = constraints(rule, self.universe, table)
        return self.cache[key]

    def table(self, table: str, cubes: list[Piece]) -> list[Piece]:
        """Walk ``table`` at the hook; returns the packets that go on (accepted, changed
        as NAT and MARK left them)."""
        chain = self.ruleset.chain(table, self.result.hook)
        if chain is None or not cubes:
            return cubes
        going_on: list[Piece] = []
        left = self.chain(table, chain, cubes, going_on, 0)
        policy = chain.policy or "ACCEPT"
        if left:
            left = self.result.decide(Decision(table, chain.name, 0, policy), left)
            if policy == "ACCEPT":
                going_on.extend(left)
        return going_on

    def chain(self, table: str, chain: Chain, cubes: list[Piece], going_on: list[Piece],
              depth: int) -> list[Piece]:
        """Walk ``chain``; returns the packets that fall off its end or RETURN."""
        self.enter(chain, depth)
        returned: list[Piece] = []
        for number, rule in enumerate(chain.rules, start=1):
            if not cubes:
                break
            key = (table, chain.name, number)
            where = rule.location or Location(self.ruleset.source, 0)
            self.reach(key, where, cubes)
            alternatives = self._constraints(rule, table)
            hit, cubes = split(cubes, alternatives)
            self.bounded(where, chain.name, cubes, hit)
            if not hit:
                continue
            self.result.matched.setdefault(key, []).extend(hit)
            target = rule.target
            if target is None:
                cubes = cubes + hit
                continue
            if target.is_chain:
                sub = self.ruleset.chain(table, target.name)
                assert sub is not None
                back = self.chain(table, sub, hit, going_on, depth + 1)
                if target.goto:
                    returned.extend(back)
                else:
                    cubes = cubes + back
                continue
            name = target.name
            if name == "RETURN":
                returned.extend(self.returning(key, "RETURN", hit))
                continue
            if name in _NON_TERMINAL_NO_CHANGE:
                cubes = cubes + hit
                continue
            if name in ("MARK", "CONNMARK"):
                cubes = cubes + self._mark(rule, table, hit)
                continue
            if name == "CT" and all(o.name in _CT_ZONE for o in target.options):
                cubes = cubes + hit  # a conntrack zone: no field of the analysis changes
                continue
            where = rule.location or Location(self.ruleset.source, 0)
            going: list[Piece] = []
            if name in ("REDIRECT", "DNAT"):
                hit, going = self._nat(rule, hit, where)
            elif name == "TPROXY":
                hit = going = self._tproxy(rule, hit, where)
            elif name == "ACCEPT":
                going = hit
            elif name not in ("DROP", "REJECT"):
                raise CannotProve(where, f"target {name}")
            # (A NAT decision holds the packets as the target left them.)
            decision = Decision(table, chain.name, number, name)
            going_on.extend(self.result.decide(decision, hit, going))
        return returned + cubes

    def enter(self, chain: Chain | NftChain, depth: int) -> None:
        """Stop, naming the chain, when jumps nest deeper than MAX_DEPTH."""
        if depth > MAX_DEPTH:
            raise ChainwalkError([Problem(chain.location or Location(self.ruleset.source, 0),
                                          f"chain {chain.name}: jumps nest deeper than "
                                          f"{MAX_DEPTH}")])

    def reach(self, key: tuple[str, str, int], where: Location, pieces: list[Piece]) -> None:
        """Record ``pieces`` as reaching rule ``key`` (table, chain, number); stop, naming
        the chain, past MAX_EVALUATIONS rule evaluations in all."""
        self.result.reached.setdefault(key, []).extend(pieces)
        self.evaluations += len(pieces)
        if self.evaluations > MAX_EVALUATIONS:
            raise ChainwalkError([Problem(
                where, f"chain {key[1]}: the symbolic analysis needs more than "
                f"{MAX_EVALUATIONS} rule evaluations", None,
                "fewer nested jumps or a narrower description")])

    def returning(self, key: tuple[str, str, int], target: str, hit: list[Piece]
                  ) -> list[Piece]:
        """``hit``, tagged as returning from rule ``key`` by ``target`` (the decision
        recorded, for the caller to resume after the jump)."""
        tag = len(self.result.returns)
        self.result.returns.append(Decision(*key, target))
        return [_set(piece, RETURNED, tag) for piece in hit]

    def bounded(self, where: Location, chain: str, cubes: list[Piece], hit: list[Piece]) -> None:
        """Stop, naming the chain, when a rule left more classes or mark patterns than the
        bounds."""
        if len(cubes) + len(hit) > MAX_CUBES:
            raise ChainwalkError([Problem(
                where, f"chain {chain}: the symbolic analysis needs more than {MAX_CUBES} "
                "packet classes", None, "a smaller ruleset or a narrower description")])
        if max((len(piece[0][MARK]) for piece in (*cubes, *hit)), default=0) > \
                MAX_MARK_PATTERNS:
            raise ChainwalkError([Problem(
                where, f"chain {chain}: the symbolic analysis needs more than "
                f"{MAX_MARK_PATTERNS} mark patterns in one packet class", None,
                "fewer distinct mark masks or a narrower description")])

    def _mark(self, rule: Rule, table: str, cubes: list[Piece]) -> list[Piece]:
        """The packets after MARK or CONNMARK: each piece's mark maps composed with the
        target's (see the module's docstring)."""
        assert rule.target is not None
        options = {o.name: o.value for o in rule.target.options}
        where = rule.location or Location(self.ruleset.source, 0)
        if "set-xmark" in options:
            value, mask = v.mark_bits(options["set-xmark"])
        connection = rule.target.name == "CONNMARK"
        if connection and table == "raw":
            raise CannotProve(where, "CONNMARK in raw (before conntrack)")
        out = []
        for piece in cubes:
            kept, flipped = _marks(piece, False)
            ct_kept, ct_flipped = _marks(piece, True)
            if "set-xmark" in options:  # x -> (x & ~mask) ^ value
                if connection:
                    piece = _set_marks(piece, True, ct_kept & ~mask, (ct_flipped & ~mask) ^ value)
                else:
                    piece = _set_marks(piece, False, kept & ~mask, (flipped & ~mask) ^ value)
            else:
                nfmask, ctmask = int(options["nfmask"], 16), int(options["ctmask"], 16)
                if "save-mark" in options:  # ct = (ct & ~ctmask) ^ (mark & nfmask)
                    piece = _set_marks(piece, True, (ct_kept & ~ctmask) ^ (kept & nfmask),
                                       (ct_flipped & ~ctmask) ^ (flipped & nfmask))
                else:  # restore: mark = (mark & ~nfmask) ^ (ct & ctmask)
                    piece = _set_marks(piece, False, (kept & ~nfmask) ^ (ct_kept & ctmask),
                                       (flipped & ~nfmask) ^ (ct_flipped & ctmask))
            out.append(piece)
        return out

    def _tproxy(self, rule: Rule, cubes: list[Piece], where: Location) -> list[Piece]:
        """The packets after TPROXY on a host whose sockets are not known: marked and
        accepted, as ``_targets`` decides (with known sockets, whether a transparent
        listener takes them is not decided here)."""
        assert rule.target is not None
        options = {o.name: o.value for o in rule.target.options}
        value, mask = v.mark_bits(options["tproxy-mark"])
        return self.tproxy(int(options["on-port"]), value, mask, cubes, where)

    def tproxy(self, port: int, value: int, mask: int, cubes: list[Piece],
               where: Location) -> list[Piece]:
        """The packets handed to the transparent listener on ``port``, their mark set to
        ``value`` under ``mask``."""
        if self.host.socket_list() is not None:
            raise CannotProve(where, "TPROXY towards the host's listening sockets")
        out = []
        for piece in cubes:
            kept, flipped = _marks(piece, False)
            piece = _set(piece, TPROXY_PORT, port)
            out.append(_set_marks(piece, False, kept & ~mask, (flipped & ~mask) ^ value))
        return out

    def _nat(self, rule: Rule, cubes: list[Piece],
             where: Location) -> tuple[list[Piece], list[Piece]]:
        """The packets after REDIRECT or DNAT (a new destination and port), and those of
        them that go on once rerouted."""
        assert rule.target is not None
        options = {o.name: o.value for o in rule.target.options}
        if rule.target.name == "REDIRECT":
            return self.rewrite(None, options.get("to-ports"), cubes, where)
        text = options.get("to-destination", "")
        address, ports = _host_port(text)
        if not address or "-" in address:
            raise CannotProve(where, f"DNAT --to-destination {text}")
        return self.rewrite(address, ports, cubes, where)

    def rewrite(self, address: str | None, ports: str | None, cubes: list[Piece],
                where: Location) -> tuple[list[Piece], list[Piece]]:
        """The packets after a destination NAT to ``address`` (``None``: REDIRECT's, by
        the hook) and ``ports``, and those of them that go on once rerouted."""
        if address is None:
            if self.result.hook != "OUTPUT":
                return self._redirect_in(cubes, ports, where)
            address = "127.0.0.1" if self.universe.family == 4 else "::1"
        if ports and ("-" in ports or ":" in ports.strip("[]")):
            raise CannotProve(where, f"a port range {ports}")
        out = []
        # Rerouted after nat OUTPUT: a loopback source may not leave on another interface
        # (dropped); the rest of OUTPUT still sees the old output interface.
        route = route_output(self.host, address) if self.result.hook == "OUTPUT" else None
        sources = _complement(loopback(self.universe.family), self.universe.tops[SRC]) \
            if route is not None and route.interface not in ("lo", None) else None
        changed = []
        for cube, overrides in cubes:
            piece = _set((cube, overrides), DST, int(ipaddress.ip_address(address)))
            if ports:
                piece = _set(piece, DPORT, int(ports))
            if sources is not None:  # (the loopback sources: dropped, unroutable)
                martian = _intersect(cube[SRC], loopback(self.universe.family))
                if martian:
                    changed.append(_set((_with_values(cube, SRC, martian), piece[1]),
                                        DROPPED, 1))
                kept = _intersect(cube[SRC], sources)
                if not kept:
                    continue
                piece = (_with_values(cube, SRC, kept), piece[1])
            changed.append(piece)
            out.append(piece)
        return changed, out


    def _redirect_in(self, cubes: list[Piece], ports: str | None,
                     where: Location) -> tuple[list[Piece], list[Piece]]:
        """REDIRECT at PREROUTING: to the primary address of the incoming interface, one
        piece per interface; an interface without an address drops the packet."""
        if ports and ("-" in ports or ":" in ports):
            raise CannotProve(where, f"a port range {ports}")
        changed: list[Piece] = []
        going: list[Piece] = []
        for cube, overrides in cubes:
            for lo, hi in cube[IN]:
                for index in range(lo, hi + 1):
                    piece = (tuple(((index, index),) if f == IN else cube[f]
                                   for f in range(len(cube))), overrides)
                    address = primary_address(self.host, self.universe.interfaces[index],
                                              self.universe.family) if index else None
                    if address is None:
                        changed.append(_set(piece, DROPPED, 1))
                        continue
                    piece = _set(piece, DST, int(ipaddress.ip_address(address)))
                    if ports:
                        piece = _set(piece, DPORT, int(ports))
                    changed.append(piece)
                    going.append(piece)
        return changed, going


def _host_port(text: str) -> tuple[str, str]:
    if text.startswith("["):
        address, _, rest = text[1:].partition("]")
        return address, rest.lstrip(":")
    if text.count(":") == 1:
        address, _, port = text.partition(":")
        return address, port
    return text, ""


def _with_values(cube: Cube, f: int, values: Intervals) -> Cube:
    return tuple(values if g == f else cube[g] for g in range(len(cube)))


def _with(cube: Cube, f: int, value: int) -> Cube:
    out = list(cube)
    out[f] = ((value, value),)
    return tuple(out)


def start(universe: Universe, host: Host, hook: str, described: list[Cube]) -> list[Piece]:
    """``described`` as the hook sees it: at OUTPUT the output interface is the route's
    (split by destination), there is no input interface; at PREROUTING no socket and no
    output interface."""
    if host.local_marks and hook == "OUTPUT":  # a mark that changes the route, rerouted
        raise CannotProve(Location("<host>", 0), "policy routing by mark")
    out: list[Cube] = []
    for cube in described:
        cube = _with(cube, IN, 0) if hook == "OUTPUT" else cube
        if hook == "PREROUTING":
            cube = _with(_with(_with(cube, OUT, 0), UID, NO_SOCKET), GID, NO_SOCKET)
            inside = _intersect(cube[IN], ((1, universe.tops[IN]),))
            if inside:
                out.append(tuple(inside if f == IN else cube[f] for f in range(len(cube))))
            continue
        lo = universe.index("lo")
        for interface, destinations in routes(universe, host):
            dst = _intersect(cube[DST], destinations)
            if dst:
                piece = list(cube)
                piece[DST] = dst
                piece[OUT] = _intersect(cube[OUT], ((interface, interface),))
                if interface != lo:  # a loopback source never leaves lo (a martian)
                    piece[SRC] = _intersect(piece[SRC], _complement(
                        loopback(universe.family), universe.tops[SRC]))
                if piece[OUT] and piece[SRC]:
                    out.append(tuple(piece))
    # A socket has a uid and a gid, or neither: split so that no cube mixes them.
    consistent: list[Piece] = []
    for cube in out:
        for pair in (((NO_SOCKET, NO_SOCKET),), ((1, universe.tops[UID]),)):
            uid, gid = _intersect(cube[UID], pair), _intersect(cube[GID], pair)
            if uid and gid:
                piece = list(cube)
                piece[UID], piece[GID] = uid, gid
                consistent.append((tuple(piece), ()))
    return consistent


def loopback(family: int) -> Intervals:
    return _address("127.0.0.0/8", 4) if family == 4 else ((1, 1),)


def routes(universe: Universe, host: Host) -> list[tuple[int, Intervals]]:
    """The destinations by output interface at OUTPUT, as ``_routing.route_output``
    decides: local addresses on lo, each connected prefix on its interface, the rest on
    the default interface."""
    family = universe.family
    top = universe.tops[DST]
    local: list[tuple[int, int]] = []
    if family == 4:
        local.append(_address("127.0.0.0/8", 4)[0])
    for _, a in host.addresses(family):
        local.append((int(a.ip), int(a.ip)))
    taken = _normal(local)
    out = [(universe.index("lo"), taken)]
    for name, a in host.addresses(family):
        if name == "lo":
            continue
        net = _intersect(((int(a.network.network_address), int(a.network.broadcast_address)),),
                         _complement(taken, top))
        if net:
            out.append((universe.index(name), net))
            taken = _normal([*taken, *net])
    if host.interface(host.default_interface) is not None:
        out.append((universe.index(host.default_interface), _complement(taken, top)))
    return out


def explore(ruleset: Ruleset | NftRuleset, host: Host, hook: str, described: list[Cube],
            universe: Universe, last_table: str = "") -> Exploration:
    """Every rule reached and every decision, in each table of ``hook`` (up to
    ``last_table``: later tables cannot change its decisions), for the first packets in
    ``described`` (raises :class:`CannotProve` or, past the bounds, :class:`ChainwalkError`).
    An nftables ruleset is walked by ``_nft_space`` (every base chain of the hook)."""
    from ._trace import HOOK_TABLES

    if not isinstance(ruleset, Ruleset):
        from ._nft_space import explore_nft

        return explore_nft(ruleset, host, hook, described, universe)
    result = Exploration(universe, hook)
    walker = _Walker(ruleset, host, result)
    cubes = start(universe, host, hook, described)
    for table in HOOK_TABLES[hook]:
        # Without a rule that turns connection tracking on, nat is never consulted.
        if table != "nat" or ruleset.tracks_connections:
            cubes = walker.table(table, cubes)
        if table == last_table:
            break
    else:
        result.final = cubes
    return result


# -- witnesses ----------------------------------------------------------------------

_NICE = {PROTO: (6, 17), SPORT: (40000,), DPORT: (80, 8080, 9080), UID: (1001, 1338),
         GID: (1001, 1338)}
# Addresses a reader recognises: documentation ones (RFC 5737, RFC 3849), loopback.
_NICE_ADDRESSES = {4: (int(ipaddress.IPv4Address("203.0.113.10")), 0x7F000001),
                   6: (int(ipaddress.IPv6Address("2001:db8::10")), 1)}


def witness(piece: Piece, universe: Universe, hook: str = "OUTPUT") -> dict[str, int]:
    """One packet of ``piece`` as sent, by field (a value readers know where there is
    one: the host's own address as the source of what it sends, not of what arrives)."""
    cube = piece[0]
    out = {}
    for f, values in enumerate(cube):
        if f == MARK:  # a pattern's value (its free bits 0) is one of its marks
            out[FIELDS[f]] = values[0][0]
            continue
        nice = _NICE.get(f, ())
        if f in (SRC, DST):
            nice = _NICE_ADDRESSES[universe.family]
            if hook == "OUTPUT":
                nice = (*universe.local, *nice) if f == SRC else (*nice, *universe.local)
            else:
                nice = nice if f == SRC else (*universe.local, *nice)
        pick = next((n for n in nice if any(lo <= n <= hi for lo, hi in values)), None)
        if pick is None:
            lo, hi = values[0]
            # Not an all-zeros address (a network's own address) when there is another.
            pick = lo + 1 if f in (SRC, DST) and lo < hi and lo % 256 == 0 else lo
        out[FIELDS[f]] = pick
    return out


def witness_packet(piece: Piece, universe: Universe, hook: str) -> Packet:
    """A witness of ``piece`` as a packet that :func:`~._trace.trace` follows."""
    found = witness(piece, universe, hook)
    family = universe.family
    number = {n: p for p, n in reversed(PROTOCOLS.items())}
    protocol = number.get(found["proto"], str(found["proto"]))
    address = ipaddress.IPv4Address if family == 4 else ipaddress.IPv6Address
    socket = found["uid"] != NO_SOCKET
    return Packet(
        dst=str(address(found["dst"])), dport=found["dport"], protocol=protocol,
        src=str(address(found["src"])), sport=found["sport"],
        in_interface=universe.interfaces[found["in"]] or None if hook == "PREROUTING" else None,
        uid=found["uid"] - 1 if socket else None, gid=found["gid"] - 1 if socket else None,
        mark=found["mark"])

