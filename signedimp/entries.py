"""File access for one ``sys.path`` entry: a directory, a zip archive, or a folder inside one.

The import hook needs four things from an entry: read a file's bytes (once), list the
candidate manifests, and, for ``importlib.resources``, list folders and tell files from
folders. Directories use the file system; zips (:mod:`signedimp.zipentries`, run at the
first archive, so that a folder-only process never runs it nor the zip reader) use the
archive's central directory (read by :mod:`signedimp.zipdir`, so duplicate member names are
refused up front) and read members at the offsets it gives.
"""

from __future__ import annotations

import os
import sys

from .bounded_read import read_file
from .limits import MAX_MEMBER_SIZE
from .manifest import MANIFEST_NAME

TYPE_CHECKING = False
if TYPE_CHECKING:  # run on first use (__getattr__ below); named here for type checkers
    from .zipentries import ZipArchive, ZipEntry

__all__ = [
    "DirectoryEntry",
    "ZipArchive",
    "ZipEntry",
    "MissingEntry",
    "ManifestSource",
    "folder_manifests",
    "split_archive_path",
]

_DIST_INFO = ".dist-info"
_OPT_TAG = f".opt-{sys.flags.optimize}" if sys.flags.optimize else ""

#: The zip classes, in :mod:`signedimp.zipentries`: executed at the first archive only.
_ZIP_NAMES = frozenset(("ZipArchive", "ZipEntry"))


def __getattr__(name: str):
    """``ZipArchive`` and ``ZipEntry``, from :mod:`signedimp.zipentries` (run on first use:
    a process that imports from folders only never runs it, nor :mod:`signedimp.zipdir`)."""
    if name in _ZIP_NAMES:
        from . import zipentries

        return getattr(zipentries, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    """A folder on disk; ``rel`` paths are ``/``-separated and relative to it.

    ``path`` is the folder as ``sys.path`` spells it (for messages and ``__file__``);
    ``real`` is where it resolves to (symlinks and ``..`` followed), fixed when the entry is
    made: files are read, and manifests looked for, there.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.real = os.path.realpath(path)
        self.error: str | None = None
        # POSIX: "/" is the separator, so a manifest path is a file path below real as it is.
        self._below = None if os.sep != "/" else self.real.rstrip("/") + "/"
        self._root_manifest: ManifestSource | None = None
        self._root_manifest_known = False

    def display(self, rel: str) -> str:
        return os.path.join(self.path, *rel.split("/"))

    def file(self, rel: str) -> str:
        """Where ``rel`` is read from: below the resolved folder."""
        if not rel:
            return self.real
        if self._below is not None:
            return self._below + rel
        return os.path.join(self.real, *rel.split("/"))

    def read(self, rel: str, limit: int = MAX_MEMBER_SIZE) -> bytes:
        """The file's bytes; UnsafeInputError for a special file or one over ``limit``."""
        return read_file(self.file(rel), limit)

    def manifest_candidates(self) -> list[ManifestSource]:
        """The manifests that decide for this folder (see :func:`folder_manifests`)."""
        return folder_manifests(self)

    def root_manifest(self) -> ManifestSource | None:
        """The nearest root manifest at or above the resolved folder (rule 1 of
        :func:`folder_manifests`), or None; looked for once."""
        if not self._root_manifest_known:
            for folder, strip in _folder_chain(self.real):
                if os.path.isfile(os.path.join(folder, MANIFEST_NAME)):
                    self._root_manifest = _folder_source(self, folder, strip, MANIFEST_NAME)
                    break
            self._root_manifest_known = True
        return self._root_manifest

    def has_root_manifest(self) -> bool:
        """Whether a root manifest seals this folder (it may still be invalid)."""
        return self.root_manifest() is not None

    def bytecode_candidates(self, rel: str) -> tuple[str, ...]:
        """Where CPython itself would look for bytecode of source ``rel``: ``__pycache__`` only."""
        return (cached_bytecode_path(rel),)

    def listdir(self, rel: str) -> list[str]:
        return sorted(os.listdir(self.file(rel)))

    def is_dir(self, rel: str) -> bool:
        return os.path.isdir(self.file(rel))

    def is_file(self, rel: str) -> bool:
        return bool(rel) and os.path.isfile(self.file(rel))


def _dist_info_manifests(folder: str) -> list[str]:
    """``<name>.dist-info/signedimp-manifest.txt`` paths (relative, sorted) found in ``folder``."""
    try:
        with os.scandir(folder) as scan:
            names = sorted(e.name for e in scan if e.name.endswith(_DIST_INFO))
    except OSError:
        return []
    return [
        f"{name}/{MANIFEST_NAME}"
        for name in names
        if os.path.isfile(os.path.join(folder, name, MANIFEST_NAME))
    ]


def folder_manifests(entry: DirectoryEntry) -> list[ManifestSource]:
    """The manifests that decide for a folder entry, by these rules (docs/internals.md):

    1. A root manifest (``signedimp-manifest.txt``) in the entry's resolved folder or, the
       nearest one, in a folder above it seals that tree: it alone decides, and
       ``*.dist-info`` manifests are ignored (something added after sealing stays out, even
       with a manifest copied from another artifact signed by the same key).
    2. Otherwise the ``*.dist-info`` manifests of the entry (an installed wheel folder), or
       of the nearest folder above it that has some.

    Paths in a manifest above the entry are relative to that manifest's folder; the part
    that leads to the entry is the source's ``strip`` prefix.
    """
    sealing = entry.root_manifest()
    if sealing is not None:
        return [sealing]
    for folder, strip in _folder_chain(entry.real):
        found = _dist_info_manifests(folder)
        if found:
            return [_folder_source(entry, folder, strip, rel) for rel in found]
    return []


def _folder_chain(real: str) -> list[tuple[str, str]]:
    """``real`` and each folder above it, with the path that leads from there to ``real``."""
    chain = [(real, "")]
    folder, strip = real, ""
    while True:
        parent, name = os.path.split(folder)
        if not name or parent == folder:
            return chain
        strip = f"{name}/{strip}"
        folder = parent
        chain.append((folder, strip))


def _folder_source(entry: DirectoryEntry, folder: str, strip: str, rel: str) -> ManifestSource:
    reader = entry if not strip else DirectoryEntry(folder)
    where = os.path.join(entry.path if not strip else folder, *rel.split("/"))
    return ManifestSource(where, reader.read, rel, strip)


class MissingEntry:
    """A path that is neither a folder nor inside a zip: nothing to read, nothing vouched for."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.real = os.path.realpath(path)
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
