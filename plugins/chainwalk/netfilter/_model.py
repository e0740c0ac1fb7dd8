"""The parsed form of a ruleset: frozen values, compared by meaning.

A :class:`Rule` is its criteria (``matches``, the base criteria ``-s -d -i -o -p -f``
first as the pseudo-module ``""``) and its :class:`Target`; every option holds the
spelling ``iptables-save`` prints, so two rules that the kernel would store alike
compare equal. Where a rule came from (file, line, counters) is kept beside it but
left out of comparisons.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .._errors import Location

if TYPE_CHECKING:
    from ._compile import CompiledRule
    from ._trace import ChainIndex

#: Built-in chains of each table, in the order the kernel registers them.
BUILTIN_CHAINS: dict[str, tuple[str, ...]] = {
    "raw": ("PREROUTING", "OUTPUT"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "security": ("INPUT", "FORWARD", "OUTPUT"),
}
TABLES = tuple(BUILTIN_CHAINS)
BASE_MODULE = ""


# A frozen dataclass's __init__ sets each field through object.__setattr__, and even its
# slots' own __set__, called from Python, costs more than many a check: the parser and
# the trace make hundreds of thousands of these objects. A builder class has the same
# fields (the same slots, or a __dict__) and is not frozen: an instance is filled by plain
# assignments, then becomes a ``cls`` by taking its __class__, which Python allows between
# classes of the same layout. The result is the object ``cls(...)`` makes, except that a
# __post_init__ does not run: a user of a builder checks what that would.
def builder(cls: type, names: tuple[str, ...]) -> Any:
    """The builder class of the frozen dataclass ``cls``, whose fields are ``names`` (checked
    here, so that a field added later cannot be left unset)."""
    slots = cls.__dict__.get("__slots__")
    if tuple(f.name for f in fields(cls)) != names or slots not in (None, names):
        raise TypeError(f"{cls.__name__}'s fields changed: update its builder")
    made = type(f"_{cls.__name__}Builder", (), {} if slots is None else {"__slots__": names})
    probe = made()
    probe.__class__ = cls  # TypeError here if the layouts ever differ
    return made


@dataclass(frozen=True, slots=True)
class Option:
    """One option with its values, e.g. ``! --dport 15008`` is ``Option("dport", ("15008",), True)``."""

    name: str
    values: tuple[str, ...] = ()
    negated: bool = False

    @property
    def value(self) -> str:
        return self.values[0] if self.values else ""


@dataclass(frozen=True, slots=True)
class Match:
    """A match module and its options (``module == ""`` holds the base criteria)."""

    module: str
    options: tuple[Option, ...]

    def get(self, name: str) -> Option | None:
        for option in self.options:
            if option.name == name:
                return option
        return None


@dataclass(frozen=True, slots=True)
class Target:
    """What a rule does when it matches: a target extension, or a jump/goto to a chain."""

    name: str
    options: tuple[Option, ...] = ()
    goto: bool = False
    is_chain: bool = False

    def get(self, name: str) -> Option | None:
        for option in self.options:
            if option.name == name:
                return option
        return None


@dataclass(frozen=True)
class Rule:
    """One rule of a chain."""

    matches: tuple[Match, ...]
    target: Target | None
    location: Location | None = field(default=None, compare=False, repr=False)
    counters: tuple[int, int] | None = field(default=None, compare=False, repr=False)

    def match(self, module: str) -> Match | None:
        for match in self.matches:
            if match.module == module:
                return match
        return None

    @cached_property
    def spec(self) -> str:
        """The rule in normal form, without ``-A CHAIN`` (what annotations key on)."""
        from ._writer import rule_spec

        return rule_spec(self)

    @cached_property
    def compiled(self) -> CompiledRule:
        from ._compile import compile_rule

        return compile_rule(self)

    def __getstate__(self) -> dict[str, Any]:  # keep cached closures out of pickles
        return {k: v for k, v in self.__dict__.items() if k not in ("compiled",)}


@dataclass(frozen=True)
class Chain:
    name: str
    policy: str | None  # None for a user-defined chain
    rules: tuple[Rule, ...] = ()
    location: Location | None = field(default=None, compare=False, repr=False)
    counters: tuple[int, int] | None = field(default=None, compare=False, repr=False)

    @property
    def builtin(self) -> bool:
        return self.policy is not None

    @cached_property
    def index(self) -> ChainIndex | None:
        """Where each exact ``-d`` address occurs, for long chains (see ``_trace``)."""
        from ._trace import build_index

        return build_index(self)


@dataclass(frozen=True)
class Table:
    name: str
    chains: tuple[Chain, ...]
    location: Location | None = field(default=None, compare=False, repr=False)

    @cached_property
    def by_name(self) -> dict[str, Chain]:
        return {chain.name: chain for chain in self.chains}

    def chain(self, name: str) -> Chain | None:
        return self.by_name.get(name)


@dataclass(frozen=True)
class Ruleset:
    """Every table of one address family, as one ``iptables-save`` would print them."""

    family: int  # 4 or 6
    tables: tuple[Table, ...]
    source: str = field(default="<input>", compare=False)

    @cached_property
    def by_name(self) -> dict[str, Table]:
        return {table.name: table for table in self.tables}

    def table(self, name: str) -> Table | None:
        return self.by_name.get(name)

    def chain(self, table: str, chain: str) -> Chain | None:
        found = self.by_name.get(table)
        return found.chain(chain) if found else None

    @cached_property
    def tracks_connections(self) -> bool:
        """Whether a rule turns connection tracking on (without one, nat is never run)."""
        from ._extensions import tracks_connections

        return any(tracks_connections(rule) for table in self.tables
                   for chain in table.chains for rule in chain.rules)

    @cached_property
    def owner_ids(self) -> tuple[int, ...]:
        """The uids and gids owner matches name (a range by its bounds), in order."""
        found: set[int] = set()
        for table in self.tables:
            for chain in table.chains:
                for rule in chain.rules:
                    match = rule.match("owner")
                    for option in match.options if match is not None else ():
                        for bound in option.value.split("-") if option.values else ():
                            if bound.isdigit():
                                found.add(int(bound))
        return tuple(sorted(found))
