"""Reads ``nft -j list ruleset`` JSON: each object becomes the line ``nft list ruleset``
would print for it, and the lines are read by the one nftables parser (``_nft_parser``),
so both forms mean the same. A problem is reported at the JSON object it comes from."""

from __future__ import annotations

import json
from typing import Any

from .._errors import ChainwalkError, Location, Problem
from ._nft_model import NftRuleset

_JSON = json.JSONDecoder()


class _Unknown(ValueError):
    """A JSON construct this reader does not know."""


def _items(text: str, path: str) -> list[tuple[Location, dict[str, Any]]]:
    """The objects of the ``nftables`` array, each with where it starts."""

    def where(offset: int) -> Location:
        line = text.count("\n", 0, offset) + 1
        return Location(path, line, offset - (text.rfind("\n", 0, offset) + 1) + 1)

    start = text.find("[")
    if start < 0 or '"nftables"' not in text[:start]:
        raise ChainwalkError([Problem(where(0), "not nft JSON", text[:20],
                                      '{"nftables": [...]} as nft -j list ruleset prints')])
    found: list[tuple[Location, dict[str, Any]]] = []
    i = start + 1
    while True:
        while i < len(text) and text[i] in " \t\r\n,":
            i += 1
        if i >= len(text):
            raise ChainwalkError([Problem(where(i), "the JSON ends early", "end of file",
                                          "']}'")])
        if text[i] == "]":
            return found
        try:
            item, end = _JSON.raw_decode(text, i)
        except json.JSONDecodeError as e:
            raise ChainwalkError([Problem(where(e.pos), f"invalid JSON: {e.msg}",
                                          text[e.pos:e.pos + 20], "JSON")]) from None
        if not isinstance(item, dict) or len(item) != 1:
            raise ChainwalkError([Problem(where(i), "not an nft object", text[i:i + 40],
                                          '{"table": ...}, {"chain": ...}, {"rule": ...}')])
        found.append((where(i), item))
        i = end


def _expr(e: Any) -> str:
    if isinstance(e, str):
        return e if e.startswith("@") else (f'"{e}"' if not e.replace(".", "").replace(
            ":", "").replace("-", "").replace("_", "").replace("/", "").isalnum() else e)
    if isinstance(e, bool) or e is None:
        raise _Unknown(repr(e))
    if isinstance(e, int):
        return str(e)
    if isinstance(e, list):
        return ",".join(_expr(x) for x in e)
    if not isinstance(e, dict) or len(e) != 1:
        raise _Unknown(json.dumps(e))
    (key, value), = e.items()
    if key == "payload":
        return f"{value['protocol']} {value['field']}"
    if key in ("meta", "ct"):
        return f"{key} {value['key']}"
    if key in ("&", "|", "^"):
        return f"{_expr(value[0])} {key} {_expr(value[1])}"
    if key == "concat":
        return " . ".join(_expr(x) for x in value)
    if key == "prefix":
        return f"{value['addr']}/{value['len']}"
    if key == "range":
        return f"{_expr(value[0])}-{_expr(value[1])}"
    if key == "set":
        items = value if isinstance(value, list) else [value]
        return "{ " + ", ".join(_element(x) for x in items) + " }"
    if key == "numgen":
        return f"numgen {value['mode']} mod {value['mod']}"
    raise _Unknown(key)


def _element(x: Any) -> str:
    if isinstance(x, list) and len(x) == 2:  # a map's [key, value]
        return f"{_expr(x[0])} : {_statement(x[1]) if isinstance(x[1], dict) else _expr(x[1])}"
    if isinstance(x, dict) and "elem" in x:
        return _expr(x["elem"]["val"])
    return _expr(x)


def _nat_to(value: dict[str, Any]) -> str:
    address = value.get("addr")
    port = value.get("port")
    if address is None and port is None:
        return ""
    text = _expr(address) if address is not None else ""
    if port is not None:
        text = (f"[{text}]" if ":" in text else text) + f":{_expr(port)}"
    return f" to {text}"


