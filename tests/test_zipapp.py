"""Signed zipapps: real archives built with pip, run by real interpreters, honest and tampered."""

from __future__ import annotations

import base64
import copy
import glob
import hashlib
import json
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from signedimp import get_bootstrap_code
from signedimp.errors import ZipFormatError
from signedimp.manifest import MANIFEST_NAME, Manifest
from signedimp.tools import generate_key, sign_zipfile, verify_path
from signedimp.tools._bootstrap import BYTECODE_MEMBER, RUNTIME_FOLDER, SOURCES_MEMBER
from signedimp.tools._zipapp import APP_MAIN_MODULE, ZipappError, build_zipapp, run_zipapp
from signedimp.zipdir import PREFIX_NAME, read_zip_index

from .helpers import clean_env, write_tree

pytestmark = pytest.mark.slow

APP_FILES = {
    "demoapp/__init__.py": "",
    "demoapp/data/message.txt": "hello from package data\n",
    "demoapp/cli.py": """
        import json
        import sys
        from importlib.resources import files

        import tinydep


        def main():
            args = sys.argv[1:]
            if args[:1] == ["exit"]:
                sys.exit(int(args[1]))
            if args[:1] == ["message"]:
                sys.exit(args[1])
            print(json.dumps({
                "argv": sys.argv,
                "data": files("demoapp").joinpath("data/message.txt").read_text(),
                "dep": tinydep.VALUE,
                "loader": type(__spec__.loader).__name__,
                "dep_loader": type(tinydep.__spec__.loader).__name__,
                "code_file": main.__code__.co_filename,
            }))
            return 0
    """,
}


def make_wheel(
    folder: Path, name: str, files: dict[str, str], requires=(), scripts=None, version: str = "1.0"
) -> Path:
    """A minimal, valid pure-Python wheel written by hand (no build backend, no network)."""
    dist = f"{name}-{version}.dist-info"
    meta = {
        f"{dist}/METADATA": "Metadata-Version: 2.1\nName: %s\nVersion: %s\n%s"
        % (name, version, "".join(f"Requires-Dist: {r}\n" for r in requires)),
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    if scripts:
        meta[f"{dist}/entry_points.txt"] = "[console_scripts]\n" + "".join(
            f"{k} = {v}\n" for k, v in scripts.items()
        )
    contents = {path: _dedent(text).encode() for path, text in {**files, **meta}.items()}
    record = []
    for path, data in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist}/RECORD,,")
    contents[f"{dist}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, data in contents.items():
            zf.writestr(path, data)
    return wheel


def _dedent(text: str) -> str:
    import textwrap

    return textwrap.dedent(text).lstrip("\n") if text.startswith("\n") else text


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("zipapps")


@pytest.fixture(scope="module")
def key():
    return generate_key()


@pytest.fixture(scope="module")
def pub(workdir, key):
    path = workdir / "key.pub"
    path.write_bytes(key.public_pem())
    return path


@pytest.fixture(scope="module")
def wheels(workdir):
    folder = workdir / "wheels"
    folder.mkdir()
    make_wheel(folder, "tinydep", {"tinydep.py": "VALUE = 42\n"})
    return make_wheel(
        folder, "demoapp", APP_FILES, requires=["tinydep"], scripts={"demoapp": "demoapp.cli:main"}
    )


@pytest.fixture(scope="module")
def offline_pip(workdir, wheels):
    """pip finds the dependency in our wheel folder, never on an index; default timestamps."""
    saved = {k: os.environ.get(k) for k in ("PIP_NO_INDEX", "PIP_FIND_LINKS", "SOURCE_DATE_EPOCH")}
    os.environ.pop("SOURCE_DATE_EPOCH", None)
    os.environ.update(PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheels.parent))
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="module")
def apps(workdir, key, wheels, offline_pip):
    """The demo app built from its wheel (dependency from a wheel), without and with bytecode."""
    built = {}
    for compiled in (False, True):
        out = workdir / f"app{'-c' if compiled else ''}.pyz"
        build_zipapp(str(wheels), out, key, compile=compiled)
        built[compiled] = out
    return built


def python(*args, cwd=None, interpreter=None):
    return subprocess.run(
        [interpreter or sys.executable, "-I", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=clean_env(),
        timeout=300,
    )


def signedimp_cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "signedimp", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=clean_env(),
        timeout=300,
    )


