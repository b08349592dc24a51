"""get_bootstrap_code: one self-contained text that installs the verifier, run in real interpreters."""

from __future__ import annotations

import ast
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from signedimp.bootstrap_text import compact
from signedimp.submodules import DEFERRED, DEPENDS
from signedimp.tools import _bootstrap as bootstrap
from signedimp.tools import generate_key, sign_directory
from signedimp.tools._bootstrap import NOT_RUNTIME, get_bootstrap_code, relative_imports, runtime_modules

from .helpers import PROJECT_ROOT, clean_env, run_python, write_tree

PACKAGE_DIR = PROJECT_ROOT / "signedimp"

# Runs after the bootstrap in the child: reports what it changed, as JSON on the last line.
REPORT = """
import json, sys
new = sorted(set(sys.modules) - _before)
print(json.dumps({
    "signedimp_file": sys.modules["signedimp"].__file__,
    "first_finder": type(sys.meta_path[0]).__name__,
    "managers": sum(type(f).__name__ == "SignedImportManager" for f in sys.meta_path),
    "keys": sorted(k.fingerprint for k in sys.meta_path[0].keys),
    "new_modules": new,
    "stdlib": sorted(sys.stdlib_module_names),
}))
"""


@pytest.fixture(scope="module")
def key():
    return generate_key()


@pytest.fixture(scope="module")
def code(key):
    return get_bootstrap_code(key.public_key)


def run_child(source: str, *args: str, cwd=None, interpreter=None, isolated=True):
    command = [interpreter or sys.executable, *(["-I"] if isolated else []), *args]
    if source is not None:
        command += ["-c", source]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=clean_env(), timeout=120)


