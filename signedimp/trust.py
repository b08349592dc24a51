"""Which files the import hook leaves alone: the interpreter's own standard library.

The standard library reaches the machine with the interpreter, by the same trusted path, so it
is not verified (see docs/threat-model.md). ``site-packages`` (or Debian's ``dist-packages``)
often lives *inside* the standard library folder, so any path that passes through a folder of
that name below a trusted root stays untrusted: trusting the standard library never trusts the
places pip installs into.
"""

from __future__ import annotations

import os
import sys

__all__ = ["TrustPolicy", "default_trusted_paths", "INSTALL_FOLDERS"]

#: Folder names that pip and distributions install third-party code into.
INSTALL_FOLDERS = frozenset({"site-packages", "dist-packages"})


def default_trusted_paths() -> tuple[str, ...]:
    """The standard library folders (and zip) of the running interpreter, venv or not."""
    import sysconfig  # here, not at the top: a frozen app never asks, and it costs ~2 ms to import

    base_vars = {
        "base": sys.base_prefix,
        "platbase": sys.base_exec_prefix,
        "installed_base": sys.base_prefix,
        "installed_platbase": sys.base_exec_prefix,
    }
    paths = sysconfig.get_paths(vars=base_vars)
    found = [paths["stdlib"], paths["platstdlib"], os.path.join(paths["platstdlib"], "lib-dynload")]
    os_file = getattr(os, "__file__", None)
    if os_file:
        found.append(os.path.dirname(os_file))
    major, minor = sys.version_info[:2]
    found.append(os.path.join(sys.base_prefix, sys.platlibdir, f"python{major}{minor}.zip"))
    return tuple(dict.fromkeys(_normalise(p) for p in found if p))


def _normalise(path: str) -> str:
    return os.path.normcase(os.path.abspath(path))


class TrustPolicy:
    """Answers "is this file below a trusted folder?" with string prefix checks.

    A path that reaches an install folder (``site-packages``) below the trusted root is not
    trusted, unless the trusted root itself is inside such a folder (the caller named it).
    """

    def __init__(self, trusted_paths) -> None:
        self.trusted = tuple(_normalise(os.fspath(p)) for p in trusted_paths)

    def is_trusted(self, path: str | None) -> bool:
        if not path or not self.trusted:
            return False
        path = _normalise(path)
        for root in self.trusted:
            if path == root:
                return True
            prefix = root.rstrip(os.sep) + os.sep
            if path.startswith(prefix):
                below = path[len(prefix):].split(os.sep)
                if not INSTALL_FOLDERS.intersection(below):
                    return True
        return False
