"""#12.5: co-signing says which signatures were kept and which dropped; `verify` names every trusted
signer (text and JSON); counts read as English; `verify --json` answers usage errors in JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from signedimp.tools import load_private_key

from .helpers import write_tree
from .test_cli import signedimp


@pytest.fixture(scope="module")
def two_keys(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("keys")
    for name in ("a.pem", "b.pem"):
        assert signedimp("keygen", "-o", d / name).returncode == 0
    return {"a": d / "a.pem", "b": d / "b.pem", "a_pub": d / "a.pem.pub", "b_pub": d / "b.pem.pub"}


def fp(path: Path) -> str:
    return load_private_key(path.read_bytes()).fingerprint


def test_cosigning_unchanged_content_keeps_the_first_signature(two_keys, tmp_path):
    tree = write_tree(tmp_path / "t", {"m.py": "X = 1\n"})
    first = signedimp("sign", tree, "--key", two_keys["a"])
    assert first.stdout == f"signed {tree}: 1 file, key {fp(two_keys['a'])}\n"
    second = signedimp("sign", tree, "--key", two_keys["b"])
    assert second.returncode == 0, second.stderr
    assert second.stdout == (
        f"signed {tree}: 1 file, key {fp(two_keys['b'])}\n"
        f"  kept signature by {fp(two_keys['a'])} (content unchanged: co-signed)\n"
    )
    again = signedimp("sign", tree, "--key", two_keys["b"])
    assert again.stdout.splitlines()[1:] == [
        f"  kept signature by {fp(two_keys['a'])} (content unchanged: co-signed)",
        f"  replaced this key's own earlier signature {fp(two_keys['b'])}",
    ]

    text = signedimp("verify", tree, "--key", two_keys["a_pub"], "--key", two_keys["b_pub"])
    assert text.returncode == 0, text.stdout
    signers = sorted([fp(two_keys["a"]), fp(two_keys["b"])])
    assert text.stdout == f"{tree}: OK (1 file verified, signed by {', '.join(signers)})\n"
    result = signedimp("verify", tree, "--key", two_keys["a_pub"], "--key", two_keys["b_pub"], "--json")
    document = json.loads(result.stdout)
    assert document["signers"] == signers
    assert document["results"][0]["signers"] == signers
    assert document["results"][0]["manifests"][0]["signers"] == [fp(two_keys["a"]), fp(two_keys["b"])]
    only_a = json.loads(signedimp("verify", tree, "--key", two_keys["a_pub"], "--json").stdout)
    assert only_a["signers"] == [fp(two_keys["a"])]  # an untrusted co-signer is not named as trusted


def test_signing_changed_content_says_the_old_signature_is_dropped(two_keys, tmp_path):
    tree = write_tree(tmp_path / "t", {"m.py": "X = 1\n"})
    assert signedimp("sign", tree, "--key", two_keys["a"]).returncode == 0
    (tree / "m.py").write_text("X = 2\n")
    result = signedimp("sign", tree, "--key", two_keys["b"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1:] == [
        f"  dropped signature by {fp(two_keys['a'])}: the content changed, so it no longer covers it; "
        "sign again with that key to restore it"
    ]
    refused = signedimp("verify", tree, "--key", two_keys["a_pub"])
    assert refused.returncode == 1


def test_cosigning_a_wheel_and_a_zip_reports_too(two_keys, tmp_path):
    from .test_tools import build_tiny_wheel, sample_zip

    (tmp_path / "w").mkdir()
    for artifact in (build_tiny_wheel(tmp_path / "w"), sample_zip(tmp_path / "z.zip")):
        assert signedimp("sign", artifact, "--key", two_keys["a"]).returncode == 0
        result = signedimp("sign", artifact, "--key", two_keys["b"])
        assert result.stdout.splitlines()[1:] == [
            f"  kept signature by {fp(two_keys['a'])} (content unchanged: co-signed)"
        ], artifact


def test_one_problem_is_singular(two_keys, tmp_path):
    tree = write_tree(tmp_path / "t", {"m.py": "X = 1\n"})
    assert signedimp("sign", tree, "--key", two_keys["a"]).returncode == 0
    result = signedimp("verify", tree, "--key", two_keys["b_pub"])
    assert result.returncode == 1
    assert result.stdout.splitlines()[-1].endswith(", 1 problem)")


@pytest.mark.parametrize(
    "args, message",
    [
        (["verify", "--json", "nowhere"], "at least one --key PUB.pem is required (the trusted public key)"),
        (
            ["verify", "--json", "--key"],
            "argument --key/-k: expected one argument (see 'signedimp verify --help')",
        ),
        (
            ["verify", "--json", "missing-dir", "--key", "missing.pub"],
            "missing.pub: cannot read key file: No such file or directory",
        ),
    ],
)
def test_verify_json_usage_errors_are_json(args, message, tmp_path):
    result = signedimp(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert json.loads(result.stdout) == {"ok": False, "error": message, "exit_status": 2}
    assert result.stderr == f"signedimp: error: {message}\n"
