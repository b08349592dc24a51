"""Where the command line and the build hook get their keys: key files and environment variables.

One way to read a signing key: ``read_key_file`` / ``key_from_env`` find its bytes,
``parse_signing_key`` reads them. ``load_signing_key`` is that for the command line; the build hook
(``hatch_signedimp.keysource``) calls the same functions and words the errors with its options.
Every error names the file or the variable the key came from, so a CI log says which secret is
wrong without showing it.
"""

from __future__ import annotations

import os

from ..errors import KeyFormatError
from ..keys import load_public_key
from ._signing_key_pem import PassphraseNeeded, load_private_key

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs import time in every signed build
    from collections.abc import Mapping

    from ..keys import Ed25519Key, RSAKey
    from ._signing_keys import PrivateKey

    PublicKey = Ed25519Key | RSAKey
    PathLike = str | os.PathLike[str]

KEY_ENV = "SIGNEDIMP_KEY"
PASSPHRASE_ENV = "SIGNEDIMP_KEY_PASSPHRASE"


class KeyText:
    """The bytes of a signing key and where they came from: ``source`` is the file's path or the
    variable's name (what messages show), ``path`` the file (``None`` for a variable)."""

    __slots__ = ("source", "data", "path")

    def __init__(self, source: str, data: bytes, path: str | None = None) -> None:
        self.source = source
        self.data = data
        self.path = path


def read_key_file(path: PathLike) -> KeyText:
    """The key file's bytes; ``KeyFormatError`` naming the file when it cannot be read."""
    source = os.fspath(path)
    return KeyText(source, _read_key_file(source), source)


def key_from_env(env: Mapping[str, str], var: str = KEY_ENV) -> KeyText | None:
    """The PEM text in variable ``var``; ``None`` when unset or blank (CI expands a missing secret
    to ""). A variable that holds the name of an existing file is a mistake worth naming."""
    text = env.get(var, "")
    if not text.strip():
        return None
    looks_like_key = "-----BEGIN" in text or text.startswith("ssh-")
    if not looks_like_key and os.path.isfile(os.path.expanduser(text.strip())):
        raise KeyFormatError(
            f"{var} holds a file name, not a key: it must hold the PEM text of the private key itself "
            f'(e.g. {var}="$(cat signing.pem)")'
        )
    return KeyText(var, text.encode("utf-8", "surrogateescape"))


def parse_signing_key(key: KeyText, passphrase: str | bytes | None) -> PrivateKey:
    """The private key in ``key``: PKCS#8 PEM (plain or encrypted), traditional RSA PEM, or an
    OpenSSH private key. Failures are ``KeyFormatError`` subclasses without the source, so that the
    command line and the build hook each say where the key came from in their own words:
    ``PublicKeyGiven``, ``PassphraseNeeded``, ``WrongPassphrase``, else ``KeyFormatError``."""
    return load_private_key(key.data, passphrase or None)


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
        key = read_key_file(path)
    else:
        found = key_from_env(env, KEY_ENV)
        if found is None:
            raise KeyFormatError(
                f"no signing key: pass --key FILE or set {KEY_ENV} to the PEM text of the key"
            )
        key = found
    try:
        return parse_signing_key(key, passphrase)
    except KeyFormatError as exc:
        raise KeyFormatError(f"{key.source}: {exc}{_passphrase_hint(exc)}") from None


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
    if isinstance(exc, PassphraseNeeded):
        return f" (set {PASSPHRASE_ENV} or use --passphrase-env VAR)"
    return ""
