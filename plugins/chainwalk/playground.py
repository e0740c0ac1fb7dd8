"""The playground's adapter: ``chainwalk trace`` for a ruleset pasted in a page, and
``chainwalk run`` for a scenario file of the site, edited in the page.

The site's playground runs this module in the browser (Pyodide, in a Web Worker) on
the chainwalk wheel the plugin builds (see :mod:`chainwalk._wheel`). :func:`trace_json`
takes the ruleset's text and the command line's ``trace`` options, and goes through
the CLI's own argument parser, checks and :func:`chainwalk.cli.trace_of`: its
``trace`` is what ``chainwalk trace --json`` prints for the same file and options.
:func:`journey_json` writes the rules folder the page sends (the site's, with the
reader's edit of one scenario file) and returns what ``chainwalk run FILE#NAME`` prints
as JSON, text and Mermaid. Everything it returns is data (JSON); the page shows strings with ``textContent`` and
the Mermaid source through Mermaid's strict mode (labels escaped by the renderer).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from ._errors import ChainwalkError, Location, Problem, bounded

if TYPE_CHECKING:
    from .netfilter import Ruleset, Trace
    from .netfilter._nft_model import NftRuleset
    from .render._messages import Messages

# What a trace needs is imported when the first trace runs, and a journey's (the journey
# engine, the application layer) when the first journey runs: under Pyodide each module
# is compiled from source at every start, and a trace needs a third of them.
MAX_DIAGRAM_RULES = 400  # a larger table's flowchart is no figure a reader can follow


_SOURCE_TIME = 315532800  # 1980-01-01, the wheels' date: what the kept bytecode records


def use_bytecode_cache(folder: str, key: str, packages: Sequence[str]) -> None:
    """Keep the bytecode Python compiles ``packages`` to in ``folder`` (the worker mounts
    it on IndexedDB), under ``key`` (the wheels' digest), so that the next visit imports
    them without compiling: Pyodide's Python is not the build's, so the wheel carries
    none. The unpacked sources get one fixed time, which the bytecode records; other
    keys' folders (older wheels) are removed."""
    import importlib.util
    import os
    import shutil
    import sys

    base = Path(folder)
    for old in base.iterdir():
        if old.name != key:
            shutil.rmtree(old, ignore_errors=True)
    for package in packages:
        spec = importlib.util.find_spec(package)
        for location in (spec.submodule_search_locations or []) if spec else []:
            for source in Path(location).rglob("*.py"):
                os.utime(source, (_SOURCE_TIME, _SOURCE_TIME))
    sys.pycache_prefix = str(base / key)
    sys.dont_write_bytecode = False


def problem_dict(problem: Problem) -> dict[str, Any]:
    """A problem as data: where (line and column 0 for the whole input) and the message
    ``chainwalk check`` prints."""
    return {"line": problem.location.line, "column": problem.location.column,
            "message": str(problem)}


class _Usage(Exception):
    """What argparse would print before exiting with status 2."""


def _arguments(name: str, options: Sequence[str]) -> argparse.Namespace:
    from .cli import build_parser, check_trace_arguments

    parser = build_parser()
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said), contextlib.redirect_stdout(said):
            args = parser.parse_args(["trace", name, *options, "--json"])
            check_trace_arguments(parser, args)
    except SystemExit:
        lines = [line for line in said.getvalue().splitlines() if line.strip()]
        raise _Usage(lines[-1] if lines else "invalid options") from None
    return args


def _diagram(ruleset: Ruleset | NftRuleset, result: Trace) -> dict[str, str] | None:
    """The flowchart of the table whose rules decided most, the trace's path lit (an
    iptables ruleset's: the flowchart does not draw nftables chains)."""
    from .netfilter import Ruleset
    from .render._chains import chains_flowchart

    if not isinstance(ruleset, Ruleset):
        return None
    steps = [step for branch in result.branches for step in branch.steps if step.table]
    tables = [t for t in ruleset.tables if any(s.table == t.name for s in steps)]
    if not tables:
        return None
    table = next((t for t in tables if t.name == "nat"), tables[0])
    if sum(len(c.rules) for c in table.chains) > MAX_DIAGRAM_RULES:
        return None
    return {"table": table.name, "mermaid": chains_flowchart(ruleset, table.name, steps)}


