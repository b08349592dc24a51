"""``SignedImportManager``: the ``sys.meta_path`` finder that puts every import under a manifest.

It does not search for modules itself. It asks the finders that are already there (above all
``PathFinder``) where a module is, then vets the answer: built-in, frozen and trusted
standard-library modules pass as they are; a module from anywhere else gets a
:class:`~signedimp.loader.VerifyingLoader`, or, if it was found by a loader whose reads
cannot be checked, is refused. The finders behind it are wrapped in the same vetting while
it is installed, so a module that appears between two searches is vetted too. Zip archives
get their own path-entry finder (:mod:`signedimp.zipfinder`) because the stock one reads
bytecode while it searches.

Search once: importlib asks every entry of ``sys.meta_path`` in turn, so after the manager
has asked the finders behind it and found nothing, importlib would ask them again. The
manager therefore notes the miss (the module name, its parent path, and the frame of
importlib's search loop that called it); the wrapped finders behind it answer None at once
when they are asked for the same thing by the same loop.

Legacy finders (``find_module`` without ``find_spec``) are asked the way the running
importlib asks them: through ``find_module`` where importlib still does (3.10, 3.11), with the
spec they give vetted; not at all where it no longer does. A missing module stays a
``ModuleNotFoundError``.
"""

import _thread
import os
import sys
import zipimport

from . import submodules
from .errors import IntegrityCheckFailed, IntegrityCheckMissing
from .guard import activate as activate_guard
from .guard import deactivate as deactivate_guard
from .guard import forget_decisions as forget_guard_decisions
from .keys import key_ring
from .loader import BYTECODE, EXTENSION, SOURCE, NamespaceLoader, TrustedSourceLoader, VerifyingLoader
from .trust import TrustPolicy, default_trusted_paths

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: these modules are executed on first use (submodules.py)
    from importlib.machinery import (
        BuiltinImporter,
        ExtensionFileLoader,
        FileFinder,
        FrozenImporter,
        ModuleSpec,
        PathFinder,
        SourceFileLoader,
        SourcelessFileLoader,
    )

    from .entries import ZipArchive
    from .resources import VerifiedTraversable
    from .roots import ManifestRoot
else:  # importlib.machinery's classes, from the import system itself (importing it: 0.7 ms)
    PathFinder = sys.modules["_frozen_importlib_external"].PathFinder
    BuiltinImporter = sys.modules["_frozen_importlib"].BuiltinImporter
    FrozenImporter = sys.modules["_frozen_importlib"].FrozenImporter
    ModuleSpec = sys.modules["_frozen_importlib"].ModuleSpec
    ExtensionFileLoader = sys.modules["_frozen_importlib_external"].ExtensionFileLoader
    FileFinder = sys.modules["_frozen_importlib_external"].FileFinder
    SourceFileLoader = sys.modules["_frozen_importlib_external"].SourceFileLoader
    SourcelessFileLoader = sys.modules["_frozen_importlib_external"].SourcelessFileLoader

__all__ = ["SignedImportManager"]

_bootstrap = sys.modules[ModuleSpec.__module__]  # importlib._bootstrap, always loaded
_spec_from_loader = _bootstrap.spec_from_loader
_spec_from_file_location = sys.modules[SourceFileLoader.__module__].spec_from_file_location
#: Whether the running importlib still falls back to ``find_module`` (removed in 3.12).
_LEGACY_FINDERS = hasattr(_bootstrap, "_find_spec_legacy")
_getframe = getattr(sys, "_getframe", None)

# signedimp.zipdir and the like: searched for by an import statement, answered by submodules.py
_OWN_DEFERRED = frozenset(f"{__package__}.{name}" for name in submodules.DEFERRED)
_STDLIB_FIRST = submodules.STDLIB_FIRST
_stdlib_only = submodules.stdlib_only
_PASS_THROUGH_LOADERS = (BuiltinImporter, FrozenImporter)
# A file of the standard library: if the manager does not trust it, install() imports hashlib
# (os is frozen from 3.11 but still names its file there; where nothing names the folder, the
# relative name is trusted by no manager).
_STDLIB_PROBE = os.path.join(
    getattr(sys, "_stdlib_dir", None) or os.path.dirname(getattr(os, "__file__", None) or ""), "hashlib.py"
)
_KINDS = ((ExtensionFileLoader, EXTENSION), (SourcelessFileLoader, BYTECODE), (SourceFileLoader, SOURCE))


