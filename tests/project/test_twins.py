"""A page and its Chinese twin carry the same blocks: one missing on either side is a
problem naming both files and lines."""

from __future__ import annotations

from chainwalk.project import twin_of, twin_problems

EN = """# Page

```chainwalk
view: sequence
scenario: a/b
```

Text.

```chainwalk
view: rules
ruleset: current
chain: ISTIO_OUTPUT
```
"""


def test_twin_paths() -> None:
    assert twin_of("docs/cases/dns.md", "zh") == "docs/cases/dns.zh.md"
    assert twin_of("docs/cases/dns.zh.md", "en") == "docs/cases/dns.md"


def test_the_same_blocks_in_another_spelling_are_twins() -> None:
    zh = EN.replace("Text.", "文字。").replace("view: rules\nruleset: current",
                                             "ruleset: 'current'\nview: rules")
    assert twin_problems([("docs/p.md", EN), ("docs/p.zh.md", zh)]) == []


def test_a_block_missing_in_the_translation_names_both_places() -> None:
    zh = EN[:EN.index("Text.")] + "文字。\n"
    found = [str(p) for p in twin_problems([("docs/p.md", EN), ("docs/p.zh.md", zh)])]
    assert found == ["docs/p.md:10:1: this block is not in docs/p.zh.md (after line 3 there): "
                     "got 'view: rules ruleset: current chain: ISTIO_OUTPUT', expected the "
                     "same block in docs/p.zh.md"]


def test_a_block_only_the_translation_has_is_a_problem_too() -> None:
    zh = EN + "\n```chainwalk\nview: trace\nscenario: a/c\n```\n"
    found = [str(p) for p in twin_problems([("docs/p.md", EN), ("docs/p.zh.md", zh)])]
    assert found == ["docs/p.zh.md:16:1: this block is not in docs/p.md (after line 10 there): "
                     "got 'view: trace scenario: a/c', expected the same block in docs/p.md"]


def test_a_changed_block_is_reported_on_both_sides() -> None:
    zh = EN.replace("scenario: a/b", "scenario: a/x")
    found = [str(p) for p in twin_problems([("docs/p.md", EN), ("docs/p.zh.md", zh)])]
    assert [f.split(":")[0] + ":" + f.split(":")[1] for f in found] == ["docs/p.md:3",
                                                                       "docs/p.zh.md:3"]


def test_pages_without_twins_once_the_site_is_translated() -> None:
    assert twin_problems([("docs/p.md", EN), ("docs/q.md", EN)]) == []
    found = [str(p) for p in twin_problems([("docs/p.md", EN), ("docs/p.zh.md", EN),
                                            ("docs/q.md", EN), ("docs/r.zh.md", EN)])]
    assert found == ["docs/q.md:1:1: the page has no zh twin, expected docs/q.zh.md, with the "
                     "same blocks",
                     "docs/r.zh.md:1:1: a translated page without its English page, expected "
                     "docs/r.md"]


CLAIMS = """# Page

Rule 10 is `chainwalk: never ISTIO_OUTPUT#10 in current | never reached`
`chainwalk: never ISTIO_OUTPUT#8 in classic |`.

UDP `chainwalk: every ISTIO_OUTPUT#11 in dns where udp dst=127.0.0.1 | ends here`.
"""
CLAIMS_ZH = """# 页面

第 10 条 `chainwalk: never ISTIO_OUTPUT#10 in current | 永远走不到` `chainwalk:   never ISTIO_OUTPUT#8  in classic |`。

UDP `chainwalk: every ISTIO_OUTPUT#11 in dns where udp dst=127.0.0.1 | 在这里结束`。
"""


def test_the_same_inline_claims_with_their_own_text_are_twins() -> None:
    assert twin_problems([("docs/p.md", CLAIMS), ("docs/p.zh.md", CLAIMS_ZH)]) == []


def test_an_inline_claim_missing_in_the_translation_names_both_places() -> None:
    zh = CLAIMS_ZH.replace(" `chainwalk:   never ISTIO_OUTPUT#8  in classic |`", "")
    found = [str(p) for p in twin_problems([("docs/p.md", CLAIMS), ("docs/p.zh.md", zh)])]
    assert found == ["docs/p.md:4:1: this inline claim is not in docs/p.zh.md (after line 3 "
                     "there): got '`chainwalk: never ISTIO_OUTPUT#8 in classic`', expected "
                     "the same inline claim in docs/p.zh.md"]


def test_an_inline_claim_that_differs_or_moves_is_reported_on_both_sides() -> None:
    zh = CLAIMS_ZH.replace("where udp dst=127.0.0.1", "where tcp dst=127.0.0.1")
    found = [str(p) for p in twin_problems([("docs/p.md", CLAIMS), ("docs/p.zh.md", zh)])]
    assert found == [
        "docs/p.md:6:5: this inline claim is not in docs/p.zh.md (after line 3 there): got "
        "'`chainwalk: every ISTIO_OUTPUT#11 in dns where udp dst=127.0.0.1`', expected the "
        "same inline claim in docs/p.zh.md",
        "docs/p.zh.md:5:5: this inline claim is not in docs/p.md (after line 4 there): got "
        "'`chainwalk: every ISTIO_OUTPUT#11 in dns where tcp dst=127.0.0.1`', expected the "
        "same inline claim in docs/p.md"]
    first, second = CLAIMS_ZH.split("\n")[2].split(" `chainwalk:   ")
    swapped = CLAIMS_ZH.replace(first + " `chainwalk:   " + second,
                                "第 10 条 `chainwalk: " + second.removesuffix("。")
                                + " " + first.removeprefix("第 10 条 ") + "。")
    assert swapped != CLAIMS_ZH
    found = [str(p) for p in twin_problems([("docs/p.md", CLAIMS), ("docs/p.zh.md", swapped)])]
    assert len(found) == 2 and "ISTIO_OUTPUT#" in found[0]


def test_a_claim_inside_a_code_block_is_an_example_not_a_claim() -> None:
    zh = CLAIMS_ZH + "\n```markdown\n`chainwalk: never ISTIO_OUTPUT#5 in classic`\n```\n"
    assert twin_problems([("docs/p.md", CLAIMS), ("docs/p.zh.md", zh)]) == []
