"""Reads nftables rulesets: ``nft -f`` input (``add table``/``add chain``/``add rule``/
``insert rule``/``flush table``, what Istio writes) and ``nft list ruleset`` output (the
nested ``table inet T { chain C { ... } }`` form, with counters, handles and comments),
which are one language; ``nft -j list ruleset`` JSON is read by ``_nft_json``.

Every problem of the file is collected as ``file:line:column`` with the token found and
what was expected; the parser then goes on at the next command or rule.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, NoReturn, TypeVar, cast

from .._errors import ChainwalkError, Location, Problem
from .._files import read_text
from . import _nft_model as model
from . import _nft_values as nv
from ._nft_tokens import IDENTIFIER, KEYWORDS, Token, TokenError, expand_variables, tokenize

_Item = TypeVar("_Item")
#: An element added to a set: its key, or a map's key and value.
_SetItem = model.Element | tuple[model.Element, model.Element | model.Verdict]

#: Named priorities: the number, and the hooks where nft accepts the name (None: all).
PRIORITIES: dict[str, tuple[int, tuple[str, ...] | None]] = {
    "raw": (-300, None), "mangle": (-150, None), "dstnat": (-100, ("prerouting",)),
    "filter": (0, None), "security": (50, None), "srcnat": (100, ("postrouting",)),
}
#: The hooks each chain type may take (the kernel refuses the others).
_CHAIN_HOOKS: dict[str, tuple[str, ...]] = {
    "filter": model.HOOKS, "nat": ("prerouting", "input", "output", "postrouting"),
    "route": ("output",)}
#: A nat chain runs after conntrack: the kernel refuses one at this priority or below.
_CONNTRACK_PRIORITY = -200
#: How deep jumps and gotos may nest below a base chain (the kernel's NFT_JUMP_STACK_SIZE:
#: a chain reached at this depth, or a loop, makes it refuse the ruleset).
_JUMP_DEPTH = 16
#: Where the kernel lets a statement work: the chain type it needs (None: any) and the
#: hooks; checked in every base chain that reaches the statement's chain.
_STATEMENT_HOOKS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "dnat": ("nat", ("prerouting", "output")), "redirect": ("nat", ("prerouting", "output")),
    "snat": ("nat", ("input", "postrouting")), "masquerade": ("nat", ("postrouting",)),
    "tproxy": (None, ("prerouting",)),
    "reject": (None, ("prerouting", "input", "forward", "output"))}
#: The longest comment nft takes (a table's, a chain's, a set's or a rule's).
_COMMENT_LENGTH = 128
#: The matches of a transport protocol by number (with == and one value: the context's).
_TRANSPORT_MATCHES = frozenset((model.Meta("l4proto"), model.Payload("ip", "protocol"),
                                model.Payload("ip6", "nexthdr")))
_NFPROTO = model.Meta("nfproto")
_OPS: tuple[model.Op, ...] = ("==", "!=", "<", ">", "<=", ">=")
_MAX_U64 = 2**64 - 1
#: The operators nft also takes as words.
_OP_WORDS: dict[str, model.Op] = {"eq": "==", "ne": "!=", "lt": "<", "gt": ">", "le": "<=",
                                  "ge": ">="}
#: The operators, the longer first (as they may be written against their value).
_GLUED_OPS: tuple[model.Op, ...] = ("!=", "==", "<=", ">=", "<", ">")
#: Every spelling of an operator, and the operator.
_OP_NAMES: dict[str, model.Op] = {**{op: op for op in _OPS}, **_OP_WORDS}
_LOG_LEVELS = ("emerg", "alert", "crit", "err", "warn", "notice", "info", "debug", "audit")
_VERDICTS = ("accept", "drop", "continue", "return")
_TRANSPORT = ("tcp", "udp", "sctp", "dccp", "udplite")
#: What a bare reject sends in each family (nft lists it as ``reject``), and the ICMP
#: types each family takes.
_DEFAULT_REJECT = {"ip": "icmp port-unreachable", "ip6": "icmpv6 port-unreachable",
                   "inet": "icmpx port-unreachable"}
_REJECT_ICMP = {"ip": ("icmp",), "ip6": ("icmpv6",), "inet": ("icmp", "icmpv6", "icmpx")}
_NAT_FLAGS = ("random", "fully-random", "persistent")


class _Bad(Exception):
    """A problem in the command being read: recorded, then the parser skips to the next."""


@dataclass
class _ChainDraft:
    name: str
    base: model.BaseHook | None
    location: Location
    handle: int = 0  # none yet
    born: int = 0  # when it was added (the parser's clock)
    rules: list[model.NftRule] = field(default_factory=list)
    comment: str | None = None


_Numbered = _ChainDraft | model.NftSet | model.NftRule


@dataclass
class _TableDraft:
    family: model.Family
    name: str
    location: Location
    handle: int
    chains: dict[str, _ChainDraft] = field(default_factory=dict)
    sets: dict[str, model.NftSet] = field(default_factory=dict)
    comment: str | None = None
    next_handle: int = 1
    # Inside a ``table ... { }`` block, what waits for a handle: nft -f adds the block's
    # chains first, then its sets, then its rules, and numbers them in that order.
    waiting: list[_Numbered] | None = None

    def new_handle(self) -> int:
        self.next_handle += 1
        return self.next_handle - 1

    def rule_handle(self, rule: model.NftRule) -> int:
        """A new rule's handle: after one for each anonymous set it holds, as nft counts."""
        self.next_handle += sum(
            1 for s in rule.statements
            if (isinstance(s, model.Match) and isinstance(s.right, tuple))
            or (isinstance(s, model.Vmap) and isinstance(s.map, tuple)))
        return self.new_handle()

    def number(self, item: _Numbered) -> None:
        """Gives ``item`` (without a listed handle) the next handle, or queues it until
        the end of the table's block."""
        if self.waiting is not None:
            self.waiting.append(item)
        elif isinstance(item, model.NftRule):
            item.handle = self.rule_handle(item)
        else:
            item.handle = self.new_handle()

    def end_block(self) -> None:
        """Numbers what the table's block queued: chains, then sets, then rules."""
        waiting, self.waiting = self.waiting or [], None
        for item in sorted(waiting, key=lambda i: 0 if isinstance(i, _ChainDraft) else
                           1 if isinstance(i, model.NftSet) else 2):
            if not item.handle:  # a handle listed after its line was read
                self.number(item)


