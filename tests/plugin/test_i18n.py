"""The project's site in two languages: English at /, Chinese at /zh/, each page's
language switch landing on its twin, and the search index segmented for Chinese."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
from plugin_helpers import ROOT, Built, build, copy_fixture

# Folders of the built site that hold no pages.
NOT_PAGES = {"assets", "js", "search", "zh"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    site = tmp_path_factory.mktemp("site")
    done = build(ROOT, site=site)
    assert done.ok, done.log
    return done


def _pages(folder: Path) -> set[str]:
    """The page paths ("", "cases/dns/"...) under ``folder``, not in NOT_PAGES."""
    found = set()
    for html in folder.rglob("index.html"):
        rel = html.parent.relative_to(folder)
        if rel.parts and rel.parts[0] in NOT_PAGES:
            continue
        found.add("" if rel == Path(".") else rel.as_posix() + "/")
    return found


def test_every_page_has_a_chinese_twin_and_no_more(built: Built) -> None:
    english, chinese = _pages(built.site), _pages(built.site / "zh")
    assert len(english) > 15
    assert english == chinese


def test_the_pages_say_their_language(built: Built) -> None:
    assert '<html class="no-js" lang="en">' in built.page("rules/index.html")
    assert '<html class="no-js" lang="zh">' in built.page("zh/rules/index.html")


_SWITCH = re.compile(r'<a (?=[^>]*class="md-select__link")[^>]*>')


def _switch(html: str) -> dict[str, str]:
    links = {}
    for tag in _SWITCH.findall(html):
        lang = re.search(r'hreflang="([^"]+)"', tag)
        href = re.search(r'href="([^"]*)"', tag)
        assert lang and href, tag
        links[lang.group(1)] = href.group(1)
    return links


@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_switch_lands_on_the_same_page_in_the_other_language(built: Built,
                                                                  language: str) -> None:
    prefix = "" if language == "en" else "zh/"
    pages = sorted(_pages(built.site / prefix) if prefix else _pages(built.site))
    for page in pages:
        here = "http://site/" + prefix + page
        links = _switch(built.page(prefix + page + "index.html"))
        assert set(links) == {"en", "zh"}, page
        assert urljoin(here, links["en"]) == "http://site/" + page, (page, links)
        assert urljoin(here, links["zh"]) == "http://site/zh/" + page, (page, links)


@pytest.fixture(scope="module")
def index(built: Built) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((built.site / "search" / "search_index.json")
                                        .read_text(encoding="utf-8"))
    return loaded


def test_the_index_holds_both_languages_and_segments_chinese(index: dict[str, Any]) -> None:
    assert index["config"]["lang"] == ["en"]  # jieba cut the Chinese at build time
    chinese = [d for d in index["docs"] if d["location"].startswith("zh/")]
    english = [d for d in index["docs"] if not d["location"].startswith("zh/")]
    assert chinese and english
    # jieba's cuts are zero-width spaces, which the separator splits at.
    separator = re.compile(index["config"]["separator"])
    assert any("\u200b" in d["text"] for d in chinese)
    assert [w for w in separator.split("透明\u200b代理 127.0.0.6") if w] == [
        "透明", "代理", "127.0.0.6"]


def test_a_block_missing_from_a_translation_fails_the_build_naming_both_pages(
        tmp_path: Path) -> None:
    project = copy_fixture("ok", tmp_path)
    english = (project / "docs" / "more.md").read_text(encoding="utf-8")
    # The Chinese twin without the English page's first block.
    first = english.index("```chainwalk\nview: listing")
    end = english.index("```\n", first + 3) + 4
    chinese = english[:first] + english[end:]
    (project / "docs" / "more.zh.md").write_text(chinese, encoding="utf-8")
    for name in ("index", "plain"):
        source = project / "docs" / f"{name}.md"
        (project / "docs" / f"{name}.zh.md").write_text(source.read_text(encoding="utf-8"),
                                                        encoding="utf-8")
    done = build(project)
    assert not done.ok
    line = english[:first].count("\n") + 1
    assert (f"docs/more.md:{line}:1: this block is not in docs/more.zh.md (after line 1 "
            "there)") in done.log, done.log
    # The translated pages that carry every block build.
    (project / "docs" / "more.zh.md").write_text(english, encoding="utf-8")
    assert build(project).ok


def test_each_language_has_its_own_index(built: Built, index: dict[str, Any]) -> None:
    folder = built.site / "search"
    english = json.loads((folder / "search_index.en.json").read_text(encoding="utf-8"))
    chinese = json.loads((folder / "search_index.zh.json").read_text(encoding="utf-8"))
    assert english["config"] == chinese["config"] == index["config"]
    assert english["docs"] and chinese["docs"]
    assert all(not d["location"].startswith("zh/") for d in english["docs"])
    assert all(d["location"].startswith("zh/") for d in chinese["docs"])
    assert len(english["docs"]) + len(chinese["docs"]) == len(index["docs"])
    # Each page loads its language's index (Material asks for search_index.json).
    for page in ("index.html", "zh/index.html"):
        assert 'id="chainwalk-search-index"' in built.page(page)


# A space a browser shows between two Chinese characters (or their punctuation): a source
# line broken inside a Chinese sentence, or computed phrases joined with a space.
_CJK = "\u3000-\u303f\u4e00-\u9fff\uff00-\uffef"
_SPACED = re.compile(f"[{_CJK}]\\s+[{_CJK}]")
_CODE = re.compile(r"<(pre|code|script|style)\b.*?</\1>", re.S)


def test_no_space_between_chinese_characters(built: Built) -> None:
    found = []
    for page in sorted((built.site / "zh").rglob("index.html")):
        html = _CODE.sub("<code/>", page.read_text(encoding="utf-8"))
        found += [f"{page.relative_to(built.site)}: {m.group()!r} in {text.strip()[:60]!r}"
                  for text in re.findall(r">([^<]*)<", html) for m in _SPACED.finditer(text)]
    assert found == [], "\n".join(found)
