"""The process-wide guard (#8.1): loading a file by path cannot run code the verifier did not check.

One child interpreter installs a manager and then tries every documented way of loading a
plugin file around the import hook; each plugin, if it ran, would write its own canary file.
The same child also does what real code does legitimately (a template compiled from a file,
``exec`` of a string, a standard-library module loaded by path, signed modules, ``runpy``),
which must keep working. Without the guard every plugin runs.
"""

from __future__ import annotations

import ast
import importlib.machinery
import importlib.util
import marshal
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from signedimp.tools import generate_key, sign_directory

from .helpers import PROJECT_ROOT, clean_env, run_python, write_tree

CHILD = r"""
import ast, importlib.machinery, importlib.util, os, pkgutil, runpy, sys, warnings, zipimport
warnings.simplefilter("ignore", DeprecationWarning)
CFG = ast.literal_eval(sys.argv[1])
sys.path.insert(0, CFG["project"])
import signedimp
from signedimp import SignedImportManager, load_public_key
del sys.path[0]
with open(CFG["pub"], "rb") as f:
    KEY = load_public_key(f.read())
MANAGER = SignedImportManager([KEY]).install() if CFG["manager"] else None
sys.path.insert(0, CFG["app"])
PLUGINS = CFG["plugins"]
def plugin(name):
    return os.path.join(PLUGINS, name + ".py")
def run_spec(spec):
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return "ran"

def spec_exec():
    return run_spec(importlib.util.spec_from_file_location("p_spec_exec", plugin("p_spec_exec")))
def load_module():
    importlib.machinery.SourceFileLoader("p_load_module", plugin("p_load_module")).load_module()
    return "ran"
def path_finder():
    return run_spec(importlib.machinery.PathFinder.find_spec("p_path_finder", [PLUGINS]))
def get_importer():
    return run_spec(pkgutil.get_importer(PLUGINS).find_spec("p_get_importer"))
def run_path():
    runpy.run_path(plugin("p_run_path"))
    return "ran"
def zipimporter_source():
    return run_spec(zipimport.zipimporter(CFG["zip"]).find_spec("p_zip_source"))
def zipimporter_bytecode():
    return run_spec(zipimport.zipimporter(CFG["zip"]).find_spec("p_zip_bytecode"))
def meta_path_rebound():
    class Finder:
        def find_spec(self, name, path=None, target=None):
            if name == "p_meta_path_rebound":
                return importlib.util.spec_from_file_location(name, plugin(name))
    saved = sys.meta_path
    sys.meta_path = [Finder()] + sys.meta_path
    try:
        import p_meta_path_rebound
    finally:
        sys.meta_path = saved
    return "ran"
def sourceless_forged():
    path = os.path.join(PLUGINS, "p_sourceless_forged.pyc")
    importlib.machinery.SourcelessFileLoader("p_sourceless_forged", path).load_module()
    return "ran"
def run_path_forged_pyc():
    runpy.run_path(os.path.join(PLUGINS, "p_run_path_forged_pyc.pyc"))
    return "ran"
def pending_verified_unmarshal():
    # The verifier's own unmarshalling is under way in some thread (its checked bytes in the
    # guard's slot), while a forged .pyc is loaded by path: the fast path, which knows the
    # verifier's bytes by content, must not let these through (same length, other bytes).
    import signedimp.guard as guard
    path = os.path.join(PLUGINS, "p_pending_verified_unmarshal.pyc")
    with open(path, "rb") as f:
        forged = f.read()
    other = forged[:-1] + bytes([forged[-1] ^ 1])
    guard._unmarshalling = (other, len(other) - 16)
    try:
        importlib.machinery.SourcelessFileLoader("p_pending_verified_unmarshal", path).load_module()
    finally:
        guard._unmarshalling = None
    return "ran"
def extension_by_path():
    spec = importlib.util.spec_from_file_location(CFG["ext_name"], CFG["ext_copy"])
    importlib.util.module_from_spec(spec)
    return "ran"

# What must keep working under the guard.
def signed_import():
    import app_mod
    return app_mod.VALUE
def template_from_file():
    ns = {}
    exec(compile("Y = 2", os.path.join(PLUGINS, "page.html"), "exec"), ns)
    return ns["Y"]
def exec_string():
    ns = {}
    exec("Z = 3", ns)
    return ns["Z"] + eval(compile("1", "<expr>", "eval"))
def stdlib_by_path():
    import colorsys
    spec = importlib.util.spec_from_file_location("colorsys_copy", colorsys.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.rgb_to_hsv(1, 0, 0)[2]
def run_module_signed():
    return runpy.run_module("app_main")["RESULT"]
def uninstalled_guard_idle():
    MANAGER.uninstall()
    return run_spec(importlib.util.spec_from_file_location("p_after_uninstall", plugin("p_after_uninstall")))

OUT = {}
for name in CFG["cases"]:
    try:
        OUT[name] = {"value": globals()[name]()}
    except Exception as exc:
        outer = type(exc).__name__
        while not isinstance(exc, signedimp.IntegrityCheckError) and (exc.__cause__ or exc.__context__):
            exc = exc.__cause__ or exc.__context__  # zipimport wraps errors in ZipImportError
        OUT[name] = {"outer": outer, "error": type(exc).__name__, "file": getattr(exc, "file", None),
                     "message": str(exc)}
    canary = os.path.join(CFG["canaries"], name)
    OUT[name]["ran"] = os.path.exists(canary)
print("RESULT:" + repr(OUT))
"""

