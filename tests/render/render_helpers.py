"""Paths shared by the renderers' tests."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
MINI = HERE / "fixtures" / "mini"
GOLDEN = HERE / "golden"
LISTINGS = HERE / "fixtures" / "listing"
