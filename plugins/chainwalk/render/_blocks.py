"""Finding ```` ```chainwalk ```` blocks in Markdown and reading what they ask for.

A block is a fenced code block whose info string is ``chainwalk`` and whose body is
YAML::

    ```chainwalk
    view: rules
    ruleset: current
    chain: ISTIO_OUTPUT
    ```

Fences inside other fences (a page that shows the syntax in a ```` ````markdown ````
block) are not blocks. A block may be indented (inside an admonition or a list):
its replacement is indented alike. Each block keeps the line of its opening fence so
that every problem names the page and the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .._errors import ChainwalkError, Location, Problem
from .._yaml import parse_yaml

INFO = "chainwalk"
_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\s`{]*)(?P<rest>.*)$")
TABLES = ("raw", "mangle", "nat", "filter", "security")

# view -> (required keys, optional keys)
VIEWS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "sequence": (("scenario",), ()),
    "trace": (("scenario",), ("reasons",)),
    "chains": (("ruleset",), ("table", "highlight", "pod")),
    "rules": (("ruleset", "chain"), ("table",)),
    "listing": (("ruleset",), ("table", "topology")),
    "coverage": (("topology",), ("ruleset", "table")),
    "diff": (("ruleset", "against"), ("table",)),
    "overview": (("scenario", "then"), ("pod",)),
    "compare": (("topology", "versus"), ()),
    "claim": (("ruleset", "claim"), ("where", "table", "hook", "host")),
    "behaviour": (("ruleset", "against"), ("where", "table", "hook", "host")),
    "correspondence": (("ruleset", "chain", "against"),
                       ("table", "against_chain", "where", "hook", "host")),
}
# The keys that may name an nftables ruleset (``NAME.nft``), by view; every other view
# reads iptables rulesets.
NFT_KEYS: dict[str, tuple[str, ...]] = {"listing": ("ruleset",), "correspondence": ("against",),
                                      "claim": ("ruleset",)}
NFT_SUFFIX = ".nft"
# Views whose output is generated rows or a listing, kept out of the search index
# (``_html.unsearched``): readers search the prose around them, and the rules tables
# (the annotations' names and purposes) and claims stay in.
UNSEARCHED_VIEWS = frozenset({"listing", "diff", "coverage", "compare", "behaviour",
                              "correspondence"})
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")


@dataclass(frozen=True)
class Block:
    """One block of a page: where it is, what it says, the lines it replaces."""

    page: str
    line: int  # 1-based line of the opening fence
    indent: str
    body: str
    start: int  # 0-based index of the opening fence line
    end: int  # 0-based index just after the closing fence line

    @property
    def where(self) -> Location:
        return Location(self.page, self.line)


@dataclass(frozen=True)
class Request:
    """A valid block's parameters (``table`` ``None``: the view's default)."""

    view: str
    scenario: str = ""
    ruleset: str = ""
    table: str | None = None
    chain: str = ""
    against: str = ""
    topology: str = ""
    highlight: str = ""
    then: str = ""
    pod: str = ""
    reasons: bool = False
    versus: str = ""
    against_chain: str = ""  # view correspondence: the chain of ``against`` (default: chain)
    claim: str = ""  # view claim: KIND ARGUMENT (project._claims)
    where: str = ""  # view claim: the packets, as netfilter._proof describes them
    hook: str = "output"
    host: str = ""


def find_blocks(markdown: str, page: str) -> tuple[list[Block], list[Problem]]:
    """Every chainwalk block of ``markdown``, and problems (an unclosed block)."""
    lines = markdown.split("\n")
    blocks: list[Block] = []
    problems: list[Problem] = []
    i = 0
    while i < len(lines):
        m = _OPEN.match(lines[i])
        if m is None:
            i += 1
            continue
        fence = m.group("fence")
        close = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        j = i + 1
        while j < len(lines) and not close.match(lines[j]):
            j += 1
        if m.group("info") == INFO and not m.group("rest").strip():
            indent = m.group("indent")
            if j == len(lines):
                problems.append(Problem(Location(page, i + 1), "the chainwalk block is never "
                                        "closed", None, f"a closing {fence}"))
                break
            body = "\n".join(_dedent(line, len(indent)) for line in lines[i + 1:j])
            blocks.append(Block(page, i + 1, indent, body, i, j + 1))
        i = j + 1
    return blocks, problems


_INLINE = re.compile(r"(?<!`)`chainwalk:(?P<body>[^`]+)`(?!`)")
_LONG_CODE = re.compile(r"(`{2,})(?:(?!\1).)+?\1")  # a code span that may show a claim


@dataclass(frozen=True)
class InlineClaim:
    """A claim written as a code span in the prose: `` `chainwalk: ...` ``."""

    line: int  # 0-based index of the page line
    start: int  # the code span's columns, 0-based, end exclusive
    end: int
    body: str

    def where(self, page: str) -> Location:
        return Location(page, self.line + 1, self.start + 1)


def find_inline_claims(markdown: str) -> list[InlineClaim]:
    """Every `` `chainwalk: ...` `` code span outside fenced code."""
    lines = markdown.split("\n")
    found: list[InlineClaim] = []
    i = 0
    while i < len(lines):
        m = _OPEN.match(lines[i])
        if m is not None:
            fence = m.group("fence")
            close = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
            i += 1
            while i < len(lines) and not close.match(lines[i]):
                i += 1
            i += 1
            continue
        shown = _LONG_CODE.sub(lambda m: " " * len(m.group()), lines[i])
        found.extend(InlineClaim(i, c.start(), c.end(), c.group("body"))
                     for c in _INLINE.finditer(shown))
        i += 1
    return found


def _dedent(line: str, width: int) -> str:
    n = 0
    while n < width and n < len(line) and line[n] in " \t":
        n += 1
    return line[n:]


def _is_name(value: str, allow_slash: bool) -> bool:
    parts = value.split("/") if allow_slash else [value]
    return all(_NAME.match(part) for part in parts) and ".." not in parts


def parse_request(block: Block) -> Request:
    """The block's parameters; raises :class:`ChainwalkError` with every problem."""
    doc = parse_yaml(block.body, block.page, block.line + 1, len(block.indent))
    data = doc.data
    if not isinstance(data, dict):
        raise ChainwalkError([Problem(block.where, "a chainwalk block holds YAML keys", None,
                                      "view: ... and the view's keys")])
    problems: list[Problem] = []
    view = data.get("view")
    if not isinstance(view, str) or view not in VIEWS:  # (a list or mapping: unhashable)
        where = doc.line(["view"], key=False) if "view" in data else block.where
        problems.append(Problem(where,
                                "unknown view" if view is not None else "no view",
                                None if view is None else str(view),
                                "one of " + ", ".join(VIEWS)))
        raise ChainwalkError(problems)
    required, optional = VIEWS[view]
    for key in required:
        if key not in data:
            problems.append(Problem(block.where, f"view {view} needs {key!r}", None,
                                    f"{key}: ..."))
    values: dict[str, Any] = {"view": view}
    for key, value in data.items():
        if key == "view":
            continue
        if key not in required and key not in optional:
            problems.append(Problem(doc.line([key]), f"unknown key for view {view}", str(key),
                                    "one of " + ", ".join((*required, *optional))))
            continue
        problem = _check_value(key, value)
        if problem:
            problems.append(Problem(doc.line([key], key=False), f"{key}: {problem[0]}",
                                    repr(value) if not isinstance(value, str) else value,
                                    problem[1]))
            continue
        if key in ("ruleset", "against") and value.endswith(NFT_SUFFIX) and \
                key not in NFT_KEYS.get(view, ()):
            takes = [f"{k} of view {v}" for v, keys in NFT_KEYS.items() for k in keys]
            problems.append(Problem(doc.line([key], key=False),
                                    f"view {view} cannot take an nftables ruleset", value,
                                    "an iptables ruleset's stem such as current (nftables "
                                    "rulesets are read by: " + ", ".join(takes) + ")"))
            continue
        values[key] = value
    if view == "listing" and "table" in data and str(data.get("ruleset")).endswith(NFT_SUFFIX):
        problems.append(Problem(doc.line(["table"]), "an nftables listing shows every table "
                                "of the ruleset (nft list ruleset)", "table",
                                "no table key"))
    if problems:
        raise ChainwalkError(problems)
    return Request(**values)


