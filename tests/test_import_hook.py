"""The honest path: every signed layout imports and behaves exactly as it does unsigned.

Each check runs in a fresh interpreter that installs ``SignedImportManager`` (or, for the
comparison, does not) and reports what it saw as JSON. Where a layout is compared with its
unsigned self, the two reports must be identical except for the loader.
"""

from __future__ import annotations

import ast
import compileall
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from signedimp import MANIFEST_NAME, Manifest
from signedimp.tools import generate_key, sha256_hex, sign_directory, sign_manifest, sign_wheel, sign_zipfile

from .helpers import PROJECT_ROOT, clean_env, run_python, write_tree

PRELUDE = r"""
import ast, os, sys
CFG = ast.literal_eval(sys.argv[1])
sys.path.insert(0, CFG["project"])
import signedimp
from signedimp import SignedImportManager, load_public_key, IntegrityCheckFailed, IntegrityCheckMissing
del sys.path[0]
def _key(path):
    with open(path, "rb") as f:
        return load_public_key(f.read())
KEYS = [_key(p) for p in CFG["pubs"]]
MANAGER = None
if CFG["manager"]:
    kwargs = {} if CFG["trusted"] == "default" else {"trusted_paths": CFG["trusted"]}
    MANAGER = SignedImportManager(KEYS, **kwargs).install()
sys.path[0:0] = CFG["paths"]
OUT = {}
def error(exc):
    return {"error": type(exc).__name__, "message": str(exc), "module": getattr(exc, "module", None),
            "file": getattr(exc, "file", None)}
def loader_name(module):
    return type(module.__spec__.loader).__name__
"""

EPILOGUE = r"""
print("RESULT:" + repr(OUT))  # repr, not json: with trusted_paths=() json cannot be imported
"""


def result(proc) -> dict:
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT:")]
    assert len(lines) == 1, (proc.stdout, proc.stderr)
    return ast.literal_eval(lines[0][len("RESULT:") :])


def hooked(
    snippet: str,
    paths,
    pubs,
    *,
    manager: bool = True,
    trusted="default",
    cwd=None,
    interpreter: str | None = None,
) -> dict:
    cfg = {
        "project": str(PROJECT_ROOT),
        "paths": [str(p) for p in paths],
        "pubs": [str(p) for p in pubs],
        "manager": manager,
        "trusted": trusted,
    }
    code = PRELUDE + textwrap.dedent(snippet) + EPILOGUE
    return result(run_python(code, repr(cfg), cwd=cwd, interpreter=interpreter))


# -- keys and sample trees -------------------------------------------------------------------


@pytest.fixture(scope="session")
def keys(tmp_path_factory):
    """Three Ed25519 keys and one RSA key, with their public PEM files."""
    folder = tmp_path_factory.mktemp("hook-keys")
    made = {
        "a": generate_key(),
        "b": generate_key(),
        "other": generate_key(),
        "rsa": generate_key("rsa", 2048),
    }
    pubs = {}
    for name, key in made.items():
        pubs[name] = folder / f"{name}.pub.pem"
        pubs[name].write_bytes(key.public_pem())
    return made, pubs


APP = {
    "app/__init__.py": '''\
        """The app package."""
        from .core import greet
        from . import sub
        VALUE = "app"
        ''',
    "app/__main__.py": """\
        import sys
        from app.core import greet
        from . import VALUE
        print("main:", __name__, __spec__.name, __file__.replace("\\\\", "/").rsplit("/", 2)[-2:], greet("main"), VALUE, sys.argv[1:])
        """,
    "app/core.py": '''\
        import os


        def greet(who):
            return f"hello {who}"


        def boom():
            raise ValueError("boom from core")


        class Thing:
            """A documented class."""

            def method(self):
                return greet("thing")


        if __name__ == "__main__":
            print("core as main:", __name__, __spec__.name, greet("core"))
        ''',
    "app/sub/__init__.py": """\
        from ..core import greet as g
        VALUE = "sub:" + g("sub")
        """,
    "app/sub/leaf.py": """\
        from . import VALUE as PARENT
        from .. import core
        from ..core import Thing
        LEAF = PARENT + "/" + core.greet("leaf") + "/" + Thing().method()
        """,
    "app/resource.txt": "resource text\n",
    "app/data/config.txt": "config data\n",
    "app/data/nested/deep.bin": b"\x00\x01binary\xff",
    "app/sub/sub.txt": "sub resource\n",
}

