"""What goes around a view's output on a page: the fenced block a diagram or a listing
is written in, refused when Mermaid could not draw it."""

from __future__ import annotations

import html

from .._errors import ChainwalkError, Location, Problem
from ._escape import longest_backticks

# Mermaid's maxTextSize, which the site leaves at its default (chainwalk-mermaid.js sets
# no other): a longer diagram shows only "Maximum text size in diagram exceeded".
MERMAID_MAX_TEXT = 50_000


def fenced(kind: str, body: str) -> str:
    """``body`` in a fenced block of ``kind`` (longer fences than any run of backticks)."""
    if kind == "mermaid" and len(body) > MERMAID_MAX_TEXT:
        # (Mermaid reads the text once the page's HTML is decoded: what it measures.)
        size = len(html.unescape(body))
        if size > MERMAID_MAX_TEXT:
            raise ChainwalkError([Problem(
                Location("<input>", 0), f"the diagram would be {size} characters, more "
                f"than Mermaid's limit of {MERMAID_MAX_TEXT} (maxTextSize): the page would "
                "show 'Maximum text size in diagram exceeded'", None,
                "a smaller diagram: split the block (one chain, table or scenario each)")])
    ticks = "`" * max(3, longest_backticks(body) + 1)
    return f"{ticks}{kind}\n{body}{'' if body.endswith(chr(10)) else chr(10)}{ticks}\n"
