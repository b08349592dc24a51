"""Real packages from PyPI, sealed with ``signedimp sign``, imported and tested verified.

One ``pip install --target`` (cached under ``~/.cache/signedimp-tests/``) brings pyyaml (with
libyaml), markupsafe (with its speedups), numpy (with ``numpy.libs``), pydantic v2
(pydantic-core), cryptography, jsonschema (rpds-py) and pytest. Each test session copies that
tree, seals it with the command line, and runs fresh interpreters (``python -I -S``, the
sealed folder on ``sys.path``, a ``SignedImportManager`` installed first) that:

- import and use all of them in one process, every module loaded by the verifying loader and
  no file of the sealed folder mapped (extensions come from sealed memfds);
- run some of numpy's and jsonschema's own test modules (shipped in their wheels) verified and
  unverified, with the same results;
- refuse a changed extension, a changed bundled library, and an added extension;
- do the same from a signed zip of the tree.

Skipped, with the reason, only when the package index cannot be reached.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.machinery
import json
import os
import platform
import shutil
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest

from .helpers import PROJECT_ROOT, clean_env

pytestmark = pytest.mark.heavy

REQUIREMENTS = (
    "pyyaml>=6",
    "markupsafe>=2.1",
    "numpy>=1.26",
    "pydantic>=2",
    "cryptography>=42",
    "jsonschema>=4.18",
    "pytest>=8",
    "hypothesis>=6",  # numpy's conftest imports it
)
#: A few of numpy's own test modules: linalg, fft, random and lib, about 950 tests in seconds.
NUMPY_TESTS = (
    "numpy.fft.tests.test_pocketfft",
    "numpy.fft.tests.test_helper",
    "numpy.linalg.tests.test_regression",
    "numpy.random.tests.test_direct",
    "numpy.random.tests.test_smoke",
    "numpy.random.tests.test_seed_sequence",
    "numpy.lib.tests.test_arraysetops",
)
#: jsonschema's own tests that need nothing outside its wheel (the official suite is not shipped).
JSONSCHEMA_TESTS = (
    "jsonschema.tests.test_validators",
    "jsonschema.tests.test_format",
    "jsonschema.tests.test_types",
    "jsonschema.tests.test_utils",
    "jsonschema.tests.test_cli",
    "jsonschema.tests.test_deprecations",
)
SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]
CACHE_FORMAT = "1"  # bump when the way the tree is installed changes


# -- installing once, sealing once per session ------------------------------------------------


def cache_folder() -> Path:
    key = "\n".join((CACHE_FORMAT, platform.machine(), sys.implementation.cache_tag, *REQUIREMENTS))
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    version = "%d.%d" % sys.version_info[:2]
    return Path.home() / ".cache" / "signedimp-tests" / f"{version}-{digest}"


def index_reachable() -> tuple[bool, str]:
    url = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple/").rstrip("/") + "/pip/"
    try:
        with urllib.request.urlopen(url, timeout=15) as response:
            response.read(1)
    except OSError as exc:
        return False, f"{url}: {exc}"
    return True, url


@contextlib.contextmanager
def locked(path: Path):
    """An exclusive lock on ``path`` (xdist workers install the same tree at the same time)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def installed() -> Path:
    """The packages, installed by pip into a cached folder (installed on first use only)."""
    target = cache_folder()
    with locked(target.with_name(target.name + ".lock")):
        if (target / ".complete").exists():
            return target
        reachable, where = index_reachable()
        if not reachable:
            pytest.skip(f"the package index cannot be reached, so no real packages to test with ({where})")
        staging = target.with_name(f"{target.name}.staging-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--only-binary=:all:",
                "--target",
                str(staging),
                *REQUIREMENTS,
            ],
            capture_output=True,
            text=True,
            timeout=1200,
            env=clean_env(),
        )
        if proc.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            pytest.fail(f"pip install --target failed:\n{proc.stdout}\n{proc.stderr}")
        (staging / ".complete").write_text("\n".join(REQUIREMENTS) + "\n")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    return target


