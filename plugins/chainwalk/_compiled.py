"""The parser's modules compiled to C with mypyc, used only when built from these sources.

Theory of operation: reading a large ruleset is millions of small Python operations; as
Python, the parser takes 1.7 to 2 times as long as iptables-restore on a kube-proxy
ruleset (bench/run.py). mypyc compiles the same typed modules, unchanged, into a C
extension that reads it in a little over half the time. There is still one parser, not
a Python one and a C one to keep in step.

The build is optional and kept apart from the sources. ``python -m chainwalk._compiled``
(``make setup`` runs it) writes it to ``netfilter/__compiled__/KEY/``, where KEY is a
SHA-256 of every source the compiled code depends on (the netfilter package and the
error types it raises) and of the interpreter's ABI. When ``chainwalk.netfilter`` is
imported, :func:`load` puts that folder first on the package's search path only if the
sources, as they are now, have the key of a complete build there: editing a source
leaves the build unused, never stale. Without a build (no C compiler, another Python,
an edited source) the modules are the Python ones, which give the same results more
slowly. ``CHAINWALK_COMPILED=0`` in the environment turns the build off.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PACKAGE = "chainwalk.netfilter"
# The modules compiled: the parser and what it calls for every rule. The modules that
# define frozen classes (the model, the trace's Step, Packet) stay Python: their objects
# are made through builder classes of the same layout (_model.builder), which a class
# compiled by mypyc does not have.
MODULES = ("_parser", "_values", "_validate", "_extensions")
FOLDER = Path(__file__).parent / "netfilter" / "__compiled__"
_SOURCES = (Path(__file__).parent / "netfilter", Path(__file__).parent / "_errors.py")
_COMPLETE = "complete"  # written last: a folder without it is a build cut short
FORMAT = 1  # of a build: a change makes every earlier build unused

in_use = False  # whether chainwalk.netfilter runs the compiled modules (set by load)


def key() -> str:
    """The key of a build of the sources as they are now, for this interpreter."""
    # EXTENSION_SUFFIXES[0] is the ABI's own suffix (sysconfig's EXT_SUFFIX), without
    # importing sysconfig: this runs whenever the engine is imported.
    digest = hashlib.sha256(f"{FORMAT} {sys.implementation.cache_tag} "
                            f"{importlib.machinery.EXTENSION_SUFFIXES[0]}".encode())
    for path in sorted(p for source in _SOURCES
                       for p in (source.glob("*.py") if source.is_dir() else [source])):
        digest.update(f"\0{path.name}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:32]


def load(search_path: list[str]) -> bool:
    """Import the compiled modules of ``chainwalk.netfilter`` (whose ``__path__`` is
    ``search_path``) if a complete build of its current sources is there; ``False``, with
    the search path as it was, if not."""
    global in_use
    if os.environ.get("CHAINWALK_COMPILED") == "0" or not FOLDER.is_dir():
        return False  # (without any build, the sources are not even read for the key)
    folder = FOLDER / key()
    if not (folder / _COMPLETE).is_file():
        return False
    search_path.insert(0, str(folder))
    try:
        for name in MODULES:
            importlib.import_module(f"{PACKAGE}.{name}")
    except Exception:  # built for another system, say: the Python modules will do
        search_path.remove(str(folder))
        for name in MODULES:
            sys.modules.pop(f"{PACKAGE}.{name}", None)
        return False
    in_use = True
    return True


# Run by ``build`` in a child interpreter, in a temporary folder: mypyc's setuptools
# commands compile the modules given (absolute paths; mypy finds their package names from
# the __init__.py files above them) into the folder given.
_SETUP = """
import sys
from setuptools import setup
from mypyc.build import mypycify
out, sources = sys.argv[1], sys.argv[2:]
sys.argv[1:] = ["build_ext", "--build-lib", out, "--build-temp", "temp", "--parallel", "2"]
setup(name="chainwalk-compiled", script_args=sys.argv[1:],
      ext_modules=mypycify(sources, group_name="chainwalk.netfilter._compiled",
                           opt_level="3", target_dir="c"))
"""


def build() -> Path:
    """Compile the modules for the current sources unless done already; the build's folder.

    Raises :class:`RuntimeError` saying why if it cannot (mypy or a C compiler missing)."""
    target = FOLDER / key()
    if (target / _COMPLETE).is_file():
        return target
    try:
        import mypyc  # noqa: F401  (only to say clearly that it is missing)
    except ImportError:
        raise RuntimeError("mypyc (part of mypy) is not installed") from None
    netfilter = Path(__file__).parent / "netfilter"
    sources = [str(netfilter / f"{name}.py") for name in MODULES]
    FOLDER.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="chainwalk-compile-") as work:
        out = Path(work) / "lib"
        run = subprocess.run([sys.executable, "-c", _SETUP, str(out), *sources], cwd=work,
                             capture_output=True, text=True)
        if run.returncode != 0:
            raise RuntimeError("mypyc failed:\n" + (run.stdout + run.stderr)[-4000:])
        if key() != target.name:  # a source changed while it compiled: not this build
            raise RuntimeError("the sources changed during the build: run it again")
        built = out / "chainwalk" / "netfilter"
        staging = Path(tempfile.mkdtemp(prefix=".partial-", dir=FOLDER))
        for library in sorted(built.glob("*" + importlib.machinery.EXTENSION_SUFFIXES[0])):
            shutil.copy2(library, staging / library.name)
        (staging / _COMPLETE).write_text(" ".join(MODULES) + "\n", encoding="utf-8")
        try:
            staging.rename(target)
        except OSError:  # built meanwhile by another process: use that one
            shutil.rmtree(staging)
    for old in FOLDER.iterdir():  # builds of earlier sources, never to be used again
        if old != target and not old.name.startswith(".partial-"):  # (others' work)
            shutil.rmtree(old, ignore_errors=True)
    return target


def main() -> int:
    try:
        target = build()
    except (RuntimeError, OSError) as e:
        print(f"chainwalk: the parser stays pure Python (slower, same results): {e}",
              file=sys.stderr)
        return 1
    print(f"chainwalk: compiled parser in {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
