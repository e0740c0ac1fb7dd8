"""Fixtures for the application layer's tests: a writable copy of the renderers' mini
project (``tests/render/fixtures/mini``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

MINI = Path(__file__).resolve().parents[1] / "render" / "fixtures" / "mini"


@pytest.fixture
def mini_copy(tmp_path: Path) -> Path:
    """A writable copy of the mini project."""
    target = tmp_path / "mini"
    shutil.copytree(MINI, target)
    return target