def signedimp_cli(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "signedimp", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=clean_env(PYTHONPATH=str(PROJECT_ROOT)),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.fixture(scope="session")
def key(tmp_path_factory) -> tuple[Path, Path]:
    """A key pair made by ``signedimp keygen``: (private PEM, public PEM)."""
    private = tmp_path_factory.mktemp("real-keys") / "key.pem"
    signedimp_cli("keygen", "-o", str(private))
    return private, private.with_name("key.pem.pub")


@pytest.fixture(scope="session")
def sealed(installed, key, tmp_path_factory) -> Path:
    """A copy of the installed tree, sealed by ``signedimp sign DIR --key``."""
    root = tmp_path_factory.mktemp("real") / "sealed"
    shutil.copytree(installed, root, ignore=shutil.ignore_patterns(".complete"))
    signedimp_cli("sign", str(root), "--key", str(key[0]))
    return root


ZIP_TOPS = ("yaml", "_yaml", "markupsafe", "numpy", "numpy.libs")


def write_zip(
    target: Path,
    tree: Path,
    *,
    replace: dict[str, bytes] | None = None,
    extra: dict[str, bytes] | None = None,
) -> Path:
    """A zip of the packages in ``ZIP_TOPS`` (and their dist-info) from ``tree``, tests left out."""
    replace = replace or {}
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for path in sorted(tree.rglob("*")):
            rel = path.relative_to(tree).as_posix()
            top = rel.split("/")[0]
            wanted = top in ZIP_TOPS or (
                top.endswith(".dist-info") and top.split("-")[0].lower() in ("pyyaml", "markupsafe", "numpy")
            )
            if path.is_file() and wanted and "/tests/" not in rel and "__pycache__" not in rel:
                archive.writestr(rel, replace.get(rel, path.read_bytes()))
        for rel, data in (extra or {}).items():
            archive.writestr(rel, data)
    return target


@pytest.fixture(scope="session")
def sealed_zip(sealed, key, tmp_path_factory) -> Path:
    """A zip of yaml, markupsafe and numpy from the tree, signed by ``signedimp sign x.zip``."""
    archive = write_zip(tmp_path_factory.mktemp("real-zip") / "packages.zip", sealed)
    signedimp_cli("sign", str(archive), "--key", str(key[0]))
    return archive


# -- running sealed interpreters --------------------------------------------------------------

PRELUDE = r'''
import json, os, sys
cfg = json.loads(sys.argv[1])
cfg["suffixes"] = tuple(cfg["suffixes"])
sys.path.insert(0, cfg["project"])
import signedimp
from signedimp import SignedImportManager, load_public_key
del sys.path[0]
if cfg["manager"]:
    with open(cfg["pub"], "rb") as f:
        SignedImportManager([load_public_key(f.read())]).install()
sys.path[0:0] = cfg["paths"]

def loaded_from(root):
    """(name, spec loader, __loader__, is extension) of every module whose file is below root."""
    found = []
    for name, module in list(sys.modules.items()):
        spec = getattr(module, "__spec__", None)
        wrapped = vars(module).get("_module") if hasattr(module, "__dict__") else None
        if spec is None and type(wrapped) is type(sys):  # cryptography's deprecation proxy of a module
            module, spec = wrapped, wrapped.__spec__
        origin = getattr(spec, "origin", None) or getattr(module, "__file__", None)
        if spec is not None and origin is None and spec.submodule_search_locations:
            if any(str(p).startswith(root) for p in spec.submodule_search_locations):
                found.append((name, type(spec.loader).__name__, type(module.__loader__).__name__, False))
        elif isinstance(origin, str) and origin.startswith(root + os.sep):
            found.append((name, type(spec.loader).__name__ if spec else None,
                          type(getattr(module, "__loader__", None)).__name__, origin.endswith(cfg["suffixes"])))
    return found

def mapped_files():
    with open("/proc/self/maps") as f:
        return sorted({line.split(None, 5)[5] for line in f.read().splitlines() if len(line.split(None, 5)) == 6})

def error_chain(exc):
    chain = []
    while exc is not None and len(chain) < 10:
        chain.append({"type": f"{type(exc).__module__}.{type(exc).__qualname__}", "message": str(exc)[:2000],
                      "file": getattr(exc, "file", None), "module": getattr(exc, "module", None)})
        exc = exc.__cause__ or exc.__context__
    return chain
'''


def run_sealed(
    code: str, paths: list[Path], pub: Path, tmp_path: Path, *, manager: bool = True, timeout: float = 600
) -> dict:
    cfg = {
        "project": str(PROJECT_ROOT),
        "pub": str(pub),
        "manager": manager,
        "paths": [str(p) for p in paths],
        "suffixes": list(importlib.machinery.EXTENSION_SUFFIXES),
    }
    # Test suites that start `python -m pkg` in a child find the packages there (unverified, in
    # both runs alike); the sealed interpreter itself ignores PYTHONPATH (-I).
    env = clean_env(PYTHONPATH=os.pathsep.join(str(p) for p in paths))
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", PRELUDE + code, json.dumps(cfg)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT:")]
    assert lines, f"exit {proc.returncode}\n{proc.stdout[-5000:]}\n{proc.stderr[-5000:]}"
    return json.loads(lines[-1][len("RESULT:") :])


