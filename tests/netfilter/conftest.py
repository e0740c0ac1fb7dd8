"""Fixtures of the netfilter engine tests.

``kernel``: a throwaway network namespace in which the real ``iptables-restore`` loads a
ruleset and the real ``iptables-save`` prints it back, the judge of the writer's normal
form. It needs root and the iptables tools; without them the tests that use it are
skipped with the reason, unless CHAINWALK_REQUIRE_KERNEL=1 (CI), where they fail instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from nf_helpers import Kernel

from kernel_requirement import network_namespace


@pytest.fixture(scope="module")
def kernel() -> Iterator[Kernel]:
    """A network namespace of its own for one test module."""
    with network_namespace(f"chainwalk-test-{os.getpid()}") as name:
        yield Kernel(name)


@pytest.fixture
def fresh_kernel() -> Iterator[Kernel]:
    """A network namespace for one test: no table exists in it before the test loads one."""
    with network_namespace(f"chainwalk-fresh-{os.getpid()}") as name:
        yield Kernel(name)
