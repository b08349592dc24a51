"""The zip central-directory reader: same names as zipfile, and loud on anything odd."""

from __future__ import annotations

import ast
import struct
import warnings
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signedimp import zipdir
from signedimp.errors import ZipFormatError
from signedimp.zipdir import ZipMember, read_zip_directory, read_zip_names

MEMBERS = {
    "__main__.py": b"print('hello')\n",
    "pkg/__init__.py": b"",
    "pkg/mod.py": b"x = 1\n" * 200,
    "pkg/data/blob.bin": bytes(range(256)) * 8,
    "pkg/\u00fcnicode \u65e5\u672c.py": b"y = 2\n",
    "empty-dir/": b"",
}


def make_zip(
    path: Path,
    members=MEMBERS,
    *,
    compression=zipfile.ZIP_STORED,
    comment: bytes = b"",
    prefix: bytes = b"",
    zip64_member: str | None = None,
) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            if name == zip64_member:
                with zf.open(name, "w", force_zip64=True) as fp:
                    fp.write(data)
            else:
                zf.writestr(name, data)
        zf.comment = comment
    if prefix:
        path.write_bytes(prefix + path.read_bytes())
    return path


def assert_same_as_zipfile(path: Path) -> list[ZipMember]:
    entries = read_zip_directory(path)
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        assert read_zip_names(str(path)) == zf.namelist()
    assert [e.name for e in entries] == [i.filename for i in infos]
    for entry, info in zip(entries, infos):
        assert (
            entry.compress_size,
            entry.file_size,
            entry.header_offset,
            entry.compress_type,
            entry.crc,
            entry.flags,
        ) == (
            info.compress_size,
            info.file_size,
            info.header_offset,
            info.compress_type,
            info.CRC,
            info.flag_bits,
        )
    # read_zip_central: the same entries, and the raw fields a zip rewriter needs (the signer's
    # only parse of the directory), as zipfile reads them.
    central = zipdir.read_zip_central(path)
    assert central.members == entries
    assert central.directory_start == zf.start_dir
    assert central.comment == zf.comment
    assert central.size == path.stat().st_size
    for (fields, extra, comment), info in zip(central.records, infos, strict=True):
        assert zipdir.CENTRAL_RECORD.size == 46 and fields[0] == b"PK\x01\x02"
        assert (fields[1], fields[2]) == (
            info.create_version | info.create_system << 8,
            info.extract_version | info.reserved << 8,
        )
        assert (fields[14], fields[15]) == (info.internal_attr, info.external_attr)
        assert (extra, comment) == (info.extra, info.comment)
    return entries


def mutate(path: Path, data: bytes) -> Path:
    target = path.with_name("mutated.zip")
    target.write_bytes(data)
    return target


def end_record_offset(data: bytes) -> int:
    return data.rindex(b"PK\x05\x06")


# -- archives that must read exactly as zipfile reads them ------------------------------------


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_stored_and_deflated(tmp_path: Path, compression: int) -> None:
    path = make_zip(tmp_path / "a.zip", compression=compression)
    entries = assert_same_as_zipfile(path)
    assert [e.name for e in entries] == list(MEMBERS)
    assert {e.compress_type for e in entries} == {compression}


@pytest.mark.parametrize("comment", [b"a comment", b"PK\x05", b"x" * 0xFFFF])
def test_archive_comment(tmp_path: Path, comment: bytes) -> None:
    assert_same_as_zipfile(make_zip(tmp_path / "c.zip", comment=comment))


@pytest.mark.parametrize(
    "prefix",
    [
        b"#!/usr/bin/env python3\n",
        b"#!/usr/bin/python3 -I\n" + b"\x00" * 5000,
        b"PK\x03\x04 looks like a local header",
    ],
)
def test_prefixed_archive(tmp_path: Path, prefix: bytes) -> None:
    path = make_zip(tmp_path / "app.pyz", prefix=prefix, comment=b"with a comment too")
    entries = assert_same_as_zipfile(path)
    assert entries[0].header_offset == len(prefix)


def test_force_zip64_member(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "z.zip", compression=zipfile.ZIP_DEFLATED, zip64_member="pkg/mod.py")
    assert_same_as_zipfile(path)


@pytest.mark.parametrize("prefix", [b"", b"#!/usr/bin/env python3\n"])
def test_zip64_end_records_and_extra_fields(tmp_path: Path, monkeypatch, prefix: bytes) -> None:
    # Lowering zipfile's limits makes it write what it writes for huge archives: ZIP64 extra
    # fields in the central directory and the ZIP64 end record and locator.
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 0)
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 0)
    path = make_zip(tmp_path / "z64.zip", prefix=prefix, comment=b"zip64 comment")
    monkeypatch.undo()
    data = path.read_bytes()
    assert b"PK\x06\x06" in data and b"PK\x06\x07" in data
    entries = assert_same_as_zipfile(path)
    assert entries[-1].header_offset > len(prefix)


def test_empty_archive(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "empty.zip", members={})
    assert read_zip_names(path) == []
    assert read_zip_names(make_zip(tmp_path / "empty2.zip", members={}, comment=b"c")) == []


def test_path_like_and_str(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "a.zip")
    assert read_zip_names(path) == read_zip_names(str(path)) == list(MEMBERS)


def test_cp437_names(tmp_path: Path) -> None:
    # zipfile writes non-ASCII names as UTF-8; patch in a legacy (cp437, flag bit 11 clear) name.
    path = make_zip(tmp_path / "a.zip", members={"caf?.py": b"", "\u2591.txt": b""})
    data = path.read_bytes().replace(b"caf?.py", b"caf\x82.py")
    names = assert_same_as_zipfile(mutate(path, data))
    assert [e.name for e in names] == ["caf\u00e9.py", "\u2591.txt"]
    every_byte = bytes(range(0x80, 0x100))
    assert zipdir._decode_name(every_byte, 0, 1, None) == every_byte.decode("cp437")


def test_many_entries(tmp_path: Path) -> None:
    members = {f"pkg/m{i}.py": b"" for i in range(3000)}
    assert read_zip_names(make_zip(tmp_path / "many.zip", members=members)) == list(members)


def test_zipdir_imports_only_os_struct() -> None:
    source = Path(zipdir.__file__).read_text(encoding="utf-8")
    imported = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))
    assert imported == {"__future__", "os", "struct", ".errors", ".limits"}


# -- archives that must be refused ------------------------------------------------------------


def test_duplicate_names(tmp_path: Path) -> None:
    path = tmp_path / "dup.zip"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns "Duplicate name"
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("pkg/mod.py", b"good")
            zf.writestr("other.py", b"")
            zf.writestr("pkg/mod.py", b"evil")
    with pytest.raises(ZipFormatError, match="duplicate member name 'pkg/mod.py'") as info:
        read_zip_names(path)
    assert str(path) in str(info.value)


def test_names_equal_up_to_backslash_are_duplicates(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "bs.zip", members={"pkg/mod.py": b"", "pkg\\mod.py": b""})
    with pytest.raises(ZipFormatError, match="duplicate"):
        read_zip_names(path)


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "too short"),
        (b"PK\x05\x06" + b"\x00" * 17, "too short"),
        (b"not a zip file at all, just text\n" * 10, "no end of central directory"),
        (b"PK\x03\x04" + b"\x00" * 100, "no end of central directory"),
        (b"PK\x05\x06" + b"\x00" * 18 + b"trailing", "comment"),
    ],
)
def test_not_zip_archives(tmp_path: Path, data: bytes, reason: str) -> None:
    path = tmp_path / "bad.zip"
    path.write_bytes(data)
    with pytest.raises(ZipFormatError, match=reason) as info:
        read_zip_names(path)
    assert str(path) in str(info.value)


def test_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_zip_names(tmp_path / "nope.zip")


def _patched_end_record(data: bytes, **fields) -> bytes:
    pos = end_record_offset(data)
    names = [
        "signature",
        "disk",
        "cd_disk",
        "disk_entries",
        "entries",
        "cd_size",
        "cd_offset",
        "comment_size",
    ]
    values = dict(zip(names, struct.unpack_from("<4s4H2IH", data, pos)))
    values.update(fields)
    record = struct.pack("<4s4H2IH", *(values[n] for n in names))
    return data[:pos] + record + data[pos + 22 :]


@pytest.mark.parametrize(
    "fields, reason",
    [
        ({"cd_offset": 0xFFFFFF}, "offset points beyond"),
        ({"cd_size": 0xFFFFFF}, "size points before the start"),
        ({"cd_size": 10}, "central directory"),
        ({"entries": 7, "disk_entries": 7}, "central directory"),
        ({"entries": 5, "disk_entries": 5}, "central directory size does not match"),
        ({"entries": 0, "disk_entries": 0}, "central directory size does not match"),
        ({"entries": 0xFFFF, "disk_entries": 0xFFFF}, "cannot fit"),
        ({"disk": 1}, "multi-disk"),
        ({"disk_entries": 1}, "multi-disk"),
        ({"comment_size": 3}, "comment"),
    ],
)
def test_corrupt_end_record(tmp_path: Path, fields: dict, reason: str) -> None:
    path = make_zip(tmp_path / "a.zip")
    bad = mutate(path, _patched_end_record(path.read_bytes(), **fields))
    with pytest.raises(ZipFormatError, match=reason):
        read_zip_names(bad)


def test_trailing_bytes_after_the_end_record(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "a.zip", comment=b"comment")
    with pytest.raises(ZipFormatError, match="comment does not end"):
        read_zip_names(mutate(path, path.read_bytes() + b"appended"))


def _central_entries(data: bytes) -> list[int]:
    return [i for i in range(len(data)) if data.startswith(b"PK\x01\x02", i)]


def test_local_header_offset_outside_the_archive(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "a.zip")
    data = bytearray(path.read_bytes())
    entry = _central_entries(bytes(data))[1]
    struct.pack_into("<I", data, entry + 42, 0x7FFFFFF)
    with pytest.raises(ZipFormatError, match="beyond the start of the central directory"):
        read_zip_names(mutate(path, bytes(data)))


def test_member_size_overlapping_the_central_directory(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "a.zip")
    data = bytearray(path.read_bytes())
    entry = _central_entries(bytes(data))[-1]
    struct.pack_into("<I", data, entry + 20, 1 << 20)  # compressed size
    with pytest.raises(ZipFormatError, match="beyond the start of the central directory"):
        read_zip_names(mutate(path, bytes(data)))


def test_bad_central_signature(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "a.zip")
    data = bytearray(path.read_bytes())
    entry = _central_entries(bytes(data))[2]
    data[entry : entry + 4] = b"PK\x01\x03"
    with pytest.raises(ZipFormatError, match="entry 3 has a bad signature"):
        read_zip_names(mutate(path, bytes(data)))


def test_invalid_utf8_name(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "a.zip", members={"\u00e9.py": b""})
    data = path.read_bytes().replace("\u00e9".encode(), b"\xc3\x28")
    with pytest.raises(ZipFormatError, match="not valid UTF-8"):
        read_zip_names(mutate(path, data))


def test_nul_in_name(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "a.zip", members={"evil.py?x": b"", "evil.py": b""})
    data = path.read_bytes().replace(b"evil.py?x", b"evil.py\x00x")
    with pytest.raises(ZipFormatError, match="NUL"):
        read_zip_names(mutate(path, data))


def test_nul_in_non_ascii_name(tmp_path: Path) -> None:
    # Non-ASCII names are decoded apart from ASCII ones (which take a fast path): both are checked.
    path = make_zip(tmp_path / "a.zip", members={"\u00e9vil.py?x": b"", "ok.py": b""})
    data = path.read_bytes().replace(b"vil.py?x", b"vil.py\x00x")
    with pytest.raises(ZipFormatError, match="NUL character in member name '\u00e9vil.py"):
        read_zip_names(mutate(path, data))


def test_first_offending_name_is_named(tmp_path: Path) -> None:
    # NUL characters and duplicates are looked for over all names at once: the report still
    # names the first offending entry in directory order, as a reader going entry by entry would.
    members = {f"pkg/m{i}.py": b"" for i in range(50)} | {"pkg/a?.py": b"", "pkg/b?.py": b""}
    path = make_zip(tmp_path / "a.zip", members=members)
    data = path.read_bytes().replace(b"pkg/a?.py", b"pkg/a\x00.py").replace(b"pkg/b?.py", b"pkg/b\x00.py")
    with pytest.raises(ZipFormatError, match=r"NUL character in member name 'pkg/a\\x00.py'"):
        read_zip_names(mutate(path, data))
    dup = tmp_path / "dup.zip"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns "Duplicate name"
        with zipfile.ZipFile(dup, "w") as zf:
            for name in ("x.py", "b.py", "a.py", "pkg\\b.py", "b.py", "a.py"):
                zf.writestr(name, b"")
    with pytest.raises(ZipFormatError, match=r"duplicate member name 'b.py'"):
        read_zip_names(dup)


def test_overrunning_extra_field(tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo("a.py")
        info.extra = struct.pack("<2H", 0x7075, 4) + b"abcd"
        zf.writestr(info, b"")
    assert read_zip_names(path) == ["a.py"]
    data = bytearray(path.read_bytes())
    entry = _central_entries(bytes(data))[0]
    size_at = entry + 46 + len("a.py") + 2
    data[size_at : size_at + 2] = struct.pack("<H", 9)  # the field overruns the extra data
    with pytest.raises(ZipFormatError, match="corrupt extra field"):
        read_zip_names(mutate(path, bytes(data)))


def test_zip64_inconsistencies(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 0)
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 0)
    path = make_zip(tmp_path / "z64.zip")
    monkeypatch.undo()
    data = path.read_bytes()
    record = data.rindex(b"PK\x06\x06")
    locator = data.rindex(b"PK\x06\x07")

    def refused(bad: bytes, reason: str) -> None:
        with pytest.raises(ZipFormatError, match=reason):
            read_zip_names(mutate(path, bad))

    refused(data[:record] + b"XX\x06\x06" + data[record + 4 :], "without a ZIP64 end")
    refused(data[: record + 4] + struct.pack("<Q", 52) + data[record + 12 :], "extensible data")
    refused(data[: locator + 4] + struct.pack("<I", 1) + data[locator + 8 :], "multi-disk")
    refused(data[: locator + 8] + struct.pack("<Q", 1) + data[locator + 16 :], "disagree")
    # The 32-bit end record must agree with the ZIP64 one (or say "see ZIP64").
    refused(_patched_end_record(data, entries=1, disk_entries=1), "disagree")
    assert read_zip_names(
        mutate(
            path,
            _patched_end_record(
                data,
                entries=0xFFFF,
                disk_entries=0xFFFF,
                cd_size=0xFFFFFFFF,
                cd_offset=0xFFFFFFFF,
            ),
        )
    ) == list(MEMBERS)
    # A ZIP64 extra field too short for the three values it must hold.
    entry = _central_entries(data)[2]
    name_size = struct.unpack_from("<H", data, entry + 28)[0]
    field_at = entry + 46 + name_size
    assert struct.unpack_from("<2H", data, field_at) == (0x0001, 24)
    short = bytearray(data)
    struct.pack_into("<H", short, field_at + 2, 16)  # the last 8 bytes read as a junk field
    refused(bytes(short), "truncated ZIP64 extra field in member 'pkg/mod.py'")


# -- truncation and garbage never raise anything but ZipFormatError ---------------------------


@pytest.mark.parametrize("kind", ["plain", "prefixed", "zip64"])
def test_every_truncation(tmp_path: Path, monkeypatch, kind: str) -> None:
    if kind == "zip64":
        monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 0)
        monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 0)
    members = {"a.py": b"a = 1\n" * 20, "b/c.py": b"", "d.txt": b"PK\x05\x06" + b"\x00" * 18}
    path = make_zip(
        tmp_path / "t.zip",
        members=members,
        comment=b"cc",
        prefix=b"#!/bin/sh\n" if kind == "prefixed" else b"",
    )
    monkeypatch.undo()
    data = path.read_bytes()
    target = tmp_path / "cut.zip"
    for cut in [*range(len(data)), *[-n for n in range(1, len(data))]]:
        target.write_bytes(data[:cut] if cut >= 0 else data[-cut:])
        try:
            names = read_zip_names(target)
        except ZipFormatError:
            continue
        # Whatever is accepted must be a consistent archive: zipfile reads the same names.
        with zipfile.ZipFile(target) as zf:
            assert names == zf.namelist(), cut


