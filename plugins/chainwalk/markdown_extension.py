"""The ```` ```chainwalk ```` blocks as a Python-Markdown extension, for every builder that
runs Python-Markdown (MkDocs, ProperDocs, Zensical)::

    markdown_extensions:
      - chainwalk:
          rules_dir: rules          # relative to the current folder, or absolute
      - pymdownx.superfences:
          custom_fences:
            - name: mermaid ...     # the builder's own Mermaid fence
            - name: chainwalk
              class: chainwalk
              format: !!python/name:chainwalk.markdown_extension.unrendered_block

What it adds to Python-Markdown:

- A preprocessor that replaces each block of the page by its view's Markdown (see
  :class:`chainwalk.render.Site`). It runs first, on the page's text as the author
  wrote it, and not as the fence's format, because a block's output is Markdown (its
  diagrams are ```` ```mermaid ```` fences that the builder's own Mermaid fence then
  formats: mermaid2's under MkDocs, the native one under Zensical), and because its
  problems name the page line, which a fence's format is not told.
- A treeprocessor that puts each generated table's HTML in place of its placeholder
  (the renderers write tables as HTML directly, see ``Site.render_page``), and a
  postprocessor that keeps the diagrams' source out of the search index (a reader
  searching for "envoy" wants the prose and the tables, not "participant a3 as envoy
  #40;sidecar#41;").
- ``unrendered_block``, the superfences fence for ``chainwalk``: a block that reaches
  superfences was not rendered (the extension is not listed, or the fence has options
  after its name, which a block never has) and becomes an error in the page, never the
  block's YAML shown as if it were the content.

Who reports problems: bound to the MkDocs plugin (:mod:`chainwalk.mkdocs_plugin`, which
binds it in ``on_config``), the plugin renders every page before the build and fails
it with one error listing every problem. Alone (Zensical, or MkDocs without the
plugin), the extension puts an error admonition in place of each block it cannot
render (and above each block showing a scenario whose expectations fail) and logs the
problems as errors on the ``chainwalk`` logger; it cannot fail the build, and the
checks of the whole rules folder (a scenario shown on no page, an annotation naming an
unknown scenario) need the plugin, which sees every page.

This module imports nothing from MkDocs.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from markdown import Extension, Markdown
from markdown.postprocessors import Postprocessor
from markdown.preprocessors import Preprocessor
from markdown.treeprocessors import Treeprocessor

if TYPE_CHECKING:  # the engine is imported when a page has a block
    from xml.etree.ElementTree import Element

    from .project import Finding, Site

log = logging.getLogger("chainwalk")

NAME = "chainwalk"
NAMES = (NAME, __name__)  # what markdown_extensions may call it (an entry point, the module)
# A diagram as superfences writes it (mermaid2's fence: <pre  class="mermaid">).
DIAGRAM = re.compile(r'<pre\b(?=[^>]*\bclass="mermaid")')
# Before Python-Markdown's own preprocessors (normalize_whitespace is 30): the text a
# block is found in is the page as written, as MkDocs' on_page_markdown sees it.
_PREPROCESSOR_PRIORITY = 40
# After inline Markdown (20): a placeholder is a paragraph's whole text by then.
_TREEPROCESSOR_PRIORITY = 15
# After raw HTML is put back (raw_html is 30, amp_substitute 20): the page's final HTML.
_POSTPROCESSOR_PRIORITY = 10


class PageRenderer(Protocol):
    """What renders a page's blocks for the extension: the plugin, or :class:`Alone`."""

    def render(self, markdown: str, md: Markdown) -> tuple[str, dict[str, str]]:
        """``markdown`` with its blocks rendered, and the HTML of each table placeholder."""

    def problem(self, message: str) -> None:
        """A problem found while Markdown converts the page (the plugin fails the build
        with it; alone, it is logged)."""


@dataclass(frozen=True)
class Options:
    """The extension's options, checked."""

    rules_dir: str = "rules"
    playground: str = ""  # the playground page's URL from the site's root ("": none)

    @classmethod
    def read(cls, configs: dict[str, Any]) -> Options:
        rules_dir = configs.get("rules_dir", cls.rules_dir)
        if not isinstance(rules_dir, str) or not rules_dir:
            raise ValueError(f"chainwalk: the extension option rules_dir is a folder name, "
                             f"got {rules_dir!r}")
        playground = configs.get("playground", cls.playground)
        if not isinstance(playground, str) or playground.startswith(("/", "#")) or \
                any(c in playground for c in "#?\"'<>\\ "):
            raise ValueError(f"chainwalk: the extension option playground is the playground "
                             f"page's URL from the site's root, such as 'playground/', got "
                             f"{playground!r}")
        return cls(rules_dir, playground)


