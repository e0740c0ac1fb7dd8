"""Fixtures of the kernel tests: one pod/network namespace pair for the whole session.

The tests need root, ``ip`` and ``iptables-restore``. Where those are missing they are skipped
with the reason, except when CHAINWALK_REQUIRE_KERNEL=1 (CI): then a kernel test that cannot
run is a failure, so that a broken CI machine cannot pass by skipping.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import NoReturn

import pytest
from netns import HarnessError, Topology, load_ruleset

REQUIRE_KERNEL = "CHAINWALK_REQUIRE_KERNEL"
TOOLS = ("ip", "iptables-restore", "iptables-save")


def _missing_requirement() -> str | None:
    """Why these tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "kernel tests need root (network namespaces, iptables)"
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return f"kernel tests need {', '.join(missing)}"
    return None


def _create_topology() -> Topology:
    """Create the namespaces and check that iptables works inside them."""
    topology = Topology.create(tag=str(os.getpid() % 100_000))
    try:
        load_ruleset(topology.pod, "", with_harness=True)
    except BaseException:
        topology.destroy()
        raise
    return topology


def _cannot_run(reason: str) -> NoReturn:
    if os.environ.get(REQUIRE_KERNEL) == "1":
        pytest.fail(f"{reason} (and {REQUIRE_KERNEL}=1 forbids skipping)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def topology() -> Iterator[Topology]:
    """A pod and a network namespace, reused by every probe (each reloads all tables)."""
    reason = _missing_requirement()
    if reason is not None:
        _cannot_run(reason)
    try:
        topology = _create_topology()
    except (HarnessError, OSError) as e:
        _cannot_run(f"cannot create network namespaces with iptables: {e}")
    try:
        yield topology
    finally:
        topology.destroy()
