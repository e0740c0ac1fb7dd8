"""The playground's Python side: ``chainwalk.playground.trace`` answers what the CLI
answers (its ``trace`` is ``chainwalk trace --json``'s output, its problems are
``chainwalk check``'s), the wheels it runs from are complete and byte-identical from
build to build, the standard library it serves Pyodide is Pyodide's own bytecode, and
the site's files for it are all there. The page itself is tested
in tests/browser/test_playground.py."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from chainwalk import ChainwalkError, _stdlib_bytecode
from chainwalk._playground_files import (
    PLAYGROUND_URI,
    PYODIDE_FILES,
    PYODIDE_URI,
    playground_files,
    with_engine_started,
)
from chainwalk._stdlib_bytecode import STDLIB, compiled_stdlib
from chainwalk._wheel import make_wheel, package_wheel
from chainwalk.cli import main
from chainwalk.journey import load_scenarios
from chainwalk.netfilter._reasons import ENGLISH as ENGLISH_REASONS
from chainwalk.playground import (
    journey_json,
    scenarios_json,
    trace,
    trace_json,
    views_json,
    write_rules,
    write_rules_json,
)
from chainwalk.render import messages

ROOT = Path(__file__).resolve().parents[1]
RULESETS = sorted((ROOT / "rules" / "rulesets").glob("*.rules"))
NFT_RULESETS = sorted((ROOT / "rules" / "rulesets").glob("*.nft"))
PROBES = [
    ["--dst", "10.0.0.9", "--dport", "80", "--uid", "1000", "--src", "10.0.0.5"],
    ["--dst", "10.0.0.9", "--dport", "80", "--uid", "1337", "--src", "10.0.0.5"],
    ["--dst", "10.0.0.5", "--dport", "9080", "--uid", "1337", "--src", "10.0.0.5"],
    ["--dst", "127.0.0.1", "--dport", "15000", "--uid", "1000"],
    ["--dst", "10.96.0.10", "--dport", "53", "--proto", "udp", "--uid", "1000",
     "--src", "10.0.0.5"],
    ["--hook", "prerouting", "--src", "10.0.0.7", "--dst", "10.0.0.5", "--dport", "9080"],
    ["--hook", "prerouting", "--src", "10.0.0.7", "--dst", "10.0.0.5", "--dport", "15008"],
    ["--dst", "10.0.0.9", "--proto", "icmp", "--src", "10.0.0.5", "--mark", "0x539"],
]
PYODIDE = ROOT / "node_modules" / "pyodide"
# Pyodide in node, started from a given standard library: what it imported, and from
# what (the magic number its Python expects, the header of a module it imported).
PYODIDE_START = r"""
import { pathToFileURL } from "node:url";
const [folder, stdlib] = process.argv.slice(-2);
const { loadPyodide } = await import(pathToFileURL(folder + "/pyodide.mjs").href);
const pyodide = await loadPyodide({ indexURL: folder + "/", stdLibURL: stdlib });
console.log(pyodide.runPython(`
import importlib.util, json, sys, zipfile
stdlib = zipfile.ZipFile(next(p for p in sys.path if p.endswith(".zip")))
header = stdlib.read("json/decoder.pyc")[:4].hex() if "json/decoder.pyc" in stdlib.namelist() else ""
json.dumps([sorted(sys.modules), importlib.util.MAGIC_NUMBER.hex(), header,
            "json.decoder" in sys.modules])
`));
"""


def cli_json(path: Path, options: list[str]) -> object:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["trace", str(path), *options, "--json"]) == 0
    return json.loads(out.getvalue())


@pytest.mark.parametrize("path", RULESETS, ids=lambda p: p.stem)
def test_the_trace_is_the_cli_s(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for options in PROBES:
        found = trace(text, path.name, options)
        assert found["trace"] == cli_json(path, options), options
        assert found["text"].startswith("   -- routing") or "=>" in found["text"]
        lines = {(r["table"], r["chain"], r["rule"]): r["line"] for r in found["rule_lines"]}
        all_lines = text.splitlines()
        for hit in found["trace"]["hits"]:
            line = all_lines[lines[hit["table"], hit["chain"], hit["rule"]] - 1]
            assert line.startswith(("-A " + hit["chain"] + " ", "-I " + hit["chain"] + " "))


@pytest.mark.parametrize("path", NFT_RULESETS, ids=lambda p: p.stem)
def test_an_nftables_paste_traces_as_the_cli_does(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    hits = 0
    for options in PROBES:
        found = trace(text, "pasted.rules", options)  # the name says nothing of the format
        assert found["trace"] == json.loads(json.dumps(cli_json(path, options)).replace(
            json.dumps(str(path)), json.dumps("pasted.rules"))), options
        assert found["diagram"] is None  # the flowchart draws iptables chains only
        lines = {(r["table"], r["chain"], r["rule"]): r["line"] for r in found["rule_lines"]}
        for hit in found["trace"]["hits"]:
            rule = text.splitlines()[lines[hit["table"], hit["chain"], hit["rule"]] - 1]
            assert hit["target"] in rule, (hit, rule)
            hits += 1
    assert hits > 0


def test_the_json_entry_point_round_trips() -> None:
    text = RULESETS[0].read_text(encoding="utf-8")
    found = json.loads(trace_json(text, "x.rules", json.dumps(PROBES[0])))
    assert found["trace"] == trace(text, "x.rules", PROBES[0])["trace"]
    assert json.loads(trace_json(text, "x.rules", '{"a": 1}')) == {
        "usage": "options: expected a list of strings"}


def test_problems_are_the_check_s_with_line_and_column(tmp_path: Path) -> None:
    text = "*nat\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -p tcp --dport 99999 -j ACCEPT\n" \
           "-A OUTPUT -j NOWHERE\n# <script>alert(1)</script>\nCOMMIT\n"
    path = tmp_path / "pasted.rules"
    path.write_text(text, encoding="utf-8")
    found = trace(text, "pasted.rules", ["--dst", "10.0.0.9"])
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["check", str(path)]) == 1
    checked = [line.replace(str(path), "pasted.rules") for line in err.getvalue().splitlines()]
    assert [p["message"] for p in found["problems"]] == checked[:-1]
    assert len(checked) == 3
    for problem in found["problems"]:
        assert problem["message"].startswith(f"pasted.rules:{problem['line']}:"
                                              f"{problem['column']}: ")
    assert [p["line"] for p in found["problems"]] == [3, 4]


def test_options_the_cli_refuses_are_its_usage_errors() -> None:
    text = RULESETS[0].read_text(encoding="utf-8")
    assert trace(text, "x.rules", ["--dport", "80"]) == {
        "usage": "chainwalk trace: error: the following arguments are required: --dst"}
    assert trace(text, "x.rules", ["--dst", "1.2.3.4", "--dport", "70000"])["usage"].endswith(
        "'70000': expected a number from 0 to 65535")
    assert trace(text, "x.rules", ["--dst", "1.2.3.4", "--hook", "prerouting"])[
        "usage"].endswith("--src is required with --hook prerouting (where the packet "
                          "comes from)")
    # A trace that has no answer is a problem, as the CLI reports it.
    assert trace(text, "x.rules", ["--dst", "10.0.0.9"])["problems"][0]["message"].startswith(
        "no source address")


def _record_ok(archive: zipfile.ZipFile) -> None:
    names = archive.namelist()
    record = next(n for n in names if n.endswith(".dist-info/RECORD"))
    listed = {}
    for line in archive.read(record).decode().splitlines():
        path, digest, size = line.rsplit(",", 2)
        listed[path] = (digest, size)
    assert set(listed) == set(names)
    for name in names:
        if name == record:
            continue
        data = archive.read(name)
        expected = "sha256=" + base64.urlsafe_b64encode(
            hashlib.sha256(data).digest()).rstrip(b"=").decode()
        assert listed[name] == (expected, str(len(data))), name


def test_the_wheels_are_pure_complete_and_reproducible(tmp_path: Path) -> None:
    for dist, package in (("chainwalk", "chainwalk"), ("PyYAML", "yaml")):
        wheel = package_wheel(dist, package)
        assert wheel.content == package_wheel(dist, package).content
        archive = zipfile.ZipFile(io.BytesIO(wheel.content))
        assert not [n for n in archive.namelist() if n.endswith((".so", ".pyd", ".pyc"))]
        _record_ok(archive)
        archive.extractall(tmp_path)
    # The unpacked wheels alone (no site-packages) run the playground's trace.
    text = RULESETS[0].read_text(encoding="utf-8")
    program = ("import json, sys; from chainwalk.playground import trace_json; "
               f"print(trace_json(sys.stdin.read(), 'x.rules', {json.dumps(json.dumps(PROBES[0]))}))")
    done = subprocess.run([sys.executable, "-S", "-c", program], input=text, text=True,
                          capture_output=True, cwd=tmp_path, check=True)
    assert json.loads(done.stdout)["trace"] == trace(text, "x.rules", PROBES[0])["trace"]


def test_a_wheel_s_bytes_depend_only_on_its_files() -> None:
    one = make_wheel("demo", "1.0", [("demo/b.py", b"b"), ("demo/a.py", b"a")])
    two = make_wheel("demo", "1.0", [("demo/a.py", b"a"), ("demo/b.py", b"b")])
    assert one == two and one.filename == "demo-1.0-py3-none-any.whl"
    assert make_wheel("demo", "1.0", [("demo/a.py", b"A")]).content != one.content


def test_the_site_s_playground_files(tmp_path: Path) -> None:
    pyodide = ROOT / "node_modules" / "pyodide"
    files = playground_files(pyodide, ROOT / "rules", ROOT / "plugins" / "chainwalk" / "assets")
    assert {PYODIDE_URI + name for name in PYODIDE_FILES} <= set(files)
    manifest = json.loads(files[PLAYGROUND_URI + "manifest.json"])  # type: ignore[arg-type]
    assert [PLAYGROUND_URI + w in files for w in manifest["wheels"]] == [True, True]
    for language, name in manifest["catalogs"].items():  # the engine's catalogs, as JSON
        assert json.loads(files[PLAYGROUND_URI + name]) == messages(language).texts  # type: ignore[arg-type]
    rules = json.loads(files[PLAYGROUND_URI + "rules.json"])  # type: ignore[arg-type]
    assert sorted(n for n in rules if n.startswith("rulesets/")) == sorted(
        f"rulesets/{p.name}" for p in (*RULESETS, *(ROOT / "rules" / "rulesets").glob("*.nft")))
    # What the scenarios name beside rulesets: routing dumps and the node's rules.
    assert {"routing/sleep.ip-rule", "node/hostprobe.rules"} <= set(rules)
    assert "scenarios/bookinfo.yaml" in rules
    for source in files.values():
        assert isinstance(source, bytes) or source.is_file()
    (tmp_path / "rulesets").mkdir()
    with pytest.raises(ChainwalkError, match="the playground has no ruleset to offer"):
        playground_files(pyodide, tmp_path, tmp_path)
    (tmp_path / "rulesets" / "bad.rules").write_bytes(b"*nat\n\xff\n")
    with pytest.raises(ChainwalkError, match=r"rulesets/bad.rules:2:1: invalid UTF-8"):
        playground_files(pyodide, tmp_path, tmp_path)


def _rules_files() -> dict[str, str]:
    """The rules folder as the site ships it to the playground (rules.json)."""
    files = playground_files(ROOT / "node_modules" / "pyodide", ROOT / "rules",
                             ROOT / "plugins" / "chainwalk" / "assets")
    shipped = files[PLAYGROUND_URI + "rules.json"]
    assert isinstance(shipped, bytes)
    found: dict[str, str] = json.loads(shipped)
    return found


def cli_run(path: Path, name: str) -> object:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["run", f"{path}#{name}", "--json"]) == 0
    return json.loads(out.getvalue())


def test_a_journey_is_the_cli_s_run(tmp_path: Path) -> None:
    root = str(tmp_path / "rules")
    write_rules_json(json.dumps(_rules_files()), root)
    listed = json.loads(scenarios_json(root))
    assert [(s["id"], s["title"], s["zh_title"]) for s in listed] == [
        (s.id, s.title, s.zh_title) for s in load_scenarios(str(ROOT / "rules" / "scenarios"))]
    assert all(s["zh_title"] for s in listed)  # every scenario of the site has one
    for item in listed[::4]:
        stem, _, name = item["id"].partition("/")
        found = json.loads(journey_json("{}", root, f"scenarios/{stem}.yaml", name))
        assert found["journey"] == cli_run(ROOT / "rules" / "scenarios" / f"{stem}.yaml",
                                           name), item
        assert found["mermaid"].startswith("sequenceDiagram")
        assert "title" not in found["mermaid"].split("\n")[1]  # the caption says it
        assert found["title"] == item["title"]


def test_an_edited_scenario_and_its_problems(tmp_path: Path) -> None:
    root = tmp_path / "rules"
    write_rules(_rules_files(), str(root))
    text = (ROOT / "rules" / "scenarios" / "bookinfo.yaml").read_text(encoding="utf-8")
    edited = text.replace("processes: {productpage: {ports: [9080]}}",
                          "processes: {productpage: {uid: 1337, ports: [9080]}}")
    assert edited != text
    found = json.loads(journey_json(json.dumps({"scenarios/bookinfo.yaml": edited}),
                                    str(root), "scenarios/bookinfo.yaml", "inbound"))
    assert found["journey"] == cli_run(root / "scenarios" / "bookinfo.yaml", "inbound")
    assert found["journey"]["hops"][0]["uid"] == 1337
    broken = text.replace("title: Bookinfo, current Istio", "title: [", 1)
    found = json.loads(journey_json(json.dumps({"scenarios/bookinfo.yaml": broken}),
                                    str(root), "scenarios/bookinfo.yaml", "inbound"))
    assert found["problems"][0]["message"].startswith("scenarios/bookinfo.yaml:")
    assert found["problems"][0]["line"] > 0
    refused = json.loads(journey_json(json.dumps({"../outside.yaml": "x"}), str(root),
                                      "scenarios/bookinfo.yaml", "inbound"))
    assert refused["problems"][0]["message"].startswith("../outside.yaml: not a path inside")
    assert not (tmp_path / "outside.yaml").exists()
    with pytest.raises(ChainwalkError, match="not a path inside the rules folder"):
        write_rules({"/etc/x": ""}, str(root))


CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.mark.parametrize("path", RULESETS[:3] + NFT_RULESETS[:1], ids=lambda p: p.name)
def test_the_table_s_words_are_in_the_page_s_language(path: Path) -> None:
    """The trace's JSON stays the CLI's; ``rows`` words each step in the page's language:
    in English, an event's words are the JSON's; in Chinese, no English word of an event,
    a reason or an effect is left."""
    text = path.read_text(encoding="utf-8")
    english_reasons = {template.split("{")[0].strip() for template in ENGLISH_REASONS.values()}
    english_reasons = {words for words in english_reasons if len(words) > 6}
    for options in PROBES:
        english = trace(text, "pasted.rules", options, "en")
        chinese = trace(text, "pasted.rules", options, "zh")
        assert chinese["trace"] == english["trace"] == trace(text, "pasted.rules", options)[
            "trace"]
        branches = english["trace"].get("branches") or [english["trace"]]
        for branch, en_rows, zh_rows in zip(branches, english["rows"], chinese["rows"],
                                            strict=True):
            assert len(en_rows["steps"]) == len(zh_rows["steps"]) == len(branch["steps"])
            for step, en_row, zh_row in zip(branch["steps"], en_rows["steps"],
                                            zh_rows["steps"], strict=True):
                if step["kind"] == "event":
                    assert en_row == {"event": step["text"]}
                    assert CJK.search(zh_row["event"]), zh_row
                else:
                    assert en_row["why"] == step.get("reason", step.get("effect", ""))
                    assert CJK.search(zh_row["result"]) or step["kind"] == "policy", zh_row
                    assert zh_row["where"].startswith(f"{step['table']} {step['chain']}")
                said = " ".join(zh_row.values())
                assert [words for words in english_reasons if words in said] == [], said
            assert CJK.search(zh_rows["disposition"])
    # A language the site has not is English.
    assert trace(text, "x", PROBES[0], "fr")["rows"] == trace(text, "x", PROBES[0])["rows"]


def test_a_journey_s_result_is_worded_in_the_page_s_language(tmp_path: Path) -> None:
    root = str(tmp_path / "rules")
    write_rules_json(json.dumps(_rules_files()), root)
    english = json.loads(journey_json("{}", root, "scenarios/bookinfo.yaml", "inbound"))
    chinese = json.loads(journey_json("{}", root, "scenarios/bookinfo.yaml", "inbound", "zh"))
    assert chinese["journey"] == english["journey"]
    assert english["words"] == {"result": english["journey"]["result"],
                                "reason": english["journey"]["reason"]}
    assert CJK.search(chinese["words"]["result"]) and CJK.search(chinese["words"]["reason"])
    assert CJK.search(chinese["title"]) and not CJK.search(english["title"])


def test_another_packet_through_the_same_text_parses_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's second trace of the same rules reads them from the ruleset cache;
    an edit parses again; the views of the last trace are the CLI's text and flowchart."""
    import chainwalk._ruleset_cache as cache

    parsed: list[str] = []
    real = cache.parse_text
    monkeypatch.setattr(cache, "parse_text", lambda text, path, family=None: (
        parsed.append(path), real(text, path, family))[1])
    text = RULESETS[0].read_text(encoding="utf-8") + "# a text of its own\n"
    first = json.loads(trace_json(text, "cached.rules", json.dumps(PROBES[0])))
    assert "text" not in first and "diagram" not in first  # asked for with views_json
    views = json.loads(views_json())
    expected = trace(text, "cached.rules", PROBES[0])
    assert views == {"text": expected["text"], "diagram": expected["diagram"]}
    assert views["diagram"]["mermaid"].startswith("flowchart")
    for options in PROBES[1:]:
        assert json.loads(trace_json(text, "cached.rules", json.dumps(options)))["trace"] == \
            trace(text, "cached.rules", options)["trace"]
    assert parsed == ["cached.rules"]
    trace(text + "-A NOWHERE\n", "cached.rules", PROBES[0])  # an edit: parsed again
    assert parsed == ["cached.rules", "cached.rules"]
    assert json.loads(trace_json("*nat\nbad\n", "cached.rules", json.dumps(PROBES[0])))[
        "problems"]
    assert json.loads(views_json()) == {}  # the last trace had none


