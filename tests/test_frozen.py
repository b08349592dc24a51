"""Frozen apps: PyInstaller (onedir, onefile) and cx_Freeze apps that verify every import.

The app (tests/fixtures/frozen_app) uses PyYAML's C extension and reads a data file through
importlib.resources. It is frozen once per session for each way (``signedimp freeze`` for both
freezers and both PyInstaller modes, and the two-step path ``bootstrap --frozen`` + ``sign``),
and each tampering case works on its own copy of the output. The freezers come from the
``freeze`` extra (scripts/make-venv.sh installs it).
"""

from __future__ import annotations

import fcntl
import importlib.util
import io
import json
import marshal
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .helpers import FIXTURES, clean_env

heavy = pytest.mark.heavy

APP = FIXTURES / "frozen_app"
EXPECTED = "hello from the data file | mercury,venus | plugin: None"
REFUSED = "signedimp refused"
PROBES = "get_data: FileNotFoundError; getsource: OSError; data exists: False"
TIMEOUT = 900


def _need(module: str, dist: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(
            f"{dist} is not installed in this environment: pip install -e '.[freeze]' "
            "(scripts/make-venv.sh installs it)"
        )


def signedimp(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "signedimp", *args],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def run_app(exe: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(exe), *args], cwd=exe.parent, env=clean_env(), capture_output=True, text=True, timeout=120
    )


# ------------------------------------------------------------------------ building, once


@pytest.fixture(scope="session")
def shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder that every xdist worker of this session shares: each app is frozen once."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    shared = root / "frozen-builds"
    shared.mkdir(exist_ok=True)
    return shared


def _once(shared: Path, name: str, build) -> Path:
    """Run ``build(folder)`` once per session across workers (a file lock), return its folder."""
    folder = shared / name
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (folder / "FAILED").exists():
            pytest.fail(f"freezing {name} failed:\n{(folder / 'FAILED').read_text()}")
        if not (folder / "DONE").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            try:
                build(folder)
            except BaseException as exc:
                (folder / "FAILED").write_text(str(exc))
                raise
            (folder / "DONE").write_text("")
    return folder


@pytest.fixture(scope="session")
def keys(shared_dir: Path) -> tuple[Path, Path]:
    def build(folder: Path) -> None:
        result = signedimp("keygen", "-o", str(folder / "key.pem"))
        assert result.returncode == 0, result.stderr

    folder = _once(shared_dir, "keys", build)
    return folder / "key.pem", folder / "key.pem.pub"


def _source(folder: Path) -> Path:
    src = folder / "src"
    shutil.copytree(APP, src)
    return src


def _check(result: subprocess.CompletedProcess, what: str) -> None:
    if result.returncode != 0:
        raise AssertionError(
            f"{what} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
        )


def _pyinstaller_args(src: Path, folder: Path, *extra: str) -> list[str]:
    return [
        "--noconfirm",
        "--log-level",
        "WARN",
        "--distpath",
        str(folder / "dist"),
        "--workpath",
        str(folder / "work"),
        "--specpath",
        str(folder),
        "--add-data",
        f"{src / 'fzapp' / 'data'}:fzapp/data",
        "--additional-hooks-dir",
        str(src / "pyinstaller_hooks"),
        *extra,
        str(src / "main.py"),
    ]


def _cxfreeze_args(folder: Path) -> list[str]:
    return [
        "--script",
        "main.py",
        "--target-dir",
        str(folder / "dist"),
        "build_exe",
        "--silent",
        "--packages=fzapp",
        "--zip-exclude-packages=fzapp",
    ]


@pytest.fixture(scope="session")
def pyinstaller_onedir(shared_dir: Path, keys) -> Path:
    """``signedimp freeze pyinstaller --key`` (onedir): the sealed app folder."""
    _need("PyInstaller", "pyinstaller")

    def build(folder: Path) -> None:
        src = _source(folder)
        result = signedimp(
            "freeze", "pyinstaller", "--key", str(keys[0]), "--", *_pyinstaller_args(src, folder), cwd=src
        )
        _check(result, "signedimp freeze pyinstaller")
        (folder / "stdout").write_text(result.stdout)

    return _once(shared_dir, "pyinstaller-onedir", build) / "dist" / "main"


