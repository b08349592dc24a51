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

__all__ = ["audit_frozen_archives", "frozen_archives", "sign_frozen_archives"]


def frozen_archives(folder: str) -> list[str]:
    """The freezer archives on a frozen app's import path in ``folder``, sorted.

    Recognised by their place, so that a zip of the same name elsewhere is left alone:
    PyInstaller's ``base_library.zip`` beside the executable or one folder down (``_internal``,
    or whatever ``--contents-directory`` names), cx_Freeze's ``lib/library.zip``.
    """
    found = []
    pyinstaller, cx_freeze = ARCHIVE_NAMES
    candidates = [os.path.join(folder, pyinstaller), os.path.join(folder, "lib", cx_freeze)]
    try:
        subfolders = sorted(e.path for e in os.scandir(folder) if e.is_dir(follow_symlinks=False))
    except OSError:
        subfolders = []
    candidates += [os.path.join(sub, pyinstaller) for sub in subfolders]
    for path in candidates:
        if os.path.isfile(path) and not os.path.islink(path):
            found.append(path)
    return sorted(set(found))


def sign_frozen_archives(folder: str, key) -> list[str]:
    """Sign (in place) each freezer archive in ``folder``; returns their paths."""
    from ._archive_signing import sign_zipfile

    archives = frozen_archives(folder)
    for archive in archives:
        sign_zipfile(archive, key)
    return archives


def audit_frozen_archives(report, folder: str, keys) -> None:
    """Add the audit of each freezer archive in ``folder`` to ``report`` (of the folder).

    The folder's manifest already pins each archive whole; this checks the manifest inside it
    too, which the runtime reads member by member. Member results are named
    ``<archive path>/<member>``.
    """
    from ._audit import verify_path
    from ._audit_report import FileResult, Problem

    for archive in frozen_archives(folder):
        rel = os.path.relpath(archive, folder).replace(os.sep, "/")
        inner = verify_path(archive, keys)
        report.problems.extend(Problem(p.kind, p.where, p.message) for p in inner.problems)
        report.files.extend(
            FileResult(f"{rel}/{r.path}", r.status, r.expected, r.actual, r.detail) for r in inner.files
        )
    report.files.sort(key=lambda r: r.path.encode("utf-8", "surrogateescape"))
