"""The ``signedimp`` command line, run as real subprocesses (console script and ``-m``)."""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from signedimp.manifest import MANIFEST_NAME, Manifest
from signedimp.tools import generate_key, load_private_key
from signedimp.tools.cli import main, split_run_args

from .helpers import clean_env, write_tree
from .test_tools import build_tiny_wheel, sample_tree, sample_zip

SCRIPT = Path(sys.executable).with_name("signedimp")


def signedimp(
    *args: str, cwd: Path | None = None, env: dict | None = None, script: bool = False
) -> subprocess.CompletedProcess:
    """Run the command line in a fresh interpreter (``python -m signedimp`` or the script)."""
    prefix = [str(SCRIPT)] if script else [sys.executable, "-m", "signedimp"]
    return subprocess.run(
        [*prefix, *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env if env is not None else clean_env(),
        timeout=120,
    )


def assert_usage_error(result: subprocess.CompletedProcess, message: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr == f"signedimp: error: {message}\n"
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, Path]:
    """An Ed25519 key pair written by ``signedimp keygen``, and a second, unrelated one."""
    d = tmp_path_factory.mktemp("keys")
    for name in ("k.pem", "other.pem"):
        result = signedimp("keygen", "-o", d / name)
        assert result.returncode == 0, result.stderr
    return {
        "key": d / "k.pem",
        "pub": d / "k.pem.pub",
        "other": d / "other.pem",
        "other_pub": d / "other.pem.pub",
    }


@pytest.fixture(scope="module")
def built_wheel(tmp_path_factory) -> Path:
    return build_tiny_wheel(tmp_path_factory.mktemp("wheel"))


def fingerprint_of(path: Path) -> str:
    return load_private_key(path.read_bytes()).fingerprint


# ----------------------------------------------------------------- basics


def test_version_and_help():
    from signedimp.__about__ import __version__

    result = signedimp("--version")
    assert (result.returncode, result.stdout) == (0, f"signedimp {__version__}\n")
    for command in ("keygen", "pubkey", "sign", "verify", "zipapp", "run", "bootstrap"):
        result = signedimp(command, "--help")
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"usage: signedimp {command}")
    result = signedimp("--help", script=True)
    assert result.returncode == 0 and "keygen" in result.stdout


def test_usage_errors_exit_2():
    assert signedimp().returncode == 2
    result = signedimp("frobnicate")
    assert result.returncode == 2 and "invalid choice" in result.stderr
    assert result.stderr.startswith("signedimp: error: argument COMMAND: invalid choice: 'frobnicate'")
    assert len(result.stderr.splitlines()) == 1
    result = signedimp("sign", "--key", "k.pem")
    assert result.stderr == (
        "signedimp: error: the following arguments are required: PATH (see 'signedimp sign --help')\n"
    )
    assert result.returncode == 2
    assert main(["sign"]) == 2
    assert main(["keygen", "-t", "dsa"]) == 2


# ----------------------------------------------------------------- keygen


