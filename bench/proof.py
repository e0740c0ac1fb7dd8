"""Measure the symbolic engine (netfilter._proof) against its goals, and print a table.

A report, not a test: it always exits 0 and says per figure whether the goal is met.
Every figure comes from this run, on this machine, as the median of ``--runs`` runs:

* ``reach`` over every chain of ``current.rules`` at OUTPUT, every packet (goal 50 ms);
* ``equiv classic current`` at OUTPUT, every packet (goal 200 ms);
* ``equiv current.rules current.nft`` at OUTPUT, every packet: an iptables ruleset against
  its nftables twin, compared over the whole hook (against the same goal as equiv);
* ``reach`` over every chain of ``ambient.rules`` (marks under masks, CONNMARK) at
  OUTPUT, and ``audit`` of ``tproxy.rules`` (TPROXY, marks), each against the goal of an
  audit (100 ms);
* ``reach`` over every table of kube-proxy's nftables ruleset (``kube_proxy_nft``,
  ``--services`` services of one endpoint each: with more, ``numgen random`` makes the
  answer "cannot prove"): its cost is reported;
* ``reach`` over the kube-proxy ruleset of ``run.py`` (``--services`` services): its
  cost is reported; past its ``--set-xmark 0x4000/0x4000``, its ``-m statistic`` rules
  make the answer "cannot prove", which is reported with the rule and the time it took
  to get there.

The baseline is one concrete trace through ``current.rules`` measured in the same run:
the ratio says how many traces one proof costs.

Usage: ``python bench/proof.py [--runs N] [--services N]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "plugins"))
sys.path.insert(0, str(ROOT / "bench"))

from chainwalk.netfilter import Packet, host_with, parse_file, parse_text, trace  # noqa: E402
from chainwalk.netfilter._proof import differences, parse_description, reach  # noqa: E402
from chainwalk.netfilter._space import CannotProve, Location  # noqa: E402

RULESETS = ROOT / "rules" / "rulesets"
HOST = host_with({"eth0": ("10.0.0.5/24",)})


def _median_ns(work: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        work()
        samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--services", type=int, default=5000)
    args = parser.parse_args()

    current = parse_file(str(RULESETS / "current.rules"))
    classic = parse_file(str(RULESETS / "classic.rules"))
    every = parse_description("", Location("<bench>", 1))
    packet = Packet("203.0.113.10", 80, "tcp", uid=1000, gid=1000)
    trace_ns = _median_ns(lambda: trace(current, packet, HOST), args.runs * 10)

    rows = [("one concrete trace, current.rules (baseline)", trace_ns, None)]
    rows.append(("reach, every chain of current.rules", _median_ns(
        lambda: reach(current, HOST, "OUTPUT", every, "nat"), args.runs), 50e6))
    rows.append(("equiv classic current", _median_ns(
        lambda: differences(classic, current, HOST, "OUTPUT", every, "nat"), args.runs), 200e6))
    from chainwalk.netfilter._nft_parser import parse_nft_text

    nft = parse_nft_text((RULESETS / "current.nft").read_text(), "current.nft")
    rows.append(("equiv current.rules current.nft", _median_ns(
        lambda: differences(current, nft, HOST, "OUTPUT", every, None), args.runs), 200e6))

    from chainwalk.project._audit import audit

    ambient = parse_file(str(RULESETS / "ambient.rules"))
    tproxy = parse_file(str(RULESETS / "tproxy.rules"))
    rows.append(("reach, every chain of ambient.rules", _median_ns(
        lambda: reach(ambient, HOST, "OUTPUT", every, "nat"), args.runs), 100e6))
    rows.append(("audit tproxy.rules", _median_ns(lambda: audit(tproxy, HOST), args.runs),
                 100e6))

    import kube_proxy

    kube = parse_text(kube_proxy.generate(args.services), "kube-proxy.rules")
    outcome = "completes"

    def kube_reach() -> None:
        nonlocal outcome
        try:
            reach(kube, HOST, "OUTPUT", every, "nat")
        except CannotProve as e:
            outcome = f"refused: {e}"
    rows.append((f"reach, kube-proxy ({args.services} services)", _median_ns(kube_reach, 3),
                 None))

    import kube_proxy_nft

    # kube-proxy's nftables mode picks an endpoint with numgen random: decided only with
    # one endpoint per service (random mod 1 is always 0).
    kube_nft = parse_nft_text(kube_proxy_nft.generate(args.services, 1), "kube-proxy.nft")
    rows.append((f"reach, kube-proxy nft ({args.services} services x 1)", _median_ns(
        lambda: reach(kube_nft, HOST, "OUTPUT", every, None), 3), None))

    print(f"{'figure':<48} {'median':>12} {'goal':>10} {'x goal':>7} {'x trace':>8}")
    for name, value, goal in rows:
        goal_text = f"{goal / 1e6:.0f} ms" if goal else "-"
        ratio = f"{value / goal:.3f}" if goal else "-"
        verdict = ("  met" if value <= goal else "  MISSED") if goal else ""
        print(f"{name:<48} {value / 1e6:>9.3f} ms {goal_text:>10} {ratio:>7} "
              f"{value / trace_ns:>8.0f}{verdict}")
    print(f"kube-proxy reach: {outcome}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
