"""Writes an nftables model as ``nft list ruleset`` prints it (the normal form)."""

from __future__ import annotations

from collections.abc import Mapping

from . import _nft_model as model
from ._nft_parser import PRIORITIES
from ._nft_values import MAX_U32


def expr_text(expr: model.Expr) -> str:
    if isinstance(expr, model.Payload):
        return f"{expr.protocol} {expr.field}"
    if isinstance(expr, model.Meta):
        return expr.key if expr.key in ("iifname", "oifname", "iif", "oif") else \
            f"meta {expr.key}"
    if isinstance(expr, model.Ct):
        return f"ct {expr.key}"
    if isinstance(expr, model.Numgen):
        return f"numgen random mod {expr.modulus}"
    if isinstance(expr, model.Concat):
        return " . ".join(expr_text(p) for p in expr.parts)
    inner = expr_text(expr.expr)
    if expr.xor == 0:
        return f"{inner} & 0x{expr.mask:08x}"
    if expr.mask | expr.xor == MAX_U32 and expr.mask & expr.xor == 0:
        return f"{inner} | 0x{expr.xor:08x}"
    return f"{inner} & 0x{expr.mask | expr.xor:08x} | 0x{expr.xor:08x}"


def _right(right: object) -> str:
    if isinstance(right, model.SetRef):
        return f"@{right.name}"
    if isinstance(right, tuple):
        return "{ " + ", ".join(right) + " }"
    return str(right)


def verdict_text(v: model.Verdict) -> str:
    return f"{v.kind} {v.chain}" if v.chain else v.kind


def _nat(s: model.Nat) -> str:
    words: list[str] = [s.kind]
    if s.family:
        words.append(s.family)
    if s.address is not None or s.port is not None:
        address = s.address or ""
        if s.port is not None and ":" in address:  # an IPv6 address before its port
            address = f"[{address}]"
        words.append("to " + address + (f":{s.port}" if s.port is not None else ""))
    if s.flags:
        words.append(",".join(s.flags))
    return " ".join(words)


def statement_text(s: model.Statement, counters: bool = True,
                   counts: tuple[int, int] | None = None) -> str:
    if isinstance(s, model.Match):
        # nft shows == after a mask only
        op = "" if s.op == "==" and not isinstance(s.left, model.Bitwise) else f"{s.op} "
        right = _right(s.right)
        if s.op == "!=" and s.left == model.Ct("state") and isinstance(s.right, str):
            right = right.replace(",", " | ")  # nft lists negated states so
        return f"{expr_text(s.left)} {op}{right}"
    if isinstance(s, model.Counter):
        packets, octets = counts if counts is not None else (s.packets, s.bytes)
        return f"counter packets {packets} bytes {octets}" if counters else "counter"
    if isinstance(s, model.Verdict):
        return verdict_text(s)
    if isinstance(s, model.Reject):
        return f"reject with {s.with_}" if s.with_ else "reject"
    if isinstance(s, model.Nat):
        return _nat(s)
    if isinstance(s, model.Tproxy):
        address = s.address or ""
        if ":" in address and s.port is not None:
            address = f"[{address}]"
        where = address + (f":{s.port}" if s.port is not None else "")
        return "tproxy " + (f"{s.family} " if s.family else "") + f"to {where}"
    if isinstance(s, model.SetStmt):
        value = f"0x{s.value:08x}" if isinstance(s.value, int) and s.key != model.Ct("zone") else (
            str(s.value) if isinstance(s.value, int) else expr_text(s.value))
        return f"{expr_text(s.key)} set {value}"
    if isinstance(s, model.Log):
        return " ".join(["log", *(f"{name} {value}" for name, value in s.options)])
    if isinstance(s, model.Notrack):
        return "notrack"
    assert isinstance(s, model.Vmap)
    if isinstance(s.map, model.SetRef):
        return f"{expr_text(s.key)} vmap @{s.map.name}"
    items = ", ".join(f"{e} : {verdict_text(v)}" for e, v in s.map)
    return f"{expr_text(s.key)} vmap {{ {items} }}"