# The catalogs the worker hands over (the site's catalog.LANG.json), by language.
_catalogs: dict[str, Messages] = {}


def use_catalog_json(language: str, texts_json: str) -> None:
    """The message catalog of ``language`` as the site serves it (key -> text, JSON), to
    word the traces in: read in a fraction of the YAML's time under Pyodide."""
    from .render._messages import LANGUAGES, Messages

    texts = json.loads(texts_json)
    known = next((known for known in LANGUAGES if known == language), None)
    if known is None or not isinstance(texts, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in texts.items()):
        raise ValueError(f"catalog.{language}.json: expected key -> text of a known language")
    _catalogs[known] = Messages(known, texts)


def _catalog(language: str) -> Messages:
    """The catalog of the page's ``language`` (English for one the site has not): the
    one handed over, else read from the package."""
    from .render._messages import LANGUAGES, messages

    known = next((known for known in LANGUAGES if known == language), "en")
    return _catalogs.get(known) or messages(known)


# The last trace's ruleset and result, for :func:`views_json` (the worker runs one at a
# time).
_last: tuple[Ruleset | NftRuleset, Trace] | None = None


def trace(rules: str, name: str, options: Sequence[str], language: str = "en",
          views: bool = True) -> dict[str, Any]:
    """``chainwalk trace NAME OPTIONS --json`` with NAME holding ``rules``, as data:
    ``{"trace", "rows", "rule_lines"}`` (``rows``: the table's words in the page's
    ``language``, see :func:`~chainwalk.render._playground.trace_rows`; ``rule_lines``:
    the line of each rule, for the page's what-if) and, with ``views``, what
    :func:`views_of` adds; or ``{"problems"}`` (every problem of the ruleset, or the
    trace's), or ``{"usage"}`` (an option the CLI refuses). The rules are parsed once
    per content (the ruleset cache), so another packet through them parses nothing."""
    global _last
    from ._ruleset_cache import load_text
    from .cli import trace_of
    from .netfilter._format import detect_format
    from .render._playground import trace_rows

    try:
        args = _arguments(name, options)
    except _Usage as e:
        return {"usage": str(e)}
    parsed: list[Ruleset | NftRuleset] = []

    def load(path: str, family: int) -> Ruleset | NftRuleset:
        # As the CLI reads a file: --format, else the first line says which.
        nft = (args.format if args.format != "auto" else detect_format(rules)) == "nft"
        parsed.append(load_text(rules, path, family, nft))
        return parsed[-1]

    _last = None
    try:
        result = trace_of(args, load)
    except ChainwalkError as e:
        return {"problems": [problem_dict(p) for p in bounded(e.problems)]}
    ruleset = parsed[0]
    _last = (ruleset, result)
    found = {"trace": result.to_dict(), "rows": trace_rows(result, _catalog(language)),
             "rule_lines": _rule_lines(ruleset)}
    return found | views_of(ruleset, result) if views else found


def views_of(ruleset: Ruleset | NftRuleset, result: Trace) -> dict[str, Any]:
    """What the page shows beside the table, asked once the table is shown: ``text``
    (what ``chainwalk trace`` prints) and ``diagram`` (the flowchart, or ``None``)."""
    from .render._trace_text import format_trace

    return {"text": format_trace(result), "diagram": _diagram(ruleset, result)}


def views_json(language: str = "en") -> str:
    """:func:`views_of` the last trace, as JSON (``{}`` when it had none: problems). The
    views are the CLI's, in English whatever the ``language``."""
    return json.dumps(views_of(*_last) if _last is not None else {})


def _rule_lines(ruleset: Ruleset | NftRuleset) -> list[dict[str, Any]]:
    """Each rule's line in the pasted text, keyed as the trace's steps name the rule."""
    from .netfilter import Ruleset

    where: list[tuple[str, str, int, Location | None]]
    if isinstance(ruleset, Ruleset):  # (two models, alike here: mypy reads them apart)
        where = [(t.name, c.name, n, r.location) for t in ruleset.tables for c in t.chains
                 for n, r in enumerate(c.rules, start=1)]
    else:
        where = [(t.name, c.name, n, r.location) for t in ruleset.tables for c in t.chains
                 for n, r in enumerate(c.rules, start=1)]
    return [{"table": table, "chain": chain, "rule": n, "line": location.line}
            for table, chain, n, location in where if location is not None]