def test_a_trace_loads_no_journey_engine(tmp_path: Path) -> None:
    """Under Pyodide every module is compiled at each start: a trace imports only what it
    needs (not the journey engine, the application layer, the page renderers, nor YAML:
    the worker hands over the site's catalog.LANG.json), and words it in that catalog."""
    files = playground_files(ROOT / "node_modules" / "pyodide", ROOT / "rules",
                             ROOT / "plugins" / "chainwalk" / "assets")
    manifest = json.loads(files[PLAYGROUND_URI + "manifest.json"])  # type: ignore[arg-type]
    catalog = files[PLAYGROUND_URI + manifest["catalogs"]["zh"]]
    assert isinstance(catalog, bytes)
    (tmp_path / "catalog.json").write_bytes(catalog)
    program = ("import json, sys; import chainwalk.playground as p; "
               "p.use_catalog_json('zh', open(sys.argv[1], encoding='utf-8').read()); "
               "found = p.trace_json(sys.stdin.read(), 'x.rules', json.dumps(sys.argv[2:]), "
               "'zh'); p.views_json(); print(json.dumps([sorted(sys.modules), found]))")
    done = subprocess.run([sys.executable, "-c", program, str(tmp_path / "catalog.json"),
                           *PROBES[0]], input=RULESETS[0].read_text(encoding="utf-8"),
                          text=True, capture_output=True, check=True)
    modules, found = json.loads(done.stdout)
    assert json.loads(found)["rows"] == trace(RULESETS[0].read_text(encoding="utf-8"),
                                              "x.rules", PROBES[0], "zh")["rows"]
    assert "yaml" not in modules
    loaded = [name for name in modules if name.startswith("chainwalk.")]
    assert "chainwalk.netfilter._trace" in loaded and "chainwalk.render._messages" in loaded
    assert [name for name in loaded if name.startswith(("chainwalk.journey",
                                                        "chainwalk.project"))] == []
    assert "chainwalk.render._sequence" not in loaded


