"""The quick look before jsonschema (``surely_valid``): it passes the files that are
right, and never a value that jsonschema refuses."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainwalk._yaml import load_yaml
from chainwalk.journey._schema import scenario_schema, surely_valid

ROOT = Path(__file__).parents[2]
SCENARIO_FILES = sorted([*ROOT.glob("rules/scenarios/*.yaml"),
                         *ROOT.glob("tests/*/fixtures/*/rules/scenarios/*.yaml")])
SCHEMA = scenario_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
DOCUMENTS = [load_yaml(str(path)).data for path in SCENARIO_FILES]


def surely(value: Any, schema: Any = SCHEMA) -> bool:
    return surely_valid(value, schema, SCHEMA)


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_scenario_file_is_passed_without_jsonschema(path: Path) -> None:
    document = load_yaml(str(path)).data
    assert VALIDATOR.is_valid(document)
    assert surely(document)


def test_the_schema_uses_only_keywords_the_quick_look_knows() -> None:
    known = {"$schema", "$id", "$defs", "title", "description", "$ref", "type", "enum",
             "anyOf", "pattern", "minLength", "minimum", "maximum", "properties",
             "additionalProperties", "required", "propertyNames", "minProperties",
             "maxProperties", "items", "minItems"}
    used: set[str] = set()

    def walk(schema: Any) -> None:
        if isinstance(schema, dict):
            used.update(schema)
            for keyword, value in schema.items():
                if keyword in ("properties", "$defs"):
                    for sub in value.values():
                        walk(sub)
                elif keyword not in ("enum", "required"):
                    walk(value)
        elif isinstance(schema, list):
            for sub in schema:
                walk(sub)

    walk(SCHEMA)
    assert used <= known, used - known


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 70000) | st.floats(allow_nan=False)
    | st.sampled_from(["", "app", "10.0.0.1", "10.0.0.0/24", "rulesets/current.rules",
                       "tcp", "udp", "shop/app", "web:80", "delivered", "refused", "x y"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["title", "ruleset", "pods", "address", "processes", "uid", "ports",
                         "from", "to", "expect", "hops", "sidecar", "services", "vip",
                         "port", "endpoints", "scenarios", "odd"]), inner, max_size=3)
    | st.dictionaries(st.integers(0, 3), inner, max_size=2),
    max_leaves=8)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for key, sub in value.items():
            out.extend(_paths(sub, (*path, key)))
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            out.extend(_paths(sub, (*path, index)))
    return out


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(range(len(DOCUMENTS))), st.data(), JSON,
       st.sampled_from(["replace", "delete", "add"]))
def test_a_changed_file_is_never_passed_if_jsonschema_refuses_it(
        which: int, data: st.DataObject, new: Any, how: str) -> None:
    document = copy.deepcopy(DOCUMENTS[which])
    path = data.draw(st.sampled_from(_paths(document)))
    if not path:
        document = new
    else:
        parent = document
        for part in path[:-1]:
            parent = parent[part]
        if how == "delete":
            del parent[path[-1]]
        elif how == "add" and isinstance(parent, dict):
            parent[f"{path[-1]}-new" if isinstance(path[-1], str) else "odd"] = new
        else:
            parent[path[-1]] = new
    if surely(document):
        assert VALIDATOR.is_valid(document), json.dumps(document, default=str)[:400]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(SCHEMA["$defs"])), JSON)
def test_a_value_is_never_passed_if_jsonschema_refuses_it(name: str, value: Any) -> None:
    reference = {"$ref": f"#/$defs/{name}"}
    if surely(value, reference):
        assert jsonschema.Draft202012Validator(
            {"$defs": SCHEMA["$defs"], **reference}).is_valid(value), (name, value)
