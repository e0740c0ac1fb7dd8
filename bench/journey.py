"""Measure the journey engine against its performance goals, and print a table.

A report, not a test: it always exits 0 (unless it cannot run at all) and says per
figure whether the goal is met. Every figure comes from this run, on this machine:

* one journey: the median of ``--iterations`` calls of ``run_scenario`` for
  ``bookinfo/inbound`` (three hops through two Istio pods, four traces), with the
  parsed rulesets cached as they are after the first run (goal: <= 2 ms);
* checking 100 scenarios: ``run_scenario`` + ``check_scenario`` for 100 scenarios
  (the shipped ones, repeated in order), already loaded (goal: <= 1 s); the time to
  load every shipped scenario file cold is shown for context.

Usage: ``python bench/journey.py [--iterations N]``.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "plugins"))

from chainwalk.journey import check_scenario, load_scenarios, run_scenario  # noqa: E402

SCENARIOS = ROOT / "rules" / "scenarios"
JOURNEY_GOAL_NS = 2_000_000
CHECK_100_GOAL_NS = 1_000_000_000


def _row(name: str, value_ns: float, goal_ns: float) -> str:
    ratio = value_ns / goal_ns
    verdict = "met" if ratio <= 1.0 else "MISSED"
    return (f"{name:<40} {value_ns / 1e6:>10.3f} ms {goal_ns / 1e6:>10.3f} ms "
            f"{ratio:>7.3f}  {verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=500)
    args = parser.parse_args()

    start = time.perf_counter_ns()
    scenarios = load_scenarios(SCENARIOS)
    load_ns = time.perf_counter_ns() - start

    (inbound,) = [s for s in scenarios if s.id == "bookinfo/inbound"]
    run_scenario(inbound)  # warm: parsed rulesets are cached from here on, as in a build
    samples = []
    for _ in range(args.iterations):
        t0 = time.perf_counter_ns()
        run_scenario(inbound)
        samples.append(time.perf_counter_ns() - t0)
    journey_ns = statistics.median(samples)

    hundred = list(itertools.islice(itertools.cycle(scenarios), 100))
    t0 = time.perf_counter_ns()
    problems = sum(len(check_scenario(s, run_scenario(s))) for s in hundred)
    check_ns = time.perf_counter_ns() - t0

    print(f"{'figure':<40} {'value':>13} {'goal':>13} {'ratio':>7}")
    print(_row(f"journey bookinfo/inbound (median of {args.iterations})", journey_ns,
               JOURNEY_GOAL_NS))
    print(_row("run + check 100 scenarios", check_ns, CHECK_100_GOAL_NS))
    print(f"{'(context) load ' + str(len(scenarios)) + ' shipped scenarios cold':<40} "
          f"{load_ns / 1e6:>10.3f} ms")
    if problems:
        print(f"note: {problems} expectation mismatch(es) while checking")
    return 0


if __name__ == "__main__":
    sys.exit(main())
