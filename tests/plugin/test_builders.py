"""The project's site built three ways, and compared: ``mkdocs build --strict`` (the
main path: the chainwalk plugin and extension, mermaid2's fence), ``properdocs build
--strict`` (the same mkdocs.yml, the plugin registered for ProperDocs) and ``zensical
build`` (which ignores MkDocs plugins: the extension alone, Mermaid through Zensical's
native fence, ``watch: [rules]``, which ``zensical serve`` is checked to follow).
Every computed diagram and table is in each; what
Zensical cannot do is listed in ``ZENSICAL_CANNOT`` and asserted, and docs/authors.md
says the same."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from plugin_helpers import site_copy
from test_serve import free_port

ROOT = Path(__file__).resolve().parents[2]
ZENSICAL_CONFIG = "zensical-mkdocs.yml"
NATIVE_MERMAID = "pymdownx.superfences.fence_code_format"

# What a Zensical build of the site lacks (each checked by test_what_zensical_cannot_do),
# and the words docs/authors.md says it with.
ZENSICAL_CANNOT = {
    "fail the build": "cannot fail the build",
    "check the whole rules folder": "an annotation naming an unknown scenario",
    "copy Mermaid": "js/mermaid.min.js",
    "keep diagrams out of search": "data-search-exclude",
}


def _python_name_loader() -> type[yaml.SafeLoader]:
    """A loader that keeps ``!!python/name:X`` tags as they are written."""

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("tag:yaml.org,2002:python/name:",
                                 lambda loader, suffix, node: PythonName(suffix))
    return Loader


@dataclass(frozen=True)
class PythonName:
    name: str


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(PythonName, lambda dumper, value: dumper.represent_scalar(
    f"tag:yaml.org,2002:python/name:{value.name}", ""))


def zensical_config(mkdocs_yml: str) -> str:
    """mkdocs.yml as Zensical builds it: the Mermaid fence Zensical's own, the rules
    folder watched (``zensical serve`` rebuilds on an edit there)."""
    config = yaml.load(mkdocs_yml, Loader=_python_name_loader())
    fences = [fence for item in config["markdown_extensions"] if isinstance(item, dict)
              for name, options in item.items() if name == "pymdownx.superfences"
              for fence in options["custom_fences"]]
    mermaid = [fence for fence in fences if fence["name"] == "mermaid"]
    assert len(mermaid) == 1, fences
    mermaid[0]["format"] = PythonName(NATIVE_MERMAID)
    config["watch"] = ["rules"]
    return str(yaml.dump(config, Dumper=_Dumper, sort_keys=False, allow_unicode=True))


def project_copy(target: Path) -> Path:
    """The site's sources in ``target`` (``site_copy``), with the Zensical config next to
    mkdocs.yml."""
    site_copy(target)
    mkdocs_yml = (target / "mkdocs.yml").read_text(encoding="utf-8")
    (target / ZENSICAL_CONFIG).write_text(zensical_config(mkdocs_yml), encoding="utf-8")
    return target


def run(project: Path, *command: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    return subprocess.run([sys.executable, "-m", *command], cwd=project, env=env,
                          capture_output=True, text=True, timeout=600, check=False)


def build(project: Path, builder: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    site = project / f"site-{builder}"
    if builder == "zensical":
        done = run(project, "zensical", "build", "--clean", "--strict", "-f", ZENSICAL_CONFIG)
        if (project / "site").is_dir():  # Zensical takes its site_dir from the config
            shutil.move(project / "site", site)
    else:
        done = run(project, builder, "build", "--strict", "-f", "mkdocs.yml", "-d", str(site))
    return done, site


@dataclass
class Page:
    diagrams: list[str]  # each Mermaid diagram's source, as Mermaid reads it
    tables: list[str]  # each table's text, tags and spacing left out
    search_excluded: int  # diagrams marked data-search-exclude
    problems: int  # chainwalk's error admonitions


def pages(site: Path) -> dict[str, Page]:
    found = {}
    for path in sorted(site.rglob("index.html")):
        text = path.read_text(encoding="utf-8")
        article = re.search(r"<article\b[^>]*>(.*?)</article>", text, re.S)
        assert article is not None, path
        body = article.group(1)
        pres = re.findall(r'<pre\b([^>]*\bclass="mermaid"[^>]*)><code>(.*?)</code></pre>',
                          body, re.S)
        tables = [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", table)).split())
                  for table in re.findall(r"<table\b.*?</table>", body, re.S)]
        found[path.relative_to(site).as_posix()] = Page(
            # (mermaid2's fence keeps the source's last newline, superfences' drops it.)
            [html.unescape(source).rstrip("\n") for _, source in pres], tables,
            sum("data-search-exclude" in attributes for attributes, _ in pres),
            body.count('<p class="admonition-title">chainwalk: '))
    return found


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    project = project_copy(tmp_path_factory.mktemp("builders") / "project")
    sites = {}
    for builder in ("mkdocs", "properdocs", "zensical"):
        done, sites[builder] = build(project, builder)
        assert done.returncode == 0, f"{builder} build failed:\n{done.stderr}"
        assert "chainwalk:" not in done.stderr and "ERROR" not in done.stderr, done.stderr
    return sites


def test_the_zensical_config_is_mkdocs_yml_with_its_own_mermaid_fence() -> None:
    mkdocs_yml = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    derived = zensical_config(mkdocs_yml)
    assert "mermaid2.fence_mermaid_custom" in mkdocs_yml
    assert "mermaid2.fence_mermaid_custom" not in derived and NATIVE_MERMAID in derived
    original = yaml.load(mkdocs_yml, Loader=_python_name_loader())
    changed = yaml.load(derived, Loader=_python_name_loader())
    assert set(changed) - set(original) == {"watch"} and changed["watch"] == ["rules"]
    assert {k: v for k, v in changed.items() if k not in ("watch", "markdown_extensions")} \
        == {k: v for k, v in original.items() if k != "markdown_extensions"}


def test_every_builder_shows_every_computed_diagram_and_table(built: dict[str, Path]) -> None:
    mkdocs, properdocs, zensical = (pages(built[b]) for b in ("mkdocs", "properdocs",
                                                              "zensical"))
    assert sum(len(p.diagrams) for p in mkdocs.values()) >= 30
    assert sum(len(p.tables) for p in mkdocs.values()) >= 30
    # The Chinese edition (/zh/) is mkdocs-static-i18n's: Zensical builds it only through
    # zensical-i18n's wrapper (see docs/authors.md), so the English pages are compared.
    english = {name for name in mkdocs if not name.startswith("zh/")}
    assert set(mkdocs) == set(properdocs) and english <= set(zensical)
    assert len(english) < len(mkdocs)
    for name, page in ((name, mkdocs[name]) for name in sorted(english)):
        assert page.problems == 0, name
        for other in (properdocs[name], zensical[name]):
            assert other.diagrams == page.diagrams, name
            assert other.tables == page.tables, name
            assert other.problems == 0, name


def test_the_plugin_and_the_extension_are_registered_for_every_builder() -> None:
    from importlib.metadata import entry_points

    from chainwalk.markdown_extension import ChainwalkExtension
    from chainwalk.mkdocs_plugin import ChainwalkPlugin

    for group, wanted in (("mkdocs.plugins", ChainwalkPlugin),
                          ("properdocs.plugins", ChainwalkPlugin),
                          ("markdown.extensions", ChainwalkExtension)):
        found = [e for e in entry_points(group=group) if e.name == "chainwalk"]
        assert len(found) == 1 and found[0].load() is wanted, group


def test_properdocs_builds_the_same_pages(built: dict[str, Path]) -> None:
    def without_generator(path: Path) -> str:
        return re.sub(r'<meta[^>]*name="generator"[^>]*>|<meta content="[^"]*" '
                      r'name="generator"/>', "", path.read_text(encoding="utf-8"))

    for path in sorted(built["mkdocs"].rglob("*.html")):
        other = built["properdocs"] / path.relative_to(built["mkdocs"])
        assert without_generator(other) == without_generator(path), path


def test_what_zensical_cannot_do(built: dict[str, Path], tmp_path: Path) -> None:
    # Copy Mermaid into the site, and keep diagrams out of the search index.
    assert (built["mkdocs"] / "js" / "mermaid.min.js").is_file()
    assert not (built["zensical"] / "js" / "mermaid.min.js").exists()
    mkdocs, zensical = pages(built["mkdocs"]), pages(built["zensical"])
    assert all(p.search_excluded == len(p.diagrams) for p in mkdocs.values())
    assert all(p.search_excluded == 0 for p in zensical.values())

    # Fail the build: a broken block fails mkdocs (every problem in one error, see
    # test_build.py), but Zensical succeeds with the problem on the page and in its log.
    project = project_copy(tmp_path / "broken")
    index = project / "docs" / "index.md"
    text = index.read_text(encoding="utf-8")
    assert "scenario: bookinfo/inbound\n" in text  # the first block showing it breaks
    index.write_text(text.replace("scenario: bookinfo/inbound\n", "scenario: bookinfo/nope\n",
                                  1), encoding="utf-8")
    line = text[:text.rindex("```chainwalk", 0, text.index("bookinfo/inbound"))].count("\n") + 1
    problem = (f"docs/index.md:{line}:1: rules/scenarios/bookinfo.yaml: no scenario 'nope' "
               "in bookinfo")
    done, site = build(project, "zensical")
    assert done.returncode == 0, done.stderr
    assert problem in done.stderr, done.stderr
    assert pages(site)["index.html"].problems == 1

    # Check the whole rules folder: an annotation naming an unknown scenario (which no
    # block renders) fails mkdocs (see test_build.py) but is not reported.
    index.write_text(text, encoding="utf-8")
    notes = project / "rules" / "rulesets" / "classic.annotations.yaml"
    notes_text = notes.read_text(encoding="utf-8")
    assert "scenario: classic/excluded-22\n" in notes_text
    notes.write_text(notes_text.replace("scenario: classic/excluded-22\n",
                                        "scenario: classic/excluded-23\n"), encoding="utf-8")
    done, _ = build(project, "zensical")
    assert done.returncode == 0 and "excluded-23" not in done.stderr, done.stderr


def test_the_authors_page_says_what_zensical_cannot_do() -> None:
    authors = (ROOT / "docs" / "authors.md").read_text(encoding="utf-8")
    assert "## Other builders" in authors
    section = authors.split("## Other builders", 1)[1].split("\n## ", 1)[0]
    section = " ".join(section.split())  # the page's lines wrap anywhere
    for what in (*ZENSICAL_CANNOT.values(), "watch: [rules]", "properdocs build --strict",
                 "zensical build", NATIVE_MERMAID):
        assert " ".join(what.split()) in section, what


def test_zensical_serve_rebuilds_when_a_rules_file_changes(tmp_path: Path) -> None:
    """``watch: [rules]`` in the derived config: an annotation edit reaches the page."""
    project = project_copy(tmp_path / "served")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "zensical", "serve", "-a", f"127.0.0.1:{port}", "-f",
         ZENSICAL_CONFIG], cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def shows(text: str) -> bool:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/rules/", timeout=5) as r:
                    if text in r.read().decode("utf-8"):
                        return True
            except OSError:
                pass
            time.sleep(0.2)
        return False

    notes = project / "rules" / "rulesets" / "current.annotations.yaml"
    try:
        assert shows("Inbound capture entry")
        notes.write_text(notes.read_text(encoding="utf-8").replace(
            "name: Inbound capture entry", "name: Inbound capture doorway"), encoding="utf-8")
        assert shows("Inbound capture doorway")
    finally:
        server.terminate()
        server.wait(timeout=15)