def fence_escapes(custom_fences: object) -> bool:
    """Whether the Mermaid fence among superfences' ``custom_fences`` HTML-escapes the
    diagram source it writes (see ``Site``); superfences' default format does."""
    fences = custom_fences if isinstance(custom_fences, list) else []
    for fence in fences:
        if isinstance(fence, dict) and fence.get("name") == "mermaid":
            form = fence.get("format")
            return not callable(form) or _format_escapes(form)
    return True


@functools.cache
def _format_escapes(form: Callable[..., object]) -> bool:
    """Whether a superfences format escapes what it writes: it is given a ``<``."""
    written = form("<", "mermaid", "mermaid", {}, Markdown(), classes=[], id_value="",
                   attrs={})
    return "&lt;" in str(written)


def _superfences_fences(md: Markdown) -> object:
    """The ``custom_fences`` of the superfences this Markdown runs, if any."""
    for extension in md.registeredExtensions:
        if type(extension).__module__ == "pymdownx.superfences":
            return extension.getConfigs().get("custom_fences")
    return None


def rendered_part(text: str, markdown: str, rendered: str) -> str | None:
    """The part of ``rendered`` (the blocks of the whole file ``text`` rendered) that
    stands for ``markdown``, the file without its front matter; ``None`` if ``markdown``
    is not the end of ``text`` or the front matter held a block."""
    prefix = text[:len(text) - len(markdown)]
    if text.endswith(markdown) and rendered.startswith(prefix):
        return rendered[len(prefix):]
    return None


def report(findings: list[Finding]) -> str:
    """Every problem (each once, see ``render.unique``), as the plugin's one error, its
    banner while serving, and the extension's log show them."""
    noun = "problem" if len(findings) == 1 else "problems"
    return f"chainwalk: {len(findings)} {noun}:\n" + "\n".join(f"  {f}" for f in findings)


class Alone:
    """Renders pages without the plugin: problems become an admonition in the page and
    an error in the log. One per rules folder, kept for the process (a serve session):
    its :class:`~chainwalk.render.Project` evaluates again only what a file edit changed."""

    def __init__(self, rules_dir: Path, playground: str = "") -> None:
        self.rules_dir = rules_dir
        self.playground = playground
        self._sites: dict[bool, Site] = {}  # by whether the Mermaid fence escapes

    def site(self, escapes: bool) -> Site:
        found = self._sites.get(escapes)
        if found is None:
            from .project import Project, Site

            found = self._sites[escapes] = Site(Project(self.rules_dir, Path.cwd()), escapes,
                                                self.playground)
        return found

    def render(self, markdown: str, md: Markdown) -> tuple[str, dict[str, str]]:
        if "```" not in markdown and "~~~" not in markdown and "`chainwalk:" not in markdown:
            return markdown, {}  # no block and no inline claim
        site = self.site(fence_escapes(_superfences_fences(md)))
        site.begin_build()  # look at the files afresh: this page may follow an edit
        page, text = _page_source(md, markdown, site.project.root)
        result = site.render_page(page, text, html_tables=True, show_problems=True)
        if result.findings:
            from .project import unique

            log.error(report(unique(result.findings)))
        for warning in result.warnings:
            log.warning(f"chainwalk: {warning}")
        part = rendered_part(text, markdown, result.markdown)
        if part is None:  # the front matter held a block: render what Markdown sees
            result = site.render_page(page, markdown, html_tables=True, show_problems=True)
            part = result.markdown
        return part, result.tables

    def problem(self, message: str) -> None:
        log.error(message)


_ALONE: dict[tuple[Path, str], Alone] = {}


def _page_source(md: Markdown, markdown: str, root: Path) -> tuple[str, str]:
    """The page's path for messages and its whole text (front matter included, so that
    lines count from the top of the file), when the builder says which page this is
    (Zensical's rendering context); else ``("the page", markdown)``."""
    try:
        context = md.preprocessors["rendering_context"]
    except KeyError:
        context = None
    page = getattr(context, "page", None)
    config = getattr(context, "config", None)
    path = getattr(page, "path", None)
    if not isinstance(path, str) or not isinstance(config, dict):
        return "the page", markdown
    docs_dir = config.get("docs_dir", "docs")
    source = Path(path) if os.path.isabs(path) else Path(str(docs_dir), path)
    try:
        text = source.read_text(encoding="utf-8-sig")
        shown = Path(os.path.relpath(source.resolve(), root)).as_posix()
    except (OSError, ValueError):
        return path, markdown
    return shown, text if text.endswith(markdown) else markdown