REFUSED = {
    # case: the file the refusal must name (relative to the test folder)
    "spec_exec": "plugins/p_spec_exec.py",
    "load_module": "plugins/p_load_module.py",
    "path_finder": "plugins/p_path_finder.py",
    "get_importer": "plugins/p_get_importer.py",
    "run_path": "plugins/p_run_path.py",
    "zipimporter_source": "plugins/plugins.zip/p_zip_source.py",
    "zipimporter_bytecode": "plugins/plugins.zip/p_zip_bytecode.pyc",
    "meta_path_rebound": "plugins/p_meta_path_rebound.py",
    "sourceless_forged": "plugins/p_sourceless_forged.pyc",
    "run_path_forged_pyc": "plugins/p_run_path_forged_pyc.pyc",
    "pending_verified_unmarshal": "plugins/p_pending_verified_unmarshal.pyc",
    "extension_by_path": "plugins/EXT",
}
ALLOWED = {
    "signed_import": 1,
    "template_from_file": 2,
    "exec_string": 4,
    "stdlib_by_path": 1,
    "run_module_signed": "main ok",
    "uninstalled_guard_idle": "ran",
}


def canary_source(canaries: Path, name: str) -> str:
    return f"open({str(canaries / name)!r}, 'w').close()\n"


def pyc_image(code) -> bytes:
    """A ``.pyc`` for this interpreter, unchecked (flags 0, zero mtime and size)."""
    return importlib.util.MAGIC_NUMBER + b"\0" * 12 + marshal.dumps(code)


