"""Claims in pages, as data and in words: what a claim says (:class:`Claim`), what its
proof found (:class:`ClaimResult`), and the sentence a page shows for it. The proof is
the application's (``project._claims``), on the symbolic engine (``netfilter._proof``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .._errors import Location
from ..netfilter import Packet
from ._escape import md_code, md_text

ClaimKind = Literal["never", "reached", "every", "none", "same-as", "without"]
KINDS: tuple[ClaimKind, ...] = ("never", "reached", "every", "none", "same-as", "without")
# What a scenario does once a rule is gone (``without``): its journey's result, the port
# its last connection lands on, or no change at all.
Outcome = Literal["loops", "refused", "blackholed", "dropped", "delivered", "lands",
                  "unchanged"]
OUTCOMES: tuple[Outcome, ...] = ("loops", "refused", "blackholed", "dropped", "delivered",
                                 "lands", "unchanged")
DEFAULT_HOST = "eth0=10.0.0.5/24"
# What an inline claim shows when it gives no text of its own.
INLINE_TEXT: dict[ClaimKind, str] = {"never": "never reached", "reached": "reached",
                                     "every": "every such packet ends there",
                                     "none": "no such packet ends there",
                                     "same-as": "the same", "without": "changes it so"}


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
            return f"{self.other}.rules"
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
    parts = [packet.protocol, f"src={packet.src}", f"dst={packet.dst}",
             f"sport={packet.sport}", f"dport={packet.dport}", owner]
    if packet.in_interface:
        parts.append(f"in={packet.in_interface}")
    if packet.mark:
        parts.append(f"mark={hex(packet.mark)}")
    return " ".join(parts)


def sentence(result: ClaimResult) -> str:
    """What a checked claim says, as Markdown (the block's note)."""
    claim = result.claim
    what = md_text(claim.subject())
    packet = "arriving packet" if claim.hook == "prerouting" else "packet"
    packet += f" matching {md_code(claim.where)}" if claim.where else ""
    if claim.kind == "never":
        return f"No {packet} that {md_code(claim.ruleset + '.rules')} sees matches {what}."
    if claim.kind == "reached":
        assert result.witness is not None
        return (f"{what} of {md_code(claim.ruleset + '.rules')} is reached, for example by "
                f"{md_code(describe(result.witness))}.")
    if claim.kind == "every":
        return f"Every {packet} ends at {what} of {md_code(claim.ruleset + '.rules')}."
    if claim.kind == "none":
        return f"No {packet} ends at {what} of {md_code(claim.ruleset + '.rules')}."
    if claim.kind == "without":
        change = {"loops": "loops", "unchanged": "does not change",
                  "lands": f"lands on port {claim.port}"}.get(claim.outcome or "",
                                                            f"ends {claim.outcome}")
        return (f"Without {what} of {md_code(claim.ruleset + '.rules')}, the journey "
                f"{md_code(claim.scenario)} {change}.")
    return (f"{md_code(claim.ruleset + '.rules')} and {md_code(claim.other + '.rules')} "
            f"give every {packet} the same outcome in {claim.table}.")


def claim_note(result: ClaimResult) -> str:
    """A ``view: claim`` block: a small note saying the claim was checked."""
    return (f'<p class="chainwalk-claim" markdown>✔ <strong>Checked when the site is '
            f"built:</strong> {sentence(result)}</p>\n")


def behaviour_table(old_name: str, new_name: str, rows: list[tuple[Packet, str, str]],
                    where: str, hook: str, table: str) -> str:
    """The ``behaviour`` view: one row per way the two rulesets treat packets differently
    (an example packet, and where each ruleset's walk ends)."""
    packets = "arriving packets" if hook == "prerouting" else "packets the pod sends"
    described = f" matching {md_code(where)}" if where else ""
    head = (f"Proved over all {packets}{described}, in {md_text(table)}: ")
    if not rows:
        return head + (f"{md_code(old_name + '.rules')} and {md_code(new_name + '.rules')} "
                       "treat every one of them the same.\n")
    lines = [head + "they are treated differently only as follows (one example packet "
             "for each difference).", "",
             f"| example packet | ends in {md_code(old_name)} | ends in {md_code(new_name)} |",
             "| --- | --- | --- |"]
    lines += [f"| {md_code(describe(packet))} | {md_text(old)} | {md_text(new)} |"
              for packet, old, new in rows]
    return "\n".join(lines) + "\n"
