"""File access for one ``sys.path`` entry: a directory, a zip archive, or a folder inside one.

The import hook needs four things from an entry: read a file's bytes (once), list the
candidate manifests, and, for ``importlib.resources``, list folders and tell files from
folders. Directories use the file system; zips use the archive's central directory (read by
:mod:`signedimp.zipdir`, so duplicate member names are refused up front) and read members
at the offsets it gives.
"""

from __future__ import annotations

import os
import sys

from .bounded_read import read_file, read_member
from .errors import ZipFormatError
from .limits import MAX_MEMBER_SIZE
from .manifest import MANIFEST_NAME
from .zipdir import read_zip_directory

__all__ = ["DirectoryEntry", "ZipArchive", "ZipEntry", "MissingEntry", "ManifestSource", "split_archive_path"]

_DIST_INFO = ".dist-info"
_OPT_TAG = f".opt-{sys.flags.optimize}" if sys.flags.optimize else ""


class ManifestSource:
    """Where a candidate manifest is, how to read it, and the path prefix its lines carry.

    ``where`` names it in messages; ``read(key)`` returns its bytes; ``strip`` is "" or a
    prefix such as ``lib/``: lines outside it are not for this entry, and it is taken off.
    """

    __slots__ = ("where", "read", "key", "strip")

    def __init__(self, where: str, read, key: str, strip: str) -> None:
        self.where, self.read, self.key, self.strip = where, read, key, strip


def cached_bytecode_path(rel: str) -> str:
    """``pkg/mod.py`` -> ``pkg/__pycache__/mod.<cache tag>[.opt-N].pyc``."""
    head, _, tail = rel.rpartition("/")
    cached = f"__pycache__/{tail[:-3]}.{sys.implementation.cache_tag}{_OPT_TAG}.pyc"
    return f"{head}/{cached}" if head else cached


class DirectoryEntry:
    """A folder on disk; ``rel`` paths are ``/``-separated and relative to it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.error: str | None = None

    def display(self, rel: str) -> str:
        return os.path.join(self.path, *rel.split("/"))

    def read(self, rel: str, limit: int = MAX_MEMBER_SIZE) -> bytes:
        """The file's bytes; UnsafeInputError for a special file or one over ``limit``."""
        return read_file(self.display(rel), limit)

    def manifest_candidates(self) -> list[ManifestSource]:
        found = []
        if os.path.isfile(os.path.join(self.path, MANIFEST_NAME)):
            found.append(MANIFEST_NAME)
        try:
            names = sorted(e.name for e in os.scandir(self.path) if e.name.endswith(_DIST_INFO))
        except OSError:
            names = []
        for name in names:
            if os.path.isfile(os.path.join(self.path, name, MANIFEST_NAME)):
                found.append(f"{name}/{MANIFEST_NAME}")
        return [ManifestSource(self.display(rel), self.read, rel, "") for rel in found]

    def bytecode_candidates(self, rel: str) -> tuple[str, ...]:
        """Where CPython itself would look for bytecode of source ``rel``: ``__pycache__`` only."""
        return (cached_bytecode_path(rel),)

    def listdir(self, rel: str) -> list[str]:
        return sorted(os.listdir(self.display(rel) if rel else self.path))

    def is_dir(self, rel: str) -> bool:
        return os.path.isdir(self.display(rel) if rel else self.path)

    def is_file(self, rel: str) -> bool:
        return bool(rel) and os.path.isfile(self.display(rel))


class ZipArchive:
    """One zip file: its members, read once from the central directory, and their bytes.

    Members are read at the offsets that central directory gives, the one that was checked
    for duplicates, so there is no second, possibly different, view of the archive (the
    stdlib ``zipimport`` keeps its own, cached across the process).
    """

    def __init__(self, archive: str) -> None:
        self.archive = archive
        self.error: str | None = None
        self.members: dict = {}
        self.names: frozenset[str] = frozenset()
        self.dirs: frozenset[str] = frozenset()
        try:
            members = read_zip_directory(archive)
        except (ZipFormatError, OSError) as exc:
            self.error = str(exc) or f"{archive}: cannot be read as a zip archive"
            return
        self.members = {m.name: m for m in members if not m.name.endswith("/")}
        dirs = {m.name.rstrip("/") for m in members if m.name.endswith("/")}
        for name in self.members:
            parts = name.split("/")
            for i in range(1, len(parts)):
                dirs.add("/".join(parts[:i]))
        self.names = frozenset(self.members)
        self.dirs = frozenset(dirs)

    def read(self, name: str, limit: int = MAX_MEMBER_SIZE) -> bytes:
        """The content of member ``name``, inflated in bounded steps (``bounded_read``).

        FileNotFoundError if absent; ZipFormatError if corrupt, over ``limit``, or in a
        compression method the runtime cannot read; OSError if the archive cannot be read.
        """
        member = self.members.get(name)
        if member is None:
            raise FileNotFoundError(f"{self.archive}{os.sep}{name}: no such member in the archive")
        return read_member(self.archive, member, limit)


