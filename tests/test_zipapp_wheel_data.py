"""A signed wheel with ``.data/`` files (scripts, shared data) inside a zipapp or a zip (#7.7).

After ``pip install --target`` a wheel's ``.data/`` files are no longer at their wheel paths,
but its dist-info manifest still lists them there: those are wheel-only paths, never counted
as missing; everything present is still checked. A real hatchling build, the real CLI.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from signedimp.tools import generate_key, sign_wheel

from .helpers import clean_env, write_tree

pytestmark = pytest.mark.slow

SIGNEDIMP = [sys.executable, "-m", "signedimp"]

PROJECT = {
    "pyproject.toml": """
        [build-system]
        requires = ["hatchling"]
        build-backend = "hatchling.build"

        [project]
        name = "datapkg"
        version = "1.0"

        [project.scripts]
        datapkg = "datapkg:main"

        [tool.hatch.build.targets.wheel]
        packages = ["src/datapkg"]

        [tool.hatch.build.targets.wheel.shared-scripts]
        "scripts/datatool" = "datatool"

        [tool.hatch.build.targets.wheel.shared-data]
        "share" = "share/datapkg"
    """,
    "src/datapkg/__init__.py": """
        def main():
            print("datapkg main ran")
    """,
    "scripts/datatool": "#!python\nprint('tool')\n",
    "share/notes.txt": "shared data\n",
}


def _env() -> dict[str, str]:
    return clean_env(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*SIGNEDIMP, *args], capture_output=True, text=True, env=_env(), cwd=cwd, timeout=300
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(folder, signed wheel, private key file, public key file)."""
    folder = tmp_path_factory.mktemp("wheel-data")
    project = write_tree(folder / "datapkg", PROJECT)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-build-isolation",
            "--no-deps",
            f"{project}/",
            "-w",
            "dist",
        ],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=folder,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    (wheel,) = (folder / "dist").glob("datapkg-1.0-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        data = sorted(n for n in zf.namelist() if n.startswith("datapkg-1.0.data/"))
    assert data == ["datapkg-1.0.data/data/share/datapkg/notes.txt", "datapkg-1.0.data/scripts/datatool"]
    key = generate_key()
    (folder / "key.pem").write_bytes(key.to_pem())
    (folder / "key.pub").write_bytes(key.public_pem())
    sign_wheel(wheel, key)
    return folder, wheel, folder / "key.pem", folder / "key.pub"


@pytest.mark.parametrize("compile", [False, True], ids=["sources", "compiled"])
def test_zipapp_of_signed_wheel_with_data_runs_and_verifies(built, compile):
    folder, wheel, pem, pub = built
    app = folder / f"app-{compile}.pyz"
    args = ["zipapp", str(wheel), "-o", str(app), "--key", str(pem), "-c", "datapkg"]
    made = _cli(*args, *(["--compile"] if compile else []), cwd=folder)
    assert made.returncode == 0, made.stderr
    with zipfile.ZipFile(app) as zf:
        assert "datapkg-1.0.dist-info/signedimp-manifest.txt" in zf.namelist()
    ran = subprocess.run(
        [sys.executable, "-I", str(app)], capture_output=True, text=True, env=_env(), timeout=120
    )
    assert (ran.returncode, ran.stdout, ran.stderr) == (0, "datapkg main ran\n", "")
    run = _cli("run", "--key", str(pub), str(app), cwd=folder)
    assert (run.returncode, run.stdout) == (0, "datapkg main ran\n"), run.stderr
    verify = _cli("verify", str(app), "--key", str(pub), cwd=folder)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "missing" not in verify.stdout


def _installed_zip(folder: Path, wheel: Path, name: str, tamper: bool = False) -> Path:
    """A zip of a ``pip install --target`` tree with no root manifest: the wheel's dist-info
    manifest decides, and it lists ``datapkg-1.0.data/...`` paths that are not there."""
    target = folder / f"target-{name}"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-compile",
            "--target",
            str(target),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    archive = folder / f"{name}.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(target.rglob("*")):
            rel = path.relative_to(target).as_posix()
            if path.is_file() and rel.startswith(("datapkg/", "datapkg-1.0.dist-info/")):
                if rel.rpartition("/")[2] in ("INSTALLER", "REQUESTED", "direct_url.json"):
                    continue
                data = path.read_bytes()
                if tamper and rel == "datapkg/__init__.py":
                    data += b"print('tampered')\n"
                zf.writestr(rel, data)
    return archive


def test_zip_of_installed_wheel_does_not_count_data_files_missing(built):
    folder, wheel, _, pub = built
    archive = _installed_zip(folder, wheel, "installed")
    verify = _cli("verify", str(archive), "--key", str(pub), cwd=folder)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "missing" not in verify.stdout
    assert "2 skipped" in verify.stdout


def test_zip_of_installed_wheel_still_checks_what_is_present(built):
    folder, wheel, _, pub = built
    archive = _installed_zip(folder, wheel, "tampered", tamper=True)
    verify = _cli("verify", str(archive), "--key", str(pub), cwd=folder)
    assert verify.returncode != 0
    assert f"{archive}: modified: datapkg/__init__.py" in verify.stdout
