"""The views' tables written straight to HTML: byte for byte what Python-Markdown makes
of them, or None (the table then stays Markdown)."""

from __future__ import annotations

import re
from pathlib import Path

import markdown
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from render_helpers import GOLDEN

from chainwalk.render import TABLE_PLACEHOLDER, Project, Site, md_code, md_text
from chainwalk.render._html import TABLE, table_html

ROOT = Path(__file__).parents[2]
# The site's extensions (mkdocs.yml) that can touch a table cell.
EXTENSIONS = ["tables", "attr_list", "md_in_html", "admonition", "pymdownx.inlinehilite",
              "pymdownx.superfences", "pymdownx.details"]
INDENTED_TABLE = re.compile(r"(?m)^([ \t]*)\|.*\|\n\1\|(?: *:?-+:? *\|)+\n(?:\1\|.*\|\n)*")


def python_markdown(table: str) -> str:
    return markdown.markdown(table, extensions=EXTENSIONS)


def tables_in(texts: list[str]) -> list[str]:
    """Every table in ``texts``, as Markdown without its indentation."""
    tables = []
    for text in texts:
        for found in INDENTED_TABLE.finditer(text):
            indent = len(found.group(1))
            tables.append("\n".join(line[indent:] for line in found.group().split("\n")))
    return tables


def site_pages() -> list[str]:
    """Each page as rendered, without the tables its author wrote by hand (such as the
    ports table): those are Python-Markdown's to convert, never table_html's."""
    site = Site(Project(ROOT / "rules", ROOT))
    site.begin_build()
    pages = []
    for page in sorted((ROOT / "docs").rglob("*.md")):
        source = page.read_text(encoding="utf-8")
        rendered = site.render_page(page.name, source).markdown
        for written in INDENTED_TABLE.finditer(source):
            rendered = rendered.replace(written.group(), "")
        pages.append(rendered)
    return pages


def golden_views() -> list[str]:
    return [path.read_text(encoding="utf-8") for path in sorted(GOLDEN.glob("*.md"))]


@pytest.mark.parametrize("texts", [site_pages, golden_views], ids=["site", "goldens"])
def test_every_generated_table_is_written_as_python_markdown_writes_it(texts: object) -> None:
    assert callable(texts)
    tables = tables_in(texts())
    assert len(tables) >= 5
    for table in tables:
        assert TABLE.fullmatch(table), table
        assert table_html(table) == python_markdown(table), table


CELL_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=30)
CELL = st.one_of(
    CELL_TEXT.map(md_text), CELL_TEXT.map(md_code),
    st.tuples(CELL_TEXT.map(md_text), CELL_TEXT.map(md_code)).map(" ".join),
    CELL_TEXT.filter(lambda t: md_text(t).strip()).map(lambda t: f"**{md_text(t)}**: x"),
    CELL_TEXT.map(lambda t: f'<span class="chainwalk-note">{md_text(t)}</span>'))


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 4).flatmap(lambda n: st.tuples(
    st.lists(st.sampled_from(["---", ":--", "--:", ":-:"]), min_size=n, max_size=n),
    st.lists(st.lists(CELL, min_size=n, max_size=n), min_size=2, max_size=4))))
def test_cells_the_views_write_convert_exactly(table: tuple[list[str], list[list[str]]]) -> None:
    aligns, (header, *rows) = table
    lines = ["| " + " | ".join(c or " " for c in row) + " |" for row in [header, *rows]]
    text = "\n".join([lines[0], "| " + " | ".join(aligns) + " |", *lines[1:]]) + "\n"
    converted = table_html(text)
    # A code span pymdownx.inlinehilite could colour is left to Markdown; nothing else is.
    assert converted is not None or re.search(r"`+ ?(#!|:::)", text), text
    assert converted is None or converted == python_markdown(text), text


@pytest.mark.parametrize("cell", [
    "[a link](x.md)", "_emphasis_", "*emphasis*", "a\\|b", "it's", "<b>bold</b>", "a & b",
    "`#!python print()`", "`unclosed", "~~gone~~", "==mark=="])
def test_anything_else_in_a_cell_leaves_the_table_to_markdown(cell: str) -> None:
    assert table_html(f"| h |\n| --- |\n| {cell} |\n") is None


@pytest.mark.parametrize("table", ["| a | b |\n| --- | --- |\n| 1 | 2 | 3 |\n",
                                   "| a | b |\n| --- | --- |\n"], ids=["wide row", "no body"])
def test_an_odd_shape_leaves_the_table_to_markdown(table: str) -> None:
    assert table_html(table) is None


BLOCK = """# Page

```chainwalk
ruleset: mini
chain: OUTPUT
view: rules
```
"""


def test_render_page_sets_the_tables_aside_only_when_asked(site: Site) -> None:
    plain = site.render_page("docs/p.md", BLOCK)
    assert plain.tables == {} and "| # | target |" in plain.markdown
    aside = site.render_page("docs/p.md", BLOCK, html_tables=True)
    placeholder = TABLE_PLACEHOLDER.format(0)
    assert list(aside.tables) == [placeholder]
    assert placeholder in aside.markdown and "| # | target |" not in aside.markdown
    table = re.search(r"(?ms)^\| # \| target.*?(?=\n\n|\Z)", plain.markdown)
    assert table is not None
    assert aside.tables[placeholder] == python_markdown(table.group() + "\n")
    # The placeholder is a paragraph of its own, where the table was.
    assert f"\n\n{placeholder}\n" in aside.markdown


def test_a_page_that_quotes_the_placeholder_keeps_its_tables_in_markdown(site: Site) -> None:
    page = BLOCK + "\nThe plugin writes " + TABLE_PLACEHOLDER.format(7) + ".\n"
    result = site.render_page("docs/p.md", page, html_tables=True)
    assert result.tables == {} and "| # | target |" in result.markdown
