"""Errors that point at the place in a file where the input went wrong.

Every parser and loader in chainwalk collects :class:`Problem` values instead of
raising on the first one, so a user sees every mistake of a file at once; the
caller raises one :class:`ChainwalkError` holding them all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

MAX_TOKEN_SHOWN = 200  # characters of a token a message quotes
MAX_PROBLEMS_PER_FILE = 50


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
    more: int = 0  # a stand-in for this many problems of the file not listed

    def __str__(self) -> str:
        # Line 0: a problem with the whole input (unreadable file, bad argument).
        where = str(self.location) if self.location.line else self.location.path
        text = f"{where}: {self.message}" if where != "<input>" else self.message
        if self.token is not None:
            token = self.token
            if len(token) > MAX_TOKEN_SHOWN:  # a line of thousands of characters
                token = f"{token[:MAX_TOKEN_SHOWN]}... ({len(self.token)} characters)"
            text += f": got {token!r}"
        if self.expected is not None:
            text += f", expected {self.expected}"
        return text


class ChainwalkError(Exception):
    """One or more problems with the input; ``str()`` lists them all, one per line.

    At most MAX_PROBLEMS_PER_FILE problems of a file are kept, the last one saying how
    many more there were: one broken line can make thousands of problems.
    """

    def __init__(self, problems: Iterable[Problem] | str) -> None:
        if isinstance(problems, str):
            problems = [Problem(Location("<input>", 0), problems)]
        self.problems: tuple[Problem, ...] = bounded(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def bounded(problems: Iterable[Problem]) -> tuple[Problem, ...]:
    """``problems``, at most MAX_PROBLEMS_PER_FILE of each file, then one saying how many
    more there were (problems bounded before are counted in)."""
    kept: list[Problem] = []
    shown: dict[str, int] = {}
    more: dict[str, int] = {}
    for problem in problems:
        path = problem.location.path
        if problem.more:
            more[path] = more.get(path, 0) + problem.more
        elif shown.get(path, 0) < MAX_PROBLEMS_PER_FILE:
            shown[path] = shown.get(path, 0) + 1
            kept.append(problem)
        else:
            more[path] = more.get(path, 0) + 1
    kept.extend(Problem(Location(path, 0), f"and {count} more problems in this file",
                        more=count) for path, count in more.items())
    return tuple(kept)
