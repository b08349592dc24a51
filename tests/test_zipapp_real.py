"""Signed zipapps of real applications from the package index, C extensions included (issue 11).

Each app is a plain folder (``app.py``, ``probe.py``) plus requirements, resolved by one
``pip install --target``; it runs with ``python -I app.pyz`` and with ``signedimp run``, and
reports what it loaded: every module from the archive must have come through the verifying
loader, every extension module from a sealed memfd (nothing of the archive extracted to disk:
``TMPDIR`` and ``HOME`` are fresh folders that must stay empty), and a flipped byte in an
extension member or a bundled library must be refused.

Heavy (downloads from the package index; pip's own cache keeps them between runs).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

from signedimp.tools import generate_key
from signedimp.tools._zipapp import ZipappError, build_zipapp, extension_modules

from .helpers import clean_env, write_tree

pytestmark = [pytest.mark.heavy, pytest.mark.slow]


PROBE = '''
import json
import os
import sys


def report(**facts):
    """The last line of stdout: what was loaded from the archive, and how."""
    archive = os.path.dirname(os.path.abspath(__file__))
    loaders, extensions = {}, []
    for name, module in sorted(sys.modules.items()):
        spec = getattr(module, "__spec__", None)
        origin = getattr(spec, "origin", None) or getattr(module, "__file__", None) or ""
        if origin.startswith(archive + os.sep):
            loaders[name] = type(spec.loader).__name__ if spec is not None else "no spec"
            if origin.endswith((".so", ".pyd")):
                extensions.append(name)
    with open("/proc/self/maps") as maps:
        mapped = sorted({line.split(None, 5)[5].strip() for line in maps if len(line.split(None, 5)) == 6})
    print(json.dumps({"archive": archive, "loaders": loaders, "extensions": extensions,
                      "mapped": mapped, **facts}))
'''

APPS = {
    "clickrich": {
        "requirements": ["click", "rich"],
        "compile": True,
        "app": """
            import click
            from rich.console import Console

            import probe


            @click.command()
            @click.argument("name")
            @click.option("--count", default=1)
            def main(name, count):
                console = Console(color_system=None, width=60)
                for _ in range(count):
                    console.print(f"[bold]hello[/bold] {name}")
                probe.report()
        """,
        "args": ["world", "--count", "2"],
        "output": "hello world\nhello world\n",
        "extensions": [],
    },
    "pydantic": {
        "requirements": ["pydantic>=2"],
        "compile": True,
        "app": """
            import sys

            from pydantic import BaseModel, ValidationError
            from pydantic_core import _pydantic_core

            import probe


            class Point(BaseModel):
                x: int
                y: int = 0


            def main():
                print(Point.model_validate({"x": "3", "y": 4}).model_dump_json())
                try:
                    Point(x="not a number")
                except ValidationError as exc:
                    print(exc.error_count(), "validation error")
                probe.report(core=_pydantic_core.__name__)
        """,
        "args": [],
        "output": '{"x":3,"y":4}\n1 validation error\n',
        "extensions": ["pydantic_core._pydantic_core"],
    },
    "yaml_markupsafe": {
        "requirements_file": "pyyaml\nmarkupsafe\n",
        "compile": False,
        "app": """
            import yaml
            from markupsafe import Markup, _speedups, escape
            from yaml import _yaml

            import probe


            def main():
                assert yaml.__with_libyaml__
                print(yaml.load("a: [1, 2]", Loader=yaml.CSafeLoader))
                print(escape("<b>&</b>"), isinstance(escape("x"), Markup))
                probe.report(speedups=_speedups.__name__, libyaml=_yaml.__name__)
        """,
        "args": [],
        "output": "{'a': [1, 2]}\n&lt;b&gt;&amp;&lt;/b&gt; True\n",
        "extensions": ["markupsafe._speedups", "yaml._yaml"],
    },
    "numpy": {
        "requirements": ["numpy"],
        "compile": True,
        "app": """
            import numpy as np

            import probe


            def main():
                a = np.arange(12, dtype=float).reshape(3, 4)
                print(int(a.sum()), round(float(np.linalg.norm(a @ a.T)), 3))
                print(np.random.default_rng(7).integers(0, 100, 3).tolist())
                probe.report()
        """,
        "args": [],
        "output": None,  # the numbers are checked in the test
        "extensions": [
            "numpy._core._multiarray_umath",
            "numpy.linalg._umath_linalg",
            "numpy.random._generator",
        ],
    },
}


def index_reachable() -> bool:
    """Whether pip can reach the package index at all (then a failed build is a real failure)."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", "click", "--disable-pip-version-check"],
        capture_output=True,
        timeout=120,
    )
    return result.returncode == 0


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("real_zipapps")


