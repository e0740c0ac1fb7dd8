"""A real browser over a built site: headless Debian Chromium driven by playwright-python.

The site is built with ``mkdocs build --strict`` into a temporary folder, its
``site_url`` set to the origin it is then served from (``python -m http.server`` on
127.0.0.1), since Material's instant navigation only works on that origin. Nothing is
downloaded: ``playwright install`` is never run; the browser is /usr/bin/chromium.
Without Chromium or playwright these tests skip, unless ``CHAINWALK_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "plugin" / "fixtures"
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
MERMAID_JS = ROOT / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
PAN_ZOOM_JS = ROOT / "node_modules" / "svg-pan-zoom" / "dist" / "svg-pan-zoom.min.js"
PLAYGROUND_MARK = 'id="chainwalk-playground"'


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright (Python) is not installed"
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    if not MERMAID_JS.is_file():
        return f"{MERMAID_JS} is missing (npm ci)"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    missing = _missing()
    if missing:
        if os.environ.get("CHAINWALK_REQUIRE_BROWSER") == "1":
            pytest.fail(f"CHAINWALK_REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Site:
    name: str
    folder: Path
    url: str

    def pages(self) -> list[str]:
        """Every page's path ("", "rules/"...), from the built folder, but the playground
        (which loads Pyodide; test_playground.py tests it)."""
        found = []
        for html in sorted(self.folder.rglob("index.html")):
            rel = html.parent.relative_to(self.folder).as_posix()
            if rel not in ("search",) and PLAYGROUND_MARK not in html.read_text("utf-8"):
                found.append("" if rel == "." else rel + "/")
        return found

    def diagrams(self, page: str) -> int:
        html = (self.folder / page / "index.html").read_text(encoding="utf-8")
        return len(re.findall(r'<pre\b[^>]*\bclass="mermaid"', html))


def _build(project: Path, config: str, out: Path, port: int) -> None:
    """``mkdocs build --strict`` of ``project/config`` with site_url on ``port``."""
    override = project / f".browser-{uuid.uuid4().hex[:8]}.yml"
    override.write_text(f"INHERIT: {config}\nsite_url: http://127.0.0.1:{port}/\n",
                        encoding="utf-8")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", CHAINWALK_MERMAID_JS=str(MERMAID_JS),
                   CHAINWALK_PAN_ZOOM_JS=str(PAN_ZOOM_JS))
    try:
        done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f",
                               str(override), "-d", str(out)], cwd=project, env=env,
                              capture_output=True, text=True, timeout=600, check=False)
    finally:
        override.unlink()
    if done.returncode != 0:
        pytest.fail(f"mkdocs build --strict of {project} failed:\n{done.stderr}")


def _serve(folder: Path, port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                               "127.0.0.1", "--directory", str(folder)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).close()
            return server
        except OSError:
            time.sleep(0.1)
    server.terminate()
    pytest.fail("python -m http.server did not start")


@pytest.fixture(scope="session")
def project_site(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[Site]:
    """The project's own site, built once for every browser test."""
    yield from _built("project", tmp_path_factory)


@pytest.fixture(scope="session", params=["project", "fixture"])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
         browser: Any) -> Iterator[Site]:
    """The project's own site, and the plugin fixture (hostile strings in every input)."""
    if request.param == "project":
        yield request.getfixturevalue("project_site")
    else:
        yield from _built(str(request.param), tmp_path_factory)


def _built(name: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    work = tmp_path_factory.mktemp(f"browser-{name}")
    if name == "project":
        project, config = ROOT, "mkdocs.yml"
    else:
        project = work / "ok"
        shutil.copytree(FIXTURES / "ok", project)
        config = "mkdocs.yml"
    port = free_port()
    folder = work / "site"
    _build(project, config, folder, port)
    server = _serve(folder, port)
    try:
        yield Site(name, folder, f"http://127.0.0.1:{port}/")
    finally:
        server.terminate()
        server.wait(timeout=10)
