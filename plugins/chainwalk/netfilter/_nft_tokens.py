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
from typing import Literal

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
