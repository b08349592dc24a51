"""The sealed folder's finder (issue 13): a root sealed by a root manifest is searched in the
manifest, not on disk, and is no less strict for it. Each case runs in a fresh interpreter.

- modules, packages and namespace portions are found with no listing of their folders;
- a failed import lists a folder once (to find files added after sealing), never again;
- files added after sealing are still refused loudly, unless the manifest names another file
  for the same module (then that one is loaded: the manifest decides);
- ``pkgutil``, ``importlib.invalidate_caches`` and threads see the stock behaviour.
"""

from __future__ import annotations

import compileall
import os
import shutil
import sys
import zipfile
from importlib.machinery import EXTENSION_SUFFIXES

import pytest

from signedimp.tools import sign_directory, sign_zipfile

from .helpers import write_tree
from .test_import_hook import keys  # noqa: F401  (a fixture)
from .test_import_rules import child

FILES = {
    "top.py": "VALUE = 'top'\n",
    "pkg/__init__.py": "VALUE = 'pkg'\n",
    "pkg/mod.py": "VALUE = 'mod'\n",
    "pkg/sub/__init__.py": "VALUE = 'sub'\n",
    "pkg/sub/deep.py": "VALUE = 'deep'\n",
    "ns/part.py": "VALUE = 'part'\n",
    "data/readme.txt": "not a module\n",
}

# Counts what the audit hook sees below the sealed folder: listings of folders, files opened.
WATCH = """
import sys as _sys
SEEN = {"listdir": [], "open": []}
def _watch(event, args):
    if event in ("os.listdir", "os.scandir") and str(args[0]).startswith(CFG["paths"][0]):
        SEEN["listdir"].append(os.path.relpath(str(args[0]), CFG["paths"][0]))
    elif event == "open" and isinstance(args[0], str) and args[0].startswith(CFG["paths"][0]):
        SEEN["open"].append(os.path.relpath(args[0], CFG["paths"][0]))
_sys.addaudithook(_watch)
"""


@pytest.fixture(scope="module")
def sealed(tmp_path_factory, keys):
    root = write_tree(tmp_path_factory.mktemp("sealed") / "root", FILES)
    compileall.compile_dir(str(root), quiet=1, legacy=False)
    sign_directory(root, keys[0]["a"])
    return root


