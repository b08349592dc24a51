"""Public keys: construction rules, fingerprints, PEM / DER / OpenSSH parsing, the DER reader."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signedimp import der
from signedimp.errors import KeyFormatError
from signedimp.keys import (
    OID_RSASSA_PSS,
    Ed25519Key,
    PublicKey,
    RSAKey,
    key_ring,
    load_public_key,
)

from .helpers import FIXTURES

pytest.importorskip("Crypto")
from Crypto.Hash import SHA256
from Crypto.PublicKey import ECC, RSA
from Crypto.Signature import eddsa, pss

WYCHEPROOF = FIXTURES / "wycheproof"


@pytest.fixture(scope="module")
def rsa_key():
    return RSA.generate(2048)


@pytest.fixture(scope="module")
def rsa3072():
    return RSA.generate(3072)


def _ed():
    return ECC.generate(curve="ed25519")


def _pss_sign(key, message):
    return pss.new(key, mask_func=lambda s, n: pss.MGF1(s, n, SHA256), salt_bytes=32).sign(
        SHA256.new(message)
    )


# -- Ed25519Key ------------------------------------------------------------------------


def test_ed25519_fingerprint_and_der_match_pycryptodome():
    for _ in range(5):
        k = _ed()
        pub = k.public_key()
        key = Ed25519Key(pub.export_key(format="raw"))
        assert key.spki_der() == pub.export_key(format="DER")
        assert key.fingerprint == hashlib.sha256(pub.export_key(format="DER")).hexdigest()
        assert key.public_bytes == pub.export_key(format="raw")
        assert key.algorithm == "ed25519"
        msg = b"hello"
        assert key.verify(msg, eddsa.new(k, "rfc8032").sign(msg)) is True
        assert key.verify(msg, bytes(64)) is False


@pytest.mark.parametrize("bad", [b"", bytes(31), bytes(33)])
def test_ed25519_wrong_length(bad):
    with pytest.raises(ValueError, match="32 bytes"):
        Ed25519Key(bad)


def test_ed25519_bad_points_never_verify_and_are_refused_when_loaded():
    with pytest.raises(TypeError):
        Ed25519Key("a" * 32)  # type: ignore[arg-type]
    not_on_curve = next(
        y.to_bytes(32, "little") for y in range(2, 100) if not _decodes(y.to_bytes(32, "little"))
    )
    cases = [
        (b"\x01" + bytes(31), "small order"),
        (b"\xff" * 31 + b"\x7f", "canonical"),  # y >= p
        (not_on_curve, "canonical"),
    ]
    for public, reason in cases:
        key = Ed25519Key(public)  # any 32 bytes make a key object ...
        assert reason in key.problem
        assert key.verify(b"message", bytes(64)) is False  # ... that never verifies
        spki = bytes.fromhex("302a300506032b6570032100") + public
        with pytest.raises(KeyFormatError, match=reason):  # and reading one is refused outright
            load_public_key(spki)
        ssh = b"ssh-ed25519 " + binascii.b2a_base64(
            b"".join(len(f).to_bytes(4, "big") + f for f in (b"ssh-ed25519", public)), newline=False
        )
        with pytest.raises(KeyFormatError, match=reason):
            load_public_key(ssh)
    assert Ed25519Key(_ed().public_key().export_key(format="raw")).problem is None


def _decodes(data):
    problem = Ed25519Key(data).problem
    return problem is None or "small order" in problem


def test_ed25519_pem_round_trip():
    k = _ed().public_key()
    key = load_public_key(k.export_key(format="PEM"))
    pem = key.to_pem()
    assert pem.strip() == k.export_key(format="PEM").strip()
    assert pem.startswith("-----BEGIN PUBLIC KEY-----\n") and pem.endswith("-----END PUBLIC KEY-----\n")
    assert load_public_key(pem) == key
    assert load_public_key(pem.encode()) == key
    assert load_public_key(key.spki_der()) == key


def test_openssh_lines():
    k = _ed().public_key()
    exported = k.export_key(format="OpenSSH")  # ends in a newline
    line = exported.strip()
    assert line.startswith("ssh-ed25519 AAAA")
    key = load_public_key(exported)
    assert key == Ed25519Key(k.export_key(format="raw"))
    assert load_public_key(line + " user@host with spaces\n") == key
    assert load_public_key(("  " + line + "\n").encode()) == key


def _ssh_line(*fields: bytes, kind="ssh-ed25519"):
    blob = b"".join(len(f).to_bytes(4, "big") + f for f in fields)
    return f"{kind} {base64.b64encode(blob).decode()}"


def test_openssh_errors():
    raw = _ed().public_key().export_key(format="raw")
    assert isinstance(load_public_key(_ssh_line(b"ssh-ed25519", raw)), Ed25519Key)
    bad_lines = {
        _ssh_line(b"ssh-rsa", raw): "ssh-ed25519",
        _ssh_line(b"ssh-ed25519", raw, b"extra"): "ssh-ed25519",
        _ssh_line(b"ssh-ed25519", raw[:31]): "32 bytes",
        _ssh_line(b"ssh-ed25519", raw)[:-4]: "truncated",
        "ssh-ed25519": "without key data",
        "ssh-ed25519 !!!!": "base64",
        _ssh_line(
            b"ssh-rsa", b"\x01\x00\x01", b"\x00" + bytes(256), kind="ssh-rsa"
        ): "superfluous leading zero",
        _ssh_line(b"ssh-dss", raw, kind="ssh-dss"): "only 'ssh-ed25519' and 'ssh-rsa'",
        "ssh-ed25519 AAAA\nssh-ed25519 AAAA": "single",
    }
    for line, message in bad_lines.items():
        with pytest.raises(KeyFormatError, match=message):
            load_public_key(line)
    blob = (11).to_bytes(4, "big") + b"ssh-ed25519" + (32).to_bytes(4, "big") + raw[:10]
    with pytest.raises(KeyFormatError, match="truncated"):
        load_public_key("ssh-ed25519 " + base64.b64encode(blob).decode())


# -- RSAKey ------------------------------------------------------------------------------


def test_rsa_fingerprint_der_pem_match_pycryptodome(rsa_key):
    pub = rsa_key.public_key()
    key = RSAKey(pub.n, pub.e)
    assert key.spki_der() == pub.export_key(format="DER")
    assert key.fingerprint == hashlib.sha256(pub.export_key(format="DER")).hexdigest()
    assert key.to_pem().strip() == pub.export_key(format="PEM").decode().strip()
    assert all(len(line) <= 64 for line in key.to_pem().splitlines())
    assert load_public_key(key.to_pem()) == key
    assert load_public_key(pub.export_key(format="DER")) == key
    assert (key.modulus, key.pub_exponent, key.bits, key.algorithm) == (pub.n, pub.e, 2048, "rsa")


def test_rsa_verify(rsa_key, rsa3072):
    for priv in (rsa_key, rsa3072):
        key = RSAKey(priv.n, priv.e)
        sig = _pss_sign(priv, b"message")
        assert key.verify(b"message", sig) is True
        assert key.verify(b"messagE", sig) is False
        assert key.verify(b"message", sig[:-1]) is False


def test_rsa_rejects_small_and_invalid(rsa_key):
    n = rsa_key.n
    small = RSA.generate(1024)
    with pytest.raises(ValueError, match="too small"):
        RSAKey(small.n, 65537)
    with pytest.raises(ValueError, match="too small"):
        RSAKey(2**2047 - 1, 65537)  # 2047 bits
    with pytest.raises(ValueError, match="odd"):
        RSAKey(n + 1, 65537)
    for e in (65536, 2, 1, 0, -3, n, n + 2, 2**257 + 1):
        with pytest.raises(ValueError, match="exponent"):
            RSAKey(n, e)
    with pytest.raises(TypeError):
        RSAKey(n, True)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        RSAKey(str(n), 65537)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="too large"):
        RSAKey(2**16385 - 1, 65537)
    assert RSAKey(n, 3).pub_exponent == 3


def _pss_spki(n: int, e: int, params: bytes | None) -> bytes:
    return der.encode_spki(OID_RSASSA_PSS, params, der.encode_rsa_public_key(n, e))


def _alg(oid: str, null: bool = True) -> bytes:
    return der.encode_sequence(der.encode_oid(oid), *((der.encode_null(),) if null else ()))


SHA256_OID = "2.16.840.1.101.3.4.2.1"
SHA1_OID = "1.3.14.3.2.26"
MGF1_OID = "1.2.840.113549.1.1.8"


def _pss_params(hash_oid=SHA256_OID, mgf_hash=SHA256_OID, salt=32, null=True, extra=()):
    return der.encode_sequence(
        der.encode_tlv(0xA0, _alg(hash_oid, null)),
        der.encode_tlv(0xA1, der.encode_sequence(der.encode_oid(MGF1_OID), _alg(mgf_hash, null))),
        *((der.encode_tlv(0xA2, der.encode_integer(salt)),) if salt is not None else ()),
        *extra,
    )


def test_rsassa_pss_oid_keys(rsa_key):
    n, e = rsa_key.n, rsa_key.e
    sig = _pss_sign(rsa_key, b"m")
    plain = RSAKey(n, e)
    for params in (
        None,
        _pss_params(),
        _pss_params(null=False),
        _pss_params(salt=20),
        _pss_params(salt=None),
        _pss_params(extra=(der.encode_tlv(0xA3, der.encode_integer(1)),)),
    ):
        spki = _pss_spki(n, e, params)
        key = load_public_key(spki)
        assert isinstance(key, RSAKey)
        assert key.spki_der() == spki
        assert key.fingerprint == hashlib.sha256(spki).hexdigest() != plain.fingerprint
        assert key != plain
        assert key.verify(b"m", sig) is True
        pem = key.to_pem()
        assert load_public_key(pem) == key
    for params, message in (
        (_pss_params(hash_oid=SHA1_OID), "SHA-256"),
        (_pss_params(mgf_hash=SHA1_OID), "MGF1-SHA-256"),
        (_pss_params(salt=33), "salt"),
        (der.encode_sequence(), "SHA-256"),  # all defaults: SHA-1
        (_pss_params(extra=(der.encode_tlv(0xA3, der.encode_integer(2)),)), "trailer"),
        (_pss_params(extra=(der.encode_tlv(0xA4, der.encode_integer(2)),)), "unexpected"),
        (der.encode_null(), "SEQUENCE"),
    ):
        with pytest.raises(KeyFormatError, match=message):
            load_public_key(_pss_spki(n, e, params))


def test_rsa_spki_argument_must_match(rsa_key, rsa3072):
    spki = _pss_spki(rsa3072.n, rsa3072.e, None)
    with pytest.raises(ValueError):
        RSAKey(rsa_key.n, rsa_key.e, spki=spki)
    assert RSAKey(rsa3072.n, rsa3072.e, spki=spki).spki_der() == spki


def test_rsa_encryption_needs_null_params(rsa_key):
    body = der.encode_rsa_public_key(rsa_key.n, rsa_key.e)
    with pytest.raises(KeyFormatError, match="NULL"):
        load_public_key(der.encode_spki("1.2.840.113549.1.1.1", None, body))
    with pytest.raises(KeyFormatError):
        load_public_key(der.encode_spki("1.2.840.113549.1.1.1", der.encode_integer(0), body))


# -- Wycheproof keys ---------------------------------------------------------------------


def _wycheproof_groups(name):
    return json.loads((WYCHEPROOF / name).read_text())["testGroups"]


@pytest.mark.parametrize(
    "name", ["rsa_pss_2048_sha256_mgf1_32_test.json", "rsa_pss_3072_sha256_mgf1_32_test.json"]
)
def test_wycheproof_rsa_keys(name):
    for group in _wycheproof_groups(name):
        spki = bytes.fromhex(group["publicKeyDer"])
        key = load_public_key(group["publicKeyPem"])
        assert key.fingerprint == hashlib.sha256(spki).hexdigest()
        assert key.spki_der() == spki
        assert key.modulus == int(group["publicKey"]["modulus"], 16)
        assert key.to_pem() == group["publicKeyPem"]
        valid = [t for t in group["tests"] if t["result"] == "valid"]
        assert all(key.verify(bytes.fromhex(t["msg"]), bytes.fromhex(t["sig"])) for t in valid)


def test_wycheproof_ed25519_keys():
    loaded = refused = 0
    for group in _wycheproof_groups("ed25519_test.json"):
        pem, spki = group["publicKeyPem"], bytes.fromhex(group["publicKeyDer"])
        flags = {f for t in group["tests"] for f in t["flags"]}
        if "SmallOrderPublicKey" in flags:
            with pytest.raises(KeyFormatError, match="small order"):
                load_public_key(pem)
            refused += 1
            continue
        key = load_public_key(pem)
        assert key.fingerprint == hashlib.sha256(spki).hexdigest()
        assert key.to_pem() == pem
        loaded += 1
    assert loaded and refused == 8


# -- identity, hashing, repr, key_ring ---------------------------------------------------


def test_equality_hash_repr(rsa_key):
    k = _ed().public_key()
    a = load_public_key(k.export_key(format="PEM"))
    b = load_public_key(k.export_key(format="OpenSSH"))
    c = load_public_key(_ed().public_key().export_key(format="PEM"))
    r = RSAKey(rsa_key.n, rsa_key.e)
    assert a == b and hash(a) == hash(b) and a != c and a != r
    assert len({a, b, c, r}) == 3
    assert a != a.fingerprint and a != a.public_bytes
    assert isinstance(a, PublicKey)
    assert "ed25519" in repr(a) and a.fingerprint[:16] in repr(a)
    assert "rsa-2048" in repr(r) and r.fingerprint[:16] in repr(r)
    with pytest.raises(AttributeError):
        a.fingerprint = "0" * 64  # type: ignore[misc]
    with pytest.raises(AttributeError):
        a._public = bytes(32)  # type: ignore[misc]


def test_copy_and_pickle(rsa_key):
    import copy
    import pickle

    pss_key = load_public_key(_pss_spki(rsa_key.n, rsa_key.e, None))
    for key in (
        Ed25519Key(_ed().public_key().export_key(format="raw")),
        RSAKey(rsa_key.n, rsa_key.e),
        pss_key,
    ):
        for clone in (copy.copy(key), copy.deepcopy(key), pickle.loads(pickle.dumps(key))):
            assert clone == key and clone.spki_der() == key.spki_der() and type(clone) is type(key)


def test_key_ring(rsa_key):
    a = Ed25519Key(_ed().public_key().export_key(format="raw"))
    b = RSAKey(rsa_key.n, rsa_key.e)
    assert key_ring(a) == {a.fingerprint: a}
    ring = key_ring([a, b, a])
    assert ring == {a.fingerprint: a, b.fingerprint: b}
    assert key_ring(ring) == ring
    assert key_ring(x for x in (b,)) == {b.fingerprint: b}
    assert key_ring([]) == {}
    assert key_ring(a.to_pem()) == {a.fingerprint: a}  # text is read, never iterated by character
    with pytest.raises(KeyFormatError):
        key_ring([a, "not a key"])
    with pytest.raises(TypeError, match="not a public key, a private key or key text: 42"):
        key_ring([a, 42])

    class Foreign:  # e.g. a key made by the copy of this module inside a bootstrap
        fingerprint = "ab" * 32

        def verify(self, message, signature):
            return False

    foreign = Foreign()
    assert key_ring([a, foreign]) == {a.fingerprint: a, foreign.fingerprint: foreign}


# -- load_public_key errors ------------------------------------------------------------


def test_load_errors_say_what_was_expected(rsa_key):
    k = _ed()
    for bad in ("", "hello", b"\xff\xfe", b"garbage", "AAAA", "ssh-dss AAAA"):
        with pytest.raises(KeyFormatError) as info:
            load_public_key(bad)
        assert "expected" in str(info.value) or "ssh-ed25519" in str(info.value)
    with pytest.raises(KeyFormatError, match="private key"):
        load_public_key(k.export_key(format="PEM"))
    pkcs1 = rsa_key.public_key().export_key(format="PEM", pkcs=1)
    if b"RSA PUBLIC KEY" in pkcs1:
        with pytest.raises(KeyFormatError, match="PKCS#1"):
            load_public_key(pkcs1)
    pem = k.public_key().export_key(format="PEM")
    with pytest.raises(KeyFormatError, match="more than one"):
        load_public_key(pem + "\n" + pem)
    with pytest.raises(KeyFormatError, match="base64"):
        load_public_key(pem.replace("MCow", "MC*w"))
    with pytest.raises(KeyFormatError, match="headers"):
        load_public_key(pem.replace("-----\n", "-----\nProc-Type: 4,ENCRYPTED\n", 1))
    with pytest.raises(TypeError):
        load_public_key(42)  # type: ignore[arg-type]
    # text around the block is ignored (RFC 7468), e.g. a saved "signedimp pubkey" output
    assert load_public_key("fingerprint: abc\n" + pem + "\ntrailer\n").fingerprint


def test_strict_der(rsa_key):
    good = Ed25519Key(_ed().public_key().export_key(format="raw")).spki_der()
    assert load_public_key(good)
    mutations = {
        good + b"\x00": "trailing",
        good[:-1]: "truncated",
        b"\x30\x80" + good[2:] + b"\x00\x00": "indefinite",
        b"\x30\x81\x2a" + good[2:]: "non-minimal",
        b"\x30\x82\x00\x2a" + good[2:]: "non-minimal",
        good[:2] + b"\x3f" + good[3:]: "multi-byte",
        good.replace(b"\x03\x21\x00", b"\x03\x21\x01"): "unused bits",
        good.replace(b"\x06\x03\x2b\x65\x70", b"\x06\x03\x2b\x65\x71"): "unsupported key algorithm",
    }
    for data, message in mutations.items():
        with pytest.raises(KeyFormatError, match=message):
            load_public_key(data)
    with_params = der.encode_spki("1.3.101.112", der.encode_null(), good[-32:])
    with pytest.raises(KeyFormatError, match="parameters"):
        load_public_key(with_params)
    # an RSA modulus with a superfluous leading zero byte is not DER
    n = rsa_key.n
    body = n.to_bytes(257, "big")
    padded = der.encode_sequence(der.encode_tlv(der.INTEGER, b"\x00" + body), der.encode_integer(65537))
    with pytest.raises(KeyFormatError, match="non-minimal INTEGER"):
        load_public_key(der.encode_spki("1.2.840.113549.1.1.1", der.encode_null(), padded))
    negative = der.encode_sequence(der.encode_integer(-n), der.encode_integer(65537))
    with pytest.raises(KeyFormatError, match="positive"):
        load_public_key(der.encode_spki("1.2.840.113549.1.1.1", der.encode_null(), negative))
    small = RSA.generate(1024)
    with pytest.raises(KeyFormatError, match="too small"):
        load_public_key(small.public_key().export_key(format="PEM"))


def test_der_primitives():
    for value in (0, 1, 127, 128, 255, 256, -1, -128, -129, 2**2048 - 1):
        assert der.read_integer(der.encode_integer(value)) == value
    for oid in ("1.3.101.112", "1.2.840.113549.1.1.10", "2.16.840.1.101.3.4.2.1", "2.999.3", "0.39"):
        assert der.read_oid(der.encode_oid(oid)) == oid
    assert der.encode_oid("1.2.840.113549.1.1.1").hex() == "06092a864886f70d010101"
    assert der.read_octet_string(der.encode_octet_string(b"abc")) == b"abc"
    assert der.read_bit_string(der.encode_bit_string(b"abc")) == b"abc"
    der.read_null(der.encode_null())
    for length in (0, 127, 128, 255, 256, 70000):
        data = der.encode_tlv(der.OCTET_STRING, bytes(length))
        assert der.read_octet_string(data) == bytes(length)
    bad = {
        b"\x06\x00": "empty OBJECT",
        b"\x06\x02\x80\x01": "non-minimal OBJECT",
        b"\x06\x01\x81": "truncated OBJECT",
        b"\x02\x00": "empty INTEGER",
        b"\x02\x02\xff\x80": "non-minimal INTEGER",
        b"\x05\x01\x00": "NULL with contents",
        b"\x03\x00": "empty BIT STRING",
        b"\x04": "no length",
        b"": "unexpected end",
        b"\x04\x85\x01\x00\x00\x00\x00": "too long",
    }
    readers = {
        b"\x06": der.read_oid,
        b"\x02": der.read_integer,
        b"\x05": der.read_null,
        b"\x03": der.read_bit_string,
        b"\x04": der.read_octet_string,
        b"": der.read_octet_string,
    }
    for data, message in bad.items():
        with pytest.raises(KeyFormatError, match=message):
            readers[data[:1]](data)
    with pytest.raises(KeyFormatError, match="expected INTEGER"):
        der.read_integer(der.encode_null())


@given(st.integers(min_value=-(2**300), max_value=2**300))
def test_der_integer_round_trip(value):
    encoded = der.encode_integer(value)
    assert der.read_integer(encoded) == value


@given(st.integers(0, 2), st.integers(0, 39), st.lists(st.integers(0, 2**70), max_size=6))
def test_der_oid_round_trip(first, second, rest):
    dotted = ".".join(map(str, [first, second, *rest]))
    assert der.read_oid(der.encode_oid(dotted)) == dotted


# -- properties: garbage in, KeyFormatError out -----------------------------------------


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_key_format_error(data):
    try:
        load_public_key(data)
    except KeyFormatError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_random_der_like_bytes_raise_only_key_format_error(tail):
    try:
        load_public_key(b"\x30" + tail)
    except KeyFormatError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_random_text_raises_only_key_format_error(text):
    for candidate in (
        text,
        "ssh-ed25519 " + text,
        "-----BEGIN PUBLIC KEY-----\n" + text + "\n-----END PUBLIC KEY-----\n",
    ):
        try:
            load_public_key(candidate)
        except KeyFormatError:
            pass


_SAMPLE = Ed25519Key(
    bytes.fromhex("7d4d0e7f6153a69b6242b522abbee685fda4420f8834b108c3bdae369ef549fa")
).spki_der()


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(_SAMPLE) - 1), st.integers(1, 255))
def test_mutated_der_is_a_key_or_key_format_error(index, xor):
    data = bytearray(_SAMPLE)
    data[index] ^= xor
    try:
        key = load_public_key(bytes(data))
    except KeyFormatError:
        return
    assert key.spki_der() == bytes(data)  # anything accepted is canonical


# -- openssl (when installed) --------------------------------------------------------------

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not on PATH")


def _openssl(*args, data=None):
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True).stdout


@needs_openssl
@pytest.mark.parametrize(
    "genpkey",
    [
        ["-algorithm", "ed25519"],
        ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        ["-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:2048"],
        [
            "-algorithm",
            "RSA-PSS",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-pkeyopt",
            "rsa_pss_keygen_md:sha256",
            "-pkeyopt",
            "rsa_pss_keygen_mgf1_md:sha256",
            "-pkeyopt",
            "rsa_pss_keygen_saltlen:32",
        ],
    ],
    ids=["ed25519", "rsa", "rsa-pss", "rsa-pss-sha256"],
)
def test_fingerprint_matches_openssl(tmp_path, genpkey):
    private = tmp_path / "key.pem"
    _openssl("genpkey", *genpkey, "-out", str(private))
    public_pem = _openssl("pkey", "-in", str(private), "-pubout")
    public_der = _openssl("pkey", "-pubin", "-outform", "DER", data=public_pem)
    key = load_public_key(public_pem)
    assert key.fingerprint == hashlib.sha256(public_der).hexdigest()
    assert key.spki_der() == public_der
    assert key.to_pem().encode() == public_pem
    message = tmp_path / "message"
    message.write_bytes(b"signed by openssl")
    if genpkey[1] == "ed25519":
        sig = _openssl("pkeyutl", "-sign", "-rawin", "-inkey", str(private), "-in", str(message))
    else:
        sig = _openssl(
            "dgst",
            "-sha256",
            "-sign",
            str(private),
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:32",
            "-sigopt",
            "rsa_mgf1_md:sha256",
            str(message),
        )
    assert key.verify(b"signed by openssl", sig) is True
    assert key.verify(b"signed by openssL", sig) is False


# -- one accepted set of key inputs for every public entry point -------------------------------
# SignedImportManager, Manifest.verify, get_bootstrap_code, verify_path and the CLI all read keys
# through key_ring: the same forms work everywhere, and anything else is a TypeError naming it.


def _ssh_public(public: Ed25519Key) -> str:
    return _ssh_line(b"ssh-ed25519", public.public_bytes) + " me@host"


KEY_FORMS = {
    "public key": lambda k: k.public_key,
    "private key": lambda k: k,
    "PEM str": lambda k: k.public_pem().decode(),
    "PEM bytes": lambda k: k.public_pem(),
    "DER bytes": lambda k: k.public_key.spki_der(),
    "ssh-ed25519 line": lambda k: _ssh_public(k.public_key),
    "list of mixed forms": lambda k: [k.public_pem().decode(), k, k.public_key],
    "tuple of private keys": lambda k: (k,),
    "dict": lambda k: {k.fingerprint: k.public_key},
    "generator": lambda k: (x for x in [k]),
}


@pytest.fixture(scope="module")
def signed_tree(tmp_path_factory):
    from signedimp.tools import generate_key, sign_directory

    key = generate_key("ed25519")
    root = tmp_path_factory.mktemp("signed")
    (root / "mod.py").write_text("x = 1\n")
    manifest = sign_directory(root, key)
    return key, root, manifest


def _entry_points(root, manifest):
    """Each public entry point, reduced to the fingerprints of the keys it trusts."""
    from signedimp import SignedImportManager
    from signedimp.tools import get_bootstrap_code, verify_path

    def bootstrap(keys):
        first_line = [line for line in get_bootstrap_code(keys).splitlines() if "Pinned key" in line]
        return first_line[0].rsplit(": ", 1)[1].split(", ")

    def audit(keys):
        report = verify_path(root, keys)
        assert report.ok, report
        return sorted(report.manifests.values())

    return {
        "key_ring": lambda keys: sorted(key_ring(keys)),
        "SignedImportManager": lambda keys: sorted(k.fingerprint for k in SignedImportManager(keys).keys),
        "Manifest.verify": lambda keys: [manifest.verify(keys).fingerprint],
        "get_bootstrap_code": bootstrap,
        "verify_path": audit,
    }


@pytest.mark.parametrize("form", sorted(KEY_FORMS))
@pytest.mark.parametrize(
    "entry", ["key_ring", "SignedImportManager", "Manifest.verify", "get_bootstrap_code", "verify_path"]
)
def test_every_entry_point_accepts_every_key_form(signed_tree, entry, form):
    key, root, manifest = signed_tree
    call = _entry_points(root, manifest)[entry]
    assert call(KEY_FORMS[form](key)) == [key.fingerprint]


@pytest.mark.parametrize(
    "entry", ["key_ring", "SignedImportManager", "Manifest.verify", "get_bootstrap_code", "verify_path"]
)
def test_every_entry_point_refuses_what_is_not_a_key_with_a_type_error(signed_tree, entry):
    key, root, manifest = signed_tree
    call = _entry_points(root, manifest)[entry]
    crypto_key = ECC.generate(curve="ed25519")  # a pycryptodome key: .public_key is a method
    for bad, named in [
        (42, "42"),
        ([key, 3.5], "3.5"),
        ([key, None], "None"),
        (object, "<class 'object'>"),
        ([crypto_key], "EccKey"),
    ]:
        with pytest.raises(TypeError) as info:
            call(bad)
        assert named in str(info.value), (bad, str(info.value))
    with pytest.raises(KeyFormatError):
        call([key, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"])


def test_cli_reads_every_key_file_form(signed_tree, tmp_path):
    import sys

    from .helpers import clean_env

    key, root, _ = signed_tree
    files = {"pub.pem": key.public_pem(), "key.pem": key.to_pem(), "key.ssh": _ssh_public(key.public_key)}
    args = []
    for name, data in files.items():
        (tmp_path / name).write_bytes(data if isinstance(data, bytes) else data.encode())
        args += ["--key", str(tmp_path / name)]
    result = subprocess.run(
        [sys.executable, "-m", "signedimp", "verify", str(root), *args, "--json"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["keys"] == [key.fingerprint] * 3


def test_key_text_readers_run_on_first_use():
    """PEM, DER and OpenSSH readers (``key_formats``) are not part of ``import signedimp``:
    a bootstrap pins key objects; they run when key text is first read."""
    from .helpers import run_python

    pem = Ed25519Key(
        bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    ).to_pem()
    code = (
        "import sys, signedimp\n"
        "print('signedimp.key_formats' in sys.modules)\n"
        f"key = signedimp.load_public_key({pem!r})\n"
        "print('signedimp.key_formats' in sys.modules, key.algorithm)\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["False", "True ed25519"]


def test_an_ed25519_key_is_read_without_the_rsa_modules():
    """Reading an Ed25519 key (PEM or OpenSSH) runs neither ``rsa_key`` nor ``rsa_pss``: they
    run at the first RSA key (0.7 M instructions of a verified process handed key text)."""
    from .helpers import run_python

    key = Ed25519Key(bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"))
    ssh = (
        "ssh-ed25519 "
        + base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + key.public_bytes).decode()
    )
    code = (
        "import sys, signedimp\n"
        f"for text in ({key.to_pem()!r}, {ssh!r}):\n"
        "    print(signedimp.load_public_key(text).fingerprint)\n"
        "print(sorted(n for n in ('signedimp.rsa_key', 'signedimp.rsa_pss') if n in sys.modules))\n"
        f"print(type(signedimp.load_public_key({RSA.generate(2048).public_key().export_key().decode()!r})).__name__)\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [key.fingerprint, key.fingerprint, "[]", "RSAKey"]
