"""The files of a directory tree, by manifest path: what ``sign_directory`` lists and an audit checks.

Symlinks are followed only while they stay inside the tree, and every name must be a valid
manifest path, so a signed tree can never vouch for a file outside itself. Special files
(FIFOs, sockets, devices) are refused without being opened, and nesting is limited to
``MAX_TREE_DEPTH`` folders (``signedimp.limits``); the walk itself is iterative.
"""

from __future__ import annotations

import os
import stat

from ..bounded_read import read_file as bounded_read_file
from ..errors import UnsafeInputError
from ..limits import MAX_MEMBER_SIZE, MAX_TREE_DEPTH
from ..manifest import check_path

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs import time in every signed build
    from collections.abc import Iterator

    PathLike = str | os.PathLike[str]


def walk_tree(root: str, errors: list[str] | None = None) -> Iterator[tuple[str, str]]:
    """Yield (manifest path, filesystem path) for every file under ``root``, sorted.

    Symlinks are followed when they stay inside the tree (the file is hashed by content);
    a link that leads outside, dangles, or loops is an error, as is any special file (FIFO,
    socket, device: never opened) and a folder nested more than ``MAX_TREE_DEPTH`` deep.
    Errors raise ``UnsafeInputError`` (a ValueError), or, when ``errors`` is a list, are
    collected there and the offending entry is skipped (an audit reports everything instead of
    stopping). The walk is iterative: no depth of nesting can exhaust the stack.
    """
    real_root = os.path.realpath(root)
    # A stack of pending work, in reverse order: files to yield, folders to open. A folder
    # carries its real path (for the loop check), built by joining names: realpath (an lstat
    # per component) is called only for symlinks.
    stack: list[tuple] = [("dir", root, (), real_root, frozenset({real_root}))]
    while stack:
        item = stack.pop()
        if item[0] == "file":
            yield item[1], item[2]
            continue
        _, directory, parts, real_dir, active = item
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=_entry_order)
        except OSError as exc:
            _report(UnsafeInputError(f"{_shown(directory)}: cannot be listed: {exc.strerror}"), errors)
            continue
        work = []
        for entry in entries:
            try:
                work.append(_classify(entry, parts, real_root, real_dir, active))
            except UnsafeInputError as exc:
                _report(exc, errors)
        stack.extend(reversed(work))


def _entry_order(entry: os.DirEntry) -> bytes:
    """Manifest order: by the UTF-8 bytes of the name."""
    return entry.name.encode("utf-8", "surrogateescape")


def _classify(
    entry: os.DirEntry, parts: tuple[str, ...], real_root: str, real_dir: str, active: frozenset[str]
) -> tuple:
    """The work item for one directory entry: a file to list or a folder to open."""
    rel_parts = (*parts, entry.name)
    real = _check_symlink(entry.path, real_root) if entry.is_symlink() else None
    if entry.is_dir(follow_symlinks=True):
        if len(rel_parts) > MAX_TREE_DEPTH:
            raise UnsafeInputError(
                f"{_shown(entry.path)}: nested more than {MAX_TREE_DEPTH} folders deep (the limit)"
            )
        if real is None:
            real = os.path.join(real_dir, entry.name)
        if real in active:
            raise UnsafeInputError(f"{_shown(entry.path)}: symlink loop")
        return ("dir", entry.path, rel_parts, real, active | {real})
    if entry.is_file(follow_symlinks=True):
        return ("file", checked_rel("/".join(rel_parts), entry.path), entry.path)
    raise UnsafeInputError(f"{_shown(entry.path)}: {_special_kind(entry)}, not a regular file or directory")


def _report(exc: UnsafeInputError, errors: list[str] | None) -> None:
    if errors is None:
        raise exc
    errors.append(str(exc))


def _special_kind(entry: os.DirEntry) -> str:
    try:
        mode = entry.stat(follow_symlinks=True).st_mode
    except OSError:
        return "unreadable"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a special file"


def _shown(path: str) -> str:
    """A path for a message: control characters and undecodable bytes escaped."""
    from ._audit_report import shown  # only for messages: the wheel signer imports this module

    return shown(path)


def read_file(path: PathLike, limit: int = MAX_MEMBER_SIZE) -> bytes:
    """The whole content of the file at ``path``: a regular file of at most ``limit`` bytes."""
    return bounded_read_file(os.fspath(path), limit)


def checked_rel(rel: str, where: str) -> str:
    """``rel`` when it can be listed in a manifest (UTF-8, a valid path), else ``UnsafeInputError``."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        raise UnsafeInputError(f"{_shown(where)}: file name is not valid UTF-8") from None
    try:
        check_path(rel)
    except ValueError as exc:
        raise UnsafeInputError(f"{_shown(where)}: cannot be listed in a manifest: {exc}") from None
    return rel


def _check_symlink(path: str, real_root: str) -> str:
    """The real path a symlink leads to, when it stays inside the tree and exists."""
    target = os.path.realpath(path)
    if not _is_within(target, real_root):
        raise UnsafeInputError(f"{_shown(path)}: symlink points outside the tree (to {_shown(target)})")
    if not os.path.exists(target):
        raise UnsafeInputError(f"{_shown(path)}: dangling symlink")
    return target


def _is_within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)
