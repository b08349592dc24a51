"""A small, strict DER reader and writer: just enough for SubjectPublicKeyInfo.

Keys are identified by the SHA-256 of their DER encoding, so the encoding must be unique:
only definite, minimal lengths, single-byte tags, minimal INTEGERs and OID arcs, and no
trailing bytes are accepted. Every error is a ``KeyFormatError`` that says what was wrong.
"""

from __future__ import annotations

from .errors import KeyFormatError

__all__ = [
    "INTEGER",
    "BIT_STRING",
    "OCTET_STRING",
    "NULL",
    "OID",
    "SEQUENCE",
    "read_tlv",
    "read_single",
    "read_sequence",
    "read_integer",
    "read_oid",
    "read_null",
    "read_bit_string",
    "read_octet_string",
    "encode_tlv",
    "encode_integer",
    "encode_oid",
    "encode_null",
    "encode_bit_string",
    "encode_octet_string",
    "encode_sequence",
    "parse_spki",
    "encode_spki",
    "parse_rsa_public_key",
    "encode_rsa_public_key",
]

INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
NULL = 0x05
OID = 0x06
SEQUENCE = 0x30

_NAMES = {
    INTEGER: "INTEGER",
    BIT_STRING: "BIT STRING",
    OCTET_STRING: "OCTET STRING",
    NULL: "NULL",
    OID: "OBJECT IDENTIFIER",
    SEQUENCE: "SEQUENCE",
}
_MAX_LENGTH_BYTES = 4  # keys are small; anything longer is garbage


def _name(tag: int) -> str:
    return _NAMES.get(tag, f"tag 0x{tag:02x}")


# -- reading -----------------------------------------------------------------------------


def read_tlv(data: bytes, offset: int = 0) -> tuple[int, int, int]:
    """Read one element at ``offset``: (tag, start of contents, end of contents)."""
    if offset >= len(data):
        raise KeyFormatError("DER: unexpected end of data (expected a tag)")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise KeyFormatError(f"DER: multi-byte tags are not supported (0x{tag:02x})")
    pos = offset + 1
    if pos >= len(data):
        raise KeyFormatError(f"DER: truncated {_name(tag)} (no length)")
    first = data[pos]
    pos += 1
    if first < 0x80:
        length = first
    elif first == 0x80:
        raise KeyFormatError("DER: indefinite length is not allowed")
    else:
        count = first & 0x7F
        if count > _MAX_LENGTH_BYTES:
            raise KeyFormatError(f"DER: length of {_name(tag)} uses {count} bytes (too long)")
        if pos + count > len(data):
            raise KeyFormatError(f"DER: truncated length of {_name(tag)}")
        raw = data[pos : pos + count]
        pos += count
        if raw[0] == 0:
            raise KeyFormatError(f"DER: non-minimal length of {_name(tag)} (leading zero)")
        length = int.from_bytes(raw, "big")
        if length < 0x80:
            raise KeyFormatError(f"DER: non-minimal length of {_name(tag)} (long form for {length})")
    end = pos + length
    if end > len(data):
        raise KeyFormatError(f"DER: truncated {_name(tag)} (needs {length} bytes, {len(data) - pos} left)")
    return tag, pos, end


def _expect(data: bytes, offset: int, tag: int) -> tuple[int, int]:
    got, start, end = read_tlv(data, offset)
    if got != tag:
        raise KeyFormatError(f"DER: expected {_name(tag)}, found {_name(got)}")
    return start, end


def read_single(data: bytes, tag: int) -> bytes:
    """The contents of ``data``, which must be exactly one element with ``tag``."""
    start, end = _expect(data, 0, tag)
    if end != len(data):
        raise KeyFormatError(f"DER: {len(data) - end} trailing byte(s) after {_name(tag)}")
    return bytes(data[start:end])


def read_sequence(data: bytes) -> list[bytes]:
    """The complete encodings of the elements of the SEQUENCE that is all of ``data``."""
    body = read_single(data, SEQUENCE)
    items = []
    pos = 0
    while pos < len(body):
        _tag, _start, end = read_tlv(body, pos)
        items.append(body[pos:end])
        pos = end
    return items


def read_integer(data: bytes) -> int:
    """A minimal INTEGER (two's complement, big-endian)."""
    body = read_single(data, INTEGER)
    if not body:
        raise KeyFormatError("DER: empty INTEGER")
    if len(body) > 1 and ((body[0] == 0 and body[1] < 0x80) or (body[0] == 0xFF and body[1] >= 0x80)):
        raise KeyFormatError("DER: non-minimal INTEGER encoding")
    return int.from_bytes(body, "big", signed=True)


