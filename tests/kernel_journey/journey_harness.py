"""A scenario's topology built for real: one network namespace per pod, and a router.

Each pod is a netns with ``lo`` and ``eth0`` (one end of a veth pair) holding the
pod's addresses, a default route via 169.254.1.1 (the router's end, as Calico does
it), the policy rules and extra routing tables of its ``ip rule``/``ip route`` dumps
(less the rules a what-if deletes), its ipsets, the pod's ruleset with the scenario's
what-ifs applied (written with ``write_ruleset`` and loaded with ``iptables-restore``),
and an agent
(``journey_agent``, forked from the test process into the namespace) running its
listeners and minimal sidecar. The router netns forwards
between the pods and translates service VIPs to their first endpoint (DNAT), as
kube-proxy does on a node, and sends the addresses a pod's rules SNAT to back to that
pod (the node's 169.254.7.127 for the kubelet's probes in ambient mode).

Everything is torn down in ``close()`` (namespaces, processes), and every wait is
bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import journey_agent

from chainwalk.journey import Scenario
from chainwalk.journey._world import World, build_world
from chainwalk.netfilter import Ruleset, write_ruleset
from chainwalk.netfilter._nft_model import NftRuleset
from chainwalk.netfilter._nft_writer import write_nft_ruleset

GATEWAY = "169.254.1.1"
READY_TIMEOUT_S = 5.0
SETTLE_S = 0.25  # no new event for this long: the journey is over
JOURNEY_TIMEOUT_S = 8.0
CLIENT_TIMEOUT_S = 5.0
DEFAULT_RULES = (0, 32766, 32767)  # every namespace starts with these
KERNEL_TABLES = ("local", "main", "default", "255", "254", "253")


class HarnessError(RuntimeError):
    """The harness itself failed; no verdict about chainwalk."""


def sh(*args: str, netns: str | None = None, stdin: str | None = None) -> str:
    command = ["ip", "netns", "exec", netns, *args] if netns else list(args)
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=20,
                          check=False)
    if done.returncode != 0:
        raise HarnessError(f"{' '.join(command)}: {done.stderr.strip()}")
    return done.stdout


@dataclass
class RealTopology:
    scenario: Scenario
    world: World
    tag: str = field(default_factory=lambda: "cwj" + secrets.token_hex(3))
    namespaces: list[str] = field(default_factory=list)
    agents: list[int] = field(default_factory=list)  # process ids (and group ids)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="cwj-")))

    @property
    def events_file(self) -> Path:
        return self.workdir / "events.jsonl"

    def ns(self, pod: str) -> str:
        return f"{self.tag}-{pod}"

    # -- building --------------------------------------------------------------

    def build(self) -> None:
        os.chmod(self.workdir, 0o777)
        self.events_file.write_text("")
        os.chmod(self.events_file, 0o666)
        router = f"{self.tag}-router"
        self.add_netns(router)
        sh("sysctl", "-qw", "net.ipv4.ip_forward=1", netns=router)
        for n, pod in enumerate(self.world.topology.pods):
            self.build_pod(n, pod, router)
        self.load_kube_proxy(router)
        for pod in self.world.topology.pods:
            self.load_policy_routing(pod.name)
            self.load_ipsets(pod)
            self.load_rules(pod.name)
        ready = [self.start_agent(pod.name) for pod in self.world.topology.pods]
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not all(r.exists() for r in ready):
            if time.monotonic() > deadline:
                raise HarnessError(f"agents did not start: {[str(r) for r in ready]}")
            time.sleep(0.01)

    def add_netns(self, name: str) -> None:
        sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        sh("ip", "link", "set", "lo", "up", netns=name)
        for key in ("all", "default"):
            sh("sysctl", "-qw", f"net.ipv4.conf.{key}.rp_filter=0", netns=name)

    def build_pod(self, n: int, pod: Any, router: str) -> None:
        name = self.ns(pod.name)
        self.add_netns(name)
        inner, outer = f"{self.tag}p{n}", f"{self.tag}r{n}"
        sh("ip", "link", "add", inner, "type", "veth", "peer", "name", outer)
        sh("ip", "link", "set", inner, "netns", name)
        sh("ip", "link", "set", outer, "netns", router)
        sh("ip", "link", "set", inner, "name", "eth0", netns=name)
        for interface in pod.interfaces:
            for address in interface.addresses:
                if interface.name == "eth0" and ":" not in address:
                    sh("ip", "addr", "add", address, "dev", "eth0", netns=name)
        sh("ip", "link", "set", "eth0", "up", netns=name)
        sh("ip", "route", "add", GATEWAY, "dev", "eth0", "scope", "link", netns=name)
        sh("ip", "route", "add", "default", "via", GATEWAY, "dev", "eth0", netns=name)
        sh("ip", "addr", "add", f"{GATEWAY}/32", "dev", outer, netns=router)
        sh("ip", "link", "set", outer, "up", netns=router)
        sh("sysctl", "-qw", f"net.ipv4.conf.{outer}.proxy_arp=1", netns=router)
        for address in pod.addresses:
            if ":" not in address:
                sh("ip", "route", "add", f"{address}/32", "dev", outer, netns=router)
        # Answers to an address the pod SNATs to go back through the pod (which answers
        # ARP for its own addresses only).
        ruleset = self.world.rulesets[pod.name]
        text = write_ruleset(ruleset) if isinstance(ruleset, Ruleset) else ""
        own = next((a for a in pod.addresses if ":" not in a), None)
        for address in sorted(set(re.findall(r"--to-source (\d+\.\d+\.\d+\.\d+)", text))):
            if own is not None:
                sh("ip", "route", "replace", f"{address}/32", "via", own, "dev", outer,
                   netns=router)

    def load_policy_routing(self, pod: str) -> None:
        """The dumps' rules and their own tables (main and local are the kernel's, built
        from the pod's addresses); the what-ifs already removed the rules they delete."""
        for routing in self.world.hosts[pod].routing:
            for rule in routing.rules:
                if rule.priority not in DEFAULT_RULES:
                    sh("ip", "rule", "add", "pref", str(rule.priority), *rule.text.split(),
                       netns=self.ns(pod))
            for table, routes in routing.tables:
                if table not in KERNEL_TABLES:
                    for route in routes:
                        sh("ip", "route", "add", *route.text.split(), netns=self.ns(pod))

    def load_ipsets(self, pod: Any) -> None:
        for name, members in pod.ipsets:
            sh("ipset", "create", name, "hash:ip", netns=self.ns(pod.name))
            for member in members:
                sh("ipset", "add", name, member, netns=self.ns(pod.name))

    def load_kube_proxy(self, router: str) -> None:
        lines = ["*nat", ":PREROUTING ACCEPT [0:0]"]
        for service in self.world.topology.services:
            endpoint = service.endpoints[0]
            target = self.world.topology.pod(endpoint.pod)
            assert target is not None
            address = next(a for a in target.addresses if ":" not in a)
            for port in service.ports:
                for protocol in ("tcp", "udp"):
                    lines.append(f"-A PREROUTING -d {service.vip}/32 -p {protocol} -m "
                                 f"{protocol} --dport {port} -j DNAT --to-destination "
                                 f"{address}:{endpoint.port or port}")
        lines.append("COMMIT")
        sh("iptables-restore", netns=router, stdin="\n".join(lines) + "\n")

    def load_rules(self, pod: str) -> None:
        """The pod's rules as its file is written: ``iptables-restore`` or ``nft -f``."""
        ruleset = self.world.rulesets[pod]
        if isinstance(ruleset, NftRuleset):
            sh("nft", "-f", "-", netns=self.ns(pod), stdin=write_nft_ruleset(ruleset))
        elif ruleset.tables:
            sh("iptables-restore", netns=self.ns(pod), stdin=write_ruleset(ruleset))

    def config(self, **extra: Any) -> dict[str, Any]:
        return {"file": self.scenario.topology.path, "scenario": self.scenario.name,
                "events": str(self.events_file), "hop_limit": self.scenario.hop_limit,
                **extra}

    def start_agent(self, pod: str) -> Path:
        """Fork the pod's agent; the file it writes when its listeners are bound."""
        ready = self.workdir / f"{pod}.ready"
        config = self.config(pod=pod, ready=str(ready))
        world = self.world
        self.agents.append(journey_agent.spawn(
            self.ns(pod), lambda: journey_agent.serve_pod(config, world)))
        return ready

    # -- running ---------------------------------------------------------------

    def request(self, accepts: int = 0, failure: bool = False) -> list[dict[str, Any]]:
        """Make the scenario's request; the events, once at least ``accepts`` connections
        were accepted (and, with ``failure``, a connect failed) and then no new event
        came for a while. The hints only make a slow machine wait longer: extra events
        are still collected, and a shortfall shows when the deadline passes."""
        request = self.scenario.request
        pod = self.world.topology.pod(request.pod)
        assert pod is not None
        process = pod.process(request.process)
        assert process is not None
        config = self.config(who=f"{pod.name}/{process.name}", uid=process.uid,
                             gid=process.gid, mark=process.mark, dst=request.dst, dport=request.dport,
                             protocol=request.protocol, source=request.source)
        pid = journey_agent.spawn(self.ns(pod.name), lambda: journey_agent.client(config))
        deadline = time.monotonic() + CLIENT_TIMEOUT_S
        while os.waitpid(pid, os.WNOHANG) == (0, 0):
            if time.monotonic() > deadline:
                os.killpg(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise HarnessError("the client did not finish")
            time.sleep(0.01)
        return self.settled_events(accepts, failure)

    def read_events(self) -> list[dict[str, Any]]:
        text = self.events_file.read_text()
        return [json.loads(line) for line in text.splitlines() if line.endswith("}")]

    def settled_events(self, accepts: int, failure: bool) -> list[dict[str, Any]]:
        deadline = time.monotonic() + JOURNEY_TIMEOUT_S
        size, last_change = -1, time.monotonic()
        while time.monotonic() < deadline:
            now_size = self.events_file.stat().st_size
            if now_size != size:
                size, last_change = now_size, time.monotonic()
            elif time.monotonic() - last_change > SETTLE_S:
                events = self.read_events()
                if (sum(e["kind"] == "accept" for e in events) >= accepts
                        and (not failure or any(e["kind"] == "connect"
                                                and e["result"] != "connected"
                                                for e in events))):
                    break
            time.sleep(0.02)
        return [self.with_udp_original(e) for e in self.read_events()]

    def with_udp_original(self, event: dict[str, Any]) -> dict[str, Any]:
        """A UDP socket cannot ask for its original destination (IP_ORIGDSTADDR gives the
        address after NAT), so look the connection up in the namespace's conntrack table
        by its reply direction: from the address it landed on, back to the peer."""
        if event["kind"] != "accept" or event["protocol"] != "udp":
            return event
        local, port = event["original"]
        peer, peer_port = event["peer"]
        table = subprocess.run(["ip", "netns", "exec", self.ns(event["pod"]), "cat",
                                "/proc/net/nf_conntrack"], capture_output=True, text=True,
                               timeout=10, check=False).stdout
        for line in table.splitlines():
            if " udp " not in line:
                continue
            fields = re.findall(r"(src|dst|sport|dport)=(\S+)", line)
            if len(fields) < 8:
                continue
            original, reply = dict(fields[:4]), dict(fields[4:8])
            if (reply["src"], reply["sport"], reply["dst"], reply["dport"]) == (
                    local, str(port), peer, str(peer_port)):
                return {**event, "original": [original["dst"], int(original["dport"])]}
        return event  # not tracked: nothing was NATed, the packet's address is the original

    # -- tearing down ----------------------------------------------------------

    def close(self) -> None:
        for pid in self.agents:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        for pid in self.agents:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)  # SIGKILL cannot be ignored: this returns
        for name in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=20,
                           check=False)
        for child in self.workdir.iterdir():
            child.unlink()
        self.workdir.rmdir()


def real_topology(scenario: Scenario) -> RealTopology:
    topology = RealTopology(scenario, build_world(scenario))
    try:
        topology.build()
    except BaseException:
        topology.close()
        raise
    return topology
