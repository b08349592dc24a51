"""The runtime's rarely needed modules, executed on first use instead of at ``import signedimp``.

Every verified process pays for ``import signedimp`` before its first import, but most never
read a zip, load an extension, check an RSA key or freeze an app. The modules in ``DEFERRED``
are executed when first asked for (``signedimp.<name>``, or ``from . import <name>`` inside
the runtime, which both reach the package's ``__getattr__``), never through ``sys.meta_path``:
once a manager is installed, a module found there would have to pass the manager it is part of.

Where the code comes from, so that nothing is read later than it would have been eagerly:

- an embedded runtime (the bootstrap): its loader holds every module's code already
  (``deferred_code``), read and checked at start-up with the rest;
- the installed package: the module file beside ``__init__.py``, through importlib's own
  ``SourceFileLoader`` (bytecode cache included). These exact files are the verifier's own,
  trusted as the verifier is (docs/threat-model.md): the guard lets their bytecode be read
  and the code they produce runs as the verifier's;
- any other loader (a zip on ``sys.path``): every deferred module is executed at once, in
  :func:`load_all`, as before this module existed.

The standard-library modules that deferred modules import (``LATE_STDLIB``, and what Python
has loaded before any script runs: ``os``, ``io``, ``stat``...) are imported when first used,
not at ``import signedimp``. A deferred module can run in the middle of importlib's search for
any module (a zip on ``sys.path`` asks for ``zipfinder`` while ``import importlib`` is
searching): importing a module from there while importlib is searching for that very module
would import it twice (importlib's search, once it has a spec, takes the module the nested
import left in ``sys.modules`` and executes it again: two module objects, two ``zlib.error``
classes). Two rules keep that from happening while a manager is installed:

- ``STDLIB_FIRST`` (``__future__``, ``binascii``, ``struct``, ``_struct``, ``zlib``: what the
  zip, entry, root and manifest modules import, at their top or, ``bounded_read``'s ``struct``
  and ``zlib``, at the first zip member read, which a search may need; and the
  SHA-2 modules the verifier hashes with, ``_sha2`` and ``_hashlib``, imported when it first
  hashes, see digests.py): a search for one of them is answered from the trusted standard
  library first (``SignedImportManager.find_spec``), which needs no deferred module and
  checks no manifest, so such a search never runs one. This is what the verifier and the
  application got when ``import signedimp`` imported these (3 M instructions, 0.9 ms of
  every verified process).
- the rest of ``LATE_STDLIB`` is imported only by ``extensions`` and ``frozen``, which run
  while a module the verifier checks is being loaded: while the standard library is
  trusted, a search for one of them never needs a deferred module. (``hashlib`` is there for
  a manager that verifies the standard library, below: it loads OpenSSL before any check.)

A manager that verifies the standard library too (or its extension modules' folder) imports
all of ``LATE_STDLIB`` at ``install()`` (``import_late_stdlib``), before it is on
``sys.meta_path``. tests/test_bootstrap.py checks the lists; tests/test_verifier_stdlib.py
imports each of ``STDLIB_FIRST`` first through a zip and a sealed folder and counts the
imports.

The modules that run at ``import signedimp`` reach a deferred module only as ``from . import
name`` inside a function; a deferred module may import others in any spelling, as long as
``DEPENDS`` names them, or as ``from . import name`` inside a function without (the module then
runs on first use: ``zipdir`` at the first archive, so a folder-only process never runs it).
tests/test_bootstrap.py checks these rules.
"""

import _thread
import os
import sys

from . import guard

TYPE_CHECKING = False
if TYPE_CHECKING:
    from importlib.machinery import SourceFileLoader
else:  # from the import system itself: importing importlib.machinery costs 0.7 ms
    SourceFileLoader = sys.modules["_frozen_importlib_external"].SourceFileLoader

#: Standard-library modules of deferred modules that ``import signedimp`` leaves to their
#: first use (see above); ``fcntl`` exists on Linux only.
LATE_STDLIB = ("__future__", "atexit", "binascii", "errno", "fcntl", "hashlib", "mmap", "struct", "zlib")
#: Searched for in the trusted standard library first while a manager is installed (see
#: above); ``_struct`` is what ``struct`` imports; ``__future__``: the deferred modules' first
#: line (the eager ones do without it: importing it costs 0.7 M instructions).
#: ``_sha2`` (``_sha256``, ``_sha512`` before 3.12) and ``_hashlib``: what the verifier hashes
#: with (digests.py), imported when it first hashes, which may be in the middle of a search.
STDLIB_FIRST = frozenset(
    ("__future__", "_hashlib", "_sha2", "_sha256", "_sha512", "_struct", "binascii", "struct", "zlib")
)