def trace_json(rules: str, name: str, options_json: str, language: str = "en",
               views: bool = False) -> str:
    """:func:`trace` with JSON in and out (what the worker calls; it asks for the views
    with :func:`views_json` once the table is shown)."""
    options = json.loads(options_json)
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        return json.dumps({"usage": "options: expected a list of strings"})
    return json.dumps(trace(rules, name, options, language, views))


def _relative(problem: Problem, base: str) -> Problem:
    """``problem`` with its path as the page shows it: inside the rules folder."""
    path = problem.location.path
    if path.startswith(base + "/"):
        path = path[len(base) + 1:]
    return dataclasses.replace(problem, location=dataclasses.replace(problem.location,
                                                                     path=path))


def write_rules(files: dict[str, str], root: str) -> None:
    """The rules folder the page sends (path inside it -> text), written under ``root``.
    A path that would leave it is refused: the page only sends the site's own names."""
    base = Path(root)
    for name, text in files.items():
        parts = PurePosixPath(name).parts
        if not parts or PurePosixPath(name).is_absolute() or ".." in parts:
            raise ChainwalkError([Problem(Location(name, 0), "not a path inside the rules "
                                          "folder", name)])
        target = base.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def scenarios(root: str) -> list[dict[str, str]]:
    """Every scenario of the rules folder at ``root`` (``scenarios/*.yaml``): its id
    (``FILE/NAME``), title and Chinese title (``zh_title``, empty when the file gives
    none), in the order ``chainwalk check`` reads them."""
    from .journey import load_scenarios

    return [{"id": s.id, "title": s.title, "zh_title": s.zh_title}
            for s in load_scenarios(str(Path(root) / "scenarios"))]


def journey(root: str, scenario_file: str, name: str, language: str = "en") -> dict[str, Any]:
    """``chainwalk run ROOT/SCENARIO_FILE#NAME --json`` as data: ``{"journey"}`` (what
    the CLI prints), ``"text"`` (its ``--text``), ``"mermaid"`` (its ``--mermaid`` but
    for the title), ``"words"`` (the result and why) and ``"title"`` (the scenario's),
    both in the page's ``language``; or ``{"problems"}`` with the rules folder's paths."""
    from .project import journeys_of
    from .render import format_mermaid, format_text, journey_to_dict

    try:
        found = journeys_of(str(Path(root) / scenario_file), name)
    except ChainwalkError as e:
        return {"problems": [problem_dict(_relative(p, root)) for p in bounded(e.problems)]}
    except ImportError as e:  # jsonschema words some errors, and has no pure-Python wheel
        return {"problems": [{"line": 0, "column": 0, "message": (
            f"{scenario_file}: a problem the playground cannot word here ({e.name} does "
            "not run in the browser): chainwalk check names it")}]}
    scenario, run = found[0]
    msg = _catalog(language)
    # The diagram without a Mermaid title (one wider than the lifelines is cut off): the
    # page shows the scenario's title, in its language (an edited file may lack the
    # Chinese one), as the figure's caption.
    return {"journey": journey_to_dict(run, scenario), "text": format_text(run, scenario),
            "words": {"result": msg(f"result.{run.result}"), "reason": msg.reason(run.reason)},
            "title": (language == "zh" and scenario.zh_title) or scenario.title,
            "mermaid": format_mermaid(run)}


def journey_json(files_json: str, root: str, scenario_file: str, name: str,
                 language: str = "en") -> str:
    """:func:`write_rules` then :func:`journey`, JSON in and out (what the worker calls)."""
    files = json.loads(files_json)
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        return json.dumps({"problems": [{"line": 0, "column": 0,
                                         "message": "files: expected path -> text"}]})
    try:
        write_rules(files, root)
    except ChainwalkError as e:
        return json.dumps({"problems": [problem_dict(p) for p in e.problems]})
    return json.dumps(journey(root, scenario_file, name, language), indent=2)


def write_rules_json(files_json: str, root: str) -> None:
    """:func:`write_rules` with JSON in (the worker's start)."""
    write_rules(json.loads(files_json), root)


def scenarios_json(root: str) -> str:
    """:func:`scenarios` as JSON (asked when the page first shows a journey: reading
    every scenario file costs seconds in Pyodide, which a packet's trace need not wait)."""
    return json.dumps(scenarios(root))
