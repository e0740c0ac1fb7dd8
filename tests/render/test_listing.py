"""The listing view against what the real ``iptables -L -v -n`` printed.

The ``*.list`` fixtures were captured from iptables 1.8.9 (nf_tables) in a throwaway
network namespace. With root and iptables at hand (``CHAINWALK_REQUIRE_KERNEL=1`` in CI),
``test_listing_matches_the_live_kernel`` captures them again and compares.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest
from render_helpers import LISTINGS

from chainwalk.netfilter import Ruleset, parse_file
from chainwalk.render import Counters, listing
from chainwalk.render._listing import number
from kernel_requirement import network_namespace

CASES = [("kitchen", t, 4) for t in ("raw", "mangle", "nat", "filter")] + [
    ("six", "nat", 6), ("counters", "nat", 4)]


class FileCounters(Counters):
    """The counters written in the file (``[packets:bytes]``), as the kernel keeps them."""

    def __init__(self, ruleset: Ruleset, table: str) -> None:
        super().__init__()
        self.ruleset, self.table = ruleset, table

    def rule(self, chain: str, number: int) -> tuple[int, int]:
        found = self.ruleset.chain(self.table, chain)
        assert found is not None
        return found.rules[number - 1].counters or (0, 0)

    def policy(self, chain: str) -> tuple[int, int]:
        found = self.ruleset.chain(self.table, chain)
        assert found is not None
        return found.counters or (0, 0)


def render(stem: str, table: str, family: int) -> str:
    ruleset = parse_file(LISTINGS / f"{stem}.rules", family)
    return listing(ruleset, table, FileCounters(ruleset, table))


@pytest.mark.parametrize(("stem", "table", "family"), CASES)
def test_listing_matches_the_captured_kernel_listing(stem: str, table: str,
                                                     family: int) -> None:
    expected = (LISTINGS / f"{stem}.{table}.list").read_text(encoding="utf-8")
    assert render(stem, table, family) == expected


def test_numbers_abbreviate_like_xtables_print_num() -> None:
    assert [number(n) for n in (0, 99999, 100000, 100499, 100500, 9999499, 12345678)] == [
        "    0 ", "99999 ", " 100K ", " 100K ", " 101K ", "9999K ", "  12M "]
    assert number(1234567890123, False) == "1235G "
    assert number(99999999999999, False) == "100T "


@pytest.mark.kernel
@pytest.mark.parametrize(("stem", "table", "family"), CASES)
def test_listing_matches_the_live_kernel(stem: str, table: str, family: int) -> None:
    tool = "ip6tables" if family == 6 else "iptables"
    with network_namespace(f"cwlist-{uuid.uuid4().hex[:8]}") as netns:
        rules = Path(LISTINGS / f"{stem}.rules").read_bytes()
        subprocess.run(["ip", "netns", "exec", netns, f"{tool}-restore", "-c"], input=rules,
                       check=True)
        live = subprocess.run(["ip", "netns", "exec", netns, tool, "-t", table, "-L", "-v",
                               "-n"], check=True, capture_output=True, text=True).stdout
    assert render(stem, table, family) == live
