"""Signing tools: keys, manifests, in-place signing of trees and archives, offline audits.

This module is for build machines and developers, not for the runtime.  The runtime half
(``signedimp.keys``, ``signedimp.manifest``) stays standard-library only, and everything this
module writes is checked with those same runtime types.

It is imported by the Hatch build hook in every signed build, so it imports little: Ed25519
keys in unencrypted PKCS#8 (the default, and what ``openssl genpkey`` writes) are read and
used with the standard library alone; pycryptodome is imported only for what needs it (RSA
keys, encrypted keys, key generation of RSA keys), and ``zipfile``, ``csv`` and ``tempfile``
only by the functions that use them.

Every signing function works in place and atomically: the new file is written beside the
old one, flushed to disk, and moved over it with ``os.replace``; on any error the original
is left untouched and no temporary file remains.  Archives are rewritten by copying each
member's compressed bytes as they are: only the manifest (and a wheel's RECORD) are new.
"""

from __future__ import annotations

import binascii
import hashlib
import os
import stat
import struct
import time
import zlib

from .errors import KeyFormatError, ManifestError, SignatureMismatch, ZipFormatError
from .keys import Ed25519Key, RSAKey, key_ring, load_public_key
from .manifest import MANIFEST_NAME, Manifest, Signature, check_path

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs import time in every signed build
    import zipfile
    from collections.abc import Callable, Iterable, Iterator, Mapping
    from typing import Any, BinaryIO, Union

    PublicKey = Union[Ed25519Key, RSAKey]
    PathLike = Union[str, "os.PathLike[str]"]

__all__ = [
    "FileResult",
    "PrivateKey",
    "Problem",
    "VerifyReport",
    "generate_key",
    "load_private_key",
    "load_signing_key",
    "load_verify_keys",
    "sha256_hex",
    "sign_directory",
    "sign_manifest",
    "sign_path",
    "sign_wheel",
    "sign_zipfile",
    "verify_path",
]

KEY_ENV = "SIGNEDIMP_KEY"
PASSPHRASE_ENV = "SIGNEDIMP_KEY_PASSPHRASE"

ED25519_OID = "1.3.101.112"
RSA_OID = "1.2.840.113549.1.1.1"
MIN_RSA_BITS = 2048
RSA_SALT_BYTES = 32
PBKDF2_ITERATIONS = 200_000

# Zip timestamps: DOS dates cover 1980-01-01 .. 2107-12-31.
ZIP_EPOCH_MIN = 315532800
ZIP_EPOCH_MAX = 4354819198
MANIFEST_MODE = 0o644
_CHUNK = 1 << 20


# ------------------------------------------------------------------- Ed25519 signing
#
# RFC 8032 "pure" Ed25519 signing in Python, so that the common case (an Ed25519 key in a
# build's environment) needs no pycryptodome: importing it costs more than the whole
# rewrite of a 1,000-file wheel.  Signatures are deterministic, so they are byte-identical to
# pycryptodome's and OpenSSL's (the tests check this).  The scalar multiplication uses a
# fixed 4-bit window with an addition in every window, so the sequence of operations does
# not depend on the secret; Python's big integers are not constant-time, though, so the
# timing of each operation may.  Signing happens on a build machine a handful of times per
# build; where local timing attacks matter, use an RSA key (pycryptodome) or sign elsewhere.

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D2 = 2 * (-121665 * pow(121666, _P - 2, _P)) % _P
_BASE_X = 15112221349535400772501151409588531511454012693041857206046113283949847762202
_BASE_Y = 46316835694926478169428394003475163141307993866256225615783033603165251855960
_IDENTITY = (0, 1, 1, 0)

# Unencrypted PKCS#8 of an Ed25519 key (RFC 8410): everything before the 32-byte seed.
_ED25519_PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")

_base_table: list = []


def _ed_double(point: tuple) -> tuple:
    """2P in extended coordinates (RFC 8032, section 5.1.4)."""
    x, y, z, _t = point
    a = x * x % _P
    b = y * y % _P
    c = 2 * z * z % _P
    h = a + b
    e = h - (x + y) * (x + y) % _P
    g = a - b
    f = c + g
    return e * f % _P, g * h % _P, f * g % _P, e * h % _P


def _ed_add(point: tuple, cached: tuple) -> tuple:
    """P + Q, with Q in cached form (Y+X, Y-X, 2dT, 2Z); complete: any P and Q."""
    x, y, z, t = point
    qp, qm, qt, qz = cached
    a = (y - x) * qm % _P
    b = (y + x) * qp % _P
    c = t * qt % _P
    d = z * qz % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return e * f % _P, g * h % _P, f * g % _P, e * h % _P


def _ed_cached(point: tuple) -> tuple:
    x, y, z, t = point
    return (y + x) % _P, (y - x) % _P, _D2 * t % _P, 2 * z % _P


def _ed_base_table() -> list:
    """[0]B .. [15]B in cached form, built on first use."""
    if not _base_table:
        base = (_BASE_X, _BASE_Y, 1, _BASE_X * _BASE_Y % _P)
        point = _IDENTITY
        for _ in range(16):
            _base_table.append(_ed_cached(point))
            point = _ed_add(point, _ed_cached(base))
    return _base_table


def _ed_base_mult(scalar: int) -> bytes:
    """The encoding of [scalar]B, for 0 <= scalar < 2**256: 64 windows, always 4 doublings + 1 add."""
    table = _ed_base_table()
    point = _IDENTITY
    for shift in range(252, -4, -4):
        point = _ed_double(_ed_double(_ed_double(_ed_double(point))))
        point = _ed_add(point, table[(scalar >> shift) & 15])
    x, y, z, _t = point
    inverse = pow(z, _P - 2, _P)
    x, y = x * inverse % _P, y * inverse % _P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def _ed_expand(seed: bytes) -> tuple[int, bytes]:
    """The secret scalar and the nonce prefix of an Ed25519 seed (RFC 8032, section 5.1.5)."""
    digest = hashlib.sha512(seed).digest()
    scalar = int.from_bytes(digest[:32], "little")
    scalar &= (1 << 254) - 8
    scalar |= 1 << 254
    return scalar, digest[32:]


def _ed_hash_int(*parts: bytes) -> int:
    return int.from_bytes(hashlib.sha512(b"".join(parts)).digest(), "little") % _L


def _ed_sign(seed: bytes, public: bytes, message: bytes) -> bytes:
    """A pure Ed25519 signature (RFC 8032, section 5.1.6)."""
    scalar, prefix = _ed_expand(seed)
    nonce = _ed_hash_int(prefix, message)
    r = _ed_base_mult(nonce)
    k = _ed_hash_int(r, public, message)
    return r + ((nonce + k * scalar) % _L).to_bytes(32, "little")


# --------------------------------------------------------------------------- keys


