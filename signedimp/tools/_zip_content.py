"""A zip member's content, decompressed once: hashed, checked against its CRC-32 and size.

The signer vouches for what an archive really holds, not for what its directory claims, so each
member is inflated exactly once while it is hashed; a member larger than its recorded size is
refused as soon as it grows past it (a zip bomb never fills memory), and members the runtime
would refuse (over ``signedimp.limits``, or neither stored nor deflated) are refused here too.
"""

from __future__ import annotations

import hashlib
import zlib

from ..bounded_read import METHOD_NAMES
from ..errors import ZipFormatError
from ..limits import MAX_MANIFEST_SIZE, MAX_MEMBER_SIZE, READ_CHUNK
from ._zip_format import DEFLATED, STORED

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs import time in every signed build
    from collections.abc import Iterator
    from typing import Any

    from ._zip_format import Info

CHUNK = READ_CHUNK
_SMALL = 4 * CHUNK  # inflated in one call up to this size, in steps above it


def corrupt(where: str, info: Info, reason: str, prefix: str = "is corrupt: ") -> ZipFormatError:
    """The error for a member of archive ``where`` that cannot be what it claims."""
    return ZipFormatError(f"{where}: member {info.orig_filename!r} {prefix}{reason}")


def check_limits(where: str, info: Info, keep: bool) -> None:
    """Refuse, before reading it, a member the runtime would refuse: over the size limit (the
    manifest limit for the members whose content is kept: manifests, RECORD), or compressed
    with a method other than stored and deflated (the runtime inflates with zlib alone)."""
    method = info.compress_type
    if method not in (STORED, DEFLATED):
        name = METHOD_NAMES.get(method, "unknown")
        raise corrupt(
            where,
            info,
            f"uses compression method {method} ({name}); only stored and deflated members can be verified",
            prefix="",
        )
    limit = MAX_MANIFEST_SIZE if keep else MAX_MEMBER_SIZE
    if info.file_size > limit:
        raise corrupt(where, info, f"is {info.file_size} bytes, over the limit of {limit} bytes", prefix="")


def hash_content(where: str, buf: Any, info: Info, start: int, keep: bool) -> tuple[bytes, bytes | None]:
    """SHA-256 of the member's content, decompressed once and checked against CRC-32 and size;
    the content itself too when ``keep``. Inflated in steps, never past the recorded size."""
    check_limits(where, info, keep)
    if info.compress_size <= CHUNK and info.file_size <= _SMALL:
        data = _small_content(where, info, buf, start)
        _check_content(where, info, len(data), zlib.crc32(data))
        return hashlib.sha256(data).digest(), (data if keep else None)
    digest = hashlib.sha256()
    crc = size = 0
    parts: list[bytes] = []
    for chunk in _content_chunks(where, buf, info, start):
        digest.update(chunk)
        crc = zlib.crc32(chunk, crc)
        size += len(chunk)
        if size > info.file_size:
            raise corrupt(where, info, "more data than its recorded size")
        if keep:
            parts.append(chunk)
    _check_content(where, info, size, crc)
    return digest.digest(), (b"".join(parts) if keep else None)


def _check_content(where: str, info: Info, size: int, crc: int) -> None:
    if size != info.file_size:
        raise corrupt(where, info, f"{size} bytes, not the recorded {info.file_size}")
    if crc != info.CRC:
        raise corrupt(where, info, "bad CRC-32")


def _small_content(where: str, info: Info, buf: Any, start: int) -> bytes:
    """The content of a stored or deflated member of at most CHUNK compressed bytes, in one go
    (most members of a wheel: this path is what signing a large wheel costs)."""
    raw = buf[start : start + info.compress_size]
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


def _content_chunks(where: str, buf: Any, info: Info, start: int) -> Iterator[bytes]:
    """The member's content in pieces of at most CHUNK bytes."""
    end = start + info.compress_size
    if info.compress_type == STORED:
        if info.compress_size != info.file_size:
            raise corrupt(where, info, "stored with two different sizes")
        for position in range(start, end, CHUNK):
            yield buf[position : min(end, position + CHUNK)]
    else:  # DEFLATED: check_limits refused every other method
        yield from _inflate(where, info, buf, start, end)


def _inflate(where: str, info: Info, buf: Any, start: int, end: int) -> Iterator[bytes]:
    """Raw deflate of buf[start:end], which must hold exactly one complete stream."""
    inflater = zlib.decompressobj(-15)
    position = start
    try:
        while position < end and not inflater.eof:
            piece = buf[position : min(end, position + CHUNK)]
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
