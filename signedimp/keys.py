"""Public keys the runtime trusts: Ed25519 and RSA (RSASSA-PSS), and how to read them.

``RSAKey`` lives in the deferred module ``rsa_key`` (most verified processes pin an Ed25519
key, and every one of them runs this module at ``import signedimp``); ``keys.RSAKey`` and
``signedimp.RSAKey`` name it all the same (this module's ``__getattr__``).

A key is named by its fingerprint, the lowercase hex SHA-256 of its DER
SubjectPublicKeyInfo (the bytes ``openssl pkey -pubin -outform DER`` writes). A manifest's
signature line names the key by fingerprint and the key alone decides the algorithm, so a
signature can never choose a weaker scheme.
"""

from . import digests

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs start-up time in every verified process
    from collections.abc import Iterable

    from .rsa_key import RSAKey

__all__ = [
    "Ed25519Key",
    "RSAKey",
    "PublicKey",
    "load_public_key",
    "key_ring",
    "OID_ED25519",
    "OID_RSA_ENCRYPTION",
    "OID_RSASSA_PSS",
]

OID_ED25519 = "1.3.101.112"
OID_RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
OID_RSASSA_PSS = "1.2.840.113549.1.1.10"
_OID_MGF1 = "1.2.840.113549.1.1.8"
_OID_SHA256 = "2.16.840.1.101.3.4.2.1"

RSA_MIN_BITS = 2048
RSA_MAX_BITS = 16384  # larger moduli only make verification slow
RSA_MAX_EXPONENT_BITS = 256

_PEM_LABEL = "PUBLIC KEY"
_EXPECTED = (
    "expected a PEM 'PUBLIC KEY' block (SubjectPublicKeyInfo), its DER bytes, "
    "or an OpenSSH 'ssh-ed25519 AAAA...' or 'ssh-rsa AAAA...' line"
)


#: An Ed25519 SubjectPublicKeyInfo is these 12 bytes and the key (RFC 8410): SEQUENCE {
#: SEQUENCE { OID 1.3.101.112 }, BIT STRING (0 unused bits) } (tests/test_keys.py checks it
#: against the DER encoder, which need not be loaded for this).
_ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")


def _sha256_hex(data: bytes) -> str:
    """SHA-256 of a short text (a fingerprint); :mod:`signedimp.digests` picks the code, so a
    manager built before anything is verified does not load OpenSSL for it."""
    return digests.sha256_hex(data)


class PublicKey:
    """What both key types share: identity by fingerprint, PEM output, a short repr."""

    __slots__ = ("_fingerprint",)
    _fingerprint: str
    algorithm = ""

    @property
    def fingerprint(self) -> str:
        """Lowercase hex SHA-256 of the DER SubjectPublicKeyInfo."""
        return self._fingerprint

    def spki_der(self) -> bytes:  # pragma: no cover - overridden
        raise NotImplementedError

    def verify(self, message: bytes, signature: bytes) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError

    def to_pem(self) -> str:
        """The key as a standard PEM SubjectPublicKeyInfo (64-character base64 lines)."""
        import binascii  # here: a verified process may never read a key

        b64 = binascii.b2a_base64(self.spki_der(), newline=False).decode("ascii")
        lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
        return "\n".join([f"-----BEGIN {_PEM_LABEL}-----", *lines, f"-----END {_PEM_LABEL}-----", ""])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PublicKey):
            return NotImplemented
        return self._fingerprint == other._fingerprint

    def __hash__(self) -> int:
        return hash(self._fingerprint)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.algorithm} {self._fingerprint[:16]}>"

    def __setattr__(self, name: str, value: object) -> None:
        # keys are values: a key whose bytes changed after its fingerprint was taken would lie
        if hasattr(self, "_fingerprint"):
            raise AttributeError(f"{type(self).__name__} is immutable")
        object.__setattr__(self, name, value)


