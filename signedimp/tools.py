"""Signing tools: keys, manifests, in-place signing of trees and archives, offline audits.

This module is for build machines and developers, not for the runtime: it may use
pycryptodome (signing needs private-key operations the standard library lacks).  The
runtime half (``signedimp.keys``, ``signedimp.manifest``) stays standard-library only, and
everything this module writes is checked with those same runtime types.

Every signing function works in place and atomically: the new file is written beside the
old one, flushed to disk, and moved over it with ``os.replace``; on any error the original
is left untouched and no temporary file remains.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import hashlib
import io
import os
import re
import stat
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Union

from Crypto.Hash import SHA256
from Crypto.IO import PEM, PKCS8
from Crypto.PublicKey import ECC, RSA
from Crypto.Signature import eddsa, pss
from Crypto.Signature.pss import MGF1
from Crypto.Util.asn1 import DerOctetString

from .errors import KeyFormatError, ManifestError, SignatureMismatch, ZipFormatError
from .keys import Ed25519Key, RSAKey, key_ring, load_public_key
from .manifest import MANIFEST_NAME, Manifest, Signature, check_path

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

PublicKey = Union[Ed25519Key, RSAKey]
PathLike = Union[str, "os.PathLike[str]"]

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


# --------------------------------------------------------------------------- keys


class PrivateKey:
    """A signing key (Ed25519 or RSA) wrapping a pycryptodome key.

    ``public_key`` is the runtime key type, so what the tools sign is checked by exactly the
    code that will check it at import time.
    """

    def __init__(self, key: Any) -> None:
        if not key.has_private():
            raise KeyFormatError("a private key is needed to sign, not a public key")
        if isinstance(key, RSA.RsaKey):
            self.algorithm = "rsa"
            self.public_key: PublicKey = RSAKey(int(key.n), int(key.e))
        elif isinstance(key, ECC.EccKey) and _is_ed25519(key):
            self.algorithm = "ed25519"
            spki = key.public_key().export_key(format="DER")
            self.public_key = Ed25519Key(bytes(spki[-32:]))
        else:
            raise KeyFormatError("unsupported key type: only Ed25519 and RSA keys can sign")
        self._key = key

    @property
    def fingerprint(self) -> str:
        """Lowercase hex SHA-256 of the public key's DER SubjectPublicKeyInfo."""
        return self.public_key.fingerprint

    @property
    def bits(self) -> int | None:
        """The RSA modulus size, or None for Ed25519."""
        return self._key.size_in_bits() if self.algorithm == "rsa" else None

    def sign(self, message: bytes) -> bytes:
        """Sign ``message``: pure Ed25519, or RSASSA-PSS/SHA-256/MGF1-SHA-256/salt 32."""
        if self.algorithm == "ed25519":
            return eddsa.new(self._key, "rfc8032").sign(message)
        signer = pss.new(self._key, mask_func=_mgf1_sha256, salt_bytes=RSA_SALT_BYTES)
        return signer.sign(SHA256.new(message))

    def to_pem(self, passphrase: str | bytes | None = None) -> bytes:
        """PKCS#8 PEM; with a passphrase, encrypted (PBKDF2 + AES-256-CBC) so openssl reads it."""
        kwargs: dict[str, Any] = {"format": "PEM"}
        if self.algorithm == "rsa":
            kwargs["pkcs"] = 8
        if passphrase:
            kwargs["passphrase"] = passphrase
            kwargs["protection"] = "PBKDF2WithHMAC-SHA256AndAES256-CBC"
            kwargs["prot_params"] = {"iteration_count": PBKDF2_ITERATIONS}
        pem = _export_with_fallback(self._key, kwargs)
        return (pem if isinstance(pem, bytes) else pem.encode("ascii")).rstrip(b"\n") + b"\n"

    def public_pem(self) -> bytes:
        """SubjectPublicKeyInfo PEM of the public half."""
        pem = self._key.public_key().export_key(format="PEM")
        return (pem if isinstance(pem, bytes) else pem.encode("ascii")).rstrip(b"\n") + b"\n"

    def __repr__(self) -> str:
        return f"<PrivateKey {self.algorithm} {self.fingerprint}>"


def _mgf1_sha256(seed: bytes, length: int) -> bytes:
    return MGF1(seed, length, SHA256)


