"""Pure-Python Ed25519 signature verification (RFC 8032, "pure" Ed25519), strict.

The import hook checks one manifest signature per ``sys.path`` entry, so this has to be
fast without leaving the standard library. How it gets there:

* points in extended twisted Edwards coordinates (a = -1), no inversion until the end;
* one combined double-scalar multiplication ``[S]B - [k]A`` (Straus/Shamir): the
  doublings are shared, ``k`` is recoded as width-5 wNAF against a small table of odd
  multiples of ``-A``, ``S`` as width-7 wNAF against odd multiples of ``B`` that are
  computed once at import time (affine; about 4 ms);
* the result is encoded (one modular inverse) and compared byte for byte with ``R``.

Strictness (what makes an encoding or signature unacceptable):

* wrong lengths (public key 32 bytes, signature 64 bytes);
* ``S >= L`` (RFC 8032 section 5.1.7: no malleability);
* a public key that is not a canonical point encoding (``y >= p``, no square root, or
  ``x = 0`` with the sign bit set);
* a non-canonical ``R``: comparing the canonical encoding of ``[S]B - [k]A`` with the
  32 bytes of ``R`` can only succeed when ``R`` is itself canonical;
* a public key of small order (one of the 8 torsion points): with such a key anyone can
  forge signatures for any message (Wycheproof tcId 152), so none verifies.

The check itself is the cofactorless equation ``[S]B == R + [k]A``, as RFC 8032 allows and
as OpenSSL and Go's crypto/ed25519 do. The table for ``-A`` is cached per public key
(a trusted key checks many manifests), so only the first check with a key decodes it.
"""

from __future__ import annotations

from .ed25519_base import BASE_MULTIPLES, SQRT_M1, D
from .submodules import import_stdlib

__all__ = ["verify", "public_key_problem"]

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D2 = (2 * D) % P
_B_WIDTH = 7  # wNAF width for the fixed base: 32 odd multiples (ed25519_base.py)
_A_WIDTH = 5  # wNAF width for the public key: 8 odd multiples, built per call


