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
from contextlib import contextmanager

import pytest
from nf_helpers import Kernel

from kernel_requirement import cannot_run, require_kernel


@contextmanager
def _namespace(name: str) -> Iterator[Kernel]:
    """A network namespace called ``name``, deleted afterwards whatever happens."""
    require_kernel()
    done = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        cannot_run(f"cannot create a network namespace: {done.stderr.strip()}")
    try:
        yield Kernel(name)
    finally:
        subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False)


@pytest.fixture(scope="module")
def kernel() -> Iterator[Kernel]:
    """A network namespace of its own for one test module."""
    with _namespace(f"chainwalk-test-{os.getpid()}") as namespace:
        yield namespace


@pytest.fixture
def fresh_kernel() -> Iterator[Kernel]:
    """A network namespace for one test: no table exists in it before the test loads one."""
    with _namespace(f"chainwalk-fresh-{os.getpid()}") as namespace:
        yield namespace
