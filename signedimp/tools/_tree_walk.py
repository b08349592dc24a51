"""The files of a directory tree, by manifest path: what ``sign_directory`` lists and an audit checks.

Symlinks are followed only while they stay inside the tree, and every name must be a valid
manifest path, so a signed tree can never vouch for a file outside itself.
"""

from __future__ import annotations

import os

from ..manifest import check_path

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs import time in every signed build
    from collections.abc import Iterator
    from typing import Union

    PathLike = Union[str, "os.PathLike[str]"]


def walk_tree(root: str, errors: list[str] | None = None) -> Iterator[tuple[str, str]]:
    """Yield (manifest path, filesystem path) for every file under ``root``, sorted.

    Symlinks are followed when they stay inside the tree (the file is hashed by content);
    a link that leads outside, dangles, or loops is an error, as is any special file.
    Errors raise ``ValueError``, or, when ``errors`` is a list, are collected there and the
    offending entry is skipped (an audit reports everything instead of stopping).
    """
    real_root = os.path.realpath(root)
    yield from _walk_dir(root, (), real_root, frozenset({real_root}), errors)


def read_file(path: PathLike) -> bytes:
    """The whole content of the file at ``path``."""
    with open(path, "rb") as fh:
        return fh.read()


def checked_rel(rel: str, where: str) -> str:
    """``rel`` when it can be listed in a manifest (UTF-8, a valid path), else ``ValueError``."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{where}: file name is not valid UTF-8") from None
    try:
        check_path(rel)
    except ValueError as exc:
        raise ValueError(f"{where}: cannot be listed in a manifest: {exc}") from None
    return rel


def _walk_dir(
    directory: str,
    parts: tuple[str, ...],
    real_root: str,
    active: frozenset[str],
    errors: list[str] | None,
) -> Iterator[tuple[str, str]]:
    with os.scandir(directory) as it:
        entries = sorted(it, key=lambda e: e.name.encode("utf-8", "surrogateescape"))
    for entry in entries:
        rel_parts = (*parts, entry.name)
        try:
            if entry.is_symlink():
                _check_symlink(entry.path, real_root)
            if entry.is_dir(follow_symlinks=True):
                real = os.path.realpath(entry.path)
                if real in active:
                    raise ValueError(f"{entry.path}: symlink loop")
                yield from _walk_dir(entry.path, rel_parts, real_root, active | {real}, errors)
            elif entry.is_file(follow_symlinks=True):
                yield checked_rel("/".join(rel_parts), entry.path), entry.path
            else:
                raise ValueError(f"{entry.path}: not a regular file or directory")
        except ValueError as exc:
            if errors is None:
                raise
            errors.append(str(exc))


def _check_symlink(path: str, real_root: str) -> None:
    target = os.path.realpath(path)
    if not _is_within(target, real_root):
        raise ValueError(f"{path}: symlink points outside the tree (to {target})")
    if not os.path.exists(target):
        raise ValueError(f"{path}: dangling symlink")


def _is_within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)