DESCRIBE = r"""
import importlib, importlib.resources as ir, inspect, pkgutil, traceback, warnings
import app, app.sub.leaf, app.core

def describe(name):
    m = sys.modules[name]
    s = m.__spec__
    return {"name": m.__name__, "file": getattr(m, "__file__", None), "package": m.__package__,
            "path": list(m.__path__) if hasattr(m, "__path__") else None, "origin": s.origin,
            "parent": s.parent, "has_location": s.has_location,
            "search": None if s.submodule_search_locations is None else list(s.submodule_search_locations),
            "doc": m.__doc__, "cached": getattr(m, "__cached__", None)}

OUT["modules"] = [describe(n) for n in ("app", "app.core", "app.sub", "app.sub.leaf")]
OUT["leaf"] = app.sub.leaf.LEAF
OUT["get_data"] = pkgutil.get_data("app", "resource.txt").decode()
OUT["get_data_nested"] = pkgutil.get_data("app", "data/nested/deep.bin").hex()
OUT["get_data_sub"] = pkgutil.get_data("app.sub", "sub.txt").decode()
files = ir.files("app")
OUT["files_read_bytes"] = (files / "data" / "config.txt").read_bytes().decode()
OUT["files_read_text"] = files.joinpath("resource.txt").read_text()
OUT["files_open"] = files.joinpath("data", "nested", "deep.bin").open("rb").read().hex()
OUT["files_kinds"] = [files.joinpath("data").is_dir(), files.joinpath("data").is_file(),
                      files.joinpath("resource.txt").is_file(), files.joinpath("missing").is_file()]
OUT["iterdir"] = sorted(p.name for p in files.iterdir())
OUT["iterdir_data"] = sorted(p.name for p in (files / "data").iterdir())
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    OUT["read_text"] = ir.read_text("app", "resource.txt")
    OUT["is_resource"] = [ir.is_resource("app", "resource.txt"), ir.is_resource("app", "data")]
with ir.as_file(files / "resource.txt") as path:
    OUT["as_file"] = [os.path.isfile(path), open(path).read()]
OUT["getsource_func"] = inspect.getsource(app.core.boom)
OUT["getsource_class"] = inspect.getsource(app.core.Thing)
OUT["getsource_module"] = inspect.getsource(app.sub.leaf)
OUT["getdoc"] = inspect.getdoc(app.core.Thing)
try:
    app.core.boom()
except ValueError:
    OUT["traceback"] = traceback.format_exc().splitlines()[-3:]
OUT["loaders"] = sorted({loader_name(sys.modules[n]) for n in ("app", "app.core", "app.sub", "app.sub.leaf")})
"""


def build_zip(archive: Path, tree: Path, prefix: str = "", extra=()) -> Path:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in extra:
            zf.writestr(name, data)
        if prefix:
            zf.writestr(prefix, b"")
        for path in sorted(tree.rglob("*")):  # directory entries too, as `zip -r` writes them
            zf.write(path, prefix + path.relative_to(tree).as_posix())
    return archive


@pytest.fixture(scope="module")
def layouts(tmp_path_factory, keys):
    """The sample app as a signed directory, a signed zip, and a zip with a signed lib/ subpath."""
    key = keys[0]["a"]
    base = tmp_path_factory.mktemp("layouts")
    src = write_tree(base / "src", APP)
    directory = base / "dir"
    shutil.copytree(src, directory)
    sign_directory(directory, key)
    archive = build_zip(base / "app.zip", src)
    sign_zipfile(archive, key)
    # lib/ signed as a directory before zipping, so the entry app.zip/lib has its own manifest
    lib = base / "staging" / "lib"
    shutil.copytree(src, lib)
    sign_directory(lib, key)
    subpath_zip = build_zip(base / "sub.zip", lib.parent, extra=[("README.txt", "top level\n")])
    sign_zipfile(subpath_zip, key)
    # the same tree below lib/, signed only by sign_zipfile (the archive's root manifest)
    rootsigned = build_zip(base / "rootsigned.zip", src, prefix="lib/")
    sign_zipfile(rootsigned, key)
    # a zipapp-style archive: a #! line before the zip
    pyz = base / "app.pyz"
    body = build_zip(base / "body.zip", src)
    pyz.write_bytes(b"#!/usr/bin/env python3\n" + body.read_bytes())
    sign_zipfile(pyz, key)
    assert pyz.read_bytes().startswith(b"#!/usr/bin/env python3\n")
    return {
        "dir": directory,
        "zip": archive,
        "pyz": pyz,
        "zip_subpath": subpath_zip / "lib",
        "zip_subpath_root_manifest": rootsigned / "lib",
    }


def expected_describe(entry: Path) -> dict:
    e = str(entry)
    j = os.path.join
    c = importlib.util.cache_from_source
    return {
        "leaf": "sub:hello sub/hello leaf/hello thing",
        "get_data": "resource text\n",
        "get_data_nested": b"\x00\x01binary\xff".hex(),
        "get_data_sub": "sub resource\n",
        "files_read_bytes": "config data\n",
        "files_read_text": "resource text\n",
        "files_open": b"\x00\x01binary\xff".hex(),
        "files_kinds": [True, False, True, False],
        "iterdir": ["__init__.py", "__main__.py", "core.py", "data", "resource.txt", "sub"],
        "iterdir_data": ["config.txt", "nested"],
        "read_text": "resource text\n",
        "is_resource": [True, False],
        "as_file": [True, "resource text\n"],
        "getsource_func": 'def boom():\n    raise ValueError("boom from core")\n',
        "getsource_class": 'class Thing:\n    """A documented class."""\n\n    def method(self):\n        return greet("thing")\n',
        "getsource_module": textwrap.dedent(APP["app/sub/leaf.py"]),
        "getdoc": "A documented class.",
        "traceback": [
            f'  File "{j(e, "app", "core.py")}", line 9, in boom',
            '    raise ValueError("boom from core")',
            "ValueError: boom from core",
        ],
        "modules": [
            {
                "name": "app",
                "file": j(e, "app", "__init__.py"),
                "package": "app",
                "path": [j(e, "app")],
                "origin": j(e, "app", "__init__.py"),
                "parent": "app",
                "has_location": True,
                "search": [j(e, "app")],
                "doc": "The app package.",
                "cached": c(j(e, "app", "__init__.py")),
            },
            {
                "name": "app.core",
                "file": j(e, "app", "core.py"),
                "package": "app",
                "path": None,
                "origin": j(e, "app", "core.py"),
                "parent": "app",
                "has_location": True,
                "search": None,
                "doc": None,
                "cached": c(j(e, "app", "core.py")),
            },
            {
                "name": "app.sub",
                "file": j(e, "app", "sub", "__init__.py"),
                "package": "app.sub",
                "path": [j(e, "app", "sub")],
                "origin": j(e, "app", "sub", "__init__.py"),
                "parent": "app.sub",
                "has_location": True,
                "search": [j(e, "app", "sub")],
                "doc": None,
                "cached": c(j(e, "app", "sub", "__init__.py")),
            },
            {
                "name": "app.sub.leaf",
                "file": j(e, "app", "sub", "leaf.py"),
                "package": "app.sub",
                "path": None,
                "origin": j(e, "app", "sub", "leaf.py"),
                "parent": "app.sub",
                "has_location": True,
                "search": None,
                "doc": None,
                "cached": c(j(e, "app", "sub", "leaf.py")),
            },
        ],
    }


