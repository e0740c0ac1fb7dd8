"""Small helpers shared by the netfilter engine tests (imported by name: no package here)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from chainwalk.netfilter import Host, host_with

REPO = Path(__file__).resolve().parents[2]
RULESETS = REPO / "rules" / "rulesets"
FIXTURES = REPO / "tests" / "fixtures" / "rulesets"

POD_IP = "10.0.0.5"
OTHER_POD = "10.0.0.9"  # another host on the pod's subnet
REMOTE = "93.184.216.34"  # a host beyond the default route


def rules(text: str) -> str:
    """Inline rule text: dedented, without the leading newline of a triple-quoted string."""
    return textwrap.dedent(text).lstrip("\n")


def pod_host(**options: object) -> Host:
    """A Kubernetes pod: ``lo`` and ``eth0`` with 10.0.0.5/24 (and fd00::5/64 for IPv6)."""
    return host_with({"eth0": (f"{POD_IP}/24", "fd00::5/64")}, **options)
