"""The offline audit: ``verify_path`` checks a directory, zip, zipapp or wheel against trusted keys.

Stricter than the import-time check, which only looks at what is imported: every listed file is
hashed, every file no trusted manifest lists is reported, and a wheel's RECORD is compared too,
so a deployer can vet an artifact before it is ever put on ``sys.path``.
"""

from __future__ import annotations

import hashlib
import os

from ..bounded_read import file_chunks, member_chunks
from ..errors import ManifestError, SignatureMismatch, UnsafeInputError, ZipFormatError
from ..keys import Ed25519Key, RSAKey, key_ring
from ..limits import MAX_MANIFEST_SIZE, MAX_MEMBER_SIZE
from ..manifest import MANIFEST_NAME, Manifest, unlisted_and_missing
from ..zipdir import PREFIX_NAME, open_archive, prefix_chunks, prefix_size, read_zip_directory
from ._audit_report import MISSING, MODIFIED, OK, SKIPPED, UNLISTED, FileResult, Problem, VerifyReport
from ._frozen_signing import audit_frozen_archives
from ._manifest_signing import hash_files
from ._tree_walk import walk_tree
from ._wheel_record import parse_record, record_hash
from ._zip_rewrite import check_names

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs import time in every signed build
    from collections.abc import Callable, Iterable, Iterator, Mapping
    from typing import Any, BinaryIO

    from ..zipdir import ZipMember

    PublicKey = Ed25519Key | RSAKey
    PathLike = str | os.PathLike[str]


def verify_path(path: PathLike, keys: Any) -> VerifyReport:
    """Audit a directory, zip, zipapp or wheel offline against trusted ``keys``.

    Every listed file is hashed, every file no trusted manifest lists is reported, and any
    manifest that is malformed, untrusted or forged is a problem: ``report.ok`` is True
    only when nothing at all is wrong. ``keys``: what ``signedimp.keys.key_ring`` accepts.
    """
    target = os.fspath(path)
    ring = key_ring(keys)
    if os.path.isdir(target):
        report = VerifyReport(target, "directory")
        _audit(_directory_tree(target, report), ring, report)
        audit_frozen_archives(report, target, ring)  # a frozen app's archives, member by member
        return report
    if not os.path.exists(target):
        raise FileNotFoundError(f"{target}: no such file or directory")
    kind = "wheel" if os.path.splitext(target)[1].lower() == ".whl" else "zip"
    report = VerifyReport(target, kind)
    if not os.path.isfile(target):  # a FIFO, socket or device: never opened
        report.problems.append(Problem("unsafe", target, f"{target}: not a regular file or directory"))
        return report
    # The runtime's own central-directory reader and member reader (zipdir, bounded_read), not
    # zipfile: names, sizes and data are exactly what an import would see, within the limits.
    try:
        members = read_zip_directory(target)
    except ZipFormatError as exc:
        report.problems.append(Problem("corrupt", target, f"not a valid zip archive: {exc}"))
        return report
    with open_archive(target) as stream:
        return _audit(_zip_tree(target, members, stream, report), ring, report)


class _Tree:
    """Files of a directory or a zip, by manifest path, readable on demand within the limits.

    ``chunks(name, limit)`` yields a file's content in bounded pieces; it is proven (size,
    CRC-32 of a zip member) only once exhausted.
    """

    def __init__(
        self,
        names: Iterable[str],
        chunks: Callable[[str, int], Iterator[bytes]],
        prefix: tuple[int, Callable[[], str]] | None = None,
        parallel: bool = False,
    ) -> None:
        self.names = sorted(names, key=lambda n: n.encode("utf-8", "surrogateescape"))
        self._set = set(self.names)
        self._chunks = chunks
        #: A zip's prefix (the bytes before its first member): (size, its SHA-256 on demand).
        self.prefix = prefix
        self.parallel = parallel

    def __contains__(self, name: str) -> bool:
        return name in self._set

    def read(self, name: str, limit: int = MAX_MEMBER_SIZE) -> bytes:
        return b"".join(self._chunks(name, limit))

    def sha256_hex(self, name: str) -> str:
        """The file's SHA-256, hashed as it is read (never the whole file in memory)."""
        digest = hashlib.sha256()
        for chunk in self._chunks(name, MAX_MEMBER_SIZE):
            digest.update(chunk)
        return digest.hexdigest()


def _directory_tree(root: str, report: VerifyReport) -> _Tree:
    errors: list[str] = []
    files = dict(walk_tree(root, errors))
    report.problems.extend(Problem("unsafe", str(root), message) for message in errors)

    def chunks(name: str, limit: int) -> Iterator[bytes]:
        return file_chunks(files[name], limit)  # bounded, and never blocks on a FIFO

    return _Tree(files, chunks, parallel=True)  # each file opened on its own: safe in threads