class _Blocks(Preprocessor):
    """Replaces the page's blocks by their views' Markdown."""

    def __init__(self, md: Markdown, renderer: PageRenderer, tables: _Tables) -> None:
        super().__init__(md)
        self.renderer = renderer
        self.tables = tables

    def run(self, lines: list[str]) -> list[str]:
        rendered, self.tables.html = self.renderer.render("\n".join(lines), self.md)
        return rendered.split("\n")


class _Tables(Treeprocessor):
    """Each generated table's HTML in place of its placeholder (a paragraph of its own,
    or bare text in a tight list item), through Python-Markdown's store of raw HTML; and
    the page's unrendered blocks reported (superfences ignores an error its format
    raises, so ``unrendered_block`` leaves them here)."""

    def __init__(self, md: Markdown, renderer: PageRenderer) -> None:
        super().__init__(md)
        self.renderer = renderer
        self.html: dict[str, str] = {}
        self.unrendered: list[str] = []

    def run(self, root: Element) -> None:
        unrendered, self.unrendered = self.unrendered, []
        for message in unrendered:
            self.renderer.problem(message)
        tables, self.html = dict(self.html), {}  # a copy: the renderer keeps its own
        if not tables:
            return
        for element in root.iter():
            text = (element.text or "").strip()
            if text in tables and len(element) == 0:
                element.text = self.md.htmlStash.store(tables.pop(text))
        # Inside raw HTML that Markdown leaves alone (a <div markdown> without md_in_html).
        stash = self.md.htmlStash.rawHtmlBlocks
        for number, block in enumerate(stash):
            for placeholder in [p for p in tables if isinstance(block, str) and p in block]:
                block = stash[number] = str(block).replace(placeholder, tables.pop(placeholder))
        if tables:
            self.renderer.problem(
                f"chainwalk: the HTML of a page lost the place of {len(tables)} table(s) "
                f"({', '.join(tables)}): another plugin or Markdown extension changed it")


class _Diagrams(Postprocessor):
    """The diagrams' source marked for the search index to leave out."""

    def run(self, text: str) -> str:
        return DIAGRAM.sub("<pre data-search-exclude", text)


class ChainwalkExtension(Extension):
    """Renders ```` ```chainwalk ```` blocks (options: ``rules_dir``)."""

    def __init__(self, **kwargs: Any) -> None:
        self.config = {"rules_dir": [Options.rules_dir, "the folder with rulesets/ and "
                                     "scenarios/ (relative to the current folder)"],
                       "playground": [Options.playground, "the playground page's URL from "
                                      "the site's root (a 'try it' link under each journey)"]}
        super().__init__(**kwargs)
        self.options = Options.read(self.getConfigs())
        self.renderer: PageRenderer | None = None  # the plugin's, once it binds this

    def bind(self, renderer: PageRenderer) -> None:
        """Let ``renderer`` (the MkDocs plugin) render the pages and report problems."""
        self.renderer = renderer

    def extendMarkdown(self, md: Markdown) -> None:
        renderer = self.renderer
        if renderer is None:
            key = (Path(self.options.rules_dir).resolve(), self.options.playground)
            if key not in _ALONE:
                _ALONE[key] = Alone(*key)
            renderer = _ALONE[key]
        tables = _Tables(md, renderer)
        md.preprocessors.register(_Blocks(md, renderer, tables), NAME, _PREPROCESSOR_PRIORITY)
        md.treeprocessors.register(tables, NAME, _TREEPROCESSOR_PRIORITY)
        md.postprocessors.register(_Diagrams(md), NAME, _POSTPROCESSOR_PRIORITY)


def makeExtension(**kwargs: Any) -> ChainwalkExtension:
    return ChainwalkExtension(**kwargs)


def unrendered_block(source: str, language: str, css_class: str, options: dict[str, Any],
                     md: Markdown, **kwargs: Any) -> str:
    """The superfences format of a ``chainwalk`` fence that reached superfences, i.e.
    that the extension did not render: an error in the page, and in the log."""
    from .render import html_text

    if NAME not in md.preprocessors:
        why = ("the chainwalk Markdown extension is not enabled: add chainwalk to "
               "markdown_extensions")
        log.error(f"chainwalk: a block was not rendered: {why}")
    else:
        why = ("a chainwalk block opens with ```chainwalk alone: remove what follows "
               "the word chainwalk (options, attributes)")
        tables = md.treeprocessors[NAME]
        assert isinstance(tables, _Tables)
        tables.unrendered.append(f"chainwalk: a block was not rendered: {why}")
    return ('<div class="admonition failure"><p class="admonition-title">chainwalk: '
            f'this block was not rendered</p><p>{html_text(why)}</p>'
            f'<pre><code>{html_text(source)}</code></pre></div>')
