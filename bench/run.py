"""Measure chainwalk's netfilter engine against its performance goals, and print a table.

A report, not a test: it always exits 0 (unless it cannot run at all) and says per
figure whether the goal is met. Every figure comes from this run, on this machine:

* parse time: ``parse_file`` on a generated kube-proxy ruleset (``bench/kube_proxy.py``),
  each run in a fresh interpreter so no cache is warm, against ``iptables-restore --test``
  on the same file in a throwaway network namespace (median of ``--runs`` each; goal:
  ratio <= 1.0);
* peak memory: the peak RSS (``ru_maxrss`` from ``wait4``) of the process that parses,
  against that of ``iptables-restore --test`` (goal: ratio <= 2.0). Nothing is subtracted;
  the bare interpreter's and the imported engine's peak RSS are shown for context;
* trace time: the median of ``--iterations`` calls of ``trace`` (``perf_counter_ns``)
  for a packet to a service VIP through the kube-proxy ruleset, from PREROUTING and
  from OUTPUT (goal: <= 1 ms), and for an application's packet to another host through
  ``rules/rulesets/current.rules`` (goal: <= 50 us).

Processes are started from a small launcher interpreter, not from this one: Linux
charges a child's ``ru_maxrss`` with its parent's peak at the time of the fork, so a
child of this (large) process would look as big as this process. The launcher's own
floor is printed too.

Usage: ``python bench/run.py`` (5,000 services x 3 endpoints), ``--quick`` (500 x 3).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT / "plugins"))
sys.path.insert(0, str(ROOT / "bench"))

import kube_proxy  # noqa: E402
from chainwalk.netfilter import Packet, host_with, parse_file, trace  # noqa: E402

PARSE_GOAL = 1.0  # chainwalk parse time / iptables-restore --test time
MEMORY_GOAL = 2.0  # chainwalk peak RSS / iptables-restore --test peak RSS
KUBE_TRACE_GOAL_NS = 1_000_000
CURRENT_TRACE_GOAL_NS = 50_000

# Runs COMMAND (argv after the options) as a child and prints its wall time, exit status
# and peak RSS as JSON. With --netns the child gets a network namespace of its own, which
# disappears with it. Kept tiny (-I -S) so its own RSS, which a forked child starts from,
# stays small.
_LAUNCHER = r"""
import ctypes, json, os, sys, time
netns = sys.argv[1] == "--netns"
argv = sys.argv[2:]
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        if netns and ctypes.CDLL(None, use_errno=True).unshare(0x40000000) != 0:
            os.write(2, b"unshare(CLONE_NEWNET) failed\n")
            os._exit(126)
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
print(json.dumps({"wall": wall, "status": os.waitstatus_to_exitcode(status),
                  "maxrss_kb": usage.ru_maxrss}))
"""

# The chainwalk side of the parse: times parse_file alone, in a fresh interpreter.
_PARSE = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
start = time.perf_counter()
from chainwalk.netfilter import parse_file
imported = time.perf_counter()
ruleset = parse_file(sys.argv[2])
done = time.perf_counter()
rules = sum(len(c.rules) for t in ruleset.tables for c in t.chains)
print(json.dumps({"import": imported - start, "parse": done - imported, "rules": rules}))
"""


@dataclass
class Launch:
    wall: float
    status: int
    maxrss_kb: int
    stdout: str


def launch(argv: list[str], netns: bool = False) -> Launch:
    """Run ``argv`` under the launcher; the child's stdout comes before the launcher's line."""
    cmd = [sys.executable, "-I", "-S", "-c", _LAUNCHER, "--netns" if netns else "--", *argv]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"launcher failed: {result.stderr.strip()}")
    lines = result.stdout.rstrip("\n").split("\n")
    info = json.loads(lines[-1])
    return Launch(info["wall"], info["status"], info["maxrss_kb"], "\n".join(lines[:-1]))


