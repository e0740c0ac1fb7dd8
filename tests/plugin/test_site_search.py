"""The project's own site, as Material's search sees it: generated trace rows are not
in the index, and the page that explains an iptables option or address ranks first."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from plugin_helpers import ROOT, build


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    site = tmp_path_factory.mktemp("site")
    built = build(ROOT, site=site)
    assert built.ok, built.log
    loaded: dict[str, Any] = json.loads((site / "search" / "search_index.json").read_text())
    return loaded


def test_trace_rows_are_not_indexed(index: dict[str, Any]) -> None:
    # What only a trace row says: why a rule did not match (with reasons: true, on
    # several pages), or where a hop landed. (Prose may quote "no match: protocol tcp".)
    row = re.compile(r"no match: [^<|]*?(?:rule wants|is not in)|lands on envoy virtual")
    texts = [doc["text"] for doc in index["docs"]]
    assert texts
    assert not [t for t in texts if row.search(t)]


def test_words_split_at_option_punctuation_but_not_inside_addresses(
        index: dict[str, Any]) -> None:
    separator = re.compile(index["config"]["separator"])
    assert [w for w in separator.split("--uid-owner 1337") if w] == ["uid", "owner", "1337"]
    assert [w for w in separator.split("-s 127.0.0.6/32") if w] == ["s", "127.0.0.6", "32"]


@pytest.mark.parametrize("words", ["127.0.0.6", "--uid-owner 1337"])
def test_the_explaining_page_has_a_boosted_heading_for_it(index: dict[str, Any],
                                                          words: str) -> None:
    # Material ranks a section title's words 1000 times its text's, times the page's
    # boost: a heading of the rule-by-rule page, boosted, comes first (the browser test
    # tests/browser/test_reading.py runs the real search).
    headed = [doc for doc in index["docs"] if words in re.sub("<[^>]+>", "", doc["title"])]
    assert any(doc["location"].startswith("istio-output/#") for doc in headed), headed
    page = next(doc for doc in index["docs"] if doc["location"] == "istio-output/")
    # Among the English pages (an English page searches the English index; see
    # tests/plugin/test_i18n.py).
    assert page.get("boost", 1) > max(d.get("boost", 1) for d in index["docs"]
                                      if not d["location"].startswith(("istio-output/",
                                                                       "zh/")))
