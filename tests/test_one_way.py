"""One way to do each thing: the shared helpers that several modules used to write each their own."""

from __future__ import annotations

import binascii
import zipfile

import pytest

from signedimp import keys, manifest, rsa_pss
from signedimp.errors import ManifestError
from signedimp.manifest import Manifest, unlisted_and_missing
from signedimp.tools import _signing_key_pem, _signing_keys, generate_key, sign_zipfile
from signedimp.tools._zip_time import ZIP_EPOCH_MAX, ZIP_EPOCH_MIN, source_date_time


def test_unlisted_and_missing():
    listed = ["a.py", "b/c.py", "gone.py", "z.py"]
    present = ["z.py", "a.py", "b/c.py", "added.py", "signedimp-manifest.txt", "b/new.py"]
    assert unlisted_and_missing(listed, present, ["signedimp-manifest.txt"]) == (
        ["added.py", "b/new.py"],
        ["gone.py"],
    )
    assert unlisted_and_missing({"a": 1}, iter(["a"])) == ([], [])
    assert unlisted_and_missing([], ["é", "e", "f"]) == (["e", "f", "é"], [])  # UTF-8 byte order


def test_source_date_time():
    assert source_date_time({}) is None
    assert source_date_time({"SOURCE_DATE_EPOCH": "  "}) is None
    assert source_date_time({"SOURCE_DATE_EPOCH": "1700000000"}) == (2023, 11, 14, 22, 13, 20)
    assert source_date_time({"SOURCE_DATE_EPOCH": "0"}) == (1980, 1, 1, 0, 0, 0)
    assert source_date_time({"SOURCE_DATE_EPOCH": str(ZIP_EPOCH_MIN)}) == (1980, 1, 1, 0, 0, 0)
    assert source_date_time({"SOURCE_DATE_EPOCH": "99999999999"}) == (2107, 12, 31, 23, 59, 58)
    assert source_date_time({"SOURCE_DATE_EPOCH": str(ZIP_EPOCH_MAX)}) == (2107, 12, 31, 23, 59, 58)
    with pytest.raises(ValueError, match=r"SOURCE_DATE_EPOCH='1.5' is not a whole number of seconds"):
        source_date_time({"SOURCE_DATE_EPOCH": "1.5"})


def test_signing_a_zip_reads_source_date_epoch_through_the_helper(tmp_path, monkeypatch):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("m.py", "x = 1\n")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "soon")
    with pytest.raises(ValueError, match="SOURCE_DATE_EPOCH='soon' is not a whole number of seconds"):
        sign_zipfile(archive, generate_key())


def test_one_strict_base64_decoder():
    decode = keys._b64decode_strict
    assert decode("AAEC") == b"\x00\x01\x02"
    assert decode("AA==") == b"\x00"
    for bad in ("AAE", "AA=A", "A A=", "AB==", "AAE\n", "AA-_", "=AAA"):
        with pytest.raises(binascii.Error):
            decode(bad)
    # The manifest's signature field and the tools' PEM reader use that same decoder.
    assert manifest._decode_base64("AB==") is None and manifest._decode_base64("AA==") == b"\x00"
    line = "ab" * 32 + " AB=="  # non-canonical: the padding bits are set
    with pytest.raises(ManifestError, match="signature is not strict"):
        Manifest.parse((line + "\n\nsha256\n").encode())
    assert _signing_key_pem._b64decode_strict is keys._b64decode_strict


def test_algorithm_constants_have_one_name_owned_by_the_runtime():
    assert _signing_keys.RSA_MIN_BITS is keys.RSA_MIN_BITS
    assert _signing_keys.SALT_LEN is rsa_pss.SALT_LEN
    for old in ("MIN_RSA_BITS", "RSA_SALT_BYTES", "ED25519_OID", "RSA_OID"):
        assert not hasattr(_signing_keys, old)
    with pytest.raises(ValueError, match=f"at least {keys.RSA_MIN_BITS} bits"):
        generate_key("rsa", bits=1024)
