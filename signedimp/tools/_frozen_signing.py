"""Sealing a frozen app's output folder: each zip on its import path, then the folder.

PyInstaller puts ``base_library.zip`` in ``_internal/`` (or beside the executable with
``--contents-directory .``), cx_Freeze puts ``library.zip`` in ``lib/``. The runtime reads
their members through its zip finder, which needs a manifest inside each archive; the
folder's root manifest, written after, lists the rewritten archives whole, so the start-up
check (``signedimp.frozen``) can verify the modules the interpreter took from them before any
hook ran.
"""

from __future__ import annotations

import os

from ..frozen import ARCHIVE_NAMES

__all__ = ["frozen_archives", "sign_frozen_archives"]

#: How deep below the output folder an archive on the app's import path can lie
#: (``_internal/base_library.zip``, ``lib/library.zip``, ``App.app/Contents/...`` is not handled).
_MAX_DEPTH = 2


def frozen_archives(folder: str) -> list[str]:
    """The freezer archives (``base_library.zip``, ``library.zip``) in ``folder``, sorted."""
    found = []
    for current, dirs, files in os.walk(folder):
        depth = os.path.relpath(current, folder).count(os.sep) + (0 if current == folder else 1)
        if depth >= _MAX_DEPTH:
            dirs[:] = []
        dirs.sort()
        found.extend(os.path.join(current, name) for name in files if name in ARCHIVE_NAMES)
    return sorted(found)


def sign_frozen_archives(folder: str, key) -> list[str]:
    """Sign (in place) each freezer archive in ``folder``; returns their paths."""
    from ._archive_signing import sign_zipfile

    archives = frozen_archives(folder)
    for archive in archives:
        sign_zipfile(archive, key)
    return archives