class _Parser:
    def __init__(self, text: str, path: str) -> None:
        self.path = path
        self.problems: list[Problem] = []
        errors: list[TokenError] = []
        try:
            self.tokens = tokenize(text)
            if "$" in text or "define" in text:  # a token loop only for a file with them
                self.tokens, errors = expand_variables(self.tokens)
        except TokenError as refused:
            self.tokens, errors = [], [refused]
        for e in errors:
            self.problems.append(Problem(Location(path, e.line, e.column), e.message,
                                         e.token, e.expected))
        self.pos = 0
        # whether the last set in braces had a range, prefix or wildcard (an interval set)
        self.spans = False
        self.names: set[str] = set()  # the names identifier() has taken
        # a clock ticking at each chain added, and when each rule was added (a rule may
        # jump only to a chain added before it: nft -f adds them in turn)
        self.clock = 0
        self.added_at: dict[int, int] = {}
        self.tables: dict[tuple[str, str], _TableDraft] = {}
        self.next_table_handle = 1
        # Handles a listing gave (``nft -a``): used instead of counted ones.
        self.listed = False
        # The elements added to each set (by id), sorted into it at the end.
        self.added: dict[int, tuple[model.NftSet, list[_SetItem]]] = {}

    # -- tokens ----------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def at(self, token: Token) -> Location:
        return Location(self.path, token.line, token.column)

    def fail(self, message: str, expected: str | None, token: Token | None = None
             ) -> NoReturn:
        token = token or self.tok
        shown = {"nl": "end of line", "eof": "end of file"}.get(token.kind)
        self.problems.append(Problem(self.at(token), message,
                                     shown if shown else token.text, expected))
        raise _Bad

    def at_eof(self) -> bool:
        return self.tok.kind == "eof"

    def next(self) -> Token:
        token = self.tokens[self.pos]
        if token.kind != "eof":
            self.pos += 1
        return token

    # The helpers below read self.tokens[self.pos] rather than self.tok: they run for
    # every token, and a property costs a call.
    def is_word(self, *texts: str) -> bool:
        token = self.tokens[self.pos]
        return token.kind == "word" and (not texts or token.text in texts)

    def is_punct(self, text: str) -> bool:
        token = self.tokens[self.pos]
        return token.kind == "punct" and token.text == text

    def word(self, what: str, expected: str | None = None) -> str:
        token = self.tokens[self.pos]
        if token.kind != "word" and token.kind != "string":
            self.fail(f"missing {what}", expected or what)
        self.pos += 1
        return token.text

    def identifier(self, what: str) -> str:
        """A table's, chain's or set's name as nft reads one: unquoted, no keyword."""
        token = self.tokens[self.pos]
        if token.kind == "word" and token.text in self.names:  # met again and again
            self.pos += 1
            return token.text
        if token.kind == "word" and IDENTIFIER.fullmatch(token.text) and \
                token.text not in KEYWORDS:
            self.names.add(token.text)
            self.pos += 1
            return token.text
        if token.kind == "word" and token.text in KEYWORDS:
            self.fail(f"{token.text} is a keyword of nft, not a {what}",
                      f"another {what} (nft reads this word as its keyword)")
        self.word(what)  # fails at a line's end or punctuation
        self.fail(f"not a {what}", "a name of letters, digits and / - _ . (not quoted, "
                  "not starting with a digit)", token)

    def known_word(self, what: str, names: Collection[str]) -> str:
        """A word that must be one of ``names``."""
        token = self.tok
        found = self.word(what, ", ".join(names))
        if found not in names:
            self.fail(f"unknown {what}", ", ".join(names), token)
        return found

    def expect_word(self, *texts: str) -> str:
        if not self.is_word(*texts):
            self.fail("unexpected token", " or ".join(repr(t) for t in texts))
        return self.next().text

    def expect_punct(self, text: str) -> None:
        if not self.is_punct(text):
            self.fail("unexpected token", repr(text))
        self.next()

    def at_end(self) -> bool:
        """The end of a statement list: a line end, ``;``, ``}``, a handle or the file's end."""
        t = self.tokens[self.pos]
        return t.kind in ("nl", "eof", "handle") or (t.kind == "punct" and t.text in ";}")

    def skip_lines(self) -> None:
        while self.tok.kind == "nl" or self.is_punct(";"):
            self.next()

    def recover(self) -> None:
        """After a problem: to the end of the current line (braces balanced)."""
        depth = 0
        while not self.at_eof():
            t = self.tok
            if t.kind == "punct" and t.text == "{":
                depth += 1
            elif t.kind == "punct" and t.text == "}":
                if depth == 0:
                    return
                depth -= 1
            elif t.kind == "nl" and depth == 0:
                return
            self.next()

    def handle(self) -> int | None:
        if self.tok.kind == "handle":
            self.listed = True
            return int(self.next().text)
        return None

    # -- the file ----------------------------------------------------------------
    def parse(self) -> model.NftRuleset:
        while self.tokens and not self.at_eof():
            self.skip_lines()
            if self.at_eof():
                break
            try:
                self.command()
                if not self.at_end():
                    self.fail("unexpected token after the command", "the end of the line")
            except _Bad:
                self.recover()
                if self.is_punct("}"):
                    self.next()
        for target, items in self.added.values():
            # a set has no order: kept sorted, so equal sets compare equal
            target.elements = tuple(sorted(set(items), key=lambda e: e if isinstance(e, str)
                                           else e[0]))
        self.check_references()
        if self.problems:
            raise ChainwalkError(self.problems)
        return self.build()

    def command(self) -> None:
        start = self.tok
        verb = self.word("command", "a command (add, insert, flush, delete, table)")
        if verb == "table":
            table = self.declare_table(start)
            self.table_body(table)
            return
        if verb in ("chain", "rule", "set", "map", "element"):  # nft: add is implied
            self.pos -= 1
            verb = "add"
        if verb in ("add", "create"):
            what = self.expect_word("table", "chain", "rule", "set", "map", "element")
            create = verb == "create"  # refuses what exists, where add takes it
            if what == "table":
                table = self.declare_table(start, create)
                if self.is_punct("{"):
                    self.table_body(table)
            elif what == "chain":
                table = self.table_ref()
                self.declare_chain(table, start, create)
            elif what == "rule":
                self.add_rule(insert=False)
            elif what in ("set", "map"):
                table = self.table_ref()
                self.declare_set(table, what == "map", start, create)
            else:
                table = self.table_ref()
                name = self.identifier("set name")
                self.elements_into(table, name, start)
            return
        if verb == "insert":
            self.expect_word("rule")
            self.add_rule(insert=True)
            return
        if verb in ("flush", "delete"):
            what = self.expect_word("ruleset", "table", "chain", "rule")
            if what == "ruleset":
                if verb == "flush":
                    self.tables.clear()
                return
            table = self.table_ref()
            if what == "table":
                if verb == "delete":
                    del self.tables[(table.family, table.name)]
                else:
                    for chain in table.chains.values():
                        chain.rules.clear()
                return
            chain = self.chain_ref(table)
            if what == "chain":
                if verb == "delete":
                    del table.chains[chain.name]
                else:
                    chain.rules.clear()
                return
            self.expect_word("handle")
            number = self.number("rule handle")
            kept = [r for r in chain.rules if r.handle != number]
            if len(kept) == len(chain.rules):
                self.fail(f"no rule with handle {number} in chain {chain.name}",
                          "an existing rule's handle", self.tokens[self.pos - 1])
            chain.rules[:] = kept
            return
        self.fail("unknown command", "add, create, insert, flush, delete or table", start)

    def number(self, what: str) -> int:
        token = self.tok
        text = self.word(what)
        try:
            return nv.c_number(text)
        except ValueError:
            self.fail(f"{what} is not a number", "a number (decimal, 0x hex or 0 octal)",
                      token)

    # -- tables, chains, sets --------------------------------------------------------
    def family_name(self) -> tuple[model.Family, str, Token]:
        if self.is_word(*model.FAMILIES) and self.tokens[self.pos + 1].kind in ("word", "string"):
            family = cast(model.Family, self.next().text)
        elif self.is_word("arp", "bridge", "netdev"):
            self.fail("unsupported family", "ip, ip6 or inet")
        else:
            family = "ip"
        token = self.tok
        return family, self.identifier("table name"), token

    def exists(self, what: str, token: Token) -> NoReturn:
        self.fail(f"create {what}: it exists", f"a new {what.split()[0]} (create refuses one "
                  "that exists; add takes it)", token)

    def declare_table(self, start: Token, create: bool = False) -> _TableDraft:
        family, name, token = self.family_name()
        table = self.tables.get((family, name))
        if table is not None and create:
            self.exists(f"table {family} {name}", token)
        if table is None:
            table = _TableDraft(family, name, self.at(start), self.next_table_handle)
            self.next_table_handle += 1
            self.tables[(family, name)] = table
        listed = self.handle()
        if listed is not None:
            table.handle = listed
        return table

    def table_ref(self) -> _TableDraft:
        family, name, token = self.family_name()
        table = self.tables.get((family, name))
        if table is None:
            known = ", ".join(f"{f} {n}" for f, n in self.tables) or "none yet"
            self.fail(f"no table {family} {name}", f"a table added before ({known})", token)
        return table

    def chain_ref(self, table: _TableDraft) -> _ChainDraft:
        token = self.tok
        name = self.identifier("chain name")
        chain = table.chains.get(name)
        if chain is None:
            self.fail(f"no chain {name} in table {table.family} {table.name}",
                      "a chain added before", token)
        return chain

    def table_body(self, table: _TableDraft) -> None:
        self.expect_punct("{")
        listed = self.handle()
        if listed is not None:
            table.handle = listed
        table.waiting = []
        try:
            self.block("table", lambda: self.table_line(table))
        finally:
            for item in table.waiting:  # the block's rules are added after its chains
                if isinstance(item, model.NftRule):
                    self.added_at[id(item)] = self.clock
            table.end_block()

    def block(self, what: str, line: Callable[[], None]) -> None:
        """The lines of a ``{ ... }`` block whose ``{`` is read, each read by ``line`` and
        ended by a line end or ``;`` (nft's grammar: also the last one, before ``}``), and
        its ``}``; a bad line is reported and skipped."""
        while True:
            self.skip_lines()
            if self.is_punct("}"):
                self.next()
                return
            if self.at_eof():
                self.fail(f"the {what}'s block is never closed", "'}'")
            try:
                line()
                self.separator()
            except _Bad:
                self.recover()
                if self.at_eof():
                    return

    def separator(self) -> None:
        """A line end or ``;`` after a line of a block, left to be skipped."""
        if self.tok.kind != "nl" and not self.is_punct(";"):
            self.fail("unexpected token", "a line end or ';' (nft needs one after each line "
                      "of a block, the last one too)")

    def table_line(self, table: _TableDraft) -> None:
        start = self.tok
        kind = self.expect_word("chain", "set", "map", "comment", "flags")
        if kind == "chain":
            if not self.declare_chain(table, start):
                self.fail("a chain in a table's block needs its own block", "'{'")
        elif kind in ("set", "map"):
            self.declare_set(table, kind == "map", start)
        elif kind == "comment":
            table.comment = self.comment()
        else:
            self.word("table flag")
        self.handle()

    def string(self, what: str) -> str:
        if self.tok.kind != "string":
            self.fail(f"missing {what}", "a quoted string")
        return self.next().text

    def declare_chain(self, table: _TableDraft, start: Token, create: bool = False) -> bool:
        """The chain's name and its block if it has one (True then)."""
        token = self.tok
        name = self.identifier("chain name")
        chain = table.chains.get(name)
        if chain is not None and create:
            self.exists(f"chain {name}", token)
        if chain is None:
            self.clock += 1
            chain = _ChainDraft(name, None, self.at(token), born=self.clock)
            table.chains[name] = chain
            table.number(chain)
        listed = self.handle()
        if listed is not None:
            chain.handle = listed
        if not self.is_punct("{"):
            return False
        self.next()
        listed = self.handle()
        if listed is not None:
            chain.handle = listed
        self.block("chain", lambda: self.chain_line(table, chain))
        return True

    def chain_line(self, table: _TableDraft, chain: _ChainDraft) -> None:
        if self.is_word("type"):
            chain.base = self.base_hook(chain.base)
        elif self.is_word("policy"):
            self.next()
            if chain.base is None:
                self.fail("a policy needs a base chain", "'type ... hook ...' first",
                          self.tokens[self.pos - 1])
            policy = self.expect_word("accept", "drop")
            chain.base = model.BaseHook(chain.base.type, chain.base.hook, chain.base.priority,
                                        cast("Literal['accept', 'drop']", policy))
        elif self.is_word("comment"):
            self.next()
            if chain.comment is not None:
                self.fail("a chain's second comment", "one comment (nft: the statement is "
                          "duplicated)", self.tokens[self.pos - 1])
            chain.comment = self.comment()
        else:
            rule = self.rule(table)
            rule.handle = self.handle()
            if rule.handle is None:
                table.number(rule)
            chain.rules.append(rule)

    def base_hook(self, old: model.BaseHook | None) -> model.BaseHook:
        self.expect_word("type")
        kind = cast(model.ChainType, self.expect_word("filter", "nat", "route"))
        self.expect_word("hook")
        token = self.tok
        hook = cast(model.Hook, self.known_word("hook", model.HOOKS))
        if hook not in _CHAIN_HOOKS[kind]:
            self.fail(f"a {kind} chain hooks {' or '.join(_CHAIN_HOOKS[kind])} only",
                      "hook " + " or ".join(_CHAIN_HOOKS[kind]), token)
        if self.is_word("device"):
            self.fail("devices are for netdev chains", "priority", self.tok)
        self.expect_word("priority")
        token = self.tok
        priority = self.priority(hook)
        if kind == "nat" and priority <= _CONNTRACK_PRIORITY:
            self.fail(f"a nat chain's priority is above conntrack's ({_CONNTRACK_PRIORITY})",
                      f"a priority above {_CONNTRACK_PRIORITY} (the kernel refuses the chain)",
                      token)
        return model.BaseHook(kind, hook, priority, old.policy if old else "accept")

    def priority(self, hook: str) -> int:
        """A priority as nft reads it: a number (``-`` before it allowed, not ``+``) or a
        name with ``+ N`` or ``- N``; the kernel keeps it as a signed 32-bit number."""
        token = self.tok
        text = self.word("priority", "a number or a name (raw, mangle, dstnat, filter, ...)")
        if text in PRIORITIES:
            value, hooks = PRIORITIES[text]
            if hooks is not None and hook not in hooks:
                self.fail(f"priority {text} is for hook {' or '.join(hooks)}",
                          "a number", token)
            if self.is_word("+", "-"):
                sign = 1 if self.next().text == "+" else -1
                value += sign * self.number("priority offset")
            elif self.tok.kind == "word" and self.tok.text[:1] in "+-" and \
                    self.tok.text[1:2].isdigit():  # filter -5: nft's scanner splits the sign
                sign = 1 if self.tok.text[0] == "+" else -1
                self.tok.text = self.tok.text[1:]
                value += sign * self.number("priority offset")
            return _int32(value)
        sign = 1
        if text.startswith("-"):
            sign, text = -1, text[1:] or self.word("priority", "a number")
        try:
            return _int32(sign * nv.c_number(text))
        except ValueError:
            self.fail("unknown priority", "a number or raw, mangle, dstnat, filter, "
                      "security, srcnat", token)

    def declare_set(self, table: _TableDraft, is_map: bool, start: Token,
                    create: bool = False) -> None:
        token = self.tok
        name = self.identifier("set name")
        if name in table.sets and create:
            self.exists(f"set {name}", token)
        listed = self.handle()
        self.expect_punct("{")
        listed = self.handle() or listed
        key: tuple[str, ...] = ()
        data: str | None = None
        flags: tuple[str, ...] = ()
        comment: str | None = None
        raw: list[tuple[Token, list[Token]]] = []
        while True:
            self.skip_lines()
            if self.is_punct("}"):
                self.next()
                break
            what = self.expect_word("type", "flags", "elements", "comment", "size", "policy",
                                    "counter", "timeout", "auto-merge")
            if what == "type":
                key = tuple(self.types())
                if is_map:
                    self.expect_word(":")
                    data_token = self.tok
                    data = self.word("map value type")
                    if data != "verdict" and data not in nv.TYPES:
                        self.fail("unknown type", "verdict or " + ", ".join(nv.TYPES),
                                  data_token)
            elif what == "flags":
                names = [self.word("flag")]
                while self.is_punct(","):
                    self.next()
                    names.append(self.word("flag"))
                flags = tuple(names)
            elif what == "elements":
                self.expect_word("=")
                raw.append((self.tok, self.brace_tokens()))
            elif what == "comment":
                comment = self.comment()
            elif what in ("size", "policy", "timeout"):
                self.word(what)
            if what != "elements":  # nft's grammar ends every other line with a separator
                self.separator()
        if not key:
            self.fail(f"set {name} has no type", "'type T'", token)
        if is_map and data is None:
            self.fail(f"map {name} has no value type", "'type K : V'", token)
        found = table.sets.get(name)
        if found is None:
            found = model.NftSet(name, key, data, flags, (), comment, listed, self.at(token))
            if listed is None:
                table.number(found)
            table.sets[name] = found
        elif (found.key, found.data) != (key, data):  # added again: its elements join it
            self.fail(f"set {name} is declared again with another type",
                      f"type {' . '.join(found.key)}" + (f" : {found.data}" if found.data
                                                          else ""), token)
        for at, tokens in raw:
            self.add_elements(found, at, tokens)

    def types(self) -> list[str]:
        found: list[str] = []
        while True:
            found.append(self.known_word("type", nv.TYPES))
            if not self.is_word("."):
                return found
            self.next()

    def brace_tokens(self) -> list[Token]:
        """The tokens of a ``{ ... }`` block (line ends dropped), braces excluded."""
        self.expect_punct("{")
        found: list[Token] = []
        depth = 0
        while True:
            t = self.tok
            if t.kind == "eof":
                self.fail("the braces are never closed", "'}'")
            self.next()
            if t.kind == "punct" and t.text == "}":
                if depth == 0:
                    return found
                depth -= 1
            if t.kind == "punct" and t.text == "{":
                depth += 1
            if t.kind != "nl":
                found.append(t)

    def elements_into(self, table: _TableDraft, name: str, start: Token) -> None:
        target = table.sets.get(name)
        if target is None:
            self.fail(f"no set {name} in table {table.family} {table.name}",
                      "a set added before", self.tokens[self.pos - 1])
        at = self.tok
        self.add_elements(target, at, self.brace_tokens())

    def add_elements(self, target: model.NftSet, at: Token, tokens: list[Token]) -> None:
        """Reads ``tokens`` (a set's elements) with a parser of their own."""
        sub = _Parser("", self.path)
        sub.tokens = [*tokens, Token("eof", "", at.line, at.column)]
        sub.problems = self.problems
        items = self.added.setdefault(id(target), (target, []))[1]
        while not sub.at_eof():
            key = sub.element(target.key, listed=True)
            if target.data is None:
                items.append(key)
            else:
                sub.expect_word(":")
                value: model.Element | model.Verdict = (sub.verdict() if target.data == "verdict"
                                                        else sub.element((target.data,)))
                items.append((key, value))
            if sub.at_eof():
                break
            sub.expect_punct(",")


    # -- rules -------------------------------------------------------------------------
    def add_rule(self, insert: bool) -> None:
        table = self.table_ref()
        chain = self.chain_ref(table)
        at = len(chain.rules) if not insert else 0
        if self.is_word("index", "position", "handle"):
            how = self.next().text
            token = self.tok
            number = self.number(how)
            if how != "index":  # nft looks the handle up among the rules already in the
                # kernel, and the file's own are not yet: it finds none (ENOENT)
                self.fail(f"a rule placed by {how} {number}", "index N (nft finds no rule "
                          "of the same file by its handle)", token)
            if number > len(chain.rules) - (0 if insert else 1):
                self.fail(f"index {number} is past the chain's {len(chain.rules)} rules",
                          f"at most {len(chain.rules) - (0 if insert else 1)}", token)
            at = number if insert else number + 1
        rule = self.rule(table)
        rule.handle = table.rule_handle(rule)
        self.added_at[id(rule)] = self.clock
        chain.rules.insert(at, rule)

    def rule(self, table: _TableDraft) -> model.NftRule:
        start = self.tok
        statements: list[model.Statement] = []
        starts: list[Token] = []
        comment: str | None = None
        while not self.at_end():
            if self.is_word("comment"):
                self.next()
                comment = self.comment()
                if not self.at_end():
                    self.fail("unexpected token", "the end of the rule (its comment comes "
                              "last, once)")
                continue
            starts.append(self.tok)
            statements.append(self.statement(table))
        if not statements and comment is None:
            self.fail("empty rule", "a match or a statement", start)
        statements = _Context(self, table.family).read(statements, starts)
        return model.NftRule(_without_dependencies(statements, table.family), comment, None,
                             self.at(start))

    def comment(self) -> str:
        """A comment's string: at most 128 characters, as nft takes."""
        token = self.tok
        text = self.string("comment")
        if len(text) > _COMMENT_LENGTH:
            self.fail(f"a comment of {len(text)} characters", f"at most {_COMMENT_LENGTH}",
                      token)
        return text

    def statement(self, table: _TableDraft) -> model.Statement:
        t = self.tok
        text = t.text if t.kind == "word" else ""
        if text == "counter":
            self.next()
            # nft takes ``packets N`` and ``bytes N`` in any order, either alone
            counts = {"packets": 0, "bytes": 0}
            while self.is_word("packets", "bytes"):
                name = self.next().text
                token = self.tok
                counts[name] = self.number(f"{name[:-1]} count")
                if counts[name] > _MAX_U64:
                    self.fail(f"a {name[:-1]} count past 64 bits", f"at most {_MAX_U64}",
                              token)
            return model.Counter(counts["packets"], counts["bytes"])
        if text in _VERDICTS or text in ("jump", "goto"):
            return self.verdict()
        if text == "reject":
            self.next()
            with_ = None
            if self.is_word("with"):
                self.next()
                words = []
                while not self.at_end() and not self.is_word("comment"):
                    words.append(self.next().text)
                with_ = " ".join(words).replace(" type ", " ")
            return model.Reject(with_)  # the family's default: _Context.reject
        if text in ("redirect", "dnat", "snat", "masquerade"):
            return self.nat(table)
        if text == "tproxy":
            return self.tproxy()
        if text == "log":
            self.next()
            options: list[tuple[str, str]] = []
            while self.is_word("prefix", "level", "group", "snaplen", "flags"):
                name = self.next().text
                value = (f'"{self.word("log prefix")}"' if name == "prefix"  # quoted or not
                         else self.known_word("log level", _LOG_LEVELS) if name == "level"
                         else self.word(f"log {name}"))
                options = [o for o in options if o[0] != name]  # given twice: the last
                if (name, value) != ("level", "warn"):  # the default, which nft lists so
                    options.append((name, value))
            return model.Log(tuple(options))
        if text == "notrack":
            self.next()
            return model.Notrack()
        if text == "mark" and self.tokens[self.pos + 1].text == "set":
            self.next()
            return self.set_statement(model.Meta("mark"))
        expr = self.expression()
        if self.is_word("set"):
            if not isinstance(expr, model.Meta | model.Ct) or expr not in (
                    model.Meta("mark"), model.Ct("mark"), model.Ct("zone")):
                self.fail("this expression cannot be set", "meta mark, ct mark or ct zone")
            return self.set_statement(expr)
        if self.is_word("vmap"):
            self.next()
            return model.Vmap(expr, self.vmap_body(expr))
        return self.match(expr)

    def verdict(self) -> model.Verdict:
        token = self.tok
        text = self.word("verdict", "accept, drop, return, continue, jump or goto")
        if text in _VERDICTS:
            return model.Verdict(cast("Literal['accept', 'drop', 'return', 'continue']", text))
        if text in ("jump", "goto"):
            return model.Verdict(cast("Literal['jump', 'goto']", text), self.identifier("chain name"))
        self.fail("unknown verdict", "accept, drop, return, continue, jump or goto", token)

    def set_statement(self, key: model.Meta | model.Ct) -> model.SetStmt:
        self.expect_word("set")
        value: model.SetValue
        if self.is_word("meta", "ct", "mark"):
            value = self.expression()
        else:
            token = self.tok
            text = self.word("value", "a number or an expression")
            try:
                value = nv._number(text)
            except ValueError:
                self.fail("not a number", "a 32-bit number or an expression (ct mark)",
                          token)
            if key == model.Ct("zone") and value > 0xFFFF:
                self.fail("a zone is 16 bits", "0-65535", token)
        return model.SetStmt(key, value)

    def nat(self, table: _TableDraft) -> model.Nat:
        kind = self.next().text
        family: str | None = None
        if kind in ("dnat", "snat") and self.is_word("ip", "ip6"):
            family = self.next().text
        address = port = None
        if self.is_word("to"):
            self.next()
            token = self.tok
            target = self.word("NAT target", "ADDRESS, ADDRESS:PORT or :PORT")
            address, port = self.nat_target(target, token, kind)
        elif kind in ("dnat", "snat"):
            self.fail(f"{kind} needs an address", "'to ADDRESS[:PORT]'")
        flags: list[str] = []
        if self.is_word(*_NAT_FLAGS):  # nft: comma-separated, kept in its own order
            flags.append(self.next().text)
            while self.is_punct(","):
                self.next()
                flags.append(self.known_word("NAT flag", _NAT_FLAGS))
        flags = sorted(set(flags), key=_NAT_FLAGS.index)
        if address is not None:
            version = 6 if ":" in address else 4
            if (family or table.family) == ("ip6" if version == 4 else "ip"):
                self.fail("the address is of the other family", f"an {family or table.family} "
                          "address")
        return model.Nat(cast("Literal['redirect', 'dnat', 'snat', 'masquerade']", kind), family,
                         address, port, tuple(flags))

    def nat_target(self, text: str, token: Token, kind: str) -> tuple[str | None, str | None]:
        if text.startswith("["):
            if "]" not in text:
                self.fail("an IPv6 address in brackets is never closed", "[ADDRESS]:PORT",
                          token)
            host, _, rest = text[1:].partition("]")
            port = rest[1:] if rest.startswith(":") else None
        elif text.startswith(":") and text.count(":") == 1:  # ::1 is an address
            host, port = "", text[1:]
        elif text.count(":") == 1:
            host, _, port = text.partition(":")
        else:
            host, port = text, None
        if kind in ("redirect", "masquerade") and host:
            if port is None and host[:1].isdigit():  # redirect to 15001: nft's :15001
                host, port = "", host
            else:
                self.fail(f"{kind} takes a port only", "':PORT'", token)
        address = None
        if host:
            try:
                address = nv.normal(host, "ipv6_addr" if ":" in host else "ipv4_addr")
            except ValueError:
                self.fail("not an address", "an IP address or range", token)
            if "/" in address:
                self.fail("not an address", "an address or a range, not a prefix", token)
        if port is not None:
            try:
                port = nv.normal(port, "inet_service")
            except ValueError:
                self.fail("not a port", "a port or port range", token)
        return address, port

    def tproxy(self) -> model.Tproxy:
        self.next()
        family = self.next().text if self.is_word("ip", "ip6") else None
        self.expect_word("to")
        token = self.tok
        address, port = self.nat_target(self.word("tproxy target", "[ADDRESS]:PORT"), token,
                                        "tproxy")
        return model.Tproxy(family, address, int(port.split("-")[0]) if port else None)

    # -- expressions ---------------------------------------------------------------------
    def expression(self) -> model.Expr:
        parts = [self.primary()]
        while self.is_word("."):
            self.next()
            parts.append(self.primary())
        if len(parts) == 1:
            return parts[0]
        if any(isinstance(p, model.Concat | model.Numgen) for p in parts):
            self.fail("cannot concatenate this", "fields such as ip daddr . tcp dport")
        return model.Concat(tuple(cast("model.Payload | model.Meta | model.Ct", p)
                                  for p in parts))

    def primary(self) -> model.Expr:
        token = self.tok
        text = self.word("expression", "a match (ip daddr, tcp dport, meta mark, ct state...)"
                         " or a statement")
        base: model.Payload | model.Meta | model.Ct
        if text in nv.PAYLOAD_FIELDS:
            base = model.Payload(text, self.known_word(f"{text} field", nv.PAYLOAD_FIELDS[text]))
        elif text == "meta":
            base = model.Meta(self.known_word("meta key", nv.META_KEYS))
        elif text in nv.BARE_META:
            base = model.Meta(text)
        elif text == "ct":
            base = model.Ct(self.known_word("ct key", nv.CT_KEYS))
        elif text == "numgen":
            self.expect_word("random")
            self.expect_word("mod")
            modulus = self.number("modulus")
            if modulus < 1:
                self.fail("a modulus is at least 1", "a number >= 1",
                          self.tokens[self.pos - 1])
            return model.Numgen(modulus)
        else:
            self.fail("unknown expression or statement", "a match (ip daddr, tcp dport, "
                      "meta mark, ct state...) or a statement (counter, accept, jump, "
                      "redirect...)", token)
        if not self.is_word("&", "and", "|", "or", "^", "xor"):
            return base
        if nv.type_of(base) not in (("mark",), ("integer",), ("zone",)):
            self.fail("only marks take a mask", "a match or statement", self.tok)
        mask, xor = nv.MAX_U32, 0
        while self.is_word("&", "and", "|", "or", "^", "xor"):
            op = self.next().text
            number_token = self.tok
            try:
                value = nv._number(self.word("mask"))
            except ValueError:
                self.fail("not a 32-bit number", "a number such as 0xfff", number_token)
            if op in ("&", "and"):
                mask, xor = mask & value, xor & value
            elif op in ("|", "or"):
                mask, xor = mask & ~value & nv.MAX_U32, xor | value
            else:
                xor ^= value
        if (mask, xor) == (nv.MAX_U32, 0):  # & 0xffffffff, | 0, ^ 0: nft drops them
            return base
        return model.Bitwise(base, mask, xor)

    def match(self, left: model.Expr) -> model.Match:
        op: model.Op = "=="
        token = self.tokens[self.pos]
        if token.kind == "word" and token.text in _OP_NAMES:
            self.pos += 1
            op = _OP_NAMES[token.text]
        elif token.kind == "word" and token.text[:1] in "!=<>":
            # an operator written against its value (!=80): nft's scanner splits them
            glued = next((o for o in _GLUED_OPS if token.text.startswith(o)), None)
            if glued is not None:
                op = glued
                token.text, token.column = token.text[len(glued):], token.column + len(glued)
        if isinstance(left, model.Numgen):
            self.fail("numgen is for maps", "'vmap { ... }'")
        if self.is_punct("{"):
            if op not in ("==", "!="):
                self.fail("a set is matched with == or !=", "'==' or '!='")
            types = nv.type_of(left)
            self.spans = False  # set by element() when a range, prefix or wildcard is read
            items = self.braced_list(self.set_element, types)
            if len(items) == 1 and len(types) == 1:  # nft: { 80 } is 80, not a set (a
                return model.Match(left, op, items[0])  # concatenation's stays one)
            return model.Match(left, op, nv.set_elements(list(items), types, self.spans))
        if self.tok.kind == "word" and self.tok.text.startswith("@"):
            name = self.next().text[1:]
            return model.Match(left, op, model.SetRef(name))
        right = self.element(nv.type_of(left))
        if op not in ("==", "!=") and ("-" in right or "/" in right):
            self.fail("a range or prefix is matched with == or !=", "a single value",
                      self.tokens[self.pos - 1])
        return model.Match(left, op, right)

    def element(self, types: tuple[str, ...], listed: bool = False) -> model.Element:
        """One value of ``types`` (a concatenation's parts joined by `` . ``); ``listed``:
        an element of a set's braces."""
        parts: list[str] = []
        for number, dtype in enumerate(types):
            if number:
                self.expect_word(".")
            token = self.tok
            if token.kind not in ("word", "string") or self.at_end():
                self.fail("missing value", nv.EXPECTED[dtype])
            text = self.next().text
            if dtype == "ct_state" and not listed:  # in a set, a comma ends the element
                # states joined by ',' or by '|' (as nft lists them after !=)
                while (self.is_punct(",") or self.is_word("|")) and \
                        self.tokens[self.pos + 1].text in nv.CT_STATES:
                    self.next()
                    text += "," + self.next().text
            if self.is_word("-") and dtype not in ("ifname",):
                self.next()
                text += "-" + self.word("range end")
            if "/" in text or "-" in text or text.endswith("*"):
                self.spans = True
            try:
                parts.append(nv.normal(text, dtype))
            except ValueError:
                self.fail("not a value of this type", nv.EXPECTED[dtype], token)
        return " . ".join(parts)

    def set_element(self, types: tuple[str, ...]) -> model.Element:
        return self.element(types, listed=True)

    def braced_list(self, item: Callable[[tuple[str, ...]], _Item], types: tuple[str, ...]
                    ) -> tuple[_Item, ...]:
        """``{ ITEM, ITEM ... }``, each read by ``item`` for keys of ``types``, line ends
        allowed around them."""
        self.expect_punct("{")
        items: list[_Item] = []
        while True:
            self.skip_nl()
            items.append(item(types))
            self.skip_nl()
            if self.is_punct("}"):
                self.next()
                return tuple(items)
            self.expect_punct(",")

    def skip_nl(self) -> None:
        while self.tok.kind == "nl":
            self.next()

    def vmap_body(self, key: model.Expr
                  ) -> tuple[tuple[model.Element, model.Verdict], ...] | model.SetRef:
        if self.tok.kind == "word" and self.tok.text.startswith("@"):
            return model.SetRef(self.next().text[1:])
        types = nv.type_of(key)
        start = self.tok
        items = self.braced_list(self.vmap_item, types)
        keys = [k for k, _ in items]
        twice = next((k for i, k in enumerate(keys) if k in keys[:i]), None)
        if twice is not None:
            self.problems.append(Problem(self.at(start), "a key twice in a verdict map", twice,
                                         "each key once (the kernel refuses the rule)"))
            raise _Bad
        if len(types) > 1:
            return items
        order = nv.set_elements(keys, types, spans=False)  # in order of value, as nft lists
        return tuple(sorted(items, key=lambda item: order.index(item[0])))

    def vmap_item(self, types: tuple[str, ...]) -> tuple[model.Element, model.Verdict]:
        element = self.element(types)
        self.expect_word(":")
        return element, self.verdict()

    # -- the whole ------------------------------------------------------------------
    def check_references(self) -> None:
        for table in self.tables.values():
            # each chain's jumps and gotos: the chain they go to, and where
            jumps: dict[str, list[tuple[str, Location]]] = {}
            # the statements the kernel takes at some hooks only, by chain
            restricted: dict[str, list[tuple[str, model.NftRule]]] = {}
            for chain in table.chains.values():
                for rule in chain.rules:
                    for s in rule.statements:
                        kind = _restricted_kind(s)
                        if kind is not None:
                            restricted.setdefault(chain.name, []).append((kind, rule))
                        targets = self.check_statement(table, chain, rule, s)
                        if targets:
                            where = rule.location or chain.location
                            jumps.setdefault(chain.name, []).extend(
                                (target, where) for target in targets)
            self.check_depth(table, jumps)
            if restricted:
                self.check_hooks(table, jumps, restricted)

    def check_hooks(self, table: _TableDraft, jumps: dict[str, list[tuple[str, Location]]],
                    restricted: dict[str, list[tuple[str, model.NftRule]]]) -> None:
        """As the kernel validates a table: a statement that works in some chain types or
        at some hooks only (NAT, tproxy, reject) in no other base chain, nor in a chain
        such a base chain reaches."""
        bases: dict[str, set[model.BaseHook]] = {}  # each chain: the base chains reaching it
        for chain in table.chains.values():
            if chain.base is None:
                continue
            level, seen = {chain.name}, {chain.name}
            for _ in range(_JUMP_DEPTH):
                for name in level:
                    bases.setdefault(name, set()).add(chain.base)
                level = {target for name in level for target, _ in jumps.get(name, ())
                         if target not in seen}
                seen |= level
        for name, found in restricted.items():
            for kind, rule in found:
                self.check_hook(kind, table.chains[name], rule, bases.get(name, set()))

    def check_hook(self, kind: str, chain: _ChainDraft, rule: model.NftRule,
                   hooks: set[model.BaseHook]) -> None:
        needed, allowed = _STATEMENT_HOOKS[kind]
        for base in sorted(hooks, key=lambda b: (b.type, b.hook)):
            where = rule.location or chain.location
            if needed is not None and base.type != needed:
                self.problems.append(Problem(where, f"{'nat' if needed == 'nat' else kind} in "
                                             f"a {base.type} chain", chain.name,
                                             f"a {needed} chain for {kind}"))
            elif base.hook not in allowed:
                self.problems.append(Problem(where, f"{kind} at hook {base.hook}", chain.name,
                                             f"{kind} at {' or '.join(allowed)} (the kernel "
                                             "refuses it elsewhere)"))
            else:
                continue
            return

    def check_depth(self, table: _TableDraft, jumps: dict[str, list[tuple[str, Location]]]
                    ) -> None:
        """As the kernel: no chain reached _JUMP_DEPTH jumps below a base chain (a loop
        reaches every depth). Level by level, so a long or looping table costs little."""
        # the chains reached at one depth, and where (a jump that reached each)
        reached = {name: c.location for name, c in table.chains.items() if c.base is not None}
        for _ in range(_JUMP_DEPTH):
            reached = {target: where for name in reached
                       for target, where in jumps.get(name, ())}
        if reached:
            name, where = next(iter(reached.items()))
            self.problems.append(Problem(where, f"jumps nest {_JUMP_DEPTH} deep below a base "
                                         "chain, or loop (the kernel refuses the ruleset)",
                                         name, f"fewer than {_JUMP_DEPTH} nested jumps, no loop"))

    def check_statement(self, table: _TableDraft, chain: _ChainDraft, rule: model.NftRule,
                        s: model.Statement) -> list[str]:
        """Problems of ``s`` recorded; the existing chains it jumps or goes to."""
        where = rule.location or chain.location
        verdicts: list[model.Verdict] = []
        if isinstance(s, model.Verdict):
            verdicts.append(s)
        elif isinstance(s, model.Vmap):
            if isinstance(s.map, model.SetRef):
                found = table.sets.get(s.map.name)
                if found is None or found.data != "verdict":
                    self.problems.append(Problem(where, f"no verdict map {s.map.name} in "
                                                f"table {table.family} {table.name}",
                                                "@" + s.map.name, "a map of type K : verdict"))
                    return []
                verdicts.extend(e[1] for e in found.elements
                                if isinstance(e, tuple) and isinstance(e[1], model.Verdict))
            else:
                verdicts.extend(v for _, v in s.map)
        targets: list[str] = []
        # the rule's own verdicts go where it is added (a named map's, where its elements are)
        added = self.added_at.get(id(rule)) if not (
            isinstance(s, model.Vmap) and isinstance(s.map, model.SetRef)) else None
        for verdict in verdicts:
            if verdict.chain is None:
                continue
            target = table.chains.get(verdict.chain)
            if target is not None and added is not None and target.born > added:
                self.problems.append(Problem(where, f"{verdict.kind} to a chain added after "
                                             "the rule", verdict.chain, "the chain added "
                                             "before the rule (nft -f adds them in turn)"))
            elif target is None:
                self.problems.append(Problem(where, f"{verdict.kind} to an unknown chain",
                                             verdict.chain, "a chain of table "
                                             f"{table.family} {table.name}"))
            elif target.base is not None:
                self.problems.append(Problem(where, f"{verdict.kind} to a base chain",
                                             verdict.chain, "a regular chain (the kernel "
                                             "refuses a jump to a hooked one)"))
            else:
                targets.append(verdict.chain)
        return targets

    def build(self) -> model.NftRuleset:
        tables = []
        for t in self.tables.values():
            chains = tuple(model.NftChain(c.name, c.base, tuple(c.rules), c.comment, c.handle,
                                          c.location) for c in t.chains.values())
            tables.append(model.NftTable(t.family, t.name, chains, tuple(t.sets.values()),
                                         t.comment, t.handle, t.location))
        return model.NftRuleset(tuple(tables), self.path)