def copy_of(sealed, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(sealed, root, symlinks=True)
    return root


def test_modules_are_found_in_the_manifest_without_listing_folders(sealed, keys, tmp_path):
    out = child(
        """
        OUT["values"] = [try_import(n) for n in ("top", "pkg", "pkg.mod", "pkg.sub.deep", "ns.part")]
        OUT["loaders"] = [loader_name(sys.modules[n]) for n in ("top", "pkg.mod", "pkg.sub.deep", "ns")]
        OUT["finder"] = type(sys.path_importer_cache[CFG["paths"][0]]).__name__
        OUT["seen"] = SEEN
        OUT["file"] = [sys.modules["pkg.mod"].__file__ == os.path.join(CFG["paths"][0], "pkg", "mod.py"),
                       sys.modules["pkg"].__path__ == [os.path.join(CFG["paths"][0], "pkg")],
                       sys.modules["pkg.mod"].__cached__.endswith(".pyc")]
        """,
        [sealed],
        [keys[1]["a"]],
        cwd=tmp_path,
        head=WATCH,
    )
    tag = sys.implementation.cache_tag
    assert out == {
        "values": ["top", "pkg", "mod", "deep", "part"],
        "loaders": ["VerifyingLoader", "VerifyingLoader", "VerifyingLoader", "NamespaceLoader"],
        "finder": "SealedFolderFinder",
        # what exists is what the manifest lists: no folder is listed but the root, once, at
        # the first name it does not list (the snippet's "import importlib" searches it first;
        # the namespace portion "ns" is such a name too), to see whether an unlisted file is there
        "seen": {
            "listdir": ["."],
            "open": [
                "signedimp-manifest.txt",
                f"__pycache__/top.{tag}.pyc",
                f"pkg/__pycache__/__init__.{tag}.pyc",
                f"pkg/__pycache__/mod.{tag}.pyc",
                f"pkg/sub/__pycache__/__init__.{tag}.pyc",
                f"pkg/sub/__pycache__/deep.{tag}.pyc",
                f"ns/__pycache__/part.{tag}.pyc",
            ],
        },
        "file": [True, True, True],
    }


def test_a_failed_import_lists_the_folder_once(sealed, keys, tmp_path):
    out = child(
        """
        import pkg
        SEEN["listdir"].clear()
        OUT["values"] = [try_import(n) for n in ("missing_one", "missing_two", "pkg.missing", "pkg.nope",
                                                 "data", "top")]
        OUT["listdir"] = SEEN["listdir"]
        """,
        [sealed],
        [keys[1]["a"]],
        cwd=tmp_path,
        head=WATCH,
    )
    assert out == {
        "values": [
            ["ModuleNotFoundError", "No module named 'missing_one'"],
            ["ModuleNotFoundError", "No module named 'missing_two'"],
            ["ModuleNotFoundError", "No module named 'pkg.missing'"],
            ["ModuleNotFoundError", "No module named 'pkg.nope'"],
            # a folder holding a listed file is a namespace portion, as without signedimp
            "imported",
            "top",
        ],
        # the root was listed before (the snippet's "import importlib" searched it first)
        "listdir": ["pkg"],
    }


def test_what_was_added_after_sealing_is_still_refused(sealed, keys, tmp_path):
    root = copy_of(sealed, tmp_path)
    write_tree(
        root,
        {
            "added.py": "VALUE = 'added'\n",
            "addedpkg/__init__.py": "VALUE = 'added package'\n",
            "pkg/added.py": "VALUE = 'added submodule'\n",
            "pkg/sub/added/__init__.py": "VALUE = 'added subpackage'\n",
            "addedns/mod.py": "VALUE = 'added namespace'\n",
        },
    )
    out = child(
        """
        OUT["values"] = [try_import(n) for n in ("added", "addedpkg", "pkg.added", "pkg.sub.added",
                                                 "addedns.mod", "addedns")]
        """,
        [root],
        [keys[1]["a"]],
        cwd=tmp_path,
    )
    assert out == {
        "values": [
            ["IntegrityCheckMissing", str(root / "added.py")],
            ["IntegrityCheckMissing", str(root / "addedpkg" / "__init__.py")],
            ["IntegrityCheckMissing", str(root / "pkg" / "added.py")],
            ["IntegrityCheckMissing", str(root / "pkg" / "sub" / "added" / "__init__.py")],
            # a namespace portion counts only with a listed file (DESIGN.md)
            ["ModuleNotFoundError", "No module named 'addedns'"],
            ["ModuleNotFoundError", "No module named 'addedns'"],
        ]
    }


def test_the_manifest_decides_which_file_is_a_module(sealed, keys, tmp_path):
    """An unlisted file that the stock search would prefer (an extension module beside a listed
    source, a package folder beside a listed module) is not consulted: the listed one loads."""
    root = copy_of(sealed, tmp_path)
    (root / f"top{EXTENSION_SUFFIXES[0]}").write_bytes(b"\x7fELF not really")
    write_tree(root, {"pkg/mod/__init__.py": "VALUE = 'shadowing package'\n"})
    out = child(
        """
        OUT["values"] = [try_import(n) for n in ("top", "pkg.mod")]
        OUT["files"] = [os.path.basename(sys.modules[n].__file__) for n in ("top", "pkg.mod")]
        """,
        [root],
        [keys[1]["a"]],
        cwd=tmp_path,
    )
    assert out == {"values": ["top", "mod"], "files": ["top.py", "mod.py"]}
    unverified = child('OUT["values"] = [try_import(n) for n in ("pkg.mod",)]', [root], [], manager=False)
    assert unverified == {"values": ["shadowing package"]}


def test_a_listed_file_that_is_gone_is_refused(sealed, keys, tmp_path):
    root = copy_of(sealed, tmp_path)
    tag = sys.implementation.cache_tag
    (root / "pkg" / "mod.py").unlink()
    (root / "pkg" / "__pycache__" / f"mod.{tag}.pyc").unlink()
    (root / "top.py").unlink()  # its listed bytecode is still there: that is what runs
    out = child(
        """
        OUT["values"] = [try_import(n) for n in ("top", "pkg")]
        try:
            import pkg.mod
        except ImportError as exc:
            OUT["mod"] = [type(exc).__name__, exc.file, str(exc).rpartition(": ")[2]]
        """,
        [root],
        [keys[1]["a"]],
        cwd=tmp_path,
    )
    assert out == {
        "values": ["top", "pkg"],
        "mod": [
            "IntegrityCheckFailed",
            str(root / "pkg" / "mod.py"),
            "No such file or directory (FileNotFoundError)",
        ],
    }


def test_pkgutil_and_invalidate_caches_see_the_folder_as_the_stock_finder_does(
    sealed,
    keys,
    tmp_path,
):
    root = copy_of(sealed, tmp_path)
    snippet = """
        import importlib, pkgutil, subprocess
        OUT["modules"] = sorted((m.name, m.ispkg) for m in pkgutil.iter_modules([CFG["paths"][0]]))
        OUT["walk"] = sorted(m.name for m in pkgutil.walk_packages([CFG["paths"][0]]))
        OUT["before"] = try_import("later")
        with open(os.path.join(CFG["paths"][0], "later.py"), "w") as f:
            f.write("VALUE = 'later'\\n")
        subprocess.run(CFG_SIGN, check=True)
        importlib.invalidate_caches()
        OUT["after"] = try_import("later")
        """
    key = tmp_path / "key.pem"
    key.write_bytes(keys[0]["a"].to_pem())
    sign = [sys.executable, "-m", "signedimp", "sign", str(root), "--key", str(key), "-q"]
    head = f"CFG_SIGN = {sign!r}\n"
    out = child(snippet, [root], [keys[1]["a"]], cwd=tmp_path, head=head)
    shutil.rmtree(root)
    shutil.copytree(sealed, root, symlinks=True)
    plain = child(
        snippet.replace("subprocess.run(CFG_SIGN, check=True)", ""), [root], [], manager=False, head=head
    )
    assert out["modules"] == plain["modules"] == [("pkg", True), ("top", False)]
    assert out["walk"] == plain["walk"]
    assert out["before"] == ["ModuleNotFoundError", "No module named 'later'"]
    assert out["after"] == "later"


def test_threads_importing_from_a_sealed_folder_for_the_first_time(sealed, keys, tmp_path):
    """The first search of a sealed folder loads its manifest (which imports ``hashlib``) in
    the middle of importlib's search for some module: no thread waits for another forever."""
    out = child(
        """
        import threading
        names = ["top", "pkg.mod", "pkg.sub.deep", "ns.part", "hashlib", "missing_one", "json"]
        found = {}
        def run(name):
            found[name] = try_import(name, "__name__")
        threads = [threading.Thread(target=run, args=(n,)) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        OUT["alive"] = [t.is_alive() for t in threads]
        OUT["found"] = [found.get(n) for n in names]
        """,
        [sealed],
        [keys[1]["a"]],
        cwd=tmp_path,
    )
    assert out == {
        "alive": [False] * 7,
        "found": [
            "top",
            "pkg.mod",
            "pkg.sub.deep",
            "ns.part",
            "hashlib",
            ["ModuleNotFoundError", "No module named 'missing_one'"],
            "json",
        ],
    }


@pytest.mark.skipif(os.name != "posix", reason="symlinks")
def test_a_folder_without_a_root_manifest_is_searched_as_stock(tmp_path, keys):
    """Only a root manifest seals: an unsigned folder's modules are found, then refused."""
    root = write_tree(tmp_path / "plain", {"loose.py": "VALUE = 'loose'\n"})
    out = child(
        """
        OUT["values"] = [try_import("loose"), try_import("missing_one")]
        OUT["finder"] = type(sys.path_importer_cache[CFG["paths"][0]]).__name__
        """,
        [root],
        [keys[1]["a"]],
        cwd=tmp_path,
    )
    assert out == {
        "values": [
            ["IntegrityCheckMissing", str(root / "loose.py")],
            ["ModuleNotFoundError", "No module named 'missing_one'"],
        ],
        "finder": "SealedFolderFinder",
    }


def test_a_path_hook_behind_the_managers_still_takes_its_folders(sealed, keys, tmp_path):
    """A freezer's hook (PyInstaller's takes the folders of its app) answers as without signedimp:
    the manager's hook hands a folder to the first hook behind it that takes it, and makes its
    own finder only where that would be the stock ``FileFinder``."""
    special = tmp_path / "special"
    special.mkdir()
    head = """
_ModuleSpec = type(sys.__spec__)  # no import: one would search the folders before the hook is in
class _MemoryLoader:
    def create_module(self, spec):
        return None
    def exec_module(self, module):
        module.VALUE = "from the hook"
class _MemoryFinder:
    def find_spec(self, name, target=None):
        return _ModuleSpec(name, _MemoryLoader(), origin="memory") if name == "hooked" else None
def _hook(path):
    if path == CFG["paths"][1]:
        return _MemoryFinder()
    raise ImportError("not mine")
sys.path_hooks.insert(1, _hook)  # behind the manager's
"""
    out = child(
        """
        OUT["values"] = [try_import("hooked"), try_import("top")]
        OUT["finders"] = [type(sys.path_importer_cache[p]).__name__ for p in CFG["paths"]]
        """,
        [sealed, special],
        [keys[1]["a"]],
        cwd=tmp_path,
        head=head,
    )
    assert out == {"values": ["from the hook", "top"], "finders": ["SealedFolderFinder", "_MemoryFinder"]}


def test_the_manager_installed_last_decides_for_a_sealed_folder(sealed, keys, tmp_path):
    """Two managers: the folder finder of the first (its loaders check against its keys) is
    not used by the second, whose keys do not include the sealing key."""
    out = child(
        """
        OUT["first"] = try_import("top")
        second = SignedImportManager([load_public_key(open(CFG_OTHER, "rb").read())]).install()
        OUT["second"] = try_import("pkg")
        OUT["finder_manager"] = sys.path_importer_cache[CFG["paths"][0]]._manager is second
        """,
        [sealed],
        [keys[1]["a"]],
        cwd=tmp_path,
        head=f"CFG_OTHER = {str(keys[1]['other'])!r}\n",
    )
    assert out["first"] == "top"
    assert out["second"] == ["IntegrityCheckMissing", str(sealed / "pkg" / "__init__.py")]
    assert out["finder_manager"] is True


@pytest.mark.parametrize("first", ["top", "hashlib"])
def test_a_stdlib_name_shadowed_in_a_sealed_folder_is_never_the_verifiers(sealed, keys, tmp_path, first):
    """``hashlib.py`` added to a sealed folder early on ``sys.path``: the verifier hashes with
    its own SHA-2 modules (``digests.py``), imported from the standard library alone, so the
    app's first import works, whichever it is (this used to hang, then to end in an
    AttributeError of the half-run file), and the app's ``import hashlib`` finds the added
    file first, as Python would, and is refused: the file is not in the folder's manifest.
    The added file never runs, and neither does one named like the verifier's own modules."""
    root = copy_of(sealed, tmp_path)
    canary = tmp_path / "canary"
    for name in ("hashlib", "_hashlib", "_sha2", "_sha256", "_sha512"):
        (root / f"{name}.py").write_text(f"open({str(canary)!r}, 'w').write('{name} ran')\n")
    first_import = f"""
OUT["loaded before"] = "hashlib" in sys.modules
try:
    OUT["first"] = __import__({first!r}).__name__
except Exception as exc:
    OUT["first"] = [type(exc).__name__, getattr(exc, "file", None) or str(exc)]
"""
    out = child(
        """
        OUT["then"] = [try_import("top"), try_import("hashlib", "__file__")]
        """,
        [root],
        [keys[1]["a"]],
        cwd=tmp_path,
        head=first_import,
    )
    refused = ["IntegrityCheckMissing", str(root / "hashlib.py")]
    assert out["loaded before"] is False
    assert out["first"] == (first if first == "top" else refused)
    assert out["then"] == ["top", refused]
    assert not canary.exists()


def test_a_stdlib_name_shadowed_in_a_signed_zip_is_refused_by_name(keys, tmp_path):
    """The same in a signed zip: the app's ``import hashlib`` finds the added member, which
    the zip's manifest does not list: refused, naming the member (checking it needs no
    ``hashlib``: the verifier hashes with ``_sha2`` or ``_hashlib``, digests.py; it once needed
    the module being imported, and the half-run import stood for it); the member never runs."""
    canary = tmp_path / "canary"
    archive = tmp_path / "app.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("top.py", "VALUE = 'top'\n")
    sign_zipfile(archive, keys[0]["a"])
    with zipfile.ZipFile(archive, "a") as zf:
        zf.writestr("hashlib.py", f"open({str(canary)!r}, 'w').write('ran')\nfrom _hashlib import *\n")
    first_import = """
try:
    OUT["first"] = __import__("hashlib").__file__
except Exception as exc:
    OUT["first"] = [type(exc).__name__, exc.module, exc.file, str(exc)]
"""
    out = child(
        'OUT["then"] = try_import("top")\n', [archive], [keys[1]["a"]], cwd=tmp_path, head=first_import
    )
    where = os.path.join(str(archive), "hashlib.py")
    assert out["first"] == [
        "IntegrityCheckMissing",
        "hashlib",
        where,
        f"signedimp refused module 'hashlib', file '{where}': not listed in the signed manifest of {archive}",
    ]
    assert out["then"] == "top"
    assert not canary.exists()
