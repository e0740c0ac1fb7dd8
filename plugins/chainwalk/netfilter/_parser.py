"""Reads ``iptables-save`` output and ``iptables-restore`` input into a :class:`Ruleset`.

Theory of operation: a file is a sequence of table blocks (``*nat`` ... ``COMMIT``).
Each line is split into tokens that remember their column; a rule's tokens are
read left to right against the option tables in ``_extensions`` (the target's
options first, then the loaded match modules, newest first, then the module
``-p`` loads implicitly), exactly the order iptables itself resolves an option.
At ``COMMIT`` the table is checked as the kernel checks it when the batch is
committed: every jump names a chain, no chain jumps back into itself, and every
match and target is used only from the hooks it supports. Problems are
collected, never raised one at a time, so a user sees them all.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache, partial
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any, Final

from .._errors import ChainwalkError, Location, Problem
from .._files import read_text
from . import _values as v
from ._extensions import (
    ALL_HOOKS,
    MODULES,
    PORT_PROTOCOLS,
    REFUSED_IN_TABLE,
    TARGETS,
    ModuleSpec,
    OptionSpec,
    TargetSpec,
    expand_alias,
    normalise_value,
)
from ._model import (
    BASE_MODULE,
    BUILTIN_CHAINS,
    Chain,
    Match,
    Option,
    Rule,
    Ruleset,
    Table,
    Target,
)

if TYPE_CHECKING:
    from pathlib import Path

# iptables-restore ends a line at a line feed only, and separates tokens (and a chain
# line's fields) by spaces and tabs only: a form feed, a carriage return or a no-break
# space is part of a token, quoted or not. A double quote opens a quoted part anywhere in a
# token (inside, a backslash takes the next character as it is); its closing quote ends the
# token, and one never closed takes the rest of the line, line feed included. A single
# quote, and a backslash outside quotes, are characters like any other (add_param_to_argv
# in iptables/xshared.c). Group 1 and 2: the text before the quote and the quoted text.
_TOKEN: Final = re.compile(r'([^ \t"]*)"((?:[^"\\]|\\.)*)(?:"|\\?\Z)|[^ \t"]+')
_ESCAPED: Final = re.compile(r"\\(.)")
_FIELD: Final = re.compile(r"[^ \t]+")
# The whitespace str.split splits at besides spaces, tabs and line feeds (what str.isspace
# says; a test checks the list).
OTHER_SPACES: Final = ("\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2001\u2002\u2003"
                       "\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")

_COUNTERS: Final = re.compile(r"^\[([0-9]+):([0-9]+)\]$")
# The words a command's line may have, after its counters: iptables-restore refuses more
# ("Parser cannot handle more arguments").
_MAX_WORDS: Final = 251
# iptables-restore reads a counter with strtoull: a larger number is kept as this.
_MAX_COUNTER: Final = 2**64 - 1
# What iptables refuses in a new chain's name: more than 28 bytes, "-" or "!" first, and the
# C library's whitespace (isspace) anywhere. Other characters, a no-break space among
# them, are a name's like any other.
_CHAIN_NAME_BYTES: Final = 28
_C_SPACES: Final = frozenset(" \t\n\x0b\x0c\r")

# The base criteria, in the order iptables-save prints them.
_BASE: Final[dict[str, tuple[str, Callable[[str], str] | None]]] = {
    "-s": ("source", v.network), "--source": ("source", v.network), "--src": ("source", v.network),
    "-d": ("destination", v.network), "--destination": ("destination", v.network),
    "--dst": ("destination", v.network),
    "-i": ("in-interface", v.interface), "--in-interface": ("in-interface", v.interface),
    "-o": ("out-interface", v.interface), "--out-interface": ("out-interface", v.interface),
    "-p": ("protocol", v.protocol), "--protocol": ("protocol", v.protocol),
    "-f": ("fragment", None), "--fragment": ("fragment", None),
    "--fragments": ("fragment", None),
}
# iptables' own long options (original_opts in iptables/xtables.c, 1.8.9) and the short
# option each stands for. getopt_long takes any prefix of a long option that is not the
# prefix of another option of another meaning ("--so" is --source; "--s" is ambiguous with
# --set-counters), and "--option=value" for "--option value": so do the options of the
# extensions loaded so far. Options chainwalk does not read (-D, -v...) count for that too.
_GETOPT_BASE: Final = {
    "--append": "A", "--delete": "D", "--check": "C", "--insert": "I", "--replace": "R",
    "--list": "L", "--list-rules": "S", "--flush": "F", "--zero": "Z", "--new-chain": "N",
    "--delete-chain": "X", "--rename-chain": "E", "--policy": "P", "--source": "s",
    "--destination": "d", "--src": "s", "--dst": "d", "--protocol": "p",
    "--in-interface": "i", "--jump": "j", "--table": "t", "--match": "m", "--numeric": "n",
    "--out-interface": "o", "--verbose": "v", "--wait": "w", "--wait-interval": "W",
    "--exact": "x", "--fragments": "f", "--version": "V", "--help": "h",
    "--line-numbers": "0", "--modprobe": "M", "--set-counters": "c", "--goto": "g",
    "--ipv4": "4", "--ipv6": "6",
}
# Those whose value iptables takes from the whole word (argv[optind - 1]), not from after
# "=": "--in-i=x" is the interface "--in-i=x", "--source=10.0.0.1" a host never found. An
# empty interface after "=" is refused first.
_WHOLE_WORD: Final = frozenset({"--source", "--src", "--destination", "--dst", "--protocol",
                                "--in-interface", "--out-interface", "--jump"})
# Those that take no value ("--fragments=1" is refused).
_GETOPT_FLAGS: Final = frozenset({"--numeric", "--verbose", "--exact", "--fragments",
                                  "--version", "--line-numbers", "--ipv4", "--ipv6"})
BASE_ORDER: Final = ("source", "destination", "in-interface", "out-interface", "protocol", "fragment")
# Options whose value is free text: whatever follows them is their value.
_FREE_TEXT: Final = frozenset({"comment", "log-prefix"})

# Reading a rule again by its shape (see _Reader.append_known). A token is "literal" in a
# shape when reading it may depend on its text: anything that looks like an option or "!",
# and the names -m, -j and -p take. Any other token is only ever a value, so two rules whose
# tokens differ only there are read alike: same options, same modules, same target.
_NAMES: Final = frozenset([*MODULES, *TARGETS, *PORT_PROTOCOLS, "icmp", "all", *map(str, range(256))])


_LITERAL_STARTS: Final = "-!"  # and "" (an empty token), which `"" in "-!"` includes


def _has_other_space(text: str) -> bool:
    """Whether ``text`` has whitespace but spaces, tabs and line feeds (a search for each
    character: a regex class of them reads a large text far slower)."""
    return any(space in text for space in OTHER_SPACES)


def _literal(text: str) -> bool:
    return text in _NAMES or text[:1] in _LITERAL_STARTS


@dataclass(slots=True)
class Token:
    """A token of a line and its column (1-based)."""

    text: str
    column: int


# The steps of a recorded reading (see _Reader.append_known), replayed with another rule's
# values. Positions count the rule's tokens from its chain name.

@dataclass(slots=True)
class _SetBase:
    """A base criterion without a value (``-f``)."""

    name: str
    option: Option


@dataclass(slots=True)
class _BaseValue:
    """A base criterion and where its value is (``-d 10.0.0.1``)."""

    name: str
    parse: Callable[[str], str]
    position: int
    token: Token  # the recorded rule's value (``-p`` reads its protocol from it)
    negated: bool


@dataclass(slots=True)
class _ModuleStep:
    """A match module loaded, by ``-m`` or implicitly by ``-p``."""

    spec: ModuleSpec


@dataclass(slots=True)
class _TargetStep:
    """``-j`` or ``-g``, and where the target's name is."""

    spec: TargetSpec | None  # None: a jump or goto to a chain
    position: int
    goto: bool


@dataclass(slots=True)
class _OptionStep:
    """An option of a module or of the target, and where its values start."""

    owner: int  # the module's number among the rule's, or -1 for the target
    spec: OptionSpec
    position: int
    negated: bool


_Step = _SetBase | _BaseValue | _ModuleStep | _TargetStep | _OptionStep
_REMEMBER: Final = 1024  # parts remembered per unit: values that recur do so soon


class _Unread(ValueError):
    """A replayed part has a problem: the rule is read token by token, which reports it."""


@dataclass(slots=True, eq=False)
class _Unit:
    """A match of a rule shape: how to build it from a rule's tokens and ``-p`` option, the
    key of the values it reads, and the matches built so far by those values (most recur:
    ``-p tcp -m tcp --dport 80``, a service's comment, a probability). Units that build
    alike from the same values (the same module and options after the same ``-p``) share
    what they built, whatever their shape. The base criteria and the target are built for
    each rule: their values are mostly the rule's own (addresses, a chain to jump to, a
    DNAT destination), and remembering them cost more than it saved."""

    key: Callable[[list[str]], object]
    built: dict[object, Any]
    build: Callable[[list[str], Option | None], Any]

    def part(self, texts: list[str], proto: Option | None) -> Any:
        """The part a rule's ``texts`` give: as built for an earlier rule, or built now."""
        key = self.key(texts)
        found = self.built.get(key)
        if found is None:
            found = self.build(texts, proto)
            if len(self.built) >= _REMEMBER:
                self.built.clear()
            self.built[key] = found
        return found


