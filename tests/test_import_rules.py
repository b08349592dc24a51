"""Rules of the runtime that real layouts rely on (issues 7 and 8), each in fresh interpreters.

- listed bytecode that is gone falls back to the listed source (7.3);
- a ``sys.path`` entry inside a signed folder is covered by the nearest manifest above (7.5);
- ``find_module``-only finders leave a missing module a ``ModuleNotFoundError`` (7.6);
- a failed import searches ``sys.path`` once (7.8);
- trust is decided on resolved paths (8.2);
- a root manifest alone decides for its tree: nothing added after sealing gets in (8.4);
- a namespace package portion counts only if it holds a listed file (8.6).
"""

from __future__ import annotations

import compileall
import os
import shutil
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from signedimp import MANIFEST_NAME, Manifest
from signedimp.tools import sign_directory, sign_zipfile, verify_path

from .helpers import PROJECT_ROOT, clean_env, run_python, write_tree
from .test_import_hook import (  # noqa: F401  (keys is a fixture)
    COUNT_COMPILE,
    EPILOGUE,
    PRELUDE,
    dist_info_sign,
    keys,
    make_wheel_root,
    result,
)


def child(snippet: str, paths, pubs, *, manager: bool = True, cwd=None, env=None, head: str = "") -> dict:
    """Run ``snippet`` after PRELUDE and TRY_IMPORT (a manager installed unless told otherwise)."""
    cfg = {
        "project": str(PROJECT_ROOT),
        "paths": [str(p) for p in paths],
        "pubs": [str(p) for p in pubs],
        "manager": manager,
        "trusted": "default",
    }
    code = PRELUDE + head + TRY_IMPORT + textwrap.dedent(snippet) + EPILOGUE
    return result(run_python(code, repr(cfg), cwd=cwd, env=env))


TRY_IMPORT = """
import importlib
def try_import(name, attr="VALUE"):
    try:
        module = importlib.import_module(name)
    except Exception as exc:
        return [type(exc).__name__, str(exc) if type(exc).__name__ != "IntegrityCheckMissing" else exc.file]
    return getattr(module, attr, "imported")
"""


# -- 7.3: listed bytecode that is gone -----------------------------------------------------------


@pytest.mark.parametrize("write_bytecode", [False, True])
def test_missing_listed_bytecode_falls_back_to_the_listed_source(
    tmp_path_factory, keys, tmp_path, write_bytecode
):
    """Sealed after compileall, then ``__pycache__`` removed (pyclean): the listed sources run."""
    root = write_tree(
        tmp_path_factory.mktemp("pyclean") / "root",
        {
            "top.py": "VALUE = 'top'\n",
            "pkg/__init__.py": "VALUE = 'pkg'\n",
            "pkg/mod.py": "VALUE = 'mod'\n",
            "kept.py": "VALUE = 'kept'\n",
        },
    )
    compileall.compile_dir(str(root), quiet=1, legacy=False)
    sign_directory(root, keys[0]["a"])
    tag = sys.implementation.cache_tag
    listed = Manifest.parse((root / MANIFEST_NAME).read_bytes())
    assert {f"__pycache__/top.{tag}.pyc", f"pkg/__pycache__/mod.{tag}.pyc"} <= set(listed)
    (root / "__pycache__" / f"top.{tag}.pyc").unlink()
    shutil.rmtree(root / "pkg" / "__pycache__")
    # with bytecode writing on, the verifying loader still writes nothing
    env = clean_env()
    if write_bytecode:
        del env["PYTHONDONTWRITEBYTECODE"]
    out = child(
        """
        OUT["values"] = [try_import(n) for n in ("top", "pkg", "pkg.mod", "kept")]
        OUT["loaders"] = sorted({loader_name(sys.modules[n]) for n in ("top", "pkg", "pkg.mod", "kept")
                                 if n in sys.modules})
        OUT["compiled"] = sorted(os.path.basename(c) for c in COMPILED if c.startswith(CFG["paths"][0]))
        """,
        [root],
        [keys[1]["a"]],
        cwd=tmp_path,
        env=env,
        head=COUNT_COMPILE,
    )
    # kept.py's listed bytecode is still there: used, not compiled
    assert out == {
        "values": ["top", "pkg", "mod", "kept"],
        "loaders": ["VerifyingLoader"],
        "compiled": ["__init__.py", "mod.py", "top.py"],
    }
    assert not (root / "pkg" / "__pycache__").exists()


