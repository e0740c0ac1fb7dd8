"""The ``correspondence`` view: an iptables chain's rules against an nftables chain's,
one row per iptables rule (see ``netfilter._correspondence``)."""

from __future__ import annotations

from ..netfilter import Ruleset
from ..netfilter._correspondence import Decider, Outcome, RuleCorrespondence
from ..netfilter._nft_model import NftRuleset
from ..netfilter._writer import rule_spec
from ._claims import describe
from ._escape import md_code
from ._messages import ENGLISH, Messages


def _outcome(outcome: Outcome, msg: Messages) -> str:
    return msg("correspondence.outcome",
               disposition=msg(f"correspondence.disposition.{outcome.disposition}"),
               dst=outcome.dst, dport=outcome.dport)


def _nft_rule(other: NftRuleset, chain: str, decider: Decider | None,
              msg: Messages) -> tuple[str, str]:
    """The nftables cells: the rule's position (and handle), and its text."""
    if decider is None:
        return msg("correspondence.not-crossed"), ""
    found = next(c for t in other.tables if (c := t.chain(chain)) is not None)
    number = str(decider.rule) if decider.handle is None else \
        msg("correspondence.handle", rule=decider.rule, handle=decider.handle)
    return number, md_code(found.rules[decider.rule - 1].spec)


def correspondence_table(ruleset: Ruleset, old_file: str, table: str, chain: str,
                         other: NftRuleset, new_file: str, other_chain: str,
                         rows: list[RuleCorrespondence], where: str, hook: str = "output",
                         msg: Messages = ENGLISH) -> str:
    """The rows as a table, after a sentence saying which packets they were found over
    (``hook``: ``output`` or ``prerouting``, as a block names it)."""
    rules = ruleset.chain(table, chain)
    assert rules is not None
    packets = msg("behaviour.arriving" if hook == "prerouting" else "behaviour.sent")
    if where:
        packets = msg("behaviour.matching", packets=packets, where=md_code(where))
    lines = [msg("correspondence.head", chain=md_code(chain), old=md_code(old_file),
                 new=md_code(new_file), other_chain=md_code(other_chain), packets=packets),
             "",
             msg("correspondence.header", chain=md_code(chain),
                 other_chain=md_code(other_chain)),
             "| ---: | --- | --- | ---: | --- | --- |"]
    differ = 0
    for row in rows:
        text = md_code(rule_spec(rules.rules[row.rule - 1]))
        if row.witness is None or row.outcome is None or row.other_outcome is None:
            lines.append(f"| {row.rule} | {text} | {msg('correspondence.never')} | | | |")
            continue
        number, other_text = _nft_rule(other, other_chain, row.other_decider, msg)
        if row.agrees:
            ending = msg("correspondence.same", outcome=_outcome(row.outcome, msg))
        else:
            differ += 1
            ending = msg("correspondence.differ", old=_outcome(row.outcome, msg),
                         new=_outcome(row.other_outcome, msg), old_file=md_code(old_file),
                         new_file=md_code(new_file))
        lines.append(f"| {row.rule} | {text} | {md_code(describe(row.witness))} | {number} "
                     f"| {other_text} | {ending} |")
    lines += ["", msg("correspondence.some-differ", count=differ) if differ
              else msg("correspondence.all-agree")]
    return "\n".join(lines) + "\n"
