"""A path-entry finder for untrusted folders: in a sealed root, the manifest answers.

A root sealed by a root manifest (``signedimp-manifest.txt`` at the root or above it) accepts
nothing that manifest does not list (DESIGN.md: "Where a root manifest exists, it alone
decides for that root"), and the manifest is a complete list of the root's files. So a search
there needs no ``listdir`` and no ``stat``: whether ``pkg/mod.py`` is there, and which kind of
module it is, is a dictionary lookup in the checked manifest, and the spec comes back with its
:class:`~signedimp.loader.VerifyingLoader` already made. The stock ``FileFinder`` stats the
folder at every search, lists it once, stats each file it finds, and then the loader stats
the source again to check the bytecode's timestamp; none of that proves anything here, the
hash of the listed bytes does.

Everything else is searched exactly as the stock finder searches (this class *is* a
``FileFinder``, so ``pkgutil`` and ``pkg_resources`` treat it as one): a folder whose root is
not sealed by a valid root manifest (no manifest, only ``*.dist-info`` manifests, a rejected
or untrusted one), and, in a sealed root, a name the manifest does not list but the folder
holds, so that a file added after sealing is still refused loudly (``IntegrityCheckMissing``
at import) rather than skipped. Which files exist is read once per folder for that
(``FileFinder``'s own listing), only at the first name the manifest does not list.

Precedence is the stock one among the listed files: a package (``__init__`` with an
extension, source or bytecode suffix, in that order) before a module file (same order), then a
namespace portion (a folder holding at least one listed file). An unlisted file added after
sealing that the stock finder would have preferred (an ``__init__.so`` beside a listed
``__init__.py``) is not consulted: the manifest decides, and only listed bytes are loaded.
"""

from __future__ import annotations

import sys

from . import digests
from .loader import BYTECODE, EXTENSION, SOURCE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from importlib.machinery import FileFinder, ModuleSpec

    from .roots import ManifestRoot

    _Decision = tuple[dict[str, str], str, ManifestRoot]
else:  # from the import system itself: this module may run while importlib is searching
    FileFinder = sys.modules["_frozen_importlib_external"].FileFinder
    ModuleSpec = sys.modules["_frozen_importlib"].ModuleSpec

__all__ = ["SealedFolderFinder"]

_external = sys.modules[FileFinder.__module__]
_relax_case = _external._relax_case
_SEPARATORS = "".join(_external.path_separators)
_SEP = _external.path_sep
#: (loader class, suffixes) as the stock FileFinder hook has them, and the kind of each loader.
_LOADER_DETAILS = _external._get_supported_file_loaders()
_KIND_OF = {
    _external.ExtensionFileLoader: EXTENSION,
    _external.SourceFileLoader: SOURCE,
    _external.SourcelessFileLoader: BYTECODE,
}
#: (suffix, kind) in the order FileFinder tries them (extension, source, bytecode).
_SUFFIXES = tuple(
    (suffix, _KIND_OF[loader])
    for loader, suffixes in _LOADER_DETAILS
    if loader in _KIND_OF
    for suffix in suffixes
)
_INIT_SUFFIXES = tuple(("/__init__" + suffix, kind) for suffix, kind in _SUFFIXES)
_STOCK_HOOK_CODE = FileFinder.path_hook(*_LOADER_DETAILS).__code__


def finder_for(manager, path: str, hooks):
    """The path-entry finder for folder ``path``: what the first of ``hooks`` (the path hooks
    behind the manager's) that takes it returns, but a ``SealedFolderFinder`` where that is
    the stock ``FileFinder`` hook. ImportError when none takes it."""
    for hook in hooks:
        if _is_stock_folder_hook(hook):
            return SealedFolderFinder(manager, path)
        if getattr(getattr(hook, "__self__", None), "_signedimp_manager", False) is True:
            continue  # another manager's hook: this one, installed later, decides
        try:
            return hook(path)
        except ImportError:
            continue
    raise ImportError("no path hook takes the folder", path=path)


def _is_stock_folder_hook(hook) -> bool:
    """Whether ``hook`` is ``FileFinder.path_hook(...)`` with the stock loaders."""
    code = getattr(hook, "__code__", None)
    if code is None or code is not _STOCK_HOOK_CODE:
        return False
    cells = dict(zip(code.co_freevars, (cell.cell_contents for cell in hook.__closure__ or ())))
    return cells.get("cls") is FileFinder and list(cells.get("loader_details", ())) == list(_LOADER_DETAILS)


