"""What every comparison with the real kernel needs, and what to do without it.

Without root or the iptables tools a kernel test is skipped with the reason, except
when CHAINWALK_REQUIRE_KERNEL=1 (CI): then it fails, so that a broken CI machine cannot
pass by skipping.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import pytest

REQUIRE_KERNEL = "CHAINWALK_REQUIRE_KERNEL"
TOOLS = ("ip", "iptables-restore", "iptables-save", "ip6tables-restore", "ip6tables-save")


def kernel_missing() -> str | None:
    """Why the kernel cannot be compared with here, or None when it can."""
    if os.geteuid() != 0:
        return "comparing with the kernel needs root (network namespaces, iptables)"
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return f"comparing with the kernel needs {', '.join(missing)}"
    return None


def cannot_run(reason: str) -> NoReturn:
    """Skip with ``reason``, or fail where CHAINWALK_REQUIRE_KERNEL=1 forbids skipping."""
    if os.environ.get(REQUIRE_KERNEL) == "1":
        pytest.fail(f"{reason} (and {REQUIRE_KERNEL}=1 forbids skipping)", pytrace=False)
    pytest.skip(reason)


def require_kernel() -> None:
    """Skip (or fail, in CI) unless the kernel can be compared with."""
    reason = kernel_missing()
    if reason is not None:
        cannot_run(reason)


@contextmanager
def network_namespace(name: str) -> Iterator[str]:
    """A network namespace called ``name`` (the kernel required), deleted afterwards
    whatever happens."""
    require_kernel()
    done = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        cannot_run(f"cannot create a network namespace: {done.stderr.strip()}")
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False)
