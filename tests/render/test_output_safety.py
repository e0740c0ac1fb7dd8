"""The golden outputs as the site's Markdown turns them into HTML: hostile text from the
fixture files stays text (no element, no broken table, no Mermaid statement)."""

from __future__ import annotations

import re
from pathlib import Path

import markdown
import pytest
import yaml
from render_helpers import GOLDEN

ROOT = Path(__file__).resolve().parents[2]


def site_markdown() -> markdown.Markdown:
    """Python-Markdown configured as mkdocs.yml configures it."""

    class Loader(yaml.SafeLoader):
        pass

    def python_name(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> object:
        module, _, name = suffix.rpartition(".")
        return getattr(__import__(module, fromlist=[name]), name)

    Loader.add_multi_constructor("tag:yaml.org,2002:python/name:", python_name)
    config = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=Loader)
    names, options = [], {}
    for item in config["markdown_extensions"]:
        if isinstance(item, dict):
            (name, value), = item.items()
            names.append(name)
            options[name] = value or {}
        else:
            names.append(item)
    return markdown.Markdown(extensions=names, extension_configs=options)


@pytest.mark.parametrize("golden", sorted(p.name for p in GOLDEN.glob("*.md")))
def test_golden_output_is_safe_html(golden: str) -> None:
    html = site_markdown().convert((GOLDEN / golden).read_text(encoding="utf-8"))
    assert "<script" not in html
    assert "<b>" not in html and "<em>" not in html and "<a " not in html
    for table in re.findall(r"<table>.*?</table>", html, re.S):
        head = len(re.findall(r"<th[ >]", table.split("</thead>")[0]))
        for row in re.findall(r"<tr>(.*?)</tr>", table.split("</thead>")[1], re.S):
            assert len(re.findall(r"<td[ >]", row)) == head, row
    # (The chainwalk extension marks a diagram data-search-exclude.)
    diagrams = re.findall(r'<pre\s+(?:data-search-exclude\s+)?class="mermaid"><code>(.*?)</code></pre>',
                          html, re.S)
    assert len(diagrams) == golden.startswith(("sequence", "chains", "overview"))
    for diagram in diagrams:
        # The one markup the renderer writes itself: an escaped line break.
        diagram = diagram.replace("&lt;br/&gt;", "\n")
        assert "<" not in diagram and "&" not in diagram.replace("&gt;", "")
        for line in diagram.splitlines():  # one statement per line, none from the input
            assert "%%" not in line and ";" not in re.sub(r"#\d+;", "", line)