def _zip_tree(path: str, members: list[ZipMember], stream: BinaryIO, report: VerifyReport) -> _Tree:
    where = str(path)
    try:
        check_names(where, [m.name for m in members])
    except ZipFormatError as exc:
        report.problems.append(Problem("corrupt", where, str(exc)))
    by_name = {m.name: m for m in members if not m.name.endswith("/")}

    def chunks(name: str, limit: int) -> Iterator[bytes]:
        return member_chunks(stream, by_name[name], where, limit)

    size = prefix_size(members)

    def prefix_sha256() -> str:
        digest = hashlib.sha256()
        for chunk in prefix_chunks(stream, size, where):
            digest.update(chunk)
        return digest.hexdigest()

    return _Tree(by_name, chunks, (size, prefix_sha256))


def _manifest_names(tree: _Tree) -> list[str]:
    """The root manifest alone when there is one (it seals the entry, as at import time),
    else the top-level ``*.dist-info/`` manifests."""
    if MANIFEST_NAME in tree:
        return [MANIFEST_NAME]
    names = []
    for name in tree.names:
        parts = name.split("/")
        if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == MANIFEST_NAME:
            names.append(name)
    return names


def _load_manifest(
    tree: _Tree, name: str, ring: Mapping[str, PublicKey], report: VerifyReport
) -> Manifest | None:
    """Parse and verify one manifest; every way it can fail is a reported problem."""
    source = f"{report.path}!{name}" if report.kind != "directory" else os.path.join(report.path, name)
    try:
        data = tree.read(name, MAX_MANIFEST_SIZE)
        manifest, signer, fingerprints = Manifest.parse_trusted(data, ring, source=source)
    except ManifestError as exc:
        report.problems.append(Problem("malformed", name, str(exc)))
        return None
    except SignatureMismatch as exc:
        report.problems.append(Problem("forged", name, str(exc)))
        return None
    except (UnsafeInputError, OSError) as exc:
        report.problems.append(Problem("corrupt", name, str(exc)))
        return None
    if manifest is None or signer is None:
        fps = ", ".join(fingerprints)
        report.problems.append(
            Problem("untrusted", name, f"{source}: no signature by a trusted key (signed by {fps})")
        )
        return None
    report.manifests[name] = signer.fingerprint
    # verify() raised if any trusted line failed, so every trusted line here is a valid signature
    report.signers[name] = list(
        dict.fromkeys(s.fingerprint for s in manifest.signatures if s.fingerprint in ring)
    )
    return manifest


def _expected_hashes(valid: dict[str, Manifest], report: VerifyReport) -> dict[str, str | None]:
    """path -> the hash all valid manifests agree on (None when they disagree)."""
    expected: dict[str, str | None] = {}
    for name, manifest in valid.items():
        for path in manifest:
            digest = manifest.lookup(path)
            if path in expected and expected[path] != digest:
                report.problems.append(
                    Problem("conflict", path, f"manifests disagree on the hash of {path} ({name})")
                )
                expected[path] = None
            elif path not in expected:
                expected[path] = digest
    return expected


def _check_file(tree: _Tree, path: str, digest: str | None) -> FileResult:
    if path not in tree:
        return FileResult(path, MISSING, expected=digest, detail="listed but absent")
    try:
        actual = tree.sha256_hex(path)
    except (UnsafeInputError, OSError) as exc:
        return FileResult(path, MODIFIED, expected=digest, detail=f"unreadable: {exc}")
    if digest is None:
        return FileResult(path, MODIFIED, actual=actual, detail="manifests disagree")
    if actual != digest:
        return FileResult(path, MODIFIED, expected=digest, actual=actual)
    return FileResult(path, OK, expected=digest, actual=actual)


def _check_prefix(tree: _Tree, expected: dict[str, str | None]) -> FileResult | None:
    """A zip's prefix against the hash its manifest lists under ``PREFIX_NAME`` (taken out of
    ``expected``: it names no member). An archive signed before prefixes were signed lists
    none: accepted only when it has no prefix, else refused with "re-sign"."""
    if tree.prefix is None:
        return None
    size, sha256_hex = tree.prefix
    what = f"archive prefix: the {size} bytes before the first member (shebang, preamble)"
    if PREFIX_NAME not in expected:
        if size == 0:
            return None
        detail = f"{what} not covered by the signature (signed by an older signedimp?): re-sign it"
        return FileResult(PREFIX_NAME, UNLISTED, detail=detail)
    digest = expected.pop(PREFIX_NAME)
    try:
        actual = sha256_hex()
    except (UnsafeInputError, OSError) as exc:
        return FileResult(PREFIX_NAME, MODIFIED, expected=digest, detail=f"{what}, unreadable: {exc}")
    if digest is None:
        return FileResult(PREFIX_NAME, MODIFIED, actual=actual, detail=f"{what}: manifests disagree")
    if actual != digest:  # no ``actual``: ``verify`` then prints this detail, which names the prefix
        detail = f"{what} do not match the signed manifest (changed, added or removed; sha256 {actual})"
        return FileResult(PREFIX_NAME, MODIFIED, expected=digest, detail=detail)
    return None  # reported only when it fails: the files verified are the members


