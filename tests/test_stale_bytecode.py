"""Re-signing after an edit must not keep running the old code (#7.4).

Listed bytecode wins over listed source at run time, so the signer leaves out (folders) or
removes (archives) bytecode whose header does not match the source beside it, and says so.
Real ``compileall`` output, real interpreters, the real CLI.
"""

from __future__ import annotations

import compileall
import json
import os
import py_compile
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from signedimp import MANIFEST_NAME, Manifest, load_public_key
from signedimp.tools import generate_key, sign_directory, sign_wheel, sign_zipfile, verify_path

from .helpers import PROJECT_ROOT, clean_env, run_python, write_tree

TAG = sys.implementation.cache_tag
SIGNEDIMP = [sys.executable, "-m", "signedimp"]

RUN = r"""
import json, sys
sys.path.insert(0, {project!r})
from signedimp import SignedImportManager, load_public_key
del sys.path[0]
SignedImportManager([load_public_key(open({pub!r}, "rb").read())]).install()
sys.path.insert(0, {root!r})
import mod, pkg
print(json.dumps([mod.VALUE, pkg.VALUE, type(mod.__spec__.loader).__name__]))
"""


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stale-keys")
    made = generate_key()
    (folder / "key.pem").write_bytes(made.to_pem())
    (folder / "key.pub").write_bytes(made.public_pem())
    return made, folder / "key.pem", folder / "key.pub"


def _tree(root: Path) -> Path:
    return write_tree(root, {"mod.py": "VALUE = 'old'\n", "pkg/__init__.py": "VALUE = 'pkg'\n"})


def _edit(source: Path, text: str) -> None:
    """Change the source and move its mtime on, as an editor would (no same-second ambiguity)."""
    st = source.stat()
    source.write_text(text)
    os.utime(source, (st.st_atime + 10, st.st_mtime + 10))


def _run(root: Path, pub: Path) -> list:
    proc = run_python(RUN.format(project=str(PROJECT_ROOT), pub=str(pub), root=str(root)))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize(
    "mode",
    [
        py_compile.PycInvalidationMode.TIMESTAMP,
        py_compile.PycInvalidationMode.CHECKED_HASH,
        py_compile.PycInvalidationMode.UNCHECKED_HASH,
    ],
    ids=["timestamp", "checked-hash", "unchecked-hash"],
)
def test_edit_then_resign_runs_the_new_code(tmp_path, key, mode):
    _, pem, pub = key
    root = _tree(tmp_path / "root")
    assert compileall.compile_dir(str(root), quiet=1, invalidation_mode=mode)
    sign = subprocess.run([*SIGNEDIMP, "sign", str(root), "--key", str(pem)], capture_output=True, text=True)
    assert sign.returncode == 0 and "stale" not in sign.stderr, sign.stderr
    assert _run(root, pub) == ["old", "pkg", "VerifyingLoader"]
    _edit(root / "mod.py", "VALUE = 'new'\n")
    sign = subprocess.run(
        [*SIGNEDIMP, "sign", str(root), "--key", str(pem)], capture_output=True, text=True, env=clean_env()
    )
    assert sign.returncode == 0, sign.stderr
    assert sign.stderr == (
        f"signedimp: {root}: left out 1 stale bytecode file (source changed since compiled; "
        f"the listed source is used instead): __pycache__/mod.{TAG}.pyc\n"
    )
    listed = Manifest.parse((root / MANIFEST_NAME).read_bytes())
    assert f"__pycache__/mod.{TAG}.pyc" not in listed
    assert f"pkg/__pycache__/__init__.{TAG}.pyc" in listed  # fresh bytecode stays listed
    assert _run(root, pub) == ["new", "pkg", "VerifyingLoader"]
    assert verify_path(
        root, [load_public_key(key[0].public_pem())]
    ).ok  # unlisted __pycache__ is only reported


def test_same_size_edit_in_a_new_second_is_caught(tmp_path, key):
    """Timestamp bytecode of a same-length edit differs only in the mtime field."""
    made, _, pub = key
    root = _tree(tmp_path / "root")
    compileall.compile_dir(str(root), quiet=1)
    _edit(root / "mod.py", "VALUE = 'NEW'\n")  # same size as 'old'
    sign_directory(root, made)
    assert f"__pycache__/mod.{TAG}.pyc" not in Manifest.parse((root / MANIFEST_NAME).read_bytes())
    assert _run(root, pub)[0] == "NEW"


def test_bytecode_without_source_and_legacy_layout(tmp_path, key, capfd):
    """Sourceless bytecode is kept (nothing to compare); a stale ``X.pyc`` beside ``X.py`` is not."""
    made, _, _ = key
    root = write_tree(tmp_path / "root", {"only.py": "A = 1\n", "beside.py": "B = 1\n"})
    compileall.compile_dir(str(root), quiet=1, legacy=True)
    (root / "only.py").unlink()
    _edit(root / "beside.py", "B = 22\n")
    sign_directory(root, made)
    listed = Manifest.parse((root / MANIFEST_NAME).read_bytes())
    assert "only.pyc" in listed and "beside.py" in listed and "beside.pyc" not in listed
    assert "left out 1 stale bytecode file" in capfd.readouterr().err