class _Context:
    """What a rule's earlier matches tell nft of the packet, read left to right as nft
    reads them: the layer-3 protocol (an ip or ip6 table's own, or what ``ip ...``,
    ``ip6 ...`` or ``meta nfproto`` matched) and the transport protocol (what a header
    field or the first ``meta l4proto``, ``ip protocol`` or ``ip6 nexthdr`` matched; "" for
    a set of them). A header of a protocol other than one of those any earlier match named
    is a conflict nft refuses (``meta l4proto tcp meta l4proto udp tcp dport 1`` too); NAT and tproxy
    take their family from it and need a transport protocol for a port; a ``th`` field is
    the matched protocol's; ``reject with tcp reset`` matches tcp first."""

    def __init__(self, parser: _Parser, family: str) -> None:
        self.parser, self.family = parser, family
        self.l3: str | None = family if family in ("ip", "ip6") else None
        self.l4: str | None = None
        self.last = ""  # the transport protocol matched last: what a th field becomes
        self.named: list[str] = []  # every transport protocol matched so far ("": a set)

    def read(self, statements: list[model.Statement], starts: list[Token]
             ) -> list[model.Statement]:
        out: list[model.Statement] = []
        for s, token in zip(statements, starts, strict=True):
            if isinstance(s, model.Match):
                out.append(self.match(s, token))
            elif isinstance(s, model.Nat):
                out.append(self.nat(s, token))
            elif isinstance(s, model.Tproxy):
                out.append(self.tproxy(s, token))
            elif isinstance(s, model.Reject) and s.with_ == "tcp reset":
                out[:0] = self.tcp_reset(token)  # nft puts the match first in the rule
                out.append(s)
            elif isinstance(s, model.Reject):
                out.append(self.reject(s, token))
            elif isinstance(s, model.Vmap):  # its key's headers count as a match's
                self.headers(s.key, token)
                out.append(s)
            else:
                out.append(s)
        return out

    def conflict(self, before: str, now: str, token: Token) -> NoReturn:
        self.parser.fail(f"conflicting protocols: {before or 'several'} matched before, "
                         f"{now} here", "one protocol for each header of the rule", token)

    def headers(self, expr: model.Expr, token: Token) -> model.Expr:
        """Takes in the protocols of ``expr``'s header fields; returns it without a mask."""
        left = expr.expr if isinstance(expr, model.Bitwise) else expr
        for part in left.parts if isinstance(left, model.Concat) else (left,):
            if isinstance(part, model.Payload) and part.protocol in ("ip", "ip6"):
                if self.l3 is not None and self.l3 != part.protocol:
                    self.conflict(self.l3, part.protocol, token)
                self.l3 = part.protocol
            elif isinstance(part, model.Payload) and part.protocol != "th":
                other = next((p for p in self.named if p != part.protocol), None)
                if self.l4 is not None and self.l4 != part.protocol:
                    self.conflict(self.l4, part.protocol, token)
                if other is not None:
                    self.conflict(other, part.protocol, token)
                self.named.append(part.protocol)
                self.l4 = self.last = part.protocol
            elif part == _NFPROTO and self.family != "inet":
                self.parser.fail("meta nfproto in an ip or ip6 table", "an inet table's "
                                 "rule (nft takes it there only)", token)
        return left

    def match(self, s: model.Match, token: Token) -> model.Match:
        left = self.headers(s.left, token)
        if left == _NFPROTO and s.op == "==" and self.l3 is None:
            self.l3 = nv.NFPROTO_FAMILY.get(str(s.right), "")
        if s.op == "==" and left in _TRANSPORT_MATCHES:
            matched = s.right if isinstance(s.right, str) else ""
            self.last = matched
            self.named.append(matched)
            if self.l4 is None:  # the first one sets the context nft checks headers with
                self.l4 = matched
        if isinstance(s.left, model.Payload) and s.left.protocol == "th" and \
                self.last in nv.PAYLOAD_FIELDS:  # the last protocol matched, unchecked
            self.l4 = self.last
            return model.Match(model.Payload(self.last, s.left.field), s.op, s.right)
        return s

    def family_of(self, given: str | None, address: str | None, what: str, token: Token
                  ) -> str | None:
        """The family a NAT or tproxy statement names, as the kernel keeps it: an inet
        table's from the context when not given (an address needs one); None in an ip or
        ip6 table, whose family it is."""
        if self.family != "inet":
            if given is not None and given != self.family:
                self.conflict(self.family, given, token)
            return None
        if given is not None and self.l3 and given != self.l3:
            self.conflict(self.l3, given, token)
        if given is None and address is not None:
            if not self.l3:
                self.parser.fail(f"{what} to an address in an inet table needs its family",
                                 f"{what} ip to ... or {what} ip6 to ... (or an ip or ip6 "
                                 "match before it)", token)
            given = self.l3
        if address is not None and (":" in address) != (given == "ip6"):
            self.parser.fail("the address is of the other family", f"an {given} address",
                             token)
        return given

    def nat(self, s: model.Nat, token: Token) -> model.Nat:
        if s.port is not None and self.l4 is None:
            self.parser.fail("a NAT port needs the transport protocol matched before it",
                             "meta l4proto tcp (or udp), or tcp/udp dport, earlier in the "
                             "rule", token)
        family = self.family_of(s.family, s.address, s.kind, token)
        return s if family == s.family else replace(s, family=family)

    def tproxy(self, s: model.Tproxy, token: Token) -> model.Tproxy:
        if self.l4 is None:
            self.parser.fail("tproxy needs the transport protocol matched before it",
                             "meta l4proto tcp (or udp), or tcp/udp dport, earlier in the "
                             "rule", token)
        if self.family == "inet" and s.family is None and self.l3:
            self.parser.fail(f"tproxy after an {self.l3} match needs its family",
                             f"tproxy {self.l3} to ...", token)
        family = self.family_of(s.family, s.address, "tproxy", token)
        return s if family == s.family else replace(s, family=family)

    def tcp_reset(self, token: Token) -> list[model.Statement]:
        """The match nft adds before ``reject with tcp reset`` when tcp is not matched: meta
        l4proto in an inet table, ip protocol or ip6 nexthdr in an ip or ip6 table (there
        nft lists the rule without it). Where some protocol was matched, the last one must
        be tcp."""
        if self.named and self.last == "tcp":
            return []
        if self.named or self.l4 is not None:
            self.parser.fail("reject with tcp reset after another transport protocol",
                             "tcp matched last before it, or nothing", token)
        self.l4 = "tcp"
        self.named.append("tcp")
        return [model.Match(_FAMILY_DEPENDENCY.get(self.family, model.Meta("l4proto")), "==",
                            "tcp")]

    def reject(self, s: model.Reject, token: Token) -> model.Reject:
        """The ICMP type as the kernel keeps it: None for the table family's default (a
        bare reject); in an inet table after an ip or ip6 match, a bare reject sends that
        family's port-unreachable, which nft lists."""
        kind = (s.with_ or "").split(" ")[0]
        if kind and kind not in _REJECT_ICMP[self.family]:
            self.parser.fail(f"reject with {kind} in an {self.family} table",
                             " or ".join(_REJECT_ICMP[self.family]), token)
        if kind in ("icmp", "icmpv6") and self.l3 and self.l3 != ("ip" if kind == "icmp"
                                                                   else "ip6"):
            self.conflict(self.l3, kind, token)
        if s.with_ == _DEFAULT_REJECT[self.family]:
            return model.Reject(None)
        if s.with_ is None and self.family == "inet" and self.l3:
            return model.Reject(_DEFAULT_REJECT[self.l3])
        return s


