"""#12.4: `signedimp launcher` runs a sealed venv's console script with every import verified, and
refuses a tampered module, an unsealed folder, and a `.pth` file (which never runs: `-I -S`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import clean_env, write_tree
from .test_cli import signedimp

pytestmark = pytest.mark.slow

GREET_PYPROJECT = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "greetpkg"
version = "1.0"

[project.scripts]
greet = "greetpkg.cli:main"
"""

GREET_CLI = """\
import sys

from . import words


def main():
    import greetpkg
    print(words.greeting(sys.argv[1:]))
    site = greetpkg.__path__[0].rsplit("/", 1)[0]
    loaded = sorted((name, type(mod.__spec__.loader).__name__) for name, mod in list(sys.modules.items())
                    if (getattr(mod, "__file__", None) or "").startswith(site))
    print("loaded", loaded)
    print("pth", "PTH_RAN" in __import__("os").environ)
    return 3
"""

WORDS_MODULE = "def greeting(names):\n    return 'Hello, ' + ' and '.join(names or ['world']) + '!'\n"
EXTRA_MODULE = "def main():\n    print('extra ran')\n"


@pytest.fixture(scope="module")
def sealed(tmp_path_factory) -> dict[str, Path]:
    """A venv with greetpkg (a real wheel, console script `greet`) installed, its site-packages
    sealed with `signedimp sign`, and a key pair."""
    root = tmp_path_factory.mktemp("launcher")
    project = write_tree(
        root / "greetpkg",
        {
            "pyproject.toml": GREET_PYPROJECT,
            "greetpkg/__init__.py": "",
            "greetpkg/cli.py": GREET_CLI,
            "greetpkg/words.py": WORDS_MODULE,
        },
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(root / "wheels"),
            str(project),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=clean_env(),
    )
    assert proc.returncode == 0, proc.stderr
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    site = Path(
        subprocess.run(
            [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (wheel,) = (root / "wheels").glob("greetpkg-*.whl")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--target",
            str(site),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=clean_env(),
    )
    assert proc.returncode == 0, proc.stderr
    (site / "greetpkg" / "extra.py").write_text(EXTRA_MODULE)
    assert signedimp("keygen", "-o", root / "k.pem").returncode == 0
    result = signedimp("sign", site, "--key", root / "k.pem")
    assert result.returncode == 0, result.stderr
    return {"root": root, "venv": venv, "site": site, "key": root / "k.pem", "pub": root / "k.pem.pub"}


def make_launcher(sealed, out: Path, *which: str) -> subprocess.CompletedProcess:
    return signedimp(
        "launcher",
        "--key",
        sealed["pub"],
        *which,
        "--python",
        sealed["venv"] / "bin" / "python",
        "--path",
        sealed["site"],
        "-o",
        out,
    )


def run(launcher: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(launcher), *args], capture_output=True, text=True, timeout=120, env=clean_env(**env)
    )


def test_console_script_runs_with_every_import_verified(sealed, tmp_path):
    launcher = tmp_path / "greet"
    result = make_launcher(sealed, launcher, "-c", "greet")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(
        f"wrote {launcher}: runs console script greet from {sealed['site']}, keys "
    )
    assert launcher.read_text().startswith(f"#!{sealed['venv'] / 'bin' / 'python'} -IS\n")
    assert os.access(launcher, os.X_OK)
    done = run(launcher, "Ada", "Grace", PYTHONPATH="/nonexistent")  # -I: PYTHON* variables are ignored
    assert done.returncode == 3, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "Hello, Ada and Grace!"
    assert lines[1] == (
        "loaded [('greetpkg', 'VerifyingLoader'), ('greetpkg.cli', 'VerifyingLoader'), "
        "('greetpkg.words', 'VerifyingLoader')]"
    )
    assert lines[2] == "pth False"


def test_entry_point_form(sealed, tmp_path):
    launcher = tmp_path / "greet2"
    assert make_launcher(sealed, launcher, "-m", "greetpkg.cli:main").returncode == 0
    done = run(launcher)
    assert done.returncode == 3 and done.stdout.startswith("Hello, world!\n"), done.stderr


def test_tampered_module_and_added_pth_are_refused(sealed, tmp_path):
    launcher = tmp_path / "greet"
    assert make_launcher(sealed, launcher, "-c", "greet").returncode == 0
    pth = sealed["site"] / "zzz-evil.pth"
    pth.write_text("import os; os.environ['PTH_RAN'] = '1'\n")
    try:
        done = run(launcher)
        assert done.returncode == 3 and done.stdout.splitlines()[2] == "pth False", (
            done.stderr
        )  # -S: never ran
    finally:
        pth.unlink()
    # pip compiled the modules and the seal lists that bytecode, so it is what runs: tampering with the
    # source alone runs nothing of the attacker's; tampering with the bytecode is refused
    (pyc,) = (sealed["site"] / "greetpkg" / "__pycache__").glob("words.*.pyc")
    words = sealed["site"] / "greetpkg" / "words.py"
    original = words.read_bytes()
    words.write_bytes(original.replace(b"Hello", b"Pwned"))
    try:
        assert run(launcher).stdout.startswith("Hello, world!\n")  # the signed bytecode ran
    finally:
        words.write_bytes(original)
    original = pyc.read_bytes()
    pyc.write_bytes(original.replace(b"Hello", b"Pwned"))
    try:
        done = run(launcher)
    finally:
        pyc.write_bytes(original)
    assert done.returncode == 1, done.stdout
    assert done.stdout == ""
    assert done.stderr.startswith(f"signedimp: refusing to run {launcher}: ")
    assert f"greetpkg/__pycache__/{pyc.name}" in done.stderr
    assert "does not match the signed manifest (modified)" in done.stderr
    assert run(launcher).returncode == 3


def test_tampered_module_without_bytecode_is_refused(sealed, tmp_path):
    launcher = tmp_path / "greet"
    assert make_launcher(sealed, launcher, "-m", "greetpkg.extra:main").returncode == 0
    extra = sealed["site"] / "greetpkg" / "extra.py"
    assert extra.read_text() == EXTRA_MODULE  # signed without bytecode (added before sealing)
    extra.write_text(EXTRA_MODULE.replace("extra ran", "attacker ran"))
    try:
        done = run(launcher)
    finally:
        extra.write_text(EXTRA_MODULE)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == (
        f"signedimp: refusing to run {launcher}: signedimp refused module 'greetpkg.extra', "
        f"file '{extra}': its SHA-256 does not match the signed manifest (modified)\n"
    )
    done = run(launcher)
    assert (done.returncode, done.stdout) == (0, "extra ran\n")


def test_other_key_and_unsealed_folder_are_refused(sealed, tmp_path):
    assert signedimp("keygen", "-o", tmp_path / "other.pem").returncode == 0
    launcher = tmp_path / "greet"
    result = signedimp(
        "launcher",
        "--key",
        tmp_path / "other.pem.pub",
        "-c",
        "greet",
        "--path",
        sealed["site"],
        "--python",
        sealed["venv"] / "bin" / "python",
        "-o",
        launcher,
    )
    assert result.returncode == 0, result.stderr
    done = run(launcher)
    assert done.returncode == 1
    assert done.stderr.startswith(
        f"signedimp: refusing to run {launcher}: {sealed['site']} is not sealed by a pinned key (manifest "
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    assert make_launcher({**sealed, "site": empty}, launcher, "-c", "greet").returncode == 0
    done = run(launcher)
    assert done.returncode == 1
    assert f"{empty} is not sealed by a pinned key (no signedimp-manifest.txt)" in done.stderr


def test_unknown_console_script(sealed, tmp_path):
    launcher = tmp_path / "nope"
    assert make_launcher(sealed, launcher, "-c", "nope").returncode == 0
    done = run(launcher)
    assert done.returncode == 2
    assert f"no console script 'nope' in a signed entry_points.txt of {sealed['site']}" in done.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["-c", "greet", "-m", "a:b"], "argument -m/--main: not allowed with argument -c/--console-script"),
        (["-m", "nocolon"], "-m 'nocolon': expected pkg.mod:fn"),
        (["-c", "greet", "--path", "/no/such/dir"], "--path /no/such/dir: no such directory"),
        (["-c", "greet"], "at least one --path DIR is required (the sealed site-packages)"),
        (
            ["-c", "greet", "--path", ".", "--python", "python3"],
            "--python python3: give an absolute path (a shebang does not search PATH)",
        ),
    ],
)
def test_usage_errors(args, message, sealed, tmp_path):
    result = signedimp("launcher", "--key", sealed["pub"], *args, "-o", tmp_path / "x", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"signedimp: error: {message}")
    assert not (tmp_path / "x").exists()


