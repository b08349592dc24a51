"""End to end: real builds of the sample project come out signed, install, and import verified.

Two ways of building are covered by the same checks: `python -m build --wheel --no-isolation` in
this environment, and a fully isolated `python -m build` (sdist, then wheel from the sdist) that
installs this plugin from a wheel built from the checkout. Built wheels are shared per module.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from signedimp import MANIFEST_NAME, Manifest, load_public_key

from .build_hook_util import (
    build_env,
    copy_sample,
    dist_info,
    ed25519_pem,
    extract,
    output,
    record_problems,
    rsa_pem,
    run_build,
    the_wheel,
    wheels,
)
from .helpers import PROJECT_ROOT, run_python

pytestmark = pytest.mark.slow

WHEEL_NAME = "sample_app-0.1.0-py3-none-any.whl"
NETWORK_TROUBLE = (
    "NewConnectionError",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "No matching distribution found",
    "Could not find a version",
)


@dataclass
class Key:
    private: bytes
    public: bytes
    public_file: Path
    private_file: Path


def _key(directory: Path, name: str, pems: tuple[bytes, bytes]) -> Key:
    private_file, public_file = directory / f"{name}.pem", directory / f"{name}.pem.pub"
    private_file.write_bytes(pems[0])
    public_file.write_bytes(pems[1])
    return Key(pems[0], pems[1], public_file, private_file)


@pytest.fixture(scope="session")
def keys(tmp_path_factory) -> dict[str, Key]:
    directory = tmp_path_factory.mktemp("keys")
    return {
        "ed25519": _key(directory, "ed25519", ed25519_pem()),
        "ed25519-encrypted": _key(directory, "ed25519-encrypted", ed25519_pem("s3cret pass")),
        "rsa": _key(directory, "rsa", rsa_pem()),
        "rsa-encrypted": _key(directory, "rsa-encrypted", rsa_pem("rsa pass", bits=2048)),
        "other": _key(directory, "other", ed25519_pem()),
    }


@pytest.fixture(scope="session")
def plugin_wheelhouse(tmp_path_factory) -> Path:
    """This checkout built as a wheel, with hatchling and pycryptodome beside it (for isolated builds)."""
    wheelhouse = tmp_path_factory.mktemp("wheelhouse")
    proc = subprocess.run(
        # hatchling is not a dependency of ours (it is the build backend), so fetch it too.
        [sys.executable, "-m", "pip", "wheel", str(PROJECT_ROOT), "hatchling", "-w", str(wheelhouse)],
        env=build_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0 and any(sign in output(proc) for sign in NETWORK_TROUBLE):
        pytest.skip(f"isolated builds need PyPI to build the plugin wheel:\n{output(proc)[-2000:]}")
    assert proc.returncode == 0, output(proc)
    assert list(wheelhouse.glob("hatch_signedimp-*.whl"))
    return wheelhouse


@dataclass
class Built:
    mode: str
    wheel: Path
    log: str
    key: Key


def _build_no_isolation(root: Path, key: Key) -> Built:
    project = copy_sample(root / "project")
    proc = run_build(project, "--wheel", env=build_env(SIGNEDIMP_KEY=key.private.decode()))
    assert proc.returncode == 0, output(proc)
    return Built("no-isolation", the_wheel(project / "dist"), output(proc), key)


def _build_isolated(root: Path, key: Key, wheelhouse: Path) -> Built:
    project = copy_sample(root / "project")
    env = build_env(SIGNEDIMP_KEY=key.private.decode(), PIP_FIND_LINKS=str(wheelhouse), PIP_NO_INDEX="1")
    proc = run_build(project, isolated=True, env=env)  # no --sdist/--wheel: sdist, then wheel from it
    assert proc.returncode == 0, output(proc)
    assert "Building wheel from sdist" in output(proc)
    (sdist,) = (project / "dist").glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        assert not [n for n in tar.getnames() if "signedimp-manifest" in n]
    return Built("isolated", the_wheel(project / "dist"), output(proc), key)


@pytest.fixture(scope="module")
def built_here(keys, tmp_path_factory) -> Built:
    """`python -m build --wheel --no-isolation` in this environment."""
    return _build_no_isolation(tmp_path_factory.mktemp("no-isolation"), keys["ed25519"])


@pytest.fixture(scope="module", params=["no-isolation", "isolated"])
def built(request, keys, tmp_path_factory) -> Built:
    """Each way of building; the isolated one is built once, for all the checks."""
    if request.param == "isolated":
        root = tmp_path_factory.mktemp("isolated")
        return _build_isolated(root, keys["ed25519"], request.getfixturevalue("plugin_wheelhouse"))
    return request.getfixturevalue("built_here")


@pytest.fixture(scope="module")
def installed(built, tmp_path_factory) -> Path:
    """The built wheel installed with `pip install --target`."""
    target = tmp_path_factory.mktemp(f"site-{built.mode}")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--target",
            str(target),
            str(built.wheel),
        ],
        env=build_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, output(proc)
    return target


IMPORT_VERIFIED = """
    import sys
    entry, public_key = sys.argv[1], sys.argv[2]
    sys.path.insert(0, entry)
    from signedimp import SignedImportManager, load_public_key
    with open(public_key) as f:
        SignedImportManager([load_public_key(f.read())]).install()
    try:
        import sample_app, sample_app.cli, sample_app.sub.helpers
        sample_app.cli.main([])
    except ImportError as error:
        print("REFUSED", type(error).__name__, error)
    else:
        print("loader", type(sample_app.__loader__).__module__, type(sample_app.sub.helpers.__loader__).__module__)
        print("from", sample_app.__file__)
