"""Escaping: any string from a file comes out as literal text in Markdown tables, HTML
and Mermaid labels, never as syntax."""

from __future__ import annotations

import html
import re
from pathlib import Path

import markdown
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from chainwalk.render import html_text, md_code, md_text, mermaid_text

# The site's Markdown extensions (mkdocs.yml) plus the ones a page author might add.
# Not pymdownx.smartsymbols: it rewrites letters and digits ("1st", "1/2", "c/o"), which
# no escaping of punctuation can keep literal; a site that wants it gets those symbols.
EXTENSIONS = ["tables", "toc", "admonition", "attr_list", "md_in_html", "pymdownx.details",
              "pymdownx.superfences", "pymdownx.inlinehilite", "pymdownx.magiclink",
              "pymdownx.mark", "pymdownx.tilde", "pymdownx.caret", "pymdownx.keys",
              "smarty", "footnotes", "abbr", "def_list"]
HOSTILE = ['<script>alert(1)</script>', 'a | b', 'x; y', '#35;', '--> arrow', '%%{init: {}}%%',
           '"quoted"', "it's", '`tick`', '**bold** _em_ ~~del~~ ==mark== ^^ins^^', '[l](u)',
           ':smile:', '{: .class}', '&amp; &lt;', 'https://example.com/x', '\\\\ back',
           '<!-- c -->', '++ctrl+c++', 'line\nbreak\ttab', 'end', '[^1]']
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=60)


class _ConfigLoader(yaml.SafeLoader):
    """mkdocs.yml's ``!!python/name:`` tags read as plain strings."""


_ConfigLoader.add_multi_constructor(
    "tag:yaml.org,2002:python/", lambda loader, suffix, node: suffix)


def cell_text(source: str) -> str:
    """The text of the single body cell of a one-column table holding ``source``."""
    md = markdown.Markdown(extensions=EXTENSIONS)
    out = md.convert(f"| h |\n| --- |\n| {source} |")
    body = out.split("<tbody>")[1]
    cells = re.findall(r"<td>(.*?)</td>", body, re.S)
    assert len(cells) == 1, out
    assert "<" not in re.sub(r"</?code>", "", cells[0]), out  # no element but our code span
    return html.unescape(re.sub(r"</?code>", "", cells[0]))


def expected(text: str) -> str:
    return " ".join(text.split())


def test_the_site_uses_only_extensions_the_escaping_is_checked_against() -> None:
    config = yaml.load((Path(__file__).parents[2] / "mkdocs.yml").read_text(),
                       Loader=_ConfigLoader)
    names = {next(iter(item)) if isinstance(item, dict) else item
             for item in config["markdown_extensions"]}
    assert names - {"chainwalk", "pymdownx.highlight"} <= set(EXTENSIONS)


def test_hostile_strings_are_literal_prose() -> None:
    for text in HOSTILE:
        assert cell_text(md_text(text)) == expected(text), text


def test_hostile_strings_are_literal_code() -> None:
    for text in HOSTILE:
        assert cell_text(md_code(text)) == expected(text), text


@settings(max_examples=150, deadline=None)
@given(TEXT)
def test_any_prose_round_trips_through_markdown(text: str) -> None:
    if not expected(text):
        return
    assert cell_text(md_text(text)) == expected(text)


@settings(max_examples=150, deadline=None)
@given(TEXT)
def test_any_code_round_trips_through_markdown(text: str) -> None:
    if not expected(text) or expected(text).strip("`") == "":
        return
    assert cell_text(md_code(text)) == expected(text)


@given(TEXT)
def test_mermaid_labels_hold_no_syntax(text: str) -> None:
    label = mermaid_text(text)
    assert "\n" not in label
    # Every ; ends one of our #NN; codes, and every # starts one.
    assert re.fullmatch(r"(?:[^#;]|#\d+;)*", label)
    plain = re.sub(r"#\d+;", "", label)
    for forbidden in '"<>&%;:#`|{}[]()\\':
        assert forbidden not in plain
    decoded = re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), label)
    assert decoded == expected(text)


def test_mermaid_keeps_names_readable() -> None:
    assert mermaid_text("ISTIO_OUTPUT 10.0.0.1/32 a-b") == "ISTIO_OUTPUT 10.0.0.1/32 a-b"
    assert mermaid_text("x --> y") == "x --#62; y"
    assert mermaid_text("%%{init}%%") == "#37;#37;#123;init#125;#37;#37;"


def test_html_text() -> None:
    assert html_text('<a href="x">&\'</a>') == "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