# -- 7.5: entries inside a signed folder -------------------------------------------------------------


@pytest.fixture(scope="module")
def sealed_tree(tmp_path_factory, keys):
    """A frozen-app-like tree sealed as a whole; ``vendor/`` was sealed on its own before."""
    base = tmp_path_factory.mktemp("sealed-tree")
    tree = write_tree(
        base / "app",
        {
            "main.py": "VALUE = 'main'\n",
            "lib/pkg/__init__.py": "from .mod import VALUE as MOD\nVALUE = 'pkg'\n",
            "lib/pkg/mod.py": "VALUE = 'mod'\n",
            "lib/pkg/data.txt": "lib data\n",
            "lib/single.py": "VALUE = 'single'\n",
            "plugins/deep/plug.py": "VALUE = 'plug'\n",
            "vendor/sub/vend.py": "VALUE = 'vend'\n",
        },
    )
    sign_directory(tree / "vendor", keys[0]["a"])
    write_tree(tree, {"vendor/sub/late.py": "VALUE = 'late'\n"})  # listed above, not by vendor's own
    sign_directory(tree, keys[0]["a"])
    return tree


SUBFOLDER_SNIPPET = """
import pkgutil, importlib.resources as ir
OUT["values"] = [try_import(n) for n in ("pkg", "pkg.mod", "single", "plug", "vend", "late")]
if "pkg.mod" in sys.modules:
    OUT["loader"] = loader_name(sys.modules["pkg.mod"])
    OUT["data"] = [pkgutil.get_data("pkg", "data.txt").decode(), ir.files("pkg").joinpath("data.txt").read_text()]
"""


@pytest.mark.parametrize("spelling", ["plain", "symlink", "dotdot"])
def test_entries_inside_a_sealed_tree_are_covered_by_the_nearest_manifest_above(
    sealed_tree, keys, tmp_path, spelling
):
    lib = sealed_tree / "lib"
    if spelling == "symlink":
        lib = tmp_path / "lib-link"
        lib.symlink_to(sealed_tree / "lib", target_is_directory=True)
    elif spelling == "dotdot":
        lib = sealed_tree / "lib" / "pkg" / ".."
    paths = [lib, sealed_tree / "plugins" / "deep", sealed_tree / "vendor" / "sub"]
    out = child(SUBFOLDER_SNIPPET, paths, [keys[1]["a"]], cwd=tmp_path)
    late = str(sealed_tree / "vendor" / "sub" / "late.py")
    assert out == {
        "values": ["pkg", "mod", "single", "plug", "vend", ["IntegrityCheckMissing", late]],
        "loader": "VerifyingLoader",
        "data": ["lib data\n", "lib data\n"],
    }
    plain = child(SUBFOLDER_SNIPPET, paths, [keys[1]["a"]], manager=False, cwd=tmp_path)
    assert plain["values"] == ["pkg", "mod", "single", "plug", "vend", "late"]


def test_entry_inside_a_sealed_tree_refuses_what_was_added_or_changed(sealed_tree, keys, tmp_path):
    tree = tmp_path / "copy"
    shutil.copytree(sealed_tree, tree, symlinks=True)
    write_tree(tree, {"lib/added.py": "VALUE = 'added'\n", "lib/single.py": "VALUE = 'changed'\n"})
    out = child(
        """
        OUT["added"] = try_import("added")
        try:
            import single
        except ImportError as exc:
            OUT["single"] = [type(exc).__name__, exc.file]
        """,
        [tree / "lib"],
        [keys[1]["a"]],
        cwd=tmp_path,
    )
    assert out == {
        "added": ["IntegrityCheckMissing", str(tree / "lib" / "added.py")],
        "single": ["IntegrityCheckFailed", str(tree / "lib" / "single.py")],
    }


def test_subfolder_of_a_wheel_folder_is_covered_by_the_dist_info_manifests_above(
    tmp_path_factory, keys, tmp_path
):
    """pywin32-style: a .pth puts a folder inside site-packages on sys.path."""
    site = make_wheel_root(tmp_path_factory.mktemp("wheel-sub") / "site-packages", keys[0]["a"])
    write_tree(site, {"wpkg/inner/helper.py": "VALUE = 'helper'\n"})
    dist_info_sign(site, keys[0]["a"], "wpkg-1.0.dist-info")
    out = child(
        """
        OUT["values"] = [try_import("helper"), try_import("mod")]
        """,
        [site / "wpkg" / "inner", site / "wpkg"],
        [keys[1]["a"]],
        cwd=tmp_path,
    )
    assert out == {"values": ["helper", "wheel value"]}


