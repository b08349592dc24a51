"""Reading public keys: PEM SubjectPublicKeyInfo, its DER bytes, and OpenSSH lines.

Executed on first use (``signedimp.submodules``): a verified process is usually handed key
objects (a zipapp's or frozen app's bootstrap pins ``Ed25519Key(bytes)``), never key text, so
these readers are not part of every ``import signedimp``. ``keys.load_public_key`` is the
public entry point.
"""

from __future__ import annotations

from .errors import KeyFormatError
from .keys import (
    _EXPECTED,
    _OID_MGF1,
    _OID_SHA256,
    _PEM_LABEL,
    OID_ED25519,
    OID_RSA_ENCRYPTION,
    OID_RSASSA_PSS,
    Ed25519Key,
    _b64decode_strict,
)

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: an Ed25519 key never needs the RSA modules (2 M instructions)
    from .rsa_key import RSAKey

__all__ = ["load_public_key", "parse_spki"]


def _check_pss_params(params: bytes) -> None:
    """Accept id-RSASSA-PSS parameters only if they allow SHA-256 / MGF1-SHA-256 / salt 32."""
    from . import der, rsa_pss

    fields = {}
    for item in der.read_sequence(params):
        tag, start, end = der.read_tlv(item)
        if tag not in (0xA0, 0xA1, 0xA2, 0xA3) or tag in fields:
            raise KeyFormatError(f"RSASSA-PSS parameters: unexpected element (tag 0x{tag:02x})")
        fields[tag] = item[start:end]
    if 0xA0 not in fields or not _is_sha256(fields[0xA0]):
        raise KeyFormatError("RSASSA-PSS key restricted to a hash other than SHA-256")
    mgf = der.read_sequence(fields[0xA1]) if 0xA1 in fields else []
    if len(mgf) != 2 or der.read_oid(mgf[0]) != _OID_MGF1 or not _is_sha256(mgf[1]):
        raise KeyFormatError("RSASSA-PSS key restricted to a mask generation other than MGF1-SHA-256")
    if 0xA2 in fields and der.read_integer(fields[0xA2]) > rsa_pss.SALT_LEN:
        raise KeyFormatError("RSASSA-PSS key requires a salt longer than 32 bytes")
    if 0xA3 in fields and der.read_integer(fields[0xA3]) != 1:
        raise KeyFormatError("RSASSA-PSS key with a trailer field other than 0xbc")


def _is_sha256(algorithm: bytes) -> bool:
    from . import der

    items = der.read_sequence(algorithm)
    if not 1 <= len(items) <= 2 or der.read_oid(items[0]) != _OID_SHA256:
        return False
    if len(items) == 2:
        der.read_null(items[1])
    return True


def parse_spki(data: bytes) -> Ed25519Key | tuple[int, int]:
    """Ed25519Key for an Ed25519 SPKI, (n, e) for an RSA one; KeyFormatError otherwise."""
    from . import der

    oid, params, key = der.parse_spki(data)
    if oid == OID_ED25519:
        if params is not None:
            raise KeyFormatError("Ed25519 SubjectPublicKeyInfo must not have parameters (RFC 8410)")
        return _usable_ed25519(key)
    if oid == OID_RSA_ENCRYPTION:
        if params is None:
            raise KeyFormatError("rsaEncryption SubjectPublicKeyInfo must have NULL parameters")
        der.read_null(params)
    elif oid == OID_RSASSA_PSS:
        if params is not None:
            _check_pss_params(params)
    else:
        raise KeyFormatError(
            f"unsupported key algorithm OID {oid} (expected Ed25519 1.3.101.112 or RSA "
            f"{OID_RSA_ENCRYPTION} / {OID_RSASSA_PSS})"
        )
    return der.parse_rsa_public_key(key)


def _from_der(data: bytes) -> Ed25519Key | RSAKey:
    from . import der

    parsed = parse_spki(data)
    if isinstance(parsed, Ed25519Key):
        return parsed
    n, e = parsed
    from . import rsa_key

    original = der.read_sequence(der.read_sequence(data)[0])[0]
    try:
        if der.read_oid(original) == OID_RSASSA_PSS:
            return rsa_key.RSAKey(n, e, spki=data)
        key = rsa_key.RSAKey(n, e)
    except ValueError as exc:
        raise KeyFormatError(f"unusable RSA public key: {exc}") from None
    if key.spki_der() != data:  # strict DER parsing makes this an internal consistency check
        raise KeyFormatError("RSA SubjectPublicKeyInfo is not in canonical DER")
    return key