def _is_ed25519(key: Any) -> bool:
    return str(getattr(key, "curve", "")).lower() in ("ed25519", "1.3.101.112")


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
        return PrivateKey(ECC.generate(curve="ed25519"))
    if kind == "rsa":
        if bits < MIN_RSA_BITS:
            raise ValueError(f"RSA keys must have at least {MIN_RSA_BITS} bits, not {bits}")
        return PrivateKey(RSA.generate(bits))
    raise ValueError(f"unknown key type {kind!r}: use 'ed25519' or 'rsa'")


_PEM_LABEL = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----")


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
        return _load_pkcs8(_pem_block(text, label), None, encrypted=False)
    if label == "RSA PRIVATE KEY":
        return _load_traditional_rsa(_pem_block(text, label), passphrase)
    if label == "OPENSSH PRIVATE KEY":
        raise KeyFormatError(
            "OpenSSH private keys are not supported: convert with 'ssh-keygen -p -m PKCS8 -f KEY'"
        )
    if label == "EC PRIVATE KEY":
        raise KeyFormatError("unsupported private key type (EC): use an Ed25519 or RSA key")
    raise KeyFormatError(f"unsupported PEM block {label!r}: expected a PKCS#8 private key")


def _pem_text(pem: str | bytes) -> str:
    if isinstance(pem, bytes):
        try:
            return pem.decode("ascii")
        except UnicodeDecodeError:
            raise KeyFormatError("not a PEM key: the data is binary, not text") from None
    return pem


def _pem_label(text: str) -> str:
    """The label of the first PEM block, after rejecting public keys with a clear message."""
    stripped = text.strip()
    if stripped.startswith(("ssh-ed25519 ", "ssh-rsa ", "ecdsa-sha2-")):
        raise KeyFormatError("this is an SSH public key, but a private key is needed to sign")
    match = _PEM_LABEL.search(text)
    if match is None:
        raise KeyFormatError("not a PEM key: no '-----BEGIN ...-----' line found")
    label = match.group(1)
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
    try:
        der, _marker, _encrypted = PEM.decode(block)
    except (ValueError, IndexError, TypeError) as exc:
        raise KeyFormatError(f"not a valid PEM key: {exc}") from None
    return der


def _load_pkcs8(block: str, passphrase: str | bytes | None, *, encrypted: bool) -> PrivateKey:
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
    try:
        seed = DerOctetString().decode(inner).payload
        key = ECC.construct(curve="ed25519", seed=seed)
    except (ValueError, IndexError, TypeError) as exc:
        raise KeyFormatError(f"not a valid Ed25519 private key: {exc}") from None
    return PrivateKey(key)


def _rsa_from_der(der: bytes) -> PrivateKey:
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
            data = Path(source).read_bytes()
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
        data = Path(source).read_bytes()
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


@contextlib.contextmanager
def _atomic_writer(target: Path, mode: int) -> Iterator[BinaryIO]:
    """Yield a temp file beside ``target``; on success fsync it and move it over ``target``."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(target.parent)


def _fsync_directory(path: Path) -> None:
    """Make the rename durable where the platform allows it (POSIX); best effort elsewhere."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _existing_mode(path: Path, default: int) -> int:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return default


# ----------------------------------------------------------------- directories


def _is_within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _walk_tree(root: Path, errors: list[str] | None = None) -> Iterator[tuple[str, Path]]:
    """Yield (manifest path, filesystem path) for every file under ``root``, sorted.

    Symlinks are followed when they stay inside the tree (the file is hashed by content);
    a link that leads outside, dangles, or loops is an error, as is any special file.
    Errors raise ``ValueError``, or, when ``errors`` is a list, are collected there and the
    offending entry is skipped (an audit reports everything instead of stopping).
    """
    real_root = os.path.realpath(root)
    yield from _walk_dir(root, (), real_root, frozenset({real_root}), errors)


def _walk_dir(
    directory: Path,
    parts: tuple[str, ...],
    real_root: str,
    active: frozenset[str],
    errors: list[str] | None,
) -> Iterator[tuple[str, Path]]:
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
                yield from _walk_dir(Path(entry.path), rel_parts, real_root, active | {real}, errors)
            elif entry.is_file(follow_symlinks=True):
                yield _checked_rel("/".join(rel_parts), entry.path), Path(entry.path)
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
    root = Path(path)
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: not a directory")
    target = root / MANIFEST_NAME
    hashes = {rel: _file_sha256(fs) for rel, fs in _walk_tree(root) if rel != MANIFEST_NAME}
    previous = target.read_bytes() if target.is_file() else None
    manifest = sign_manifest(hashes, key, _previous_manifest(previous, str(target)))
    with _atomic_writer(target, _existing_mode(target, MANIFEST_MODE)) as fh:
        fh.write(manifest.serialise())
    return manifest


