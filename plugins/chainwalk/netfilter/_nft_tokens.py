"""The tokens of nftables' language (``nft -f`` input and ``nft list ruleset`` output).

Words run to whitespace or one of ``{ } ; , "``; braces, semicolons, commas and line
ends are tokens of their own; a quoted string is one token (its text without quotes);
``# handle N`` (``nft -a``) is a ``handle`` token, any other comment is dropped; a
backslash at a line's end joins it to the next.
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


class UnclosedString(ValueError):
    def __init__(self, line: int, column: int) -> None:
        super().__init__("unclosed string")
        self.line, self.column = line, column


_TOKEN = re.compile(r'(?P<nl>\n)|[ \t\r]+|\\\n|(?P<comment>#[^\n]*)|(?P<punct>[{};,])'
                    r'|(?P<string>"[^"\n]*")|(?P<bad>")|(?P<word>[^ \t\r\n{};,"#\\]+|\\)')


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    append = tokens.append
    line, start = 1, 0
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind is None:  # blanks, or a backslash joining two lines
            if m.group().endswith("\n"):
                line, start = line + 1, m.end()
            continue
        i = m.start()
        if kind == "word":
            append(Token("word", m.group(), line, i - start + 1))
        elif kind == "nl":
            append(Token("nl", "\n", line, i - start + 1))
            line, start = line + 1, i + 1
        elif kind == "punct":
            append(Token("punct", m.group(), line, i - start + 1))
        elif kind == "string":
            append(Token("string", m.group()[1:-1], line, i - start + 1))
        elif kind == "comment":
            found = _HANDLE.match(m.group())
            if found:
                append(Token("handle", found.group(1), line, i - start + 1))
        else:
            raise UnclosedString(line, i - start + 1)
    append(Token("eof", "", line, len(text) - start + 1))
    return tokens
