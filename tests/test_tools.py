"""signedimp.tools: keys, manifests, in-place signing of directories, zips and wheels, audits."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import shutil
import stat
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path

import pytest

from signedimp import tools, zipdir
from signedimp.errors import KeyFormatError, SignatureMismatch, ZipFormatError
from signedimp.keys import Ed25519Key, RSAKey, load_public_key
from signedimp.manifest import MANIFEST_NAME, Manifest, Signature
from signedimp.tools import (
    PrivateKey,
    generate_key,
    load_private_key,
    load_signing_key,
    load_verify_keys,
    sha256_hex,
    sign_directory,
    sign_manifest,
    sign_wheel,
    sign_zipfile,
    verify_path,
)
from signedimp.tools import _zip_format as zip_format
from signedimp.zipdir import PREFIX_NAME, read_zip_names

from .helpers import clean_env, write_tree

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl not installed")


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def ed_key() -> PrivateKey:
    return generate_key("ed25519")


@pytest.fixture(scope="module")
def ed_key2() -> PrivateKey:
    return generate_key("ed25519")


@pytest.fixture(scope="module")
def rsa_key() -> PrivateKey:
    return generate_key("rsa", bits=2048)


class RaisingKey:
    """A key that fails mid-way through signing, to prove signing is atomic."""

    algorithm = "ed25519"

    def __init__(self, real: PrivateKey) -> None:
        self.fingerprint = real.fingerprint
        self.public_key = real.public_key

    def sign(self, message: bytes) -> bytes:
        raise RuntimeError("hardware token unplugged")


TINY_PYPROJECT = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "tiny-pkg"
version = "1.0"

[tool.hatch.build.targets.wheel]
packages = ["src/tinypkg"]

[tool.hatch.build.targets.wheel.shared-data]
"data/share.txt" = "share/tiny/share.txt"
"""


def build_tiny_wheel(where: Path) -> Path:
    """Build a real wheel (with a .data/ file) from a tiny hatchling project."""
    project = write_tree(
        where / "tiny",
        {
            "pyproject.toml": TINY_PYPROJECT,
            "src/tinypkg/__init__.py": "VALUE = 42\n",
            "src/tinypkg/res.txt": "resource\n",
            "data/share.txt": "shared\n",
        },
    )
    out = where / "dist"
    result = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "-o", str(out), str(project)],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = out.glob("*.whl")
    return wheel


@pytest.fixture(scope="module")
def built_wheel(tmp_path_factory) -> Path:
    return build_tiny_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture
def wheel(built_wheel, tmp_path) -> Path:
    target = tmp_path / built_wheel.name
    shutil.copyfile(built_wheel, target)
    return target


def sample_tree(root: Path) -> Path:
    return write_tree(
        root,
        {
            "pkg/__init__.py": "from .mod import f\n",
            "pkg/mod.py": "def f():\n    return 1\n",
            "pkg/__pycache__/mod.cpython-311.pyc": b"\x00bytecode",
            "pkg/data/with space.txt": "spaces are fine\n",
            "top.py": "X = 1\n",
        },
    )


def make_zip(path: Path, members, *, prefix: bytes = b"", comment: bytes = b"") -> Path:
    """Write a zip from (ZipInfo or name, data) pairs, after optional prefix bytes."""
    with open(path, "wb") as fh:
        fh.write(prefix)
        with zipfile.ZipFile(fh, "w") as zf:
            for info, data in members:
                zf.writestr(info, data)
            zf.comment = comment
    return path


def info(
    name: str, date=(2001, 2, 3, 4, 5, 6), mode=0o644, compress=zipfile.ZIP_DEFLATED, comment: bytes = b""
) -> zipfile.ZipInfo:
    zi = zipfile.ZipInfo(name, date)
    zi.compress_type = compress
    zi.external_attr = (stat.S_IFREG | mode) << 16
    zi.create_system = 3
    zi.comment = comment
    return zi


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def rewrite_zip(path: Path, change) -> None:
    """Rebuild a zip with ``change(name, data) -> data | None`` (None drops the member)."""
    with zipfile.ZipFile(path) as zf:
        items = [(i, zf.read(i)) for i in zf.infolist()]
    with zipfile.ZipFile(path, "w") as zf:
        for i, data in items:
            new = change(i.filename, data)
            if new is not None:
                zf.writestr(i, new)


def record_rows(wheel: Path) -> list[list[str]]:
    with zipfile.ZipFile(wheel) as zf:
        (record,) = [n for n in zf.namelist() if n.endswith(".dist-info/RECORD")]
        return list(csv.reader(io.StringIO(zf.read(record).decode())))


# ----------------------------------------------------------------------- keys


@pytest.mark.parametrize("passphrase", [None, "correct horse", b"bytes pass"])
def test_ed25519_round_trip(ed_key, passphrase):
    pem = ed_key.to_pem(passphrase)
    header = b"-----BEGIN ENCRYPTED PRIVATE KEY-----" if passphrase else b"-----BEGIN PRIVATE KEY-----"
    assert pem.startswith(header)
    again = load_private_key(pem, passphrase)
    assert again.algorithm == "ed25519"
    assert again.fingerprint == ed_key.fingerprint
    assert again.sign(b"msg") == ed_key.sign(b"msg")  # Ed25519 is deterministic


@pytest.mark.parametrize("passphrase", [None, "s3cret"])
def test_rsa_round_trip(rsa_key, passphrase):
    again = load_private_key(rsa_key.to_pem(passphrase), passphrase)
    assert again.algorithm == "rsa"
    assert again.bits == 2048
    assert again.fingerprint == rsa_key.fingerprint
    assert isinstance(again.public_key, RSAKey)
    assert again.public_key.verify(b"msg", again.sign(b"msg"))


def test_signatures_verify_with_runtime_keys(ed_key, rsa_key):
    for key in (ed_key, rsa_key):
        sig = key.sign(b"payload")
        assert key.public_key.verify(b"payload", sig)
        assert not key.public_key.verify(b"payload!", sig)


def test_public_pem_and_fingerprint_match_runtime(ed_key, rsa_key):
    for key in (ed_key, rsa_key):
        public = load_public_key(key.public_pem())
        assert public.fingerprint == key.fingerprint
        assert public.to_pem().encode() == key.public_pem()
    assert isinstance(ed_key.public_key, Ed25519Key)


def test_rsa_pss_is_randomized(rsa_key):
    assert rsa_key.sign(b"m") != rsa_key.sign(b"m")


def test_generate_key_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown key type 'dsa'"):
        generate_key("dsa")
    with pytest.raises(ValueError, match="at least 2048 bits, not 1024"):
        generate_key("rsa", bits=1024)