# ------------------------------------------------------------------------ zips


@dataclass
class _Member:
    info: zipfile.ZipInfo
    data: bytes


@dataclass
class _Archive:
    prefix: bytes
    members: list[_Member]
    comment: bytes

    def files(self) -> Iterator[_Member]:
        return (m for m in self.members if not m.info.is_dir())

    def index(self, name: str) -> int | None:
        for i, member in enumerate(self.members):
            if member.info.filename == name:
                return i
        return None


def _check_member_name(archive: str, name: str) -> None:
    segments = name.split("/")
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise ZipFormatError(f"{archive}: absolute member name {name!r}")
    if ".." in segments or ".." in name.split("\\"):
        raise ZipFormatError(f"{archive}: member name {name!r} escapes the archive ('..')")


def _read_archive(path: Path) -> _Archive:
    """Read every member (checked against its CRC) and the bytes before the zip (a shebang)."""
    where = str(path)
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            _check_names(where, [i.filename for i in infos])
            members = [_Member(info, _read_member(zf, info, where)) for info in infos]
            start = min((i.header_offset for i in infos), default=zf.start_dir)
            comment = zf.comment
    except zipfile.BadZipFile as exc:
        raise ZipFormatError(f"{where}: not a valid zip archive: {exc}") from None
    with open(path, "rb") as fh:
        prefix = fh.read(start)
    return _Archive(prefix, members, comment)


def _check_names(where: str, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ZipFormatError(f"{where}: duplicate member name {name!r}")
        seen.add(name)
        _check_member_name(where, name)


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> bytes:
    if info.flag_bits & 0x1:
        raise ZipFormatError(f"{where}: member {info.filename!r} is encrypted")
    try:
        return zf.read(info)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError) as exc:
        raise ZipFormatError(f"{where}: member {info.filename!r} is corrupt: {exc}") from None


def _strip_zip64_extra(extra: bytes) -> bytes:
    """Drop ZIP64 extra fields: zipfile writes its own when needed and would duplicate them."""
    out = bytearray()
    i = 0
    while i + 4 <= len(extra):
        tag = int.from_bytes(extra[i : i + 2], "little")
        size = int.from_bytes(extra[i + 2 : i + 4], "little")
        if tag != 0x0001:
            out += extra[i : i + 4 + size]
        i += 4 + size
    return bytes(out)


def _clone_info(src: zipfile.ZipInfo) -> zipfile.ZipInfo:
    """A fresh ZipInfo with the member's name, time, mode, compression, comment and extras."""
    dst = zipfile.ZipInfo(src.filename, src.date_time)
    dst.compress_type = zipfile.ZIP_STORED if src.is_dir() else src.compress_type
    dst.comment = src.comment
    dst.extra = _strip_zip64_extra(src.extra)
    dst.create_system = src.create_system
    dst.external_attr = src.external_attr
    dst.internal_attr = src.internal_attr
    return dst


def _manifest_date_time(members: Iterable[_Member], env: Mapping[str, str]) -> tuple[int, ...]:
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


def _manifest_compression(archive: _Archive, old: _Member | None) -> int:
    if old is not None:
        return old.info.compress_type
    if any(m.info.compress_type == zipfile.ZIP_DEFLATED for m in archive.members):
        return zipfile.ZIP_DEFLATED
    return zipfile.ZIP_STORED


def _manifest_member(
    name: str, manifest: Manifest, archive: _Archive, old: _Member | None
) -> _Member:
    others = (m for m in archive.members if m is not old)
    info = zipfile.ZipInfo(name, _manifest_date_time(others, os.environ))
    info.compress_type = _manifest_compression(archive, old)
    info.create_system = 3
    info.external_attr = (stat.S_IFREG | MANIFEST_MODE) << 16
    return _Member(info, manifest.serialise())


def _write_archive(path: Path, archive: _Archive) -> None:
    """Rewrite ``path`` atomically from ``archive``, keeping the prefix bytes and file mode."""
    with _atomic_writer(path, _existing_mode(path, 0o644)) as fh:
        fh.write(archive.prefix)
        with zipfile.ZipFile(fh, "w") as zf:
            for member in archive.members:
                zf.writestr(_clone_info(member.info), member.data)
            zf.comment = archive.comment