def _check_files(tree: _Tree, items: list[tuple[str, str | None]]) -> Iterator[FileResult]:
    """``_check_file`` of each (path, digest), in order; a folder's files hashed by two threads
    (a zip's members come from one stream, so they are read in turn)."""
    if not tree.parallel:
        return (_check_file(tree, path, digest) for path, digest in items)
    return hash_files(items, lambda item: _check_file(tree, *item))


def _exempt(manifest_names: list[str]) -> set[str]:
    """Files no manifest is expected to list: the manifests and their dist-info RECORD."""
    exempt = set(manifest_names)
    for name in manifest_names:
        if "/" in name:
            exempt.add(name.rsplit("/", 1)[0] + "/RECORD")
    return exempt


def _skip_reason(path: str, manifest_names: list[str], kind: str) -> str | None:
    """Why an unlisted file of a directory is reported but not held against it, if it is.

    Unlisted ``__pycache__`` bytecode is never read by the runtime (it compiles the verified
    source instead), and pip writes INSTALLER, REQUESTED and direct_url.json into an
    installed wheel's dist-info after the wheel was signed.
    """
    if kind != "directory":
        return None
    parts = path.split("/")
    if len(parts) >= 2 and parts[-2] == "__pycache__" and parts[-1].endswith(".pyc"):
        return "unlisted bytecode: the runtime never reads it (it compiles the listed source)"
    in_signed_dist_info = len(parts) == 2 and f"{parts[0]}/{MANIFEST_NAME}" in manifest_names
    if in_signed_dist_info and parts[1] in _INSTALLER_FILES:
        return "written by the installer after the wheel was signed"
    return None


def _installed_elsewhere(path: str, listed_by: str, kind: str) -> bool:
    """A wheel's ``.data/`` file listed by its dist-info manifest: pip installs it outside
    site-packages, so it is absent from an installed tree and from a zip made of one."""
    head = path.split("/", 1)[0]
    return kind != "wheel" and "/" in listed_by and head.endswith(".data")


_INSTALLER_FILES = frozenset({"INSTALLER", "REQUESTED", "direct_url.json"})


def _check_record(tree: _Tree, report: VerifyReport) -> None:
    """A wheel's RECORD must still describe its files (pip checks it on install)."""
    import csv

    for name in report.manifests:
        if "/" not in name:
            continue
        record = name.rsplit("/", 1)[0] + "/RECORD"
        if record not in tree:
            report.problems.append(Problem("record", record, f"{record} is missing"))
            continue
        try:
            rows = parse_record(tree.read(record, MAX_MANIFEST_SIZE))
        except (UnicodeDecodeError, csv.Error, UnsafeInputError, OSError) as exc:
            report.problems.append(Problem("record", record, f"{record} is unreadable: {exc}"))
            continue
        _compare_record(tree, record, rows, report)


def _compare_record(tree: _Tree, record: str, rows: list[list[str]], report: VerifyReport) -> None:
    listed = set()
    for row in rows:
        path, digest = row[0], row[1] if len(row) > 1 else ""
        listed.add(path)
        if path == record or not digest:
            continue
        if path not in tree:
            report.problems.append(Problem("record", record, f"{record} lists missing {path}"))
        elif not _record_hash_matches(tree, path, digest):
            report.problems.append(Problem("record", record, f"{record} has a wrong hash for {path}"))
    for path in tree.names:
        if path not in listed:
            report.problems.append(Problem("record", record, f"{record} does not list {path}"))


def _record_hash_matches(tree: _Tree, path: str, digest: str) -> bool:
    try:
        return digest == record_hash(tree.read(path))
    except (UnsafeInputError, OSError):
        return False  # reported as modified by _check_file already


def _audit(tree: _Tree, ring: Mapping[str, PublicKey], report: VerifyReport) -> VerifyReport:
    names = _manifest_names(tree)
    if not names:
        report.problems.append(
            Problem("no-manifest", report.path, f"{report.path}: no signedimp manifest found")
        )
    valid = {n: m for n in names if (m := _load_manifest(tree, n, ring, report)) is not None}
    expected = _expected_hashes(valid, report)
    prefix = _check_prefix(tree, expected)
    results = [prefix] if prefix is not None else []
    listed_by = {p: n for n, m in reversed(list(valid.items())) for p in m}
    unlisted, missing = unlisted_and_missing(expected, tree.names, _exempt(names))
    absent = set(missing)
    checked = _check_files(tree, [(p, d) for p, d in expected.items() if p not in absent])
    for path, digest in expected.items():
        if path not in absent:
            results.append(next(checked))
        elif _installed_elsewhere(path, listed_by[path], report.kind):
            results.append(
                FileResult(
                    path,
                    SKIPPED,
                    expected=digest,
                    detail="wheel .data file, installed outside this directory",
                )
            )
        else:
            results.append(_check_file(tree, path, digest))
    for path in unlisted:
        reason = _skip_reason(path, names, report.kind)
        if reason:
            results.append(FileResult(path, SKIPPED, detail=reason))
        else:
            results.append(FileResult(path, UNLISTED, detail="not listed by any trusted manifest"))
    report.files = sorted(results, key=lambda r: r.path.encode("utf-8", "surrogateescape"))
    if report.kind == "wheel":
        _check_record(tree, report)
    return report
