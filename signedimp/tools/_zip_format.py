"""Zip records as bytes: local headers, central directory records, end records, ZIP64 fields.

The signer rewrites archives itself rather than through ``zipfile``'s writer, so that each
member's compressed bytes are copied untouched; this module holds the layouts it writes and the
comparisons that decide whether an old local header can be copied as it is.
"""

from __future__ import annotations

import struct
import zlib

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs import time in every signed build
    import zipfile
    from collections.abc import Iterator

    from ..zipdir import ZipMember

LOCAL = struct.Struct("<4s2B4HL2L2H")  # local file header
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")  # central directory file header
_END = struct.Struct("<4s4H2LH")  # end of central directory record
_END64 = struct.Struct("<4sQ2H2L4Q")  # ZIP64 end of central directory record
_END64_LOCATOR = struct.Struct("<4sLQL")  # ZIP64 end of central directory locator
_EXTRA_HEADER = struct.Struct("<2H")
_UNICODE_PATH = struct.Struct("<BL")
LOCAL_SIGNATURE = b"PK\x03\x04"

_ZIP64_EXTRA = 0x0001
_ZIP64_LIMIT = (1 << 31) - 1  # as zipfile: larger sizes and offsets go to ZIP64 fields
_COUNT_LIMIT = 0xFFFF
_FULL32 = 0xFFFFFFFF
FLAG_ENCRYPTED = 0x01
FLAG_DESCRIPTOR = 0x08  # sizes and CRC in a data descriptor after the data
STORED, DEFLATED = 0, 8


_MAX_EXTRACT_VERSION = 63  # as zipfile: an entry that needs a later version is refused
_UNICODE_PATH_EXTRA = 0x7075


class MemberInfo:
    """A member's central directory fields under ``zipfile.ZipInfo``'s names, made from the
    runtime reader's parse (``zipdir.read_zip_central``): the signer reads the directory once.

    ``fields`` are the raw central record (``zipdir.CENTRAL_RECORD``); sizes and the header
    offset come from ``member``, the ``ZipMember``, which applied ZIP64 and the prefix.
    """

    __slots__ = (
        "orig_filename",
        "create_version",
        "create_system",
        "extract_version",
        "reserved",
        "flag_bits",
        "compress_type",
        "date_time",
        "CRC",
        "compress_size",
        "file_size",
        "internal_attr",
        "external_attr",
        "header_offset",
        "extra",
        "comment",
    )

    def __init__(self, member: ZipMember, fields: tuple, extra: bytes, comment: bytes) -> None:
        made_by, needed, dos_time, dos_date = fields[1], fields[2], fields[5], fields[6]
        self.orig_filename = member.name
        self.create_version, self.create_system = made_by & 0xFF, made_by >> 8
        self.extract_version, self.reserved = needed & 0xFF, needed >> 8
        self.flag_bits = member.flags
        self.compress_type = member.compress_type
        self.date_time = (
            (dos_date >> 9) + 1980,
            (dos_date >> 5) & 0xF,
            dos_date & 0x1F,
            dos_time >> 11,
            (dos_time >> 5) & 0x3F,
            (dos_time & 0x1F) * 2,
        )
        self.CRC = member.crc
        self.compress_size = member.compress_size
        self.file_size = member.file_size
        self.internal_attr, self.external_attr = fields[14], fields[15]
        self.header_offset = member.header_offset
        self.extra = extra
        self.comment = comment


if TYPE_CHECKING:
    Info = zipfile.ZipInfo | MemberInfo  # read from an archive, or made for a new member


def directory_problem(info: MemberInfo, raw_name: bytes) -> str | None:
    """What ``zipfile`` would refuse in a central record that the runtime's reader accepts
    (a version it cannot extract, a corrupt Unicode path extra field), in zipfile's words."""
    if info.extract_version > _MAX_EXTRACT_VERSION:
        return "zip file version %.1f" % (info.extract_version / 10)
    if not info.extra:
        return None
    for field_id, data in _extra_fields(info.extra):
        if field_id != _UNICODE_PATH_EXTRA:
            continue
        if len(data) < 5:
            return "Corrupt unicode path extra field (0x7075)"
        version, name_crc = _UNICODE_PATH.unpack_from(data)
        if version == 1 and name_crc == zlib.crc32(raw_name):
            try:
                data[5:].decode("utf-8")
            except UnicodeDecodeError:
                return "Corrupt unicode path extra field (0x7075): invalid utf-8 bytes"
    return None


def name_bytes(info: Info) -> bytes:
    """The member name as stored: UTF-8 with flag bit 11, else code page 437 (as zipfile read it)."""
    name = info.orig_filename
    if name.isascii():
        return name.encode("ascii")
    return name.encode("utf-8" if info.flag_bits & 0x800 else "cp437")


def local_header_agrees(info: Info, fields: tuple, extra: bytes) -> bool:
    """Whether a local header (``LOCAL`` fields, extra) says what the central directory says:
    flags, method, time, CRC and sizes, with no data descriptor."""
    (_, _, _, flags, method, dos_time, dos_date, crc, compress_size, file_size, _, _) = fields
    if flags != info.flag_bits or flags & FLAG_DESCRIPTOR or method != info.compress_type:
        return False
    if (dos_date, dos_time) != _dos_date_time(info) or crc != info.CRC:
        return False
    sizes = _zip64_local_sizes(extra, file_size, compress_size)
    return sizes == (info.file_size, info.compress_size)