@pytest.fixture(scope="module")
def openssl_keys(tmp_path_factory) -> dict[str, Path]:
    if OPENSSL is None:
        pytest.skip("openssl not installed")
    d = tmp_path_factory.mktemp("openssl")
    specs = {
        "ed": ["-algorithm", "ed25519"],
        "ed_enc": ["-algorithm", "ed25519", "-aes-256-cbc", "-pass", "pass:pw"],
        "rsa": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"],
        "rsa_enc": [
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:3072",
            "-aes-256-cbc",
            "-pass",
            "pass:pw",
        ],
    }
    out = {}
    for name, args in specs.items():
        out[name] = d / f"{name}.pem"
        subprocess.run([OPENSSL, "genpkey", *args, "-out", str(out[name])], check=True, capture_output=True)
    out["rsa_trad"] = d / "rsa_trad.pem"
    subprocess.run(
        [OPENSSL, "rsa", "-in", str(out["rsa"]), "-traditional", "-out", str(out["rsa_trad"])],
        check=True,
        capture_output=True,
    )
    out["rsa_trad_enc"] = d / "rsa_trad_enc.pem"
    subprocess.run(
        [
            OPENSSL,
            "rsa",
            "-in",
            str(out["rsa"]),
            "-traditional",
            "-aes256",
            "-passout",
            "pass:pw",
            "-out",
            str(out["rsa_trad_enc"]),
        ],
        check=True,
        capture_output=True,
    )
    return out


def openssl_fingerprint(path: Path, passphrase: str | None = None) -> str:
    args = [OPENSSL, "pkey", "-in", str(path), "-pubout", "-outform", "DER"]
    if passphrase:
        args += ["-passin", f"pass:{passphrase}"]
    der = subprocess.run(args, check=True, capture_output=True).stdout
    return hashlib.sha256(der).hexdigest()


@needs_openssl
@pytest.mark.parametrize(
    "name,passphrase,algorithm",
    [
        ("ed", None, "ed25519"),
        ("ed_enc", "pw", "ed25519"),
        ("rsa", None, "rsa"),
        ("rsa_enc", "pw", "rsa"),
        ("rsa_trad", None, "rsa"),
        ("rsa_trad_enc", "pw", "rsa"),
    ],
)
def test_openssl_genpkey_keys_load(openssl_keys, name, passphrase, algorithm):
    path = openssl_keys[name]
    key = load_private_key(path.read_bytes(), passphrase)
    assert key.algorithm == algorithm
    assert key.fingerprint == openssl_fingerprint(path, passphrase)
    assert key.public_key.verify(b"data", key.sign(b"data"))


@needs_openssl
def test_openssl_reads_our_encrypted_key(tmp_path, ed_key):
    path = tmp_path / "k.pem"
    path.write_bytes(ed_key.to_pem("pw"))
    assert openssl_fingerprint(path, "pw") == ed_key.fingerprint


@needs_openssl
@pytest.mark.parametrize("name", ["ed_enc", "rsa_enc", "rsa_trad_enc"])
def test_openssl_encrypted_key_needs_right_passphrase(openssl_keys, name):
    data = openssl_keys[name].read_bytes()
    with pytest.raises(KeyFormatError, match="^the private key is encrypted: a passphrase is needed$"):
        load_private_key(data)
    with pytest.raises(KeyFormatError, match="^cannot decrypt the private key: wrong passphrase"):
        load_private_key(data, "nope")


def test_bad_private_keys(ed_key, rsa_key):
    from Crypto.PublicKey import ECC, RSA

    ssh = (
        "ssh-ed25519 "
        + base64.b64encode(
            b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + ed_key.public_key.public_bytes
        ).decode()
    )
    p256 = ECC.generate(curve="P-256").export_key(format="PEM")
    small = RSA.generate(1024).export_key(format="PEM", pkcs=8)
    cases = [
        (ed_key.public_pem(), "^this is a public key, but a private key is needed to sign$"),
        (rsa_key.public_pem(), "^this is a public key, but a private key is needed to sign$"),
        (ssh, "^this is an SSH public key, but a private key is needed to sign$"),
        ("just some text", "^not a PEM key: no '-----BEGIN ...-----' line found$"),
        (b"\x00\xff\xfe", "^not a PEM key: the data is binary, not text$"),
        ("-----BEGIN PRIVATE KEY-----\nAAAA\n", "^not a PEM key: '-----BEGIN PRIVATE KEY-----' has no"),
        ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "^not a valid PKCS#8 private key"),
        (p256, r"^unsupported private key algorithm \(OID 1.2.840.10045.2.1\): use an Ed25519 or RSA key$"),
        (small, r"^RSA key too small \(1024 bits\): at least 2048 bits are needed$"),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
            "^not a valid OpenSSH private key: the .openssh-key-v1. header is missing$",
        ),
        (ed_key.to_pem("pw"), "^the private key is encrypted: a passphrase is needed$"),
    ]
    for data, message in cases:
        with pytest.raises(KeyFormatError, match=message):
            load_private_key(data)
    with pytest.raises(KeyFormatError, match="^cannot decrypt the private key: wrong passphrase"):
        load_private_key(ed_key.to_pem("pw"), "wrong")


def test_load_signing_key_from_file_and_env(tmp_path, ed_key):
    path = tmp_path / "k.pem"
    path.write_bytes(ed_key.to_pem("pw"))
    env = {"SIGNEDIMP_KEY_PASSPHRASE": "pw"}
    assert load_signing_key(path, env=env).fingerprint == ed_key.fingerprint
    assert load_signing_key(str(path), env={}, passphrase="pw").fingerprint == ed_key.fingerprint
    env = {"SIGNEDIMP_KEY": ed_key.to_pem("pw").decode(), "SIGNEDIMP_KEY_PASSPHRASE": "pw"}
    assert load_signing_key(env=env).fingerprint == ed_key.fingerprint


def test_load_signing_key_messages_name_the_source(tmp_path, ed_key):
    path = tmp_path / "k.pem"
    path.write_bytes(ed_key.to_pem("pw"))
    with pytest.raises(
        KeyFormatError,
        match=f"^{path}: the private key is encrypted: a passphrase is "
        r"needed \(set SIGNEDIMP_KEY_PASSPHRASE or use --passphrase-env VAR\)$",
    ):
        load_signing_key(path, env={})
    with pytest.raises(KeyFormatError, match=f"^{tmp_path / 'absent.pem'}: cannot read key file"):
        load_signing_key(tmp_path / "absent.pem", env={})
    with pytest.raises(KeyFormatError, match="^no signing key: pass --key FILE or set SIGNEDIMP_KEY"):
        load_signing_key(env={})
    with pytest.raises(KeyFormatError, match="^SIGNEDIMP_KEY: not a PEM key"):
        load_signing_key(env={"SIGNEDIMP_KEY": "oops"})
    with pytest.raises(KeyFormatError, match="^SIGNEDIMP_KEY: cannot decrypt the private key: wrong"):
        load_signing_key(
            env={"SIGNEDIMP_KEY": ed_key.to_pem("pw").decode(), "SIGNEDIMP_KEY_PASSPHRASE": "bad"}
        )


