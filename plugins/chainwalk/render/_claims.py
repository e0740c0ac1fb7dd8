"""Claims in pages, as data and in words: what a claim says (:class:`Claim`), what its
proof found (:class:`ClaimResult`), and the sentence a page shows for it. The proof is
the application's (``project._claims``), on the symbolic engine (``netfilter._proof``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .._errors import Location
from ..netfilter import Packet
from ..netfilter._space import Decision
from ._escape import md_code, md_text
from ._messages import ENGLISH, Messages

ClaimKind = Literal["never", "reached", "every", "none", "same-as", "without"]
KINDS: tuple[ClaimKind, ...] = ("never", "reached", "every", "none", "same-as", "without")
# What a scenario does once a rule is gone (``without``): its journey's result, the port
# its last connection lands on, or no change at all.
Outcome = Literal["loops", "refused", "blackholed", "dropped", "delivered", "lands",
                  "unchanged"]
OUTCOMES: tuple[Outcome, ...] = ("loops", "refused", "blackholed", "dropped", "delivered",
                                 "lands", "unchanged")
DEFAULT_HOST = "eth0=10.0.0.5/24"



def file_name(ruleset: str) -> str:
    """A claim's ruleset as its file is named: ``current.rules``, ``current.nft``."""
    return ruleset if ruleset.endswith(".nft") else ruleset + ".rules"

@dataclass(frozen=True)
class Claim:
    """One claim as written: what it says and where."""

    kind: ClaimKind
    ruleset: str
    chain: str = ""
    rule: int = 0  # 0: the chain's policy (every/none)
    other: str = ""  # same-as: the other ruleset
    where: str = ""
    table: str = "nat"
    hook: str = "output"
    host: str = DEFAULT_HOST
    text: str | None = None  # the inline form's text to show (None: the kind's own)
    location: Location = field(default_factory=lambda: Location("<page>", 0))
    where_at: Location | None = None  # where the description starts, when known
    scenario: str = ""  # without: the scenario whose journey the removal changes
    outcome: Outcome | None = None
    port: int = 0  # without ... lands PORT

    def subject(self) -> str:
        if self.kind == "same-as":
            return file_name(self.other)
        if self.rule == 0:
            return f"{self.table} {self.chain}'s policy"
        return f"{self.table} {self.chain} rule {self.rule}"

    def __str__(self) -> str:
        argument = self.other if self.kind == "same-as" else \
            f"{self.chain}#{self.rule or 'policy'}"
        where = f" where {self.where}" if self.where else ""
        if self.kind == "without":
            port = f" {self.port}" if self.outcome == "lands" else ""
            where = f" then {self.scenario} {self.outcome}{port}"
        return f"{self.kind} {argument} in {self.ruleset}{where}"


@dataclass(frozen=True)
class ClaimResult:
    """A claim that holds, with the packet that shows it (for ``reached``)."""

    claim: Claim
    witness: Packet | None = None


def describe(packet: Packet) -> str:
    """A packet in the words of a description."""
    owner = "no-socket" if packet.uid is None else f"uid={packet.uid} gid={packet.gid}"
    protocol = f"proto={packet.protocol}" if packet.protocol.isdigit() else packet.protocol
    parts = [protocol, f"src={packet.src}", f"dst={packet.dst}",
             f"sport={packet.sport}", f"dport={packet.dport}", owner]
    if packet.in_interface:
        parts.append(f"in={packet.in_interface}")
    if packet.mark:
        parts.append(f"mark={hex(packet.mark)}")
    return " ".join(parts)


def _subject(claim: Claim, msg: Messages) -> str:
    if claim.rule == 0:
        return msg("claim.subject.policy", table=claim.table, chain=claim.chain)
    return msg("claim.subject.rule", table=claim.table, chain=claim.chain, rule=claim.rule)


def _packets(claim: Claim, msg: Messages) -> str:
    """The packets a claim is about: "packet", "arriving packet matching `...`"."""
    where = md_code(claim.where)
    if claim.hook == "prerouting":
        return msg("claim.arriving-where", where=where) if claim.where else \
            msg("claim.arriving")
    return msg("claim.packet-where", where=where) if claim.where else msg("claim.packet")


def inline_text(claim: Claim, msg: Messages) -> str:
    """What an inline claim shows: its own text, or the kind's short phrase."""
    return msg(f"claim.inline.{claim.kind}") if claim.text is None else claim.text


def sentence(result: ClaimResult, msg: Messages = ENGLISH) -> str:
    """What a checked claim says, as Markdown (the block's note)."""
    claim = result.claim
    ruleset = md_code(file_name(claim.ruleset))
    if claim.kind == "same-as" and (file_name(claim.ruleset).endswith(".nft") or
                                    file_name(claim.other).endswith(".nft")):
        # (an nftables side is compared over the whole hook, as _proof.differences does)
        return msg("claim.same-as-hook", ruleset=ruleset, other=md_code(file_name(claim.other)),
                   packet=_packets(claim, msg), hook=claim.hook)
    if claim.kind == "same-as":
        return msg("claim.same-as", ruleset=ruleset, other=md_code(file_name(claim.other)),
                   packet=_packets(claim, msg), table=claim.table)
    values = {"what": md_text(_subject(claim, msg)), "ruleset": ruleset,
              "packet": _packets(claim, msg)}
    if claim.kind == "reached":
        assert result.witness is not None
        return msg("claim.reached", witness=md_code(describe(result.witness)), **values)
    if claim.kind == "without":
        change = msg(f"claim.change.{claim.outcome}", port=claim.port)
        return msg("claim.without", scenario=md_code(claim.scenario), change=change,
                   **values)
    return msg(f"claim.{claim.kind}", **values)


def claim_note(result: ClaimResult, msg: Messages = ENGLISH) -> str:
    """A ``view: claim`` block: a small note saying the claim was checked."""
    return (f'<p class="chainwalk-claim" markdown>'
            f"{msg('claim.note', sentence=sentence(result, msg))}</p>\n")


def _ending(decision: Decision, msg: Messages) -> str:
    """Where a walk through a table ends: a rule and its target, or the policy."""
    if decision.rule == 0:
        return msg("behaviour.end.policy", table=decision.table, chain=decision.chain,
                   target=decision.target)
    return msg("behaviour.end.rule", table=decision.table, chain=decision.chain,
               rule=decision.rule, target=decision.target)


def behaviour_table(old_name: str, new_name: str,
                    rows: list[tuple[Packet, Decision, Decision]], where: str, hook: str,
                    table: str, msg: Messages = ENGLISH) -> str:
    """The ``behaviour`` view: one row per way the two rulesets treat packets differently
    (an example packet, and where each ruleset's walk ends)."""
    packets = msg("behaviour.arriving" if hook == "prerouting" else "behaviour.sent")
    if where:
        packets = msg("behaviour.matching", packets=packets, where=md_code(where))
    head = msg("behaviour.head", packets=packets, table=md_text(table))
    if not rows:
        return head + msg("behaviour.same", old=md_code(file_name(old_name)),
                          new=md_code(file_name(new_name))) + "\n"
    lines = [head + msg("behaviour.differ"), "",
             msg("behaviour.header", old=md_code(old_name), new=md_code(new_name)),
             "| --- | --- | --- |"]
    lines += [f"| {md_code(describe(packet))} | {md_text(_ending(old, msg))} | "
              f"{md_text(_ending(new, msg))} |" for packet, old, new in rows]
    return "\n".join(lines) + "\n"