def _strip_loaders(out: dict) -> dict:
    return {k: v for k, v in out.items() if k != "loaders"}


@pytest.mark.parametrize("layout", ["dir", "zip", "pyz", "zip_subpath"])
def test_signed_layout_behaves_as_unsigned(layout, layouts, keys, tmp_path):
    entry = layouts[layout]
    pubs = [keys[1]["a"]]
    signed = hooked(DESCRIBE, [entry], pubs, cwd=tmp_path)
    plain = hooked(DESCRIBE, [entry], pubs, manager=False, cwd=tmp_path)
    assert signed["loaders"] == ["VerifyingLoader"]
    assert plain["loaders"] == (["SourceFileLoader"] if layout == "dir" else ["zipimporter"])
    assert _strip_loaders(signed) == _strip_loaders(plain)
    assert _strip_loaders(signed) == expected_describe(entry)


def test_zip_subpath_covered_by_the_archive_root_manifest(layouts, keys, tmp_path):
    """app.zip/lib on sys.path, signed only by `sign_zipfile` (whose manifest lists lib/...)."""
    entry = layouts["zip_subpath_root_manifest"]
    signed = hooked(DESCRIBE, [entry], [keys[1]["a"]], cwd=tmp_path)
    assert _strip_loaders(signed) == expected_describe(entry)


def test_zip_subpath_manifest_paths_are_relative_to_the_subpath(layouts, keys, tmp_path):
    """app.zip/lib on sys.path: files outside lib/ are not reachable, lib/'s manifest rules."""
    entry = layouts["zip_subpath"]
    out = hooked(
        """
        import app
        OUT["file"] = app.__file__
        try:
            import README
        except ImportError as exc:
            OUT["readme"] = type(exc).__name__
        """,
        [entry],
        [keys[1]["a"]],
        cwd=tmp_path,
    )
    assert out == {"file": str(entry / "app" / "__init__.py"), "readme": "ModuleNotFoundError"}


@pytest.mark.parametrize("layout", ["dir", "zip", "zip_subpath"])
def test_pkgutil_iter_modules_and_walk_packages(layout, layouts, keys, tmp_path):
    snippet = """
        import pkgutil
        import app
        OUT["iter"] = sorted((m.name, m.ispkg) for m in pkgutil.iter_modules(app.__path__, "app."))
        OUT["walk"] = sorted(m.name for m in pkgutil.walk_packages(app.__path__, "app."))
        """
    entry = layouts[layout]
    plain = hooked(snippet, [entry], [keys[1]["a"]], manager=False, cwd=tmp_path)
    assert plain == {
        "iter": [("app.__main__", False), ("app.core", False), ("app.sub", True)],
        "walk": ["app.__main__", "app.core", "app.sub", "app.sub.leaf"],
    }
    signed = hooked(snippet, [entry], [keys[1]["a"]], cwd=tmp_path)
    assert signed == plain


def test_script_directory_as_current_directory(layouts, keys):
    """``python -c`` puts '' (the current directory) first on sys.path: a signed cwd works."""
    out = hooked(
        """
        import app.sub.leaf
        OUT["first"] = sys.path[len(CFG["paths"])]
        OUT["leaf"] = [app.sub.leaf.LEAF, app.sub.leaf.__file__, loader_name(app.sub.leaf)]
        """,
        [],
        [keys[1]["a"]],
        cwd=layouts["dir"],
    )
    assert out == {
        "first": "",
        "leaf": [
            "sub:hello sub/hello leaf/hello thing",
            str(layouts["dir"] / "app" / "sub" / "leaf.py"),
            "VerifyingLoader",
        ],
    }


# -- namespace packages ------------------------------------------------------------------------


