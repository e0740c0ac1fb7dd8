"""An item found by its name among others (a match's options, a pod's processes...)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar


class Named(Protocol):
    @property
    def name(self) -> str: ...


_Item = TypeVar("_Item", bound=Named)


def first_named(items: Iterable[_Item], name: str) -> _Item | None:
    """The first of ``items`` called ``name`` (``None``: none is)."""
    for item in items:
        if item.name == name:
            return item
    return None