class SealedFolderFinder(FileFinder):
    """``FileFinder`` for one untrusted folder; in a sealed root it answers from the manifest.

    The root of a search depends on the module's name, not only on the folder (``pkg.mod`` in
    ``<root>/pkg`` has ``<root>`` as its root), so the decision is made, and kept, per depth
    of name: the sealed root's file list and the folder's path relative to it, or None for
    "search as the stock finder does".
    """

    _signedimp_folder_finder = True

    if TYPE_CHECKING:  # FileFinder's own state, which typeshed does not declare
        _path_mtime: float
        _path_cache: set[str]

        def _fill_cache(self) -> None: ...

    def __init__(self, manager, path: str) -> None:
        super().__init__(path, *_LOADER_DETAILS)
        self._manager = manager
        self._prefix = self.path.rstrip(_SEPARATORS)  # as _path_join joins it: "/" -> ""
        # name depth -> (file list, path prefix in the root, root) or None (searched as stock)
        self._decided: dict[int, _Decision | None] = {}
        self._listed = False  # whether FileFinder's listing of the folder has been read

    def __repr__(self) -> str:
        return f"SealedFolderFinder({self.path!r})"

    def invalidate_caches(self) -> None:
        """Decide the roots again (the manager forgets its roots too) and list the folder anew."""
        super().invalidate_caches()
        self._decided.clear()
        self._listed = False

    def _decide(self, fullname: str, depth: int) -> tuple[bool, _Decision | None]:
        """(final, decision) for names of ``depth`` dots; not final: ask again next time."""
        parts = self._prefix.rsplit(_SEP, depth) if depth else [self._prefix]
        if len(parts) != depth + 1 or not parts[0]:
            return True, None
        # Checking the manifest needs a SHA-2 module: imported now if it is not yet, from the
        # standard library alone (digests.py), even when it is what importlib is searching for.
        digests.prepare()
        root = self._manager.root(parts[0])
        hashes = root.sealed_files()
        if hashes is False:  # not known yet: searched as stock this time, decided later
            return False, None
        if not isinstance(hashes, dict):
            return True, None
        return True, (hashes, "".join(part + "/" for part in parts[1:]), root)

    def find_spec(self, fullname: str, target=None) -> ModuleSpec | None:
        depth = fullname.count(".")
        try:
            decided = self._decided[depth]
        except KeyError:
            final, decided = self._decide(fullname, depth)
            if final:
                self._decided[depth] = decided
        if decided is None or _relax_case():  # PYTHONCASEOK: the stock, case-relaxed search
            return super().find_spec(fullname, target)
        hashes, base, root = decided
        tail = fullname.rpartition(".")[2]
        rel = base + tail
        for suffix, kind in _INIT_SUFFIXES:
            if rel + suffix in hashes:
                return self._spec(fullname, tail + suffix, kind, True)
        for suffix, kind in _SUFFIXES:
            if rel + suffix in hashes:
                return self._spec(fullname, tail + suffix, kind, False)
        # Not listed as a module. The folder is listed once, to tell "nothing there" (the usual
        # answer: an optional module, or a module of a later sys.path entry) from a file or
        # folder added after sealing, which the stock search finds and the verifier refuses.
        if not self._listed:
            if self._path_mtime == -1:  # not listed by a stock search already
                self._fill_cache()
            self._listed = True
        cache = self._path_cache
        if tail in cache:
            if root.lists_folder(rel):  # a namespace portion with listed files
                spec = ModuleSpec(fullname, None, is_package=True)
                spec.submodule_search_locations.append(self._prefix + _SEP + tail)  # type: ignore[union-attr]
                return spec
            return super().find_spec(fullname, target)
        for suffix, _ in _SUFFIXES:
            if tail + suffix in cache:
                return super().find_spec(fullname, target)
        return None

    def _spec(self, fullname: str, name: str, kind: str, is_package: bool) -> ModuleSpec:
        """The spec of listed file ``name`` (``mod.py``, ``pkg/__init__.py``) in this folder."""
        origin = self._prefix + _SEP + name if _SEP == "/" else _SEP.join((self._prefix, *name.split("/")))
        loader = self._manager.make_loader(fullname, origin, kind, is_package)
        spec = ModuleSpec(fullname, loader, origin=origin, is_package=is_package)
        spec.has_location = True
        if is_package:
            spec.submodule_search_locations.append(origin.rpartition(_SEP)[0])  # type: ignore[union-attr]
        return spec
