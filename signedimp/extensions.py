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
import mmap
import os
import stat
import sys

from . import digests
from .elf import DynamicInfo, ElfError, read_dynamic
from .errors import IntegrityCheckFailed
from .limits import MAX_MEMBER_SIZE

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

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only
    from typing import Any

_NONBLOCK = getattr(os, "O_NONBLOCK", 0)

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


def create_extension_module(spec: ModuleSpec, data: bytes | None, root=None, rel: str | None = None):
    """Create (not yet execute) the extension module ``spec.name`` from verified ``data``.

    ``root`` (a :class:`~signedimp.roots.ManifestRoot`) and ``rel`` (the file's path in it)
    let the libraries bundled beside the package be found and verified; without them only
    ``data`` is loaded. ``data`` None: the file ``rel`` of ``root`` is read here, verified (see
    :func:`_copy_from_file`: a folder's file is copied by the kernel into its sealed memfd,
    or the private copy, and hashed there).
    """
    name = spec.name
    if root is None or rel is None:
        if data is None:
            raise TypeError("create_extension_module needs the bytes, or the root and path to read")
        where, digest, file = spec.origin or name, digests.sha256_hex(data), ""
    else:
        where, digest, file = root.entry.display(rel), root.expected_digest(rel, name), rel
    with _lock:
        path = _paths.get(digest)
        if path is None or not _still_ours(path):
            payload: bytes | _Copied = b""
            libraries: list = []
            try:
                if data is None:
                    label = f"signedimp:{name}"
                    payload = _copy_from_file(root, file, digest, label) or root.read_verified(file, name)
                else:
                    payload = data
                if file:
                    libraries = _bundled_libraries(name, _info(payload), root, file, where)
                path = _materialise(name, where, digest, payload, root, rel, libraries)
            except OSError as exc:
                raise ImportError(
                    f"cannot load extension module {name!r} from {where!r}: {exc}", name=name, path=where
                ) from None
            finally:
                for item in (payload, *(lib[2] for lib in libraries)):
                    if isinstance(item, _Copied):
                        item.close()  # not kept (an error on the way): not left open either
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


def _memfd_path(label: str, digest: str, data: bytes | _Copied) -> str:
    """The ``/proc/self/fd`` path of a sealed memfd holding ``data`` (kept open for good)."""
    if isinstance(data, _Copied) and data.fd >= 0:
        fd = data.take()
    else:
        data = _bytes(data)
        fd = _new_memfd(label)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
        except BaseException:
            os.close(fd)
            raise
    try:
        fd = _fresh_number(fd)
    except BaseException:
        os.close(fd)
        raise
    path = f"/proc/self/fd/{fd}"
    _kept_fds.append(fd)
    _used_paths.add(path)
    _paths[digest] = path
    return path


def _new_memfd(label: str) -> int:
    try:
        return os.memfd_create(label, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    except OSError as exc:
        if exc.errno in (errno.ENOSYS, errno.EPERM, errno.EINVAL, errno.EACCES):
            _memfd_unusable.append(str(exc))
            raise _NoMemfd() from None
        raise


class _Copied:
    """A file's verified bytes put in place by the kernel (see :func:`_copy_from_file`): a
    sealed memfd (``fd``) or the private copy (``path``), and their ELF dynamic facts."""

    __slots__ = ("fd", "path", "size", "info")

    def __init__(self, fd: int, path: str | None, size: int, info: DynamicInfo) -> None:
        self.fd, self.path, self.size, self.info = fd, path, size, info

    def take(self) -> int:
        """The memfd, now the caller's to keep."""
        fd, self.fd = self.fd, -1
        return fd

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.take())


