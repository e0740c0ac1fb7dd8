"""Fixtures of the kernel tests: one Lab (two pods, each with its network) for the session.

The tests need root, ``ip`` and the iptables tools (IPv4 and IPv6). Where those are missing
they are skipped with the reason, except when CHAINWALK_REQUIRE_KERNEL=1 (CI): then a kernel
test that cannot run is a failure, so that a broken CI machine cannot pass by skipping.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from netns import HarnessError, Lab, load_ruleset

from kernel_requirement import cannot_run, require_kernel


def _create_lab() -> Lab:
    """Create the namespaces and check that iptables works inside them."""
    lab = Lab.create(tag=str(os.getpid() % 100_000))
    try:
        load_ruleset(lab.counting.pod, "", with_harness=True)
    except BaseException:
        lab.destroy()
        raise
    return lab


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """The counting and the landing pod, reused by every probe; removed at the end."""
    require_kernel()
    try:
        lab = _create_lab()
    except (HarnessError, OSError) as e:
        cannot_run(f"cannot create network namespaces with iptables: {e}")
    try:
        yield lab
    finally:
        lab.destroy()