def stdlib_extension() -> Path:
    """A small extension module of the standard library (its init symbol is PyInit__bisect)."""
    spec = importlib.util.find_spec("_bisect")
    if (
        spec is None
        or not spec.origin
        or not spec.origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    ):
        pytest.skip("_bisect is not an extension module file in this interpreter")
    return Path(spec.origin)


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    base = tmp_path_factory.mktemp("guard")
    key = generate_key()
    pub = base / "pub.pem"
    pub.write_bytes(key.public_pem())
    canaries = base / "canaries"
    canaries.mkdir()
    app = write_tree(
        base / "app",
        {
            "app_mod.py": "VALUE = 1\n",
            "app_main.py": "RESULT = 'main ok'\n",
        },
    )
    sign_directory(app, key)
    plugins = base / "plugins"
    plugins.mkdir()
    for name in (
        "p_spec_exec",
        "p_load_module",
        "p_path_finder",
        "p_get_importer",
        "p_run_path",
        "p_meta_path_rebound",
        "p_after_uninstall",
    ):
        case = name[2:] if name != "p_after_uninstall" else "uninstalled_guard_idle"
        (plugins / f"{name}.py").write_text(canary_source(canaries, case))
    # Bytecode that claims to come from "<string>": checking co_filename at exec alone would pass it.
    for name in ("sourceless_forged", "run_path_forged_pyc", "pending_verified_unmarshal"):
        code = compile(canary_source(canaries, name), "<string>", "exec")
        (plugins / f"p_{name}.pyc").write_bytes(pyc_image(code))
    with zipfile.ZipFile(plugins / "plugins.zip", "w") as archive:
        archive.writestr("p_zip_source.py", canary_source(canaries, "zipimporter_source"))
        code = compile(canary_source(canaries, "zipimporter_bytecode"), "<string>", "exec")
        archive.writestr("p_zip_bytecode.pyc", pyc_image(code))
    ext = stdlib_extension()
    ext_copy = plugins / ext.name
    shutil.copyfile(ext, ext_copy)
    return {
        "base": base,
        "pub": pub,
        "app": app,
        "plugins": plugins,
        "canaries": canaries,
        "ext_copy": ext_copy,
    }


def run_cases(layout, cases, *, manager: bool = True) -> dict:
    for canary in layout["canaries"].iterdir():
        canary.unlink()
    cfg = {
        "project": str(PROJECT_ROOT),
        "pub": str(layout["pub"]),
        "app": str(layout["app"]),
        "plugins": str(layout["plugins"]),
        "canaries": str(layout["canaries"]),
        "zip": str(layout["plugins"] / "plugins.zip"),
        "ext_copy": str(layout["ext_copy"]),
        "ext_name": "_bisect",
        "manager": manager,
        "cases": list(cases),
    }
    proc = run_python(CHILD, repr(cfg), env=clean_env())
    assert proc.returncode == 0, proc.stderr
    line = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT:"))
    return ast.literal_eval(line[len("RESULT:") :])


@pytest.fixture(scope="module")
def guarded(layout) -> dict:
    return run_cases(layout, [*REFUSED, *ALLOWED])


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_loading_by_path_is_refused(case, guarded, layout):
    result = guarded[case]
    assert result["ran"] is False, "the unsigned plugin ran"
    expected = REFUSED[case].replace("EXT", layout["ext_copy"].name)
    expected_file = str(layout["base"].joinpath(*expected.split("/")))
    assert result.get("error") == "IntegrityCheckMissing", result
    assert result["outer"] == (
        "ZipImportError" if case == "zipimporter_bytecode" else "IntegrityCheckMissing"
    )
    assert result["file"] == expected_file
    assert result["message"].startswith("signedimp refused ")
    assert f"file {expected_file!r}: " in result["message"]
    assert "without signedimp verifying it (loaded by path, around the import hook)" in result["message"]


@pytest.mark.parametrize("case", sorted(ALLOWED))
def test_legitimate_code_still_runs(case, guarded):
    assert guarded[case] == {"value": ALLOWED[case], "ran": case == "uninstalled_guard_idle"}


def test_every_plugin_runs_without_a_manager(layout):
    """The cases are real: without a manager each way runs the unsigned file."""
    cases = [c for c in REFUSED if c != "extension_by_path"]
    results = run_cases(layout, cases, manager=False)
    assert {c: results[c] for c in cases} == {c: {"value": "ran", "ran": True} for c in cases}


