"""Pure-Python Ed25519 signature verification (RFC 8032, "pure" Ed25519), strict.

The import hook checks one manifest signature per ``sys.path`` entry, so this has to be
fast without leaving the standard library. How it gets there:

* points in extended twisted Edwards coordinates (a = -1), no inversion until the end;
* one combined double-scalar multiplication ``[S]B - [k]A`` (Straus/Shamir) with shared
  doublings: ``k`` recoded as width-5 wNAF against odd multiples of ``-A``, ``S`` as wNAF
  against odd multiples of ``B`` (``ed25519_base.py``: precomputed, parsed at import);
* split scalars: with the odd multiples of ``[2^(64 i)]B`` and ``[2^(64 i)](-A)`` for
  i = 0..3 at hand, a digit at bit ``j`` is added from table ``j // 64`` at step ``j % 64``,
  so the pass needs 63 doublings instead of 253. The key's tables are derived from the public
  key alone: embedded beside a pinned key by the bootstrap (``precompute``; checked against the
  key bytes at first use, see ``_load_tables``), or else computed by the third check with a
  key (the first two run the unsplit pass: computing them costs about what one check saves,
  so a process that checks one or two signatures with a key pays nothing for them);
* field arithmetic modulo p = 2^255 - 19 reduces the inner products by folding
  (``(x & MASK) + 19 * (x >> 255)``: 2^255 = 19 mod p) and only the coordinates of each new
  point by ``%`` (``_fold``: about 13% of a check);
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
as OpenSSL and Go's crypto/ed25519 do. A key's tables are cached per public key (a trusted
key checks many manifests), so only the first check with a key decodes it.
"""

from __future__ import annotations

from . import digests
from .ed25519_base import BASE_PARTS, BASE_TABLES_HEX, BASE_WIDTH, SQRT_M1, D

__all__ = ["verify", "public_key_problem", "precompute"]

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D2 = (2 * D) % P
MASK = (1 << 255) - 1
_INV2 = (P + 1) // 2
_A_WIDTH = 5  # wNAF width for the public key: 8 odd multiples per table
_B_WIDTH = BASE_WIDTH  # wNAF width for the fixed base (ed25519_base.py)
PARTS = BASE_PARTS  # scalars split into this many pieces of SPAN bits when tables allow
SPAN = 256 // PARTS
_ENTRY = 96  # bytes of one table entry: (y + x, y - x, 2 d x y), 32 bytes each, little-endian


def _fold(x: int) -> int:
    """A value congruent to ``x`` mod p and much smaller: ``(x mod 2^255) + 19 * (x >> 255)``.

    Exact for every integer, negative ones included (2^255 = 19 mod p, and Python's ``&`` and
    ``>>`` act on two's complement), so correctness never depends on sizes: every coordinate
    still leaves a step of ``_combined`` fully reduced by ``%``. Sizes only decide the speed:
    for |x| < 2^512 (a product of two values below 2^256) the result is below 2^262 in absolute
    value, and the next product below 2^528, one ``%`` away from reduced. Four fast operations
    instead of a long division; the hot loop writes it out inline (tests/test_ed25519_field.py).
    """
    return (x & MASK) + 19 * (x >> 255)


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
    y = n & MASK
    if y >= P:
        return None
    x = _recover_x(y, n >> 255)
    if x is None:
        return None
    return x, y


def _double(X: int, Y: int, Z: int) -> tuple[int, int, int, int]:
    """2P in extended coordinates (dbl-2008-hwcd, a = -1); T of the input is not needed.

    Outputs fully reduced, exact for any integer inputs: the steps of the doubling in ``_combined``.
    """
    a = X * X
    a = (a & MASK) + 19 * (a >> 255)
    b = Y * Y
    b = (b & MASK) + 19 * (b >> 255)
    c = Z * Z
    c = (c & MASK) + 19 * (c >> 255)
    c += c
    h = a + b
    e = X + Y
    e = e * e
    e = h - ((e & MASK) + 19 * (e >> 255))
    g = a - b
    f = c + g
    return e * f % P, g * h % P, f * g % P, e * h % P


