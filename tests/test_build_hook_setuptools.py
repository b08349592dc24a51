"""#12.6: in a setuptools project the `[tool.hatch.build.hooks.signedimp]` table does nothing (only
hatchling runs build hooks); `signedimp sign dist/*.whl` after the build is the way, and the wheel
it signs installs and imports verified."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from .build_hook_util import build_env, output, the_wheel
from .helpers import run_python, write_tree
from .test_cli import signedimp

pytestmark = pytest.mark.heavy  # setuptools comes from the package index (pip's cache keeps it)

NETWORK_TROUBLE = (
    "NewConnectionError",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "No matching distribution found",
    "Could not find a version",
)

PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "setuptools-app"
version = "0.3"

[tool.setuptools]
packages = ["stapp"]

# Ignored: setuptools never runs hatchling's build hooks. Sign the wheel with `signedimp sign`.
[tool.hatch.build.hooks.signedimp]
"""

IMPORT_VERIFIED = """
import sys
sys.path.insert(0, sys.argv[1])
from signedimp import SignedImportManager, load_public_key
SignedImportManager([load_public_key(open(sys.argv[2]).read())]).install()
try:
    import stapp.core
except ImportError as error:
    print("REFUSED", error)
else:
    print(stapp.core.answer(), type(stapp.core.__spec__.loader).__name__)
"""


def test_setuptools_wheel_signed_after_the_build(tmp_path):
    project = write_tree(
        tmp_path / "project",
        {
            "pyproject.toml": PYPROJECT,
            "stapp/__init__.py": "",
            "stapp/core.py": "def answer():\n    return 42\n",
        },
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path / "dist"), str(project)],
        env=build_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0 and any(sign in output(proc) for sign in NETWORK_TROUBLE):
        pytest.skip(f"setuptools must come from the package index:\n{output(proc)[-2000:]}")
    assert proc.returncode == 0, output(proc)
    wheel = the_wheel(tmp_path / "dist")
    with zipfile.ZipFile(wheel) as archive:  # the hook table was ignored: nothing signed
        assert not [n for n in archive.namelist() if n.endswith("signedimp-manifest.txt")]

    assert signedimp("keygen", "-o", tmp_path / "k.pem").returncode == 0
    result = signedimp("sign", *sorted((tmp_path / "dist").glob("*.whl")), "--key", tmp_path / "k.pem")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"signed {wheel}: ")
    with zipfile.ZipFile(wheel) as archive:
        assert "setuptools_app-0.3.dist-info/signedimp-manifest.txt" in archive.namelist()
    verified = signedimp("verify", wheel, "--key", tmp_path / "k.pem.pub")
    assert verified.returncode == 0, verified.stdout

    target = tmp_path / "site"
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
            str(wheel),
        ],
        env=build_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, output(proc)
    for entry in (target, wheel):
        done = run_python(IMPORT_VERIFIED, str(entry), str(tmp_path / "k.pem.pub"))
        assert done.returncode == 0, done.stderr
        assert done.stdout == "42 VerifyingLoader\n"
    core = target / "stapp" / "core.py"
    core.write_text("def answer():\n    return 666\n")
    done = run_python(IMPORT_VERIFIED, str(target), str(tmp_path / "k.pem.pub"))
    assert done.stdout.startswith("REFUSED ") and "modified" in done.stdout