def test_the_bytecode_is_kept_for_the_next_visit(tmp_path: Path) -> None:
    """The worker's bytecode cache (its folder is IndexedDB's in the browser): the first
    start writes chainwalk's bytecode under the wheels' key, the next imports it as it is
    (not written again), and another key's folder (an older wheel) goes."""
    wheel = package_wheel("chainwalk", "chainwalk")
    zipfile.ZipFile(io.BytesIO(wheel.content)).extractall(tmp_path / "site")
    cache = tmp_path / "cache"
    (cache / "older").mkdir(parents=True)
    program = ("import sys; sys.dont_write_bytecode = True; "
               "from chainwalk.playground import use_bytecode_cache; "
               "use_bytecode_cache(sys.argv[1], 'key', ['chainwalk']); "
               "import chainwalk.netfilter._trace as t; print(t.__cached__)")

    def start() -> Path:
        done = subprocess.run([sys.executable, "-S", "-c", program, str(cache)],
                              cwd=tmp_path / "site", text=True, capture_output=True,
                              check=True)
        return Path(done.stdout.strip())

    cached = start()
    assert cached.is_file() and cached.is_relative_to(cache / "key")
    assert not (cache / "older").exists()
    assert (tmp_path / "site" / "chainwalk" / "cli.py").stat().st_mtime == 315532800
    kept = cached.stat().st_mtime_ns
    assert start() == cached
    assert cached.stat().st_mtime_ns == kept  # read as it was, not compiled again