USE_ALL = r"""
import hashlib
import yaml, markupsafe, numpy, numpy.linalg, numpy.fft, numpy.random
import pydantic, pydantic_core, jsonschema
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes

class Order(pydantic.BaseModel):
    id: int
    tags: list[str] = []

digest = hashes.Hash(hashes.SHA256())
digest.update(b"signed imports")
fernet = Fernet(Fernet.generate_key())
matrix = numpy.array([[2.0, 1.0], [1.0, 3.0]])
signal = numpy.arange(8.0)
try:
    Order(id="not a number")
    errors = 0
except pydantic.ValidationError as exc:
    errors = exc.error_count()
used = {
    "yaml": [yaml.__with_libyaml__, yaml.load("a: [1, 2]", Loader=yaml.CSafeLoader),
             yaml.CSafeLoader.__mro__[1].__module__],
    "markupsafe": [str(markupsafe.escape("<b>&</b>")), markupsafe._escape_inner.__module__],
    "numpy": [float(numpy.linalg.det(matrix)), numpy.linalg.solve(matrix, [3.0, 4.0]).tolist(),
              bool(numpy.allclose(numpy.fft.ifft(numpy.fft.fft(signal)).real, signal)),
              numpy.random.default_rng(7).integers(0, 1000, 5).tolist()],
    "pydantic": [pydantic.VERSION.split(".")[0], Order.model_validate({"id": "3", "tags": ["x"]}).model_dump(),
                 errors, pydantic_core.SchemaValidator.__module__],
    "cryptography": [digest.finalize().hex() == hashlib.sha256(b"signed imports").hexdigest(),
                     fernet.decrypt(fernet.encrypt(b"secret")).decode()],
    "jsonschema": [jsonschema.Draft202012Validator({"type": "array", "items": {"type": "integer"}}).is_valid([1, 2]),
                   sorted(e.message for e in jsonschema.Draft202012Validator({"minimum": 3}).iter_errors(2))],
}
out = {"used": used, "modules": loaded_from(cfg["paths"][0])}
if os.path.exists("/proc/self/maps"):
    mapped = mapped_files()
    out["mapped_from_root"] = [m for m in mapped if m.startswith(cfg["paths"][0] + os.sep)]
    out["memfds"] = [m for m in mapped if m.startswith("/memfd:signedimp:")]
print("RESULT:" + json.dumps(out))
"""


def test_real_packages_import_and_work_verified_in_one_process(sealed, key, tmp_path):
    out = run_sealed(USE_ALL, [sealed], key[1], tmp_path)
    control = run_sealed(USE_ALL, [sealed], key[1], tmp_path, manager=False)
    used = out["used"]
    assert used["yaml"][:2] == [True, {"a": [1, 2]}]
    assert used["markupsafe"] == ["&lt;b&gt;&amp;&lt;/b&gt;", "markupsafe._speedups"]
    assert used["numpy"][:3] == [pytest.approx(5.0), [1.0, 1.0], True]
    assert used["pydantic"][:3] == ["2", {"id": 3, "tags": ["x"]}, 1]
    assert used["cryptography"] == [True, "secret"]
    assert used["jsonschema"] == [True, ["2 is less than the minimum of 3"]]
    assert used == control["used"], "the packages behave differently verified"

    modules = out["modules"]
    assert len(modules) > 200, len(modules)
    unverified = [
        m for m in modules if m[1:3] != ["VerifyingLoader"] * 2 and m[1:3] != ["NamespaceLoader"] * 2
    ]
    assert unverified == [], unverified
    extensions = sorted(m[0] for m in modules if m[3])
    for name in (
        "yaml._yaml",
        "markupsafe._speedups",
        "numpy._core._multiarray_umath",
        "numpy.linalg._umath_linalg",
        "numpy.random._generator",
        "pydantic_core._pydantic_core",
        "cryptography.hazmat.bindings._rust",
        "rpds.rpds",
    ):
        assert name in extensions, (name, extensions)
    if "mapped_from_root" in out:
        assert out["mapped_from_root"] == [], (
            "files of the sealed folder were mapped, not their verified copies"
        )
        labels = {m.split(":", 2)[2].split(" ")[0] for m in out["memfds"]}
        assert set(extensions) <= labels, set(extensions) - labels
        assert any(
            label.startswith("libscipy_openblas") or ".so" in label for label in labels - set(extensions)
        )
    # the control run really maps the files, so the assertion above could fail
    assert [m for m in control["modules"] if m[1] == "VerifyingLoader"] == []