def test_namespace_package_split_over_two_signed_roots(tmp_path_factory, keys, tmp_path):
    base = tmp_path_factory.mktemp("ns")
    one = write_tree(base / "one", {"nspkg/alpha.py": "NAME = 'alpha'\n", "nspkg/data/a.txt": "a\n"})
    two = write_tree(
        base / "two",
        {
            "nspkg/beta.py": "from . import alpha\nNAME = 'beta+' + alpha.NAME\n",
            "nspkg/inner/__init__.py": "NAME = 'inner'\n",
        },
    )
    sign_directory(one, keys[0]["a"])
    archive = build_zip(base / "two.zip", two)
    sign_zipfile(archive, keys[0]["a"])
    snippet = """
        import importlib.resources as ir
        import nspkg, nspkg.alpha, nspkg.beta, nspkg.inner
        OUT["path"] = list(nspkg.__path__)
        OUT["file"] = getattr(nspkg, "__file__", None)
        OUT["names"] = [nspkg.alpha.NAME, nspkg.beta.NAME, nspkg.inner.NAME]
        OUT["files"] = [nspkg.alpha.__file__, nspkg.beta.__file__, nspkg.inner.__file__]
        OUT["loaders"] = sorted({loader_name(sys.modules[n]) for n in ("nspkg.alpha", "nspkg.beta", "nspkg.inner")})
        """
    signed = hooked(snippet, [one, archive], [keys[1]["a"]], cwd=tmp_path)
    plain = hooked(snippet, [one, archive], [keys[1]["a"]], manager=False, cwd=tmp_path)
    assert signed["loaders"] == ["VerifyingLoader"]
    assert (
        _strip_loaders(signed)
        == _strip_loaders(plain)
        == {
            "path": [str(one / "nspkg"), str(archive / "nspkg")],
            "file": None,
            "names": ["alpha", "beta+alpha", "inner"],
            "files": [
                str(one / "nspkg" / "alpha.py"),
                str(archive / "nspkg" / "beta.py"),
                str(archive / "nspkg" / "inner" / "__init__.py"),
            ],
        }
    )


