"""Annotation files: prose about a ruleset's rules, in ``<stem>.annotations.yaml`` beside
it, read into :class:`~chainwalk.render.Annotations` and checked against the ruleset.

The file is keyed by table, chain and each rule's normal form (``rule.spec``: the line
``iptables-save`` prints, without ``-A CHAIN``)::

    nat:
      ISTIO_OUTPUT:
        "-s 127.0.0.6/32 -o lo -j RETURN":
          name: Envoy's inbound delivery
          purpose: Lets the sidecar's connections to the application through ...
          steps: [6, 7]            # the article figure's step numbers
          article: 1               # the rule's number in the article's table
          scenario: bookinfo/inbound
          zh:                      # the name and purpose on the Chinese pages
            name: Envoy 的入站交付
            purpose: 放行 sidecar 发往应用的连接……

A rule's ``name`` and ``purpose`` need their ``zh`` twins (and the other way round):
the Chinese pages show them, and a missing translation is a problem like any other.

A top-level ``article`` entry (not a table) says what the numbers refer to: ``rules``,
the article's chain (``classic nat ISTIO_OUTPUT``), and ``figure``, the scenarios whose
journeys ``steps`` number (``_annotation_claims`` checks both, and ``scenario``).

A key that no longer names a rule of its chain is drift: the rule changed or went
away, and the prose about it may no longer be true, so it is a problem (the build
fails). A key that names the rule in another spelling (option order, a missing
``-m tcp``) is a problem too, saying the normal form to write.
"""

from __future__ import annotations

from typing import Any

from .._errors import ChainwalkError, Location, Problem
from .._yaml import Doc, parse_yaml
from ..netfilter import Ruleset, parse_rule
from ..render import Annotation, Annotations, ArticleRefs

FIELDS = {"name": "a short name", "purpose": "a sentence or paragraph",
          "steps": "a list of the article figure's step numbers",
          "article": "the rule's number (or numbers) in the article's table",
          "scenario": "a scenario id such as bookinfo/inbound",
          "zh": "the name and purpose in Chinese: {name: ..., purpose: ...}"}
TEXTS = ("name", "purpose")  # the fields a language has its own text of


def _numbers(value: Any) -> tuple[int, ...] | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool)
                                       for v in value):
        return tuple(value)
    return None


# The file's top-level entry saying what the numbers refer to (not a table name).
REFS = "article"
REFS_FIELDS = {"rules": "the article's chain, as RULESET TABLE CHAIN (e.g. classic nat "
               "ISTIO_OUTPUT)",
               "figure": "the scenario ids whose journeys the article's figure numbers, "
               "e.g. [bookinfo/inbound, bookinfo/outbound]",
               "pod": "the pod the figure draws (default: where the first journey ends)"}


def parse_annotations(text: str, path: str) -> Annotations:
    """Read an annotation file; raises :class:`ChainwalkError` with every problem."""
    found = read_annotations(text, path)
    if found.problems:
        raise ChainwalkError(found.problems)
    return found


def read_annotations(text: str, path: str) -> Annotations:
    """Read an annotation file: what can be read, and every problem of its format in
    ``problems`` (a field in error drops that field only). Raises only when the file is
    not YAML or not a mapping."""
    doc = parse_yaml(text, path)
    problems: list[Problem] = []
    notes: dict[tuple[str, str, str], Annotation] = {}
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        raise ChainwalkError([Problem(doc.line(), "an annotation file is a mapping of tables",
                                      None, "nat: {CHAIN: {RULE: {name: ..., purpose: ...}}}")])
    refs = None
    for table, chains in data.items():
        if table == REFS:
            refs = _refs(doc, chains, problems)
            continue
        if not isinstance(chains, dict):
            problems.append(Problem(doc.line([table]), f"table {table}: expected a mapping of "
                                    "chains", None, "CHAIN: {RULE: {...}}"))
            continue
        for chain, rules in chains.items():
            if not isinstance(rules, dict):
                problems.append(Problem(doc.line([table, chain]), f"chain {chain}: expected a "
                                        "mapping of rules", None, '"RULE SPEC": {name: ...}'))
                continue
            for spec, body in rules.items():
                note = _annotation(doc, str(table), str(chain), str(spec), body, problems)
                if note is not None:
                    notes[(str(table), str(chain), str(spec))] = note
    return Annotations(path, notes, refs, tuple(problems))


def _refs(doc: Doc, body: Any, problems: list[Problem]) -> ArticleRefs | None:
    where = doc.line([REFS])
    if not isinstance(body, dict):
        problems.append(Problem(where, f"{REFS}: expected a mapping", None,
                                ", ".join(REFS_FIELDS)))
        return None
    rules = ("", "nat", "")
    figure: tuple[str, ...] = ()
    pod = ""
    for key, value in body.items():
        at = doc.line([REFS, key])
        if key == "rules":
            words = value.split() if isinstance(value, str) else []
            if len(words) == 2:
                words.insert(1, "nat")
            if len(words) != 3:
                problems.append(Problem(at, f"rules: expected {REFS_FIELDS['rules']}",
                                        repr(value)))
            else:
                rules = (words[0], words[1], words[2])
        elif key == "figure":
            if isinstance(value, list) and value and all(
                    isinstance(v, str) and "/" in v for v in value):
                figure = tuple(value)
            else:
                problems.append(Problem(at, f"figure: expected {REFS_FIELDS['figure']}",
                                        repr(value)))
        elif key == "pod":
            if isinstance(value, str) and value:
                pod = value
            else:
                problems.append(Problem(at, f"pod: expected {REFS_FIELDS['pod']}", repr(value)))
        else:
            problems.append(Problem(at, f"unknown field of {REFS}", str(key),
                                    "one of " + ", ".join(REFS_FIELDS)))
    return ArticleRefs(rules[0], rules[1], rules[2], figure, pod, where)


