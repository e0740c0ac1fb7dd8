"""Annotations: what the site says about a ruleset's rules (names, purposes, the article's
step numbers), keyed by table, chain and each rule's normal form (``rule.spec``). The
rules view shows them; ``chainwalk.project`` reads them from ``<stem>.annotations.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._errors import Location, Problem


@dataclass(frozen=True)
class Annotation:
    """What the site says about one rule."""

    table: str
    chain: str
    spec: str
    name: str = ""
    purpose: str = ""
    steps: tuple[int, ...] = ()
    article: tuple[int, ...] = ()
    scenario: str = ""
    location: Location | None = None
    # Where each field's key is, for messages about what the field claims.
    fields: tuple[tuple[str, Location], ...] = ()
    # The name and purpose in Chinese (the file's ``zh`` field), for the /zh/ pages.
    zh_name: str = ""
    zh_purpose: str = ""

    def text(self, language: str) -> tuple[str, str]:
        """The name and purpose in ``language`` ("en" or "zh")."""
        return (self.zh_name, self.zh_purpose) if language == "zh" else (self.name,
                                                                          self.purpose)

    def where(self, name: str) -> Location | None:
        """The location of field ``name`` (else of the annotation)."""
        for field_name, location in self.fields:
            if field_name == name:
                return location
        return self.location


@dataclass(frozen=True)
class ArticleRefs:
    """What the numbers of an annotation file refer to (its top-level ``article`` entry):
    ``article: N`` names rule N of ``ruleset``'s ``table`` ``chain``; ``steps`` number the
    moves, inside ``pod`` (default: the pod they share), of the journeys of the
    ``figure`` scenarios."""

    ruleset: str = ""
    table: str = "nat"
    chain: str = ""
    figure: tuple[str, ...] = ()
    pod: str = ""  # the figure's pod (default: where the first journey ends)
    location: Location | None = None


@dataclass(frozen=True)
class Annotations:
    """The annotations of one ruleset, by (table, chain, spec)."""

    path: str
    notes: dict[tuple[str, str, str], Annotation]
    refs: ArticleRefs | None = None
    # What is wrong with the file's format (the notes hold what could be read).
    problems: tuple[Problem, ...] = ()

    def get(self, table: str, chain: str, spec: str) -> Annotation | None:
        return self.notes.get((table, chain, spec))

    def in_chain(self, table: str, chain: str) -> list[Annotation]:
        return [a for (t, c, _), a in self.notes.items() if (t, c) == (table, chain)]


EMPTY = Annotations("", {})
