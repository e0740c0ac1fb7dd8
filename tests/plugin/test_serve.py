"""``mkdocs serve`` with the installed Click: an edit under rules/ rebuilds the page; a
broken rules file shows the error and keeps the last good site.

What "keeps" means: MkDocs 1.6 would hold every request after a failed rebuild until
a build succeeds ("the server will appear stuck"), so during serve the plugin does not
fail the rebuild: it logs the problems as an error, shows them at the top of every page,
and keeps each page's content from the last good build.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from mkdocs.__main__ import serve_command
from plugin_helpers import MERMAID_JS, PAN_ZOOM_JS, copy_fixture, edit

TIMEOUT = 90.0  # seconds; builds are slow on a loaded 2-core machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, project: Path, tmp: Path) -> None:
        self.port = free_port()
        self.tmp = tmp  # mkdocs serve builds into a mkdtemp() folder here
        env = dict(os.environ, NO_MKDOCS_2_WARNING="1", CHAINWALK_MERMAID_JS=str(MERMAID_JS),
                   CHAINWALK_PAN_ZOOM_JS=str(PAN_ZOOM_JS),
                   TMPDIR=str(tmp))
        # --livereload as `make serve` passes it (Click 8.3 made it off by default).
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mkdocs", "serve", "--livereload", "-a",
             f"127.0.0.1:{self.port}", "-f", str(project / "mkdocs.yml")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    @property
    def log(self) -> str:
        return "".join(self.output)

    def site_file(self, path: str) -> str:
        (site,) = self.tmp.glob("mkdocs_*")
        return (site / path).read_text(encoding="utf-8")

    def get(self, path: str = "/", timeout: float = 10) -> str:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}",
                                        timeout=timeout) as r:
                return str(r.read().decode("utf-8"))
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return ""

    def wait(self, what: str, check: Callable[[], bool]) -> None:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"mkdocs serve exited while waiting for {what}:\n{self.log}")
            if check():
                return
            time.sleep(0.2)
        pytest.fail(f"timed out waiting for {what}:\n{self.log}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Server, Path]]:
    project = copy_fixture("ok", tmp_path)
    (tmp_path / "tmp").mkdir()
    server = Server(project, tmp_path / "tmp")
    try:
        yield server, project
    finally:
        server.stop()


def test_the_installed_click_turns_livereload_on() -> None:
    """``make serve`` passes --livereload; without it Click 8.3 turned it off. Whatever
    the installed Click does by default, the flag must give live reload."""
    assert serve_command.make_context("serve", ["--livereload"]).params["livereload"] is True


def test_an_edit_under_rules_rebuilds_and_a_broken_file_keeps_the_last_good_site(
        served: tuple[Server, Path]) -> None:
    server, project = served
    annotations = project / "rules" / "rulesets" / "pod.annotations.yaml"
    rules = project / "rules" / "rulesets" / "pod.rules"
    server.wait("the first build", lambda: "They leave the pod directly." in server.get())

    edit(annotations, "They leave the pod directly.", "They leave the pod at once.")
    server.wait("the rebuild after an annotation edit",
                lambda: "They leave the pod at once." in server.get())

    edit(rules, "-p tcp -j REDIRECT --to-ports 15001", "-p tcp -j REDIRECT --to-ports 15001 x")
    server.wait("the error of the broken ruleset",
                lambda: "chainwalk: " in server.log and "rules/rulesets/pod.rules:20:55:" in server.log)
    server.wait("the error on the page", lambda: "The rules are broken" in server.get())
    page = server.get()
    # The error is on the page, and the page keeps the last good build's content.
    assert "rules/rulesets/pod.rules:20:55:" in page
    assert "They leave the pod at once." in page
    assert "Chain ISTIO_OUTPUT" in server.get("/more/")

    edit(rules, "--to-ports 15001 x", "--to-ports 15001")
    edit(annotations, "They leave the pod at once.", "They leave the pod, fixed.")
    server.wait("the rebuild after the fix", lambda: "They leave the pod, fixed." in server.get())
