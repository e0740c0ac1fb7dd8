"""Every page of the built sites in headless Chromium: each diagram becomes an SVG,
nothing logs an error, no request leaves 127.0.0.1, and no text from a file runs as
code. Screenshots go to tests/artifacts/ for a person to look at."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import ARTIFACTS, Site

pytestmark = pytest.mark.browser

# Material renders a Mermaid diagram into a closed shadow root; open them all.
OPEN_SHADOW_ROOTS = """(() => {
  const attach = Element.prototype.attachShadow;
  Element.prototype.attachShadow = function (init) {
    return attach.call(this, Object.assign({}, init, { mode: "open" }));
  };
})();"""
RENDERED = """() => [...document.querySelectorAll("div.mermaid")].map(d => {
  const svg = d.shadowRoot && d.shadowRoot.querySelector("svg");
  return svg ? { role: svg.getAttribute("aria-roledescription"),
                 numbers: svg.querySelectorAll(".sequenceNumber").length } : null;
})"""


@dataclass
class Watch:
    """What a page did that it should not: errors, and requests to other hosts."""

    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[tuple[Any, Watch]]:
    scheme = getattr(request, "param", "light")
    context = browser.new_context(viewport={"width": 1400, "height": 1000},
                                  color_scheme=scheme)
    opened = context.new_page()
    opened.add_init_script(OPEN_SHADOW_ROOTS)
    watch = Watch()
    opened.on("console", lambda m: watch.errors.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda e: watch.errors.append(str(e)))

    def route(r: Any) -> None:
        host = urlsplit(r.request.url).hostname
        if host in ("127.0.0.1", "localhost"):
            r.continue_()
        else:
            watch.outside.append(r.request.url)
            r.abort()

    opened.route("**/*", route)
    try:
        yield opened, watch
    finally:
        context.close()


def wait_for_diagrams(opened: Any, count: int) -> list[dict[str, Any]]:
    opened.wait_for_function(f"""() => {{
      const all = [...document.querySelectorAll("div.mermaid")];
      return all.length === {count} && all.every(d => d.shadowRoot &&
                                                   d.shadowRoot.querySelector("svg"));
    }}""", timeout=60_000)
    return list(opened.evaluate(RENDERED))


def shot(opened: Any, site: Site, name: str) -> None:
    folder = ARTIFACTS / site.name
    folder.mkdir(parents=True, exist_ok=True)
    opened.screenshot(path=str(folder / f"{re.sub(r'[^a-z0-9]+', '-', name) or 'home'}.png"),
                      full_page=True)


def test_every_diagram_on_every_page_renders(site: Site, page: tuple[Any, Watch]) -> None:
    opened, watch = page
    pages = site.pages()
    assert len(pages) >= 3
    total = 0
    for path in pages:
        expected = site.diagrams(path)
        opened.goto(site.url + path, wait_until="load")
        rendered = wait_for_diagrams(opened, expected)
        assert all(r["role"] in ("sequence", "flowchart-v2") for r in rendered), (path, rendered)
        for r in rendered:
            if r["role"] == "sequence":
                assert r["numbers"] > 0, f"{path}: a sequence diagram without autonumber"
        assert opened.locator("pre.mermaid").count() == 0
        assert opened.evaluate("typeof window.__pwned") == "undefined"
        shot(opened, site, path)
        total += expected
    assert total > 0
    assert watch.errors == []
    assert watch.outside == []


@pytest.mark.parametrize("page", ["dark"], indirect=True)
def test_dark_mode_arrowheads_are_light(site: Site, page: tuple[Any, Watch]) -> None:
    opened, watch = page
    if site.name == "fixture":
        pytest.skip("the fixture has no dark palette; the project's site has")
    path = next(p for p in site.pages() if site.diagrams(p) and
                "sequenceDiagram" in (site.folder / p / "index.html").read_text("utf-8"))
    opened.goto(site.url + path)
    wait_for_diagrams(opened, site.diagrams(path))
    assert opened.evaluate("document.body.getAttribute('data-md-color-scheme')") == "slate"
    fills = opened.evaluate("""() => [...document.querySelectorAll("div.mermaid")]
      .flatMap(d => [...d.shadowRoot.querySelectorAll("marker[id$='-arrowhead'] path")])
      .map(p => getComputedStyle(p).fill)""")
    assert fills, "no arrowhead markers found"
    for fill in fills:
        r, g, b = (int(x) for x in re.findall(r"\d+", fill)[:3])
        assert (r + g + b) / 3 > 128, f"arrowhead {fill} is dark on the dark palette"
    shot(opened, site, f"dark-{path}")
    assert watch.errors == [] and watch.outside == []


def test_instant_navigation_renders_diagrams(site: Site, page: tuple[Any, Watch]) -> None:
    """From a page without diagrams to one with them, without a full page load."""
    opened, watch = page
    start = next(p for p in site.pages() if site.diagrams(p) == 0)
    target = next(p for p in site.pages() if site.diagrams(p) > 0)
    opened.goto(site.url + start)
    opened.evaluate("window.__stayed = true")
    found = opened.evaluate("""(url) => {
      const link = [...document.querySelectorAll("nav.md-nav a.md-nav__link")]
        .find(a => a.href === url);
      if (link) link.setAttribute("data-cw-target", "");
      return Boolean(link);
    }""", site.url + target)
    assert found, f"no navigation link to {target} on {start}"
    opened.locator("[data-cw-target]").first.click()
    opened.wait_for_url(site.url + target)
    wait_for_diagrams(opened, site.diagrams(target))
    assert opened.evaluate("window.__stayed") is True, "navigation reloaded the page"
    assert watch.errors == [] and watch.outside == []
