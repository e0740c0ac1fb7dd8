"""The parsed form of an nftables ruleset: tables of families, chains, sets and rules.

A rule is its statements in order (matches, counters, verdicts, NAT...), each a small
typed value. Values are kept in the spelling ``nft list ruleset`` prints (``127.0.0.1``
for ``127.0.0.1/32``, ``0x00000539`` for a mark, ``"lo"`` for an interface), so two
rules the kernel would store alike compare equal. Where a thing came from (file, line,
handle, counters) is kept beside it and left out of comparisons.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .._errors import Location
from .._named import first_named
from ._values import named_ids

if TYPE_CHECKING:
    from ._nft_compile import CompiledNftRule, SetIndex

Family = Literal["ip", "ip6", "inet"]
FAMILIES: tuple[Family, ...] = ("ip", "ip6", "inet")
ChainType = Literal["filter", "nat", "route"]
Hook = Literal["prerouting", "input", "forward", "output", "postrouting"]
HOOKS: tuple[Hook, ...] = ("prerouting", "input", "forward", "output", "postrouting")
Op = Literal["==", "!=", "<", ">", "<=", ">="]
VerdictKind = Literal["accept", "drop", "return", "jump", "goto", "continue"]
NatKind = Literal["redirect", "dnat", "snat", "masquerade"]


# -- expressions: what a match reads ----------------------------------------------------

@dataclass(frozen=True, slots=True)
class Payload:
    """A header field: ``ip saddr``, ``ip6 daddr``, ``tcp dport``, ``th sport``..."""

    protocol: str
    field: str


@dataclass(frozen=True, slots=True)
class Meta:
    """Packet metadata: ``meta mark``, ``meta l4proto``, ``meta skuid``, ``oifname``..."""

    key: str


@dataclass(frozen=True, slots=True)
class Ct:
    """Connection tracking: ``ct state``, ``ct mark``, ``ct zone``."""

    key: str


@dataclass(frozen=True, slots=True)
class Bitwise:
    """``(expr & mask) ^ xor``, the kernel's bitwise expression (``mark & 0xfff``,
    ``ct mark & 0xfffff000 | 0x111``)."""

    expr: Payload | Meta | Ct
    mask: int
    xor: int = 0


@dataclass(frozen=True, slots=True)
class Concat:
    """``ip daddr . tcp dport``: a key made of several fields (sets and maps)."""

    parts: tuple[Payload | Meta | Ct, ...]


@dataclass(frozen=True, slots=True)
class Numgen:
    """``numgen random mod N``: a number drawn at random from 0 to N-1."""

    modulus: int


Expr = Payload | Meta | Ct | Bitwise | Concat | Numgen


# -- right-hand sides -----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SetRef:
    """A named set or map, ``@name``."""

    name: str


#: An element in normal form: ``10.0.0.0/8``, ``80-90``, ``"lo"``, ``10.0.0.1 . 80``.
Element = str
#: A single element, an anonymous set ``{ a, b }`` or a named set.
Right = Element | tuple[Element, ...] | SetRef


# -- statements -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Match:
    left: Expr
    op: Op
    right: Right


@dataclass(slots=True)
class Counter:
    """``counter``; its numbers are what a listing showed, not part of the rule."""

    packets: int = field(default=0, compare=False)
    bytes: int = field(default=0, compare=False)

    def __hash__(self) -> int:
        return hash("counter")


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: VerdictKind
    chain: str | None = None


@dataclass(frozen=True, slots=True)
class Reject:
    with_: str | None = None  # ``with tcp reset``, ``with icmp type ...``


@dataclass(frozen=True, slots=True)
class Nat:
    """``redirect to :P``, ``dnat to A:P``, ``snat to A``, ``masquerade``; ``family`` is
    the ``ip``/``ip6`` an inet table's rule names; ``flags`` such as ``fully-random``."""

    kind: NatKind
    family: str | None = None
    address: str | None = None
    port: str | None = None  # ``P`` or ``P-Q``
    flags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Tproxy:
    family: str | None
    address: str | None
    port: int | None


#: What a set statement stores: a number, or another expression's value.
SetValue = int | Expr


@dataclass(frozen=True, slots=True)
class SetStmt:
    """``meta mark set V``, ``ct mark set V``, ``ct zone set V``."""

    key: Meta | Ct
    value: SetValue


@dataclass(frozen=True, slots=True)
class Log:
    options: tuple[tuple[str, str], ...] = ()  # (name, value in normal form)


@dataclass(frozen=True, slots=True)
class Notrack:
    pass


@dataclass(frozen=True, slots=True)
class Vmap:
    """``KEY vmap { E : VERDICT, ... }`` or ``KEY vmap @map``."""

    key: Expr
    map: tuple[tuple[Element, Verdict], ...] | SetRef


Statement = Match | Counter | Verdict | Reject | Nat | Tproxy | SetStmt | Log | Notrack | Vmap