def test_the_standard_library_is_pyodide_s_own_bytecode(tmp_path: Path) -> None:
    """npm's python_stdlib.zip with each module compiled by Pyodide's Python: the same
    entries (.py as .pyc, unchecked hash-based: no date), every other file as it was;
    Pyodide starts from it as from the sources, importing the same modules."""
    files = playground_files(PYODIDE, ROOT / "rules", ROOT / "plugins" / "chainwalk" / "assets")
    served = files[PYODIDE_URI + STDLIB]
    assert isinstance(served, bytes)
    manifest = json.loads(files[PLAYGROUND_URI + "manifest.json"])  # type: ignore[arg-type]
    # The worker's snapshot key: another standard library, loader or wheel is another key.
    digest = hashlib.sha256((PYODIDE / "pyodide.mjs").read_bytes())
    for data in (served, *(files[PLAYGROUND_URI + name] for name in manifest["wheels"])):
        assert isinstance(data, bytes)
        digest.update(hashlib.sha256(data).digest())
    assert manifest["engine"] == digest.hexdigest()[:24]
    source = zipfile.ZipFile(PYODIDE / STDLIB)
    compiled = zipfile.ZipFile(io.BytesIO(served))
    assert compiled.namelist() == sorted(name + "c" if name.endswith(".py") else name
                                         for name in source.namelist())
    magic = set()
    for name in compiled.namelist():
        data = compiled.read(name)
        if name.endswith(".pyc"):
            magic.add(data[:4])
            assert int.from_bytes(data[4:8], "little") == 0b01, name  # hash-based, unchecked
        else:
            assert data == source.read(name), name
    assert len(magic) == 1 and len(compiled.namelist()) > 500
    (tmp_path / STDLIB).write_bytes(served)
    started = {}
    for name, stdlib in (("sources", PYODIDE / STDLIB), ("bytecode", tmp_path / STDLIB)):
        done = subprocess.run(["node", "--input-type=module", "-e", PYODIDE_START,
                               str(PYODIDE), str(stdlib)], capture_output=True, text=True,
                              timeout=300, check=True)
        started[name] = json.loads(done.stdout.strip().splitlines()[-1])
    modules, expected_magic, header, imported = started["bytecode"]
    assert header == expected_magic == magic.pop().hex() and imported
    assert modules == started["sources"][0] and len(modules) > 150


