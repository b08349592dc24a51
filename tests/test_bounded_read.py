"""``read_file``: one read of the size ``fstat`` gives in the usual case, the limits kept in all.

The runtime reads every module through it; these check the edges of its fast path against
what the file holds: empty files, sizes around the chunk size, files whose ``st_size`` says 0
but that have content (``/proc``), files over the limit, and non-regular files.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from signedimp.bounded_read import file_chunks, read_file
from signedimp.errors import UnsafeInputError
from signedimp.limits import READ_CHUNK


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
