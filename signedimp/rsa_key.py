"""``RSAKey``: an RSA public key for RSASSA-PSS (SHA-256, MGF1-SHA-256, 32-byte salt).

Executed on first use (``signedimp.submodules``): a verified process that pins only Ed25519
keys never needs it. ``signedimp.RSAKey`` and ``signedimp.keys.RSAKey`` are this class.
"""

from __future__ import annotations

from .keys import (
    OID_RSA_ENCRYPTION,
    RSA_MAX_BITS,
    RSA_MAX_EXPONENT_BITS,
    RSA_MIN_BITS,
    PublicKey,
    _parse_spki,
    _sha256_hex,
)

__all__ = ["RSAKey"]


class RSAKey(PublicKey):
    """An RSA public key used for RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt.

    ``spki`` is for ``load_public_key``: the exact DER an id-RSASSA-PSS key was read from,
    kept so that its fingerprint matches what openssl reports for that key.
    """

    __slots__ = ("_n", "_e", "_spki")
    algorithm = "rsa"

    def __init__(self, modulus: int, pub_exponent: int, *, spki: bytes | None = None) -> None:
        for name, value in (("modulus", modulus), ("public exponent", pub_exponent)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"RSA {name} must be an int, not {type(value).__name__}")
        bits = modulus.bit_length()
        if modulus <= 0 or bits < RSA_MIN_BITS:
            raise ValueError(f"RSA modulus of {bits} bits is too small (at least {RSA_MIN_BITS})")
        if bits > RSA_MAX_BITS:
            raise ValueError(f"RSA modulus of {bits} bits is too large (at most {RSA_MAX_BITS})")
        if not modulus & 1:
            raise ValueError("RSA modulus must be odd")
        if (
            pub_exponent < 3
            or not pub_exponent & 1
            or pub_exponent >= modulus
            or pub_exponent.bit_length() > RSA_MAX_EXPONENT_BITS
        ):
            raise ValueError(
                f"invalid RSA public exponent {pub_exponent}: must be odd, at least 3, "
                f"below the modulus and at most {RSA_MAX_EXPONENT_BITS} bits"
            )
        self._n = modulus
        self._e = pub_exponent
        if spki is not None:
            spki = bytes(spki)
            if _parse_spki(spki) != (modulus, pub_exponent):
                raise ValueError("spki does not encode this modulus and exponent")
        self._spki = spki
        self._fingerprint = _sha256_hex(self.spki_der())

    @property
    def modulus(self) -> int:
        return self._n

    @property
    def pub_exponent(self) -> int:
        return self._e

    @property
    def bits(self) -> int:
        """Size of the modulus in bits."""
        return self._n.bit_length()

    def spki_der(self) -> bytes:
        """The SubjectPublicKeyInfo: rsaEncryption with NULL parameters, as openssl writes it
        (or the id-RSASSA-PSS DER the key was loaded from)."""
        from . import der

        if self._spki is not None:
            return self._spki
        return der.encode_spki(
            OID_RSA_ENCRYPTION, der.encode_null(), der.encode_rsa_public_key(self._n, self._e)
        )

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True when ``signature`` is a valid RSASSA-PSS signature of ``message``; never raises."""
        from . import rsa_pss

        return rsa_pss.verify(self._n, self._e, message, signature)

    def __repr__(self) -> str:
        return f"<RSAKey rsa-{self.bits} {self._fingerprint[:16]}>"

    def __reduce__(self):  # rebuild (and re-check) from the numbers, never from saved state
        return (_rebuild_rsa, (self._n, self._e, self._spki))


def _rebuild_rsa(modulus: int, pub_exponent: int, spki: bytes | None) -> RSAKey:
    return RSAKey(modulus, pub_exponent, spki=spki)
