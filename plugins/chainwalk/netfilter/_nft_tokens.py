"""The tokens of nftables' language (``nft -f`` input and ``nft list ruleset`` output).

Words run to whitespace or one of ``{ } ; , "``; braces, semicolons, commas and line
ends are tokens of their own; a quoted string is one token (its text without quotes);
``# handle N`` (``nft -a``) is a ``handle`` token, any other comment is dropped; a
backslash at a line's end joins it to the next; a comment must end with a line feed
(nft refuses one that ends the file as junk). Blanks are spaces and tabs: nft refuses a
carriage return outside a string (a Windows line end) as junk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

TokenKind = Literal["word", "string", "punct", "nl", "handle", "eof"]

_HANDLE = re.compile(r"#\s*handle\s+(\d+)")


@dataclass(slots=True)
class Token:  # not frozen: a frozen dataclass's __init__ costs several times more
    kind: TokenKind
    text: str
    line: int
    column: int


class TokenError(ValueError):
    """Text nft's scanner refuses, where, and what it expected (a problem's fields)."""

    def __init__(self, line: int, column: int, message: str, token: str,
                 expected: str) -> None:
        super().__init__(message)
        self.line, self.column = line, column
        self.message, self.token, self.expected = message, token, expected


class UnclosedString(TokenError):
    def __init__(self, line: int, column: int) -> None:
        super().__init__(line, column, "a string is never closed", '"',
                         'a closing " on the same line')


class UnendedComment(TokenError):
    def __init__(self, line: int, column: int) -> None:
        super().__init__(line, column, "a comment on the file's last line without a line end",
                         "#", "a line feed after the comment (nft's scanner needs one)")


class CarriageReturn(TokenError):
    def __init__(self, line: int, column: int) -> None:
        super().__init__(line, column, "a carriage return outside a string", "\r",
                         "lines that end with a line feed alone (not Windows' \\r\\n)")


#: Words nft 1.0.6's scanner reads as keywords where a name is expected (a table, chain or
#: set named so is a syntax error): found by loading ``add table inet WORD`` for every word
#: in libnftables' strings and nft(8).
KEYWORDS = frozenset((
    "accept", "add", "ah", "all", "and", "arp", "auto-merge", "bridge", "cgroup", "chain",
    "comment", "comp", "constant", "continue", "counter", "cpu", "create", "ct", "day",
    "dccp", "define", "delete", "describe", "device", "devices", "dnat", "drop", "dst",
    "dup", "dynamic", "ecn", "element", "elements", "eq", "esp", "ether", "exists",
    "expires", "export", "exthdr", "fib", "flags", "flow", "flowtable", "flush", "frag",
    "fwd", "gc-interval", "ge", "get", "goto", "gt", "handle", "hbh", "hook", "hour",
    "ibriport", "ibrname", "icmp", "icmpv6", "igmp", "iif", "iifgroup", "iifname",
    "iiftype", "import", "include", "index", "inet", "insert", "interval", "ip", "ip6",
    "ipsec", "jhash", "jump", "le", "limit", "list", "log", "lshift", "lt", "map", "mark",
    "masquerade", "meta", "meter", "mh", "missing", "monitor", "ne", "netdev", "nftrace",
    "not", "notrack", "numgen", "obriport", "obrname", "offload", "oif", "oifgroup",
    "oifname", "oiftype", "or", "osf", "pkttype", "policy", "position", "priority", "queue",
    "quota", "random", "redefine", "redirect", "reject", "rename", "replace", "reset",
    "return", "rshift", "rt", "rt0", "rt2", "rtclassid", "rule", "ruleset", "sctp",
    "secmark", "set", "size", "skgid", "skuid", "snat", "socket", "srh", "symhash",
    "synproxy", "table", "tcp", "th", "time", "timeout", "tproxy", "type", "typeof", "udp",
    "udplite", "undefine", "update", "vlan", "vmap", "xor", "xt"
))
#: A name as nft's scanner reads one (its ``string``): a letter, ``_`` or ``.``, then
#: letters, digits and ``/ - _ .``; nft 1.0.6 takes no quoted string for one.
IDENTIFIER = re.compile(r"[a-zA-Z_.][a-zA-Z0-9/\-_.]*")


# Each match is a token with the blanks before it (so a loop turn per token, not two);
# words first, the commonest.
_TOKEN = re.compile(r'[ \t]*(?:(?P<word>[^ \t\r\n{};,"#\\]+)|(?P<punct>[{};,])|(?P<nl>\n)'
                    r'|(?P<string>"[^"\n]*")|(?P<comment>#[^\n]*)|(?P<bad>")|\\\n'
                    r'|(?P<backslash>\\)|(?P<cr>\r))')


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    append = tokens.append
    line, start = 1, 0
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind == "word":
            word = m.group(kind)
            append(Token("word", word, line, m.end() - len(word) - start + 1))
        elif kind == "punct":
            append(Token("punct", m.group(kind), line, m.end() - start))
        elif kind == "nl":
            end = m.end()
            append(Token("nl", "\n", line, end - start))
            line, start = line + 1, end
        elif kind is None:  # a backslash joining two lines (or blanks at the end)
            if m.group().endswith("\n"):
                line, start = line + 1, m.end()
        elif kind == "string":
            found = m.group(kind)
            append(Token("string", found[1:-1], line, m.end() - len(found) - start + 1))
        elif kind == "comment":
            found = m.group(kind)
            if m.end() == len(text):
                raise UnendedComment(line, m.end() - len(found) - start + 1)
            handle = _HANDLE.match(found)
            if handle:
                append(Token("handle", handle.group(1), line,
                             m.end() - len(found) - start + 1))
        elif kind == "backslash":
            append(Token("word", "\\", line, m.end() - start))
        elif kind == "cr":
            raise CarriageReturn(line, m.end() - start)
        else:
            raise UnclosedString(line, m.end() - start)
    append(Token("eof", "", line, len(text) - start + 1))
    return tokens


_VARIABLE = re.compile(r"\$([a-zA-Z_.][a-zA-Z0-9/\-_.]*)")
# How many tokens variables may put into a file in all (and into one variable's value):
# a value holding another twice, nested, doubles at each level, and forty levels would
# never end.
MAX_EXPANDED: Final = 1_000_000
_STARTS = ("\n", ";", "{", "}")  # what a command or a block's line follows


def expand_variables(tokens: list[Token]) -> tuple[list[Token], list[TokenError]]:
    """``tokens`` with nft's variables put in: ``define NAME = VALUE`` (a value, a set in
    braces or a concatenation, to the line's end), ``redefine`` and ``undefine`` are taken
    out; ``$NAME`` is replaced by the value's tokens (at its own place, so that a problem
    points there; in a set's braces a set's elements without its braces, as nft flattens
    them; inside a word such as ``10.0.0.1:$port``, a one-word value's text). What nft
    refuses (a name defined twice, an unknown one) comes back as errors."""
    out: list[Token] = []
    errors: list[TokenError] = []
    values: dict[str, list[Token]] = {}
    i = 0
    while i < len(tokens):
        t = tokens[i]
        starts = not out or (out[-1].kind in ("nl", "punct") and out[-1].text in _STARTS)
        if starts and t.kind == "word" and t.text in ("define", "redefine", "undefine"):
            i = _definition(tokens, i, values, out, errors)
            continue
        out.extend(_used(t, values, _in_set(out), errors) if t.kind == "word" and "$" in t.text
                   else (t,))
        if len(out) - i > MAX_EXPANDED:
            raise _too_many(t)
        i += 1
    return out, errors


def _too_many(t: Token) -> TokenError:
    return TokenError(t.line, t.column, f"variables put in more than {MAX_EXPANDED:,} tokens",
                      t.text, "variables whose values do not hold one another over and over")


def _definition(tokens: list[Token], i: int, values: dict[str, list[Token]],
                out: list[Token], errors: list[TokenError]) -> int:
    """Reads the define, redefine or undefine at ``i``; returns where its line ends."""
    verb, name = tokens[i], tokens[i + 1]
    if name.kind != "word" or not IDENTIFIER.fullmatch(name.text) or name.text in KEYWORDS:
        errors.append(TokenError(name.line, name.column, f"not a name for {verb.text}",
                                 name.text, "a name of letters, digits and / - _ . (not a "
                                 "keyword of nft)"))
    if verb.text == "undefine":
        values.pop(name.text, None)
        return i + 2
    if verb.text == "define" and name.text in values:
        errors.append(TokenError(name.line, name.column, f"{name.text} is defined twice",
                                 name.text, "redefine to give it another value"))
    end, depth = i + 3, 0
    while end < len(tokens) and tokens[end].kind != "eof" and (depth or not (
            tokens[end].kind == "nl" or tokens[end].text == ";")):
        if tokens[end].kind == "punct" and tokens[end].text in "{}":
            depth += 1 if tokens[end].text == "{" else -1
        end += 1
    equals = tokens[i + 2] if i + 2 < len(tokens) else verb
    if equals.text != "=" or end == i + 3:
        errors.append(TokenError(equals.line, equals.column, f"{verb.text} without a value",
                                 equals.text, "NAME = VALUE"))
        return end
    value: list[Token] = []
    for t in tokens[i + 3:end]:
        if t.kind == "nl":
            continue
        value.extend(_used(t, values, _in_set(value), errors)
                     if t.kind == "word" and "$" in t.text else [t])
        if len(value) > MAX_EXPANDED:
            raise _too_many(t)
    values[name.text] = value
    return end


def _in_set(before: list[Token]) -> bool:
    """Whether a variable after ``before`` is an element of a set's braces."""
    return bool(before) and before[-1].kind == "punct" and before[-1].text in "{,"


def _used(t: Token, values: dict[str, list[Token]], in_braces: bool,
          errors: list[TokenError]) -> list[Token]:
    """The tokens a word holding ``$NAME`` stands for."""
    whole = _VARIABLE.fullmatch(t.text)
    if whole:
        value = values.get(whole.group(1))
        if value is None:
            errors.append(TokenError(t.line, t.column, f"unknown variable {t.text}", t.text,
                                     "a variable defined before it (define NAME = VALUE)"))
            return [t]
        if in_braces and value[0].text == "{" and value[-1].text == "}":
            value = value[1:-1]
        return [Token(v.kind, v.text, t.line, t.column) for v in value]

    def one_word(m: re.Match[str]) -> str:
        value = values.get(m.group(1))
        if value is None or len(value) != 1 or value[0].kind != "word":
            errors.append(TokenError(t.line, t.column, f"unknown variable ${m.group(1)}",
                                     t.text, "a variable of one word defined before it"))
            return m.group(0)
        return value[0].text
    return [Token(t.kind, _VARIABLE.sub(one_word, t.text), t.line, t.column)]
