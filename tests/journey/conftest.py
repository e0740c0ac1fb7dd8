"""Helpers of the journey tests: scenario files written into a throwaway rules/ folder."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from journey_helpers import RULES


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """A rules/ folder whose rulesets/ are the project's own; scenarios go in scenarios/."""
    (tmp_path / "rulesets").symlink_to(RULES / "rulesets")
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