# -- 7.6: legacy finders ----------------------------------------------------------------------------

LEGACY_SNIPPET = '''
import warnings
warnings.simplefilter("ignore")

class Memory:
    def load_module(self, name):
        module = type(sys)(name)
        module.VALUE = "from memory"
        module.__loader__ = self
        sys.modules[name] = module
        return module

class Legacy:
    """Answers for one name in memory, and for one name with a file loader; None otherwise."""
    def find_module(self, name, path=None):
        if name == "legacy_mem":
            return Memory()
        if name == "legacy_file":
            import importlib.machinery
            return importlib.machinery.SourceFileLoader(name, CFG["unsigned"])
        return None

sys.meta_path.append(Legacy())
sys.meta_path.insert(0, Legacy())
OUT["missing"] = try_import("no_such_module_anywhere")
OUT["missing_sub"] = try_import("json.no_such_submodule")
OUT["mem"] = try_import("legacy_mem")
OUT["file"] = try_import("legacy_file")
try:
    import no_such_module_either
except ImportError as exc:
    OUT["except_import_error"] = type(exc).__name__
'''


def test_find_module_only_finders_keep_missing_modules_module_not_found(tmp_path, keys):
    unsigned = write_tree(tmp_path / "unsigned", {"legacy_file.py": "VALUE = 'unsigned file'\n"})
    snippet = LEGACY_SNIPPET.replace('CFG["unsigned"]', repr(str(unsigned / "legacy_file.py")))
    signed = child(snippet, [], [keys[1]["a"]], cwd=tmp_path)
    plain = child(snippet, [], [keys[1]["a"]], manager=False, cwd=tmp_path)
    missing = ["ModuleNotFoundError", "No module named 'no_such_module_anywhere'"]
    assert signed["missing"] == plain["missing"] == missing
    assert (
        signed["missing_sub"]
        == plain["missing_sub"]
        == ["ModuleNotFoundError", "No module named 'json.no_such_submodule'"]
    )
    assert signed["except_import_error"] == plain["except_import_error"] == "ModuleNotFoundError"
    # the running importlib decides whether find_module is asked at all; where it is (3.10,
    # 3.11), the in-memory module passes and the file it names is verified (and refused)
    assert signed["mem"] == plain["mem"]
    if sys.version_info < (3, 12):
        assert plain == {**plain, "mem": "from memory", "file": "unsigned file"}
        assert signed["file"] == ["IntegrityCheckMissing", str(unsigned / "legacy_file.py")]
    else:
        assert plain["mem"] == ["ModuleNotFoundError", "No module named 'legacy_mem'"]
        assert signed["file"] == plain["file"] == ["ModuleNotFoundError", "No module named 'legacy_file'"]


# -- 7.8: search once -------------------------------------------------------------------------------

COUNT_SNIPPET = '''
import importlib.util
import hashlib  # the verifier imports it on its first check: here, before anything is counted
CALLS = {"front": [], "back": [], "entry": []}

class Counting:
    def __init__(self, where):
        self.where = where
    def find_spec(self, name, path=None, target=None):
        CALLS[self.where].append(name)
        return None

class CountingEntry:
    """A path-entry finder for the sys.path entry "<counter>": PathFinder asks it once per search."""
    def find_spec(self, name, target=None):
        CALLS["entry"].append(name)
        return None

def hook(entry):
    if entry == "<counter>":
        return CountingEntry()
    raise ImportError("not mine")

sys.path_hooks.insert(0, hook)
sys.path.append("<counter>")
sys.meta_path.insert(0, Counting("front"))
sys.meta_path.append(Counting("back"))
OUT["results"] = [try_import("missing_one"), importlib.util.find_spec("missing_two"), try_import("pkg"),
                  try_import("pkg.missing_three"), try_import("pkg.mod")]
OUT["calls"] = CALLS
'''