class _Shape:
    """The parts of a recorded rule reading, and the modules and targets it uses that
    work only from some hooks (see ``_ChainDraft.uses``)."""

    __slots__ = ("base", "base_parts", "goto", "jump", "literals", "literals_of", "modules",
                 "next", "other", "size", "target", "uses", "values")

    def __init__(self, base: Callable[[list[str]], _BaseParts] | None, base_parts: _BaseParts,
                 modules: tuple[_Unit, ...],
                 target: Callable[[list[str], Option | None], Target] | None,
                 jump: int | None, goto: bool, uses: frozenset[str], size: int) -> None:
        # The base criteria's parts, read from a rule's values (``base``); or, where they
        # read no value (none, -p, -f), the same for every rule (``base_parts``).
        self.base = base
        self.base_parts = base_parts
        self.modules = modules
        # A target extension's part (``target``); or the chain named at ``jump``, jumped to
        # or gone to (``goto``).
        self.target = target
        self.jump = jump
        self.goto = goto
        self.uses = uses
        # A rule's tokens (from "-A") have this shape if they are ``size`` long, their
        # literals (``literals_of``) are ``literals``, none of the tokens at the ``values``
        # positions looks like an option or "!", and the chain a -j or -g names (at
        # ``jump``) is not a name: checked (``fits``) without computing a rule's key (see
        # append_known). The single literal of a shape is taken twice, as a tuple.
        self.size = size
        self.literals_of: Callable[[list[str]], tuple[str, ...]] = tuple
        self.literals: tuple[str, ...] = ()
        self.values: tuple[int, ...] = ()
        # The shape of the rule that came after the last rule of this shape, and another that
        # came after one before: most likely the next one's (kube-proxy's chains repeat a few
        # shapes in turn, its service chains two: n - 1 rules with -m statistic, then one
        # without).
        self.next: _Shape | None = None
        self.other: _Shape | None = None

    @classmethod
    def of(cls, key: tuple[str | None, ...], steps: list[_Step], table: str,
           shared: dict[object, dict[object, Any]]) -> _Shape:
        base_steps: list[_SetBase | _BaseValue] = []
        heads: list[ModuleSpec] = []
        options: list[list[_OptionStep]] = []
        target: _TargetStep | None = None
        target_steps: list[_OptionStep] = []
        for step in steps:
            if isinstance(step, _ModuleStep):
                heads.append(step.spec)
                options.append([])
            elif isinstance(step, _TargetStep):
                target = step
            elif isinstance(step, _OptionStep):
                (options[step.owner] if step.owner >= 0 else target_steps).append(step)
            else:
                base_steps.append(step)
        # The base criteria in iptables-save's order: an option known from the shape (-f, and
        # -p, whose value is a literal) or a value to read. The -p is also what the parts
        # after the base criteria are read with.
        plan: list[tuple[str, Any, Any, bool]] = []
        proto: Option | None = None
        for step in sorted(base_steps, key=lambda s: BASE_ORDER.index(s.name)):
            if isinstance(step, _SetBase):
                plan.append((step.name, None, step.option, False))
            elif step.name == "protocol":
                normal = v.protocol(step.token.text)
                if normal != "all":  # -p all is no criterion (! -p all is not recorded)
                    proto = Option("protocol", (normal,), step.negated)
                    plan.append(("protocol", None, proto, False))
            else:
                plan.append((step.name, step.parse, step.position + 1, step.negated))
        proto_key = None if proto is None else (proto.value, proto.negated)

        def key_of(positions: list[int]) -> Callable[[list[str]], object]:
            # The values the part depends on, as a key: itemgetter is the fastest way. The
            # positions count from the chain name, the texts a replay gets from "-A".
            return itemgetter(*[p + 1 for p in positions]) if positions else _same_key

        base: Callable[[list[str]], _BaseParts] | None = None
        base_parts: _BaseParts = (None, None, None)
        if any(parse is not None for _, parse, _, _ in plan):
            base = partial(_base_part, tuple(plan), proto)
        else:
            base_parts = _base_part(tuple(plan), proto, [])
        modules = tuple(
            _Unit(key_of(_option_positions(steps_)),
                  shared.setdefault(("match", head, proto_key if head.protocols else None,
                                     *[(s.spec, s.negated) for s in steps_]), {}),
                  partial(_match_part, head, _option_plan(steps_)))
            for head, steps_ in zip(heads, options, strict=True))
        uses = {"-m " + head.name for head in heads if head.hooks != ALL_HOOKS}
        target_part: Callable[[list[str], Option | None], Target] | None = None
        jump, goto = None, False
        if target is None:
            pass
        elif target.spec is None:  # -j or -g CHAIN
            jump, goto = target.position + 1, target.goto
        else:
            tspec = target.spec
            if tspec.hooks != ALL_HOOKS:
                uses.add("-j " + tspec.name)
            target_part = partial(_target_part, tspec, table, _option_plan(target_steps))
        # The key is (table, *texts[2:]) with None for values: texts[k + 1] is key[k].
        shape = cls(base, base_parts, modules, target_part, jump, goto, frozenset(uses),
                    len(key) + 1)
        literals = [k + 1 for k, t in enumerate(key) if k and t is not None]
        values = [k + 1 for k, t in enumerate(key) if k and t is None]
        if literals:
            shape.literals_of = itemgetter(*literals * (2 if len(literals) == 1 else 1))
            shape.literals = shape.literals_of([None, *key])
        else:
            shape.literals_of = _no_values
        shape.values = tuple(values)
        return shape

    def fits(self, texts: list[str]) -> bool:
        """Whether a rule's tokens (from "-A", as many as the shape's) are read as this
        shape's. A name where the shape has a value (``--dport 80``, a comment "tcp") is
        read as any other value there; only the name after -j or -g steers the reading (a
        target, or a chain). So a rule may fit a shape whose key differs from its own."""
        if self.literals_of(texts) != self.literals:
            return False
        for position in self.values:
            if texts[position][:1] in _LITERAL_STARTS:
                return False
        return self.jump is None or texts[self.jump] not in _NAMES


# The key of a part that reads no value: one for every rule (bool, called in C, is True for
# any rule's texts, which are never empty).
_same_key: Final[Callable[[list[str]], object]] = bool


def _no_values(texts: list[str]) -> tuple[()]:
    return ()


def _option_positions(steps: list[_OptionStep]) -> list[int]:
    return [p for s in steps for p in range(s.position, s.position + s.spec.arity)]


# How to read one option from a replayed rule's texts: (spec, first value's position among
# the texts from "-A", arity, name stored, whether it is stored as written, negated).
_Plan = tuple[tuple[OptionSpec, int, int, str, bool, bool], ...]


def _option_plan(steps: list[_OptionStep]) -> _Plan:
    return tuple((s.spec, s.position + 1, s.spec.arity, s.spec.canonical,
                  s.spec.name != "syn" and s.spec.store_as != "set-xmark", s.negated)
                 for s in steps)


# The parts of a replayed rule. Each gives what the reading token by token (``rule`` and
# its helpers: base_value, option_value, module_match, rule_target) gives for the same
# values, or raises ``_Unread`` (or ``ValueError``) wherever that reading reports a problem.

# The base criteria's match, the family of their addresses and the -p option.
_BaseParts = tuple[Match | None, int | None, Option | None]


def _base_part(plan: tuple[tuple[str, Any, Any, bool], ...], proto: Option | None,
               texts: list[str]) -> _BaseParts:
    """The base criteria's match, the family of their addresses and the -p option (the
    shape's: the base criteria are read before any)."""
    if not plan:
        return None, None, None
    options = []
    family = None
    for name, parse, value, negated in plan:
        if parse is None:  # -f or -p: the option known from the shape
            options.append(value)
            continue
        normal = parse(texts[value])  # network or interface: a str
        if normal == "+":
            raise _Unread  # an interface that is any interface: base_value leaves it out
        if name == "source" or name == "destination":
            if normal[-2:] == "/0":
                raise _Unread  # matches every address: base_value leaves it out or refuses it
            found = 6 if ":" in normal else 4
            if family is None:
                family = found
            elif found != family:
                raise _Unread  # check_family: an IPv4 and an IPv6 address
        options.append(Option(name, (normal,), negated))
    return Match(BASE_MODULE, tuple(options)), family, proto


def _read_options(plan: _Plan, texts: list[str]) -> list[Option]:
    options: list[Option] = []
    for ospec, start, arity, canonical, plain, negated in plan:
        if arity == 1:
            values: tuple[str, ...] = (normalise_value(ospec, texts[start]),)
        else:
            values = tuple([normalise_value(ospec, t) for t in texts[start:start + arity]])
        if plain:
            option = Option(canonical, values, negated)
        else:
            option = expand_alias(ospec, values)
            if negated:
                option = Option(option.name, option.values, True)
        name = option.name
        for other in options:
            if other.name == name:
                raise _Unread  # given twice in one module
        options.append(option)
    return options


def _match_part(spec: ModuleSpec, plan: _Plan, texts: list[str], proto: Option | None
                ) -> Match:
    options = _read_options(plan, texts)
    if spec.protocols and (proto is None or proto.negated
                           or proto.value not in spec.protocols):
        raise _Unread
    finished = spec.finish(list(options))
    if len(finished) > 1:
        order = spec.order
        finished.sort(key=lambda o: order.get(o.name, 99))
    return Match(spec.name, tuple(finished))


