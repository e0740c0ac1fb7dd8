"""Running an input under a time and memory bound, for the hostile-input tests."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from chainwalk import ChainwalkError

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "rules"

SECONDS = 10.0  # of CPU time, generous; what was broken took minutes
MEGABYTES = 200.0  # allocated at the peak; what was broken took gigabytes


def bounded(run: Callable[[], T], seconds: float = SECONDS, megabytes: float | None = None,
            ) -> T | ChainwalkError:
    """What ``run()`` returns, or the :class:`ChainwalkError` it raises (anything else
    propagates and fails the test), after checking how long it took and, with
    ``megabytes``, how much it allocated at its peak (tracing allocations makes code
    that allocates much several times slower: only where memory was the problem)."""
    if megabytes is not None:
        tracemalloc.start()
    # The bound is on the work (CPU time), which other jobs on the machine do not
    # stretch; the wall-clock bound, four times as long, catches a wait that burns none.
    started, cpu_started = time.monotonic(), time.process_time()
    try:
        outcome: T | ChainwalkError = run()
    except ChainwalkError as e:
        outcome = e
    finally:
        took, cpu = time.monotonic() - started, time.process_time() - cpu_started
        peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
    assert cpu <= seconds, f"took {cpu:.1f} s of CPU time (bound {seconds} s)"
    assert took <= 4 * seconds, f"took {took:.1f} s (bound {4 * seconds} s)"
    if megabytes is not None:
        assert peak <= megabytes, f"allocated {peak:.0f} MB at the peak (bound {megabytes} MB)"
    return outcome


def refused(run: Callable[[], object], *words: str, seconds: float = SECONDS,
            megabytes: float | None = None) -> str:
    """The message of the ChainwalkError ``run()`` must raise within the bounds; each of
    ``words`` must be in it."""
    outcome = bounded(run, seconds, megabytes)
    assert isinstance(outcome, ChainwalkError), f"accepted: {outcome!r}"[:300]
    message = str(outcome)
    for word in words:
        assert word in message, message[:2000]
    return message