def _restricted_kind(s: model.Statement) -> str | None:
    """The name _STATEMENT_HOOKS knows ``s`` by, if the kernel takes it at some hooks only."""
    return s.kind if isinstance(s, model.Nat) else "tproxy" if isinstance(s, model.Tproxy) \
        else "reject" if isinstance(s, model.Reject) else None


def _int32(value: int) -> int:
    """``value`` as the kernel's signed 32-bit field keeps it (nft wraps, never refuses)."""
    return (value + 2**31) % 2**32 - 2**31


_DEPENDENCY: dict[model.Expr, dict[str, str]] = {model.Meta("l4proto"): {"tcp": "tcp", "udp": "udp", "sctp": "sctp"},
               model.Meta("nfproto"): {"ipv4": "ip", "ipv6": "ip6"}}
#: The protocol match nft makes a transport header's dependency in an ip or ip6 table.
_FAMILY_DEPENDENCY = {"ip": model.Payload("ip", "protocol"),
                      "ip6": model.Payload("ip6", "nexthdr")}


def _without_dependencies(statements: list[model.Statement], family: str
                          ) -> tuple[model.Statement, ...]:
    """``statements`` without a protocol match that a later header field implies, as the
    kernel stores them: ``meta l4proto tcp ... tcp dport 80`` is ``... tcp dport 80``, and
    so is ``ip protocol tcp tcp dport 80`` in an ip table."""
    kept: list[model.Statement] = []
    for i, s in enumerate(statements):
        if isinstance(s, model.Match) and s.op == "==" and isinstance(s.right, str) and \
                (s.left in _DEPENDENCY or s.left == _FAMILY_DEPENDENCY.get(family)):
            protocol = _DEPENDENCY.get(s.left, _DEPENDENCY[model.Meta("l4proto")]).get(
                s.right)
            if protocol is not None and any(
                    isinstance(later, model.Match) and isinstance(later.left, model.Payload)
                    and later.left.protocol == protocol for later in statements[i + 1:]):
                continue
        kept.append(s)
    return tuple(kept)


def parse_nft_text(text: str, path: str = "<input>") -> model.NftRuleset:
    """Parse nftables rules, in the ``nft -f`` or the ``nft list ruleset`` form, or
    ``nft -j list ruleset`` JSON (a text starting with ``{``)."""
    if text.lstrip().startswith("{"):
        from ._nft_json import parse_nft_json

        return parse_nft_json(text, path)
    return _Parser(text, path).parse()


def parse_nft_file(path: str | Path) -> model.NftRuleset:
    return parse_nft_text(read_text(path, what="ruleset"), str(path))