def read_oid(data: bytes) -> str:
    """An OBJECT IDENTIFIER in dotted form, e.g. ``"1.3.101.112"``."""
    body = read_single(data, OID)
    if not body:
        raise KeyFormatError("DER: empty OBJECT IDENTIFIER")
    if body[-1] & 0x80:
        raise KeyFormatError("DER: truncated OBJECT IDENTIFIER arc")
    arcs = []
    value = 0
    fresh = True
    for byte in body:
        if fresh and byte == 0x80:
            raise KeyFormatError("DER: non-minimal OBJECT IDENTIFIER arc")
        value = (value << 7) | (byte & 0x7F)
        fresh = not byte & 0x80
        if fresh:
            arcs.append(value)
            value = 0
    first = arcs[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(a) for a in head + arcs[1:])


def read_null(data: bytes) -> None:
    """A NULL (empty contents)."""
    if read_single(data, NULL):
        raise KeyFormatError("DER: NULL with contents")


def read_bit_string(data: bytes) -> bytes:
    """The bytes of a BIT STRING that has no unused bits (all keys are whole bytes)."""
    body = read_single(data, BIT_STRING)
    if not body:
        raise KeyFormatError("DER: empty BIT STRING (no unused-bits byte)")
    if body[0] != 0:
        raise KeyFormatError(f"DER: BIT STRING with {body[0]} unused bits (expected whole bytes)")
    return body[1:]


def read_octet_string(data: bytes) -> bytes:
    """The bytes of an OCTET STRING."""
    return read_single(data, OCTET_STRING)


# -- writing -----------------------------------------------------------------------------


def _encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def encode_tlv(tag: int, contents: bytes) -> bytes:
    """One element: tag, minimal definite length, contents."""
    return bytes([tag]) + _encode_length(len(contents)) + bytes(contents)


def encode_integer(value: int) -> bytes:
    """A minimal two's complement INTEGER."""
    size = (value + (value < 0)).bit_length() // 8 + 1
    return encode_tlv(INTEGER, value.to_bytes(size, "big", signed=True))


def encode_oid(dotted: str) -> bytes:
    """An OBJECT IDENTIFIER from its dotted form."""
    arcs = [int(a) for a in dotted.split(".")]
    if len(arcs) < 2 or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] >= 40) or min(arcs) < 0:
        raise ValueError(f"not a valid OBJECT IDENTIFIER: {dotted!r}")
    out = bytearray()
    for arc in [40 * arcs[0] + arcs[1]] + arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return encode_tlv(OID, bytes(out))


def encode_null() -> bytes:
    """A NULL."""
    return b"\x05\x00"


def encode_bit_string(data: bytes) -> bytes:
    """A BIT STRING of whole bytes."""
    return encode_tlv(BIT_STRING, b"\x00" + bytes(data))


def encode_octet_string(data: bytes) -> bytes:
    """An OCTET STRING."""
    return encode_tlv(OCTET_STRING, bytes(data))


def encode_sequence(*items: bytes) -> bytes:
    """A SEQUENCE of already encoded elements."""
    return encode_tlv(SEQUENCE, b"".join(items))


# -- SubjectPublicKeyInfo (RFC 5280 4.1.2.7) and RSAPublicKey (RFC 8017 A.1.1) ------------


def parse_spki(der: bytes) -> tuple[str, bytes | None, bytes]:
    """Split a SubjectPublicKeyInfo into (algorithm OID, parameters DER or None, key bytes)."""
    items = read_sequence(der)
    if len(items) != 2:
        raise KeyFormatError(
            f"SubjectPublicKeyInfo: expected 2 elements (algorithm, key), found {len(items)}"
        )
    algorithm = read_sequence(items[0])
    if not 1 <= len(algorithm) <= 2:
        raise KeyFormatError("SubjectPublicKeyInfo: AlgorithmIdentifier must have 1 or 2 elements")
    oid = read_oid(algorithm[0])
    params = algorithm[1] if len(algorithm) == 2 else None
    return oid, params, read_bit_string(items[1])


def encode_spki(oid: str, params: bytes | None, key: bytes) -> bytes:
    """A SubjectPublicKeyInfo from its parts (``params`` already DER encoded, or None)."""
    algorithm = encode_sequence(encode_oid(oid), *(() if params is None else (params,)))
    return encode_sequence(algorithm, encode_bit_string(key))


def parse_rsa_public_key(der: bytes) -> tuple[int, int]:
    """(modulus, public exponent) of a PKCS#1 RSAPublicKey; both must be positive."""
    items = read_sequence(der)
    if len(items) != 2:
        raise KeyFormatError(f"RSAPublicKey: expected 2 INTEGERs, found {len(items)} elements")
    n, e = read_integer(items[0]), read_integer(items[1])
    if n <= 0 or e <= 0:
        raise KeyFormatError("RSAPublicKey: modulus and exponent must be positive")
    return n, e


def encode_rsa_public_key(modulus: int, exponent: int) -> bytes:
    """A PKCS#1 RSAPublicKey."""
    return encode_sequence(encode_integer(modulus), encode_integer(exponent))