def test_keygen_writes_key_pair(tmp_path):
    result = signedimp("keygen", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    key, pub = tmp_path / "signedimp-key.pem", tmp_path / "signedimp-key.pem.pub"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    private = load_private_key(key.read_bytes())
    assert private.algorithm == "ed25519"
    assert pub.read_bytes() == private.public_pem()
    assert result.stdout == (
        f"wrote signedimp-key.pem (ed25519) and signedimp-key.pem.pub\nfingerprint: {private.fingerprint}\n"
    )


def test_keygen_refuses_to_overwrite(tmp_path):
    key = tmp_path / "k.pem"
    assert signedimp("keygen", "-o", key).returncode == 0
    before = key.read_bytes()
    assert_usage_error(signedimp("keygen", "-o", key), f"{key} already exists (use --force to overwrite)")
    assert key.read_bytes() == before
    assert signedimp("keygen", "-o", key, "--force").returncode == 0
    assert key.read_bytes() != before
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_keygen_rsa_with_passphrase(tmp_path):
    key = tmp_path / "rsa.pem"
    env = clean_env(MY_PASS="hunter2")
    result = signedimp(
        "keygen", "-t", "rsa", "--bits", "2048", "-o", key, "--passphrase-env", "MY_PASS", env=env
    )
    assert result.returncode == 0, result.stderr
    assert key.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    private = load_private_key(key.read_bytes(), "hunter2")
    assert (private.algorithm, private.bits) == ("rsa", 2048)
    tree = sample_tree(tmp_path / "tree")
    assert_usage_error(
        signedimp("sign", tree, "--key", key),
        f"{key}: the private key is encrypted: a passphrase is needed "
        "(set SIGNEDIMP_KEY_PASSPHRASE or use --passphrase-env VAR)",
    )
    result = signedimp("sign", tree, "--key", key, "--passphrase-env", "MY_PASS", env=env)
    assert result.returncode == 0, result.stderr
    result = signedimp("sign", tree, "--key", key, env=clean_env(SIGNEDIMP_KEY_PASSPHRASE="hunter2"))
    assert result.returncode == 0, result.stderr
    assert signedimp("verify", tree, "--key", f"{key}.pub").returncode == 0


def test_keygen_passphrase_env_must_be_set(tmp_path):
    assert_usage_error(
        signedimp("keygen", "-o", tmp_path / "k.pem", "--passphrase-env", "NOPE"),
        "--passphrase-env: environment variable NOPE is not set or empty",
    )
    assert not (tmp_path / "k.pem").exists()


# ----------------------------------------------------------------- pubkey


def test_pubkey_from_private_and_public(keys):
    expected = keys["pub"].read_text() + f"fingerprint: {fingerprint_of(keys['key'])}\n"
    for path in (keys["key"], keys["pub"]):
        result = signedimp("pubkey", path)
        assert result.returncode == 0, result.stderr
        assert result.stdout == expected


def test_pubkey_bad_file(tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("hello\n")
    result = signedimp("pubkey", bad)
    assert result.returncode == 2
    assert result.stderr.startswith(f"signedimp: error: {bad}: ")
    assert_usage_error(
        signedimp("pubkey", tmp_path / "none.pem"),
        f"{tmp_path / 'none.pem'}: cannot read key file: No such file or directory",
    )


# ------------------------------------------------------- acceptance lines


@pytest.mark.parametrize("kind", ["directory", "zip"])
def test_design_acceptance_line(tmp_path, kind):
    """``signedimp keygen -o k.pem && signedimp sign DIR --key k.pem && signedimp verify DIR --key k.pem.pub``"""
    target = sample_tree(tmp_path / "DIR") if kind == "directory" else sample_zip(tmp_path / "lib.zip")
    run = lambda *a: signedimp(*a, cwd=tmp_path, script=True)
    assert run("keygen", "-o", "k.pem").returncode == 0
    signed = run("sign", target.name, "--key", "k.pem")
    assert signed.returncode == 0, signed.stderr
    fp = fingerprint_of(tmp_path / "k.pem")
    count = 5 if kind == "directory" else 4
    assert signed.stdout == f"signed {target.name}: {count} files, key {fp}\n"
    verified = run("verify", target.name, "--key", "k.pem.pub")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout == f"{target.name}: OK ({count} files verified, signed by {fp})\n"


def test_a_single_file_is_counted_in_the_singular(tmp_path):
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "only.py").write_text("X = 1\n")
    assert signedimp("keygen", "-o", "k.pem", cwd=tmp_path).returncode == 0
    fp = fingerprint_of(tmp_path / "k.pem")
    signed = signedimp("sign", "one", "--key", "k.pem", cwd=tmp_path)
    assert signed.stdout == f"signed one: 1 file, key {fp}\n"
    verified = signedimp("verify", "one", "--key", "k.pem.pub", cwd=tmp_path)
    assert verified.stdout == f"one: OK (1 file verified, signed by {fp})\n"


def test_run_of_a_folder_says_it_runs_archives(tmp_path):
    assert signedimp("keygen", "-o", "k.pem", cwd=tmp_path).returncode == 0
    (tmp_path / "app").mkdir()
    proc = signedimp("run", "app", "--key", "k.pem.pub", cwd=tmp_path)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == "signedimp: error: app: is a folder; `signedimp run` runs a zipapp (.pyz) archive\n"


def test_sign_key_from_environment(tmp_path, keys):
    tree = sample_tree(tmp_path / "tree")
    env = clean_env(SIGNEDIMP_KEY=keys["key"].read_text())
    result = signedimp("sign", tree, env=env)
    assert result.returncode == 0, result.stderr
    assert signedimp("verify", tree, "--key", keys["pub"]).returncode == 0
    assert_usage_error(
        signedimp("sign", tree),
        "no signing key: pass --key FILE or set SIGNEDIMP_KEY to the PEM text of the key",
    )
    assert_usage_error(
        signedimp("sign", tree, env=clean_env(SIGNEDIMP_KEY="junk")),
        "SIGNEDIMP_KEY: not a PEM key: no '-----BEGIN ...-----' line found",
    )


def test_sign_with_public_key_is_an_error(tmp_path, keys):
    tree = sample_tree(tmp_path / "tree")
    assert_usage_error(
        signedimp("sign", tree, "--key", keys["pub"]),
        f"{keys['pub']}: this is a public key, but a private key is needed to sign",
    )
    assert not (tree / MANIFEST_NAME).exists()


def test_sign_missing_path(tmp_path, keys):
    result = signedimp("sign", tmp_path / "nothing", "--key", keys["key"])
    assert_usage_error(result, f"{tmp_path / 'nothing'}: no such file or directory")


def test_sign_several_paths_and_cosign(tmp_path, keys, built_wheel):
    tree = sample_tree(tmp_path / "tree")
    archive = sample_zip(tmp_path / "lib.pyz", prefix=b"#!/usr/bin/env python3\n")
    wheel = tmp_path / built_wheel.name
    shutil.copyfile(built_wheel, wheel)
    result = signedimp("sign", tree, archive, wheel, "--key", keys["key"], script=True)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 3
    assert signedimp("sign", tree, archive, wheel, "--key", keys["other"]).returncode == 0
    for pub in (keys["pub"], keys["other_pub"]):
        result = signedimp("verify", tree, archive, wheel, "--key", pub)
        assert result.returncode == 0, result.stdout
    manifest = Manifest.parse((tree / MANIFEST_NAME).read_bytes())
    assert len(manifest.signatures) == 2
    assert archive.read_bytes().startswith(b"#!/usr/bin/env python3\n")


# ----------------------------------------------------------------- verify


def test_verify_reports_tampering(tmp_path, keys):
    tree = sample_tree(tmp_path / "tree")
    assert signedimp("sign", tree, "--key", keys["key"]).returncode == 0
    (tree / "pkg/mod.py").write_text("evil = True\n")
    (tree / "top.py").unlink()
    (tree / "added.py").write_text("x\n")
    result = signedimp("verify", tree, "--key", keys["pub"])
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"{tree}: unlisted: added.py (not listed by any trusted manifest)"
    assert lines[1].startswith(f"{tree}: modified: pkg/mod.py (expected ")
    assert lines[2] == f"{tree}: missing: top.py (listed but absent)"
    assert lines[3] == f"{tree}: FAILED (3 ok, 1 modified, 1 missing, 1 unlisted)"

    result = signedimp("verify", tree, "--key", keys["pub"], "--json")
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    assert doc["ok"] is False
    assert doc["keys"] == [fingerprint_of(keys["key"])]
    (report,) = doc["results"]
    assert report["path"] == str(tree)
    statuses = {f["path"]: f["status"] for f in report["files"]}
    assert statuses == {
        "added.py": "unlisted",
        "pkg/__init__.py": "ok",
        "pkg/__pycache__/mod.cpython-311.pyc": "ok",
        "pkg/data/with space.txt": "ok",
        "pkg/mod.py": "modified",
        "top.py": "missing",
    }


def test_verify_untrusted_forged_malformed(tmp_path, keys):
    tree = sample_tree(tmp_path / "tree")
    assert signedimp("sign", tree, "--key", keys["key"]).returncode == 0
    result = signedimp("verify", tree, "--key", keys["other_pub"], "--json")
    assert result.returncode == 1
    problems = json.loads(result.stdout)["results"][0]["problems"]
    assert [p["kind"] for p in problems] == ["untrusted"]

    manifest_path = tree / MANIFEST_NAME
    text = manifest_path.read_text()
    fp, sig = text.split("\n", 1)[0].split(" ")
    raw = bytearray(base64.b64decode(sig))
    raw[0] ^= 1
    manifest_path.write_text(text.replace(sig, base64.b64encode(bytes(raw)).decode(), 1))
    result = signedimp("verify", tree, "--key", keys["pub"])
    assert result.returncode == 1
    assert result.stdout.startswith(f"{tree}: forged: ")
    assert "does not verify" in result.stdout

    manifest_path.write_text(text.replace("\nsha256\n", "\n\nsha256\n"))
    result = signedimp("verify", tree, "--key", keys["pub"], "--json")
    assert result.returncode == 1
    problems = json.loads(result.stdout)["results"][0]["problems"]
    assert [p["kind"] for p in problems] == ["malformed"]


def test_verify_accepts_ssh_line_and_private_key(tmp_path, keys):
    tree = sample_tree(tmp_path / "tree")
    assert signedimp("sign", tree, "--key", keys["key"]).returncode == 0
    public = load_private_key(keys["key"].read_bytes()).public_key
    blob = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + public.public_bytes
    ssh = tmp_path / "id.pub"
    ssh.write_text(f"ssh-ed25519 {base64.b64encode(blob).decode()} dev@laptop\n")
    for key in (ssh, keys["key"]):
        result = signedimp("verify", tree, "--key", key)
        assert result.returncode == 0, result.stdout + result.stderr
    result = signedimp("verify", tree, "--key", keys["other_pub"], "--key", ssh)
    assert result.returncode == 0


def test_verify_usage_errors(tmp_path, keys):
    tree = sample_tree(tmp_path / "tree")
    assert_usage_error(
        signedimp("verify", tree), "at least one --key PUB.pem is required (the trusted public key)"
    )
    assert_usage_error(
        signedimp("verify", tmp_path / "gone", "--key", keys["pub"]),
        f"{tmp_path / 'gone'}: no such file or directory",
    )
    bad = tmp_path / "bad.pub"
    bad.write_text("not a key\n")
    result = signedimp("verify", tree, "--key", bad)
    assert result.returncode == 2
    assert result.stderr.startswith(f"signedimp: error: {bad}: ")
    assert "Traceback" not in result.stderr


def test_verify_wheel_json(tmp_path, keys, built_wheel):
    wheel = tmp_path / built_wheel.name
    shutil.copyfile(built_wheel, wheel)
    assert signedimp("sign", wheel, "--key", keys["key"]).returncode == 0
    result = signedimp("verify", wheel, "--key", keys["pub"], "--json")
    assert result.returncode == 0, result.stdout
    doc = json.loads(result.stdout)
    (report,) = doc["results"]
    assert report["kind"] == "wheel" and report["ok"] is True
    assert report["manifests"] == [
        {
            "path": f"tiny_pkg-1.0.dist-info/{MANIFEST_NAME}",
            "signed_by": fingerprint_of(keys["key"]),
            "signers": [fingerprint_of(keys["key"])],
        }
    ]
    assert report["counts"]["ok"] == 5
    with zipfile.ZipFile(wheel, "a") as zf:
        zf.writestr("tinypkg/extra.py", "x = 1\n")
    result = signedimp("verify", wheel, "--key", keys["pub"])
    assert result.returncode == 1
    assert f"{wheel}: unlisted: tinypkg/extra.py (not listed by any trusted manifest)" in result.stdout


# --------------------------------------------------- zipapp, run, bootstrap


def test_split_run_args():
    assert split_run_args(["app.pyz", "--key", "k.pub", "a", "--key", "b"]) == (
        ["app.pyz", "--key", "k.pub"],
        ["a", "--key", "b"],
    )
    assert split_run_args(["--key", "k.pub", "app.pyz", "-v", "x"]) == (
        ["--key", "k.pub", "app.pyz"],
        ["-v", "x"],
    )
    assert split_run_args(["app.pyz", "--key=k.pub", "--", "--key", "x"]) == (
        ["app.pyz", "--key=k.pub"],
        ["--key", "x"],
    )
    assert split_run_args(["app.pyz"]) == (["app.pyz"], [])
    assert split_run_args(["--", "-odd.pyz", "arg"]) == (["--", "-odd.pyz"], ["arg"])


def test_bootstrap_prints_code(keys):
    result = signedimp("bootstrap", "--key", keys["pub"])
    assert result.returncode == 0, result.stderr
    compile(result.stdout, "<bootstrap>", "exec")
    assert fingerprint_of(keys["key"]) in result.stdout or "BEGIN PUBLIC KEY" in result.stdout
    assert_usage_error(
        signedimp("bootstrap"), "at least one --key PUB.pem is required (the trusted public key)"
    )


needs_zipapp = pytest.mark.skipif(
    importlib.util.find_spec("signedimp.tools._zipapp") is None, reason="signedimp.zipapp not available yet"
)


@needs_zipapp
def test_zipapp_and_run(tmp_path, keys):
    source = write_tree(
        tmp_path / "src",
        {
            "hello/__init__.py": "",
            "hello/cli.py": "import sys\ndef main():\n    print('args', sys.argv[1:])\n    return 3\n",
        },
    )
    app = tmp_path / "hello.pyz"
    result = signedimp("zipapp", source, "-o", app, "--key", keys["key"], "-m", "hello.cli:main")
    assert result.returncode == 0, result.stderr
    assert zipfile.is_zipfile(app)
    result = signedimp("run", app, "--key", keys["pub"], "one", "--", "--two")
    assert result.stdout.splitlines()[-1] == "args ['one', '--', '--two']", result.stderr
    assert result.returncode == 3
    result = signedimp("run", app, "--key", keys["pub"], "--", "--key", "x")
    assert result.stdout.splitlines()[-1] == "args ['--key', 'x']", result.stderr
    result = signedimp("run", app, "--key", keys["other_pub"])
    assert result.returncode != 0


def test_run_missing_archive(tmp_path, keys):
    assert_usage_error(
        signedimp("run", tmp_path / "no.pyz", "--key", keys["pub"]), f"{tmp_path / 'no.pyz'}: no such file"
    )


def test_python_m_and_script_agree(tmp_path, keys):
    for script in (False, True):
        tree = sample_tree(tmp_path / f"tree{script}")
        assert signedimp("sign", tree, "--key", keys["key"], script=script).returncode == 0
        assert signedimp("verify", tree, "--key", keys["pub"], script=script).returncode == 0


def test_main_returns_codes_in_process(tmp_path, capsys):
    key = generate_key()
    (tmp_path / "k.pem").write_bytes(key.to_pem())
    (tmp_path / "k.pub").write_bytes(key.public_pem())
    tree = sample_tree(tmp_path / "tree")
    assert main(["sign", str(tree), "--key", str(tmp_path / "k.pem")]) == 0
    assert main(["verify", str(tree), "--key", str(tmp_path / "k.pub")]) == 0
    (tree / "top.py").write_text("changed\n")
    assert main(["verify", str(tree), "--key", str(tmp_path / "k.pub")]) == 1
    assert main(["--version"]) == 0
    out = capsys.readouterr().out
    assert "signed " in out and "FAILED" in out
    assert os.path.exists(tree / MANIFEST_NAME)


# The options of every subcommand, as DESIGN.md spells them (the parser builds shared options
# with one helper each: -k/--key, -o/--output, -q/--quiet, -c/-m entry points).
OPTION_SPELLINGS = {
    "keygen": {"-t/--type", "-o/--output KEY.pem", "--bits", "--force", "--passphrase-env VAR"},
    "pubkey": {"--passphrase-env VAR"},
    "sign": {"--key/-k KEY.pem", "--passphrase-env VAR", "-q/--quiet"},
    "verify": {"--key/-k PUB.pem", "--json", "-q/--quiet"},
    "zipapp": {
        "-r/--requirement REQUIREMENTS",
        "-o/--output APP.pyz",
        "--key/-k KEY.pem",
        "--passphrase-env VAR",
        "-c/--console-script CONSOLE_SCRIPT",
        "-m/--main pkg.mod:fn",
        "-p/--python INTERPRETER",
        "--compile",
        "--pip-arg ARG",
    },
    "run": {"--key/-k PUB.pem"},
    "bootstrap": {"--key/-k PUB.pem", "--frozen", "-o/--output FILE"},
    "launcher": {
        "--key/-k PUB.pem",
        "-c/--console-script CONSOLE_SCRIPT",
        "-m/--main pkg.mod:fn",
        "--python PYTHON",
        "--path DIR",
        "-o/--output FILE",
    },
    "freeze": {"--key/-k KEY.pem", "--passphrase-env VAR"},
}


def test_every_subcommand_keeps_its_option_spellings() -> None:
    from signedimp.tools.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    found = {}
    for name, command in sub.choices.items():  # type: ignore[union-attr]
        options = set()
        for action in command._actions:
            if not action.option_strings or action.dest == "help":
                continue
            spelled = "/".join(action.option_strings)
            options.add(f"{spelled} {action.metavar}" if action.metavar else spelled)
        found[name] = options
    assert found == OPTION_SPELLINGS
    required = {
        name: sorted(a.dest for a in command._actions if a.required and a.option_strings)
        for name, command in sub.choices.items()  # type: ignore[union-attr]
    }
    assert {k: v for k, v in required.items() if v} == {"launcher": ["output"], "zipapp": ["output"]}


@pytest.mark.parametrize("value", ["1", "yes"])
def test_freeze_without_a_key_refuses_a_one_time_key_when_signedimp_require_key_is_set(
    tmp_path, value
) -> None:
    # DESIGN.md: SIGNEDIMP_REQUIRE_KEY=1 makes every build require the key; a freeze without
    # one made a one-time key (and ran the freezer) as if the variable were unset.
    result = signedimp(
        "freeze", "pyinstaller", "--", "app.py", cwd=tmp_path, env=clean_env(SIGNEDIMP_REQUIRE_KEY=value)
    )
    assert_usage_error(
        result,
        "freeze: no signing key, and SIGNEDIMP_REQUIRE_KEY is set (every build must sign with the "
        "real key, not a one-time one): pass --key FILE or set SIGNEDIMP_KEY to the PEM text of the key",
    )
    assert result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == []
