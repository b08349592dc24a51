"""An archive's prefix (the ``#!`` line, any preamble before the first member) is signed (#8.3).

``./app.pyz`` hands the prefix to the kernel (and a ``#!/bin/sh`` prefix to the shell) before
any Python runs, so a changed prefix must be refused by ``signedimp verify``, ``signedimp run``
and the self-check of ``python app.pyz``; the root manifest lists its SHA-256 under
``zipdir.PREFIX_NAME``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from signedimp.manifest import MANIFEST_NAME, Manifest
from signedimp.tools import generate_key, sign_manifest, sign_zipfile, verify_path
from signedimp.tools._zip_rewrite import rewrite
from signedimp.tools._zipapp import build_zipapp
from signedimp.zipdir import PREFIX_NAME, prefix_size, read_zip_directory

from .helpers import clean_env, write_tree

SHELL_SCRIPT = b"#!/bin/sh\necho pwned\nexit 0\n"
ATTACKS = {
    "shell-script": lambda prefix: SHELL_SCRIPT,
    "prepended": lambda prefix: b"#!/bin/sh\necho pwned\n" + prefix,
    "stripped": lambda prefix: b"",
}
APP_FILES = {
    "__main__.py": "import sys, helper\nprint('app ran', helper.VALUE, sys.argv[1:])\n",
    "helper.py": "VALUE = 'helped'\n",
}


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "signedimp", *map(str, args)],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=300,
    )


def python(*args):
    return subprocess.run(
        [sys.executable, "-I", *map(str, args)], capture_output=True, text=True, env=clean_env(), timeout=300
    )


def split_prefix(path: Path) -> tuple[bytes, bytes]:
    """(the bytes before the first member, the rest)."""
    data = path.read_bytes()
    size = prefix_size(read_zip_directory(path))
    return data[:size], data[size:]


def with_prefix(src: Path, dst: Path, new_prefix: bytes) -> Path:
    """A copy of ``src`` with its prefix replaced and nothing else changed: the members are
    copied raw (the signer's own rewriter, as an attacker could), their offsets made relative
    to the new prefix, so that every reader still accepts the zip."""
    shutil.copyfile(src, dst)
    rewrite(dst, lambda where, archive: setattr(archive, "prefix", new_prefix), keep=lambda name: False)
    dst.chmod(0o755)
    assert split_prefix(dst)[0] == new_prefix
    with zipfile.ZipFile(dst) as zf:
        assert zf.testzip() is None
    return dst


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("prefix-keys")
    key = generate_key()
    (folder / "key.pem").write_bytes(key.to_pem())
    (folder / "key.pub").write_bytes(key.public_pem())
    return key, folder / "key.pem", folder / "key.pub"


@pytest.fixture(scope="module")
def signedimp_app(tmp_path_factory, keys):
    """``signedimp zipapp -p INTERPRETER``: a shebang, and the self-check in ``__main__.py``."""
    key, private, _ = keys
    folder = tmp_path_factory.mktemp("prefix-app")
    source = write_tree(folder / "src", APP_FILES)
    out = folder / "app.pyz"
    result = cli("zipapp", source, "-o", out, "--key", private, "-p", sys.executable)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def stdlib_app(tmp_path_factory, keys):
    """``python -m zipapp -p INTERPRETER`` then ``signedimp sign``."""
    _, private, _ = keys
    folder = tmp_path_factory.mktemp("prefix-stdlib-app")
    source = write_tree(folder / "src", APP_FILES)
    out = folder / "app.pyz"
    subprocess.run([sys.executable, "-m", "zipapp", source, "-o", out, "-p", sys.executable], check=True)
    result = cli("sign", out, "--key", private)
    assert result.returncode == 0, result.stderr
    return out


def listed_prefix_hash(path: Path) -> str | None:
    with zipfile.ZipFile(path) as zf:
        return Manifest.parse(zf.read(MANIFEST_NAME)).lookup(PREFIX_NAME)


# -- the honest path -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["signedimp", "stdlib"])
def test_honest_prefixed_app_passes(kind, signedimp_app, stdlib_app, keys):
    app = signedimp_app if kind == "signedimp" else stdlib_app
    prefix, _ = split_prefix(app)
    assert prefix == b"#!" + sys.executable.encode() + b"\n"
    assert listed_prefix_hash(app) == hashlib.sha256(prefix).hexdigest()
    result = cli("verify", app, "--key", keys[2])
    assert result.returncode == 0, result.stdout + result.stderr
    result = cli("run", app, "--key", keys[2], "x")
    assert (result.returncode, result.stdout) == (0, "app ran helped ['x']\n"), result.stderr
    direct = subprocess.run([str(app), "y"], capture_output=True, text=True, env=clean_env(), timeout=300)
    assert (direct.returncode, direct.stdout) == (0, "app ran helped ['y']\n"), direct.stderr
    if kind == "signedimp":  # only its __main__.py checks itself
        result = python(app, "z")
        assert (result.returncode, result.stdout) == (0, "app ran helped ['z']\n"), result.stderr


def test_empty_prefix_is_listed_too(tmp_path, keys):
    """An archive without a prefix lists the hash of no bytes, so a prefix added later is caught."""
    source = write_tree(tmp_path / "src", APP_FILES)
    out = tmp_path / "app.pyz"
    build_zipapp(str(source), out, keys[0])
    assert split_prefix(out)[0] == b""
    assert listed_prefix_hash(out) == hashlib.sha256(b"").hexdigest()
    plain = tmp_path / "plain.zip"
    with zipfile.ZipFile(plain, "w") as zf:
        zf.writestr("mod.py", "X = 1\n")
    sign_zipfile(plain, keys[0])
    assert listed_prefix_hash(plain) == hashlib.sha256(b"").hexdigest()
    assert verify_path(plain, [keys[0].public_key]).ok


# -- the attacks -----------------------------------------------------------------------------------


def assert_verify_refuses_prefix(app: Path, pub: Path) -> None:
    result = cli("verify", app, "--key", pub)
    assert result.returncode == 1, result.stdout + result.stderr
    assert PREFIX_NAME in result.stdout and "archive prefix" in result.stdout, result.stdout


@pytest.mark.parametrize("attack", sorted(ATTACKS))
@pytest.mark.parametrize("kind", ["signedimp", "stdlib"])
def test_changed_prefix_refused(kind, attack, signedimp_app, stdlib_app, keys, tmp_path):
    original = signedimp_app if kind == "signedimp" else stdlib_app
    app = with_prefix(original, tmp_path / "app.pyz", ATTACKS[attack](split_prefix(original)[0]))
    assert_verify_refuses_prefix(app, keys[2])
    report = verify_path(app, [keys[0].public_key])
    [result] = [r for r in report.files if r.path == PREFIX_NAME]
    assert result.status == "modified" and "do not match the signed manifest" in result.detail

    result = cli("run", app, "--key", keys[2])
    assert result.returncode == 1 and result.stdout == "", result.stdout
    assert f"refusing to run {app}" in result.stderr and "archive prefix" in result.stderr, result.stderr

    if kind == "signedimp":  # python app.pyz: the self-check in __main__.py
        result = python(app)
        assert result.returncode == 1 and result.stdout == "", result.stdout
        assert result.stderr == (
            f"signedimp: refusing to run {app}: signedimp refused file '{app}': the archive prefix (the {len(split_prefix(app)[0])} bytes "
            f"before the first member: shebang, preamble) does not match the signed manifest\n"
        ), result.stderr


def test_prefix_added_to_an_unprefixed_app_refused(tmp_path, keys):
    source = write_tree(tmp_path / "src", APP_FILES)
    out = tmp_path / "app.pyz"
    build_zipapp(str(source), out, keys[0])
    app = with_prefix(out, tmp_path / "evil.pyz", SHELL_SCRIPT)
    assert_verify_refuses_prefix(app, keys[2])
    result = python(app)
    assert result.returncode == 1 and "archive prefix" in result.stderr, result.stderr


def test_resigning_after_changing_the_shebang(stdlib_app, keys, tmp_path):
    new_prefix = b"#!/usr/bin/env python3\n"
    app = with_prefix(stdlib_app, tmp_path / "app.pyz", new_prefix)
    assert not verify_path(app, [keys[0].public_key]).ok
    result = cli("sign", app, "--key", keys[1])
    assert result.returncode == 0, result.stderr
    assert split_prefix(app)[0] == new_prefix  # kept, and now signed
    assert listed_prefix_hash(app) == hashlib.sha256(new_prefix).hexdigest()
    result = cli("verify", app, "--key", keys[2])
    assert result.returncode == 0, result.stdout + result.stderr


# -- archives signed before prefixes were signed; the reserved name ------------------------------------


def old_style_signed(path: Path, key, prefix: bytes) -> Path:
    """An archive whose manifest lists every member but no prefix (as older versions signed)."""
    files = {"__main__.py": b"print('old app')\n", "helper.py": b"VALUE = 1\n"}
    manifest = sign_manifest({n: hashlib.sha256(d).hexdigest() for n, d in files.items()}, key)
    with open(path, "wb") as stream:
        stream.write(prefix)
        with zipfile.ZipFile(stream, "w") as zf:
            for name, data in files.items():
                zf.writestr(name, data)
            zf.writestr(MANIFEST_NAME, manifest.serialise())
    return path


def test_old_signature_without_prefix_line(tmp_path, keys):
    key, _, pub = keys
    plain = old_style_signed(tmp_path / "old.pyz", key, b"")
    assert verify_path(plain, [key.public_key]).ok  # nothing before the first member: nothing unsigned
    prefixed = old_style_signed(tmp_path / "old-prefixed.pyz", key, b"#!/bin/sh\necho pwned\n")
    result = cli("verify", prefixed, "--key", pub)
    assert result.returncode == 1
    assert "not covered by the signature" in result.stdout and "re-sign" in result.stdout, result.stdout
    result = cli("run", prefixed, "--key", pub)
    assert result.returncode == 1 and "re-sign" in result.stderr, result.stderr


def test_member_with_the_reserved_name_refused(tmp_path, keys):
    key, private, pub = keys
    archive = tmp_path / "reserved.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("mod.py", "X = 1\n")
        zf.writestr(PREFIX_NAME, "")
    result = cli("sign", archive, "--key", private)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "reserved for the archive prefix" in result.stderr, result.stderr
    # signed by hand, so that the member is listed: verify still refuses it
    hashes = {"mod.py": hashlib.sha256(b"X = 1\n").hexdigest(), PREFIX_NAME: hashlib.sha256(b"").hexdigest()}
    with zipfile.ZipFile(archive, "a") as zf:
        zf.writestr(MANIFEST_NAME, sign_manifest(hashes, key).serialise())
    result = cli("verify", archive, "--key", pub)
    assert result.returncode == 1 and "reserved for the archive prefix" in result.stdout, result.stdout


def test_zipapp_source_with_the_reserved_name_refused(tmp_path, keys):
    source = write_tree(tmp_path / "src", {**APP_FILES, PREFIX_NAME: "x"})
    result = cli("zipapp", source, "-o", tmp_path / "app.pyz", "--key", keys[1])
    assert result.returncode != 0 and "reserved for the archive prefix" in result.stderr, result.stderr
    assert not os.path.exists(tmp_path / "app.pyz")