def _zip64_local_sizes(extra: bytes, file_size: int, compress_size: int) -> tuple[int, int] | None:
    """(file size, compressed size) of a local header, taking ZIP64 values where they are due."""
    if file_size != _FULL32 and compress_size != _FULL32:
        return file_size, compress_size
    values = _zip64_values(extra)
    if values is None:
        return None
    if file_size == _FULL32:
        if not values:
            return None
        file_size, values = values[0], values[1:]
    if compress_size == _FULL32:
        if not values:
            return None
        compress_size = values[0]
    return file_size, compress_size


def _extra_fields(extra: bytes) -> Iterator[tuple[int, bytes]]:
    """(id, data) of each well-formed extra field; trailing bytes too short for a header are dropped."""
    position = 0
    while position + _EXTRA_HEADER.size <= len(extra):
        field_id, size = _EXTRA_HEADER.unpack_from(extra, position)
        start = position + _EXTRA_HEADER.size
        position = start + size
        yield field_id, extra[start:position]


def _zip64_values(extra: bytes) -> list[int] | None:
    for field_id, data in _extra_fields(extra):
        if field_id == _ZIP64_EXTRA:
            return list(struct.unpack_from(f"<{len(data) // 8}Q", data))
    return None


def strip_zip64_extra(extra: bytes) -> bytes:
    """Extra fields minus ZIP64 ones: those are written anew, for the new offsets."""
    if not extra:  # most members
        return b""
    out = bytearray()
    for field_id, data in _extra_fields(extra):
        if field_id != _ZIP64_EXTRA:
            out += _EXTRA_HEADER.pack(field_id, len(data)) + data
    return bytes(out)


def _dos_date_time(info: Info) -> tuple[int, int]:
    """The MS-DOS (date, time) words of ``info.date_time`` (zipfile decodes them losslessly)."""
    year, month, day, hour, minute, second = info.date_time
    return (year - 1980) << 9 | month << 5 | day, hour << 11 | minute << 5 | second // 2


def new_local_header(info: Info, name: bytes, extra: bytes) -> bytes:
    """A local header from the central directory's values, without a data descriptor."""
    file_size, compress_size = info.file_size, info.compress_size
    version = info.extract_version
    if file_size > _ZIP64_LIMIT or compress_size > _ZIP64_LIMIT:
        extra = struct.pack("<2H2Q", _ZIP64_EXTRA, 16, file_size, compress_size) + extra
        file_size = compress_size = _FULL32
        version = max(version, 45)
    dos_date, dos_time = _dos_date_time(info)
    header = LOCAL.pack(
        LOCAL_SIGNATURE,
        version,
        info.reserved,
        info.flag_bits & ~FLAG_DESCRIPTOR,
        info.compress_type,
        dos_time,
        dos_date,
        info.CRC,
        compress_size,
        file_size,
        len(name),
        len(extra),
    )
    return header + name + extra


def central_record(info: Info, name: bytes, offset: int) -> bytes:
    """The central directory record of a member named ``name`` whose local header is at ``offset``."""
    extra = strip_zip64_extra(info.extra)
    file_size, compress_size = info.file_size, info.compress_size
    zip64 = []
    if file_size > _ZIP64_LIMIT or compress_size > _ZIP64_LIMIT:
        zip64 += [file_size, compress_size]
        file_size = compress_size = _FULL32
    if offset > _ZIP64_LIMIT:
        zip64.append(offset)
        offset = _FULL32
    create_version, extract_version = info.create_version, info.extract_version
    if zip64:
        extra = struct.pack(f"<2H{len(zip64)}Q", _ZIP64_EXTRA, 8 * len(zip64), *zip64) + extra
        create_version, extract_version = max(create_version, 45), max(extract_version, 45)
    dos_date, dos_time = _dos_date_time(info)
    record = _CENTRAL.pack(
        b"PK\x01\x02",
        create_version,
        info.create_system,
        extract_version,
        info.reserved,
        info.flag_bits & ~FLAG_DESCRIPTOR,
        info.compress_type,
        dos_time,
        dos_date,
        info.CRC,
        compress_size,
        file_size,
        len(name),
        len(extra),
        len(info.comment),
        0,
        info.internal_attr,
        info.external_attr,
        offset,
    )
    return record + name + extra + info.comment


def end_records(count: int, directory_size: int, directory_offset: int, comment: bytes) -> bytes:
    """End of central directory record, preceded by the ZIP64 ones when the values need them;
    a value too large for the old record is written there as all ones ("see ZIP64")."""
    out = b""
    if count > _COUNT_LIMIT or directory_size > _ZIP64_LIMIT or directory_offset > _ZIP64_LIMIT:
        out = _END64.pack(
            b"PK\x06\x06", _END64.size - 12, 45, 45, 0, 0, count, count, directory_size, directory_offset
        )
        out += _END64_LOCATOR.pack(b"PK\x06\x07", 0, directory_offset + directory_size, 1)
        count = count if count <= _COUNT_LIMIT else 0xFFFF
        directory_size = directory_size if directory_size <= _ZIP64_LIMIT else _FULL32
        directory_offset = directory_offset if directory_offset <= _ZIP64_LIMIT else _FULL32
    return (
        out
        + _END.pack(b"PK\x05\x06", 0, 0, count, count, directory_size, directory_offset, len(comment))
        + comment
    )
