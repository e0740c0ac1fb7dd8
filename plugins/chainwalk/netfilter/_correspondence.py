"""How an iptables chain's rules correspond to an nftables chain's, packet by packet.

For each rule of the iptables chain, the symbolic walk (``_proof.reach``) gives a packet
that reaches it (a witness); that packet is traced through both rulesets, and the rows
say which rule of each chain decided it (the last rule it matched there) and whether the
two walks end the same way (disposition, final destination and port).
"""

from __future__ import annotations

from dataclasses import dataclass

from .._errors import Location
from ._model import Ruleset
from ._nft_model import NftRuleset
from ._packet import Host, Packet
from ._proof import parse_description, reach
from ._trace import Disposition, NftStep, Trace, trace


@dataclass(frozen=True)
class Outcome:
    """Where a packet's walk ends: what happens to it, and its final destination."""

    disposition: Disposition
    dst: str
    dport: int


@dataclass(frozen=True)
class Decider:
    """The last rule of a chain a trace matched: its position (from 1) and, in an
    nftables ruleset, its handle (``None`` when the file gave none)."""

    rule: int
    handle: int | None = None


@dataclass(frozen=True)
class RuleCorrespondence:
    """One rule of the iptables chain: a packet that reaches it (``None``: none does) and
    what each ruleset does with that packet."""

    rule: int
    witness: Packet | None
    decider: Decider | None = None  # in the iptables chain
    other_decider: Decider | None = None  # in the nftables chain (None: not crossed)
    outcome: Outcome | None = None
    other_outcome: Outcome | None = None

    @property
    def agrees(self) -> bool:
        return self.outcome == self.other_outcome


def _outcome(found: Trace) -> Outcome:
    final = found.main.final
    return Outcome(found.main.disposition, final.dst, final.dport)


def _decider(found: Trace, hook: str, chain: str, table: str | None) -> Decider | None:
    last = None
    for step in found.steps:
        if step.hit and step.hook == hook and step.chain == chain and \
                (table is None or step.table == table):
            last = Decider(step.rule, step.handle if isinstance(step, NftStep) else None)
    return last


def correspondence(ruleset: Ruleset, table: str, chain: str, other: NftRuleset,
                   other_chain: str, host: Host, hook: str = "OUTPUT",
                   where: str = "", location: Location | None = None
                   ) -> list[RuleCorrespondence]:
    """A row per rule of ``table`` ``chain`` of ``ruleset``: a witness reaching it, traced
    through ``ruleset`` and through ``other`` (whose ``other_chain``, in any table, is the
    chain compared). ``where`` describes the packets (``_proof``'s words; ``location``
    is where it is written)."""
    description = parse_description(where, location or Location(ruleset.source, 0),
                                    ruleset.family)
    rows = []
    for found in reach(ruleset, host, hook, description, table):
        if found.chain != chain:
            continue
        if found.witness is None:
            rows.append(RuleCorrespondence(found.rule, None))
            continue
        mine = trace(ruleset, found.witness, host, hook)
        theirs = trace(other, found.witness, host, hook)
        rows.append(RuleCorrespondence(
            found.rule, found.witness, _decider(mine, hook, chain, table),
            _decider(theirs, hook, other_chain, None), _outcome(mine), _outcome(theirs)))
    return rows
