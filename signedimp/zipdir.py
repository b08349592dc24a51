"""Member names of a zip archive, read from its central directory with only io, os and struct.

The verifier needs the member names of a zip on ``sys.path`` (to find its manifests, and to
refuse archives with two members of the same name, which readers disagree about) while imports
are being checked, so it cannot use ``zipfile``. This reader reads only the end records and
the central directory, finds them the way ``zipimport`` does (so both see the same archive,
prefix such as a ``#!`` line included), and is stricter than either: every inconsistency is a
ZipFormatError naming the archive and the reason.

It reads the directory even where ``zipimport`` has just read it (``python app.pyz``): its
cached dict keeps the last of two equal names and is read up to a signature rather than up
to the end record's count, so only a check of every entry in the bytes read here could
prove it describes them, and that check costs what this parse does (docs/internals.md,
"Zipapps").
"""

from __future__ import annotations

import os
import struct

from .errors import ZipFormatError
from .limits import MAX_CENTRAL_DIRECTORY_SIZE, MAX_ZIP_ENTRIES

__all__ = [
    "PREFIX_NAME",
    "ZipMember",
    "ZipCentral",
    "ZipIndex",
    "read_zip_index",
    "read_zip_directory",
    "read_zip_central",
    "read_zip_names",
    "open_archive",
    "prefix_size",
    "prefix_chunks",
]

#: The manifest path under which a zip's root manifest lists the SHA-256 of the archive's
#: prefix: the bytes before its first member (a "#!" line, any preamble), which ``./app.pyz``
#: hands to the kernel and the shell. A valid manifest path that no member may have (the
#: signer refuses it, ``verify`` and a zipapp's self-check report it), so it cannot be faked.
PREFIX_NAME = ".signedimp/prefix"


