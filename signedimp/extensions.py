"""Load an extension module from bytes that were already verified, leaving no window.

``dlopen`` needs a path, and a path can be swapped between the check and the load. On Linux
the verified bytes go into an anonymous ``memfd`` that is then sealed against writes, and the
loader opens ``/proc/self/fd/N``: the file that is mapped is the one that was checked. The
module's init function is found from the module *name*, so the odd file name does not matter.

Two rules make this work for every extension of a process, not just the first:

- Each sealed memfd stays open for the life of the process. The dynamic linker knows a loaded
  library by the path it was opened with; a closed descriptor's number is handed out again,
  and ``dlopen`` of the reused path would return the library it already has.
- Libraries bundled beside a package (auditwheel's ``RPATH $ORIGIN/../pkg.libs``, or any other
  ``$ORIGIN``-relative folder inside the same root) are loaded first, each verified against the
  manifest and from its own sealed memfd, dependencies before dependants. From
  ``/proc/self/fd`` the extension's ``$ORIGIN`` means nothing, but the linker matches a
  ``DT_NEEDED`` name against the SONAME of a library that is already loaded, so it uses those.
  They are opened ``RTLD_LOCAL`` as the linker would load them for a normal import, so one
  package's bundled copy never interposes its symbols on another package's.

The same code serves folders and zip archives: it reads through the root's verified reads.

Where no sealed memfd can be made (not Linux, or a kernel or sandbox without ``memfd_create``),
the verified bytes are written to a private folder (mode 0700, created once per process,
removed at exit) in the same relative layout as in the root, so ``$ORIGIN`` finds the bundled
libraries there; a process running as the same user could change that copy between the write
and the load (the window is documented in docs/threat-model.md).
"""

from __future__ import annotations

import _imp
import _thread
import atexit
import errno
import hashlib
import os
import sys

from .elf import DynamicInfo, ElfError, read_dynamic
from .errors import IntegrityCheckFailed

TYPE_CHECKING = False
if TYPE_CHECKING:
    from importlib.machinery import ExtensionFileLoader, ModuleSpec
else:  # from the import system itself: importing importlib.machinery costs 0.7 ms
    ExtensionFileLoader = sys.modules["_frozen_importlib_external"].ExtensionFileLoader
    ModuleSpec = sys.modules["_frozen_importlib"].ModuleSpec

try:  # Linux only; absent on Windows
    import fcntl
except ImportError:  # pragma: no cover - not Linux
    fcntl = None  # type: ignore[assignment]

__all__ = ["create_extension_module", "WINDOWLESS"]

_SEALS = 0
if fcntl is not None and hasattr(fcntl, "F_ADD_SEALS"):
    _SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE

#: True where extension modules are loaded from sealed memory, with no window at all.
WINDOWLESS = bool(_SEALS) and hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd")

#: Limits on the bundled libraries one extension pulls in (real wheels have a handful).
MAX_LIBRARIES = 256
MAX_DEPTH = 32

_lock = _thread.RLock()
_paths: dict[str, str] = {}  # SHA-256 of loaded bytes -> the path the linker knows them by
_kept_fds: list[int] = []  # every sealed memfd made, open until the process ends
_used_paths: set[str] = set()  # every /proc/self/fd path handed to the linker
_handles: list[int] = []  # bundled libraries loaded ahead (never unloaded)
_private: list = []  # [folder, pid] of the private-copy fallback, once made
_private_roots: list = []  # roots mirrored in the private folder (their index is the subfolder)
_memfd_unusable: list[str] = []  # why memfd_create failed at run time, if it did


def create_extension_module(spec: ModuleSpec, data: bytes, root=None, rel: str | None = None):
    """Create (not yet execute) the extension module ``spec.name`` from verified ``data``.

    ``root`` (a :class:`~signedimp.roots.ManifestRoot`) and ``rel`` (the file's path in it)
    let the libraries bundled beside the package be found and verified; without them only
    ``data`` is loaded.
    """
    name = spec.name
    where = root.entry.display(rel) if root is not None and rel is not None else (spec.origin or name)
    digest = (
        root.expected_digest(rel, name)
        if root is not None and rel is not None
        else hashlib.sha256(data).hexdigest()
    )
    with _lock:
        path = _paths.get(digest)
        if path is None or not _still_ours(path):
            libraries = (
                _bundled_libraries(name, data, root, rel, where)
                if root is not None and rel is not None
                else []
            )
            try:
                path = _materialise(name, where, digest, data, root, rel, libraries)
            except OSError as exc:
                raise ImportError(
                    f"cannot load extension module {name!r} from {where!r}: {exc}", name=name, path=where
                ) from None
    return _create_from_path(spec, path)