@pytest.fixture(scope="session")
def pyinstaller_onefile(shared_dir: Path) -> Path:
    """``signedimp freeze pyinstaller`` (onefile) with a one-time key: the executable."""
    _need("PyInstaller", "pyinstaller")

    def build(folder: Path) -> None:
        src = _source(folder)
        args = _pyinstaller_args(src, folder, "--onefile")
        result = signedimp("freeze", "pyinstaller", "--", *args, cwd=src)
        _check(result, "signedimp freeze pyinstaller --onefile")
        (folder / "stdout").write_text(result.stdout)

    return _once(shared_dir, "pyinstaller-onefile", build) / "dist" / "main"


@pytest.fixture(scope="session")
def cxfreeze_app(shared_dir: Path, keys) -> Path:
    """``signedimp freeze cxfreeze --key``: the sealed app folder."""
    _need("cx_Freeze", "cx_Freeze")

    def build(folder: Path) -> None:
        src = _source(folder)
        args = _cxfreeze_args(folder)
        result = signedimp("freeze", "cxfreeze", "--key", str(keys[0]), "--", *args, cwd=src)
        _check(result, "signedimp freeze cxfreeze")
        (folder / "stdout").write_text(result.stdout)

    return _once(shared_dir, "cxfreeze", build) / "dist"