def _copy_from_file(root, rel: str, digest: str, label: str) -> _Copied | None:
    """The folder file ``rel`` of ``root`` copied by the kernel, if the copy hashes to ``digest``.

    Where sealed memfds work the copy is one, sealed before it is hashed (through a read-only
    mapping), so the bytes the linker maps are the bytes that were checked; elsewhere it is the
    private copy, hashed once written. ``sendfile`` moves the bytes without a pass through
    Python's memory, which for a large extension module cost more than the hash. None when
    that cannot be done here (not a folder, not a regular file, an error, or a digest that does
    not match): the caller then reads the file the usual way (``read_verified``), which
    refuses a file that is wrong, with the reason.
    """
    file_of = getattr(root.entry, "file", None)
    if file_of is None or not hasattr(os, "sendfile"):  # a zip member, or Windows
        return None
    windowless = WINDOWLESS and not _memfd_unusable
    target = None if windowless else _private_target(root, rel, digest)
    if target is not None and os.path.exists(target):
        return None
    try:
        source = os.open(file_of(rel), os.O_RDONLY | _NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    fd = -1
    try:
        info = os.fstat(source)
        size = info.st_size
        if not stat.S_ISREG(info.st_mode) or size > MAX_MEMBER_SIZE:
            return None
        if target is None:
            fd = _new_memfd(label)
        else:
            os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
            fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o500)
        done = 0
        while done < size:
            sent = os.sendfile(fd, source, done, size - done)
            if not sent:
                break  # the file got shorter
            done += sent
        if target is None:
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
        dynamic = _check_copy(fd, done, digest) if done == size else None
        if dynamic is None:
            return None
        if target is not None:
            os.close(fd)
            fd = -1
            _paths[digest] = target
        copied, fd = _Copied(fd, target, size, dynamic), -1
        return copied
    except (OSError, ValueError, _NoMemfd):
        return None
    finally:
        os.close(source)
        if fd >= 0:
            os.close(fd)
            if target is not None:
                _unlink(target)


def _check_copy(fd: int, size: int, digest: str) -> DynamicInfo | None:
    """The dynamic facts of the ``size`` bytes in ``fd`` if they hash to ``digest``, else None."""
    if not size:
        return DynamicInfo() if digests.sha256_hex(b"") == digest else None
    with mmap.mmap(fd, size, access=mmap.ACCESS_READ) as view:
        if digests.sha256_hex(view) != digest:
            return None
        return _dynamic(view)  # type: ignore[arg-type]  # read like bytes