class PrivateKey:
    """A signing key: Ed25519 (signed with the standard library) or RSA (pycryptodome).

    ``public_key`` is the runtime key type, so what the tools sign is checked by exactly the
    code that will check it at import time.  ``PrivateKey(key)`` wraps a pycryptodome key;
    ``PrivateKey.from_ed25519_seed(seed)`` needs no pycryptodome at all.
    """

    def __init__(self, key: Any) -> None:
        if not key.has_private():
            raise KeyFormatError("a private key is needed to sign, not a public key")
        if _is_ed25519(key):
            self._init_ed25519(bytes(key.seed))
            return
        from Crypto.PublicKey import RSA

        if not isinstance(key, RSA.RsaKey):
            raise KeyFormatError("unsupported key type: only Ed25519 and RSA keys can sign")
        self.algorithm = "rsa"
        self.public_key: PublicKey = RSAKey(int(key.n), int(key.e))
        self._rsa = key

    @classmethod
    def from_ed25519_seed(cls, seed: bytes) -> PrivateKey:
        """The Ed25519 key whose 32-byte private seed (RFC 8032) is ``seed``."""
        if len(seed) != 32:
            raise KeyFormatError(f"an Ed25519 private key is 32 bytes, not {len(seed)}")
        key = cls.__new__(cls)
        key._init_ed25519(bytes(seed))
        return key

    def _init_ed25519(self, seed: bytes) -> None:
        self.algorithm = "ed25519"
        self._seed = seed
        self.public_key = Ed25519Key(_ed_base_mult(_ed_expand(seed)[0]))

    @property
    def fingerprint(self) -> str:
        """Lowercase hex SHA-256 of the public key's DER SubjectPublicKeyInfo."""
        return self.public_key.fingerprint

    @property
    def bits(self) -> int | None:
        """The RSA modulus size, or None for Ed25519."""
        return self._rsa.size_in_bits() if self.algorithm == "rsa" else None

    def sign(self, message: bytes) -> bytes:
        """Sign ``message``: pure Ed25519, or RSASSA-PSS/SHA-256/MGF1-SHA-256/salt 32."""
        if self.algorithm == "ed25519":
            return _ed_sign(self._seed, self.public_key.public_bytes, message)
        from Crypto.Hash import SHA256
        from Crypto.Signature import pss

        signer = pss.new(self._rsa, mask_func=_mgf1_sha256, salt_bytes=RSA_SALT_BYTES)
        return signer.sign(SHA256.new(message))

    def to_pem(self, passphrase: str | bytes | None = None) -> bytes:
        """PKCS#8 PEM; with a passphrase, encrypted (PBKDF2 + AES-256-CBC) so openssl reads it."""
        if self.algorithm == "ed25519" and not passphrase:
            return _pem_encode("PRIVATE KEY", _ED25519_PKCS8_PREFIX + self._seed)
        kwargs: dict[str, Any] = {"format": "PEM"}
        if self.algorithm == "rsa":
            kwargs["pkcs"] = 8
        if passphrase:
            kwargs["passphrase"] = passphrase
            kwargs["protection"] = "PBKDF2WithHMAC-SHA256AndAES256-CBC"
            kwargs["prot_params"] = {"iteration_count": PBKDF2_ITERATIONS}
        pem = _export_with_fallback(self._crypto_key(), kwargs)
        return (pem if isinstance(pem, bytes) else pem.encode("ascii")).rstrip(b"\n") + b"\n"

    def public_pem(self) -> bytes:
        """SubjectPublicKeyInfo PEM of the public half."""
        return self.public_key.to_pem().encode("ascii").rstrip(b"\n") + b"\n"

    def _crypto_key(self) -> Any:
        """The pycryptodome key, for exports that need it (encryption)."""
        if self.algorithm == "rsa":
            return self._rsa
        from Crypto.PublicKey import ECC

        return ECC.construct(curve="ed25519", seed=self._seed)

    def __repr__(self) -> str:
        return f"<PrivateKey {self.algorithm} {self.fingerprint}>"


def _mgf1_sha256(seed: bytes, length: int) -> bytes:
    from Crypto.Hash import SHA256
    from Crypto.Signature.pss import MGF1

    return MGF1(seed, length, SHA256)


def _is_ed25519(key: Any) -> bool:
    return str(getattr(key, "curve", "")).lower() in ("ed25519", "1.3.101.112")


def _pem_encode(label: str, der: bytes) -> bytes:
    """A PEM block with 64-character base64 lines, as openssl and pycryptodome write them."""
    b64 = binascii.b2a_base64(der, newline=False)
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
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
        if bits < MIN_RSA_BITS:
            raise ValueError(f"RSA keys must have at least {MIN_RSA_BITS} bits, not {bits}")
        from Crypto.PublicKey import RSA

        return PrivateKey(RSA.generate(bits))
    raise ValueError(f"unknown key type {kind!r}: use 'ed25519' or 'rsa'")


def load_private_key(pem: str | bytes, passphrase: str | bytes | None = None) -> PrivateKey:
    """Read a PKCS#8 PEM private key (encrypted or not), or a traditional RSA PEM key.

    Every failure is a ``KeyFormatError`` that says which: a public key where a private one
    is needed, a missing or wrong passphrase, an unsupported algorithm, or unreadable data.
    """
    text = _pem_text(pem)
    label = _pem_label(text)
    if passphrase == "" or passphrase == b"":
        passphrase = None
    if label == "ENCRYPTED PRIVATE KEY":
        if passphrase is None:
            raise KeyFormatError("the private key is encrypted: a passphrase is needed")
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
        raise KeyFormatError(
            "OpenSSH private keys are not supported: convert with 'ssh-keygen -p -m PKCS8 -f KEY'"
        )
    if label == "EC PRIVATE KEY":
        raise KeyFormatError("unsupported private key type (EC): use an Ed25519 or RSA key")
    raise KeyFormatError(f"unsupported PEM block {label!r}: expected a PKCS#8 private key")


_B64_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")


def _plain_ed25519_seed(block: str) -> bytes | None:
    """The seed of an unencrypted RFC 8410 Ed25519 PKCS#8 block, or None for anything else.

    Only the exact 48-byte encoding openssl and pycryptodome write is taken here; every
    other form (headers, attributes, a public key inside, other algorithms) goes to
    pycryptodome, which reads them all and gives the precise error.
    """
    lines = block.strip().splitlines()[1:-1]
    body = "".join(line.strip() for line in lines).encode("ascii")
    if not body or not _B64_ALPHABET.issuperset(body):
        return None
    try:
        der = binascii.a2b_base64(body)
    except binascii.Error:
        return None
    if len(der) != 48 or not der.startswith(_ED25519_PKCS8_PREFIX):
        return None
    return der[len(_ED25519_PKCS8_PREFIX):]


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
        raise KeyFormatError("this is an SSH public key, but a private key is needed to sign")
    label = _first_pem_label(text)
    if label is None:
        raise KeyFormatError("not a PEM key: no '-----BEGIN ...-----' line found")
    if label in ("PUBLIC KEY", "RSA PUBLIC KEY"):
        raise KeyFormatError("this is a public key, but a private key is needed to sign")
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
            raise KeyFormatError(
                "cannot decrypt the private key: wrong passphrase (or the key is corrupted)"
            ) from None
        raise KeyFormatError(f"not a valid PKCS#8 private key: {exc}") from None
    if oid == ED25519_OID:
        return _ed25519_from_pkcs8(inner)
    if oid == RSA_OID:
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
    return _checked_rsa(key)


def _checked_rsa(key: Any) -> PrivateKey:
    if key.size_in_bits() < MIN_RSA_BITS:
        raise KeyFormatError(
            f"RSA key too small ({key.size_in_bits()} bits): at least {MIN_RSA_BITS} bits are needed"
        )
    return PrivateKey(key)


def _load_traditional_rsa(block: str, passphrase: str | bytes | None) -> PrivateKey:
    from Crypto.PublicKey import RSA

    encrypted = "ENCRYPTED" in block.split("\n\n", 1)[0] and "Proc-Type:" in block
    if encrypted and passphrase is None:
        raise KeyFormatError("the private key is encrypted: a passphrase is needed")
    try:
        key = RSA.import_key(block, passphrase=passphrase if encrypted else None)
    except (ValueError, IndexError, TypeError) as exc:
        if encrypted:
            raise KeyFormatError(
                "cannot decrypt the private key: wrong passphrase (or the key is corrupted)"
            ) from None
        raise KeyFormatError(f"not a valid RSA private key: {exc}") from None
    return _checked_rsa(key)

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
        try:
            data = _read_file(source)
        except OSError as exc:
            raise KeyFormatError(f"{source}: cannot read key file: {exc.strerror or exc}") from None
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


def _passphrase_hint(exc: Exception) -> str:
    """Tell the user where a passphrase can come from when one was missing."""
    if "passphrase is needed" in str(exc):
        return f" (set {PASSPHRASE_ENV} or use --passphrase-env VAR)"
    return ""