def _create_from_path(spec: ModuleSpec, path: str):
    """Create the module from the file at ``path``; it looks as if made from ``spec``.

    Modules made by Cython (PEP 489) copy ``__loader__`` and ``__file__`` from the spec they
    are created with, here the stand-in that names ``path``: those are put right before the
    module's code runs.
    """
    shadow_loader = ExtensionFileLoader(spec.name, path)
    module = _imp.create_dynamic(ModuleSpec(spec.name, shadow_loader, origin=path))
    try:
        if getattr(module, "__loader__", None) is shadow_loader:
            module.__loader__ = spec.loader
        if getattr(module, "__file__", None) == path:
            module.__file__ = spec.origin
    except (AttributeError, TypeError):  # not a module object (a create slot may return anything)
        pass
    return module


def _materialise(name, where, digest, data, root, rel, libraries) -> str:
    """The path to hand to the linker for ``data``, with its bundled libraries ready."""
    if WINDOWLESS and not _memfd_unusable:
        try:
            for lib_rel, lib_digest, lib_data in libraries:
                _preload(name, root.entry.display(lib_rel), lib_rel, lib_digest, lib_data)
            return _memfd_path(f"signedimp:{name}", digest, data)
        except _NoMemfd:
            pass  # fall through to the private copy, from the start
    for lib_rel, lib_digest, lib_data in libraries:
        _private_copy(root, lib_rel, lib_digest, lib_data)
    return _private_copy(root, rel, digest, data, fallback_name=os.path.basename(where))


# -- sealed memfds ----------------------------------------------------------------------------


class _NoMemfd(Exception):
    """memfd_create is refused here (old kernel, seccomp sandbox): use the private copy."""


