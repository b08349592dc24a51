"""Ed25519 speed-ups checked against plain arithmetic: folded reductions, split scalars, key tables.

``signedimp/ed25519.py`` reduces inner products by folding (``_fold``) instead of ``% p`` and
splits both scalars in ``PARTS`` pieces with tables of ``[2^(64 i)]`` multiples; a key's tables
can come embedded (``precompute``, the bootstrap). Each is compared here with the plain
computation it replaces, on random and edge inputs; the Wycheproof vectors and the
pycryptodome cross-checks are in tests/test_ed25519.py.
"""

from __future__ import annotations

import random
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signedimp import ed25519, get_bootstrap_code
from signedimp.keys import Ed25519Key

from .helpers import clean_env
from .test_ed25519 import _B, CASES, L, P, _affine_multiples, _ref_add, _ref_decode, _ref_mul

pytest.importorskip("Crypto")
from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa

EDGES = [0, 1, 2, 19, P - 1, P, P + 1, 2 * P, 2**255 - 1, 2**255, 2**256 - 1]
#: the edges, their pairwise products (what the loop folds) and negatives (differences)
EDGE_PRODUCTS = sorted({a * b for a in EDGES for b in EDGES} | set(EDGES))
field_values = st.one_of(st.sampled_from(EDGES), st.integers(min_value=0, max_value=2**256 - 1))


# -- folding ---------------------------------------------------------------------------------


@pytest.mark.parametrize("x", EDGE_PRODUCTS + [-x for x in EDGE_PRODUCTS])
def test_fold_is_exact_on_edges(x):
    folded = ed25519._fold(x)
    assert folded % P == x % P
    if abs(x) < 2**512:
        assert abs(folded) < 2**262


@settings(max_examples=500, deadline=None)
@given(field_values, field_values, st.booleans())
def test_fold_equals_plain_modulo(a, b, negative):
    x = -(a * b) if negative else a * b
    folded = ed25519._fold(x)
    assert folded % P == x % P
    assert abs(folded) < 2**262
    twice = ed25519._fold(folded * folded)  # what a product of folded values gives
    assert twice % P == (x * x) % P


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=-(2**600), max_value=2**600))
def test_fold_is_exact_for_any_integer(x):
    assert ed25519._fold(x) % P == x % P


def _plain_double(X, Y, Z):
    """dbl-2008-hwcd (a = -1) with ``% P`` after every product: what _double replaced."""
    a = X * X % P
    b = Y * Y % P
    c = 2 * Z * Z % P
    h = a + b
    e = h - (X + Y) * (X + Y) % P
    g = a - b
    f = c + g
    return e * f % P, g * h % P, f * g % P, e * h % P


@settings(max_examples=400, deadline=None)
@given(field_values, field_values, field_values)
def test_folded_doubling_equals_plain_doubling(X, Y, Z):
    # The formulas are polynomials, so any three values will do, and both sides reduce their
    # outputs fully: the results are equal, not just congruent.
    assert ed25519._double(X, Y, Z) == _plain_double(X, Y, Z)


@pytest.mark.parametrize("X", EDGES)
@pytest.mark.parametrize("Y", EDGES)
def test_folded_doubling_on_edges(X, Y):
    for Z in (0, 1, P - 1, 2**256 - 1):
        assert ed25519._double(X, Y, Z) == _plain_double(X, Y, Z)


# -- the combined multiplication, unsplit and split ------------------------------------------


def _affine(X, Y, Z):
    zi = pow(Z, -1, P)
    return X * zi % P, Y * zi % P


def _key_tables(public: bytes, split: bool) -> list:
    state = ed25519._KeyState(_ref_decode(public), None)
    if split:
        state.uses = 2  # the third check computes the split tables
    tables = state.tables()
    assert len(tables) == (ed25519.PARTS if split else 1)
    return tables


PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")  # RFC 8032
SCALAR_EDGES = [0, 1, 2, 3, 2**64 - 1, 2**64, 2**64 + 1, 2**128 - 1, 2**192, 2**252, L - 1, 2**253 - 1]