def _other_python() -> str | None:
    for version in ("3.11.7", "3.10.13", "3.13.0", "3.12.1"):
        proc = subprocess.run(["pyenv", "prefix", version], capture_output=True, text=True)
        exe = Path(proc.stdout.strip()) / "bin" / "python3"
        if proc.returncode == 0 and exe.is_file():
            out = subprocess.run(
                [str(exe), "-c", "import sys; print(sys.implementation.cache_tag)"],
                capture_output=True,
                text=True,
            )
            if out.stdout.strip() != TAG:
                return str(exe)
    return None


@pytest.mark.parametrize("mode", ["timestamp", "checked-hash"])
def test_bytecode_of_another_python_is_judged_by_its_own_header(tmp_path, key, mode, capfd):
    """Fresh bytecode of another version stays listed (the runtime falls back to source); stale
    bytecode of another version is left out too (its hash is keyed with its own magic)."""
    other = _other_python()
    if other is None:
        pytest.skip("no second Python interpreter (pyenv 3.10/3.11/3.13) on this machine")
    made, _, _ = key
    root = write_tree(tmp_path / "root", {"fresh.py": "F = 1\n", "edited.py": "E = 1\n"})
    proc = subprocess.run(
        [other, "-m", "compileall", "-q", "--invalidation-mode", mode, str(root)],
        capture_output=True,
        text=True,
        env=clean_env(),
    )
    assert proc.returncode == 0, proc.stderr
    caches = sorted(p.name for p in (root / "__pycache__").iterdir())
    assert len(caches) == 2 and not any(TAG in c for c in caches)
    _edit(root / "edited.py", "E = 2\n")
    capfd.readouterr()
    sign_directory(root, made)
    listed = Manifest.parse((root / MANIFEST_NAME).read_bytes())
    pycs = [p for p in listed if p.endswith(".pyc")]
    other_siphash13 = "cpython-31" in caches[0] and not caches[0].split("cpython-3")[1].startswith("10")
    if mode != "timestamp" and other_siphash13 != (sys.version_info >= (3, 11)):
        # The other Python's source hash (SipHash-1-3 from 3.11 on, 2-4 before) cannot be computed
        # here: both are left out, said so as such (not as "stale"), and their listed sources are
        # compiled instead.
        assert pycs == []
        assert capfd.readouterr().err == (
            f"signedimp: {root}: left out 2 unchecked bytecode files (hash-based bytecode whose "
            "source hash this Python cannot compute (SipHash family); the listed source is used "
            f"instead): __pycache__/{caches[0]}, __pycache__/{caches[1]}\n"
        )
    else:
        assert [p.split("/")[1].split(".")[0] for p in pycs] == ["fresh"]
        assert capfd.readouterr().err == (
            f"signedimp: {root}: left out 1 stale bytecode file (source changed since compiled; "
            f"the listed source is used instead): __pycache__/{caches[0]}\n"
        )


def _zip_with_stale_bytecode(tmp_path: Path) -> Path:
    staging = write_tree(
        tmp_path / "staging", {"mod.py": "VALUE = 'old'\n", "pkg/__init__.py": "VALUE = 'pkg'\n"}
    )
    compileall.compile_dir(str(staging), quiet=1, legacy=True)  # zipimport's layout: X.pyc beside X.py
    _edit(staging / "mod.py", "VALUE = 'new'\n")
    archive = tmp_path / "lib.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(staging.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(staging).as_posix())
    return archive


def test_zip_stale_bytecode_is_removed(tmp_path, key, capfd):
    made, _, pub = key
    archive = _zip_with_stale_bytecode(tmp_path)
    sign_zipfile(archive, made)
    assert capfd.readouterr().err == (
        f"signedimp: {archive}: removed 1 stale bytecode file (source changed since compiled; "
        "the listed source is used instead): mod.pyc\n"
    )
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
    assert "mod.pyc" not in names and "pkg/__init__.pyc" in names and "mod.py" in names
    assert verify_path(archive, [load_public_key(made.public_pem())]).ok
    assert _run(archive, pub) == ["new", "pkg", "VerifyingLoader"]


def test_wheel_stale_bytecode_is_removed_and_record_kept_valid(tmp_path, key, capfd):
    made, _, _ = key
    staging = write_tree(
        tmp_path / "staging",
        {
            "w/__init__.py": "VALUE = 'old'\n",
            "w-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: w\nVersion: 1.0\n",
            "w-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: t\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        },
    )
    compileall.compile_dir(str(staging / "w"), quiet=1)
    _edit(staging / "w" / "__init__.py", "VALUE = 'new!'\n")
    files = sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file())
    wheel = tmp_path / "w-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for rel in files:
            zf.write(staging / rel, rel)
        zf.writestr(
            "w-1.0.dist-info/RECORD", "".join(f"{rel},,\n" for rel in files) + "w-1.0.dist-info/RECORD,,\n"
        )
    sign_wheel(wheel, made)
    assert "removed 1 stale bytecode file" in capfd.readouterr().err
    with zipfile.ZipFile(wheel) as zf:
        assert not [n for n in zf.namelist() if n.endswith(".pyc")]
        assert ".pyc" not in zf.read("w-1.0.dist-info/RECORD").decode()
    assert verify_path(wheel, [load_public_key(made.public_pem())]).ok
