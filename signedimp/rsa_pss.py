"""Pure-Python RSASSA-PSS verification (RFC 8017 section 8.1.2, EMSA-PSS-VERIFY 9.1.2).

The parameters are fixed, never read from the signature: SHA-256, MGF1 with SHA-256 and a
salt of exactly 32 bytes. Verification is one built-in ``pow`` (fast for e = 65537) and two
hashes. Every check that RFC 8017 describes is made, strictly: the signature is exactly as
long as the modulus, ``s < n``, the trailer is 0xbc, the unused top bits are zero, the
padding is zeros then 0x01, then the salt.
"""

from __future__ import annotations

from . import digests

__all__ = ["verify", "HASH_LEN", "SALT_LEN"]

HASH_LEN = 32
SALT_LEN = 32


def _mgf1(seed: bytes, length: int) -> bytes:
    """MGF1 with SHA-256 (RFC 8017 appendix B.2.1)."""
    out = bytearray()
    counter = 0
    while len(out) < length:
        out += digests.sha256(seed + counter.to_bytes(4, "big"))
        counter += 1
    return bytes(out[:length])


def verify(modulus: int, exponent: int, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` is a valid RSASSA-PSS signature of ``message`` under (n, e).

    Returns False, never raises, for anything malformed (wrong length, ``s >= n``, bad
    padding, bad types, a modulus too small for a 32-byte hash and a 32-byte salt).
    """
    try:
        return _verify(modulus, exponent, bytes(message), bytes(signature))
    except Exception:  # bad types or values from the caller: not a valid signature
        return False


def _verify(n: int, e: int, message: bytes, signature: bytes) -> bool:
    if type(n) is not int or type(e) is not int or n < 3 or e < 1:
        return False
    mod_bits = n.bit_length()
    k = (mod_bits + 7) // 8
    if len(signature) != k:
        return False
    s = int.from_bytes(signature, "big")
    if s >= n:
        return False
    m = pow(s, e, n)
    em_bits = mod_bits - 1
    em_len = (em_bits + 7) // 8
    if em_len < HASH_LEN + SALT_LEN + 2:
        return False
    if m.bit_length() > em_bits:
        # the leftmost 8 * em_len - em_bits bits of EM must be zero (step 6), which also
        # means m fits into em_len bytes (RSAVP1's I2OSP)
        return False
    em = m.to_bytes(em_len, "big")
    if em[-1] != 0xBC:
        return False
    db_len = em_len - HASH_LEN - 1
    masked_db = em[:db_len]
    h = em[db_len:-1]
    unused = 8 * em_len - em_bits  # top bits of DB that are set to zero (step 9)
    db = int.from_bytes(masked_db, "big") ^ int.from_bytes(_mgf1(h, db_len), "big")
    db &= (1 << (8 * db_len - unused)) - 1
    db_bytes = db.to_bytes(db_len, "big")
    ps_len = db_len - SALT_LEN - 1
    if db_bytes[:ps_len] != bytes(ps_len) or db_bytes[ps_len] != 0x01:
        return False
    salt = db_bytes[ps_len + 1 :]
    m_hash = digests.sha256(message)
    return digests.sha256(bytes(8) + m_hash + salt) == h
