"""The on-disk cache of the last good build's pages: any input change is a miss, and
a missing, foreign or damaged cache file is no cache at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainwalk import _page_cache as cache
from chainwalk._page_cache import CachedBuild
from chainwalk._versions import version

PAGES = [("docs/index.md", "# Home\n"), ("docs/more.md", "# More\n")]


def built(inputs: dict[str, str | None]) -> CachedBuild:
    return CachedBuild({"index.md": ("# Home\n\nCHAINWALK-TABLE-0-END\n",
                                     {"CHAINWALK-TABLE-0-END": "<table>\n</table>"}),
                        "more.md": ("# More\n", {})}, ["rules/x.rules:3: a warning"], inputs)


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    (folder / "rulesets").mkdir(parents=True)
    (folder / "rulesets" / "pod.rules").write_text("*nat\nCOMMIT\n", encoding="utf-8")
    return folder


def read(*paths: Path) -> dict[str, str | None]:
    """What a build that read ``paths`` records: each one's version."""
    return {str(p): version(str(p)) for p in paths}


def test_the_key_is_stable_and_each_of_its_inputs_changes_it(rules: Path) -> None:
    key = cache.build_key(PAGES, rules)
    assert cache.build_key(list(PAGES), rules) == key
    assert cache.build_key([PAGES[0], ("docs/more.md", "# More!\n")], rules) != key
    assert cache.build_key(PAGES[:1], rules) != key
    assert cache.build_key(PAGES, rules.parent) != key


def test_an_input_that_changed_is_a_miss(rules: Path, tmp_path: Path) -> None:
    path = tmp_path / "cache" / "pages.json"
    ruleset = rules / "rulesets" / "pod.rules"
    outside = tmp_path / "elsewhere.rules"  # a scenario may name a ruleset out there
    outside.write_text("*nat\nCOMMIT\n", encoding="utf-8")
    absent = rules / "scenarios"
    cache.save(path, "k1", built(read(ruleset, outside, rules / "rulesets", absent)))
    assert cache.load(path, "k1") is not None
    (rules / "rulesets" / ".pod.rules.swp").write_text("editor", encoding="utf-8")
    assert cache.load(path, "k1") is None  # the folder's listing is an input too
    (rules / "rulesets" / ".pod.rules.swp").unlink()
    assert cache.load(path, "k1") is not None
    for change in (lambda: outside.write_text("*nat\n\nCOMMIT\n", encoding="utf-8"),
                   lambda: ruleset.write_text("*nat\n\nCOMMIT\n", encoding="utf-8"),
                   lambda: absent.mkdir()):
        change()
        assert cache.load(path, "k1") is None
        cache.save(path, "k1", built(read(ruleset, outside, rules / "rulesets", absent)))
        assert cache.load(path, "k1") is not None


def test_a_file_no_build_read_is_not_an_input(rules: Path, tmp_path: Path) -> None:
    path = tmp_path / "pages.json"
    cache.save(path, "k1", built(read(rules / "rulesets" / "pod.rules")))
    (rules / "notes.txt").write_text("not read", encoding="utf-8")
    assert cache.load(path, "k1") is not None


def test_a_stored_build_comes_back_under_its_key_only(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "pages.json"
    stored = built({})
    cache.save(path, "k1", stored)
    assert cache.load(path, "k1") == stored
    assert cache.load(path, "k2") is None
    cache.save(path, "k2", CachedBuild({}, [], {}))
    assert cache.load(path, "k1") is None  # one entry: the last good build's
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


@pytest.mark.parametrize("content", ["", "{not json", "[]", '{"key": "k1"}',
                                     '{"key": "k1", "pages": {}, "warnings": []}',
                                     '{"key": "k1", "pages": {"a": 1}, "warnings": [], '
                                     '"inputs": {}}'])
def test_a_damaged_cache_is_no_cache(tmp_path: Path, content: str) -> None:
    path = tmp_path / "pages.json"
    path.write_text(content, encoding="utf-8")
    assert cache.load(path, "k1") is None


def test_no_cache_file_is_no_cache(tmp_path: Path) -> None:
    assert cache.load(tmp_path / "missing.json", "k1") is None
