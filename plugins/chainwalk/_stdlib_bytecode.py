"""Pyodide's standard library as bytecode, made when the site is built.

npm's ``python_stdlib.zip`` holds only sources, and Python never writes bytecode into a
zip, so each start of Pyodide compiled every module it imports (most of its start).
The site serves instead the same zip with each ``.py`` replaced by its ``.pyc``, made by
Pyodide's own Python (so the magic number and bytecode are its own) in ``node``: an
unchecked hash-based pyc per module (no date in it), the entries sorted, with a fixed
date, so the same Pyodide always gives the same bytes.

Compiling costs seconds, so the result is kept in memory (``mkdocs serve``'s rebuilds)
and on disk beside npm's packages, in ``node_modules/.cache/chainwalk/`` (where tools
that build from npm's packages keep theirs: a copy of the project that links
``node_modules`` shares it, and ``npm ci`` clears it), under a digest of Pyodide's
loader, its standard library and this module's script.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

from ._errors import MAX_TOKEN_SHOWN, ChainwalkError, Location, Problem

STDLIB = "python_stdlib.zip"
_TIMEOUT = 600  # seconds: a loaded 2-core machine compiles it in about 10

# Run by node with the Pyodide folder and the output path: Pyodide's Python compiles
# the zip it started from (its sources were never compiled into it).
_PYTHON = r"""
import importlib._bootstrap_external as external
import importlib.util
import io
import sys
import zipfile

stdlib = next(entry for entry in sys.path if entry.endswith(".zip"))
source = zipfile.ZipFile(stdlib)
out = io.BytesIO()
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
    for entry in sorted(source.infolist(), key=lambda entry: entry.filename):
        name, data = entry.filename, source.read(entry)
        if name.endswith(".py"):
            code = compile(data, f"{stdlib}/{name}", "exec", dont_inherit=True)
            name, data = name + "c", bytes(external._code_to_hash_pyc(
                code, importlib.util.source_hash(data), False))
        info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = (0o40755 if name.endswith("/") else 0o644) << 16
        archive.writestr(info, data)
with open("/compiled.zip", "wb") as written:
    written.write(out.getvalue())
"""
_NODE = r"""
import { pathToFileURL } from "node:url";
import { writeFileSync } from "node:fs";
const [folder, out, program] = process.argv.slice(-3);
const { loadPyodide } = await import(pathToFileURL(folder + "/pyodide.mjs").href);
const pyodide = await loadPyodide({ indexURL: folder + "/", stdout: () => {} });
pyodide.runPython(program);
writeFileSync(out, pyodide.FS.readFile("/compiled.zip"));
"""

_ERROR = re.compile(r"^[\w.]*(?:Error|Exception)\b.*$", re.MULTILINE)
_compiled: dict[str, bytes] = {}  # the key (see _key) -> the zip


def _key(pyodide: Path) -> str:
    digest = hashlib.sha256((_NODE + _PYTHON).encode())
    for name in ("pyodide.mjs", STDLIB):
        digest.update(hashlib.sha256((pyodide / name).read_bytes()).digest())
    return digest.hexdigest()[:24]


def _problem(pyodide: Path, message: str, expected: str | None = None) -> ChainwalkError:
    return ChainwalkError([Problem(Location(str(pyodide / STDLIB), 0), message,
                                   expected=expected)])


def _compile(pyodide: Path) -> bytes:
    node = shutil.which("node")
    if node is None:
        raise _problem(pyodide, "cannot compile Pyodide's standard library: no node",
                       expected="node (Node.js, which npm needs) on the PATH")
    with tempfile.TemporaryDirectory(prefix="chainwalk-stdlib-") as folder:
        return _run(node, pyodide, Path(folder) / STDLIB)


def _run(node: str, pyodide: Path, out: Path) -> bytes:
    try:
        done = subprocess.run([node, "--input-type=module", "-e", _NODE, str(pyodide),
                               str(out), _PYTHON], capture_output=True, text=True,
                              timeout=_TIMEOUT, check=False)
        if done.returncode != 0 or not out.is_file():
            # The last error node or Python named (node's stderr also holds the source
            # line it failed in, and the stack).
            errors = _ERROR.findall(done.stderr)
            raise _problem(pyodide, "Pyodide could not compile its standard library: "
                           + (errors[-1].strip()[:MAX_TOKEN_SHOWN] if errors
                              else f"node exited with {done.returncode}"))
        return out.read_bytes()
    except subprocess.TimeoutExpired:
        raise _problem(pyodide, f"compiling Pyodide's standard library took over "
                       f"{_TIMEOUT} s") from None


def _is_zip(data: bytes) -> bool:
    try:
        return zipfile.ZipFile(io.BytesIO(data)).testzip() is None
    except zipfile.BadZipFile:
        return False


def compiled_stdlib(pyodide: Path, cache: Path | None = None) -> bytes:
    """npm's ``python_stdlib.zip`` of the Pyodide in ``pyodide``, its modules compiled:
    from memory, else from ``cache`` (a folder; by default ``.cache/chainwalk`` beside
    ``pyodide``), else compiled (and kept in both)."""
    key = _key(pyodide)
    if key in _compiled:
        return _compiled[key]
    kept = (cache or pyodide.parent / ".cache" / "chainwalk") / f"python_stdlib-{key}.zip"
    try:
        data = kept.read_bytes()
    except OSError:  # none yet, or unreadable
        data = b""
    if not _is_zip(data):
        data = _compile(pyodide)
        try:
            kept.parent.mkdir(parents=True, exist_ok=True)
            partial = kept.with_suffix(f".{os.getpid()}.partial")
            partial.write_bytes(data)
            partial.replace(kept)
            for older in kept.parent.glob("python_stdlib-*.zip"):
                if older != kept:
                    older.unlink()  # another Pyodide's
        except OSError:
            pass  # not kept: the next build compiles again
    _compiled[key] = data
    return data
