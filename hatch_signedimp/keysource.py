"""Find the private key a build signs with, and turn every way of getting it wrong into a clear error.

The key is read the one way the command line reads it (``signedimp.tools._key_files``); this
module decides where to look, following the hook's options, and words each failure with the
option or variable to fix.

Order: the file named by ``key-file``; when that file is absent (a wheel built from an unpacked
sdist, which never carries the key) or not configured, the PEM text in the variable named by
``key-env``. An empty variable counts as unset (CI systems expand a missing secret to "").

Whether a missing key fails the build: ``SIGNEDIMP_REQUIRE_KEY=1`` makes every build require it
(release CI); otherwise a wheel built from an unpacked sdist (``PKG-INFO`` at its root, the test
hatchling itself uses) is left unsigned with a warning, since whoever builds from a published sdist
never has the key; otherwise ``require-key`` (default true) decides.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .config import HookOptions
from .errors import BuildHookError, SigningKeyError

if TYPE_CHECKING:
    from signedimp.tools import PrivateKey
    from signedimp.tools._key_files import KeyText

REQUIRE_KEY_ENV = "SIGNEDIMP_REQUIRE_KEY"
KEYGEN_HINT = (
    "make one with `signedimp keygen -o signing.pem` or `openssl genpkey -algorithm ed25519 -out signing.pem`"
)
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


class _Frozen:
    """An immutable record with equality and a repr, like a frozen dataclass, written by hand:
    hatchling imports every installed `hatch` plugin in every build that uses any third-party
    hook, and two ``@dataclass`` decorations cost 7 ms of that, for everyone."""

    __slots__: tuple[str, ...] = ()

    def _values(self) -> tuple:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"


class KeySource(_Frozen):
    """Where the key came from (for messages) and its bytes; ``path`` for a key file."""

    __slots__ = ("description", "pem", "path")
    description: str
    pem: bytes
    path: str | None

    def __init__(self, description: str, pem: bytes, path: str | None = None) -> None:
        object.__setattr__(self, "description", description)
        object.__setattr__(self, "pem", pem)
        object.__setattr__(self, "path", path)


class KeyDecision(_Frozen):
    """What to do about the key: sign with ``key`` from ``source``, or go on unsigned because of
    ``unsigned_reason`` (the warning to show)."""

    __slots__ = ("source", "key", "unsigned_reason")
    source: KeySource | None
    key: PrivateKey | None
    unsigned_reason: str | None

    def __init__(
        self,
        source: KeySource | None = None,
        key: PrivateKey | None = None,
        unsigned_reason: str | None = None,
    ) -> None:
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "unsigned_reason", unsigned_reason)


def built_from_sdist(root: str) -> bool:
    """An unpacked sdist has ``PKG-INFO`` at its root; a checkout does not (hatchling's own test)."""
    return os.path.isfile(os.path.join(root, "PKG-INFO"))


def env_requires_key(environ: Mapping[str, str] = os.environ) -> bool:
    """``SIGNEDIMP_REQUIRE_KEY``: 1/true/yes/on requires a key in every build; unset, empty, 0, false,
    no or off leaves it to ``require-key`` and the sdist rule; anything else is an error."""
    value = environ.get(REQUIRE_KEY_ENV, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    msg = (
        f"Build hook `signedimp`: the environment variable `{REQUIRE_KEY_ENV}` must be 1 (every build "
        f"requires the signing key) or 0, not {environ[REQUIRE_KEY_ENV]!r}"
    )
    raise BuildHookError(msg)


def _file_description(options: HookOptions) -> str:
    return f"the key file `{options.key_path}` (option `key-file`)"


def _env_description(options: HookOptions) -> str:
    return f"the environment variable `{options.key_env}` (option `key-env`)"


def _from_env(options: HookOptions, environ: Mapping[str, str]) -> KeySource | None:
    from signedimp.errors import KeyFormatError
    from signedimp.tools._key_files import key_from_env

    try:
        found = key_from_env(environ, options.key_env)
    except KeyFormatError as error:
        msg = (
            f"Build hook `signedimp`: {error} (option `key-env`); to sign with a key file, set option "
            "`key-file` instead."
        )
        raise SigningKeyError(msg) from None
    return None if found is None else _source(_env_description(options), found)


def _from_file(options: HookOptions) -> KeySource:
    from signedimp.errors import KeyFormatError
    from signedimp.tools._key_files import read_key_file

    assert options.key_path is not None
    try:
        found = read_key_file(options.key_path)
    except KeyFormatError as error:
        msg = f"Build hook `signedimp`: {error} (option `key-file`)"
        raise SigningKeyError(msg) from None
    return _source(_file_description(options), found)


def _source(description: str, found: KeyText) -> KeySource:
    return KeySource(description, found.data, found.path)


def _missing_key_error(options: HookOptions, root: str) -> str:
    """Why there is no key, and what to do about it, for the build error."""
    if options.key_path is None:
        return (
            "Build hook `signedimp` needs a private key to sign the wheel, and none was given. "
            f"Set the environment variable `{options.key_env}` to the PEM text of the key (the variable "
            "is named by option `key-env`), or set option `key-file` in "
            f"[tool.hatch.build.hooks.signedimp] to the key file's path; {KEYGEN_HINT}."
        )
    msg = (
        f"Build hook `signedimp`: the key file `{options.key_path}` "
        f"(option `key-file` = {options.key_file!r}) "
        f"does not exist, and the environment variable `{options.key_env}` (option `key-env`) is not set."
    )
    if built_from_sdist(root):
        return msg + " " + _sdist_hint(options)
    return msg + f" Create the key file ({KEYGEN_HINT}) or set `{options.key_env}` to the key's PEM text."


def _sdist_hint(options: HookOptions) -> str:
    return (
        "This wheel is being built from an unpacked sdist, and an sdist never contains the private key: "
        f"to sign, pass the key through the environment variable `{options.key_env}` (its PEM text), "
        "or set option `key-file` to an absolute path."
    )


def _what_is_missing(options: HookOptions) -> str:
    if options.key_path is None:
        return f"option `key-file` is not set, and the environment variable `{options.key_env}` is not set"
    return (
        f"the key file `{options.key_path}` (option `key-file`) does not exist, and the environment "
        f"variable `{options.key_env}` is not set"
    )


def find_key(options: HookOptions, root: str, environ: Mapping[str, str] = os.environ) -> KeySource | None:
    """The configured key's source, or ``None`` when there is none and none is required."""
    if options.key_path is not None and os.path.exists(options.key_path):
        return _from_file(options)
    source = _from_env(options, environ)
    if source is not None:
        return source
    forced = env_requires_key(environ)
    if not forced and (built_from_sdist(root) or not options.require_key):
        return None
    msg = _missing_key_error(options, root)
    if forced:
        msg += f" (`{REQUIRE_KEY_ENV}=1` is set: every build must sign.)"
    else:
        msg += " To build unsigned wheels instead, set `require-key = false`."
    raise SigningKeyError(msg)


def unsigned_warning(options: HookOptions, root: str) -> str:
    """The warning for a wheel left unsigned: why, and how to get a signed one."""
    if built_from_sdist(root):
        return (
            "Build hook `signedimp`: no signing key, so the wheel is left UNSIGNED: it is built from an "
            f"unpacked sdist ({_what_is_missing(options)}). {_sdist_hint(options)} Set "
            f"`{REQUIRE_KEY_ENV}=1` to make a missing key an error."
        )
    return (
        f"Build hook `signedimp`: no signing key ({_what_is_missing(options)}); "
        "the wheel is left UNSIGNED because `require-key = false`"
    )


def sdist_key_error(options: HookOptions, root: str, environ: Mapping[str, str] = os.environ) -> str | None:
    """Why an sdist built from the project's tree must fail, or ``None`` when it may be built.

    ``python -m build`` builds the wheel from the sdist it just made, and a wheel built from an
    unpacked sdist without a key is left unsigned: so without this check, the default
    ``require-key = true`` would never fail there. An sdist built from the tree is a build from the
    project's tree, so it needs a key (present: the key file exists, or ``key-env`` is set; the key
    is read and checked by the wheel build) unless ``require-key = false``. An sdist rebuilt from an
    unpacked sdist is someone else's build: never refused here.
    """
    if built_from_sdist(root):
        return None
    forced = env_requires_key(environ)
    if not forced and not options.require_key:
        return None
    if options.key_path is not None and os.path.exists(options.key_path):
        return None
    if environ.get(options.key_env, "").strip():
        return None
    msg = (
        "Build hook `signedimp`: building the sdist from the project's tree needs a private key: the "
        f"wheel built from this sdist would be unsigned ({_what_is_missing(options)}). Set the "
        f"environment variable `{options.key_env}` to the key's PEM text, or set option `key-file`; "
        f"{KEYGEN_HINT}."
    )
    if forced:
        return msg + f" (`{REQUIRE_KEY_ENV}=1` is set: every build must sign.)"
    return msg + " To build unsigned, set `require-key = false` in [tool.hatch.build.hooks.signedimp]."


def load_key(source: KeySource, options: HookOptions, environ: Mapping[str, str] = os.environ) -> PrivateKey:
    """Read the key the way the command line does, naming the option or variable in every failure."""
    from signedimp.errors import KeyFormatError
    from signedimp.tools._key_files import KeyText, parse_signing_key
    from signedimp.tools._signing_key_pem import PassphraseNeeded, PublicKeyGiven, WrongPassphrase

    passphrase = environ.get(options.passphrase_env) or None
    try:
        return parse_signing_key(KeyText(source.description, source.pem, source.path), passphrase)
    except PublicKeyGiven:
        msg = (
            f"Build hook `signedimp`: {source.description} holds a public key; signing needs the "
            "private key (PKCS#8 PEM: `-----BEGIN PRIVATE KEY-----` or `-----BEGIN ENCRYPTED PRIVATE "
            "KEY-----`, or an OpenSSH private key). Give the private key, not the `.pub` file."
        )
        raise SigningKeyError(msg) from None
    except PassphraseNeeded:
        msg = (
            f"Build hook `signedimp`: {source.description} is encrypted, but the environment variable "
            f"`{options.passphrase_env}` (option `passphrase-env`) that should hold its passphrase "
            "is not set."
        )
        raise SigningKeyError(msg) from None
    except WrongPassphrase as error:
        msg = (
            f"Build hook `signedimp`: cannot decrypt {source.description} with the passphrase from "
            f"the environment variable `{options.passphrase_env}` (option `passphrase-env`): wrong "
            f"passphrase, or a damaged key ({error})."
        )
        raise SigningKeyError(msg) from None
    except KeyFormatError as error:
        msg = (
            f"Build hook `signedimp`: cannot read a private key from {source.description}: {error}. "
            "Expected an Ed25519 or RSA private key: PKCS#8 PEM (optionally encrypted), traditional "
            f"RSA PEM, or an OpenSSH private key; {KEYGEN_HINT}."
        )
        raise SigningKeyError(msg) from None


def resolve_key(options: HookOptions, root: str, environ: Mapping[str, str] = os.environ) -> KeyDecision:
    """Find and load the signing key, or say why the wheel goes unsigned (when that is allowed)."""
    source = find_key(options, root, environ)
    if source is None:
        return KeyDecision(unsigned_reason=unsigned_warning(options, root))
    return KeyDecision(source, load_key(source, options, environ))
