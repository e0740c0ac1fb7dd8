"""The chainwalk Markdown extension alone (as Zensical, or MkDocs without the plugin, runs
it): blocks rendered in Python-Markdown, problems shown in the page and logged."""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

import markdown
import pytest
from plugin_helpers import FIXTURES

from chainwalk.markdown_extension import ChainwalkExtension, fence_escapes

RULES = FIXTURES / "ok" / "rules"
MERMAID2 = "mermaid2.fence_mermaid_custom"


def converter(*, extension: bool = True, rules_dir: Path = RULES) -> markdown.Markdown:
    from mermaid2 import fence_mermaid_custom

    from chainwalk.markdown_extension import unrendered_block

    fences = [{"name": "mermaid", "class": "mermaid", "format": fence_mermaid_custom},
              {"name": "chainwalk", "class": "chainwalk", "format": unrendered_block}]
    names = ["tables", "admonition", "pymdownx.superfences", *(["chainwalk"] if extension
                                                                else [])]
    return markdown.Markdown(extensions=names, extension_configs={
        "pymdownx.superfences": {"custom_fences": fences},
        "chainwalk": {"rules_dir": str(rules_dir)}})


def test_a_page_renders_its_diagrams_and_tables() -> None:
    page = (FIXTURES / "ok" / "docs" / "index.md").read_text(encoding="utf-8")
    html = converter().convert(page.split("---\n", 2)[2])
    assert html.count('class="mermaid"') == 4  # 3 sequences (one indented) and the chains
    assert len(re.findall(r'<pre data-search-exclude\s+class="mermaid">', html)) == 4
    assert "<table>" in html and "Inbound delivery" in html and "CHAINWALK-TABLE" not in html
    assert "```chainwalk" not in html and "view: sequence" not in html


def test_a_broken_block_is_an_error_in_the_page_and_in_the_log(
        caplog: pytest.LogCaptureFixture) -> None:
    page = "# Page\n\nText.\n\n```chainwalk\nview: sequence\nscenario: shop/nope\n```\n"
    with caplog.at_level(logging.ERROR, logger="chainwalk"):
        html = converter().convert(page)
    assert '<div class="admonition failure">' in html
    assert "chainwalk: this block could not be rendered" in html
    assert "the page:5:1: " in caplog.text  # no builder said which page this is
    assert "rules/scenarios/shop.yaml: no scenario 'nope' in shop" in caplog.text
    assert "rules/scenarios/shop.yaml: no scenario 'nope' in shop" in html
    assert "<h1>Page</h1>" in html and "<p>Text.</p>" in html


def test_a_block_the_extension_did_not_render_is_an_error() -> None:
    block = "```chainwalk\nview: sequence\nscenario: shop/call\n```\n"
    html = converter(extension=False).convert(block)
    assert "this block was not rendered" in html and "add chainwalk to markdown_extensions" \
        in html
    html = converter().convert(block.replace("```chainwalk\n", "```chainwalk {.x}\n"))
    assert "this block was not rendered" in html and "remove what follows" in html
    assert "scenario: shop/call" in html  # the block, shown as what was not rendered


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="rules_dir is a folder name, got 3"):
        ChainwalkExtension(rules_dir=3)
    with pytest.raises(KeyError):
        ChainwalkExtension(rule_dir="rules")


def test_which_mermaid_fences_escape_the_source() -> None:
    from mermaid2 import fence_mermaid_custom
    from pymdownx.superfences import fence_code_format

    assert not fence_escapes([{"name": "mermaid", "class": "mermaid",
                               "format": fence_mermaid_custom}])
    assert fence_escapes([{"name": "mermaid", "class": "mermaid", "format": fence_code_format}])
    assert fence_escapes([{"name": "mermaid", "class": "mermaid"}])  # superfences' default


def test_a_scenario_whose_expectations_fail_is_an_error_above_its_diagram(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    pod = rules / "rulesets" / "pod.rules"
    pod.write_text(pod.read_text(encoding="utf-8").replace("--to-ports 15006",
                                                           "--to-ports 15007"),
                   encoding="utf-8")
    page = "```chainwalk\nview: sequence\nscenario: shop/call\n```\n"
    with caplog.at_level(logging.ERROR, logger="chainwalk"):
        html = converter(rules_dir=rules).convert(page)
    assert "chainwalk: what this block shows no longer holds" in html
    assert html.index("admonition failure") < html.index('class="mermaid"')  # both shown
    assert "shop/call: final receiver" in html and "shop/call: final receiver" in caplog.text
    assert "the page:1:1: " in caplog.text
