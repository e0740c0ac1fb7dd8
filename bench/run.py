"""Measure chainwalk's netfilter engine against its performance goals, and print a table.

A report, not a test: it exits 0 whatever the figures (1 only if it cannot run at all)
and says for each figure whether its goal is met. Every figure comes from this run:

* check: ``chainwalk check`` of a generated kube-proxy ruleset (``bench/kube_proxy.py``)
  against ``iptables-restore --test`` of the same file (in a network namespace of its
  own), both as whole processes: start-up, imports, reading and exit, which is what a
  user waits for (median of ``--runs`` each, the two alternating; goal: ratio <= 1.3).
  The CPU time of both is shown too (it varies less on a busy machine), and, for
  context, ``parse_file`` alone timed inside a fresh interpreter;
* peak memory: the peak RSS (``ru_maxrss`` from ``wait4``) of the process that parses,
  against that of ``iptables-restore --test`` (goal: ratio <= 2.0). Nothing is subtracted;
  the bare interpreter's and the imported engine's peak RSS are shown for context;
* trace time: the median of ``--iterations`` calls of ``trace`` (``perf_counter_ns``) for
  one packet to a service VIP through the kube-proxy ruleset, from PREROUTING and from
  OUTPUT (goal: <= 1 ms), and for an application's packet to another host through
  ``rules/rulesets/current.rules`` (goal: <= 50 us). The first call, which compiles rules
  and builds the destination index lazily, is shown apart.

Processes are started from a small launcher interpreter, not from this one: Linux charges
a child's ``ru_maxrss`` with its parent's peak at the time of the fork, so a child of this
(large) process would look as big as this process. The launcher's own floor is printed.

Usage: ``python bench/run.py`` (5,000 services x 3 endpoints), ``--quick`` (500 x 3);
``--plugins DIR`` measures another checkout's engine (``DIR/chainwalk``), to compare commits.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"

CHECK_GOAL = 1.3  # chainwalk check / iptables-restore --test, whole processes, wall
MEMORY_GOAL = 2.0  # chainwalk peak RSS / iptables-restore --test peak RSS
KUBE_TRACE_GOAL_NS = 1_000_000
CURRENT_TRACE_GOAL_NS = 50_000

# Runs COMMAND (the arguments after the first) as a child and prints its wall time, CPU
# time, exit status and peak RSS as JSON. With --netns the launcher first moves to a network
# namespace of its own (which disappears with it), outside the timing: creating one takes
# tens of milliseconds. Kept tiny (-I -S) so its own RSS, which a forked child starts from,
# stays small.
_LAUNCHER = r"""
import ctypes, json, os, sys, time
netns, argv = sys.argv[1] == "--netns", sys.argv[2:]
if netns and ctypes.CDLL(None, use_errno=True).unshare(0x40000000) != 0:
    sys.exit("unshare(CLONE_NEWNET) failed")
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
print(json.dumps({"wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
                  "status": os.waitstatus_to_exitcode(status), "maxrss_kb": usage.ru_maxrss}))
"""

# ``chainwalk check FILE`` as its console script runs it, with the engine of sys.argv[1].
_CHECK = r"""
import sys
sys.path.insert(0, sys.argv[1])
from chainwalk.cli import run
sys.argv[1:] = ["check", sys.argv[2]]
run()
"""

# parse_file alone, timed inside a fresh interpreter (for context).
_PARSE = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from chainwalk.netfilter import parse_file
wall = time.perf_counter()
ruleset = parse_file(sys.argv[2])
print(json.dumps({"parse": time.perf_counter() - wall}))
"""


@dataclass
class Launch:
    wall: float
    cpu: float
    status: int
    maxrss_kb: int
    stdout: str


def launch(argv: list[str], netns: bool = False, env: dict[str, str] | None = None) -> Launch:
    """Run ``argv`` under the launcher; the child's stdout comes before the launcher's line.
    ``env``: variables to add to the child's environment."""
    cmd = [sys.executable, "-I", "-S", "-c", _LAUNCHER, "--netns" if netns else "--", *argv]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False,
                            env={**os.environ, **(env or {})})
    if result.returncode != 0:
        raise RuntimeError(f"launcher failed: {result.stderr.strip()}")
    lines = result.stdout.rstrip("\n").split("\n")
    info = json.loads(lines[-1])
    return Launch(info["wall"], info["cpu"], info["status"], info["maxrss_kb"],
                  "\n".join(lines[:-1]))


def compile_bytecode(plugins: Path) -> None:
    """The measured package's bytecode, as pip writes it at install: otherwise, where
    PYTHONDONTWRITEBYTECODE is set, every run would compile each module from source."""
    compileall.compile_dir(plugins / "chainwalk", quiet=1)


BATCHES = 10