def _add(p1: tuple[int, int, int, int], p2: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """P1 + P2 in extended coordinates (add-2008-hwcd-3, a = -1); complete for this curve.

    Used to build tables (the hot loop adds affine table entries: ``_combined``).
    """
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


def _niels(points: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int]]:
    """Affine (y + x, y - x, 2 d x y) of projective points, with one inversion for all of them."""
    prefix = [1]
    for point in points:
        prefix.append(prefix[-1] * point[2] % P)
    inv = pow(prefix[-1], -1, P)
    out: list[tuple[int, int, int]] = [(0, 0, 0)] * len(points)
    for i in range(len(points) - 1, -1, -1):
        X, Y, Z, _ = points[i]
        zi = inv * prefix[i] % P
        inv = inv * Z % P
        x = X * zi % P
        y = Y * zi % P
        out[i] = ((y + x) % P, (y - x) % P, D2 * x % P * y % P)
    return out


def _lookup(entries: list[tuple[int, int, int]]) -> list:
    """A list indexed by signed odd digit: index d holds the d-th odd multiple, index -d
    (Python's negative index, ``len - d``) its negation, so ``table[digit]`` serves both signs.

    Negating an entry (y + x, y - x, 2 d x y) swaps the first two and negates the third.
    """
    size = 4 * len(entries)
    table: list = [None] * size
    for i, (yp, ym, t) in enumerate(entries):
        table[2 * i + 1] = (yp, ym, t)
        table[size - 2 * i - 1] = (ym, yp, P - t)
    return table


def _tables_from_bytes(raw: bytes, parts: int, width: int) -> list[list] | None:
    """Lookup tables from ``parts`` runs of ``2^(width-2)`` entries; None unless each is < p."""
    count = 1 << (width - 2)
    if len(raw) != parts * count * _ENTRY:
        return None
    values = [int.from_bytes(raw[i : i + 32], "little") for i in range(0, len(raw), 32)]
    if max(values) >= P:
        return None
    entries = list(zip(values[0::3], values[1::3], values[2::3]))
    return [_lookup(entries[i * count : (i + 1) * count]) for i in range(parts)]


def _base_tables() -> list[list]:
    """The fixed base's lookup tables, from ``ed25519_base.py`` (checked by tests/test_ed25519.py)."""
    tables = _tables_from_bytes(bytes.fromhex(BASE_TABLES_HEX), PARTS, _B_WIDTH)
    if tables is None:  # pragma: no cover - a broken ed25519_base.py
        raise ImportError("signedimp.ed25519_base holds a malformed table")
    return tables


_B_TABLES = _base_tables()


def _wnaf(k: int, width: int) -> list[tuple[int, int]]:
    """Width-w NAF of k: its nonzero digits as (bit position, digit), least significant first."""
    digits: list[tuple[int, int]] = []
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
            digits.append((pos, d))
            if not k:
                break
        # jump over the run of zero bits that follows (at least `width` after a digit)
        shift = (k & -k).bit_length() - 1
        k >>= shift
        pos += shift
    return digits


def _is_small_order(x: int, y: int) -> bool:
    """True when [8](x, y) is the identity: the point is one of the 8 torsion points."""
    X, Y, Z, _ = _double(x, y, 1)
    X, Y, Z, _ = _double(X, Y, Z)
    X, Y, Z, _ = _double(X, Y, Z)
    return X == 0 and Y == Z


