"""YAML that remembers lines, for every YAML input chainwalk reads (scenario files, a
page's blocks, annotation files): problems are reported at the line of the key or
value that is wrong, and a duplicated key is a problem rather than a silent overwrite.

A text is composed into PyYAML's node tree once and constructed into plain data
from that tree; the tree is kept to map a path of keys and indexes
(``("pods", "reviews", "processes", 0)``) back to a file position.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import yaml

from ._errors import ChainwalkError, Location, Problem
from ._files import read_text

PathPart = str | int

# libyaml's parser when PyYAML was built with it (several times faster), else Python's.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Doc:
    """Parsed YAML: its data, and the node tree it was built from (``None``: empty)."""

    # A plain class: a dataclass costs milliseconds to create at import.
    __slots__ = ("data", "first_line", "keys", "path", "root")

    def __init__(self, path: str, data: Any, root: yaml.Node | None,
                 first_line: int = 1) -> None:
        self.path = path
        self.data = data
        self.root = root
        self.first_line = first_line  # the file line of the text's first line
        # Each mapping looked into by line(): its keys' texts -> (key, value) nodes, the
        # first of a duplicated key (so that a lookup costs the same in any mapping).
        self.keys: dict[int, dict[str, tuple[yaml.Node, yaml.Node]]] = {}

    def line(self, keys: Sequence[str | int] = (), *, key: bool = True) -> Location:
        """Where the entry at ``keys`` starts (its key, or with ``key=False`` its value)."""
        node, found = self.root, self.root
        for part in keys:
            if isinstance(node, yaml.MappingNode):
                by_key = self.keys.get(id(node))
                if by_key is None:
                    by_key = {}
                    for k, v in node.value:
                        by_key.setdefault(str(k.value), (k, v))
                    self.keys[id(node)] = by_key
                pair = by_key.get(str(part))
                if pair is None:
                    break
                found, node = (pair[0] if key else pair[1]), pair[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if not 0 <= part < len(node.value):
                    break
                found = node = node.value[part]
            else:
                break
        if found is None:
            return Location(self.path, self.first_line)
        mark = found.start_mark
        return Location(self.path, self.first_line + mark.line, mark.column + 1)

    def at(self, keys: Sequence[PathPart], *, key: bool = False) -> Location:
        """Where the value at ``keys`` starts (with ``key``: where its key starts)."""
        return self.line(keys, key=key)


def load_yaml(path: str) -> Doc:
    """Read and parse a file; an unreadable file is a :class:`ChainwalkError` too."""
    return parse_yaml(read_text(path, what="YAML file"), path)


def parse_yaml(text: str, path: str, first_line: int = 1, column: int = 0) -> Doc:
    """Parse ``text`` (that starts at ``first_line`` of ``path``, indented by ``column``).

    Raises :class:`ChainwalkError` for a syntax error, a duplicated key, or a document
    beyond the bounds (size, nesting, alias expansion, a recursive alias, a YAML type
    that is not plain data).
    """
    if len(text) > MAX_YAML_CHARS:
        raise ChainwalkError([Problem(Location(path, first_line), "YAML text too large",
                                      f"{len(text)} characters",
                                      f"at most {MAX_YAML_CHARS} characters")])
    try:
        return _parse(text, path, first_line, column, _LOADER)
    except _TooDeep as e:
        raise ChainwalkError(e.problems) from None
    except ChainwalkError as first:
        if _LOADER is yaml.SafeLoader:
            raise
        # Python's parser says where a syntax error is more precisely than libyaml's;
        # it recurses once per level of nesting, where libyaml stops at its own bound.
        try:
            return _parse(text, path, first_line, column, yaml.SafeLoader)
        except _TooDeep:
            raise first from None


# Bounds of a YAML input: far above what any scenario, annotation file or block needs.
MAX_YAML_CHARS = 8 * 1024 * 1024
MAX_DEPTH = 64  # levels of nested lists and mappings
MAX_NODES = 1_000_000  # values once aliases are expanded ("billion laughs")
MAX_INT_DIGITS = 64

# The YAML types of plain data; anything else (a date, !!binary, !!set...) is refused
# rather than handed to code that expects text, numbers, lists and mappings.
_PLAIN_TAGS = frozenset(f"tag:yaml.org,2002:{name}" for name in (
    "str", "int", "float", "bool", "null", "seq", "map", "merge"))


class _TooDeep(ChainwalkError):
    """Nesting beyond libyaml's bound: not parsed again by Python's parser, which would
    recurse once per level until Python's own limit, slowly."""


