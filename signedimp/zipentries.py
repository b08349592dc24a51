"""Zip archives (and folders inside them) as import roots: the zip half of :mod:`signedimp.entries`.

Members are read at the offsets of the archive's central directory (read once by
:mod:`signedimp.zipdir`, which refuses duplicate names up front), inflated in bounded steps
(:mod:`signedimp.bounded_read`). A module of its own so that a process that imports from
folders only (a sealed ``site-packages``) never runs it, nor ``zipdir``: ``entries`` hands
these classes out on first use (its module ``__getattr__``).
"""

from __future__ import annotations

import io
import os

from .bounded_read import member_chunks, read_member
from .entries import _DIST_INFO, ManifestSource, cached_bytecode_path
from .errors import ZipFormatError
from .limits import MAX_MEMBER_SIZE
from .manifest import MANIFEST_NAME
from .zipdir import ZipMember, read_zip_index

__all__ = ["ZipArchive", "ZipEntry"]


class ZipArchive:
    """One zip file: its members, read once from the central directory, and their bytes.

    Members are read at the offsets that central directory gives, the one that was checked
    for duplicates, so there is no second, possibly different, view of the archive (the
    stdlib ``zipimport`` keeps its own, cached across the process).
    """

    def __init__(self, archive: str, data: bytes | None = None) -> None:
        self.archive = archive
        #: The archive's bytes when they were read and checked whole (a frozen app's library
        #: zip): members are read from them, never from the file again.
        self.data = data
        self.error: str | None = None
        self.members: dict = {}
        self.names: frozenset[str] = frozenset()
        self.dirs: frozenset[str] = frozenset()
        self.prefix_size = 0  # bytes before the first member: a zipapp's self-check hashes them
        try:
            index = read_zip_index(archive, None if data is None else io.BytesIO(data))
        except (ZipFormatError, OSError) as exc:
            self.error = str(exc) or f"{archive}: cannot be read as a zip archive"
            return
        self.prefix_size = index.prefix_size
        self.members = index.rows  # name -> ZipMember fields: the object is made when read
        self.names = index.names
        self.dirs = index.dirs

    def read(self, name: str, limit: int = MAX_MEMBER_SIZE) -> bytes:
        """The content of member ``name``, inflated in bounded steps (``bounded_read``).

        FileNotFoundError if absent; ZipFormatError if corrupt, over ``limit``, or in a
        compression method the runtime cannot read; OSError if the archive cannot be read.
        """
        row = self.members.get(name)
        if row is None:
            raise FileNotFoundError(f"{self.archive}{os.sep}{name}: no such member in the archive")
        member = ZipMember(*row)
        if self.data is not None:
            return b"".join(member_chunks(io.BytesIO(self.data), member, self.archive, limit))
        return read_member(self.archive, member, limit)


class ZipEntry:
    """A zip archive, or a folder inside one (``app.zip/lib``), seen as an import root."""

    def __init__(self, path: str, archive: ZipArchive, prefix: str) -> None:
        self.path = path
        self.archive = archive
        self.prefix = prefix  # "" or "lib/"
        self.real = os.path.realpath(path)
        self.error = archive.error

    def display(self, rel: str) -> str:
        return os.path.join(self.path, *rel.split("/"))

    def read(self, rel: str, limit: int = MAX_MEMBER_SIZE) -> bytes:
        return self.archive.read(self.prefix + rel, limit)

    def manifest_candidates(self) -> list[ManifestSource]:
        """As :func:`folder_manifests`, inside the archive: the nearest root manifest at or
        above the prefix decides alone; without one, the nearest ``*.dist-info`` manifests."""
        names = self.archive.names
        parts = self.prefix.split("/")[:-1]  # "lib/x/" -> ["lib", "x"]
        bases = ["".join(f"{p}/" for p in parts[:i]) for i in range(len(parts), -1, -1)]
        for base in bases:
            if base + MANIFEST_NAME in names:
                return [self._source(base, base + MANIFEST_NAME)]
        ordered = sorted(name for name in names if name.endswith(f"{_DIST_INFO}/{MANIFEST_NAME}"))
        for base in bases:
            found = []
            for name in ordered:
                if name.startswith(base):
                    head, _, tail = name[len(base) :].partition("/")
                    if tail == MANIFEST_NAME and head.endswith(_DIST_INFO):
                        found.append(name)
            if found:
                return [self._source(base, name) for name in found]
        return []

    def _source(self, base: str, member: str) -> ManifestSource:
        """A manifest at archive member ``member``, describing the folder ``base`` (``""``: the root)."""
        where = os.path.join(self.archive.archive, *member.split("/"))
        return ManifestSource(where, self.archive.read, member, self.prefix[len(base) :])

    def bytecode_candidates(self, rel: str) -> tuple[str, ...]:
        """Zips keep bytecode beside the source (as zipimport expects), or in ``__pycache__``."""
        return (rel[:-3] + ".pyc", cached_bytecode_path(rel))

    def listdir(self, rel: str) -> list[str]:
        base = self.prefix + rel + "/" if rel else self.prefix
        children = {
            name[len(base) :].split("/", 1)[0]
            for name in (*self.archive.names, *self.archive.dirs)
            if name.startswith(base) and len(name) > len(base)
        }
        return sorted(children)

    def is_dir(self, rel: str) -> bool:
        full = (self.prefix + rel).rstrip("/")
        return full == "" or full in self.archive.dirs

    def is_file(self, rel: str) -> bool:
        return (self.prefix + rel) in self.archive.names
