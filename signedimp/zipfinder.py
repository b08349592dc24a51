"""A path-entry finder for zip archives that never reads a member to find a module.

The stock ``zipimporter.find_spec`` computes the module's file name by *compiling* it, which
reads (and unmarshals) bytecode that no manifest vouches for. This finder answers from the
archive's central directory alone and hands back specs whose loader is already a
:class:`~signedimp.loader.VerifyingLoader`.

Unlike ``zipimport`` it also finds extension modules (``EXTENSION_SUFFIXES``), trying the
suffixes in the order ``FileFinder`` uses for folders (extension, source, bytecode): their
bytes are read from the archive, checked, and loaded from memory by
:mod:`signedimp.extensions`, never extracted to a cache on disk.
"""

from __future__ import annotations

import os
import sys

from .loader import BYTECODE, EXTENSION, SOURCE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from importlib.machinery import EXTENSION_SUFFIXES, ModuleSpec
else:  # from the import system itself: this module may run while importlib is being imported
    EXTENSION_SUFFIXES = sys.modules["_frozen_importlib_external"].EXTENSION_SUFFIXES
    ModuleSpec = sys.modules["_frozen_importlib"].ModuleSpec

__all__ = ["VerifyingZipFinder"]

#: File suffixes of modules and their kinds, in the order FileFinder tries them.
_SUFFIXES = (*((s, EXTENSION) for s in EXTENSION_SUFFIXES), (".py", SOURCE), (".pyc", BYTECODE))


def _module_stem(filename: str) -> str | None:
    """``mod`` for ``mod.py``, ``mod.pyc`` or ``mod.cpython-312-x86_64-linux-gnu.so``; else None."""
    for suffix, _ in _SUFFIXES:
        if filename.endswith(suffix) and len(filename) > len(suffix):
            return filename[: -len(suffix)]
    return None


class VerifyingZipFinder:
    """Finds modules in ``archive`` below ``prefix`` (the part of the path inside the zip)."""

    def __init__(self, manager, path: str, archive, prefix: str) -> None:
        self._manager = manager
        self.path = path
        self.archive = archive
        self.prefix = prefix

    def __repr__(self) -> str:
        return f"<VerifyingZipFinder {self.path!r}>"

    def invalidate_caches(self) -> None:
        """Re-read the archive (it may have been rebuilt and re-signed)."""
        self.archive = self._manager.archive(self.archive.archive)

    def iter_modules(self, prefix: str = ""):
        """(name, is_package) pairs for ``pkgutil.iter_modules`` and ``walk_packages``."""
        found: dict[str, bool] = {}
        base = self.prefix
        for name in sorted(self.archive.names):
            if not name.startswith(base):
                continue
            head, sep, tail = name[len(base) :].partition("/")
            if sep:
                if _module_stem(tail) == "__init__" and head.isidentifier():
                    found[head] = True
            else:
                stem = _module_stem(head)
                if stem is not None and stem.isidentifier() and stem != "__init__":
                    found.setdefault(stem, False)
        for name in sorted(found):
            yield prefix + name, found[name]

    def find_spec(self, fullname: str, target=None) -> ModuleSpec | None:
        tail = fullname.rpartition(".")[2]
        base = self.prefix + tail
        names = self.archive.names
        if base in self.archive.dirs:
            for suffix, kind in _SUFFIXES:
                if base + "/__init__" + suffix in names:
                    return self._spec(fullname, base + "/__init__" + suffix, kind, is_package=True)
        for suffix, kind in _SUFFIXES:
            if base + suffix in names:
                return self._spec(fullname, base + suffix, kind, is_package=False)
        if base in self.archive.dirs:  # a portion of a namespace package
            spec = ModuleSpec(fullname, None, is_package=True)
            spec.submodule_search_locations.append(self._full(base))  # type: ignore[union-attr]
            return spec
        return None

    def _full(self, member: str) -> str:
        return os.path.join(self.archive.archive, *member.split("/"))

    def _spec(self, fullname: str, member: str, kind: str, is_package: bool) -> ModuleSpec:
        origin = self._full(member)
        loader = self._manager.make_loader(fullname, origin, kind, is_package)
        spec = ModuleSpec(fullname, loader, origin=origin, is_package=is_package)
        spec.has_location = True
        if is_package:
            spec.submodule_search_locations.append(os.path.dirname(origin))  # type: ignore[union-attr]
        return spec
