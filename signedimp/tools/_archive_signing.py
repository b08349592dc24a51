"""Signing archives in place: ``sign_zipfile`` (.zip, .pyz) and ``sign_wheel``.

Both rewrite the archive by raw copy (``zip_rewrite``), so signing changes nothing but the
manifest member (and a wheel's RECORD); the manifest member's time comes from
``SOURCE_DATE_EPOCH`` or the archive itself, so signing the same archive twice gives the same bytes.
"""

from __future__ import annotations

import hashlib
import os
import stat

from ..manifest import MANIFEST_NAME, Manifest
from ..zipdir import PREFIX_NAME
from ._bytecode_check import report_left_out, source_of, stale_reason
from ._manifest_signing import MANIFEST_MODE, previous_manifest, sign_manifest
from ._tree_walk import checked_rel
from ._wheel_record import build_record, check_old_record, find_dist_info
from ._zip_format import DEFLATED, STORED
from ._zip_rewrite import clone_info, new_entry, rewrite
from ._zip_time import source_date_time

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs import time in every signed build
    import zipfile
    from collections.abc import Callable, Iterable, Mapping

    from ._signing_keys import PrivateKey
    from ._zip_rewrite import Archive, Entry

    PathLike = str | os.PathLike[str]


def sign_zipfile(path: PathLike, key: PrivateKey) -> Manifest:
    """Sign a .zip or .pyz in place: the root manifest lists every file member.

    The archive is rewritten, never appended to; a zipapp's shebang (any bytes before the
    first member) is kept and signed: the manifest lists its SHA-256 under ``PREFIX_NAME``,
    always, the hash of no bytes when there is none, so a prefix added later is caught too.
    Each member's order, time, mode, compression, comment and compressed bytes are
    kept.  An existing root manifest is replaced where it stands, a new one goes at the end.
    """
    return rewrite(
        path,
        lambda where, archive: _sign_zip_members(where, archive, key),
        keep=lambda name: name == MANIFEST_NAME or _is_python_file(name),
    )


def sign_wheel(path: PathLike, key: PrivateKey) -> Manifest:
    """Sign a wheel in place: the manifest goes into ``.dist-info/`` just before RECORD.

    It lists every file except RECORD and itself (paths as in the wheel, ``.data/`` files
    included); RECORD is then regenerated so that pip still accepts the wheel.  Every other
    member is copied byte for byte.
    """
    return rewrite(
        path,
        lambda where, archive: _sign_wheel_members(where, archive, key),
        keep=lambda name: _kept_in_wheel(name) or _is_python_file(name),
    )


def _sign_zip_members(where: str, archive: Archive, key: PrivateKey) -> Manifest:
    _drop_stale_bytecode(where, archive)
    at = archive.index(MANIFEST_NAME)
    old = archive.members[at] if at is not None else None
    hashes = _zip_hashes(where, (m for m in archive.files() if m is not old))
    hashes[PREFIX_NAME] = hashlib.sha256(archive.prefix).hexdigest()  # check_names kept it free
    previous = previous_manifest(old.data if old else None, f"{where}!{MANIFEST_NAME}")
    manifest = sign_manifest(hashes, key, previous, checked=True)  # paths: checked_rel, digests: ours
    info = _manifest_info(MANIFEST_NAME, archive, old)
    new = new_entry(info, manifest.serialise())
    if at is None:
        archive.members.append(new)
    else:
        archive.members[at] = new
    return manifest


def _kept_in_wheel(name: str) -> bool:
    """The members whose content the wheel signer reads: RECORD and an old manifest."""
    return name.endswith(("/RECORD", "/" + MANIFEST_NAME))


def _sign_wheel_members(where: str, archive: Archive, key: PrivateKey) -> Manifest:
    dist_info = find_dist_info(where, archive)
    record, name = f"{dist_info}/RECORD", f"{dist_info}/{MANIFEST_NAME}"
    encoded = check_old_record(where, archive, record)
    _drop_stale_bytecode(where, archive)
    at = archive.index(name)
    old = archive.members.pop(at) if at is not None else None
    hashes = _zip_hashes(where, (m for m in archive.files() if m.name != record))
    previous = previous_manifest(old.data if old else None, f"{where}!{name}")
    manifest = sign_manifest(hashes, key, previous, checked=True)  # paths: checked_rel, digests: ours
    record_at = archive.index(record)
    old_record = archive.members[record_at]  # type: ignore[index]
    manifest_info = _manifest_info(name, archive, old)
    new_manifest = new_entry(manifest_info, manifest.serialise())
    members = [*archive.members[:record_at], new_manifest, *archive.members[record_at:]]
    record_data = build_record(members, record, encoded)
    new_record = new_entry(clone_info(old_record.info), record_data)
    members[record_at + 1] = new_record  # type: ignore[operator]  # record_at was found above
    archive.members[:] = members
    return manifest


def _is_python_file(name: str) -> bool:
    """Sources and bytecode: read whole so that stale bytecode can be found (``stale_reason``)."""
    return name.endswith((".py", ".pyc"))


def _drop_stale_bytecode(where: str, archive: Archive) -> None:
    """Remove bytecode members compiled from other source than the member beside them, and say so.

    Left in the archive unlisted, they would make it fail verification (an added entry); left
    out, the runtime (and zipimport) compiles the listed source instead.
    """
    by_name = {m.name: m for m in archive.files()}
    stale: dict[str, str] = {}
    for member in by_name.values():
        source_name = source_of(member.name)
        source = by_name.get(source_name) if source_name is not None else None
        if source is None or member.data is None or source.data is None:
            continue
        data = source.data
        why = stale_reason(member.data[:16], _zip_mtime(source), len(data), _given(data), slack=2)
        if why is not None:
            stale[member.name] = why
    if stale:
        archive.members[:] = [m for m in archive.members if m.name not in stale]
        report_left_out(where, stale, "removed")


def _given(data: bytes) -> Callable[[], bytes]:
    return lambda: data


def _zip_mtime(member: Entry) -> int:
    """The member's time as zipimport reads it for a timestamp pyc: local time, 2-second steps."""
    import time

    return int(time.mktime((*member.info.date_time, 0, 0, -1)))


def _zip_hashes(where: str, members: Iterable[Entry]) -> dict[str, str]:
    return {checked_rel(m.name, f"{where}: member"): m.digest.hex() for m in members}


def _manifest_info(name: str, archive: Archive, old: Entry | None) -> zipfile.ZipInfo:
    """The new manifest member: a regular file, dated and compressed like the archive."""
    import zipfile

    others = (m for m in archive.members if m is not old)
    info = zipfile.ZipInfo(name, _manifest_date_time(others, os.environ))
    info.compress_type = _manifest_compression(archive, old)
    info.create_system = 3
    info.external_attr = (stat.S_IFREG | MANIFEST_MODE) << 16
    return info


def _manifest_date_time(
    members: Iterable[Entry], env: Mapping[str, str]
) -> tuple[int, int, int, int, int, int]:
    """SOURCE_DATE_EPOCH (clamped to what zip can store), else the newest existing timestamp."""
    stamp = source_date_time(env)
    if stamp is not None:
        return stamp
    stamps = [tuple(m.info.date_time)[:6] for m in members]
    return max(stamps, default=(1980, 1, 1, 0, 0, 0))


def _manifest_compression(archive: Archive, old: Entry | None) -> int:
    """Stored where the old manifest was stored, or where nothing is compressed; else deflated."""
    if old is not None:
        return old.info.compress_type
    if any(m.info.compress_type == DEFLATED for m in archive.members):
        return DEFLATED
    return STORED