def _combined(s: int, k: int, a_tables: list[list]) -> tuple[int, int, int]:
    """[s]B + [k]A' (A' = the point of a_tables[0]), as projective X, Y, Z.

    ``a_tables``: one lookup table (``_lookup``) of odd multiples of A', or ``PARTS`` of them,
    table i for ``[2^(SPAN i)]A'``. The pass adds the digit of bit j from table j // span at
    step j % span, with the step's doublings still to come: 2^(j % span) times the table's
    2^(span (j // span)) makes 2^j. So it makes span - 1 doublings, and the fixed base, whose
    tables are always split (``_B_TABLES``), adds all its digits in the last SPAN steps.
    """
    span = 256 // len(a_tables)
    steps: list[list] = [[] for _ in range(span)]
    for pos, d in _wnaf(k, _A_WIDTH):
        steps[pos % span].append(a_tables[pos // span][d])
    b_tables = _B_TABLES
    for pos, d in _wnaf(s, _B_WIDTH):
        steps[pos % SPAN].append(b_tables[pos // SPAN][d])
    top = span - 1
    while top >= 0 and not steps[top]:
        top -= 1
    if top < 0:
        return 0, 1, 1
    p = P
    m = MASK
    # Start from the identity (0, 1, 1, 0). The doubling and the addition are written out in
    # the loop rather than called (_double): a call per step costs about a quarter of the
    # verification time, and this loop is what every manifest check runs. Every coordinate
    # leaves a step reduced (% p); the products in between are only folded (_fold).
    X, Y, Z, T = 0, 1, 1, 0
    first = True
    for i in range(top, -1, -1):
        adds = steps[i]
        if first:
            first = False
        else:
            # doubling (dbl-2008-hwcd with a = -1); T is computed only if an addition follows
            a = X * X
            a = (a & m) + 19 * (a >> 255)
            b = Y * Y
            b = (b & m) + 19 * (b >> 255)
            c = Z * Z
            c = (c & m) + 19 * (c >> 255)
            c += c
            h = a + b
            e = X + Y
            e = e * e
            e = h - ((e & m) + 19 * (e >> 255))
            g = a - b
            f = c + g
            X = e * f % p
            Y = g * h % p
            Z = f * g % p
            if adds:
                T = e * h % p
        for yp, ym, t2 in adds:
            # mixed addition of an affine entry (madd-2008-hwcd-3, a = -1, Z2 = 1)
            a = (Y - X) * ym
            a = (a & m) + 19 * (a >> 255)
            b = (Y + X) * yp
            b = (b & m) + 19 * (b >> 255)
            c = T * t2
            c = (c & m) + 19 * (c >> 255)
            d = Z + Z
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


def _split_points(x: int, y: int) -> list[tuple[int, int, int, int]]:
    """The odd multiples of [2^(SPAN i)](-A) for i < PARTS, projective, table after table."""
    base = ((P - x) % P, y, 1, (P - x) * y % P)  # -A, so that one pass computes [S]B - [k]A
    count = 1 << (_A_WIDTH - 2)
    points: list[tuple[int, int, int, int]] = []
    for i in range(PARTS):
        if i:
            X, Y, Z = base[0], base[1], base[2]
            for _ in range(SPAN):
                X, Y, Z, T = _double(X, Y, Z)
            base = (X, Y, Z, T)
        points.extend(_odd_multiples(base, count))
    return points


class _KeyState:
    """What ``verify`` keeps per public key: -A, the unsplit table, the split tables, uses."""

    __slots__ = ("point", "table", "split", "uses", "refused")

    def __init__(self, point: tuple[int, int] | None, split: list[list] | None) -> None:
        self.point = point  # affine A, when decoded (None when the tables came embedded)
        self.table: list | None = None  # odd multiples of -A (the first checks without split)
        self.split = split
        self.uses = 0
        self.refused: bytes | None = None  # embedded tables that did not match: not parsed again

    def tables(self) -> list[list]:
        """The tables for this check: split ones from the third check on (see the module doc)."""
        self.uses += 1
        if self.split is not None:
            return self.split
        assert self.point is not None
        if self.uses > 2:
            count = 1 << (_A_WIDTH - 2)
            entries = _niels(_split_points(*self.point))
            self.split = [_lookup(entries[i * count : (i + 1) * count]) for i in range(PARTS)]
            self.table = None
            return self.split
        if self.table is None:
            x, y = self.point
            neg_a = ((P - x) % P, y, 1, (P - x) * y % P)
            self.table = _lookup(_niels(_odd_multiples(neg_a, 1 << (_A_WIDTH - 2))))
        return [self.table]


def precompute(public: bytes) -> bytes:
    """The key's split tables as bytes, to embed beside a pinned key (``Ed25519Key(..., precomputed=)``).

    Two header bytes (PARTS, wNAF width), then for each of the PARTS points [2^(SPAN i)](-A)
    its odd multiples 1, 3, 5, ... as affine (y + x, y - x, 2 d x y), 32 bytes little-endian
    each. Raises ValueError for a key that can never verify (``public_key_problem``).
    """
    problem = public_key_problem(public)
    if problem is not None:
        raise ValueError(f"cannot precompute tables for this Ed25519 public key: {problem}")
    point = _decode_point(bytes(public))
    assert point is not None
    entries = _niels(_split_points(*point))
    return bytes((PARTS, _A_WIDTH)) + b"".join(v.to_bytes(32, "little") for e in entries for v in e)


def _load_tables(public: bytes, data: bytes) -> list[list] | None:
    """The split tables from ``precompute``'s bytes if they belong to ``public``, else None.

    They are as trusted as the key bytes they are pinned with (both come from the same
    bootstrap text or the same caller); what can be checked cheaply is: the layout is this
    module's, every value is below p, and the first entry is exactly -A for the point the 32
    key bytes canonically encode (its y, the sign bit, on the curve, 2 d x y), which is not
    of small order. That replaces decoding the key (a square root: one exponentiation).
    """
    if len(data) < 2 or data[0] != PARTS or data[1] != _A_WIDTH:
        return None
    tables = _tables_from_bytes(data[2:], PARTS, _A_WIDTH)
    if tables is None:
        return None
    n = int.from_bytes(public, "little")
    y = n & MASK
    sign = n >> 255
    yp, ym, t2 = tables[0][1]  # (y - x, y + x, -2 d x y) of A = (x, y)
    x = (ym - yp) * _INV2 % P
    if (
        y >= P
        or (yp + ym - 2 * y) % P
        or x & 1 != sign
        or (x == 0 and sign)
        or (y * y - x * x - 1 - D * x % P * x % P * y % P * y) % P
        or (t2 + D2 * x % P * y) % P
        or _is_small_order(x, y)
    ):
        return None
    return tables


_KEY_CACHE: dict = {}
_KEY_CACHE_SIZE = 32


def _key_state(public: bytes, precomputed: bytes | None) -> _KeyState | None:
    """The cached state of a public key, None if the key is unusable.

    A trusted key verifies many manifests, so decoding it and building its tables is done once
    and kept in a small cache; the result depends only on the key bytes. ``precomputed``
    (``precompute``'s bytes) spares the decoding and the split tables' computation.
    """
    state = _KEY_CACHE.get(public, False)
    if state is None:
        return None
    if state is not False:
        if state.split is None and precomputed is not None and precomputed != state.refused:
            state.split = _load_tables(public, precomputed)
            if state.split is None:
                state.refused = precomputed
        return state
    split = None if precomputed is None else _load_tables(public, precomputed)
    if split is not None:
        state = _KeyState(None, split)
    else:
        point = _decode_point(public)
        state = None if point is None or _is_small_order(*point) else _KeyState(point, None)
        if state is not None:
            state.refused = precomputed
    if len(_KEY_CACHE) >= _KEY_CACHE_SIZE:
        _KEY_CACHE.clear()
    _KEY_CACHE[public] = state
    return state


def verify(public: bytes, message: bytes, signature: bytes, precomputed: bytes | None = None) -> bool:
    """True when ``signature`` is a valid Ed25519 signature of ``message`` under ``public``.

    Returns False (never raises) for anything malformed: wrong types or lengths, a public
    key that is not a canonical encoding of a point of large order, ``S >= L``, or an ``R``
    that is not the canonical encoding of ``[S]B - [k]A``. ``precomputed``: the key's tables
    (``precompute``), used when they belong to ``public`` and ignored otherwise.
    """
    try:
        public = bytes(public)
        signature = bytes(signature)
        message = bytes(message)
        if precomputed is not None:
            precomputed = bytes(precomputed)
    except (TypeError, ValueError):
        return False
    if len(public) != 32 or len(signature) != 64:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= L:
        return False
    state = _key_state(public, precomputed)
    if state is None:
        return False
    r = signature[:32]
    k = int.from_bytes(digests.sha512(r, public, message), "little") % L
    X, Y, Z = _combined(s, k, state.tables())
    zi = pow(Z, -1, P)
    xa = X * zi % P
    ya = Y * zi % P
    return (ya | ((xa & 1) << 255)).to_bytes(32, "little") == r