def last_json(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def assert_stdlib_only(report: dict) -> None:
    stdlib = set(report["stdlib"])
    foreign = [
        m
        for m in report["new_modules"]
        if m.split(".")[0] not in stdlib
        and m != "signedimp"
        and not m.startswith("signedimp.")
        and not m.startswith("_sysconfigdata")
    ]
    assert foreign == []


def _deferred_imports(tree: ast.AST) -> list[tuple[ast.ImportFrom, str, bool]]:
    """(node, deferred module, at the top of the file) for each relative import of one."""
    top = {id(node) for node in getattr(tree, "body", [])}
    typing_only = {  # ``if TYPE_CHECKING:`` imports are for annotations, never executed
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
        for inner in ast.walk(node)
    }
    found = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names = [node.module.split(".")[0]] if node.module else [alias.name for alias in node.names]
            found.extend((node, name, id(node) in top) for name in names if name in DEFERRED)
    return found


def test_modules_run_at_import_reach_deferred_ones_only_through_the_package():
    """``from . import x`` in a function goes through ``signedimp.__getattr__`` (submodules.load);
    ``from .x import y`` would search ``sys.meta_path``, where an installed manager would have to
    vet the runtime it belongs to (in an unsealed site-packages: refuse it)."""
    for name in bootstrap.eager_modules():
        for node, target, at_top in _deferred_imports(ast.parse((PACKAGE_DIR / f"{name}.py").read_text())):
            assert not at_top and node.module is None, (name, target, node.lineno)


def test_deferred_modules_name_what_they_import():
    """A deferred module's own imports of other deferred modules must already be in
    ``sys.modules`` when it runs: ``DEPENDS`` lists them and ``load`` runs them first. The one
    exception is ``from . import x`` inside a function, which goes through the package's
    ``__getattr__`` (``submodules.load``) as in the modules run at import: a module needed only
    on a rarer path (``zipdir``, for archives) then runs only when that path is taken."""
    for name in sorted(DEFERRED):
        tree = ast.parse((PACKAGE_DIR / f"{name}.py").read_text())
        found = _deferred_imports(tree)
        named = {target for node, target, at_top in found if at_top or node.module is not None}
        lazy = {target for node, target, at_top in found if not at_top and node.module is None}
        assert named <= set(DEPENDS.get(name, ())) <= named | lazy, name


def test_a_folder_only_process_does_not_run_the_zip_modules(tmp_path):
    """A sealed folder needs no zip reader: ``zipdir`` runs at the first archive only."""
    key = generate_key()
    write_tree(tmp_path / "site", {"mod.py": "VALUE = 1\n"})
    sign_directory(tmp_path / "site", key)
    code = (
        "import sys, signedimp\n"
        f"signedimp.SignedImportManager([signedimp.load_public_key({key.public_pem().decode()!r})]).install()\n"
        f"sys.path.insert(0, {str(tmp_path / 'site')!r})\n"
        "import mod\n"
        "print(mod.VALUE, 'signedimp.zipdir' in sys.modules, 'signedimp.zipentries' in sys.modules,"
        " 'signedimp.entries' in sys.modules)\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "False", "False", "True"]


def test_import_signedimp_runs_only_the_eager_modules():
    code = (
        "import sys, signedimp\n"
        "print(sorted(m for m in sys.modules if m.startswith('signedimp.')))\n"
        "print('hashlib' in sys.modules, '_hashlib' in sys.modules)\n"
        "m = signedimp.SignedImportManager([signedimp.Ed25519Key(bytes(32))]).install()\n"
        "m.uninstall()\n"
        "print(signedimp.Manifest.__module__, signedimp.MANIFEST_NAME)\n"
        "print(signedimp.frozen.FrozenAppManager.__module__)\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    out = result.stdout.splitlines()
    eager = sorted(f"signedimp.{n}" for n in bootstrap.eager_modules() if n != "__init__")
    assert out[0] == repr(eager)
    assert out[1] == "False False"  # OpenSSL is loaded when something is verified, not before
    assert out[2:] == ["signedimp.manifest signedimp-manifest.txt", "signedimp.frozen"]


# -- the module list -----------------------------------------------------------------------------


def test_every_module_of_the_runtime_folder_is_embedded():
    """The boundary is the folder: every ``signedimp/*.py`` (but the ``-m`` entry point) is
    runtime and embedded; the tools live in ``signedimp/tools/``."""
    files = {p.stem for p in PACKAGE_DIR.glob("*.py")}
    runtime = set(runtime_modules())
    assert runtime.isdisjoint(NOT_RUNTIME)
    assert files - runtime == set(NOT_RUNTIME), (
        "new signedimp module(s) not reachable from __init__ by top-level relative imports: "
        "import them from the runtime, or move them to signedimp/tools/"
    )


def test_no_runtime_module_imports_the_tools():
    """Not even inside a function: ``get_bootstrap_code`` is the runtime's own
    (``bootstrap_text.py``)."""
    for name in runtime_modules():
        tree = ast.parse((PACKAGE_DIR / f"{name}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = "." * node.level + (node.module or "")
                names = [alias.name for alias in node.names]
                if (
                    target.startswith(".tools")
                    or target == "signedimp.tools"
                    or (target == "." and "tools" in names)
                ):
                    raise AssertionError(f"{name} imports {target} {names}")
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("signedimp.tools") for a in node.names), name


def test_runtime_order_respects_imports():
    order = list(runtime_modules())
    eager = list(bootstrap.eager_modules())
    assert eager[-1] == "__init__"
    assert order[: len(eager)] == eager  # the deferred modules come after, never run by _build
    assert set(order[len(eager) :]) == DEFERRED
    assert bootstrap.RUNTIME_MODULES == tuple(order)
    for position, name in enumerate(order):
        deps = relative_imports((PACKAGE_DIR / f"{name}.py").read_text(encoding="utf-8"))
        assert all(order.index(dep) < position for dep in deps), (name, deps)


def test_runtime_imports_only_stdlib_and_itself():
    for name in runtime_modules():
        tree = ast.parse((PACKAGE_DIR / f"{name}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = [node.module.split(".")[0]]
            else:
                continue
            # the built-in SHA-256 module is _sha256 before 3.12 and _sha2 from then on
            assert all(r in sys.stdlib_module_names or r in ("_sha2", "_sha256") for r in roots), (
                name,
                roots,
            )


def test_relative_imports_reads_module_level_only():
    source = (
        "from .a import x\nfrom . import b, c\ntry:\n    from .d import y\nexcept ImportError:\n    pass\n"
        "def f():\n    from .lazy import z\n"
    )
    assert relative_imports(source) == ["a", "b", "c", "d"]


# -- running it -----------------------------------------------------------------------------------


def test_python_isolated_c_installs_the_embedded_verifier(key, code):
    result = run_child("import sys\n_before = set(sys.modules)\n" + code + REPORT)
    report = last_json(result)
    assert report["signedimp_file"] == "<signedimp-bootstrap>/signedimp/__init__.py"
    assert report["first_finder"] == "SignedImportManager"
    assert report["managers"] == 1
    assert report["keys"] == [key.fingerprint]
    assert "signedimp.manager" in report["new_modules"]
    assert_stdlib_only(report)


def test_exec_and_idempotent(key, code):
    driver = (
        "import sys\n_before = set(sys.modules)\n"
        f"code = {code!r}\n"
        "exec(code, {'__name__': 'startup'})\n"
        "exec(code, {'__name__': 'startup'})\n"
    )
    report = last_json(run_child(driver + REPORT))
    assert report["managers"] == 1
    assert report["signedimp_file"].startswith("<signedimp-bootstrap>")
    assert_stdlib_only(report)


def test_refuses_unsigned_and_modified_after_bootstrap(tmp_path, key, code):
    unsigned = write_tree(tmp_path / "unsigned", {"plain_mod.py": "VALUE = 1\n"})
    signed = write_tree(tmp_path / "signed", {"good_mod.py": "VALUE = 2\n", "bad_mod.py": "VALUE = 3\n"})
    sign_directory(signed, key)
    (signed / "bad_mod.py").write_text("VALUE = 666\n")
    probe = (
        code
        + f"""
import sys
sys.path[:0] = [{str(unsigned)!r}, {str(signed)!r}]
import good_mod
print("good", good_mod.VALUE)
for name in ("plain_mod", "bad_mod"):
    try:
        __import__(name)
    except ImportError as exc:
        print(name, type(exc).__name__, exc)
    else:
        print(name, "IMPORTED")
"""
    )
    result = run_child(probe)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "good 2"
    assert lines[1].startswith("plain_mod IntegrityCheckMissing ")
    assert "plain_mod.py" in lines[1]
    assert lines[2].startswith("bad_mod IntegrityCheckFailed ")
    assert "bad_mod.py" in lines[2]


def test_modules_beside_the_script_cannot_shadow_the_verifiers_stdlib(tmp_path, key, code):
    # The script's folder comes first on sys.path: its files named like the modules the
    # verifier hashes with (_sha2, _hashlib, and hashlib, which it used to need) must not be
    # what the verifier imports, and the app's own imports of them are refused like any
    # other unsigned module of that folder.
    shadows = ("hashlib", "_hashlib", "_sha2", "_sha256", "_sha512", "base64")
    tree = {f"{name}.py": f"raise SystemExit('shadowed {name} ran')\n" for name in shadows}
    tree["signed/signed_mod.py"] = "VALUE = 7\n"
    tree["startup.py"] = (
        code + "\nimport sys\nsys.path.append(sys.path[0] + '/signed')\n"
        "import signed_mod\nprint('signed', signed_mod.VALUE)\n"
        "for name in ('_sha2', '_sha256', '_sha512', '_hashlib'):\n"
        "    module = sys.modules.get(name)\n"
        "    if module is not None:\n"
        "        print('loaded', name, getattr(module, '__file__', 'built-in'))\n"
        "for name in ('hashlib', 'helper'):\n"
        "    try:\n        __import__(name)\n"
        "    except ImportError as exc:\n        print('refused', name, type(exc).__name__)\n"
    )
    tree["helper.py"] = "VALUE = 1\n"
    write_tree(tmp_path, tree)
    sign_directory(tmp_path / "signed", key)
    result = run_child(None, str(tmp_path / "startup.py"), isolated=False)
    assert result.returncode == 0, result.stderr + result.stdout
    lines = result.stdout.splitlines()
    assert lines[0] == "signed 7"
    loaded = [line for line in lines if line.startswith("loaded ")]
    assert loaded, lines  # the verifier hashed signed_mod.py with one of them
    assert all(str(tmp_path) not in line for line in loaded), loaded
    assert lines[len(loaded) + 1 :] == [
        "refused hashlib IntegrityCheckMissing",
        "refused helper IntegrityCheckMissing",
    ]


def test_key_forms(key):
    rsa = generate_key("rsa", bits=2048)
    pem = key.public_pem().decode()
    for keys, expected in [
        (key, [key.fingerprint]),
        (pem, [key.fingerprint]),
        ([key.public_key, rsa.public_key], sorted([key.fingerprint, rsa.fingerprint])),
        ({rsa.fingerprint: rsa.public_key}, [rsa.fingerprint]),
    ]:
        source = "import sys\n_before = set(sys.modules)\n" + get_bootstrap_code(keys) + REPORT
        assert last_json(run_child(source))["keys"] == expected
    with pytest.raises(ValueError):
        get_bootstrap_code([])


def test_trusted_paths_empty_refuses_the_stdlib_too(key):
    code = get_bootstrap_code(key, trusted_paths=())
    result = run_child(
        code + "\ntry:\n    import colorsys\nexcept ImportError as exc:\n    print(type(exc).__name__)\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "IntegrityCheckMissing"


def test_embedded_bytecode_is_used_and_falls_back_on_another_python(tmp_path, key):
    code = get_bootstrap_code(key, bytecode=True)
    probe = (
        code
        + "\nimport sys\nprint(sys.modules['signedimp.manager'].SignedImportManager.__init__.__code__.co_filename)\n"
    )
    script = tmp_path / "startup.py"
    script.write_text(probe, encoding="utf-8")
    result = run_child(None, str(script))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "<signedimp-bootstrap>/signedimp/manager.py"
    other = other_python()
    if other is None:
        pytest.skip("no other Python 3.10-3.13 interpreter to try the fallback")
    result = run_child(None, str(script), interpreter=other)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "<signedimp-bootstrap>/signedimp/manager.py"


def test_cli_bootstrap_prints_the_same_code(tmp_path, key):
    pub = tmp_path / "key.pub"
    pub.write_bytes(key.public_pem())
    result = subprocess.run(
        [sys.executable, "-m", "signedimp", "bootstrap", "--key", str(pub)],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == get_bootstrap_code(key.public_key)


def test_fits_one_command_line_argument(key):
    # Linux caps one argv string at 128 KiB (131,072 bytes, MAX_ARG_STRLEN): the source-only
    # bootstrap must fit in ``-c``, with room to spare for more keys.
    assert len(get_bootstrap_code([key, generate_key("rsa", bits=2048)]).encode()) < 120_000


def other_python() -> str | None:
    """Another CPython 3.10-3.13 on this machine (so: another magic number), if one runs."""
    here = sys.version_info[:2]
    for minor in (10, 11, 12, 13):
        if (3, minor) == here:
            continue
        candidates = sorted(str(p) for p in Path.home().glob(f".pyenv/versions/3.{minor}.*/bin/python3"))
        candidates += [shutil.which(f"python3.{minor}") or ""]
        for candidate in filter(None, candidates):
            try:
                ok = (
                    subprocess.run([candidate, "-c", "pass"], capture_output=True, timeout=30).returncode == 0
                )
            except OSError:
                ok = False
            if ok:
                return candidate
    return None


def test_split_bootstrap_pins_its_members_and_leaves_the_public_text_whole(key):
    # Only a zipapp's own __main__ uses the split form; get_bootstrap_code stays self-contained.
    text, members = bootstrap.split_bootstrap(key, bytecode=True)
    assert set(members) == {bootstrap.SOURCES_MEMBER, bootstrap.BYTECODE_MEMBER}
    for name, data in members.items():
        assert repr((name, hashlib.sha256(data).hexdigest())) in text
    assert len(text) < 20_000
    assert bootstrap.RUNTIME_FOLDER not in get_bootstrap_code(key, bytecode=True)


# -- the fixed part of the text is a real module (bootstrap_prelude.py) ------------------


def _normalised(nodes: list[ast.stmt]) -> list[str]:
    """ast dumps of ``nodes`` with docstrings cleaned (indenting the text re-indents them)."""
    import inspect

    out = []
    for node in nodes:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and "\n" in sub.value:
                sub.value = inspect.cleandoc(sub.value)
        out.append(ast.dump(node))
    return out


def test_prelude_below_its_marker_is_what_the_bootstrap_embeds(key):
    source = (PROJECT_ROOT / "signedimp/bootstrap_prelude.py").read_text(encoding="utf-8")
    head, marker, body = source.partition(bootstrap.PRELUDE_MARKER)
    assert marker, "the EMBEDDED marker line is missing"
    # Above the marker: nothing that runs an import (typing names live under TYPE_CHECKING).
    for node in ast.parse(head).body:
        assert not isinstance(node, (ast.Import, ast.ImportFrom)), ast.dump(node)
    # Below it: definitions only, so embedding the text runs nothing but ``def`` and ``class``.
    module_nodes = ast.parse(body).body
    assert module_nodes and all(isinstance(n, (ast.FunctionDef, ast.ClassDef)) for n in module_nodes)
    text = get_bootstrap_code(key)
    assert bootstrap.prelude_text() in text
    (function,) = [n for n in ast.parse(text).body if isinstance(n, ast.FunctionDef)]
    embedded = [n for n in function.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    # embedded compacted: docstrings and comments blanked (bootstrap_text.compact), code the same
    assert _normalised(embedded) == _normalised(ast.parse(compact(body)).body)
    assert "_LOADER_TEXT" not in Path(bootstrap.__file__).read_text(encoding="utf-8")


def test_prelude_unpacks_what_the_generator_packs():
    from signedimp import bootstrap_prelude as prelude

    items = [("__init__", b"x = 1\n"), ("keys", "é\n".encode()), ("empty", b"")]
    literal = ast.literal_eval(bootstrap.pack(items))
    assert prelude._unpack({}, literal) == items


def test_prelude_reads_a_pinned_member_through_the_scripts_loader(tmp_path):
    import zipfile
    import zipimport

    from signedimp import bootstrap_prelude as prelude

    data = bootstrap.packed([("__init__", b"pass\n")])
    archive = tmp_path / "app.pyz"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("__main__.py", "pass\n")
        zf.writestr(bootstrap.SOURCES_MEMBER, data)
    script = {"__file__": f"{archive}/__main__.py", "__loader__": zipimport.zipimporter(str(archive))}
    digest = hashlib.sha256(data).hexdigest()
    assert prelude._read_member(script, bootstrap.SOURCES_MEMBER, digest) == data
    assert prelude._unpack(script, (bootstrap.SOURCES_MEMBER, digest)) == [("__init__", b"pass\n")]
    with pytest.raises(prelude._Refused, match="does not match the SHA-256 pinned in __main__"):
        prelude._read_member(script, bootstrap.SOURCES_MEMBER, "0" * 64)
    with pytest.raises(prelude._Refused, match="the runtime member _signedimp_runtime/nope is missing"):
        prelude._read_member(script, f"{bootstrap.RUNTIME_FOLDER}/nope", digest)
    # A folder run as a script has a plain file loader, or none at all: read with open().
    (tmp_path / bootstrap.RUNTIME_FOLDER).mkdir()
    (tmp_path / bootstrap.SOURCES_MEMBER).write_bytes(data)
    folder_script = {"__file__": str(tmp_path / "__main__.py")}
    assert prelude._read_member(folder_script, bootstrap.SOURCES_MEMBER, digest) == data


def test_prelude_finds_where_the_standard_library_starts_on_sys_path():
    from signedimp import bootstrap_prelude as prelude

    index = prelude._stdlib_start(sys)
    import os

    stdlib = (getattr(sys, "_stdlib_dir", None) or os.path.dirname(os.__file__)).rstrip("/")
    zipped = str(Path(stdlib).parent / f"python{sys.version_info[0]}{sys.version_info[1]}.zip")
    assert sys.path[index].rstrip("/") in (stdlib, zipped)
    assert all(entry.rstrip("/") not in (stdlib, zipped) for entry in sys.path[:index])


def test_no_code_in_strings_and_the_text_is_reproducible(key):
    """The generator's only strings are short generated lines: the code it embeds or runs is
    read from real modules (bootstrap_prelude.py, tools/_bootstrap_compile.py)."""
    tree = ast.parse(Path(bootstrap.__file__).read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            text = node.value
        else:
            continue
        assert text.count("\n") <= 4, f"line {node.lineno}: code in a string?"
    assert get_bootstrap_code(key, bytecode=True) == get_bootstrap_code(key, bytecode=True)
    magic, codes = bootstrap.compiled_runtime(bootstrap.runtime_sources())
    assert set(codes) == set(runtime_modules())


def test_deferred_modules_load_under_an_installed_manager(tmp_path):
    """An import statement naming a deferred module, with a manager installed and signedimp in
    an unsealed folder: the manager answers it with the verifier's own module, not a refusal."""
    shutil.copytree(
        PACKAGE_DIR, tmp_path / "signedimp", ignore=shutil.ignore_patterns("tools", "__pycache__")
    )
    code = (
        "import sys, signedimp\n"
        "m = signedimp.SignedImportManager([signedimp.Ed25519Key(bytes(32))]).install()\n"
        "import signedimp.zipdir\n"
        "from signedimp.der import encode_null\n"
        "from signedimp import elf\n"
        "print(signedimp.zipdir.read_zip_names.__module__, encode_null(), elf.__name__)\n"
        "try:\n"
        "    import signedimp_not_there\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__name__)\n"
        "m.uninstall()\n"
    )
    result = run_python(code, cwd=tmp_path, env=clean_env(PYTHONPATH=str(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "signedimp.zipdir b'\\x05\\x00' signedimp.elf",
        "ModuleNotFoundError",
    ]


def test_a_deferred_modules_stdlib_imports_pass_over_a_shadowing_file(tmp_path):
    """``mmap`` shadowed by an untrusted file beside the script, imported by a deferred module
    of an installed signedimp (``extensions``, which imports it late): a deferred
    module's imports are searched in the trusted standard library only (``submodules.
    stdlib_only``), so it gets the standard library's ``mmap`` and the file never runs."""
    shutil.copytree(
        PACKAGE_DIR, tmp_path / "signedimp", ignore=shutil.ignore_patterns("tools", "__pycache__")
    )
    write_tree(tmp_path, {"app/mmap.py": "raise SystemExit('shadowed mmap ran')\n"})
    code = (
        "import sys, signedimp\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "m = signedimp.SignedImportManager([signedimp.Ed25519Key(bytes(32))]).install()\n"
        "try:\n"
        "    signedimp.extensions\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__name__, getattr(exc, 'file', None))\n"
        "print('signedimp.extensions' in sys.modules, sys.modules['mmap'].__file__)\n"
        "m.uninstall()\n"
    )
    result = run_python(code, str(tmp_path / "app"), cwd=tmp_path, env=clean_env(PYTHONPATH=str(tmp_path)))
    assert result.returncode == 0, result.stderr
    import mmap

    assert result.stdout.splitlines() == [f"True {mmap.__file__}"]


def test_deferred_modules_find_their_stdlib_loaded():
    """What deferred modules import from the standard library is loaded by Python before any
    script runs, or is in ``LATE_STDLIB`` (submodules.py): left to its first use while the
    standard library is trusted (``STDLIB_FIRST`` searched there first, so that a search for
    one of them never runs a deferred module: tests/test_verifier_stdlib.py), and imported at
    ``install()`` by a manager that verifies the standard library too."""
    from signedimp.bootstrap_text import deferred_stdlib_imports
    from signedimp.submodules import LATE_STDLIB

    code = (
        "import sys, signedimp\n"
        "print(' '.join(sorted(sys.modules)))\n"
        "m = signedimp.SignedImportManager([signedimp.Ed25519Key(bytes(32))]).install()\n"
        "print(' '.join(n for n in signedimp.submodules.LATE_STDLIB if n in sys.modules))\n"
        "m.uninstall()\n"
        "m = signedimp.SignedImportManager([signedimp.Ed25519Key(bytes(32))], trusted_paths=()).install()\n"
        "print(' '.join(n for n in signedimp.submodules.LATE_STDLIB if n in sys.modules))\n"
        "m.uninstall()\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    loaded, late_trusting, late_verifying = result.stdout.splitlines()
    needed = set(deferred_stdlib_imports(bootstrap.runtime_sources()))
    assert needed - set(LATE_STDLIB) <= set(loaded.split()), needed - set(loaded.split())
    # every name there is one a deferred module imports; hashlib: what digests.py hashes with
    # (_hashlib, or _sha2 without OpenSSL), for a manager that verifies the standard library
    assert set(LATE_STDLIB) - {"hashlib"} <= needed
    assert late_trusting.split() == []  # python -I -c pass imports none of them either
    builtin_only = {"fcntl"} if sys.platform == "win32" else set()
    assert set(late_verifying.split()) == set(LATE_STDLIB) - builtin_only


def test_a_zip_on_sys_path_while_importlib_is_imported(tmp_path):
    """A zip entry's finder is made (zipfinder, entries... run) while ``import importlib`` is
    searching: importlib must still be one module, with its submodules as attributes."""
    import zipfile

    with zipfile.ZipFile(tmp_path / "lib.zip", "w") as archive:
        archive.writestr("mod.py", "")
    code = (
        "import sys, signedimp\n"
        "m = signedimp.SignedImportManager([signedimp.Ed25519Key(bytes(32))]).install()\n"
        f"sys.path.insert(0, {str(tmp_path / 'lib.zip')!r})\n"
        "import importlib, importlib.resources, pkgutil, struct\n"
        "print(importlib.machinery is sys.modules['importlib.machinery'])\n"
        "m.uninstall()\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True"]


def test_threads_racing_for_deferred_modules_get_one_module_each():
    code = (
        "import sys, threading, signedimp\n"
        "m = signedimp.SignedImportManager([signedimp.Ed25519Key(bytes(32))]).install()\n"
        "names = sorted(signedimp.submodules.DEFERRED)\n"
        "seen = []\n"
        "start = threading.Barrier(8)\n"
        "def work():\n"
        "    start.wait()\n"
        "    seen.append(tuple(id(getattr(signedimp, n)) for n in names))\n"
        "threads = [threading.Thread(target=work) for _ in range(8)]\n"
        "for t in threads: t.start()\n"
        "for t in threads: t.join()\n"
        "m.uninstall()\n"
        "print(len(seen), len(set(seen)))\n"
        "print(seen[0] == tuple(id(sys.modules['signedimp.' + n]) for n in names))\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["8", "1", "True"]


def test_version_is_read_on_first_use():
    """``__version__`` comes from ``__about__`` when asked for: one module search less at every
    ``import signedimp`` (bench_startup.py), the same value for every spelling."""
    from signedimp.__about__ import __version__

    code = (
        "import sys, signedimp\n"
        "print('signedimp.__about__' in sys.modules)\n"
        "from signedimp import __version__\n"
        "print(__version__, signedimp.__version__, 'signedimp.__about__' in sys.modules)\n"
        "print('__version__' in dir(signedimp))\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["False", f"{__version__} {__version__} True", "True"]
