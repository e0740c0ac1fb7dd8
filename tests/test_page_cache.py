"""The on-disk cache of the last good build's pages: any input change is a miss, and
a missing, foreign or damaged cache file is no cache at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainwalk import _page_cache as cache
from chainwalk._page_cache import CachedBuild

PAGES = [("docs/index.md", "# Home\n"), ("docs/more.md", "# More\n")]
BUILT = CachedBuild({"index.md": ("# Home\n\nCHAINWALK-TABLE-0-END\n",
                                  {"CHAINWALK-TABLE-0-END": "<table>\n</table>"}),
                     "more.md": ("# More\n", {})}, ["rules/x.rules:3: a warning"])


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    (folder / "rulesets").mkdir(parents=True)
    (folder / "rulesets" / "pod.rules").write_text("*nat\nCOMMIT\n", encoding="utf-8")
    (folder / "scenarios").mkdir()
    (folder / "scenarios" / "shop.yaml").write_text("scenarios: []\n", encoding="utf-8")
    return folder


def test_the_key_is_stable_and_any_input_changes_it(rules: Path) -> None:
    key = cache.build_key(PAGES, rules)
    assert cache.build_key(list(PAGES), rules) == key
    assert cache.build_key([PAGES[0], ("docs/more.md", "# More!\n")], rules) != key
    assert cache.build_key(PAGES[:1], rules) != key
    (rules / "rulesets" / "pod.rules").write_text("*nat\n\nCOMMIT\n", encoding="utf-8")
    edited = cache.build_key(PAGES, rules)
    assert edited != key
    (rules / "scenarios" / "new.yaml").write_text("", encoding="utf-8")
    assert cache.build_key(PAGES, rules) != edited


def test_hidden_files_are_not_inputs(rules: Path) -> None:
    key = cache.build_key(PAGES, rules)
    (rules / "rulesets" / ".pod.rules.swp").write_text("editor state", encoding="utf-8")
    assert cache.build_key(PAGES, rules) == key


def test_a_stored_build_comes_back_under_its_key_only(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "pages.json"
    cache.save(path, "k1", BUILT)
    assert cache.load(path, "k1") == BUILT
    assert cache.load(path, "k2") is None
    cache.save(path, "k2", CachedBuild({}, []))
    assert cache.load(path, "k1") is None  # one entry: the last good build's
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


@pytest.mark.parametrize("content", ["", "{not json", "[]", '{"key": "k1"}',
                                     '{"key": "k1", "pages": {"a": 1}, "warnings": []}'])
def test_a_damaged_cache_is_no_cache(tmp_path: Path, content: str) -> None:
    path = tmp_path / "pages.json"
    path.write_text(content, encoding="utf-8")
    assert cache.load(path, "k1") is None


def test_no_cache_file_is_no_cache(tmp_path: Path) -> None:
    assert cache.load(tmp_path / "missing.json", "k1") is None
