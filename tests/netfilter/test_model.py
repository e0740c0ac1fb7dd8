"""The model's builders: an object filled through a builder is the object the frozen
dataclass itself makes, and a builder refuses fields that do not match its class."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from chainwalk._errors import Location
from chainwalk.netfilter import _parser
from chainwalk.netfilter._model import Chain, Match, Option, Rule, Target, builder


def _fill(cls: type, **values: object) -> object:
    made = builder(cls, tuple(values))()
    for name, value in values.items():
        setattr(made, name, value)
    made.__class__ = cls
    return made


@pytest.mark.parametrize("values", [
    {"name": "dport", "values": ("15008",), "negated": True},
    {"name": "comment", "values": (), "negated": False},
])
def test_a_built_object_is_the_object_the_class_makes(values: dict[str, object]) -> None:
    built = _fill(Option, **values)
    made = Option(**values)  # type: ignore[arg-type]
    assert type(built) is Option
    assert built == made and hash(built) == hash(made) and repr(built) == repr(made)
    assert pickle.loads(pickle.dumps(built)) == made
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.name = "sport"  # type: ignore[attr-defined]


def test_a_class_without_slots_keeps_its_dict_and_cached_properties() -> None:
    match = Match("", (Option("protocol", ("tcp",)),))
    target = Target("ACCEPT")
    built = _fill(Rule, matches=(match,), target=target, location=Location("f", 3, 4),
                  counters=None)
    made = Rule((match,), target, Location("f", 3, 4))
    assert built == made and type(built) is Rule
    assert built.spec == made.spec == "-p tcp -j ACCEPT"  # type: ignore[attr-defined]
    assert built.location == Location("f", 3, 4)  # type: ignore[attr-defined]
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.target = None  # type: ignore[attr-defined]


@pytest.mark.parametrize(("cls", "names"), [
    (Option, ("name", "values")),  # one left out: it would stay unset
    (Option, ("name", "negated", "values")),  # another order than the slots'
    (Chain, ("name", "policy", "rules", "location", "counters", "index")),
])
def test_a_builder_refuses_fields_its_class_does_not_have(cls: type,
                                                         names: tuple[str, ...]) -> None:
    with pytest.raises(TypeError, match="fields changed"):
        builder(cls, names)


def test_the_parser_makes_the_objects_the_classes_make() -> None:
    location = Location("f.rules", 7, 4)
    option = Option("dport", ("80",), False)
    match = Match("tcp", (option,))
    target = Target("KUBE-SVC-X", (), False, True)
    assert _parser._option("dport", ("80",), False) == option
    assert _parser._match("tcp", (option,)) == match
    assert _parser._target("KUBE-SVC-X", (), False, True) == target
    assert _parser._location("f.rules", 7, 4) == location
    rule = _parser._rule((match,), target, location, (1, 2))
    assert rule == Rule((match,), target, location, (1, 2))
    assert (rule.location, rule.counters) == (location, (1, 2))
    for made, field in ((_parser._option("a", (), True), "name"),
                        (_parser._location("f", 1, 1), "line"), (rule, "counters")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(made, field, None)