def _zip_hashes(where: str, members: Iterable[_Member]) -> dict[str, str]:
    hashes: dict[str, str] = {}
    for member in members:
        hashes[_checked_rel(member.info.filename, f"{where}: member")] = sha256_hex(member.data)
    return hashes


def sign_zipfile(path: PathLike, key: PrivateKey) -> Manifest:
    """Sign a .zip or .pyz in place: the root manifest lists every file member.

    The archive is rewritten, never appended to; a zipapp's shebang (any bytes before the
    zip) and each member's order, time, mode, compression and comment are kept.  An
    existing root manifest is replaced where it stands, a new one goes at the end.
    """
    target = Path(path)
    archive = _read_archive(target)
    at = archive.index(MANIFEST_NAME)
    old = archive.members[at] if at is not None else None
    listed = (m for m in archive.files() if m is not old)
    hashes = _zip_hashes(str(target), listed)
    previous = _previous_manifest(old.data if old else None, f"{target}!{MANIFEST_NAME}")
    manifest = sign_manifest(hashes, key, previous)
    new = _manifest_member(MANIFEST_NAME, manifest, archive, old)
    if at is None:
        archive.members.append(new)
    else:
        archive.members[at] = new
    _write_archive(target, archive)
    return manifest


# ---------------------------------------------------------------------- wheels


def _find_dist_info(where: str, archive: _Archive) -> str:
    """The ``<name>-<version>.dist-info`` directory that holds WHEEL and RECORD."""
    names = {m.info.filename for m in archive.members}
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
    stem = "-".join(Path(where).name.split("-")[:2]).lower()
    matching = [d for d in found if d[: -len(".dist-info")].lower() == stem]
    if len(matching) == 1:
        return matching[0]
    raise ZipFormatError(f"{where}: several .dist-info directories: {', '.join(found)}")


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _parse_record(data: bytes) -> list[list[str]]:
    text = data.decode("utf-8")
    return [row for row in csv.reader(io.StringIO(text)) if row]


def _member(archive: _Archive, name: str) -> _Member:
    """The member called ``name`` (which the caller knows is there)."""
    index = archive.index(name)
    if index is None:  # pragma: no cover - guarded by _find_dist_info
        raise ZipFormatError(f"no member {name!r}")
    return archive.members[index]


def _check_old_record(where: str, archive: _Archive, record: str) -> None:
    """Refuse to sign a wheel whose RECORD already disagrees with its files."""
    data = {m.info.filename: m.data for m in archive.files()}
    try:
        rows = _parse_record(_member(archive, record).data)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ZipFormatError(f"{where}: {record} is unreadable: {exc}") from None
    for row in rows:
        name, digest = row[0], row[1] if len(row) > 1 else ""
        if not digest.startswith("sha256=") or name not in data:
            continue
        if digest != _record_hash(data[name]):
            raise ZipFormatError(f"{where}: {record} does not match {name}: refusing to sign")