def _parse(text: str, path: str, first_line: int, column: int,
           loader_class: type[yaml.SafeLoader]) -> Doc:
    def at(mark: yaml.Mark | None) -> Location:
        if mark is None:
            return Location(path, first_line)
        return Location(path, first_line + mark.line, mark.column + 1 + column)

    loader = None
    try:
        loader = loader_class(text)  # PyYAML's reader refuses control characters here
        root = loader.get_single_node()
        problems = _check_tree(root, at) if root is not None else []
        if problems:
            raise ChainwalkError(problems)
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        if "nesting depth" in (e.problem or ""):  # libyaml's own bound (1,000 levels)
            raise _TooDeep([Problem(at(mark), "YAML nested too deeply", None,
                                    f"at most {MAX_DEPTH} levels of lists and mappings")]
                           ) from None
        raise ChainwalkError([Problem(at(mark), f"invalid YAML: {e.problem or e.context}")]
                             ) from None
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, e.position)
        col = e.position - (text.rfind("\n", 0, e.position) + 1)
        raise ChainwalkError([Problem(
            Location(path, first_line + line, col + 1 + column),
            "invalid YAML: a control character", f"U+{e.character:04X}"
            if isinstance(e.character, int) else str(e.character),
            "printable text (tabs and newlines only)")]) from None
    except yaml.YAMLError as e:
        raise ChainwalkError([Problem(Location(path, first_line), f"invalid YAML: {e}")]
                             ) from None
    except RecursionError:  # Python's parser: one call per level of nesting
        raise _TooDeep([Problem(Location(path, first_line), "YAML nested too deeply", None,
                                f"at most {MAX_DEPTH} levels of lists and mappings")]
                       ) from None
    finally:
        if loader is not None:
            loader.dispose()
    return Doc(path, data, root, first_line)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_tree(root: yaml.Node, at: Callable[[yaml.Mark | None], Location]
                ) -> list[Problem]:
    """Duplicate keys and types that are not plain data, as problems; a recursive alias,
    nesting deeper than MAX_DEPTH or more than MAX_NODES values once aliases are expanded
    raise at once. Each node is looked at once, however many aliases name it."""
    problems = []
    expanded: dict[int, int] = {}  # id of a node looked at -> its values, aliases expanded
    open_nodes: set[int] = set()  # the ids of the node being looked at and its parents
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, finished = stack.pop()
        key = id(node)
        if finished:
            open_nodes.discard(key)
            total = 1 + sum(expanded[id(child)] for child in _children(node))
            if total > MAX_NODES:
                raise ChainwalkError([Problem(at(node.start_mark), "YAML aliases expand "
                                              "too far", f"more than {MAX_NODES} values",
                                              "fewer aliases of large values")])
            expanded[key] = total
            continue
        if key in expanded:
            continue
        if key in open_nodes:
            raise ChainwalkError([Problem(at(node.start_mark), "recursive YAML alias", None,
                                          "an alias of a value that does not contain it")])
        if depth > MAX_DEPTH:
            raise ChainwalkError([Problem(at(node.start_mark), "YAML nested too deeply", None,
                                          f"at most {MAX_DEPTH} levels of lists and "
                                          "mappings")])
        if node.tag not in _PLAIN_TAGS:
            kind = node.tag.removeprefix("tag:yaml.org,2002:")
            shown = node.value if isinstance(node, yaml.ScalarNode) else None
            hint = " (quote it to make it a string)" if kind == "timestamp" else ""
            problems.append(Problem(at(node.start_mark), f"unsupported YAML type {kind!r}",
                                    shown, "a string, number, true/false, list or mapping"
                                    + hint))
            expanded[key] = 1
            continue
        if node.tag.endswith(":int") and len(node.value) > MAX_INT_DIGITS:
            problems.append(Problem(at(node.start_mark), "number too large",
                                    f"{len(node.value)} characters",
                                    f"at most {MAX_INT_DIGITS} digits"))
            expanded[key] = 1
            continue
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for k, _ in node.value:
                if isinstance(k, yaml.ScalarNode):
                    if k.value in seen:
                        problems.append(Problem(at(k.start_mark), "duplicate key", k.value,
                                                "each key once"))
                    seen.add(k.value)
        open_nodes.add(key)
        stack.append((node, depth, True))
        stack.extend((child, depth + 1, False) for child in reversed(_children(node)))
    return sorted(problems, key=lambda p: p.location)
