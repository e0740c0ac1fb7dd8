"""Fixtures of the netfilter engine tests.

``kernel``: a throwaway network namespace in which the real ``iptables-restore`` loads a
ruleset and the real ``iptables-save`` prints it back, the judge of the writer's normal
form. It needs root and the iptables tools; without them the tests that use it are
skipped with the reason, unless CHAINWALK_REQUIRE_KERNEL=1 (CI), where they fail instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from typing import NoReturn

import pytest
from nf_helpers import Kernel

REQUIRE_KERNEL = "CHAINWALK_REQUIRE_KERNEL"
KERNEL_TOOLS = ("ip", "iptables-restore", "iptables-save", "ip6tables-restore", "ip6tables-save")


def _cannot_run(reason: str) -> NoReturn:
    if os.environ.get(REQUIRE_KERNEL) == "1":
        pytest.fail(f"{reason} (and {REQUIRE_KERNEL}=1 forbids skipping)", pytrace=False)
    pytest.skip(reason)


def _new_netns(name: str) -> None:
    reason = None
    if os.geteuid() != 0:
        reason = "comparing with the kernel needs root (network namespaces, iptables)"
    elif missing := [tool for tool in KERNEL_TOOLS if shutil.which(tool) is None]:
        reason = f"comparing with the kernel needs {', '.join(missing)}"
    else:
        done = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True,
                              check=False)
        if done.returncode != 0:
            reason = f"cannot create a network namespace: {done.stderr.strip()}"
    if reason is not None:
        _cannot_run(reason)


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
