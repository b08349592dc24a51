"""The standard-library modules the verifier's deferred modules import at their top
(``submodules.STDLIB_FIRST``: ``__future__``, ``binascii``, ``struct``, ``_struct``, ``zlib``) are no longer
imported at ``import signedimp``. A search for one of them must then never run a deferred
module that imports it: importlib, once a finder has answered, takes the module that the nested
import left in ``sys.modules`` and executes it a second time (two module objects, two
``zlib.error`` classes). Each case is a fresh interpreter whose first import of the module
passes a zip or a sealed folder early on ``sys.path`` (whose finder needs the zip, entry, root
and manifest modules) while a manager is installed, and counts the imports of that name.
"""

from __future__ import annotations

import sys
import zipfile

import pytest

from signedimp.tools import generate_key, sign_directory

from .helpers import PROJECT_ROOT, clean_env, run_python, write_tree

CHILD = """
import sys
NAME, ENTRY, KEY, PROJECT, RULE = sys.argv[1:6]
STATEMENTS = []
def _watch(event, args):
    if event == "import" and args[0] == NAME and args[1] is None:  # an import statement's search
        STATEMENTS.append(NAME)
sys.addaudithook(_watch)
print(NAME in sys.modules)
sys.path.insert(0, PROJECT)
import signedimp
import signedimp.manager
if RULE == "off":  # the control: what happens without the rule
    signedimp.manager._STDLIB_FIRST = frozenset()
manager = signedimp.SignedImportManager([signedimp.Ed25519Key(bytes.fromhex(KEY))]).install()
sys.path.insert(0, ENTRY)
module = __import__(NAME)
print(len(STATEMENTS), sys.modules[NAME] is module)
try:  # the verifier's zip, entry, root and manifest modules run now, if not before
    __import__("mod")
except ImportError as exc:  # the zip is not signed
    assert type(exc).__name__ == "IntegrityCheckMissing", exc
print(sorted(
    f"{holder.__name__}.{attr}"
    for holder in list(sys.modules.values())
    if getattr(holder, "__name__", "").startswith("signedimp.")
    for attr, value in vars(holder).items()
    if type(value) is type(sys) and value.__name__ == NAME and value is not module
))
if NAME == "_struct":  # struct is imported by the zip modules only (a sealed folder needs none)
    print(sys.modules["struct"].Struct is module.Struct if "struct" in sys.modules else "no struct")
elif NAME == "__future__":  # what `from __future__ import annotations` bound in the verifier
    print(sys.modules["signedimp.bounded_read"].annotations is module.annotations)
else:
    print(getattr(module, "__file__", "built-in").startswith(sys.base_prefix) or "built-in")
print(sorted(n for n in ("signedimp.bounded_read", "signedimp.manifest") if n in sys.modules))
manager.uninstall()
"""


@pytest.fixture(scope="module")
def key():
    return generate_key()


@pytest.fixture(scope="module")
def entries(tmp_path_factory, key):
    """A zip (unsigned: its finder reads the central directory all the same) and a sealed folder."""
    where = tmp_path_factory.mktemp("entries")
    with zipfile.ZipFile(where / "lib.zip", "w") as archive:
        archive.writestr("mod.py", "VALUE = 1\n")
    folder = write_tree(where / "sealed", {"mod.py": "VALUE = 1\n"})
    sign_directory(folder, key)
    return {"zip": where / "lib.zip", "sealed folder": folder}


def first_import(name: str, entry, key, rule: str = "on") -> list[str]:
    result = run_python(
        CHILD,
        name,
        str(entry),
        key.public_key.public_bytes.hex(),
        str(PROJECT_ROOT),
        rule,
        env=clean_env(),
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


@pytest.mark.parametrize("kind", ["zip", "sealed folder"])
@pytest.mark.parametrize("name", ["__future__", "binascii", "struct", "_struct", "zlib"])
def test_the_first_import_of_a_module_the_verifier_needs_runs_it_once(entries, key, kind, name):
    before, counts, holders, same, ran = first_import(name, entries[kind], key)
    assert before == "False"  # else the case proves nothing
    assert counts == "1 True"  # one search, and the module importlib returned is sys.modules'
    assert holders == "[]"  # no verifier module holds another instance
    # from the standard library (its own _struct under struct, where struct is imported at all)
    assert same == ("no struct" if (name, kind) == ("_struct", "sealed folder") else "True")
    # and the verifier's modules that import it did run, with the same instance (holders):
    assert "signedimp.bounded_read" in ran


def test_without_the_rule_the_module_would_be_imported_twice(entries, key):
    """The control: with ``STDLIB_FIRST`` emptied, the same first ``import struct`` through a
    zip imports struct twice, and the verifier holds the other instance (``zipdir``, which
    lists the archive while importlib searches for struct). This is what the rule (and before
    it, importing these modules at ``import signedimp``) prevents."""
    before, counts, holders, _, _ = first_import("struct", entries["zip"], key, rule="off")
    assert before == "False"
    assert counts == "2 True"
    assert holders == "['signedimp.zipdir.struct']"


def test_a_sealed_folder_is_verified_without_struct_or_zlib(entries, key):
    """A process that verifies folders only never imports ``struct`` or ``zlib`` (the zip
    reader's modules): ``bounded_read`` takes them at the first zip member it reads, not at its
    top (1.9 M instructions of every sealed site-packages' first verified import)."""
    code = """
import sys
sys.path.insert(0, sys.argv[1])
import signedimp
signedimp.SignedImportManager([signedimp.Ed25519Key(bytes.fromhex(sys.argv[3]))]).install()
sys.path.insert(0, sys.argv[2])
import mod
print(mod.VALUE, "signedimp.bounded_read" in sys.modules)
print(sorted(n for n in ("struct", "_struct", "zlib") if n in sys.modules))
"""
    result = run_python(
        code,
        str(PROJECT_ROOT),
        str(entries["sealed folder"]),
        key.public_key.public_bytes.hex(),
        env=clean_env(),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["1 True", "[]"]


def test_the_extension_folder_is_judged_without_importing_zlib():
    """Whether the standard library's extension modules are trusted is found without importing
    zlib (``submodules.extensions_trusted``): the file ``import zlib`` would load, asked of the
    manager's policy. The default manager trusts it and imports none of ``LATE_STDLIB`` at
    ``install()``; a policy that trusts no such file makes the manager import them there
    (as ``trusted_paths=()`` does: tests/test_bootstrap.py)."""
    code = """
import sys
sys.path.insert(0, sys.argv[1])
import signedimp
from signedimp import submodules
seen = []
def trust_none(path):
    seen.append(path)
    return False
print(submodules.extensions_trusted(trust_none), "zlib" in sys.modules)
print(sorted({p.rpartition("/")[2].partition(".")[0] for p in seen}))
m = signedimp.SignedImportManager([signedimp.Ed25519Key(bytes(32))]).install()
print(submodules.extensions_trusted(m._trust.is_trusted), "zlib" in sys.modules)
print(sorted(n for n in submodules.LATE_STDLIB if n in sys.modules))
m.uninstall()
"""
    if "zlib" in sys.builtin_module_names:  # pragma: no cover - a build with zlib built in
        pytest.skip("zlib is built into this interpreter: no folder to find")
    result = run_python(code, str(PROJECT_ROOT), env=clean_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["False False", "['zlib']", "True False", "[]"]