"""


def import_verified(entry: Path, public_key: Path) -> str:
    proc = run_python(IMPORT_VERIFIED, str(entry), str(public_key))
    assert proc.returncode == 0, output(proc)
    return proc.stdout


def verify_cli(path: Path, public_key: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "signedimp", "verify", str(path), "--key", str(public_key)],
        env=build_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


# -- the signed wheel ------------------------------------------------------------------------


def test_the_build_says_it_signed(built):
    assert f"Build hook `signedimp`: signed {WHEEL_NAME}" in built.log
    assert built.wheel.name == WHEEL_NAME


def test_signedimp_verify_accepts_the_wheel(built):
    proc = verify_cli(built.wheel, built.key.public_file)
    assert proc.returncode == 0, output(proc)


def test_signedimp_verify_refuses_another_key(built, keys):
    proc = verify_cli(built.wheel, keys["other"].public_file)
    assert proc.returncode == 1, output(proc)


def test_manifest_covers_every_file_but_record_and_itself(built):
    with zipfile.ZipFile(built.wheel) as archive:
        names = archive.namelist()
        info = dist_info(names)
        manifest = Manifest.parse(archive.read(f"{info}/{MANIFEST_NAME}"))
        expected = {n for n in names if n not in (f"{info}/RECORD", f"{info}/{MANIFEST_NAME}")}
        assert set(manifest) == expected
        for name in expected:
            assert manifest.lookup(name) == hashlib.sha256(archive.read(name)).hexdigest(), name
    assert {
        "sample_app/py.typed",
        "sample_app/data/greeting.txt",
        "sample_app/sub/helpers.py",
        "sample_app/sub/planets.json",
        f"{info}/METADATA",
        f"{info}/entry_points.txt",
    } <= expected
    assert manifest.verify(load_public_key(built.key.public)) is not None


def test_manifest_sits_just_before_record(built):
    with zipfile.ZipFile(built.wheel) as archive:
        names = archive.namelist()
    info = dist_info(names)
    assert names[-2:] == [f"{info}/{MANIFEST_NAME}", f"{info}/RECORD"]


def test_record_is_valid(built):
    assert record_problems(built.wheel) == []


# -- installed and imported ------------------------------------------------------------------


def test_installed_wheel_imports_verified(built, installed):
    out = import_verified(installed, built.key.public_file)
    assert "REFUSED" not in out, out
    assert "Hello from a signed wheel!" in out and "8 planets" in out
    assert "loader signedimp" in out  # the modules came through signedimp's verifying loader
    assert str(installed) in out


def test_installed_wheel_is_refused_under_another_key(installed, keys):
    out = import_verified(installed, keys["other"].public_file)
    assert "REFUSED IntegrityCheckMissing" in out, out


def test_tampered_installed_module_is_refused(built, installed, tmp_path):
    copy = Path(shutil.copytree(installed, tmp_path / "site"))
    helpers = copy / "sample_app" / "sub" / "helpers.py"
    helpers.write_text(helpers.read_text() + "\nimport os; os.system('echo pwned')\n")
    out = import_verified(copy, built.key.public_file)
    assert "REFUSED IntegrityCheckFailed" in out, out
    assert "helpers.py" in out and "pwned" not in out


def test_tampered_installed_data_file_is_refused(built, installed, tmp_path):
    copy = Path(shutil.copytree(installed, tmp_path / "site"))
    (copy / "sample_app" / "data" / "greeting.txt").write_text("Hello from an attacker\n")
    out = import_verified(copy, built.key.public_file)
    assert "REFUSED IntegrityCheckFailed" in out, out
    assert "attacker" not in out


def test_wheel_on_sys_path_imports_verified(built):
    out = import_verified(built.wheel, built.key.public_file)
    assert "REFUSED" not in out, out
    assert "Hello from a signed wheel!" in out and "8 planets" in out
    assert "loader signedimp" in out


# -- what signing keeps ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def plain(keys, tmp_path_factory) -> Built:
    """The same sample built with build hooks disabled: what hatchling alone writes."""
    root = tmp_path_factory.mktemp("plain")
    project = copy_sample(root / "project")
    proc = run_build(project, "--wheel", outdir=root / "unsigned", env=build_env(HATCH_BUILD_NO_HOOKS="true"))
    assert proc.returncode == 0, output(proc)
    return Built("unsigned", the_wheel(root / "unsigned"), output(proc), keys["ed25519"])


def test_entries_keep_order_timestamps_modes_and_compression(built_here, plain):
    with zipfile.ZipFile(plain.wheel) as before, zipfile.ZipFile(built_here.wheel) as after:
        old = [i for i in before.infolist() if not i.filename.endswith("/RECORD")]
        new = [i for i in after.infolist() if not i.filename.endswith(("/RECORD", MANIFEST_NAME))]
        assert [i.filename for i in new] == [i.filename for i in old]
        for a, b in zip(old, new):
            assert (b.date_time, b.external_attr, b.compress_type, b.CRC) == (
                a.date_time,
                a.external_attr,
                a.compress_type,
                a.CRC,
            ), a.filename
        manifest_info = after.getinfo(f"{dist_info(after.namelist())}/{MANIFEST_NAME}")
        record_info = after.getinfo(f"{dist_info(after.namelist())}/RECORD")
        assert manifest_info.date_time == record_info.date_time
        assert manifest_info.compress_type == record_info.compress_type


def test_two_builds_are_byte_identical(built_here, keys, tmp_path):
    again = _build_no_isolation(tmp_path, keys["ed25519"])  # another copy, another directory
    assert again.wheel.read_bytes() == built_here.wheel.read_bytes()


# -- keys ------------------------------------------------------------------------------------


def _build(tmp_path: Path, options: str = "", **env: str) -> tuple[subprocess.CompletedProcess, Path]:
    project = copy_sample(tmp_path / "project", options)
    return run_build(project, "--wheel", env=build_env(**env)), project


@pytest.mark.parametrize("kind", ["rsa", "ed25519-encrypted", "rsa-encrypted"])
def test_rsa_and_encrypted_keys_sign(kind, keys, tmp_path):
    key = keys[kind]
    passphrase = {"ed25519-encrypted": "s3cret pass", "rsa-encrypted": "rsa pass"}.get(kind)
    env = {"SIGNEDIMP_KEY": key.private.decode()}
    if passphrase:
        env["SIGNEDIMP_KEY_PASSPHRASE"] = passphrase
    proc, project = _build(tmp_path, **env)
    assert proc.returncode == 0, output(proc)
    wheel = the_wheel(project / "dist")
    assert verify_cli(wheel, key.public_file).returncode == 0
    assert record_problems(wheel) == []
    if kind == "rsa":
        assert "with rsa key" in output(proc)
        out = import_verified(wheel, key.public_file)
        assert "Hello from a signed wheel!" in out and "REFUSED" not in out


def test_key_file_and_passphrase_env_options(keys, tmp_path):
    key = keys["ed25519-encrypted"]
    proc, project = _build(
        tmp_path,
        f'key-file = "{key.private_file.as_posix()}"\npassphrase-env = "MY_PASS"',
        MY_PASS="s3cret pass",
        SIGNEDIMP_KEY_PASSPHRASE="wrong",
    )
    assert proc.returncode == 0, output(proc)
    assert "(option `key-file`)" in output(proc)
    assert verify_cli(the_wheel(project / "dist"), key.public_file).returncode == 0


def test_key_file_inside_the_package_fails_the_wheel_until_excluded(keys, tmp_path):
    key = keys["ed25519"]
    proc, project = _build(tmp_path, 'key-file = "src/sample_app/signing.pem"')
    assert proc.returncode != 0  # absent so far: the error names the resolved path
    (project / "src" / "sample_app" / "signing.pem").write_bytes(key.private)
    shutil.rmtree(project / "dist", ignore_errors=True)
    proc = run_build(project, "--wheel")
    assert proc.returncode != 0
    assert (
        "the private signing key ended up in the wheel as `sample_app/signing.pem`; the wheel was deleted"
        in output(proc)
    )
    assert '[tool.hatch.build.targets.wheel]\nexclude = ["/src/sample_app/signing.pem"]' in output(proc)
    assert wheels(project / "dist") == []

    pyproject = project / "pyproject.toml"
    text = pyproject.read_text().replace(
        'packages = ["src/sample_app"]',
        'packages = ["src/sample_app"]\nexclude = ["/src/sample_app/signing.pem"]',
    )
    pyproject.write_text(text)
    proc = run_build(project, "--wheel")
    assert proc.returncode == 0, output(proc)
    wheel = the_wheel(project / "dist")
    with zipfile.ZipFile(wheel) as archive:
        assert "sample_app/signing.pem" not in archive.namelist()
    assert verify_cli(wheel, key.public_file).returncode == 0


def test_wheel_from_sdist_takes_the_key_from_the_environment(keys, tmp_path):
    """`key-file` inside the project, git-ignored: the sdist leaves it out, the variable then supplies it."""
    key = keys["ed25519"]
    project = copy_sample(tmp_path / "project", 'key-file = "keys/signing.pem"')
    (project / "keys").mkdir()
    (project / "keys" / "signing.pem").write_bytes(key.private)
    (project / ".gitignore").write_text("/keys/\n")
    proc = run_build(project, "--sdist")
    assert proc.returncode == 0, output(proc)
    (sdist,) = (project / "dist").glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        assert not [n for n in tar.getnames() if "signing.pem" in n]
        extract(tar, tmp_path / "unpacked")
    unpacked = tmp_path / "unpacked" / "sample_app-0.1.0"
    proc = run_build(unpacked, "--wheel", env=build_env(SIGNEDIMP_KEY=key.private.decode()))
    assert proc.returncode == 0, output(proc)
    assert verify_cli(the_wheel(unpacked / "dist"), key.public_file).returncode == 0


@pytest.mark.parametrize(
    ("case", "needles"),
    [
        (
            "wrong passphrase",
            [
                "cannot decrypt the environment variable `SIGNEDIMP_KEY` (option `key-env`)",
                "passphrase from the environment variable `SIGNEDIMP_KEY_PASSPHRASE`",
                "wrong passphrase",
            ],
        ),
        (
            "no passphrase",
            [
                "the environment variable `SIGNEDIMP_KEY` (option `key-env`) is encrypted",
                "`SIGNEDIMP_KEY_PASSPHRASE` (option `passphrase-env`)",
                "is not set",
            ],
        ),
        (
            "garbage",
            [
                "cannot read a private key from the environment variable `SIGNEDIMP_KEY`",
                "Expected an Ed25519 or RSA private key: PKCS#8 PEM",
            ],
        ),
        ("garbage file", ["cannot read a private key from the key file", "(option `key-file`)"]),
        (
            "public key",
            [
                "the environment variable `SIGNEDIMP_KEY` (option `key-env`) holds a public key",
                "signing needs the private key",
            ],
        ),
        ("public key file", ["(option `key-file`) holds a public key"]),
        ("ssh public key", ["holds a public key"]),
    ],
)
def test_bad_keys_fail_the_build_and_leave_no_wheel(case, needles, keys, tmp_path):
    options, env = "", {}
    if case == "wrong passphrase":
        env = {
            "SIGNEDIMP_KEY": keys["ed25519-encrypted"].private.decode(),
            "SIGNEDIMP_KEY_PASSPHRASE": "nope",
        }
    elif case == "no passphrase":
        env = {"SIGNEDIMP_KEY": keys["rsa-encrypted"].private.decode()}
    elif case == "garbage":
        env = {"SIGNEDIMP_KEY": "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"}
    elif case == "garbage file":
        (tmp_path / "garbage.pem").write_bytes(b"\x00\x01 definitely not a key")
        options = f'key-file = "{(tmp_path / "garbage.pem").as_posix()}"'
    elif case == "public key":
        env = {"SIGNEDIMP_KEY": keys["ed25519"].public.decode()}
    elif case == "public key file":
        options = f'key-file = "{keys["rsa"].public_file.as_posix()}"'
    elif case == "ssh public key":
        env = {
            "SIGNEDIMP_KEY": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl x"
        }
    proc, project = _build(tmp_path, options, **env)
    assert proc.returncode != 0
    text = output(proc)
    for needle in needles:
        assert needle in text, text[-3000:]
    assert wheels(project / "dist") == []


def test_require_key_false_still_rejects_a_bad_key(tmp_path):
    proc, project = _build(tmp_path, "require-key = false", SIGNEDIMP_KEY="nonsense")
    assert proc.returncode != 0
    assert "cannot read a private key" in output(proc)
    assert wheels(project / "dist") == []


# -- other front ends ------------------------------------------------------------------------


def test_pip_wheel_signs_too(keys, tmp_path):
    key = keys["ed25519"]
    project = copy_sample(tmp_path / "project")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            "-w",
            str(tmp_path / "out"),
            str(project),
        ],
        env=build_env(SIGNEDIMP_KEY=key.private.decode()),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, output(proc)
    wheel = the_wheel(tmp_path / "out")
    assert verify_cli(wheel, key.public_file).returncode == 0
    assert record_problems(wheel) == []


# -- installing, as someone without the key would -----------------------------------------------


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory) -> Path:
    """A new virtual environment (with pip) that has never seen this project."""
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    return venv


def _pip(venv: Path, *args: str, wheelhouse: Path, **env: str) -> subprocess.CompletedProcess:
    """pip of ``venv``, offline: only this project and hatchling's wheels (``plugin_wheelhouse``)."""
    return subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", *args],
        env=build_env(
            PIP_FIND_LINKS=str(wheelhouse), PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", **env
        ),
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_published_sdist_installs_without_the_key(keys, plugin_wheelhouse, fresh_venv, tmp_path):
    """#12.1: `pip install x.tar.gz` works for whoever has no key (unsigned wheel, with a warning);
    from the project's tree it still fails, and `SIGNEDIMP_REQUIRE_KEY=1` makes the sdist fail too.
    The publisher builds the sdist with the key (from the tree, the sdist needs it too)."""
    project = copy_sample(tmp_path / "project")
    proc = run_build(project, "--sdist", env=build_env(SIGNEDIMP_KEY=keys["ed25519"].private.decode()))
    assert proc.returncode == 0, output(proc)
    (sdist,) = (project / "dist").glob("*.tar.gz")

    proc = _pip(fresh_venv, "install", "-v", str(sdist), wheelhouse=plugin_wheelhouse)
    assert proc.returncode == 0, output(proc)[-4000:]
    text = " ".join(output(proc).split())
    assert (
        "Build hook `signedimp`: no signing key, so the wheel is left UNSIGNED: it is built from an "
        "unpacked sdist (option `key-file` is not set, and the environment variable `SIGNEDIMP_KEY` is "
        "not set)." in text
    )
    run = subprocess.run([str(fresh_venv / "bin" / "sample-app")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "Hello from a signed wheel!" in run.stdout, output(run)
    assert not list((fresh_venv / "lib").rglob("sample_app-0.1.0.dist-info/signedimp-manifest.txt"))

    for source, env, needle in [
        (
            str(project),
            {},
            "Build hook `signedimp` needs a private key to sign the wheel, and none was given",
        ),
        (
            str(sdist),
            {"SIGNEDIMP_REQUIRE_KEY": "1"},
            "(`SIGNEDIMP_REQUIRE_KEY=1` is set: every build must sign.)",
        ),
    ]:
        proc = _pip(
            fresh_venv,
            "install",
            "-v",
            "--force-reinstall",
            "--no-deps",
            source,
            wheelhouse=plugin_wheelhouse,
            **env,
        )
        assert proc.returncode != 0, source
        assert needle in " ".join(output(proc).split()), output(proc)[-4000:]


def test_installing_the_project_pulls_in_pycryptodome_only(plugin_wheelhouse, fresh_venv):
    """#12.2: the runtime needs the standard library, signing pycryptodome; hatchling is the build
    backend, never a dependency."""
    (wheel,) = plugin_wheelhouse.glob("hatch_signedimp-*.whl")
    proc = _pip(
        fresh_venv,
        "install",
        "--dry-run",
        "--ignore-installed",
        "--quiet",
        "--report",
        "-",
        str(wheel),
        wheelhouse=plugin_wheelhouse,
    )
    assert proc.returncode == 0, output(proc)
    import json

    report = json.loads(proc.stdout)
    assert sorted(item["metadata"]["name"].lower() for item in report["install"]) == [
        "hatch-signedimp",
        "pycryptodome",
    ]


# -- #12.1: `python -m build` from the tree needs the key, at the sdist already ----------------------


SDIST_NEEDS_KEY = (
    "Build hook `signedimp`: building the sdist from the project's tree needs a private key: the wheel "
    "built from this sdist would be unsigned (option `key-file` is not set, and the environment variable "
    "`SIGNEDIMP_KEY` is not set). Set the environment variable `SIGNEDIMP_KEY` to the key's PEM text, or "
    "set option `key-file`;"
)


def test_python_m_build_from_the_tree_without_a_key_fails_at_the_sdist(keys, tmp_path):
    """`python -m build` (sdist, then the wheel from it) without a key fails with `require-key`'s
    default; with the key it gives a signed wheel; `require-key = false` builds both, unsigned."""
    project = copy_sample(tmp_path / "project")
    proc = run_build(project)
    assert proc.returncode != 0
    text = " ".join(output(proc).split())
    assert SDIST_NEEDS_KEY in text, text[-3000:]
    assert "To build unsigned, set `require-key = false` in [tool.hatch.build.hooks.signedimp]." in text
    assert not list((project / "dist").glob("*.tar.gz")) and wheels(project / "dist") == []

    key = keys["ed25519"]
    proc = run_build(project, env=build_env(SIGNEDIMP_KEY=key.private.decode()))
    assert proc.returncode == 0, output(proc)
    assert "Building wheel from sdist" in output(proc)
    assert verify_cli(the_wheel(project / "dist"), key.public_file).returncode == 0

    unsigned = copy_sample(tmp_path / "unsigned", "require-key = false")
    proc = run_build(unsigned)
    assert proc.returncode == 0, output(proc)
    assert "the wheel is left UNSIGNED" in output(proc)
    with zipfile.ZipFile(the_wheel(unsigned / "dist")) as archive:
        assert not [n for n in archive.namelist() if n.endswith(MANIFEST_NAME)]

    proc = run_build(unsigned, "--sdist", env=build_env(SIGNEDIMP_REQUIRE_KEY="1"))
    assert proc.returncode != 0
    assert "(`SIGNEDIMP_REQUIRE_KEY=1` is set: every build must sign.)" in " ".join(output(proc).split())


# -- #14.4: a killed build never leaves an unsigned wheel that looks finished ----------------------


def test_killed_build_leaves_no_unsigned_wheel_and_the_next_build_cleans_up(keys, tmp_path):
    """SIGKILL of the whole build while the hook signs (aimed: the signer's temp file exists):
    `dist/` holds no `*.whl` (the unsigned wheel waits under a hidden name that is no wheel's);
    the next build removes what the killed one left and gives a signed wheel."""
    import os
    import signal
    import time

    from signedimp.tools._atomic_write import TEMP_MARK

    key = keys["ed25519"]
    project = copy_sample(tmp_path / "project")
    blob = project / "src" / "sample_app" / "data" / "blob.bin"
    blob.write_bytes(os.urandom(48 << 20))  # signing takes long enough to be caught in the act
    dist = project / "dist"
    cmd = [sys.executable, "-m", "build", "--no-isolation", "--wheel", "--outdir", str(dist)]
    env = build_env(SIGNEDIMP_KEY=key.private.decode())
    proc = subprocess.Popen(
        cmd, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    deadline = time.monotonic() + 300
    caught = False
    while time.monotonic() < deadline and proc.poll() is None:
        if dist.is_dir() and any(TEMP_MARK in name for name in os.listdir(dist)):
            os.killpg(proc.pid, signal.SIGKILL)
            caught = True
            break
        time.sleep(0.001)
    proc.communicate(timeout=60)
    assert caught, "the build finished before the hook was caught signing"
    left = sorted(os.listdir(dist))
    assert wheels(dist) == [], left
    assert any(".signedimp-unsigned-" in name for name in left), left

    proc = run_build(project, "--wheel", env=env)
    assert proc.returncode == 0, output(proc)
    assert sorted(os.listdir(dist)) == [the_wheel(dist).name]
    assert verify_cli(the_wheel(dist), key.public_file).returncode == 0
