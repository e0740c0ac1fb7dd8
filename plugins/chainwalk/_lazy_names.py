"""A package whose names are imported from their modules on first use (a module
``__getattr__``, PEP 562), so that importing the package loads none of those modules."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from importlib import import_module


def lazy_names(package: str, module_of: Mapping[str, str]) -> Callable[[str], object]:
    """The ``__getattr__`` of ``package``: a name of ``module_of`` is imported from its
    module (``package.MODULE``) when first asked for, then kept in the package."""

    def __getattr__(name: str) -> object:
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
