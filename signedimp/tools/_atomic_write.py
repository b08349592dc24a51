"""Replacing a file atomically: write a temp file beside it, fsync, then ``os.replace``.

Signing works in place, so a crash or an error half-way must leave the original file as it
was and no temporary file behind; readers see the old file or the new one, never a mix.

What a run that is killed leaves, and what the next run does with it (docs/signing-faults.md):

- An error, ``SIGINT`` or ``SIGTERM`` (the command line turns it into ``SystemExit``) removes
  the temp file before the process ends.
- ``SIGKILL`` or a power cut can leave the temp file. Its name says whose it is:
  ``.<target name>.signedimp-tmp-<pid>-<random>``; the next run that writes the same target
  removes those whose process is gone, and ``sign_directory`` never lists such a file.

The target itself decides what may be replaced: a symlink is followed (the file it points to
is signed, the link stays); a file that is write-protected or has other hard links is refused,
since replacing it would quietly drop the protection or leave the other links unsigned; the
owner, group and extended attributes of the old file are carried over where the platform
allows.
"""

from __future__ import annotations

import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs import time in every signed build
    from typing import Any, BinaryIO

#: Marks the temporary files of signedimp, between the target's name and the writer's pid.
TEMP_MARK = ".signedimp-tmp-"

# The temp files of this process that are neither moved into place nor removed yet, named
# before they are created. At exit, whatever is left is removed (``_remove_live_temps``): a
# safety net behind ``AtomicFile``'s own clean-up, for a termination signal that unwinds by a
# path that clean-up did not foresee (seen twice in CI under load, SIGTERM, never reproduced).
_live_temps: set[str] = set()
_exit_hook_registered = False


def _track(path: str) -> None:
    global _exit_hook_registered
    if not _exit_hook_registered:
        import atexit

        atexit.register(_remove_live_temps)
        _exit_hook_registered = True
    _live_temps.add(path)


def _remove_live_temps() -> None:
    for path in list(_live_temps):
        _unlink_quietly(path)


class TargetError(OSError):
    """The target cannot be replaced safely (write-protected, hard-linked, unwritable folder)."""

    def __str__(self) -> str:
        reason = self.strerror or (self.args[0] if self.args else "")
        return f"{self.filename}: {reason}" if self.filename else str(reason)


def temp_prefix(target_name: str) -> str:
    """The name prefix of every temp file that replaces ``target_name`` (pid and random follow)."""
    return f".{target_name}{TEMP_MARK}"


def is_temp_name(name: str) -> bool:
    """True for the name of a signedimp temp file (of any target)."""
    return name.startswith(".") and TEMP_MARK in name


class AtomicFile:
    """A temp file beside ``target``; on a clean exit it is fsynced and moved over ``target``.

    On any exception (``KeyboardInterrupt`` and ``SystemExit`` included) the temp file is
    removed and ``target`` is left as it was. ``target`` should come from
    :func:`replaceable_target` when it may already exist.
    """

    def __init__(self, target: str, mode: int) -> None:
        self.target = target
        self.directory = os.path.dirname(target) or os.curdir
        self.mode = mode
        self.tmp = ""

    def __enter__(self) -> BinaryIO:
        import errno  # here, not at the top: importing the tools loads nothing outside signedimp

        name = os.path.basename(self.target)
        remove_stale_temps(self.directory, name)
        flags = (
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
        )
        for _ in range(100):
            # The name is chosen before the file exists, so that a signal arriving between the
            # two still finds the name to clean up.
            self.tmp = os.path.join(self.directory, f"{temp_prefix(name)}{os.getpid()}-{os.urandom(4).hex()}")
            _track(self.tmp)
            try:
                fd = os.open(self.tmp, flags, 0o600)
                break
            except FileExistsError:  # not ours: never to be removed by this process
                _live_temps.discard(self.tmp)
                continue
            except OSError as exc:
                _live_temps.discard(self.tmp)
                self.tmp = ""
                raise _unwritable_folder(self.directory, self.target, exc) from None
            except BaseException:  # a signal (SystemExit, KeyboardInterrupt) during the open
                _unlink_quietly(self.tmp)
                raise
        else:  # pragma: no cover - 100 collisions of 32 random bits
            raise FileExistsError(errno.EEXIST, "no free temporary name", self.directory)
        try:
            self.fh = os.fdopen(fd, "wb")
        except BaseException:  # __exit__ does not run when __enter__ raises: clean up here
            os.close(fd)
            _unlink_quietly(self.tmp)
            raise
        return self.fh

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if exc_type is None:
                self.fh.flush()
                os.fsync(self.fh.fileno())
            self.fh.close()
            if exc_type is None:
                _carry_over_ownership(self.target, self.tmp)
                os.chmod(self.tmp, self.mode)
                os.replace(self.tmp, self.target)
                _live_temps.discard(self.tmp)
        except BaseException as error:
            _unlink_quietly(self.tmp)
            if isinstance(error, OSError) and error.filename == self.tmp:
                raise _unwritable_folder(self.directory, self.target, error) from None
            raise
        if exc_type is not None:
            _unlink_quietly(self.tmp)
            if isinstance(exc, OSError) and _is_write_error(exc) and exc.filename in (None, self.tmp):
                raise _unwritable_folder(self.directory, self.target, exc) from None
            return
        _fsync_directory(self.directory)


