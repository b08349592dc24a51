"""The digests a folder's manifest lists: walk, hash and stale-bytecode check in one pass.

Each file is read once: the hashing threads start on the first files while the walk is still
listing the rest, and the 16-byte header of bytecode comes from the same read as its hash
(``_bytecode_check`` then needs no second open of the ``.pyc``, only a ``stat`` of its source
for the timestamp). Bytecode is hashed like any file and dropped afterwards when stale: which
``.pyc`` has its source in the tree is known only once the walk is complete.
"""

from __future__ import annotations

import hashlib
import os
from stat import S_ISREG

from ..bounded_read import file_chunks
from ..bounded_read import read_file as bounded_read_file
from ..limits import MAX_MEMBER_SIZE, READ_CHUNK
from ._bytecode_check import HEADER_SIZE, source_of, stale_reason
from ._hash_pool import HashPool, progress_enabled
from ._tree_walk import walk_tree

#: As ``bounded_read.file_chunks`` opens: never blocks on a FIFO, not inherited by children.
_OPEN_FLAGS = (
    os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
)

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only
    from collections.abc import Callable


def tree_digests(root: str, skip: Callable[[str], bool]) -> tuple[dict[str, str], dict[str, str]]:
    """(manifest path -> SHA-256 hex of every file under ``root``, bytecode left out -> why).

    ``skip(rel)``: files never listed (the manifest itself, signer temp files). The walk's rules
    hold (``walk_tree``: symlinks inside the tree only, no special files, bounded depth and
    sizes); its first error is raised, as is the first (in manifest order) unreadable file.
    """
    listed: list[tuple[str, str]] = []
    with HashPool(_digest_and_head, progress=progress_enabled()) as pool:
        for rel, fs in walk_tree(root):
            if not skip(rel):
                listed.append((rel, fs))
                pool.submit(fs)
        results = pool.results()
    by_rel = {rel: (fs, result) for (rel, fs), result in zip(listed, results)}
    stale = {rel: why for rel in by_rel if (why := _stale_reason(rel, by_rel)) is not None}
    hashes = {rel: result[0] for rel, (_, result) in by_rel.items() if rel not in stale}
    return hashes, stale


def _digest_and_head(path: str) -> tuple[str, bytes, int]:
    """(SHA-256 hex, the first ``HEADER_SIZE`` bytes, size) of one bounded read of ``path``.

    The runtime's ``file_chunks`` rules, inlined for the common case (this runs for every file
    of a tree, and the generator's overhead was a tenth of the time): opened without blocking,
    a regular file within the limit, read to the end. Anything else (a special file, a file over
    the limit or growing past it) is read again by ``file_chunks``, which raises its error.
    """
    fd = os.open(path, _OPEN_FLAGS)
    try:
        info = os.fstat(fd)
        if not S_ISREG(info.st_mode) or info.st_size > MAX_MEMBER_SIZE:
            return _digest_slowly(path)
        piece = os.read(fd, READ_CHUNK)
        head = piece[:HEADER_SIZE]
        digest = hashlib.sha256(piece)
        size = len(piece)
        while piece:
            piece = os.read(fd, READ_CHUNK)
            size += len(piece)
            if size > MAX_MEMBER_SIZE:
                return _digest_slowly(path)
            digest.update(piece)
        return digest.hexdigest(), head, size
    finally:
        os.close(fd)


def _digest_slowly(path: str) -> tuple[str, bytes, int]:
    """``_digest_and_head`` by the runtime's bounded reader: it raises the error, naming the file."""
    digest = hashlib.sha256()
    head = b""
    size = 0
    for chunk in file_chunks(path, MAX_MEMBER_SIZE):
        if not size:
            head = chunk[:HEADER_SIZE]
        size += len(chunk)
        digest.update(chunk)
    return digest.hexdigest(), head, size


def _stale_reason(rel: str, by_rel: dict[str, tuple[str, tuple[str, bytes, int]]]) -> str | None:
    """Why ``rel`` is bytecode whose header does not match its source in the tree (None: it does)."""
    source = source_of(rel)
    if source is None or source not in by_rel:
        return None
    source_fs, (_, _, source_size) = by_rel[source]
    header = by_rel[rel][1][1]
    mtime = int(os.stat(source_fs).st_mtime)
    return stale_reason(header, mtime, source_size, lambda: bounded_read_file(source_fs))