_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_BINARY = getattr(os, "O_BINARY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_S_IFMT, _S_IFREG = 0o170000, 0o100000

# End of central directory record: signature, this disk, disk of the central directory,
# entries on this disk, entries in total, central directory size and offset, comment length.
_EOCD = struct.Struct("<4s4H2IH")
_EOCD_SIGNATURE = b"PK\x05\x06"
_MAX_COMMENT = 0xFFFF

# ZIP64 end of central directory locator: signature, disk of the ZIP64 record, its offset,
# number of disks. It sits just before the end record.
_ZIP64_LOCATOR = struct.Struct("<4sIQI")
_ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"

# ZIP64 end of central directory record: signature, size of the rest of the record, versions
# made by and needed, this disk, disk of the central directory, entries on this disk, entries
# in total, central directory size and offset. Like zipfile and zipimport we expect it right
# before the locator, so it must have no extensible data (size of the rest == 44).
_ZIP64_END = struct.Struct("<4sQ2H2I4Q")
_ZIP64_END_SIGNATURE = b"PK\x06\x06"
_ZIP64_END_REST = _ZIP64_END.size - 12

# Central directory file header: signature, versions made by and needed, flags, method, time,
# date, CRC-32, compressed and uncompressed size, name / extra / comment lengths, disk start,
# internal and external attributes, offset of the local header.
_CENTRAL = struct.Struct("<4s6H3I5H2I")
#: The layout of the raw fields in ``ZipCentral.records`` (for readers of those fields).
CENTRAL_RECORD = _CENTRAL
# The same record, only the fields the reader uses (the others skipped as pad bytes).
_CENTRAL_FIELDS = struct.Struct("<4s4x2H4x3I3H8xI")
_CENTRAL_SIGNATURE = b"PK\x01\x02"
_LOCAL_HEADER_SIZE = 30

_UTF8_FLAG = 0x800
_ZIP64_EXTRA_ID = 0x0001
_EXTRA_HEADER = struct.Struct("<2H")
_UINT64 = struct.Struct("<Q")

# Code page 437, bytes 0x80-0xFF: the historical encoding of names without the UTF-8 flag.
# A table rather than bytes.decode("cp437"), which imports encodings.cp437: not something to
# do while imports are being verified.
_CP437_HIGH = (
    "\xc7\xfc\xe9\xe2\xe4\xe0\xe5\xe7"
    "\xea\xeb\xe8\xef\xee\xec\xc4\xc5"
    "\xc9\xe6\xc6\xf4\xf6\xf2\xfb\xf9"
    "\xff\xd6\xdc\xa2\xa3\xa5\u20a7\u0192"
    "\xe1\xed\xf3\xfa\xf1\xd1\xaa\xba"
    "\xbf\u2310\xac\xbd\xbc\xa1\xab\xbb"
    "\u2591\u2592\u2593\u2502\u2524\u2561\u2562\u2556"
    "\u2555\u2563\u2551\u2557\u255d\u255c\u255b\u2510"
    "\u2514\u2534\u252c\u251c\u2500\u253c\u255e\u255f"
    "\u255a\u2554\u2569\u2566\u2560\u2550\u256c\u2567"
    "\u2568\u2564\u2565\u2559\u2558\u2552\u2553\u256b"
    "\u256a\u2518\u250c\u2588\u2584\u258c\u2590\u2580"
    "\u03b1\xdf\u0393\u03c0\u03a3\u03c3\xb5\u03c4"
    "\u03a6\u0398\u03a9\u03b4\u221e\u03c6\u03b5\u2229"
    "\u2261\xb1\u2265\u2264\u2320\u2321\xf7\u2248"
    "\xb0\u2219\xb7\u221a\u207f\xb2\u25a0\xa0"
)
_CP437_TABLE = {0x80 + index: char for index, char in enumerate(_CP437_HIGH)}


class ZipMember:
    """One member as the central directory describes it: what a reader may want besides the name.

    ``header_offset`` is the position of the local header in the file, prefix included (as
    ``zipfile.ZipInfo.header_offset``); sizes are the ZIP64 values when the entry has them.
    """

    __slots__ = (
        "name",
        "compress_size",
        "file_size",
        "header_offset",
        "compress_type",
        "crc",
        "flags",
        "raw_name",
    )

    def __init__(
        self,
        name: str,
        compress_size: int,
        file_size: int,
        header_offset: int,
        compress_type: int,
        crc: int,
        flags: int,
        raw_name: bytes = b"",
    ) -> None:
        self.name = name
        self.raw_name = raw_name  # as stored: the local header must repeat these bytes
        self.compress_size = compress_size
        self.file_size = file_size
        self.header_offset = header_offset
        self.compress_type = compress_type
        self.crc = crc
        self.flags = flags

    def _fields(self) -> tuple:
        return tuple(getattr(self, field) for field in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # mutable, like ZipInfo

    def __repr__(self) -> str:
        fields = ", ".join(f"{field}={getattr(self, field)!r}" for field in self.__slots__)
        return f"ZipMember({fields})"


def read_zip_names(archive: str | os.PathLike) -> list[str]:
    """The member names of ``archive``, in central directory order.

    Raises ZipFormatError for a truncated or corrupt archive, a central directory that points
    outside the file, and duplicate names; OSError when the file cannot be read at all.
    """
    return [entry.name for entry in read_zip_directory(archive)]


def read_zip_directory(archive: str | os.PathLike, stream=None) -> list[ZipMember]:
    """The central directory entries of ``archive``, in order; see ``read_zip_names``.

    ``stream``: the archive's bytes, open as a binary file (``io.BytesIO`` of bytes already
    read and checked whole): read from there, the file is not opened again.
    """
    return _read_directory(os.fspath(archive), None, stream).members


class ZipIndex:
    """What the verifier keeps of an archive's central directory (``read_zip_index``).

    ``rows``: file name -> its ``ZipMember`` fields as a plain tuple (``member`` makes the
    object): a zipapp's start-up reads a thousand entries and a few dozen members, and tuples
    are quicker to make than objects, and cost the garbage collector nothing once it has seen
    them. ``names`` are the files (folder entries, ending in ``/``, are not files), ``dirs``
    every folder, stored as an entry or implied by a name; ``prefix_size`` as ``prefix_size``.
    """

    __slots__ = ("rows", "names", "dirs", "prefix_size")

    def __init__(self, rows: dict[str, tuple], dirs: frozenset[str], prefix_size: int) -> None:
        self.rows = rows
        self.names = frozenset(rows)
        self.dirs = dirs
        self.prefix_size = prefix_size

    def member(self, name: str) -> ZipMember | None:
        """The member named ``name`` (a file), or None."""
        row = self.rows.get(name)
        return None if row is None else ZipMember(*row)


def read_zip_index(archive: str | os.PathLike, stream=None) -> ZipIndex:
    """The files, folders and prefix size of ``archive``, with every check of
    ``read_zip_directory`` (``stream`` as there)."""
    rows, names, lowest = _read_rows(os.fspath(archive), None, stream)[:3]
    files = dict(zip(names, rows))
    slashed = _folder_entries(names)
    for name in slashed:
        del files[name]
    dirs: set[str] = set()
    # The folder of each file once (a zipapp has a thousand files in a hundred folders),
    # then its parents: climb until a folder already seen (its parents are in too).
    for head in {name.rpartition("/")[0] for name in files}:
        while head and head not in dirs:
            dirs.add(head)
            head = head.rpartition("/")[0]
    dirs.update(name.rstrip("/") for name in slashed)
    return ZipIndex(files, frozenset(dirs), lowest)


def _folder_entries(names: list[str]) -> list[str]:
    """The names that end in ``/`` (folder entries), looked for only if the joined names have
    one: the archives the verifier reads most (zipapps) have none, and a loop over a thousand
    names costs more than one search of their joined text (1 M instructions for pip's 961)."""
    if "/\x00" not in "\x00".join(names) + "\x00":
        return []
    return [name for name in names if name.endswith("/")]


class ZipCentral:
    """The whole central directory of an archive, as ``read_zip_central`` read and checked it.

    ``members`` is what ``read_zip_directory`` returns; ``records`` holds, for each member, the
    raw central record fields (``CENTRAL_RECORD`` unpacked), its extra field and its comment;
    ``directory_start`` is where the central directory starts in the file (prefix included),
    ``comment`` the archive comment and ``size`` the file's size when it was read.
    """

    __slots__ = ("members", "records", "directory_start", "comment", "size")

    def __init__(
        self,
        members: list[ZipMember],
        records: list[tuple[tuple, bytes, bytes]],
        directory_start: int,
        comment: bytes,
        size: int,
    ) -> None:
        self.members = members
        self.records = records
        self.directory_start = directory_start
        self.comment = comment
        self.size = size


def read_zip_central(archive: str | os.PathLike) -> ZipCentral:
    """``read_zip_directory`` with everything a zip rewriter needs besides the names: the raw
    central records, where the directory starts and the archive comment (the signer's one
    parse of the directory: every check of ``read_zip_directory`` applies)."""
    return _read_directory(os.fspath(archive), [])


def _read_directory(path: str, records: list[tuple[tuple, bytes, bytes]] | None, stream=None) -> ZipCentral:
    """The checks and parse of ``read_zip_directory``; raw records into ``records`` unless None;
    from ``stream`` (an open binary file of the archive's bytes) unless None."""
    rows, _, _, cd_start, comment, size = _read_rows(path, records, stream)
    return ZipCentral([ZipMember(*row) for row in rows], records or [], cd_start, comment, size)


def _read_rows(
    path: str, records: list[tuple[tuple, bytes, bytes]] | None, stream=None
) -> tuple[list[tuple], list[str], int, int, bytes, int]:
    """``_read_directory`` before any ``ZipMember`` is made: (rows, names, lowest header
    offset, start of the central directory, archive comment, file size)."""

    def fail(reason: str) -> ZipFormatError:
        return ZipFormatError(f"{path}: {reason}")

    with open_archive(path) if stream is None else stream as fp:
        size = fp.seek(0, os.SEEK_END)
        end_position, end = _read_end_record(fp, size, fail)
        _, disk, cd_disk, disk_entries, entries, cd_size, cd_offset, _ = end

        # With a ZIP64 locator, the ZIP64 record holds the real values (zipfile does the same),
        # and the central directory ends where that record starts.
        directory_end = end_position
        if (
            end_position >= _ZIP64_LOCATOR.size
            and _read_at(fp, end_position - _ZIP64_LOCATOR.size, 4) == _ZIP64_LOCATOR_SIGNATURE
        ):
            directory_end, (disk, cd_disk, disk_entries, entries, cd_size, cd_offset) = _read_zip64_end(
                fp, end_position, end, fail
            )
        if disk != 0 or cd_disk != 0 or disk_entries != entries:
            raise fail("multi-disk (spanned) archives are not supported")

        # Where the central directory starts, and how many bytes precede the archive proper
        # (a "#!" line, a self-extractor stub): computed from the end, as zipimport does.
        if cd_size > directory_end:
            raise fail("central directory size points before the start of the file")
        cd_start = directory_end - cd_size
        prefix = cd_start - cd_offset
        if prefix < 0:
            raise fail("central directory offset points beyond the central directory")
        if entries > cd_size // _CENTRAL.size:
            raise fail(f"{entries} entries cannot fit in a central directory of {cd_size} bytes")
        if entries > MAX_ZIP_ENTRIES:
            raise fail(f"{entries} entries, over the limit of {MAX_ZIP_ENTRIES}")
        if cd_size > MAX_CENTRAL_DIRECTORY_SIZE:
            raise fail(
                f"central directory of {cd_size} bytes, over the limit of {MAX_CENTRAL_DIRECTORY_SIZE} bytes"
            )
        directory = _read_at(fp, cd_start, cd_size)
        if len(directory) != cd_size:
            raise fail("truncated central directory")
        comment = b""
        if records is not None and end[-1]:
            comment = _read_at(fp, end_position + _EOCD.size, end[-1])

    rows, names, lowest = _scan_central_directory(directory, entries, cd_start, prefix, fail, records)
    return rows, names, lowest, cd_start, comment, size


def prefix_size(members: list[ZipMember]) -> int:
    """How many bytes precede the first member (its local header): the archive's prefix.

    The same rule as the signer's (``zipfile``'s lowest header offset), so both hash the same
    bytes; a signed archive always has a member (its manifest).
    """
    return min((m.header_offset for m in members), default=0)


def prefix_chunks(fp, size: int, where: str):
    """The first ``size`` bytes (``prefix_size``) of the archive open as ``fp`` (binary), in
    bounded chunks (a preamble can be a whole self-extractor), for the caller to hash;
    ZipFormatError naming ``where`` if the file got shorter meanwhile."""
    fp.seek(0)
    while size > 0:
        chunk = fp.read(min(size, 1 << 20))
        if not chunk:
            raise ZipFormatError(f"{where}: file changed while being read")
        yield chunk
        size -= len(chunk)


def open_archive(path: str):
    """``path`` opened for binary reading, if it is a regular file.

    Opened without blocking and checked with ``fstat`` on the open descriptor, so a FIFO,
    socket or device put in an archive's place is refused (ZipFormatError), never waited on.
    """
    fd = os.open(path, os.O_RDONLY | _NONBLOCK | _BINARY | _CLOEXEC)
    try:
        if os.fstat(fd).st_mode & _S_IFMT != _S_IFREG:
            raise ZipFormatError(f"{path}: not a regular file")
        if _NONBLOCK:
            os.set_blocking(fd, True)
        return open(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _read_at(fp, offset: int, size: int) -> bytes:
    fp.seek(offset)
    return fp.read(size)


def _unpack_at(fp, layout: struct.Struct, offset: int, fail) -> tuple:
    data = _read_at(fp, offset, layout.size)
    if len(data) != layout.size:
        raise fail("file changed while being read")
    return layout.unpack(data)


def _read_end_record(fp, size: int, fail) -> tuple[int, tuple]:
    """Find the end of central directory record: its position and fields.

    As zipimport: the record at the very end if it is there, else the last signature in the
    final 64 KiB + 22 bytes (the record followed by a comment). Stricter: the comment must end
    exactly at the end of the file, so a truncated or extended archive is refused.
    """
    if size < _EOCD.size:
        raise fail("file too short to be a zip archive")
    # The usual case first, without reading 64 KiB: the record, and no comment, at the end.
    last = _read_at(fp, size - _EOCD.size, _EOCD.size)
    if len(last) == _EOCD.size and last[:4] == _EOCD_SIGNATURE:
        end = _EOCD.unpack(last)
        if end[-1]:  # as below: a comment after a record that ends the file
            raise fail("archive comment does not end at the end of the file (truncated or extended)")
        return size - _EOCD.size, end
    tail_size = min(size, _EOCD.size + _MAX_COMMENT)
    tail = _read_at(fp, size - tail_size, tail_size)
    if len(tail) != tail_size:
        raise fail("file changed while being read")
    position = tail_size - _EOCD.size
    if tail[position : position + 4] != _EOCD_SIGNATURE:
        position = tail.rfind(_EOCD_SIGNATURE)
        if position < 0:
            raise fail("no end of central directory record (not a zip archive, or truncated)")
        if tail_size - position < _EOCD.size:
            raise fail("truncated end of central directory record")
    end = _EOCD.unpack_from(tail, position)
    comment_size = end[-1]
    if position + _EOCD.size + comment_size != tail_size:
        raise fail("archive comment does not end at the end of the file (truncated or extended)")
    return size - tail_size + position, end


def _read_zip64_end(fp, end_position: int, end: tuple, fail) -> tuple[int, tuple]:
    """Read the ZIP64 locator and record before ``end_position``: the record's position and
    (disk, central directory disk, entries on this disk, entries, cd size, cd offset).

    Each field of the ordinary end record ``end`` must be its "see ZIP64" value (all bits set)
    or equal the ZIP64 one, so that readers which ignore ZIP64 cannot see another directory.
    """
    locator_position = end_position - _ZIP64_LOCATOR.size
    _, record_disk, record_offset, disks = _unpack_at(fp, _ZIP64_LOCATOR, locator_position, fail)
    if record_disk != 0 or disks > 1:
        raise fail("multi-disk (spanned) archives are not supported")
    record_position = locator_position - _ZIP64_END.size
    if record_position < 0:
        raise fail("truncated ZIP64 end of central directory record")
    (signature, rest_size, _, _, disk, cd_disk, disk_entries, entries, cd_size, cd_offset) = _unpack_at(
        fp, _ZIP64_END, record_position, fail
    )
    if signature != _ZIP64_END_SIGNATURE:
        raise fail("ZIP64 locator without a ZIP64 end of central directory record before it")
    if rest_size != _ZIP64_END_REST:
        raise fail("ZIP64 end of central directory record with extensible data is not supported")
    if record_offset != cd_offset + cd_size:
        raise fail("ZIP64 locator and end of central directory record disagree")
    values = (disk, cd_disk, disk_entries, entries, cd_size, cd_offset)
    for old, new, all_set in zip(end[1:7], values, (0xFFFF,) * 4 + (0xFFFFFFFF,) * 2):
        if old != new and old != all_set:
            raise fail("end of central directory record and its ZIP64 record disagree")
    return record_position, values


def _parse_central_directory(
    directory: bytes, entries: int, cd_start: int, prefix: int, fail, records: list | None = None
) -> list[ZipMember]:
    """The entries of the central directory ``directory``, which must hold exactly ``entries``;
    each entry's raw fields, extra field and comment appended to ``records`` unless it is None."""
    rows = _scan_central_directory(directory, entries, cd_start, prefix, fail, records)[0]
    return [ZipMember(*row) for row in rows]


def _scan_central_directory(
    directory: bytes, entries: int, cd_start: int, prefix: int, fail, records: list | None = None
) -> tuple[list[tuple], list[str], int]:
    """``_parse_central_directory`` as plain tuples: (rows in ``ZipMember`` field order, the
    names, the lowest header offset: the prefix size).

    One pass, written for speed (a zipapp's start-up reads every entry of its archive): the
    fields are unpacked with one ``struct`` call, names that are plain ASCII are decoded
    without a helper call, and the checks that look at every name at once (NUL characters,
    duplicates) run once over all of them, in C, and find the offending entry only if one fails.
    """
    result: list[tuple] = []
    append = result.append
    lowest = cd_start
    names: list[str] = []
    add_name = names.append
    unpack_from = _CENTRAL_FIELDS.unpack_from
    header_size = _CENTRAL.size
    limit = len(directory)
    data_end = cd_start - _LOCAL_HEADER_SIZE - prefix  # last byte a member's data may reach
    position = 0
    number = 0
    for number in range(1, entries + 1):
        if position + header_size > limit:
            raise fail(f"central directory entry {number} is truncated")
        (
            signature,
            flags,
            method,
            crc,
            compress_size,
            file_size,
            name_size,
            extra_size,
            comment_size,
            header_offset,
        ) = unpack_from(directory, position)
        if signature != _CENTRAL_SIGNATURE:
            raise fail(f"central directory entry {number} has a bad signature")
        name_start = position + header_size
        extra_start = name_start + name_size
        record_start = position
        position = extra_start + extra_size + comment_size
        if position > limit:
            raise fail(f"central directory entry {number} is truncated")
        raw_name = directory[name_start:extra_start]
        if raw_name.isascii():
            name = raw_name.decode("ascii")
        else:
            name = _decode_name(raw_name, flags, number, fail)
        if extra_size:
            file_size, compress_size, header_offset = _apply_zip64_extra(
                directory[extra_start : extra_start + extra_size],
                file_size,
                compress_size,
                header_offset,
                name,
                fail,
            )
        # The member's local header and data come before the central directory.
        if header_offset + compress_size > data_end:
            raise fail(f"member {name!r} points beyond the start of the central directory")
        add_name(name)
        header_offset += prefix
        if header_offset < lowest:
            lowest = header_offset
        append((name, compress_size, file_size, header_offset, method, crc, flags, raw_name))
        if records is not None:
            comment_start = extra_start + extra_size
            records.append(
                (
                    _CENTRAL.unpack_from(directory, record_start),
                    directory[extra_start:comment_start],
                    directory[comment_start:position],
                )
            )
    if position != limit:
        raise fail("central directory size does not match its entries")
    _check_names(names, fail)
    return result, names, lowest if result else 0


def _check_names(names: list[str], fail) -> None:
    """No NUL character in a name, no two names alike (backslashes counting as separators).

    zipfile cuts a name at NUL, zipimport does not: the ambiguity is refused. zipfile (on
    Windows) and zipimport treat backslashes as separators, so ``a\\b`` and ``a/b`` are one
    name. Checked over all names at once; the first offending entry (in directory order) is
    then named.
    """
    joined = "\x00".join(names)  # NUL cannot come from a separator but only from a name
    if joined.count("\x00") != max(len(names) - 1, 0):
        for name in names:
            if "\x00" in name:
                raise fail(f"NUL character in member name {name!r}")
    keys = [name.replace("\\", "/") for name in names] if "\\" in joined else names
    if len(set(keys)) != len(keys):
        seen: set[str] = set()
        for name, key in zip(names, keys):
            if key in seen:
                raise fail(f"duplicate member name {name!r}")
            seen.add(key)


def _decode_name(raw: bytes, flags: int, number: int, fail) -> str:
    """UTF-8 when flag bit 11 says so, code page 437 otherwise (as zipfile and zipimport)."""
    if flags & _UTF8_FLAG:
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise fail(f"name of central directory entry {number} is not valid UTF-8") from None
    elif raw.isascii():
        name = raw.decode("ascii")
    else:
        name = raw.decode("latin-1").translate(_CP437_TABLE)
    if "\x00" in name:  # zipfile cuts the name there, zipimport does not: refuse the ambiguity
        raise fail(f"NUL character in member name {name!r}")
    return name


def _apply_zip64_extra(
    extra: bytes, file_size: int, compress_size: int, header_offset: int, name: str, fail
) -> tuple[int, int, int]:
    """Replace the 32-bit fields set to 0xFFFFFFFF by their values from the ZIP64 extra field.

    Extra fields must be well formed (zipfile refuses one that overruns, too); up to three
    trailing bytes, too few for a field header, are ignored as zipfile ignores them.
    """
    position = 0
    while position + _EXTRA_HEADER.size <= len(extra):
        field_id, field_size = _EXTRA_HEADER.unpack_from(extra, position)
        start = position + _EXTRA_HEADER.size
        position = start + field_size
        if position > len(extra):
            raise fail(f"corrupt extra field in member {name!r}")
        if field_id != _ZIP64_EXTRA_ID:
            continue
        values = extra[start:position]
        wanted = [file_size == 0xFFFFFFFF, compress_size == 0xFFFFFFFF, header_offset == 0xFFFFFFFF]
        if len(values) < 8 * sum(wanted):
            raise fail(f"truncated ZIP64 extra field in member {name!r}")
        offset = 0
        fields = [file_size, compress_size, header_offset]
        for index, needed in enumerate(wanted):
            if needed:
                (fields[index],) = _UINT64.unpack_from(values, offset)
                offset += 8
        file_size, compress_size, header_offset = fields
    return file_size, compress_size, header_offset
