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
from dataclasses import dataclass
from typing import NoReturn

import pytest

REQUIRE_KERNEL = "CHAINWALK_REQUIRE_KERNEL"
KERNEL_TOOLS = ("ip", "iptables-restore", "iptables-save", "ip6tables-restore", "ip6tables-save")


def _cannot_run(reason: str) -> NoReturn:
    if os.environ.get(REQUIRE_KERNEL) == "1":
        pytest.fail(f"{reason} (and {REQUIRE_KERNEL}=1 forbids skipping)", pytrace=False)
    pytest.skip(reason)


@dataclass(frozen=True)
class Kernel:
    """iptables-restore and iptables-save inside one network namespace."""

    netns: str

    def _run(self, argv: list[str], text: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.netns, *argv], input=text,
                              capture_output=True, text=True, timeout=30, check=False)

    def restore(self, text: str, family: int = 4) -> None:
        """Load ``text``; every table it names is replaced (the others are left alone)."""
        tool = "ip6tables-restore" if family == 6 else "iptables-restore"
        done = self._run([tool], text)
        if done.returncode != 0:
            raise AssertionError(f"{tool} refused the input: {done.stderr.strip()}\n{text}")

    def save(self, family: int = 4, table: str | None = None) -> list[str]:
        """What iptables-save prints, without its ``#`` comment lines."""
        tool = "ip6tables-save" if family == 6 else "iptables-save"
        done = self._run([tool, *(["-t", table] if table else [])])
        assert done.returncode == 0, done.stderr
        return [line for line in done.stdout.splitlines() if not line.startswith("#")]


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
