"""One test per hostile input of issue 19: each ends in a clean ChainwalkError (or a
bounded result) naming where and what, within a time and memory bound."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from hostile_helpers import MEGABYTES, RULES, bounded, refused

from chainwalk import ChainwalkError
from chainwalk._errors import MAX_PROBLEMS_PER_FILE
from chainwalk._yaml import parse_yaml
from chainwalk.cli import main, terminal_safe
from chainwalk.journey import load_scenarios, run_scenario
from chainwalk.netfilter import Packet, host_with, parse_file, parse_text, trace
from chainwalk.netfilter._nft_parser import parse_nft_text
from chainwalk.project import Project, parse_annotations
from chainwalk.render import format_mermaid
from chainwalk.render._blocks import find_blocks, parse_request

SCENARIO = """\
ruleset: rulesets/current.rules
pods:
  a:
    address: 10.0.0.1
    processes: {app: {ports: [80]}}
  b:
    address: 10.0.0.2
    processes: {app: {ports: [80]}}
scenarios:
  call:
    title: TITLE
    from: a
    to: 10.0.0.2:80
"""


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """A rules folder holding a copy of the project's rulesets and an empty scenarios/."""
    folder = tmp_path / "rules"
    (folder / "rulesets").mkdir(parents=True)
    for name in ("current.rules", "current.annotations.yaml"):
        (folder / "rulesets" / name).write_bytes((RULES / "rulesets" / name).read_bytes())
    (folder / "scenarios").mkdir()
    return folder


def write_scenario(rules_dir: Path, text: str | bytes) -> Path:
    path = rules_dir / "scenarios" / "s.yaml"
    if isinstance(text, str):
        text = text.encode("utf-8")
    path.write_bytes(text)
    return path


def block(body: str) -> Callable[[], object]:
    blocks, problems = find_blocks(f"intro\n\n```chainwalk\n{body}\n```\n", "docs/p.md")
    assert not problems
    return lambda: parse_request(blocks[0])


def rules(*lines: str, table: str = "filter") -> str:
    return f"*{table}\n" + "".join(f"{line}\n" for line in lines) + "COMMIT\n"


# -- YAML: aliases, depth, size, types, characters --------------------------------------

def test_a_recursive_alias_in_a_block() -> None:
    refused(block("view: sequence\npods: &a [*a]"), "docs/p.md:5:", "recursive YAML alias")


def test_a_recursive_alias_in_a_scenario(rules_dir: Path) -> None:
    path = write_scenario(rules_dir, "pods: &a [*a]\nscenarios: {}\n")
    refused(lambda: load_scenarios(path), "s.yaml:1:7: recursive YAML alias")


def test_billion_laughs() -> None:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"{c}: &{c} [{', '.join([f'*{chr(ord(c) - 1)}'] * 9)}]" for c in "bcdefghij"]
    assert len("\n".join(lines)) < 500
    refused(lambda: parse_yaml("\n".join(lines), "x.yaml"), "YAML aliases expand too far",
            megabytes=MEGABYTES)


def test_nft_variables_that_hold_each_other_twice() -> None:
    """Each variable holds the one before twice: forty levels would be 2**40 tokens."""
    lines = ["define v0 = 1"]
    lines += [f"define v{k} = {{ $v{k - 1}, $v{k - 1} }}" for k in range(1, 40)]
    lines += ["add table inet t", "add chain inet t c", "add rule inet t c tcp dport $v39"]
    refused(lambda: parse_nft_text("\n".join(lines) + "\n", "x.nft"),
            "x.nft:20:", "variables put in more than 1,000,000 tokens")


def test_an_nft_variable_used_often_is_fine() -> None:
    ruleset = parse_nft_text("define ports = { 80, 443 }\nadd table inet t\nadd chain inet t c\n"
                             + "add rule inet t c tcp dport $ports\n" * 200, "x.nft")
    assert len(ruleset.tables[0].chains[0].rules) == 200