def test_a_failed_import_searches_sys_path_once(tmp_path, keys):
    root = write_tree(
        tmp_path / "root",
        {
            "pkg/__init__.py": "from .mod import VALUE as MOD\nVALUE = 'pkg'\n",
            "pkg/mod.py": "VALUE = 'mod'\n",
        },
    )
    sign_directory(root, keys[0]["a"])
    out = child(COUNT_SNIPPET, [root], [keys[1]["a"]], cwd=tmp_path)
    assert out["results"] == [
        ["ModuleNotFoundError", "No module named 'missing_one'"],
        None,
        "pkg",
        ["ModuleNotFoundError", "No module named 'pkg.missing_three'"],
        "mod",
    ]
    # every finder asked exactly once per search (pkg.mod: imported by pkg/__init__.py); the
    # path entry only for top-level names
    assert out["calls"] == {
        "front": ["missing_one", "missing_two", "pkg", "pkg.mod", "pkg.missing_three"],
        "back": ["missing_one", "missing_two", "pkg.missing_three"],
        "entry": ["missing_one", "missing_two"],
    }
    plain = child(COUNT_SNIPPET, [root], [keys[1]["a"]], manager=False, cwd=tmp_path)
    assert plain == out


# -- 8.2: trust on resolved paths ---------------------------------------------------------------------


def _lexical_stdlib_entry(attacker: Path) -> tuple[str, Path]:
    """A sys.path entry that *reads* like the standard library but resolves into ``attacker``.

    ``attacker/link`` points at ``attacker/t/d/.../d`` (as deep as ``attacker/link`` is), so
    ``attacker/link/../..(...)`` lexically climbs to ``/`` but really to ``attacker/t``.
    """
    stdlib = os.path.dirname(os.__file__)
    link = attacker / "link"
    depth = len(link.parts) - 1
    deep = attacker.joinpath("t", *["d"] * depth)
    deep.mkdir(parents=True)
    link.symlink_to(deep, target_is_directory=True)
    entry = str(link) + (os.sep + os.pardir) * depth + stdlib
    assert os.path.normpath(entry) == os.path.normpath(stdlib)
    real = attacker / "t" / stdlib.lstrip(os.sep)
    assert os.path.realpath(entry) == str(real)
    return entry, real


def test_trust_is_decided_on_resolved_paths(tmp_path, keys):
    attacker = tmp_path / "attacker"
    entry, real = _lexical_stdlib_entry(attacker)
    canary = tmp_path / "canary"
    write_tree(
        real,
        {
            "evilmod.py": f"open({str(canary)!r}, 'w').write('pwned')\nVALUE = 'evil'\n",
            "colorsys.py": f"open({str(canary)!r}, 'w').write('pwned')\nVALUE = 'evil colorsys'\n",
        },
    )
    # a link *to* the standard library is still the standard library
    stdlink = tmp_path / "stdlink"
    stdlink.symlink_to(os.path.dirname(os.__file__), target_is_directory=True)
    snippet = """
        OUT["evil"] = try_import("evilmod")
        OUT["shadow"] = try_import("colorsys")
        sys.path.insert(0, CFG["stdlink"])
        OUT["linked"] = try_import("tabnanny", attr="__file__")
        OUT["linked_loader"] = loader_name(sys.modules["tabnanny"]) if "tabnanny" in sys.modules else None
        """.replace('CFG["stdlink"]', repr(str(stdlink)))
    out = child(snippet, [entry], [keys[1]["a"]], cwd=tmp_path)
    ran = canary.exists()
    assert not ran, "unsigned code ran from a path that only reads like the standard library"
    assert out["evil"][0] == "IntegrityCheckMissing" and out["evil"][1] == os.path.join(entry, "evilmod.py")
    assert out["shadow"][0] == "IntegrityCheckMissing" and out["shadow"][1] == os.path.join(
        entry, "colorsys.py"
    )
    # ... and it is loaded from where it leads
    stdlib = os.path.dirname(os.__file__)
    assert out["linked"] == os.path.join(stdlib, "tabnanny.py") and out["linked_loader"] == "SourceFileLoader"
    # control: the kernel really follows the link into the attacker's folder
    plain = child(snippet, [entry], [keys[1]["a"]], manager=False, cwd=tmp_path)
    assert plain["evil"] == "evil" and canary.read_text() == "pwned"


