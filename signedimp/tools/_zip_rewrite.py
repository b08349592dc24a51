"""Rewriting a zip in place by raw copy: read it member by member, edit the list, write it anew.

Archives are rewritten, never appended to, and never recompressed: each member's local header
and compressed bytes are copied as they are, at a new offset, and the central directory is
written anew from the old one.  Each member is checked (name, local header, CRC-32, size) and
hashed once on the way; only new members (the manifest, a wheel's RECORD) are compressed here.
Offsets are relative to the start of the zip, after any prefix (a "#!" line), as zipfile and
zipapp write them.
"""

from __future__ import annotations

import hashlib
import os
import zlib

from ..errors import ZipFormatError
from ..zipdir import PREFIX_NAME, read_zip_central
from ._atomic_write import AtomicFile, existing_mode, replaceable_target
from ._zip_content import CHUNK, corrupt, hash_content
from ._zip_format import (
    DEFLATED,
    FLAG_ENCRYPTED,
    LOCAL,
    LOCAL_SIGNATURE,
    STORED,
    MemberInfo,
    central_record,
    directory_problem,
    end_records,
    local_header_agrees,
    name_bytes,
    new_local_header,
    strip_zip64_extra,
)

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs import time in every signed build
    import zipfile
    from collections.abc import Callable, Iterator
    from typing import Any, BinaryIO, TypeVar

    from ._zip_format import Info

    PathLike = str | os.PathLike[str]
    Result = TypeVar("Result")


class Entry:
    """One member of the archive being written: its central directory fields (a ZipInfo),
    the local header to write, where its compressed bytes are, and its content's SHA-256.

    ``data`` holds the content only for the members the caller asked to keep (RECORD, an old
    manifest); every other member is hashed and then copied without being kept.
    """

    __slots__ = ("info", "name", "name_bytes", "local", "source", "start", "digest", "data", "directory")

    def __init__(
        self,
        info: Info,
        name_bytes: bytes,
        local: bytes,
        source: Any,
        start: int,
        digest: bytes,
        data: bytes | None,
    ) -> None:
        self.info = info
        self.name = info.orig_filename
        self.name_bytes = name_bytes
        self.local = local
        self.source = source
        self.start = start
        self.digest = digest
        self.data = data
        self.directory = self.name.endswith("/")  # asked for several times per member

    def is_dir(self) -> bool:
        return self.directory


class Archive:
    """A zip read for rewriting: the bytes before it (a shebang), its members, its comment."""

    __slots__ = ("prefix", "members", "comment")

    def __init__(self, prefix: bytes, members: list[Entry], comment: bytes) -> None:
        self.prefix = prefix
        self.members = members
        self.comment = comment

    def files(self) -> Iterator[Entry]:
        return (m for m in self.members if not m.directory)

    def index(self, name: str) -> int | None:
        for i, member in enumerate(self.members):
            if member.name == name:
                return i
        return None


def rewrite(path: PathLike, edit: Callable[[str, Archive], Result], keep: Callable[[str], bool]) -> Result:
    """Read the archive at ``path`` (keeping the content of the members ``keep(name)`` asks
    for), let ``edit(where, archive)`` change its members, and replace the file atomically
    with the result; returns what ``edit`` returned."""
    target = replaceable_target(os.fspath(path))
    with AtomicFile(target, existing_mode(target, 0o644)) as out:
        with _Source(target) as source:
            archive = source.read(keep)
            result = edit(source.where, archive)
            _write_zip(out, archive)
    return result


def check_names(where: str, names: list[str]) -> None:
    """Refuse duplicate member names, names that are absolute or escape with ``..``, and the
    name reserved for the archive's prefix in its manifest (``zipdir.PREFIX_NAME``)."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ZipFormatError(f"{where}: duplicate member name {name!r}")
        if name == PREFIX_NAME:
            raise ZipFormatError(
                f"{where}: member name {name!r} is reserved for the archive prefix in the manifest"
            )
        seen.add(name)
        _check_member_name(where, name)


def _check_member_name(archive: str, name: str) -> None:
    segments = name.split("/")
    if name.startswith(("/", "\\")) or _is_drive_path(name):
        raise ZipFormatError(f"{archive}: absolute member name {name!r}")
    if ".." in segments or ".." in name.split("\\"):
        raise ZipFormatError(f"{archive}: member name {name!r} escapes the archive ('..')")


def _is_drive_path(name: str) -> bool:
    return len(name) >= 2 and name[1] == ":" and name[0].isascii() and name[0].isalpha()


def new_entry(info: zipfile.ZipInfo, data: bytes) -> Entry:
    """A new member (the manifest, RECORD): ``info`` completed, ``data`` compressed.

    Deflate level 1: manifest and RECORD are mostly hex and base64 digests, which the
    default level 6 shrinks by only 3 % more, at three times the cost.
    """
    if info.compress_type == STORED:
        payload = data
    else:
        info.compress_type = DEFLATED
        compressor = zlib.compressobj(1, zlib.DEFLATED, -15)
        payload = compressor.compress(data) + compressor.flush()
    if not info.orig_filename.isascii():
        info.flag_bits |= 0x800
    info.CRC = zlib.crc32(data)
    info.file_size, info.compress_size = len(data), len(payload)
    name = name_bytes(info)
    local = new_local_header(info, name, info.extra)
    return Entry(info, name, local, payload, 0, hashlib.sha256(data).digest(), data)


def clone_info(src: Info) -> zipfile.ZipInfo:
    """A fresh ZipInfo with the member's name, time, mode, compression, comment and extras."""
    import zipfile

    dst = zipfile.ZipInfo(src.orig_filename, src.date_time)
    dst.compress_type = src.compress_type
    dst.comment = src.comment
    dst.extra = strip_zip64_extra(src.extra)
    dst.create_system = src.create_system
    dst.external_attr = src.external_attr
    dst.internal_attr = src.internal_attr
    return dst


