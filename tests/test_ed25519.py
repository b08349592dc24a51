"""Pure-Python Ed25519 verification: Wycheproof vectors, pycryptodome cross-checks, properties.

Decision on Wycheproof's ``acceptable`` vectors (RFC 8032 leaves them to the verifier):

* ``SmallOrderPublicKey`` (tcId 152-159): rejected. With a public key of small order the
  equation ``[S]B = R + [k]A`` can be satisfied without any private key (tcId 152 is a
  universal forgery with the identity as key), so such a key can vouch for nothing. Checking
  ``[8]A != O`` costs three doublings.
* ``MixedOrderPublicKey`` (tcId 160-180): decided by the cofactorless equation, exactly as
  an independent, slow reference implementation below decides it (all of them hold). Such a
  key can only be made by its owner (it needs the private scalar), so accepting the owner's
  signatures gives nobody else any power; detecting them would cost a full ``[L]A``.
"""

from __future__ import annotations

import hashlib
import json
import os
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signedimp import ed25519

from .helpers import FIXTURES

pytest.importorskip("Crypto")
from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa

_DATA = json.loads((FIXTURES / "wycheproof" / "ed25519_test.json").read_text())
CASES = [
    pytest.param(bytes.fromhex(group["publicKey"]["pk"]), test, id=f"tcId{test['tcId']}")
    for group in _DATA["testGroups"]
    for test in group["tests"]
]

# -- an independent, deliberately naive reference (affine coordinates, double-and-add) ----

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, -1, P) % P


def _ref_add(p1, p2):
    (x1, y1), (x2, y2) = p1, p2
    t = D * x1 * x2 * y1 * y2 % P
    return ((x1 * y2 + x2 * y1) * pow(1 + t, -1, P) % P, (y1 * y2 + x1 * x2) * pow(1 - t, -1, P) % P)


def _ref_mul(k, point):
    result = (0, 1)
    while k:
        if k & 1:
            result = _ref_add(result, point)
        point = _ref_add(point, point)
        k >>= 1
    return result


