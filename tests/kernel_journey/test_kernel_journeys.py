"""The kernel as judge: every scenario of rules/scenarios, run in real namespaces.

For each scenario the topology is built for real (``journey_harness``: sidecars and
ambient mode's ztunnel, transparent and marked sockets, policy routing, ipsets), the
request is made as the scenario's client, and the listeners' records (which listener
accepted which original destination from which source address, in order; how connects
failed) are compared with the engine's journey hop by hop.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chainwalk.journey import Hop, Journey, Scenario, load_scenarios, run_scenario
from kernel_requirement import cannot_run, require_kernel

SCENARIOS = Path(__file__).resolve().parents[2] / "rules" / "scenarios"
ALL = load_scenarios(SCENARIOS)


CASES = [pytest.param(s, id=s.id) for s in ALL]

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module", autouse=True)
def _kernel() -> None:
    require_kernel()


@pytest.fixture
def real(request: pytest.FixtureRequest) -> Iterator[Any]:
    from journey_harness import real_topology

    if any(pod.ipsets for pod in request.param.topology.pods) and not shutil.which("ipset"):
        cannot_run("the scenario's rules match an ipset: building it needs ipset")

    topology = real_topology(request.param)
    try:
        yield topology
    finally:
        topology.close()


Landing = tuple[str, str, int, str, int, str]  # pod, process, port, original, source


def _accepts(events: list[dict[str, Any]]) -> list[Landing]:
    return [(e["pod"], e["process"], e["port"], e["original"][0], e["original"][1],
             e["peer"][0]) for e in events if e["kind"] == "accept"]


def _seen_source(hop: Hop) -> str:
    """The source address the receiver sees: the packet's as it arrived (after any SNAT
    on the way; REDIRECT and TPROXY change only the destination)."""
    return hop.traces[-1].main.final.src


def _engine_hops(journey: Journey) -> list[Landing]:
    return [(h.receiver_pod, h.receiver_process, h.receiver_port, h.original_dst,
             h.original_dport, _seen_source(h))  # type: ignore[misc]
            for h in journey.hops if h.receiver is not None]


def _describe(events: list[dict[str, Any]]) -> str:
    return "\n".join(str(e) for e in events)


@pytest.mark.parametrize("real", CASES, indirect=True)
def test_kernel_agrees_with_the_engine(real: Any) -> None:
    scenario: Scenario = real.scenario
    journey = run_scenario(scenario)
    engine = _engine_hops(journey)
    events = real.request(len(engine), journey.result in ("refused", "dropped"))
    kernel = _accepts(events)
    story = f"engine: {journey.result} {engine}\nkernel events:\n{_describe(events)}"
    # The hops that reached a listener, in order, with their original destinations.
    assert kernel[:len(engine)] == engine, story
    connects = [e for e in events if e["kind"] == "connect"]
    if journey.result == "delivered":
        assert len(kernel) == len(engine), story  # and nothing after the final receiver
        assert all(c["result"] == "connected" for c in connects), story
    elif journey.result == "loop":
        # The kernel goes on past the repeat (until the agents' hop limit); the engine
        # stops at the first repeat, which the kernel must have shown too.
        assert len(kernel) > len(engine) or kernel == engine, story
        # (a repeat of the listener and original destination; the source may differ)
        assert engine[-1][:5] in [hop[:5] for hop in engine[:-1]], story
    elif journey.result in ("refused", "dropped"):
        assert len(kernel) == len(engine), story
        expected = "refused" if journey.result == "refused" else "timeout"
        assert connects and connects[-1]["result"] == expected, story
    elif journey.result == "blackholed":
        assert len(kernel) == len(engine), story
        assert events[-1]["kind"] == "blackhole", story
    else:  # hop-limit: the kernel runs as far
        assert len(kernel) >= len(engine), story