def time_calls(fn: Callable[[], object], iterations: int) -> tuple[int, int, int]:
    """The first call, the median of the next ``iterations`` calls and the lowest median of
    the ``BATCHES`` batches they are made in, in nanoseconds. On a machine busy with other
    work the overall median moves with that work; the best batch shows what the code can do.
    """
    clock = time.perf_counter_ns
    start = clock()
    fn()
    first = clock() - start
    samples = []
    for _ in range(iterations):
        start = clock()
        fn()
        samples.append(clock() - start)
    size = max(1, iterations // BATCHES)
    best = min(statistics.median(samples[k:k + size]) for k in range(0, len(samples), size))
    return first, int(statistics.median(samples)), int(best)


# -- formatting -----------------------------------------------------------------------

def fmt_s(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds >= 0.1 else f"{seconds * 1000:.1f} ms"


def fmt_ns(ns: float) -> str:
    return f"{ns / 1_000_000:.2f} ms" if ns >= 1_000_000 else f"{ns / 1000:.1f} us"


def fmt_kb(kb: float) -> str:
    return f"{kb / 1024:.1f} MiB"


Row = tuple[str, str, str, str, str, str]


def row(name: str, value: str, baseline: str, ratio: float | None, goal: float | None,
        goal_text: str = "") -> Row:
    if ratio is None:
        return (name, value, baseline, "", goal_text, "")
    verdict = "" if goal is None else ("meets" if ratio <= goal else "MISSES")
    return (name, value, baseline, f"{ratio:.2f}x",
            goal_text or ("" if goal is None else f"<= {goal:.1f}x"), verdict)


def print_table(rows: list[Row]) -> None:
    header: Row = ("measure", "chainwalk", "baseline", "ratio", "goal", "")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(6)]
    for r in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())


# -- the measurements --------------------------------------------------------------------

def check_rows(path: Path, plugins: Path, runs: int, notes: list[str]) -> list[Row] | None:
    """chainwalk check and iptables-restore --test as whole processes; peak RSS of both."""
    floor = launch(["true"]).maxrss_kb
    bare = launch([sys.executable, "-c", "pass"]).maxrss_kb
    imported = launch([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(plugins)!r}); "
                       "import chainwalk.netfilter"]).maxrss_kb
    cw: dict[str, list[float]] = {"wall": [], "cpu": [], "rss": [], "parse": []}
    ipt: dict[str, list[float]] = {"wall": [], "cpu": [], "rss": []}
    restore = shutil.which("iptables-restore")
    if restore is None:
        notes.append("iptables-restore not found: no baseline for check time and memory")
    elif os.geteuid() != 0:
        notes.append("not root: iptables-restore --test cannot run; no baseline")
        restore = None
    # The runs of each side alternate, so that load on the machine that comes and goes
    # weighs on both alike.
    for _ in range(runs):
        child = launch([sys.executable, "-c", _CHECK, str(plugins), str(path)])
        if child.status != 0:
            print(f"chainwalk check failed on {path}", file=sys.stderr)
            return None
        for key, value in (("wall", child.wall), ("cpu", child.cpu), ("rss", child.maxrss_kb)):
            cw[key].append(value)
        if restore is not None:
            child = launch([restore, "--test", str(path)], netns=True)
            if child.status != 0:
                notes.append(f"iptables-restore --test exited {child.status} on {path}")
                ipt, restore = {"wall": [], "cpu": [], "rss": []}, None
            else:
                for key, value in (("wall", child.wall), ("cpu", child.cpu),
                                   ("rss", child.maxrss_kb)):
                    ipt[key].append(value)
        child = launch([sys.executable, "-c", _PARSE, str(plugins), str(path)])
        cw["parse"].append(json.loads(child.stdout.splitlines()[-1])["parse"])
    m = {key: statistics.median(values) for key, values in cw.items() if values}
    rows = []
    if ipt["wall"]:
        b = {key: statistics.median(values) for key, values in ipt.items()}
        rows += [
            row("chainwalk check (whole process, wall)", fmt_s(m["wall"]), fmt_s(b["wall"]),
                m["wall"] / b["wall"], CHECK_GOAL),
            row("  CPU time", fmt_s(m["cpu"]), fmt_s(b["cpu"]), m["cpu"] / b["cpu"], None,
                "(context)"),
            row("  parse_file alone (in process, wall)", fmt_s(m["parse"]), fmt_s(b["wall"]),
                m["parse"] / b["wall"], None, "(context)"),
            row("peak RSS (checking process)", fmt_kb(m["rss"]), fmt_kb(b["rss"]),
                m["rss"] / b["rss"], MEMORY_GOAL),
        ]
    else:
        rows += [row("chainwalk check (whole process, wall)", fmt_s(m["wall"]), "n/a", None,
                     None),
                 row("peak RSS (checking process)", fmt_kb(m["rss"]), "n/a", None, None)]
    rows.append(row("  python -c pass / + import chainwalk.netfilter",
                    f"{fmt_kb(bare)} / {fmt_kb(imported)}", "", None, None, "(context)"))
    notes.append(f"peak RSS is ru_maxrss of each process (launcher floor {fmt_kb(floor)}); "
                 "nothing is subtracted")
    return rows