class SignedImportManager:
    """Refuse to import any module whose bytes a manifest signed by one of ``keys`` does not list.

    ``keys``: one public key, or several (``Ed25519Key``, ``RSAKey``, or anything
    ``load_public_key`` returns). ``trusted_paths``: folders whose files are imported without
    checks; ``None`` (the default) means the interpreter's standard library, never
    ``site-packages``; ``()`` trusts nothing but built-in and frozen modules.
    """

    #: Marks managers from any copy of this code (the package, an embedded bootstrap), so that
    #: two of them never call each other in a loop; the one installed last decides.
    _signedimp_manager = True

    def __init__(self, keys, *, trusted_paths=None) -> None:
        self._ring = key_ring(keys)
        if not self._ring:
            raise ValueError("SignedImportManager needs at least one trusted public key")
        self.trusted_paths = default_trusted_paths() if trusted_paths is None else tuple(trusted_paths)
        self._trust = TrustPolicy(self.trusted_paths)
        # Where the verifier's own standard-library imports are searched (_find_stdlib): the
        # trusted folders, when they hold the standard library; else (frozen apps, whose
        # standard library is verified too) install() imports those modules beforehand.
        self._stdlib_search: list[str] | None = (
            list(self._trust.trusted) if self._trust.is_trusted(_STDLIB_PROBE) else None
        )
        self._roots: dict[str, ManifestRoot] = {}
        self._archives: dict[str, ZipArchive] = {}
        self._broken: dict[str, str] = {}  # sys.path entry -> why its zip cannot be read
        self._lock = _thread.RLock()
        # (caller frame, name, path) of the last search that found nothing: see the docstring
        self._missed: tuple | None = None

    @property
    def keys(self) -> tuple:
        return tuple(self._ring.values())

    def __repr__(self) -> str:
        fingerprints = ", ".join(fp[:16] for fp in self._ring)
        return f"<SignedImportManager keys=[{fingerprints}]>"

    # -- installing --------------------------------------------------------------------------

    def install(self) -> "SignedImportManager":
        """Put this finder first on ``sys.meta_path`` (idempotent).

        While installed, ``sys.meta_path`` is a list that vets every finder added to it later,
        in front of this one or behind it.
        """
        with self._lock:
            trusted = self._trust.is_trusted
            if not trusted(_STDLIB_PROBE) or not submodules.extensions_trusted(trusted):
                # The standard library is verified too (trusted_paths=(), frozen apps): the
                # standard-library modules the verifier imports late (submodules.py) are
                # imported now, or checking a manifest would first need hashlib checked.
                submodules.import_late_stdlib()
            current = sys.meta_path
            finders = [self] + [self._guard(f) for f in current if f is not self]
            if isinstance(current, _GuardedMetaPath) and current._manager is self:
                current[:] = finders
            else:
                sys.meta_path = _GuardedMetaPath(finders, self, current)
            if self._path_hook not in sys.path_hooks:
                sys.path_hooks.insert(0, self._path_hook)
            for path, finder in list(sys.path_importer_cache.items()):
                # None: no hook took the entry (an unreadable zip): ours must see it too. A
                # stock FileFinder of an untrusted folder: ours answers sealed roots faster;
                # another manager's folder finder: its loaders check against its keys.
                if (
                    finder is None
                    or type(finder) is FileFinder
                    or isinstance(finder, zipimport.zipimporter)
                    or (
                        getattr(type(finder), "_signedimp_folder_finder", False)
                        and getattr(finder, "_manager", None) is not self
                    )
                ) and not self._trust.is_trusted(path):
                    del sys.path_importer_cache[path]
            activate_guard(self, self._trust.is_trusted)
        return self

    def uninstall(self) -> None:
        """Remove this finder, its guards and its zip finders; imported modules stay imported."""
        with self._lock:
            current = sys.meta_path
            finders = [
                f._finder if getattr(f, "_manager", None) is self and _is_vetted(f) else f  # type: ignore[attr-defined]
                for f in current
                if f is not self
            ]
            if isinstance(current, _GuardedMetaPath) and current._manager is self:
                current._original[:] = finders
                sys.meta_path = current._original
            else:
                current[:] = finders
            while self._path_hook in sys.path_hooks:
                sys.path_hooks.remove(self._path_hook)
            from . import rejected_archive, zipfinder

            zip_finders = (zipfinder.VerifyingZipFinder, rejected_archive.RejectedArchiveFinder)
            for path, finder in list(sys.path_importer_cache.items()):
                if (
                    isinstance(finder, zip_finders)
                    or getattr(type(finder), "_signedimp_folder_finder", False)
                ) and getattr(finder, "_manager", None) is self:
                    del sys.path_importer_cache[path]
            deactivate_guard(self)

    def __enter__(self) -> "SignedImportManager":
        return self.install()

    def __exit__(self, *exc_info) -> None:
        self.uninstall()

    def _guard(self, finder):
        if finder in _PASS_THROUGH_LOADERS or _is_vetted(finder) or _is_manager(finder):
            return finder
        return _VettedFinder(finder, self)

    # -- the meta path protocol ----------------------------------------------------------------

    def find_spec(self, fullname: str, path=None, target=None) -> ModuleSpec | None:
        """Ask the finders behind this one (all of them if it is not on ``sys.meta_path``).

        Finders in front of it were asked already by importlib (and are vetted).
        """
        if fullname in _OWN_DEFERRED:  # the verifier's own modules, run on first use
            return submodules.find_spec(fullname)
        if path is None and self._stdlib_search is not None and (fullname in _STDLIB_FIRST or _stdlib_only()):
            # The verifier's own import, or one of the modules that the deferred modules a
            # search may run import at their top (submodules.py: no double import).
            spec = self._find_stdlib(fullname)
            if spec is not None or _stdlib_only():
                return spec
        self._missed = None
        finders = sys.meta_path
        if finders and finders[0] is self:  # where install() puts it: no search for itself
            finders = finders[1:]
        else:
            finders = list(finders)
            for index, finder in enumerate(finders):
                if finder is self:
                    finders = finders[index + 1 :]
                    break
        for finder in finders:
            cls = type(finder)
            if getattr(cls, "_signedimp_manager", False) is True:
                continue
            if getattr(cls, "_signedimp_vetted", False) is True:
                finder = finder._finder  # type: ignore[attr-defined]
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find is not None else _ask_legacy(finder, fullname, path)
            if spec is not None:
                spec = self.vet(spec)
                if spec is not None:
                    return spec
        if self._broken:  # not found, and an archive on the path could not be read: say so
            for entry in sys.path if path is None else path:
                error = self._broken.get(entry)
                if error is not None:
                    raise IntegrityCheckFailed(
                        f"not found, and the archive on the path could not be read: {error}",
                        module=fullname,
                        file=entry,
                    )
        if _getframe is not None:
            self._missed = (_getframe(1), fullname, path)
        return None

    def _find_stdlib(self, fullname: str) -> ModuleSpec | None:
        """The verifier's own import of a standard-library module: built-in, frozen, or found
        in the trusted entries of ``sys.path`` (in order: their finders may be a freezer's) and
        trusted folders alone (``submodules.stdlib_only``), never in ``sys.path``'s untrusted
        entries, whose files it would first have to check with that very module."""
        for finder in _PASS_THROUGH_LOADERS:
            spec = finder.find_spec(fullname)
            if spec is not None:
                return spec
        trusted = self._trust.is_trusted
        search = [e for e in sys.path if isinstance(e, str) and e and trusted(os.path.join(e, "-"))]
        search += [folder for folder in self._stdlib_search or () if folder not in search]
        spec = PathFinder.find_spec(fullname, search)
        return self.vet(spec) if spec is not None else None

    def _already_missed(self, fullname: str, path) -> bool:
        """True when this manager has just searched for ``fullname`` in vain, for the same
        loop (the caller's caller frame) that asks again now."""
        missed = self._missed
        if missed is None or missed[1] != fullname or missed[2] is not path:
            return False
        return missed[0] is _getframe(2)  # type: ignore[misc]  # only called when not None

    def find_distributions(self, context=None):
        """``importlib.metadata``: distributions below untrusted roots, from verified files only."""
        from . import metadata

        return metadata.find_verified_distributions(self, context)

    def invalidate_caches(self) -> None:
        with self._lock:
            self._roots.clear()
            self._archives.clear()
            self._broken.clear()
            self._trust.invalidate_caches()
            forget_guard_decisions()
            for finder in list(sys.path_importer_cache.values()):
                # Folder finders keep the roots they decided on: they decide again.
                if (
                    getattr(type(finder), "_signedimp_folder_finder", False)
                    and getattr(finder, "_manager", None) is self
                ):
                    finder.invalidate_caches()  # type: ignore[union-attr]

    # -- vetting -----------------------------------------------------------------------------

    def vet(self, spec: ModuleSpec) -> ModuleSpec | None:
        """Return ``spec`` with a verifying loader, unchanged if trusted; raise if unverifiable.

        None for a namespace package none of whose folders holds a listed file: it is not
        found, as if those folders were not there.
        """
        loader = spec.loader
        kind = _STOCK_KINDS.get(type(loader))
        if kind is not None:
            # The usual answer of PathFinder: a stock file loader (checked first, by its exact type).
            origin = spec.origin
            if origin and origin != "built-in" and origin != "frozen":
                if self._trust.is_trusted(origin):
                    return self._vet_trusted(spec, origin)
                spec.loader = self.make_loader(  # type: ignore[assignment]
                    spec.name, origin, kind, spec.submodule_search_locations is not None
                )
                return spec
        if (
            isinstance(loader, (VerifyingLoader, NamespaceLoader))
            or loader is BuiltinImporter
            or loader is FrozenImporter
        ):
            return spec
        if loader is None and spec.origin is None and spec.submodule_search_locations is not None:
            # A namespace package (PathFinder leaves its loader to importlib): no code, but its
            # resources must be read verified too.
            folders = list(spec.submodule_search_locations)
            if not any(self._portion_counts(spec.name, folder) for folder in folders):
                self._refuse_tampered_portion(spec.name, folders)
                return None
            spec.loader = NamespaceLoader(  # type: ignore[assignment]
                spec.name, spec.submodule_search_locations, self._namespace_portions
            )
            return spec
        if loader is None or spec.origin in ("built-in", "frozen"):
            return spec
        if self._trusted(spec):
            return self._vet_trusted(spec, spec.origin)  # type: ignore[arg-type]  # a trusted spec has a file
        kind = next((kind for cls, kind in _KINDS if isinstance(loader, cls)), None)
        if kind is None:
            if not spec.has_location and not isinstance(loader, zipimport.zipimporter):
                # Made in memory by a finder the (verified) application installed, such as
                # six.moves aliases: there is no file whose bytes could be checked.
                return spec
            raise self._unverifiable(spec)
        spec.loader = self.make_loader(  # type: ignore[assignment]
            spec.name, spec.origin or "", kind, spec.submodule_search_locations is not None
        )
        return spec

    def _vet_trusted(self, spec: ModuleSpec, origin: str) -> ModuleSpec:
        """A trusted spec, at its resolved path and, with a bytecode cache elsewhere, compiled."""
        real = self._trust.resolve(origin)
        if real != origin and real != os.path.normcase(origin):
            # Trusted as what it resolves to (a symlink into the standard library): load
            # it from there, so that swapping the link afterwards changes nothing.
            spec = _at_resolved_path(spec, real)
        # Without sys.pycache_prefix the bytecode cache is the trusted folder's own __pycache__;
        # only with a prefix can it lie elsewhere (checked only then: this runs for every
        # standard-library import).
        if sys.pycache_prefix:
            loader = spec.loader
            if (
                isinstance(loader, SourceFileLoader)
                and spec.cached
                and not self._trust.is_trusted(spec.cached)
            ):
                spec.loader = TrustedSourceLoader(loader.name, loader.path)
        return spec

    def _trusted(self, spec: ModuleSpec) -> bool:
        """Whether ``spec`` is imported unchecked: its origin resolves below a trusted folder,
        and, when it was reached through a symlink or ``..``, its loader is a stock file
        loader that can be pointed at the resolved path (anything else is verified)."""
        origin = spec.origin
        if not origin or not self._trust.is_trusted(origin):
            return False
        return type(spec.loader) in _STOCK_FILE_LOADERS or self._trust.resolve(origin) == os.path.normcase(
            origin
        )

    def _unverifiable(self, spec: ModuleSpec) -> ImportError:
        if isinstance(spec.loader, zipimport.zipimporter):
            archive = self.archive(spec.loader.archive)
            if archive.error:
                return IntegrityCheckFailed(archive.error, module=spec.name, file=spec.origin)
        return IntegrityCheckMissing(
            f"it was found by {type(spec.loader).__name__}, whose reads signedimp cannot verify",
            module=spec.name,
            file=spec.origin,
        )

    def _portion_root(self, fullname: str, folder: str) -> "tuple[ManifestRoot, str] | None":
        """The root of a namespace package folder and the folder's path relative to it."""
        depth = fullname.count(".") + 1
        parts = folder.rstrip(os.sep).rsplit(os.sep, depth)
        if len(parts) != depth + 1 or not parts[0]:
            return None
        return self.root(parts[0]), "/".join(parts[1:])

    def _portion_counts(self, fullname: str, folder: str) -> bool:
        """A namespace portion counts if it is trusted or holds at least one listed file."""
        if self._trust.is_trusted(folder):
            return True
        found = self._portion_root(fullname, folder)
        return found is not None and found[0].lists_folder(found[1])

    def _refuse_tampered_portion(self, fullname: str, folders: list[str]) -> None:
        """Not found is the answer for unlisted folders, but not where a manifest was rejected:
        that is tampering, and it is said so."""
        for folder in folders:
            found = self._portion_root(fullname, folder)
            if found is not None:
                refusal = found[0].tampered(fullname, folder)
                if refusal is not None:
                    raise refusal

    def _namespace_portions(self, fullname: str, folders: list[str]) -> "list[VerifiedTraversable]":
        """Verified views of a namespace package's folders that count, each under its own root."""
        from . import resources

        views = []
        for folder in folders:
            found = self._portion_root(fullname, folder)
            if found is not None and (found[0].lists_folder(found[1]) or self._trust.is_trusted(folder)):
                views.append(resources.VerifiedTraversable(found[0], found[1], fullname))
        return views

    def make_loader(self, fullname: str, origin: str, kind: str, is_package: bool) -> VerifyingLoader:
        """The loader for ``origin``; its root is ``origin`` less one folder per name component."""
        depth = fullname.count(".") + 1 + (1 if is_package else 0)
        parts = origin.rsplit(os.sep, depth)
        if len(parts) != depth + 1 or not parts[0]:
            raise IntegrityCheckMissing("its path does not fit its module name", module=fullname, file=origin)
        return VerifyingLoader(fullname, self.root(parts[0]), "/".join(parts[1:]), origin, kind, is_package)

    def root(self, path: str) -> "ManifestRoot":
        """The (cached) manifests of the import root at ``path``."""
        root = self._roots.get(path)
        if root is None:
            with self._lock:
                root = self._roots.get(path)
                if root is None:
                    root = self._roots[path] = self._new_root(path)
        return root

    def _new_root(self, path: str) -> "ManifestRoot":
        """The root of ``path``, made once (``root`` caches it); a subclass makes its own kind."""
        from . import roots

        return roots.ManifestRoot(self._entry(path), self._ring)

    def _entry(self, path: str):
        from . import entries

        if os.path.isdir(path):
            return entries.DirectoryEntry(path)
        split = entries.split_archive_path(path)
        if split is None:
            return entries.MissingEntry(path)
        archive, prefix = split
        return entries.ZipEntry(path, self.archive(archive), prefix)

    def archive(self, archive: str) -> "ZipArchive":
        """The (cached) central-directory view of the zip file ``archive``."""
        found = self._archives.get(archive)
        if found is None:
            with self._lock:
                found = self._archives.get(archive)
                if found is None:
                    from . import entries

                    found = self._archives[archive] = entries.ZipArchive(archive)
        return found

    # -- the path hook for zip archives ----------------------------------------------------------

    def _path_hook(self, path: str):
        # The entries of ``path`` decide, as in _find_stdlib: is_trusted keeps a path's last
        # component unresolved, and a symlink to a trusted folder must be trusted here too.
        if not path or self._trust.is_trusted(path) or self._trust.is_trusted(os.path.join(path, "-")):
            raise ImportError("not an untrusted folder or zip archive", path=path)
        if os.path.isdir(path):
            from . import folderfinder

            # The hooks behind this one decide, as without it (a freezer's hook may take the
            # folder); where the stock FileFinder's would, the sealed folders' finder does.
            hooks = sys.path_hooks
            start = hooks.index(self._path_hook) + 1 if self._path_hook in hooks else 0
            return folderfinder.finder_for(self, path, hooks[start:])
        from . import entries

        split = entries.split_archive_path(path)
        if split is None:
            raise ImportError("not a zip archive", path=path)
        archive = self.archive(split[0])
        if archive.error:
            self._broken[path] = archive.error
            # An archive that zipimport would take (it reads the directory, no member): not
            # ImportError, or importlib tries the next hook and the stock zipimporter compiles
            # and unmarshals members of an archive the verifier rejected.
            try:
                zipimport.zipimporter(path)
            except (ImportError, OSError):
                raise ImportError(archive.error, path=path) from None
            from . import rejected_archive

            return rejected_archive.RejectedArchiveFinder(self, path, archive.error)
        from . import zipfinder

        return zipfinder.VerifyingZipFinder(self, path, archive, split[1])