def test_the_compiled_standard_library_is_reproducible_and_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Compiled again (nothing in memory, no cache): the same bytes; kept in the cache
    folder, and read from there by the next build (another Pyodide's copy goes)."""
    first = compiled_stdlib(PYODIDE)
    monkeypatch.setattr(_stdlib_bytecode, "_compiled", {})
    (tmp_path / "python_stdlib-older.zip").write_bytes(b"another Pyodide's")
    assert compiled_stdlib(PYODIDE, tmp_path) == first
    kept = list(tmp_path.iterdir())
    assert len(kept) == 1 and kept[0].read_bytes() == first
    monkeypatch.setattr(_stdlib_bytecode, "_compiled", {})
    monkeypatch.setattr(_stdlib_bytecode, "_compile", lambda folder: pytest.fail("compiled"))
    assert compiled_stdlib(PYODIDE, tmp_path) == first
    # A damaged copy in the cache is compiled again, never served.
    kept[0].write_bytes(first[: len(first) // 2])
    monkeypatch.setattr(_stdlib_bytecode, "_compiled", {})
    monkeypatch.setattr(_stdlib_bytecode, "_compile", lambda folder: first)
    assert compiled_stdlib(PYODIDE, tmp_path) == first and kept[0].read_bytes() == first


def test_a_standard_library_that_cannot_be_compiled_is_a_clear_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "pyodide"
    broken.mkdir()
    shutil.copy(PYODIDE / STDLIB, broken / STDLIB)
    (broken / "pyodide.mjs").write_text("throw new Error('a broken loader');\n")
    with pytest.raises(ChainwalkError, match=r"pyodide/python_stdlib.zip: Pyodide could "
                       r"not compile its standard library: Error: a broken loader$"):
        compiled_stdlib(broken)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    (broken / "pyodide.mjs").write_text("// another loader\n")
    with pytest.raises(ChainwalkError, match=r"python_stdlib.zip: cannot compile "
                       r"Pyodide's standard library: no node, expected node \(Node.js"):
        compiled_stdlib(broken)


def test_mkdocs_serve_serves_the_wasm_as_wasm() -> None:
    """(The browser test checks the static server's header.)"""
    from mkdocs.livereload import LiveReloadServer

    assert LiveReloadServer._guess_type(str(PYODIDE / "pyodide.asm.wasm")) == "application/wasm"


def test_only_the_playground_s_page_starts_the_engine_from_its_head() -> None:
    page = ('<html lang="en"><head>\n<meta charset="utf-8">\n<title>t</title></head>'
            '<body><div id="chainwalk-playground"></div></body></html>')
    started = with_engine_started(page, "../assets/chainwalk/playground/playground.js")
    assert started == page.replace(
        '<meta charset="utf-8">', '<meta charset="utf-8"><script async '
        'src="../assets/chainwalk/playground/playground.js" data-chainwalk-playground-start>'
        '</script>')
    other = page.replace('id="chainwalk-playground"', 'id="other"')
    assert with_engine_started(other, "playground.js") == other
    bare = page.replace('\n<meta charset="utf-8">', "")  # no charset: first in the head
    assert with_engine_started(bare, "p.js").startswith(
        '<html lang="en"><head><script async src="p.js" data-chainwalk-playground-start>')