def test_load_verify_keys_accepts_public_ssh_and_private(tmp_path, ed_key, rsa_key):
    ssh = (
        "ssh-ed25519 "
        + base64.b64encode(
            b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + ed_key.public_key.public_bytes
        ).decode()
    )
    files = {
        "pub.pem": ed_key.public_pem(),
        "id.pub": (ssh + " me@host\n").encode(),
        "priv.pem": ed_key.to_pem(),
        "rsa.pub": rsa_key.public_pem(),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    for name in ("pub.pem", "id.pub", "priv.pem"):
        assert [k.fingerprint for k in load_verify_keys(tmp_path / name)] == [ed_key.fingerprint]
    assert load_verify_keys(tmp_path / "rsa.pub")[0].fingerprint == rsa_key.fingerprint
    (tmp_path / "bad.pub").write_text("nonsense\n")
    with pytest.raises(KeyFormatError, match=f"^{tmp_path / 'bad.pub'}: "):
        load_verify_keys(tmp_path / "bad.pub")


# ------------------------------------------------------------------ manifests


def test_sha256_hex():
    assert sha256_hex(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_sign_manifest_cosigning(ed_key, ed_key2):
    hashes = {"a.py": sha256_hex(b"a"), "b.py": sha256_hex(b"b")}
    first = sign_manifest(hashes, ed_key)
    assert [s.fingerprint for s in first.signatures] == [ed_key.fingerprint]
    both = sign_manifest(hashes, ed_key2, previous=first)
    assert [s.fingerprint for s in both.signatures] == [ed_key.fingerprint, ed_key2.fingerprint]
    assert both.verify(ed_key.public_key) == ed_key.public_key
    assert both.verify(ed_key2.public_key) == ed_key2.public_key
    again = sign_manifest(hashes, ed_key, previous=both)  # re-signing replaces, never duplicates
    assert again == both
    changed = sign_manifest({**hashes, "c.py": sha256_hex(b"c")}, ed_key2, previous=both)
    assert [s.fingerprint for s in changed.signatures] == [ed_key2.fingerprint]


def test_rsa_cosigning_keeps_hash_lines(rsa_key, ed_key):
    hashes = {"m.py": sha256_hex(b"m")}
    one = sign_manifest(hashes, rsa_key)
    two = sign_manifest(hashes, rsa_key)
    assert one.signatures[0].signature != two.signatures[0].signature  # PSS salt
    assert one.signed_bytes() == two.signed_bytes()
    cosigned = sign_manifest(hashes, ed_key, previous=one)
    assert len(cosigned.signatures) == 2
    assert cosigned.verify([rsa_key.public_key, ed_key.public_key]) is not None


# ---------------------------------------------------------------- directories


def test_sign_directory_lists_everything(tmp_path, ed_key):
    root = sample_tree(tmp_path / "tree")
    manifest = sign_directory(root, ed_key)
    written = (root / MANIFEST_NAME).read_bytes()
    assert Manifest.parse(written) == manifest
    assert list(manifest) == [
        "pkg/__init__.py",
        "pkg/__pycache__/mod.cpython-311.pyc",
        "pkg/data/with space.txt",
        "pkg/mod.py",
        "top.py",
    ]
    assert manifest.lookup("top.py") == sha256_hex(b"X = 1\n")
    assert manifest.verify(ed_key.public_key) == ed_key.public_key
    assert stat.S_IMODE((root / MANIFEST_NAME).stat().st_mode) == 0o644
    assert leftovers(root) == []
    report = verify_path(root, [ed_key.public_key])
    assert report.ok, report.to_dict()
    assert report.counts()["ok"] == 5


def test_sign_directory_cosign_and_resign(tmp_path, ed_key, ed_key2):
    root = sample_tree(tmp_path / "tree")
    sign_directory(root, ed_key)
    both = sign_directory(root, ed_key2)
    assert len(both.signatures) == 2
    assert verify_path(root, ed_key.public_key).ok
    assert verify_path(root, ed_key2.public_key).ok
    (root / "top.py").write_text("X = 2\n")
    after = sign_directory(root, ed_key)
    assert [s.fingerprint for s in after.signatures] == [ed_key.fingerprint]
    assert not verify_path(root, ed_key2.public_key).ok


def test_sign_directory_symlinks(tmp_path, ed_key):
    root = sample_tree(tmp_path / "tree")
    (root / "alias.py").symlink_to("top.py")
    (root / "linked").symlink_to("pkg", target_is_directory=True)
    manifest = sign_directory(root, ed_key)
    assert manifest.lookup("alias.py") == manifest.lookup("top.py")
    assert manifest.lookup("linked/mod.py") == manifest.lookup("pkg/mod.py")
    outside = tmp_path / "outside.py"
    outside.write_text("evil\n")
    (root / "escape.py").symlink_to(outside)
    before = (root / MANIFEST_NAME).read_bytes()
    with pytest.raises(ValueError, match="escape.py: symlink points outside the tree"):
        sign_directory(root, ed_key)
    assert (root / MANIFEST_NAME).read_bytes() == before
    assert leftovers(root) == []
    (root / "escape.py").unlink()
    (root / "pkg/loop").symlink_to("..", target_is_directory=True)
    with pytest.raises(ValueError, match="loop: symlink loop"):
        sign_directory(root, ed_key)
    (root / "pkg/loop").unlink()
    (root / "dangling.py").symlink_to("nowhere.py")
    with pytest.raises(ValueError, match="dangling.py: dangling symlink"):
        sign_directory(root, ed_key)


def test_rsa_directory_signing_is_randomized_but_stable(tmp_path, rsa_key):
    root = sample_tree(tmp_path / "tree")
    first = (root / MANIFEST_NAME, sign_directory(root, rsa_key))[0].read_bytes()
    second = (root / MANIFEST_NAME, sign_directory(root, rsa_key))[0].read_bytes()
    assert first != second  # PSS salts differ...
    assert first.split(b"\n\n", 1)[1] == second.split(b"\n\n", 1)[1]  # ...the hash lines do not
    assert len(Manifest.parse(second).signatures) == 1
    assert verify_path(root, rsa_key.public_key).ok


def test_verify_directory_reports_escaping_symlink(tmp_path, ed_key):
    root = sample_tree(tmp_path / "tree")
    sign_directory(root, ed_key)
    (tmp_path / "outside.py").write_text("evil\n")
    (root / "a_escape.py").symlink_to(tmp_path / "outside.py")
    report = verify_path(root, ed_key.public_key)
    assert [p.kind for p in report.problems] == ["unsafe"]
    assert "a_escape.py: symlink points outside the tree" in report.problems[0].message
    assert report.counts()["ok"] == 5  # the walk went on after the bad entry


def test_sign_directory_is_atomic(tmp_path, ed_key):
    root = sample_tree(tmp_path / "tree")
    sign_directory(root, ed_key)
    before = (root / MANIFEST_NAME).read_bytes()
    (root / "new.py").write_text("N = 1\n")
    with pytest.raises(RuntimeError, match="unplugged"):
        sign_directory(root, RaisingKey(ed_key))
    assert (root / MANIFEST_NAME).read_bytes() == before
    assert leftovers(root) == []


def _statuses(report) -> dict[str, str]:
    return {f.path: f.status for f in report.files}


def test_verify_directory_tampering(tmp_path, ed_key):
    root = sample_tree(tmp_path / "tree")
    sign_directory(root, ed_key)
    (root / "pkg/mod.py").write_text("def f():\n    return 2\n")
    (root / "top.py").unlink()
    (root / "evil.py").write_text("import os\n")
    report = verify_path(root, ed_key.public_key)
    assert not report.ok
    statuses = _statuses(report)
    assert statuses["pkg/mod.py"] == "modified"
    assert statuses["top.py"] == "missing"
    assert statuses["evil.py"] == "unlisted"
    assert statuses["pkg/__init__.py"] == "ok"
    assert report.counts() == {"ok": 3, "modified": 1, "missing": 1, "unlisted": 1, "skipped": 0}
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is False and data["kind"] == "directory"
    modified = next(f for f in data["files"] if f["path"] == "pkg/mod.py")
    assert modified["expected"] != modified["actual"]


def test_verify_directory_unlisted_bytecode_is_skipped(tmp_path, ed_key):
    root = sample_tree(tmp_path / "tree")
    sign_directory(root, ed_key)
    (root / "pkg/__pycache__/__init__.cpython-311.pyc").write_bytes(b"pyc")
    report = verify_path(root, ed_key.public_key)
    assert report.ok
    assert _statuses(report)["pkg/__pycache__/__init__.cpython-311.pyc"] == "skipped"
    (root / "pkg/stray.pyc").write_bytes(b"pyc")  # sourceless bytecode would be imported
    assert _statuses(verify_path(root, ed_key.public_key))["pkg/stray.pyc"] == "unlisted"


def test_verify_manifest_problems(tmp_path, ed_key, ed_key2):
    root = sample_tree(tmp_path / "tree")
    manifest = sign_directory(root, ed_key)
    path = root / MANIFEST_NAME

    report = verify_path(root, ed_key2.public_key)
    assert [p.kind for p in report.problems] == ["untrusted"]
    assert set(_statuses(report).values()) == {"unlisted", "skipped"}

    forged = manifest.with_signature(Signature(ed_key.fingerprint, ed_key2.sign(manifest.signed_bytes())))
    path.write_bytes(forged.serialise())
    report = verify_path(root, ed_key.public_key)
    assert [p.kind for p in report.problems] == ["forged"]
    assert "does not verify" in report.problems[0].message
    with pytest.raises(SignatureMismatch):
        forged.verify(ed_key.public_key)

    path.write_bytes(manifest.serialise().replace(b"\nsha256\n", b"\nsha512\n"))
    report = verify_path(root, ed_key.public_key)
    assert [p.kind for p in report.problems] == ["malformed"]
    assert "line 3" in report.problems[0].message

    path.unlink()
    report = verify_path(root, ed_key.public_key)
    assert [p.kind for p in report.problems] == ["no-manifest"]
    assert not report.ok


def test_verify_hash_line_tampering_is_forgery(tmp_path, ed_key):
    root = sample_tree(tmp_path / "tree")
    sign_directory(root, ed_key)
    (root / "top.py").write_text("X = 666\n")
    path = root / MANIFEST_NAME
    text = path.read_text().replace(sha256_hex(b"X = 1\n"), sha256_hex(b"X = 666\n"))
    path.write_text(text)
    report = verify_path(root, ed_key.public_key)
    assert [p.kind for p in report.problems] == ["forged"]
    assert not report.ok


# ----------------------------------------------------------------------- zips


def sample_zip(path: Path, *, prefix: bytes = b"") -> Path:
    return make_zip(
        path,
        [
            (info("pkg/", mode=0o755, compress=zipfile.ZIP_STORED), b""),
            (info("pkg/__init__.py", date=(2010, 1, 1, 0, 0, 0), comment=b"init"), b"A = 1\n"),
            (info("pkg/tool.sh", mode=0o755, compress=zipfile.ZIP_STORED), b"#!/bin/sh\n"),
            (info("z_last.txt", date=(2015, 6, 7, 8, 9, 10)), b"newest\n"),
            (info("a_data.bin", date=(1999, 1, 1, 0, 0, 0)), bytes(range(256)) * 4),
        ],
        prefix=prefix,
        comment=b"archive comment",
    )


def test_sign_zipfile_keeps_members(tmp_path, ed_key, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    path = sample_zip(tmp_path / "lib.zip")
    os.chmod(path, 0o640)
    with zipfile.ZipFile(path) as zf:
        before = [
            (i.filename, i.date_time, i.external_attr, i.compress_type, i.comment) for i in zf.infolist()
        ]
        contents = {n: zf.read(n) for n in zf.namelist()}
    manifest = sign_zipfile(path, ed_key)
    assert list(manifest) == [PREFIX_NAME, "a_data.bin", "pkg/__init__.py", "pkg/tool.sh", "z_last.txt"]
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        after = [(i.filename, i.date_time, i.external_attr, i.compress_type, i.comment) for i in infos[:-1]]
        assert after == before
        assert zf.comment == b"archive comment"
        last = infos[-1]
        assert last.filename == MANIFEST_NAME
        assert last.date_time == (2015, 6, 7, 8, 9, 10)  # the newest existing timestamp
        assert last.external_attr >> 16 == stat.S_IFREG | 0o644
        assert Manifest.parse(zf.read(MANIFEST_NAME)) == manifest
        assert {n: zf.read(n) for n in zf.namelist() if n != MANIFEST_NAME} == contents
        assert zf.testzip() is None
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert leftovers(tmp_path) == []
    report = verify_path(path, ed_key.public_key)
    assert report.ok and report.kind == "zip"


def test_sign_zipfile_replaces_manifest_in_place(tmp_path, ed_key, ed_key2, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    path = make_zip(
        tmp_path / "lib.zip",
        [(info("a.py"), b"a\n"), (info(MANIFEST_NAME), b"stale"), (info("b.py"), b"b\n")],
    )
    sign_zipfile(path, ed_key)
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == ["a.py", MANIFEST_NAME, "b.py"]
        assert zf.getinfo(MANIFEST_NAME).date_time == (2023, 11, 14, 22, 13, 20)
    manifest = sign_zipfile(path, ed_key2)
    assert len(manifest.signatures) == 2
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == ["a.py", MANIFEST_NAME, "b.py"]
    assert verify_path(path, ed_key.public_key).ok
    assert verify_path(path, ed_key2.public_key).ok


@pytest.mark.parametrize(
    "epoch,expected",
    [
        ("0", (1980, 1, 1, 0, 0, 0)),
        ("99999999999", (2107, 12, 31, 23, 59, 58)),
    ],
)
def test_source_date_epoch_is_clamped(tmp_path, ed_key, monkeypatch, epoch, expected):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
    path = sign_zip_copy(tmp_path, ed_key)
    with zipfile.ZipFile(path) as zf:
        assert zf.getinfo(MANIFEST_NAME).date_time == expected


def sign_zip_copy(tmp_path: Path, key, name: str = "lib.zip") -> Path:
    path = sample_zip(tmp_path / name)
    sign_zipfile(path, key)
    return path


def test_zip_signing_is_reproducible(tmp_path, ed_key, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1600000000")
    one = sign_zip_copy(tmp_path, ed_key, "one.zip")
    time.sleep(1.1)
    two = sign_zip_copy(tmp_path, ed_key, "two.zip")
    assert one.read_bytes() == two.read_bytes()
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    three = sign_zip_copy(tmp_path, ed_key, "three.zip")
    four = sign_zip_copy(tmp_path, ed_key, "four.zip")
    assert three.read_bytes() == four.read_bytes()


def test_pyz_keeps_shebang_and_runs(tmp_path, ed_key):
    source = write_tree(tmp_path / "app", {"__main__.py": "import sys\nprint('hello', sys.argv[1:])\n"})
    pyz = tmp_path / "app.pyz"
    import zipapp

    zipapp.create_archive(source, pyz, interpreter="/usr/bin/env python3")
    sign_zipfile(pyz, ed_key)
    assert pyz.read_bytes().startswith(b"#!/usr/bin/env python3\n")
    with zipfile.ZipFile(pyz) as zf:
        assert zf.namelist() == ["__main__.py", MANIFEST_NAME]
    result = subprocess.run([sys.executable, str(pyz), "x"], capture_output=True, text=True, env=clean_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello ['x']\n"
    assert verify_path(pyz, ed_key.public_key).ok


def test_zip_with_prefix_round_trips(tmp_path, ed_key):
    path = sample_zip(tmp_path / "p.pyz", prefix=b"#!/opt/python\n# junk\n")
    sign_zipfile(path, ed_key)
    assert path.read_bytes().startswith(b"#!/opt/python\n# junk\nPK\x03\x04")
    assert verify_path(path, ed_key.public_key).ok


@pytest.mark.parametrize(
    "names,message",
    [
        (["a.py", "a.py"], "duplicate member name 'a.py'"),
        (["/etc/passwd"], "absolute member name '/etc/passwd'"),
        (["pkg/../../x.py"], r"member name 'pkg/../../x.py' escapes the archive \('..'\)"),
    ],
)
def test_bad_zips_are_refused(tmp_path, ed_key, names, message):
    path = tmp_path / "bad.zip"
    with pytest.warns(UserWarning) if len(set(names)) < len(names) else _no_warning():
        make_zip(path, [(info(n), b"data") for n in names])
    before = path.read_bytes()
    with pytest.raises(ZipFormatError, match=f"^{path}: {message}$"):
        sign_zipfile(path, ed_key)
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []


class _no_warning:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_corrupt_zip_member_is_refused(tmp_path, ed_key):
    path = make_zip(tmp_path / "c.zip", [(info("a.py", compress=zipfile.ZIP_STORED), b"AAAAAAAA")])
    data = path.read_bytes().replace(b"AAAAAAAA", b"AAAAAAAB", 1)
    path.write_bytes(data)
    with pytest.raises(ZipFormatError, match=f"^{path}: member 'a.py' is corrupt"):
        sign_zipfile(path, ed_key)
    assert path.read_bytes() == data
    (tmp_path / "not.zip").write_bytes(b"hello")
    with pytest.raises(ZipFormatError, match="not.zip: file too short to be a zip archive"):
        sign_zipfile(tmp_path / "not.zip", ed_key)


def test_zip_signing_is_atomic(tmp_path, ed_key):
    path = sample_zip(tmp_path / "lib.zip")
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match="unplugged"):
        sign_zipfile(path, RaisingKey(ed_key))
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_verify_zip_tampering(tmp_path, ed_key):
    path = sign_zip_copy(tmp_path, ed_key)
    rewrite_zip(path, lambda n, d: {"z_last.txt": b"changed\n", "pkg/tool.sh": None}.get(n, d))
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("extra.py", b"import evil\n")
    report = verify_path(path, ed_key.public_key)
    assert _statuses(report) == {
        "a_data.bin": "ok",
        "extra.py": "unlisted",
        "pkg/__init__.py": "ok",
        "pkg/tool.sh": "missing",
        "z_last.txt": "modified",
    }
    assert not report.ok


def test_verify_zip_with_duplicate_names(tmp_path, ed_key):
    path = sign_zip_copy(tmp_path, ed_key)
    with pytest.warns(UserWarning), zipfile.ZipFile(path, "a") as zf:
        zf.writestr("z_last.txt", b"shadow\n")
    report = verify_path(path, ed_key.public_key)
    assert "corrupt" in [p.kind for p in report.problems]
    assert not report.ok


# --------------------------------------------------------------------- wheels


def test_sign_wheel(wheel, ed_key):
    with zipfile.ZipFile(wheel) as zf:
        before = zf.namelist()
    manifest = sign_wheel(wheel, ed_key)
    dist_info = "tiny_pkg-1.0.dist-info"
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        assert names[-2:] == [f"{dist_info}/{MANIFEST_NAME}", f"{dist_info}/RECORD"]
        assert names[:-2] == before[:-1]
        assert Manifest.parse(zf.read(f"{dist_info}/{MANIFEST_NAME}")) == manifest
    assert set(manifest) == set(before) - {f"{dist_info}/RECORD"}
    assert "tiny_pkg-1.0.data/data/share/tiny/share.txt" in manifest
    report = verify_path(wheel, ed_key.public_key)
    assert report.ok, report.to_dict()
    assert report.kind == "wheel"


def test_sign_wheel_record_is_valid(wheel, ed_key):
    sign_wheel(wheel, ed_key)
    rows = record_rows(wheel)
    with zipfile.ZipFile(wheel) as zf:
        assert [r[0] for r in rows] == zf.namelist()
        for path, digest, size in rows[:-1]:
            data = zf.read(path)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert digest == f"sha256={expected}"
            assert int(size) == len(data)
    assert rows[-1] == ["tiny_pkg-1.0.dist-info/RECORD", "", ""]
    raw = zipfile.ZipFile(wheel).read("tiny_pkg-1.0.dist-info/RECORD")
    assert b"\r" not in raw and raw.endswith(b"RECORD,,\n")


def test_sign_wheel_cosign_reproducible_and_atomic(wheel, ed_key, ed_key2, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1650000000")
    copy = tmp_path / "copy" / wheel.name
    copy.parent.mkdir()
    shutil.copyfile(wheel, copy)
    sign_wheel(wheel, ed_key)
    sign_wheel(copy, ed_key)
    assert wheel.read_bytes() == copy.read_bytes()
    before = wheel.read_bytes()
    with pytest.raises(RuntimeError, match="unplugged"):
        sign_wheel(wheel, RaisingKey(ed_key2))
    assert wheel.read_bytes() == before
    assert leftovers(wheel.parent) == []
    both = sign_wheel(wheel, ed_key2)
    assert len(both.signatures) == 2
    with zipfile.ZipFile(wheel) as zf:
        assert zf.namelist()[-1].endswith(".dist-info/RECORD")
        assert sum(n.endswith(MANIFEST_NAME) for n in zf.namelist()) == 1
    assert verify_path(wheel, [ed_key.public_key]).ok
    assert verify_path(wheel, [ed_key2.public_key]).ok


def test_verify_wheel_tampering(wheel, ed_key):
    sign_wheel(wheel, ed_key)
    rewrite_zip(wheel, lambda n, d: b"VALUE = 666\n" if n == "tinypkg/__init__.py" else d)
    report = verify_path(wheel, ed_key.public_key)
    assert _statuses(report)["tinypkg/__init__.py"] == "modified"
    assert [p.kind for p in report.problems] == ["record"]
    assert "wrong hash for tinypkg/__init__.py" in report.problems[0].message


def test_sign_wheel_refuses_inconsistent_record(wheel, ed_key):
    rewrite_zip(wheel, lambda n, d: b"VALUE = 666\n" if n == "tinypkg/__init__.py" else d)
    with pytest.raises(ZipFormatError, match="RECORD does not match tinypkg/__init__.py"):
        sign_wheel(wheel, ed_key)


def test_sign_wheel_needs_dist_info(tmp_path, ed_key):
    path = make_zip(tmp_path / "x-1.0-py3-none-any.whl", [(info("x.py"), b"")])
    with pytest.raises(ZipFormatError, match="not a wheel: no .dist-info directory"):
        sign_wheel(path, ed_key)


def test_installed_wheel_verifies_and_seals(wheel, ed_key, tmp_path):
    sign_wheel(wheel, ed_key)
    target = tmp_path / "site"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--target",
            str(target),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    (target / "share").exists() and shutil.rmtree(target / "share")  # data files land beside
    report = verify_path(target, ed_key.public_key)
    assert report.ok, report.to_dict()
    statuses = _statuses(report)
    assert statuses["tinypkg/__init__.py"] == "ok"
    assert statuses["tiny_pkg-1.0.data/data/share/tiny/share.txt"] == "skipped"
    assert statuses["tiny_pkg-1.0.dist-info/INSTALLER"] == "skipped"
    (target / "tinypkg/evil.py").write_text("boom\n")
    assert _statuses(verify_path(target, ed_key.public_key))["tinypkg/evil.py"] == "unlisted"
    sealed = sign_directory(target, ed_key)
    assert "tinypkg/evil.py" in sealed and "tiny_pkg-1.0.dist-info/RECORD" in sealed
    assert verify_path(target, ed_key.public_key).ok


def test_sign_path_dispatch(tmp_path, wheel, ed_key):
    assert len(tools.sign_path(sample_tree(tmp_path / "d"), ed_key)) == 5
    assert len(tools.sign_path(sample_zip(tmp_path / "z.zip"), ed_key)) == 5  # 4 files and the prefix
    assert f"tiny_pkg-1.0.dist-info/{MANIFEST_NAME}" not in tools.sign_path(wheel, ed_key)
    (tmp_path / "plain.txt").write_text("x")
    with pytest.raises(ValueError, match="not a directory, wheel, or zip archive"):
        tools.sign_path(tmp_path / "plain.txt", ed_key)


# ---------------------------------------------- Ed25519 signed by pycryptodome, imports

RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)


def test_ed25519_signing_matches_rfc8032_vector():
    key = PrivateKey.from_ed25519_seed(RFC8032_SEED)
    assert key.public_key.public_bytes == RFC8032_PUBLIC
    assert key.sign(b"") == RFC8032_SIGNATURE


# Seeds derived from a counter, not os.urandom: pytest-xdist workers must collect the same tests.
@pytest.mark.parametrize(
    "seed", [bytes(32), b"\xff" * 32, *(hashlib.sha256(b"seed %d" % i).digest() for i in range(12))]
)
def test_ed25519_signing_matches_pycryptodome(seed):
    from Crypto.PublicKey import ECC
    from Crypto.Signature import eddsa

    ours = PrivateKey.from_ed25519_seed(seed)
    theirs = ECC.construct(curve="ed25519", seed=seed)
    assert ours.public_key.public_bytes == theirs.public_key().export_key(format="raw")
    for message in (b"", b"x", os.urandom(1000), os.urandom(70_000)):
        signature = ours.sign(message)
        assert signature == eddsa.new(theirs, "rfc8032").sign(message)
        assert ours.public_key.verify(message, signature) is True
    assert ours.to_pem() == theirs.export_key(format="PEM").encode().rstrip(b"\n") + b"\n"
    assert ours.public_pem() == theirs.public_key().export_key(format="PEM").encode().rstrip(b"\n") + b"\n"
    assert PrivateKey(theirs).sign(b"m") == ours.sign(b"m")  # wrapping a pycryptodome key still works


def test_ed25519_seed_length_is_checked():
    with pytest.raises(KeyFormatError, match="32 bytes, not 31"):
        PrivateKey.from_ed25519_seed(bytes(31))


IMPORT_CHECK = """
import sys
import signedimp
signedimp.submodules.load_all(signedimp)  # the whole runtime, deferred modules too, as the tools use it
before = set(sys.modules)
import signedimp.tools as tools
added = sorted(set(sys.modules) - before)
crypto = lambda: sorted(m for m in sys.modules if m == "Crypto" or m.startswith("Crypto."))
assert crypto() == [], crypto()  # importing the tools imports no pycryptodome
key = tools.load_private_key(sys.argv[1])
assert "Crypto.Signature.eddsa" in sys.modules  # the key signs with pycryptodome
tools.sign_wheel(sys.argv[2], key)
tools.sign_zipfile(sys.argv[3], key)
tools.sign_directory(sys.argv[4], key)
print(" ".join(added))
"""


def test_pycryptodome_is_imported_only_to_sign(tmp_path, wheel, ed_key):
    """The build hook's path: ``import signedimp.tools`` imports nothing beyond the ``signedimp``
    package; pycryptodome comes in with the key, then a wheel, a zip and a tree are signed."""
    zip_path = sample_zip(tmp_path / "lib.zip")
    tree = sample_tree(tmp_path / "tree")
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_CHECK, ed_key.to_pem().decode(), str(wheel), str(zip_path), str(tree)],
        capture_output=True,
        text=True,
        env=clean_env(),
    )
    assert result.returncode == 0, result.stderr
    added = result.stdout.split()
    assert "signedimp.tools" in added
    assert [name for name in added if not name.startswith("signedimp.")] == []
    for path in (wheel, zip_path, tree):
        assert verify_path(path, ed_key.public_key).ok


# ----------------------------------------------------- raw copies of zip members


def raw_members(path: Path) -> dict[str, tuple[bytes, int]]:
    """name -> (compressed bytes, compression method), read straight from the local headers."""
    data = path.read_bytes()
    out = {}
    with zipfile.ZipFile(path) as zf:
        for i in zf.infolist():
            offset = i.header_offset
            name_size, extra_size = struct.unpack_from("<2H", data, offset + 26)
            start = offset + 30 + name_size + extra_size
            out[i.filename] = (data[start : start + i.compress_size], i.compress_type)
    return out


def assert_valid_zip(path: Path) -> None:
    """zipfile, `python -m zipfile -t` and the runtime's own central-directory reader all agree."""
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        names = zf.namelist()
    result = subprocess.run(
        [sys.executable, "-m", "zipfile", "-t", str(path)], capture_output=True, text=True, env=clean_env()
    )
    assert result.returncode == 0 and "Done testing" in result.stdout, result.stdout + result.stderr
    assert read_zip_names(path) == names


def test_sign_wheel_copies_compressed_bytes(wheel, ed_key):
    before = raw_members(wheel)
    sign_wheel(wheel, ed_key)
    after = raw_members(wheel)
    record = "tiny_pkg-1.0.dist-info/RECORD"
    assert {n: v for n, v in after.items() if n in before and n != record} == {
        n: v for n, v in before.items() if n != record
    }
    assert_valid_zip(wheel)


def test_sign_zipfile_copies_compressed_bytes_and_prefix(tmp_path, ed_key):
    path = sample_zip(tmp_path / "app.pyz", prefix=b"#!/usr/bin/env python3\n")
    before = raw_members(path)
    sign_zipfile(path, ed_key)
    assert path.read_bytes().startswith(b"#!/usr/bin/env python3\nPK\x03\x04")
    after = raw_members(path)
    assert {n: after[n] for n in before} == before
    assert after[MANIFEST_NAME][1] == zipfile.ZIP_DEFLATED
    assert_valid_zip(path)
    assert verify_path(path, ed_key.public_key).ok


class Unseekable(io.RawIOBase):
    """A write-only stream without seek or tell: zipfile then writes data descriptors."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.chunks.append(bytes(data))
        return len(data)


def streamed_zip(path: Path, *, zip64: bool) -> Path:
    """A zip written to an unseekable stream: every member has a data descriptor (flag bit 3)."""
    stream = Unseekable()
    with zipfile.ZipFile(stream, "w") as zf:
        for name, data, method in [
            ("pkg/__init__.py", b"A = 1\n" * 50, zipfile.ZIP_DEFLATED),
            ("pkg/raw.bin", bytes(range(256)), zipfile.ZIP_STORED),
            ("empty.txt", b"", zipfile.ZIP_DEFLATED),
        ]:
            with zf.open(info(name, compress=method), "w", force_zip64=zip64) as dest:
                dest.write(data)
    path.write_bytes(b"".join(stream.chunks))
    return path


@pytest.mark.parametrize("zip64", [False, True], ids=["descriptor", "zip64-descriptor"])
def test_members_with_data_descriptors_are_rewritten_without(tmp_path, ed_key, zip64):
    path = streamed_zip(tmp_path / "streamed.zip", zip64=zip64)
    with zipfile.ZipFile(path) as zf:
        assert all(i.flag_bits & 0x08 for i in zf.infolist())
        contents = {n: zf.read(n) for n in zf.namelist()}
    before = raw_members(path)
    sign_zipfile(path, ed_key)
    with zipfile.ZipFile(path) as zf:
        assert not any(i.flag_bits & 0x08 for i in zf.infolist())
        assert {n: zf.read(n) for n in contents} == contents
    assert {n: raw_members(path)[n] for n in before} == before
    assert b"PK\x07\x08" not in path.read_bytes()  # no descriptor left behind
    assert_valid_zip(path)
    assert verify_path(path, ed_key.public_key).ok
    signed = path.read_bytes()
    sign_zipfile(path, ed_key)  # re-signing with the same key changes nothing
    assert path.read_bytes() == signed


def local_headers(path: Path) -> dict[str, tuple]:
    """name -> (flags, crc, compressed size, size) as each local header states them."""
    data = path.read_bytes()
    out = {}
    with zipfile.ZipFile(path) as zf:
        for i in zf.infolist():
            fields = struct.unpack_from("<4s2B4HL2L2H", data, i.header_offset)
            out[i.filename] = (fields[3], fields[7], fields[8], fields[9])
    return out


def test_rewritten_local_headers_state_crc_and_sizes(tmp_path, ed_key):
    path = streamed_zip(tmp_path / "streamed.zip", zip64=False)
    sign_zipfile(path, ed_key)
    with zipfile.ZipFile(path) as zf:
        expected = {i.filename: (i.flag_bits, i.CRC, i.compress_size, i.file_size) for i in zf.infolist()}
    assert local_headers(path) == expected


def test_zip64_local_headers_are_copied(tmp_path, ed_key):
    """Members written with force_zip64 carry ZIP64 local extras: copied as they are."""
    path = tmp_path / "z64.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name in ("a.py", "b/c.py"):
            with zf.open(info(name), "w", force_zip64=True) as dest:
                dest.write(name.encode() * 100)
    data = path.read_bytes()
    headers = {
        i.filename: data[i.header_offset : i.header_offset + 30 + len(i.filename) + 20]
        for i in zipfile.ZipFile(path).infolist()
    }
    sign_zipfile(path, ed_key)
    data = path.read_bytes()
    for i in zipfile.ZipFile(path).infolist():
        if i.filename in headers:
            assert data[i.header_offset : i.header_offset + len(headers[i.filename])] == headers[i.filename]
    assert_valid_zip(path)
    assert verify_path(path, ed_key.public_key).ok


def test_zip64_records_are_written_when_needed(tmp_path, ed_key, monkeypatch):
    """With the limits lowered, offsets, sizes and the member count go to ZIP64 fields and
    records; zipfile, the runtime's reader and (3.13+) zipimport read the result."""
    monkeypatch.setattr(zip_format, "_ZIP64_LIMIT", 100)
    monkeypatch.setattr(zip_format, "_COUNT_LIMIT", 3)
    path = make_zip(
        tmp_path / "app.zip",
        [
            (info("pkg/__init__.py"), b"VALUE = 7\n"),
            (info("pkg/big.py", compress=zipfile.ZIP_STORED), b"DATA = %r\n" % (b"x" * 300)),
            (info("pkg/mod.py"), b"def f():\n    return 'zip64'\n"),
            (info("z.txt"), b"last\n"),
        ],
        prefix=b"#!/usr/bin/env python3\n",
    )
    sign_zipfile(path, ed_key)
    data = path.read_bytes()
    assert b"PK\x06\x06" in data and b"PK\x06\x07" in data
    with zipfile.ZipFile(path) as zf:
        assert any(i.header_offset > 100 for i in zf.infolist())
        assert zf.read("pkg/big.py").startswith(b"DATA = ")
        assert any(struct.unpack_from("<H", i.extra)[0] == 1 for i in zf.infolist() if i.extra)
    assert_valid_zip(path)
    assert verify_path(path, ed_key.public_key).ok
    if sys.version_info >= (3, 13):  # zipimport reads ZIP64 since 3.13; 3.13.0 needs struct loaded
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                "import struct, sys; sys.path.insert(0, sys.argv[1]); import pkg.mod, pkg.big; "
                "print(pkg.mod.f(), pkg.VALUE)",
                str(path),
            ],
            capture_output=True,
            text=True,
            env=clean_env(),
        )
        assert result.stdout == "zip64 7\n", result.stderr
    monkeypatch.undo()
    before = raw_members(path)
    sign_zipfile(path, ed_key)  # the normal limits: ZIP64 records and extras go away again
    assert b"PK\x06\x06" not in path.read_bytes()
    assert raw_members(path) == before
    assert_valid_zip(path)


@pytest.mark.parametrize("method, name", [(zipfile.ZIP_BZIP2, "bzip2"), (zipfile.ZIP_LZMA, "LZMA")])
def test_members_the_runtime_cannot_read_are_refused(tmp_path, ed_key, method, name):
    # The runtime inflates with zlib alone: a bzip2 or LZMA member could never be imported or
    # read through a loader, so the signer refuses it rather than sign what fails later.
    path = make_zip(tmp_path / "bz.zip", [(info("a.txt", compress=method), b"bz" * 500)])
    data = path.read_bytes()
    with pytest.raises(
        ZipFormatError,
        match=f"member 'a.txt' uses compression method {method} "
        rf"\({name}\); only stored and deflated members can be verified",
    ):
        sign_zipfile(path, ed_key)
    assert path.read_bytes() == data


def test_local_header_naming_another_file_is_refused(tmp_path, ed_key):
    path = make_zip(tmp_path / "x.zip", [(info("a.py"), b"A = 1\n")])
    data = path.read_bytes()
    data = data.replace(b"a.py", b"b.py", 1)  # the local header's name, not the central one
    path.write_bytes(data)
    with pytest.raises(ZipFormatError, match="member 'a.py' is corrupt: the local header names another file"):
        sign_zipfile(path, ed_key)
    assert path.read_bytes() == data
    assert leftovers(tmp_path) == []


def test_deflate_stream_must_match_recorded_size(tmp_path, ed_key, monkeypatch):
    path = make_zip(tmp_path / "x.zip", [(info("a.py"), b"A = 1\n" * 20)])
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        i = zf.getinfo("a.py")
    central = data.rindex(b"PK\x01\x02")
    struct.pack_into("<L", data, central + 24, i.file_size - 1)  # central "uncompressed size"
    path.write_bytes(bytes(data))
    with pytest.raises(ZipFormatError, match="member 'a.py' is corrupt: more data than its recorded size"):
        sign_zipfile(path, ed_key)


def _with_central_field(path: Path, offset: int, value: bytes) -> bytes:
    """The zip at ``path`` with ``value`` written at ``offset`` into its first central record."""
    data = bytearray(path.read_bytes())
    at = data.index(b"PK\x01\x02") + offset
    data[at : at + len(value)] = value
    path.write_bytes(data)
    return bytes(data)


def test_a_member_needing_a_later_zip_version_is_refused_with_a_clear_error(tmp_path, ed_key):
    """zipfile refuses such an entry (NotImplementedError, which escaped the signer); the signer
    reads the directory with the runtime's reader alone now and refuses it as zipfile did."""
    path = make_zip(tmp_path / "v.zip", [(info("a.py"), b"A = 1\n"), (info("b.py"), b"B = 2\n")])
    before = _with_central_field(path, 6, struct.pack("<H", 64))  # version needed to extract: 6.4
    with pytest.raises(ZipFormatError, match=f"^{path}: not a valid zip archive: zip file version 6.4$"):
        sign_zipfile(path, ed_key)
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "payload, reason",
    [
        (b"\x01\x00", r"Corrupt unicode path extra field \(0x7075\)"),
        (None, r"Corrupt unicode path extra field \(0x7075\): invalid utf-8 bytes"),
    ],
)
def test_a_corrupt_unicode_path_extra_field_is_still_refused(tmp_path, ed_key, payload, reason):
    """What zipfile's parse refused is refused without it, in the same words."""
    name = "a.py"
    if payload is None:  # version 1, the CRC-32 of the stored name, then bytes that are not UTF-8
        payload = struct.pack("<BL", 1, zlib.crc32(name.encode())) + b"\xff\xfe"
    member = info(name)
    member.extra = struct.pack("<2H", 0x7075, len(payload)) + payload
    path = make_zip(tmp_path / "u.zip", [(member, b"A = 1\n")])
    before = path.read_bytes()
    with pytest.raises(ZipFormatError, match=f"^{path}: not a valid zip archive: {reason}$"):
        sign_zipfile(path, ed_key)
    assert path.read_bytes() == before