def _recover_x(y: int, sign: int) -> int | None:
    """The x with x^2 = (y^2 - 1) / (d y^2 + 1) and the given low bit; None if there is none.

    p = 5 (mod 8), so one exponentiation gives a candidate root (RFC 8032 section 5.1.3).
    """
    yy = y * y % P
    u = (yy - 1) % P
    v = (D * yy + 1) % P
    v3 = v * v % P * v % P
    x = u * v3 % P * pow(u * v3 * v3 % P * v % P, (P - 5) // 8, P) % P
    vxx = v * x % P * x % P
    if vxx != u:
        if vxx != P - u:
            return None
        x = x * SQRT_M1 % P
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = P - x
    return x


def _decode_point(data: bytes) -> tuple[int, int] | None:
    """Affine (x, y) of a canonical 32-byte point encoding, or None."""
    n = int.from_bytes(data, "little")
    y = n & ((1 << 255) - 1)
    if y >= P:
        return None
    x = _recover_x(y, n >> 255)
    if x is None:
        return None
    return x, y


def _double(X: int, Y: int, Z: int) -> tuple[int, int, int, int]:
    """2P in extended coordinates (dbl-2008-hwcd, a = -1); T of the input is not needed."""
    a = X * X % P
    b = Y * Y % P
    c = 2 * Z * Z % P
    h = a + b
    e = h - (X + Y) * (X + Y) % P
    g = a - b
    f = c + g
    return e * f % P, g * h % P, f * g % P, e * h % P


def _add(p1: tuple[int, int, int, int], p2: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """P1 + P2 in extended coordinates (add-2008-hwcd-3, a = -1); complete for this curve."""
    X1, Y1, Z1, T1 = p1
    X2, Y2, Z2, T2 = p2
    a = (Y1 - X1) * (Y2 - X2) % P
    b = (Y1 + X1) * (Y2 + X2) % P
    c = T1 * D2 % P * T2 % P
    d = 2 * Z1 * Z2 % P
    e = b - a
    f = d - c
    g = d + c
    h = b + a
    return e * f % P, g * h % P, f * g % P, e * h % P


def _odd_multiples(point: tuple[int, int, int, int], count: int) -> list[tuple[int, int, int, int]]:
    """[P, 3P, 5P, ..., (2*count-1)P] in extended coordinates."""
    twice = _double(point[0], point[1], point[2])
    out = [point]
    for _ in range(count - 1):
        out.append(_add(out[-1], twice))
    return out


def _cached_table(points: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """A lookup list indexed by signed odd digit: entry d (and -d, Python's negative index).

    Each entry is the projective point in cached form (Y + X, Y - X, 2 d T, 2 Z), so that
    adding it needs no inversion and negating it is a swap and a sign change. Index ``d`` holds
    the d-th odd multiple, index ``len - d`` its negation, so ``table[digit]`` works for
    positive and negative digits alike.
    """
    size = 4 * len(points)
    table: list = [None] * size
    for i, (X, Y, Z, T) in enumerate(points):
        yp, ym, t, z = (Y + X) % P, (Y - X) % P, D2 * T % P, 2 * Z % P
        table[2 * i + 1] = (yp, ym, t, z)
        table[size - 2 * i - 1] = (ym, yp, P - t, z)
    return table


def _wnaf(k: int, width: int) -> list[int]:
    """Width-w NAF digits of k, least significant first, as a list of length 256."""
    digits = [0] * 256
    full = 1 << width
    half = full >> 1
    mask = full - 1
    pos = 0
    while k:
        if k & 1:
            d = k & mask
            if d >= half:
                d -= full
            k -= d
            digits[pos] = d
        if not k:
            break
        # jump over the run of zero bits that follows (at least `width` after a digit)
        shift = (k & -k).bit_length() - 1
        k >>= shift
        pos += shift
    return digits


def _base_table() -> list:
    """The fixed-base lookup list from the precomputed multiples (no inversions at import)."""
    size = 4 * len(BASE_MULTIPLES)
    table: list = [None] * size
    for i, (yp, ym, t) in enumerate(BASE_MULTIPLES):
        table[2 * i + 1] = (yp, ym, t)
        table[size - 2 * i - 1] = (ym, yp, P - t)
    return table


_B_TABLE = _base_table()


def _is_small_order(x: int, y: int) -> bool:
    """True when [8](x, y) is the identity: the point is one of the 8 torsion points."""
    X, Y, Z, _ = _double(x, y, 1)
    X, Y, Z, _ = _double(X, Y, Z)
    X, Y, Z, _ = _double(X, Y, Z)
    return X == 0 and Y == Z


def _combined(s: int, k: int, a_table: list) -> tuple[int, int, int]:
    """[s]B + [k]A' (A' = the point a_table was built for), returned as projective X, Y, Z."""
    sd = _wnaf(s, _B_WIDTH)
    kd = _wnaf(k, _A_WIDTH)
    btab = _B_TABLE
    p = P
    top = 255
    while top >= 0 and not sd[top] and not kd[top]:
        top -= 1
    if top < 0:
        return 0, 1, 1
    # Start from the identity: (0, 1, 1, 0). The doubling and the two additions are written out
    # in the loop rather than called (_double/_add): a call per step costs about a quarter of
    # the verification time, and this loop is what every manifest check runs.
    X, Y, Z, T = 0, 1, 1, 0
    first = True
    for i in range(top, -1, -1):
        dk = kd[i]
        ds = sd[i]
        if not first:
            # doubling (dbl-2008-hwcd with a = -1); T is computed only if an addition follows
            a = X * X % p
            b = Y * Y % p
            c = 2 * Z * Z % p
            h = a + b
            e = h - (X + Y) * (X + Y) % p
            g = a - b
            f = c + g
            X = e * f % p
            Y = g * h % p
            Z = f * g % p
            if dk or ds:
                T = e * h % p
        first = False
        if dk:
            yp, ym, t2, z2 = a_table[dk]
            a = (Y - X) * ym % p
            b = (Y + X) * yp % p
            c = T * t2 % p
            d = Z * z2 % p
            e = b - a
            f = d - c
            g = d + c
            h = b + a
            X = e * f % p
            Y = g * h % p
            Z = f * g % p
            T = e * h % p
        if ds:
            yp, ym, t2 = btab[ds]
            a = (Y - X) * ym % p
            b = (Y + X) * yp % p
            c = T * t2 % p
            d = 2 * Z
            e = b - a
            f = d - c
            g = d + c
            h = b + a
            X = e * f % p
            Y = g * h % p
            Z = f * g % p
            T = e * h % p
    return X, Y, Z


def public_key_problem(public: bytes) -> str | None:
    """Why ``public`` cannot be an Ed25519 public key, or None when it can.

    Lets key objects refuse at construction what ``verify`` would reject every time.
    """
    if not isinstance(public, (bytes, bytearray, memoryview)) or len(public) != 32:
        return "an Ed25519 public key is exactly 32 bytes"
    point = _decode_point(bytes(public))
    if point is None:
        return "not the canonical encoding of a point on edwards25519"
    if _is_small_order(*point):
        return "a point of small order (anyone could forge signatures for it)"
    return None


_KEY_CACHE: dict = {}
_KEY_CACHE_SIZE = 32


def _key_table(public: bytes) -> list | None:
    """The table of odd multiples of -A for a public key, or None if the key is unusable.

    A trusted key verifies many manifests, so decoding it (one exponentiation) and building
    its table is done once and kept in a small cache; the result depends only on the bytes.
    """
    try:
        return _KEY_CACHE[public]
    except KeyError:
        pass
    table = None
    point = _decode_point(public)
    if point is not None and not _is_small_order(*point):
        x, y = point
        # Multiples of -A, so that one pass computes [S]B - [k]A.
        neg_a = ((P - x) % P, y, 1, (P - x) * y % P)
        table = _cached_table(_odd_multiples(neg_a, 1 << (_A_WIDTH - 2)))
    if len(_KEY_CACHE) >= _KEY_CACHE_SIZE:
        _KEY_CACHE.clear()
    _KEY_CACHE[public] = table
    return table


def verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` is a valid Ed25519 signature of ``message`` under ``public``.

    Returns False (never raises) for anything malformed: wrong types or lengths, a public
    key that is not a canonical encoding of a point of large order, ``S >= L``, or an ``R``
    that is not the canonical encoding of ``[S]B - [k]A``.
    """
    try:
        public = bytes(public)
        signature = bytes(signature)
        message = bytes(message)
    except (TypeError, ValueError):
        return False
    if len(public) != 32 or len(signature) != 64:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= L:
        return False
    a_table = _key_table(public)
    if a_table is None:
        return False
    r = signature[:32]
    # here: reading a key (load_public_key checks its point) needs no OpenSSL
    hashlib = import_stdlib("hashlib")

    digest = hashlib.sha512(r + public)
    digest.update(message)  # not ``r + public + message``: a manifest's message is large
    k = int.from_bytes(digest.digest(), "little") % L
    X, Y, Z = _combined(s, k, a_table)
    zi = pow(Z, -1, P)
    xa = X * zi % P
    ya = Y * zi % P
    return (ya | ((xa & 1) << 255)).to_bytes(32, "little") == r
