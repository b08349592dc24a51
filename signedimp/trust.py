"""Which files the import hook leaves alone: the interpreter's own standard library.

The standard library reaches the machine with the interpreter, by the same trusted path, so it
is not verified (see docs/threat-model.md). ``site-packages`` and friends often live *inside* the
standard library directory, so they are carved out explicitly: trusting a directory never trusts
the places pip installs into.
"""

from __future__ import annotations

import os
import sys
import sysconfig

__all__ = ["TrustPolicy", "default_trusted_paths"]


def _base_paths() -> dict[str, str]:
    """sysconfig paths of the *base* interpreter, also when running inside a virtual environment."""
    base_vars = {
        "base": sys.base_prefix,
        "platbase": sys.base_exec_prefix,
        "installed_base": sys.base_prefix,
        "installed_platbase": sys.base_exec_prefix,
    }
    return sysconfig.get_paths(vars=base_vars)


def default_trusted_paths() -> tuple[str, ...]:
    """The standard library directories (and zip) of the running interpreter."""
    paths = _base_paths()
    found = [paths["stdlib"], paths["platstdlib"], os.path.join(paths["platstdlib"], "lib-dynload")]
    os_file = getattr(os, "__file__", None)
    if os_file:
        found.append(os.path.dirname(os_file))
    major, minor = sys.version_info[:2]
    found.append(os.path.join(sys.base_prefix, "lib", f"python{major}{minor}.zip"))
    return tuple(dict.fromkeys(_normalise(p) for p in found if p))


def _never_trusted() -> tuple[str, ...]:
    """Install locations that may sit below a trusted directory but are writable by pip."""
    found: list[str] = []
    for scheme_paths in (sysconfig.get_paths(), _base_paths()):
        found += [scheme_paths.get("purelib", ""), scheme_paths.get("platlib", "")]
    for suffix in ("site-packages", "dist-packages"):
        for entry in sys.path:
            if entry and os.path.basename(entry.rstrip(os.sep)) == suffix:
                found.append(entry)
    try:
        import site  # stdlib; importing it does not re-run site.main() under -S

        found += list(getattr(site, "getsitepackages", lambda: [])())
        user_site = getattr(site, "getusersitepackages", lambda: "")()
        if user_site:
            found.append(user_site)
    except Exception:  # pragma: no cover - a stripped-down frozen interpreter
        pass
    return tuple(dict.fromkeys(_normalise(p) for p in found if p))


def _normalise(path: str) -> str:
    return os.path.normcase(os.path.abspath(path))


class TrustPolicy:
    """Answers "is this file below a trusted directory?" with string prefix checks.

    Install locations (``site-packages``) below a trusted directory stay untrusted, unless the
    caller named such a location (or a directory inside it) as trusted itself.
    """

    def __init__(self, trusted_paths) -> None:
        self.trusted = tuple(_normalise(os.fspath(p)) for p in trusted_paths)
        self.excluded = _never_trusted() if self.trusted else ()

    def is_trusted(self, path: str | None) -> bool:
        if not path or not self.trusted:
            return False
        path = _normalise(path)
        for root in self.trusted:
            if _is_within(path, root) and not any(
                _is_within(path, carved) and not _is_within(root, carved) for carved in self.excluded
            ):
                return True
        return False


def _is_within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)