#: The match the parser puts first in a rule with ``reject with tcp reset`` in an ip or ip6
#: table, which nft lists without it.
_TCP_RESET_DEPENDENCY = {"ip": model.Match(model.Payload("ip", "protocol"), "==", "tcp"),
                         "ip6": model.Match(model.Payload("ip6", "nexthdr"), "==", "tcp")}


def rule_text(rule: model.NftRule, counters: bool = True,
              counts: tuple[int, int] | None = None, family: str = "inet") -> str:
    """The rule (of a table of ``family``); its counter shows ``counts`` (packets, bytes)
    when given, else what the listing it was read from showed."""
    hidden = _TCP_RESET_DEPENDENCY.get(family) \
        if model.Reject("tcp reset") in rule.statements else None
    words = [statement_text(s, counters, counts) for s in rule.statements if s != hidden]
    if rule.comment is not None:
        words.append(f'comment "{rule.comment}"')
    return " ".join(words)


#: How far from a named priority nft still names it (``filter - 5``, ``dstnat + 10``).
_PRIORITY_REACH = 10


def priority_text(base: model.BaseHook) -> str:
    for name, (value, hooks) in PRIORITIES.items():
        if hooks is not None and base.hook not in hooks:
            continue
        offset = base.priority - value
        if offset == 0:
            return name
        if abs(offset) <= _PRIORITY_REACH:
            return f"{name} {'+' if offset > 0 else '-'} {abs(offset)}"
    return str(base.priority)


def _set_lines(s: model.NftSet, handles: bool) -> list[str]:
    kind = "map" if s.is_map else "set"
    key = " . ".join(s.key) + (f" : {s.data}" if s.data else "")
    lines = [f"\t{kind} {s.name} {{" + (f" # handle {s.handle}" if handles else ""),
             f"\t\ttype {key}"]
    if s.flags:
        lines.append(f"\t\tflags {','.join(s.flags)}")
    if s.comment is not None:
        lines.append(f'\t\tcomment "{s.comment}"')
    if s.elements:
        items = [e if isinstance(e, str) else
                 f"{e[0]} : {e[1] if isinstance(e[1], str) else verdict_text(e[1])}"
                 for e in s.elements]
        # nft prints a map's elements one a line (a set's in the kernel's order; here sorted)
        lines.append("\t\telements = { " + (",\n\t\t\t     " if s.is_map else ", ").join(items)
                     + " }")
    lines.append("\t}")
    return lines


# A rule's counters by (table family, table, chain, position from 1).
RuleCounts = Mapping[tuple[str, str, str, int], tuple[int, int]]


def _chain_lines(c: model.NftChain, handles: bool, table: model.NftTable,
                 counts: RuleCounts | None) -> list[str]:
    lines = [f"\tchain {c.name} {{" + (f" # handle {c.handle}" if handles else "")]
    if c.comment is not None:
        lines.append(f'\t\tcomment "{c.comment}"')
    if c.base is not None:
        b = c.base
        lines.append(f"\t\ttype {b.type} hook {b.hook} priority {priority_text(b)}; "
                     f"policy {b.policy};")
    for number, rule in enumerate(c.rules, start=1):
        found = None if counts is None else \
            counts.get((table.family, table.name, c.name, number), (0, 0))
        lines.append("\t\t" + rule_text(rule, counts=found, family=table.family)
                     + (f" # handle {rule.handle}" if handles else ""))
    lines.append("\t}")
    return lines


def table_text(t: model.NftTable, handles: bool = False, counts: RuleCounts | None = None) -> str:
    lines = [f"table {t.family} {t.name} {{" + (f" # handle {t.handle}" if handles else "")]
    if t.comment is not None:
        lines.append(f'\tcomment "{t.comment}"')
    blocks = [_set_lines(s, handles) for s in t.sets] + [_chain_lines(c, handles, t, counts)
                                               for c in t.chains]
    for number, block in enumerate(blocks):
        if number:
            lines.append("")
        lines.extend(block)
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_nft_ruleset(ruleset: model.NftRuleset, handles: bool = False,
                      counts: RuleCounts | None = None) -> str:
    """The ruleset as ``nft list ruleset`` (``nft -a list ruleset``) prints it; with
    ``counts``, each counter shows those numbers (zero for a rule not in it)."""
    return "".join(table_text(t, handles, counts) for t in ruleset.tables)