def median_ns(fn: object, iterations: int) -> tuple[int, int]:
    """(first call, median of the next ``iterations`` calls) in nanoseconds."""
    assert callable(fn)
    clock = time.perf_counter_ns
    start = clock()
    fn()
    first = clock() - start
    samples = []
    for _ in range(iterations):
        start = clock()
        fn()
        samples.append(clock() - start)
    return first, int(statistics.median(samples))


# -- formatting -----------------------------------------------------------------------

def fmt_s(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds >= 0.1 else f"{seconds * 1000:.1f} ms"


def fmt_ns(ns: float) -> str:
    if ns >= 1_000_000:
        return f"{ns / 1_000_000:.2f} ms"
    return f"{ns / 1000:.1f} us"


def fmt_kb(kb: float) -> str:
    return f"{kb / 1024:.1f} MiB"


Row = tuple[str, str, str, str, str, str]


def row(name: str, value: str, baseline: str, ratio: float | None, goal: float | None,
        goal_text: str = "") -> Row:
    if ratio is None:
        return (name, value, baseline, "-", goal_text or "-", "")
    verdict = "" if goal is None else ("meets" if ratio <= goal else "MISSES")
    return (name, value, baseline, f"{ratio:.2f}x", goal_text or f"<= {goal:.1f}x", verdict)


def print_table(rows: list[Row]) -> None:
    header: Row = ("measure", "chainwalk", "baseline", "ratio", "goal", "")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(6)]
    for r in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())