def extensions_trusted(is_trusted) -> bool:
    """Whether the standard library's extension modules are trusted by ``is_trusted``: a
    ``sys.path`` entry it trusts holds zlib's file (``mmap``, ``fcntl``, ``binascii`` and
    ``_struct`` lie beside it), found without importing zlib. False where zlib is built in
    (nothing names the folder) or no trusted entry holds it: a manager then imports
    ``LATE_STDLIB`` at ``install()``, as one that verifies the standard library does.
    """
    module = sys.modules.get("zlib")
    if module is not None:
        return is_trusted(getattr(module, "__file__", None) or "")
    if "zlib" in sys.builtin_module_names:
        return False
    suffixes = sys.modules["_imp"].extension_suffixes()
    for entry in sys.path:
        if not isinstance(entry, str) or not entry:
            continue
        for suffix in suffixes:
            candidate = os.path.join(entry, "zlib" + suffix)
            try:
                os.stat(candidate)
            except (OSError, ValueError):
                continue
            if is_trusted(candidate):
                return True
    return False


def import_late_stdlib() -> None:
    """Import ``LATE_STDLIB`` now: for a manager about to verify the standard library too,
    whose deferred modules could otherwise need them while they are being searched for."""
    for name in LATE_STDLIB:
        try:
            __import__(name)
        except ImportError:  # fcntl, not on this platform: extensions.py does without it
            if name != "fcntl":
                raise


#: Modules executed on first use; every other runtime module runs at ``import signedimp``.
DEFERRED = frozenset(
    (
        "__about__",
        "bootstrap_prelude",
        "bootstrap_text",
        "bounded_read",
        "der",
        "ed25519",
        "ed25519_base",
        "elf",
        "entries",
        "extensions",
        "folderfinder",
        "frozen",
        "key_formats",
        "limits",
        "manifest",
        "metadata",
        "rejected_archive",
        "resources",
        "roots",
        "rsa_key",
        "rsa_pss",
        "zipdir",
        "zipentries",
        "zipfinder",
    )
)

#: The deferred modules each deferred module imports (at its top or in a function, any
#: spelling): executed before it, so that its own imports find them in ``sys.modules``.
#: tests/test_bootstrap.py checks this against the sources.
DEPENDS = {
    "bootstrap_text": ("__about__", "ed25519"),
    "bounded_read": ("limits",),
    "ed25519": ("ed25519_base",),
    "entries": ("bounded_read", "limits", "manifest"),
    "extensions": ("elf", "limits"),
    "frozen": ("entries", "folderfinder", "limits", "manifest", "resources", "roots", "zipdir"),
    "key_formats": ("der",),
    "roots": ("limits", "manifest"),
    "rsa_key": ("der", "rsa_pss"),
    "zipdir": ("limits",),
    "zipentries": ("bounded_read", "entries", "limits", "manifest", "zipdir"),
}

# Threads running import_stdlib: ident -> depth. With _loading, what stdlib_only() reads.
_stdlib_imports: dict = {}


def stdlib_only() -> bool:
    """Whether this thread runs the verifier's own imports of the standard library now.

    True while a deferred module's top level runs (:func:`load`) or :func:`import_stdlib`
    imports: the manager then searches built-in, frozen and trusted modules only, so a file
    on ``sys.path`` named like a standard-library module (``hashlib.py`` in an untrusted or
    sealed folder) is never what the verifier gets, nor what it would need itself to check.
    """
    if not _loading and not _stdlib_imports:  # the usual answer, asked at every top-level search
        return False
    ident = _thread.get_ident()
    return ident in _loading or ident in _stdlib_imports


def import_stdlib(name: str):
    """The standard-library module ``name`` (top level), imported now if it is not yet.

    For the verifier's imports inside its functions (``hashlib`` when it first hashes): a
    plain ``import`` there would search ``sys.path`` in order, untrusted folders first.
    """
    module = sys.modules.get(name)
    if module is not None:
        spec = getattr(module, "__spec__", None)
        if not getattr(spec, "_initializing", False):
            return module
        # Half-run: the import of this very name is under way, and the verifier is checking
        # the file it found (a file outside the standard library that shadows it).
        from .errors import IntegrityCheckMissing

        raise IntegrityCheckMissing(
            f"shadows the standard library's {name}, which the verifier needs to check it",
            module=name,
            file=getattr(spec, "origin", None),
        )
    ident = _thread.get_ident()
    _stdlib_imports[ident] = _stdlib_imports.get(ident, 0) + 1
    try:
        __import__(name)
    finally:
        depth = _stdlib_imports.pop(ident) - 1
        if depth:
            _stdlib_imports[ident] = depth
    return sys.modules[name]