@pytest.fixture(scope="session")
def two_step_apps(shared_dir: Path, keys) -> dict[str, Path]:
    """Both freezers through the two-step path: ``bootstrap --frozen -o``, the freezer, ``sign``."""
    _need("PyInstaller", "pyinstaller")
    _need("cx_Freeze", "cx_Freeze")

    def build(folder: Path) -> None:
        src = _source(folder)
        hook = folder / "hook.py"
        made = signedimp("bootstrap", "--key", str(keys[1]), "--frozen", "-o", str(hook))
        _check(made, "bootstrap --frozen")
        pi = folder / "pi"
        result = subprocess.run(
            [sys.executable, "-m", "PyInstaller", "--runtime-hook", str(hook), *_pyinstaller_args(src, pi)],
            cwd=src,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        _check(result, "pyinstaller --runtime-hook")
        cx = folder / "cx"
        result = subprocess.run(
            [sys.executable, "-m", "cx_Freeze", "--init-script", str(hook), *_cxfreeze_args(cx)],
            cwd=src,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        _check(result, "cxfreeze --init-script")
        for dist in (pi / "dist" / "main", cx / "dist"):
            _check(signedimp("sign", str(dist), "--key", str(keys[0])), f"signedimp sign {dist}")

    folder = _once(shared_dir, "two-step", build)
    return {"pyinstaller": folder / "pi" / "dist" / "main", "cxfreeze": folder / "cx" / "dist"}


@pytest.fixture(params=["pyinstaller", "cxfreeze"])
def sealed(request) -> tuple[str, Path]:
    """(freezer, sealed onedir app folder)."""
    name = {"pyinstaller": "pyinstaller_onedir", "cxfreeze": "cxfreeze_app"}[request.param]
    return request.param, request.getfixturevalue(name)


@pytest.fixture
def copy_of(tmp_path: Path):
    """A private copy of a sealed app folder, to tamper with."""

    def copy(folder: Path) -> Path:
        target = tmp_path / "app"
        shutil.copytree(folder, target, symlinks=True)
        return target

    return copy


def _lib(freezer: str, app: Path) -> Path:
    """The folder on sys.path that holds the app's files: ``_internal`` or ``lib``."""
    return app / ("_internal" if freezer == "pyinstaller" else "lib")


# ------------------------------------------------------------------------ honest runs


def _assert_verified(report: dict, freezer: str) -> None:
    assert report["manager"] == "FrozenAppManager"
    # The collector is on again after start-up (off while the verifier was built).
    assert report["gc"] is True
    assert report["openssl"] is True  # imported before the manager: the start-up check hashes
    modules = report["modules"]
    for name in ("fzapp.cli", "yaml._yaml"):
        assert modules[name] == ["VerifyingLoader", False], (name, modules.get(name))
    for name, (loader, checked_at_startup) in modules.items():
        # Loaded through the verifier, from the signed executable's own archive (before the
        # verifier: PyiFrozenLoader, after: wrapped), or loaded before any hook could run and
        # checked against the manifest at start-up.
        trusted = ("VerifyingLoader", "_InExecutableLoader", "PyiFrozenLoader")
        assert loader in trusted or checked_at_startup, (name, loader)
        assert loader != "PyiFrozenLoader" or freezer == "pyinstaller"
    # Each folder on sys.path in the app is searched in its checked manifest, but PyInstaller's
    # contents folder, whose finder serves the archive inside the executable (lib-dynload
    # would otherwise go to that finder too, which searches its archive first: twice the work).
    finders = report["finders"]
    assert finders, report
    for rel, finder in finders.items():
        expected = (
            "PyiFrozenFinder" if (freezer, rel) == ("pyinstaller", "_internal") else "SealedFolderFinder"
        )
        assert finder == expected, finders
    if freezer == "pyinstaller":
        assert finders.get("_internal/python%d.%d/lib-dynload" % sys.version_info[:2]) == "SealedFolderFinder"
        assert modules["yaml"] == ["_InExecutableLoader", False]  # from the PYZ inside the executable
    else:
        assert modules["yaml"] == ["VerifyingLoader", False]  # a member of lib/library.zip
    if sys.platform.startswith("linux"):
        # The extension is mapped from the verified copy, never from the app folder: a sealed
        # memfd, or the private copy where the interpreter has no os.memfd_create (cx_Freeze's
        # own manylinux2014 build).
        mapped = report["yaml_mapped"]
        assert mapped, report
        for path in mapped:
            assert path.startswith("/memfd:signedimp:yaml._yaml") or "/signedimp-" in path, mapped
        if freezer == "pyinstaller":
            assert all(path.startswith("/memfd:signedimp:yaml._yaml") for path in mapped), mapped


@heavy
def test_freeze_runs_verified(sealed) -> None:
    freezer, app = sealed
    result = run_app(app / "main", "--report")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == ["app started", EXPECTED]
    _assert_verified(json.loads(lines[2]), freezer)
    assert lines[3] == PROBES


@heavy
def test_freeze_prints_what_it_sealed(sealed, keys) -> None:
    freezer, app = sealed
    fingerprint = signedimp("pubkey", str(keys[1])).stdout
    out = (app.parent.parent if freezer == "pyinstaller" else app.parent) / "stdout"
    text = out.read_text()
    assert text.startswith(f"froze and sealed {app}: ")
    assert text.split("key ")[1].split()[0] in fingerprint
    archive = "_internal/base_library.zip" if freezer == "pyinstaller" else "lib/library.zip"
    manifest = (app / "signedimp-manifest.txt").read_text()
    assert f" {archive}\n" in manifest
    with zipfile.ZipFile(app / archive) as zf:
        assert "signedimp-manifest.txt" in zf.namelist()


@heavy
def test_verify_sealed_folder(sealed, keys, copy_of) -> None:
    freezer, app = sealed
    result = signedimp("verify", str(app), "--key", str(keys[1]), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    files = {f["path"]: f["status"] for f in json.loads(result.stdout)["results"][0]["files"]}
    archive = "_internal/base_library.zip" if freezer == "pyinstaller" else "lib/library.zip"
    assert files[archive] == "ok"
    members = [p for p in files if p.startswith(archive + "/")]  # the archive's own manifest, checked too
    assert len(members) > 10 and all(files[p] == "ok" for p in members)
    copy = copy_of(app)
    with open(_lib(freezer, copy) / "fzapp" / "data" / "greeting.txt", "a") as fh:
        fh.write("changed\n")
    result = signedimp("verify", str(copy), "--key", str(keys[1]))
    assert result.returncode == 1
    assert "fzapp/data/greeting.txt" in result.stdout + result.stderr


@heavy
def test_two_step_path(two_step_apps) -> None:
    for freezer, app in two_step_apps.items():
        result = run_app(app / "main", "--report")
        assert result.returncode == 0, (freezer, result.stderr)
        lines = result.stdout.splitlines()
        assert lines[:2] == ["app started", EXPECTED], freezer
        _assert_verified(json.loads(lines[2]), freezer)


@heavy
def test_unsealed_app_does_not_start(two_step_apps, copy_of) -> None:
    """Frozen with the bootstrap but never signed (or the manifest removed): refused at start-up."""
    app = copy_of(two_step_apps["pyinstaller"])
    (app / "signedimp-manifest.txt").unlink()
    result = run_app(app / "main")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(
        f"{REFUSED} file '{app / '_internal' / 'base_library.zip'}': no signedimp-manifest.txt in {app}"
    )


@heavy
def test_onefile_runs_verified(pyinstaller_onefile: Path) -> None:
    stdout = (pyinstaller_onefile.parent.parent / "stdout").read_text().splitlines()
    assert stdout[0] == (
        f"froze {pyinstaller_onefile} (onefile: its content is inside the executable, "
        "which the OS signature must cover; nothing on disk to seal)"
    )
    assert stdout[1].startswith("one-time key ") and stdout[1].endswith(
        ": pinned in the app and used to seal it, then thrown away"
    )
    result = run_app(pyinstaller_onefile, "--report")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == ["app started", EXPECTED]
    report = json.loads(lines[2])
    assert report["manager"] == "FrozenAppManager"
    # Nothing outside the extracted (trusted) folder was loaded: OpenSSL was never needed.
    assert report["openssl"] is False
    assert report["gc"] is True


@heavy
def test_onefile_refuses_an_added_plugin(pyinstaller_onefile: Path, tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    shutil.copy2(pyinstaller_onefile, app / "main")
    canary = tmp_path / "canary"
    (app / "plugins").mkdir()
    (app / "plugins" / "fzapp_plugin.py").write_text(_canary_source(canary) + "NAME = 'evil'\n")
    result = run_app(app / "main")
    assert result.returncode == 1
    assert f"{REFUSED} module 'fzapp_plugin', file '{app / 'plugins' / 'fzapp_plugin.py'}'" in result.stderr
    assert not canary.exists()


# ------------------------------------------------------------------------ tampering


def _canary_source(canary: Path) -> str:
    return f"open({str(canary)!r}, 'w').write('ran')\n"


def _pyc(source: str, filename: str) -> bytes:
    code = compile(source, filename, "exec", dont_inherit=True)
    return importlib.util.MAGIC_NUMBER + b"\0" * 12 + marshal.dumps(code)


def _rewrite_member(archive: Path, member: str, data: bytes) -> None:
    with zipfile.ZipFile(archive) as zf:
        items = [(info, data if info.filename == member else zf.read(info)) for info in zf.infolist()]
    assert member in [info.filename for info, _ in items], member
    with zipfile.ZipFile(archive, "w") as zf:
        for info, content in items:
            zf.writestr(info, content)


def _refused_before_app(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "app started" not in result.stdout
    assert REFUSED in result.stderr


@heavy
def test_changed_app_module_is_refused(sealed, copy_of, tmp_path: Path) -> None:
    freezer, app = sealed
    app = copy_of(app)
    canary = tmp_path / "canary"
    if freezer == "pyinstaller":
        target = app / "_internal" / "fzapp" / "cli.py"
        target.write_text(_canary_source(canary) + target.read_text())
    else:
        target = app / "lib" / "fzapp" / "cli.pyc"
        target.write_bytes(_pyc(_canary_source(canary) + (APP / "fzapp" / "cli.py").read_text(), "cli.py"))
    result = run_app(app / "main")
    assert result.returncode == 1
    assert f"{REFUSED} module 'fzapp.cli', file '{target}': its SHA-256 does not match" in result.stderr
    assert EXPECTED not in result.stdout
    assert not canary.exists()


@heavy
def test_changed_archive_member_is_refused_at_start_up(sealed, copy_of, tmp_path: Path) -> None:
    """A module in base_library.zip / library.zip that the app imports later."""
    freezer, app = sealed
    app = copy_of(app)
    canary = tmp_path / "canary"
    if freezer == "pyinstaller":
        archive, member = app / "_internal" / "base_library.zip", "traceback.pyc"
    else:
        archive = app / "lib" / "library.zip"
        with zipfile.ZipFile(archive) as zf:  # pathlib is a package on 3.13+, outside the zip
            member = next(m for m in ("pathlib.pyc", "typing.pyc") if m in zf.namelist())
    _rewrite_member(archive, member, _pyc(_canary_source(canary), member))
    result = run_app(app / "main")
    _refused_before_app(result)
    assert f"file '{archive}': its SHA-256 does not match the signed manifest (modified)" in result.stderr
    assert not canary.exists()


@heavy
def test_archive_members_come_from_the_bytes_checked_at_start_up(sealed, copy_of, tmp_path: Path) -> None:
    """After the start-up check the library zip is not read again: its members come from the
    bytes that were checked whole, so an archive changed on disk later is not what runs."""
    freezer, app = sealed
    app = copy_of(app)
    canary = tmp_path / "canary"
    if freezer == "pyinstaller":
        archive, module = app / "_internal" / "base_library.zip", "traceback"
    else:
        archive = app / "lib" / "library.zip"
        with zipfile.ZipFile(archive) as zf:
            module = next(m for m in ("pprint", "textwrap", "calendar") if f"{m}.pyc" in zf.namelist())
    swapped = tmp_path / "swapped.zip"
    shutil.copy2(archive, swapped)
    _rewrite_member(swapped, f"{module}.pyc", _pyc(_canary_source(canary), f"{module}.py"))
    result = run_app(app / "main", "--swap", str(swapped), module)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:2] == ["app started", f"late import: {module}"]
    assert EXPECTED in result.stdout
    assert not canary.exists()


@heavy
def test_changed_early_archive_member_is_detected(pyinstaller_onedir: Path, copy_of) -> None:
    """``encodings`` is imported by the interpreter before any hook: detected, not prevented.

    (cx_Freeze 8 freezes the interpreter's start-up modules into its executable: the only member
    of library.zip read before the verifier is the init script, that is, the verifier itself.)
    """
    app = copy_of(pyinstaller_onedir)
    archive = app / "_internal" / "base_library.zip"
    with zipfile.ZipFile(archive) as zf:
        original = zf.read("encodings/__init__.pyc")
    # Same code, another timestamp in the header: it still loads, and runs before any check.
    _rewrite_member(archive, "encodings/__init__.pyc", original[:8] + b"\x01\x02\x03\x04" + original[12:])
    result = run_app(app / "main")
    _refused_before_app(result)
    assert f"file '{archive}': its SHA-256 does not match" in result.stderr


@heavy
def test_changed_extension_module_is_refused(sealed, copy_of) -> None:
    freezer, app = sealed
    app = copy_of(app)
    [target] = (_lib(freezer, app) / "yaml").glob("_yaml*.so")
    with open(target, "ab") as fh:
        fh.write(b"\0")
    result = run_app(app / "main")
    assert result.returncode == 1
    assert f"{REFUSED} module 'yaml._yaml', file '{target}': its SHA-256 does not match" in result.stderr
    assert EXPECTED not in result.stdout


@heavy
def test_changed_library_of_an_extension_is_refused(sealed, copy_of) -> None:
    """The library ``_bz2`` needs (PyInstaller: ``_internal/libbz2.so.1.0``, which the dynamic
    linker would find through ``LD_LIBRARY_PATH``; cx_Freeze: ``lib/libbz2-*.so``, through
    ``$ORIGIN``) is verified and loaded before the extension, never read from disk by the linker."""
    freezer, app = sealed
    app = copy_of(app)
    [target] = _lib(freezer, app).glob("libbz2*")
    with open(target, "ab") as fh:
        fh.write(b"\0")
    result = run_app(app / "main")
    assert result.returncode == 1, result.stdout
    assert f"{REFUSED} module '_bz2', file '{target}': its SHA-256 does not match" in result.stderr
    assert EXPECTED not in result.stdout


@heavy
def test_changed_startup_extension_is_detected(sealed, copy_of) -> None:
    """zlib is loaded (for the freezer's own archives) before any hook: detected at start-up."""
    freezer, app = sealed
    app = copy_of(app)
    [target] = _lib(freezer, app).glob("**/zlib.cpython-*.so")
    with open(target, "ab") as fh:
        fh.write(b"\0")
    result = run_app(app / "main")
    _refused_before_app(result)
    assert f"{REFUSED} module 'zlib', file '{target}': its SHA-256 does not match" in result.stderr


@heavy
def test_changed_data_file_is_refused(sealed, copy_of) -> None:
    freezer, app = sealed
    app = copy_of(app)
    target = _lib(freezer, app) / "fzapp" / "data" / "greeting.txt"
    target.write_text("hello from an attacker\n")
    result = run_app(app / "main")
    assert result.returncode == 1
    assert f"{REFUSED} module 'fzapp', file '{target}': its SHA-256 does not match" in result.stderr
    assert "attacker" not in result.stdout


@heavy
def test_added_optional_module_is_refused(sealed, copy_of, tmp_path: Path) -> None:
    freezer, app = sealed
    app = copy_of(app)
    canary = tmp_path / "canary"
    target = _lib(freezer, app) / "fzapp_plugin.py"
    target.write_text(_canary_source(canary) + "NAME = 'evil'\n")
    result = run_app(app / "main")
    assert result.returncode == 1
    expected = f"{REFUSED} module 'fzapp_plugin', file '{target}': not listed in the signed manifest"
    assert expected in result.stderr
    assert not canary.exists()


@heavy
def test_module_swapped_for_another_signed_one_is_refused(sealed, copy_of, tmp_path: Path) -> None:
    """Signed bytes under another name are still refused: the manifest binds path and hash."""
    freezer, app = sealed
    app = copy_of(app)
    lib = _lib(freezer, app) / "fzapp"
    name = "cli.py" if freezer == "pyinstaller" else "cli.pyc"
    (lib / name).write_bytes((lib / ("__init__" + name[3:])).read_bytes())
    result = run_app(app / "main")
    assert result.returncode == 1
    assert f"{REFUSED} module 'fzapp.cli', file '{lib / name}'" in result.stderr


# ------------------------------------------------------------------------ without a freezer


def test_frozen_bootstrap_refuses_to_run_outside_a_frozen_app(tmp_path: Path, keys_light) -> None:
    hook = tmp_path / "hook.py"
    result = signedimp("bootstrap", "--key", str(keys_light), "--frozen", "-o", str(hook))
    assert result.returncode == 0, result.stderr
    ran = subprocess.run([sys.executable, "-I", str(hook)], env=clean_env(), capture_output=True, text=True)
    assert ran.returncode == 1
    assert ran.stderr.strip() == (
        "signedimp refused to start: this frozen-app bootstrap runs only inside a "
        "PyInstaller or cx_Freeze executable (use the plain bootstrap elsewhere)"
    )


def test_frozen_bootstrap_shows_freezers_its_imports(keys_light) -> None:
    """Freezers collect what they see imported: the runtime's imports are spelled out."""
    text = signedimp("bootstrap", "--key", str(keys_light), "--frozen").stdout
    prologue = text.split("def _signedimp_bootstrap():")[0]
    for name in ("hashlib", "struct", "sysconfig", "zipimport", "__future__", "importlib.machinery"):
        assert f"\n    import {name}\n" in prologue
    assert "\ndef run(name):\n" in text  # cx_Freeze's init-script entry point
    assert "_pkg.frozen.install(keys)" in text


def test_frozen_preload_hashlib_only_where_the_app_hashes(monkeypatch) -> None:
    """hashlib (OpenSSL) is preloaded in a onedir or cx_Freeze app, not in a onefile one."""
    from signedimp.tools._bootstrap_frozen_head import _signedimp_frozen_preload

    monkeypatch.delattr(sys, "_MEIPASS", raising=False)
    assert _signedimp_frozen_preload() == ("hashlib",)  # cx_Freeze
    monkeypatch.setattr(sys, "_MEIPASS", "/opt/app/_internal", raising=False)
    assert _signedimp_frozen_preload() == ("hashlib",)  # PyInstaller onedir
    monkeypatch.setattr(sys, "_MEIPASS", "/tmp/_MEIa1b2c3/", raising=False)
    assert _signedimp_frozen_preload() == ()  # PyInstaller onefile


def test_frozen_bootstrap_carries_raw_bytecode(keys_light) -> None:
    """The freezer compiles and compresses the hook: its payloads are bytes literals (no base64),
    each module's bytecode compressed alone and inflated when it runs, and the prelude unpacks
    such payloads."""
    from signedimp import bootstrap_prelude as prelude
    from signedimp.tools._bootstrap import packed, zipped

    text = signedimp("bootstrap", "--key", str(keys_light), "--frozen").stdout
    assert "\n    compiled = ('" in text
    assert text.split("\n    compiled = ('")[1].split("\n")[1].startswith("        b")
    # inflated only if needed (repr quotes with " when the compressed bytes hold a ')
    assert text.split("\n    sources = (\n")[1].startswith(("        b'Z", '        b"Z'))
    items = [("a", b"\x00\xff" * 3), ("bc", b"")]
    assert prelude._unpack({}, packed(items)) == items
    assert prelude._unpack({}, zipped(packed(items))) == items
    code = compile("x = 1", "m.py", "exec")
    assert prelude._inflated(zipped(marshal.dumps(code))) == marshal.dumps(code)
    assert prelude._inflated(marshal.dumps(code)) == marshal.dumps(code)
    assert text.count("_signedimp_gc.disable()") == 1 and "freeze()" not in text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["freeze", "pyinstaller"], "freeze pyinstaller: give the freezer's arguments after '--'"),
        (["freeze", "pyinstaller", "--", "app.spec"], "pyinstaller: a .spec file cannot take the bootstrap"),
        (["freeze", "pyinstaller", "--", "--onefile"], "pyinstaller: no script (.py) among the arguments"),
        (
            ["freeze", "cxfreeze", "--", "--script", "a.py", "--init-script", "x.py"],
            "cxfreeze: --init-script is taken by signedimp's bootstrap",
        ),
    ],
)
def test_freeze_usage_errors(argv, message) -> None:
    result = signedimp(*argv)
    assert result.returncode == 2
    assert result.stderr.startswith(f"signedimp: error: {message}")


@pytest.mark.parametrize("freezer, module", [("pyinstaller", "PyInstaller"), ("cxfreeze", "cx_Freeze")])
def test_freeze_with_a_python_that_lacks_the_freezer_says_how_to_install_it(
    tmp_path, freezer, module
) -> None:
    """The freezer's run fails in an environment without it: the error says so and how to
    install it, instead of only "failed (exit status 1)"."""
    from signedimp.tools._freeze import FreezeError, freeze

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "bare")], check=True)
    python = str(tmp_path / "bare" / "bin" / "python")
    (tmp_path / "app.py").write_text("print('hi')\n")
    args = [str(tmp_path / "app.py")] if freezer == "pyinstaller" else ["--script", str(tmp_path / "app.py")]
    with pytest.raises(FreezeError) as caught:
        freeze(freezer, args, python=python, stdout=subprocess.DEVNULL)
    assert str(caught.value).startswith(f"{freezer}: {module} is not installed for {python} (install it with")
    assert "hatch-signedimp[freeze]" in str(caught.value)