# -- real test suites, verified and not -------------------------------------------------------

RUN_PYTEST = r"""
import pytest

class Tally:
    stats = None
    def pytest_terminal_summary(self, terminalreporter):
        Tally.stats = {k: len(v) for k, v in terminalreporter.stats.items() if k and k != "warnings"}

status = pytest.main(["-q", "-p", "no:cacheprovider", "--assert=plain", "-m", "not slow",
                      "--pyargs", *cfg["modules"]], plugins=[Tally()])
loaders = sorted({m[1] for m in loaded_from(cfg["paths"][0]) if m[0] in cfg["modules"]})
print("RESULT:" + json.dumps({"status": int(status), "stats": Tally.stats, "test_module_loaders": loaders}))
"""


def run_suite(modules: tuple[str, ...], sealed: Path, pub: Path, tmp_path: Path, manager: bool) -> dict:
    code = "cfg['modules'] = " + repr(list(modules)) + "\n" + RUN_PYTEST
    work = tmp_path / ("verified" if manager else "plain")
    work.mkdir()
    return run_sealed(code, [sealed], pub, work, manager=manager)


@pytest.mark.parametrize(
    "modules, at_least", [(NUMPY_TESTS, 800), (JSONSCHEMA_TESTS, 350)], ids=["numpy", "jsonschema"]
)
def test_real_test_suites_pass_the_same_verified(sealed, key, tmp_path, modules, at_least):
    verified = run_suite(modules, sealed, key[1], tmp_path, manager=True)
    plain = run_suite(modules, sealed, key[1], tmp_path, manager=False)
    assert verified["stats"] == plain["stats"], (verified, plain)
    assert verified["stats"].get("passed", 0) >= at_least, verified
    assert verified["stats"].get("failed", 0) == verified["stats"].get("error", 0) == 0, verified
    assert verified["status"] == plain["status"] == 0
    assert verified["test_module_loaders"] == ["VerifyingLoader"]
    assert plain["test_module_loaders"] == ["SourceFileLoader"]


# -- tampering --------------------------------------------------------------------------------

IMPORT = r"""
out = {}
for name in cfg["imports"]:
    try:
        __import__(name)
        out[name] = {"ok": type(sys.modules[name].__spec__.loader).__name__}
    except Exception as exc:
        out[name] = {"errors": error_chain(exc)}
print("RESULT:" + json.dumps(out))
"""


def run_imports(
    names: list[str], paths: list[Path], pub: Path, tmp_path: Path, *, manager: bool = True
) -> dict:
    return run_sealed(f"cfg['imports'] = {names!r}\n" + IMPORT, paths, pub, tmp_path, manager=manager)


def flip(data: bytes) -> bytes:
    at = len(data) // 2
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


@contextlib.contextmanager
def changed(path: Path, data: bytes | None):
    """``path`` holds ``data`` (None: removed) for the block; the sealed tree is restored after."""
    before = path.read_bytes() if path.exists() else None
    try:
        if data is None:
            path.unlink()
        else:
            path.write_bytes(data)
        yield path
    finally:
        if before is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(before)


def refusal(result: dict, kind: str) -> dict:
    """The signedimp refusal of ``kind`` in the error chain of ``result`` (numpy wraps it)."""
    assert "errors" in result, result
    found = [e for e in result["errors"] if e["type"] == f"signedimp.errors.{kind}"]
    assert found, result["errors"]
    return found[0]


def openblas(root: Path) -> Path:
    """The library in numpy.libs that numpy's core extension needs directly.

    (numpy 2.3+ bundles it alone; older wheels bundle libgfortran and libquadmath beside it, which
    it needs in turn.)"""
    (found,) = (root / "numpy.libs").glob("*openblas*")
    return found


