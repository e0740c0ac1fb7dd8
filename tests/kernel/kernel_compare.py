"""One probe judged: chainwalk's trace of a connection against what the kernel did with it.

Used by the hand-written probes (test_kernel_trace) and by the differential fuzzer
(test_kernel_fuzz): the kernel's counters and landing for a probe, chainwalk's answer for the
same packet, and every difference between them in words.
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from typing import Any

import pytest
from kernel_probes import Probe
from netns import (
    POD_IP,
    POD_IP6,
    POD_PREFIX,
    POD_PREFIX6,
    POD_SECONDARY_IP,
    ClientReport,
    Counters,
    FirstPacket,
    Lab,
    Landing,
    RuleRef,
    disposition,
    land,
    trace_first_packet,
)

from chainwalk.cli import main as chainwalk_main

POD_ADDRESSES = (
    f"eth0={POD_IP}/{POD_PREFIX}",
    f"eth0={POD_SECONDARY_IP}/{POD_PREFIX}",
    f"eth0={POD_IP6}/{POD_PREFIX6}",
    "lo=127.0.0.1/8",
    "lo=::1/128",
)


@dataclass(frozen=True)
class Walk:
    """chainwalk's answer for one packet, from ``chainwalk trace --json``."""

    argv: tuple[str, ...]
    hits: frozenset[RuleRef]
    targets: dict[RuleRef, str]
    disposition: str
    final: dict[str, Any]
    branches: int
    handshake: dict[str, str] | None

    @classmethod
    def from_json(cls, argv: list[str], doc: dict[str, Any]) -> Walk:
        """Parse the JSON document; ``branches`` counts the outcomes chainwalk could not
        decide between (one when everything was known)."""
        refs = {RuleRef(h["table"], h["chain"], h["rule"]): h["target"] for h in doc["hits"]}
        return cls(
            tuple(argv), frozenset(refs), refs, doc["disposition"], doc["final"],
            len(doc.get("branches", [doc])), doc.get("handshake"),
        )  # fmt: skip

    def describe_final(self) -> str:
        """The packet as chainwalk says it ends, for failure messages."""
        f = self.final
        return (
            f"{self.disposition}: {f['src']}:{f['sport']} -> {f['dst']}:{f['dport']} "
            f"in={f['in']} out={f['out']} mark={f['mark']}"
        )


def chainwalk_argv(probe: Probe, sent: ClientReport) -> list[str]:
    """The CLI arguments that describe the packet the kernel actually sent.

    The source port is the one the kernel chose. The source address is given when the socket
    was bound to it or the packet came from outside; for an unbound local socket routing
    chooses it, and chainwalk must choose the same (the listener sees it as the peer).
    """
    argv = [
        "trace", str(probe.ruleset.path), "--hook", probe.hook, "--proto", probe.proto,
        "--sport", str(sent.sport), "--dst", probe.dst, "--dport", str(probe.dport),
    ]  # fmt: skip
    if probe.hook == "prerouting" or probe.src is not None:
        argv += ["--src", sent.src]
    for address in POD_ADDRESSES:
        argv += ["--addr", address]
    if probe.hook == "output":
        argv += ["--uid", str(probe.who.uid), "--gid", str(probe.who.gid)]
        if probe.who.mark:
            argv += ["--mark", hex(probe.who.mark)]
    else:
        argv += ["--in", "eth0"]
    return [*argv, "--json"]


def run_chainwalk(probe: Probe, sent: ClientReport) -> Walk:
    """Call chainwalk's CLI in-process and parse its JSON; fail the test if it errs."""
    argv = chainwalk_argv(probe, sent)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            status: object = chainwalk_main(argv)
        except SystemExit as e:
            status = e.code
    if status != 0:
        pytest.fail(
            f"chainwalk {' '.join(argv)}\nexited with {status}: {err.getvalue()}", pytrace=False
        )
    return Walk.from_json(argv, json.loads(out.getvalue()))


def hit_problems(kernel: Counters, walk: Walk) -> list[str]:
    """Rules counted by the kernel but not hit by chainwalk, and the other way round."""
    problems = [
        f"kernel counted, chainwalk did not hit: {kernel.describe(ref)}"
        for ref in sorted(kernel.hits - walk.hits)
    ]
    problems += [
        f"chainwalk hit, kernel did not count: {kernel.describe(ref)}"
        for ref in sorted(walk.hits - kernel.hits)
    ]
    return problems


