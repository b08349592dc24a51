"""Making signed manifests: hashing files and signing their hash lines, co-signing when unchanged.

Shared by every signer (directories, zips, wheels, zipapps), so that all of them follow the same
rule for an existing manifest: same hash lines, add this key's signature; else start anew.
"""

from __future__ import annotations

import hashlib
import os
import sys

from ..manifest import Manifest, Signature

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


#: Hashing threads: hashlib and os.read release the GIL, so a second thread uses the second core.
HASH_THREADS = 2
#: Whether long hashing jobs report progress on stderr (the CLI turns it on for a terminal).
_progress = {"enabled": False}


def set_progress(enabled: bool) -> None:
    """Report progress of long hashing jobs on stderr (``signedimp sign``/``verify`` on a TTY)."""
    _progress["enabled"] = bool(enabled)


def hash_files(paths: Iterable[S], hash_one: Callable[[S], T]) -> Iterator[T]:
    """``hash_one`` of every path, in order, computed by ``HASH_THREADS`` threads.

    Results come back in the order of ``paths``; an exception from ``hash_one`` is raised at
    its place. With progress on, a count goes to stderr as the work advances.
    """
    items = list(paths)
    report = _Progress(len(items)) if _progress["enabled"] and len(items) >= 1000 else None
    if len(items) < 64 or HASH_THREADS < 2:
        results: Iterator[T] = map(hash_one, items)
    else:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=HASH_THREADS, thread_name_prefix="signedimp-hash")
        try:
            results = pool.map(hash_one, items, chunksize=1)
            for done, result in enumerate(results, 1):
                if report is not None:
                    report.update(done)
                yield result
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            if report is not None:
                report.close()
        return
    for done, result in enumerate(results, 1):
        if report is not None:
            report.update(done)
        yield result
    if report is not None:
        report.close()


class _Progress:
    """``hashed N/TOTAL files`` on one stderr line, redrawn at most every 0.1 s."""

    def __init__(self, total: int) -> None:
        import time

        self._clock = time.monotonic
        self._total = total
        self._next = 0.0

    def update(self, done: int) -> None:
        now = self._clock()
        if now >= self._next or done == self._total:
            self._next = now + 0.1
            sys.stderr.write(f"\rsignedimp: hashed {done}/{self._total} files")
            sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\n")
        sys.stderr.flush()


def sign_manifest(hashes: Mapping[str, str], key: PrivateKey, previous: Manifest | None = None) -> Manifest:
    """Sign ``hashes``; co-sign ``previous`` when it lists exactly the same files and hashes.

    Same hash lines: the previous signature lines stay and this key's line is added (or
    replaced, for re-signing with the same key).  Anything changed: the old signatures no
    longer cover the content, so the result carries only this key's line.
    """
    unsigned = Manifest(hashes)
    message = unsigned.signed_bytes()
    base = previous if previous is not None and previous.signed_bytes() == message else unsigned
    return base.with_signature(Signature(key.fingerprint, key.sign(message)))


def previous_manifest(data: bytes | None, source: str) -> Manifest | None:
    """The manifest being replaced, for co-signing; an unreadable one is simply replaced."""
    if data is None:
        return None
    try:
        return Manifest.parse(data, source=source)
    except ValueError:
        return None


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
    try:
        if os.path.isdir(target):
            manifest_path = os.path.join(target, MANIFEST_NAME)
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
                    break
    except (OSError, UnsafeInputError):
        return []
    manifest = previous_manifest(data, target)
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
