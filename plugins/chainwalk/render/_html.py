"""The views' own Markdown tables, written as the HTML Python-Markdown makes of them.

Why: converting the generated tables was half of the time Markdown took over the
site's pages (thousands of cells, each run through every inline pattern), and the
tables are ours: we know exactly what their cells hold. So :func:`table_html` writes
a table's HTML directly, byte for byte what Python-Markdown's ``tables`` extension
gives for it (a test holds it to that for every table of the site and of random
cells), and the page only carries a placeholder where the table was.

A cell may hold only what the views write into one: code spans (:func:`md_code`),
prose escaped by :func:`md_text` (numeric character references), ``**strong**``, the
note ``<span>`` and ``<del>`` (a rule a what-if removed). Anything else in a table and
:func:`table_html` returns None: that table stays Markdown, for Python-Markdown to
convert as before.
"""

from __future__ import annotations

import re
from functools import cache

from ._escape import html_text

# A table as the views write it: a header row, the delimiter row, the body rows. (The
# first "|" comes before the check that it starts a line, so that the regex engine scans
# for it rather than trying every position of a page.)
TABLE = re.compile(r"(?m)\|(?<=^\|).*\|\n\|(?: *:?-+:? *\|)+\n(?:\|.*\|(?:\n|\Z))*")
# What a cell holds between its code spans, piece by piece; nothing else may be left.
# One match reads a **strong** piece, or a run of the other pieces (one, not one per
# piece). Plain text is one class: everything but the syntax below U+00A0 (letters,
# digits, `` ,.;/?:()#-`` and all from U+00A0 up).
_PROSE = re.compile(r"""\*\*(?P<strong>[^*]+?)\*\*
                    |(?:<span\ class="chainwalk-note">|</span>|</?del>|&\#[0-9]+;
                       |[^\x00-\x1f!"$%&'*+<=>@\[\\\]^_`{|}~\x7f-\x9f]+)+""", re.VERBOSE)
# These start with a literal character (one backtick written out, then ``*`` rather
# than ``+``): the regex engine then scans for that character instead of trying the
# whole pattern at every position of a row (a third of the time the site's tables took).
_TICKS = re.compile(r"``*")
_CELL_SYNTAX = re.compile(r"``*|\|")


@cache
def _closing(fence: str) -> re.Pattern[str]:
    """The end of a code span opened by ``fence``: a run of exactly as many backticks
    (after the run, the look-behind checks the character before it is no backtick)."""
    return re.compile(f"{fence}(?<!`{fence})(?!`)")


def _code(text: str) -> str:
    # Python-Markdown strips a code span's content and escapes &, < and >.
    return "<code>" + (text.strip().replace("&", "&amp;").replace("<", "&lt;")
                       .replace(">", "&gt;")) + "</code>"


def _inline(cell: str) -> str | None:
    """The cell's HTML, or None if it holds something other than what the views write."""
    out: list[str] = []
    position = 0
    while position < len(cell):
        ticks = _TICKS.search(cell, position)
        prose_end = ticks.start() if ticks else len(cell)
        for piece in _prose(cell[position:prose_end]):
            if piece is None:
                return None
            out.append(piece)
        if ticks is None:
            break
        fence = ticks.group()
        close = _closing(fence).search(cell, ticks.end())
        if close is None or cell[ticks.end():close.start()].strip().startswith(("#!", ":::")):
            return None  # an unclosed fence, or what pymdownx.inlinehilite would colour
        out.append(_code(cell[ticks.end():close.start()]))
        position = close.end()
    return "".join(out)


def _prose(text: str) -> list[str | None]:
    pieces: list[str | None] = []
    position = 0
    while position < len(text):
        found = _PROSE.match(text, position)
        if found is None:
            return [None]
        strong = found.group("strong")
        if strong is not None:
            inner = _prose(strong)
            if None in inner:
                return [None]
            pieces.append("<strong>" + "".join(p or "" for p in inner) + "</strong>")
        else:
            pieces.append(found.group())
        position = found.end()
    return pieces


def _cells(row: str) -> list[str]:
    """A row's cells: split at each ``|`` outside a code span, as Python-Markdown does."""
    inner = row.strip()[1:-1]
    if "`" not in inner:
        return [cell.strip() for cell in inner.split("|")]
    cells: list[str] = []
    start = position = 0
    while (found := _CELL_SYNTAX.search(inner, position)) is not None:
        if found.group() == "|":
            cells.append(inner[start:found.start()])
            start = position = found.end()
        else:
            close = _closing(found.group()).search(inner, found.end())
            position = close.end() if close else found.end()
    cells.append(inner[start:])
    return [cell.strip() for cell in cells]


def _align(delimiter: str) -> str:
    left, right = delimiter.startswith(":"), delimiter.endswith(":")
    side = "center" if left and right else "left" if left else "right" if right else ""
    return f' style="text-align: {side};"' if side else ""


def table_html(table: str) -> str | None:
    """``table`` (header, delimiter row and body rows, one line each) as HTML, or None."""
    header, delimiters, *body = table.rstrip("\n").split("\n")
    if not body:
        return None  # Python-Markdown gives such a table an empty row
    aligns = [_align(d) for d in _cells(delimiters)]
    lines = ["<table>", "<thead>", "<tr>"]
    for tag, row in [("th", header), *(("td", row) for row in body)]:
        cells = _cells(row)
        if len(cells) != len(aligns):
            return None
        if tag == "td":
            lines.append("<tr>")
        for cell, align in zip(cells, aligns, strict=True):
            converted = _inline(cell)
            if converted is None:
                return None
            lines.append(f"<{tag}{align}>{converted}</{tag}>")
        lines.append("</tr>")
        if tag == "th":
            lines.extend(["</thead>", "<tbody>"])
    lines.extend(["</tbody>", "</table>"])
    return "\n".join(lines)


# Text Markdown leaves alone, none of which is part of another ("-1-" is not in "-10-").
TABLE_PLACEHOLDER = "CHAINWALK-TABLE-{}-END"
PLACEHOLDER_START = TABLE_PLACEHOLDER.partition("{")[0]


def tables_aside(text: str, tables: dict[str, str]) -> str:
    """``text`` with each table it holds as a block of its own set aside in ``tables``."""

    def aside(found: re.Match[str]) -> str:
        start, end = found.start(), found.end()
        alone = (start == 0 or text.endswith("\n\n", 0, start)) and text[end:end + 1] in ("", "\n")
        html = table_html(found.group()) if alone else None
        if html is None:
            return found.group()
        placeholder = TABLE_PLACEHOLDER.format(len(tables))
        tables[placeholder] = html
        return placeholder + "\n"

    return TABLE.sub(aside, text)


def unsearched(markdown: str, kind: str) -> str:
    """``markdown`` in a ``div`` that Material's search leaves out of its index
    (``data-search-exclude``; md_in_html still converts what is inside), classed
    ``chainwalk-KIND``: generated rows and listings are no answer to a search, the prose
    around them is, and every page loads the index."""
    return f'<div class="chainwalk-{kind}" data-search-exclude markdown="1">\n\n{markdown}\n</div>\n'


def caption(text: str) -> str:
    """A figure's caption, the paragraph above it (none without a text): it wraps to the
    column, where a title drawn inside a diagram would be cut off at the diagram's width."""
    return f'<p class="chainwalk-caption">{html_text(text)}</p>\n\n' if text else ""
