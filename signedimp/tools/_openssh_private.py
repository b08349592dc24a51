"""Reading ``ssh-keygen`` private keys (``-----BEGIN OPENSSH PRIVATE KEY-----``) for signing.

pycryptodome reads this format (``ECC.import_key`` for Ed25519, ``RSA.import_key`` for RSA),
passphrase-protected keys included (bcrypt-pbkdf + aes256-ctr). What this module adds is the
header read with the standard library, so that the key type and whether a passphrase is needed
are known before pycryptodome is asked, and every failure says which of them went wrong.
"""

from __future__ import annotations

import binascii

from ..errors import KeyFormatError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._signing_keys import PrivateKey

_MAGIC = b"openssh-key-v1\x00"
_SUPPORTED = ("ssh-ed25519", "ssh-rsa")


def openssh_header(block: str) -> tuple[str, str]:
    """``(cipher name, key type)`` of an OpenSSH private key PEM block."""
    lines = block.strip().splitlines()[1:-1]
    try:
        data = binascii.a2b_base64("".join(line.strip() for line in lines))
    except binascii.Error as exc:
        raise KeyFormatError(f"not a valid OpenSSH private key: bad base64 ({exc})") from None
    if not data.startswith(_MAGIC):
        raise KeyFormatError("not a valid OpenSSH private key: the 'openssh-key-v1' header is missing")
    pos = len(_MAGIC)
    fields = []
    for _ in range(3):  # cipher name, KDF name, KDF options
        field, pos = _string(data, pos)
        fields.append(field)
    if pos + 4 > len(data):
        raise KeyFormatError("not a valid OpenSSH private key: truncated")
    count = int.from_bytes(data[pos : pos + 4], "big")
    if count != 1:
        raise KeyFormatError(f"an OpenSSH private key file with {count} keys: exactly one is supported")
    public_blob, _ = _string(data, pos + 4)
    key_type, _ = _string(public_blob, 0)
    try:
        return fields[0].decode("ascii"), key_type.decode("ascii")
    except UnicodeDecodeError:
        raise KeyFormatError("not a valid OpenSSH private key: non-ASCII names") from None


def _string(data: bytes, pos: int) -> tuple[bytes, int]:
    if pos + 4 > len(data):
        raise KeyFormatError("not a valid OpenSSH private key: truncated")
    size = int.from_bytes(data[pos : pos + 4], "big")
    end = pos + 4 + size
    if end > len(data):
        raise KeyFormatError("not a valid OpenSSH private key: truncated")
    return data[pos + 4 : end], end


def load_openssh_private_key(block: str, passphrase: str | bytes | None) -> PrivateKey:
    """An Ed25519 or RSA signing key from ``ssh-keygen``'s format, encrypted or not."""
    from ._signing_key_pem import PassphraseNeeded, WrongPassphrase, checked_rsa
    from ._signing_keys import PrivateKey

    cipher, key_type = openssh_header(block)
    if key_type not in _SUPPORTED:
        raise KeyFormatError(
            f"unsupported OpenSSH private key type {key_type!r}: use an Ed25519 or RSA key "
            "(ssh-keygen -t ed25519, or -t rsa)"
        )
    encrypted = cipher != "none"
    if encrypted and passphrase is None:
        raise PassphraseNeeded("the private key is encrypted: a passphrase is needed")
    if key_type == "ssh-ed25519":
        from Crypto.PublicKey import ECC as module
    else:
        from Crypto.PublicKey import RSA as module  # type: ignore[no-redef]
    try:
        key = module.import_key(block, passphrase=passphrase if encrypted else None)
    except (ValueError, IndexError, TypeError, KeyError) as exc:
        if encrypted:
            raise WrongPassphrase(
                "cannot decrypt the private key: wrong passphrase (or the key is corrupted)"
                f" [OpenSSH, cipher {cipher}]"
            ) from None
        raise KeyFormatError(f"not a valid OpenSSH private key: {exc}") from None
    if key_type == "ssh-rsa":
        return checked_rsa(key)
    return PrivateKey(key)
