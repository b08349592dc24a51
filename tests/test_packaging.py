"""The wheel of this project: typed packages (PEP 561) and the bootstrap's source module ship."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from .helpers import PROJECT_ROOT, clean_env


@pytest.mark.slow
def test_wheel_ships_py_typed_and_the_bootstrap_prelude(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"signedimp/py.typed", "hatch_signedimp/py.typed"} <= names
    # get_bootstrap_code reads this module's text from the installed package
    assert "signedimp/bootstrap_prelude.py" in names
