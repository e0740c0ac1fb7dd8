"""What the site serves for its playground (no MkDocs here; the plugin copies these).

- Pyodide's core from npm (``js/pyodide/``): the loader, the interpreter and its
  standard library (compiled to bytecode: :mod:`chainwalk._stdlib_bytecode`), nothing
  else (its package index is read at start-up; no package of it is loaded). Only the
  playground's worker asks for them.
- The wheels of chainwalk and PyYAML (pure Python, made from the installed sources by
  :mod:`chainwalk._wheel`), which the worker unpacks into Pyodide.
- The site's rules folder as data (``rules.json``: each ruleset and scenario file's
  path inside it, to its text), and a manifest naming all of it for the playground's
  script, with the script's words in each language (the message catalogs'
  ``playground.ui.*``), and each language's whole catalog as JSON
  (``catalog.LANG.json``), which the worker hands to the engine: its trace then reads
  no YAML.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from ._errors import ChainwalkError, Location, Problem
from ._files import read_text
from ._stdlib_bytecode import STDLIB, compiled_stdlib
from ._wheel import Wheel, package_wheel
from .render._messages import LANGUAGES, messages

PYODIDE_URI = "js/pyodide/"
PLAYGROUND_URI = "assets/chainwalk/playground/"
# Pyodide's files the worker loads (npm's package holds also docs, maps and a console).
PYODIDE_FILES = ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip",
                 "pyodide-lock.json")
SCRIPTS = ("playground.js", "playground-worker.mjs", "playground.css")
UI_MESSAGES = "playground.ui."  # the catalogs' keys the script shows
# The state the playground opens with, without a link: its trace is computed when the
# site is built (in every language), so the page shows it before Pyodide has started.
DEFAULT_STATE = {"mode": "packet", "ruleset": "current.rules", "hook": "output",
                 "proto": "tcp", "src": "10.0.0.5", "dst": "10.0.0.9", "dport": "80",
                 "uid": "1000", "scenario": "bookinfo/inbound"}
# The packet's fields in the order the script writes their options (``--FIELD VALUE``).
PACKET_FIELDS = ("hook", "proto", "src", "dst", "sport", "dport", "uid", "gid", "mark", "in",
                 "out", "addr")


_HOST = 'id="chainwalk-playground"'
_CHARSET, _HEAD = re.compile(r"<meta charset=[^>]*>"), re.compile(r"<head\b[^>]*>")


def with_engine_started(html: str, script_url: str) -> str:
    """A page that has a playground loads its script from the ``<head>`` (``script_url``:
    playground.js, relative to the page), so that the engine starts as the page begins
    to load rather than after the theme's scripts; other pages are left as they are."""
    head = _CHARSET.search(html) or _HEAD.search(html)  # the charset stays first
    if _HOST not in html or head is None:
        return html
    tag = f'<script async src="{script_url}" data-chainwalk-playground-start></script>'
    return html[:head.end()] + tag + html[head.end():]


def missing_pyodide(folder: Path) -> list[str]:
    """The files of :data:`PYODIDE_FILES` that ``folder`` lacks."""
    return [name for name in PYODIDE_FILES if not (folder / name).is_file()]


def _json(data: object) -> bytes:
    return (json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()

def _first_trace(text: str, name: str) -> dict[str, object]:
    """The default state's trace as the worker would answer it (the same function), in
    every language: ``{"ruleset", "options", "results": {language: result}}``."""
    from .playground import trace

    options: list[str] = []
    for field in PACKET_FIELDS:
        for value in DEFAULT_STATE.get(field, "").split():
            options += [f"--{field}", value]
    return {"ruleset": name, "options": options,
            "results": {language: trace(text, name, options, language)
                        for language in LANGUAGES}}


_RULES_SUFFIXES = (".rules", ".nft", ".yaml", ".ip-rule", ".ip-route")


def _engine_key(pyodide: Path, stdlib: bytes, wheels: list[Wheel]) -> str:
    """A digest of Pyodide's loader (its version and build), the standard library served
    and the wheels: what Python's memory depends on once chainwalk is imported."""
    digest = hashlib.sha256((pyodide / "pyodide.mjs").read_bytes())
    for data in (stdlib, *(wheel.content for wheel in wheels)):
        digest.update(hashlib.sha256(data).digest())
    return digest.hexdigest()[:24]


def playground_files(pyodide: Path, rules_dir: Path, assets: Path) -> dict[str, Path | bytes]:
    """Site path -> file to copy, or content, for every file the playground needs."""
    files: dict[str, Path | bytes] = {PYODIDE_URI + name: pyodide / name
                                      for name in PYODIDE_FILES}
    files[PYODIDE_URI + STDLIB] = stdlib = compiled_stdlib(pyodide)
    for name in SCRIPTS:
        files[PLAYGROUND_URI + name] = assets / name
    wheels = [package_wheel("chainwalk", "chainwalk"), package_wheel("PyYAML", "yaml")]
    for wheel in wheels:
        files[PLAYGROUND_URI + wheel.filename] = wheel.content
    rules: dict[str, str] = {}
    problems: list[Problem] = []
    # Every file a scenario may name (rulesets of both formats, routing dumps, node rules)
    # and the scenarios; not the annotations, which only the pages read.
    found = [p for p in rules_dir.rglob("*") if p.is_file() and p.suffix in _RULES_SUFFIXES
             and not p.name.endswith(".annotations.yaml")]
    for path in sorted(found):
        shown = path.relative_to(rules_dir).as_posix()
        try:
            rules[shown] = read_text(path, shown, "rules file")
        except ChainwalkError as e:
            problems.extend(e.problems)
    if problems:
        raise ChainwalkError(problems)
    if not any(name.startswith("rulesets/") for name in rules):
        raise ChainwalkError([Problem(Location(str(rules_dir / "rulesets"), 0),
                                     "the playground has no ruleset to offer",
                                     expected="rulesets/*.rules or *.nft in the rules folder")])
    files[PLAYGROUND_URI + "rules.json"] = _json(rules)
    # The page's words, per language (the script picks its page's <html lang>).
    words = {language: {key: text for key, text in messages(language).texts.items()
                        if key.startswith(UI_MESSAGES)} for language in LANGUAGES}
    manifest: dict[str, object] = {"defaults": DEFAULT_STATE}
    name = DEFAULT_STATE["ruleset"]
    if f"rulesets/{name}" in rules:
        manifest["first"] = _first_trace(rules[f"rulesets/{name}"], name)
    catalogs = {language: f"catalog.{language}.json" for language in LANGUAGES}
    for language, name in catalogs.items():
        files[PLAYGROUND_URI + name] = _json(messages(language).texts)
    files[PLAYGROUND_URI + "manifest.json"] = _json(manifest | {
        "pyodide": PYODIDE_URI, "wheels": [w.filename for w in wheels],
        # What the worker's memory snapshot of Python holds: its key.
        "engine": _engine_key(pyodide, stdlib, wheels),
        "rules": "rules.json", "messages": words, "catalogs": catalogs})
    return files
