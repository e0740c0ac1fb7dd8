"""Errors that point at the place in a file where the input went wrong.

Every parser and loader in chainwalk collects :class:`Problem` values instead of
raising on the first one, so a user sees every mistake of a file at once; the
caller raises one :class:`ChainwalkError` holding them all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(slots=True, order=True, unsafe_hash=True)
class Location:
    """A place in a text file: 1-based line and column. Never changed once made (not frozen:
    the parser makes one per rule, and a frozen dataclass's ``__init__`` costs 5x)."""

    path: str
    line: int
    column: int = 1

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input, and where."""

    location: Location
    message: str
    token: str | None = None
    expected: str | None = None

    def __str__(self) -> str:
        # Line 0: a problem with the whole input (unreadable file, bad argument).
        where = str(self.location) if self.location.line else self.location.path
        text = f"{where}: {self.message}" if where != "<input>" else self.message
        if self.token is not None:
            text += f": got {self.token!r}"
        if self.expected is not None:
            text += f", expected {self.expected}"
        return text


class ChainwalkError(Exception):
    """One or more problems with the input; ``str()`` lists them all, one per line."""

    def __init__(self, problems: Iterable[Problem] | str) -> None:
        if isinstance(problems, str):
            problems = [Problem(Location("<input>", 0), problems)]
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