class Ed25519Key(PublicKey):
    """An Ed25519 public key (RFC 8032, pure Ed25519): 32 raw bytes.

    Any 32 bytes make a key object; a key that is no usable point (non-canonical, off the
    curve, or of small order, for which anyone could forge) simply never verifies, and
    ``problem`` says why. ``load_public_key`` refuses such keys outright, so a pinned key that
    cannot work is reported when it is read, not found out later.

    ``precomputed``: the key's tables from ``signedimp.ed25519.precompute(public_bytes)``, as
    a bootstrap embeds them beside a pinned key, so that a fresh process neither decodes the
    key nor computes them (about a third of its first check). They are trusted as the key
    bytes are (pass only what ``precompute`` made for these bytes): at first use they are
    checked against the key bytes as far as that is cheap, and ignored if they do not match.
    They are not part of the key's identity (fingerprint, equality, pickling).
    """

    __slots__ = ("_public", "_precomputed")
    algorithm = "ed25519"

    def __init__(self, public_bytes: bytes, *, precomputed: bytes | None = None) -> None:
        if not isinstance(public_bytes, (bytes, bytearray, memoryview)):
            raise TypeError(f"Ed25519 public key must be bytes, not {type(public_bytes).__name__}")
        public_bytes = bytes(public_bytes)
        if len(public_bytes) != 32:
            raise ValueError(f"Ed25519 public key must be 32 bytes, not {len(public_bytes)}")
        if precomputed is not None:
            if not isinstance(precomputed, (bytes, bytearray, memoryview)):
                raise TypeError(f"precomputed must be bytes, not {type(precomputed).__name__}")
            precomputed = bytes(precomputed)
            # header (parts, wNAF width), then parts * 2^(width - 2) entries of 96 bytes
            if not (
                len(precomputed) > 2
                and 1 <= precomputed[0] <= 64
                and 2 <= precomputed[1] <= 8
                and len(precomputed) == 2 + precomputed[0] * (1 << (precomputed[1] - 2)) * 96
            ):
                raise ValueError(
                    "precomputed is not the output of signedimp.ed25519.precompute "
                    f"({len(precomputed)} bytes, no matching header)"
                )
        self._public = public_bytes
        self._precomputed = precomputed
        self._fingerprint = _sha256_hex(self.spki_der())

    @property
    def public_bytes(self) -> bytes:
        """The 32-byte encoded point."""
        return self._public

    @property
    def precomputed(self) -> bytes | None:
        """The tables given at construction (``signedimp.ed25519.precompute``), or None."""
        return self._precomputed

    @property
    def problem(self) -> str | None:
        """Why this key can never verify a signature, or None for a usable key."""
        from . import ed25519

        return ed25519.public_key_problem(self._public)

    def spki_der(self) -> bytes:
        """SubjectPublicKeyInfo per RFC 8410: OID 1.3.101.112, no parameters."""
        return _ED25519_SPKI_PREFIX + self._public

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True when ``signature`` (64 bytes) is valid for ``message``; never raises."""
        from . import ed25519

        return ed25519.verify(self._public, message, signature, self._precomputed)

    def __reduce__(self):  # rebuild (and re-check) from the key bytes, never from saved state
        return (Ed25519Key, (self._public,))


# -- reading keys ------------------------------------------------------------------------


_B64_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")


def _b64decode_strict(text: str) -> bytes:
    """Standard base64, padded, nothing else, and canonical (one spelling for each byte string).

    The one strict decoder of the package (keys, manifest signatures, the tools' PEM reader).
    By hand: ``base64`` would import ``re``, and ``a2b_base64(strict_mode=True)`` is 3.11+.
    """
    import binascii  # here: a verified process may never read a key

    if not _B64_ALPHABET.issuperset(text) or len(text) % 4 or "=" in text.rstrip("="):
        raise binascii.Error("characters outside the base64 alphabet, or bad padding")
    raw = binascii.a2b_base64(text)
    if binascii.b2a_base64(raw, newline=False).decode("ascii") != text:
        raise binascii.Error("not canonical base64 (bits set in the padding)")
    return raw


def load_public_key(data: str | bytes) -> "Ed25519Key | RSAKey":
    """Read a public key: PEM SubjectPublicKeyInfo, its DER bytes, or an ``ssh-ed25519``/``ssh-rsa`` line.

    Anything else raises ``KeyFormatError`` saying what was expected. The readers run on first
    use (``key_formats``): most verified processes are handed key objects, never key text.
    """
    from . import key_formats

    return key_formats.load_public_key(data)


def _parse_spki(data: bytes) -> Ed25519Key | tuple[int, int]:
    """Ed25519Key for an Ed25519 SubjectPublicKeyInfo, (n, e) for an RSA one (``key_formats``)."""
    from . import key_formats

    return key_formats.parse_spki(data)


def key_ring(keys: object) -> "dict[str, Ed25519Key | RSAKey]":
    """Fingerprint -> public key: how every public entry point reads the keys it is given.

    ``keys`` is one of these, or an iterable or a dict (its values) of them:

    - a public key: ``Ed25519Key``, ``RSAKey``, or any object with a ``fingerprint`` string
      and a ``verify`` method (keys of an embedded copy of this module work too);
    - a private key: an object whose ``public_key`` is such a key (``signedimp.tools.PrivateKey``):
      its public half is pinned;
    - PEM SubjectPublicKeyInfo, its DER bytes or an ``ssh-ed25519`` line (``str`` or ``bytes``),
      read by ``load_public_key`` (``KeyFormatError`` if it is not a key).

    Anything else raises ``TypeError`` naming it. An empty iterable gives an empty ring: the
    callers that need a key say so.
    """
    if _as_key(keys) is not None or isinstance(keys, _TEXT_TYPES):
        items: Iterable[object] = (keys,)
    elif callable(getattr(keys, "values", None)):  # a dict, e.g. an existing key ring
        items = keys.values()  # type: ignore[attr-defined]
    else:
        try:
            items = iter(keys)  # type: ignore[call-overload]
        except TypeError:
            raise TypeError(
                f"keys must be a key, PEM or ssh text, or an iterable of them, "
                f"not {type(keys).__name__}: {keys!r}"
            ) from None
    ring: dict[str, Ed25519Key | RSAKey] = {}
    for item in items:
        key = _as_key(item)
        if key is None:
            if not isinstance(item, _TEXT_TYPES):
                raise TypeError(f"not a public key, a private key or key text: {item!r}")
            key = load_public_key(item)  # type: ignore[arg-type]
        ring[key.fingerprint] = key
    return ring


_TEXT_TYPES = (str, bytes, bytearray, memoryview)


def _as_key(obj: object) -> "Ed25519Key | RSAKey | None":
    """``obj`` if it is a public key, the public half of a private key, else None."""
    if isinstance(obj, PublicKey):
        return obj  # type: ignore[return-value]
    public = getattr(obj, "public_key", None)
    if _is_key(public):
        return public
    return obj if _is_key(obj) else None  # type: ignore[return-value]


def _is_key(obj: object) -> bool:
    return isinstance(obj, PublicKey) or (
        isinstance(getattr(obj, "fingerprint", None), str) and callable(getattr(obj, "verify", None))
    )


#: Names defined by the deferred module ``rsa_key`` that this module is asked for.
_RSA_NAMES = frozenset(("RSAKey", "_rebuild_rsa"))


def __getattr__(name: str):
    """``RSAKey`` (and the pickle helper of its keys), executed on first use (``rsa_key``)."""
    if name in _RSA_NAMES:
        from . import rsa_key

        return getattr(rsa_key, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