def test_guard_is_idle_and_cheap_without_a_manager(tmp_path):
    """Importing signedimp adds no audit hook; install() adds one, once, however often it runs."""
    code = r"""
import sys
import textwrap
sys.path.insert(0, sys.argv[1])
import signedimp, signedimp.guard as guard
from signedimp.tools import generate_key
assert guard._hook_added is False
key = generate_key()
from signedimp import load_public_key
pub = load_public_key(key.public_pem())
for _ in range(3):
    with signedimp.SignedImportManager([pub]) as manager:
        assert guard._active and guard._active[-1][0] is manager
assert guard._hook_added is True and guard._active == []
ns = {}
exec(compile("V = 5", "/nowhere/plugin.py", "exec"), ns)  # no manager: nothing is refused
print(ns["V"], "importlib.metadata" in sys.modules)
"""
    proc = run_python(code, str(PROJECT_ROOT), env=clean_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["5", "False"]


REJECTED_CHILD = r"""
import ast, sys
CFG = ast.literal_eval(sys.argv[1])
TOUCHED = []
WATCH = False
def observe(event, args):
    if WATCH and (event == "marshal.loads" or (event == "compile" and CFG["zip"] in str(args[1]))):
        TOUCHED.append((event, str(args[1]) if event == "compile" else len(args[0])))
sys.addaudithook(observe)  # before the manager's own hook: it sees every attempt
sys.path.insert(0, CFG["project"])
import signedimp
from signedimp import SignedImportManager, load_public_key
del sys.path[0]
signedimp.submodules.load_all(signedimp)  # the verifier's own bytecode is not the archive's
with open(CFG["pub"], "rb") as f:
    SignedImportManager([load_public_key(f.read())]).install()
sys.path.insert(0, CFG["zip"])
OUT = {}
for name in ("victim", "victim_source"):
    WATCH = True
    try:
        __import__(name)
        OUT[name] = "imported"
    except ImportError as exc:
        OUT[name] = (type(exc).__name__, getattr(exc, "file", None), str(exc))
    WATCH = False
OUT["touched"] = TOUCHED
print("RESULT:" + repr(OUT))
"""


def test_rejected_archive_never_reaches_zipimporter(tmp_path):
    """#8.11: an archive the verifier rejects (duplicate names) but zipimport takes is not read."""
    key = generate_key()
    pub = tmp_path / "pub.pem"
    pub.write_bytes(key.public_pem())
    archive = tmp_path / "rejected.zip"
    canary = tmp_path / "canary"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("victim.pyc", pyc_image(compile(canary_source(tmp_path, "canary"), "victim.py", "exec")))
        out.writestr("victim_source.py", canary_source(tmp_path, "canary"))
        out.writestr("data.txt", "one")
        with pytest.warns(UserWarning, match="Duplicate name"):
            out.writestr("data.txt", "two")
    cfg = {"project": str(PROJECT_ROOT), "pub": str(pub), "zip": str(archive)}
    proc = run_python(REJECTED_CHILD, repr(cfg), env=clean_env())
    assert proc.returncode == 0, proc.stderr
    line = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT:"))
    out = ast.literal_eval(line[len("RESULT:") :])
    assert not canary.exists()
    assert out["touched"] == [], "zipimport compiled or unmarshalled a member of the rejected archive"
    for name in ("victim", "victim_source"):
        assert out[name] == (
            "IntegrityCheckFailed",
            str(archive),
            f"signedimp refused module {name!r}, file {str(archive)!r}: the zip archive on sys.path was"
            f" rejected, so nothing is imported from it: {archive}: duplicate member name 'data.txt'",
        )


# -- no false refusals on real code: Jinja2 and pytest from a sealed folder ----------------------

REAL_CHILD = r"""
import ast, os, sys
CFG = ast.literal_eval(sys.argv[1])
sys.path.insert(0, CFG["project"])
import signedimp
from signedimp import SignedImportManager, load_public_key
del sys.path[0]
with open(CFG["pub"], "rb") as f:
    SignedImportManager([load_public_key(f.read())]).install()
site = CFG["site"]
sys.path.insert(0, site)
import jinja2
env = jinja2.Environment(loader=jinja2.FileSystemLoader(os.path.join(site, "templates")))
print("RENDERED:" + env.get_template("page.html").render(name="guard", items=[1, 2, 3]))
import markupsafe
print("LOADER:" + type(markupsafe.__spec__.loader).__name__)
import importlib.metadata
dist = importlib.metadata.distribution("jinja2")
print("METADATA:" + type(dist).__name__ + " " + dist.version + " " + str(len(dist.files or ())))
import pytest
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", *CFG["pytest_args"], os.path.join(site, "demo_tests")]))
"""

DEMO_FILES = {
    "templates/page.html": "{% for i in items %}<b>{{ name }}{{ i }}</b>{% endfor %}",
    "demo_tests/__init__.py": "",
    "demo_tests/conftest.py": """\
        import pytest


        @pytest.fixture
        def answer():
            return 42
        """,
    "demo_tests/test_demo.py": """\
        import jinja2
        import pytest


        def test_answer(answer):
            assert answer == 42


        @pytest.mark.parametrize("n", [1, 2])
        def test_template_from_string(n):
            assert jinja2.Template("{{ n * 2 }}").render(n=n) == str(n * 2)


        def test_raises():
            with pytest.raises(ZeroDivisionError):
                1 / 0
        """,
}


def real_packages(tmp_path: Path) -> Path:
    """``pip install --target`` of jinja2 and pytest, cached between runs per interpreter."""
    version = "%d.%d" % sys.version_info[:2]
    cache = Path.home() / ".cache" / "signedimp-tests" / f"guard-jinja2-pytest-py{version}"
    if not cache.is_dir():
        staging = cache.with_name(cache.name + f".tmp{os.getpid()}")
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--target",
                str(staging),
                "jinja2",
                "pytest",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            if any(
                s in proc.stderr for s in ("connection", "Connection", "resolve", "No matching distribution")
            ):
                pytest.skip(f"PyPI is unreachable: {proc.stderr.strip().splitlines()[-1]}")
            raise AssertionError(proc.stderr)
        os.replace(staging, cache)
    site = tmp_path / "site"
    shutil.copytree(cache, site, symlinks=True)
    return site


@pytest.fixture(scope="module")
def sealed_real(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("real")
    site = real_packages(tmp_path)
    write_tree(site, DEMO_FILES)
    key = generate_key()
    sign_directory(site, key)
    pub = tmp_path / "pub.pem"
    pub.write_bytes(key.public_pem())
    return site, pub


def run_real(sealed_real, pytest_args) -> subprocess.CompletedProcess:
    site, pub = sealed_real
    cfg = {"project": str(PROJECT_ROOT), "pub": str(pub), "site": str(site), "pytest_args": pytest_args}
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", REAL_CHILD, repr(cfg)],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.heavy
def test_jinja2_and_pytest_run_sealed_under_the_guard(sealed_real):
    """A template from a file renders, a C extension loads verified, a pytest session passes."""
    proc = run_real(sealed_real, ["--assert=plain"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert "RENDERED:<b>guard1</b><b>guard2</b><b>guard3</b>" in lines
    assert "LOADER:VerifyingLoader" in lines
    site = sealed_real[0]
    version = next(p.name for p in site.glob("jinja2-*.dist-info")).split("-")[1][: -len(".dist")]
    record = (site / f"jinja2-{version}.dist-info" / "RECORD").read_text().splitlines()
    assert f"METADATA:VerifiedDistribution {version} {len(record)}" in lines
    assert "4 passed" in proc.stdout


@pytest.mark.heavy
def test_pytest_assertion_rewriting_leaves_a_sealed_folder_alone(sealed_real):
    """pytest's rewriting hook rewrites only modules that ``PathFinder`` gives a
    ``SourceFileLoader``; in a sealed folder ``PathFinder`` gives the verifier's loader (the
    folder is searched in its manifest), so the hook declines and the test modules are imported
    verified, with plain asserts. (Elsewhere the hook still reads and compiles test files
    itself, and that is refused: docs/threat-model.md.)"""
    proc = run_real(sealed_real, [])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 passed" in proc.stdout
    assert "signedimp refused" not in proc.stdout + proc.stderr


def test_embedded_bootstrap_guards_too(tmp_path):
    """The verifier a zipapp or frozen app embeds (``get_bootstrap_code``) carries the guard."""
    from signedimp import get_bootstrap_code, load_public_key

    key = generate_key()
    plugin = tmp_path / "plugin.py"
    canary = tmp_path / "canary"
    plugin.write_text(canary_source(tmp_path, "canary"))
    code = get_bootstrap_code([load_public_key(key.public_pem())]) + textwrap.dedent(f"""
        import importlib.util, sys
        print(sys.modules["signedimp"].__file__)
        spec = importlib.util.spec_from_file_location("plugin", {str(plugin)!r})
        try:
            spec.loader.exec_module(importlib.util.module_from_spec(spec))
        except ImportError as exc:
            print(type(exc).__name__, exc.file)
        """)
    proc = subprocess.run(
        [sys.executable, "-I", "-c", code], env=clean_env(), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "<signedimp-bootstrap>/signedimp/__init__.py",
        f"IntegrityCheckMissing {plugin}",
    ]
    assert not canary.exists()


def test_threads_import_signed_modules_under_the_guard(tmp_path):
    """Verified code objects made and run in many threads at once are all recognised."""
    key = generate_key()
    pub = tmp_path / "pub.pem"
    pub.write_bytes(key.public_pem())
    app = write_tree(tmp_path / "app", {f"tmod{i:02d}.py": f"VALUE = {i}\n" for i in range(60)})
    sign_directory(app, key)
    code = r"""
import sys, threading, importlib
sys.path.insert(0, sys.argv[1])
import signedimp
del sys.path[0]
with open(sys.argv[2], "rb") as f:
    signedimp.SignedImportManager([signedimp.load_public_key(f.read())]).install()
sys.path.insert(0, sys.argv[3])
errors, values = [], []
def work(start):
    try:
        for i in range(start, 60, 6):
            module = importlib.import_module(f"tmod{i:02d}")
            values.append(module.VALUE)
            for _ in range(20):
                importlib.reload(module)  # a new verified code object each time, the old one dies
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(sorted(values) == list(range(60)), errors)
"""
    proc = run_python(code, str(PROJECT_ROOT), str(pub), str(app), env=clean_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "True []"


def test_invalidate_caches_makes_the_guard_decide_again(tmp_path):
    """A trusted folder reached through a link: once the link points at an untrusted folder
    and ``importlib.invalidate_caches()`` ran, code loaded by path through it is refused."""
    trusted, untrusted = tmp_path / "trusted", tmp_path / "untrusted"
    canary = tmp_path / "canary"
    write_tree(trusted, {"mod.py": "VALUE = 'trusted'\n"})
    write_tree(untrusted, {"mod.py": f"open({str(canary)!r}, 'w').close()\nVALUE = 'untrusted'\n"})
    link = tmp_path / "link"
    link.symlink_to(trusted)
    code = f"""
import importlib, os, runpy, sys
sys.path.insert(0, {str(PROJECT_ROOT)!r})
import signedimp
del sys.path[0]
trusted_paths = [{str(trusted)!r}, *signedimp.trust.default_trusted_paths()]
manager = signedimp.SignedImportManager([signedimp.Ed25519Key(bytes(32))], trusted_paths=trusted_paths)
manager.install()
print(runpy.run_path({str(link / "mod.py")!r})["VALUE"])
os.remove({str(link)!r})
os.symlink({str(untrusted)!r}, {str(link)!r})
importlib.invalidate_caches()
try:
    runpy.run_path({str(link / "mod.py")!r})
except ImportError as exc:
    print(type(exc).__name__)
manager.uninstall()
"""
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["trusted", "IntegrityCheckMissing"]
    assert not canary.exists()


def sealed_child_head(key, site) -> str:
    """The start of a child that installs a manager pinned to ``key`` and puts the sealed
    folder ``site`` first on ``sys.path`` (the project's tree taken off it again)."""
    return f"""
import sys
sys.path.insert(0, {str(PROJECT_ROOT)!r})
import signedimp
signedimp.SignedImportManager([signedimp.load_public_key({key.public_pem().decode()!r})]).install()
del sys.path[0]
sys.path.insert(0, {str(site)!r})
"""


def test_verified_bytecode_is_recognised_without_inspecting_frames(tmp_path):
    """The verifier's own ``marshal.loads`` of checked bytecode is known by its bytes: the guard
    takes no frame (``sys._getframe``, an audit event itself) for it, while importlib's
    unmarshalling of a standard-library file still goes through the frame check."""
    key = generate_key()
    site = write_tree(tmp_path / "site", {"sealed_mod.py": "VALUE = 7\n"})
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(site)], check=True, env=clean_env(), timeout=120
    )
    sign_directory(site, key)
    code = (
        sealed_child_head(key, site)
        + """
import hashlib, signedimp.guard, signedimp.loader, signedimp.roots, signedimp.entries, signedimp.folderfinder
events = []
sys.addaudithook(lambda event, args: events.append(event))
import sealed_mod
print(sealed_mod.VALUE, events.count("marshal.loads"), events.count("sys._getframe"))
"""
    )
    proc = run_python(code, env=clean_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["7", "1", "0"]


def test_verified_modules_run_by_identity_without_registration(tmp_path):
    """A verified module's code runs through ``guard.exec_verified``: the hook knows the
    ``exec`` by identity (this thread's slot), so the code object is not registered in the
    weak registry (``mark_verified``: a closure and a weak reference per module); the code
    ``get_code`` hands out (runpy, debuggers) still is, and runs anywhere."""
    key = generate_key()
    site = write_tree(tmp_path / "site", {"sealed_mod.py": "VALUE = 7\n", "other_mod.py": "VALUE = 8\n"})
    sign_directory(site, key)
    code = (
        sealed_child_head(key, site)
        + """
from signedimp import guard
import sealed_mod
print(sealed_mod.VALUE, sorted(name.rpartition("/")[2] for name in guard._produced), guard._executing)
import importlib.util
spec = importlib.util.find_spec("other_mod")
handed_out = spec.loader.get_code("other_mod")
namespace = {}
exec(handed_out, namespace)
print(namespace["VALUE"], sorted(name.rpartition("/")[2] for name in guard._produced))
"""
    )
    proc = run_python(code, env=clean_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["7 [] {}", "8 ['other_mod.py']"]


def test_exec_verified_lets_through_only_its_own_call(tmp_path):
    """The slot of ``exec_verified`` matches the ``exec`` it makes and nothing else: code
    of an untrusted module file that this code runs in turn, the same code object run by
    itself, and run again after the call, are refused as any unverified code is."""
    evil = tmp_path / "evil.py"
    code = f"""
import sys
sys.path.insert(0, {str(PROJECT_ROOT)!r})
import signedimp
from signedimp import guard
signedimp.SignedImportManager([signedimp.Ed25519Key(bytes(range(32)))]).install()
inner = compile("VALUE = 1", {str(evil)!r}, "exec")
outer = compile("exec(INNER, {{}})", {str(tmp_path / "outer.py")!r}, "exec")
try:
    guard.exec_verified(outer, {{"INNER": inner}})
except signedimp.IntegrityCheckMissing as exc:
    print("inner refused", exc.file == {str(evil)!r})
try:
    guard.exec_verified(outer, {{"INNER": outer}})
except signedimp.IntegrityCheckMissing as exc:
    print("itself refused", guard._executing)
try:
    exec(outer, {{"INNER": None}})
except signedimp.IntegrityCheckMissing as exc:
    print("outer again refused", guard._executing)
"""
    proc = run_python(code, env=clean_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["inner refused True", "itself refused {}", "outer again refused {}"]
