"""Which language a ruleset file is written in, read from its first line: the CLI, the
ruleset cache and the playground ask this before loading either parser."""

from __future__ import annotations

from typing import Literal

RulesetFormat = Literal["iptables", "nft"]
_NFT_COMMANDS = ("table", "add", "insert", "flush", "create", "delete")
_FIRST_LOOK = 4096  # characters: far more than a header of comments takes, mostly


def detect_format(text: str) -> RulesetFormat:
    """``nft`` for nftables (``nft -f`` input, a listing or JSON), else ``iptables``:
    decided by the first line that is not blank or a comment.

    Only the start of ``text`` is split into lines (a longer start each time no such line
    is found), not a large file's every line."""
    size = _FIRST_LOOK
    while True:
        whole = size >= len(text)
        lines = text[:size].splitlines()
        # The last line of a part of the text may go on after it: it is looked at only
        # once the whole text is.
        for line in lines if whole else lines[:-1]:
            stripped = line.strip()
            if stripped and not stripped.startswith("#"):
                nft = stripped.startswith("{") or stripped.split()[0] in _NFT_COMMANDS
                return "nft" if nft else "iptables"
        if whole:
            return "iptables"
        size *= 4
