"""How the plugin's output goes through MkDocs: generated tables as HTML, tables (and pages
without diagrams) kept out of mermaid2's pass, and the theme's templates compiled once per
serve session."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jinja2
import mermaid2.plugin
import pytest
from mkdocs.exceptions import PluginError
from plugin_helpers import build, copy_fixture, edit

from chainwalk.mkdocs_plugin import ChainwalkPlugin, CompiledTemplates


@pytest.fixture
def ok(tmp_path: Path) -> Path:
    return copy_fixture("ok", tmp_path)


def test_generated_tables_reach_the_page_as_html(ok: Path) -> None:
    built = build(ok)
    assert built.ok, built.log
    for page in ("index.html", "more/index.html"):
        html = built.page(page)
        assert "CHAINWALK-TABLE" not in html and "chainwalk:table" not in html
    home = built.page("index.html")
    # The trace and the rules view, and the trace table that stands in for each of the
    # three sequence diagrams without JavaScript.
    assert home.count("<table>") == 5
    assert home.count('<div class="chainwalk-nojs" data-search-exclude=""') == 3
    assert "<th>#</th>\n<th>target</th>" in home
    assert "<code>-j ISTIO_OUTPUT</code>" in built.page("more/index.html")


def test_mermaid2_sees_the_diagrams_but_not_the_tables(ok: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    original = mermaid2.plugin.MarkdownMermaidPlugin.on_post_page

    def spy(self: Any, output_content: str, **kwargs: Any) -> str:
        seen.append(output_content)
        result: str = original(self, output_content, **kwargs)
        return result

    monkeypatch.setattr(mermaid2.plugin.MarkdownMermaidPlugin, "on_post_page", spy)
    built = build(ok)
    assert built.ok, built.log
    home = next(page for page in seen if "<title>Fixture home" in page)
    assert "<table" not in home and home.count("<!--chainwalk:table:") == 5
    assert 'class="mermaid"' in home
    # ... and the tables are back, after mermaid2 added its script.
    final = built.page("index.html")
    assert final.count("<table>") == 5 and "window.mermaidConfig" in final


def test_mermaid2_does_not_parse_a_page_without_diagrams(ok: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []
    original = mermaid2.plugin.BeautifulSoup

    def spy(markup: str, *args: Any, **kwargs: Any) -> Any:
        parsed.append(markup)
        return original(markup, *args, **kwargs)

    monkeypatch.setattr(mermaid2.plugin, "BeautifulSoup", spy)
    built = build(ok)
    assert built.ok, built.log
    pages = sorted(str(p.relative_to(built.site)) for p in built.site.rglob("index.html"))
    with_diagrams = [p for p in pages if 'class="mermaid"' in built.page(p)]
    assert 0 < len(with_diagrams) < len(pages)  # the fixture has both kinds
    assert len(parsed) == len(with_diagrams)
    # A page without diagrams does not load Mermaid; a page with them does.
    without = next(p for p in pages if p not in with_diagrams)
    assert 'mermaid.min.js"></script>' not in built.page(without)
    assert 'mermaid.min.js"></script>' in built.page(with_diagrams[0])
    assert "\ue000" not in built.page(without)


def test_the_word_hidden_on_a_page_without_diagrams_comes_back() -> None:
    plugin = ChainwalkPlugin()
    text = "<p>Mermaid, mermaid</p><table><tr><td>1</td></tr></table>"
    html = '<script src="js/mermaid.min.js"></script>\n' + text
    hidden = plugin._before_mermaid2(html, page=PAGE, config=None)  # type: ignore[arg-type]
    assert "mermaid" not in hidden and "<td>1</td>" in hidden  # nothing else set aside
    # The words come back; Mermaid's script tag does not.
    assert plugin._after_mermaid2(hidden, page=PAGE, config=None) == text  # type: ignore[arg-type]
    # With a diagram on the page, the word stays for mermaid2 to find.
    kept = plugin._before_mermaid2(HTML, page=PAGE, config=None)  # type: ignore[arg-type]
    assert "mermaid" in kept


def test_the_search_index_has_the_tables_but_not_the_diagrams_source(ok: Path) -> None:
    built = build(ok)
    assert built.ok, built.log
    index = json.loads((built.site / "search" / "search_index.json").read_text("utf-8"))
    text = " ".join(doc["text"] for doc in index["docs"])
    assert "Inbound delivery" in text  # an annotation, in the rules table
    assert "sequenceDiagram" not in text and "participant" not in text
    # Every diagram (mermaid2 writes the attribute back as data-search-exclude="").
    assert len(re.findall(r'<pre[^>]*class="mermaid"[^>]*data-search-exclude',
                          built.page("index.html"))) == 4


PAGE = SimpleNamespace(file=SimpleNamespace(src_uri="page.md"))
HTML = ("<p>a</p>\n<table>\n<tr><td>1</td></tr>\n</table>\n<pre class=\"mermaid\"><code>"
        "graph LR</code></pre>\n<table class=\"x\"><tr><td>mermaid</td></tr></table>\n"
        "<table><tr><td><table><tr><td>nested</td></tr></table></td></tr></table>")


def test_tables_set_aside_come_back_unchanged() -> None:
    plugin = ChainwalkPlugin()
    aside = plugin._before_mermaid2(HTML, page=PAGE, config=None)  # type: ignore[arg-type]
    assert aside.count("<!--chainwalk:table:") == 1  # not the one naming mermaid, not nested
    assert "<td>1</td>" not in aside and "<td>mermaid</td>" in aside and "nested" in aside
    assert plugin._after_mermaid2(aside, page=PAGE, config=None) == HTML  # type: ignore[arg-type]


def test_a_table_another_plugin_lost_is_an_error() -> None:
    plugin = ChainwalkPlugin()
    aside = plugin._before_mermaid2(HTML, page=PAGE, config=None)  # type: ignore[arg-type]
    with pytest.raises(PluginError, match=r"page\.md.*chainwalk:table:0"):
        plugin._after_mermaid2(re.sub("<!--chainwalk:table:0-->", "", aside), page=PAGE,
                                config=None)  # type: ignore[arg-type]


def test_a_page_quoting_the_marker_is_left_alone() -> None:
    plugin = ChainwalkPlugin()
    html = "<p>Quoted: <!--chainwalk:table:0--></p>" + HTML
    assert plugin._before_mermaid2(html, page=PAGE, config=None) == html  # type: ignore[arg-type]


def test_compiled_templates_are_reused_until_the_source_changes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    cache = CompiledTemplates()
    sources = {"page.html": "Hello {{ name }}"}
    compiled: list[str] = []
    original = jinja2.Environment.compile

    def counting(self: jinja2.Environment, source: str, *args: Any, **kwargs: Any) -> Any:
        compiled.append(source)
        return original(self, source, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", counting)

    def render() -> str:  # a new environment per build, as MkDocs makes one
        env = jinja2.Environment(loader=jinja2.DictLoader(sources), bytecode_cache=cache)
        return env.get_template("page.html").render(name="pod")

    assert render() == "Hello pod" and render() == "Hello pod"
    assert len(compiled) == 1
    sources["page.html"] = "Bye {{ name }}"
    assert render() == "Bye pod" and len(compiled) == 2


# -- the pages of the last good build, on disk ------------------------------------------

CACHE = Path(".cache/plugin/chainwalk/pages.json")


def test_an_unchanged_build_takes_its_pages_from_the_cache(
        ok: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = build(ok)
    assert first.ok, first.log
    assert (ok / CACHE).is_file()
    pages = {p: first.page(p) for p in ("index.html", "more/index.html")}

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the engine ran although nothing changed")

    monkeypatch.setattr("chainwalk.render.Site.render_page", fail)
    again = build(ok)
    assert again.ok, again.log
    assert {p: again.page(p) for p in pages} == pages


def test_an_edit_under_rules_misses_the_cache(ok: Path) -> None:
    assert build(ok).ok
    edit(ok / "rules" / "rulesets" / "pod.annotations.yaml", "Inbound delivery",
         "Inbound delivery, edited")
    built = build(ok)
    assert built.ok, built.log
    assert "Inbound delivery, edited" in built.page("index.html")


def test_a_ruleset_outside_rules_is_refused_and_never_shown(ok: Path) -> None:
    # A scenario file may not name a ruleset outside the rules folder ("../" is relative
    # to it), nor through a symlink that leads out; the error shows the name as written.
    outside = ok / "outside" / "pod.rules"
    outside.parent.mkdir()
    outside.write_bytes((ok / "rules" / "rulesets" / "pod.rules").read_bytes())
    (ok / "rules" / "rulesets" / "out").symlink_to(outside.parent)
    for written in ("../../outside/pod.rules", "rulesets/out/pod.rules", str(outside)):
        edit(ok / "rules" / "scenarios" / "shop.yaml", "ruleset: rulesets/pod.rules",
             f"ruleset: {written}")
        built = build(ok, strict=False)
        assert not built.ok
        assert (f"the path leads outside the rules folder: got {written!r}" in built.log
                ), built.log
        assert not (ok / CACHE).exists()
        edit(ok / "rules" / "scenarios" / "shop.yaml", f"ruleset: {written}",
             "ruleset: rulesets/pod.rules")


def test_warnings_come_back_with_cached_pages(ok: Path) -> None:
    edit(ok / "rules" / "rulesets" / "pod.rules", "-A ISTIO_REDIRECT -p tcp",
         "-A ISTIO_REDIRECT -p udp -j RETURN\n-A ISTIO_REDIRECT -p tcp")
    first, second = build(ok, strict=False), build(ok, strict=False)
    assert first.ok and second.ok
    for built in (first, second):
        assert "is exercised by no scenario of shop" in built.log, built.log
    assert not build(ok).ok  # and --strict still fails on them


def test_a_failed_build_is_not_cached_and_cache_false_writes_nothing(ok: Path) -> None:
    edit(ok / "rules" / "rulesets" / "pod.rules", "-j REDIRECT", "-j REDIRECTED")
    assert not build(ok).ok
    assert not (ok / CACHE).exists()
    edit(ok / "rules" / "rulesets" / "pod.rules", "-j REDIRECTED", "-j REDIRECT")
    edit(ok / "mkdocs.yml", "  - chainwalk:\n", "  - chainwalk:\n      cache: false\n")
    assert build(ok).ok
    assert not (ok / CACHE).exists()
