"""Reading private keys: ``load_private_key`` for PKCS#8 PEM (encrypted or not), traditional RSA PEM
and OpenSSH private keys (``ssh-keygen``).

An unencrypted Ed25519 key, the default and what ``openssl genpkey`` writes, is recognised by its
one fixed 48-byte encoding with the standard library (the seed is then handed to pycryptodome, by
``PrivateKey``); every other form goes to pycryptodome's PEM and PKCS#8 readers, which read them
all and give the precise error.
"""

from __future__ import annotations

import binascii

from ..errors import KeyFormatError
from ..keys import OID_ED25519, OID_RSA_ENCRYPTION, RSA_MIN_BITS, _b64decode_strict
from ._signing_keys import ED25519_PKCS8_PREFIX, PrivateKey

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs import time in every signed build
    from typing import Any


class PublicKeyGiven(KeyFormatError):
    """A public key where signing needs the private one (the ``.pub`` file, an ``ssh-`` line)."""


class PassphraseNeeded(KeyFormatError):
    """The private key is encrypted and no passphrase was given."""


class WrongPassphrase(KeyFormatError):
    """The passphrase does not decrypt the private key (or the encrypted key is damaged)."""


def load_private_key(pem: str | bytes, passphrase: str | bytes | None = None) -> PrivateKey:
    """Read a PKCS#8 PEM private key (encrypted or not), a traditional RSA PEM key, or an
    OpenSSH private key (Ed25519 or RSA, encrypted or not) as ``ssh-keygen`` writes it.

    Every failure is a ``KeyFormatError`` that says which: a public key where a private one
    is needed, a missing or wrong passphrase, an unsupported algorithm, or unreadable data.
    """
    text = _pem_text(pem)
    label = _pem_label(text)
    if passphrase == "" or passphrase == b"":
        passphrase = None
    if label == "ENCRYPTED PRIVATE KEY":
        if passphrase is None:
            raise PassphraseNeeded("the private key is encrypted: a passphrase is needed")
        return _load_pkcs8(_pem_block(text, label), passphrase, encrypted=True)
    if label == "PRIVATE KEY":
        block = _pem_block(text, label)
        seed = _plain_ed25519_seed(block)
        if seed is not None:
            return PrivateKey.from_ed25519_seed(seed)
        return _load_pkcs8(block, None, encrypted=False)
    if label == "RSA PRIVATE KEY":
        return _load_traditional_rsa(_pem_block(text, label), passphrase)
    if label == "OPENSSH PRIVATE KEY":
        from ._openssh_private import load_openssh_private_key

        return load_openssh_private_key(_pem_block(text, label), passphrase)
    if label == "EC PRIVATE KEY":
        raise KeyFormatError("unsupported private key type (EC): use an Ed25519 or RSA key")
    raise KeyFormatError(f"unsupported PEM block {label!r}: expected a PKCS#8 private key")


def _plain_ed25519_seed(block: str) -> bytes | None:
    """The seed of an unencrypted RFC 8410 Ed25519 PKCS#8 block, or None for anything else.

    Only the exact 48-byte encoding openssl and pycryptodome write is taken here; every
    other form (headers, attributes, a public key inside, other algorithms) goes to
    pycryptodome, which reads them all and gives the precise error.
    """
    lines = block.strip().splitlines()[1:-1]
    try:
        der = _b64decode_strict("".join(line.strip() for line in lines))
    except binascii.Error:
        return None
    if len(der) != 48 or not der.startswith(ED25519_PKCS8_PREFIX):
        return None
    return der[len(ED25519_PKCS8_PREFIX) :]


def _pem_text(pem: str | bytes) -> str:
    if isinstance(pem, bytes):
        try:
            return pem.decode("ascii")
        except UnicodeDecodeError:
            raise KeyFormatError("not a PEM key: the data is binary, not text") from None
    return pem


_LABEL_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ")


def _first_pem_label(text: str) -> str | None:
    """The label of the first ``-----BEGIN <LABEL>-----`` line (capitals, digits, spaces)."""
    start = 0
    while True:
        start = text.find("-----BEGIN ", start)
        if start < 0:
            return None
        start += len("-----BEGIN ")
        end = text.find("-----", start)
        label = text[start:end] if end > start else ""
        if label and _LABEL_CHARS.issuperset(label):
            return label