def replaceable_target(path: str) -> str:
    """The file that signing ``path`` in place replaces, after checking it may be replaced.

    Symlinks are followed (the file is signed where it lives, the link keeps pointing at it).
    Refused with :class:`TargetError`: a write-protected file (no write bit for its owner) and
    a file with other hard links (they would keep the old content, unsigned).
    """
    import errno

    real = os.path.realpath(path)
    try:
        info = os.stat(real)
    except FileNotFoundError:
        return real
    if stat.S_ISREG(info.st_mode):
        if not info.st_mode & stat.S_IWUSR:
            raise TargetError(
                errno.EACCES,
                f"is write-protected (mode {stat.S_IMODE(info.st_mode):04o}); signing replaces it, "
                "so make it writable first (chmod u+w) if that is intended",
                path,
            )
        if info.st_nlink > 1:
            raise TargetError(
                errno.EMLINK,
                f"has {info.st_nlink} hard links; signing writes a new file, so the other links "
                "would keep the unsigned content: sign a copy, or remove the other links",
                path,
            )
    return real


def existing_mode(path: str, default: int) -> int:
    """The permission bits of ``path``, kept by the file that replaces it; ``default`` if absent."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return default


def remove_stale_temps(directory: str, target_name: str) -> list[str]:
    """Remove temp files for ``target_name`` in ``directory`` left by runs that were killed.

    A temp file whose writer (the pid in its name) is still running is left alone: two signers
    of one target may run at once, and the last ``os.replace`` wins. Returns the removed paths.
    """
    prefix = temp_prefix(target_name)
    removed: list[str] = []
    try:
        names = [n for n in os.listdir(directory) if n.startswith(prefix)]
    except OSError:
        return removed
    for name in names:
        pid_text = name[len(prefix) :].split("-", 1)[0]
        if pid_text.isdigit() and _process_is_running(int(pid_text)):
            continue
        path = os.path.join(directory, name)
        if os.path.isfile(path) and not os.path.islink(path):
            _unlink_quietly(path)
            removed.append(path)
    return removed


def _process_is_running(pid: int) -> bool:
    """Is the process ``pid`` alive? A zombie (killed, not yet reaped: common where the init
    process of a container does not reap orphans) writes nothing more: not running."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's process: assume alive
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rpartition(b")")[2].split()[:1]
    except OSError:
        return True  # no /proc (not Linux): os.kill said it exists
    return state != [b"Z"]


def _is_write_error(exc: OSError) -> bool:
    """True for errno values that only a write can give: the folder's problem, not a temp file's."""
    import errno

    names = ("ENOSPC", "EDQUOT", "EFBIG", "EROFS")
    return exc.errno in {getattr(errno, n) for n in names if hasattr(errno, n)}


def _unwritable_folder(directory: str, target: str, exc: OSError) -> OSError:
    """The error for a temp file that could not be written: it names the folder and the cause."""
    import errno

    reason = exc.strerror or str(exc)
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        message = f"cannot sign {target}: its folder {directory} is not writable ({reason})"
    elif exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        message = f"cannot sign {target}: no room to write the signed copy in {directory} ({reason})"
    else:
        message = f"cannot sign {target}: writing the signed copy in {directory} failed ({reason})"
    return TargetError(exc.errno or errno.EIO, message)


def _carry_over_ownership(target: str, tmp: str) -> None:
    """Give ``tmp`` the owner, group and extended attributes of ``target`` (best effort)."""
    try:
        info = os.stat(target)
    except OSError:
        return
    if hasattr(os, "chown"):
        mine = os.stat(tmp)
        if (mine.st_uid, mine.st_gid) != (info.st_uid, info.st_gid):
            try:
                os.chown(tmp, info.st_uid, info.st_gid)
            except OSError:
                pass
    if hasattr(os, "listxattr"):
        try:
            names = os.listxattr(target)
        except OSError:
            return
        for name in names:
            try:
                os.setxattr(tmp, name, os.getxattr(target, name))
            except OSError:
                pass


def _unlink_quietly(path: str) -> None:
    if not path:
        return
    try:
        os.unlink(path)
    except FileNotFoundError:
        _live_temps.discard(path)
    except OSError:
        pass
    else:
        _live_temps.discard(path)


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