def test_an_alias_used_a_few_times_is_fine() -> None:
    doc = parse_yaml("a: &a {x: 1}\nb: *a\nc: *a\n", "x.yaml")
    assert doc.data == {"a": {"x": 1}, "b": {"x": 1}, "c": {"x": 1}}


@pytest.mark.parametrize("depth", [100, 1000, 5000])
def test_yaml_nested_deeply(depth: int) -> None:
    refused(lambda: parse_yaml("x: " + "[" * depth + "]" * depth, "x.yaml"), "x.yaml:1:",
            "nest")


def test_a_yaml_text_too_large() -> None:
    refused(lambda: parse_yaml("#" * (9 * 1024 * 1024), "x.yaml"), "YAML text too large")


@pytest.mark.parametrize(("value", "kind"), [("2020-01-01", "timestamp"),
                                              ("!!binary aGVsbG8=", "binary"),
                                              ("!!set {a}", "set")])
def test_types_that_are_not_plain_data(rules_dir: Path, value: str, kind: str) -> None:
    path = write_scenario(rules_dir, SCENARIO.replace("TITLE", value))
    refused(lambda: load_scenarios(path), f"s.yaml:11:12: unsupported YAML type {kind!r}")


def test_a_whitespace_only_title(rules_dir: Path) -> None:
    path = write_scenario(rules_dir, SCENARIO.replace("TITLE", '"   "'))
    refused(lambda: load_scenarios(path), "s.yaml:11:12:", "title")


@pytest.mark.parametrize("character", ["\x00", "\x01", "\x1b"])
def test_control_characters_in_yaml(rules_dir: Path, character: str) -> None:
    path = write_scenario(rules_dir, SCENARIO.replace("TITLE", f"a{character}b"))
    refused(lambda: load_scenarios(path), "s.yaml:11:13: invalid YAML: a control character")


def test_invalid_utf8_in_a_scenario(rules_dir: Path) -> None:
    path = write_scenario(rules_dir, SCENARIO.encode().replace(b"TITLE", b"a\xff"))
    refused(lambda: load_scenarios(path), "s.yaml:11:13: invalid UTF-8: got 'ff'")


def test_a_number_of_thousands_of_digits_in_yaml(rules_dir: Path) -> None:
    path = write_scenario(rules_dir, SCENARIO.replace("[80]", "[" + "8" * 5000 + "]", 1))
    message = refused(lambda: load_scenarios(path), "number too large")
    assert "4300" not in message


@pytest.mark.parametrize("view", ["[sequence]", "{a: 1}"])
def test_a_view_that_is_not_a_name(view: str) -> None:
    refused(block(f"view: {view}"), "docs/p.md:4:7: unknown view")


def test_key_lines_are_found_in_linear_time() -> None:
    keys = 20_000
    doc = parse_yaml("".join(f"k{n}: {n}\n" for n in range(keys)), "x.yaml")

    def every_line() -> list[int]:
        return [doc.line([f"k{n}"]).line for n in range(keys)]

    assert bounded(every_line, seconds=5) == list(range(1, keys + 1))


def test_an_annotation_file_of_wrong_types() -> None:
    refused(lambda: parse_annotations("nat: &a {OUTPUT: *a}\n", "a.yaml"),
            "recursive YAML alias")
    refused(lambda: parse_annotations("nat: !!binary aGVsbG8=\n", "a.yaml"),
            "unsupported YAML type")


# -- rulesets -------------------------------------------------------------------------

def test_an_unterminated_quote_full_of_escaped_quotes() -> None:
    line = '-A INPUT -m comment --comment "' + '\\"' * 6000
    bounded(lambda: parse_text(rules(":INPUT ACCEPT [0:0]", line)), seconds=3)


def test_a_rule_of_32000_comment_matches() -> None:
    line = "-A INPUT" + " -m comment --comment x" * 32_000 + " -j ACCEPT"
    bounded(lambda: parse_text(rules(line)), seconds=10)