def load_verify_keys(path: PathLike, *, env: Mapping[str, str] = os.environ) -> list[PublicKey]:
    """Public keys for verifying, from a public PEM, ``ssh-ed25519`` lines, or a private key file."""
    source = os.fspath(path)
    try:
        data = _read_file(source)
    except OSError as exc:
        raise KeyFormatError(f"{source}: cannot read key file: {exc.strerror or exc}") from None
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


# ---------------------------------------------------------------------- manifests


def sha256_hex(data: bytes) -> str:
    """Lowercase hex SHA-256, the manifest's only hash type."""
    return hashlib.sha256(data).hexdigest()


def _read_file(path: PathLike) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def _file_sha256(path: PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sign_manifest(
    hashes: Mapping[str, str], key: PrivateKey, previous: Manifest | None = None
) -> Manifest:
    """Sign ``hashes``; co-sign ``previous`` when it lists exactly the same files and hashes.

    Same hash lines: the previous signature lines stay and this key's line is added (or
    replaced, for re-signing with the same key).  Anything changed: the old signatures no
    longer cover the content, so the result carries only this key's line.
    """
    unsigned = Manifest(hashes)
    message = unsigned.signed_bytes()
    base = previous if previous is not None and previous.signed_bytes() == message else unsigned
    return base.with_signature(Signature(key.fingerprint, key.sign(message)))


def _previous_manifest(data: bytes | None, source: str) -> Manifest | None:
    """The manifest being replaced, for co-signing; an unreadable one is simply replaced."""
    if data is None:
        return None
    try:
        return Manifest.parse(data, source=source)
    except ValueError:
        return None


# ----------------------------------------------------------------- atomic writes


class _AtomicFile:
    """A temp file beside ``target``; on a clean exit it is fsynced and moved over ``target``.

    On any exception the temp file is removed and ``target`` is left as it was.
    """

    def __init__(self, target: str, mode: int) -> None:
        self.target = target
        self.directory = os.path.dirname(target) or os.curdir
        self.mode = mode

    def __enter__(self) -> BinaryIO:
        import tempfile

        name = os.path.basename(self.target)
        fd, self.tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{name}.", suffix=".tmp")
        self.fh = os.fdopen(fd, "wb")
        return self.fh

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if exc_type is None:
                self.fh.flush()
                os.fsync(self.fh.fileno())
            self.fh.close()
            if exc_type is None:
                os.chmod(self.tmp, self.mode)
                os.replace(self.tmp, self.target)
        except BaseException:
            _unlink_quietly(self.tmp)
            raise
        if exc_type is not None:
            _unlink_quietly(self.tmp)
            return
        _fsync_directory(self.directory)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _fsync_directory(path: str) -> None:
    """Make the rename durable where the platform allows it (POSIX); best effort elsewhere."""
    if os.name != "posix":
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _existing_mode(path: str, default: int) -> int:
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return default


# ----------------------------------------------------------------- directories


def _is_within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _walk_tree(root: str, errors: list[str] | None = None) -> Iterator[tuple[str, str]]:
    """Yield (manifest path, filesystem path) for every file under ``root``, sorted.

    Symlinks are followed when they stay inside the tree (the file is hashed by content);
    a link that leads outside, dangles, or loops is an error, as is any special file.
    Errors raise ``ValueError``, or, when ``errors`` is a list, are collected there and the
    offending entry is skipped (an audit reports everything instead of stopping).
    """
    real_root = os.path.realpath(root)
    yield from _walk_dir(root, (), real_root, frozenset({real_root}), errors)


def _walk_dir(
    directory: str,
    parts: tuple[str, ...],
    real_root: str,
    active: frozenset[str],
    errors: list[str] | None,
) -> Iterator[tuple[str, str]]:
    with os.scandir(directory) as it:
        entries = sorted(it, key=lambda e: e.name.encode("utf-8", "surrogateescape"))
    for entry in entries:
        rel_parts = (*parts, entry.name)
        try:
            if entry.is_symlink():
                _check_symlink(entry.path, real_root)
            if entry.is_dir(follow_symlinks=True):
                real = os.path.realpath(entry.path)
                if real in active:
                    raise ValueError(f"{entry.path}: symlink loop")
                yield from _walk_dir(entry.path, rel_parts, real_root, active | {real}, errors)
            elif entry.is_file(follow_symlinks=True):
                yield _checked_rel("/".join(rel_parts), entry.path), entry.path
            else:
                raise ValueError(f"{entry.path}: not a regular file or directory")
        except ValueError as exc:
            if errors is None:
                raise
            errors.append(str(exc))


def _check_symlink(path: str, real_root: str) -> None:
    target = os.path.realpath(path)
    if not _is_within(target, real_root):
        raise ValueError(f"{path}: symlink points outside the tree (to {target})")
    if not os.path.exists(target):
        raise ValueError(f"{path}: dangling symlink")


def _checked_rel(rel: str, where: str) -> str:
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{where}: file name is not valid UTF-8") from None
    try:
        check_path(rel)
    except ValueError as exc:
        raise ValueError(f"{where}: cannot be listed in a manifest: {exc}") from None
    return rel


def sign_directory(path: PathLike, key: PrivateKey) -> Manifest:
    """Write ``<path>/signedimp-manifest.txt`` listing every file below ``path``.

    ``__pycache__`` bytecode is listed too: sealing an environment after ``compileall`` lets
    the runtime use that bytecode.  Only the root manifest itself is left out.
    """
    root = os.fspath(path)
    if not os.path.isdir(root):
        raise NotADirectoryError(f"{root}: not a directory")
    target = os.path.join(root, MANIFEST_NAME)
    hashes = {rel: _file_sha256(fs) for rel, fs in _walk_tree(root) if rel != MANIFEST_NAME}
    previous = _read_file(target) if os.path.isfile(target) else None
    manifest = sign_manifest(hashes, key, _previous_manifest(previous, target))
    with _AtomicFile(target, _existing_mode(target, MANIFEST_MODE)) as fh:
        fh.write(manifest.serialise())
    return manifest


# ------------------------------------------------------------------------ zips
#
# Archives are rewritten, never appended to, and never recompressed: each member's local
# header and compressed bytes are copied as they are, at a new offset, and the central
# directory is written anew from the old one.  Each member is decompressed exactly once, to
# hash it and to check its CRC-32 and size; only the manifest (and a wheel's RECORD) are
# compressed here.  Offsets are written relative to the start of the zip, after any prefix
# (a "#!" line), as zipfile and zipapp write them.

_LOCAL = struct.Struct("<4s2B4HL2L2H")       # local file header
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")   # central directory file header
_END = struct.Struct("<4s4H2LH")             # end of central directory record
_END64 = struct.Struct("<4sQ2H2L4Q")         # ZIP64 end of central directory record
_END64_LOCATOR = struct.Struct("<4sLQL")     # ZIP64 end of central directory locator
_EXTRA_HEADER = struct.Struct("<2H")
_LOCAL_SIGNATURE = b"PK\x03\x04"

_ZIP64_EXTRA = 0x0001
_ZIP64_LIMIT = (1 << 31) - 1   # as zipfile: larger sizes and offsets go to ZIP64 fields
_COUNT_LIMIT = 0xFFFF
_FULL32 = 0xFFFFFFFF
_FLAG_ENCRYPTED = 0x01
_FLAG_DESCRIPTOR = 0x08        # sizes and CRC in a data descriptor after the data
_STORED, _DEFLATED = 0, 8


class _Entry:
    """One member of the archive being written: its central directory fields (a ZipInfo),
    the local header to write, where its compressed bytes are, and its content's SHA-256.

    ``data`` holds the content only for the members the signer reads (RECORD, an old
    manifest); every other member is hashed and then copied without being kept.
    """

    __slots__ = ("info", "name", "name_bytes", "local", "source", "start", "digest", "data")

    def __init__(self, info: zipfile.ZipInfo, name_bytes: bytes, local: bytes, source: Any,
                 start: int, digest: bytes, data: bytes | None) -> None:
        self.info = info
        self.name = info.orig_filename
        self.name_bytes = name_bytes
        self.local = local
        self.source = source
        self.start = start
        self.digest = digest
        self.data = data

    def is_dir(self) -> bool:
        return self.name.endswith("/")


class _Archive:
    """A zip read for rewriting: the bytes before it (a shebang), its members, its comment."""

    __slots__ = ("prefix", "members", "comment")

    def __init__(self, prefix: bytes, members: list[_Entry], comment: bytes) -> None:
        self.prefix = prefix
        self.members = members
        self.comment = comment

    def files(self) -> Iterator[_Entry]:
        return (m for m in self.members if not m.is_dir())

    def index(self, name: str) -> int | None:
        for i, member in enumerate(self.members):
            if member.name == name:
                return i
        return None


def _is_drive_path(name: str) -> bool:
    return len(name) >= 2 and name[1] == ":" and name[0].isascii() and name[0].isalpha()


def _check_member_name(archive: str, name: str) -> None:
    segments = name.split("/")
    if name.startswith(("/", "\\")) or _is_drive_path(name):
        raise ZipFormatError(f"{archive}: absolute member name {name!r}")
    if ".." in segments or ".." in name.split("\\"):
        raise ZipFormatError(f"{archive}: member name {name!r} escapes the archive ('..')")


def _check_names(where: str, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ZipFormatError(f"{where}: duplicate member name {name!r}")
        seen.add(name)
        _check_member_name(where, name)


class _Source:
    """An archive opened for rewriting: zipfile for its central directory, a read-only map of
    its bytes for copying.  Closed before the rewritten file replaces it (Windows needs that).
    """

    def __init__(self, path: str) -> None:
        self.where = path
        self.path = path

    def __enter__(self) -> _Source:
        import mmap
        import zipfile

        self.fh = open(self.path, "rb")
        try:
            self.zf = zipfile.ZipFile(self.fh)
            self.map = mmap.mmap(self.fh.fileno(), 0, access=mmap.ACCESS_READ)
        except (zipfile.BadZipFile, ValueError, EOFError, OSError) as exc:
            self.fh.close()
            raise ZipFormatError(f"{self.where}: not a valid zip archive: {exc}") from None
        return self

    def __exit__(self, *exc: Any) -> None:
        self.map.close()
        self.zf.close()
        self.fh.close()

    def read(self, keep: Callable[[str], bool]) -> _Archive:
        """Every member, checked (names, local header, CRC-32, size) and hashed once;
        the content is kept for the members ``keep(name)`` asks for."""
        infos = self.zf.infolist()
        _check_names(self.where, [i.orig_filename for i in infos])
        members = [_read_entry(self.where, self.zf, self.map, info, keep(info.orig_filename))
                   for info in infos]
        start = min((i.header_offset for i in infos), default=self.zf.start_dir)
        return _Archive(self.map[:start], members, self.zf.comment)


def _new_entry(info: zipfile.ZipInfo, data: bytes) -> _Entry:
    """A new member (the manifest, RECORD): ``info`` completed, ``data`` compressed.

    Deflate level 1: manifest and RECORD are mostly hex and base64 digests, which the
    default level 6 shrinks by only 3 % more, at three times the cost.
    """
    if info.compress_type == _STORED:
        payload = data
    else:
        info.compress_type = _DEFLATED
        compressor = zlib.compressobj(1, zlib.DEFLATED, -15)
        payload = compressor.compress(data) + compressor.flush()
    if not info.orig_filename.isascii():
        info.flag_bits |= 0x800
    info.CRC = zlib.crc32(data)
    info.file_size, info.compress_size = len(data), len(payload)
    name_bytes = _name_bytes(info)
    local = _new_local_header(info, name_bytes, info.extra)
    return _Entry(info, name_bytes, local, payload, 0, hashlib.sha256(data).digest(), data)


def _name_bytes(info: zipfile.ZipInfo) -> bytes:
    """The member name as stored: UTF-8 with flag bit 11, else code page 437 (as zipfile read it)."""
    name = info.orig_filename
    if name.isascii():
        return name.encode("ascii")
    return name.encode("utf-8" if info.flag_bits & 0x800 else "cp437")


def _corrupt(where: str, info: zipfile.ZipInfo, reason: str) -> ZipFormatError:
    return ZipFormatError(f"{where}: member {info.orig_filename!r} is corrupt: {reason}")


def _read_entry(where: str, zf: zipfile.ZipFile, buf: Any, info: zipfile.ZipInfo,
                keep: bool) -> _Entry:
    """Check one member's local header and content, hash the content once, and plan its copy."""
    if info.flag_bits & _FLAG_ENCRYPTED:
        raise ZipFormatError(f"{where}: member {info.orig_filename!r} is encrypted")
    name_bytes = _name_bytes(info)
    local, start = _local_header(where, info, buf, name_bytes)
    if start + info.compress_size > zf.start_dir:
        raise _corrupt(where, info, "its data runs into the central directory")
    digest, data = _hash_content(where, zf, buf, info, start, keep)
    return _Entry(info, name_bytes, local, buf, start, digest, data)


def _local_header(where: str, info: zipfile.ZipInfo, buf: Any,
                  name_bytes: bytes) -> tuple[bytes, int]:
    """The local header to write for ``info`` and where its compressed data starts.

    The old header is copied as it is when it agrees with the central directory; one that
    does not (sizes and CRC left in a data descriptor, or stale) is rebuilt from the central
    directory, whose values the content check then proves.  A header naming another file is
    refused, as zipfile refuses it.
    """
    offset = info.header_offset
    if offset + _LOCAL.size > len(buf):
        raise _corrupt(where, info, "its local header is outside the file")
    fields = _LOCAL.unpack_from(buf, offset)
    signature, name_size, extra_size = fields[0], fields[10], fields[11]
    name_start = offset + _LOCAL.size
    start = name_start + name_size + extra_size
    if signature != _LOCAL_SIGNATURE or start > len(buf):
        raise _corrupt(where, info, "bad local header")
    if buf[name_start:name_start + name_size] != name_bytes:
        raise _corrupt(where, info, "the local header names another file")
    extra = buf[name_start + name_size:start]
    if _local_agrees(info, fields, extra):
        return buf[offset:start], start
    return _new_local_header(info, name_bytes, _strip_zip64_extra(extra)), start


def _local_agrees(info: zipfile.ZipInfo, fields: tuple, extra: bytes) -> bool:
    """Whether a local header says what the central directory says (flags, method, time, sizes)."""
    (_, _, _, flags, method, dos_time, dos_date, crc, compress_size, file_size, _, _) = fields
    if flags != info.flag_bits or flags & _FLAG_DESCRIPTOR or method != info.compress_type:
        return False
    if (dos_date, dos_time) != _dos_date_time(info) or crc != info.CRC:
        return False
    sizes = _zip64_local_sizes(extra, file_size, compress_size)
    return sizes == (info.file_size, info.compress_size)


def _zip64_local_sizes(extra: bytes, file_size: int, compress_size: int) -> tuple[int, int] | None:
    """(file size, compressed size) of a local header, taking ZIP64 values where they are due."""
    if file_size != _FULL32 and compress_size != _FULL32:
        return file_size, compress_size
    values = _zip64_values(extra)
    if values is None:
        return None
    if file_size == _FULL32:
        if not values:
            return None
        file_size, values = values[0], values[1:]
    if compress_size == _FULL32:
        if not values:
            return None
        compress_size = values[0]
    return file_size, compress_size


def _extra_fields(extra: bytes) -> Iterator[tuple[int, bytes]]:
    """(id, data) of each well-formed extra field; trailing bytes too short for a header are dropped."""
    position = 0
    while position + _EXTRA_HEADER.size <= len(extra):
        field_id, size = _EXTRA_HEADER.unpack_from(extra, position)
        start = position + _EXTRA_HEADER.size
        position = start + size
        yield field_id, extra[start:position]


def _zip64_values(extra: bytes) -> list[int] | None:
    for field_id, data in _extra_fields(extra):
        if field_id == _ZIP64_EXTRA:
            return list(struct.unpack_from(f"<{len(data) // 8}Q", data))
    return None


def _strip_zip64_extra(extra: bytes) -> bytes:
    """Extra fields minus ZIP64 ones: those are written anew, for the new offsets."""
    out = bytearray()
    for field_id, data in _extra_fields(extra):
        if field_id != _ZIP64_EXTRA:
            out += _EXTRA_HEADER.pack(field_id, len(data)) + data
    return bytes(out)


def _dos_date_time(info: zipfile.ZipInfo) -> tuple[int, int]:
    """The MS-DOS (date, time) words of ``info.date_time`` (zipfile decodes them losslessly)."""
    year, month, day, hour, minute, second = info.date_time
    return (year - 1980) << 9 | month << 5 | day, hour << 11 | minute << 5 | second // 2


def _new_local_header(info: zipfile.ZipInfo, name_bytes: bytes, extra: bytes) -> bytes:
    """A local header from the central directory's values, without a data descriptor."""
    file_size, compress_size = info.file_size, info.compress_size
    version = info.extract_version
    if file_size > _ZIP64_LIMIT or compress_size > _ZIP64_LIMIT:
        extra = struct.pack("<2H2Q", _ZIP64_EXTRA, 16, file_size, compress_size) + extra
        file_size = compress_size = _FULL32
        version = max(version, 45)
    dos_date, dos_time = _dos_date_time(info)
    header = _LOCAL.pack(_LOCAL_SIGNATURE, version, info.reserved,
                         info.flag_bits & ~_FLAG_DESCRIPTOR, info.compress_type, dos_time,
                         dos_date, info.CRC, compress_size, file_size, len(name_bytes), len(extra))
    return header + name_bytes + extra


def _hash_content(where: str, zf: zipfile.ZipFile, buf: Any, info: zipfile.ZipInfo, start: int,
                  keep: bool) -> tuple[bytes, bytes | None]:
    """SHA-256 of the member's content, decompressed once and checked against CRC-32 and size."""
    if info.compress_size <= _CHUNK and info.compress_type in (_STORED, _DEFLATED):
        data = _small_content(where, info, buf, start)
        _check_content(where, info, len(data), zlib.crc32(data))
        return hashlib.sha256(data).digest(), (data if keep else None)
    digest = hashlib.sha256()
    crc = size = 0
    parts: list[bytes] = []
    for chunk in _content_chunks(where, zf, buf, info, start):
        digest.update(chunk)
        crc = zlib.crc32(chunk, crc)
        size += len(chunk)
        if size > info.file_size:
            raise _corrupt(where, info, "more data than its recorded size")
        if keep:
            parts.append(chunk)
    _check_content(where, info, size, crc)
    return digest.digest(), (b"".join(parts) if keep else None)


def _check_content(where: str, info: zipfile.ZipInfo, size: int, crc: int) -> None:
    if size != info.file_size:
        raise _corrupt(where, info, f"{size} bytes, not the recorded {info.file_size}")
    if crc != info.CRC:
        raise _corrupt(where, info, "bad CRC-32")


def _small_content(where: str, info: zipfile.ZipInfo, buf: Any, start: int) -> bytes:
    """The content of a stored or deflated member of at most _CHUNK compressed bytes, in one go
    (most members of a wheel: this path is what signing a large wheel costs)."""
    raw = buf[start:start + info.compress_size]
    if info.compress_type == _STORED:
        if info.compress_size != info.file_size:
            raise _corrupt(where, info, "stored with two different sizes")
        return raw
    inflater = zlib.decompressobj(-15)
    try:
        data = inflater.decompress(raw, info.file_size + 1)  # one byte more shows excess
    except zlib.error as exc:
        raise _corrupt(where, info, str(exc)) from None
    if len(data) > info.file_size:
        raise _corrupt(where, info, "more data than its recorded size")
    if not inflater.eof:
        raise _corrupt(where, info, "its deflate stream is truncated")
    if inflater.unused_data:
        raise _corrupt(where, info, "data after the end of its deflate stream")
    return data


def _content_chunks(where: str, zf: zipfile.ZipFile, buf: Any, info: zipfile.ZipInfo,
                    start: int) -> Iterator[bytes]:
    """The member's content in pieces of at most _CHUNK bytes (a bomb never fills memory)."""
    end = start + info.compress_size
    if info.compress_type == _STORED:
        if info.compress_size != info.file_size:
            raise _corrupt(where, info, "stored with two different sizes")
        for position in range(start, end, _CHUNK):
            yield buf[position:min(end, position + _CHUNK)]
    elif info.compress_type == _DEFLATED:
        yield from _inflate(where, info, buf, start, end)
    else:  # bzip2, lzma: rare in wheels and zipapps; zipfile reads them (and checks the CRC)
        yield from _zipfile_chunks(where, zf, info)


def _inflate(where: str, info: zipfile.ZipInfo, buf: Any, start: int, end: int) -> Iterator[bytes]:
    """Raw deflate of buf[start:end], which must hold exactly one complete stream."""
    inflater = zlib.decompressobj(-15)
    position = start
    try:
        while position < end and not inflater.eof:
            piece = buf[position:min(end, position + _CHUNK)]
            position += len(piece)
            while piece and not inflater.eof:
                yield inflater.decompress(piece, _CHUNK)
                piece = inflater.unconsumed_tail
        yield inflater.flush()
    except zlib.error as exc:
        raise _corrupt(where, info, str(exc)) from None
    if not inflater.eof:
        raise _corrupt(where, info, "its deflate stream is truncated")
    if inflater.unused_data or position < end:
        raise _corrupt(where, info, "data after the end of its deflate stream")


def _zipfile_chunks(where: str, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[bytes]:
    import zipfile

    try:
        with zf.open(info) as member:
            while chunk := member.read(_CHUNK):
                yield chunk
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError,
            RuntimeError) as exc:
        raise _corrupt(where, info, str(exc)) from None


def _central_record(entry: _Entry, offset: int) -> bytes:
    """The central directory record of ``entry`` with its local header at ``offset``."""
    info = entry.info
    extra = _strip_zip64_extra(info.extra)
    file_size, compress_size = info.file_size, info.compress_size
    zip64 = []
    if file_size > _ZIP64_LIMIT or compress_size > _ZIP64_LIMIT:
        zip64 += [file_size, compress_size]
        file_size = compress_size = _FULL32
    if offset > _ZIP64_LIMIT:
        zip64.append(offset)
        offset = _FULL32
    create_version, extract_version = info.create_version, info.extract_version
    if zip64:
        extra = struct.pack(f"<2H{len(zip64)}Q", _ZIP64_EXTRA, 8 * len(zip64), *zip64) + extra
        create_version, extract_version = max(create_version, 45), max(extract_version, 45)
    dos_date, dos_time = _dos_date_time(info)
    record = _CENTRAL.pack(
        b"PK\x01\x02", create_version, info.create_system, extract_version, info.reserved,
        info.flag_bits & ~_FLAG_DESCRIPTOR, info.compress_type, dos_time, dos_date, info.CRC,
        compress_size, file_size, len(entry.name_bytes), len(extra), len(info.comment), 0,
        info.internal_attr, info.external_attr, offset)
    return record + entry.name_bytes + extra + info.comment


def _end_records(count: int, directory_size: int, directory_offset: int, comment: bytes) -> bytes:
    """End of central directory record, preceded by the ZIP64 ones when the values need them;
    a value too large for the old record is written there as all ones ("see ZIP64")."""
    out = b""
    if count > _COUNT_LIMIT or directory_size > _ZIP64_LIMIT or directory_offset > _ZIP64_LIMIT:
        out = _END64.pack(b"PK\x06\x06", _END64.size - 12, 45, 45, 0, 0, count, count,
                          directory_size, directory_offset)
        out += _END64_LOCATOR.pack(b"PK\x06\x07", 0, directory_offset + directory_size, 1)
        count = count if count <= _COUNT_LIMIT else 0xFFFF
        directory_size = directory_size if directory_size <= _ZIP64_LIMIT else _FULL32
        directory_offset = directory_offset if directory_offset <= _ZIP64_LIMIT else _FULL32
    return out + _END.pack(b"PK\x05\x06", 0, 0, count, count, directory_size, directory_offset,
                           len(comment)) + comment


def _copy_data(out: BinaryIO, entry: _Entry) -> None:
    end = entry.start + entry.info.compress_size
    for position in range(entry.start, end, _CHUNK):
        out.write(entry.source[position:min(end, position + _CHUNK)])


def _write_zip(out: BinaryIO, archive: _Archive) -> None:
    """The archive: prefix, each member (local header, compressed bytes), central directory."""
    out.write(archive.prefix)
    offset = 0
    records = []
    for entry in archive.members:
        records.append(_central_record(entry, offset))
        out.write(entry.local)
        _copy_data(out, entry)
        offset += len(entry.local) + entry.info.compress_size
    directory = b"".join(records)
    out.write(directory)
    out.write(_end_records(len(records), len(directory), offset, archive.comment))


def _rewrite(path: PathLike, edit: Any, keep: Callable[[str], bool]) -> Manifest:
    """Read the archive at ``path``, let ``edit(where, archive)`` change its members and
    return the manifest, and replace the file atomically with the result."""
    target = os.fspath(path)
    with _AtomicFile(target, _existing_mode(target, 0o644)) as out:
        with _Source(target) as source:
            archive = source.read(keep)
            manifest = edit(source.where, archive)
            _write_zip(out, archive)
    return manifest


def _new_info(name: str, date_time: tuple[int, ...], compress_type: int) -> zipfile.ZipInfo:
    import zipfile

    info = zipfile.ZipInfo(name, date_time)
    info.compress_type = compress_type
    info.create_system = 3
    info.external_attr = (stat.S_IFREG | MANIFEST_MODE) << 16
    return info


def _clone_info(src: zipfile.ZipInfo) -> zipfile.ZipInfo:
    """A fresh ZipInfo with the member's name, time, mode, compression, comment and extras."""
    import zipfile

    dst = zipfile.ZipInfo(src.orig_filename, src.date_time)
    dst.compress_type = src.compress_type
    dst.comment = src.comment
    dst.extra = _strip_zip64_extra(src.extra)
    dst.create_system = src.create_system
    dst.external_attr = src.external_attr
    dst.internal_attr = src.internal_attr
    return dst


def _manifest_date_time(members: Iterable[_Entry], env: Mapping[str, str]) -> tuple[int, ...]:
    """SOURCE_DATE_EPOCH (clamped to what zip can store), else the newest existing timestamp."""
    raw = env.get("SOURCE_DATE_EPOCH", "").strip()
    if raw:
        try:
            epoch = int(raw)
        except ValueError:
            raise ValueError(f"SOURCE_DATE_EPOCH must be an integer, not {raw!r}") from None
        epoch = min(max(epoch, ZIP_EPOCH_MIN), ZIP_EPOCH_MAX)
        return tuple(time.gmtime(epoch)[:6])
    stamps = [tuple(m.info.date_time) for m in members]
    return max(stamps, default=(1980, 1, 1, 0, 0, 0))


def _manifest_compression(archive: _Archive, old: _Entry | None) -> int:
    """Stored where the old manifest was stored, or where nothing is compressed; else deflated."""
    if old is not None:
        return old.info.compress_type
    if any(m.info.compress_type == _DEFLATED for m in archive.members):
        return _DEFLATED
    return _STORED


def _manifest_info(name: str, archive: _Archive, old: _Entry | None) -> zipfile.ZipInfo:
    others = (m for m in archive.members if m is not old)
    date_time = _manifest_date_time(others, os.environ)
    return _new_info(name, date_time, _manifest_compression(archive, old))


def _zip_hashes(where: str, members: Iterable[_Entry]) -> dict[str, str]:
    return {_checked_rel(m.name, f"{where}: member"): m.digest.hex() for m in members}


def sign_zipfile(path: PathLike, key: PrivateKey) -> Manifest:
    """Sign a .zip or .pyz in place: the root manifest lists every file member.

    The archive is rewritten, never appended to; a zipapp's shebang (any bytes before the
    zip) and each member's order, time, mode, compression, comment and compressed bytes are
    kept.  An existing root manifest is replaced where it stands, a new one goes at the end.
    """
    return _rewrite(path, lambda where, archive: _sign_zip_members(where, archive, key),
                    keep=lambda name: name == MANIFEST_NAME)


def _sign_zip_members(where: str, archive: _Archive, key: PrivateKey) -> Manifest:
    at = archive.index(MANIFEST_NAME)
    old = archive.members[at] if at is not None else None
    hashes = _zip_hashes(where, (m for m in archive.files() if m is not old))
    previous = _previous_manifest(old.data if old else None, f"{where}!{MANIFEST_NAME}")
    manifest = sign_manifest(hashes, key, previous)
    info = _manifest_info(MANIFEST_NAME, archive, old)
    new = _new_entry(info, manifest.serialise())
    if at is None:
        archive.members.append(new)
    else:
        archive.members[at] = new
    return manifest


# ---------------------------------------------------------------------- wheels


def _find_dist_info(where: str, archive: _Archive) -> str:
    """The ``<name>-<version>.dist-info`` directory that holds WHEEL and RECORD."""
    names = {m.name for m in archive.members}
    candidates = sorted(
        {
            n.split("/", 1)[0]
            for n in names
            if n.count("/") == 1 and n.split("/", 1)[0].endswith(".dist-info")
        }
    )
    found = [d for d in candidates if f"{d}/WHEEL" in names and f"{d}/RECORD" in names]
    if len(found) == 1:
        return found[0]
    if not found:
        raise ZipFormatError(f"{where}: not a wheel: no .dist-info directory with WHEEL and RECORD")
    stem = "-".join(os.path.basename(where).split("-")[:2]).lower()
    matching = [d for d in found if d[: -len(".dist-info")].lower() == stem]
    if len(matching) == 1:
        return matching[0]
    raise ZipFormatError(f"{where}: several .dist-info directories: {', '.join(found)}")


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _record_digest(digest: bytes) -> str:
    """RECORD's form of a SHA-256 digest: sha256=<urlsafe base64, unpadded>."""
    b64 = binascii.b2a_base64(digest, newline=False).translate(_URLSAFE).rstrip(b"=")
    return "sha256=" + b64.decode("ascii")


def _record_hash(data: bytes) -> str:
    return _record_digest(hashlib.sha256(data).digest())


def _parse_record(data: bytes) -> list[list[str]]:
    import csv
    import io

    text = data.decode("utf-8")
    return [row for row in csv.reader(io.StringIO(text)) if row]


def _member(archive: _Archive, name: str) -> _Entry:
    """The member called ``name`` (which the caller knows is there)."""
    index = archive.index(name)
    if index is None:  # pragma: no cover - guarded by _find_dist_info
        raise ZipFormatError(f"no member {name!r}")
    return archive.members[index]


def _check_old_record(where: str, archive: _Archive, record: str) -> None:
    """Refuse to sign a wheel whose RECORD already disagrees with its files."""
    import csv

    digests = {m.name: m.digest for m in archive.files()}
    try:
        rows = _parse_record(_member(archive, record).data or b"")
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ZipFormatError(f"{where}: {record} is unreadable: {exc}") from None
    for row in rows:
        name, digest = row[0], row[1] if len(row) > 1 else ""
        if not digest.startswith("sha256=") or name not in digests:
            continue
        if digest != _record_digest(digests[name]):
            raise ZipFormatError(f"{where}: {record} does not match {name}: refusing to sign")


def _build_record(members: Iterable[_Entry], record: str) -> bytes:
    """RECORD as pip and wheel write it: path,sha256=<urlsafe b64>,size; RECORD itself empty."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=",", quotechar='"', lineterminator="\n")
    for member in members:
        if member.is_dir():
            continue
        if member.name == record:
            writer.writerow((member.name, "", ""))
        else:
            writer.writerow((member.name, _record_digest(member.digest), member.info.file_size))
    return buf.getvalue().encode("utf-8")


def sign_wheel(path: PathLike, key: PrivateKey) -> Manifest:
    """Sign a wheel in place: the manifest goes into ``.dist-info/`` just before RECORD.

    It lists every file except RECORD and itself (paths as in the wheel, ``.data/`` files
    included); RECORD is then regenerated so that pip still accepts the wheel.  Every other
    member is copied byte for byte.
    """
    return _rewrite(path, lambda where, archive: _sign_wheel_members(where, archive, key),
                    keep=_kept_in_wheel)


def _kept_in_wheel(name: str) -> bool:
    """The members whose content the wheel signer reads: RECORD and an old manifest."""
    return name.endswith(("/RECORD", "/" + MANIFEST_NAME))


def _sign_wheel_members(where: str, archive: _Archive, key: PrivateKey) -> Manifest:
    dist_info = _find_dist_info(where, archive)
    record, name = f"{dist_info}/RECORD", f"{dist_info}/{MANIFEST_NAME}"
    _check_old_record(where, archive, record)
    at = archive.index(name)
    old = archive.members.pop(at) if at is not None else None
    hashes = _zip_hashes(where, (m for m in archive.files() if m.name != record))
    previous = _previous_manifest(old.data if old else None, f"{where}!{name}")
    manifest = sign_manifest(hashes, key, previous)
    record_at = archive.index(record)
    old_record = archive.members[record_at]  # type: ignore[index]
    manifest_info = _manifest_info(name, archive, old)
    new_manifest = _new_entry(manifest_info, manifest.serialise())
    members = [*archive.members[:record_at], new_manifest, *archive.members[record_at:]]
    record_data = _build_record(members, record)
    new_record = _new_entry(_clone_info(old_record.info), record_data)
    members[record_at + 1] = new_record
    archive.members[:] = members
    return manifest


def sign_path(path: PathLike, key: PrivateKey) -> Manifest:
    """Sign a directory, wheel, or zip/zipapp, chosen by what ``path`` is."""
    target = os.fspath(path)
    if os.path.isdir(target):
        return sign_directory(target, key)
    if not os.path.exists(target):
        raise FileNotFoundError(f"{target}: no such file or directory")
    suffix = os.path.splitext(target)[1].lower()
    if suffix == ".whl":
        return sign_wheel(target, key)
    if suffix in (".zip", ".pyz", ".pyzw") or _is_zipfile(target):
        return sign_zipfile(target, key)
    raise ValueError(f"{target}: not a directory, wheel, or zip archive")


def _is_zipfile(path: str) -> bool:
    import zipfile

    return zipfile.is_zipfile(path)


# --------------------------------------------------------------------- verify

OK, MODIFIED, MISSING, UNLISTED, SKIPPED = "ok", "modified", "missing", "unlisted", "skipped"
FAILING = frozenset({MODIFIED, MISSING, UNLISTED})


class _Record:
    """Slots, keyword-friendly init, equality and repr: what a small frozen dataclass gives,
    without importing dataclasses (and inspect) in every signed build."""

    __slots__: tuple[str, ...] = ()

    def _values(self) -> tuple:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"


class FileResult(_Record):
    """The audit result of one file.

    ``status``: ok; modified; missing (listed but absent); unlisted (no trusted manifest lists
    it); skipped (reported, not a failure: see ``detail``).
    """

    __slots__ = ("path", "status", "expected", "actual", "detail")

    def __init__(self, path: str, status: str, expected: str | None = None,
                 actual: str | None = None, detail: str | None = None) -> None:
        self.path = path
        self.status = status
        self.expected = expected
        self.actual = actual
        self.detail = detail

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in zip(self.__slots__, self._values()) if v is not None}


class Problem(_Record):
    """A problem above file level: a manifest malformed, untrusted, forged; RECORD wrong; ..."""

    __slots__ = ("kind", "where", "message")

    def __init__(self, kind: str, where: str, message: str) -> None:
        self.kind = kind
        self.where = where
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "where": self.where, "message": self.message}


class VerifyReport:
    """A full offline audit of one path; ``ok`` only when every file is vouched for and intact."""

    def __init__(self, path: str, kind: str) -> None:
        self.path = path
        self.kind = kind
        self.files: list[FileResult] = []
        self.problems: list[Problem] = []
        self.manifests: dict[str, str | None] = {}

    def __repr__(self) -> str:
        return f"VerifyReport(path={self.path!r}, kind={self.kind!r}, ok={self.ok})"

    @property
    def ok(self) -> bool:
        return not self.problems and not self.failures

    @property
    def failures(self) -> list[FileResult]:
        return [f for f in self.files if f.status in FAILING]

    def counts(self) -> dict[str, int]:
        counts = {OK: 0, MODIFIED: 0, MISSING: 0, UNLISTED: 0, SKIPPED: 0}
        for result in self.files:
            counts[result.status] = counts.get(result.status, 0) + 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "ok": self.ok,
            "counts": self.counts(),
            "manifests": [
                {"path": p, "signed_by": fp} for p, fp in sorted(self.manifests.items())
            ],
            "problems": [p.to_dict() for p in self.problems],
            "files": [f.to_dict() for f in self.files],
        }


class _Tree:
    """Files of a directory or a zip, by manifest path, readable on demand."""

    def __init__(self, names: Iterable[str], reader: Any) -> None:
        self.names = sorted(names, key=lambda n: n.encode("utf-8", "surrogateescape"))
        self._set = set(self.names)
        self._reader = reader

    def __contains__(self, name: str) -> bool:
        return name in self._set

    def read(self, name: str) -> bytes:
        return self._reader(name)


def _directory_tree(root: str, report: VerifyReport) -> _Tree:
    errors: list[str] = []
    files = dict(_walk_tree(root, errors))
    report.problems.extend(Problem("unsafe", str(root), message) for message in errors)
    return _Tree(files, lambda name: _read_file(files[name]))


def _zip_tree(path: str, zf: zipfile.ZipFile, report: VerifyReport) -> _Tree:
    where = str(path)
    infos = [i for i in zf.infolist() if not i.is_dir()]
    try:
        _check_names(where, [i.filename for i in zf.infolist()])
    except ZipFormatError as exc:
        report.problems.append(Problem("corrupt", where, str(exc)))
    by_name = {i.filename: i for i in infos}
    return _Tree(by_name, lambda name: _read_member(zf, by_name[name], where))


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> bytes:
    import zipfile

    if info.flag_bits & _FLAG_ENCRYPTED:
        raise ZipFormatError(f"{where}: member {info.filename!r} is encrypted")
    try:
        return zf.read(info)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError) as exc:
        raise ZipFormatError(f"{where}: member {info.filename!r} is corrupt: {exc}") from None


def _manifest_names(tree: _Tree) -> list[str]:
    """The root manifest and the top-level ``*.dist-info/`` manifests of an entry."""
    names = [MANIFEST_NAME] if MANIFEST_NAME in tree else []
    for name in tree.names:
        parts = name.split("/")
        if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == MANIFEST_NAME:
            names.append(name)
    return names


def _public_ring(keys: Any) -> dict[str, PublicKey]:
    from collections.abc import Mapping

    if isinstance(keys, Mapping):
        return dict(keys)
    if isinstance(keys, (PrivateKey, Ed25519Key, RSAKey)):
        keys = [keys]
    return key_ring([k.public_key if isinstance(k, PrivateKey) else k for k in keys])


def _load_manifest(
    tree: _Tree, name: str, ring: Mapping[str, PublicKey], report: VerifyReport
) -> Manifest | None:
    """Parse and verify one manifest; every way it can fail is a reported problem."""
    source = f"{report.path}!{name}" if report.kind != "directory" else os.path.join(report.path, name)
    try:
        manifest = Manifest.parse(tree.read(name), source=source)
        signer = manifest.verify(ring)
    except ManifestError as exc:
        report.problems.append(Problem("malformed", name, str(exc)))
        return None
    except SignatureMismatch as exc:
        report.problems.append(Problem("forged", name, str(exc)))
        return None
    except ZipFormatError as exc:
        report.problems.append(Problem("corrupt", name, str(exc)))
        return None
    if signer is None:
        fps = ", ".join(s.fingerprint for s in manifest.signatures)
        report.problems.append(
            Problem("untrusted", name, f"{source}: no signature by a trusted key (signed by {fps})")
        )
        return None
    report.manifests[name] = signer.fingerprint
    return manifest


def _expected_hashes(
    valid: dict[str, Manifest], report: VerifyReport
) -> dict[str, str | None]:
    """path -> the hash all valid manifests agree on (None when they disagree)."""
    expected: dict[str, str | None] = {}
    for name, manifest in valid.items():
        for path in manifest:
            digest = manifest.lookup(path)
            if path in expected and expected[path] != digest:
                report.problems.append(
                    Problem("conflict", path, f"manifests disagree on the hash of {path} ({name})")
                )
                expected[path] = None
            elif path not in expected:
                expected[path] = digest
    return expected


def _check_file(tree: _Tree, path: str, digest: str | None) -> FileResult:
    if path not in tree:
        return FileResult(path, MISSING, expected=digest, detail="listed but absent")
    try:
        actual = sha256_hex(tree.read(path))
    except (ZipFormatError, OSError) as exc:
        return FileResult(path, MODIFIED, expected=digest, detail=f"unreadable: {exc}")
    if digest is None:
        return FileResult(path, MODIFIED, actual=actual, detail="manifests disagree")
    if actual != digest:
        return FileResult(path, MODIFIED, expected=digest, actual=actual)
    return FileResult(path, OK, expected=digest, actual=actual)


def _exempt(manifest_names: list[str]) -> set[str]:
    """Files no manifest is expected to list: the manifests and their dist-info RECORD."""
    exempt = set(manifest_names)
    for name in manifest_names:
        if "/" in name:
            exempt.add(name.rsplit("/", 1)[0] + "/RECORD")
    return exempt


def _skip_reason(path: str, manifest_names: list[str], kind: str) -> str | None:
    """Why an unlisted file of a directory is reported but not held against it, if it is.

    Unlisted ``__pycache__`` bytecode is never read by the runtime (it compiles the verified
    source instead), and pip writes INSTALLER, REQUESTED and direct_url.json into an
    installed wheel's dist-info after the wheel was signed.
    """
    if kind != "directory":
        return None
    parts = path.split("/")
    if len(parts) >= 2 and parts[-2] == "__pycache__" and parts[-1].endswith(".pyc"):
        return "unlisted bytecode: the runtime never reads it (it compiles the listed source)"
    in_signed_dist_info = len(parts) == 2 and f"{parts[0]}/{MANIFEST_NAME}" in manifest_names
    if in_signed_dist_info and parts[1] in _INSTALLER_FILES:
        return "written by the installer after the wheel was signed"
    return None


def _installed_elsewhere(path: str, listed_by: str, kind: str) -> bool:
    """A wheel's ``.data/`` file: pip installs it outside site-packages, so it is absent here."""
    head = path.split("/", 1)[0]
    return kind == "directory" and "/" in listed_by and head.endswith(".data")


_INSTALLER_FILES = frozenset({"INSTALLER", "REQUESTED", "direct_url.json"})


def _check_record(tree: _Tree, report: VerifyReport) -> None:
    """A wheel's RECORD must still describe its files (pip checks it on install)."""
    import csv

    for name in report.manifests:
        if "/" not in name:
            continue
        record = name.rsplit("/", 1)[0] + "/RECORD"
        if record not in tree:
            report.problems.append(Problem("record", record, f"{record} is missing"))
            continue
        try:
            rows = _parse_record(tree.read(record))
        except (UnicodeDecodeError, csv.Error, ZipFormatError) as exc:
            report.problems.append(Problem("record", record, f"{record} is unreadable: {exc}"))
            continue
        _compare_record(tree, record, rows, report)


def _compare_record(tree: _Tree, record: str, rows: list[list[str]], report: VerifyReport) -> None:
    listed = set()
    for row in rows:
        path, digest = row[0], row[1] if len(row) > 1 else ""
        listed.add(path)
        if path == record or not digest:
            continue
        if path not in tree:
            report.problems.append(Problem("record", record, f"{record} lists missing {path}"))
        elif digest != _record_hash(tree.read(path)):
            report.problems.append(Problem("record", record, f"{record} has a wrong hash for {path}"))
    for path in tree.names:
        if path not in listed:
            report.problems.append(Problem("record", record, f"{record} does not list {path}"))


def _audit(tree: _Tree, ring: Mapping[str, PublicKey], report: VerifyReport) -> VerifyReport:
    names = _manifest_names(tree)
    if not names:
        report.problems.append(
            Problem("no-manifest", report.path, f"{report.path}: no signedimp manifest found")
        )
    valid = {n: m for n in names if (m := _load_manifest(tree, n, ring, report)) is not None}
    expected = _expected_hashes(valid, report)
    listed_by = {p: n for n, m in reversed(list(valid.items())) for p in m}
    results = []
    for path, digest in expected.items():
        if path not in tree and _installed_elsewhere(path, listed_by[path], report.kind):
            results.append(FileResult(path, SKIPPED, expected=digest,
                                      detail="wheel .data file, installed outside this directory"))
        else:
            results.append(_check_file(tree, path, digest))
    exempt = _exempt(names)
    for path in tree.names:
        if path in expected or path in exempt:
            continue
        reason = _skip_reason(path, names, report.kind)
        if reason:
            results.append(FileResult(path, SKIPPED, detail=reason))
        else:
            results.append(FileResult(path, UNLISTED, detail="not listed by any trusted manifest"))
    report.files = sorted(results, key=lambda r: r.path.encode("utf-8", "surrogateescape"))
    if report.kind == "wheel":
        _check_record(tree, report)
    return report


def verify_path(path: PathLike, keys: Any) -> VerifyReport:
    """Audit a directory, zip, zipapp or wheel offline against trusted ``keys``.

    Every listed file is hashed, every file no trusted manifest lists is reported, and any
    manifest that is malformed, untrusted or forged is a problem: ``report.ok`` is True
    only when nothing at all is wrong.
    """
    target = os.fspath(path)
    ring = _public_ring(keys)
    if os.path.isdir(target):
        report = VerifyReport(target, "directory")
        return _audit(_directory_tree(target, report), ring, report)
    if not os.path.exists(target):
        raise FileNotFoundError(f"{target}: no such file or directory")
    import zipfile

    kind = "wheel" if os.path.splitext(target)[1].lower() == ".whl" else "zip"
    report = VerifyReport(target, kind)
    try:
        with zipfile.ZipFile(target) as zf:
            return _audit(_zip_tree(target, zf, report), ring, report)
    except zipfile.BadZipFile as exc:
        message = f"{target}: not a valid zip archive: {exc}"
        report.problems.append(Problem("corrupt", target, message))
        return report