@pytest.fixture(scope="module")
def key():
    return generate_key()


@pytest.fixture(scope="module")
def pub(workdir, key):
    path = workdir / "key.pub"
    path.write_bytes(key.public_pem())
    return path


_built: dict[str, Path] = {}


def built(name: str, workdir: Path, key) -> Path:
    """The signed zipapp of APPS[name], built once per test process."""
    if name in _built:
        return _built[name]
    spec = APPS[name]
    folder = write_tree(workdir / f"{name}_src", {"app.py": spec["app"], "probe.py": PROBE})
    requirements = []
    if "requirements_file" in spec:
        requirements.append(workdir / f"{name}-requirements.txt")
        requirements[0].write_text(spec["requirements_file"])
    out = workdir / f"{name}.pyz"
    try:
        build_zipapp(
            [str(folder), *spec.get("requirements", [])],
            out,
            key,
            requirements=requirements,
            main="app:main",
            compile=spec["compile"],
        )
    except ZipappError:
        if not index_reachable():
            pytest.skip("the package index is unreachable: cannot download the app's requirements")
        raise
    _built[name] = out
    return out


def fresh_env(root: Path) -> dict[str, str]:
    """A child environment whose TMPDIR and HOME are new empty folders (to see any extraction)."""
    tmp, home = root / "tmp", root / "home"
    tmp.mkdir(parents=True)
    home.mkdir()
    return clean_env(TMPDIR=str(tmp), HOME=str(home))


def run_both(app: Path, pub: Path, args: list[str], workdir: Path) -> list[subprocess.CompletedProcess]:
    """``python -I app.pyz ARGS`` and ``signedimp run app.pyz --key PUB ARGS``; each leaves
    its fresh TMPDIR and HOME empty."""
    results = []
    for how in ("python", "signedimp run"):
        root = Path(tempfile.mkdtemp(dir=workdir, prefix="env-"))
        env = fresh_env(root)
        if how == "python":
            command = [sys.executable, "-I", str(app), *args]
        else:
            command = [sys.executable, "-m", "signedimp", "run", str(app), "--key", str(pub), *args]
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
        written = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.name not in ("tmp", "home"))
        assert written == [], f"{how} wrote to disk: {written}"
        results.append(result)
    return results


def allowed_mapping(path: str) -> bool:
    """A mapped file that is not the archive's: the interpreter's and the system's, or a sealed
    memfd holding verified bytes (``/memfd:signedimp:<module>``)."""
    if path.startswith("[") or path.startswith("/memfd:signedimp:"):
        return True
    prefixes = {sys.base_prefix, sys.prefix, "/usr/", "/lib", "/etc/", "/dev/", "/var/cache/"}
    return any(path.startswith(prefix) for prefix in prefixes)


def check_report(result: subprocess.CompletedProcess, spec: dict, app: Path) -> dict:
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines(keepends=True)
    report = json.loads(lines[-1])
    if spec["output"] is not None:
        assert "".join(lines[:-1]) == spec["output"]
    assert report["archive"] == str(app)
    # Every module that came from the archive came through the verifying loader (but __main__,
    # the verifier itself: zipimport runs it, and it checks its own bytes before anything else).
    loaders = {name: loader for name, loader in report["loaders"].items() if name != "__main__"}
    assert set(loaders.values()) == {"VerifyingLoader"}, report["loaders"]
    assert {"app", "probe"} <= set(report["loaders"])
    assert set(spec["extensions"]) <= set(report["extensions"]), report["extensions"]
    # Extensions run from sealed memory, never from a file extracted from the archive.
    unexpected = [path for path in report["mapped"] if not allowed_mapping(path)]
    assert unexpected == [], unexpected
    memfds = {
        path.split(":", 2)[2].split(" ")[0]
        for path in report["mapped"]
        if path.startswith("/memfd:signedimp:")
    }
    assert set(report["extensions"]) <= memfds, (report["extensions"], memfds)
    return report


def _params():
    for name in APPS:
        yield pytest.param(name, id=name)