def _check_value(key: str, value: Any) -> tuple[str, str] | None:
    if key in ("where", "claim", "host"):
        return None if isinstance(value, str) and (value or key == "where") else (
            "expected text", {"where": "a description such as: tcp uid!=1337 out=eth0",
                              "claim": "KIND ARGUMENT, e.g. never ISTIO_OUTPUT#7",
                              "host": "IF=ADDRESS/PREFIX, e.g. eth0=10.0.0.5/24"}[key])
    if key == "hook":
        return None if value in ("output", "prerouting") else ("unknown hook",
                                                               "output or prerouting")
    if key == "reasons":
        return None if isinstance(value, bool) else ("expected true or false", "true or false")
    if not isinstance(value, str) or not value:
        return ("expected a name", "a name")
    if key in ("scenario", "highlight", "then"):
        stem, slash, name = value.partition("/")
        if not slash or not _is_name(stem, False) or not _is_name(name, False):
            return ("not a scenario id", "<scenario file stem>/<scenario name>, "
                    "e.g. bookinfo/inbound")
    elif key in ("ruleset", "against", "topology", "versus"):
        if not _is_name(value, True):
            return ("not a file stem inside the rules folder",
                    "a name such as current (no '..', no absolute path, no suffix but .nft)")
    elif key == "pod":
        if not _is_name(value, False):
            return ("not a pod name", "a pod of the scenario's topology, e.g. reviews")
    elif key == "table":
        if value not in TABLES:
            return ("unknown table", "one of " + ", ".join(TABLES))
    elif key in ("chain", "against_chain") and (" " in value or len(value) > 28):
        return ("not a chain name", "a chain name such as ISTIO_OUTPUT")
    return None
