"""The path-entry finder for a zip archive that the verifier rejected: it refuses, loudly.

When the manager's path hook raised ``ImportError`` for such an archive, importlib tried the
next hook, and the stock ``zipimporter`` accepted the archive, then compiled and unmarshalled
the attacker's members while it searched them. Returning this finder instead keeps every
other hook away from the archive: nothing of it is read again.
"""

from __future__ import annotations

from .errors import IntegrityCheckFailed

__all__ = ["RejectedArchiveFinder"]


class RejectedArchiveFinder:
    """Refuses every module looked up in ``path`` with the reason the archive was rejected."""

    def __init__(self, manager, path: str, reason: str) -> None:
        self._manager = manager
        self.path = path
        self.reason = reason

    def __repr__(self) -> str:
        return f"<RejectedArchiveFinder {self.path!r}>"

    def find_spec(self, fullname: str, target=None):
        raise IntegrityCheckFailed(
            f"the zip archive on sys.path was rejected, so nothing is imported from it: {self.reason}",
            module=fullname,
            file=self.path,
        )

    def invalidate_caches(self) -> None:
        """Nothing cached here; the manager re-reads the archive after its own invalidation."""
