"""The last good build's rendered pages, kept on disk for the next ``mkdocs build``.

Why: a build whose inputs are those of the last good build (building twice, or a CI
job that restores its cache) need not import the engine, parse every ruleset and run
every journey again. Its inputs are every page's text, chainwalk's own code and the
versions of Python and PyYAML (the key, a SHA-256 over all of them), and every file
and folder the renderers looked at (``Project.versions_read``: the rules folder's, and
any ruleset a scenario names outside it), stored with their versions and compared
again before the pages are taken. Any change at all is a miss, and a miss renders
everything as if there were no cache.

One entry is kept: the last good build's (a build with problems stores nothing). The
file is JSON, never pickle, so a tampered cache cannot run code, and a cache that
cannot be read or written is only logged: the build never fails because of it.
This module imports nothing from the engine: on a hit, the engine is never loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from ._versions import version

FORMAT = 2
_CODE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class CachedBuild:
    """What a good build computed: each page's Markdown and tables, and the warnings."""

    pages: dict[str, tuple[str, dict[str, str]]]  # page -> (Markdown, placeholder -> HTML)
    warnings: list[str]
    inputs: dict[str, str | None]  # every file and folder it read -> its version


def _code_files() -> list[Path]:
    """chainwalk's own modules and data, in a stable order."""
    found: list[Path] = []
    for where, dirs, files in os.walk(_CODE):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        found.extend(Path(where, f) for f in sorted(files) if f.endswith((".py", ".json", ".yaml")))
    return found


def build_key(pages: list[tuple[str, str]], rules_dir: Path, fence_escapes: bool = False,
              playground: str = "") -> str:
    """The key of a build of ``pages`` ((name, text) each) over ``rules_dir``, for a
    Mermaid fence that escapes its source or not and a playground page's URL ("": none)
    (``render.Site``'s options)."""
    digest = hashlib.sha256()

    def add(*parts: str | bytes) -> None:
        for part in parts:
            data = part.encode("utf-8") if isinstance(part, str) else part
            digest.update(len(data).to_bytes(8, "big") + data)

    add(str(FORMAT), sys.version, yaml.__version__, str(rules_dir), str(fence_escapes),
        playground)
    for path in _code_files():
        add(path.relative_to(_CODE).as_posix(), path.read_bytes())
    for name, text in pages:
        add(name, text)
    return digest.hexdigest()


def load(path: Path, key: str) -> CachedBuild | None:
    """The build stored under ``key`` whose inputs are unchanged, or None (another key, an
    input changed, no file, unreadable)."""
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        if stored.get("key") != key:
            return None
        inputs = {str(p): None if v is None else str(v) for p, v in stored["inputs"].items()}
        if any(version(p) != v for p, v in inputs.items()):
            return None
        pages = {name: (str(markdown), {str(k): str(v) for k, v in tables.items()})
                 for name, (markdown, tables) in stored["pages"].items()}
        return CachedBuild(pages, [str(w) for w in stored["warnings"]], inputs)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def save(path: Path, key: str, build: CachedBuild) -> None:
    """Store ``build`` under ``key`` in place of what was there (OSError if it cannot)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + f".{os.getpid()}.tmp")
    data = {"key": key, "pages": {name: [markdown, tables]
                                  for name, (markdown, tables) in build.pages.items()},
            "warnings": build.warnings, "inputs": build.inputs}
    try:
        temporary.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