def rewrite(src: Path, dst: Path, change=None, add=(), drop=()) -> Path:
    """A copy of the archive with one member's bytes changed / members added (no re-signing)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename in drop:
                continue
            data = zin.read(info)
            if change and info.filename == change[0]:
                data = change[1](data)
            zout.writestr(copy.copy(info), data)  # writestr moves header_offset of the info it gets
        for name, data in add:
            with pytest.warns(UserWarning) if name in zin.namelist() else _nothing():
                zout.writestr(name, data)
    return dst


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# -- the honest path ------------------------------------------------------------------------------


@pytest.mark.parametrize("compiled", [False, True])
def test_app_runs_verified(apps, workdir, compiled):
    app = apps[compiled]
    result = python(app, "a b", "--flag")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["argv"] == [str(app), "a b", "--flag"]
    assert out["data"] == "hello from package data\n"
    assert out["dep"] == 42
    assert out["loader"] == "VerifyingLoader"
    assert out["dep_loader"] == "VerifyingLoader"
    # Bytecode written at build time names the archive relative ("app-c.pyz/demoapp/cli.py");
    # source compiled at run time names the absolute path: so this tells which one ran.
    if compiled:
        assert out["code_file"] == f"{app.name}/demoapp/cli.py"
    else:
        assert out["code_file"] == str(app / "demoapp" / "cli.py")


@pytest.mark.parametrize("compiled", [False, True])
def test_archive_layout(apps, key, compiled):
    with zipfile.ZipFile(apps[compiled]) as zf:
        names = zf.namelist()
        assert names == sorted(names, key=lambda n: n.encode())
        assert {info.date_time for info in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert {info.external_attr >> 16 for info in zf.infolist() if not info.is_dir()} == {0o100644}
        assert "bin/" not in names and not any("__pycache__" in n for n in names)
        manifest = Manifest.parse(zf.read(MANIFEST_NAME))
        files = [n for n in names if not n.endswith("/") and n != MANIFEST_NAME]
        assert sorted(manifest) == sorted([*files, PREFIX_NAME])  # the (empty) prefix is signed too
        assert "__main__.py" in manifest and "tinydep.py" in manifest
        assert ("demoapp/cli.pyc" in manifest) is compiled
        assert manifest.verify(key.public_key) == key.public_key
    assert apps[compiled].read_bytes()[:2] == b"PK"  # no shebang unless -p
    assert verify_path(apps[compiled], [key.public_key]).ok


def test_members_read_at_every_start_are_stored(apps):
    """What a --compile start reads whole (the runtime's bytecode, the root manifest, the
    __main__.pyc zipimport runs) is stored, so no start inflates it; the rest is deflated."""
    with zipfile.ZipFile(apps[True]) as zf:
        stored = {
            i.filename for i in zf.infolist() if i.compress_type == zipfile.ZIP_STORED and not i.is_dir()
        }
        deflated = {i.filename for i in zf.infolist() if i.compress_type == zipfile.ZIP_DEFLATED}
    assert stored == {BYTECODE_MEMBER, MANIFEST_NAME, "__main__.pyc"}
    assert {"__main__.py", SOURCES_MEMBER, "demoapp/cli.pyc", "demoapp/cli.py"} <= deflated


def test_builds_are_byte_identical(workdir, key, wheels, offline_pip, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    first, second = workdir / "r1" / "app.pyz", workdir / "r2" / "app.pyz"  # same name: it is in tracebacks
    for out in (first, second):
        build_zipapp(str(wheels), out, key, compile=True, interpreter="/usr/bin/env python3")
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes().startswith(b"#!/usr/bin/env python3\n")
    assert os.access(first, os.X_OK)
    with zipfile.ZipFile(first) as zf:
        assert {info.date_time for info in zf.infolist()} == {(2023, 11, 14, 22, 13, 20)}


def test_plain_folder_with_its_own_main(workdir, key):
    source = write_tree(
        workdir / "folder_src",
        {
            "__main__.py": "import sys, helper\nprint(__name__, helper.VALUE, sys.argv[1:])\nsys.exit(3)\n",
            "helper.py": "VALUE = 'helped'\n",
            "__pycache__/junk.cpython-311.pyc": b"junk",
        },
    )
    out = workdir / "folder.pyz"
    build_zipapp(str(source), out, key)
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == sorted(
            ["__main__.py", f"{APP_MAIN_MODULE}.py", "helper.py", MANIFEST_NAME]
        )
        # without --compile, __main__.py embeds get_bootstrap_code(keys) verbatim (DESIGN.md)
        main_text = zf.read("__main__.py").decode("utf-8")
    assert get_bootstrap_code(key.public_key) in main_text
    result = python(out, "x")
    assert (result.returncode, result.stdout) == (3, "__main__ helped ['x']\n")
    with pytest.raises(ZipappError, match="__main__.py"):
        build_zipapp(str(source), workdir / "x.pyz", key, main="helper:main")


def test_listed_bytecode_is_what_runs(workdir, key):
    # A folder whose mod.pyc was compiled from *different* source: if the archive's listed
    # bytecode is used (as zipimport would), the marker says so.
    source = write_tree(workdir / "pyc_src", {"mod.py": "MARKER = 'source'\n"})
    compiled = compile("MARKER = 'bytecode'\n", "mod.py", "exec")
    import importlib.util
    import marshal

    header = importlib.util.MAGIC_NUMBER + (0b01).to_bytes(4, "little") + b"\0" * 8  # unchecked hash
    (source / "mod.pyc").write_bytes(header + marshal.dumps(compiled))
    (source / "run.py").write_text("import mod\ndef main():\n    print(mod.MARKER)\n")
    out = workdir / "pyc.pyz"
    build_zipapp(str(source), out, key, main="run:main")
    result = python(out)
    assert (result.returncode, result.stdout, result.stderr) == (0, "bytecode\n", "")


def test_bad_entry_points(workdir, key):
    source = write_tree(workdir / "no_main", {"m.py": "def f(): pass\n"})
    with pytest.raises(ZipappError, match="invalid entry point"):
        build_zipapp(str(source), workdir / "n.pyz", key, main="m")
    with pytest.raises(ZipappError, match="no such file"):
        build_zipapp(str(workdir / "missing.whl"), workdir / "n.pyz", key)
    assert not (workdir / "n.pyz").exists()


def test_exit_codes_and_arguments(apps, pub):
    app = apps[False]
    assert python(app, "exit", "7").returncode == 7
    result = python(app, "message", "bye")
    assert (result.returncode, result.stderr) == (1, "bye\n")
    result = signedimp_cli("run", app, "--key", pub, "exit", "9")
    assert result.returncode == 9, result.stderr
    result = signedimp_cli("run", app, "--key", pub, "--", "--key", "value")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["argv"] == [str(app), "--key", "value"]


def test_run_zipapp_in_process(apps, key, capsys):
    from signedimp import guard

    before = (list(sys.path), list(sys.meta_path), list(sys.argv), guard.active_owners())
    assert run_zipapp(str(apps[True]), [key.public_key], ["exit", "5"]) == 5
    # Nothing stays installed: no manager, and no guard that would refuse the caller's imports.
    assert (list(sys.path), list(sys.meta_path), list(sys.argv), guard.active_owners()) == before
    assert run_zipapp(str(apps[True]), key.public_key, ["x"]) == 0
    assert guard.active_owners() == before[3]
    assert json.loads(capsys.readouterr().out)["argv"] == [str(apps[True]), "x"]


# -- refusals ---------------------------------------------------------------------------------------


def assert_refused(result, *needles):
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "signedimp" in result.stderr and "Traceback" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_modified_module_refused(apps, workdir, pub):
    bad = rewrite(
        apps[False],
        workdir / "modified.pyz",
        change=("demoapp/cli.py", lambda d: d.replace(b"return 0", b"return 0  # evil")),
    )
    assert_refused(python(bad), "demoapp/cli.py", "does not match")
    assert_refused(signedimp_cli("run", bad, "--key", pub), "modified: demoapp/cli.py")


def test_modified_bytecode_refused(apps, workdir, pub):
    bad = rewrite(
        apps[True],
        workdir / "modified-pyc.pyz",
        change=("demoapp/cli.pyc", lambda d: d[:-1] + bytes([d[-1] ^ 1])),
    )
    assert_refused(python(bad), "demoapp/cli.pyc")
    assert_refused(signedimp_cli("run", bad, "--key", pub), "modified: demoapp/cli.pyc")


def test_added_module_refused(apps, workdir, pub):
    bad = rewrite(apps[False], workdir / "added.pyz", add=[("json.py", b"print('shadowed json')\n")])
    assert_refused(python(bad), "json.py", "not listed")
    assert_refused(signedimp_cli("run", bad, "--key", pub), "unlisted: json.py")


def test_removed_file_refused_before_the_app_runs(apps, workdir, pub):
    # A listed file that is gone (here the package data the app reads) is refused by the eager
    # check, before any of the app's code runs, not when the app gets to it.
    bad = rewrite(apps[False], workdir / "removed.pyz", drop={"demoapp/data/message.txt"})
    result = python(bad)
    assert_refused(result, "missing (removed): demoapp/data/message.txt")
    assert result.stdout == ""
    assert_refused(signedimp_cli("run", bad, "--key", pub), "missing: demoapp/data/message.txt")


def test_modified_main_refused(apps, workdir, pub):
    bad = rewrite(
        apps[False],
        workdir / "main.pyz",
        change=("__main__.py", lambda d: d + b"\nprint('unverified code ran')\n"),
    )
    assert_refused(signedimp_cli("run", bad, "--key", pub), "modified: __main__.py")
    # The archive's own check catches a changed __main__.py too (corruption, partial tampering),
    # but an attacker who rewrites __main__.py could remove that check: see docs/frozen-apps.md.
    assert_refused(python(bad), "__main__.py")


def flip_last_byte(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


def test_modified_runtime_member_refused(apps, workdir, pub):
    # --compile apps keep the runtime beside a small __main__: the digest literal in __main__
    # refuses a member before any of it is unmarshalled or compiled.
    bad = rewrite(apps[True], workdir / "runtime.pyz", change=(BYTECODE_MEMBER, flip_last_byte))
    assert_refused(python(bad), BYTECODE_MEMBER, "does not match the SHA-256 pinned in __main__")
    assert_refused(signedimp_cli("run", bad, "--key", pub), f"modified: {BYTECODE_MEMBER}")


def test_modified_runtime_sources_refused_when_bytecode_cannot_be_used(apps, workdir, pub):
    # A --compile app reads its runtime sources only when the bytecode does not fit (here: -O).
    bad = rewrite(apps[True], workdir / "runtime-sources.pyz", change=(SOURCES_MEMBER, flip_last_byte))
    assert_refused(python("-O", bad), SOURCES_MEMBER, "does not match the SHA-256 pinned in __main__")
    assert_refused(signedimp_cli("run", bad, "--key", pub), f"modified: {SOURCES_MEMBER}")


def test_missing_runtime_member_refused(apps, workdir, pub):
    bad = rewrite(apps[True], workdir / "no-runtime.pyz", drop={BYTECODE_MEMBER})
    assert_refused(python(bad), BYTECODE_MEMBER, "missing")
    assert_refused(signedimp_cli("run", bad, "--key", pub), f"missing: {BYTECODE_MEMBER}")


def test_runtime_bytecode_for_another_python_falls_back_to_sources(workdir, key, monkeypatch):
    # Bytecode with another magic number is never read (so not even a corrupt copy matters,
    # which would otherwise be refused against its pinned SHA-256): the runtime is compiled from
    # the pinned sources member.
    from signedimp.tools import _bootstrap as bootstrap

    real = bootstrap.compiled_runtime
    monkeypatch.setattr(bootstrap, "compiled_runtime", lambda sources: (b"\0\0\r\n", real(sources)[1]))
    source = write_tree(
        workdir / "other_magic_src",
        {"hi.py": "import sys\ndef main():\n    print(type(sys.meta_path[0]).__name__)\n"},
    )
    out = workdir / "other-magic.pyz"
    build_zipapp(str(source), out, key, main="hi:main", compile=True)
    result = python(
        rewrite(out, workdir / "other-magic-corrupt.pyz", change=(BYTECODE_MEMBER, flip_last_byte))
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "SignedImportManager\n", "")


def test_reserved_runtime_folder(workdir, key):
    source = write_tree(workdir / "reserved_src", {"m.py": "def f(): pass\n", f"{RUNTIME_FOLDER}/x.txt": "x"})
    with pytest.raises(ZipappError, match=RUNTIME_FOLDER):
        build_zipapp(str(source), workdir / "r.pyz", key, main="m:f")


def test_wrong_key_refused(apps, workdir):
    other = workdir / "other.pub"
    other.write_bytes(generate_key().public_pem())
    assert_refused(signedimp_cli("run", apps[False], "--key", other), "trusted key")


def test_truncated_archive_refused(apps, workdir, pub):
    bad = workdir / "truncated.pyz"
    bad.write_bytes(apps[False].read_bytes()[:-200])
    assert_refused(signedimp_cli("run", bad, "--key", pub), "not a valid zip")
    assert python(bad).returncode != 0


def test_duplicate_entries_refused(apps, workdir, pub):
    bad = rewrite(apps[False], workdir / "dup.pyz", add=[("demoapp/cli.py", b"print('second copy')\n")])
    assert_refused(python(bad), "duplicate")
    result = signedimp_cli("run", bad, "--key", pub)
    assert result.returncode == 1 and "duplicate" in result.stderr.lower(), result.stderr


def test_duplicate_hidden_from_the_end_record_count_refused(apps, workdir):
    """An extra central directory entry (a second copy of the first) that the end record does
    not count: zipimport before 3.13, which reads entries up to the end record's signature and
    keeps the last of two equal names, holds exactly as many names as the end record counts, so that
    comparison cannot tell such an archive from a sound one (why the verifier does not build
    its index from zipimport's cache, docs/internals.md). The verifier's own reader counts
    entries and bytes: refused before the app runs."""
    data = apps[True].read_bytes()
    end = struct.unpack("<4s4H2IH", data[-22:])
    assert end[0] == b"PK\x05\x06" and end[-1] == 0  # no comment, no ZIP64
    entries, cd_size = end[4], end[5]
    cd_start = len(data) - 22 - cd_size
    first = struct.unpack_from("<4s6H3I5H2I", data, cd_start)
    record = data[cd_start : cd_start + 46 + first[10] + first[11] + first[12]]
    bad = workdir / "hidden-duplicate.pyz"
    bad.write_bytes(
        data[: cd_start + len(record)]
        + record
        + data[cd_start + len(record) : -22]
        + struct.pack("<4s4H2IH", *end[:5], cd_size + len(record), *end[6:])
    )
    counted = subprocess.run(
        [sys.executable, "-I", "-c", "import sys, zipimport\nzipimport.zipimporter(sys.argv[1])\n"
         "print(len(zipimport._zip_directory_cache[sys.argv[1]]))", str(bad)],
        capture_output=True, text=True, env=clean_env(),
    )  # fmt: skip
    with pytest.raises(ZipFormatError, match="central directory size does not match its entries"):
        read_zip_index(bad)
    if sys.version_info >= (3, 13):
        # zipimport counts the entries there and refuses the archive itself: Python then reads
        # the file as a script, and nothing of the app runs
        assert counted.returncode == 1 and "mismatched num_entries" in counted.stderr, counted.stderr
        ran = python(bad)
        assert ran.returncode != 0 and "SyntaxError" in ran.stderr, ran.stderr
    else:
        assert counted.returncode == 0, counted.stderr
        assert int(counted.stdout) == entries
        assert_refused(python(bad), "central directory size does not match its entries")


def test_rebuilt_and_resigned_by_attacker_refused(apps, workdir, pub):
    # Modified and signed again with the attacker's own key: the launcher's pinned key says no.
    bad = rewrite(
        apps[False], workdir / "attacker.pyz", change=("demoapp/cli.py", lambda d: d + b"\nprint('evil')\n")
    )
    sign_zipfile(bad, generate_key())
    assert_refused(signedimp_cli("run", bad, "--key", pub), "trusted key")


# -- python -m zipapp + signedimp sign ----------------------------------------------------------------


def test_sign_plain_zipapp_then_run(workdir, key, pub):
    source = write_tree(
        workdir / "plain_src",
        {
            "pkg/__init__.py": "",
            "pkg/cli.py": "import sys\ndef main():\n    print(type(__spec__.loader).__name__, sys.argv[1:])\n"
            "    sys.exit(4)\n",
        },
    )
    plain = workdir / "plain.pyz"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "zipapp",
            str(source),
            "-m",
            "pkg.cli:main",
            "-o",
            str(plain),
            "-p",
            "/usr/bin/env python3",
        ],
        check=True,
    )
    result = signedimp_cli("sign", plain, "--key", _private(workdir, key))
    assert result.returncode == 0, result.stderr
    assert plain.read_bytes().startswith(b"#!/usr/bin/env python3\n")
    result = signedimp_cli("run", plain, "--key", pub, "arg")
    assert (result.returncode, result.stdout) == (4, "VerifyingLoader ['arg']\n"), result.stderr
    bad = rewrite(plain, workdir / "plain-bad.pyz", change=("pkg/cli.py", lambda d: d + b"\n"))
    assert_refused(signedimp_cli("run", bad, "--key", pub), "modified: pkg/cli.py")


def _private(workdir: Path, key) -> Path:
    path = workdir / "key.pem"
    if not path.exists():
        path.write_bytes(key.to_pem())
    return path


def test_cli_zipapp(workdir, key, pub):
    source = write_tree(workdir / "cli_src", {"hello.py": "def main():\n    print('hi')\n"})
    out = workdir / "cli.pyz"
    result = signedimp_cli(
        "zipapp",
        source,
        "-o",
        out,
        "--key",
        _private(workdir, key),
        "-m",
        "hello:main",
        "-p",
        "/usr/bin/python3",
    )
    assert result.returncode == 0, result.stderr
    assert out.read_bytes().startswith(b"#!/usr/bin/python3\n")
    assert python(out).stdout == "hi\n"
    assert signedimp_cli("run", out, "--key", pub).stdout == "hi\n"


# -- a real application: pip ----------------------------------------------------------------------------


def pip_sources() -> list[str]:
    """pip from PyPI (current, what users ship), then pip's own wheel from ensurepip (offline)."""
    import ensurepip

    bundled = glob.glob(os.path.join(os.path.dirname(ensurepip.__file__), "_bundled", "pip-*.whl"))
    return ["pip", *bundled]


@pytest.fixture(scope="module")
def pip_app(workdir, key):
    out = workdir / "pip.pyz"
    saved = {k: os.environ.pop(k, None) for k in ("PIP_NO_INDEX", "PIP_FIND_LINKS")}
    try:
        for source in pip_sources():
            try:
                build_zipapp(source, out, key, compile=True)
                return out
            except ZipappError:  # pragma: no cover - no index reachable: try the next source
                continue
        pytest.skip("cannot get pip (no index reachable and no bundled wheel)")  # pragma: no cover
    finally:
        os.environ.update({k: v for k, v in saved.items() if v is not None})


def test_pip_runs_from_a_signed_zipapp(pip_app, pub):
    result = python(pip_app, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("pip ") and str(pip_app) in result.stdout
    result = python("-X", "importtime", pip_app, "list", "--disable-pip-version-check")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Package" in result.stdout
    pip_modules = [
        line for line in result.stderr.splitlines() if line.rstrip().split("|")[-1].strip().startswith("pip")
    ]
    assert len(pip_modules) >= 100
    result = signedimp_cli("run", pip_app, "--key", pub, "--version")
    assert result.returncode == 0 and result.stdout.startswith("pip "), result.stderr


def test_rsa_key_extra_keys_and_output_inside_source(workdir, key):
    rsa = generate_key("rsa", bits=2048)
    next_key = generate_key()
    source = write_tree(workdir / "keys_src", {"hello.py": "def main():\n    print('hi')\n"})
    out = source / "inside.pyz"  # inside the folder it is built from: never packed into itself
    manifest = build_zipapp(str(source), out, rsa, main="hello:main", extra_keys=[key, next_key.public_key])
    assert sorted(sig.fingerprint for sig in manifest.signatures) == sorted(
        [rsa.fingerprint, key.fingerprint]
    )
    build_zipapp(str(source), out, rsa, main="hello:main", extra_keys=[key, next_key.public_key])
    with zipfile.ZipFile(out) as zf:
        assert "inside.pyz" not in zf.namelist()
        main = zf.read("__main__.py").decode()
    for fingerprint in (rsa.fingerprint, key.fingerprint, next_key.fingerprint):
        assert fingerprint in main  # all three pinned in the embedded bootstrap
    assert python(out).stdout == "hi\n"
    for signer in (rsa, key):  # either co-signature satisfies a launcher that trusts only that key
        assert run_zipapp(str(out), [signer.public_key], []) == 0


def test_project_folder_is_installed_by_pip(workdir, key, monkeypatch):
    project = write_tree(
        workdir / "project_src",
        {
            "pyproject.toml": '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
            '[project]\nname = "proj-app"\nversion = "1.0"\n'
            '[project.scripts]\nproj-app = "projapp:main"\n'
            '[tool.hatch.build.targets.wheel]\npackages = ["src/projapp"]\n',
            "src/projapp/__init__.py": "def main():\n    print('project ok')\n",
        },
    )
    monkeypatch.setenv("PIP_NO_BUILD_ISOLATION", "0")  # pip's spelling of --no-build-isolation: offline
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    out = workdir / "project.pyz"
    build_zipapp(str(project), out, key)  # entry point: the project's only console script
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
    assert "projapp/__init__.py" in names and "proj_app-1.0.dist-info/METADATA" in names
    assert not any(n.startswith("bin/") for n in names)
    assert python(out).stdout == "project ok\n"


def test_app_installed_meta_path_finder_for_aliases(workdir, key):
    # six.moves does this (in the urllib3 that pip <= 24 vendors): modules made in memory by a
    # finder the verified app installed; there is no file to check, and they must still work.
    source = write_tree(
        workdir / "alias_src",
        {
            "aliases.py": """
            import importlib.util
            import sys

            class AliasFinder:  # the shape of six.moves: serve a stdlib module under another name
                def find_spec(self, fullname, path=None, target=None):
                    if fullname == "moved_http_client":
                        return importlib.util.spec_from_loader(fullname, self)
                    return None

                def create_module(self, spec):
                    import http.client
                    return http.client

                def exec_module(self, module):
                    pass

            sys.meta_path.append(AliasFinder())
        """,
            "run.py": "import aliases\nimport moved_http_client\n\ndef main():\n    print(moved_http_client.__name__)\n",
        },
    )
    out = workdir / "alias.pyz"
    build_zipapp(str(source), out, key, main="run:main")
    result = python(out)
    assert (result.returncode, result.stdout) == (0, "http.client\n"), result.stderr


# -- shiv/pex-style inputs: many SOURCEs, -r, -c, --pip-arg, no entry point (issue 11) ------------------


@pytest.fixture(scope="module")
def index(workdir):
    """A folder of wheels that pip uses as its only index (through --pip-arg, not the environment).

    ``tinydep`` exists as 1.0 and 2.0; ``pinned`` needs ``tinydep<2`` and ``loose`` any tinydep,
    so only ONE resolution of both gives 1.0 to both; each ships a console script, and so does
    ``tinydep`` 1.0 (a dependency's script is never the default entry point); ``plainlib``
    (``tinydep<2``) has none.
    """
    folder = workdir / "index"
    folder.mkdir()
    make_wheel(
        folder,
        "tinydep",
        {"tinydep.py": "VALUE = 1\ndef tool():\n    print('tinydep tool')\n"},
        scripts={"tinydep-tool": "tinydep:tool"},
    )
    make_wheel(folder, "tinydep", {"tinydep.py": "VALUE = 2\n"}, version="2.0")
    make_wheel(
        folder,
        "pinned",
        {"pinned.py": "import sys, tinydep\ndef main():\n    print('pinned', tinydep.VALUE, sys.argv[1:])\n"},
        requires=["tinydep<2"],
        scripts={"pinned": "pinned:main"},
    )
    make_wheel(
        folder,
        "loose",
        {"loose.py": "import tinydep\ndef main():\n    print('loose', tinydep.VALUE)\n"},
        requires=["tinydep"],
        scripts={"loose": "loose:main"},
    )
    make_wheel(folder, "plainlib", {"plainlib.py": "import tinydep\n"}, requires=["tinydep<2"])
    return folder


@pytest.fixture
def no_pip_env(monkeypatch):
    """Nothing from the environment tells pip where to look: only --pip-arg does."""
    for name in ("PIP_NO_INDEX", "PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"):
        monkeypatch.delenv(name, raising=False)


def offline(index: Path) -> list[str]:
    return ["--no-index", f"--find-links={index}", "--isolated"]


def test_sources_and_requirements_resolved_by_one_pip_install(workdir, key, index, no_pip_env):
    requirements = workdir / "requirements.txt"
    requirements.write_text("loose\n")
    extra = write_tree(workdir / "extra_folder", {"extra.py": "NOTE = 'from a plain folder'\n"})
    out = workdir / "many.pyz"
    manifest = build_zipapp(
        [str(index / "pinned-1.0-py3-none-any.whl"), str(extra)],
        out,
        key,
        requirements=[requirements],
        pip_args=offline(index),
        console_script="loose",
    )
    names = set(manifest.hashes)
    assert {"pinned.py", "loose.py", "tinydep.py", "extra.py", "tinydep-1.0.dist-info/METADATA"} <= names
    result = python(out)
    assert (result.returncode, result.stdout) == (0, "loose 1\n"), result.stderr  # one resolution: 1.0


def test_console_script_by_name_from_any_distribution(workdir, key, index, no_pip_env):
    out = workdir / "script.pyz"
    build_zipapp(["pinned"], out, key, pip_args=offline(index), console_script="tinydep-tool")
    assert python(out).stdout == "tinydep tool\n"
    # No -c: the sources' own script, even though a dependency declares one too.
    build_zipapp(["pinned"], out, key, pip_args=offline(index))
    assert python(out, "x").stdout == "pinned 1 ['x']\n"
    result = signedimp_cli(
        "zipapp",
        "pinned",
        "-o",
        out,
        "--key",
        _private(workdir, key),
        "--pip-arg=--no-index",
        f"--pip-arg=--find-links={index}",
        "-c",
        "tinydep-tool",
    )
    assert result.returncode == 0, result.stderr
    assert python(out).stdout == "tinydep tool\n"


def test_ambiguous_and_unknown_console_scripts_list_the_candidates(workdir, key, index, no_pip_env):
    with pytest.raises(ZipappError) as info:
        build_zipapp(["pinned", "loose"], workdir / "x.pyz", key, pip_args=offline(index))
    assert str(info.value) == (
        "several console scripts in the sources: loose=loose:main (loose), "
        "pinned=pinned:main (pinned); choose one with -c NAME (or -m pkg.mod:fn)"
    )
    with pytest.raises(ZipappError) as info:
        build_zipapp(["pinned"], workdir / "x.pyz", key, pip_args=offline(index), console_script="nope")
    assert str(info.value) == (
        "-c nope: no installed distribution declares a console script of that name "
        "(declared: pinned=pinned:main (pinned), tinydep-tool=tinydep:tool (tinydep))"
    )
    with pytest.raises(ZipappError, match="alternatives"):
        build_zipapp(["pinned"], workdir / "x.pyz", key, main="a:b", console_script="pinned")
    result = signedimp_cli(
        "zipapp",
        "pinned",
        "-o",
        workdir / "x.pyz",
        "--key",
        _private(workdir, key),
        "-m",
        "a:b",
        "-c",
        "pinned",
    )
    assert result.returncode == 2 and "not allowed with argument" in result.stderr, result.stderr
    assert not (workdir / "x.pyz").exists()


def test_no_entry_point_runs_like_python(workdir, key, index, no_pip_env):
    # Only a dependency declares a script: no default entry point, as with shiv and pex the app
    # runs like python (-m MODULE, -c CODE, interactive), every import verified.
    folder = write_tree(
        workdir / "lib_folder", {"lib.py": "import sys\nprint('lib run', __name__, sys.argv)\n"}
    )
    out = workdir / "python.pyz"
    notes: list[str] = []
    build_zipapp([str(folder), "plainlib"], out, key, pip_args=offline(index), log=notes.append)
    assert notes == [
        f"{out}: no entry point (-c, -m, __main__.py, or one console script of the sources): "
        "it runs like python: `python.pyz -m MODULE`, `python.pyz -c CODE`, or interactive; "
        "console scripts that -c can choose: tinydep-tool=tinydep:tool (tinydep)"
    ]
    code = "import sys, plainlib, tinydep; print(tinydep.VALUE, type(tinydep.__spec__.loader).__name__, sys.argv)"
    result = python(out, "-c", code, "a")
    assert (result.returncode, result.stdout) == (0, "1 VerifyingLoader ['-c', 'a']\n"), result.stderr
    result = python(out, "-m", "lib", "b")
    assert (result.returncode, result.stdout) == (0, f"lib run __main__ ['{out}/lib.py', 'b']\n"), (
        result.stderr
    )
    result = subprocess.run(
        [sys.executable, "-I", str(out)],
        input="import tinydep\nprint(tinydep.VALUE * 3)\n",
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
    )
    assert (result.returncode, result.stdout) == (0, "3\n"), result.stderr
    result = signedimp_cli("run", out, "--key", _public(workdir, key), "-c", code)
    assert (result.returncode, result.stdout) == (0, "1 VerifyingLoader ['-c']\n"), result.stderr
    result = python(out, "--what")
    assert result.returncode == 2 and result.stderr.startswith("usage: "), result.stderr
    bad = rewrite(out, workdir / "python-bad.pyz", change=("tinydep.py", lambda d: d + b"\nprint('evil')\n"))
    result = python(bad, "-c", "import tinydep")
    assert result.returncode == 1 and "tinydep.py" in result.stderr and "evil" not in result.stdout


def _public(workdir: Path, key) -> Path:
    path = workdir / "key.pub"
    if not path.exists():
        path.write_bytes(key.public_pem())
    return path


def test_pip_failure_and_missing_requirements_file(workdir, key, index, no_pip_env):
    with pytest.raises(ZipappError, match=r"-r .*nothing\.txt: no such requirements file"):
        build_zipapp([], workdir / "x.pyz", key, requirements=[workdir / "nothing.txt"])
    with pytest.raises(ZipappError, match=r"pip install of 'not-in-the-index' failed \(exit status 1\)"):
        build_zipapp(["not-in-the-index"], workdir / "x.pyz", key, pip_args=offline(index))
    with pytest.raises(ZipappError, match="nothing to build"):
        build_zipapp([], workdir / "x.pyz", key)
    (workdir / "reqs.txt").write_text("pinned\n")
    with pytest.raises(
        ZipappError,
        match=r"reqs\.txt: not a folder, a project or a wheel \(\.whl\) "
        r"\(a requirements file goes after -r\)",
    ):
        build_zipapp([str(workdir / "reqs.txt")], workdir / "x.pyz", key)
    assert not (workdir / "x.pyz").exists()


def test_direct_reference_is_a_requirement(workdir, key, index, no_pip_env):
    from signedimp.tools._zipapp import classify_source

    wheel = index / "pinned-1.0-py3-none-any.whl"
    assert classify_source(f"pinned @ {wheel.as_uri()}") == "requirement"
    assert classify_source("git+https://example.invalid/x.git") == "requirement"
    out = workdir / "direct.pyz"
    build_zipapp([f"pinned @ {wheel.as_uri()}"], out, key, pip_args=offline(index))
    assert python(out).stdout == "pinned 1 []\n"


def test_two_folders_with_the_same_file_are_refused(workdir, key):
    one = write_tree(workdir / "clash1", {"same.py": "A = 1\n", "run.py": "def main(): pass\n"})
    two = write_tree(workdir / "clash2", {"same.py": "A = 2\n"})
    with pytest.raises(ZipappError, match="same.py is also in another source"):
        build_zipapp([str(one), str(two)], workdir / "x.pyz", key, main="run:main")


def test_another_platform(workdir, key, index, no_pip_env):
    # Pure wheels fit any platform: pip picks for the target (binary wheels only, as pip requires).
    out = workdir / "cross.pyz"
    target = ["--platform=win_amd64", "--python-version=3.10", "--implementation=cp"]
    build_zipapp(["pinned"], out, key, pip_args=[*offline(index), *target])
    assert python(out).stdout == "pinned 1 []\n"
    here = "{}.{}".format(*sys.version_info[:2])
    other = "3.8" if here != "3.8" else "3.9"
    with pytest.raises(ZipappError) as info:
        build_zipapp(
            ["pinned"], out, key, compile=True, pip_args=[*offline(index), f"--python-version={other}"]
        )
    assert str(info.value) == (
        f"--compile writes bytecode for the building Python {here}, not for --python-version {other}: "
        f"build with Python {other}, or leave out --compile (the app then compiles its verified sources "
        "when it runs)"
    )
    build_zipapp(["pinned"], out, key, compile=True, pip_args=[*offline(index), "--python-version", here])
    assert python(out).stdout == "pinned 1 []\n"


def test_extension_modules_are_included_and_announced(workdir, key):
    # Bytes that merely look like extension modules: the build lists and signs them like any file.
    tag = "cpython-312-x86_64-linux-gnu"
    source = write_tree(
        workdir / "ext_src",
        {
            "run.py": "def main():\n    print('ok')\n",
            f"pkg/_fast.{tag}.so": b"\x7fELF not really",
            "pkg/__init__.py": "",
            f"pkg/sub/_more.{tag}.so": b"\x7fELF",
            "pkg.libs/libhelper-1a2b3c4d.so.1": b"\x7fELF",
        },
    )
    out = workdir / "ext.pyz"
    result = signedimp_cli("zipapp", source, "-o", out, "--key", _private(workdir, key), "-m", "run:main")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == (
        f"{out} includes 2 extension modules (pkg._fast, pkg.sub._more) and 1 bundled shared library "
        f"(pkg.libs/), built for {tag}; they load from the archive, verified"
    )
    with zipfile.ZipFile(out) as zf:
        manifest = Manifest.parse(zf.read(MANIFEST_NAME))
    assert f"pkg/_fast.{tag}.so" in manifest and "pkg.libs/libhelper-1a2b3c4d.so.1" in manifest
    assert verify_path(out, [key.public_key]).ok


# -- `signedimp run` of what is not a signed zipapp; --help -----------------------------------------------


def test_run_says_what_it_was_given(workdir, key, pub, wheels):
    result = signedimp_cli("run", wheels, "--key", pub)
    assert result.returncode == 2
    assert result.stderr == (
        f"signedimp: error: {wheels}: a wheel, not a zipapp (it has no __main__.py): check it with "
        f"`signedimp verify {wheels} --key PUB.pem` and install it with pip, or make an app of it with "
        f"`signedimp zipapp {wheels} -o APP.pyz --key KEY.pem`\n"
    )
    plain_zip = workdir / "data.zip"
    with zipfile.ZipFile(plain_zip, "w") as zf:
        zf.writestr("readme.txt", "hi")
    result = signedimp_cli("run", plain_zip, "--key", pub)
    assert (result.returncode, result.stderr) == (
        2,
        (
            f"signedimp: error: {plain_zip}: a zip archive without __main__.py, not a zipapp; build a signed "
            "zipapp with `signedimp zipapp SOURCE... -o APP.pyz --key KEY.pem`\n"
        ),
    )
    unsigned = workdir / "unsigned.pyz"
    source = write_tree(workdir / "unsigned_src", {"__main__.py": "print('unsigned ran')\n"})
    subprocess.run([sys.executable, "-m", "zipapp", str(source), "-o", str(unsigned)], check=True)
    result = signedimp_cli("run", unsigned, "--key", pub)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"signedimp: error: {unsigned}: a zipapp that is not signed (it has no signedimp-manifest.txt): "
        f"sign it with `signedimp sign {unsigned} --key KEY.pem`, or build a signed zipapp with "
        "`signedimp zipapp SOURCE... -o APP.pyz --key KEY.pem`\n"
    )
    text_file = workdir / "notes.txt"
    text_file.write_text("not a zip\n")
    assert_refused(signedimp_cli("run", text_file, "--key", pub), "not a valid zip")


def test_zipapp_help_describes_every_source():
    result = signedimp_cli("zipapp", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for phrase in (
        "a folder copied as it is",
        "a project a folder with pyproject.toml",
        "a wheel a .whl file",
        "a requirement a name with an optional version",
        "-r REQUIREMENTS",
        "--pip-arg ARG",
        "-c CONSOLE_SCRIPT",
        "-m pkg.mod:fn",
        "load from the archive, verified",
        "runs like python",
    ):
        assert phrase in text, phrase


# -- the generated __main__ is a real module (issue 9.2) ---------------------------------------------------


def test_main_is_the_module_with_only_its_generated_block_replaced(workdir, key):
    from signedimp.tools import _zipapp, _zipapp_main

    template = Path(_zipapp_main.__file__).read_text(encoding="utf-8")
    text, members = _zipapp.main_module_source([key.public_key], "pkg.cli:main")
    assert members == {}
    begin = template.index(_zipapp.GENERATED_BEGIN)
    end = template.index("\n", template.index(_zipapp.GENERATED_END)) + 1
    generated = get_bootstrap_code(key.public_key) + "\n\nENTRY = ('call', 'pkg.cli', 'main')\n"
    header = (
        "# Generated by `signedimp zipapp` from signedimp/tools/_zipapp_main.py; listed and signed in "
        "signedimp-manifest.txt like every other entry.\n"
    )
    assert text == header + template[:begin] + generated + template[end:]
    compile(text, "__main__.py", "exec")
    # As a module it imports with its stand-ins (nothing runs), as linters and type checkers see it.
    assert _zipapp_main.ENTRY == ("call", "example.cli", "main") and _zipapp_main._signedimp_manager is None
    assert _zipapp_main.archive_path({"__file__": "/x/app.pyz/__main__.py"}) == "/x/app.pyz"
    with pytest.raises(AssertionError, match="exactly one generated block"):
        _zipapp.fill_template("import sys\n", "X = 1\n")


def test_interrupted_write_leaves_the_previous_archive(workdir, key, monkeypatch):
    from signedimp.tools import _zipapp

    source = write_tree(workdir / "atomic_src", {"hello.py": "def main():\n    print('first')\n"})
    out = workdir / "atomic" / "app.pyz"
    build_zipapp(str(source), out, key, main="hello:main")
    before = out.read_bytes()
    calls = []

    def failing(name, date_time):
        calls.append(name)
        if len(calls) == 3:
            raise OSError("disk full")
        return zipfile.ZipInfo(name, date_time)

    monkeypatch.setattr(_zipapp, "zip_info", failing)
    (source / "hello.py").write_text("def main():\n    print('second')\n")
    with pytest.raises(OSError, match="disk full"):
        build_zipapp(str(source), out, key, main="hello:main")
    assert out.read_bytes() == before
    assert os.listdir(out.parent) == ["app.pyz"]


def test_no_entry_point_on_a_terminal_is_interactive(workdir, key):
    import select
    import time

    folder = write_tree(workdir / "repl_src", {"lib.py": "VALUE = 6\n"})
    out = workdir / "repl.pyz"
    build_zipapp([str(folder)], out, key)
    fd, terminal = os.openpty()  # no fork of this (threaded) process: a child on the terminal
    child = subprocess.Popen(
        [sys.executable, "-I", str(out)],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=clean_env(),
        start_new_session=True,
    )
    os.close(terminal)
    lines = [b"import lib\n", b"print(lib.VALUE * 7, type(lib.__spec__.loader).__name__)\n", b"\x04"]
    output, deadline, status = b"", time.monotonic() + 120, None
    try:
        while time.monotonic() < deadline:
            if lines and output.count(b">>> ") >= 4 - len(lines):  # a new prompt: type the next line
                os.write(fd, lines.pop(0))
            ready, _, _ = select.select([fd], [], [], 1)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # the child has closed the terminal
                    break
                if not chunk:
                    break
                output += chunk
        try:
            status = child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            status = None
    finally:
        if status is None:  # still running (or the test failed): never leave it behind
            child.kill()
            child.wait()
        os.close(fd)
    text = output.decode(errors="replace")
    assert status == 0, text
    assert f"{out} is on sys.path, its modules verified" in text
    assert "42 VerifyingLoader" in text


def test_only_empty_folders_get_an_entry(workdir, key):
    """A folder with a file below it is implied by the file's name: no entry of its own (fewer
    entries to read at every start); an empty folder keeps one. Packages, deep modules and
    namespace packages import as before."""
    source = write_tree(
        workdir / "folders_src",
        {
            "app/__init__.py": (
                "def main():\n"
                "    import app.deep.er.mod as a, ns.portion.mod as b\n"
                "    print(a.VALUE, b.VALUE)\n"
            ),
            "app/deep/er/mod.py": "VALUE = 'deep'\n",
            "ns/portion/mod.py": "VALUE = 'namespace'\n",
        },
    )
    (source / "empty" / "inner").mkdir(parents=True)
    out = workdir / "folders.pyz"
    build_zipapp(str(source), out, key, main="app:main")
    with zipfile.ZipFile(out) as zf:
        folders = [name for name in zf.namelist() if name.endswith("/")]
    assert folders == ["empty/inner/"]
    result = python(out)
    assert (result.returncode, result.stdout) == (0, "deep namespace\n"), result.stderr