# Names each thread is executing now: a cycle is reported, never a half-run module handed out.
# No lock is held while a module runs (its imports take importlib's module locks, and a lock
# of ours around them could deadlock with another thread's import): two threads may both run
# a module, the first to finish is kept (its code defines things, it changes no state).
_loading: dict = {}


def load(package, name: str):
    """The submodule ``name`` of ``package`` (the runtime), executed now if it has not been."""
    fullname = package.__name__ + "." + name
    module = sys.modules.get(fullname)
    if module is not None:
        return module
    ident = _thread.get_ident()
    mine = _loading.setdefault(ident, set())
    if fullname in mine:
        raise ImportError(
            f"signedimp: the verifier needs its module {fullname} to check a module that"
            f" {fullname} itself imports: a standard-library module is shadowed by an"
            " untrusted file earlier on sys.path, or the standard library is not trusted",
            name=fullname,
        )
    mine.add(fullname)
    try:
        return _execute(package, name, fullname)
    finally:
        mine.discard(fullname)
        if not mine:
            _loading.pop(ident, None)


def _execute(package, name: str, fullname: str):
    """Run the deferred module ``name`` (its dependencies first) and publish it."""
    for dependency in DEPENDS.get(name, ()):
        load(package, dependency)
    loader = package.__spec__.loader
    embedded = getattr(loader, "deferred_code", None)
    if embedded is not None:
        code, filename = embedded(name)
    else:
        code, filename, loader = _code_from_folder(package, fullname, name)
    module = type(sys)(fullname)
    module.__file__ = filename
    module.__package__ = package.__name__
    module.__loader__ = loader
    module.__spec__ = _spec(fullname, loader, filename)
    # Published only once it has run: a half-run module is never handed out.
    exec(guard.mark_verified(code), module.__dict__)
    module = sys.modules.setdefault(fullname, module)
    setattr(package, name, module)
    return module


def load_all(package) -> None:
    """Execute every deferred module now: for a runtime whose files cannot be found later."""
    for name in sorted(DEFERRED):
        load(package, name)


def can_defer(package) -> bool:
    """True when deferred modules can be found later the way :func:`load` finds them."""
    loader = getattr(package.__spec__, "loader", None)
    if getattr(loader, "deferred_code", None) is not None:
        return True
    file = getattr(package, "__file__", None)
    return isinstance(file, str) and isinstance(loader, SourceFileLoader) and os.path.isfile(file)


def _code_from_folder(package, fullname: str, name: str):
    """(code, file name, loader) of ``name.py`` beside the package's ``__init__.py``."""
    cache_from_source = sys.modules["_frozen_importlib_external"].cache_from_source
    path = os.path.join(os.path.dirname(package.__file__), name + ".py")
    guard.trust_own_file(path)
    try:
        guard.trust_own_file(cache_from_source(path))
    except (NotImplementedError, ValueError):  # no bytecode cache (sys.implementation.cache_tag)
        pass
    loader = SourceFileLoader(fullname, path)
    return loader.get_code(fullname), path, loader


def _spec(fullname: str, loader, origin: str):
    spec_type = sys.modules["_frozen_importlib"].ModuleSpec
    spec = spec_type(fullname, loader, origin=origin)
    spec.has_location = not origin.startswith("<")
    return spec


class DeferredLoader:
    """The loader of a deferred module asked for by an import statement (``import
    signedimp.zipdir``) while a manager is installed: the manager answers such a search with
    :func:`find_spec` instead of vetting the verifier's own files like an application's."""

    def __init__(self, package) -> None:
        self._package = package

    def create_module(self, spec):
        return load(self._package, spec.name.rpartition(".")[2])

    def exec_module(self, module) -> None:
        """Nothing: ``create_module`` returned the module, executed."""


def find_spec(fullname: str):
    """A spec for ``fullname`` if it names a deferred module of this runtime, else None."""
    package_name, _, name = fullname.rpartition(".")
    package = sys.modules.get(package_name)
    if name not in DEFERRED or getattr(package, "submodules", None) is not sys.modules[__name__]:
        return None
    return _spec(fullname, DeferredLoader(package), "<signedimp deferred module>")
