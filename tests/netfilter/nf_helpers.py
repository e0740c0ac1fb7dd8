"""Small helpers shared by the netfilter engine tests (imported by name: no package here)."""

from __future__ import annotations

import subprocess
import textwrap
from dataclasses import dataclass
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

    def save(self, family: int = 4, table: str | None = None, counters: bool = False
             ) -> list[str]:
        """What iptables-save prints, without its ``#`` comment lines."""
        tool = "ip6tables-save" if family == 6 else "iptables-save"
        done = self._run([tool, *(["-t", table] if table else []), *(["-c"] if counters else [])])
        assert done.returncode == 0, done.stderr
        return [line for line in done.stdout.splitlines() if not line.startswith("#")]

    def connect(self, address: str, port: int) -> None:
        """Make one TCP connection attempt from inside the namespace (lo brought up first)."""
        self._run(["ip", "link", "set", "lo", "up"])
        code = ("import socket\ns = socket.socket()\ns.settimeout(1)\n"
                f"try:\n    s.connect(({address!r}, {port}))\nexcept OSError:\n    pass\n")
        done = self._run(["python3", "-c", code])
        assert done.returncode == 0, done.stderr