def _target_part(tspec: TargetSpec, table: str, plan: _Plan, texts: list[str],
                 proto: Option | None) -> Target:
    if (tspec.tables and table not in tspec.tables) or (table, tspec.name) in REFUSED_IN_TABLE:
        raise _Unread
    options = _read_options(plan, texts)
    if tspec.protocols_for and (proto is None or proto.value not in PORT_PROTOCOLS) and any(
            o.name in tspec.protocols_for
            and (o.name == "to-ports" or v.nat_range_has_port(o.value)) for o in options):
        raise _Unread
    if tspec.tcp_only and _tcp_only(tspec, options, proto):
        raise _Unread
    finished = tspec.finish(list(options))
    if len(finished) > 1:
        order = tspec.order
        finished.sort(key=lambda o: order.get(o.name, 99))
    return Target(tspec.name, tuple(finished), False, False)


def _counter(digits: str) -> int:
    """A counter as iptables-restore keeps it: at most 2**64 - 1."""
    digits = digits.lstrip("0") or "0"
    return _MAX_COUNTER if len(digits) > 20 else min(int(digits), _MAX_COUNTER)


def tokenize(line: str) -> list[Token]:
    """Split like iptables-restore: spaces and tabs separate, double quotes group."""
    tokens = []
    if '"' not in line and not _has_other_space(line):
        # Without quotes, or whitespace but spaces and tabs, a token is what str.split
        # gives, several times faster than the regex.
        position = 0
        for text in line.split():
            position = line.find(text, position)
            tokens.append(Token(text, position + 1))
            position += len(text)
        return tokens
    for start, text in _quoted_tokens(line):
        tokens.append(Token(text, start + 1))
    return tokens


def _quoted_tokens(line: str) -> list[tuple[int, str]]:
    """Each token of ``line`` (see ``_TOKEN``) as (start, text without its quotes)."""
    found = []
    for m in _TOKEN.finditer(line):
        before, quoted = m.group(1, 2)
        if quoted is None:
            found.append((m.start(), m.group()))
            continue
        whole = m.group()
        closed = whole[-1] == '"' and len(whole) == len(before) + len(quoted) + 2
        text = before + (_ESCAPED.sub(r"\1", quoted) if "\\" in quoted else quoted)
        # A quote never closed takes the rest of the line and its line feed (a rule's line
        # always has one: COMMIT follows it).
        found.append((m.start(), text if closed else text + "\n"))
    return found


def token_texts(line: str) -> list[str]:
    """The texts of ``tokenize(line)`` without their columns, for a line whose only
    whitespace is spaces and tabs (str.split's, which this uses)."""
    if '"' not in line:
        return line.split()
    if "\\" not in line:
        # Double quotes without escapes (kube-proxy's comments): each quoted text standing
        # between spaces is a token of its own, and the rest splits on spaces. The regex is
        # several times slower; it reads anything else (a quote inside a token...).
        parts = line.split('"')
        last = len(parts) - 1
        if last == 2:  # one quoted text, the usual
            before, text, after = parts
            if (before[-1:].isspace() or not before) and (after[:1].isspace() or not after):
                texts = before.split()
                texts.append(text)
                texts += after.split()
                return texts
        elif last % 2 == 0:
            texts = parts[0].split()
            for k in range(1, last, 2):
                before, after = parts[k - 1], parts[k + 1]
                if not ((before[-1:].isspace() or (k == 1 and not before))
                        and (after[:1].isspace() or (k + 1 == last and not after))):
                    break
                texts.append(parts[k])
                texts.extend(after.split())
            else:
                return texts
    return [t for _, t in _quoted_tokens(line)]


_NO_USES: Final[frozenset[str]] = frozenset()


@dataclass(slots=True, eq=False)
class _ChainDraft:
    """A chain of the table being read, until ``COMMIT`` makes it a :class:`Chain`."""

    name: str
    policy: str | None
    line: int  # where it is declared (a built-in chain: its table, until it is)
    column: int
    counters: tuple[int, int] | None = None
    rules: list[Rule] = field(default_factory=list)
    # "-m NAME" and "-j NAME" of the modules and targets of its rules that work only from
    # some hooks (and maybe of rules since removed): what validate_table looks at. Most
    # chains share their set with a shape, or the empty one.
    uses: frozenset[str] = _NO_USES
    number: int = 0  # in the table's order, once committed

    def use(self, uses: frozenset[str]) -> None:
        """Count ``uses`` (a rule's) among the chain's."""
        if uses and not uses <= self.uses:
            self.uses = self.uses | uses if self.uses else uses


@dataclass(slots=True, eq=False)
class _TableDraft:
    """The table being read (``*NAME`` to ``COMMIT``)."""

    name: str
    location: Location
    chains: dict[str, _ChainDraft] = field(default_factory=dict)


