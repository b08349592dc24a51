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

import os
import sys
from stat import S_ISDIR as _S_ISDIR
from stat import S_ISLNK as _S_ISLNK

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


def _resolve_all(paths: list[str]) -> list[tuple[str, dict[str, str]]]:
    """``_resolve`` of each of ``paths``, with the folders resolved on the way (as given ->
    resolved): on POSIX each component is looked at once for all of them (an ``lstat``: the
    standard library's folders share all but their last), where ``realpath`` would walk every
    path from the root. Anything unusual (a symlink on the way, ``.`` or ``..``, a relative
    path, another separator) goes through ``realpath``, with no folders.
    """
    seen: dict[str, str] = {}
    result: list[tuple[str, dict[str, str]]] = []
    for path in paths:
        if not _SIMPLE_SEP or path[:1] != _SEP or path[:2] == _SEP * 2 or os.path.normpath(path) != path:
            result.append((_resolve(path), {}))
            continue
        resolved: str | None = ""
        folders: dict[str, str] = {}
        prefix = ""
        for name in path[1:].split(_SEP) if path != _SEP else ("",):
            prefix += _SEP + name
            known = seen.get(prefix)
            if known is None:
                try:
                    link = _S_ISLNK(os.lstat(prefix).st_mode)
                except (OSError, ValueError):  # as realpath: what cannot be read is no link
                    link = False
                if link:
                    resolved = None
                    break
                known = seen[prefix] = (resolved or "") + _SEP + name if name else _SEP
            folders[prefix] = known
            resolved = known
        result.append((_resolve(path), {}) if resolved is None else (resolved, folders))
    return result


def _is_plain_folder(path: str) -> bool:
    """Whether ``path`` names a folder that is not a symlink (so resolving stops at its name)."""
    try:
        return _S_ISDIR(os.lstat(path).st_mode)
    except (OSError, ValueError):
        return False


_SEP = os.sep
#: POSIX: one separator, and normcase changes nothing, so the cached path is joined by hand.
_SIMPLE_SEP = os.altsep is None and os.path.normcase("A") == "A"

#: How many resolved folders a policy remembers (then it starts again: a bound, not an LRU).
_CACHE_LIMIT = 4096


class TrustPolicy:
    """Answers "is this file below a trusted folder?": resolve, then compare string prefixes.

    A path that reaches an install folder (``site-packages``) below the trusted root is not
    trusted, unless the trusted root itself is inside such a folder (the caller named it).

    Every import asks this (the manager for each spec, the guard for each code object run),
    so the answer is cached per folder as given: its resolved form and whether what lies
    directly in it is trusted. A file is then one ``rpartition``, one dictionary lookup and one
    set lookup, with no system call; the folder is resolved (``realpath``: an ``lstat`` per
    component) once.
    """

    def __init__(self, trusted_paths) -> None:
        resolved = _resolve_all([os.fspath(p) for p in trusted_paths])
        self.trusted = tuple(dict.fromkeys(real for real, _ in resolved))
        self._roots = frozenset(self.trusted)
        # folder as given -> (resolved folder + separator, whether its entries are trusted)
        self._folders: dict[str, tuple[str, bool]] = {}
        # The folders met while resolving the roots are resolved already (the standard library
        # and its parents: install() and the first imports ask about those).
        for _, folders in resolved:
            for given, real in folders.items():
                if given not in self._folders:
                    self._folders[given] = (
                        real if real.endswith(_SEP) else real + _SEP,
                        self._below_root(real),
                    )

    def _folder(self, head: str) -> tuple[str, bool]:
        """The cached (resolved prefix, entries trusted) of the absolute folder ``head``.

        A folder whose parent is cached already is resolved from it: the parent's resolved
        form plus the name, when the name is no symlink (one ``lstat``, where ``realpath``
        takes one per component); anything else goes through ``realpath``.
        """
        found = self._folders.get(head)
        if found is None:
            prefix = None
            if _SIMPLE_SEP:
                parent, _, name = head.rpartition(_SEP)
                above = self._folders.get(parent) if parent and name not in ("", ".", "..") else None
                if above is not None and _is_plain_folder(head):
                    prefix = above[0] + name
            if prefix is None:
                prefix = _resolve(head)
            found = (prefix if prefix.endswith(_SEP) else prefix + _SEP, self._below_root(prefix))
            if len(self._folders) >= _CACHE_LIMIT:
                self._folders.clear()
            self._folders[head] = found
        return found

    def _below_root(self, folder: str) -> bool:
        """Whether an entry of the resolved ``folder`` (not an install folder itself) is
        trusted: ``folder`` is a trusted root, or below one with no install folder between."""
        for root in self.trusted:
            if folder == root:
                return True
            prefix = root.rstrip(_SEP) + _SEP
            if folder.startswith(prefix) and not INSTALL_FOLDERS.intersection(
                folder[len(prefix) :].split(_SEP)
            ):
                return True
        return False

    def resolve(self, path: str) -> str:
        """``path`` with every symlink and ``..`` resolved (``os.path.realpath``), normcased.

        The folder part is resolved once and cached (absolute folders only: a relative one
        depends on the current directory); the last component is kept as it is (it lies in
        that resolved folder), unless it is ``.`` or ``..``.
        """
        head, _, tail = path.rpartition(_SEP)
        if _SIMPLE_SEP and head and tail and tail != os.curdir and tail != os.pardir:
            found = self._folders.get(head)
            if found is not None:
                return found[0] + tail
        else:
            head, tail = os.path.split(path)
            if not tail or tail == os.curdir or tail == os.pardir:
                return _resolve(path)
        if not os.path.isabs(head):
            return _resolve(path)
        return self._folder(head)[0] + os.path.normcase(tail)

    def invalidate_caches(self) -> None:
        """Forget resolved folders (``importlib.invalidate_caches()``: links may have changed)."""
        self._folders.clear()

    def is_trusted(self, path: str | None) -> bool:
        if not path or not self.trusted:
            return False
        head, _, tail = path.rpartition(_SEP)
        if _SIMPLE_SEP and head and tail and tail != os.curdir and tail != os.pardir:
            # The usual case, a file in an absolute folder seen before: no string building.
            found = self._folders.get(head)
            if found is None and os.path.isabs(head):
                found = self._folder(head)
            if found is not None:
                if found[1] and tail not in INSTALL_FOLDERS:
                    return True
                return (found[0] + tail) in self._roots  # the path names a trusted root itself
        return self._is_trusted_resolved(self.resolve(path))

    def _is_trusted_resolved(self, path: str) -> bool:
        for root in self.trusted:
            if path == root:
                return True
            prefix = root.rstrip(_SEP) + _SEP
            if path.startswith(prefix):
                below = path[len(prefix) :].split(_SEP)
                if not INSTALL_FOLDERS.intersection(below):
                    return True
        return False