@pytest.mark.heavy
def test_sealed_venv_with_a_pypi_console_script(tmp_path):
    """A real package from PyPI (tabulate, pip's cache keeps it) installed by pip into a venv,
    compiled by pip, sealed, and run through its console script by a launcher."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    proc = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "tabulate==0.9.0",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=clean_env(),
    )
    if proc.returncode != 0 and any(
        sign in proc.stdout + proc.stderr
        for sign in ("NewConnectionError", "Temporary failure in name resolution", "No matching distribution")
    ):
        pytest.skip(f"PyPI is unreachable:\n{proc.stderr[-2000:]}")
    assert proc.returncode == 0, proc.stderr
    site = next((venv / "lib").glob("python3.*/site-packages"))
    assert signedimp("keygen", "-o", tmp_path / "k.pem").returncode == 0
    assert signedimp("sign", site, "--key", tmp_path / "k.pem").returncode == 0
    launcher = tmp_path / "tabulate"
    result = signedimp(
        "launcher",
        "--key",
        tmp_path / "k.pem.pub",
        "-c",
        "tabulate",
        "--python",
        venv / "bin" / "python",
        "--path",
        site,
        "-o",
        launcher,
    )
    assert result.returncode == 0, result.stderr
    table = tmp_path / "table.txt"
    table.write_text("planet moons\nEarth 1\nMars 2\n")
    done = run(launcher, "-1", str(table))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "planet      moons",
        "--------  -------",
        "Earth           1",
        "Mars            2",
    ]
    init = site / "tabulate" / "__init__.py"
    (pyc,) = (site / "tabulate" / "__pycache__").glob("__init__.*.pyc")
    pyc.write_bytes(pyc.read_bytes() + b"\n")
    done = run(launcher, "-1", str(table))
    assert done.returncode == 1 and done.stdout == ""
    assert "tabulate/__pycache__/" in done.stderr and "(modified)" in done.stderr
    assert init.exists()


COMPILES_OF_THE_RUNTIME = """
import sys
compiled = []
sys.addaudithook(lambda event, args: event == "compile" and compiled.append(str(args[1])))
path = sys.argv.pop(1)
text = open(path, encoding="utf-8").read()
try:
    exec(compile(text, path, "exec"), {"__name__": "__main__", "__file__": path})