@pytest.mark.parametrize(("line", "words"), [
    ('"', "4:1: no command on the line"),
    ("'", "4:1: no command on the line"),
    ("-I OUTPUT \u00b2", "unexpected argument: got '\u00b2'"),
    ("-I INPUT " + "9" * 5000 + " -j ACCEPT", "index of insertion too big"),
    ("-A OUTPUT -m owner --uid-owner " + "9" * 5000 + " -j ACCEPT", "bad value for --uid-owner"),
    ("-A OUTPUT -m owner --uid-owner 4294967295 -j ACCEPT", "ids from 0 to 4294967294"),
    ("-A INPUT -p tcp --dport " + "9" * 5000 + " -j ACCEPT", "a port from 0 to 65535"),
    ("-A INPUT -p tcp --dport \u0668\u0660 -j ACCEPT", "bad value for --dport"),
    ("-A INPUT -s \uff11\uff10.0.0.5 -j ACCEPT", "bad value for -s"),
    ("-A INPUT -s 10.0.0.5/" + "9" * 5000 + " -j ACCEPT", "a prefix length from 0 to 32"),
    ("-A INPUT -m mark --mark " + "9" * 5000 + " -j ACCEPT", "bad value for --mark"),
    ("-A INPUT -p " + "9" * 5000 + " -j ACCEPT", "bad value for -p"),
    ("-A INPUT -m comment --comment " + "c" * 256 + " -j ACCEPT", "at most 255 characters"),
    ("-A INPUT -j LOG --log-prefix " + "p" * 30, "at most 29 characters"),
])
def test_a_bad_line_is_a_problem_at_its_place(line: str, words: str) -> None:
    text = f"*filter\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n{line}\nCOMMIT\n"
    message = refused(lambda: parse_text(text, "r.rules"), "r.rules:4:", words)
    assert "4300" not in message and "Traceback" not in message
    assert len(message) < 1000  # a token of thousands of characters is shortened


def test_counters_of_thousands_of_digits_saturate_as_iptables_restore_keeps_them() -> None:
    ruleset = bounded(lambda: parse_text(rules(f"[{'9' * 5000}:1] -A INPUT -j ACCEPT")))
    assert not isinstance(ruleset, ChainwalkError)
    chain = ruleset.chain("filter", "INPUT")
    assert chain is not None and chain.rules[0].counters == (2**64 - 1, 1)


def test_the_limits_iptables_restore_takes_are_taken() -> None:
    parse_text(rules("-A OUTPUT -m owner --uid-owner 4294967294 -j ACCEPT",
                     "-A INPUT -m comment --comment " + "c" * 255 + " -j ACCEPT",
                     "-A INPUT -j LOG --log-prefix " + "p" * 29))


def test_problems_of_a_file_are_bounded() -> None:
    text = rules(":INPUT ACCEPT [0:0]", *["-A INPUT -j NOWHERE"] * 16_000)
    outcome = bounded(lambda: parse_text(text, "r.rules"))
    assert isinstance(outcome, ChainwalkError)
    assert len(outcome.problems) == MAX_PROBLEMS_PER_FILE + 1
    assert str(outcome).endswith("r.rules: and 15950 more problems in this file")


# -- files ----------------------------------------------------------------------------

