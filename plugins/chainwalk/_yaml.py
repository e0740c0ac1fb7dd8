"""YAML that remembers lines, for every YAML input chainwalk reads (scenario files, a
page's blocks, annotation files): problems are reported at the line of the key or
value that is wrong, and a duplicated key is a problem rather than a silent overwrite.

A text is composed into PyYAML's node tree once and constructed into plain data
from that tree; the tree is kept to map a path of keys and indexes
(``("pods", "reviews", "processes", 0)``) back to a file position.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from ._errors import ChainwalkError, Location, Problem

PathPart = str | int

# libyaml's parser when PyYAML was built with it (several times faster), else Python's.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Doc:
    """Parsed YAML: its data, and the node tree it was built from (``None``: empty)."""

    # A plain class: a dataclass costs milliseconds to create at import.
    __slots__ = ("data", "first_line", "path", "root")

    def __init__(self, path: str, data: Any, root: yaml.Node | None,
                 first_line: int = 1) -> None:
        self.path = path
        self.data = data
        self.root = root
        self.first_line = first_line  # the file line of the text's first line

    def line(self, keys: Sequence[str | int] = (), *, key: bool = True) -> Location:
        """Where the entry at ``keys`` starts (its key, or with ``key=False`` its value)."""
        node, found = self.root, self.root
        for part in keys:
            if isinstance(node, yaml.MappingNode):
                pair = next(((k, v) for k, v in node.value if k.value == str(part)), None)
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
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ChainwalkError([Problem(Location(path, 0), f"cannot read: {e.strerror}")]) from None
    return parse_yaml(text, path)


def parse_yaml(text: str, path: str, first_line: int = 1, column: int = 0) -> Doc:
    """Parse ``text`` (that starts at ``first_line`` of ``path``, indented by ``column``).

    Raises :class:`ChainwalkError` for a syntax error or a duplicated key.
    """
    try:
        return _parse(text, path, first_line, column, _LOADER)
    except ChainwalkError:
        if _LOADER is yaml.SafeLoader:
            raise
    # Python's parser says where a syntax error is more precisely than libyaml's.
    return _parse(text, path, first_line, column, yaml.SafeLoader)


def _parse(text: str, path: str, first_line: int, column: int,
           loader_class: type[yaml.SafeLoader]) -> Doc:
    loader = loader_class(text)
    try:
        root = loader.get_single_node()
        problems = _duplicates(root, path, first_line, column) if root is not None else []
        if problems:
            raise ChainwalkError(problems)
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = (Location(path, first_line + mark.line, mark.column + 1 + column) if mark
                 else Location(path, first_line))
        raise ChainwalkError([Problem(where, f"invalid YAML: {e.problem or e.context}")]
                             ) from None
    except yaml.YAMLError as e:
        raise ChainwalkError([Problem(Location(path, first_line), f"invalid YAML: {e}")]
                             ) from None
    finally:
        loader.dispose()
    return Doc(path, data, root, first_line)


def _duplicates(root: yaml.Node, path: str, first_line: int, column: int) -> list[Problem]:
    problems = []
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode):
                    if k.value in seen:
                        mark = k.start_mark
                        problems.append(Problem(
                            Location(path, first_line + mark.line, mark.column + 1 + column),
                            "duplicate key", k.value, "each key once"))
                    seen.add(k.value)
                stack.append(v)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return sorted(problems, key=lambda p: p.location)
