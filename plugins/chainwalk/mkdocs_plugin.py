"""The MkDocs (and ProperDocs) plugin: what only a plugin can add to the blocks that
:mod:`chainwalk.markdown_extension` renders.

``plugins: [chainwalk]`` in ``mkdocs.yml``, with ``chainwalk`` in ``markdown_extensions``
(whose ``rules_dir`` option, relative to ``mkdocs.yml``, names the rules folder). The
plugin binds the extension (``on_config``) so that it renders pages through the plugin:

- Before each build (``on_pre_build``, i.e. before MkDocs empties the site directory,
  so that a failed rebuild during ``mkdocs serve`` leaves the last good site in place)
  every page's blocks are rendered and everything under the rules folder is checked;
  all problems are raised together as one :class:`~mkdocs.exceptions.PluginError`, each
  naming the page line and the rules file line. Warnings (a rule no scenario
  exercises, a scenario no page shows) go to the plugin's logger, so ``mkdocs build
  --strict`` fails on them. The extension then takes each page's rendered Markdown.

- During ``mkdocs serve`` a broken input never stops the server (MkDocs would hold
  every request after a failed rebuild): the problems are logged as an error and shown
  at the top of every page, and the pages keep the content of the last good build (or,
  before one, their own text) until the files are fixed. ``on_pre_build`` is the
  plugin's boundary: an error no check foresaw is reported the same way (``fail``).

The site serves its own Mermaid: ``mermaid_js`` (from npm) is copied to
``js/mermaid.min.js``, listed in ``extra_javascript`` but taken off every page
without diagrams (``on_post_page``), and ``pan_zoom_js`` (svg-pan-zoom, from npm) to
``js/svg-pan-zoom.min.js``. The plugin's own ``assets/diagrams.js`` and
``diagrams.css`` go on every page: they load Mermaid on a page with diagrams reached
by instant navigation, hide a diagram's source until it is drawn, and open any
diagram full screen (see diagrams.js). With ``pyodide`` (npm's folder), the plugin
also serves the playground's files (:mod:`chainwalk._playground_files`: Pyodide's core,
its standard library as bytecode, the chainwalk and PyYAML wheels, the rulesets as data);
its page loads the playground's script from its ``<head>``; diagrams.js loads the
playground's script only on the page that has one. ``on_serve`` watches the rules folder, and the renderers'
cache (kept by the plugin across rebuilds) evaluates only what an edit changed. The
theme's compiled templates are kept across serve rebuilds too (``on_env``): MkDocs
makes a new Jinja environment for each rebuild, and compiling Material's templates
again was a fifth of the time an edit took to show.

Tables are kept out of mermaid2's way (``on_post_page``). mermaid2 parses and
re-serialises every page with BeautifulSoup to find its diagrams, which cost a third
of the build, and the tables this plugin writes held almost half of the tags it
parsed. So just before the plugins of default priority (mermaid2's) run, each
``<table>`` of the page that holds no diagram is swapped for a comment, and just after
them it is put back as it was. A page without any diagram loses Mermaid's script tag
and is not parsed at all: mermaid2 skips a page without the word "mermaid", so the
word (in the page's text) is hidden from it the same way. Plugins that run at default
priority see the comments and the hidden word.

``mkdocs build`` keeps the last good build's pages in ``cache_dir`` (see
:mod:`chainwalk._page_cache`): when no page, no file the renderers read and no line of
chainwalk changed, the next build takes its pages from there and never loads the
engine. ``mkdocs serve`` keeps its results in memory instead, per file version.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from jinja2.bccache import Bucket
from mkdocs.config import base
from mkdocs.config import config_options as c
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin, CombinedEvent, event_priority, get_plugin_logger
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page
from mkdocs.utils import get_relative_url

from . import _page_cache, _search_index
from ._errors import ChainwalkError
from ._files import read_text
from ._page_cache import CachedBuild
from ._playground_files import (
    PLAYGROUND_URI,
    missing_pyodide,
    playground_files,
    with_engine_started,
)
from .markdown_extension import (
    DIAGRAM,
    NAMES,
    ChainwalkExtension,
    Options,
    fence_escapes,
    rendered_part,
    report,
)

if TYPE_CHECKING:  # the engine is imported when a build needs it (not on a cache hit)
    from markdown import Markdown

    from .project import Finding, Site

log = get_plugin_logger(__name__)

MERMAID_URI = "js/mermaid.min.js"
PAN_ZOOM_URI = "js/svg-pan-zoom.min.js"
ASSETS = Path(__file__).parent / "assets"
# The plugin's own files, served on every page: (site path, file in ASSETS).
SCRIPT_URI, STYLE_URI = "assets/chainwalk/diagrams.js", "assets/chainwalk/diagrams.css"

# What Python-Markdown's tables become; a match holds no other table (see set_aside).
_TABLE = re.compile(r"<table\b[^>]*>.*?</table>", re.DOTALL)
_SET_ASIDE = "<!--chainwalk:table:{}-->"
# What stands for the word "mermaid" on a page without diagrams, while mermaid2 runs
# (private-use characters, which no page of the site holds).
_HIDDEN_WORD = "\ue000chainwalk\ue000"
# The theme's tag for Mermaid's script (from extra_javascript).
_MERMAID_SCRIPT = re.compile(r'<script src="[^"]*' + re.escape(MERMAID_URI) + r'"></script>\n?')


class CompiledTemplates(jinja2.BytecodeCache):
    """Jinja's compiled templates, in memory. Jinja checks a template's source checksum
    before reusing its code, so an edited template (a theme override) is compiled anew."""

    def __init__(self) -> None:
        self.code: dict[str, tuple[str, Any]] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        found = self.code.get(bucket.key)
        if found is not None and found[0] == bucket.checksum:
            bucket.code = found[1]

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.code[bucket.key] = (bucket.checksum, bucket.code)


class ChainwalkConfig(base.Config):  # type: ignore[no-untyped-call]
    mermaid_js = c.Type(str, default="node_modules/mermaid/dist/mermaid.min.js")
    pan_zoom_js = c.Type(str, default="node_modules/svg-pan-zoom/dist/svg-pan-zoom.min.js")
    cache = c.Type(bool, default=True)
    cache_dir = c.Type(str, default=".cache/plugin/chainwalk")
    # npm's pyodide folder: the playground's engine (empty: the site has no playground).
    pyodide = c.Type(str, default="")


def _superfences_mermaid(config: MkDocsConfig) -> bool:
    options = config.mdx_configs.get("pymdownx.superfences", {})
    fences = options.get("custom_fences", []) if isinstance(options, dict) else []
    return "pymdownx.superfences" in config.markdown_extensions and any(
        isinstance(f, dict) and f.get("name") == "mermaid" for f in fences)


def stale_banner(problems: str) -> str:
    """An admonition at the top of a page kept from the last good build."""
    from .project import failure_admonition

    return failure_admonition("The rules are broken: this page is from the last good build",
                              "Fix these and the page rebuilds:", problems)


def bind_extension(config: MkDocsConfig, plugin: ChainwalkPlugin) -> Options:
    """Put in place of ``chainwalk`` in ``markdown_extensions`` the extension bound to
    ``plugin``, and return its options. A build run again on the same configuration
    (mkdocs-static-i18n builds each language so) finds the extension already in place."""
    listed: list[object] = list(config.markdown_extensions)
    for bound in listed:
        if isinstance(bound, ChainwalkExtension):
            bound.bind(plugin)
            return bound.options
    found = [i for i, e in enumerate(config.markdown_extensions) if e in NAMES]
    if not found:
        raise PluginError("chainwalk: the blocks are rendered by the chainwalk Markdown "
                          "extension: add chainwalk to markdown_extensions (with its "
                          "rules_dir option)")
    name = config.markdown_extensions[found[0]]
    try:
        extension = ChainwalkExtension(**config.mdx_configs.pop(name, None) or {})
    except (KeyError, ValueError) as e:
        raise PluginError(f"chainwalk: markdown_extensions: {str(e).strip(chr(34))}") from None
    extension.bind(plugin)
    # MkDocs passes the list to Python-Markdown, which takes instances as well as names.
    config.markdown_extensions[found[0]] = extension  # type: ignore[call-overload]
    return extension.options


class ChainwalkPlugin(BasePlugin[ChainwalkConfig]):  # type: ignore[no-untyped-call]
    """Renders every page's blocks before the build for the bound extension, and fails
    the build with every problem (or, serving, keeps the last good pages)."""

    def __init__(self) -> None:
        self.site: Site | None = None
        self.root = Path.cwd()
        self.rules_dir = Path("rules")
        self.mermaid_js = Path(MERMAID_URI)
        self.pan_zoom_js = Path(PAN_ZOOM_URI)
        self.pyodide: Path | None = None
        self.playground = ""  # the extension's option: the playground page's URL
        self.cache_file = Path(".cache/plugin/chainwalk/pages.json")
        # This build's pages: each one's source text, Markdown and tables' HTML.
        self.pages: dict[str, tuple[str, str, dict[str, str]]] = {}
        self.serving = False
        # During serve: each page's Markdown (and its tables) from the last build whose
        # rules were good, and the problems of the current build if it is not one.
        self.last_good: dict[str, tuple[str, dict[str, str]]] = {}
        self.page: Page | None = None  # the page whose Markdown the extension renders next
        self.fence_escapes = False  # whether the Mermaid fence escapes (see render.Site)
        self.broken: str | None = None
        self.templates = CompiledTemplates()
        self.set_aside: list[str] = []  # the current page's tables, during on_post_page
        self.hid_word = False  # whether the current page's "mermaid" is hidden, likewise
        self.unreadable: dict[str, str] = {}  # page -> what stands for it (on_page_read_source)

    # Defining on_startup keeps this instance (and its cache) across serve rebuilds.
    def on_startup(self, *, command: str, dirty: bool) -> None:
        self.site = None
        self.serving = command == "serve"

    def on_config(self, config: MkDocsConfig) -> MkDocsConfig:
        self.root = Path(config.config_file_path or ".").resolve().parent
        options = bind_extension(config, self)
        self.rules_dir = (self.root / options.rules_dir).resolve()
        self.playground = options.playground
        self.mermaid_js = (self.root / self.config.mermaid_js).resolve()
        self.pan_zoom_js = (self.root / self.config.pan_zoom_js).resolve()
        if not self.rules_dir.is_dir():
            raise PluginError(f"chainwalk: the rules folder {options.rules_dir!r} "
                              f"(rules_dir of the chainwalk Markdown extension) does not "
                              f"exist at {self.rules_dir}")
        for path, option, name in ((self.mermaid_js, "mermaid_js", "Mermaid"),
                                   (self.pan_zoom_js, "pan_zoom_js", "svg-pan-zoom")):
            if not path.is_file():
                raise PluginError(
                    f"chainwalk: {name} is missing: {self.config[option]} ({option}) does "
                    f"not exist. The site serves its own copy of {name}, never a CDN's: run "
                    f"`make serve` (or `npm ci`) to install it from package.json.")
        self.pyodide = (self.root / self.config.pyodide).resolve() if self.config.pyodide \
            else None
        if self.pyodide is not None and missing_pyodide(self.pyodide):
            raise PluginError(
                f"chainwalk: Pyodide is missing: {self.config.pyodide} (pyodide) lacks "
                f"{', '.join(missing_pyodide(self.pyodide))}. The playground serves its own "
                "copy of Pyodide, never a CDN's: run `make serve` (or `npm ci`) to install "
                "it from package.json.")
        if not _superfences_mermaid(config):
            raise PluginError(
                "chainwalk: diagrams need pymdownx.superfences with a custom fence named "
                "mermaid (format: !!python/name:mermaid2.fence_mermaid_custom) in "
                "markdown_extensions")
        if MERMAID_URI not in map(str, config.extra_javascript):
            raise PluginError(
                f"chainwalk: extra_javascript must include {MERMAID_URI}: mermaid2 then adds "
                "no script of its own (it would look for the file in docs/, or a CDN); the "
                "plugin takes the script off the pages without diagrams")
        if SCRIPT_URI not in map(str, config.extra_javascript):
            config.extra_javascript.append(SCRIPT_URI)
        if STYLE_URI not in config.extra_css:
            config.extra_css.append(STYLE_URI)
        self.cache_file = self.root / self.config.cache_dir / "pages.json"
        self.page = None
        superfences = config.mdx_configs.get("pymdownx.superfences")
        self.fence_escapes = fence_escapes(superfences.get("custom_fences")
                                           if isinstance(superfences, dict) else None)
        if self.site is not None and (self.site.project.rules_dir, self.site.fence_escapes,
                                      self.site.playground) \
                != (self.rules_dir, self.fence_escapes, self.playground):
            self.site = None
        self.pages = {}
        return config

    def renderer(self) -> Site:
        """The renderers over the rules folder (made, and the engine loaded, on first use)."""
        if self.site is None:
            from .project import Project, Site

            self.site = Site(Project(self.rules_dir, self.root), self.fence_escapes,
                             self.playground)
        return self.site

    # -- the plugin's boundary -------------------------------------------------
    def fail(self, problems: str) -> None:
        """A build that cannot be good: its error; while serving, the problems shown at
        the top of every page over the last good pages instead (a failed rebuild would
        leave every request waiting until the files are fixed)."""
        if not self.serving:
            raise PluginError(problems)
        self.broken = problems
        log.error(problems + "\n  (serving the last good pages until this is fixed)")

    def on_pre_build(self, *, config: MkDocsConfig) -> None:
        self.unreadable = {}
        self.broken = None
        try:
            self.pre_build(config)
        except PluginError:
            raise
        except Exception as e:  # what no check foresaw: still an error, never a stuck serve
            self.fail(f"chainwalk: 1 problem:\n  unexpected {type(e).__name__} while "
                      f"rendering the pages: {e}")

    def on_page_read_source(self, *, page: Page, config: MkDocsConfig) -> str | None:
        """A page pre_build could not read (not UTF-8, not a file): its problem, as its
        text, for MkDocs not to fail reading it during serve (a build has failed already)."""
        return self.unreadable.get(page.file.src_uri)

    def pre_build(self, config: MkDocsConfig) -> None:
        docs = Path(config.docs_dir)
        sources: list[tuple[str, str, str]] = []  # (page, path shown in messages, text)
        unreadable: list[str] = []
        for path in sorted(docs.rglob("*.md")):
            src_uri = path.relative_to(docs).as_posix()
            if any(part.startswith(".") for part in Path(src_uri).parts) or (
                    config.exclude_docs is not None and config.exclude_docs.match_file(src_uri)):
                continue
            shown = os.path.relpath(path, self.root).replace(os.sep, "/")
            try:
                sources.append((src_uri, shown, read_text(path, shown, "page", "utf-8-sig")))
            except ChainwalkError as e:
                unreadable.extend(str(p) for p in e.problems)
                self.unreadable[src_uri] = f"# {src_uri}\n\n{stale_banner(str(e))}"
        if unreadable:
            noun = "problem" if len(unreadable) == 1 else "problems"
            self.fail(f"chainwalk: {len(unreadable)} {noun}:\n"
                      + "\n".join(f"  {p}" for p in unreadable))
            return
        key = None
        if self.config.cache and not self.serving:
            key = _page_cache.build_key([(shown, text) for _, shown, text in sources],
                                        self.rules_dir, self.fence_escapes, self.playground)
            cached = _page_cache.load(self.cache_file, key)
            if cached is not None and set(cached.pages) == {uri for uri, _, _ in sources}:
                log.debug(f"pages from the cache {self.cache_file}")
                self.broken = None
                self.pages = {uri: (text, *cached.pages[uri]) for uri, _, text in sources}
                for warning in cached.warnings:
                    log.warning(warning)
                return
        self.render_pages(sources, key)

    def render_pages(self, sources: list[tuple[str, str, str]], key: str | None) -> None:
        from .project import Finding, twin_problems, unique

        site = self.renderer()
        site.begin_build()
        findings: list[Finding] = []
        warnings: list[Finding] = []
        for src_uri, shown, text in sources:
            result = site.render_page(shown, text, html_tables=True)
            self.pages[src_uri] = (text, result.markdown, result.tables)
            findings.extend(result.findings)
            warnings.extend(result.warnings)
        problems, notices = site.check()
        findings.extend(problems)
        # A page and its translation show the same blocks.
        findings.extend(Finding(p) for p in twin_problems([(shown, text)
                                                           for _, shown, text in sources]))

        warnings.extend(notices)
        self.broken = None
        if findings:
            self.fail(report(unique(findings)))
            return
        shown_warnings = [str(warning) for warning in unique(warnings)]
        for warning in shown_warnings:
            log.warning(warning)
        if key is not None:
            built = CachedBuild({uri: (markdown, tables)
                                 for uri, (_, markdown, tables) in self.pages.items()},
                                shown_warnings, site.project.versions_read())
            try:
                _page_cache.save(self.cache_file, key, built)
            except OSError as e:
                log.info(f"cannot keep the pages in the cache {self.cache_file}: {e}")

    # After mkdocs-static-i18n (-100), which reads the source path of every file and
    # the playground's generated files have none; each language's build adds them again.
    @event_priority(-150)
    def on_files(self, files: Files, *, config: MkDocsConfig) -> Files:
        for uri, source in ((MERMAID_URI, self.mermaid_js), (PAN_ZOOM_URI, self.pan_zoom_js),
                            (SCRIPT_URI, ASSETS / "diagrams.js"),
                            (STYLE_URI, ASSETS / "diagrams.css")):
            existing = files.get_file_from_path(uri)
            if existing is not None:
                files.remove(existing)
            files.append(File.generated(config, uri, abs_src_path=str(source)))
        if self.pyodide is not None:
            try:
                playground = playground_files(self.pyodide, self.rules_dir, ASSETS)
            except ChainwalkError as e:
                raise PluginError(f"chainwalk: the playground's files: {e}") from None
            for uri, content in playground.items():
                existing = files.get_file_from_path(uri)
                if existing is not None:
                    files.remove(existing)
                files.append(File.generated(config, uri, content=content)
                             if isinstance(content, bytes)
                             else File.generated(config, uri, abs_src_path=str(content)))
        return files

    def on_env(self, env: jinja2.Environment, *, config: MkDocsConfig,
               files: Files) -> jinja2.Environment:
        if self.serving and env.bytecode_cache is None:
            env.bytecode_cache = self.templates
        return env

    def on_page_markdown(self, markdown: str, *, page: Page, config: MkDocsConfig,
                         files: Files) -> str:
        self.page = page  # MkDocs converts this page's Markdown next (Page.render)
        return markdown

    def render(self, markdown: str, md: Markdown) -> tuple[str, dict[str, str]]:
        """The extension's page (see ``PageRenderer``): the blocks the pre-build rendered,
        or while serving with broken rules, the last good build's with a banner."""
        page = self.page
        if page is None:  # Markdown that is no page's (another plugin converting some)
            return markdown, {}
        uri = page.file.src_uri
        if self.broken is not None:
            kept, tables = self.last_good.get(uri, (markdown, {}))
            # After the page's leading "# Title", which MkDocs takes the page title from.
            title, newline, rest = kept.partition("\n")
            if title.startswith("# "):
                return title + newline + "\n" + stale_banner(self.broken) + rest, tables
            return stale_banner(self.broken) + kept, tables
        rendered, tables = self.render_markdown(markdown, page)
        if self.serving:
            self.last_good[uri] = (rendered, tables)
        return rendered, tables

    def problem(self, message: str) -> None:
        where = "" if self.page is None else f" ({self.page.file.src_uri})"
        self.fail(message + where)

    def render_markdown(self, markdown: str, page: Page) -> tuple[str, dict[str, str]]:
        """The page's Markdown with its blocks rendered, and its tables' HTML."""
        found = self.pages.get(page.file.src_uri)
        if found is not None:
            text, rendered, tables = found
            part = rendered_part(text, markdown, rendered)
            if part is not None:
                return part, tables
        # A page the pre-build did not see (made by another plugin): render it now.
        from .project import unique

        result = self.renderer().render_page(page.file.src_uri, markdown, html_tables=True)
        if result.findings:
            raise PluginError(report(unique(result.findings)))
        for warning in unique(result.warnings):
            log.warning(str(warning))
        return result.markdown, result.tables

    @event_priority(1)  # just before the plugins of default priority (mermaid2)
    def _before_mermaid2(self, output: str, *, page: Page, config: MkDocsConfig) -> str:
        """Hide from mermaid2 what it need not parse: the whole page if it has no diagram,
        else its tables (see the module's docstring)."""
        self.set_aside = []
        self.hid_word = False
        if not DIAGRAM.search(output) and _HIDDEN_WORD not in output:
            # No diagram: no 3.6 MB of Mermaid (diagrams.js loads it if instant navigation
            # reaches a page with diagrams). mermaid2 skips a page without the word
            # "mermaid", else it would parse and re-serialise the page to find none: the
            # word is hidden from it, and put back just after.
            self.hid_word = True
            return _MERMAID_SCRIPT.sub("", output).replace("mermaid", _HIDDEN_WORD)
        if _SET_ASIDE.partition("{")[0] in output:  # the page quotes the marker: leave it be
            return output

        def set_aside(table: re.Match[str]) -> str:
            text = table.group()
            if "<table" in text[6:] or "mermaid" in text:
                return text
            self.set_aside.append(text)
            return _SET_ASIDE.format(len(self.set_aside) - 1)

        return _TABLE.sub(set_aside, output)

    @event_priority(-1)  # just after them
    def _after_mermaid2(self, output: str, *, page: Page, config: MkDocsConfig) -> str:
        """Put back what ``_before_mermaid2`` hid."""
        if self.hid_word:
            self.hid_word = False
            return output.replace(_HIDDEN_WORD, "mermaid")
        tables, self.set_aside = self.set_aside, []
        for number, table in enumerate(tables):
            marker = _SET_ASIDE.format(number)
            if output.count(marker) != 1:
                raise PluginError(f"chainwalk: a plugin changed a table of {page.file.src_uri} "
                                  f"that chainwalk had set aside ({marker} is gone)")
            output = output.replace(marker, table)
        return output

    @event_priority(-50)  # after the plugins that rewrite the page
    def _search_loader(self, output: str, *, page: Page, config: MkDocsConfig) -> str:
        """Each page loads its own language's search index (see ``_search_index``)."""
        return _search_index.with_loader(output)

    @event_priority(-50)
    def _playground_start(self, output: str, *, page: Page, config: MkDocsConfig) -> str:
        """The playground's page starts its engine from its ``<head>``."""
        if self.pyodide is None:
            return output
        return with_engine_started(output, get_relative_url(PLAYGROUND_URI + "playground.js",
                                                            page.url))

    on_post_page = CombinedEvent(_before_mermaid2, _after_mermaid2, _search_loader,
                                 _playground_start)

    @event_priority(-200)  # after mkdocs-static-i18n has written the whole index (-100)
    def on_post_build(self, *, config: MkDocsConfig) -> None:
        from .render import LANGUAGES

        site = Path(config.site_dir)
        index = site / "search" / "search_index.json"
        if index.is_file():
            _search_index.split_index(index, LANGUAGES)

    def on_serve(self, server: Any, *, config: MkDocsConfig, builder: Any) -> Any:
        server.watch(str(self.rules_dir))
        return server