def test_a_fifo_given_to_check_is_refused_without_opening_it(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.rules"
    os.mkfifo(fifo)
    done = subprocess.run([sys.executable, "-m", "chainwalk", "check", str(fifo)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert f"cannot read the ruleset {fifo}: it is a FIFO" in done.stderr


def test_a_device_is_refused() -> None:
    refused(lambda: parse_file("/dev/zero"), "it is a device", seconds=2)


def test_a_ruleset_path_longer_than_a_name_can_be(rules_dir: Path, tmp_path: Path) -> None:
    long = "a" * 300
    refused(lambda: parse_file(tmp_path / f"{long}.rules"), "File name too long")
    path = write_scenario(rules_dir, SCENARIO.replace("rulesets/current.rules",
                                                      f"rulesets/{long}.rules"))
    refused(lambda: load_scenarios(path), "s.yaml:1:10: cannot read the ruleset")


@pytest.mark.parametrize("written", ["/etc/passwd", "../../../../../../etc/passwd",
                                     "rulesets/../../../../../../etc/passwd",
                                     "rulesets/out/passwd", "rulesets/zero.rules"])
def test_a_scenario_may_not_name_a_file_outside_the_rules_folder(rules_dir: Path,
                                                                  written: str) -> None:
    (rules_dir / "rulesets" / "out").symlink_to("/etc")
    (rules_dir / "rulesets" / "zero.rules").symlink_to("/dev/zero")
    path = write_scenario(rules_dir, SCENARIO.replace("rulesets/current.rules", written))
    message = refused(lambda: load_scenarios(path),
                      f"s.yaml:1:10: the path leads outside the rules folder: got {written!r}")
    assert "root:" not in message


def test_the_project_confines_rulesets_and_annotations(rules_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text("nat: {OUTPUT: {'-j ACCEPT': {name: secret}}}\n")
    (rules_dir / "rulesets" / "current.annotations.yaml").unlink()
    (rules_dir / "rulesets" / "current.annotations.yaml").symlink_to(outside)
    (rules_dir / "rulesets" / "zero.rules").symlink_to("/dev/zero")
    project = Project(rules_dir, tmp_path)
    refused(lambda: project.annotations("current"), "leads outside the rules folder")
    refused(lambda: project.ruleset("zero"), "leads outside the rules folder", seconds=2)


def test_a_failed_parse_is_not_repeated_for_every_pod(rules_dir: Path) -> None:
    bad = rules_dir / "rulesets" / "bad.rules"
    bad.write_text(rules('-A OUTPUT -m comment --comment "' + '\\"' * 3000))
    pods = "".join(f"  p{n}:\n    address: 10.0.1.{n}\n    processes: {{app: {{ports: [80]}}}}\n"
                   for n in range(1, 200))
    path = write_scenario(rules_dir, f"ruleset: rulesets/bad.rules\npods:\n{pods}"
                          "scenarios:\n  s: {title: t, from: p1, to: 10.0.1.2:80}\n")
    from chainwalk import _ruleset_cache

    calls: list[object] = []
    real = _ruleset_cache.parse_text

    def counting(*args: object) -> object:
        calls.append(args)
        return real(*args)  # type: ignore[arg-type]

    _ruleset_cache.parse_text = counting  # type: ignore[assignment]
    try:
        refused(lambda: load_scenarios(path), "bad.rules")
    finally:
        _ruleset_cache.parse_text = real
    assert len(calls) == 1


# -- trace ----------------------------------------------------------------------------

def jump_graph(chains: int) -> str:
    lines = [":OUTPUT ACCEPT [0:0]", *(f":C{n} - [0:0]" for n in range(chains)), "-A OUTPUT -j C0"]
    for n in range(chains - 1):
        lines += [f"-A C{n} -j C{n + 1}"] * 2
    return rules(*lines)


@pytest.mark.parametrize("chains", [21, 24])
def test_a_jump_graph_that_doubles_at_every_chain(chains: int) -> None:
    ruleset = parse_text(jump_graph(chains), "j.rules")
    packet = Packet("10.0.0.9", 80, "tcp", "10.0.0.5")
    host = host_with({"eth0": ("10.0.0.5/24",)})
    refused(lambda: trace(ruleset, packet, host), "j.rules:", "too many paths",
            "jumping to C", seconds=60, megabytes=MEGABYTES)


def test_a_jump_graph_that_stays_small_is_traced() -> None:
    ruleset = parse_text(jump_graph(8), "j.rules")
    found = trace(ruleset, Packet("10.0.0.9", 80, "tcp", "10.0.0.5"),
                  host_with({"eth0": ("10.0.0.5/24",)}))
    assert found.disposition == "sent"


# -- the CLI --------------------------------------------------------------------------

def test_run_mermaid_escapes_a_title_that_would_inject_statements(
        rules_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    title = '"x\\n  click a1 call alert(1)\\n%%{init: {\\"theme\\": \\"dark\\"}}%%"'
    path = write_scenario(rules_dir, SCENARIO.replace("TITLE", title))
    (scenario,) = load_scenarios(path)
    assert "\n" in scenario.title
    diagram = format_mermaid(run_scenario(scenario), scenario)
    for line in diagram.splitlines():
        assert not line.strip().startswith(("click", "%%")), diagram
    assert main(["run", str(path), "--mermaid"]) == 0
    assert "%%{" not in capsys.readouterr().out


def test_terminal_escapes_are_shown_escaped(rules_dir: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert terminal_safe("a\x1b[31mred\x9b\u202eb\tc\nd") == "a\\x1b[31mred\\x9b\\u202eb\tc\nd"
    path = write_scenario(rules_dir, SCENARIO.replace("TITLE", '"\\e]0;owned\\a"'))
    assert main(["run", str(path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\\x1b]0;owned\\x07" in out
    ruleset = rules_dir / "rulesets" / "esc.rules"
    ruleset.write_text(rules(':OUTPUT ACCEPT [0:0]', '-A OUTPUT -m comment --comment '
                             '"\x1b[2J" -j ACCEPT'))
    assert main(["trace", str(ruleset), "--dst", "10.0.0.9", "--src", "10.0.0.5"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\x1b[2J" in out


def test_yaml_is_never_parsed_into_python_objects() -> None:
    # (PyYAML's safe loader already refuses these; the check keeps it so.)
    refused(lambda: parse_yaml("!!python/object/apply:os.system [echo]", "x.yaml"),
            "x.yaml:1:")
    assert yaml.__version__


# -- a green build means the content is there -------------------------------------------

def test_a_diagram_over_mermaids_limit_fails_naming_the_block(rules_dir: Path,
                                                             tmp_path: Path) -> None:
    from chainwalk.project import Site

    names = [f"CHAIN_NUMBER_{n:04}" for n in range(1500)]
    (rules_dir / "rulesets" / "big.rules").write_text(rules(
        *(f":{name} - [0:0]" for name in names), *(f"-A OUTPUT -j {name}" for name in names),
        table="nat"))
    site = Site(Project(rules_dir, tmp_path))
    page = "# Big\n\n```chainwalk\nview: chains\nruleset: big\n```\n"
    found = bounded(lambda: site.render_page("docs/big.md", page))
    assert not isinstance(found, ChainwalkError)
    (finding,) = found.findings
    assert str(finding).startswith("docs/big.md:3:1: the diagram would be ")
    assert "Mermaid's limit of 50000" in str(finding) and "split the block" in str(finding)


def test_coverage_finds_a_pods_rulesets_by_path(rules_dir: Path, tmp_path: Path) -> None:
    from chainwalk.project import Site

    (rules_dir / "rulesets" / "v2").mkdir()
    current = (rules_dir / "rulesets" / "current.rules").read_text()
    (rules_dir / "rulesets" / "v2" / "current.rules").write_text(
        current.replace("-A ISTIO_OUTPUT", "-A ISTIO_OUTPUT -p udp -j RETURN\n-A ISTIO_OUTPUT",
                        1))
    scenario = SCENARIO.replace("rulesets/current.rules", "rulesets/v2/current.rules")
    (rules_dir / "scenarios" / "s.yaml").write_text(scenario.replace("TITLE", "a call"))
    site = Site(Project(rules_dir, tmp_path))
    found = site.render_page("docs/c.md", "```chainwalk\nview: coverage\ntopology: s\n```\n")
    assert not found.findings, found.findings
    assert "`v2/current`" in found.markdown and "`current`:" not in found.markdown
    assert "-p udp -j RETURN" in found.markdown