@pytest.mark.parametrize("split", [False, True], ids=["unsplit", "split"])
@pytest.mark.parametrize("s", SCALAR_EDGES)
def test_combined_on_edge_scalars(split, s):
    tables = _key_tables(PUBLIC, split)
    x, y = _ref_decode(PUBLIC)
    minus_a = ((P - x) % P, y)
    for k in SCALAR_EDGES[:: 3 if s else 1]:
        expected = _ref_add(_ref_mul(s, _B), _ref_mul(k, minus_a))
        assert _affine(*ed25519._combined(s, k, tables)) == expected, (s, k)


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=0, max_value=L - 1), st.integers(min_value=0, max_value=L - 1))
def test_combined_split_and_unsplit_agree_with_the_reference(s, k):
    x, y = _ref_decode(PUBLIC)
    expected = _ref_add(_ref_mul(s, _B), _ref_mul(k, ((P - x) % P, y)))
    assert _affine(*ed25519._combined(s, k, _key_tables(PUBLIC, False))) == expected
    assert _affine(*ed25519._combined(s, k, _key_tables(PUBLIC, True))) == expected


# -- a key's tables: computed by the third check, or embedded -------------------------------


def _signed(rng: random.Random, size: int):
    key = ECC.construct(curve="ed25519", seed=rng.randbytes(32))
    message = rng.randbytes(size)
    signature = eddsa.new(key, "rfc8032").sign(message)
    return key.public_key().export_key(format="raw"), message, signature


def test_precompute_layout_and_equality_with_the_computed_tables():
    blob = ed25519.precompute(PUBLIC)
    count = 1 << (ed25519._A_WIDTH - 2)
    assert blob[:2] == bytes((ed25519.PARTS, ed25519._A_WIDTH))
    assert len(blob) == 2 + ed25519.PARTS * count * 96
    loaded = ed25519._load_tables(PUBLIC, blob)
    assert loaded == _key_tables(PUBLIC, True)
    # and by the reference: table i holds the odd multiples of [2^(64 i)](-A)
    x, y = _ref_decode(PUBLIC)
    for i, table in enumerate(loaded):
        point = _ref_mul(2 ** (ed25519.SPAN * i), ((P - x) % P, y))
        for j, (px, py) in enumerate(_affine_multiples(point, count)):
            assert table[2 * j + 1] == ((py + px) % P, (py - px) % P, 2 * ed25519.D * px * py % P)


def test_precompute_refuses_unusable_keys():
    for bad in (bytes(32), (1).to_bytes(32, "little"), b"\xff" * 32):  # small order / non-canonical
        assert ed25519.public_key_problem(bad) is not None
        with pytest.raises(ValueError, match="cannot precompute"):
            ed25519.precompute(bad)


def test_tables_that_do_not_belong_to_the_key_are_ignored():
    rng = random.Random(11)
    public, message, signature = _signed(rng, 100)
    other, _, _ = _signed(rng, 1)
    good = ed25519.precompute(public)
    assert ed25519._load_tables(public, good) is not None
    wrong = [
        ed25519.precompute(other),  # another key's tables
        good[:2]
        + good[2:34]
        + (int.from_bytes(good[34:66], "little") ^ 1).to_bytes(32, "little")
        + good[66:],
        good[:2] + (P).to_bytes(32, "little") + good[34:],  # a value >= p
        bytes((ed25519.PARTS + 1,)) + good[1:],  # another layout
        good[:-1],
        b"",
    ]
    for blob in wrong:
        assert ed25519._load_tables(public, blob) is None
        ed25519._KEY_CACHE.clear()
        assert ed25519.verify(public, message, signature, blob) is True  # decoded instead
        assert ed25519.verify(public, message + b"!", signature, blob) is False
        state = ed25519._KEY_CACHE[public]
        assert state.point is not None
        if blob:
            assert state.refused == blob  # tried once, not parsed again at every check
    # tables refused for a key already cached, then good ones: used from then on
    ed25519._KEY_CACHE.clear()
    assert ed25519.verify(public, message, signature, wrong[0]) is True
    assert ed25519._KEY_CACHE[public].split is None
    assert ed25519.verify(public, message, signature, good) is True
    assert ed25519._KEY_CACHE[public].split == ed25519._load_tables(public, good)


