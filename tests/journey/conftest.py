"""Helpers of the journey tests: scenario files written into a throwaway rules/ folder."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from journey_helpers import RULES


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """A rules/ folder holding a copy of the project's rulesets/ (a symlink to them would
    lead outside the folder, which scenarios may not); scenarios go in scenarios/."""
    shutil.copytree(RULES / "rulesets", tmp_path / "rulesets")
    (tmp_path / "scenarios").mkdir()
    return tmp_path


@pytest.fixture
def write(rules_dir: Path) -> Callable[[str, str], Path]:
    """write(text, name="test") -> the path of rules/scenarios/NAME.yaml holding ``text``."""

    def _write(text: str, name: str = "test") -> Path:
        path = rules_dir / "scenarios" / f"{name}.yaml"
        path.write_text(textwrap.dedent(text))
        return path

    return _write
