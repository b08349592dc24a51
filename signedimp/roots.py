"""The signed manifests of one import root, checked once and then consulted for every file.

A root is the folder (or zip, or folder inside a zip) that module paths are relative to:
``sys.path`` entries, in practice. Which manifests decide for it is the entry's business
(``manifest_candidates``): the nearest root manifest (``signedimp-manifest.txt``, at the root
or in a folder above it) alone, or else the ``*.dist-info/signedimp-manifest.txt`` of the
root (or of the nearest folder above that has some). Each is parsed and its signature
checked on first use; the file lists of the valid ones are merged into one dict so that a
lookup at import time is a single dictionary access.
"""

from __future__ import annotations

import _thread

from . import digests
from .errors import (
    IntegrityCheckFailed,
    IntegrityCheckMissing,
    ManifestError,
    SignatureMismatch,
    UnsafeInputError,
)
from .limits import MAX_MANIFEST_SIZE
from .manifest import MANIFEST_NAME, Manifest

__all__ = ["ManifestRoot"]

_CONFLICT = "conflict"  # not a hex digest, so it can never match a file's hash


class ManifestRoot:
    """Answers "which SHA-256 does a trusted manifest promise for this file?" for one root."""

    def __init__(self, entry, ring: dict) -> None:
        self.entry = entry
        self.path: str = entry.path
        self._ring = ring
        self._hashes: dict[str, str] | None = None
        self._tampered: list[str] = []
        self._untrusted: list[str] = []
        self.manifests: list[Manifest] = []
        self._folders: frozenset[str] | None = None
        # True when one valid root manifest decides alone (see sealed_files)
        self._sealed = False
        self._lock = _thread.allocate_lock()
        self._loading: int | None = None  # the thread that reads and checks the manifests now

    # -- loading -----------------------------------------------------------------------------

    def _load(self) -> dict[str, str]:
        with self._lock:
            if self._hashes is None:
                self._loading = _thread.get_ident()
                try:
                    self._hashes = self._load_unlocked()
                finally:
                    self._loading = None
        return self._hashes

    def _load_unlocked(self) -> dict[str, str]:
        hashes: dict[str, str] = {}
        if self.entry.error:
            self._tampered.append(self.entry.error)
            return hashes
        shared = False  # hashes is a manifest's own dict, read-only here
        sources = self.entry.manifest_candidates()
        for source in sources:
            manifest = self._read_manifest(source)
            if manifest is None:
                continue
            self.manifests.append(manifest)
            strip = source.strip
            if not hashes and not strip:  # the usual case, one manifest: its dict, no copy
                hashes = manifest._hashes
                shared = True
                continue
            if shared:  # a second manifest: merge into a copy, never into the first one
                hashes = dict(hashes)
                shared = False
            for path, digest in manifest._hashes.items():
                if strip:
                    if not path.startswith(strip):
                        continue
                    path = path[len(strip) :]
                if hashes.setdefault(path, digest) != digest:
                    hashes[path] = _CONFLICT
        self._sealed = (
            len(sources) == 1
            and len(self.manifests) == 1
            and _is_root_manifest(sources[0].key)
            and not self._tampered
            and not self._untrusted
        )
        return hashes

    def _read_manifest(self, source) -> Manifest | None:
        where = source.where
        try:
            data = source.read(source.key, MAX_MANIFEST_SIZE)
        except (OSError, UnsafeInputError) as exc:
            self._tampered.append(f"manifest {where} cannot be read: {_reason(exc)}")
            return None
        try:
            manifest, key, signers = Manifest.parse_trusted(data, self._ring, source=where)
        except (ManifestError, SignatureMismatch) as exc:
            self._tampered.append(f"manifest rejected: {exc}")
            return None
        if key is None:
            self._untrusted.append(
                f"manifest {where} is not signed by a trusted key (signed by {', '.join(signers)})"
            )
            return None
        return manifest

    # -- lookups -----------------------------------------------------------------------------

    def sealed_files(self) -> dict[str, str] | bool | None:
        """Path -> digest of every file of this root when one valid root manifest decides
        alone for it (the root is sealed: nothing else is accepted), else None.

        The file list is then complete, so a finder may answer from it
        (:mod:`signedimp.folderfinder`). A folder with no root manifest at or above it is
        not loaded for this question (no manifest read, no ``*.dist-info`` scan).

        False: not known yet, and not to be loaded now. A finder asks this in the middle of
        importlib's search for some module; loading checks a signature and hashes, which
        needs a SHA-2 module (:mod:`signedimp.digests`): while none is imported and done
        (the finder imports one first; another thread may hold its import lock while
        waiting for this root), or while this thread is loading the root already, the
        caller searches as if the root were not sealed and asks again next time.
        """
        if self._hashes is None:
            if self._loading == _thread.get_ident() or not digests.ready():
                return False
            has_root_manifest = getattr(self.entry, "has_root_manifest", None)
            if has_root_manifest is not None and not has_root_manifest():
                return None
            self._load()
        return self._hashes if self._sealed else None

    def is_listed(self, rel: str) -> bool:
        """True when a valid manifest lists ``rel`` (used to decide whether bytecode may be read)."""
        hashes = self._hashes if self._hashes is not None else self._load()
        digest = hashes.get(rel)
        return digest is not None and digest != _CONFLICT

    def lists_folder(self, rel: str) -> bool:
        """True when a valid manifest lists at least one file below folder ``rel``.

        A namespace package portion counts only then: an empty or unlisted folder must not
        turn a missing module into an importable one.
        """
        folders = self._folders
        if folders is None:
            hashes = self._hashes if self._hashes is not None else self._load()
            found: set[str] = set()
            for path in hashes:
                head = path.rpartition("/")[0]
                while head and head not in found:
                    found.add(head)
                    head = head.rpartition("/")[0]
            folders = self._folders = frozenset(found)
        return rel in folders

    def tampered(self, module: str | None, file: str) -> IntegrityCheckFailed | None:
        """The refusal to raise for ``file`` when a manifest of this root was rejected, else None."""
        if self._hashes is None:
            self._load()
        if not self._tampered:
            return None
        return IntegrityCheckFailed("; ".join(self._tampered), module=module, file=file)

    def expected_digest(self, rel: str, module: str | None = None) -> str:
        """The promised hex digest of ``rel``, or the reason nothing trusted vouches for it."""
        hashes = self._hashes if self._hashes is not None else self._load()
        digest = hashes.get(rel)
        if digest is not None and digest != _CONFLICT:
            return digest
        file = self.entry.display(rel)
        if digest == _CONFLICT:
            raise IntegrityCheckFailed(
                "trusted manifests list different SHA-256 digests for it", module=module, file=file
            )
        if self._tampered:
            raise IntegrityCheckFailed("; ".join(self._tampered), module=module, file=file)
        if self._untrusted:
            raise IntegrityCheckMissing("; ".join(self._untrusted), module=module, file=file)
        if not self.manifests:
            raise IntegrityCheckMissing(
                f"no {MANIFEST_NAME} in {self.path} (nor in a *.dist-info folder there)",
                module=module,
                file=file,
            )
        raise IntegrityCheckMissing(
            f"not listed in the signed manifest of {self.path}", module=module, file=file
        )

    def read_verified(self, rel: str, module: str | None = None) -> bytes:
        """Read ``rel`` once and return its bytes if, and only if, they match the manifest."""
        digest = self.expected_digest(rel, module)
        try:
            data = self.entry.read(rel)
        except (OSError, UnsafeInputError) as exc:
            raise IntegrityCheckFailed(
                f"cannot be read: {_reason(exc)}", module=module, file=self.entry.display(rel)
            ) from None
        if digests.sha256_hex(data) != digest:
            raise IntegrityCheckFailed(
                "its SHA-256 does not match the signed manifest (modified)",
                module=module,
                file=self.entry.display(rel),
            )
        return data


def _is_root_manifest(key: str) -> bool:
    """Whether the manifest at ``key`` (its path in the entry) is a root manifest, not a wheel's."""
    head, _, name = key.rpartition("/")
    return name == MANIFEST_NAME and not head.endswith(".dist-info")


def _reason(exc: Exception) -> str:
    """An exception as a reason: its message, with the OS error's text when that is all."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        return f"{exc.strerror} ({type(exc).__name__})"
    return str(exc) or type(exc).__name__
