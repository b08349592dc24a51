"""Making signed manifests: hashing files and signing their hash lines, co-signing when unchanged.

Shared by every signer (directories, zips, wheels, zipapps), so that all of them follow the same
rule for an existing manifest: same hash lines, add this key's signature; else start anew.
"""

from __future__ import annotations

import hashlib
import os

from ..manifest import Manifest, Signature

# Hashing in two threads lives in ``_hash_pool``; these names stay importable from here.
from ._hash_pool import HASH_THREADS, set_progress

__all__ = ["HASH_THREADS", "hash_files", "set_progress", "sign_manifest", "previous_manifest"]

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs import time in every signed build
    import os
    from collections.abc import Callable, Iterable, Iterator, Mapping
    from typing import TypeVar

    from ._signing_keys import PrivateKey

    PathLike = str | os.PathLike[str]
    S = TypeVar("S")
    T = TypeVar("T")

#: Permission bits of a new manifest file or member.
MANIFEST_MODE = 0o644
_CHUNK = 1 << 20


def sha256_hex(data: bytes) -> str:
    """Lowercase hex SHA-256, the manifest's only hash type."""
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: PathLike) -> str:
    """``sha256_hex`` of a file's content, read in pieces."""
    from ..bounded_read import file_chunks  # a regular file within the limit, never a FIFO

    digest = hashlib.sha256()
    for chunk in file_chunks(os.fspath(path)):
        digest.update(chunk)
    return digest.hexdigest()


def hash_files(paths: Iterable[S], hash_one: Callable[[S], T]) -> Iterator[T]:
    """``hash_one`` of every path, in order, computed by ``HASH_THREADS`` threads.

    An exception from ``hash_one`` is raised (for the first item, in order, that raised one)
    before any result is returned. With progress on, a count goes to stderr as the work advances.
    """
    from ._hash_pool import map_in_threads

    return iter(map_in_threads(hash_one, paths))


def sign_manifest(
    hashes: Mapping[str, str], key: PrivateKey, previous: Manifest | None = None, *, checked: bool = False
) -> Manifest:
    """Sign ``hashes``; co-sign ``previous`` when it lists exactly the same files and hashes.

    Same hash lines: the previous signature lines stay and this key's line is added (or
    replaced, for re-signing with the same key).  Anything changed: the old signatures no
    longer cover the content, so the result carries only this key's line.

    ``checked``: every path has passed ``check_path`` already (``walk_tree`` checks each one)
    and every digest is a ``hexdigest()``, so they are not checked a second time (for 20,000
    files that second check took 50 ms).
    """
    unsigned = _unsigned(hashes) if checked else Manifest(hashes)
    message = unsigned.signed_bytes()
    base = previous if previous is not None and previous.signed_bytes() == message else unsigned
    return base.with_signature(Signature(key.fingerprint, key.sign(message)))


def _unsigned(hashes: Mapping[str, str]) -> Manifest:
    """``Manifest(hashes)`` for paths and digests already known to be valid."""
    from_valid = getattr(Manifest, "_from_valid", None)
    if from_valid is None:  # the runtime no longer offers it: check again, as any caller does
        return Manifest(hashes)
    return from_valid(dict(sorted(hashes.items())), (), None)


def previous_manifest(data: bytes | None, source: str) -> Manifest | None:
    """The manifest being replaced, for co-signing; an unreadable one is simply replaced.

    The last result is kept: ``signedimp sign`` reads the old manifest once for its report
    (``current_signers``) and once to co-sign it, and a 20,000-line manifest takes 20 ms to parse.
    """
    if data is None:
        return None
    cached = _last_previous.get("entry")
    if cached is not None and cached[0] == data and cached[1] == source:
        return cached[2]
    try:
        manifest: Manifest | None = Manifest.parse(data, source=source)
    except ValueError:
        manifest = None
    _last_previous["entry"] = (data, source, manifest)
    return manifest


_last_previous: dict[str, tuple[bytes, str, Manifest | None]] = {}


def current_signers(path: PathLike) -> list[str]:
    """Fingerprints on the manifest that signing ``path`` would replace (for the co-signing report):
    a directory's or zip's root manifest, a wheel's ``.dist-info`` one; ``[]`` when there is none
    or it cannot be read (signing then starts anew anyway)."""
    import os

    from ..bounded_read import read_file, read_member
    from ..errors import UnsafeInputError
    from ..limits import MAX_MANIFEST_SIZE
    from ..manifest import MANIFEST_NAME
    from ..zipdir import read_zip_directory

    # Read with the runtime's bounded readers, never zipfile: this runs before signing has
    # vetted the input (a FIFO, a zip bomb or a bad name must be refused by the signer itself).
    target = os.fspath(path)
    data: bytes | None = None
    source = target  # named as the signer names it: the parse is then shared (previous_manifest)
    try:
        if os.path.isdir(target):
            manifest_path = source = os.path.join(target, MANIFEST_NAME)
            if os.path.isfile(manifest_path):
                data = read_file(manifest_path, MAX_MANIFEST_SIZE, "manifest")
        elif os.path.isfile(target):
            wheel = target.lower().endswith(".whl")
            for member in read_zip_directory(target):
                top, _, rest = member.name.partition("/")
                if (wheel and top.endswith(".dist-info") and rest == MANIFEST_NAME) or (
                    not wheel and member.name == MANIFEST_NAME
                ):
                    data = read_member(target, member, MAX_MANIFEST_SIZE)
                    source = f"{target}!{member.name}"
                    break
    except (OSError, UnsafeInputError):
        return []
    manifest = previous_manifest(data, source)
    return [] if manifest is None else [s.fingerprint for s in manifest.signatures]


def cosigning_report(before: list[str], after: Manifest, fingerprint: str) -> list[str]:
    """What signing did to the signatures already there, one sentence each: kept (same content,
    co-signed), dropped (the content changed, so they no longer cover it), or replaced (this key)."""
    now = {s.fingerprint for s in after.signatures}
    lines = []
    for old in dict.fromkeys(before):
        if old == fingerprint:
            lines.append(f"replaced this key's own earlier signature {old}")
        elif old in now:
            lines.append(f"kept signature by {old} (content unchanged: co-signed)")
        else:
            lines.append(
                f"dropped signature by {old}: the content changed, so it no longer covers it; "
                "sign again with that key to restore it"
            )
    return lines