def _pem_label(text: str) -> str:
    """The label of the first PEM block, after rejecting public keys with a clear message."""
    stripped = text.strip()
    if stripped.startswith(("ssh-ed25519 ", "ssh-rsa ", "ecdsa-sha2-")):
        raise PublicKeyGiven("this is an SSH public key, but a private key is needed to sign")
    label = _first_pem_label(text)
    if label is None:
        raise KeyFormatError("not a PEM key: no '-----BEGIN ...-----' line found")
    if label in ("PUBLIC KEY", "RSA PUBLIC KEY"):
        raise PublicKeyGiven("this is a public key, but a private key is needed to sign")
    return label


def _pem_block(text: str, label: str) -> str:
    begin = f"-----BEGIN {label}-----"
    end = f"-----END {label}-----"
    start = text.find(begin)
    stop = text.find(end, start)
    if stop < 0:
        raise KeyFormatError(f"not a PEM key: '{begin}' has no matching '{end}' line")
    return text[start : stop + len(end)]


def _decode_pem(block: str) -> bytes:
    from Crypto.IO import PEM

    try:
        der, _marker, _encrypted = PEM.decode(block)
    except (ValueError, IndexError, TypeError) as exc:
        raise KeyFormatError(f"not a valid PEM key: {exc}") from None
    return der


def _load_pkcs8(block: str, passphrase: str | bytes | None, *, encrypted: bool) -> PrivateKey:
    from Crypto.IO import PKCS8

    der = _decode_pem(block)
    try:
        oid, inner, _params = PKCS8.unwrap(der, passphrase)
    except (ValueError, IndexError, TypeError, KeyError) as exc:
        if encrypted:
            raise WrongPassphrase(
                "cannot decrypt the private key: wrong passphrase (or the key is corrupted)"
            ) from None
        raise KeyFormatError(f"not a valid PKCS#8 private key: {exc}") from None
    if oid == OID_ED25519:
        return _ed25519_from_pkcs8(inner)
    if oid == OID_RSA_ENCRYPTION:
        return _rsa_from_der(inner)
    raise KeyFormatError(f"unsupported private key algorithm (OID {oid}): use an Ed25519 or RSA key")


def _ed25519_from_pkcs8(inner: bytes) -> PrivateKey:
    from Crypto.Util.asn1 import DerOctetString

    try:
        seed = DerOctetString().decode(inner).payload
    except (ValueError, IndexError, TypeError) as exc:
        raise KeyFormatError(f"not a valid Ed25519 private key: {exc}") from None
    if len(seed) != 32:
        raise KeyFormatError(f"not a valid Ed25519 private key: the seed is {len(seed)} bytes, not 32")
    return PrivateKey.from_ed25519_seed(seed)


def _rsa_from_der(der: bytes) -> PrivateKey:
    from Crypto.PublicKey import RSA

    try:
        key = RSA.import_key(der)
    except (ValueError, IndexError, TypeError) as exc:
        raise KeyFormatError(f"not a valid RSA private key: {exc}") from None
    return checked_rsa(key)


def checked_rsa(key: Any) -> PrivateKey:
    if key.size_in_bits() < RSA_MIN_BITS:
        raise KeyFormatError(
            f"RSA key too small ({key.size_in_bits()} bits): at least {RSA_MIN_BITS} bits are needed"
        )
    return PrivateKey(key)


def _load_traditional_rsa(block: str, passphrase: str | bytes | None) -> PrivateKey:
    from Crypto.PublicKey import RSA

    encrypted = "ENCRYPTED" in block.split("\n\n", 1)[0] and "Proc-Type:" in block
    if encrypted and passphrase is None:
        raise PassphraseNeeded("the private key is encrypted: a passphrase is needed")
    try:
        key = RSA.import_key(block, passphrase=passphrase if encrypted else None)
    except (ValueError, IndexError, TypeError) as exc:
        if encrypted:
            raise WrongPassphrase(
                "cannot decrypt the private key: wrong passphrase (or the key is corrupted)"
            ) from None
        raise KeyFormatError(f"not a valid RSA private key: {exc}") from None
    return checked_rsa(key)