# -- runpy -------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["dir", "zip"])
@pytest.mark.parametrize("module", ["app", "app.core"])
def test_runpy_python_dash_m(layout, module, layouts, keys, tmp_path):
    entry = layouts[layout]
    wrapper = PRELUDE + textwrap.dedent(f"""
        import runpy
        sys.argv[1:] = ["x", "y"]
        runpy.run_module({module!r}, run_name="__main__", alter_sys=True)
        print("loader:", type(sys.modules["app.core"].__spec__.loader).__name__)
        """)
    cfg = {
        "project": str(PROJECT_ROOT),
        "paths": [str(entry)],
        "pubs": [str(keys[1]["a"])],
        "manager": True,
        "trusted": "default",
    }
    signed = run_python(wrapper, repr(cfg), cwd=tmp_path)
    assert signed.returncode == 0, signed.stderr
    plain = run_python(
        "import runpy, sys; runpy._run_module_as_main(sys.argv.pop(1))",
        module,
        "x",
        "y",
        cwd=tmp_path,
        env=clean_env(PYTHONPATH=str(entry)),
    )
    assert plain.returncode == 0, plain.stderr
    *lines, loader = signed.stdout.splitlines()
    assert loader == "loader: VerifyingLoader"
    assert lines == plain.stdout.splitlines()
    if module == "app":
        assert lines == ["main: __main__ app.__main__ ['app', '__main__.py'] hello main app ['x', 'y']"]
    else:
        assert lines == ["core as main: __main__ app.core hello core"]
    # and the real command line, python -m, agrees
    dash_m = subprocess.run(
        [sys.executable, "-m", module, "x", "y"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=clean_env(PYTHONPATH=str(entry)),
    )
    assert dash_m.stdout.splitlines() == lines, dash_m.stderr


# -- wheels and dist-info manifests -------------------------------------------------------------


def make_wheel_root(root: Path, key, name="wpkg", version="1.0") -> Path:
    write_tree(
        root,
        {
            f"{name}/__init__.py": "from .mod import VALUE\n",
            f"{name}/mod.py": "VALUE = 'wheel value'\n",
            f"{name}/data.json": '{"k": 1}\n',
            f"{name}-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
            f"{name}-{version}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        },
    )
    return root


def dist_info_sign(root: Path, key, dist_info: str, previous: Manifest | None = None, exclude=()) -> Manifest:
    hashes = {
        p.relative_to(root).as_posix(): sha256_hex(p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
    hashes = {
        k: v
        for k, v in hashes.items()
        if not k.endswith(MANIFEST_NAME) and not k.endswith("/RECORD") and k not in exclude
    }
    manifest = sign_manifest(hashes, key, previous)
    (root / dist_info / MANIFEST_NAME).write_bytes(manifest.serialise())
    return manifest


WHEEL_SNIPPET = """
    import pkgutil
    import wpkg
    OUT["value"] = wpkg.VALUE
    OUT["data"] = pkgutil.get_data("wpkg", "data.json").decode()
    OUT["loader"] = loader_name(wpkg)
    OUT["file"] = wpkg.__file__
    """


def test_wheel_style_root_with_dist_info_manifest(tmp_path_factory, keys, tmp_path):
    root = make_wheel_root(tmp_path_factory.mktemp("site") / "site-packages", keys[0]["a"])
    dist_info_sign(root, keys[0]["a"], "wpkg-1.0.dist-info")
    assert not (root / MANIFEST_NAME).exists()
    out = hooked(WHEEL_SNIPPET, [root], [keys[1]["a"]], cwd=tmp_path)
    assert out == {
        "value": "wheel value",
        "data": '{"k": 1}\n',
        "loader": "VerifyingLoader",
        "file": str(root / "wpkg" / "__init__.py"),
    }


def test_signed_wheel_file_on_sys_path(tmp_path_factory, keys, tmp_path):
    base = tmp_path_factory.mktemp("wheel")
    src = make_wheel_root(base / "src", keys[0]["a"])
    (src / "wpkg-1.0.dist-info" / "RECORD").write_text("")
    wheel = base / "wpkg-1.0-py3-none-any.whl"
    build_zip(wheel, src)
    sign_wheel(wheel, keys[0]["a"])
    with zipfile.ZipFile(wheel) as zf:
        assert f"wpkg-1.0.dist-info/{MANIFEST_NAME}" in zf.namelist()
        assert MANIFEST_NAME not in zf.namelist()
    out = hooked(WHEEL_SNIPPET, [wheel], [keys[1]["a"]], cwd=tmp_path)
    assert out == {
        "value": "wheel value",
        "data": '{"k": 1}\n',
        "loader": "VerifyingLoader",
        "file": str(wheel / "wpkg" / "__init__.py"),
    }


def test_root_and_dist_info_manifests_that_agree(tmp_path_factory, keys, tmp_path):
    root = make_wheel_root(tmp_path_factory.mktemp("agree") / "site", keys[0]["a"])
    dist_info_sign(root, keys[0]["a"], "wpkg-1.0.dist-info")
    sign_directory(root, keys[0]["b"])  # a deployer seals the whole folder with another key
    out = hooked(WHEEL_SNIPPET, [root], [keys[1]["a"], keys[1]["b"]], cwd=tmp_path)
    assert out["value"] == "wheel value" and out["loader"] == "VerifyingLoader"


def test_root_manifest_decides_over_a_dist_info_manifest_that_disagrees(tmp_path_factory, keys, tmp_path):
    """A sealed folder: the root manifest alone decides; the dist-info manifest is not consulted."""
    root = make_wheel_root(tmp_path_factory.mktemp("disagree") / "site", keys[0]["a"])
    mod = root / "wpkg" / "mod.py"
    genuine = mod.read_text()
    mod.write_text("VALUE = 'other release'\n")
    dist_info_sign(root, keys[0]["a"], "wpkg-1.0.dist-info")  # lists the other release's hash
    mod.write_text(genuine)
    sign_directory(root, keys[0]["a"])  # lists the genuine hash (and the dist-info manifest)
    out = hooked(WHEEL_SNIPPET, [root], [keys[1]["a"]], cwd=tmp_path)
    assert out == {
        "value": "wheel value",
        "data": '{"k": 1}\n',
        "loader": "VerifyingLoader",
        "file": str(mod.parent / "__init__.py"),
    }


def test_dist_info_manifests_that_disagree(tmp_path_factory, keys, tmp_path):
    """No root manifest: two wheels' manifests that list different hashes for a file refuse it."""
    root = make_wheel_root(tmp_path_factory.mktemp("disagree-wheels") / "site", keys[0]["a"])
    mod = root / "wpkg" / "mod.py"
    genuine = mod.read_text()
    (root / "other-1.0.dist-info").mkdir()
    mod.write_text("VALUE = 'other release'\n")
    dist_info_sign(root, keys[0]["a"], "other-1.0.dist-info")  # lists the other release's hash
    mod.write_text(genuine)
    dist_info_sign(root, keys[0]["a"], "wpkg-1.0.dist-info", exclude={"other-1.0.dist-info/METADATA"})
    out = hooked(
        """
        try:
            import wpkg
        except ImportError as exc:
            OUT["exc"] = error(exc)
        """,
        [root],
        [keys[1]["a"]],
        cwd=tmp_path,
    )
    file = str(mod)
    assert out == {
        "exc": {
            "error": "IntegrityCheckFailed",
            "module": "wpkg.mod",
            "file": file,
            "message": f"signedimp refused module 'wpkg.mod', file {file!r}: "
            "trusted manifests list different SHA-256 digests for it",
        }
    }


# -- co-signing ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cosigned(tmp_path_factory, keys):
    root = write_tree(tmp_path_factory.mktemp("cosigned") / "root", {"cos.py": "VALUE = 'cosigned'\n"})
    sign_directory(root, keys[0]["a"])
    sign_directory(root, keys[0]["rsa"])
    manifest = Manifest.parse((root / MANIFEST_NAME).read_bytes())
    assert {s.fingerprint for s in manifest.signatures} == {
        keys[0]["a"].fingerprint,
        keys[0]["rsa"].fingerprint,
    }
    return root


@pytest.mark.parametrize("trusting", [["a"], ["rsa"], ["other", "rsa"], ["other"]])
def test_cosigned_manifest_trusting_either_key(cosigned, keys, trusting, tmp_path):
    out = hooked(
        """
        try:
            import cos
            OUT["value"] = cos.VALUE
        except ImportError as exc:
            OUT["exc"] = error(exc)
        """,
        [cosigned],
        [keys[1][k] for k in trusting],
        cwd=tmp_path,
    )
    if trusting == ["other"]:
        assert out["exc"]["error"] == "IntegrityCheckMissing"
        assert out["exc"]["module"] == "cos" and out["exc"]["file"] == str(cosigned / "cos.py")
        assert "is not signed by a trusted key" in out["exc"]["message"]
    else:
        assert out == {"value": "cosigned"}


# -- bytecode ---------------------------------------------------------------------------------

COUNT_COMPILE = """
import builtins
COMPILED = []
_real_compile = builtins.compile
def _counting_compile(source, filename, *args, **kwargs):
    COMPILED.append(str(filename))
    return _real_compile(source, filename, *args, **kwargs)
builtins.compile = _counting_compile
"""


def _forge_fresh_header(pyc: Path, source: Path) -> None:
    """Give a timestamp pyc the mtime and size of ``source``, as if compiled from it."""
    st = source.stat()
    data = pyc.read_bytes()
    stamp = (int(st.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little") + (st.st_size & 0xFFFFFFFF).to_bytes(
        4, "little"
    )
    pyc.write_bytes(data[:8] + stamp + data[16:])


@pytest.fixture(scope="module")
def bytecode_root(tmp_path_factory, keys):
    """A sealed tree: the listed pyc was compiled from other source text than the listed .py,
    so the module's VALUE tells which of the two was executed."""
    root = write_tree(
        tmp_path_factory.mktemp("bytecode") / "root",
        {
            "bc.py": "VALUE = 'from bytecode'\n",
            "bcpkg/__init__.py": "VALUE = 'package from bytecode'\n",
            "oldpy.py": "VALUE = 'from bytecode'\n",
            "sourceless.py": "VALUE = 'sourceless from bytecode'\n",
            "wrongmagic.py": "VALUE = 'never'\n",
        },
    )
    compileall.compile_dir(str(root), quiet=1, legacy=False)
    compileall.compile_file(str(root / "sourceless.py"), quiet=1, legacy=True)
    compileall.compile_file(str(root / "wrongmagic.py"), quiet=1, legacy=True)
    (root / "sourceless.py").unlink()
    (root / "wrongmagic.py").unlink()
    wrong = root / "wrongmagic.pyc"
    wrong.write_bytes(b"\x00\x00\r\n" + wrong.read_bytes()[4:])
    (root / "bc.py").write_text("VALUE = 'from source'\n")
    (root / "bcpkg" / "__init__.py").write_text("VALUE = 'package from source'\n")
    (root / "oldpy.py").write_text("VALUE = 'from source'\n")
    tag = sys.implementation.cache_tag
    old = root / "__pycache__" / f"oldpy.{tag}.pyc"
    old.write_bytes(b"\x00\x00\r\n" + old.read_bytes()[4:])  # another Python version's magic
    # The signer leaves out bytecode whose header does not match its source: forge headers that
    # match the new source, so that the listed bytecode still differs from the listed source.
    for pyc, src in (
        (f"__pycache__/bc.{tag}.pyc", "bc.py"),
        (f"bcpkg/__pycache__/__init__.{tag}.pyc", "bcpkg/__init__.py"),
    ):
        _forge_fresh_header(root / pyc, root / src)
    sign_directory(root, keys[0]["a"])
    listed = Manifest.parse((root / MANIFEST_NAME).read_bytes())
    assert f"__pycache__/bc.{tag}.pyc" in listed and "bcpkg/__pycache__/__init__." + tag + ".pyc" in listed
    return root


def test_listed_bytecode_is_used_without_compiling(bytecode_root, keys, tmp_path):
    out = hooked(
        COUNT_COMPILE
        + textwrap.dedent("""
        import bc, bcpkg, sourceless
        OUT["values"] = [bc.VALUE, bcpkg.VALUE, sourceless.VALUE]
        OUT["loaders"] = [loader_name(bc), loader_name(bcpkg), loader_name(sourceless)]
        OUT["compiled"] = [c for c in COMPILED if "bc" in c or "sourceless" in c]
        OUT["files"] = [bc.__file__, sourceless.__file__]
        """),
        [bytecode_root],
        [keys[1]["a"]],
        cwd=tmp_path,
    )
    assert out == {
        "values": ["from bytecode", "package from bytecode", "sourceless from bytecode"],
        "loaders": ["VerifyingLoader"] * 3,
        "compiled": [],
        "files": [str(bytecode_root / "bc.py"), str(bytecode_root / "sourceless.pyc")],
    }


def test_listed_bytecode_for_another_python_falls_back_to_listed_source(bytecode_root, keys, tmp_path):
    out = hooked(
        COUNT_COMPILE
        + textwrap.dedent("""
        import oldpy
        OUT["value"] = oldpy.VALUE
        OUT["compiled"] = [c for c in COMPILED if "oldpy" in c]
        try:
            import wrongmagic
        except ImportError as exc:
            OUT["wrongmagic"] = [type(exc).__name__, str(exc)]
        """),
        [bytecode_root],
        [keys[1]["a"]],
        cwd=tmp_path,
    )
    wrong = str(bytecode_root / "wrongmagic.pyc")
    assert out == {
        "value": "from source",
        "compiled": [str(bytecode_root / "oldpy.py")],
        "wrongmagic": [
            "ImportError",
            f"bad magic number in {wrong!r}: signed bytecode for another "
            "Python version and no signed source beside it",
        ],
    }


def test_unlisted_bytecode_is_ignored_and_source_compiled(tmp_path_factory, keys, tmp_path):
    root = write_tree(tmp_path_factory.mktemp("unlisted-bc") / "root", {"ub.py": "VALUE = 'source'\n"})
    sign_directory(root, keys[0]["a"])
    compileall.compile_dir(str(root), quiet=1)  # written after signing, like pip or Python would
    out = hooked(
        COUNT_COMPILE
        + textwrap.dedent("""
        import ub
        OUT["value"] = ub.VALUE
        OUT["compiled"] = [c for c in COMPILED if "ub" in c]
        """),
        [root],
        [keys[1]["a"]],
        cwd=tmp_path,
    )
    assert out == {"value": "source", "compiled": [str(root / "ub.py")]}


# -- the trusted standard library --------------------------------------------------------------


def test_default_trusts_the_standard_library(keys, tmp_path):
    out = hooked(
        """
        before = {n for n in ("json", "email", "email.mime.text", "sqlite3", "_sqlite3") if n in sys.modules}
        import json, email.mime.text, sqlite3
        OUT["before"] = sorted(before)
        OUT["loaders"] = {n: loader_name(sys.modules[n]) for n in ("json", "email.mime.text", "sqlite3", "_sqlite3")}
        OUT["sqlite_works"] = sqlite3.connect(":memory:").execute("select 40 + 2").fetchone()[0]
        OUT["json_works"] = json.loads('{"a": [1]}')
        OUT["dynload"] = "lib-dynload" in sys.modules["_sqlite3"].__file__
        """,
        [],
        [keys[1]["a"]],
        cwd=tmp_path,
    )
    assert out == {
        "before": [],
        "loaders": {
            "json": "SourceFileLoader",
            "email.mime.text": "SourceFileLoader",
            "sqlite3": "SourceFileLoader",
            "_sqlite3": "ExtensionFileLoader",
        },
        "sqlite_works": 42,
        "json_works": {"a": [1]},
        "dynload": True,
    }


def test_empty_trusted_paths_refuses_the_standard_library(keys, tmp_path):
    out = hooked(
        """
        OUT["json_loaded_before"] = "json" in sys.modules
        try:
            import json
        except ImportError as exc:
            OUT["json"] = error(exc)
        import itertools, marshal  # built-in modules still pass
        OUT["builtin"] = [itertools.__spec__.origin, marshal.__spec__.origin]
        """,
        [],
        [keys[1]["a"]],
        trusted=(),
        cwd=tmp_path,
    )
    json_init = os.path.join(os.path.dirname(json.__file__), "__init__.py")
    assert out["json_loaded_before"] is False
    assert out["builtin"] == ["built-in", "built-in"]
    assert out["json"]["error"] == "IntegrityCheckMissing"
    assert out["json"]["module"] == "json"
    assert out["json"]["file"] == json_init
    assert out["json"]["message"].startswith(
        f"signedimp refused module 'json', file {json_init!r}: no {MANIFEST_NAME} in "
    )


# -- install / uninstall ----------------------------------------------------------------------


def test_install_uninstall_and_context_manager_restore_the_import_system(layouts, keys, tmp_path):
    cfg = {
        "project": str(PROJECT_ROOT),
        "paths": [],
        "pubs": [str(keys[1]["a"])],
        "manager": False,
        "trusted": "default",
        "zip": str(layouts["zip"]),
    }
    code = (
        PRELUDE
        + textwrap.dedent("""
        import zipimport
        meta, hooks = list(sys.meta_path), list(sys.path_hooks)
        def same():
            return ([id(f) for f in sys.meta_path] == [id(f) for f in meta]
                    and [id(h) for h in sys.path_hooks] == [id(h) for h in hooks])
        m = SignedImportManager(KEYS)
        m.install()
        m.install()
        OUT["installed"] = [sys.meta_path[0] is m, sys.meta_path.count(m), len(sys.meta_path) == len(meta) + 1,
                            len(sys.path_hooks) == len(hooks) + 1, same()]
        sys.path.insert(0, CFG["zip"])
        import app
        OUT["loader_installed"] = loader_name(app)
        m.uninstall()
        OUT["after_uninstall"] = [same(), CFG["zip"] in sys.path_importer_cache]
        for name in [n for n in sys.modules if n == "app" or n.startswith("app.")]:
            del sys.modules[name]
        import app
        OUT["loader_uninstalled"] = loader_name(app)
        OUT["cache_after"] = type(sys.path_importer_cache.get(CFG["zip"])).__name__
        with SignedImportManager(KEYS) as cm:
            OUT["in_context"] = [sys.meta_path[0] is cm, same()]
        OUT["after_context"] = same()
        m.uninstall()
        OUT["double_uninstall"] = same()
        """)
        + EPILOGUE
    )
    out = result(run_python(code, repr(cfg), cwd=tmp_path))
    assert out == {
        "installed": [True, 1, True, True, False],
        "loader_installed": "VerifyingLoader",
        "after_uninstall": [True, False],
        "loader_uninstalled": "zipimporter",
        "cache_after": "zipimporter",
        "in_context": [True, False],
        "after_context": True,
        "double_uninstall": True,
    }


# -- caches ---------------------------------------------------------------------------------


def test_invalidate_caches_rereads_manifests(tmp_path_factory, keys, tmp_path):
    root = write_tree(tmp_path_factory.mktemp("resign") / "root", {"first.py": "VALUE = 1\n"})
    sign_directory(root, keys[0]["a"])
    key_pem = tmp_path / "a.pem"
    key_pem.write_bytes(keys[0]["a"].to_pem())
    cfg = {
        "project": str(PROJECT_ROOT),
        "paths": [],
        "pubs": [str(keys[1]["a"])],
        "manager": False,
        "trusted": "default",
        "root": str(root),
        "key": str(key_pem),
    }
    code = (
        PRELUDE
        + textwrap.dedent("""
        import importlib, pathlib
        sys.path.insert(0, CFG["project"])
        from signedimp.tools import load_private_key, sign_directory  # pycryptodome, before install
        del sys.path[0]
        key = load_private_key(open(CFG["key"], "rb").read())
        root = pathlib.Path(CFG["root"])
        MANAGER = SignedImportManager(KEYS).install()
        sys.path.insert(0, str(root))
        import first
        OUT["first"] = first.VALUE
        (root / "second.py").write_text("VALUE = 2\\n")
        (root / "first.py").write_text("VALUE = 11\\n")
        importlib.invalidate_caches()   # the new file is seen, the manifest is still the old one
        del sys.modules["first"]
        try:
            import second
        except ImportError as exc:
            OUT["second_unsigned"] = error(exc)["error"]
        try:
            import first
        except ImportError as exc:
            OUT["first_modified"] = error(exc)["error"]
        sign_directory(root, key)       # re-signed while running
        OUT["stale_cache"] = []
        for name in ("second", "first"):
            try:
                importlib.import_module(name)
            except ImportError as exc:
                OUT["stale_cache"].append(error(exc)["error"])
        importlib.invalidate_caches()
        import second, first
        OUT["after"] = [first.VALUE, second.VALUE, loader_name(first), loader_name(second)]
        """)
        + EPILOGUE
    )
    out = result(run_python(code, repr(cfg), cwd=tmp_path))
    assert out == {
        "first": 1,
        "second_unsigned": "IntegrityCheckMissing",
        "first_modified": "IntegrityCheckFailed",
        "stale_cache": ["IntegrityCheckMissing", "IntegrityCheckFailed"],
        "after": [11, 2, "VerifyingLoader", "VerifyingLoader"],
    }


def test_listed_legacy_pyc_beside_source_is_not_preferred_in_a_directory(tmp_path_factory, keys, tmp_path):
    """CPython never reads mod.pyc beside mod.py in a folder; a stale signed one must not run either."""
    root = write_tree(tmp_path_factory.mktemp("legacy-pyc") / "root", {"stale.py": "VALUE = 'old'\n"})
    compileall.compile_file(str(root / "stale.py"), quiet=1, legacy=True)
    assert (root / "stale.pyc").is_file()
    (root / "stale.py").write_text("VALUE = 'new'\n")
    sign_directory(root, keys[0]["a"])
    snippet = """
        import stale
        OUT["value"] = stale.VALUE
        """
    plain = hooked(snippet, [root], [keys[1]["a"]], manager=False, cwd=tmp_path)
    signed = hooked(snippet, [root], [keys[1]["a"]], cwd=tmp_path)
    assert plain == {"value": "new"}
    assert signed == plain


@pytest.mark.skipif(sys.version_info < (3, 12), reason="files() accepts a module anchor from 3.12 on")
def test_resources_files_with_a_module_anchor(layouts, keys, tmp_path):
    snippet = """
        import importlib.resources as ir
        import app.core
        OUT["read"] = ir.files("app.core").joinpath("resource.txt").read_text()
        """
    plain = hooked(snippet, [layouts["dir"]], [keys[1]["a"]], manager=False, cwd=tmp_path)
    signed = hooked(snippet, [layouts["dir"]], [keys[1]["a"]], cwd=tmp_path)
    assert plain == {"read": "resource text\n"}
    assert signed == plain


@pytest.mark.parametrize(
    "layout",
    [
        "dir",
        "zip",
    ],
)
def test_sys_path_entry_with_a_trailing_separator(layout, layouts, keys, tmp_path):
    entry = str(layouts[layout]) + os.sep
    snippet = """
        import app.sub.leaf
        OUT["leaf"] = app.sub.leaf.LEAF
        """
    plain = hooked(snippet, [entry], [keys[1]["a"]], manager=False, cwd=tmp_path)
    assert plain == {"leaf": "sub:hello sub/hello leaf/hello thing"}
    signed = hooked(snippet, [entry], [keys[1]["a"]], cwd=tmp_path)
    assert signed == plain


def _resign_zip_snippet() -> str:
    return """
        import importlib, os, zipfile
        sys.path.insert(0, CFG["project"])
        from signedimp.tools import load_private_key, sign_zipfile  # pycryptodome, before install
        del sys.path[0]
        key = load_private_key(open(CFG["key"], "rb").read())
        archive = CFG["zip"]
        def build(members):
            with zipfile.ZipFile(archive + ".tmp", "w", zipfile.ZIP_DEFLATED) as zf:
                for name, data in members:
                    zf.writestr(name, data)
            os.replace(archive + ".tmp", archive)
            sign_zipfile(archive, key)
        build([("zfirst.py", "VALUE = 1\\n")])
        if CFG["install"]:
            SignedImportManager(KEYS).install()
        sys.path.insert(0, archive)
        import zfirst
        OUT["first"] = zfirst.VALUE
        build([("zfirst.py", "VALUE = 11\\n"), ("zsecond.py", "VALUE = 2\\n")])   # re-signed while running
        importlib.invalidate_caches()
        del sys.modules["zfirst"]
        OUT["after"] = []
        for name in ("zsecond", "zfirst"):
            try:
                OUT["after"].append(importlib.import_module(name).VALUE)
            except ImportError as exc:
                OUT["after"].append(f"{type(exc).__name__}: {exc}")
        """


def test_invalidate_caches_rereads_a_resigned_zip(keys, tmp_path):
    key_pem = tmp_path / "a.pem"
    key_pem.write_bytes(keys[0]["a"].to_pem())
    outs = {}
    for manager in (False, True):
        (tmp_path / "resign.zip").unlink(missing_ok=True)
        cfg = {
            "project": str(PROJECT_ROOT),
            "paths": [],
            "pubs": [str(keys[1]["a"])],
            "manager": False,
            "install": manager,
            "trusted": "default",
            "zip": str(tmp_path / "resign.zip"),
            "key": str(key_pem),
        }
        code = PRELUDE + textwrap.dedent(_resign_zip_snippet()) + EPILOGUE
        outs[manager] = result(run_python(code, repr(cfg), cwd=tmp_path))
    assert outs[False] == {"first": 1, "after": [2, 11]}
    assert outs[True] == outs[False]
