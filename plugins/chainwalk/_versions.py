"""The version of a file or folder that a computation read: what the renderers' memo
(``render.Project``) and the page cache (``_page_cache``) compare to know whether an
input changed. A file's version is the SHA-256 of its bytes, a folder's that of its
sorted names (a file added or removed changes it), a missing path's is None.
"""

from __future__ import annotations

import hashlib
import os

from ._errors import ChainwalkError
from ._files import read_bytes


def digest(path: str) -> str:
    """The SHA-256 of what ``path`` holds, or "unreadable" (also for what is neither a
    folder nor a regular file: a FIFO is never opened, a device never read)."""
    try:
        content = ("\n".join(sorted(os.listdir(path))).encode() if os.path.isdir(path)
                   else read_bytes(path))
    except (OSError, ChainwalkError):
        return "unreadable"
    return hashlib.sha256(content).hexdigest()


def version(path: str) -> str | None:
    """``path``'s version: its digest, or None if it does not exist."""
    try:
        os.stat(path)
    except OSError:
        return None
    return digest(path)