def test_small_order_key_with_tables_is_refused():
    # a small-order point can have tables too (made by hand); they must not make it usable
    small = {
        public for public, test in (case.values for case in CASES) if "SmallOrderPublicKey" in test["flags"]
    }
    checked = 0
    for public in small:
        point = _ref_decode(public)
        if point is None:
            continue
        x, y = point
        entries = []
        for i in range(ed25519.PARTS):
            base = _ref_mul(2 ** (ed25519.SPAN * i), ((P - x) % P, y))
            for px, py in _affine_multiples(base, 1 << (ed25519._A_WIDTH - 2)):
                entries.append(((py + px) % P, (py - px) % P, 2 * ed25519.D * px * py % P))
        blob = bytes((ed25519.PARTS, ed25519._A_WIDTH)) + b"".join(
            v.to_bytes(32, "little") for e in entries for v in e
        )
        assert ed25519._load_tables(public, blob) is None
        ed25519._KEY_CACHE.clear()
        assert ed25519.verify(public, b"", bytes(64), blob) is False
        checked += 1
    assert checked >= 2


def test_every_check_path_gives_the_same_answers():
    # first two checks (unsplit), third (computes the split tables), later ones, embedded tables
    rng = random.Random(12)
    signed = [_signed(rng, n) for n in (0, 1, 64, 1000)]
    for public, message, signature in signed:
        blob = ed25519.precompute(public)
        bad = bytearray(signature)
        bad[40] ^= 4
        for precomputed in (None, blob):
            ed25519._KEY_CACHE.clear()
            for _ in range(4):
                assert ed25519.verify(public, message, signature, precomputed) is True
                assert ed25519.verify(public, message + b"x", signature, precomputed) is False
                assert ed25519.verify(public, message, bytes(bad), precomputed) is False
            state = ed25519._KEY_CACHE[public]
            assert state.split is not None and state.table is None
            assert (state.point is None) == (precomputed is not None)  # embedded: never decoded


def test_wycheproof_through_keys_with_embedded_tables():
    for case in CASES:
        public, test = case.values
        if ed25519.public_key_problem(public) is not None:
            continue
        key = Ed25519Key(public, precomputed=ed25519.precompute(public))
        ed25519._KEY_CACHE.clear()
        expected = test["result"] in ("valid", "acceptable")
        msg, sig = bytes.fromhex(test["msg"]), bytes.fromhex(test["sig"])
        assert key.verify(msg, sig) is expected, test["tcId"]


def test_key_object_checks_and_keeps_its_tables():
    blob = ed25519.precompute(PUBLIC)
    key = Ed25519Key(PUBLIC, precomputed=blob)
    assert key.precomputed == blob
    assert key == Ed25519Key(PUBLIC) and key.fingerprint == Ed25519Key(PUBLIC).fingerprint
    import pickle

    assert pickle.loads(pickle.dumps(key)).precomputed is None  # rebuilt from the key bytes
    with pytest.raises(TypeError, match="precomputed must be bytes"):
        Ed25519Key(PUBLIC, precomputed="00")  # type: ignore[arg-type]
    for bad in (b"", blob[:-1], blob + b"\0", b"\x04\x05", bytes((0, 5)) + blob[2:]):
        with pytest.raises(ValueError, match="precomputed is not the output"):
            Ed25519Key(PUBLIC, precomputed=bad)
    with pytest.raises(AttributeError):
        key._precomputed = None  # keys are immutable


def test_bootstrap_pins_keys_with_their_tables():
    # A fresh process running the bootstrap checks a signature without decoding the key.
    key = ECC.construct(curve="ed25519", seed=bytes(range(32)))
    public = key.public_key().export_key(format="raw")
    text = get_bootstrap_code(Ed25519Key(public))
    assert ed25519.precompute(public).hex()[:96] in text
    message = b"signed by the pinned key"
    signature = eddsa.new(key, "rfc8032").sign(message)
    probe = (
        text
        + "\nimport signedimp.ed25519 as ed\n"
        + "(key,) = _signedimp_manager.keys\n"
        + f"assert key.public_bytes == {public!r}\n"
        + f"assert key.precomputed == ed.precompute({public!r})\n"
        + f"assert key.verify({message!r}, {signature!r}) is True\n"
        + f"assert key.verify({message + b'!'!r}, {signature!r}) is False\n"
        + f"assert ed._KEY_CACHE[{public!r}].point is None  # tables used, key never decoded\n"
        + "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", probe], capture_output=True, text=True, env=clean_env(), timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_bootstrap_pins_an_unusable_key_without_tables():
    text = get_bootstrap_code(Ed25519Key(bytes(32)))  # small order: never verifies
    assert "precomputed" not in text
