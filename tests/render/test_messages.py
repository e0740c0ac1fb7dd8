"""The message catalogs: one per language, the same keys with the same values to fill
in, every key the renderers use present; and a block renders the same structure (rules,
hops, numbers, diagram statements) in every language."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import get_args

import pytest
from test_views_golden import CASES

from chainwalk._errors import ChainwalkError
from chainwalk.journey import HOP_OUTCOMES, RESULTS
from chainwalk.netfilter import Disposition
from chainwalk.netfilter._reasons import ENGLISH as ENGLISH_REASONS
from chainwalk.netfilter._reasons import REASON_CODES, because
from chainwalk.project import Project, Site
from chainwalk.render import LANGUAGES, Request, messages, page_language
from chainwalk.render._claims import KINDS, OUTCOMES
from chainwalk.render._diff import ChangeKind
from chainwalk.render._messages import fields
from chainwalk.render._rules import COLUMNS

PACKAGE = Path(__file__).parents[2] / "plugins" / "chainwalk"
# msg("key" ...) and msg(f"family.{...}") in the code.
_STATIC = re.compile(r"""msg\(\s*["']([a-z][\w.-]*)["']""")
# msg("a.one" if ... else "a.other")
_OTHER = re.compile(r"""msg\(\s*["'][\w.-]+["']\s+if\s.*?\selse\s+["']([a-z][\w.-]*)["']""")
_DYNAMIC = re.compile(r"""msg\(\s*f["']([a-z][\w.-]*\.)\{""")
# The keys of the families the code fills in (msg(f"outcome.{hop.outcome}")...).
FAMILIES = {
    "outcome.": HOP_OUTCOMES,
    "result.": RESULTS,
    "trace.column.": ("hop", "pod", "chain", "number", "result", "rule"),
    "rules.column.": (*COLUMNS, "purpose"),
    "overview.column.": ("step", "move", "rule"),
    "coverage.column.": ("chain", "number", "rule", "by"),
    "diff.kind.": tuple(kind.replace(" ", "-") for kind in get_args(ChangeKind)),
    "claim.inline.": KINDS,
    "claim.change.": OUTCOMES,
    "claim.": ("never", "every", "none"),  # the kinds whose sentence takes no extra value
    "correspondence.disposition.": get_args(Disposition),
    "playground.step.where.": ("rule", "policy", "return", "skipped"),
    "playground.step.": ("matched", "not-matched", "assumed", "assumed-not"),
}


# The playground's script names its words by their whole key, as a string.
_SCRIPT = re.compile(r'"(playground\.ui\.[\w.-]*[\w-])"')


def _used() -> tuple[set[str], set[str]]:
    static: set[str] = set()
    families: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        static.update(_STATIC.findall(text))
        static.update(_OTHER.findall(text))
        families.update(_DYNAMIC.findall(text))
    static.update(_SCRIPT.findall((PACKAGE / "assets" / "playground.js").read_text("utf-8")))
    return static, families


def test_every_language_has_the_same_keys_and_fields() -> None:
    english = messages("en").texts
    for language in LANGUAGES:
        texts = messages(language).texts
        assert set(texts) == set(english), language
        for key, text in texts.items():
            assert fields(text) == fields(english[key]), (language, key)
            # Only a joiner may be blank: what goes between phrases (nothing in Chinese).
            assert text.strip() or key.endswith("joiner"), (language, key)


def test_every_message_the_code_uses_is_in_the_catalogs_and_no_other() -> None:
    static, families = _used()
    assert families <= set(FAMILIES), families - set(FAMILIES)
    used = static | {family + name for family in families for name in FAMILIES[family]}
    used |= {f"reason.{code}" for code in REASON_CODES}  # Messages.reason(...)
    for language in LANGUAGES:
        texts = set(messages(language).texts)
        assert used - texts == set(), language
        assert texts - used == set(), language


def test_a_page_language_is_its_file_suffix() -> None:
    assert page_language("docs/index.zh.md") == "zh"
    assert page_language("docs/cases/dns.md") == "en"
    assert page_language("docs/v1.2/notes.md") == "en"
    assert page_language("index.en.md") == "en"


_FENCE = re.compile(r"^(`{3,})\w*\n.*?^\1$", re.MULTILINE | re.DOTALL)


def _statement(line: str) -> str:
    """A diagram line without its words: labels ("...") and message text (after ':')."""
    line = re.sub(r'"[^"]*"', '""', line.strip())
    line = re.sub(r"^(participant \w+) as .*|^(box|title) .*", r"\1\2", line)
    return re.sub(r":.*", "", line)


def _structure(markdown: str) -> dict[str, object]:
    """What must not depend on the language: the code spans (rules, chains, targets,
    addresses), the numbers, each table row's cell count, the diagram statements."""
    diagrams = "\n".join(m.group() for m in _FENCE.finditer(markdown))
    prose = _FENCE.sub("", markdown)
    return {
        "code": Counter(re.findall(r"`+[^`]+`+", prose)),
        "numbers": Counter(re.findall(r"\d+", re.sub(r"&#\d+;|#\d+;|rgba\([^)]*\)", "",
                                                     markdown))),
        "rows": [line.count(" | ") for line in prose.split("\n") if line.startswith("|")],
        "statements": [_statement(line) for line in diagrams.split("\n")],
    }


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_block_has_the_same_structure_in_every_language(site: Site, name: str) -> None:
    english = site.render(CASES[name], messages("en")).markdown
    for language in LANGUAGES[1:]:
        translated = site.render(CASES[name], messages(language)).markdown
        assert translated != english or "mermaid" in english, (language, name)
        assert _structure(translated) == _structure(english), (language, name)


def test_every_reason_code_has_a_template_in_every_language_with_the_same_fields() -> None:
    assert list(ENGLISH_REASONS) == list(REASON_CODES)
    for language in LANGUAGES:
        texts = messages(language).texts
        for code in REASON_CODES:
            text = texts[f"reason.{code}"]
            assert fields(text) == fields(ENGLISH_REASONS[code]), (language, code)
            assert text.strip(), (language, code)


def test_the_english_reasons_are_the_engines_table_not_a_copy() -> None:
    english = messages("en")
    for code, text in ENGLISH_REASONS.items():
        assert english.texts[f"reason.{code}"] is text
    catalog = (PACKAGE / "render" / "messages" / "en.yaml").read_text(encoding="utf-8")
    assert not re.search(r"^reason\.", catalog, re.MULTILINE)


def test_a_reason_reads_in_the_pages_language_nested_reasons_too() -> None:
    reason = because("assumed-not", choice=because("statistic.random", probability="0.5"))
    assert str(reason) == "assumed not: random, probability 0.5"
    assert messages("en").reason(reason) == str(reason)
    assert messages("zh").reason(reason) == "假定不成立：随机，概率 0.5"


def test_a_chinese_trace_table_shows_chinese_reasons(site: Site) -> None:
    request = CASES["trace-call-reasons.md"]
    english = site.render(request, messages("en")).markdown
    chinese = site.render(request, messages("zh")).markdown
    assert "no match: source 10.0.0.1 is not in 127.0.0.6/32" in english
    assert "不匹配：源地址 10.0.0.1 不在 127.0.0.6/32 内" in chinese
    assert "不匹配：从 eth0 离开，规则要求 lo" in chinese
    assert "不匹配：套接字属主 uid 1000，规则要求 1337" in chinese
    assert "不匹配：目的端口 15001，规则要求 25" in chinese
    reasons = [line for line in chinese.split("\n") if "不匹配：" in line]
    assert len(reasons) == english.count("no match: ") > 0
    for words in ("rule wants", "is not in", "leaves on", "socket owner", "no match"):
        assert not any(words in line for line in reasons), words


def test_a_chinese_journey_says_why_it_ended_in_chinese(site: Site) -> None:
    from chainwalk.render import Request

    delivered = site.render(CASES["trace-call.md"], messages("zh")).markdown
    assert "**结果：送达。**Pod server 的 app web &#58;80 接受了连接" in delivered
    refused = Request("sequence", scenario="mini/refused")
    english = site.render(refused, messages("en")).markdown
    chinese = site.render(refused, messages("zh")).markdown
    assert "nothing listens on tcp" in english
    assert "hop 2：Pod server 中没有进程监听 tcp 10.0.0.2&#58;7000（内核以 RST 应答）" in chinese
    failure = next(line for line in chinese.split("\n") if "-x" in line)
    assert "没有进程监听" in failure and "nothing listens" not in failure


def test_every_reason_reads_in_every_language() -> None:
    for code in REASON_CODES:
        reason = because(code, **{name: "X" for name in fields(ENGLISH_REASONS[code])})
        for language in LANGUAGES:
            text = messages(language).reason(reason)
            assert text and "{" not in text, (language, code)
        assert str(reason) == ENGLISH_REASONS[code].format(
            **{name: "X" for name in fields(ENGLISH_REASONS[code])})


# The words of the trace's events and targets' effects (event.*, route.*, martian.*,
# effect.*) in English: none may be left in a Chinese trace table.
_SAID = ("event.", "route.", "martian.", "effect.")
_KEPT = {"mark", "conntrack", "zone", "jump", "goto", "nat", "TPROXY", "OUTPUT",
         "POSTROUTING", "rule"}


def _english_words() -> set[str]:
    words: set[str] = set()
    for code, text in ENGLISH_REASONS.items():
        if code.startswith(_SAID):
            words.update(re.findall(r"[A-Za-z']{4,}", re.sub(r"\{\w+\}", "", text)))
    return words - _KEPT


def test_a_trace_says_its_events_and_effects_as_reasons(site: Site) -> None:
    journey = site.project.journey(site.project.scenario("mini/call"))
    steps = [step for hop in journey.hops for trace in hop.traces for step in trace.steps]
    events = [step for step in steps if step.kind == "event"]
    effects = [step.effect for step in steps if step.effect is not None]
    assert events and effects
    for step in events:
        assert step.reason is not None and step.reason.code.startswith("event.")
        assert "reason" not in step.to_dict() and step.to_dict()["text"] == str(step.reason)
    assert all(effect.code.startswith("effect.") for effect in effects)


@pytest.mark.parametrize("name", ["trace-call.md", "trace-call-reasons.md", "trace-loop.md"])
def test_a_chinese_trace_table_shows_no_english_event_or_effect(site: Site, name: str) -> None:
    english = site.render(CASES[name], messages("en")).markdown
    chinese = site.render(CASES[name], messages("zh")).markdown
    assert "routing&#58; 10.96.0.2 leaves on eth0, source 10.0.0.1" in english
    assert "match: destination 10.96.0.2&#58;80 &#45;&#62; 127.0.0.1&#58;15001" in english
    assert "路由：去往 10.96.0.2，从 eth0 离开，源地址 10.0.0.1" in chinese
    assert "匹配：目的地址 10.96.0.2&#58;80 &#45;&#62; 127.0.0.1&#58;15001" in chinese
    assert "匹配：jump 到 ISTIO&#95;OUTPUT" in chinese
    prose = re.sub(r"`[^`]*`", "", chinese)  # rules are iptables, in every language
    words = _english_words()
    assert {"routing", "delivered", "leaves", "destination", "loops"} <= words
    left = {word for word in re.findall(r"[A-Za-z']{4,}", prose) if word in words}
    assert not left, (name, left)


def test_a_chinese_sequence_shows_no_english_event_or_effect(site: Site) -> None:
    chinese = site.render(CASES["sequence-call.md"], messages("zh")).markdown
    words = _english_words()
    left = {word for word in re.findall(r"[A-Za-z']{4,}", chinese) if word in words}
    assert not left, left


def test_an_nftables_effect_of_several_statements_reads_in_every_language() -> None:
    both = because("effect.then", first=because("effect.mark", before="0x0", after="0x1"),
                   then=because("effect.tproxy-socket", port=15001))
    assert str(both) == "mark 0x0 -> 0x1; to the transparent socket on port 15001"
    assert messages("zh").reason(both) == "mark 0x0 -> 0x1；交给端口 15001 上的透明套接字"


def test_a_scenario_title_reads_in_the_pages_language(site: Site) -> None:
    english = site.render(CASES["sequence-loop.md"], messages("en")).markdown
    chinese = site.render(CASES["sequence-loop.md"], messages("zh")).markdown
    assert "caption\">without the 127.0.0.6 rule the server&#39;s Envoy" in english
    assert "caption\">没有 127.0.0.6 规则时，server 的 Envoy 收到自己的连接" in chinese
    rules = site.render(Request("rules", ruleset="mini", chain="ISTIO_OUTPUT"),
                        messages("zh")).markdown
    assert "示例：client 调用 web &#60;script&#62;" in rules and "client calls web" not in rules


def test_a_chinese_page_showing_a_scenario_without_a_chinese_title_fails_at_its_line(
        mini_copy: Path) -> None:
    scenarios = mini_copy / "rules" / "scenarios" / "mini.yaml"
    text = scenarios.read_text(encoding="utf-8")
    line = next(n for n, row in enumerate(text.split("\n"), start=1) if row == "  loop:")
    scenarios.write_text(text.replace(
        '    zh: {title: "没有 127.0.0.6 规则时，server 的 Envoy 收到自己的连接"}\n', ""),
        encoding="utf-8")
    fresh = Site(Project(mini_copy / "rules", mini_copy))
    fresh.begin_build()
    assert "caption\">without the 127.0.0.6 rule" in fresh.render(
        CASES["sequence-loop.md"], messages("en")).markdown
    with pytest.raises(ChainwalkError) as raised:
        fresh.render(CASES["sequence-loop.md"], messages("zh"))
    message = str(raised.value)
    assert f"mini.yaml:{line}:" in message, message
    assert "scenario mini/loop has no Chinese title" in message
    assert "zh: {title: ...}" in message and "Traceback" not in message
