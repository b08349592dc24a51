"""``ZipArchive``: the folders of an archive, implied by member names or stored as entries."""

from __future__ import annotations

import zipfile
from pathlib import Path

from signedimp.entries import ZipArchive


def test_folders_are_every_parent_of_a_member_and_every_folder_entry(tmp_path: Path) -> None:
    """Computed by climbing from each member to the first folder already seen; the answer is
    the plain definition's, with folder entries whose parents have no entry of their own."""
    names = ["a/b/", "a/b/c.py", "x/y/z/w.py", "x/y/q.py", "top.py", "e/", "f/g/", "f/g/h/i/j.txt", "k/l"]
    archive = tmp_path / "z.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in names:
            zf.writestr(name, b"")
    view = ZipArchive(str(archive))
    expected = {n.rstrip("/") for n in names if n.endswith("/")}
    for name in names:
        if not name.endswith("/"):
            parts = name.split("/")
            expected.update("/".join(parts[:i]) for i in range(1, len(parts)))
    assert view.dirs == expected
    assert {"a", "e", "f"} <= view.dirs  # "a" above the folder entry "a/b/", which is seen first
    assert view.names == {n for n in names if not n.endswith("/")}