except SystemExit:
    pass
print(sorted({name for name in compiled if name.startswith("<signedimp-bootstrap>")}))
"""


def assert_runtime_runs_as_bytecode(python: str, launcher: Path) -> None:
    """``launcher`` carries the runtime's bytecode for ``python``, and runs the app under that
    Python with no runtime module compiled from its source."""
    magic = subprocess.run(
        [python, "-c", "import importlib.util as u; print(u.MAGIC_NUMBER.hex())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert f"    compiled = ('{magic}', (\n" in launcher.read_text()
    done = subprocess.run(
        [python, "-I", "-S", "-c", COMPILES_OF_THE_RUNTIME, str(launcher)],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(),
    )
    assert done.stdout.startswith("Hello, world!\n"), done.stderr
    assert done.stdout.splitlines()[-1] == "[]"  # no runtime module compiled from its source


def test_the_launcher_carries_the_runtime_compiled_for_its_interpreter(sealed, tmp_path):
    """A launcher is compiled at every start; the runtime inside it is not (its bytecode for
    the launcher's Python is embedded), which more than halves the launcher's start-up."""
    launcher = tmp_path / "greet"
    assert make_launcher(sealed, launcher, "-m", "greetpkg.cli:main").returncode == 0
    python = str(sealed["venv"] / "bin" / "python")
    assert_runtime_runs_as_bytecode(python, launcher)


def test_the_modules_a_launcher_carries_as_source_only_are_runtime_modules():
    from signedimp.bootstrap_text import runtime_sources
    from signedimp.tools._bootstrap import LAUNCHER_SOURCE_ONLY

    names = {name for name, _text in runtime_sources()}
    assert LAUNCHER_SOURCE_ONLY < names
    assert not LAUNCHER_SOURCE_ONLY & {"manifest", "roots", "folderfinder", "entries", "ed25519", "keys"}


def test_a_launcher_for_a_python_not_on_this_machine_carries_the_runtime_as_source(sealed, tmp_path):
    launcher = tmp_path / "greet"
    made = signedimp(
        "launcher", "--key", sealed["pub"], "-m", "greetpkg.cli:main", "--python", "/opt/elsewhere/python3",
        "--path", sealed["site"], "-o", launcher,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    text = launcher.read_text()
    assert text.startswith("#!/opt/elsewhere/python3 -IS\n")
    assert "    compiled = None\n" in text


def test_a_launcher_for_another_python_carries_that_pythons_bytecode(sealed, tmp_path):
    """The runtime's bytecode is compiled by the launcher's ``--python``, not by the Python
    that makes it: a 3.12 tool writing a launcher for 3.10 embeds 3.10's bytecode."""
    from .test_bootstrap import other_python

    python = other_python()
    if python is None:
        pytest.skip("no second Python interpreter (3.10-3.13) on this machine")
    launcher = tmp_path / "greet"
    made = signedimp(
        "launcher", "--key", sealed["pub"], "-m", "greetpkg.cli:main", "--python", python,
        "--path", sealed["site"], "-o", launcher,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert_runtime_runs_as_bytecode(python, launcher)
