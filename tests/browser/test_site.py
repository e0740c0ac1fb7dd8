"""Every page of the built sites in headless Chromium, as readers see it: at 1440x900 and
390x844, light and dark. Each diagram becomes an SVG that fits its column with text of
at least 11 px; at 390 the full-screen viewer opens each diagram legibly and zooms;
no Mermaid source shows at first paint; nothing logs an error; no request leaves the
site's origin; a page without diagrams stays small and never asks for Mermaid; no text
from a file runs as code. Screenshots of every page go to tests/artifacts/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import ARTIFACTS, Site

pytestmark = pytest.mark.browser

WIDE = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
MIN_TEXT_PX = 11
MAX_PAGE_BYTES = 600_000  # a page without diagrams, uncompressed, everything it loads

# Material renders a Mermaid diagram into a closed shadow root; open them all (the test
# reads the SVG; the site's own viewer gets it from Material's callback). And note
# whether a diagram's source is visible when the document is first parsed.
INIT = """(() => {
  const attach = Element.prototype.attachShadow;
  Element.prototype.attachShadow = function (init) {
    return attach.call(this, Object.assign({}, init, { mode: "open" }));
  };
  window.__cwSourceShown = [];
  document.addEventListener("DOMContentLoaded", () => {
    for (const pre of document.querySelectorAll("pre.mermaid")) {
      const style = getComputedStyle(pre);
      if (style.display !== "none" && style.visibility !== "hidden" &&
          pre.getBoundingClientRect().height > 0) {
        window.__cwSourceShown.push(pre.textContent.slice(0, 60));
      }
    }
  });
})();"""

# Per diagram: its kind, its width against its column's, and its smallest text as drawn.
MEASURE = """() => [...document.querySelectorAll("div.mermaid")].map(d => {
  const svg = d.shadowRoot && d.shadowRoot.querySelector("svg");
  if (!svg) return null;
  const box = svg.viewBox.baseVal;
  const scale = box && box.width ? svg.getBoundingClientRect().width / box.width : 1;
  let smallest = Infinity;
  for (const t of svg.querySelectorAll("text, foreignObject div, foreignObject span")) {
    const size = parseFloat(getComputedStyle(t).fontSize);
    if (size && t.textContent.trim()) smallest = Math.min(smallest, size * scale);
  }
  // Text drawn past the drawing's edges is cut off (Mermaid sizes a sequence diagram
  // by its lifelines, whatever else it draws).
  const edge = svg.getBoundingClientRect();
  const clipped = [...svg.querySelectorAll("text")].filter(t => {
    const r = t.getBoundingClientRect();
    return r.width > 0 && (r.left < edge.left - 1 || r.right > edge.right + 1);
  }).map(t => t.textContent.trim().slice(0, 60));
  return { role: svg.getAttribute("aria-roledescription"), scrollWidth: d.scrollWidth,
           clientWidth: d.clientWidth, smallest: smallest, clipped: clipped,
           title: svg.textContent.slice(0, 60) };
})"""

TABLES = """() => [...document.querySelectorAll(".md-typeset__scrollwrap")]
  .filter(w => w.scrollWidth > w.clientWidth)
  .map(w => (w.querySelector("th") || w).textContent.trim().slice(0, 40))"""


@dataclass
class Watch:
    """What a page did that it should not: errors, and requests to other hosts; and what
    it loaded (URL, bytes) since the last reset."""

    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    loaded: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class Reader:
    page: Any
    watch: Watch
    name: str


def _open(browser: Any, viewport: dict[str, int], scheme: str) -> Iterator[Reader]:
    context = browser.new_context(viewport=viewport, color_scheme=scheme)
    opened = context.new_page()
    opened.add_init_script(INIT)
    watch = Watch()
    opened.on("console", lambda m: watch.errors.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda e: watch.errors.append(str(e)))

    def loaded(response: Any) -> None:
        try:
            size = len(response.body())
        except Exception:  # a redirect or an aborted request has no body
            size = 0
        watch.loaded.append((response.url, size))

    opened.on("response", loaded)

    def route(r: Any) -> None:
        host = urlsplit(r.request.url).hostname
        if host in ("127.0.0.1", "localhost"):
            r.continue_()
        else:
            watch.outside.append(r.request.url)
            r.abort()

    opened.route("**/*", route)
    try:
        yield Reader(opened, watch, f"{viewport['width']}-{scheme}")
    finally:
        context.close()


@pytest.fixture
def reader(browser: Any, request: pytest.FixtureRequest) -> Iterator[Reader]:
    viewport, scheme = getattr(request, "param", (WIDE, "light"))
    yield from _open(browser, viewport, scheme)


def wait_for_diagrams(opened: Any, count: int) -> list[dict[str, Any]]:
    opened.wait_for_function(f"""() => {{
      const all = [...document.querySelectorAll("div.mermaid")];
      return all.length === {count} && all.every(d => d.shadowRoot &&
                                                   d.shadowRoot.querySelector("svg"));
    }}""", timeout=60_000)
    return list(opened.evaluate(MEASURE))


def shot(opened: Any, site: Site, path: str, suffix: str, full_page: bool = True) -> None:
    """A screenshot of the page at ``path`` ("" is the home page) as ``PAGE-SUFFIX.png``."""
    folder = ARTIFACTS / site.name
    folder.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^a-z0-9]+", "-", f"{path.strip('/') or 'home'}-{suffix}")
    opened.screenshot(path=str(folder / f"{name}.png"), full_page=full_page)


def visit(reader: Reader, site: Site, path: str) -> list[dict[str, Any]]:
    """Load ``path``, wait for its diagrams, check what every load must hold."""
    opened = reader.page
    reader.watch.loaded = []
    opened.goto(site.url + path, wait_until="load")
    drawn = wait_for_diagrams(opened, site.diagrams(path))
    assert opened.evaluate("window.__cwSourceShown") == [], \
        f"{path}: Mermaid source visible at first paint"
    assert opened.locator("pre.mermaid").count() == 0
    assert opened.evaluate("typeof window.__pwned") == "undefined"
    shot(opened, site, path, reader.name)
    return drawn


SCHEMES = [pytest.param((WIDE, "light"), id="1440-light"),
           pytest.param((WIDE, "dark"), id="1440-dark")]


@pytest.mark.parametrize("reader", SCHEMES, indirect=True)
def test_every_diagram_fits_and_reads_at_1440(site: Site, reader: Reader) -> None:
    pages = site.pages()
    assert len(pages) >= 3
    total = 0
    for path in pages:
        drawn = visit(reader, site, path)
        for diagram in drawn:
            assert diagram["role"] in ("sequence", "flowchart-v2"), (path, diagram)
            if site.name == "fixture":
                # Hostile strings in Material's default, narrower column (the project's
                # stylesheet widens it): drawn and safe is what the fixture checks.
                continue
            assert diagram["scrollWidth"] <= diagram["clientWidth"], \
                f"{path}: a diagram overflows its column: {diagram}"
            assert diagram["clipped"] == [], f"{path}: text cut off at a diagram's edge: {diagram}"
            assert diagram["smallest"] >= MIN_TEXT_PX, \
                f"{path}: a diagram's text is drawn at {diagram['smallest']:.1f} px: {diagram}"
        if not drawn:
            requested = [url for url, _ in reader.watch.loaded]
            assert not any("mermaid" in url for url in requested), (path, requested)
            # The search index waits for the reader to turn to search (_search_index).
            assert not any("search_index" in url for url in requested), (path, requested)
            size = sum(n for _, n in reader.watch.loaded)
            assert size <= MAX_PAGE_BYTES, f"{path} loads {size} bytes"
        total += len(drawn)
    assert total > 0
    assert reader.watch.errors == []
    assert reader.watch.outside == []


def test_every_table_fits_at_1440(site: Site, reader: Reader) -> None:
    if site.name == "fixture":
        pytest.skip("the fixture has Material's default column; the project's site widens it")
    overflowing: list[str] = []
    for path in site.pages():
        reader.page.goto(site.url + path, wait_until="load")
        reader.page.wait_for_function("() => document.documentElement.classList.contains('js')")
        overflowing += [f"{path}: {t}" for t in reader.page.evaluate(TABLES)]
    assert overflowing == [], "tables wider than their column at 1440"


@pytest.mark.parametrize("reader", [pytest.param((PHONE, "light"), id="390-light"),
                                    pytest.param((PHONE, "dark"), id="390-dark")],
                         indirect=True)
def test_the_viewer_makes_every_diagram_legible_on_a_phone(site: Site, reader: Reader) -> None:
    opened = reader.page
    for path in site.pages():
        count = len(visit(reader, site, path))
        # Every diagram in the light palette; in the dark one, the first of each page.
        for index in range(count if reader.name.endswith("light") else min(count, 1)):
            host = opened.locator("div.mermaid").nth(index)
            host.scroll_into_view_if_needed()
            host.click()
            opened.wait_for_function("() => { const v = document.querySelector("
                                     "'.chainwalk-viewer'); return v && v.__chainwalkPanZoom; }",
                                     timeout=30_000)
            state = opened.evaluate("""() => {
              const viewer = document.querySelector(".chainwalk-viewer");
              const zoom = viewer.__chainwalkPanZoom.getSizes().realZoom;
              let smallest = Infinity;
              for (const t of viewer.querySelectorAll("svg text, svg foreignObject div")) {
                const size = parseFloat(getComputedStyle(t).fontSize);
                if (size && t.textContent.trim()) smallest = Math.min(smallest, size * zoom);
              }
              return { zoom, smallest };
            }""")
            assert state["smallest"] >= MIN_TEXT_PX, (path, index, state)
            opened.keyboard.press("+")
            zoomed = opened.evaluate("document.querySelector('.chainwalk-viewer')"
                                     ".__chainwalkPanZoom.getSizes().realZoom")
            assert zoomed > state["zoom"], (path, index, state, zoomed)
            if index == 0:
                shot(opened, site, path, f"viewer-{reader.name}", full_page=False)
            opened.keyboard.press("Escape")
            assert opened.locator(".chainwalk-viewer").count() == 0
    assert reader.watch.errors == []
    assert reader.watch.outside == []


@pytest.mark.parametrize("reader", [pytest.param((WIDE, "dark"), id="1440-dark")],
                         indirect=True)
def test_dark_mode_arrowheads_are_light(site: Site, reader: Reader) -> None:
    opened, watch = reader.page, reader.watch
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
    assert watch.errors == [] and watch.outside == []


def test_instant_navigation_renders_diagrams(site: Site, reader: Reader) -> None:
    """From a page without diagrams (which never loaded Mermaid) to one with them,
    without a full page load."""
    opened, watch = reader.page, reader.watch
    start = next(p for p in site.pages() if site.diagrams(p) == 0)
    target = next(p for p in site.pages() if site.diagrams(p) > 0)
    opened.goto(site.url + start)
    assert opened.evaluate("typeof window.mermaid.parse") == "undefined"  # the stand-in
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


def test_without_javascript_the_trace_table_stands_in(site: Site, browser: Any) -> None:
    context = browser.new_context(viewport=WIDE, java_script_enabled=False)
    try:
        opened = context.new_page()
        path = next(p for p in site.pages() if "sequenceDiagram" in
                    (site.folder / p / "index.html").read_text("utf-8"))
        opened.goto(site.url + path)
        assert not opened.locator("pre.mermaid").first.is_visible()
        assert opened.locator(".chainwalk-nojs table").first.is_visible()
        shot(opened, site, path, "no-javascript")
    finally:
        context.close()