def speedups(root: Path) -> Path:
    (found,) = (root / "markupsafe").glob("_speedups*.so")
    return found


def test_changed_extension_and_bundled_library_are_refused(sealed, key, tmp_path):
    target = speedups(sealed)
    with changed(target, flip(target.read_bytes())):
        out = run_imports(["yaml._yaml", "markupsafe._speedups"], [sealed], key[1], tmp_path)
    assert out["yaml._yaml"] == {"ok": "VerifyingLoader"}
    error = refusal(out["markupsafe._speedups"], "IntegrityCheckFailed")
    assert error["file"] == str(target) and error["module"] == "markupsafe._speedups"
    assert "does not match the signed manifest" in error["message"]

    library = openblas(sealed)
    with changed(library, flip(library.read_bytes())):
        out = run_imports(["numpy"], [sealed], key[1], tmp_path)
        control = run_imports(["numpy.linalg"], [sealed], key[1], tmp_path, manager=False)
    error = refusal(out["numpy"], "IntegrityCheckFailed")
    assert error["file"] == str(library) and error["module"] == "numpy._core._multiarray_umath"
    assert "errors" not in control["numpy.linalg"], "without the manager the changed library loads silently"
    # older numpy wheels bundle the libraries that OpenBLAS needs in turn: each is verified too
    for library in sorted(set((sealed / "numpy.libs").glob("*.so*")) - {openblas(sealed)}):
        with changed(library, flip(library.read_bytes())):
            out = run_imports(["numpy"], [sealed], key[1], tmp_path)
        assert refusal(out["numpy"], "IntegrityCheckFailed")["file"] == str(library)


def test_added_extension_is_refused(sealed, key, tmp_path):
    original = speedups(sealed)
    with changed(sealed / f"_speedups{SUFFIX}", original.read_bytes()) as added:
        out = run_imports(["_speedups"], [sealed], key[1], tmp_path)
        control = run_imports(["_speedups"], [sealed], key[1], tmp_path, manager=False)
    error = refusal(out["_speedups"], "IntegrityCheckMissing")
    assert error["file"] == str(added) and error["module"] == "_speedups"
    assert error["message"].endswith(f"not listed in the signed manifest of {sealed}")
    assert control["_speedups"] == {"ok": "ExtensionFileLoader"}


# -- the same from a signed zip ---------------------------------------------------------------

ZIP_USE = r"""
import yaml, markupsafe, numpy, numpy.linalg, numpy.fft, numpy.random
out = {
    "used": [yaml.__with_libyaml__, markupsafe._escape_inner.__module__, float(numpy.linalg.det(numpy.eye(3) * 2)),
             numpy.random.default_rng(1).integers(0, 10, 3).tolist(), numpy.fft.fft([1.0, 0.0]).real.tolist()],
    "modules": loaded_from(cfg["paths"][0]),
    "files": [m.__file__ for m in (yaml._yaml, markupsafe._speedups, numpy._core._multiarray_umath)],
}
if os.path.exists("/proc/self/maps"):
    out["mapped"] = [m for m in mapped_files() if m.startswith("/") and not m.startswith(("/usr", "/lib", sys.base_prefix, "/memfd:"))
                     and ".so" in m]
print("RESULT:" + json.dumps(out))
"""


def test_extensions_run_verified_from_a_signed_zip(sealed_zip, key, tmp_path):
    out = run_sealed(ZIP_USE, [sealed_zip], key[1], tmp_path)
    assert out["used"] == [True, "markupsafe._speedups", pytest.approx(8.0), out["used"][3], [1.0, 1.0]]
    modules = out["modules"]
    assert len(modules) > 100
    assert [m for m in modules if m[1:3] != ["VerifyingLoader"] * 2] == []
    assert sum(1 for m in modules if m[3]) >= 10
    assert out["files"][0] == str(sealed_zip / "yaml" / Path(out["files"][0]).name)
    assert out.get("mapped", []) == [], "an extension was loaded from a file on disk (extracted?)"


