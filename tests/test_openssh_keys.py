"""OpenSSH keys: ``ssh-keygen`` private keys sign (Ed25519, RSA, with passphrase), ``ssh-ed25519`` and
``ssh-rsa`` public lines verify; with the committed fixtures and with keys the real ``ssh-keygen`` makes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from signedimp.errors import KeyFormatError
from signedimp.keys import Ed25519Key, RSAKey, load_public_key
from signedimp.tools import load_private_key, sign_directory, verify_path

from .helpers import clean_env, run_python, write_tree
from .test_cli import signedimp

FIXTURES = Path(__file__).parent / "fixtures" / "openssh"
PASSPHRASE = "fixture passphrase"
CASES = [
    ("id_ed25519", None, Ed25519Key),
    ("id_ed25519_pw", PASSPHRASE, Ed25519Key),
    ("id_rsa", None, RSAKey),
    ("id_rsa_pw", PASSPHRASE, RSAKey),
]
SSH_KEYGEN = shutil.which("ssh-keygen")
needs_ssh_keygen = pytest.mark.skipif(
    SSH_KEYGEN is None, reason="ssh-keygen (openssh-client) is not installed"
)


def _spki_fingerprint(pub: Path) -> str:
    """The fingerprint of ``pub`` as ssh-keygen itself exports it to PEM SubjectPublicKeyInfo."""
    pem = subprocess.run(
        [SSH_KEYGEN, "-e", "-m", "PKCS8", "-f", str(pub)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return load_public_key(pem).fingerprint


@pytest.mark.parametrize("name, passphrase, kind", CASES)
def test_fixture_keys_sign_and_verify(name, passphrase, kind):
    private = load_private_key((FIXTURES / name).read_bytes(), passphrase)
    public = load_public_key((FIXTURES / f"{name}.pub").read_text())
    assert isinstance(public, kind)
    assert private.algorithm == ("ed25519" if kind is Ed25519Key else "rsa")
    assert private.fingerprint == public.fingerprint
    assert public.verify(b"message", private.sign(b"message"))
    assert not public.verify(b"other message", private.sign(b"message"))


def _derived_public_line(private: Path, passphrase: str | None) -> str:
    """The public line ssh-keygen derives from a private key file (``ssh-keygen -y``)."""
    return subprocess.run(
        [SSH_KEYGEN, "-y", "-P", passphrase or "", "-f", str(private)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout


@needs_ssh_keygen
@pytest.mark.parametrize("name, passphrase, kind", CASES)
def test_private_key_read_as_ssh_keygen_reads_it(name, passphrase, kind, tmp_path):
    private = load_private_key((FIXTURES / name).read_bytes(), passphrase)
    # ssh-keygen refuses a private key that others can read, and git does not keep mode 0600.
    copy = tmp_path / name
    copy.write_bytes((FIXTURES / name).read_bytes())
    copy.chmod(0o600)
    assert private.fingerprint == load_public_key(_derived_public_line(copy, passphrase)).fingerprint


@needs_ssh_keygen
def test_ssh_rsa_line_fingerprint_matches_ssh_keygen_pem_export():
    pub = FIXTURES / "id_rsa.pub"
    assert load_public_key(pub.read_text()).fingerprint == _spki_fingerprint(pub)


@pytest.mark.parametrize("name", ["id_ed25519_pw", "id_rsa_pw"])
def test_encrypted_openssh_key_needs_the_right_passphrase(name):
    data = (FIXTURES / name).read_bytes()
    with pytest.raises(KeyFormatError, match="^the private key is encrypted: a passphrase is needed$"):
        load_private_key(data)
    with pytest.raises(
        KeyFormatError, match=r"^cannot decrypt the private key: wrong passphrase .*aes256-ctr"
    ):
        load_private_key(data, "not the passphrase")


def test_unsupported_and_damaged_openssh_keys():
    with pytest.raises(
        KeyFormatError,
        match=r"^unsupported OpenSSH private key type 'ecdsa-sha2-nistp256': "
        r"use an Ed25519 or RSA key",
    ):
        load_private_key((FIXTURES / "id_ecdsa").read_bytes())
    text = (FIXTURES / "id_ed25519").read_text()
    lines = text.splitlines()
    truncated = "\n".join([lines[0], lines[1][:20], lines[-1]]) + "\n"
    with pytest.raises(KeyFormatError, match="^not a valid OpenSSH private key: truncated$"):
        load_private_key(truncated)


def test_ssh_rsa_line_errors():
    import base64

    def line(*fields: bytes) -> str:
        blob = b"".join(len(f).to_bytes(4, "big") + f for f in fields)
        return "ssh-rsa " + base64.b64encode(blob).decode()

    good = load_public_key((FIXTURES / "id_rsa.pub").read_text())
    n = good.modulus.to_bytes(good.bits // 8 + 1, "big")  # with its leading zero byte, as SSH writes it
    assert load_public_key(line(b"ssh-rsa", b"\x01\x00\x01", n)).fingerprint == good.fingerprint
    cases = {
        line(b"ssh-rsa", b"\x01\x00\x01"): "the exponent and the modulus",
        line(b"ssh-rsa", b"\x01\x00\x01", n[1:]): "modulus must be a positive integer",
        line(b"ssh-rsa", b"\x00\x01\x00\x01", n): "superfluous leading zero",
        line(b"ssh-rsa", b"\x01\x00\x01", b"\x00" + (1 << 1023 | 1).to_bytes(128, "big")): "too small",
        line(b"ssh-ed25519", b"\x01\x00\x01", n): "must start with the string 'ssh-rsa'",
        line(b"ssh-rsa", b"\x01\x00\x01", n)[:-8]: "truncated",
        "ssh-dss AAAA": "only 'ssh-ed25519' and 'ssh-rsa' lines",
    }
    for text, message in cases.items():
        with pytest.raises(KeyFormatError, match=message):
            load_public_key(text)


def test_runtime_reads_ssh_rsa_with_the_standard_library_only():
    pub = (FIXTURES / "id_rsa.pub").read_text().strip()
    expected = load_public_key(pub).fingerprint
    result = run_python(
        "import sys; import signedimp.keys as k; key = k.load_public_key(sys.argv[1]);"
        "print(key.fingerprint); print(sorted(m for m in sys.modules if m.startswith('Crypto')))",
        pub,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{expected}\n[]\n"


def _sign_and_verify_with_cli(tmp_path: Path, private: Path, public: Path, passphrase: str | None) -> None:
    tree = write_tree(tmp_path / "tree", {"pkg/__init__.py": "VALUE = 1\n"})
    env = clean_env(**({"SIGNEDIMP_KEY_PASSPHRASE": passphrase} if passphrase else {}))
    result = signedimp("sign", tree, "--key", private, env=env)
    assert result.returncode == 0, result.stderr
    result = signedimp("verify", tree, "--key", public)
    assert result.returncode == 0, result.stdout + result.stderr
    fingerprint = load_public_key(public.read_text()).fingerprint
    assert result.stdout == f"{tree}: OK (1 file verified, signed by {fingerprint})\n"
    assert verify_path(tree, [load_public_key(public.read_text())]).ok


@needs_ssh_keygen
@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
@pytest.mark.parametrize("passphrase", [None, "s3cret phrase"])
def test_keys_made_by_ssh_keygen_sign_and_verify(tmp_path, kind, passphrase):
    key = tmp_path / f"id_{kind}"
    args = [SSH_KEYGEN, "-q", "-t", kind, "-N", passphrase or "", "-C", "test", "-f", str(key)]
    if kind == "rsa":
        args[4:4] = ["-b", "3072"]
    subprocess.run(args, check=True, timeout=120, capture_output=True)
    assert key.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    private = load_private_key(key.read_bytes(), passphrase)
    assert private.fingerprint == load_public_key(_derived_public_line(key, passphrase)).fingerprint
    if kind == "rsa":
        assert private.fingerprint == _spki_fingerprint(key.with_name(key.name + ".pub"))
    _sign_and_verify_with_cli(tmp_path, key, key.with_name(key.name + ".pub"), passphrase)


def test_cli_signs_with_committed_encrypted_rsa_key(tmp_path):
    _sign_and_verify_with_cli(tmp_path, FIXTURES / "id_rsa_pw", FIXTURES / "id_rsa_pw.pub", PASSPHRASE)


def test_sign_directory_with_openssh_key_is_verified_by_ssh_rsa_line(tmp_path):
    key = load_private_key((FIXTURES / "id_rsa").read_bytes())
    tree = write_tree(tmp_path / "t", {"a.py": "A = 1\n"})
    sign_directory(tree, key)
    report = verify_path(tree, [load_public_key((FIXTURES / "id_rsa.pub").read_text())])
    assert report.ok


@pytest.mark.slow
@pytest.mark.parametrize("name", ["id_ed25519_pw", "id_rsa"])
def test_build_hook_signs_with_an_openssh_key(name, tmp_path):
    from .build_hook_util import build_env, copy_sample, output, run_build, the_wheel

    project = copy_sample(tmp_path / "project", f'key-file = "{(FIXTURES / name).as_posix()}"')
    env = build_env(SIGNEDIMP_KEY_PASSPHRASE=PASSPHRASE) if name.endswith("_pw") else build_env()
    proc = run_build(project, "--wheel", env=env)
    assert proc.returncode == 0, output(proc)
    result = signedimp("verify", the_wheel(project / "dist"), "--key", FIXTURES / f"{name}.pub")
    assert result.returncode == 0, result.stdout
    if name.endswith("_pw"):  # without the passphrase: the hook's own message, naming the option
        proc = run_build(project, "--wheel", env=build_env())
        assert proc.returncode != 0
        text = " ".join(output(proc).split())
        assert (
            "(option `key-file`) is encrypted, but the environment variable `SIGNEDIMP_KEY_PASSPHRASE` "
            "(option `passphrase-env`) that should hold its passphrase is not set" in text
        )