_valid_zip_cache: dict[str, bytes] = {}


def _valid_zip_bytes(tmp_path_factory) -> bytes:
    if "data" not in _valid_zip_cache:
        path = tmp_path_factory.mktemp("valid") / "v.zip"
        _valid_zip_cache["data"] = make_zip(path, compression=zipfile.ZIP_DEFLATED, comment=b"c").read_bytes()
    return _valid_zip_cache["data"]


def _read_or_refuse(tmp_path: Path, data: bytes) -> None:
    target = tmp_path / "fuzz.zip"
    target.write_bytes(data)
    try:
        names = read_zip_names(target)
    except ZipFormatError:
        return
    assert all(isinstance(name, str) for name in names)
    assert len(set(names)) == len(names)


@given(st.binary(max_size=600))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_random_garbage(tmp_path: Path, data: bytes) -> None:
    _read_or_refuse(tmp_path, data)


@given(st.binary(max_size=300), st.binary(min_size=22, max_size=22), st.binary(max_size=40))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_random_garbage_with_end_signature(tmp_path: Path, head: bytes, end: bytes, comment: bytes) -> None:
    _read_or_refuse(tmp_path, head + b"PK\x05\x06" + end[4:] + comment)


@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=6))
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_random_byte_changes(tmp_path: Path, tmp_path_factory, changes) -> None:
    data = bytearray(_valid_zip_bytes(tmp_path_factory))
    for position, value in changes:
        data[position % len(data)] = value
    _read_or_refuse(tmp_path, bytes(data))


@pytest.mark.parametrize("prefix", [b"", b"#!/usr/bin/env python3\n"])
def test_index_is_the_directory_without_member_objects(tmp_path: Path, prefix: bytes) -> None:
    """``read_zip_index`` (what the verifier keeps of an archive: rows, files, folders, prefix
    size) agrees with ``read_zip_directory`` field by field, and makes a member on request."""
    members = {"pkg/": b"", "pkg/mod.py": b"x = 1\n", "pkg/sub/data.txt": b"d", "top.py": b"", "e/f/": b""}
    path = make_zip(tmp_path / "a.zip", members=members, prefix=prefix, compression=zipfile.ZIP_DEFLATED)
    entries = read_zip_directory(path)
    index = zipdir.read_zip_index(path)
    files = [entry for entry in entries if not entry.name.endswith("/")]
    assert index.names == {entry.name for entry in files}
    assert [index.member(entry.name) for entry in files] == files
    assert index.member("pkg/") is None and index.member("absent.py") is None
    assert index.dirs == {"pkg", "pkg/sub", "e/f"}  # a folder entry's parents only if a file implies them
    assert index.prefix_size == zipdir.prefix_size(entries) == len(prefix)
    with pytest.raises(ZipFormatError, match="duplicate member name 'pkg/'"):
        zipdir.read_zip_index(mutate(path, path.read_bytes().replace(b"e/f/", b"pkg/")))


@pytest.mark.parametrize(
    ("comment", "prefix"), [(b"", b""), (b"a comment", b""), (b"", b"#!/usr/bin/env python3\n")]
)
def test_index_of_an_archive_without_folder_entries(tmp_path: Path, comment: bytes, prefix: bytes) -> None:
    """No folder entry (a zipapp's layout, where the index skips looking for them), with and
    without an archive comment (the end record then is not in the last 22 bytes) and prefix."""
    members = {"__main__.py": b"", "pkg/__init__.py": b"", "pkg/sub/mod.py": b"x = 1\n", "top.txt": b"t"}
    path = make_zip(tmp_path / "a.zip", members=members, comment=comment, prefix=prefix)
    index = zipdir.read_zip_index(path)
    entries = read_zip_directory(path)
    assert index.names == set(members) and [index.member(name) for name in members] == entries
    assert index.dirs == {"pkg", "pkg/sub"} and index.prefix_size == len(prefix)
    assert zipdir._folder_entries(list(members)) == []
    assert zipdir._folder_entries(["a/", "a/b.py", "c/d/"]) == ["a/", "c/d/"]