class _Reader:
    def __init__(self, path: str, family: int | None, replay: bool = True) -> None:
        self.path = path
        self.family = family
        # Whether rules of a shape read before are replayed (append_known), and how many
        # were: the tests compare replaying with reading every rule token by token.
        self.replay = replay
        self.replayed = 0
        self.problems: list[Problem] = []
        self.tables: dict[str, Table] = {}
        self.current: _TableDraft | None = None
        # How each shape of -A rule read without a problem, by (table, tokens with values
        # blanked); and the steps of the reading under way, if it is a new shape's.
        self.shapes: dict[tuple[str | None, ...], _Shape] = {}
        self.recording: list[_Step] | None = None
        # The shape of the last rule replayed in the current table.
        self.previous: _Shape | None = None
        # What the units of all shapes built, by what makes units build alike (_Shape.of).
        self.parts: dict[object, dict[object, Any]] = {}
        # For each committed table, the union of its chains' ``uses``.
        self.uses: dict[str, frozenset[str]] = {}

    # -- problems ---------------------------------------------------------------
    def problem(self, line: int, column: int, message: str, token: str | None = None,
                expected: str | None = None) -> None:
        self.problems.append(Problem(Location(self.path, line, column), message, token, expected))

    # -- lines ------------------------------------------------------------------
    def read(self, text: str) -> None:
        # A line with other whitespace is read token by token: the replay splits with
        # str.split (the text is searched once; a line only if the text has some). A
        # carriage return ending a line (a Windows line end) is refused, as iptables-restore
        # refuses what it then reads (a table named "nat\r"...).
        plain = not _has_other_space(text)
        replay = self.replay
        for number, raw in enumerate(text.split("\n"), 1):
            if not plain:
                if raw[-1:] == "\r":
                    self.problem(number, len(raw), "the line ends with a carriage return",
                                 "\r", "lines that end with a line feed alone, as "
                                 "iptables-save writes them")
                    continue
                self.replay = replay and not _has_other_space(raw)
            # Slices, not startswith, on the hot lines: cheaper in CPython 3.11.
            if raw[:1] == "-" and self.current is not None:  # most lines: -A CHAIN RULE
                if not (self.replay and self.append_known(number, raw)):
                    self.command(number, tokenize(raw))
                continue
            # What a line is, as iptables-restore tells: by its first character, and
            # "COMMIT" alone. Only an empty line and a "#" first are skipped.
            if not raw or raw[0] == "#":
                continue
            if raw[0] == ":" and self.current is not None:
                if not (raw[-8:] == " - [0:0]" and self.declare_user_chain(number, raw)):
                    self.declare_chain(number, raw)
            elif raw[0] == "*":
                found = _FIELD.search(raw, 1)
                self.start_table(number, 1, found.group() if found else "")
            elif raw == "COMMIT":
                self.commit(number)
            elif self.misplaced(number, raw):
                continue
            elif self.current is None:
                first = _FIELD.search(raw)  # the line is more than spaces and tabs
                self.problem(number, 1, "rule outside a table", first and first.group(),
                             "'*TABLE' (such as '*nat') first")
            elif not (raw.lstrip(" \t")[:1] == "-" and self.replay
                      and self.append_known(number, raw)):
                self.command(number, tokenize(raw))
        self.replay = replay
        if self.current is not None:
            self.problem(self.current.location.line, 1,
                         f"table {self.current.name} is never committed", None,
                         "a 'COMMIT' line at the end of the table")
            self.commit(self.current.location.line)  # still report what COMMIT would

    def misplaced(self, number: int, raw: str) -> bool:
        """Report a line that iptables-restore refuses although it looks like a blank line or
        a comment, table, chain or COMMIT line: one of only spaces and tabs, one such line
        after spaces or tabs (iptables-restore reads either as a rule's words), COMMIT with
        more on its line. Returns whether it was one; a table, chain or COMMIT line is then
        still read as meant, so that what follows is read as the author meant it too."""
        stripped = raw.strip(" \t")
        if not stripped:
            self.problem(number, 1, "a line of only spaces or tabs", None,
                         "an empty line (iptables-restore reads this one as a command)")
            return True
        column = len(raw) - len(raw.lstrip(" \t")) + 1
        found = _FIELD.match(stripped)
        assert found is not None  # it starts with neither a space nor a tab
        first = found.group()
        kind = first[0]
        if kind in "#*:" and column > 1:
            what = {"#": "a comment", "*": "a table line", ":": "a chain line"}[kind]
            self.problem(number, column, f"{what} after spaces or tabs", first,
                         f"'{kind}' at the start of the line")
            if kind == "*":
                name = _FIELD.search(raw, column)
                self.start_table(number, column, name.group() if name else "")
            elif kind == ":" and self.current is not None:
                self.declare_chain(number, raw)
            return True
        if first == "COMMIT":
            self.problem(number, column, "COMMIT with spaces, tabs or words beside it", first,
                         "'COMMIT' alone on its line, at its start")
            self.commit(number)
            return True
        return False

    def append_known(self, line: int, raw: str) -> bool:
        """Read ``-A CHAIN RULE`` fast if a rule of the same shape was read before.

        Most of a large ruleset is a few shapes of rule with different values (kube-proxy:
        ``-d VIP/32 -p tcp -m comment --comment C -m tcp --dport P -j KUBE-SVC-X``). The
        first rule of a shape is read token by token (``rule``), which records what it did;
        the next ones replay that with their own values, part by part, which gives what
        ``rule`` gives. A rule whose replay meets a problem is read again by ``rule``, which
        reports it. Both ways end in the checks that depend on the chain (``insert``): a
        shape is the same in every chain of a table, so ``rule`` must not look at the chain.
        Returns ``False`` (nothing done) for any other line, and for a replay with a problem.
        """
        current = self.current
        assert current is not None
        texts = token_texts(raw) if '"' in raw else raw.split()
        if len(texts) < 2 or texts[0] not in ("-A", "--append"):
            return False
        chain = current.chains.get(texts[1])
        if chain is None:
            return False
        # Most rules have a shape that followed the previous rule's shape before: check those
        # two rather than compute the key.
        previous = self.previous
        shape = None if previous is None else previous.next
        if shape is None or len(texts) != shape.size or not shape.fits(texts):
            shape = None if previous is None else previous.other
            if shape is None or len(texts) != shape.size or not shape.fits(texts):
                # _literal(t), inline: this runs for every token of a large file.
                key = (current.name, *[t if t in _NAMES or t[:1] in _LITERAL_STARTS else None
                                       for t in texts[2:]])
                shape = self.shapes.get(key)
                if shape is None:
                    before, self.recording = len(self.problems), []
                    self.command(line, tokenize(raw))
                    recorded = self.end_recording()
                    if recorded is not None and len(self.problems) == before:
                        self.shapes[key] = _Shape.of(key, recorded, current.name, self.parts)
                    return True
        if previous is not None and previous.next is not shape:
            previous.other, previous.next = previous.next, shape
        self.previous = shape
        if raw[:3] == "-A " and not raw[3:4].isspace():  # the usual "-A CHAIN": no regex, no search
            column = 4
        elif '"' in raw:
            column = _quoted_tokens(raw)[1][0] + 1
        else:  # the chain is the first run of non-space after -A
            column = raw.find(texts[1], len(raw) - len(raw.lstrip()) + len(texts[0])) + 1
        # Each part of the rule (base criteria, each match, the target) is built from its
        # values; a match is taken as built for an earlier rule with the same values. A
        # part with a problem leaves the rule to ``rule``, which reports it.
        try:
            match, address_family, proto = (shape.base_parts if shape.base is None
                                            else shape.base(texts))
            matches = [] if match is None else [match]
            for unit in shape.modules:
                matches.append(unit.part(texts, proto))
            target: Target | None = None
            if shape.jump is not None:
                target = Target(texts[shape.jump], (), shape.goto, True)
            elif shape.target is not None:
                target = shape.target(texts, proto)
        except ValueError:  # and _Unread
            return False
        if address_family is not None and address_family != self.family:
            if self.family is not None:
                return False  # rule() reports the mixed families
            self.family = address_family
        rule = Rule(tuple(matches), target, self.path, line, column)
        self.replayed += 1
        if chain.policy is None:  # what insert does, less what only built-in chains need
            chain.rules.append(rule)
            if shape.uses:
                chain.use(shape.uses)
        else:
            self.insert(line, column, chain, len(chain.rules), rule, shape.uses)
        return True

    def end_recording(self) -> list[_Step] | None:
        """The steps recorded, or ``None`` if the reading found the shape not replayable;
        recording stops. (A method: where ``self.recording = []`` was just written, a type
        checker would take it for a list still.)"""
        recorded, self.recording = self.recording, None
        return recorded

    def start_table(self, line: int, column: int, name: str) -> None:
        if self.current is not None:
            self.problem(line, column, f"table {self.current.name} (line "
                         f"{self.current.location.line}) is not committed before this one",
                         "*" + name, "'COMMIT' first")
        if name not in BUILTIN_CHAINS:
            self.problem(line, column, "unknown table", name, "one of " + ", ".join(BUILTIN_CHAINS))
            name = "filter"  # keep reading to report what follows
        draft = _TableDraft(name, Location(self.path, line, column))
        for chain in BUILTIN_CHAINS[name]:
            draft.chains[chain] = _ChainDraft(chain, "ACCEPT", line, column)
        self.current = draft
        self.previous = None

    def declare_chain(self, line: int, raw: str) -> None:
        """A ``:CHAIN POLICY [packets:bytes]`` line (``raw``, maybe after spaces or tabs), as
        iptables-restore reads it: its first two fields are the chain and a policy, what
        follows them is not read. A built-in chain's policy is ACCEPT, DROP or ``-`` (left as
        it is: ACCEPT, unless an earlier line of the table set it). A user-defined chain's
        policy and counters are not read, and declaring it again empties it. A built-in
        chain's counters are kept where they read as counters, and left out otherwise (as
        iptables-restore does without -c)."""
        assert self.current is not None
        fields = list(_FIELD.finditer(raw, raw.index(":") + 1))
        if not fields:
            self.problem(line, raw.index(":") + 2, "a chain line without a chain", None,
                         "':CHAIN POLICY [packets:bytes]'")
            return
        name, column = fields[0].group(), fields[0].start() + 1
        if len(fields) < 2:
            self.problem(line, column + len(name), f"chain {name} has no policy", None,
                         "a policy after the chain's name: ACCEPT, DROP or '-'")
            return
        policy = fields[1].group()
        counters = None
        if len(fields) > 2:
            text = fields[2].group()
            if text == "[0:0]":  # what iptables-save prints for most chains: no regex
                counters = (0, 0)
            elif m := _COUNTERS.match(text):
                counters = (_counter(m.group(1)), _counter(m.group(2)))
        chain = self.current.chains.get(name)
        if chain is not None and chain.policy is not None:  # a built-in chain
            if policy in ("ACCEPT", "DROP"):
                chain.policy = policy
            elif policy != "-":
                self.problem(line, fields[1].start() + 1,
                             f"built-in chain {name} needs a policy", policy,
                             "ACCEPT, DROP or '-'")
            chain.counters = counters
            chain.line, chain.column = line, column
            return
        if chain is not None:
            chain.rules.clear()  # as -F would
            return
        if self.valid_chain_name(line, column, name):
            self.new_chain(line, column, name)

    def declare_user_chain(self, line: int, text: str) -> bool:
        """``declare_chain`` for ``:NAME - [0:0]`` at the start of a line, when it declares a
        new user-defined chain without a problem; ``False``, with nothing done, otherwise."""
        assert self.current is not None
        name = text[1:-8]
        chains = self.current.chains
        # A name valid_chain_name accepts, checked without encoding it: printable ASCII (a
        # byte a character; no whitespace but " "), not "-" or "!" first, at most 28 long.
        # The table's built-in chains are among its chains from the start.
        if not (0 < len(name) <= _CHAIN_NAME_BYTES and name.isascii() and name.isprintable()
                and name[0] not in "-!" and " " not in name) \
                or name in chains or name in TARGETS:
            return False
        chains[name] = _ChainDraft(name, None, line, 2)
        return True

    def valid_chain_name(self, line: int, column: int, name: str) -> bool:
        """Whether ``name`` may name a new chain, as iptables checks it; if not, the problem
        is reported."""
        size = len(name.encode("utf-8", "surrogatepass"))
        if not name:
            self.problem(line, column, "a chain without a name", name, "a chain name")
        elif size > _CHAIN_NAME_BYTES:
            self.problem(line, column, f"chain name too long ({size} bytes)", name,
                         f"at most {_CHAIN_NAME_BYTES} bytes (UTF-8)")
        elif name[0] in "-!":
            self.problem(line, column, f"a chain name cannot start with {name[0]!r}", name,
                         "a name that starts with another character")
        elif any(c in _C_SPACES for c in name):
            self.problem(line, column, "a chain name cannot hold whitespace", name,
                         "a name without spaces, tabs, line feeds, vertical tabs, form feeds "
                         "or carriage returns")
        elif name in TARGETS:
            self.problem(line, column, "a chain cannot take the name of a target", name,
                         "another name")
        else:
            return True
        return False

    def new_chain(self, line: int, column: int, name: str) -> None:
        assert self.current is not None
        existing = self.current.chains.get(name)
        if existing is not None:
            self.problem(line, column, f"chain {name} already exists (defined at line "
                         f"{existing.line})", name, "a new chain name")
            return
        self.current.chains[name] = _ChainDraft(name, None, line, column)

    # -- commands (-A, -I, -N, -P, -F, -X) ---------------------------------------
    def command(self, line: int, tokens: list[Token]) -> None:
        assert self.current is not None
        if not tokens:
            self.problem(line, 1, "no command on the line", None, "a command such as -A CHAIN")
            return
        counters = None
        m = _COUNTERS.match(tokens[0].text)
        if m:
            counters = (_counter(m.group(1)), _counter(m.group(2)))
            tokens = tokens[1:]
        if not tokens:
            self.problem(line, 1, "counters without a rule", None, "a command such as -A CHAIN")
            return
        if len(tokens) > _MAX_WORDS:
            extra = tokens[_MAX_WORDS]
            self.problem(line, extra.column, f"more than {_MAX_WORDS} words on a line",
                         extra.text, f"at most {_MAX_WORDS} (iptables-restore's parser "
                         "cannot handle more arguments)")
            return
        head = tokens[0]
        if head.text[:2] == "--" and head.text not in _GETOPT_BASE:
            # A prefix of a command's long option, or "--append=CHAIN" (see long_option).
            name, eq, value = head.text.partition("=")
            found = _getopt_long(name, [_GETOPT_BASE])
            if len(found) == 1:
                head = Token(found[0][0], head.column)
                tokens = [head, *([Token(value, head.column + len(name) + 1)] if eq else []),
                          *tokens[1:]]
        verb = {"-A": "A", "--append": "A", "-I": "I", "--insert": "I", "-N": "N",
                "--new-chain": "N", "-P": "P", "--policy": "P", "-F": "F", "--flush": "F",
                "-X": "X", "--delete-chain": "X", "-D": "D", "--delete": "D"}.get(head.text)
        if verb is None and head.text[:1] != "-":  # a word, not an option: '"', "'", "x"
            self.problem(line, head.column, "no command on the line", head.text,
                         "a command such as -A CHAIN")
            return
        if verb is None:
            self.problem(line, head.column, "unknown command", head.text,
                         "-A, -I, -D, -N, -P, -F or -X (or ':CHAIN POLICY', '*TABLE', "
                         "'COMMIT')")
            return
        if len(tokens) < 2 and verb != "F":
            self.problem(line, head.column + len(head.text), f"{head.text} needs a chain name",
                         None, "a chain name")
            return
        name_tok = tokens[1] if len(tokens) > 1 else None
        if verb == "N":
            assert name_tok is not None
            if self.valid_chain_name(line, name_tok.column, name_tok.text):
                self.new_chain(line, name_tok.column, name_tok.text)
            self.no_more(line, tokens[2:])
            return
        if verb == "F":
            targets = [self.chain_of(line, name_tok)] if name_tok else list(
                self.current.chains.values())
            for chain in targets:
                if chain is not None:
                    chain.rules.clear()
            return
        chain = self.chain_of(line, name_tok)
        if chain is None or name_tok is None:
            return
        if verb == "X":
            if chain.policy is not None:
                self.problem(line, name_tok.column, "cannot delete a built-in chain",
                             name_tok.text, "a user-defined chain")
            else:
                del self.current.chains[chain.name]
            return
        if verb == "P":
            policy = tokens[2].text if len(tokens) > 2 else None
            if chain.policy is None or policy not in ("ACCEPT", "DROP"):
                self.problem(line, name_tok.column, "-P sets the policy of a built-in chain",
                             " ".join(t.text for t in tokens[1:]), "-P BUILTIN ACCEPT|DROP")
            else:
                chain.policy = policy
            return
        rest = tokens[2:]
        if verb == "D":
            self.delete(line, chain, name_tok, rest)
            return
        position = len(chain.rules)
        if verb == "I":
            position = 0
            if rest and rest[0].text.isascii() and rest[0].text.isdigit():
                index = v.decimal(rest[0].text, len(chain.rules) + 1) or 0
                if index == 0:
                    self.problem(line, rest[0].column, f"index of insertion too big (chain "
                                 f"{chain.name} has {len(chain.rules)} rules)", rest[0].text,
                                 f"a position from 1 to {len(chain.rules) + 1}")
                    return
                position = index - 1
                rest = rest[1:]
        rule = self.rule(line, rest, counters, name_tok.column)
        if rule is not None:
            self.insert(line, name_tok.column, chain, position, rule)

    def delete(self, line: int, chain: _ChainDraft, name_tok: Token, rest: list[Token]) -> None:
        """``-D CHAIN NUMBER`` or ``-D CHAIN RULE``, as iptables-restore deletes: the rule at
        that position (a word that is no option is one, read as xtables_strtoui reads it),
        or the first rule of the chain that is RULE."""
        if rest and rest[0].text[:1] not in _LITERAL_STARTS:
            number = v.c_number(rest[0].text, len(chain.rules))
            if not number:
                self.problem(line, rest[0].column, f"no rule {rest[0].text} to delete (chain "
                             f"{chain.name} has {len(chain.rules)} rules)", rest[0].text,
                             f"a rule number from 1 to {len(chain.rules)}")
            else:
                del chain.rules[number - 1]
            self.no_more(line, rest[1:])
            return
        rule = self.rule(line, rest, None, name_tok.column)
        if rule is None:
            return
        spec = rule.spec
        for position, old in enumerate(chain.rules):
            if old.spec == spec:
                del chain.rules[position]
                return
        self.problem(line, name_tok.column, f"no rule of chain {chain.name} is this one",
                     spec or None, "a rule the chain has (as iptables-save would print it)")

    def insert(self, line: int, column: int, chain: _ChainDraft, position: int,
               rule: Rule, uses: frozenset[str] | None = None) -> None:
        """Put a rule that was read into its chain, after the checks that depend on the
        chain (``rule`` reads a rule from its tokens and table alone; see append_known).
        ``uses`` is what ``_uses(rule)`` gives, if known (a replayed rule's shape knows)."""
        if chain.policy is not None and not self.interfaces_fit(line, column, chain.name, rule):
            return
        chain.rules.insert(position, rule)
        chain.use(frozenset(_uses(rule)) if uses is None else uses)

    def interfaces_fit(self, line: int, column: int, chain: str, rule: Rule) -> bool:
        """iptables refuses -i in a built-in OUTPUT/POSTROUTING chain and -o in
        PREROUTING/INPUT: the packet has no such interface there. So does the kernel's
        addrtype --limit-iface-in and --limit-iface-out."""
        for match in rule.matches:
            checks = _INTERFACE_CHECKS.get(match.module)
            if checks is None:
                continue
            for flag, name, chains in checks:
                if chain in chains and match.get(name) is not None:
                    self.problem(line, column, f"can't use {flag} with {chain}", flag,
                                 f"no {flag} in a rule of the built-in {chain} chain")
                    return False
        return True

    def chain_of(self, line: int, token: Token | None) -> _ChainDraft | None:
        assert self.current is not None and token is not None
        chain = self.current.chains.get(token.text)
        if chain is None:
            self.problem(line, token.column, f"no chain {token.text} in table "
                         f"{self.current.name}", token.text,
                         "a built-in chain or one created with -N or ':NAME - [0:0]'")
        return chain

    def no_more(self, line: int, tokens: list[Token]) -> None:
        if tokens:
            self.problem(line, tokens[0].column, "unexpected argument", tokens[0].text,
                         "end of line")

    # -- one rule ---------------------------------------------------------------
    def rule(self, line: int, tokens: list[Token], counters: tuple[int, int] | None,
             column: int) -> Rule | None:
        """The rule ``tokens`` say, or ``None`` after reporting its problems.

        What it gives may depend on the tokens, the table and the family read so far, and
        on nothing else (not the chain: see ``insert``), as later rules of the same shape
        replay this reading (see ``append_known``; tests/netfilter/test_parser_replay.py).
        """
        assert self.current is not None
        # While a new shape of rule is read, what the reading did (see append_known).
        record = self.recording
        table = self.current.name
        before = len(self.problems)
        base: dict[str, Option] = {}
        given: set[str] = set()  # base criteria given, kept or not (-p all, -s x/0)
        modules: list[tuple[ModuleSpec, list[Option], Token]] = []
        target: tuple[TargetSpec | None, str, bool, Token] | None = None
        target_options: list[Option] = []
        negate: Token | None = None
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            text = tok.text
            if text == "!":
                if negate is not None:
                    self.problem(line, tok.column, "double negation", text, "an option")
                negate = tok
                i += 1
                continue
            if text[:2] == "--" and not _exact(text, modules, target, base):
                spelt = self.long_option(line, tok, modules, target, base)
                if spelt is None:  # ambiguous, or a value given to an option without one
                    i, negate = i + 1, None
                    while i < len(tokens) and tokens[i].text[:1] not in _LITERAL_STARTS:
                        i += 1  # its values, not reported again
                    continue
                if spelt != [tok]:
                    tokens = [*tokens[:i], *spelt, *tokens[i + 1:]]
                    tok, text = spelt[0], spelt[0].text
                    self.recording = record = None  # positions moved: not replayable
            values_start = i + 1
            if text in _BASE:
                name, parse = _BASE[text]
                if name in given:
                    self.problem(line, tok.column, f"{text} given twice", text, "it once")
                given.add(name)
                if parse is None:
                    base[name] = Option(name, (), negate is not None)
                    if record is not None:
                        record.append(_SetBase(name, base[name]))
                    i, negate = values_start, None
                    continue
                # getopt takes whatever follows as the value: an interface may be "-x" or "!".
                value = self.values(line, tokens, values_start, 1, text,
                                    free_text=parse is v.interface)
                if value is not None:
                    self.base_value(line, base, name, parse, value[0], value[0].text, negate, text)
                    if record is not None:
                        record.append(_BaseValue(name, parse, values_start + 1, value[0],
                                                 negate is not None))
                        if name == "protocol" and not _literal(value[0].text):
                            self.recording = None  # -p's value steers the reading: not replayable
                i, negate = values_start + 1, None
                continue
            if text in ("-m", "--match"):
                named = self.name_after(line, tokens, values_start, text, negate)
                i, negate = values_start + 1, None
                if named is None:
                    continue
                spec = MODULES.get(named.text)
                if spec is None:
                    self.problem(line, named.column, "unknown match module", named.text,
                                 "one of " + ", ".join(sorted(MODULES)))
                    # Skip the unknown module's options so they are not reported twice.
                    while i < len(tokens) and tokens[i].text.startswith("--"):
                        i += 1
                        while i < len(tokens) and not tokens[i].text.startswith("-"):
                            i += 1
                    continue
                modules.append((spec, [], named))
                if record is not None:
                    record.append(_ModuleStep(spec))
                continue
            if text in ("-j", "--jump", "-g", "--goto"):
                named = self.name_after(line, tokens, values_start, text, negate)
                i, negate = values_start + 1, None
                if named is None:
                    continue
                if target is not None:
                    self.problem(line, tok.column, "a rule has one target", text, "no second -j/-g")
                    continue
                goto = text in ("-g", "--goto")
                name = named.text
                tspec = None if goto else TARGETS.get(name)
                target = (tspec, name, goto, named)
                if record is not None:
                    record.append(_TargetStep(tspec, values_start + 1, goto))
                continue
            if text in ("-c", "--set-counters"):
                value = self.values(line, tokens, values_start, 2, text)
                i = values_start + 2
                continue
            if not text.startswith("-"):
                self.problem(line, tok.column, "unexpected argument", text, "an option")
                i += 1
                continue
            # An extension option: the target's, then loaded modules newest first,
            # then the module -p loads implicitly.
            # (the option, the list its module's options go to, the module's number or -1)
            found: tuple[OptionSpec, list[Option], int] | None = None
            if target is not None and target[0] is not None and text in target[0].lookup:
                found = (target[0].lookup[text], target_options, -1)
            else:
                for owner in range(len(modules) - 1, -1, -1):
                    spec_, options, _ = modules[owner]
                    if text in spec_.lookup:
                        found = (spec_.lookup[text], options, owner)
                        break
                else:
                    proto = base.get("protocol")
                    implicit = MODULES.get(proto.value) if proto and not proto.negated else None
                    if implicit is not None and implicit.implicit and text in implicit.lookup:
                        options_: list[Option] = []
                        modules.append((implicit, options_, tok))
                        if record is not None:
                            record.append(_ModuleStep(implicit))
                        found = (implicit.lookup[text], options_, len(modules) - 1)
            if found is None:
                self.unknown_option(line, tok, base, target)
                i += 1
                while i < len(tokens) and not tokens[i].text.startswith("-") \
                        and tokens[i].text != "!":
                    i += 1
                negate = None
                continue
            ospec, options, owner = found
            if negate is not None and not ospec.negatable:
                self.problem(line, negate.column, f"{text} cannot be negated", "!",
                             f"{text} without '!'")
            values = self.values(line, tokens, values_start, ospec.arity, text,
                                 free_text=ospec.name in _FREE_TEXT)
            i = values_start + ospec.arity
            if values is None:
                # Reported once: keep the option so the module is not also "incomplete", and
                # read what follows (-j ...) as the options it looks like.
                options.append(Option(ospec.canonical, ()))
                i, negate = values_start, None
                while i < min(values_start + ospec.arity, len(tokens)) \
                        and not tokens[i].text.startswith(("-", "!")):
                    i += 1
                continue
            self.option_value(line, ospec, options, values, [t.text for t in values], negate,
                              tok, text)
            if record is not None:
                record.append(_OptionStep(owner, ospec, values_start + 1, negate is not None))
            negate = None
        if negate is not None:
            self.problem(line, negate.column, "'!' at the end of the rule", "!",
                         "an option after it")
        return self.assemble(line, table, base, modules, target, target_options, column,
                             counters, before)

    def long_option(self, line: int, tok: Token,
                    modules: list[tuple[ModuleSpec, list[Option], Token]],
                    target: tuple[TargetSpec | None, str, bool, Token] | None,
                    base: dict[str, Option]) -> list[Token] | None:
        """``tok`` (``--NAME`` or ``--NAME=VALUE``, not an exact spelling) as getopt_long
        reads it: the option whose spelling NAME is the only one to begin (or that of the
        same meaning), then its VALUE as a token of its own. The options are iptables' own,
        the loaded modules' and the target's; failing those, the module -p loads
        implicitly. Unknown: ``tok`` as it is (the caller reports it). Ambiguous, or a
        value for an option without one: ``None`` after reporting it."""
        name, eq, value = tok.text.partition("=")
        visible: list[dict[str, Any]] = [_GETOPT_BASE]
        visible += [spec.lookup for spec, _, _ in modules]
        if target is not None and target[0] is not None:
            visible.append(target[0].lookup)
        found = _getopt_long(name, visible)
        if not found:
            proto = base.get("protocol")
            implicit = MODULES.get(proto.value) if proto is not None else None
            if implicit is not None and implicit.implicit:
                found = _getopt_long(name, [*visible, implicit.lookup])
        if not found:
            return [tok]
        if len(found) > 1:
            self.problem(line, tok.column, f"option {name} is ambiguous", tok.text,
                         "one of " + ", ".join(spelling for spelling, _ in found))
            return None
        (spelling, meaning), = found
        spelt = Token(spelling, tok.column)
        if not eq:
            return [spelt]
        if spelling in _GETOPT_FLAGS or (isinstance(meaning, OptionSpec) and not meaning.arity):
            self.problem(line, tok.column, f"option {spelling} takes no value", tok.text,
                         spelling + " without '='")
            return None
        if spelling in _WHOLE_WORD:
            if not spelling.endswith("interface"):  # no address, protocol or chain is that
                self.problem(line, tok.column, f"iptables reads {tok.text} whole as the value "
                             f"of {spelling}", tok.text, f"{spelling} {value or 'VALUE'}")
                return None
            if not value:
                self.problem(line, tok.column, f"{spelling} with an empty interface",
                             tok.text, "an interface name after '='")
                return None
            return [spelt, Token(tok.text, tok.column)]
        return [spelt, Token(value, tok.column + len(name) + 1)]

    def base_value(self, line: int, base: dict[str, Option], name: str,
                   parse: Callable[[str], str], value: Token, raw: str, negate: Token | None,
                   text: str) -> None:
        """Store the base criterion ``text raw`` (``-d 10.0.0.1``) in ``base``."""
        try:
            normal = parse(raw)
        except ValueError as e:
            self.problem(line, value.column, f"bad value for {text}", raw, str(e))
        else:
            if name in ("source", "destination"):
                self.check_family(line, value, normal)
            if name in ("source", "destination") and normal.endswith("/0"):
                # iptables stores a network of every address as no criterion, and the kernel
                # refuses the rule that negates it.
                if negate is not None:
                    self.problem(line, negate.column, f"! {text} {raw} never matches, and "
                                 "the kernel refuses the rule", "!",
                                 f"{text} without '!', or no {text}")
            elif normal == "+" and negate is None:
                pass  # any interface (-i +) is no criterion; iptables keeps "! -i +"
            elif name == "protocol" and normal == "all":
                # iptables stores -p all as no protocol criterion at all.
                if negate is not None:
                    self.problem(line, negate.column, "! -p all never matches",
                                 "!", "-p all without '!', or no -p")
            else:
                base[name] = Option(name, (normal,), negate is not None)

    def option_value(self, line: int, ospec: OptionSpec, options: list[Option],
                     values: list[Token], raws: list[str], negate: Token | None, tok: Token,
                     text: str) -> None:
        """Append the extension option ``tok`` with the values ``raws`` to ``options``."""
        normal: list[str] = []
        for value_tok, raw in zip(values, raws, strict=True):
            try:
                normal.append(normalise_value(ospec, raw))
            except ValueError as e:
                self.problem(line, value_tok.column, f"bad value for {text}", raw, str(e))
        if len(normal) == ospec.arity:
            option = expand_alias(ospec, tuple(normal))
            if negate is not None:
                option = Option(option.name, option.values, True)
            if any(o.name == option.name for o in options):
                self.problem(line, tok.column, f"{text} given twice in one module", text,
                             "it once per -m")
            options.append(option)
        else:
            # The option was given: keep it (unnormalised) so that the module is not also
            # reported as incomplete. The rule is dropped for its bad value anyway.
            options.append(Option(ospec.canonical, tuple(raws)))

    def assemble(self, line: int, table: str, base: dict[str, Option],
                 modules: list[tuple[ModuleSpec, list[Option], Token]],
                 target: tuple[TargetSpec | None, str, bool, Token] | None,
                 target_options: list[Option], column: int, counters: tuple[int, int] | None,
                 before: int) -> Rule | None:
        """The rule from what its options gave, or ``None`` if it (or anything since problem
        number ``before``) had a problem."""
        matches: list[Match] = []
        if base:
            matches.append(_base_match(base))
        proto = base.get("protocol")
        for spec_, options, tok in modules:
            match = self.module_match(line, spec_, options, tok, proto)
            if match is not None:
                matches.append(match)
        rule_target = None
        if target is not None:
            rule_target = self.rule_target(line, table, target, target_options, proto)
        if len(self.problems) > before:
            return None
        return Rule(tuple(matches), rule_target, self.path, line, column, counters)

    def module_match(self, line: int, spec: ModuleSpec, options: list[Option], tok: Token,
                     proto: Option | None) -> Match | None:
        """The match of module ``spec`` with ``options`` (``None`` if it is incomplete)."""
        if spec.protocols and (proto is None or proto.negated
                               or proto.value not in spec.protocols):
            self.problem(line, tok.column, f"the {spec.name} match needs -p "
                         + " or ".join(spec.protocols), tok.text,
                         "-p " + spec.protocols[0] + " before it")
        try:
            finished = spec.finish(list(options))
        except ValueError as e:
            self.problem(line, tok.column, f"the {spec.name} match is incomplete", tok.text,
                         str(e))
            return None
        if len(finished) > 1:
            order = spec.order
            finished.sort(key=lambda o: order.get(o.name, 99))
        return Match(spec.name, tuple(finished))

    def rule_target(self, line: int, table: str,
                    target: tuple[TargetSpec | None, str, bool, Token],
                    target_options: list[Option], proto: Option | None) -> Target:
        tspec, name, goto, tok = target
        if tspec is None:
            return Target(name, (), goto, True)
        if tspec.tables and table not in tspec.tables:
            self.problem(line, tok.column, f"target {name} is only valid in the "
                         + " and ".join(tspec.tables) + " table", name,
                         "a target valid in the " + table + " table")
        refused = REFUSED_IN_TABLE.get((table, name))
        if refused is not None:
            self.problem(line, tok.column, f"-j {name} in the {table} table: {refused}", name,
                         "a target valid in the " + table + " table")
        needs_proto = [o for o in target_options if o.name in tspec.protocols_for
                       and (o.name == "to-ports" or v.nat_range_has_port(o.value))]
        if needs_proto and (proto is None or proto.value not in PORT_PROTOCOLS):
            self.problem(line, tok.column, f"{name} --{needs_proto[0].name} needs "
                         "-p tcp or -p udp", name, "-p tcp or -p udp")
        tcp_only = _tcp_only(tspec, target_options, proto) if tspec.tcp_only else None
        if tcp_only is not None:
            self.problem(line, tok.column, f"{name} --{tcp_only.name} {tcp_only.value} needs "
                         "-p tcp", name, "-p tcp (not negated) before it")
        try:
            finished = tspec.finish(list(target_options))
        except ValueError as e:
            self.problem(line, tok.column, f"target {name} is incomplete", name, str(e))
            finished = target_options
        if len(finished) > 1:
            order = tspec.order
            finished.sort(key=lambda o: order.get(o.name, 99))
        return Target(name, tuple(finished), False, False)

    def values(self, line: int, tokens: list[Token], start: int, count: int,
               option: str, free_text: bool = False) -> list[Token] | None:
        """The ``count`` values after an option; a free-text value may be anything (as
        iptables' getopt takes it: ``--comment -x`` and ``--comment "!"`` are comments)."""
        values = tokens[start:start + count]
        if len(values) < count or (not free_text and any(
                t.text == "!" or (t.text.startswith("-") and len(t.text) > 1
                                  and not t.text[1].isdigit()) for t in values)):
            where = values[0].column if values else (
                tokens[start - 1].column + len(tokens[start - 1].text))
            got = values[0].text if values else None
            self.problem(line, where, f"{option} needs {count} value" + ("s" if count > 1 else ""),
                         got, "a value" if count == 1 else f"{count} values")
            return None
        return values

    def name_after(self, line: int, tokens: list[Token], start: int, option: str,
                   negate: Token | None) -> Token | None:
        """The name after ``-m``, ``-j`` or ``-g`` (none of which can be negated), or
        ``None`` after reporting that it is missing."""
        self.reject_negation(line, negate, option)
        value = self.values(line, tokens, start, 1, option)
        return None if value is None else value[0]

    def reject_negation(self, line: int, negate: Token | None, option: str) -> None:
        if negate is not None:
            self.problem(line, negate.column, f"{option} cannot be negated", "!", option)

    def unknown_option(self, line: int, tok: Token,
                       base: dict[str, Option],
                       target: tuple[TargetSpec | None, str, bool, Token] | None) -> None:
        owners = sorted(m.name for m in MODULES.values() if tok.text in m.lookup)
        owners += sorted(t.name for t in TARGETS.values() if tok.text in t.lookup)
        if owners:
            proto = base.get("protocol")
            hint = f"-m {owners[0]} (or -j {owners[0]}) before it"
            if owners[0] in ("tcp", "udp") and proto is None:
                hint = f"-p {owners[0]} before it"
            self.problem(line, tok.column, f"option {tok.text} belongs to {', '.join(owners)}, "
                         "which this rule has not loaded", tok.text, hint)
        else:
            self.problem(line, tok.column, "unknown option", tok.text,
                         "an option of -m MODULE or -j TARGET")

    def family_targets(self, table: Table) -> None:
        """REJECT's ICMP types and TPROXY's --on-ip are of one family: iptables-restore
        refuses icmp6-port-unreachable or --on-ip ::1, ip6tables-restore the others. Like
        an address, the first one tells the family of a file that has not told it."""
        for chain in table.chains:
            for rule in chain.rules:
                target = rule.target
                if target is None or target.name not in ("REJECT", "TPROXY"):
                    continue
                option = target.get("reject-with" if target.name == "REJECT" else "on-ip")
                if option is None or option.value == "tcp-reset":
                    continue
                value = option.value
                found = 6 if value.startswith("icmp6-") or ":" in value else 4
                if self.family is None:
                    self.family = found
                elif found != self.family:
                    self.problem(rule.line, rule.column, f"an IPv{found} --{option.name} in an "
                                 f"IPv{self.family} ruleset", value,
                                 f"one of IPv{self.family}")

    def no_ipv4_in_ipv6(self) -> None:
        """What ip6tables refuses but a rule read alone cannot tell: -f (an IPv6 header has
        no fragment bits: -m frag reads the extension header), the icmp match (ip6tables
        has icmp6), addrtype's IPv4-only types, and an IPv4 address in conntrack's,
        iprange's or a NAT target's options. Checked once the file's family is known, for
        every rule."""
        for table in self.tables.values():
            for chain in table.chains:
                for rule in chain.rules:
                    found = _ipv4_only(rule)
                    if found is not None:
                        self.problem(rule.line, rule.column, f"{found[0]} in an IPv6 ruleset",
                                     found[1], found[2])

    def check_family(self, line: int, tok: Token, normal: str) -> None:
        family = v.family_of(normal)
        if self.family is None:
            self.family = family
        elif family != self.family:
            self.problem(line, tok.column, f"an IPv{family} address in an IPv{self.family} "
                         "ruleset", tok.text, f"an IPv{self.family} address")

    # -- COMMIT -----------------------------------------------------------------
    def commit(self, line: int) -> None:
        if self.current is None:
            self.problem(line, 1, "COMMIT without a table", "COMMIT", "'*TABLE' before it")
            return
        draft, self.current = self.current, None
        self.previous = None
        chains = draft.chains
        order = _chain_order(draft)
        # Every chain's jumps to chains of the table, as the chains' numbers in the table's
        # order, for validate_table too: one pass over the rules of a large table, not two.
        for number, chain in enumerate(order):
            chain.number = number
        graph: list[list[int]] = []
        for chain in order:
            out: list[int] = []
            graph.append(out)
            for rule in chain.rules:
                t = rule.target
                if t is None or not t.is_chain:
                    continue
                to = chains.get(t.name)
                if to is None:
                    self.problem(rule.line, rule.column,
                                 f"jump to a chain that does not exist in table {draft.name}",
                                 t.name, "a target extension or a chain created with -N")
                    continue
                if to.policy is not None:
                    self.problem(rule.line, rule.column,
                                 "a rule cannot jump to a built-in chain", t.name,
                                 "a user-defined chain")
                out.append(to.number)
        path = self.path
        table = Table(draft.name, tuple([Chain(c.name, c.policy, tuple(c.rules), path, c.line,
                                               c.column, c.counters) for c in order]),
                      draft.location)
        # iptables-restore replaces a table given twice: the later block wins.
        self.tables[draft.name] = table
        uses = [c.uses for c in order]
        self.uses[draft.name] = frozenset().union(*uses)
        from ._validate import validate_table

        self.problems.extend(validate_table(table, graph, uses))


