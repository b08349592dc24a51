"""Pure-Python RSASSA-PSS verification: Wycheproof vectors, pycryptodome cross-checks, edges.

The Wycheproof PSS files used here have no ``acceptable`` vectors; every ``valid`` one must
verify and every ``invalid`` one must not.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signedimp import rsa_pss

from .helpers import FIXTURES

pytest.importorskip("Crypto")
from Crypto.Hash import SHA1, SHA256
from Crypto.PublicKey import RSA
from Crypto.Signature import pkcs1_15, pss

FILES = ["rsa_pss_2048_sha256_mgf1_32_test.json", "rsa_pss_3072_sha256_mgf1_32_test.json"]


def _load(name):
    data = json.loads((FIXTURES / "wycheproof" / name).read_text())
    cases = []
    for group in data["testGroups"]:
        assert (group["sha"], group["mgfSha"], group["sLen"]) == ("SHA-256", "SHA-256", 32)
        n = int(group["publicKey"]["modulus"], 16)
        e = int(group["publicKey"]["publicExponent"], 16)
        for test in group["tests"]:
            cases.append(pytest.param(n, e, test, id=f"{group['keySize']}-tcId{test['tcId']}"))
    assert len(cases) == data["numberOfTests"]
    return cases


CASES = [case for name in FILES for case in _load(name)]


@pytest.mark.parametrize("n, e, case", CASES)
def test_wycheproof(n, e, case):
    assert case["result"] in ("valid", "invalid")
    got = rsa_pss.verify(n, e, bytes.fromhex(case["msg"]), bytes.fromhex(case["sig"]))
    assert got is (case["result"] == "valid")


def test_wycheproof_count():
    assert len(CASES) == 216


# -- pycryptodome cross-checks -----------------------------------------------------------


@pytest.fixture(scope="module", params=[2048, 2049, 3072, 3077])
def key(request):
    """Key sizes chosen so that emLen is k (bits % 8 != 1) and k - 1 (bits % 8 == 1)."""
    return RSA.generate(request.param)


def _sign(key, message, salt=32, hash_mod=SHA256, mgf_hash=SHA256):
    signer = pss.new(key, mask_func=lambda seed, size: pss.MGF1(seed, size, mgf_hash), salt_bytes=salt)
    return signer.sign(hash_mod.new(message))


@pytest.mark.parametrize("message", [b"", b"a", b"x" * 1000])
def test_pycryptodome_signatures_verify(key, message):
    for _ in range(3):
        sig = _sign(key, message)
        assert rsa_pss.verify(key.n, key.e, message, sig) is True
        assert rsa_pss.verify(key.n, key.e, bytearray(message), memoryview(sig)) is True
    assert rsa_pss.verify(key.n, key.e, message + b"!", sig) is False


def test_flipped_bits_fail(key):
    message = b"manifest bytes"
    sig = _sign(key, message)
    for i in range(0, len(sig) * 8, 7):
        bad = bytearray(sig)
        bad[i // 8] ^= 1 << (i % 8)
        assert rsa_pss.verify(key.n, key.e, message, bytes(bad)) is False, i


@pytest.mark.parametrize("salt", [0, 20, 31, 33, 64])
def test_other_salt_lengths_fail(key, salt):
    sig = _sign(key, b"m", salt=salt)
    assert pss.new(key.public_key(), salt_bytes=salt).verify(SHA256.new(b"m"), sig) is None
    assert rsa_pss.verify(key.n, key.e, b"m", sig) is False


def test_other_hashes_and_paddings_fail(key):
    assert rsa_pss.verify(key.n, key.e, b"m", _sign(key, b"m", hash_mod=SHA1)) is False
    assert rsa_pss.verify(key.n, key.e, b"m", _sign(key, b"m", mgf_hash=SHA1)) is False
    assert rsa_pss.verify(key.n, key.e, b"m", pkcs1_15.new(key).sign(SHA256.new(b"m"))) is False


def test_signature_length_and_range(key):
    sig = _sign(key, b"m")
    k = (key.n.bit_length() + 7) // 8
    assert len(sig) == k
    assert rsa_pss.verify(key.n, key.e, b"m", b"\0" + sig) is False
    assert rsa_pss.verify(key.n, key.e, b"m", sig[1:]) is False
    assert rsa_pss.verify(key.n, key.e, b"m", sig + b"\0") is False
    s = int.from_bytes(sig, "big")
    if s + key.n < 256**k:  # same value mod n, but not < n
        assert rsa_pss.verify(key.n, key.e, b"m", (s + key.n).to_bytes(k, "big")) is False
    assert rsa_pss.verify(key.n, key.e, b"m", key.n.to_bytes(k, "big")) is False
    assert rsa_pss.verify(key.n, key.e, b"m", bytes(k)) is False
    assert rsa_pss.verify(key.n, key.e, b"m", (1).to_bytes(k, "big")) is False


def test_wrong_key_fails(key):
    other = RSA.generate(2048)
    sig = _sign(key, b"m")
    assert rsa_pss.verify(other.n, other.e, b"m", sig) is False


def _raw_signature(key, em: bytes) -> bytes:
    """Sign an arbitrary encoded message with the private key (to test the padding checks)."""
    k = (key.n.bit_length() + 7) // 8
    return pow(int.from_bytes(em, "big"), key.d, key.n).to_bytes(k, "big")


def _encode(key, message: bytes, *, trailer=0xBC, ps_byte=0, sep=1, top_bits=0):
    """EMSA-PSS-ENCODE with knobs to break it in one place at a time."""
    import hashlib
    import os

    em_bits = key.n.bit_length() - 1
    em_len = (em_bits + 7) // 8
    salt = os.urandom(32)
    h = hashlib.sha256(bytes(8) + hashlib.sha256(message).digest() + salt).digest()
    ps_len = em_len - 32 - 32 - 2
    db = bytes([ps_byte]) * ps_len + bytes([sep]) + salt
    mask = b""
    counter = 0
    while len(mask) < len(db):
        mask += hashlib.sha256(h + counter.to_bytes(4, "big")).digest()
        counter += 1
    masked = bytearray(a ^ b for a, b in zip(db, mask))
    unused = 8 * em_len - em_bits
    masked[0] &= 0xFF >> unused
    masked[0] |= top_bits
    return bytes(masked) + h + bytes([trailer])


def test_padding_checks(key):
    assert rsa_pss.verify(key.n, key.e, b"m", _raw_signature(key, _encode(key, b"m"))) is True
    for broken in (dict(trailer=0xBD), dict(ps_byte=1), dict(sep=2), dict(sep=0)):
        em = _encode(key, b"m", **broken)
        assert rsa_pss.verify(key.n, key.e, b"m", _raw_signature(key, em)) is False, broken
    em_bits = key.n.bit_length() - 1
    unused = 8 * ((em_bits + 7) // 8) - em_bits
    if unused:
        em = _encode(key, b"m", top_bits=0x80)  # a bit that must be zero
        if int.from_bytes(em, "big") < key.n:
            assert rsa_pss.verify(key.n, key.e, b"m", _raw_signature(key, em)) is False


def test_bad_inputs_never_raise():
    n = int(CASES[0].values[0])
    assert rsa_pss.verify("n", 65537, b"m", b"s") is False  # type: ignore[arg-type]
    assert rsa_pss.verify(n, None, b"m", b"s") is False  # type: ignore[arg-type]
    assert rsa_pss.verify(n, 65537, None, bytes(256)) is False  # type: ignore[arg-type]
    assert rsa_pss.verify(n, 65537, b"m", "s" * 256) is False  # type: ignore[arg-type]
    assert rsa_pss.verify(0, 65537, b"m", b"") is False
    assert rsa_pss.verify(-n, 65537, b"m", bytes(256)) is False
    assert rsa_pss.verify(2**512 + 1, 65537, b"m", bytes(65)) is False  # too small for PSS-32


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=-5, max_value=2**3100),
    st.integers(min_value=-3, max_value=2**20),
    st.binary(max_size=50),
    st.binary(max_size=400),
)
def test_garbage_never_raises(n, e, message, signature):
    assert rsa_pss.verify(n, e, message, signature) in (True, False)


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=256, max_size=256), st.binary(max_size=50))
def test_random_signatures_fail(signature, message):
    n, e = CASES[0].values[0], CASES[0].values[1]
    assert rsa_pss.verify(n, e, message, signature) is False