def _memfd_path(label: str, digest: str, data: bytes) -> str:
    try:
        fd = os.memfd_create(label, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    except OSError as exc:
        if exc.errno in (errno.ENOSYS, errno.EPERM, errno.EINVAL, errno.EACCES):
            _memfd_unusable.append(str(exc))
            raise _NoMemfd() from None
        raise
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
        fd = _fresh_number(fd)
    except BaseException:
        os.close(fd)
        raise
    path = f"/proc/self/fd/{fd}"
    _kept_fds.append(fd)
    _used_paths.add(path)
    _paths[digest] = path
    return path


def _fresh_number(fd: int) -> int:
    """``fd``, or a duplicate of it whose number the linker has never seen.

    Our descriptors are never closed by us, but a program may close descriptors it does not
    own; a number that comes back must not reach the linker twice.
    """
    spare = []
    try:
        while f"/proc/self/fd/{fd}" in _used_paths:
            spare.append(fd)
            fd = os.dup(fd)
    finally:
        for old in spare:
            os.close(old)
    return fd


def _still_ours(path: str) -> bool:
    """True when ``path`` (one of ours) still names what we loaded from it."""
    if not path.startswith("/proc/self/fd/"):
        return os.path.exists(path)
    fd = int(path.rpartition("/")[2])
    return fd in _kept_fds and _is_sealed(fd)


def _is_sealed(fd: int) -> bool:
    try:
        return fcntl.fcntl(fd, fcntl.F_GET_SEALS) == _SEALS
    except OSError:
        return False


def _preload(module: str, where: str, rel: str, digest: str, data: bytes) -> None:
    if digest in _paths and _still_ours(_paths[digest]):
        return
    path = _memfd_path(f"signedimp:{rel.rpartition('/')[2]}", digest, data)
    try:
        _handles.append(_dlopen(path))
    except OSError as exc:
        raise ImportError(
            f"cannot load {where!r}, a library bundled for {module!r}: {exc}", name=module, path=where
        ) from None


def _dlopen(path: str) -> int:
    """Load the library at ``path`` (``RTLD_NOW | RTLD_LOCAL``); the handle is kept forever."""
    # Imported here, on first need, not at the top: loading _ctypes costs about 0.7 ms and
    # only packages with bundled libraries need it. It is a standard-library extension (found in
    # the trusted folders, or verified like any other in a frozen app); this may recurse into
    # the import system once, under our re-entrant lock.
    from _ctypes import dlopen

    return dlopen(path, os.RTLD_NOW | os.RTLD_LOCAL)


# -- libraries bundled beside the package ----------------------------------------------------


def _dynamic(data: bytes) -> DynamicInfo:
    try:
        return read_dynamic(data) or DynamicInfo()
    except ElfError:  # the linker will say what is wrong with it, if anything is
        return DynamicInfo()


def _bundled_libraries(module: str, data: bytes, root, rel: str, where: str) -> list[tuple[str, str, bytes]]:
    """(rel, SHA-256, bytes) of the bundled libraries ``data`` needs, dependencies first.

    A library counts when a ``DT_NEEDED`` name is found in an ``$ORIGIN``-relative search
    folder inside ``root``; it is read verified (unlisted or changed: refused). Libraries that
    this process already loaded are not read again.
    """
    order: list[tuple[str, str, bytes]] = []
    seen: set[str] = set()

    def visit(obj_rel: str, info: DynamicInfo, inherited: list[str], depth: int) -> None:
        if depth > MAX_DEPTH:
            raise ImportError(
                f"bundled libraries of {where!r} nest deeper than {MAX_DEPTH}", name=module, path=where
            )
        own = _origin_folders(obj_rel, info.runpath or info.rpath)
        search = own if info.runpath else own + inherited
        passed_on = inherited if info.runpath else own + inherited
        for needed in info.needed:
            if "/" in needed:
                continue
            lib_rel = next(
                (
                    c
                    for c in (f"{d}/{needed}" if d else needed for d in search)
                    if root.is_listed(c) or root.entry.is_file(c)
                ),
                None,
            )
            if lib_rel is None or lib_rel in seen:
                continue
            seen.add(lib_rel)
            if len(seen) > MAX_LIBRARIES:
                raise ImportError(
                    f"{where!r} pulls in more than {MAX_LIBRARIES} bundled libraries", name=module, path=where
                )
            digest = root.expected_digest(lib_rel, module)
            if digest in _paths and _still_ours(_paths[digest]):
                continue
            try:
                lib_data = root.read_verified(lib_rel, module)
            except OSError as exc:
                raise IntegrityCheckFailed(
                    f"listed in the signed manifest but cannot be read ({exc})",
                    module=module,
                    file=root.entry.display(lib_rel),
                ) from None
            visit(lib_rel, _dynamic(lib_data), passed_on, depth + 1)
            order.append((lib_rel, digest, lib_data))

    visit(rel, _dynamic(data), [], 0)
    return order


def _origin_folders(obj_rel: str, paths: tuple[str, ...]) -> list[str]:
    """The ``$ORIGIN``-relative entries of ``paths`` as folders relative to the root.

    Entries that are absolute, use other tokens, or leave the root are left to the linker.
    """
    folder = obj_rel.rpartition("/")[0]
    found: list[str] = []
    for entry in paths:
        for token in ("$ORIGIN", "${ORIGIN}"):
            if entry.startswith(token):
                rest = entry[len(token) :]
                break
        else:
            continue
        if (rest and not rest.startswith("/")) or "$" in rest:
            continue
        parts = [p for p in folder.split("/") if p]
        escaped = False
        for part in rest.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if not parts:
                    escaped = True
                    break
                parts.pop()
            else:
                parts.append(part)
        if not escaped:
            candidate = "/".join(parts)
            if candidate not in found:
                found.append(candidate)
    return found


# -- the private-copy fallback ----------------------------------------------------------------


def _private_folder() -> str:
    if not _private:
        base = os.environ.get("TMPDIR") or ("/tmp" if os.name == "posix" else os.environ.get("TEMP", "."))
        folder = os.path.join(base, f"signedimp-{os.getpid()}-{os.urandom(8).hex()}")
        os.mkdir(folder, 0o700)
        atexit.register(_remove_private_folder, folder, os.getpid())
        _private.extend((folder, os.getpid()))
    return _private[0]


def _private_copy(root, rel: str | None, digest: str, data: bytes, fallback_name: str = "") -> str:
    """Write verified ``data`` below the private folder, at ``rel`` under the root's index."""
    folder = _private_folder()
    if root is None or rel is None:
        parts = ["loose", digest[:32], fallback_name or "extension"]
    else:
        index = next((i for i, r in enumerate(_private_roots) if r is root), None)
        if index is None:
            index = len(_private_roots)
            _private_roots.append(root)
        parts = [str(index), *rel.split("/")]
    target = os.path.join(folder, *parts)
    if not os.path.exists(target):
        os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o500)
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
    _paths[digest] = target
    return target


def _remove_private_folder(folder: str, pid: int) -> None:
    if os.getpid() != pid:  # a forked child exiting: the folder is its parent's
        return
    for dirpath, _dirnames, filenames in os.walk(folder, topdown=False):
        for name in filenames:
            try:
                os.remove(os.path.join(dirpath, name))
            except OSError:
                pass  # Windows keeps a loaded DLL locked; the folder is private and left behind
        try:
            os.rmdir(dirpath)
        except OSError:
            pass