def trace_rows(path: Path, services: int, endpoints: int, iterations: int) -> list[Row]:
    """Median trace times, in this process (the engine imported from ``sys.path``)."""
    import kube_proxy
    from chainwalk.netfilter import Packet, host_with, parse_file, trace

    ruleset = parse_file(path)
    svc = kube_proxy.services(services, endpoints)[services // 2]
    node = host_with({"eth0": ("10.0.0.5/24",)}, forwarding=True)
    arriving = Packet(svc.vip, svc.port, svc.protocol, "192.168.1.50", in_interface="eth0")
    local = Packet(svc.vip, svc.port, svc.protocol, uid=1000, gid=1000)
    current = parse_file(ROOT / "rules" / "rulesets" / "current.rules")
    pod = host_with({"eth0": ("10.0.0.5/24",)})
    app = Packet("10.0.0.99", 8080, "tcp", uid=1000, gid=1000)
    checks: list[tuple[str, Callable[[], object], int]] = [
        ("trace kube-proxy PREROUTING (VIP:port)",
         lambda: trace(ruleset, arriving, node, "PREROUTING"), KUBE_TRACE_GOAL_NS),
        ("trace kube-proxy OUTPUT (VIP:port)",
         lambda: trace(ruleset, local, node, "OUTPUT"), KUBE_TRACE_GOAL_NS),
        ("trace current.rules OUTPUT (app -> host)",
         lambda: trace(current, app, pod, "OUTPUT"), CURRENT_TRACE_GOAL_NS),
    ]
    rows = []
    for name, fn, goal_ns in checks:
        first, median, best = time_calls(fn, iterations)
        rows.append(row(f"{name}, median", fmt_ns(median), "", median / goal_ns, 1.0,
                        f"<= {fmt_ns(goal_ns)}"))
        rows.append(row(f"  best median of {BATCHES} batches", fmt_ns(best), "",
                        best / goal_ns, None, "(context)"))
        rows.append(row("  first call (compiles lazily)", fmt_ns(first), "", None, None,
                        "(context)"))
    sample = trace(ruleset, arriving, node, "PREROUTING")
    print(f"kube-proxy PREROUTING trace: {len(sample.branches)} branches, "
          f"{sample.disposition} to {sample.final.dst}:{sample.final.dport}")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="chainwalk performance report")
    parser.add_argument("--quick", action="store_true",
                        help="500 services, fewer runs and iterations")
    parser.add_argument("--services", type=int, help="service ports (5000; --quick 500)")
    parser.add_argument("--endpoints", type=int, default=3, help="endpoints per service (3)")
    parser.add_argument("--runs", type=int, help="check runs per side (5; --quick 3)")
    parser.add_argument("--iterations", type=int,
                        help="trace calls per figure (2000; --quick 300)")
    parser.add_argument("--plugins", type=Path, default=ROOT / "plugins",
                        help="the directory holding the chainwalk package to measure")
    args = parser.parse_args(argv)
    services = args.services or (500 if args.quick else 5000)
    runs = args.runs or (3 if args.quick else 5)
    iterations = args.iterations or (300 if args.quick else 2000)
    plugins = args.plugins.resolve()
    sys.path[:0] = [str(plugins), str(ROOT / "bench")]
    compile_bytecode(plugins)
    import kube_proxy

    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"kube-proxy-{services}x{args.endpoints}.rules"
    text = kube_proxy.generate(services, args.endpoints)
    path.write_text(text, encoding="utf-8")
    rules = sum(1 for line in text.splitlines() if line.startswith("-A "))
    print(f"chainwalk performance report: {platform.python_implementation()} "
          f"{platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}, "
          f"engine {plugins}")
    print(f"ruleset: {path.relative_to(ROOT)} ({services} services x {args.endpoints} "
          f"endpoints: {rules} rules, {text.count(chr(10))} lines, {len(text) / 1e6:.1f} MB)")
    print(f"check figures: median of {runs} runs; trace figures: median of {iterations} calls")
    notes: list[str] = []
    rows = check_rows(path, plugins, runs, notes)
    if rows is None:
        return 1
    rows += trace_rows(path, services, args.endpoints, iterations)
    print()
    print_table(rows)
    print()
    for note in notes:
        print("note:", note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