# The address types the kernel's addrtype refuses for IPv6.
_IPV4_ADDRTYPES: Final = frozenset({"BROADCAST", "BLACKHOLE", "PROHIBIT", "THROW", "NAT",
                                    "XRESOLVE"})
# Options whose addresses are of the family of the ruleset (see _ipv4_only).
_ADDRESS_OPTIONS: Final = frozenset({"ctorigsrc", "ctorigdst", "ctreplsrc", "ctrepldst",
                                     "src-range", "dst-range", "to-destination", "to-source"})


def _ipv4_only(rule: Rule) -> tuple[str, str, str] | None:
    """What of ``rule`` only IPv4 has, as (what, token, expected), if anything."""
    for match in rule.matches:
        if match.module == BASE_MODULE:
            if match.get("fragment") is not None:
                return "-f", "-f", "no -f (ip6tables has -m frag instead)"
        elif match.module == "icmp":
            return "the icmp match", "icmp", "-m icmp6 (which chainwalk does not read)"
        elif match.module == "addrtype":
            for option in match.options:
                if set(option.value.split(",")) & _IPV4_ADDRTYPES:
                    return (f"--{option.name} {option.value}", option.value,
                            "UNSPEC, UNICAST, LOCAL, ANYCAST, MULTICAST or UNREACHABLE")
        else:
            found = _ipv4_option(match.options)
            if found is not None:
                return found
    target = rule.target
    return None if target is None or target.is_chain else _ipv4_option(target.options)


