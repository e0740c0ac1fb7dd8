"""Istio's own golden rulesets, a compatibility corpus the parser must read.

They live beside the repository in ``../shared/istio-goldens`` (see its README.md) and are
never copied into it; without that folder these tests are skipped. A capture golden is a
command log: each restore block runs from a ``* table`` line to its ``COMMIT``, the IPv4
blocks first, then the IPv6 ones. Consecutive blocks of one family form one ruleset (the
family shows in the blocks' addresses; a block without any belongs with its neighbours).
Builder goldens (``append-*``, ``insert-*``, ``multi-rules-*``) hold synthetic options
(``-f foo -b bar``), not iptables: only their refusal is checked.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from nf_helpers import REPO

from chainwalk import ChainwalkError
from chainwalk.netfilter import Ruleset, parse_text, write_ruleset

GOLDENS = Path(__file__).resolve().parents[2] / ".." / "shared" / "istio-goldens"
BUILDER = re.compile(r"^(append|insert|multi-rules)-")
RULE_COMMANDS = ("-A", "-I", "--append", "--insert")


@dataclass
class Block:
    """One restore block: its table and its lines, by 1-based line number in the golden."""

    table: str
    lines: dict[int, str] = field(default_factory=dict)

    @property
    def family(self) -> int | None:
        """4 or 6 from the addresses in the block; None when it has none."""
        for line in self.lines.values():
            for token in re.split(r"[\s,\-\[\]]+", line):
                try:
                    return ipaddress.ip_network(token, strict=False).version
                except ValueError:
                    continue
        return None

    @property
    def rule_lines(self) -> int:
        return sum(1 for line in self.lines.values() if line.split()[:1] and
                   line.split()[0] in RULE_COMMANDS)


@dataclass
class Group:
    """Consecutive blocks of one family: one ruleset, as one iptables-restore would load it."""

    family: int
    blocks: list[Block]

    def text(self, golden: str) -> str:
        """The golden with every line outside these blocks blanked (line numbers kept)."""
        keep = {n: line for block in self.blocks for n, line in block.lines.items()}
        return "\n".join(keep.get(n, "") for n in range(1, len(golden.splitlines()) + 1)) + "\n"


def restore_blocks(text: str) -> list[Block]:
    blocks: list[Block] = []
    current: Block | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("*"):
            current = Block(stripped[1:].strip())
            blocks.append(current)
        if current is not None:
            current.lines[number] = line
            if stripped == "COMMIT":
                current = None
    return blocks


def group_by_family(blocks: list[Block]) -> list[Group]:
    groups: list[tuple[int | None, list[Block]]] = []
    for block in blocks:
        family = block.family
        if groups:
            known, members = groups[-1]
            same_table = any(b.table == block.table for b in members)
            other_family = family is not None and known is not None and family != known
            if not same_table and not other_family:
                members.append(block)
                groups[-1] = (known or family, members)
                continue
        groups.append((family, [block]))
    # IPv4 blocks come before IPv6 ones: a group without addresses is 4 first, 6 after.
    return [Group(known or (4 if n == 0 else 6), members)
            for n, (known, members) in enumerate(groups)]


def _goldens() -> list[Path]:
    return sorted(GOLDENS.glob("*.golden")) if GOLDENS.is_dir() else []


def _group_params() -> list[object]:
    params = []
    for path in _goldens():
        if BUILDER.match(path.name):
            continue
        for group in group_by_family(restore_blocks(path.read_text())):
            params.append(pytest.param(path, group, id=f"{path.name}:ipv{group.family}"))
    return params or [pytest.param(None, None, id="no-goldens", marks=pytest.mark.skip(
        reason=f"Istio goldens not found at {GOLDENS.resolve()}"))]


def _builder_params() -> list[object]:
    params = [pytest.param(path, id=path.name) for path in _goldens()
              if BUILDER.match(path.name) and restore_blocks(path.read_text())]
    return params or [pytest.param(None, id="no-goldens", marks=pytest.mark.skip(
        reason=f"Istio goldens not found at {GOLDENS.resolve()}"))]


@pytest.mark.parametrize(("path", "group"), _group_params())
def test_every_restore_block_parses(path: Path, group: Group) -> None:
    golden = path.read_text()
    try:
        ruleset = parse_text(group.text(golden), path.name, family=group.family)
    except ChainwalkError as e:
        pytest.fail(f"{path.name} (IPv{group.family}) does not parse:\n{e}", pytrace=False)
    assert ruleset.family == group.family
    assert sorted(t.name for t in ruleset.tables) == sorted({b.table for b in group.blocks})
    assert _rule_count(ruleset) == sum(b.rule_lines for b in group.blocks)
    assert parse_text(write_ruleset(ruleset), family=group.family) == ruleset


def _rule_count(ruleset: Ruleset) -> int:
    return sum(len(c.rules) for t in ruleset.tables for c in t.chains)


def test_capture_goldens_hold_ipv4_then_ipv6() -> None:
    goldens = [p for p in _goldens() if not BUILDER.match(p.name)]
    if not goldens:
        pytest.skip(f"Istio goldens not found at {GOLDENS.resolve()}")
    families = {p.name: [g.family for g in group_by_family(restore_blocks(p.read_text()))]
                for p in goldens}
    assert {name: f for name, f in families.items() if f not in ([4], [4, 6])} == {}
    assert families["tproxy.golden"] == [4, 6]
    assert families["basic.txt.golden"] == [4]
    assert sum(f == [4, 6] for f in families.values()) >= 10


@pytest.mark.parametrize("path", _builder_params())
def test_builder_goldens_are_not_iptables_and_are_refused(path: Path) -> None:
    """``-f foo -b bar``: the parser points at the synthetic option, it does not crash."""
    golden = path.read_text()
    for block in restore_blocks(golden):
        text = Group(4, [block]).text(golden)
        with pytest.raises(ChainwalkError) as caught:
            parse_text(text, path.name)
        tokens = {p.token for p in caught.value.problems}
        assert tokens & {"foo", "table"}, caught.value
        assert all(p.location.line in block.lines for p in caught.value.problems)


def test_grouping_of_a_capture_log() -> None:
    log = ("iptables-save\nip6tables-save\n* nat\n-N X\n-A X -d 10.0.0.1/32 -j RETURN\nCOMMIT\n"
           "* raw\n-A OUTPUT -j ACCEPT\nCOMMIT\n* nat\n-N X\n-A X -j RETURN\nCOMMIT\n"
           "* raw\n-A OUTPUT -d ::1/128 -j ACCEPT\nCOMMIT\niptables-save\n")
    groups = group_by_family(restore_blocks(log))
    assert [(g.family, [b.table for b in g.blocks]) for g in groups] == [
        (4, ["nat", "raw"]), (6, ["nat", "raw"])]
    assert groups[1].text(log).splitlines()[10] == "-N X"
    assert parse_text(groups[1].text(log), family=6).table("raw") is not None


def test_no_golden_is_copied_into_the_repository() -> None:
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                           check=False).stdout.split()
    assert [f for f in files if f.endswith(".golden") or "istio-goldens" in f] == []
