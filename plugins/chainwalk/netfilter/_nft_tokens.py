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
_WORD_END = frozenset(' \t\r\n{};,"#')


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    text: str
    line: int
    column: int


class UnclosedString(ValueError):
    def __init__(self, line: int, column: int) -> None:
        super().__init__("unclosed string")
        self.line, self.column = line, column


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    line, start, i, n = 1, 0, 0, len(text)
    while i < n:
        c = text[i]
        column = i - start + 1
        if c == "\n":
            tokens.append(Token("nl", "\n", line, column))
            i += 1
            line, start = line + 1, i
        elif c in " \t\r":
            i += 1
        elif c == "\\" and text[i + 1:i + 2] == "\n":
            i += 2
            line, start = line + 1, i
        elif c == "#":
            end = text.find("\n", i)
            end = n if end < 0 else end
            found = _HANDLE.match(text, i, end)
            if found:
                tokens.append(Token("handle", found.group(1), line, column))
            i = end
        elif c in "{};,":
            tokens.append(Token("punct", c, line, column))
            i += 1
        elif c == '"':
            end = i + 1
            while end < n and text[end] not in '"\n':
                end += 1
            if end >= n or text[end] != '"':
                raise UnclosedString(line, column)
            tokens.append(Token("string", text[i + 1:end], line, column))
            i = end + 1
        else:
            end = i
            while end < n and text[end] not in _WORD_END:
                end += 1
            tokens.append(Token("word", text[i:end], line, column))
            i = end
    tokens.append(Token("eof", "", line, i - start + 1))
    return tokens
