"""Load an extension module from bytes that were already verified, leaving no window.

``dlopen`` needs a path, and a path can be swapped between the check and the load. On Linux
the verified bytes go into an anonymous ``memfd`` that is then sealed against writes, and the
loader opens ``/proc/self/fd/N``: the file that is mapped is the one that was checked. The
module's init function is found from the module *name*, so the odd file name does not matter.
Elsewhere the bytes go into a private, freshly created directory (mode 0700) that is removed
after loading; a process running as the same user could still race that copy (documented in
docs/threat-model.md).
"""

from __future__ import annotations

import _imp
import os
import sys
from importlib.machinery import ExtensionFileLoader, ModuleSpec

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


def create_extension_module(spec: ModuleSpec, data: bytes):
    """Create (not yet execute) the extension module ``spec.name`` from verified ``data``."""
    if WINDOWLESS:
        fd = _sealed_memfd(spec.name, data)
        try:
            module = _create_from_path(spec.name, f"/proc/self/fd/{fd}")
        except BaseException:
            os.close(fd)
            raise
        # Kept open: the dynamic loader knows a library by its path, and a closed fd's number is
        # reused, so the next extension's "/proc/self/fd/N" would get this library back.
        _LOADED_FDS.append(fd)
        return module
    return _create_from_private_copy(spec, data)


_LOADED_FDS: list[int] = []


def _sealed_memfd(name: str, data: bytes) -> int:
    fd = os.memfd_create(f"signedimp:{name}", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _create_from_path(name: str, path: str):
    shadow = ModuleSpec(name, ExtensionFileLoader(name, path), origin=path)
    return _imp.create_dynamic(shadow)


def _create_from_private_copy(spec: ModuleSpec, data: bytes):  # pragma: no cover - non-Linux
    base = os.environ.get("TMPDIR") or ("/tmp" if os.name == "posix" else os.environ.get("TEMP", "."))
    folder = os.path.join(base, f"signedimp-{os.getpid()}-{os.urandom(8).hex()}")
    os.mkdir(folder, 0o700)
    target = os.path.join(folder, os.path.basename(spec.origin or spec.name))
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o500)
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        return _create_from_path(spec.name, target)
    finally:
        try:
            os.remove(target)
            os.rmdir(folder)
        except OSError:
            pass  # Windows keeps a loaded DLL locked; the folder is private and left behind
