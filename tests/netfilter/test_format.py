"""A ruleset's format, from its first line that is not blank or a comment, wherever in the
text that line is (detect_format splits only the start of a text into lines)."""

from __future__ import annotations

import pytest

from chainwalk.netfilter._format import _FIRST_LOOK, detect_format


def plain_reading(text: str) -> str:
    """The first line's verdict, from every line of the text."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            first = stripped.split()[0]
            nft = stripped.startswith("{") or first in ("table", "add", "insert", "flush",
                                                         "create", "delete")
            return "nft" if nft else "iptables"
    return "iptables"


@pytest.mark.parametrize("header", [
    "", "# a comment\n", "\n\n  \t\n", "#" * (_FIRST_LOOK - 1) + "\n",
    "#" * _FIRST_LOOK + "\n", "# x\n" * (_FIRST_LOOK // 2), "#" * (_FIRST_LOOK * 5) + "\n",
    "#" * (_FIRST_LOOK - 1) + "\r\n",  # a CRLF across the first look's end
    "# x\u2028", "#\r",  # other line ends splitlines knows
])
@pytest.mark.parametrize("first", ["*nat", "add table inet t", "table inet t {",
                                   '{"nftables": []}', "   ", "tables are nice"])
def test_the_first_line_decides_wherever_it_is(header: str, first: str) -> None:
    text = header + first + "\n" + "add table x\n" * 3
    assert detect_format(text) == plain_reading(text)


def test_a_line_cut_by_the_first_look_is_read_whole() -> None:
    # "table" starts inside the first look, the line ends after it.
    text = " " * (_FIRST_LOOK - 3) + "table inet t {\n}\n"
    assert detect_format(text) == "nft"
    text = "#" * (_FIRST_LOOK - 1) + "\n" + "*nat\n"
    assert detect_format(text) == "iptables"
    assert detect_format("") == "iptables"
    assert detect_format("# only a comment") == "iptables"