def _annotation(doc: Doc, table: str, chain: str, spec: str, body: Any,
                problems: list[Problem]) -> Annotation | None:
    where = doc.line([table, chain, spec])
    if not isinstance(body, dict):
        problems.append(Problem(where, f"rule {spec!r}: expected a mapping of fields", None,
                                ", ".join(FIELDS)))
        return None
    good: dict[str, Any] = {}
    fields: list[tuple[str, Location]] = []
    for key, value in body.items():
        at = doc.line([table, chain, spec, key])
        if key not in FIELDS:
            problems.append(Problem(at, "unknown annotation field", str(key),
                                    "one of " + ", ".join(FIELDS)))
        elif key in ("steps", "article"):
            if _numbers(value) is None:
                problems.append(Problem(at, f"{key}: expected {FIELDS[key]}", repr(value)))
            else:
                good[key] = _numbers(value)
                fields.append((key, at))
        elif key == "zh":
            if _translation(doc, [table, chain, spec], body, problems):
                good[key] = value
                fields.append((key, at))
        elif not isinstance(value, str) or not value.strip():
            problems.append(Problem(at, f"{key}: expected {FIELDS[key]}", repr(value)))
        else:
            good[key] = value
            fields.append((key, at))
    zh: dict[str, str] = good.get("zh", {})
    missing = [key for key in TEXTS if key in good and key not in zh]
    if missing and ("zh" in good or "zh" not in body):  # (a bad zh is reported already)
        problems.append(Problem(where, f"rule {spec!r} has no Chinese text of its "
                                + " and ".join(missing) + " (the /zh/ pages show it)",
                                None, "zh: {" + ", ".join(f"{k}: ..." for k in missing) + "}"))
    return Annotation(table, chain, spec, good.get("name", ""), good.get("purpose", ""),
                      good.get("steps", ()), good.get("article", ()), good.get("scenario", ""),
                      where, tuple(fields), zh.get("name", ""), zh.get("purpose", ""))


def _translation(doc: Doc, keys: list[str], body: dict[str, Any],
                 problems: list[Problem]) -> bool:
    """Whether the ``zh`` field gives exactly the texts (name, purpose) the rule has."""
    zh = body["zh"]
    at = doc.line([*keys, "zh"])
    if not isinstance(zh, dict):
        problems.append(Problem(at, f"zh: expected {FIELDS['zh']}", repr(zh)))
        return False
    ok = True
    for key, value in zh.items():
        if key not in TEXTS:
            problems.append(Problem(doc.line([*keys, "zh", key]), "unknown field of zh",
                                    str(key), "one of " + ", ".join(TEXTS)))
            ok = False
        elif key not in body:
            problems.append(Problem(doc.line([*keys, "zh", key]), f"zh gives a {key} the "
                                    "rule has no English text of", str(key),
                                    f"{key}: in English beside zh"))
            ok = False
        elif not isinstance(value, str) or not value.strip():
            problems.append(Problem(doc.line([*keys, "zh", key]), f"zh {key}: expected "
                                    "Chinese text", repr(value)))
            ok = False
    return ok


def _normal_form(ruleset: Ruleset, table: str, chain: str, text: str) -> str | None:
    """``text`` read as a rule of ``table chain``, in normal form (``None``: not a rule)."""
    found = ruleset.table(table)
    if found is None:
        return None
    try:
        return parse_rule(found, chain, text, ruleset.family).spec
    except ChainwalkError:
        return None


def drift(annotations: Annotations, ruleset: Ruleset) -> list[Problem]:
    """Every annotation whose rule is not (or not so spelled) in ``ruleset``."""
    problems = []
    for (table, chain, spec), note in sorted(annotations.notes.items()):
        where = note.location or Location(annotations.path, 0)
        found = ruleset.chain(table, chain)
        if found is None:
            problems.append(Problem(where, f"annotated chain {table} {chain} is not in "
                                    f"{ruleset.source}", chain, "a chain of the ruleset"))
            continue
        specs = [rule.spec for rule in found.rules]
        if spec in specs:
            continue
        normal = _normal_form(ruleset, table, chain, spec)
        if normal is not None and normal in specs:
            problems.append(Problem(where, "annotated rule is not in normal form", spec,
                                    repr(normal)))
            continue
        listing = "; ".join(f"{n}: {s}" for n, s in enumerate(specs, start=1))
        problems.append(Problem(where, f"annotated rule is no longer in {table} {chain} of "
                                f"{ruleset.source} (the rule changed or was removed)", spec,
                                f"one of its rules ({listing})" if specs else "a rule"))
    return problems
