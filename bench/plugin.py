"""Measure the MkDocs plugin against its performance goals on the project's own site.

A report, not a test: it exits 0 (unless it cannot run at all) and says per figure
whether the goal is met. Every figure comes from this run, on this machine:

* the plugin's share of ``mkdocs build``: the median wall time of ``--runs`` builds of
  the site with the plugin and ``--runs`` builds of the same site without it (the
  chainwalk entry removed from ``plugins``, so each block stays a plain code block),
  interleaved, each a fresh ``mkdocs build`` process; share = (with - without) / with
  (goal: <= 15%). The same share in CPU time (user + system of the build process,
  which moves less than wall time when other work shares the machine) and the
  renderers' own time (every page and the folder checks, cold and with the cache
  warm) are shown for context;
* the rebuild after a rules edit during ``mkdocs serve --livereload``: a copy of the
  site is served, a rules file is edited, and the time from the edit until the served
  page shows the change is measured (goal: <= 2 s), for an annotation edit and for a
  ruleset edit (which re-runs every journey through that ruleset). MkDocs waits for
  file events to settle (about 0.5 s) before it rebuilds; that wait is included.

Usage: ``python bench/plugin.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "plugins"))

from chainwalk.render import Project, Site  # noqa: E402

SHARE_GOAL = 0.15
REBUILD_GOAL_S = 2.0
ENV = dict(os.environ, NO_MKDOCS_2_WARNING="1")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def build_once(config: Path, out: Path) -> tuple[float, float]:
    """The wall time and the CPU time of one ``mkdocs build`` process."""
    start, cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "-q", "-f", str(config),
                           "-d", str(out)], cwd=ROOT, env=ENV, capture_output=True,
                          text=True, check=False)
    took = time.perf_counter() - start, _children_cpu() - cpu
    if done.returncode != 0:
        sys.exit(f"mkdocs build -f {config.name} failed:\n{done.stderr}")
    return took


def without_plugin(config: Path) -> str:
    """mkdocs.yml with the chainwalk plugin (and its options) left out."""
    text = config.read_text(encoding="utf-8")
    return re.sub(r"(?m)^  - chainwalk:?\n(?:    .*\n)*", "", text)


def renderer_times() -> tuple[float, float]:
    """Render every page and check the folder: cold, then again with the cache warm."""
    site = Site(Project(ROOT / "rules", ROOT))
    pages = [(p, p.read_text(encoding="utf-8")) for p in sorted((ROOT / "docs").rglob("*.md"))]
    times = []
    for _ in range(2):
        start = time.perf_counter()
        site.begin_build()
        for path, text in pages:
            site.render_page(str(path.relative_to(ROOT)), text)
        site.check()
        times.append(time.perf_counter() - start)
    return times[0], times[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fetch(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return str(r.read().decode("utf-8"))
    except OSError:
        return ""


def wait_for(url: str, text: str, timeout: float = 120.0) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if text in fetch(url):
            return time.perf_counter()
        time.sleep(0.02)
    sys.exit(f"timed out waiting for {text!r} at {url}")


def _last_build(log: list[str]) -> float:
    """The last "Documentation built in N seconds" of a serve log."""
    times = [float(m.group(1)) for line in log
             if (m := re.search(r"Documentation built in ([0-9.]+) seconds", line))]
    return times[-1] if times else float("nan")


def serve_rebuilds() -> list[tuple[str, float, float]]:
    with tempfile.TemporaryDirectory(prefix="chainwalk-bench-") as tmp:
        work = Path(tmp)
        for name in ("docs", "rules"):
            shutil.copytree(ROOT / name, work / name)
        shutil.copy(ROOT / "mkdocs.yml", work / "mkdocs.yml")
        (work / "node_modules").symlink_to(ROOT / "node_modules")
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "mkdocs", "serve", "--livereload", "-a",
             f"127.0.0.1:{port}", "-f", str(work / "mkdocs.yml")], cwd=work, env=ENV,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        log: list[str] = []
        threading.Thread(target=lambda: log.extend(server.stdout or ()), daemon=True).start()
        try:
            page = f"http://127.0.0.1:{port}/istio-output/"
            annotations = work / "rules" / "rulesets" / "current.annotations.yaml"
            rules = work / "rules" / "rulesets" / "current.rules"
            wait_for(page, "ISTIO_OUTPUT", timeout=300)
            time.sleep(2)
            results = []
            text = annotations.read_text(encoding="utf-8")
            # The first rule name of current's ISTIO_OUTPUT (istio-output.md shows it).
            found = re.search(r"(?m)^  ISTIO_OUTPUT:\n(?:.*\n)*?      name: (.+)$", text)
            if found is None:
                sys.exit(f"no ISTIO_OUTPUT annotation with a name in {annotations}")
            start = time.perf_counter()
            annotations.write_text(text[:found.end(1)] + " edited42" + text[found.end(1):],
                                   encoding="utf-8")
            results.append(("annotation edit", wait_for(page, "edited42") - start,
                            _last_build(log)))
            time.sleep(2)
            # A comment changes the file (so every journey through it runs again) but no
            # page: wait for the served site to be rebuilt instead ("Reloading browsers").
            text = rules.read_text(encoding="utf-8")
            reloads = sum("Reloading browsers" in line for line in log)
            start = time.perf_counter()
            rules.write_text(text.replace("\n*nat\n", "\n# edited\n*nat\n", 1), encoding="utf-8")
            while sum("Reloading browsers" in line for line in log) == reloads:
                if time.perf_counter() - start > 120:
                    sys.exit("timed out waiting for the rebuild:\n" + "".join(log))
                time.sleep(0.02)
            results.append(("ruleset edit (its journeys re-run)", time.perf_counter() - start,
                            _last_build(log)))
            return results
        finally:
            server.terminate()
            server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="builds of each kind (default 5)")
    args = parser.parse_args()
    config = ROOT / "mkdocs.yml"
    bare = ROOT / f".bench-without-plugin-{os.getpid()}.yml"
    bare.write_text(without_plugin(config), encoding="utf-8")
    with_runs: list[tuple[float, float]] = []
    without_runs: list[tuple[float, float]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="chainwalk-bench-") as out:
            build_once(config, Path(out) / "warmup")
            for _ in range(args.runs):
                with_runs.append(build_once(config, Path(out) / "with"))
                without_runs.append(build_once(bare, Path(out) / "without"))
    finally:
        bare.unlink()
    with_times = [wall for wall, _ in with_runs]
    without_times = [wall for wall, _ in without_runs]
    with_median = statistics.median(with_times)
    without_median = statistics.median(without_times)
    share = (with_median - without_median) / with_median
    with_cpu = statistics.median(cpu for _, cpu in with_runs)
    without_cpu = statistics.median(cpu for _, cpu in without_runs)
    cold, warm = renderer_times()
    rebuilds = serve_rebuilds()

    load = os.getloadavg()[0]
    print(f"chainwalk plugin benchmark ({os.cpu_count()} CPUs, load {load:.1f}; "
          f"{args.runs} builds each)")
    print(f"  mkdocs build with the plugin     {with_median:6.2f} s  "
          f"(runs: {', '.join(f'{t:.2f}' for t in with_times)})")
    print(f"  mkdocs build without the plugin  {without_median:6.2f} s  "
          f"(runs: {', '.join(f'{t:.2f}' for t in without_times)})")
    verdict = "meets" if share <= SHARE_GOAL else "MISSES"
    print(f"  plugin's share of the build      {share:6.1%}    {verdict} the goal "
          f"(<= {SHARE_GOAL:.0%})")
    print(f"  CPU time, for context            {with_cpu:.2f} s with, {without_cpu:.2f} s "
          f"without: a share of {(with_cpu - without_cpu) / with_cpu:.1%}")
    print(f"  renderers alone: every page and the folder checks {cold:.2f} s cold, "
          f"{warm * 1000:.0f} ms with the cache warm")
    for what, took, built in rebuilds:
        verdict = "meets" if took <= REBUILD_GOAL_S else "MISSES"
        print(f"  serve: {what:36} {took:5.2f} s from the edit to the rebuilt site "
              f"(MkDocs' build: {built:.2f} s); {verdict} the goal (<= {REBUILD_GOAL_S:.0f} s)")


if __name__ == "__main__":
    main()
