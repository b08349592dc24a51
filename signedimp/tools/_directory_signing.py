"""Signing a folder in place (``sign_directory``), and ``sign_path``, which picks the signer.

A folder's manifest lists every file below it (``_tree_digests``: one read per file, hashed by
two threads while the walk goes on), written atomically (``_atomic_write``).
"""

from __future__ import annotations

import os

from ..errors import UnsafeInputError
from ..manifest import MANIFEST_NAME, Manifest
from ._archive_signing import sign_wheel, sign_zipfile
from ._atomic_write import AtomicFile as _AtomicFile
from ._atomic_write import TargetError as _TargetError
from ._atomic_write import existing_mode as _existing_mode
from ._atomic_write import is_temp_name as _is_temp_name
from ._atomic_write import replaceable_target as _replaceable_target
from ._bytecode_check import report_left_out as _report_left_out
from ._frozen_signing import sign_frozen_archives as _sign_frozen_archives
from ._manifest_signing import MANIFEST_MODE, sign_manifest
from ._manifest_signing import previous_manifest as _previous_manifest
from ._tree_digests import tree_digests as _digests_of_tree
from ._tree_walk import read_file as _read_file

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs import time in every signed build
    from ._signing_keys import PrivateKey

    PathLike = str | os.PathLike[str]


def sign_directory(path: PathLike, key: PrivateKey) -> Manifest:
    """Write ``<path>/signedimp-manifest.txt`` listing every file below ``path``.

    ``__pycache__`` bytecode is listed too: sealing an environment after ``compileall`` lets
    the runtime use that bytecode.  Bytecode whose header does not match its source in the tree
    (edited since compiled) is left out and named on stderr: the runtime compiles the source.  Only the root manifest itself is left out.  A frozen app's
    archives (``base_library.zip``, ``library.zip``) are signed first, then listed whole.
    """
    root = os.fspath(path)
    if not os.path.isdir(root):
        raise NotADirectoryError(f"{root}: not a directory")
    _sign_frozen_archives(root, key)
    target = os.path.join(root, MANIFEST_NAME)
    if os.path.islink(target):  # never write through a link that may lead out of the tree
        raise _TargetError(f"{target}: is a symlink; a folder's manifest must be a regular file")
    target = _replaceable_target(target)
    # Never list a signedimp temp file (this run's, a concurrent signer's, or one a killed run
    # left): it is gone, or removed by the next run, and the folder would no longer verify.
    hashes, stale = _digests_of_tree(root, _never_listed)  # one read per file, two hashing threads
    previous = _read_file(target) if os.path.isfile(target) else None
    manifest = sign_manifest(hashes, key, _previous_manifest(previous, target), checked=True)
    with _AtomicFile(target, _existing_mode(target, MANIFEST_MODE)) as fh:
        fh.write(manifest.serialise())
    _report_left_out(root, stale)
    return manifest


def _never_listed(rel: str) -> bool:
    """The root manifest itself and signer temp files are never listed."""
    return rel == MANIFEST_NAME or _is_temp_name(rel.rpartition("/")[2])


def sign_path(path: PathLike, key: PrivateKey) -> Manifest:
    """Sign a directory, wheel, or zip/zipapp, chosen by what ``path`` is."""
    target = os.fspath(path)
    if os.path.isdir(target):
        return sign_directory(target, key)
    if not os.path.exists(target):
        raise FileNotFoundError(f"{target}: no such file or directory")
    if not os.path.isfile(target):  # a FIFO would block zipfile's open: never opened
        raise UnsafeInputError(f"{target}: not a regular file, directory, wheel or zip archive")
    suffix = os.path.splitext(target)[1].lower()
    if suffix == ".whl":
        return sign_wheel(target, key)
    if suffix in (".zip", ".pyz", ".pyzw") or _is_zipfile(target):
        return sign_zipfile(target, key)
    raise ValueError(f"{target}: not a directory, wheel, or zip archive")


def _is_zipfile(path: str) -> bool:
    import zipfile

    return zipfile.is_zipfile(path)
