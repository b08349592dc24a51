"""Bounded reads of untrusted files and zip members: never more memory than the limits allow.

One reader for the runtime, ``signedimp verify`` and ``signedimp sign``, so that all three see
the same bytes and refuse the same things:

- ``read_file``: a whole file on disk, refused when it is not a regular file (a FIFO would block
  ``open``, a device never ends) or larger than the limit (checked with ``fstat`` before
  reading, and again while reading, so a file that grows is refused too).
- ``member_chunks`` / ``read_member``: a zip member, located by its central directory entry
  (``signedimp.zipdir``), inflated in steps of at most ``READ_CHUNK`` bytes and never past the
  size the central directory declares; its CRC-32 is checked at the end. Only stored and
  deflated members are read: that is what the runtime can read with built-in modules alone.

Every refusal is an ``UnsafeInputError`` (``ZipFormatError`` for archives) naming the file and
the reason; OSError is left for files that cannot be opened or read at all.

``struct`` and ``zlib`` are imported at the first zip member read, not with this module: a
process that verifies folders only (a sealed site-packages) reads files with ``read_file``
and never needs them (1.9 M instructions, about 0.5 ms, saved at its first verified import).
A member is only ever read after ``zipdir`` (which imports ``struct`` at its top) has listed
the archive, and a search for either module is answered from the trusted standard library
first (``submodules.STDLIB_FIRST``), so this late import never runs in the middle of
importlib's search for that same module.
"""

from __future__ import annotations

import binascii
import os
import stat

from .errors import UnsafeInputError, ZipFormatError
from .limits import MAX_MEMBER_SIZE, READ_CHUNK

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only
    from collections.abc import Iterator
    from struct import Struct
    from types import ModuleType
    from typing import BinaryIO

    from .zipdir import ZipMember

__all__ = ["read_file", "file_chunks", "read_member", "member_chunks", "STORED", "DEFLATED", "METHOD_NAMES"]

STORED, DEFLATED = 0, 8
#: Names of the other methods, for messages (APPNOTE 4.4.5).
METHOD_NAMES = {
    1: "shrunk",
    6: "imploded",
    9: "deflate64",
    12: "bzip2",
    14: "LZMA",
    93: "zstandard",
    95: "xz",
    98: "PPMd",
    99: "AES-encrypted",
}