@pytest.mark.parametrize("name", list(_params()))
def test_app_runs_verified(name, workdir, key, pub):
    spec = APPS[name]
    app = built(name, workdir, key)
    for result in run_both(app, pub, spec["args"], workdir):
        report = check_report(result, spec, app)
        assert len(report["loaders"]) > 10
    if name == "numpy":  # the same numbers, computed without numpy
        rows = [[4 * r + c for c in range(4)] for r in range(3)]
        gram = [[sum(x * y for x, y in zip(a, b)) for b in rows] for a in rows]
        norm = round(math.sqrt(sum(v * v for row in gram for v in row)), 3)
        first, second = result.stdout.splitlines()[:2]
        assert first == f"66 {norm}"
        assert len(json.loads(second)) == 3


def flip_byte(src: Path, dst: Path, member: str) -> Path:
    """A copy of the archive with one byte of ``member`` changed (not re-signed)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == member:
                middle = len(data) // 2
                data = data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :]
            zout.writestr(info, data)
    return dst


def tampered_members(app: Path, report: dict) -> list[str]:
    """The extension members to flip: the first and last the app loaded, and a bundled library."""
    with zipfile.ZipFile(app) as zf:
        names = zf.namelist()
    loaded = [
        n
        for n in names
        if n.endswith((".so", ".pyd"))
        and any(n.startswith(m.replace(".", "/") + ".") for m in report["extensions"])
    ]
    _, libraries = extension_modules(names)
    chosen = [loaded[0], loaded[-1], *libraries[:1]]
    return sorted(set(chosen))


@pytest.mark.parametrize("name", [n for n, spec in APPS.items() if spec["extensions"]])
def test_flipped_byte_in_an_extension_member_is_refused(name, workdir, key, pub):
    spec = APPS[name]
    app = built(name, workdir, key)
    result = subprocess.run(
        [sys.executable, "-I", str(app), *spec["args"]],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=600,
    )
    report = check_report(result, spec, app)
    members = tampered_members(app, report)
    assert members
    for member in members:
        bad = flip_byte(app, workdir / f"{name}-bad.pyz", member)
        direct, launched = run_both(bad, pub, spec["args"], workdir)
        # The archive's own hook refuses the member when it is loaded (libraries may wrap the
        # ImportError in their own, as numpy does; the member is named either way).
        assert direct.returncode == 1, (member, direct.stdout[-2000:])
        assert member.rsplit("/", 1)[-1] in direct.stderr, (member, direct.stderr[-3000:])
        assert "does not match" in direct.stderr or "modified" in direct.stderr, direct.stderr[-3000:]
        # `signedimp run` audits every member before anything of the app runs.
        assert (launched.returncode, launched.stdout) == (1, ""), launched.stderr[-2000:]
        assert f"modified: {member}" in launched.stderr, launched.stderr[-2000:]


def test_click_rich_app_from_requirements_on_the_command_line(workdir, key, pub):
    # `signedimp zipapp rich click -o app.pyz`: no entry point of their own, so the app runs
    # like python; -c picks a dependency's console script by name.
    private = workdir / "key.pem"
    private.write_bytes(key.to_pem())
    out = workdir / "richclick.pyz"
    command = [
        sys.executable,
        "-m",
        "signedimp",
        "zipapp",
        "rich",
        "click",
        "-o",
        str(out),
        "--key",
        str(private),
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=clean_env(), timeout=900)
    if result.returncode != 0 and not index_reachable():
        pytest.skip("the package index is unreachable")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "no entry point" in result.stdout
    assert "pygmentize=pygments.cmdline:main (pygments)" in result.stdout
    code = "import click, rich; print(click.__name__, type(rich.__spec__.loader).__name__)"
    direct, launched = run_both(out, pub, ["-c", code], workdir)
    for run in (direct, launched):
        assert (run.returncode, run.stdout) == (0, "click VerifyingLoader\n"), run.stderr[-2000:]
    result = subprocess.run(
        [*command, "-c", "pygmentize"], capture_output=True, text=True, env=clean_env(), timeout=900
    )
    assert result.returncode == 0, result.stderr[-3000:]
    listed = subprocess.run(
        [sys.executable, "-I", str(out), "-L", "styles"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=300,
    )
    assert listed.returncode == 0 and "Styles:" in listed.stdout, listed.stderr[-2000:]
