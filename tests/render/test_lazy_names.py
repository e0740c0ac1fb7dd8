"""The renderers' names are imported from their modules on first use: every name the
package lists resolves to its module's object, and the list and the table agree."""

from __future__ import annotations

import sys

import pytest

import chainwalk.render as render


def test_every_listed_name_resolves_to_its_modules_object() -> None:
    for name in render.__all__:
        value = getattr(render, name)
        module = sys.modules[f"chainwalk.render.{render._MODULE_OF[name]}"]
        assert value is getattr(module, name)
    assert sorted(render.__all__) == sorted(render._MODULE_OF)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        render.no_such_name  # type: ignore[attr-defined]  # noqa: B018