@dataclass(slots=True)
class NftRule:
    statements: tuple[Statement, ...]
    comment: str | None = None
    handle: int | None = field(default=None, compare=False)
    location: Location | None = field(default=None, compare=False, repr=False)
    _compiled: CompiledNftRule | None = field(default=None, init=False, compare=False,
                                              repr=False)
    _spec: str | None = field(default=None, init=False, compare=False, repr=False)

    @property
    def counter(self) -> Counter | None:
        return next((s for s in self.statements if isinstance(s, Counter)), None)

    @property
    def spec(self) -> str:
        """The rule as ``nft list ruleset`` prints it (without its counter's numbers)."""
        if self._spec is None:
            from ._nft_writer import rule_text

            self._spec = rule_text(self, counters=False)
        return self._spec

    def compiled(self, table: NftTable) -> CompiledNftRule:
        """The rule's checks (named sets are the table's), made on first use."""
        if self._compiled is None:
            from ._nft_compile import compile_rule

            self._compiled = compile_rule(self, table)
        return self._compiled


@dataclass(frozen=True, slots=True)
class BaseHook:
    """What makes a chain a base chain: ``type T hook H priority P; policy X;``."""

    type: ChainType
    hook: Hook
    priority: int
    policy: Literal["accept", "drop"] = "accept"


@dataclass(slots=True)
class NftChain:
    name: str
    base: BaseHook | None
    rules: tuple[NftRule, ...] = ()
    comment: str | None = None
    handle: int | None = field(default=None, compare=False)
    location: Location | None = field(default=None, compare=False, repr=False)


@dataclass(slots=True)
class NftSet:
    """A named set (``data`` None) or map (``data`` the value type, ``verdict`` for a
    verdict map). ``elements`` are keys; a map's are ``(key, value)`` pairs, a verdict
    map's value a :class:`Verdict`."""

    name: str
    key: tuple[str, ...]  # the key's types, ``("ipv4_addr", "inet_service")``
    data: str | None = None
    flags: tuple[str, ...] = ()
    elements: tuple[Element | tuple[Element, Element | Verdict], ...] = ()
    comment: str | None = None
    handle: int | None = field(default=None, compare=False)
    location: Location | None = field(default=None, compare=False, repr=False)
    _index: SetIndex | None = field(default=None, init=False, compare=False, repr=False)

    @property
    def is_map(self) -> bool:
        return self.data is not None


@dataclass(slots=True)
class NftTable:
    family: Family
    name: str
    chains: tuple[NftChain, ...] = ()
    sets: tuple[NftSet, ...] = ()
    comment: str | None = None
    handle: int | None = field(default=None, compare=False)
    location: Location | None = field(default=None, compare=False, repr=False)
    by_name: dict[str, NftChain] = field(init=False, compare=False, repr=False)
    sets_by_name: dict[str, NftSet] = field(init=False, compare=False, repr=False)
    # Each match's compiled check, one per distinct match of the table (rules that
    # start alike share it, and the trace tells so by its identity).
    _checks: dict[Any, Any] = field(default_factory=dict, init=False, compare=False,
                                    repr=False)

    def __post_init__(self) -> None:
        self.by_name = {chain.name: chain for chain in self.chains}
        self.sets_by_name = {s.name: s for s in self.sets}

    def chain(self, name: str) -> NftChain | None:
        return self.by_name.get(name)

    def carries(self, family: int) -> bool:
        """Whether packets of IPv``family`` cross this table's base chains."""
        return self.family == "inet" or self.family == ("ip" if family == 4 else "ip6")


@dataclass(slots=True)
class NftRuleset:
    """Every table of an nftables ruleset (all families: one ruleset for IPv4 and IPv6)."""

    tables: tuple[NftTable, ...]
    source: str = field(default="<input>", compare=False)
    _owner_ids: tuple[int, ...] | None = field(default=None, init=False, compare=False,
                                               repr=False)
    # The base chains of each (hook, IP version), in the order a packet crosses them.
    _hooks: dict[tuple[str, int], Any] = field(default_factory=dict, init=False,
                                               compare=False, repr=False)
    # The trace's steps that depend only on the ruleset (a policy, a chain's end, a rule
    # matched with no effect but its jump), made once and shared by later traces.
    _steps: dict[tuple[object, ...], Any] = field(default_factory=dict, init=False,
                                                  compare=False, repr=False)

    def find_table(self, family: str, name: str) -> NftTable | None:
        return next((t for t in self.tables if t.family == family and t.name == name), None)

    def table(self, name: str) -> NftTable | None:
        """The first table called ``name``, whatever its family (as a trace's steps and
        a scenario's expectations name tables)."""
        return first_named(self.tables, name)

    def chain(self, table: str, chain: str) -> NftChain | None:
        found = self.table(table)
        return found.chain(chain) if found else None

    @property
    def owner_ids(self) -> tuple[int, ...]:
        """The uids and gids ``meta skuid``/``skgid`` name, in order."""
        if self._owner_ids is None:
            owners = (s.right for table in self.tables for chain in table.chains
                      for rule in chain.rules for s in rule.statements
                      if isinstance(s, Match) and isinstance(s.left, Meta)
                      and s.left.key in ("skuid", "skgid"))
            self._owner_ids = named_ids(
                value for right in owners
                for value in (right if isinstance(right, tuple) else (right,))
                if isinstance(value, str))
        return self._owner_ids