def test_a_unicode_path_extra_field_for_another_name_is_signed_and_kept(tmp_path, ed_key):
    """zipfile ignores a 0x7075 field whose CRC-32 is not the name's: so does the signer."""
    member = info("a.py")
    member.extra = struct.pack("<2HBL", 0x7075, 7, 1, 0) + b"\xff\xfe"
    path = make_zip(tmp_path / "u.zip", [(member, b"A = 1\n")])
    sign_zipfile(path, ed_key)
    with zipfile.ZipFile(path) as zf:
        assert zf.getinfo("a.py").extra == member.extra
    assert verify_path(path, ed_key.public_key).ok


def test_signing_keeps_each_central_record_but_its_offset(tmp_path, ed_key):
    """The directory is read with the runtime's reader alone: every field of a copied member's
    central record (versions, system, attributes, extra field, comment) is written back as read."""
    unix = info("pkg/\u00e9t\u00e9.py", comment=b"a member comment")
    dos = info("data.bin", compress=zipfile.ZIP_STORED)
    dos.create_system, dos.internal_attr, dos.external_attr = 0, 1, 0x20
    dos.extra = struct.pack("<2H", 0xCAFE, 4) + b"abcd"
    path = make_zip(
        tmp_path / "f.zip",
        [(unix, b"X = 1\n"), (dos, b"\x00\x01" * 50)],
        prefix=b"#!/usr/bin/env python3\n",
        comment=b"archive comment",
    )

    def records(central):
        offset = 16  # the local header offset, the only field that moves
        return [(f[:offset], f[offset + 1 :], e, c) for f, e, c in central.records]

    before = zipdir.read_zip_central(path)
    sign_zipfile(path, ed_key)
    after = zipdir.read_zip_central(path)
    assert records(after)[:2] == records(before)
    assert [m.raw_name for m in after.members[:2]] == [m.raw_name for m in before.members]
    assert after.comment == b"archive comment"
    assert after.members[2].name == MANIFEST_NAME
    assert verify_path(path, ed_key.public_key).ok