# -- the measurements --------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="chainwalk performance report")
    parser.add_argument("--quick", action="store_true",
                        help="500 services, fewer runs and iterations")
    parser.add_argument("--services", type=int, help="service ports (5000; --quick 500)")
    parser.add_argument("--endpoints", type=int, default=3, help="endpoints per service (3)")
    parser.add_argument("--runs", type=int, help="parse runs per side (5; --quick 3)")
    parser.add_argument("--iterations", type=int,
                        help="trace calls per figure (2000; --quick 300)")
    args = parser.parse_args(argv)
    services = args.services or (500 if args.quick else 5000)
    runs = args.runs or (3 if args.quick else 5)
    iterations = args.iterations or (300 if args.quick else 2000)

    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"kube-proxy-{services}x{args.endpoints}.rules"
    text = kube_proxy.generate(services, args.endpoints)
    path.write_text(text, encoding="utf-8")
    lines = text.count("\n")
    rules = sum(1 for line in text.splitlines() if line.startswith("-A "))
    print(f"chainwalk performance report: {platform.python_implementation()} "
          f"{platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}")
    print(f"ruleset: {path.relative_to(ROOT)} ({services} services x {args.endpoints} "
          f"endpoints: {rules} rules, {lines} lines, {len(text) / 1e6:.1f} MB)")

    rows: list[Row] = []
    notes: list[str] = []

    # (a) + (b): parse time and peak RSS, chainwalk and iptables-restore, fresh processes.
    floor = launch(["true"]).maxrss_kb
    bare = launch([sys.executable, "-c", "pass"]).maxrss_kb
    imported = launch([sys.executable, "-c",
                       f"import sys; sys.path.insert(0, {str(ROOT / 'plugins')!r}); "
                       "import chainwalk.netfilter"]).maxrss_kb
    cw_parse, cw_wall, cw_rss = [], [], []
    for _ in range(runs):
        child = launch([sys.executable, "-c", _PARSE, str(ROOT / "plugins"), str(path)])
        if child.status != 0:
            print(f"chainwalk failed to parse {path}", file=sys.stderr)
            return 1
        info = json.loads(child.stdout.splitlines()[-1])
        cw_parse.append(info["parse"])
        cw_wall.append(child.wall)
        cw_rss.append(child.maxrss_kb)
    restore = shutil.which("iptables-restore")
    ipt_wall: list[float] = []
    ipt_rss: list[int] = []
    if restore is None:
        notes.append("iptables-restore not found: no baseline for parse time and memory")
    elif os.geteuid() != 0:
        notes.append("not root: iptables-restore --test cannot run; no baseline")
    else:
        for _ in range(runs):
            child = launch([restore, "--test", str(path)], netns=True)
            if child.status != 0:
                notes.append(f"iptables-restore --test exited {child.status} on {path}")
                ipt_wall, ipt_rss = [], []
                break
            ipt_wall.append(child.wall)
            ipt_rss.append(child.maxrss_kb)

    parse_s, wall_s, rss = (statistics.median(cw_parse), statistics.median(cw_wall),
                            statistics.median(cw_rss))
    if ipt_wall:
        base_s, base_rss = statistics.median(ipt_wall), statistics.median(ipt_rss)
        rows.append(row("parse time (parse_file)", fmt_s(parse_s), fmt_s(base_s),
                        parse_s / base_s, PARSE_GOAL))
        rows.append(row("  whole process (start, import, parse)", fmt_s(wall_s),
                        fmt_s(base_s), wall_s / base_s, None, "(context)"))
        rows.append(row("peak RSS (parsing process)", fmt_kb(rss), fmt_kb(base_rss),
                        rss / base_rss, MEMORY_GOAL))
    else:
        rows.append(row("parse time (parse_file)", fmt_s(parse_s), "n/a", None, None))
        rows.append(row("peak RSS (parsing process)", fmt_kb(rss), "n/a", None, None))
    rows.append(row("  python -c pass / import chainwalk", f"{fmt_kb(bare)} / {fmt_kb(imported)}",
                    "", None, None, "(context)"))

    # (c) trace time, in this process: the first call also compiles and indexes lazily.
    ruleset = parse_file(path)
    svc = kube_proxy.services(services, args.endpoints)[services // 2]
    host = host_with({"eth0": ("10.0.0.5/24",)}, forwarding=True)
    arriving = Packet(svc.vip, svc.port, svc.protocol, "192.168.1.50", in_interface="eth0")
    local = Packet(svc.vip, svc.port, svc.protocol, uid=1000, gid=1000)
    checks = [
        ("trace kube-proxy PREROUTING (VIP:port)",
         lambda: trace(ruleset, arriving, host, "PREROUTING"), KUBE_TRACE_GOAL_NS),
        ("trace kube-proxy OUTPUT (VIP:port)",
         lambda: trace(ruleset, local, host, "OUTPUT"), KUBE_TRACE_GOAL_NS),
    ]
    current = parse_file(ROOT / "rules" / "rulesets" / "current.rules")
    pod = host_with({"eth0": ("10.0.0.5/24",)})
    app = Packet("10.0.0.99", 8080, "tcp", uid=1000, gid=1000)
    checks.append(("trace current.rules OUTPUT (app -> host)",
                   lambda: trace(current, app, pod, "OUTPUT"), CURRENT_TRACE_GOAL_NS))
    for name, fn, goal_ns in checks:
        first, median = median_ns(fn, iterations)
        rows.append(row(f"{name}, median", fmt_ns(median), fmt_ns(goal_ns), median / goal_ns,
                        1.0, f"<= {fmt_ns(goal_ns)}"))
        rows.append(row("  first call (compiles lazily)", fmt_ns(first), "", None, None,
                        "(context)"))
    sample = trace(ruleset, arriving, host, "PREROUTING")
    print(f"kube-proxy PREROUTING trace: {len(sample.branches)} branches, "
          f"{sample.disposition} to {sample.final.dst}:{sample.final.dport}; "
          f"medians over {iterations} calls; parse figures: median of {runs} runs")
    print()
    print_table(rows)
    print()
    print(f"peak RSS is ru_maxrss of each process (launcher floor {fmt_kb(floor)}); "
          "nothing is subtracted")
    for note in notes:
        print("note:", note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
