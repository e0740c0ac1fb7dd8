"""The Chinese edition as a reader meets it, in headless Chromium: Chinese queries find
the page that explains them first, the language switch lands on the same page in the
other language (after instant navigation too), and Chinese text is drawn with real
glyphs (no tofu boxes)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import Site

pytestmark = pytest.mark.browser


@pytest.fixture
def viewer(browser: Any, site: Site) -> Iterator[Any]:
    if site.name != "project":
        pytest.skip("the fixture site has no Chinese edition")
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    opened = context.new_page()
    outside: list[str] = []

    def route(r: Any) -> None:
        if urlsplit(r.request.url).hostname in ("127.0.0.1", "localhost"):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    opened.route("**/*", route)
    try:
        yield opened
    finally:
        context.close()
    assert outside == []


@pytest.mark.parametrize("query, page", [
    ("127.0.0.6", "/zh/istio-output/"),
    ("入站", "/zh/"),
    ("出站", "/zh/"),
    ("回环", "/zh/cases/localhost/"),
    ("透明代理", "/zh/versions/"),
])
def test_a_chinese_query_finds_the_explaining_page_first(site: Site, viewer: Any, query: str,
                                                         page: str) -> None:
    viewer.goto(site.url + "zh/")
    viewer.wait_for_load_state("load")
    viewer.click("input.md-search__input")
    viewer.keyboard.type(query)
    # Chromium inserts characters no key types (CJK) without key events, and Material
    # searches on keyup: a key press stands for the input method's last key.
    viewer.keyboard.press("End")
    viewer.wait_for_selector(".md-search-result__item", timeout=15000)
    results = viewer.eval_on_selector_all(
        ".md-search-result__item > a", "links => links.map(a => new URL(a.href).pathname)")
    assert results and results[0] == page, results[:5]


_SWITCH = """(lang) => {
  const link = document.querySelector(`a.md-select__link[hreflang="${lang}"]`);
  return link ? link.href : null;
}"""


def test_the_switch_lands_on_the_twin_after_instant_navigation(site: Site,
                                                               viewer: Any) -> None:
    viewer.goto(site.url + "zh/")
    viewer.wait_for_load_state("load")
    assert viewer.evaluate(_SWITCH, "en") == site.url
    viewer.evaluate("window.__stayed = true")
    viewer.locator('nav.md-nav a.md-nav__link[href$="rules/"]').first.click()
    viewer.wait_for_url(site.url + "zh/rules/")
    assert viewer.evaluate("window.__stayed") is True, "navigation reloaded the page"
    viewer.wait_for_function(
        "(url) => document.querySelector('a.md-select__link[hreflang=en]').href === url",
        arg=site.url + "rules/", timeout=10000)
    assert viewer.evaluate(_SWITCH, "zh") == site.url + "zh/rules/"
    viewer.evaluate("document.querySelector('a.md-select__link[hreflang=en]').click()")
    viewer.wait_for_url(site.url + "rules/")
    assert viewer.evaluate("document.documentElement.lang") == "en"
    assert viewer.evaluate(_SWITCH, "zh") == site.url + "zh/rules/"


# Each string drawn in the article's font on a canvas: its width, and its pixels (a
# font without the glyphs draws the same box for every character).
_GLYPHS = """(texts) => {
  const font = getComputedStyle(document.querySelector("article p")).font;
  return texts.map(text => {
    const canvas = document.createElement("canvas");
    canvas.width = 200; canvas.height = 60;
    const g = canvas.getContext("2d");
    g.font = font; g.fillStyle = "#000"; g.fillText(text, 4, 40);
    return { width: g.measureText(text).width,
             pixels: Array.from(g.getImageData(0, 0, 200, 60).data).join(",") };
  });
}"""


def test_chinese_text_has_glyphs(site: Site, viewer: Any) -> None:
    viewer.goto(site.url + "zh/")
    viewer.wait_for_load_state("load")
    width = viewer.evaluate("""() => {
      const range = document.createRange();
      const p = [...document.querySelectorAll("article p")]
        .find(e => /[\\u4e00-\\u9fff]/.test(e.textContent));
      range.selectNodeContents(p);
      return range.getBoundingClientRect().width;
    }""")
    assert width > 100
    entry, exit_, loop = viewer.evaluate(_GLYPHS, ["入", "出", "环"])
    assert entry["width"] > 0 and exit_["width"] > 0
    assert len({entry["pixels"], exit_["pixels"], loop["pixels"]}) == 3, "tofu boxes"
