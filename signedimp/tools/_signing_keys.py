"""Private keys that sign manifests: ``PrivateKey`` and ``generate_key``.

Every computation with a secret (deriving an Ed25519 public key, signing, RSA) is done by
pycryptodome's constant-time C code: Python's big integers are not constant-time, so a
pure-Python signer would leak the key through its timing.  pycryptodome is imported when a key
is made or read, not when this module is imported, so ``import signedimp.tools`` and
``signedimp --help`` stay cheap.  Only what involves no secret arithmetic (the PKCS#8 bytes of
an unencrypted Ed25519 seed) is done with the standard library.
"""

from __future__ import annotations

import binascii
import os

from ..errors import KeyFormatError
from ..keys import OID_ED25519, RSA_MIN_BITS, Ed25519Key, RSAKey
from ..rsa_pss import SALT_LEN

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs import time in every signed build
    from typing import Any

    PublicKey = Ed25519Key | RSAKey

# The algorithm constants (OIDs, RSA_MIN_BITS, the PSS SALT_LEN) are the runtime's: ``keys``, ``rsa_pss``.
PBKDF2_ITERATIONS = 200_000

#: Unencrypted PKCS#8 of an Ed25519 key (RFC 8410): everything before the 32-byte seed.
ED25519_PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")


class PrivateKey:
    """A signing key: Ed25519 (RFC 8032, pure) or RSA (RSASSA-PSS), signed by pycryptodome.

    ``public_key`` is the runtime key type, so what the tools sign is checked by exactly the
    code that will check it at import time.  ``PrivateKey(key)`` wraps a pycryptodome key;
    ``PrivateKey.from_ed25519_seed(seed)`` builds one.  pycryptodome is imported when a key is
    made, not at its first signature: a program that installs a ``SignedImportManager`` after
    loading its key can still sign with it.
    """

    def __init__(self, key: Any) -> None:
        if not key.has_private():
            raise KeyFormatError("a private key is needed to sign, not a public key")
        if _is_ed25519(key):
            self._init_ed25519(bytes(key.seed), key)
            return
        from Crypto.PublicKey import RSA

        if not isinstance(key, RSA.RsaKey):
            raise KeyFormatError("unsupported key type: only Ed25519 and RSA keys can sign")
        self.algorithm = "rsa"
        self.public_key: PublicKey = RSAKey(int(key.n), int(key.e))
        self._crypto: Any = key

    @classmethod
    def from_ed25519_seed(cls, seed: bytes) -> PrivateKey:
        """The Ed25519 key whose 32-byte private seed (RFC 8032) is ``seed``."""
        if len(seed) != 32:
            raise KeyFormatError(f"an Ed25519 private key is 32 bytes, not {len(seed)}")
        key = cls.__new__(cls)
        key._init_ed25519(bytes(seed), None)
        return key

    def _init_ed25519(self, seed: bytes, crypto: Any) -> None:
        from Crypto.PublicKey import ECC
        from Crypto.Signature import eddsa

        self.algorithm = "ed25519"
        self._seed = seed
        self._crypto = crypto if crypto is not None else ECC.construct(curve="ed25519", seed=seed)
        self._signer = eddsa.new(self._crypto, "rfc8032")
        raw = self._crypto.public_key().export_key(format="raw")
        self.public_key = Ed25519Key(bytes(raw))

    @property
    def fingerprint(self) -> str:
        """Lowercase hex SHA-256 of the public key's DER SubjectPublicKeyInfo."""
        return self.public_key.fingerprint

    @property
    def bits(self) -> int | None:
        """The RSA modulus size, or None for Ed25519."""
        return self._crypto.size_in_bits() if self.algorithm == "rsa" else None

    def sign(self, message: bytes) -> bytes:
        """Sign ``message``: Ed25519 (RFC 8032, pure), or RSASSA-PSS/SHA-256/MGF1-SHA-256/salt 32."""
        if self.algorithm == "ed25519":
            return self._signer.sign(message)
        from Crypto.Hash import SHA256
        from Crypto.Signature import pss

        signer = pss.new(self._crypto, mask_func=_mgf1_sha256, salt_bytes=SALT_LEN)
        return signer.sign(SHA256.new(message))

    def to_pem(self, passphrase: str | bytes | None = None) -> bytes:
        """PKCS#8 PEM; with a passphrase, encrypted (PBKDF2 + AES-256-CBC) so openssl reads it."""
        if self.algorithm == "ed25519" and not passphrase:
            return _pem_encode("PRIVATE KEY", ED25519_PKCS8_PREFIX + self._seed)
        kwargs: dict[str, Any] = {"format": "PEM"}
        if self.algorithm == "rsa":
            kwargs["pkcs"] = 8
        if passphrase:
            kwargs["passphrase"] = passphrase
            kwargs["protection"] = "PBKDF2WithHMAC-SHA256AndAES256-CBC"
            kwargs["prot_params"] = {"iteration_count": PBKDF2_ITERATIONS}
        pem = _export_with_fallback(self._crypto, kwargs)
        return (pem if isinstance(pem, bytes) else pem.encode("ascii")).rstrip(b"\n") + b"\n"

    def public_pem(self) -> bytes:
        """SubjectPublicKeyInfo PEM of the public half."""
        return self.public_key.to_pem().encode("ascii").rstrip(b"\n") + b"\n"

    def __repr__(self) -> str:
        return f"<PrivateKey {self.algorithm} {self.fingerprint}>"


def _mgf1_sha256(seed: bytes, length: int) -> bytes:
    from Crypto.Hash import SHA256
    from Crypto.Signature.pss import MGF1

    return MGF1(seed, length, SHA256)


def _is_ed25519(key: Any) -> bool:
    return str(getattr(key, "curve", "")).lower() in ("ed25519", OID_ED25519)


def _pem_encode(label: str, der: bytes) -> bytes:
    """A PEM block with 64-character base64 lines, as openssl and pycryptodome write them."""
    b64 = binascii.b2a_base64(der, newline=False)
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    head, tail = f"-----BEGIN {label}-----".encode(), f"-----END {label}-----".encode()
    return b"\n".join([head, *lines, tail]) + b"\n"


def _export_with_fallback(key: Any, kwargs: dict[str, Any]) -> Any:
    """Export, dropping options an older pycryptodome does not know (prot_params, SHA-256 PBKDF2)."""
    try:
        return key.export_key(**kwargs)
    except (TypeError, ValueError):
        if "passphrase" not in kwargs:
            raise
    kwargs = dict(kwargs)
    kwargs.pop("prot_params", None)
    try:
        return key.export_key(**kwargs)
    except ValueError:
        kwargs["protection"] = "PBKDF2WithHMAC-SHA1AndAES256-CBC"
        return key.export_key(**kwargs)


def generate_key(kind: str = "ed25519", bits: int = 3072) -> PrivateKey:
    """Make a new signing key; Ed25519 is the default (deterministic signatures, reproducible builds)."""
    kind = kind.lower()
    if kind == "ed25519":
        return PrivateKey.from_ed25519_seed(os.urandom(32))
    if kind == "rsa":
        if bits < RSA_MIN_BITS:
            raise ValueError(f"RSA keys must have at least {RSA_MIN_BITS} bits, not {bits}")
        from Crypto.PublicKey import RSA

        return PrivateKey(RSA.generate(bits))
    raise ValueError(f"unknown key type {kind!r}: use 'ed25519' or 'rsa'")
