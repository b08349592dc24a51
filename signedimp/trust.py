"""Which files the import hook leaves alone: the interpreter's own standard library.

The standard library reaches the machine with the interpreter, by the same trusted path, so it
is not verified (see docs/threat-model.md). ``site-packages`` (or Debian's ``dist-packages``)
often lives *inside* the standard library folder, so any path that passes through a folder of
that name below a trusted root stays untrusted: trusting the standard library never trusts the
places pip installs into.

Trust is decided on resolved paths (symlinks and ``..`` followed, as the kernel will follow
them when the file is opened), never on the spelling of a path: ``<attacker>/link/../../lib``
may read like the standard library and lead somewhere else. Resolving is cached per folder,
so the many imports from one standard-library folder cost one ``realpath`` in all.
"""

from __future__ import annotations

import os
import sys

__all__ = ["TrustPolicy", "default_trusted_paths", "INSTALL_FOLDERS"]

#: Folder names that pip and distributions install third-party code into.
INSTALL_FOLDERS = frozenset({"site-packages", "dist-packages"})


def default_trusted_paths() -> tuple[str, ...]:
    """The standard library folders (and zip) of the running interpreter, venv or not."""
    stdlib, platstdlib = _stdlib_folders()
    found = [stdlib, platstdlib, os.path.join(platstdlib, "lib-dynload")]
    os_file = getattr(os, "__file__", None)
    if os_file:
        found.append(os.path.dirname(os_file))
    major, minor = sys.version_info[:2]
    found.append(os.path.join(sys.base_prefix, sys.platlibdir, f"python{major}{minor}.zip"))
    return tuple(dict.fromkeys(_normalise(p) for p in found if p))


def _stdlib_folders() -> tuple[str, str]:
    """``sysconfig``'s ``stdlib`` and ``platstdlib`` for the base interpreter.

    CPython's two schemes are spelled out here, because importing ``sysconfig`` (with
    ``threading``, ``functools`` and ``collections`` behind it) cost ~6 ms of every
    ``install()``; other interpreters ask ``sysconfig`` (tests/test_trust.py checks both agree).
    """
    if sys.implementation.name == "cpython" and "sysconfig" not in sys.modules:
        if os.name == "posix":
            major, minor = sys.version_info[:2]
            thread = "t" if "t" in getattr(sys, "abiflags", "") else ""
            leaf = f"python{major}.{minor}{thread}"
            return (
                os.path.join(sys.base_prefix, sys.platlibdir, leaf),
                os.path.join(sys.base_exec_prefix, sys.platlibdir, leaf),
            )
        if os.name == "nt":
            return os.path.join(sys.base_prefix, "Lib"), os.path.join(sys.base_prefix, "Lib")
    import sysconfig  # here, not at the top: it costs ~6 ms to import (a frozen app never asks)

    base_vars = {
        "base": sys.base_prefix,
        "platbase": sys.base_exec_prefix,
        "installed_base": sys.base_prefix,
        "installed_platbase": sys.base_exec_prefix,
    }
    paths = sysconfig.get_paths(vars=base_vars)
    return paths["stdlib"], paths["platstdlib"]


def _normalise(path: str) -> str:
    return os.path.normcase(os.path.abspath(path))


def _resolve(path: str) -> str:
    return os.path.normcase(os.path.realpath(path))


_SEP = os.sep
#: POSIX: one separator, and normcase changes nothing, so the cached path is joined by hand.
_SIMPLE_SEP = os.altsep is None and os.path.normcase("A") == "A"

#: How many resolved folders a policy remembers (then it starts again: a bound, not an LRU).
_CACHE_LIMIT = 4096


class TrustPolicy:
    """Answers "is this file below a trusted folder?": resolve, then compare string prefixes.

    A path that reaches an install folder (``site-packages``) below the trusted root is not
    trusted, unless the trusted root itself is inside such a folder (the caller named it).
    """

    def __init__(self, trusted_paths) -> None:
        self.trusted = tuple(dict.fromkeys(_resolve(os.fspath(p)) for p in trusted_paths))
        self._prefixes: dict[str, str] = {}  # folder as given -> resolved folder + separator

    def resolve(self, path: str) -> str:
        """``path`` with every symlink and ``..`` resolved (``os.path.realpath``), normcased.

        The folder part is resolved once and cached (absolute folders only: a relative one
        depends on the current directory); the last component is kept as it is (it lies in
        that resolved folder), unless it is ``.`` or ``..``.
        """
        head, _, tail = path.rpartition(_SEP)
        if _SIMPLE_SEP and head and tail and tail != os.curdir and tail != os.pardir:
            prefix = self._prefixes.get(head)
            if prefix is not None:
                return prefix + tail
        else:
            head, tail = os.path.split(path)
            if not tail or tail == os.curdir or tail == os.pardir:
                return _resolve(path)
        if not os.path.isabs(head):
            return _resolve(path)
        prefix = self._prefixes.get(head)
        if prefix is None:
            prefix = _resolve(head)
            if not prefix.endswith(_SEP):
                prefix += _SEP
            if len(self._prefixes) >= _CACHE_LIMIT:
                self._prefixes.clear()
            self._prefixes[head] = prefix
        return prefix + os.path.normcase(tail)

    def invalidate_caches(self) -> None:
        """Forget resolved folders (``importlib.invalidate_caches()``: links may have changed)."""
        self._prefixes.clear()

    def is_trusted(self, path: str | None) -> bool:
        if not path or not self.trusted:
            return False
        path = self.resolve(path)
        for root in self.trusted:
            if path == root:
                return True
            prefix = root.rstrip(os.sep) + os.sep
            if path.startswith(prefix):
                below = path[len(prefix) :].split(os.sep)
                if not INSTALL_FOLDERS.intersection(below):
                    return True
        return False
