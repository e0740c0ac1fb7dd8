"""The compiled parser (chainwalk._compiled): used only when built from the sources as they
are, and reading exactly what the Python modules read.

Where no build is in use (no C compiler, an edited source), the comparison skips and says
so; with ``CHAINWALK_REQUIRE_COMPILED=1`` (set by .ci/run) it fails instead.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import chainwalk.netfilter
from chainwalk import ChainwalkError, _compiled
from chainwalk.netfilter import parse_text, write_ruleset

REPO = Path(__file__).resolve().parents[1]


def test_the_key_changes_with_any_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    package = tmp_path / "netfilter"
    package.mkdir()
    (package / "_parser.py").write_text("x = 1\n")
    errors = tmp_path / "_errors.py"
    errors.write_text("y = 1\n")
    monkeypatch.setattr(_compiled, "_SOURCES", (package, errors))
    first = _compiled.key()
    assert _compiled.key() == first
    (package / "_parser.py").write_text("x = 2\n")
    second = _compiled.key()
    errors.write_text("y = 2\n")
    third = _compiled.key()
    (package / "_values.py").write_text("")
    assert len({first, second, third, _compiled.key()}) == 4


@pytest.fixture
def fresh_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The netfilter package's search path, to be changed at will, with the compiled
    modules to import again and builds looked for in tmp_path; all put back after."""
    search_path = list(chainwalk.netfilter.__path__)
    monkeypatch.setattr(chainwalk.netfilter, "__path__", search_path)
    monkeypatch.setattr(_compiled, "FOLDER", tmp_path)
    monkeypatch.setattr(_compiled, "in_use", False)
    monkeypatch.delenv("CHAINWALK_COMPILED", raising=False)
    for name in _compiled.MODULES:
        monkeypatch.delitem(sys.modules, f"chainwalk.netfilter.{name}", raising=False)
    return search_path


def test_no_build_of_these_sources_means_the_python_modules(
        fresh_import: list[str], tmp_path: Path) -> None:
    before = list(fresh_import)
    (tmp_path / ("0" * 32)).mkdir()  # a build of other sources
    (tmp_path / ("0" * 32) / "complete").write_text("")
    (tmp_path / _compiled.key()).mkdir()  # a build of these, cut short: no "complete"
    assert not _compiled.load(fresh_import)
    assert fresh_import == before and not _compiled.in_use


def test_no_build_folder_at_all_means_the_python_modules(
        fresh_import: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = list(fresh_import)
    monkeypatch.setattr(_compiled, "FOLDER", tmp_path / "absent")
    assert not _compiled.load(fresh_import)
    assert fresh_import == before and not _compiled.in_use


def test_a_build_that_does_not_load_means_the_python_modules(
        fresh_import: list[str], tmp_path: Path) -> None:
    before = list(fresh_import)
    build = tmp_path / _compiled.key()
    build.mkdir()
    (build / f"_parser{sysconfig.get_config_var('EXT_SUFFIX')}").write_bytes(b"not a library")
    (build / "complete").write_text("")
    assert not _compiled.load(fresh_import)
    assert fresh_import == before and not _compiled.in_use
    assert all(f"chainwalk.netfilter.{name}" not in sys.modules for name in _compiled.MODULES)


def test_it_can_be_turned_off(fresh_import: list[str], tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    build = tmp_path / _compiled.key()
    build.mkdir()
    (build / "complete").write_text("")
    monkeypatch.setenv("CHAINWALK_COMPILED", "0")
    assert not _compiled.load(fresh_import)


# -- the compiled parser against the Python one ----------------------------------------

def _inputs() -> dict[str, str]:
    """Every ruleset of the project and the tests, a generated kube-proxy ruleset, and
    broken copies of them (a token changed, dropped or repeated) for the problems."""
    texts = {str(p.relative_to(REPO)): p.read_text(encoding="utf-8")
             for folder in (REPO / "rules", REPO / "tests" / "fixtures")
             for p in sorted(folder.rglob("*.rules"))}
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import kube_proxy
    finally:
        sys.path.remove(str(REPO / "bench"))
    texts["kube-proxy 200x3"] = kube_proxy.generate(200, 3)
    pick = random.Random(1)
    swaps = ["--bogus", "!", "-j", "-m", "tcp", "300.1.1.1/33", "65536", "-p", "", "X" * 30,
             "--dport", "udp", "DNAT", "-g", "COMMIT", "*nat", '"a b"', "0x1/0x2", ":15001"]
    for name, text in list(texts.items()):
        lines = text.splitlines()
        for n in range(40):
            k = pick.randrange(len(lines))
            words = lines[k].split(" ")
            w = pick.randrange(len(words))
            how = pick.choice(("swap", "drop", "repeat"))
            if how == "swap":
                words[w] = pick.choice(swaps)
            elif how == "drop":
                del words[w]
            else:
                words.insert(w, words[w])
            broken = [*lines[:k], " ".join(words), *lines[k + 1:]]
            texts[f"{name} broken {n}"] = "\n".join(broken) + "\n"
    return texts


def results(texts: dict[str, str]) -> dict[str, str]:
    """What the parser makes of each text: the model (its repr, as written back with
    counters, and where each table, chain and rule was read, which the repr leaves out),
    or the problems."""
    out = {}
    for name, text in texts.items():
        try:
            ruleset = parse_text(text, name)
        except ChainwalkError as e:
            out[name] = "problems\n" + str(e)
        else:
            places = [(t.location, [(c.location, c.counters, [(r.location, r.counters)
                                                              for r in c.rules])
                                    for c in t.chains]) for t in ruleset.tables]
            out[name] = "\n".join([repr(ruleset), write_ruleset(ruleset, counters=True),
                                   repr(places)])
    return out


def test_the_compiled_parser_reads_what_the_python_modules_read(tmp_path: Path) -> None:
    if not _compiled.in_use:
        why = ("no compiled parser built for these sources (make setup builds it: "
               "python -m chainwalk._compiled)")
        if os.environ.get("CHAINWALK_REQUIRE_COMPILED") == "1":
            pytest.fail(why + "; CHAINWALK_REQUIRE_COMPILED=1 wants it")
        pytest.skip(why)
    texts = _inputs()
    assert sum("broken" in name for name in texts) >= 200
    source = tmp_path / "inputs.json"
    source.write_text(json.dumps(texts), encoding="utf-8")
    code = ("import json, sys; from test_compiled import results; import chainwalk._compiled as c;"
            "assert not c.in_use; json.dump(results(json.load(open(sys.argv[1]))), sys.stdout)")
    env = {**os.environ, "CHAINWALK_COMPILED": "0",
           "PYTHONPATH": os.pathsep.join([str(REPO / "tests"), str(REPO / "plugins")])}
    run = subprocess.run([sys.executable, "-c", code, str(source)], env=env,
                         capture_output=True, text=True, check=True)
    python = json.loads(run.stdout)
    compiled = results(texts)
    assert sum(r.startswith("problems") for r in compiled.values()) >= 100
    differ = [name for name in texts if compiled[name] != python[name]]
    assert not differ, f"{len(differ)} differ, first {differ[0]!r}:\n" \
        f"compiled: {compiled[differ[0]][:2000]}\npython: {python[differ[0]][:2000]}"