_STOCK_FILE_LOADERS = (SourceFileLoader, SourcelessFileLoader, ExtensionFileLoader)
#: The stock file loaders by exact type (a subclass may read differently: it takes the long way).
_STOCK_KINDS: dict[type, str] = {
    SourceFileLoader: SOURCE,
    SourcelessFileLoader: BYTECODE,
    ExtensionFileLoader: EXTENSION,
}


def _at_resolved_path(spec: ModuleSpec, real: str) -> ModuleSpec:
    """The same module, found at its resolved path ``real`` (a package: searched there too)."""
    loader = type(spec.loader)(spec.name, real)  # type: ignore[call-arg,misc]  # a stock file loader
    is_package = spec.submodule_search_locations is not None
    return _spec_from_file_location(
        spec.name, real, loader=loader, submodule_search_locations=[] if is_package else None
    )


def _ask(finder, fullname: str, path, target) -> ModuleSpec | None:
    """``finder``'s spec for ``fullname``, asked as the running importlib would ask it."""
    find = getattr(finder, "find_spec", None)
    if find is not None:
        return find(fullname, path, target)
    return _ask_legacy(finder, fullname, path)


def _ask_legacy(finder, fullname: str, path) -> ModuleSpec | None:
    """A legacy finder (no ``find_spec``): ``find_module`` where importlib still calls it."""
    if _LEGACY_FINDERS:
        find_module = getattr(finder, "find_module", None)
        if find_module is not None:
            loader = find_module(fullname, path)
            if loader is not None:
                return _spec_from_loader(fullname, loader)
    return None


