"""The "try it" link under a journey's diagram or trace table: the journey's first
connection, opened in the site's playground (see ``chainwalk.playground``).

The playground keeps its whole state in the URL fragment, ``#s=`` then the state's
JSON compressed with raw deflate and written in base64url, which the page reads with
the browser's ``DecompressionStream("deflate-raw")``. The state names the client pod's
ruleset (a file of ``rulesets/``) and the packet as ``chainwalk trace``'s options.
"""

from __future__ import annotations

import base64
import json
import zlib
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from ._escape import html_text
from ._messages import LANGUAGES, Messages

if TYPE_CHECKING:  # (the playground's trace loads no journey engine)
    from ..journey import Journey, Scenario
    from ..netfilter import Step, Trace


def playground_state(scenario: Scenario, journey: Journey) -> dict[str, str] | None:
    """The playground's state for the journey's first connection; ``None`` when the
    playground cannot show it as the journey saw it: rules edited by a what-if, an IPv6
    connection, a pod whose ruleset is not one of ``rulesets/``, or one whose packets
    depend on more than its rules (policy routing dumps, ipset members, a proxy's
    transparent or marked sockets: the playground's trace has none of them)."""
    if scenario.what_ifs or not journey.hops:
        return None
    hop = journey.hops[0]
    pod = scenario.topology.pod(hop.pod)
    ruleset = PurePosixPath(pod.ruleset) if pod is not None else None
    if pod is None or ruleset is None or ":" in hop.dst or ruleset.parent.name != "rulesets":
        return None
    if pod.routing_paths or pod.ipsets or (pod.sidecar is not None and (
            pod.sidecar.transparent or pod.sidecar.mark)):
        return None
    addresses = [f"{interface.name}={address}" for interface in pod.interfaces
                 if interface.name != "lo" for address in interface.addresses
                 if ":" not in address]
    return {"ruleset": ruleset.name, "hook": "output", "proto": hop.protocol,
            "src": hop.src, "sport": str(hop.sport), "dst": hop.dst,
            "dport": str(hop.dport), "uid": str(hop.uid), "gid": str(hop.gid),
            "addr": " ".join(addresses)}


def encode_state(state: dict[str, str]) -> str:
    """The fragment's value: JSON, raw deflate, base64url without padding."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
    packed = packer.compress(data) + packer.flush()
    return base64.urlsafe_b64encode(packed).rstrip(b"=").decode("ascii")


def decode_state(encoded: str) -> dict[str, str]:
    """:func:`encode_state`'s inverse."""
    packed = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    state = json.loads(zlib.decompress(packed, -15))
    assert isinstance(state, dict)
    return state


def try_it(state: dict[str, str], playground: str, msg: Messages) -> str:
    """The link's HTML: ``playground`` is the playground page's URL from the site's root
    (``playground/``), in a translated page the translation's (``zh/playground/``, as
    mkdocs-static-i18n builds it); the site's script makes the link relative to the page
    and shows it (without JavaScript there is no playground to open)."""
    if msg.language != LANGUAGES[0]:
        playground = f"{msg.language}/{playground}"
    target = f"{playground}#s={encode_state(state)}"
    return (f'<p class="chainwalk-try" data-search-exclude hidden>'
            f'<a data-chainwalk-try="{html_text(target)}">{msg("playground.try-it")}</a>'
            + msg("playground.first-connection", src=html_text(state["src"]),
                  dst=html_text(state["dst"]), dport=html_text(state["dport"]),
                  ruleset=html_text(state["ruleset"])) + "</p>")


def _step_row(step: Step, msg: Messages) -> dict[str, str]:
    """One row of the playground's trace table in ``msg``'s language: ``where``,
    ``result`` and ``why`` (the rule's own text stays the trace's ``text``), or, for an
    event, ``event`` alone."""
    if step.kind == "event":
        return {"event": msg.reason(step.reason) if step.reason else ""}
    where = {"table": step.table, "chain": step.chain, "rule": step.rule,
             "last": step.rule + step.count - 1}
    why = step.reason or step.effect
    row = {"where": msg(f"playground.step.where.{step.kind}", **where),
           "why": msg.reason(why) if why else ""}
    if step.kind == "policy":
        row["result"] = msg("trace.policy", policy=step.result)
    elif step.kind == "return":
        row["result"] = msg("trace.return")
    elif step.kind == "skipped":
        row["result"] = msg("trace.skipped")
    else:
        row["result"] = msg(f"playground.step.{step.result}")
    return row


def trace_rows(result: Trace, msg: Messages) -> list[dict[str, Any]]:
    """What the playground's table shows of each branch of ``result``, worded in
    ``msg``'s language (the trace's JSON stays the CLI's, in English): the disposition
    and each step's row (:func:`_step_row`)."""
    return [{"disposition": msg(f"correspondence.disposition.{branch.disposition}"),
             "steps": [_step_row(step, msg) for step in branch.steps]}
            for branch in result.branches]