def test_a_symlink_into_the_standard_library_cannot_be_swapped_afterwards(tmp_path, keys):
    """Trusted as what it resolves to, and loaded from there: swapping the link changes nothing."""
    entry = tmp_path / "entry"
    entry.mkdir()
    stdlib = os.path.dirname(os.__file__)
    (entry / "xmlrpc").symlink_to(os.path.join(stdlib, "xmlrpc"), target_is_directory=True)
    canary = tmp_path / "canary"
    evil = write_tree(
        tmp_path / "evil",
        {
            "xmlrpc/__init__.py": f"open({str(canary)!r}, 'w').write('pwned')\n",
            "xmlrpc/evil.py": f"open({str(canary)!r}, 'w').write('pwned')\nVALUE = 'evil'\n",
            "xmlrpc/client.py": f"open({str(canary)!r}, 'w').write('pwned')\nVALUE = 'evil'\n",
        },
    )
    out = child(
        """
        import importlib, xmlrpc
        OUT["package"] = [xmlrpc.__file__, list(xmlrpc.__path__), loader_name(xmlrpc)]
        link = os.path.join(CFG["paths"][0], "xmlrpc")
        os.unlink(link)
        os.symlink(CFG_EVIL, link)  # the attacker swaps the link
        importlib.invalidate_caches()
        OUT["evil"] = try_import("xmlrpc.evil")
        OUT["client"] = try_import("xmlrpc.client", attr="__file__")
        """.replace("CFG_EVIL", repr(str(evil / "xmlrpc"))),
        [entry],
        [keys[1]["a"]],
        cwd=tmp_path,
    )
    ran = canary.exists()
    assert not ran, "code behind a swapped symlink ran as trusted"
    assert out == {
        "package": [
            os.path.join(stdlib, "xmlrpc", "__init__.py"),
            [os.path.join(stdlib, "xmlrpc")],
            "SourceFileLoader",
        ],
        "evil": ["ModuleNotFoundError", "No module named 'xmlrpc.evil'"],
        "client": os.path.join(stdlib, "xmlrpc", "client.py"),
    }


def test_an_entry_that_reads_like_a_sealed_subfolder_but_resolves_elsewhere(sealed_tree, keys, tmp_path):
    """``<sealed>/lib/escape/..`` with ``escape`` leading out: not covered by the sealed manifest."""
    tree = tmp_path / "copy"
    shutil.copytree(sealed_tree, tree, symlinks=True)
    outside = write_tree(
        tmp_path / "outside",
        {"deep/x": "", "single.py": "VALUE = 'single'\n", "extra.py": "VALUE = 'extra'\n"},
    )
    (tree / "lib" / "escape").symlink_to(outside / "deep", target_is_directory=True)
    entry = str(tree / "lib" / "escape" / os.pardir)
    out = child(
        """
        OUT["values"] = [try_import("single"), try_import("extra")]
        """,
        [entry],
        [keys[1]["a"]],
        cwd=tmp_path,
    )
    assert out == {
        "values": [
            ["IntegrityCheckMissing", os.path.join(entry, "single.py")],
            ["IntegrityCheckMissing", os.path.join(entry, "extra.py")],
        ]
    }


# -- 8.4: a root manifest alone decides ---------------------------------------------------------------


def _add_package_with_a_copied_manifest(target: Path, donor_base: Path, key) -> None:
    """``added`` and a dist-info manifest for it, genuinely signed by ``key`` for another artifact."""
    donor = write_tree(
        donor_base,
        {
            "added/__init__.py": "VALUE = 'added after sealing'\n",
            "added-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: added\n",
        },
    )
    dist_info_sign(donor, key, "added-1.0.dist-info")
    shutil.copytree(donor, target, dirs_exist_ok=True)


@pytest.mark.parametrize("layout", ["folder", "subfolder", "zip"])
def test_a_sealed_tree_ignores_dist_info_manifests_added_later(tmp_path, keys, layout):
    key = keys[0]["a"]
    tree = make_wheel_root(tmp_path / "tree", key)
    dist_info_sign(tree, key, "wpkg-1.0.dist-info")
    if layout == "subfolder":
        shutil.move(str(tree), str(tmp_path / "lib"))
        (tmp_path / "tree").mkdir()
        shutil.move(str(tmp_path / "lib"), str(tree / "lib"))
    if layout != "zip":
        sign_directory(tree, key)
    entry = tree / "lib" if layout == "subfolder" else tree
    _add_package_with_a_copied_manifest(entry, tmp_path / "donor", key)
    if layout == "zip":
        archive = tmp_path / "sealed.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            for path in sorted(tree.rglob("*")):
                if (
                    path.is_file()
                    and not path.is_relative_to(tree / "added")
                    and "added-1.0" not in str(path)
                ):
                    zf.write(path, path.relative_to(tree).as_posix())
        sign_zipfile(archive, key)
        with zipfile.ZipFile(archive, "a") as zf:  # the attacker appends the package and the copy
            for path in sorted(tree.rglob("*")):
                if path.is_file() and (path.is_relative_to(tree / "added") or "added-1.0" in str(path)):
                    zf.write(path, path.relative_to(tree).as_posix())
        entry = archive
    out = child(
        """
        OUT["values"] = [try_import("wpkg"), try_import("added")]
        """,
        [entry],
        [keys[1]["a"]],
        cwd=tmp_path,
    )
    assert out["values"][0] == "wheel value"
    assert out["values"][1] == ["IntegrityCheckMissing", os.path.join(entry, "added", "__init__.py")]
    if layout != "subfolder":  # the offline audit agrees: the additions are unlisted
        report = verify_path(entry, [keys[0]["a"].public_key])
        statuses = {f.path: f.status for f in report.files}
        assert not report.ok
        assert statuses["added/__init__.py"] == "unlisted"
        assert statuses[f"added-1.0.dist-info/{MANIFEST_NAME}"] == "unlisted"