@pytest.fixture
def keys_light(tmp_path: Path) -> Path:
    result = signedimp("keygen", "-o", str(tmp_path / "k.pem"))
    assert result.returncode == 0, result.stderr
    return tmp_path / "k.pem.pub"


EXTENSIONS_ONE_AFTER_ANOTHER = """
import glob, json, os, sys
from importlib.machinery import ModuleSpec
sys.path.insert(0, sys.argv[1])
from signedimp.extensions import WINDOWLESS, create_extension_module
folder = os.path.join(os.path.dirname(os.__file__), "lib-dynload")
names = [n for n in ("_bisect", "_heapq", "_random", "cmath", "_statistics") if n not in sys.modules]
made = []
for name in names:
    found = glob.glob(os.path.join(folder, name + ".cpython-*.so"))
    if found:
        with open(found[0], "rb") as fh:
            made.append(create_extension_module(ModuleSpec(name, None, origin=found[0]), fh.read()).__name__)
print(json.dumps({"windowless": WINDOWLESS, "wanted": names, "made": made}))
"""


def test_extension_modules_load_one_after_another_from_memfds() -> None:
    """Frozen apps load dozens of extensions through the verifier: a memfd's number, reused after
    close, made the dynamic loader hand back the previous library ("does not define PyInit_x")."""
    from .helpers import PROJECT_ROOT

    result = subprocess.run(
        [sys.executable, "-I", "-c", EXTENSIONS_ONE_AFTER_ANOTHER, str(PROJECT_ROOT)],
        env=clean_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    if not out["windowless"] or len(out["made"]) < 2:
        pytest.skip("needs Linux memfds and two stdlib extension modules in lib-dynload")
    assert out["made"] == out["wanted"][: len(out["made"])]  # every one created, in order


def _zip_bytes(members: dict[str, tuple[bytes, int]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, (data, method) in members.items():
            zf.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), data, compress_type=method)
    return buffer.getvalue()


def test_checked_archive_serves_members_from_its_bytes(tmp_path: Path) -> None:
    """A library zip checked whole at start-up: members are sliced from the checked bytes and
    inflated in one call bounded by the declared size; anything unusual goes to the stepwise
    reader, which names the fault, and the member size limit still holds."""
    from signedimp.errors import ZipFormatError
    from signedimp.frozen import _CheckedArchive

    text = b"print('hello')\n" * 500
    data = _zip_bytes({"a.py": (text, zipfile.ZIP_DEFLATED), "b.txt": (b"stored", zipfile.ZIP_STORED)})
    path = str(tmp_path / "gone.zip")  # never read: the archive lives in memory
    archive = _CheckedArchive(path, data)
    assert archive.read("a.py") == text
    assert archive.read("b.txt") == b"stored"
    with pytest.raises(ZipFormatError, match="over the limit of 100 bytes"):
        archive.read("a.py", limit=100)
    with pytest.raises(FileNotFoundError):
        archive.read("missing.py")
    # A local header that names another file: not served, the stepwise reader says why.
    bad = bytearray(data)
    offset = bad.index(b"PK\x03\x04") + 30
    bad[offset : offset + 4] = b"x.py"
    with pytest.raises(ZipFormatError, match="the local header names another file"):
        _CheckedArchive(path, bytes(bad)).read("a.py")
    # A member that inflates past its declared size is refused, never served.
    member = zipfile.ZipFile(io.BytesIO(data)).getinfo("a.py")
    longer = bytearray(data)
    cd = longer.index(b"PK\x01\x02")  # the central directory entry of a.py, the first member
    longer[cd + 24 : cd + 28] = (member.file_size - 10).to_bytes(4, "little")
    with pytest.raises(ZipFormatError, match="inflates to more than its declared size"):
        _CheckedArchive(path, bytes(longer)).read("a.py")


def test_compiled_runtime_takes_future_annotations_as_a_flag() -> None:
    """The embedded bytecode does not import ``__future__`` at run time: the line becomes the
    compiler flag, every other line stays where it was, and annotations stay unevaluated."""
    from signedimp.tools import _bootstrap_compile
    from signedimp.tools._bootstrap import compiled_runtime, runtime_sources

    text = '"""Doc."""\nfrom __future__ import annotations\n\ndef f(x: Missing) -> Gone:\n    return 1 / 0\n'
    code = _bootstrap_compile.compile_module(text, "m.py")
    assert "__future__" not in code.co_names
    namespace: dict = {}
    exec(code, namespace)
    assert namespace["f"].__annotations__ == {"x": "Missing", "return": "Gone"}
    assert namespace["f"].__code__.co_firstlineno == 4
    _magic, codes = compiled_runtime(runtime_sources())
    for name, raw in codes.items():
        assert "__future__" not in marshal.loads(raw).co_names, name
