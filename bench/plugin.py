"""Measure the MkDocs plugin against its performance goals on the project's own site.

A report, not a test: it exits 0 (unless it cannot run at all) and says per figure
whether the goal is met. Every figure comes from this run, on this machine:

* the plugin's share of ``mkdocs build``: the median wall time of ``--runs`` builds of
  the site with the plugin and ``--runs`` builds of the same site without it (the
  chainwalk plugin, Markdown extension and fence removed from ``mkdocs.yml``, so each
  block stays a plain code block),
  interleaved, each a fresh ``mkdocs build`` process; share = (with - without) / with
  (goal: <= 15%). Builds with the plugin are measured twice: with its page cache
  emptied first (a first build, a fresh clone: every journey runs), and with the cache
  of the previous build (nothing changed: the engine is not loaded). The same shares
  in CPU time (user + system of the build process, which moves less than wall time
  when other work shares the machine) and the renderers' own time (every page and the
  folder checks, cold and with their in-memory cache warm) are shown for context;
* the rebuild after a rules edit during ``mkdocs serve --livereload``: a copy of the
  site is served, a rules file is edited, and the time from the edit until the served
  page shows the change is measured (goal: <= 2 s), for an annotation edit and for a
  ruleset edit (which re-runs every journey through that ruleset). MkDocs waits for
  file events to settle (0.1 s) before it rebuilds; that wait is included.

Builds run as Python normally does, with modules' bytecode cached in ``__pycache__``
(``PYTHONDONTWRITEBYTECODE`` is removed from their environment): pip compiled MkDocs'
and the other plugins' bytecode when it installed them, and chainwalk, installed in
place, caches its own on first import.

With ``--instructions``, one build of each kind also runs under valgrind (cachegrind,
without its cache simulation) and the shares are given in instructions executed: a
figure that load on the machine does not move (wall and CPU time here move by 20% from
run to run). Needs ``valgrind``; takes a few minutes.

Usage: ``python bench/plugin.py [--runs N] [--instructions]``.
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

from chainwalk.project import Project, Site  # noqa: E402

SHARE_GOAL = 0.15
REBUILD_GOAL_S = 2.0
# Python as installed: modules' bytecode cached in __pycache__ (the plugin's dependencies
# have theirs from pip; an environment that turns caching off would make only chainwalk,
# installed in place, compile its modules again in every build).
ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
ENV["NO_MKDOCS_2_WARNING"] = "1"


def instructions(config: Path, out: Path) -> int:
    """The instructions one ``mkdocs build`` executes (valgrind's cachegrind)."""
    done = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no",
                           "--cachegrind-out-file=/dev/null", sys.executable, "-m", "mkdocs",
                           "build", "-q", "-f", str(config), "-d", str(out)], cwd=ROOT,
                          env=ENV, capture_output=True, text=True, check=False)
    found = re.search(r"I\s+refs:\s+([0-9,]+)", done.stderr)
    if done.returncode != 0 or found is None:
        sys.exit(f"valgrind mkdocs build -f {config.name} failed:\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


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
    """mkdocs.yml with the chainwalk plugin, its Markdown extension and its superfences
    fence (and their options, and the fence's comment) left out."""
    text = config.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^(?:        #.*\n)?        - name: chainwalk\n(?:          .*\n)*", "",
                  text)
    return re.sub(r"(?m)^  - chainwalk:?\n(?:    .*\n)*", "", text)


def with_cache_in(config: Path, cache: Path) -> str:
    """mkdocs.yml with the plugin's page cache in ``cache`` (not in the checkout)."""
    text = config.read_text(encoding="utf-8")
    head, plugins, tail = text.partition("\nplugins:\n")
    if not re.search(r"(?m)^  - chainwalk:\n", tail):
        sys.exit(f"{config}: no '  - chainwalk:' entry with options under plugins")
    return head + plugins + re.sub(r"(?m)^  - chainwalk:\n",
                                   f"  - chainwalk:\n      cache_dir: {cache}\n", tail)


def share_of(with_runs: list[tuple[float, float]],
             without_runs: list[tuple[float, float]]) -> tuple[float, float]:
    """The plugin's share of the median wall time, and of the median CPU time."""
    shares = []
    for part in (0, 1):
        with_median = statistics.median(run[part] for run in with_runs)
        without_median = statistics.median(run[part] for run in without_runs)
        shares.append((with_median - without_median) / with_median)
    return shares[0], shares[1]


def runs_text(runs: list[tuple[float, float]]) -> str:
    median = statistics.median(wall for wall, _ in runs)
    return f"{median:6.2f} s  (runs: {', '.join(f'{wall:.2f}' for wall, _ in runs)})"


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
    parser.add_argument("--instructions", action="store_true",
                        help="also count each kind of build's instructions with valgrind")
    args = parser.parse_args()
    config = ROOT / "mkdocs.yml"
    bare = ROOT / f".bench-without-plugin-{os.getpid()}.yml"
    cached = ROOT / f".bench-with-plugin-{os.getpid()}.yml"
    bare.write_text(without_plugin(config), encoding="utf-8")
    cold_runs: list[tuple[float, float]] = []
    warm_runs: list[tuple[float, float]] = []
    without_runs: list[tuple[float, float]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="chainwalk-bench-") as out:
            cache = Path(out) / "cache"
            cached.write_text(with_cache_in(config, cache), encoding="utf-8")
            build_once(cached, Path(out) / "warmup")
            for _ in range(args.runs):
                shutil.rmtree(cache, ignore_errors=True)
                cold_runs.append(build_once(cached, Path(out) / "cold"))
                warm_runs.append(build_once(cached, Path(out) / "warm"))
                without_runs.append(build_once(bare, Path(out) / "without"))
            counted: dict[str, int] = {}
            if args.instructions:
                counted["cached"] = instructions(cached, Path(out) / "warm")
                counted["without"] = instructions(bare, Path(out) / "without")
                shutil.rmtree(cache, ignore_errors=True)
                counted["cold"] = instructions(cached, Path(out) / "cold")
    finally:
        bare.unlink()
        cached.unlink(missing_ok=True)
    cold, warm = renderer_times()
    rebuilds = serve_rebuilds()

    load = os.getloadavg()[0]
    print(f"chainwalk plugin benchmark ({os.cpu_count()} CPUs, load {load:.1f}; "
          f"{args.runs} builds each)")
    print(f"  mkdocs build with the plugin, cold     {runs_text(cold_runs)}")
    print(f"  mkdocs build with the plugin, cached   {runs_text(warm_runs)}")
    print(f"  mkdocs build without the plugin        {runs_text(without_runs)}")
    for what, runs in (("cold", cold_runs), ("cached", warm_runs)):
        wall, cpu = share_of(runs, without_runs)
        verdict = "meets" if wall <= SHARE_GOAL else "MISSES"
        print(f"  plugin's share of the build, {what:7} {wall:6.1%}    {verdict} the goal "
              f"(<= {SHARE_GOAL:.0%}); in CPU time {cpu:.1%}")
    for what in ("cold", "cached") if counted else ():
        share = (counted[what] - counted["without"]) / counted[what]
        verdict = "meets" if share <= SHARE_GOAL else "MISSES"
        print(f"  in instructions, {what:7} {counted[what] / 1e9:5.2f} G with, "
              f"{counted['without'] / 1e9:5.2f} G without: {share:.1%}, {verdict} the goal")
    print(f"  renderers alone: every page and the folder checks {cold:.2f} s cold, "
          f"{warm * 1000:.0f} ms with the cache warm")
    for what, took, built in rebuilds:
        verdict = "meets" if took <= REBUILD_GOAL_S else "MISSES"
        print(f"  serve: {what:36} {took:5.2f} s from the edit to the rebuilt site "
              f"(MkDocs' build: {built:.2f} s); {verdict} the goal (<= {REBUILD_GOAL_S:.0f} s)")


if __name__ == "__main__":
    main()