# Local file header: signature, version needed, flags, method, time, date, CRC-32,
# compressed and uncompressed size, name and extra lengths (a struct.Struct made at first use).
_LOCAL_FORMAT = "<4s5H3I2H"
_LOCAL_SIGNATURE = b"PK\x03\x04"
_FLAG_ENCRYPTED = 0x01
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_BINARY = getattr(os, "O_BINARY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


_local_header: Struct | None = None
_zlib_module: ModuleType | None = None
_zlib_missing = False


def _local() -> Struct:
    """The local file header's ``struct.Struct``, made at the first member read."""
    global _local_header
    if _local_header is None:
        import struct  # loaded already: zipdir, which lists the members, imports it at its top

        _local_header = struct.Struct(_LOCAL_FORMAT)
    return _local_header


def _zlib() -> ModuleType | None:
    """``zlib``, imported at the first member read; None for an interpreter built without it."""
    global _zlib_module, _zlib_missing
    if _zlib_module is None and not _zlib_missing:
        try:
            import zlib
        except ImportError:  # pragma: no cover - an interpreter built without zlib
            _zlib_missing = True
            return None
        _zlib_module = zlib
    return _zlib_module


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def read_file(path: str, limit: int = MAX_MEMBER_SIZE, what: str = "file") -> bytes:
    """The content of the regular file at ``path``, at most ``limit`` bytes (see ``file_chunks``).

    The runtime reads every module this way, so the usual case is two ``read`` calls: the
    whole file and one byte more (``fstat`` gave its size), then one byte to see the end
    (a short read is not always the end). Only a file that grew or came in pieces is read
    on in chunks, under the same limit.
    """
    fd = os.open(path, os.O_RDONLY | _NONBLOCK | _BINARY | _CLOEXEC)
    try:
        size = _regular_size(fd, path, limit, what)
        pieces = []
        total = 0
        if size < READ_CHUNK:
            data = os.read(fd, size + 1)
            if len(data) == size:
                end = os.read(fd, 1)
                if not end:
                    return data
                data += end
            pieces.append(data)
            total = len(data)
        while True:
            if total > limit:
                raise UnsafeInputError(
                    f"{path}: grew over the limit of {limit} bytes for a {what} while being read"
                )
            piece = os.read(fd, min(READ_CHUNK, limit + 1 - total))
            if not piece:
                return b"".join(pieces)
            total += len(piece)
            pieces.append(piece)
    finally:
        os.close(fd)


def _regular_size(fd: int, path: str, limit: int, what: str) -> int:
    """The size of the open file ``fd``; UnsafeInputError unless a regular file within ``limit``."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeInputError(f"{path}: {_kind(info.st_mode)}, not a regular file")
    if info.st_size > limit:
        raise UnsafeInputError(f"{path}: {info.st_size} bytes, over the limit of {limit} bytes for a {what}")
    return info.st_size


def file_chunks(path: str, limit: int = MAX_MEMBER_SIZE, what: str = "file") -> Iterator[bytes]:
    """The content of the regular file at ``path`` in pieces of at most ``READ_CHUNK`` bytes.

    Opened without blocking (a FIFO is refused after ``fstat``, never waited on); its size is
    checked before anything is read, and at most ``limit + 1`` bytes are ever read, so a file
    that grows while it is read is refused too.
    """
    fd = os.open(path, os.O_RDONLY | _NONBLOCK | _BINARY | _CLOEXEC)
    try:
        _regular_size(fd, path, limit, what)
        total = 0
        while True:  # read(n) allocates n bytes up front: never ask for more than a chunk
            piece = os.read(fd, min(READ_CHUNK, limit + 1 - total))
            if not piece:
                return
            total += len(piece)
            if total > limit:
                raise UnsafeInputError(
                    f"{path}: grew over the limit of {limit} bytes for a {what} while being read"
                )
            yield piece
    finally:
        os.close(fd)


def _fail(where: str, member: ZipMember, reason: str) -> ZipFormatError:
    return ZipFormatError(f"{where}: member {member.name!r} {reason}")


def check_member(where: str, member: ZipMember, limit: int = MAX_MEMBER_SIZE) -> None:
    """Refuse, before anything is read, a member that could not be read within the limits."""
    if member.flags & _FLAG_ENCRYPTED:
        raise _fail(where, member, "is encrypted")
    method = member.compress_type
    if method not in (STORED, DEFLATED) or (method == DEFLATED and _zlib() is None):
        name = METHOD_NAMES.get(method, "unknown")
        raise _fail(
            where,
            member,
            f"uses compression method {method} ({name}); only stored and deflated members can be verified",
        )
    if member.file_size > limit:
        raise _fail(where, member, f"is {member.file_size} bytes, over the limit of {limit} bytes")
    if method == STORED and member.compress_size != member.file_size:
        raise _fail(where, member, "is stored with two different sizes")


def member_chunks(
    stream: BinaryIO, member: ZipMember, where: str, limit: int = MAX_MEMBER_SIZE
) -> Iterator[bytes]:
    """The member's content in pieces of at most ``READ_CHUNK`` bytes, read from ``stream``.

    The content is only proven once the iterator is exhausted (size and CRC-32 are checked
    last): a caller that hashes the pieces must not use the digest of an unfinished read.
    """
    check_member(where, member, limit)
    local = _local()
    stream.seek(member.header_offset)
    header = stream.read(local.size)
    if len(header) != local.size:
        raise _fail(where, member, "is truncated (its local header is cut off)")
    fields = local.unpack(header)
    if fields[0] != _LOCAL_SIGNATURE:
        raise _fail(where, member, "has a bad local header")
    name_size, extra_size = fields[9], fields[10]
    raw_name = stream.read(name_size)
    if raw_name != member.raw_name:
        raise _fail(where, member, "is corrupt: the local header names another file")
    stream.seek(extra_size, os.SEEK_CUR)
    if member.compress_type == STORED:
        chunks = _stored(stream, member, where)
    else:
        chunks = _inflated(stream, member, where)
    crc = 0
    size = 0
    for chunk in chunks:
        size += len(chunk)
        crc = binascii.crc32(chunk, crc)
        yield chunk
    if size != member.file_size:
        raise _fail(where, member, f"is corrupt: {size} bytes, not the declared {member.file_size}")
    if crc != member.crc:
        raise _fail(where, member, "is corrupt: bad CRC-32")


def _stored(stream: BinaryIO, member: ZipMember, where: str) -> Iterator[bytes]:
    remaining = member.compress_size
    while remaining:
        piece = stream.read(min(READ_CHUNK, remaining))
        if not piece:
            raise _fail(where, member, "is truncated (the archive ends inside it)")
        remaining -= len(piece)
        yield piece


def _inflated(stream: BinaryIO, member: ZipMember, where: str) -> Iterator[bytes]:
    """Raw deflate, fed and drained in steps, never producing more than the declared size + 1."""
    zlib = _zlib()
    assert zlib is not None  # check_member refused deflated members without it
    inflater = zlib.decompressobj(-15)
    remaining = member.compress_size
    pending = b""
    produced = 0
    declared = member.file_size
    try:
        while not inflater.eof:
            if not pending and remaining:
                pending = stream.read(min(READ_CHUNK, remaining))
                if not pending:
                    raise _fail(where, member, "is truncated (the archive ends inside it)")
                remaining -= len(pending)
            before = len(pending)
            # One byte more than is left to produce shows a member that inflates too far.
            out = inflater.decompress(pending, min(READ_CHUNK, declared - produced + 1))
            pending = inflater.unconsumed_tail
            if out:
                produced += len(out)
                if produced > declared:
                    raise _fail(where, member, f"inflates to more than its declared size of {declared} bytes")
                yield out
            elif pending and len(pending) == before:  # no output and no input taken
                raise _fail(where, member, "is corrupt: its deflate stream makes no progress")
            elif not pending and not remaining and not inflater.eof:
                raise _fail(where, member, "is corrupt: its deflate stream is truncated")
    except zlib.error as exc:
        raise _fail(where, member, f"is corrupt: bad deflate data ({exc})") from None
    if inflater.unused_data or pending or remaining:
        raise _fail(where, member, "is corrupt: data after the end of its deflate stream")


def read_member(
    archive: str, member: ZipMember, limit: int = MAX_MEMBER_SIZE, where: str | None = None
) -> bytes:
    """The whole content of ``member`` of the zip file ``archive``, checked (see above)."""
    check_member(where or archive, member, limit)
    if _pread is not None and member.compress_size <= READ_CHUNK and member.file_size < READ_CHUNK:
        content = _read_small_member(archive, member)
        if content is not None:
            return content
    # Large members, and every member that is not perfectly well formed: the stepwise reader,
    # which also says exactly what is wrong. zipdir runs on first use (package __getattr__):
    # a process that reads folders only (a sealed site-packages) never needs it.
    from . import zipdir

    with zipdir.open_archive(archive) as stream:
        return b"".join(member_chunks(stream, member, where or archive, limit))


_pread = getattr(os, "pread", None)
#: Bytes read beyond the name for the local header's extra field (zipfile writes none, or
#: a ZIP64 one of 20): header, name, extra field and data then come in one ``pread``.
_EXTRA_ROOM = 64


def _read_small_member(archive: str, member: ZipMember) -> bytes | None:
    """A member of at most ``READ_CHUNK`` bytes either way, read with one ``pread`` and
    inflated with one call bounded by its declared size (modules: every import from a zip).

    None when anything is unusual (a local header that differs, a long extra field, a short
    file, a deflate stream that does not end exactly at the member's end, a size or CRC-32
    that does not match): the caller then reads it step by step, which names the fault.
    """
    local = _local()
    fd = os.open(archive, os.O_RDONLY | _NONBLOCK | _BINARY | _CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        name_end = local.size + len(member.raw_name)
        block = _pread(fd, name_end + _EXTRA_ROOM + member.compress_size, member.header_offset)  # type: ignore[misc]  # not None here
    finally:
        os.close(fd)
    if len(block) < name_end:
        return None
    fields = local.unpack_from(block)
    if fields[0] != _LOCAL_SIGNATURE or fields[9] != len(member.raw_name):
        return None
    if block[local.size : name_end] != member.raw_name:
        return None
    start = name_end + fields[10]
    end = start + member.compress_size
    if end > len(block):
        return None
    if member.compress_type == STORED:
        content = block[start:end]
    else:
        zlib = _zlib()
        assert zlib is not None  # check_member refused deflated members without it
        inflater = zlib.decompressobj(-15)
        try:
            content = inflater.decompress(memoryview(block)[start:end], member.file_size + 1)
        except zlib.error:
            return None
        if not inflater.eof or inflater.unconsumed_tail or inflater.unused_data:
            return None
    if len(content) != member.file_size or binascii.crc32(content) != member.crc:
        return None
    return content
