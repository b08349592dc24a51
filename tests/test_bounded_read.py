"""``read_file``: one read of the size ``fstat`` gives in the usual case, the limits kept in all.

The runtime reads every module through it; these check the edges of its fast path against
what the file holds: empty files, sizes around the chunk size, files whose ``st_size`` says 0
but that have content (``/proc``), files over the limit, and non-regular files.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from signedimp import bounded_read
from signedimp.bounded_read import file_chunks, member_chunks, read_file, read_member
from signedimp.errors import UnsafeInputError
from signedimp.limits import READ_CHUNK
from signedimp.zipdir import open_archive, read_zip_directory


@pytest.mark.parametrize("size", [0, 1, 4096, READ_CHUNK - 1, READ_CHUNK, READ_CHUNK + 1, 3 * READ_CHUNK + 7])
def test_whole_content_at_every_size(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    assert read_file(str(path)) == data
    assert b"".join(file_chunks(str(path))) == data
    assert read_file(str(path), limit=size) == data  # exactly at the limit


def test_over_the_limit_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 101)
    with pytest.raises(UnsafeInputError, match=r"101 bytes, over the limit of 100 bytes for a module"):
        read_file(str(path), limit=100, what="module")


@pytest.mark.skipif(not os.path.isfile("/proc/self/status"), reason="needs Linux /proc")
def test_a_file_whose_size_is_zero_but_has_content() -> None:
    """procfs files are regular, report st_size 0 and still have content: read on to the end."""
    assert os.stat("/proc/self/status").st_size == 0
    text = read_file("/proc/self/status")
    assert text.startswith(b"Name:") and text.endswith(b"\n") and b"\nPid:" in text
    with pytest.raises(UnsafeInputError, match="grew over the limit of 8 bytes"):
        read_file("/proc/self/status", limit=8)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(UnsafeInputError, match="a FIFO"):
        read_file(str(fifo))


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsafeInputError, match="a directory, not a regular file"):
        read_file(str(tmp_path))


def _outcome(call):
    try:
        return ("ok", call())
    except (UnsafeInputError, OSError) as exc:
        return (type(exc).__name__, str(exc))


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_small_members_read_at_once_agree_with_the_stepwise_reader(tmp_path: Path, compression: int) -> None:
    """Every byte of a member's local header and data changed in turn: the one-``pread`` path
    gives what the stepwise reader gives, the content or the same refusal."""
    archive = tmp_path / "a.zip"
    content = b"".join(b"line %d of a module\n" % i for i in range(60))
    with zipfile.ZipFile(archive, "w", compression) as zf:
        zf.writestr("pkg/mod.py", content)
        zf.writestr("pkg/other.py", b"x = 1\n")
    member = next(m for m in read_zip_directory(str(archive)) if m.name == "pkg/mod.py")
    assert read_member(str(archive), member) == content
    assert bounded_read._read_small_member(str(archive), member) == content  # the one-read path
    original = archive.read_bytes()
    end = member.header_offset + 30 + len(member.raw_name) + member.compress_size
    outcomes = set()
    for offset in range(member.header_offset, end):
        changed = bytearray(original)
        changed[offset] ^= 0x5A
        archive.write_bytes(bytes(changed))

        def stepwise() -> bytes:
            with open_archive(str(archive)) as stream:
                return b"".join(member_chunks(stream, member, str(archive)))

        fast = _outcome(lambda: read_member(str(archive), member))
        assert fast == _outcome(stepwise), offset
        outcomes.add(fast[0] if fast[0] == "ok" else fast[1].partition("'pkg/mod.py' ")[2])
    assert "is corrupt: bad CRC-32" in outcomes and "has a bad local header" in outcomes
