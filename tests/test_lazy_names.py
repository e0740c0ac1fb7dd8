"""The packages whose names are imported from their modules on first use: importing one
loads none of its modules, every name it lists resolves to its module's object, the list
and the table agree, and an unknown name is an AttributeError."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PACKAGES = ("chainwalk.netfilter", "chainwalk.render")


@pytest.mark.parametrize("name", PACKAGES)
def test_importing_the_package_loads_none_of_its_modules(name: str) -> None:
    code = f"import sys, {name}; print(sorted(m for m in sys.modules if m.startswith('{name}.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out == "[]\n"


@pytest.mark.parametrize("name", PACKAGES)
def test_every_listed_name_resolves_to_its_modules_object(name: str) -> None:
    package = importlib.import_module(name)
    for listed in package.__all__:
        value = getattr(package, listed)
        module = sys.modules[f"{name}.{package._MODULE_OF[listed]}"]
        assert value is getattr(module, listed)
        assert vars(package)[listed] is value  # kept: asked again, no second import
    assert sorted(package.__all__) == sorted(package._MODULE_OF)


@pytest.mark.parametrize("name", PACKAGES)
def test_an_unknown_name_is_an_attribute_error(name: str) -> None:
    package = importlib.import_module(name)
    with pytest.raises(AttributeError, match=rf"module '{name}' has no attribute 'no_such_name'"):
        package.no_such_name  # noqa: B018
