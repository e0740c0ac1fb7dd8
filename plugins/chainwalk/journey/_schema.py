"""Checks a scenario file's structure against ``scenario.schema.json``.

jsonschema reports a JSON path and a generic message; here each error becomes a
:class:`Problem` at the line the path points to, saying what was there and what was
expected (the schema's ``description`` of the value, written for people). An
unknown key points at the key itself, since that is what to fix.

Most files are right, and jsonschema (importing it, then walking the schema's $refs)
was a tenth of a cold ``mkdocs build``. So :func:`surely_valid` looks first: a plain
walk of the schema's keywords that answers True only when the file is certainly
valid, and False whenever it is not or cannot tell (a keyword, a type or a reference
it does not know). Only then is jsonschema imported, to decide and to word the errors.
A test holds the walk to never passing what jsonschema refuses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from .._errors import Problem
from .._yaml import Doc, PathPart

SCHEMA_FILE = "scenario.schema.json"


@cache
def scenario_schema() -> dict[str, Any]:
    """The JSON Schema of scenario files, as shipped with the package."""
    text = resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


if TYPE_CHECKING:
    import jsonschema


@cache
def _validator() -> jsonschema.Draft202012Validator:
    import jsonschema

    return jsonschema.Draft202012Validator(scenario_schema())


def schema_problems(document: Doc) -> list[Problem]:
    """Every structural problem of ``document``, in file order."""
    schema = scenario_schema()
    if surely_valid(document.data, schema, schema):
        return []
    problems: list[Problem] = []
    for error in _validator().iter_errors(document.data):
        problems.extend(_explain(document, error))
    unique = {(p.location, p.message, p.token, p.expected): p for p in problems}
    return sorted(unique.values(), key=lambda p: p.location)


# Keywords that only annotate: they never make a value invalid.
_ANNOTATIONS = frozenset({"$schema", "$id", "$defs", "title", "description", "default",
                          "examples", "$comment"})
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "object": (dict,), "array": (list,), "null": (type(None),)}


@cache
def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(text)


def surely_valid(value: Any, schema: Any, root: dict[str, Any]) -> bool:
    """True if ``value`` is valid against ``schema``; False if not, or if unsure."""
    if not isinstance(schema, dict):
        return schema is True
    for keyword, arg in schema.items():
        if keyword in _ANNOTATIONS:
            continue
        if not _keyword_holds(keyword, arg, value, schema, root):
            return False
    return True


def _keyword_holds(keyword: str, arg: Any, value: Any, schema: dict[str, Any],
                   root: dict[str, Any]) -> bool:
    """Whether ``value`` surely satisfies one keyword of ``schema`` (False: no, or unsure)."""
    # As in JSON Schema, a keyword for strings, numbers, objects or arrays holds for a
    # value of another type.
    if keyword == "$ref":
        name = arg.removeprefix("#/$defs/") if isinstance(arg, str) else ""
        target = root.get("$defs", {}).get(name) if name and "/" not in name else None
        return target is not None and surely_valid(value, target, root)
    if keyword == "type":
        # bool is an int to Python, never an integer or a number to JSON Schema.
        for name in [arg] if isinstance(arg, str) else arg:
            if isinstance(value, _TYPES.get(name, ())) and not (
                    isinstance(value, bool) and name in ("integer", "number")):
                return True
        return False
    if keyword == "enum":
        return any(type(value) is type(choice) and value == choice for choice in arg)
    if keyword == "anyOf":
        return any(surely_valid(value, branch, root) for branch in arg)
    if keyword in ("pattern", "minLength"):
        if not isinstance(value, str):
            return True
        return (_pattern(arg).search(value) is not None if keyword == "pattern"
                else len(value) >= arg)
    if keyword in ("minimum", "maximum"):
        if not isinstance(value, int | float) or isinstance(value, bool):
            return True
        return bool(value >= arg if keyword == "minimum" else value <= arg)
    if keyword in ("properties", "additionalProperties", "required", "propertyNames",
                   "minProperties", "maxProperties"):
        if not isinstance(value, dict):
            return True
        if not all(isinstance(k, str) for k in value):
            return False  # JSON has no such object: let jsonschema say what it makes of it
        if keyword == "properties":  # loops, not all(): the walk's most frequent step
            for k, sub in arg.items():
                if k in value and not surely_valid(value[k], sub, root):
                    return False
            return True
        if keyword == "additionalProperties":
            if "patternProperties" in schema:
                return False
            others = [k for k in value if k not in schema.get("properties", {})]
            return not others if arg is False else all(
                surely_valid(value[k], arg, root) for k in others)
        if keyword == "required":
            return all(k in value for k in arg)
        if keyword == "propertyNames":
            return all(surely_valid(k, arg, root) for k in value)
        return bool(len(value) >= arg if keyword == "minProperties" else len(value) <= arg)
    if keyword in ("items", "minItems"):
        if not isinstance(value, list):
            return True
        if keyword == "items" and not isinstance(arg, dict):
            return False
        return (all(surely_valid(item, arg, root) for item in value) if keyword == "items"
                else len(value) >= arg)
    return False  # a keyword this walk does not know


def _describe(schema: Any) -> str | None:
    if isinstance(schema, dict):
        text = schema.get("description")
        if isinstance(text, str):
            return text
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _describe(scenario_schema()["$defs"].get(ref.removeprefix("#/$defs/")))
    return None


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return json.dumps(value) if not isinstance(value, str) else value


def _name(path: Iterable[PathPart]) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "the file"


_SHAPE_ERRORS = ("type", "enum", "const", "pattern")


def _fitting_alternative(
        error: jsonschema.ValidationError) -> list[jsonschema.ValidationError] | None:
    branches: dict[object, list[jsonschema.ValidationError]] = {}
    for sub in error.context or ():
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    fitting = [errors for errors in branches.values()
               if not any(e.validator in _SHAPE_ERRORS and not e.relative_path for e in errors)]
    return fitting[0] if len(fitting) == 1 else None


def _explain(document: Doc, error: jsonschema.ValidationError,
             outer: str | None = None) -> list[Problem]:
    """``outer``: what the enclosing alternative expects, for a branch without words."""
    path: list[PathPart] = list(error.absolute_path)
    where = document.at(path)
    name = _name(path)
    schema: dict[str, Any] = error.schema if isinstance(error.schema, dict) else {}
    expected = _describe(schema) or outer
    kind = error.validator
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(schema.get("properties", {}))
        extra = [k for k in error.instance if k not in allowed]
        choice = ", ".join(allowed) if allowed else None
        return [Problem(document.at([*path, k], key=True), f"{name}: unknown key", str(k),
                        f"one of {choice}" if choice else expected) for k in extra]
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else str(error.message)
        # At the mapping's own key: for a block mapping that is the line that names it.
        return [Problem(document.at(path, key=True), f"{name}: missing key {missing!r}", None,
                        expected)]
    if "propertyNames" in error.absolute_schema_path:
        # jsonschema reports a bad key at its mapping; the key's own line is more useful.
        bad = error.instance if isinstance(error.instance, str) else None
        return [Problem(document.at([*path, bad] if bad else path, key=True),
                        f"{name}: bad name", bad, expected)]
    if kind in ("minProperties", "maxProperties") and schema.get("maxProperties") == 1:
        keys = error.instance if isinstance(error.instance, dict) else {}
        return [Problem(where, f"{name}: exactly one key", ", ".join(map(str, keys)),
                        expected)]
    if kind in ("minProperties", "minItems"):
        return [Problem(where, f"{name}: empty", None, expected)]
    if kind in ("anyOf", "oneOf"):
        # When exactly one alternative fits the value's shape (a mapping where a
        # mapping is allowed), its own errors say precisely what is wrong; otherwise
        # the alternatives' errors are noise and one line listing what is allowed helps.
        fitting = _fitting_alternative(error)
        if fitting is not None:
            return [p for e in fitting for p in _explain(document, e, expected)]
        return [Problem(where, f"{name}: not allowed here", _shown(error.instance), expected)]
    if kind in ("minimum", "maximum", "type", "enum", "pattern", "minLength", "const"):
        return [Problem(where, f"{name}: wrong value", _shown(error.instance),
                        expected or error.message)]
    return [Problem(where, f"{name}: {error.message}", None, expected)]
