"""The playground's adapter: ``chainwalk trace`` for a ruleset pasted in a page.

The site's playground runs this module in the browser (Pyodide, in a Web Worker) on
the chainwalk wheel the plugin builds (see :mod:`chainwalk._wheel`). :func:`trace_json`
takes the ruleset's text and the command line's ``trace`` options, and goes through
the CLI's own argument parser, checks and :func:`chainwalk.cli.trace_of`: its
``trace`` is what ``chainwalk trace --json`` prints for the same file and options.
Everything it returns is data (JSON); the page shows strings with ``textContent`` and
the Mermaid source through Mermaid's strict mode (labels escaped by the renderer).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from collections.abc import Sequence
from typing import Any

from ._errors import ChainwalkError, Problem, bounded
from .cli import build_parser, check_trace_arguments, format_trace, trace_of
from .netfilter import Ruleset, Trace, parse_text
from .render._chains import chains_flowchart

MAX_DIAGRAM_RULES = 400  # a larger table's flowchart is no figure a reader can follow


def problem_dict(problem: Problem) -> dict[str, Any]:
    """A problem as data: where (line and column 0 for the whole input) and the message
    ``chainwalk check`` prints."""
    return {"line": problem.location.line, "column": problem.location.column,
            "message": str(problem)}


class _Usage(Exception):
    """What argparse would print before exiting with status 2."""


def _arguments(name: str, options: Sequence[str]) -> argparse.Namespace:
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


def _diagram(ruleset: Ruleset, result: Trace) -> dict[str, str] | None:
    """The flowchart of the table whose rules decided most, the trace's path lit."""
    steps = [step for branch in result.branches for step in branch.steps if step.table]
    tables = [t for t in ruleset.tables if any(s.table == t.name for s in steps)]
    if not tables:
        return None
    table = next((t for t in tables if t.name == "nat"), tables[0])
    if sum(len(c.rules) for c in table.chains) > MAX_DIAGRAM_RULES:
        return None
    return {"table": table.name, "mermaid": chains_flowchart(ruleset, table.name, steps)}


def trace(rules: str, name: str, options: Sequence[str]) -> dict[str, Any]:
    """``chainwalk trace NAME OPTIONS --json`` with NAME holding ``rules``, as data:
    ``{"trace", "text", "diagram", "rule_lines"}`` (the line of each rule, for the
    page's what-if), or ``{"problems"}`` (every problem of the
    ruleset, or the trace's), or ``{"usage"}`` (an option the CLI refuses)."""
    try:
        args = _arguments(name, options)
    except _Usage as e:
        return {"usage": str(e)}
    parsed: list[Ruleset] = []

    def load(path: str, family: int) -> Ruleset:
        parsed.append(parse_text(rules, path, family))
        return parsed[-1]

    try:
        result = trace_of(args, load)
    except ChainwalkError as e:
        return {"problems": [problem_dict(p) for p in bounded(e.problems)]}
    ruleset = parsed[0]
    lines = [{"table": t.name, "chain": c.name, "rule": n, "line": r.location.line}
             for t in ruleset.tables for c in t.chains
             for n, r in enumerate(c.rules, start=1) if r.location is not None]
    return {"trace": result.to_dict(), "text": format_trace(result),
            "diagram": _diagram(ruleset, result), "rule_lines": lines}


def trace_json(rules: str, name: str, options_json: str) -> str:
    """:func:`trace` with JSON in and out (what the worker calls)."""
    options = json.loads(options_json)
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        return json.dumps({"usage": "options: expected a list of strings"})
    return json.dumps(trace(rules, name, options), indent=2)