def outcome_problems(probe: Probe, first: FirstPacket, landing: Landing, walk: Walk,
                     return_path_open: bool = False) -> list[str]:
    """Differences in where the connection ended up and how NAT rewrote it; unless the
    landing pod's return path was open, whether its handshake completed too."""
    problems = []
    if walk.branches != 1:
        problems.append(f"chainwalk could not decide: {walk.branches} branches")
    kernel = disposition(first, landing)
    handshake = (walk.handshake or {}).get("outcome")
    if handshake in ("reply-dropped", "ack-dropped") and not return_path_open:
        # The first packet got through (its counters say so), the connection did not.
        if landing.arrival is not None or first.counters.verdicts():
            problems.append(f"chainwalk says the handshake fails ({handshake}), but the "
                            f"kernel's connection {kernel}")
        return problems
    if walk.disposition != kernel:
        return [*problems, f"kernel: {kernel}; chainwalk: {walk.disposition}"]
    arrival, final = landing.arrival, walk.final
    if arrival is None:
        return problems
    if arrival.original_dst not in (None, (probe.dst, probe.dport)):
        problems.append(f"kernel's original destination {arrival.original_dst} is not the probe's")
    tproxy_port = final.get("tproxy", {}).get("port")
    if (tproxy_port or final["dport"]) != arrival.listener_port:
        problems.append(
            f"the listener on port {arrival.listener_port} got it, chainwalk says "
            + (f"TPROXY to {tproxy_port}" if tproxy_port else f"port {final['dport']}")
        )
    if (final["dst"], final["dport"]) != arrival.local:
        problems.append(
            f"received on {arrival.local}, chainwalk says {(final['dst'], final['dport'])}"
        )
    if final["src"] != arrival.peer[0]:
        problems.append(f"received from {arrival.peer[0]}, chainwalk says from {final['src']}")
    # The landing connection has its own ephemeral port: compare what NAT did to the port.
    kernel_sport = arrival.peer[1] if arrival.peer[1] != landing.client.sport else None
    walk_sport = final["sport"] if final["sport"] != first.client.sport else None
    if "sport_range" in final:  # drawn at random by the kernel: any port of the range
        low, high = final["sport_range"]
        if kernel_sport is None or not low <= kernel_sport <= high:
            problems.append(f"source port rewritten to {kernel_sport}, chainwalk says one "
                            f"drawn from {low}-{high}")
    elif kernel_sport != walk_sport:
        problems.append(f"source port rewritten to {kernel_sport}, chainwalk says {walk_sport}")
    if kernel == "sent" and final["out"] != "eth0":
        problems.append(f"it left via eth0, chainwalk says out={final['out']}")
    return problems


def failure_report(
    probe: Probe, first: FirstPacket, landing: Landing, walk: Walk, problems: list[str]
) -> str:
    """Everything needed to judge a disagreement without rerunning it."""
    sent = first.client
    who = (f"uid {probe.who.uid} gid {probe.who.gid}" + (f" mark {probe.who.mark:#x}"
                                                         if probe.who.mark else "")
           if probe.hook == "output" else "inbound")
    lines = [
        f"probe {probe.id}: {probe.hook}, {who}, "
        f"{probe.proto} {sent.src}:{sent.sport} -> {probe.dst}:{probe.dport}",
        *(f"  ! {problem}" for problem in problems),
        "kernel counters (first packet):",
        *(f"    {first.counters.describe(ref)}" for ref in sorted(first.counters.hits)),
        "chainwalk hits:",
        *(f"    {ref} -> {walk.targets[ref]}" for ref in sorted(walk.hits)),
        f"kernel landing: {disposition(first, landing)}; {landing.describe()}",
        f"chainwalk final: {walk.describe_final()}",
        f"first packet: client error {sent.error}",
        "chainwalk " + " ".join(walk.argv),
    ]
    return "\n".join(lines)


def judge(probe: Probe, lab: Lab, open_return_path: bool = False) -> str | None:
    """Make the probe's connection in both pods and trace it with chainwalk: None when they
    agree, else the report of every difference. ``open_return_path``: see ``Lab.use``."""
    lab.use(probe.ruleset.text, probe.ruleset.family, open_return_path)
    first = trace_first_packet(lab.counting, probe.client(lab.counting))
    landing = land(lab.landing, probe.client(lab.landing), probe.pod_ports, probe.network_ports)
    walk = run_chainwalk(probe, first.client)
    problems = hit_problems(first.counters, walk) + outcome_problems(
        probe, first, landing, walk, open_return_path)
    return failure_report(probe, first, landing, walk, problems) if problems else None