@pytest.mark.parametrize("member", ["markupsafe", "numpy.libs"])
def test_flipped_byte_in_a_zip_member_is_refused(sealed, sealed_zip, key, tmp_path, member):
    if member == "markupsafe":
        rel = speedups(sealed).relative_to(sealed).as_posix()
        expected_module = "markupsafe._speedups"
    else:
        library = openblas(sealed)
        rel = library.relative_to(sealed).as_posix()
        expected_module = "numpy._core._multiarray_umath"
    with zipfile.ZipFile(sealed_zip) as signed:
        manifest = signed.read("signedimp-manifest.txt")
    tampered = write_zip(
        tmp_path / "tampered.zip",
        sealed,
        replace={rel: flip((sealed / rel).read_bytes())},
        extra={"signedimp-manifest.txt": manifest},
    )
    out = run_imports(["yaml._yaml", expected_module], [tampered], key[1], tmp_path)
    assert out["yaml._yaml"] == {"ok": "VerifyingLoader"}
    error = refusal(out[expected_module], "IntegrityCheckFailed")
    assert error["file"] == str(tampered / rel) and error["module"] == expected_module


# -- a signed zipapp with extension modules ----------------------------------------------------

APP_MAIN = r"""
import json, sys


def main():
    import yaml, markupsafe, numpy, numpy.linalg, numpy.random
    archive = sys.argv[0]
    from_archive = {n: type(m.__spec__.loader).__name__ for n, m in list(sys.modules.items())
                    if n != "__main__" and getattr(m, "__spec__", None) is not None
                    and str(m.__spec__.origin).startswith(archive)}
    print(json.dumps({
        "used": [yaml.__with_libyaml__, markupsafe._escape_inner.__module__, float(numpy.linalg.det(numpy.eye(2) * 3))],
        "loaders": sorted(set(from_archive.values())),
        "extensions": sorted(n for n, m in sys.modules.items()
                             if str(getattr(m, "__file__", "")).startswith(archive) and m.__file__.endswith(".so")),
    }))
"""


def test_a_signed_zipapp_runs_its_extension_modules_verified(sealed, key, tmp_path):
    source = tmp_path / "app"
    source.mkdir()
    for path in sealed.iterdir():
        top = path.name
        wanted = top in ZIP_TOPS or (
            top.endswith(".dist-info") and top.split("-")[0].lower() in ("pyyaml", "markupsafe", "numpy")
        )
        if wanted:
            if path.is_dir():
                shutil.copytree(path, source / top, ignore=shutil.ignore_patterns("tests", "__pycache__"))
            else:
                shutil.copy2(path, source / top)
    (source / "extapp").mkdir()
    (source / "extapp" / "__init__.py").write_text("")
    (source / "extapp" / "main.py").write_text(APP_MAIN)
    app = tmp_path / "ext-app.pyz"
    signedimp_cli("zipapp", str(source), "-o", str(app), "--key", str(key[0]), "-m", "extapp.main:main")

    for command in (
        [sys.executable, "-I", str(app)],
        [sys.executable, "-m", "signedimp", "run", str(app), "--key", str(key[1])],
    ):
        proc = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
            env=clean_env(PYTHONPATH=str(PROJECT_ROOT)) if "run" in command else clean_env(),
        )
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout.splitlines()[-1])
        assert out["used"] == [True, "markupsafe._speedups", pytest.approx(9.0)]
        assert out["loaders"] == ["VerifyingLoader"]
        assert {"yaml._yaml", "markupsafe._speedups", "numpy._core._multiarray_umath"} <= set(
            out["extensions"]
        )

    def tampered(rel: str) -> subprocess.CompletedProcess:
        bad = tmp_path / "bad.pyz"
        with zipfile.ZipFile(app) as src, zipfile.ZipFile(bad, "w") as dst:
            for info in src.infolist():
                data = src.read(info)
                dst.writestr(info, flip(data) if info.filename == rel else data)
        return subprocess.run(
            [sys.executable, "-I", str(bad)],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
            env=clean_env(),
        )

    # markupsafe catches the ImportError and falls back to its pure-Python code: refused, quietly
    proc = tampered(speedups(sealed).relative_to(sealed).as_posix())
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["used"][:2] == [True, "markupsafe._native"]
    assert "markupsafe._speedups" not in out["extensions"]
    # numpy cannot do without its bundled library: refused, loudly
    library = openblas(sealed)
    rel = library.relative_to(sealed).as_posix()
    proc = tampered(rel)
    assert proc.returncode != 0
    assert "IntegrityCheckFailed" in proc.stderr and rel in proc.stderr, proc.stderr[-3000:]