# -- 8.6: namespace portions must hold a listed file --------------------------------------------------

NAMESPACE_SNIPPET = """
import importlib.resources as ir
OUT["empty"] = try_import("optdep")
OUT["unlisted_files"] = try_import("optdep2")
OUT["cwd_folder"] = try_import("optdep3")
OUT["zip_dir"] = try_import("zipdir_only")
OUT["listed_data_only"] = try_import("nsdata", attr="__name__")
OUT["nested_empty"] = try_import("nsdata.empty")
OUT["split"] = [try_import("nsplit", attr="__name__"), try_import("nsplit.alpha")]
OUT["split_path"] = [os.path.basename(os.path.dirname(p)) for p in sys.modules["nsplit"].__path__]
OUT["split_files"] = sorted(p.name for p in ir.files("nsplit").iterdir())
try:
    import nstampered
    OUT["tampered"] = "imported"
except ImportError as exc:
    OUT["tampered"] = [type(exc).__name__, getattr(exc, "file", None), str(exc)]
"""


def test_namespace_portions_count_only_with_a_listed_file(tmp_path, keys):
    key = keys[0]["a"]
    one = write_tree(
        tmp_path / "one", {"nsdata/data.txt": "listed data\n", "nsplit/alpha.py": "VALUE = 'alpha'\n"}
    )
    sign_directory(one, key)
    # added after signing: an empty folder, a folder of unlisted files, an empty sub-folder
    (one / "optdep").mkdir()
    write_tree(one, {"optdep2/README.txt": "unlisted\n"})
    (one / "nsdata" / "empty").mkdir()
    # an unsigned folder holding only an empty portion of nsplit
    two = tmp_path / "two"
    (two / "nsplit").mkdir(parents=True)
    # a root whose manifest was tampered with: its folders are refused loudly, not "not found"
    four = write_tree(tmp_path / "four", {"nstampered/mod.py": "VALUE = 1\n"})
    sign_directory(four, key)
    manifest = four / MANIFEST_NAME
    manifest.write_bytes(manifest.read_bytes().replace(b"nstampered/mod.py", b"nstampered/mod.pz"))
    # a signed zip with a bare directory member
    archive = tmp_path / "three.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("zipdir_only/", b"")
        zf.writestr("real.py", "VALUE = 1\n")
    sign_zipfile(archive, key)
    cwd = tmp_path / "cwd"
    (cwd / "optdep3").mkdir(parents=True)  # python -c puts the current directory first
    signed = child(NAMESPACE_SNIPPET, [one, two, archive, four], [keys[1]["a"]], cwd=cwd)
    plain = child(NAMESPACE_SNIPPET, [one, two, archive, four], [keys[1]["a"]], manager=False, cwd=cwd)
    assert plain["empty"] == plain["unlisted_files"] == plain["cwd_folder"] == plain["zip_dir"] == "imported"
    assert plain["tampered"] == "imported"
    tampered = signed.pop("tampered")
    assert tampered[:2] == ["IntegrityCheckFailed", str(four / "nstampered")], tampered
    assert tampered[2].endswith("does not verify (manifest tampered with)"), tampered
    not_found = lambda name: ["ModuleNotFoundError", f"No module named {name!r}"]
    assert signed == {
        "empty": not_found("optdep"),
        "unlisted_files": not_found("optdep2"),
        "cwd_folder": not_found("optdep3"),
        "zip_dir": not_found("zipdir_only"),
        "listed_data_only": "nsdata",
        "nested_empty": not_found("nsdata.empty"),
        "split": ["nsplit", "alpha"],
        "split_path": plain["split_path"],
        "split_files": ["alpha.py"],
    }
    assert plain["split_path"] == ["one", "two"]
