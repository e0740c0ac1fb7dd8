"""Fixtures of the netfilter engine tests.

``kernel``: a throwaway network namespace in which the real ``iptables-restore`` loads a
ruleset and the real ``iptables-save`` prints it back, the judge of the writer's normal
form. It needs root and the iptables tools; without them the tests that use it are
skipped with the reason, unless CHAINWALK_REQUIRE_KERNEL=1 (CI), where they fail instead.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest
from nf_helpers import Kernel

from kernel_requirement import cannot_run, require_kernel


def _new_netns(name: str) -> None:
    require_kernel()
    done = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        cannot_run(f"cannot create a network namespace: {done.stderr.strip()}")


@pytest.fixture(scope="module")
def kernel() -> Iterator[Kernel]:
    """A network namespace of its own for one test module, deleted afterwards whatever happens."""
    name = f"chainwalk-test-{os.getpid()}"
    _new_netns(name)
    try:
        yield Kernel(name)
    finally:
        subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False)


@pytest.fixture
def fresh_kernel() -> Iterator[Kernel]:
    """A network namespace for one test: no table exists in it before the test loads one."""
    name = f"chainwalk-fresh-{os.getpid()}"
    _new_netns(name)
    try:
        yield Kernel(name)
    finally:
        subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False)