def _unlink(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def _info(data: bytes | _Copied) -> DynamicInfo:
    return data.info if isinstance(data, _Copied) else _dynamic(data)


def _bytes(data: bytes | _Copied) -> bytes:
    """The bytes of ``data`` (a kernel copy is read back: for the other way of loading)."""
    if not isinstance(data, _Copied):
        return data
    if data.path is not None:
        with open(data.path, "rb") as stream:
            return stream.read()
    return os.pread(data.fd, data.size, 0) if data.size else b""


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


def _preload(module: str, where: str, rel: str, digest: str, data: bytes | _Copied) -> None:
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


def _bundled_libraries(
    module: str, info: DynamicInfo, root, rel: str, where: str
) -> list[tuple[str, str, Any]]:
    """(rel, SHA-256, bytes or kernel copy) of the bundled libraries that an object with the
    dynamic facts ``info`` needs, dependencies first.

    A library counts when a ``DT_NEEDED`` name is found in an ``$ORIGIN``-relative search
    folder inside ``root``, or in one of the root's ``library_folders``; it is read verified
    (unlisted or changed: refused). Libraries that this process already loaded are not read
    again.
    """
    order: list[tuple[str, str, Any]] = []
    seen: set[str] = set()
    extra = list(getattr(root, "library_folders", ()))

    def visit(obj_rel: str, info: DynamicInfo, inherited: list[str], depth: int) -> None:
        if depth > MAX_DEPTH:
            raise ImportError(
                f"bundled libraries of {where!r} nest deeper than {MAX_DEPTH}", name=module, path=where
            )
        own = _origin_folders(obj_rel, info.runpath or info.rpath)
        # The linker's order: RPATH (with the RPATHs inherited from the objects that need this
        # one) unless there is a RUNPATH, then LD_LIBRARY_PATH, then RUNPATH. The root's
        # ``library_folders`` are the LD_LIBRARY_PATH folders inside it (a frozen app's).
        search = ([] if info.runpath else own + inherited) + extra + (own if info.runpath else [])
        passed_on = inherited if info.runpath else own + inherited
        for needed in info.needed:
            if "/" in needed:
                continue
            found = next(
                (
                    (folder, candidate)
                    for folder, candidate in ((d, f"{d}/{needed}" if d else needed) for d in search)
                    if root.is_listed(candidate) or root.entry.is_file(candidate)
                ),
                None,
            )
            if found is None or found[1] in seen:
                continue
            folder, lib_rel = found
            if folder in extra and folder not in own and folder not in inherited:
                # Found through LD_LIBRARY_PATH: checked where it lies, for the linker to load
                # (preloading it would need _ctypes, itself an extension with such a library).
                if not _already_mapped(root, lib_rel):  # else loaded before the verifier
                    seen.add(lib_rel)
                    checked = _checked_in_place(root, lib_rel, module)
                    visit(lib_rel, checked, passed_on, depth + 1)
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
                label = f"signedimp:{needed}"
                lib_data = _copy_from_file(root, lib_rel, digest, label) or root.read_verified(
                    lib_rel, module
                )
            except OSError as exc:
                raise IntegrityCheckFailed(
                    f"listed in the signed manifest but cannot be read ({exc})",
                    module=module,
                    file=root.entry.display(lib_rel),
                ) from None
            try:
                visit(lib_rel, _info(lib_data), passed_on, depth + 1)
            except BaseException:
                if isinstance(lib_data, _Copied):
                    lib_data.close()
                raise
            order.append((lib_rel, digest, lib_data))

    try:
        visit(rel, info, [], 0)
    except BaseException:
        for _rel, _digest, lib_data in order:
            if isinstance(lib_data, _Copied):
                lib_data.close()
        raise
    return order


def _checked_in_place(root, rel: str, module: str) -> DynamicInfo:
    """Check the library file ``rel`` of ``root`` where it lies; its dynamic facts if it
    matches the manifest, else the refusal (``read_verified`` says why)."""
    digest = root.expected_digest(rel, module)
    try:
        fd = os.open(root.entry.file(rel), os.O_RDONLY | _NONBLOCK | os.O_CLOEXEC)
    except OSError:
        fd = -1
    try:
        if fd >= 0:
            info = os.fstat(fd)
            if stat.S_ISREG(info.st_mode) and 0 < info.st_size <= MAX_MEMBER_SIZE:
                with mmap.mmap(fd, info.st_size, access=mmap.ACCESS_READ) as view:
                    if digests.sha256_hex(view) == digest:
                        return _dynamic(view)  # type: ignore[arg-type]  # read like bytes
    except (OSError, ValueError):
        pass
    finally:
        if fd >= 0:
            os.close(fd)
    return _dynamic(root.read_verified(rel, module))


def _already_mapped(root, rel: str) -> bool:
    """True when the file ``rel`` of ``root`` is mapped into this process already.

    A library found through ``LD_LIBRARY_PATH`` may have been loaded before the verifier
    existed (the interpreter itself, OpenSSL for ``hashlib``): the linker resolves later needs
    to it by SONAME, and a second copy must not be loaded beside it.
    """
    file_of = getattr(root.entry, "file", None)
    if file_of is None:
        return False
    try:
        with open("/proc/self/maps", "rb") as maps:
            text = maps.read()
    except OSError:
        return False
    return (b" " + os.fsencode(os.path.realpath(file_of(rel))) + b"\n") in text


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


def _private_target(root, rel: str | None, digest: str, fallback_name: str = "") -> str:
    """Where the private copy of ``rel`` of ``root`` goes: below the root's index."""
    folder = _private_folder()
    if root is None or rel is None:
        parts = ["loose", digest[:32], fallback_name or "extension"]
    else:
        index = next((i for i, r in enumerate(_private_roots) if r is root), None)
        if index is None:
            index = len(_private_roots)
            _private_roots.append(root)
        parts = [str(index), *rel.split("/")]
    return os.path.join(folder, *parts)


def _private_copy(root, rel: str | None, digest: str, data: bytes | _Copied, fallback_name: str = "") -> str:
    """Write verified ``data`` below the private folder, at ``rel`` under the root's index."""
    if isinstance(data, _Copied) and data.path is not None:
        return data.path  # written and checked there already
    target = _private_target(root, rel, digest, fallback_name)
    if not os.path.exists(target):
        os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o500)
        with os.fdopen(fd, "wb") as stream:
            stream.write(_bytes(data))
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