def _build_record(archive: _Archive, record: str) -> bytes:
    """RECORD as pip and wheel write it: path,sha256=<urlsafe b64>,size; RECORD itself empty."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=",", quotechar='"', lineterminator="\n")
    for member in archive.files():
        name = member.info.filename
        if name == record:
            writer.writerow((name, "", ""))
        else:
            writer.writerow((name, _record_hash(member.data), len(member.data)))
    return buf.getvalue().encode("utf-8")


def sign_wheel(path: PathLike, key: PrivateKey) -> Manifest:
    """Sign a wheel in place: the manifest goes into ``.dist-info/`` just before RECORD.

    It lists every file except RECORD and itself (paths as in the wheel, ``.data/`` files
    included); RECORD is then regenerated so that pip still accepts the wheel.
    """
    target = Path(path)
    where = str(target)
    archive = _read_archive(target)
    dist_info = _find_dist_info(where, archive)
    record, name = f"{dist_info}/RECORD", f"{dist_info}/{MANIFEST_NAME}"
    _check_old_record(where, archive, record)
    at = archive.index(name)
    old = archive.members.pop(at) if at is not None else None
    listed = (m for m in archive.files() if m.info.filename != record)
    hashes = _zip_hashes(where, listed)
    previous = _previous_manifest(old.data if old else None, f"{where}!{name}")
    manifest = sign_manifest(hashes, key, previous)
    new = _manifest_member(name, manifest, archive, old)
    record_member = _member(archive, record)
    archive.members.insert(archive.members.index(record_member), new)
    record_member.data = _build_record(archive, record)
    _write_archive(target, archive)
    return manifest


def sign_path(path: PathLike, key: PrivateKey) -> Manifest:
    """Sign a directory, wheel, or zip/zipapp, chosen by what ``path`` is."""
    target = Path(path)
    if target.is_dir():
        return sign_directory(target, key)
    if not target.exists():
        raise FileNotFoundError(f"{target}: no such file or directory")
    if target.suffix.lower() == ".whl":
        return sign_wheel(target, key)
    if target.suffix.lower() in (".zip", ".pyz", ".pyzw") or zipfile.is_zipfile(target):
        return sign_zipfile(target, key)
    raise ValueError(f"{target}: not a directory, wheel, or zip archive")


# --------------------------------------------------------------------- verify

OK, MODIFIED, MISSING, UNLISTED, SKIPPED = "ok", "modified", "missing", "unlisted", "skipped"
FAILING = frozenset({MODIFIED, MISSING, UNLISTED})


@dataclass(frozen=True)
class FileResult:
    """The audit result of one file.

    ``status``: ok; modified; missing (listed but absent); unlisted (no trusted manifest lists
    it); skipped (reported, not a failure: see ``detail``).
    """

    path: str
    status: str
    expected: str | None = None
    actual: str | None = None
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class Problem:
    """A problem above file level: a manifest malformed, untrusted, forged; RECORD wrong; ..."""

    kind: str
    where: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "where": self.where, "message": self.message}


@dataclass
class VerifyReport:
    """A full offline audit of one path; ``ok`` only when every file is vouched for and intact."""

    path: str
    kind: str
    files: list[FileResult] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    manifests: dict[str, str | None] = field(default_factory=dict)

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


def _directory_tree(root: Path, report: VerifyReport) -> _Tree:
    errors: list[str] = []
    files = dict(_walk_tree(root, errors))
    report.problems.extend(Problem("unsafe", str(root), message) for message in errors)
    return _Tree(files, lambda name: files[name].read_bytes())


def _zip_tree(path: Path, zf: zipfile.ZipFile, report: VerifyReport) -> _Tree:
    where = str(path)
    infos = [i for i in zf.infolist() if not i.is_dir()]
    try:
        _check_names(where, [i.filename for i in zf.infolist()])
    except ZipFormatError as exc:
        report.problems.append(Problem("corrupt", where, str(exc)))
    by_name = {i.filename: i for i in infos}
    return _Tree(by_name, lambda name: _read_member(zf, by_name[name], where))


def _manifest_names(tree: _Tree) -> list[str]:
    """The root manifest and the top-level ``*.dist-info/`` manifests of an entry."""
    names = [MANIFEST_NAME] if MANIFEST_NAME in tree else []
    for name in tree.names:
        parts = name.split("/")
        if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == MANIFEST_NAME:
            names.append(name)
    return names


def _public_ring(keys: Any) -> dict[str, PublicKey]:
    if isinstance(keys, Mapping):
        return dict(keys)
    if isinstance(keys, (PrivateKey, Ed25519Key, RSAKey)):
        keys = [keys]
    return key_ring([k.public_key if isinstance(k, PrivateKey) else k for k in keys])


def _load_manifest(
    tree: _Tree, name: str, ring: Mapping[str, PublicKey], report: VerifyReport
) -> Manifest | None:
    """Parse and verify one manifest; every way it can fail is a reported problem."""
    source = f"{report.path}!{name}" if report.kind != "directory" else str(Path(report.path, name))
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
    target = Path(path)
    ring = _public_ring(keys)
    if target.is_dir():
        report = VerifyReport(str(target), "directory")
        return _audit(_directory_tree(target, report), ring, report)
    if not target.exists():
        raise FileNotFoundError(f"{target}: no such file or directory")
    kind = "wheel" if target.suffix.lower() == ".whl" else "zip"
    report = VerifyReport(str(target), kind)
    try:
        with zipfile.ZipFile(target) as zf:
            return _audit(_zip_tree(target, zf, report), ring, report)
    except zipfile.BadZipFile as exc:
        message = f"{target}: not a valid zip archive: {exc}"
        report.problems.append(Problem("corrupt", str(target), message))
        return report