def _ref_decode(data):
    n = int.from_bytes(data, "little")
    y, sign = n & ((1 << 255) - 1), n >> 255
    if y >= P:
        return None
    xx = (y * y - 1) * pow(D * y * y + 1, -1, P) % P
    x = pow(xx, (P + 3) // 8, P)
    if x * x % P != xx:
        x = x * pow(2, (P - 1) // 4, P) % P
    if x * x % P != xx or (x == 0 and sign):
        return None
    return (P - x if x & 1 != sign else x), y


def _ref_encode(point):
    x, y = point
    return (y | (x & 1) << 255).to_bytes(32, "little")


_B = _ref_decode((4 * pow(5, -1, P) % P).to_bytes(32, "little"))


def reference_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """Cofactorless RFC 8032 verification, strict encodings, no small-order rule."""
    if len(public) != 32 or len(signature) != 64:
        return False
    a = _ref_decode(public)
    r = _ref_decode(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= L:
        return False
    k = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little") % L
    return _ref_encode(_ref_mul(s, _B)) == _ref_encode(_ref_add(r, _ref_mul(k, a)))


# -- Wycheproof ------------------------------------------------------------------------


@pytest.mark.parametrize("public, case", CASES)
def test_wycheproof(public, case):
    msg, sig = bytes.fromhex(case["msg"]), bytes.fromhex(case["sig"])
    got = ed25519.verify(public, msg, sig)
    if case["result"] == "valid":
        assert got is True
    elif case["result"] == "invalid":
        assert got is False
    elif "SmallOrderPublicKey" in case["flags"]:
        assert got is False  # see the module docstring
    else:
        assert "MixedOrderPublicKey" in case["flags"]
        assert got is reference_verify(public, msg, sig)


def test_wycheproof_through_public_key_objects():
    """The same vectors through the public API: ``Ed25519Key(pk).verify`` for every group."""
    from signedimp import Ed25519Key

    for group in _DATA["testGroups"]:
        key = Ed25519Key(bytes.fromhex(group["publicKey"]["pk"]))
        for case in group["tests"]:
            msg, sig = bytes.fromhex(case["msg"]), bytes.fromhex(case["sig"])
            assert key.verify(msg, sig) is ed25519.verify(key.public_bytes, msg, sig), case["tcId"]
            if case["result"] != "acceptable":
                assert key.verify(msg, sig) is (case["result"] == "valid"), case["tcId"]


def test_wycheproof_count():
    assert len(CASES) == _DATA["numberOfTests"] == 210


def test_reference_agrees_on_wycheproof_valid_and_invalid():
    """The slow reference is itself right (otherwise the mixed-order check means little)."""
    for param in CASES:
        public, case = param.values
        if case["result"] == "acceptable":
            continue
        got = reference_verify(public, bytes.fromhex(case["msg"]), bytes.fromhex(case["sig"]))
        assert got is (case["result"] == "valid"), case["tcId"]


# -- pycryptodome cross-checks -----------------------------------------------------------


def _signed(rng: random.Random, size: int):
    key = ECC.generate(curve="ed25519")
    msg = rng.randbytes(size) if hasattr(rng, "randbytes") else os.urandom(size)
    sig = eddsa.new(key, "rfc8032").sign(msg)
    return key.public_key().export_key(format="raw"), msg, sig


@pytest.mark.parametrize("size", [0, 1, 31, 32, 64, 1000, 100_000])
def test_pycryptodome_signatures_verify(size):
    rng = random.Random(size)
    for _ in range(4):
        public, msg, sig = _signed(rng, size)
        assert ed25519.verify(public, msg, sig) is True
        assert ed25519.verify(bytearray(public), memoryview(msg), bytearray(sig)) is True


def test_flipped_bits_fail():
    rng = random.Random(1)
    public, msg, sig = _signed(rng, 40)
    for i in range(len(sig) * 8):
        bad = bytearray(sig)
        bad[i // 8] ^= 1 << (i % 8)
        assert ed25519.verify(public, msg, bytes(bad)) is False, i
    for i in range(len(msg) * 8):
        bad = bytearray(msg)
        bad[i // 8] ^= 1 << (i % 8)
        assert ed25519.verify(public, bytes(bad), sig) is False, i
    for i in range(len(public) * 8):
        bad = bytearray(public)
        bad[i // 8] ^= 1 << (i % 8)
        assert ed25519.verify(bytes(bad), msg, sig) is False, i


def test_other_key_fails():
    rng = random.Random(2)
    public, msg, sig = _signed(rng, 10)
    other, _, _ = _signed(rng, 10)
    assert ed25519.verify(other, msg, sig) is False


def test_malleated_s_fails():
    rng = random.Random(3)
    public, msg, sig = _signed(rng, 10)
    s = int.from_bytes(sig[32:], "little")
    for bigger in (s + L, s + 2 * L, s + 7 * L):
        if bigger < 2**256:
            assert ed25519.verify(public, msg, sig[:32] + bigger.to_bytes(32, "little")) is False


def test_bad_lengths_and_types():
    rng = random.Random(4)
    public, msg, sig = _signed(rng, 10)
    assert ed25519.verify(public[:31], msg, sig) is False
    assert ed25519.verify(public + b"\0", msg, sig) is False
    assert ed25519.verify(public, msg, sig[:63]) is False
    assert ed25519.verify(public, msg, sig + b"\0") is False
    assert ed25519.verify(None, msg, sig) is False  # type: ignore[arg-type]
    assert ed25519.verify(public, "text", sig) is False  # type: ignore[arg-type]
    assert ed25519.verify(public, msg, 64) is False  # type: ignore[arg-type]


def test_public_key_problem():
    rng = random.Random(5)
    public, _, _ = _signed(rng, 1)
    assert ed25519.public_key_problem(public) is None
    assert "32 bytes" in ed25519.public_key_problem(public[:-1])
    assert "small order" in ed25519.public_key_problem(b"\x01" + bytes(31))  # the identity
    # a point with y < 19 has a second, non-canonical encoding y + p: only y is accepted
    found = 0
    for y in range(19):
        canonical = y.to_bytes(32, "little")
        if ed25519.public_key_problem(canonical) is None:
            found += 1
            assert ed25519.public_key_problem((y + P).to_bytes(32, "little")) is not None
    assert found  # there are such points, so the check above ran
    # x = 0 with the sign bit set (y = 1 and y = p - 1 are the only points with x = 0)
    assert ed25519.public_key_problem((1 | 1 << 255).to_bytes(32, "little")) is not None


def test_key_cache_does_not_change_results():
    rng = random.Random(6)
    signed = [_signed(rng, 5) for _ in range(40)]  # more keys than the cache holds
    for _ in range(2):
        for public, msg, sig in signed:
            assert ed25519.verify(public, msg, sig) is True
            assert ed25519.verify(public, msg + b"!", sig) is False


# -- properties --------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40), st.binary(max_size=100), st.binary(max_size=80))
def test_garbage_never_raises(public, message, signature):
    assert ed25519.verify(public, message, signature) in (True, False)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(min_size=32, max_size=32), st.binary(max_size=64), st.binary(min_size=64, max_size=64))
def test_agrees_with_reference_on_random_input(public, message, signature):
    ours = ed25519.verify(public, message, signature)
    ref = reference_verify(public, message, signature)
    point = _ref_decode(public)
    small = point is not None and _ref_mul(8, point) == (0, 1)
    assert ours is (ref and not small)


@settings(max_examples=25, deadline=None)
@given(st.binary(max_size=200))
def test_pycryptodome_and_reference_agree_for_fresh_signatures(message):
    key = ECC.generate(curve="ed25519")
    sig = eddsa.new(key, "rfc8032").sign(message)
    public = key.public_key().export_key(format="raw")
    assert ed25519.verify(public, message, sig) is True
    assert reference_verify(public, message, sig) is True


@given(st.integers(min_value=0, max_value=2**253), st.sampled_from([2, 3, 5, 7]))
def test_wnaf_recoding(k, width):
    digits = ed25519._wnaf(k, width)
    assert sum(d << i for i, d in digits) == k
    positions = [i for i, _ in digits]
    assert positions == sorted(positions) and positions[-1:] <= [k.bit_length()]
    assert all(d & 1 and abs(d) < 1 << (width - 1) for _, d in digits)
    assert all(b - a >= width for a, b in zip(positions, positions[1:]))


def _affine_multiples(point, count):
    """The odd multiples 1, 3, ..., 2 count - 1 of an affine point, by the naive reference."""
    twice = _ref_add(point, point)
    out = [point]
    for _ in range(count - 1):
        out.append(_ref_add(out[-1], twice))
    return out


def test_precomputed_base_table_matches_the_curve():
    """ed25519_base.py holds literals; recompute every one of them from the curve's definition."""
    from signedimp import ed25519_base

    assert ed25519_base.D == D == (-121665 * pow(121666, P - 2, P)) % P
    assert ed25519_base.SQRT_M1 == pow(2, (P - 1) // 4, P)
    assert (ed25519_base.B_X, ed25519_base.B_Y) == _B
    assert ed25519_base.B_X == ed25519._recover_x(ed25519_base.B_Y, 0)
    parts, width = ed25519_base.BASE_PARTS, ed25519_base.BASE_WIDTH
    assert (parts, width) == (ed25519.PARTS, ed25519._B_WIDTH) and parts * ed25519.SPAN == 256
    expected = []
    point = _B
    for _ in range(parts):
        for x, y in _affine_multiples(point, 1 << (width - 2)):
            expected.append(((y + x) % P, (y - x) % P, 2 * D * x * y % P))
        for _ in range(ed25519.SPAN):
            point = _ref_add(point, point)
    raw = b"".join(v.to_bytes(32, "little") for entry in expected for v in entry)
    assert bytes.fromhex(ed25519_base.BASE_TABLES_HEX) == raw
    count = 1 << (width - 2)
    for i, table in enumerate(ed25519._B_TABLES):
        for j in range(count):
            yp, ym, t = expected[i * count + j]
            assert table[2 * j + 1] == (yp, ym, t)
            assert table[-(2 * j + 1)] == (ym, yp, (P - t) % P)  # the negation
