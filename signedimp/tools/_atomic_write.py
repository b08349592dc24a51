"""Replacing a file atomically: write a temp file beside it, fsync, then ``os.replace``.

Signing works in place, so a crash or an error half-way must leave the original file as it
was and no temporary file behind; readers see the old file or the new one, never a mix.
"""

from __future__ import annotations

import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs import time in every signed build
    from typing import Any, BinaryIO


class AtomicFile:
    """A temp file beside ``target``; on a clean exit it is fsynced and moved over ``target``.

    On any exception the temp file is removed and ``target`` is left as it was.
    """

    def __init__(self, target: str, mode: int) -> None:
        self.target = target
        self.directory = os.path.dirname(target) or os.curdir
        self.mode = mode

    def __enter__(self) -> BinaryIO:
        import tempfile

        name = os.path.basename(self.target)
        fd, self.tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{name}.", suffix=".tmp")
        self.fh = os.fdopen(fd, "wb")
        return self.fh

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if exc_type is None:
                self.fh.flush()
                os.fsync(self.fh.fileno())
            self.fh.close()
            if exc_type is None:
                os.chmod(self.tmp, self.mode)
                os.replace(self.tmp, self.target)
        except BaseException:
            _unlink_quietly(self.tmp)
            raise
        if exc_type is not None:
            _unlink_quietly(self.tmp)
            return
        _fsync_directory(self.directory)


def existing_mode(path: str, default: int) -> int:
    """The permission bits of ``path``, kept by the file that replaces it; ``default`` if absent."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return default


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _fsync_directory(path: str) -> None:
    """Make the rename durable where the platform allows it (POSIX); best effort elsewhere."""
    if os.name != "posix":
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