def _from_pem(text: str) -> Ed25519Key | RSAKey:
    import binascii  # here: a verified process may never read a key

    begin = f"-----BEGIN {_PEM_LABEL}-----"
    end = f"-----END {_PEM_LABEL}-----"
    if text.count(begin) != 1 or text.count(end) != 1:
        if "PRIVATE KEY-----" in text:
            raise KeyFormatError(
                "this is a private key; a public key was expected ('signedimp pubkey KEY.pem' prints it)"
            )
        if "-----BEGIN RSA PUBLIC KEY-----" in text:
            raise KeyFormatError(
                "PKCS#1 'RSA PUBLIC KEY' is not supported; convert it with "
                "'openssl rsa -RSAPublicKey_in -pubout'"
            )
        if text.count(begin) > 1:
            raise KeyFormatError("more than one PUBLIC KEY block; load each key separately")
        raise KeyFormatError(_EXPECTED)
    head, _, rest = text.partition(begin)
    body, _, _tail = rest.partition(end)
    if ":" in body:
        raise KeyFormatError("PEM headers are not allowed in a PUBLIC KEY block")
    try:
        data = _b64decode_strict("".join(body.split()))
    except (binascii.Error, ValueError) as exc:
        raise KeyFormatError(f"PUBLIC KEY block is not valid base64: {exc}") from None
    return _from_der(data)


def _ssh_fields(kind: str, blob: bytes) -> list[bytes]:
    """The length-prefixed strings of an OpenSSH public key blob (RFC 4253, section 6.6)."""
    fields = []
    pos = 0
    while pos < len(blob):
        if pos + 4 > len(blob):
            raise KeyFormatError(f"{kind} key data is truncated")
        size = int.from_bytes(blob[pos : pos + 4], "big")
        pos += 4
        if pos + size > len(blob):
            raise KeyFormatError(f"{kind} key data is truncated")
        fields.append(blob[pos : pos + size])
        pos += size
    return fields


def _ssh_mpint(kind: str, name: str, value: bytes) -> int:
    """A non-negative SSH ``mpint`` (big-endian two's complement, minimal length)."""
    if not value or value[0] & 0x80:
        raise KeyFormatError(f"{kind} key data: the {name} must be a positive integer")
    if len(value) > 1 and value[0] == 0 and not value[1] & 0x80:
        raise KeyFormatError(f"{kind} key data: the {name} has a superfluous leading zero byte")
    return int.from_bytes(value, "big")


def _from_ssh(text: str) -> Ed25519Key | RSAKey:
    """An ``ssh-ed25519`` or ``ssh-rsa`` line, as ``ssh-keygen`` writes it (a comment may follow)."""
    import binascii  # here: a verified process may never read a key

    parts = text.split(None, 2)
    kind = parts[0]
    if kind not in ("ssh-ed25519", "ssh-rsa"):
        raise KeyFormatError(
            f"OpenSSH key type {kind!r} is not supported; only 'ssh-ed25519' and 'ssh-rsa' lines are accepted"
        )
    if len(parts) < 2:
        raise KeyFormatError(f"{kind} line without key data")
    try:
        blob = _b64decode_strict(parts[1])
    except (binascii.Error, ValueError) as exc:
        raise KeyFormatError(f"{kind} key data is not valid base64: {exc}") from None
    fields = _ssh_fields(kind, blob)
    if not fields or fields[0] != kind.encode("ascii"):
        raise KeyFormatError(f"{kind} key data must start with the string {kind!r}")
    if kind == "ssh-ed25519":
        if len(fields) != 2:
            raise KeyFormatError("ssh-ed25519 key data must hold the string 'ssh-ed25519' and the key")
        return _usable_ed25519(fields[1])
    if len(fields) != 3:
        raise KeyFormatError("ssh-rsa key data must hold the string 'ssh-rsa', the exponent and the modulus")
    exponent = _ssh_mpint(kind, "exponent", fields[1])
    modulus = _ssh_mpint(kind, "modulus", fields[2])
    from . import rsa_key

    try:
        return rsa_key.RSAKey(modulus, exponent)
    except ValueError as exc:
        raise KeyFormatError(f"invalid ssh-rsa public key: {exc}") from None


def _usable_ed25519(public: bytes) -> Ed25519Key:
    """An Ed25519Key for ``public``, or KeyFormatError when it could never verify anything."""
    try:
        key = Ed25519Key(public)
    except ValueError as exc:
        raise KeyFormatError(str(exc)) from None
    if key.problem:
        raise KeyFormatError(f"invalid Ed25519 public key: {key.problem}")
    return key


def load_public_key(data: str | bytes) -> Ed25519Key | RSAKey:
    """Read a public key: PEM SubjectPublicKeyInfo, its DER bytes, or an ``ssh-ed25519``/``ssh-rsa`` line.

    Anything else raises ``KeyFormatError`` saying what was expected.
    """
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    if isinstance(data, bytes):
        if data[:1] == b"\x30":
            return _from_der(data)
        try:
            data = data.decode("ascii")
        except UnicodeDecodeError:
            raise KeyFormatError(_EXPECTED) from None
    if not isinstance(data, str):
        raise TypeError(f"load_public_key() takes str or bytes, not {type(data).__name__}")
    text = data.strip()
    if "-----BEGIN " in text:
        return _from_pem(text)
    if text.startswith("ssh-"):
        if "\n" in text:
            raise KeyFormatError("expected a single ssh-ed25519 or ssh-rsa line")
        return _from_ssh(text)
    raise KeyFormatError(_EXPECTED)
