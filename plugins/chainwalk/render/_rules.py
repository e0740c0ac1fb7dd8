"""The ``rules`` view: one chain as a table, a column per criterion.

The columns are the ones ``iptables -L`` prints (protocol, interfaces, addresses),
worded for reading ("any", "anywhere", "!127.0.0.1"), then every other match in
``iptables -L``'s words (``owner UID match 1337``, ``tcp dpt:!15008``) in its own
column: an owner match is a criterion of its own, not part of the destination. The
last column is the rule's annotation, when the ruleset has one.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..netfilter import Chain, Rule
from ._annotations import Annotation, Annotations
from ._escape import md_code, md_text
from ._iptables_list import address, match_words, target_words
from ._messages import ENGLISH, Messages

# The columns' message keys (``rules.column.KEY``).
COLUMNS = ("number", "target", "prot", "in", "out", "source", "destination", "other")


def _base_words(rule: Rule, family: int) -> list[str]:
    base = rule.match("")
    options = {o.name: o for o in base.options} if base else {}

    def word(name: str, default: str, value: str | None = None) -> str:
        option = options.get(name)
        if option is None:
            return default
        return ("!" if option.negated else "") + (value or option.value)

    return [word("protocol", "all"), word("in-interface", "any"),
            word("out-interface", "any"),
            *(word(name, "anywhere", address(options[name].value, family)
                   if name in options else None) for name in ("source", "destination"))]


def target_cell(rule: Rule, msg: Messages = ENGLISH) -> str:
    target = rule.target
    if target is None:
        return msg("rules.no-target")
    text = md_code(target.name) + (msg("rules.goto") if target.goto else "")
    extra = target_words(rule).strip()
    return f"{text} {md_text(extra)}" if extra else text


def annotation_cell(note: Annotation | None, titles: Mapping[str, str],
                    msg: Messages = ENGLISH) -> str:
    """The note's cell; its scenario is named by its title in ``titles`` (by scenario id):
    a reader knows "reviews calls ratings", not ``bookinfo/outbound``."""
    if note is None:
        return ""
    parts = []
    name, purpose = note.text(msg.language)
    if name:
        parts.append(f"**{md_text(name)}**" + (msg("rules.name-colon") if purpose else ""))
    if purpose:
        parts.append(md_text(purpose))
    refs = []
    if note.article:
        refs.append(msg("rules.article", numbers=", ".join(map(str, note.article))))
    if note.steps:
        refs.append(msg("rules.steps" if len(note.steps) > 1 else "rules.step",
                        numbers=" &#8594; ".join(map(str, note.steps))))
    if note.scenario in titles:
        refs.append(msg("rules.example", title=md_text(titles[note.scenario])))
    if refs:
        parts.append(msg("rules.refs", refs=msg("rules.refs-joiner").join(refs)))
    # The span lets the stylesheet keep prose readable beside the wide rule columns.
    return '<span class="chainwalk-note">' + msg("prose.joiner").join(parts) + "</span>"


def row(cells: list[str]) -> str:
    return "| " + " | ".join(cell or " " for cell in cells) + " |"


def rules_table(chain: Chain, table: str, family: int, notes: Annotations,
                titles: Mapping[str, str], msg: Messages = ENGLISH) -> str:
    """The Markdown table of ``chain`` (of ``table``), annotated from ``notes``; ``titles``
    are the titles of the scenarios the notes name, by id."""
    annotated = bool(notes.in_chain(table, chain.name))
    columns = [*COLUMNS, "purpose"] if annotated else list(COLUMNS)
    header = [msg(f"rules.column.{column}") for column in columns]
    lines = [row(header), row(["---"] * len(header))]
    for number, rule in enumerate(chain.rules, start=1):
        words = [md_text(w) for w in _base_words(rule, family)]
        matches = match_words(rule).strip()
        cells = [str(number), target_cell(rule, msg), *words, md_code(matches)]
        if annotated:
            cells.append(annotation_cell(notes.get(table, chain.name, rule.spec), titles, msg))
        lines.append(row(cells))
    if not chain.rules:
        lines.append(row(["", msg("rules.empty"), *[""] * (len(header) - 2)]))
    if chain.policy is not None:
        lines.append("")
        lines.append(msg("rules.policy", chain=md_code(chain.name), policy=md_code(chain.policy)))
    return "\n".join(lines) + "\n"
