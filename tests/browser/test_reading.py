"""Tables and search as a reader meets them, in headless Chromium: at 1440x900 no
table is wider than its column; at 390x844 a wide table scrolls inside its own box
(the page does not) with a shadow cue at its edge; Material's search finds the page
that explains an iptables option or address first."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Site

pytestmark = pytest.mark.browser

# Each generated table's scroll box (Material wraps every table in one) and its widths.
TABLES = """() => [...document.querySelectorAll("article table")].map(t => {
  const box = t.closest(".md-typeset__scrollwrap");
  const style = box && getComputedStyle(box);
  return { head: t.querySelector("th") ? t.querySelector("th").textContent : "",
           scroll: box ? box.scrollWidth : -1, client: box ? box.clientWidth : -1,
           overflow: style ? style.overflowX : "", cue: style ? style.backgroundImage : "" };
})"""


@pytest.fixture
def viewer(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    width, height = request.param
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        yield context.new_page()
    finally:
        context.close()


def _project(site: Site) -> None:
    if site.name != "project":
        pytest.skip("the fixture site has neither the project's stylesheet nor its pages")


def _tables(viewer: Any, site: Site, path: str) -> list[dict[str, Any]]:
    viewer.goto(site.url + path)
    viewer.wait_for_load_state("load")
    found: list[dict[str, Any]] = viewer.evaluate(TABLES)
    return found


@pytest.mark.parametrize("viewer", [(1440, 900)], indirect=True)
def test_no_table_is_wider_than_its_column_at_1440(site: Site, viewer: Any) -> None:
    _project(site)
    clipped, seen = [], 0
    for path in site.pages():
        for table in _tables(viewer, site, path):
            seen += 1
            assert table["scroll"] > 0, f"{path}: a table outside Material's scroll box"
            if table["scroll"] > table["client"] + 1:
                clipped.append((path, table["head"], table["scroll"], table["client"]))
    assert seen > 0
    assert not clipped


@pytest.mark.parametrize("viewer", [(390, 844)], indirect=True)
def test_wide_tables_scroll_in_their_own_box_at_390(site: Site, viewer: Any) -> None:
    _project(site)
    wide = 0
    for path in site.pages():
        tables = _tables(viewer, site, path)
        page_width = viewer.evaluate("() => document.documentElement.scrollWidth")
        assert page_width <= 390, f"{path} scrolls sideways as a whole ({page_width} px)"
        for table in tables:
            if table["scroll"] > table["client"] + 1:
                wide += 1
                assert table["overflow"] in ("auto", "scroll"), (path, table)
                assert table["cue"].count("gradient(") == 4, (path, table["cue"])
    assert wide > 0  # rule and trace tables are wider than a phone


@pytest.mark.parametrize("viewer", [(1440, 900)], indirect=True)
@pytest.mark.parametrize("query, heading", [
    ("--uid-owner 1337", "Rule 4: Envoy's outbound connections, by --uid-owner 1337"),
    ("127.0.0.6", "Rule 1: Envoy's inbound hand-off, from 127.0.0.6"),
])
def test_search_finds_the_explaining_page_first(site: Site, viewer: Any, query: str,
                                                heading: str) -> None:
    _project(site)
    viewer.goto(site.url)
    viewer.wait_for_load_state("load")
    viewer.click("input.md-search__input")
    viewer.keyboard.type(query)
    viewer.wait_for_selector(".md-search-result__item", timeout=15000)
    results = viewer.eval_on_selector_all(
        ".md-search-result__item > a",
        "links => links.map(a => [new URL(a.href).pathname,"
        " (a.querySelector('h1, h2') || {}).textContent || ''])")
    assert results[0][0] == "/istio-output/", results[:3]
    assert [r[1] for r in results[:2]][1] == heading, results[:3]
    # The box still shows what the reader typed.
    assert viewer.eval_on_selector(
        "input.md-search__input",
        "i => Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')"
        ".get.call(i)") == query
