"""A page and its translation carry the same blocks.

``docs/PAGE.zh.md`` is the Chinese twin of ``docs/PAGE.md`` (mkdocs-static-i18n's suffix
layout). Both must show the same ```` ```chainwalk ```` blocks (the same views of the
same scenarios, rulesets and claims) in the same order, so that a rule change that
breaks what a block shows breaks both editions, and neither drifts from the other in
substance. A block one side lacks is a problem naming both files and lines: where the
block is, and where its twin would go. The same holds for the inline claims
(`` `chainwalk: KIND ARGUMENT in RULESET ...` ``): the same claims in the same order,
whatever text each shows. Once a site has a translated page, a page without its twin is
a problem too.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from .._errors import ChainwalkError, Location, Problem
from .._yaml import parse_yaml
from ..render import LANGUAGES, Block, find_blocks, find_inline_claims, page_language


def twin_of(page: str, language: str) -> str:
    """The path of ``page``'s twin in ``language`` (``docs/a.md`` -> ``docs/a.zh.md``)."""
    base = page.removesuffix(".md")
    if page_language(page) != "en":
        base = base.rpartition(".")[0]
    return f"{base}.md" if language == "en" else f"{base}.{language}.md"


def _key(block: Block) -> str:
    """What a block shows, whatever its spelling (key order, quoting, indentation)."""
    try:
        data = parse_yaml(block.body, block.page, block.line + 1).data
    except ChainwalkError:
        return block.body.strip()
    if isinstance(data, dict):
        return repr(sorted((str(k), repr(v)) for k, v in data.items()))
    return block.body.strip()


def _describe(block: Block) -> str:
    return " ".join(block.body.split())


def twin_problems(pages: Sequence[tuple[str, str]]) -> list[Problem]:
    """Problems where a page (``(path, text)``) and its twin differ in their blocks."""
    texts = dict(pages)
    translated = [page for page in texts if page_language(page) != "en"]
    if not translated:
        return []
    problems: list[Problem] = []
    for page in sorted(texts):
        if page_language(page) != "en":
            if twin_of(page, "en") not in texts:
                problems.append(Problem(Location(page, 1), "a translated page without its "
                                        "English page", None, twin_of(page, "en")))
            continue
        for language in LANGUAGES[1:]:
            twin = twin_of(page, language)
            if twin not in texts:
                problems.append(Problem(Location(page, 1), f"the page has no {language} "
                                        "twin", None, f"{twin}, with the same blocks"))
                continue
            problems.extend(_compare(page, texts[page], twin, texts[twin]))
    return problems


def _compare(page: str, text: str, twin: str, twin_text: str) -> list[Problem]:
    ours, _ = find_blocks(text, page)
    theirs, _ = find_blocks(twin_text, twin)
    problems = _differ(page, twin, "block", [(_key(b), b.where, _describe(b)) for b in ours],
                       [(_key(b), b.where, _describe(b)) for b in theirs])
    mine = [(_claim(c.body), c.where(page)) for c in find_inline_claims(text)]
    others = [(_claim(c.body), c.where(twin)) for c in find_inline_claims(twin_text)]
    return problems + _differ(page, twin, "inline claim",
                              [(key, at, f"`chainwalk: {key}`") for key, at in mine],
                              [(key, at, f"`chainwalk: {key}`") for key, at in others])


def _claim(body: str) -> str:
    """What an inline claim states (its kind, argument, ruleset and description), without
    the text it shows, which is in the page's language."""
    return " ".join(body.partition("|")[0].split())


Item = tuple[str, Location, str]  # what it states, where it is, how to show it


def _differ(page: str, twin: str, what: str, ours: list[Item],
            theirs: list[Item]) -> list[Problem]:
    """The items (blocks, or inline claims) one side has in a place the other lacks."""
    matcher = difflib.SequenceMatcher(None, [key for key, _, _ in ours],
                                      [key for key, _, _ in theirs], autojunk=False)
    problems = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        # Where the missing items would go on the other side: after the item before.
        for _, where, shown in ours[i1:i2]:
            at = theirs[j1 - 1][1].line if j1 > 0 else 1
            problems.append(Problem(where, f"this {what} is not in {twin} (after line "
                                    f"{at} there)", shown, f"the same {what} in {twin}"))
        for _, where, shown in theirs[j1:j2]:
            at = ours[i1 - 1][1].line if i1 > 0 else 1
            problems.append(Problem(where, f"this {what} is not in {page} (after line "
                                    f"{at} there)", shown, f"the same {what} in {page}"))
    return problems
