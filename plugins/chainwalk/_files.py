"""Reading the files chainwalk is given, and confining the paths its inputs name.

Every input file (a ruleset, a scenario or annotation file, a page) is read by
:func:`read_text`: only a regular file is opened (a FIFO would block the reader
forever, a device such as ``/dev/zero`` never ends), up to :data:`MAX_FILE_BYTES`,
and its bytes must be UTF-8. Anything else is a :class:`ChainwalkError` naming the
file, never an ``OSError`` or ``UnicodeDecodeError``.

Every path an input names (a scenario's ``ruleset:``, a block's ``scenario:``) goes
through :func:`confine`, which resolves it (symlinks included) and refuses it unless
it stays inside the rules folder. A refused file is never read, so its content can
never reach a message.
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

from ._errors import ChainwalkError, Location, Problem

if TYPE_CHECKING:
    from pathlib import Path

# The largest input read: far above any real ruleset (a 100,000-rule kube-proxy
# ruleset is about 30 MB), far below what would exhaust the memory of a build.
MAX_FILE_BYTES = 64 * 1024 * 1024


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _refused(shown: str, message: str, expected: str | None = None) -> ChainwalkError:
    return ChainwalkError([Problem(Location(shown, 0), message, None, expected)])


def regular_file_size(path: str | os.PathLike[str], shown: str | None = None,
                      what: str = "file") -> int:
    """The size of ``path`` after checking, without opening it, that it is a regular
    file no larger than :data:`MAX_FILE_BYTES` (symlinks are followed). ``what`` the
    file is for says messages: "cannot read the ruleset x.rules: it is a FIFO"."""
    shown = shown if shown is not None else str(path)
    cannot = f"cannot read the {what} {shown}"
    try:
        st = os.stat(path)
    except OSError as e:  # missing, a name too long, a symlink loop...
        raise _refused(shown, f"{cannot}: {e.strerror or e}") from None
    if not stat.S_ISREG(st.st_mode):
        raise _refused(shown, f"{cannot}: it is {_kind(st.st_mode)}", "a regular file")
    if st.st_size > MAX_FILE_BYTES:
        raise _refused(shown, f"{cannot}: {st.st_size} bytes is too large",
                       f"at most {MAX_FILE_BYTES} bytes")
    return st.st_size


def read_bytes(path: str | os.PathLike[str], shown: str | None = None,
               what: str = "file") -> bytes:
    """The bytes of a regular file (see :func:`regular_file_size`)."""
    shown = shown if shown is not None else str(path)
    regular_file_size(path, shown, what)
    cannot = f"cannot read the {what} {shown}"
    try:
        # O_NONBLOCK: should the file have become a FIFO since the check, opening it
        # returns at once instead of waiting for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise _refused(shown, f"{cannot}: it is not a regular file",
                               "a regular file")
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise _refused(shown, f"{cannot}: {e.strerror or e}") from None
    if len(data) > MAX_FILE_BYTES:
        raise _refused(shown, f"{cannot}: it is too large",
                       f"at most {MAX_FILE_BYTES} bytes")
    return data


def decode(data: bytes, shown: str, encoding: str = "utf-8") -> str:
    """``data`` as text; invalid UTF-8 is a problem at its line and column."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise ChainwalkError([Problem(Location(shown, line, column), "invalid UTF-8",
                                      data[e.start:e.end].hex(" "),
                                      "a text file in UTF-8")]) from None


def read_text(path: str | os.PathLike[str], shown: str | None = None, what: str = "file",
              encoding: str = "utf-8") -> str:
    """The text of a regular UTF-8 file; every way of failing is a :class:`ChainwalkError`
    at ``shown`` (the path as messages show it; default: ``path``)."""
    shown = shown if shown is not None else str(path)
    return decode(read_bytes(path, shown, what), shown, encoding)


def confine(written: str, base: str | os.PathLike[str], rules_dir: str | os.PathLike[str],
            where: Location) -> Path:
    """``written`` (a path as an input names it, relative to ``base``), resolved through
    symlinks; a :class:`ChainwalkError` at ``where`` unless it stays inside ``rules_dir``.

    The message shows the path as written, never what the file holds.
    """
    from pathlib import Path  # here: reading a file (``chainwalk check``) needs no pathlib

    if "\0" in written:
        raise ChainwalkError([Problem(where, "a path cannot hold a NUL character",
                                      written, "a path inside the rules folder")])
    try:
        resolved = (Path(base) / written).resolve()
        inside = resolved.is_relative_to(Path(rules_dir).resolve())
    except (OSError, RuntimeError, ValueError) as e:  # a symlink loop, a name too long
        raise ChainwalkError([Problem(where, f"cannot resolve the path ({e})", written,
                                      "a path inside the rules folder")]) from None
    if not inside:
        raise ChainwalkError([Problem(where, "the path leads outside the rules folder",
                                      written, "a path inside the rules folder")])
    return resolved
