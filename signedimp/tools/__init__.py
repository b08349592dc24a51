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

TYPE_CHECKING = False
if TYPE_CHECKING:  # for type checkers: at run time every name is imported on first use
    from ..errors import KeyFormatError, ManifestError, SignatureMismatch, UnsafeInputError, ZipFormatError
    from ..keys import Ed25519Key, RSAKey, key_ring, load_public_key
    from ..manifest import MANIFEST_NAME, Manifest, Signature, check_path
    from ._archive_signing import sign_wheel, sign_zipfile
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
    from ._bootstrap import get_bootstrap_code
    from ._directory_signing import sign_directory, sign_path
    from ._key_files import KEY_ENV, PASSPHRASE_ENV, load_signing_key, load_verify_keys
    from ._manifest_signing import MANIFEST_MODE, sha256_hex, sign_manifest
    from ._signing_key_pem import load_private_key
    from ._signing_keys import PBKDF2_ITERATIONS, PrivateKey, generate_key
    from ._zip_time import ZIP_EPOCH_MAX, ZIP_EPOCH_MIN
    from ._zipapp import ZipappError, build_zipapp, run_zipapp

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

# Where each name lives. Nothing is imported with the package: the build hook needs the key
# readers and ``sign_wheel`` only, ``signedimp sign`` no audit, ``verify`` no signer.
_WHERE = {
    **dict.fromkeys(
        ("KeyFormatError", "ManifestError", "SignatureMismatch", "UnsafeInputError", "ZipFormatError"),
        "..errors",
    ),
    **dict.fromkeys(("Ed25519Key", "RSAKey", "key_ring", "load_public_key"), "..keys"),
    **dict.fromkeys(("MANIFEST_NAME", "Manifest", "Signature", "check_path"), "..manifest"),
    **dict.fromkeys(("sign_wheel", "sign_zipfile"), "._archive_signing"),
    "verify_path": "._audit",
    **dict.fromkeys(
        (
            "FAILING",
            "MISSING",
            "MODIFIED",
            "OK",
            "SKIPPED",
            "UNLISTED",
            "FileResult",
            "Problem",
            "VerifyReport",
        ),
        "._audit_report",
    ),
    "get_bootstrap_code": "._bootstrap",
    **dict.fromkeys(("sign_directory", "sign_path"), "._directory_signing"),
    **dict.fromkeys(("KEY_ENV", "PASSPHRASE_ENV", "load_signing_key", "load_verify_keys"), "._key_files"),
    **dict.fromkeys(("MANIFEST_MODE", "sha256_hex", "sign_manifest"), "._manifest_signing"),
    "load_private_key": "._signing_key_pem",
    **dict.fromkeys(("PBKDF2_ITERATIONS", "PrivateKey", "generate_key"), "._signing_keys"),
    **dict.fromkeys(("ZIP_EPOCH_MAX", "ZIP_EPOCH_MIN"), "._zip_time"),
    **dict.fromkeys(("ZipappError", "build_zipapp", "run_zipapp"), "._zipapp"),
}


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})
