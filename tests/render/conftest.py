"""Fixtures for the renderers' tests: the mini rules folder and golden files.

Golden files live in ``tests/render/golden/``; ``CHAINWALK_UPDATE_GOLDEN=1 pytest
tests/render`` rewrites them from the current output (then read the diff).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from render_helpers import GOLDEN, MINI

from chainwalk.project import Project, Site


@pytest.fixture
def site() -> Site:
    built = Site(Project(MINI / "rules", MINI))
    built.begin_build()
    return built


@pytest.fixture
def mini_copy(tmp_path: Path) -> Path:
    """A writable copy of the mini project."""
    target = tmp_path / "mini"
    shutil.copytree(MINI, target)
    return target


@pytest.fixture
def golden() -> Callable[[str, str], None]:
    def check(name: str, text: str) -> None:
        path = GOLDEN / name
        if os.environ.get("CHAINWALK_UPDATE_GOLDEN") == "1":
            path.write_text(text, encoding="utf-8")
        assert path.exists(), f"no golden file {path}: run with CHAINWALK_UPDATE_GOLDEN=1"
        assert text == path.read_text(encoding="utf-8"), f"output differs from {path}"

    return check