class ZipEntry:
    """A zip archive, or a folder inside one (``app.zip/lib``), seen as an import root."""

    def __init__(self, path: str, archive: ZipArchive, prefix: str) -> None:
        self.path = path
        self.archive = archive
        self.prefix = prefix  # "" or "lib/"
        self.error = archive.error

    def display(self, rel: str) -> str:
        return os.path.join(self.path, *rel.split("/"))

    def read(self, rel: str, limit: int = MAX_MEMBER_SIZE) -> bytes:
        return self.archive.read(self.prefix + rel, limit)

    def manifest_candidates(self) -> list[ManifestSource]:
        names = self.archive.names
        found = [MANIFEST_NAME] if self.prefix + MANIFEST_NAME in names else []
        for name in sorted(names):
            if not name.startswith(self.prefix):
                continue
            rel = name[len(self.prefix):]
            head, _, tail = rel.partition("/")
            if tail == MANIFEST_NAME and head.endswith(_DIST_INFO):
                found.append(rel)
        sources = [ManifestSource(self.display(rel), self.read, rel, "") for rel in found]
        if self.prefix and MANIFEST_NAME in names:
            # ``app.zip/lib`` on sys.path, signed as a whole: the archive's root manifest lists
            # ``lib/...``; it vouches for this entry's files with that prefix taken off.
            where = os.path.join(self.archive.archive, MANIFEST_NAME)
            sources.append(ManifestSource(where, self.archive.read, MANIFEST_NAME, self.prefix))
        return sources

    def bytecode_candidates(self, rel: str) -> tuple[str, ...]:
        """Zips keep bytecode beside the source (as zipimport expects), or in ``__pycache__``."""
        return (rel[:-3] + ".pyc", cached_bytecode_path(rel))

    def listdir(self, rel: str) -> list[str]:
        base = self.prefix + rel + "/" if rel else self.prefix
        children = {
            name[len(base):].split("/", 1)[0]
            for name in (*self.archive.names, *self.archive.dirs)
            if name.startswith(base) and len(name) > len(base)
        }
        return sorted(children)

    def is_dir(self, rel: str) -> bool:
        full = (self.prefix + rel).rstrip("/")
        return full == "" or full in self.archive.dirs

    def is_file(self, rel: str) -> bool:
        return (self.prefix + rel) in self.archive.names


class MissingEntry:
    """A path that is neither a folder nor inside a zip: nothing to read, nothing vouched for."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.error: str | None = None

    def display(self, rel: str) -> str:
        return os.path.join(self.path, *rel.split("/"))

    def read(self, rel: str, limit: int = MAX_MEMBER_SIZE) -> bytes:
        raise FileNotFoundError(self.display(rel))

    def manifest_candidates(self) -> list[ManifestSource]:
        return []

    def bytecode_candidates(self, rel: str) -> tuple[str, ...]:
        return ()

    def listdir(self, rel: str) -> list[str]:
        return []

    def is_dir(self, rel: str) -> bool:
        return False

    def is_file(self, rel: str) -> bool:
        return False


def split_archive_path(path: str) -> tuple[str, str] | None:
    """Split ``/x/app.zip/lib/pkg`` into (``/x/app.zip``, ``lib/pkg/``), as zipimport does.

    Returns None when no prefix of ``path`` is an existing file.
    """
    archive, inner = path.rstrip(os.sep) or path, ""
    while True:
        if os.path.isfile(archive):
            prefix = inner.replace(os.sep, "/").strip("/")
            return archive, (prefix + "/" if prefix else "")
        parent, name = os.path.split(archive)
        if not name or parent == archive:
            return None
        inner = name + (os.sep + inner if inner else "")
        archive = parent
