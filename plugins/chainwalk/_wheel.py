"""Pure-Python wheels of installed packages, made with the standard library (no network,
no build backend): what the site's playground installs into Pyodide.

A wheel holds the package's Python sources and data files as they are on disk, and a
``.dist-info`` with METADATA, WHEEL and RECORD. Its bytes depend only on those files:
entries in sorted order with a fixed date and mode, so a site built twice from the same
sources serves the same wheel.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can hold
_KEPT = re.compile(r"\.(py|json|yaml)$|(^|/)py\.typed$")  # the package data pyproject lists


@dataclass(frozen=True)
class Wheel:
    filename: str  # NAME-VERSION-py3-none-any.whl
    content: bytes


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name)


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(
        b"=").decode("ascii")


def make_wheel(name: str, version: str, files: Iterable[tuple[str, bytes]]) -> Wheel:
    """A wheel of ``files`` (path inside the wheel, content) for ``name`` ``version``."""
    dist_info = f"{_normalized(name)}-{version}.dist-info"
    entries = dict(files)
    entries[f"{dist_info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n").encode()
    entries[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: chainwalk\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    record = "".join(f"{path},{_digest(data)},{len(data)}\n"
                     for path, data in sorted(entries.items()))
    entries[f"{dist_info}/RECORD"] = (record + f"{dist_info}/RECORD,,\n").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(entries):
            info = zipfile.ZipInfo(path, _DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, entries[path])
    return Wheel(f"{_normalized(name)}-{version}-py3-none-any.whl", out.getvalue())


def package_wheel(distribution: str, package: str) -> Wheel:
    """The installed ``distribution``'s Python files and data of ``package`` (its top
    folder): sources as the build runs them (an editable install's too). Compiled
    extensions are left out: a wheel for Pyodide must be pure Python."""
    dist = metadata.distribution(distribution)
    module = __import__(package)
    folder = Path(module.__file__ or "").parent
    files = []
    for path in sorted(folder.rglob("*")):
        inside = path.relative_to(folder.parent).as_posix()
        if path.is_file() and "__pycache__" not in inside and _KEPT.search(inside):
            files.append((inside, path.read_bytes()))
    return make_wheel(dist.metadata["Name"], dist.version, files)
