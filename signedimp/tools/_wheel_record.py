"""A wheel's ``.dist-info/RECORD``: finding it, checking it, and writing it anew after signing.

pip refuses a wheel whose RECORD does not match its files, so signing must regenerate RECORD
(the manifest is a new file), and must refuse a wheel whose RECORD was already wrong rather than
bless it with a fresh one.
"""

from __future__ import annotations

import binascii
import hashlib
import os

from ..errors import ZipFormatError

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs import time in every signed build
    from collections.abc import Iterable, Mapping

    from ._zip_rewrite import Archive, Entry

_URLSAFE = bytes.maketrans(b"+/", b"-_")


def find_dist_info(where: str, archive: Archive) -> str:
    """The ``<name>-<version>.dist-info`` directory that holds WHEEL and RECORD."""
    names = {m.name for m in archive.members}
    candidates = sorted(
        {n.split("/", 1)[0] for n in names if n.count("/") == 1 and n.split("/", 1)[0].endswith(".dist-info")}
    )
    found = [d for d in candidates if f"{d}/WHEEL" in names and f"{d}/RECORD" in names]
    if len(found) == 1:
        return found[0]
    if not found:
        raise ZipFormatError(f"{where}: not a wheel: no .dist-info directory with WHEEL and RECORD")
    stem = "-".join(os.path.basename(where).split("-")[:2]).lower()
    matching = [d for d in found if d[: -len(".dist-info")].lower() == stem]
    if len(matching) == 1:
        return matching[0]
    raise ZipFormatError(f"{where}: several .dist-info directories: {', '.join(found)}")


def record_digest(digest: bytes) -> str:
    """RECORD's form of a SHA-256 digest: sha256=<urlsafe base64, unpadded>."""
    b64 = binascii.b2a_base64(digest, newline=False).translate(_URLSAFE).rstrip(b"=")
    return "sha256=" + b64.decode("ascii")


def record_hash(data: bytes) -> str:
    """RECORD's hash field for ``data``."""
    return record_digest(hashlib.sha256(data).digest())


def parse_record(data: bytes) -> list[list[str]]:
    """The non-empty CSV rows of a RECORD (``UnicodeDecodeError`` or ``csv.Error`` if unreadable)."""
    import csv
    import io

    text = data.decode("utf-8")
    return [row for row in csv.reader(io.StringIO(text)) if row]


def check_old_record(where: str, archive: Archive, record: str) -> dict[bytes, str]:
    """Refuse to sign a wheel whose RECORD already disagrees with its files.

    Returns the RECORD form of every digest it compared (digest -> ``sha256=...``), which
    ``build_record`` then reuses instead of encoding each digest a second time.
    """
    import csv

    digests = {m.name: m.digest for m in archive.files()}
    try:
        rows = parse_record(_member(archive, record).data or b"")
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ZipFormatError(f"{where}: {record} is unreadable: {exc}") from None
    encoded: dict[bytes, str] = {}
    for row in rows:
        name, digest = row[0], row[1] if len(row) > 1 else ""
        if not digest.startswith("sha256=") or name not in digests:
            continue
        ours = encoded[digests[name]] = record_digest(digests[name])
        if digest != ours:
            raise ZipFormatError(f"{where}: {record} does not match {name}: refusing to sign")
    return encoded


def build_record(members: Iterable[Entry], record: str, encoded: Mapping[bytes, str] | None = None) -> bytes:
    """RECORD as pip and wheel write it: path,sha256=<urlsafe b64>,size; RECORD itself empty.

    ``encoded``: RECORD forms of digests already computed (``check_old_record``'s result)."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=",", quotechar='"', lineterminator="\n")
    for member in members:
        if member.directory:
            continue
        if member.name == record:
            writer.writerow((member.name, "", ""))
        else:
            known = encoded.get(member.digest) if encoded else None
            writer.writerow((member.name, known or record_digest(member.digest), member.info.file_size))
    return buf.getvalue().encode("utf-8")


def _member(archive: Archive, name: str) -> Entry:
    """The member called ``name`` (which the caller knows is there)."""
    index = archive.index(name)
    if index is None:  # pragma: no cover - guarded by find_dist_info
        raise ZipFormatError(f"no member {name!r}")
    return archive.members[index]