def _ipv4_option(options: tuple[Option, ...]) -> tuple[str, str, str] | None:
    for option in options:
        if option.name in _ADDRESS_OPTIONS:
            host = option.value.partition("-")[0]
            if option.name.startswith("to-"):  # ADDRESS[:PORT], [ADDRESS]:PORT or :PORT
                host = "" if host[:1] == "[" or host.count(":") > 1 else host.partition(":")[0]
            if host and ":" not in host:
                return (f"an IPv4 address in --{option.name}", option.value,
                        "an IPv6 address")
    return None


# What names an interface a built-in chain's packets lack, by module: (flag, option,
# chains where it is refused).
_INTERFACE_CHECKS: Final = {
    BASE_MODULE: (("-i", "in-interface", ("OUTPUT", "POSTROUTING")),
                  ("-o", "out-interface", ("PREROUTING", "INPUT"))),
    "addrtype": (("--limit-iface-in", "limit-iface-in", ("OUTPUT", "POSTROUTING")),
                 ("--limit-iface-out", "limit-iface-out", ("PREROUTING", "INPUT"))),
}


def _tcp_only(tspec: TargetSpec, options: list[Option], proto: Option | None) -> Option | None:
    """The option of ``options`` that needs -p tcp (``TargetSpec.tcp_only``), if the rule's
    protocol is not tcp."""
    if proto is not None and proto.value == "tcp" and not proto.negated:
        return None
    return next((o for o in options if (o.name, o.value) in tspec.tcp_only), None)