def _statement(s: Any) -> str:
    if not isinstance(s, dict) or len(s) != 1:
        raise _Unknown(json.dumps(s))
    (found, value), = s.items()
    key = str(found)
    if key == "match":
        op = value.get("op", "==")
        op = "" if op in ("==", "in") else f"{op} "
        return f"{_expr(value['left'])} {op}{_expr(value['right'])}"
    if key == "counter":
        return f"counter packets {value['packets']} bytes {value['bytes']}" if value else \
            "counter"
    if key in ("accept", "drop", "return", "continue"):
        return key
    if key in ("jump", "goto"):
        return f"{key} {value['target']}"
    if key in ("redirect", "masquerade"):
        return key + _nat_to(value or {})
    if key in ("dnat", "snat"):
        family = f" {value['family']}" if "family" in value else ""
        return key + family + _nat_to(value)
    if key == "tproxy":
        family = f" {value['family']}" if "family" in value else ""
        return "tproxy" + family + (_nat_to(value) or " to")
    if key == "mangle":
        return f"{_expr(value['key'])} set {_expr(value['value'])}"
    if key == "notrack":
        return "notrack"
    if key == "log":
        words = ["log"]
        for name in ("prefix", "level", "group"):
            if value and name in value:
                words.append(f'{name} "{value[name]}"' if name == "prefix"
                             else f"{name} {value[name]}")
        return " ".join(words)
    if key == "reject":
        return "reject" if not value else f"reject with {value.get('type', '')} " \
            f"{value.get('expr', '')}".rstrip()
    if key == "vmap":
        return f"{_expr(value['key'])} vmap {_expr(value['data'])}"
    raise _Unknown(key)


def parse_nft_json(text: str, path: str = "<input>") -> NftRuleset:
    """Parse ``nft -j list ruleset`` output."""
    from ._nft_parser import _Parser

    tables: dict[tuple[str, str], list[str]] = {}
    chains: dict[tuple[str, str, str], list[str]] = {}
    sets: dict[tuple[str, str, str], list[str]] = {}
    origin: dict[tuple[str, ...], Location] = {}
    problems: list[Problem] = []
    for location, item in _items(text, path):
        (kind, value), = item.items()
        if kind == "metainfo":
            continue
        try:
            family = value["family"]
            table = value["name" if kind == "table" else "table"]
            handle = f" # handle {value['handle']}" if "handle" in value else ""
            if kind == "table":
                tables[(family, table)] = [f"table {family} {table} {{{handle}"]
                origin[(family, table)] = location
            elif kind == "chain":
                head = [f"chain {value['name']} {{{handle}"]
                if "hook" in value:
                    head.append(f"type {value['type']} hook {value['hook']} priority "
                                f"{value['prio']}; policy {value.get('policy', 'accept')};")
                chains[(family, table, value["name"])] = head
                origin[(family, table, value["name"])] = location
            elif kind == "rule":
                line = " ".join(_statement(s) for s in value["expr"])
                if "comment" in value:
                    line += f' comment "{value["comment"]}"'
                chains[(family, table, value["chain"])].append(line + handle)
                body = chains[(family, table, value["chain"])]
                origin[(family, table, value["chain"], str(len(body) - 1))] = location
            elif kind in ("set", "map"):
                types = value["type"] if isinstance(value["type"], list) else [value["type"]]
                key = " . ".join(types) + (f" : {value['map']}" if kind == "map" else "")
                block = [f"{kind} {value['name']} {{{handle}", f"type {key}"]
                if value.get("flags"):
                    flags = value["flags"] if isinstance(value["flags"], list) else \
                        [value["flags"]]
                    block.append("flags " + ", ".join(flags))
                if value.get("elem"):
                    block.append("elements = { " + ", ".join(_element(x) for x in
                                                             value["elem"]) + " }")
                sets[(family, table, value["name"])] = block
                origin[(family, table, value["name"])] = location
            else:
                raise _Unknown(kind)
        except KeyError as e:
            problems.append(Problem(location, f"cannot read this nft JSON object ({kind})",
                                    str(e)[:80], "its fields, and its table and chain "
                                    "listed before it"))
        except (_Unknown, TypeError, IndexError, ValueError) as e:
            problems.append(Problem(location, f"cannot read this nft JSON object ({kind})",
                                    str(e)[:80], "what nft -j list ruleset prints"))
    if problems:
        raise ChainwalkError(problems)
    # The nested form, one line per JSON object, and where each line came from.
    lines: list[str] = []
    came_from: list[Location] = []
    for (family, table), head in tables.items():
        lines.append(head[0])
        came_from.append(origin[(family, table)])
        for (f, t, name), body in [*sets.items(), *chains.items()]:
            if (f, t) != (family, table):
                continue
            for number, line in enumerate(body):
                lines.append(line)
                came_from.append(origin.get((f, t, name, str(number)), origin[(f, t, name)]))
            lines.append("}")
            came_from.append(origin[(f, t, name)])
        lines.append("}")
        came_from.append(origin[(family, table)])
    parser = _Parser("\n".join(lines) + "\n", path)
    try:
        return parser.parse()
    except ChainwalkError as e:
        raise ChainwalkError([Problem(came_from[p.location.line - 1] if 0 < p.location.line
                                      <= len(came_from) else p.location, p.message, p.token,
                                      p.expected) for p in e.problems]) from None