class _Source:
    """An archive opened for rewriting: its central directory as the runtime's reader parses
    it, a read-only map of its bytes for copying.  Closed before the rewritten file replaces it
    (Windows needs that).
    """

    def __init__(self, path: str) -> None:
        self.where = path
        self.path = path

    def __enter__(self) -> _Source:
        import mmap

        # The runtime's reader, the only parse of the directory: what it refuses (bytes after
        # the end record, an entry count that does not fit, a name that is not UTF-8, over the
        # limits) is never signed.
        self.central = read_zip_central(self.path)
        self.fh = open(self.path, "rb")
        try:
            self.map = mmap.mmap(self.fh.fileno(), 0, access=mmap.ACCESS_READ)
        except (ValueError, OSError) as exc:
            self.fh.close()
            raise ZipFormatError(f"{self.where}: not a valid zip archive: {exc}") from None
        if len(self.map) != self.central.size:
            self.__exit__()
            raise ZipFormatError(f"{self.where}: file changed while being read")
        return self

    def __exit__(self, *exc: Any) -> None:
        self.map.close()
        self.fh.close()

    def read(self, keep: Callable[[str], bool]) -> Archive:
        """Every member, checked (names, local header, CRC-32, size) and hashed once;
        the content is kept for the members ``keep(name)`` asks for."""
        central = self.central
        infos = []
        for member, (fields, extra, comment) in zip(central.members, central.records):
            info = MemberInfo(member, fields, extra, comment)
            problem = directory_problem(info, member.raw_name)
            if problem is not None:  # what zipfile refused when it read the directory too
                raise ZipFormatError(f"{self.where}: not a valid zip archive: {problem}")
            infos.append((info, member.raw_name))
        check_names(self.where, [i.orig_filename for i, _ in infos])
        end = central.directory_start
        members = [
            _read_entry(self.where, end, self.map, info, raw, keep(info.orig_filename)) for info, raw in infos
        ]
        start = min((i.header_offset for i, _ in infos), default=end)
        return Archive(self.map[:start], members, central.comment)


def _read_entry(where: str, end: int, buf: Any, info: MemberInfo, name: bytes, keep: bool) -> Entry:
    """Check one member's local header and content, hash the content once, and plan its copy."""
    if info.flag_bits & FLAG_ENCRYPTED:
        raise ZipFormatError(f"{where}: member {info.orig_filename!r} is encrypted")
    local, start = _local_header(where, info, buf, name)
    if start + info.compress_size > end:
        raise corrupt(where, info, "its data runs into the central directory")
    digest, data = hash_content(where, buf, info, start, keep)
    return Entry(info, name, local, buf, start, digest, data)


def _local_header(where: str, info: Info, buf: Any, name: bytes) -> tuple[bytes, int]:
    """The local header to write for ``info`` and where its compressed data starts.

    The old header is copied as it is when it agrees with the central directory; one that
    does not (sizes and CRC left in a data descriptor, or stale) is rebuilt from the central
    directory, whose values the content check then proves.  A header naming another file is
    refused, as zipfile refuses it.
    """
    offset = info.header_offset
    if offset + LOCAL.size > len(buf):
        raise corrupt(where, info, "its local header is outside the file")
    fields = LOCAL.unpack_from(buf, offset)
    signature, name_size, extra_size = fields[0], fields[10], fields[11]
    name_start = offset + LOCAL.size
    start = name_start + name_size + extra_size
    if signature != LOCAL_SIGNATURE or start > len(buf):
        raise corrupt(where, info, "bad local header")
    if buf[name_start : name_start + name_size] != name:
        raise corrupt(where, info, "the local header names another file")
    extra = buf[name_start + name_size : start]
    if local_header_agrees(info, fields, extra):
        return buf[offset:start], start
    return new_local_header(info, name, strip_zip64_extra(extra)), start


def _write_zip(out: BinaryIO, archive: Archive) -> None:
    """The archive: prefix, each member (local header, compressed bytes), central directory."""
    out.write(archive.prefix)
    offset = 0
    records = []
    for entry in archive.members:
        records.append(central_record(entry.info, entry.name_bytes, offset))
        out.write(entry.local)
        _copy_data(out, entry)
        offset += len(entry.local) + entry.info.compress_size
    directory = b"".join(records)
    out.write(directory)
    out.write(end_records(len(records), len(directory), offset, archive.comment))


def _copy_data(out: BinaryIO, entry: Entry) -> None:
    end = entry.start + entry.info.compress_size
    if end - entry.start <= CHUNK:  # most members: one slice
        out.write(entry.source[entry.start : end])
        return
    for position in range(entry.start, end, CHUNK):
        out.write(entry.source[position : min(end, position + CHUNK)])