def _exact(text: str, modules: list[tuple[ModuleSpec, list[Option], Token]],
           target: tuple[TargetSpec | None, str, bool, Token] | None,
           base: dict[str, Option]) -> bool:
    """Whether ``text`` is an option's whole spelling that ``rule`` reads as it is (most
    options: no need to look for the option it is a prefix of)."""
    if text in _BASE or text in _GETOPT_BASE:
        return True
    if target is not None and target[0] is not None and text in target[0].lookup:
        return True
    if any(text in spec.lookup for spec, _, _ in modules):
        return True
    proto = base.get("protocol")
    implicit = MODULES.get(proto.value) if proto is not None else None
    return implicit is not None and implicit.implicit and text in implicit.lookup


def _getopt_long(name: str, tables: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    """The long options of ``tables`` (spelling -> what it means) getopt_long reads
    ``name`` as: the spelling equal to it, else the first that begins with it, or all
    those if two of them mean different things (ambiguous); none if no spelling fits."""
    for table in tables:
        if name in table:
            return [(name, table[name])]
    found = [(spelling, meaning) for table in tables for spelling, meaning in table.items()
             if spelling.startswith(name) and len(name) > 2]
    if any(meaning != found[0][1] for _, meaning in found[1:]):
        return found
    return found[:1]


def _uses(rule: Rule) -> list[str]:
    """What ``_ChainDraft.uses`` says of ``rule``."""
    out = ["-m " + m.module for m in rule.matches
           if m.module in MODULES and MODULES[m.module].hooks != ALL_HOOKS]
    t = rule.target
    if t is not None and not t.is_chain and t.name in TARGETS \
            and TARGETS[t.name].hooks != ALL_HOOKS:
        out.append("-j " + t.name)
    return out


def _base_order(base: dict[str, Option]) -> list[str]:
    return [name for name in BASE_ORDER if name in base]


def _base_match(base: dict[str, Option]) -> Match:
    return Match(BASE_MODULE, tuple(base[n] for n in _base_order(base)))


def _chain_order(draft: _TableDraft) -> list[_ChainDraft]:
    builtins = [draft.chains[n] for n in BUILTIN_CHAINS[draft.name]]
    # The kernel keeps user chains sorted by name; iptables-save prints them so.
    users = sorted((c for c in draft.chains.values() if c.policy is None),
                   key=attrgetter("name"))
    return builtins + users


def parse_text(text: str, path: str = "<input>", family: int | None = None) -> Ruleset:
    """Parse a whole file; raise :class:`ChainwalkError` with every problem found."""
    return _parse(_Reader(path, family), text)


def _parse(reader: _Reader, text: str) -> Ruleset:
    """``parse_text`` with a reader of one's own (the tests turn replaying off)."""
    # Reading makes no garbage cycles: the collector waits, then the model goes straight to
    # the oldest generation rather than be walked to free nothing (bench/README.md).
    collecting = gc.isenabled()
    gc.disable()
    try:
        reader.read(text)
        for table in reader.tables.values():
            if reader.uses[table.name] & _FAMILY_USES:
                reader.family_targets(table)
        if reader.family == 6:
            reader.no_ipv4_in_ipv6()
    finally:
        if collecting:
            if not gc.get_freeze_count():  # someone else's frozen objects stay frozen
                gc.freeze()
                gc.unfreeze()
            gc.enable()
    if reader.problems:
        raise ChainwalkError(sorted(reader.problems, key=lambda p: p.location))
    order = {name: n for n, name in enumerate(BUILTIN_CHAINS)}
    family = reader.family or 4
    tables = tuple(_family_defaults(t, family) if reader.uses[t.name] & _FAMILY_USES else t
                   for t in sorted(reader.tables.values(), key=lambda t: order[t.name]))
    return Ruleset(family, tables, reader.path)


# Target defaults that differ between iptables and ip6tables, known only once the
# whole file (or the caller) has told the family.
_FAMILY_DEFAULTS: Final[dict[tuple[str, str], dict[int, str]]] = {
    ("REJECT", "reject-with"): {4: "icmp-port-unreachable", 6: "icmp6-port-unreachable"},
    ("TPROXY", "on-ip"): {4: "0.0.0.0", 6: "::"},
}


# The tables that may have such targets: their uses say so, as they work only from some hooks.
_FAMILY_USES: Final = frozenset("-j " + name for name, _ in _FAMILY_DEFAULTS)
assert all(TARGETS[name].hooks != ALL_HOOKS for name, _ in _FAMILY_DEFAULTS)


def _family_defaults(table: Table, family: int) -> Table:
    if not any(r.target is not None and r.target.name in ("REJECT", "TPROXY")
               for c in table.chains for r in c.rules):
        return table
    chains = []
    for chain in table.chains:
        rules = []
        for rule in chain.rules:
            target = rule.target
            if target is not None and target.name in ("REJECT", "TPROXY"):
                options = list(target.options)
                for (name, option), values in _FAMILY_DEFAULTS.items():
                    if name == target.name and target.get(option) is None:
                        options.append(Option(option, (values[family],)))
                spec = TARGETS[target.name]
                options.sort(key=lambda o: spec.order.get(o.name, 99))
                rule = replace(rule, target=replace(target, options=tuple(options)))
            rules.append(rule)
        chains.append(replace(chain, rules=tuple(rules)))
    return replace(table, chains=tuple(chains))


def parse_file(path: str | Path, family: int | None = None) -> Ruleset:
    """Read and parse a file; an unreadable file is a :class:`ChainwalkError` too."""
    return parse_text(read_text(path, what="ruleset"), str(path), family)


def parse_rule(table: Table, chain: str, text: str, family: int) -> Rule:
    """``text`` (a rule without ``-A CHAIN``) read as a rule of ``chain`` in ``table``:
    its jumps resolve to the table's chains, and it is checked from the hooks that reach
    ``chain`` as a rule of the file would be.

    Raises :class:`ChainwalkError` with the parser's problems (their locations are in a
    made-up ``<rule>`` file: callers report them where the text came from).
    """
    if "\n" in text or "\r" in text:
        raise ChainwalkError([Problem(Location("<rule>", 1), "a rule is one line", text,
                                      "a rule without line breaks")])
    # The table's chains and the jumps between them: all that a rule's meaning and its
    # checks depend on, and small (the table's other rules are not read again).
    lines = [f"*{table.name}"]
    lines.extend(f":{c.name} {c.policy or '-'} [0:0]" for c in table.chains)
    lines.extend(f"-A {c.name} {'-g' if r.target.goto else '-j'} {r.target.name}"
                 for c in table.chains for r in c.rules
                 if r.target is not None and r.target.is_chain)
    lines.extend((f"-A {chain} {text}", "COMMIT", ""))
    return _last_rule("\n".join(lines), table.name, chain, family)


@lru_cache(maxsize=256)
def _last_rule(text: str, table: str, chain: str, family: int) -> Rule:
    """The last rule of ``table chain`` in the ruleset ``text`` (a what-if names the same
    rule in every scenario that uses it: it is read once)."""
    found = parse_text(text, "<rule>", family).chain(table, chain)
    assert found is not None and found.rules  # the text's last line is a rule of it
    return found.rules[-1]
