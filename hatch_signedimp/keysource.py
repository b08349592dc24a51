"""Find the private key a build signs with, and turn every way of getting it wrong into a clear error.

Order: the file named by ``key-file``; when that file is absent (a wheel built from an unpacked
sdist, which never carries the key) or not configured, the PEM text in the variable named by
``key-env``. An empty variable counts as unset (CI systems expand a missing secret to "").
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .config import HookOptions
from .errors import SigningKeyError

if TYPE_CHECKING:
    from signedimp.tools import PrivateKey

PUBLIC_MARKERS = (b"-----BEGIN PUBLIC KEY-----", b"-----BEGIN RSA PUBLIC KEY-----", b"ssh-ed25519 ", b"ssh-rsa ")
ENCRYPTED_MARKERS = (b"-----BEGIN ENCRYPTED PRIVATE KEY-----", b"Proc-Type: 4,ENCRYPTED")
KEYGEN_HINT = "make one with `signedimp keygen -o signing.pem` or `openssl genpkey -algorithm ed25519 -out signing.pem`"


@dataclass(frozen=True)
class KeySource:
    """Where the key came from (for messages) and its PEM bytes."""

    description: str
    pem: bytes
    path: str | None = None


def built_from_sdist(root: str) -> bool:
    """An unpacked sdist has ``PKG-INFO`` at its root; a checkout does not."""
    return os.path.isfile(os.path.join(root, "PKG-INFO"))


def _from_env(options: HookOptions, environ: Mapping[str, str]) -> KeySource | None:
    value = environ.get(options.key_env, "")
    if not value.strip():
        return None
    description = f"the environment variable `{options.key_env}` (option `key-env`)"
    pem = value.encode("utf-8")
    if b"-----BEGIN" not in pem and not pem.startswith(b"ssh-") and os.path.isfile(os.path.expanduser(value.strip())):
        msg = (
            f"Build hook `signedimp`: {description} holds a file name, not a key. It must hold the PEM "
            f"text of the private key itself (e.g. `{options.key_env}=\"$(cat signing.pem)\"`); to sign "
            "with a key file, set option `key-file` instead."
        )
        raise SigningKeyError(msg)
    return KeySource(description, pem)


def _from_file(options: HookOptions) -> KeySource:
    path = options.key_path
    assert path is not None
    description = f"the key file `{path}` (option `key-file`)"
    try:
        with open(path, "rb") as f:
            return KeySource(description, f.read(), path)
    except OSError as error:
        msg = f"Build hook `signedimp`: cannot read {description}: {error.strerror or error}"
        raise SigningKeyError(msg) from error


def find_key(options: HookOptions, root: str, environ: Mapping[str, str] = os.environ) -> KeySource | None:
    """The configured key's source, or ``None`` when there is none and ``require-key`` is false."""
    if options.key_path is not None and os.path.exists(options.key_path):
        return _from_file(options)
    source = _from_env(options, environ)
    if source is not None or not options.require_key:
        return source

    if options.key_path is not None:
        msg = (
            f"Build hook `signedimp`: the key file `{options.key_path}` (option `key-file` = "
            f"{options.key_file!r}) does not exist, and the environment variable `{options.key_env}` "
            "(option `key-env`) is not set."
        )
        if built_from_sdist(root):
            msg += (
                " This wheel is being built from an unpacked sdist, and an sdist never contains the "
                f"private key: pass the key through the environment variable `{options.key_env}` "
                "(its PEM text), or set option `key-file` to an absolute path."
            )
        else:
            msg += f" Create the key file ({KEYGEN_HINT}) or set `{options.key_env}` to the key's PEM text."
    else:
        msg = (
            "Build hook `signedimp` needs a private key to sign the wheel, and none was given. "
            f"Set the environment variable `{options.key_env}` to the PEM text of the key (the variable "
            "is named by option `key-env`), or set option `key-file` in "
            f"[tool.hatch.build.hooks.signedimp] to the key file's path; {KEYGEN_HINT}."
        )
    msg += " To build unsigned wheels instead, set `require-key = false`."
    raise SigningKeyError(msg)


def load_key(source: KeySource, options: HookOptions, environ: Mapping[str, str] = os.environ) -> PrivateKey:
    """Parse the PEM with the signing tools, naming the option or variable in every failure."""
    from signedimp.errors import KeyFormatError
    from signedimp.tools import load_private_key

    pem = source.pem.strip()
    if any(marker in pem for marker in PUBLIC_MARKERS) and b"PRIVATE KEY-----" not in pem:
        msg = (
            f"Build hook `signedimp`: {source.description} holds a public key; signing needs the "
            "private key (PKCS#8 PEM: `-----BEGIN PRIVATE KEY-----` or `-----BEGIN ENCRYPTED PRIVATE "
            "KEY-----`). Give the private key, not the `.pub` file."
        )
        raise SigningKeyError(msg)

    encrypted = any(marker in pem for marker in ENCRYPTED_MARKERS)
    passphrase = environ.get(options.passphrase_env) or None
    if encrypted and passphrase is None:
        msg = (
            f"Build hook `signedimp`: {source.description} is encrypted, but the environment variable "
            f"`{options.passphrase_env}` (option `passphrase-env`) that should hold its passphrase is not set."
        )
        raise SigningKeyError(msg)

    try:
        return load_private_key(pem, passphrase if encrypted else None)
    except (KeyFormatError, ValueError, TypeError, IndexError) as error:
        if encrypted:
            msg = (
                f"Build hook `signedimp`: cannot decrypt {source.description} with the passphrase from "
                f"the environment variable `{options.passphrase_env}` (option `passphrase-env`): wrong "
                f"passphrase, or a damaged key ({error})."
            )
        else:
            msg = (
                f"Build hook `signedimp`: cannot read a private key from {source.description}: {error}. "
                "Expected an Ed25519 or RSA private key in PKCS#8 PEM, optionally encrypted; "
                f"{KEYGEN_HINT}."
            )
        raise SigningKeyError(msg) from error


def resolve_key(options: HookOptions, root: str, environ: Mapping[str, str] = os.environ) -> tuple[KeySource, PrivateKey] | None:
    """Find and load the signing key; ``None`` only when it is absent and not required."""
    source = find_key(options, root, environ)
    if source is None:
        return None
    return source, load_key(source, options, environ)
