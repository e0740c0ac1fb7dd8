"""Measure chainwalk's nftables engine against its goals, and print a table (a report, not a
test: it exits 0 whatever the figures).

* check: ``chainwalk check`` of kube-proxy's nftables ruleset (``bench/kube_proxy_nft.py``)
  against ``nft -c -f`` of the same file in a network namespace of its own, both whole
  processes (median of ``--runs``, alternating; goal: ratio <= 1.0), with their CPU time;
* peak memory: the peak RSS of both (goal: ratio <= 2.0);
* trace time: the median of ``--iterations`` traces of a packet to a service VIP through
  that ruleset from OUTPUT (goal: <= 1 ms), and of an application's packet through an Istio
  sidecar nftables golden (``../shared/istio-goldens-nft/tproxy.golden`` when present, else
  ``tests/kernel/rulesets/nft-maps.nft``; goal: <= 50 us), timed in turns with the same
  packet's iptables trace through ``rules/rulesets/current.rules`` (its goal is 50 us too):
  their ratio says what a busy machine's figures cannot.

Usage: ``python bench/nft.py`` (5,000 services x 3 endpoints), ``--quick`` (500 x 3);
``--plugins DIR`` measures another checkout's engine (``DIR/chainwalk``), to compare commits.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
from pathlib import Path

from kube_proxy import services
from kube_proxy_nft import generate
from run import (
    OUT,
    ROOT,
    compile_bytecode,
    fmt_kb,
    fmt_ns,
    fmt_s,
    launch,
    print_table,
    row,
    time_calls,
)

CHECK_GOAL = 1.0
MEMORY_GOAL = 2.0
KUBE_TRACE_GOAL_NS = 1_000_000
ISTIO_TRACE_GOAL_NS = 50_000

_CHECK = r"""
import sys
sys.path.insert(0, sys.argv[1])
from chainwalk.cli import run
sys.argv[1:] = ["check", "--format", "nft", sys.argv[2]]
run()
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=5000)
    parser.add_argument("--endpoints", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="500 services, one run")
    parser.add_argument("--plugins", type=Path, default=ROOT / "plugins",
                        help="the directory holding the chainwalk package to measure")
    args = parser.parse_args(argv)
    if args.quick:
        args.services, args.runs, args.iterations = 500, 1, 300
    plugins = args.plugins.resolve()
    sys.path.insert(0, str(plugins))
    compile_bytecode(plugins)
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"kube-proxy-{args.services}x{args.endpoints}.nft"
    path.write_text(generate(args.services, args.endpoints))
    rows = []
    mine = [launch([sys.executable, "-c", _CHECK, str(plugins), str(path)])
            for _ in range(args.runs)]
    if any(m.status != 0 for m in mine):
        print(f"chainwalk check failed: {mine[0].stdout}")
        return 1
    nft = shutil.which("nft")
    theirs = [launch([nft, "-c", "-f", str(path)], netns=True) for _ in range(args.runs)] \
        if nft else []
    wall = statistics.median(m.wall for m in mine)
    cpu = statistics.median(m.cpu for m in mine)
    rss = max(m.maxrss_kb for m in mine)
    if theirs and all(t.status == 0 for t in theirs):
        their_wall = statistics.median(t.wall for t in theirs)
        their_cpu = statistics.median(t.cpu for t in theirs)
        their_rss = max(t.maxrss_kb for t in theirs)
        rows += [row("check, wall", fmt_s(wall), f"nft -c -f {fmt_s(their_wall)}",
                     wall / their_wall, CHECK_GOAL),
                 row("check, CPU", fmt_s(cpu), fmt_s(their_cpu), cpu / their_cpu, None),
                 row("check, peak RSS", fmt_kb(rss), fmt_kb(their_rss), rss / their_rss,
                     MEMORY_GOAL)]
    else:
        rows += [row("check, wall", fmt_s(wall), "n/a (nft -c needs root and nft)", None,
                     None), row("check, peak RSS", fmt_kb(rss), "n/a", None, None)]

    from chainwalk.netfilter import Packet, host_with, parse_file, trace
    from chainwalk.netfilter._nft_parser import parse_nft_file

    host = host_with({"eth0": ("10.0.0.5/24",)})
    kube = parse_nft_file(path)
    service = services(args.services, args.endpoints)[args.services // 2]
    packet = Packet(service.vip, service.port, service.protocol, uid=1000, gid=1000)
    first, median, best = time_calls(lambda: trace(kube, packet, host), args.iterations)
    goal = fmt_ns(KUBE_TRACE_GOAL_NS)
    rows.append(row("trace, kube-proxy VIP (OUTPUT)", fmt_ns(median), f"goal {goal}",
                    median / KUBE_TRACE_GOAL_NS, 1.0, f"<= {goal}"))
    golden = ROOT.parent / "shared" / "istio-goldens-nft" / "tproxy.golden"
    istio_path = golden if golden.is_file() else (
        ROOT / "tests" / "kernel" / "rulesets" / "nft-maps.nft")
    istio = parse_nft_file(istio_path)
    app = Packet("10.0.0.9", 80, "tcp", uid=1000, gid=1000)
    # The iptables trace of current.rules (its quiet figure is in README.md's Goals), timed
    # in turns with the nftables one: on a busy machine both move, their ratio much less.
    current = parse_file(ROOT / "rules" / "rulesets" / "current.rules")
    istio_times: list[tuple[int, int]] = []
    current_times: list[tuple[int, int]] = []
    for _ in range(5):
        istio_times.append(time_calls(lambda: trace(istio, app, host),
                                      args.iterations // 5)[1:])
        current_times.append(time_calls(lambda: trace(current, app, host),
                                        args.iterations // 5)[1:])
    istio_median = int(statistics.median(t[0] for t in istio_times))
    istio_best = min(t[1] for t in istio_times)
    current_median = int(statistics.median(t[0] for t in current_times))
    rows.append(row(f"trace, {Path(istio_path).name} app outbound", fmt_ns(istio_median),
                    f"goal {fmt_ns(ISTIO_TRACE_GOAL_NS)}", istio_median / ISTIO_TRACE_GOAL_NS,
                    1.0, f"<= {fmt_ns(ISTIO_TRACE_GOAL_NS)}"))
    rows.append(row("  the same against iptables' current.rules", fmt_ns(istio_median),
                    f"iptables {fmt_ns(current_median)}", istio_median / current_median, None))
    print(f"engine {plugins}")
    print(f"kube-proxy nftables ruleset: {args.services} services x {args.endpoints} "
          f"endpoints, {path.stat().st_size} bytes; first trace {fmt_ns(first)}, best "
          f"batch {fmt_ns(best)} (kube-proxy), {fmt_ns(istio_best)} (Istio)")
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
