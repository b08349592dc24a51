"""A zip member's content, decompressed once: hashed, checked against its CRC-32 and size.

The signer vouches for what an archive really holds, not for what its directory claims, so each
member is inflated exactly once while it is hashed; a member larger than its recorded size is
refused as soon as it grows past it (a zip bomb never fills memory).
"""

from __future__ import annotations

import hashlib
import zlib

from ..errors import ZipFormatError
from ._zip_format import DEFLATED, STORED

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs import time in every signed build
    import zipfile
    from collections.abc import Iterator
    from typing import Any

CHUNK = 1 << 20


def corrupt(where: str, info: zipfile.ZipInfo, reason: str) -> ZipFormatError:
    """The error for a member of archive ``where`` that cannot be what it claims."""
    return ZipFormatError(f"{where}: member {info.orig_filename!r} is corrupt: {reason}")


def hash_content(where: str, zf: zipfile.ZipFile, buf: Any, info: zipfile.ZipInfo, start: int,
                 keep: bool) -> tuple[bytes, bytes | None]:
    """SHA-256 of the member's content, decompressed once and checked against CRC-32 and size;
    the content itself too when ``keep``."""
    if info.compress_size <= CHUNK and info.compress_type in (STORED, DEFLATED):
        data = _small_content(where, info, buf, start)
        _check_content(where, info, len(data), zlib.crc32(data))
        return hashlib.sha256(data).digest(), (data if keep else None)
    digest = hashlib.sha256()
    crc = size = 0
    parts: list[bytes] = []
    for chunk in _content_chunks(where, zf, buf, info, start):
        digest.update(chunk)
        crc = zlib.crc32(chunk, crc)
        size += len(chunk)
        if size > info.file_size:
            raise corrupt(where, info, "more data than its recorded size")
        if keep:
            parts.append(chunk)
    _check_content(where, info, size, crc)
    return digest.digest(), (b"".join(parts) if keep else None)


def _check_content(where: str, info: zipfile.ZipInfo, size: int, crc: int) -> None:
    if size != info.file_size:
        raise corrupt(where, info, f"{size} bytes, not the recorded {info.file_size}")
    if crc != info.CRC:
        raise corrupt(where, info, "bad CRC-32")


def _small_content(where: str, info: zipfile.ZipInfo, buf: Any, start: int) -> bytes:
    """The content of a stored or deflated member of at most CHUNK compressed bytes, in one go
    (most members of a wheel: this path is what signing a large wheel costs)."""
    raw = buf[start:start + info.compress_size]
    if info.compress_type == STORED:
        if info.compress_size != info.file_size:
            raise corrupt(where, info, "stored with two different sizes")
        return raw
    inflater = zlib.decompressobj(-15)
    try:
        data = inflater.decompress(raw, info.file_size + 1)  # one byte more shows excess
    except zlib.error as exc:
        raise corrupt(where, info, str(exc)) from None
    if len(data) > info.file_size:
        raise corrupt(where, info, "more data than its recorded size")
    if not inflater.eof:
        raise corrupt(where, info, "its deflate stream is truncated")
    if inflater.unused_data:
        raise corrupt(where, info, "data after the end of its deflate stream")
    return data


def _content_chunks(where: str, zf: zipfile.ZipFile, buf: Any, info: zipfile.ZipInfo,
                    start: int) -> Iterator[bytes]:
    """The member's content in pieces of at most CHUNK bytes."""
    end = start + info.compress_size
    if info.compress_type == STORED:
        if info.compress_size != info.file_size:
            raise corrupt(where, info, "stored with two different sizes")
        for position in range(start, end, CHUNK):
            yield buf[position:min(end, position + CHUNK)]
    elif info.compress_type == DEFLATED:
        yield from _inflate(where, info, buf, start, end)
    else:  # bzip2, lzma: rare in wheels and zipapps; zipfile reads them (and checks the CRC)
        yield from _zipfile_chunks(where, zf, info)


def _inflate(where: str, info: zipfile.ZipInfo, buf: Any, start: int, end: int) -> Iterator[bytes]:
    """Raw deflate of buf[start:end], which must hold exactly one complete stream."""
    inflater = zlib.decompressobj(-15)
    position = start
    try:
        while position < end and not inflater.eof:
            piece = buf[position:min(end, position + CHUNK)]
            position += len(piece)
            while piece and not inflater.eof:
                yield inflater.decompress(piece, CHUNK)
                piece = inflater.unconsumed_tail
        yield inflater.flush()
    except zlib.error as exc:
        raise corrupt(where, info, str(exc)) from None
    if not inflater.eof:
        raise corrupt(where, info, "its deflate stream is truncated")
    if inflater.unused_data or position < end:
        raise corrupt(where, info, "data after the end of its deflate stream")


def _zipfile_chunks(where: str, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[bytes]:
    import zipfile

    try:
        with zf.open(info) as member:
            while chunk := member.read(CHUNK):
                yield chunk
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError,
            RuntimeError) as exc:
        raise corrupt(where, info, str(exc)) from None