def _is_manager(finder) -> bool:
    return getattr(type(finder), "_signedimp_manager", False) is True


def _is_vetted(finder) -> bool:
    return getattr(type(finder), "_signedimp_vetted", False) is True


class _VettedFinder:
    """A meta path finder that stays where it was, with every spec it finds vetted."""

    _signedimp_vetted = True

    def __init__(self, finder, manager: SignedImportManager) -> None:
        self._finder = finder
        self._manager = manager

    def __repr__(self) -> str:
        return f"<vetted {self._finder!r}>"

    def find_spec(self, fullname, path=None, target=None):
        manager = self._manager
        if (
            path is None
            and manager._stdlib_search is not None
            and (fullname in _STDLIB_FIRST or _stdlib_only())
        ):
            spec = manager._find_stdlib(fullname)  # as the manager's find_spec
            if spec is not None or _stdlib_only():
                return spec
        if manager._missed is not None and manager._already_missed(fullname, path):
            if sys.meta_path and sys.meta_path[-1] is self:
                manager._missed = None  # the end of importlib's loop: hold no frame longer
            return None  # the manager asked this finder a moment ago, for the same import
        spec = _ask(self._finder, fullname, path, target)
        return None if spec is None else manager.vet(spec)

    def find_distributions(self, *args, **kwargs):
        """The wrapped finder's distributions, those below untrusted roots left out."""
        from . import metadata

        return metadata.vetted_distributions(self._manager, self._finder, args, kwargs)

    def __getattr__(self, name):
        return getattr(self._finder, name)


class _GuardedMetaPath(list):
    """``sys.meta_path`` while a manager is installed: finders added later get vetted too.

    Import hooks that insert themselves in front (``sys.meta_path.insert(0, finder)``) would
    otherwise answer before the manager and load unverified code. ``_original`` is the list
    object that was ``sys.meta_path`` before, put back by ``uninstall()``.
    """

    def __init__(self, finders, manager: SignedImportManager, original: list) -> None:
        super().__init__(finders)
        self._manager = manager
        self._original = original

    def insert(self, index, finder) -> None:
        super().insert(index, self._manager._guard(finder))

    def append(self, finder) -> None:
        super().append(self._manager._guard(finder))

    def extend(self, finders) -> None:
        super().extend(self._manager._guard(f) for f in finders)

    def __iadd__(self, finders):  # type: ignore[misc]  # list's own signature, vetted
        self.extend(finders)
        return self

    def __setitem__(self, index, value) -> None:
        if isinstance(index, slice):
            value = [self._manager._guard(f) for f in value]
        else:
            value = self._manager._guard(value)
        super().__setitem__(index, value)
