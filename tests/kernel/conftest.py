"""Fixtures of the kernel tests: one Lab (two pods, each with its network) for the session.

The tests need root, ``ip`` and the iptables tools (IPv4 and IPv6). Where those are missing
they are skipped with the reason, except when CHAINWALK_REQUIRE_KERNEL=1 (CI): then a kernel
test that cannot run is a failure, so that a broken CI machine cannot pass by skipping.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import NoReturn

import pytest
from netns import HarnessError, Lab, load_ruleset

REQUIRE_KERNEL = "CHAINWALK_REQUIRE_KERNEL"
TOOLS = ("ip", "iptables-restore", "iptables-save", "ip6tables-restore", "ip6tables-save")


def _missing_requirement() -> str | None:
    """Why these tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "kernel tests need root (network namespaces, iptables)"
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return f"kernel tests need {', '.join(missing)}"
    return None


def _create_lab() -> Lab:
    """Create the namespaces and check that iptables works inside them."""
    lab = Lab.create(tag=str(os.getpid() % 100_000))
    try:
        load_ruleset(lab.counting.pod, "", with_harness=True)
    except BaseException:
        lab.destroy()
        raise
    return lab


def _cannot_run(reason: str) -> NoReturn:
    if os.environ.get(REQUIRE_KERNEL) == "1":
        pytest.fail(f"{reason} (and {REQUIRE_KERNEL}=1 forbids skipping)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """The counting and the landing pod, reused by every probe; removed at the end."""
    reason = _missing_requirement()
    if reason is not None:
        _cannot_run(reason)
    try:
        lab = _create_lab()
    except (HarnessError, OSError) as e:
        _cannot_run(f"cannot create network namespaces with iptables: {e}")
    try:
        yield lab
    finally:
        lab.destroy()
