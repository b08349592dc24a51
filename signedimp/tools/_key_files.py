"""Where the command line and the build hook get their keys: key files and environment variables.

Every error names the file or the variable the key came from, so a CI log says which secret is
wrong without showing it.
"""

from __future__ import annotations

import os

from ..errors import KeyFormatError
from ..keys import load_public_key
from ._signing_key_pem import load_private_key

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs import time in every signed build
    from collections.abc import Mapping
    from typing import Union

    from ..keys import Ed25519Key, RSAKey
    from ._signing_keys import PrivateKey

    PublicKey = Union[Ed25519Key, RSAKey]
    PathLike = Union[str, "os.PathLike[str]"]

KEY_ENV = "SIGNEDIMP_KEY"
PASSPHRASE_ENV = "SIGNEDIMP_KEY_PASSPHRASE"


def load_signing_key(
    path: PathLike | None = None,
    *,
    env: Mapping[str, str] = os.environ,
    passphrase: str | bytes | None = None,
) -> PrivateKey:
    """The signing key from a file, else from ``SIGNEDIMP_KEY`` (PEM text, for CI secrets).

    The passphrase is ``passphrase`` when given, else ``SIGNEDIMP_KEY_PASSPHRASE``.  Error
    messages name the file or the variable the key came from.
    """
    if passphrase is None:
        passphrase = env.get(PASSPHRASE_ENV) or None
    if path is not None:
        source = os.fspath(path)
        data = _read_key_file(source)
    else:
        source = KEY_ENV
        text = env.get(KEY_ENV, "")
        if not text.strip():
            raise KeyFormatError(
                f"no signing key: pass --key FILE or set {KEY_ENV} to the PEM text of the key"
            )
        data = text.encode("utf-8", "surrogateescape")
    try:
        return load_private_key(data, passphrase)
    except KeyFormatError as exc:
        raise KeyFormatError(f"{source}: {exc}{_passphrase_hint(exc)}") from None


def load_verify_keys(path: PathLike, *, env: Mapping[str, str] = os.environ) -> list[PublicKey]:
    """Public keys for verifying, from a public PEM, ``ssh-ed25519`` lines, or a private key file."""
    source = os.fspath(path)
    data = _read_key_file(source)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise KeyFormatError(f"{source}: not a key file: the data is binary, not text") from None
    try:
        if "PRIVATE KEY-----" in text:
            return [load_private_key(text, env.get(PASSPHRASE_ENV) or None).public_key]
        ssh_lines = [ln for ln in text.splitlines() if ln.strip().startswith("ssh-")]
        if len(ssh_lines) > 1:
            return [load_public_key(ln.strip()) for ln in ssh_lines]
        return [load_public_key(text)]
    except KeyFormatError as exc:
        raise KeyFormatError(f"{source}: {exc}{_passphrase_hint(exc)}") from None
    except ValueError as exc:  # a runtime parser that reports with a plain ValueError
        raise KeyFormatError(f"{source}: not a valid public key: {exc}") from None


def _read_key_file(source: str) -> bytes:
    try:
        with open(source, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise KeyFormatError(f"{source}: cannot read key file: {exc.strerror or exc}") from None


def _passphrase_hint(exc: Exception) -> str:
    """Tell the user where a passphrase can come from when one was missing."""
    if "passphrase is needed" in str(exc):
        return f" (set {PASSPHRASE_ENV} or use --passphrase-env VAR)"
    return ""
