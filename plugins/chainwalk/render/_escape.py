"""Escaping for the three languages the views emit: Markdown, HTML and Mermaid.

Every string that comes from a file (a rule's text, a comment, a scenario's title, an
annotation) passes through one of these before it is written out, so a ``|`` cannot
split a table cell, a ``<script>`` cannot become an element, and a ``;``, ``#``,
``%%`` or ``-->`` cannot end or redirect a Mermaid statement.

* :func:`md_text` is prose in Markdown (a table cell or a paragraph): every ASCII
  punctuation character that Markdown, its extensions or HTML could read as syntax
  becomes a numeric character reference, which Python-Markdown passes through as it
  is and a browser shows as the character.
* :func:`md_code` is code in Markdown: a code span, whose content Markdown leaves
  alone (HTML escaping is Markdown's job there, and a table does not split a row at
  a ``|`` inside one).
* :func:`mermaid_text` is a label in a Mermaid diagram: Mermaid's own ``#NN;`` codes,
  so the emitted diagram source holds no ``<``, ``&``, ``"``, ``;``, ``#`` or ``%``
  from the input, and stays HTML-safe too (mermaid2 writes it into the page as is).
"""

from __future__ import annotations

import re

# Characters left as they are in prose: letters, digits, space and punctuation that no
# Markdown extension (tables, attr_list, admonition, smarty, pymdownx.*) gives meaning to
# inside a line, except "..." (smarty's ellipsis), whose dots are encoded.
# (Written as "not plain, below U+00A0": a class spanning up to U+10FFFF takes
# milliseconds to compile, at every start of the plugin and the CLI.)
_MD_SYNTAX = re.compile(r"(?![A-Za-z0-9 ,.;/?])[\x00-\x9f]|\.(?=\.)|(?<=\.)\.")
# Mermaid's: every character below U+00A0 but letters, digits and `` ,./_?'-``, as one
# class (a class gives the regex engine a first character to scan for; a look-ahead
# does not, and every position of every label was tried).
_MERMAID_SYNTAX = re.compile(r"""[\x00-\x1f!"#$%&()*+:;<=>@\[\\\]^`{|}~\x7f-\x9f]""")
# A run of backticks (written with a literal first backtick: the engine scans for it).
_BACKTICKS = re.compile(r"``*")


def one_line(text: str) -> str:
    """Collapse whitespace (newlines, tabs) into single spaces: a cell is one line."""
    return " ".join(text.split())  # split() and strip() agree with re's \s on what is space


def longest_backticks(text: str) -> int:
    """The length of the longest run of backticks in ``text`` (0: none)."""
    return max((len(run) for run in _BACKTICKS.findall(text)), default=0)


def _reference(found: re.Match[str]) -> str:
    return f"&#{ord(found.group())};"


def md_text(text: str) -> str:
    """``text`` as literal prose in Markdown, on one line."""
    return _MD_SYNTAX.sub(_reference, one_line(text))


def md_code(text: str) -> str:
    """``text`` as a code span (``` `` ``` fences grow past any backticks inside)."""
    text = one_line(text)
    if not text:
        return ""
    fence = "`" * (longest_backticks(text) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    # Python-Markdown's tables do not split a row at a | inside a code span.
    return f"{fence}{pad}{text}{pad}{fence}"


def _mermaid_code(found: re.Match[str]) -> str:
    return f"#{ord(found.group())};"


def mermaid_text(text: str) -> str:
    """``text`` as a Mermaid label (quoted or not), on one line."""
    return _MERMAID_SYNTAX.sub(_mermaid_code, one_line(text))


def html_text(text: str) -> str:
    """``text`` inside an HTML element or attribute."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))
