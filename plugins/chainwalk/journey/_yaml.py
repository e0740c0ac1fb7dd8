"""YAML that remembers where each value was written.

The scenario loader validates plain Python data (what JSON Schema understands), but
reports problems by file:line. So a file is composed into PyYAML's node tree once,
constructed into data from that tree, and the tree is kept to map a JSON path
(``("pods", "reviews", "processes", 0)``) back to the line of the value, or of the
key when asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from .._errors import ChainwalkError, Location, Problem

PathPart = str | int
# libyaml's parser when PyYAML was built with it (several times faster); same nodes, marks.
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Document:
    """A parsed YAML file: its data and the node tree it came from."""

    path: str
    data: Any
    root: yaml.Node | None

    def node(self, path: Sequence[PathPart]) -> tuple[yaml.Node | None, yaml.Node | None]:
        """The (key node, value node) at ``path``; the deepest existing pair if the path
        goes further than the file does."""
        key: yaml.Node | None = None
        node = self.root
        for part in path:
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                        key, node = k, v
                        break
                else:
                    return key, node
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if not 0 <= part < len(node.value):
                    return key, node
                key, node = None, node.value[part]
            else:
                return key, node
        return key, node

    def at(self, path: Sequence[PathPart], *, key: bool = False) -> Location:
        """Where the value at ``path`` starts (with ``key``: where its key starts)."""
        key_node, value_node = self.node(path)
        node = key_node if key and key_node is not None else value_node
        if node is None:
            return Location(self.path, 1)
        mark = node.start_mark
        return Location(self.path, mark.line + 1, mark.column + 1)


def load_document(path: str) -> Document:
    """Read and parse ``path``; a syntax error becomes a :class:`ChainwalkError` at its line."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ChainwalkError([Problem(Location(path, 0), f"cannot read: {e.strerror}")]) from None
    return parse_document(text, path)


def parse_document(text: str, path: str = "<input>") -> Document:
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        problems = _duplicate_keys(root, path) if root is not None else []
        if problems:
            raise ChainwalkError(problems)
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = Location(path, mark.line + 1, mark.column + 1) if mark else Location(path, 0)
        raise ChainwalkError([Problem(where, f"YAML syntax: {e.problem or e.context}")]) from None
    except yaml.YAMLError as e:
        raise ChainwalkError([Problem(Location(path, 0), f"YAML: {e}")]) from None
    finally:
        loader.dispose()
    return Document(path, data, root)


def _duplicate_keys(node: yaml.Node, path: str) -> list[Problem]:
    """YAML lets a later key silently win; a scenario file with one is a mistake."""
    problems: list[Problem] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, yaml.MappingNode):
            seen: set[str] = set()
            for k, v in current.value:
                if isinstance(k, yaml.ScalarNode):
                    if k.value in seen:
                        mark = k.start_mark
                        problems.append(Problem(Location(path, mark.line + 1, mark.column + 1),
                                                "duplicate key", k.value,
                                                "each key once per mapping"))
                    seen.add(k.value)
                stack.append(v)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
    return sorted(problems, key=lambda p: p.location)
