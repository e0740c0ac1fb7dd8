"""Building copies of the fixture projects, in process or with the real ``mkdocs`` CLI."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from mkdocs.commands.build import build as mkdocs_build
from mkdocs.config import load_config
from mkdocs.exceptions import Abort

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures"
ROOT = HERE.parents[1]
MERMAID_JS = ROOT / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
PAN_ZOOM_JS = ROOT / "node_modules" / "svg-pan-zoom" / "dist" / "svg-pan-zoom.min.js"


@dataclass
class Built:
    ok: bool
    log: str
    site: Path

    def page(self, path: str) -> str:
        return (self.site / path).read_text(encoding="utf-8")


def copy_fixture(name: str, target: Path) -> Path:
    project = target / name
    shutil.copytree(FIXTURES / name, project)
    return project


def site_copy(target: Path) -> Path:
    """The site's sources (mkdocs.yml, docs/, rules/, overrides/, Mermaid from
    node_modules) in ``target``."""
    target.mkdir(parents=True)
    for folder in ("docs", "rules", "overrides"):
        shutil.copytree(ROOT / folder, target / folder)
    shutil.copy(ROOT / "mkdocs.yml", target / "mkdocs.yml")
    (target / "node_modules").symlink_to(ROOT / "node_modules")
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname}: {record.getMessage()}")


def build(project: Path, *, strict: bool = True, site: Path | None = None) -> Built:
    """``mkdocs build [--strict]`` of ``project`` in this process (as the CLI runs it),
    into ``site`` (default: the project's ``site`` folder)."""
    os.environ["CHAINWALK_MERMAID_JS"] = str(MERMAID_JS)
    os.environ["CHAINWALK_PAN_ZOOM_JS"] = str(PAN_ZOOM_JS)
    site = site or project / "site"
    handler = _Collect()
    logger = logging.getLogger("mkdocs")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    ok = True
    try:
        config = load_config(config_file=str(project / "mkdocs.yml"), site_dir=str(site),
                             strict=strict)
        config.plugins.on_startup(command="build", dirty=False)
        try:
            mkdocs_build(config)
        finally:
            config.plugins.on_shutdown()
    except Abort as e:
        ok = False
        handler.lines.append(f"ABORT: {e}")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return Built(ok, "\n".join(handler.lines), site)


def run_cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", CHAINWALK_MERMAID_JS=str(MERMAID_JS),
                   CHAINWALK_PAN_ZOOM_JS=str(PAN_ZOOM_JS))
    return subprocess.run([sys.executable, "-m", "mkdocs", *args, "-f",
                           str(project / "mkdocs.yml")], capture_output=True, text=True,
                          env=env, timeout=300, check=False)
