"""Mutated inputs of every kind chainwalk reads (rulesets, scenario files, annotation
files, a page's block bodies): each gives a result or a clean ChainwalkError, within a
time bound, never another exception. Seeded (derandomized) so that CI sees the same
examples every run; the bounded number of examples keeps the suite fast."""

from __future__ import annotations

import shutil
from pathlib import Path

from hostile_helpers import RULES, bounded
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainwalk import ChainwalkError
from chainwalk.journey import check_scenario, load_scenarios, run_scenario
from chainwalk.netfilter import parse_text
from chainwalk.render._annotations import parse_annotations
from chainwalk.render._blocks import find_blocks, parse_request

FUZZ = settings(max_examples=100, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       ])
SECONDS = 5.0

RULESET = (RULES / "rulesets" / "current.rules").read_text()
ANNOTATIONS = (RULES / "rulesets" / "current.annotations.yaml").read_text()
SCENARIOS = (RULES / "scenarios" / "classic.yaml").read_text()

# What a mutation puts in: syntax of both languages, digits of other scripts, control
# characters, numbers of thousands of digits, quotes and escapes, long runs.
PIECES = st.sampled_from([
    '"', "'", "\\", '\\"' * 200, "!", "-", "--", "-m", "-j", "-A", "-I", "-N", ":", "[", "]",
    "{", "}", ",", "&a", "*a", "&a [*a]", "!!binary", "!!set", "2020-01-01", "\x00", "\x1b",
    "\x01", "\t", "\n", "\r", "\u00b2", "\u0668\u0660", "\uff11\uff10", "9" * 5000, "-1",
    "4294967295", "0x", "/", "/99", "../", "/etc/passwd", "COMMIT", "*nat", " " * 3, "#",
    "%%{init}%%", "click", "<script>", "~", "null", "- ", "? ", "|", ">", "\u202e",
    " -m comment --comment x" * 500, "[" * 300, "-A OUTPUT -j OUTPUT",
])
TEXT = st.one_of(PIECES, st.text(max_size=20))


@st.composite
def mutated(draw: st.DrawFn, original: str) -> str:
    """``original`` with a few random spans replaced, deleted, inserted or repeated."""
    text = original
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        end = min(len(text), at + draw(st.integers(0, 40)))
        kind = draw(st.sampled_from(["replace", "insert", "delete", "repeat"]))
        if kind == "replace":
            text = text[:at] + draw(TEXT) + text[end:]
        elif kind == "insert":
            text = text[:at] + draw(TEXT) + text[at:]
        elif kind == "delete":
            text = text[:at] + text[end:]
        else:
            text = text[:at] + text[at:end] * draw(st.integers(2, 200)) + text[end:]
    return text


def check(error: ChainwalkError) -> None:
    """A clean error: it says where and what, and is no Python error message."""
    assert error.problems
    message = str(error)
    for leak in ("Traceback", "Exceeds the limit", "object has no attribute", "unhashable type",
                 "invalid literal for int()"):
        assert leak not in message, message[:2000]


@FUZZ
@given(mutated(RULESET))
def test_a_mutated_ruleset(text: str) -> None:
    outcome = bounded(lambda: parse_text(text, "r.rules"), SECONDS)
    if isinstance(outcome, ChainwalkError):
        check(outcome)


@FUZZ
@given(mutated(ANNOTATIONS))
def test_a_mutated_annotation_file(text: str) -> None:
    outcome = bounded(lambda: parse_annotations(text, "a.yaml"), SECONDS)
    if isinstance(outcome, ChainwalkError):
        check(outcome)


@FUZZ
@given(st.lists(st.one_of(
    st.sampled_from(["view: ", "scenario: ", "ruleset: ", "chain: ", "table: ", "topology: ",
                     "reasons: ", "against: ", "highlight: ", "sequence", "trace", "rules",
                     "listing", "coverage", "diff", "chains", "current", "classic/direct",
                     "ISTIO_OUTPUT", "nat", "true", "\n", "  "]), TEXT), max_size=12))
def test_a_random_block_body(parts: list[str]) -> None:
    body = "".join(parts)
    blocks, _ = find_blocks(f"intro\n\n```chainwalk\n{body}\n```\n", "docs/p.md")
    if not blocks:
        return
    outcome = bounded(lambda: parse_request(blocks[0]), SECONDS)
    if isinstance(outcome, ChainwalkError):
        check(outcome)


@FUZZ
@given(text=mutated(SCENARIOS))
def test_a_mutated_scenario_file(text: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        rules = Path(folder) / "rules"
        shutil.copytree(RULES / "rulesets", rules / "rulesets")
        (rules / "scenarios").mkdir()
        path = rules / "scenarios" / "fuzz.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")

        def run() -> int:
            checked = 0
            for scenario in load_scenarios(path):
                check_scenario(scenario, run_scenario(scenario))
                checked += 1
            return checked

        outcome = bounded(run, 3 * SECONDS)
        if isinstance(outcome, ChainwalkError):
            check(outcome)
