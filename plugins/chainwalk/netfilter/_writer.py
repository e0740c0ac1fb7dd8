"""Writes a model back in the normal form ``iptables-save`` prints."""

from __future__ import annotations

import re

from ._model import BASE_MODULE, Chain, Option, Rule, Ruleset, Table

_BASE_FLAGS = {"source": "-s", "destination": "-d", "in-interface": "-i",
               "out-interface": "-o", "protocol": "-p", "fragment": "-f"}
_PLAIN = re.compile(r"[^\s\"'\\]+")
# Free-text options iptables-save prints with xtables_save_string(): quoted unless the
# text is only letters, digits, '_' and '-'; '"', "'" and '\\' escaped with a backslash.
_FREE_TEXT = frozenset({"comment", "log-prefix"})
# Interfaces, which iptables-save prints as they are, whatever they hold.
_RAW = frozenset({"in-interface", "out-interface"})
_NO_QUOTE = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPE = re.compile(r"([\"'\\])")
# The order iptables-save (nf_tables backend) prints the tables of one family in.
SAVE_ORDER = ("mangle", "security", "raw", "filter", "nat")


def quote(text: str) -> str:
    """Quote a value the way iptables-save does when it holds spaces or quotes."""
    if _PLAIN.fullmatch(text):  # fullmatch: "$" would let a final line feed through
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def save_string(text: str) -> str:
    """A free-text value (``--comment``, ``--log-prefix``) exactly as iptables-save prints it."""
    if _NO_QUOTE.fullmatch(text):
        return text
    return '"' + _ESCAPE.sub(r"\\\1", text) + '"'


def _option(option: Option, flag: str) -> str:
    parts = ["!"] if option.negated else []
    parts.append(flag)
    if option.name in _RAW:
        parts.extend(option.values)
    elif option.name in _FREE_TEXT:
        parts.extend(save_string(value) for value in option.values)
    else:
        parts.extend(quote(value) for value in option.values)
    return " ".join(parts)


def rule_spec(rule: Rule) -> str:
    """The rule's criteria and target, e.g. ``-p tcp -m tcp --dport 80 -j ACCEPT``."""
    parts: list[str] = []
    for match in rule.matches:
        if match.module == BASE_MODULE:
            parts.extend(_option(o, _BASE_FLAGS[o.name]) for o in match.options)
            continue
        parts.append(f"-m {match.module}")
        parts.extend(_option(o, "--" + o.name) for o in match.options)
    target = rule.target
    if target is not None:
        parts.append(("-g " if target.goto else "-j ") + target.name)
        parts.extend(_option(o, "--" + o.name) for o in target.options)
    return " ".join(parts)


def rule_line(chain: str, rule: Rule, counters: bool = False) -> str:
    spec = rule.spec
    line = f"-A {chain} {spec}" if spec else f"-A {chain}"
    if counters:
        packets, octets = rule.counters or (0, 0)
        line = f"[{packets}:{octets}] {line}"
    return line


def _chain_header(chain: Chain) -> str:
    packets, octets = chain.counters or (0, 0)
    return f":{chain.name} {chain.policy or '-'} [{packets}:{octets}]"


def write_table(table: Table, counters: bool = False) -> str:
    lines = [f"*{table.name}"]
    lines.extend(_chain_header(chain) for chain in table.chains)
    for chain in table.chains:
        lines.extend(rule_line(chain.name, rule, counters) for rule in chain.rules)
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def write_ruleset(ruleset: Ruleset, counters: bool = False) -> str:
    """The whole ruleset as iptables-save prints it (without its comment lines)."""
    order = {name: n for n, name in enumerate(SAVE_ORDER)}
    tables = sorted(ruleset.tables, key=lambda table: order.get(table.name, len(order)))
    return "".join(write_table(table, counters) for table in tables)
