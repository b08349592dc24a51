"""Signing tools: keys, manifests, in-place signing of trees and archives, offline audits.

This is the public face of the signing half, for build machines and developers, not for the
runtime.  The runtime half (``signedimp.keys``, ``signedimp.manifest``) stays standard-library
only, and everything signed here is checked with those same runtime types.  The work is done by
small modules, re-exported here:

- ``_signing_keys``: ``PrivateKey``, ``generate_key``; ``_signing_key_pem``: ``load_private_key``;
  ``_key_files``: ``load_signing_key`` (``--key`` / ``SIGNEDIMP_KEY``), ``load_verify_keys``;
- ``_manifest_signing``: ``sha256_hex``, ``sign_manifest`` (co-signing);
- ``_archive_signing``: ``sign_zipfile``, ``sign_wheel``, over ``_zip_rewrite`` (raw-copy
  rewriting, with ``_zip_format`` and ``_zip_content``), ``_wheel_record`` and ``_atomic_write``;
- ``_audit``: ``verify_path``, whose ``VerifyReport`` lives in ``_audit_report``.

Why signing uses pycryptodome while the runtime verifies in pure Python: signing computes with
the private key, and Python's big integers are not constant-time, so a pure-Python signer would
leak the key through its timing; pycryptodome does that arithmetic in constant-time C.
Verifying handles no secret (the key, the message and the signature are all public), so the
runtime can, and must, do it with the standard library alone.

It is imported by the Hatch build hook in every signed build, so importing it loads nothing
outside the ``signedimp`` package: pycryptodome is imported when a key is made or read, and
``zipfile``, ``csv`` and ``tempfile`` only by the functions that use them.

Every signing function works in place and atomically: the new file is written beside the old
one, flushed to disk, and moved over it with ``os.replace``; on any error the original is left
untouched and no temporary file remains.
"""

from __future__ import annotations

import os

from ..errors import KeyFormatError, ManifestError, SignatureMismatch, UnsafeInputError, ZipFormatError
from ..keys import Ed25519Key, RSAKey, key_ring, load_public_key
from ..manifest import MANIFEST_NAME, Manifest, Signature, check_path

# Re-exported: the public names of the signing tools, and the constants this module always had.
from ._archive_signing import sign_wheel, sign_zipfile

# Used by sign_directory, not re-exported.
from ._atomic_write import (
    AtomicFile as _AtomicFile,
)
from ._atomic_write import TargetError as _TargetError
from ._atomic_write import (
    existing_mode as _existing_mode,
)
from ._atomic_write import (
    is_temp_name as _is_temp_name,
)
from ._atomic_write import replaceable_target as _replaceable_target
from ._audit import verify_path
from ._audit_report import (
    FAILING,
    MISSING,
    MODIFIED,
    OK,
    SKIPPED,
    UNLISTED,
    FileResult,
    Problem,
    VerifyReport,
)
from ._bytecode_check import report_left_out as _report_left_out
from ._frozen_signing import sign_frozen_archives as _sign_frozen_archives
from ._key_files import KEY_ENV, PASSPHRASE_ENV, load_signing_key, load_verify_keys
from ._manifest_signing import MANIFEST_MODE, sha256_hex, sign_manifest
from ._manifest_signing import previous_manifest as _previous_manifest
from ._signing_key_pem import load_private_key
from ._signing_keys import PBKDF2_ITERATIONS, PrivateKey, generate_key
from ._tree_digests import tree_digests as _digests_of_tree
from ._tree_walk import read_file as _read_file
from ._zip_time import ZIP_EPOCH_MAX, ZIP_EPOCH_MIN

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs import time in every signed build
    from typing import Union

    PathLike = str | os.PathLike[str]

__all__ = [
    "FileResult",
    "PrivateKey",
    "Problem",
    "VerifyReport",
    "ZipappError",
    "build_zipapp",
    "generate_key",
    "get_bootstrap_code",
    "load_private_key",
    "load_signing_key",
    "load_verify_keys",
    "run_zipapp",
    "sha256_hex",
    "sign_directory",
    "sign_manifest",
    "sign_path",
    "sign_wheel",
    "sign_zipfile",
    "verify_path",
]


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


_ON_FIRST_USE = {  # heavier tools, imported only when asked for (the build hook needs none of them)
    "build_zipapp": "._zipapp",
    "run_zipapp": "._zipapp",
    "ZipappError": "._zipapp",
    "get_bootstrap_code": "._bootstrap",
}


def __getattr__(name: str):
    module = _ON_FIRST_USE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module, __name__), name)
