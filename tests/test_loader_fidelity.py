"""Details a real test suite noticed: verified modules look as the stock loader makes them.

Found by running jsonschema's own tests verified (tests/test_real_world.py): pip compiles
bytecode in a staging folder, so a listed ``.pyc`` names a path that no longer exists unless
the loader fixes ``co_filename`` as ``SourceFileLoader`` does; and a warning raised while a
module is imported must name the importing line, not the verifier's ``exec_module``.
"""

from __future__ import annotations

import json
import py_compile
from importlib.util import cache_from_source
from pathlib import Path

import pytest

from signedimp.tools import generate_key, sign_directory

from .helpers import PROJECT_ROOT, run_python, write_tree

CHILD = r"""
import json, sys, warnings
cfg = json.loads(sys.argv[1])
sys.path.insert(0, cfg["project"])
from signedimp import SignedImportManager, load_public_key
del sys.path[0]
if cfg["manager"]:
    with open(cfg["pub"], "rb") as f:
        SignedImportManager([load_public_key(f.read())]).install()
sys.path.insert(0, cfg["root"])
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import compiled, noisy
print("RESULT:" + json.dumps({
    "loader": type(compiled.__spec__.loader).__name__,
    "co_filename": compiled.where.__code__.co_filename,
    "warnings": [(str(w.message), w.filename, w.lineno) for w in caught],
}))
"""


@pytest.fixture(scope="module")
def sealed(tmp_path_factory):
    key = generate_key()
    base = tmp_path_factory.mktemp("fidelity")
    pub = base / "pub.pem"
    pub.write_bytes(key.public_pem())
    root = write_tree(
        base / "root",
        {
            "compiled.py": "def where():\n    return 1\n",
            "noisy.py": "import warnings\nwarnings.warn('old API', DeprecationWarning, stacklevel=2)\n",
        },
    )
    # as pip does: compiled while the files were somewhere else, then moved
    source = root / "compiled.py"
    py_compile.compile(
        str(source), cfile=cache_from_source(str(source)), dfile="/tmp/pip-staging/compiled.py", doraise=True
    )
    sign_directory(root, key)
    return root, pub


def run(sealed, manager: bool, tmp_path: Path) -> dict:
    root, pub = sealed
    cfg = {"project": str(PROJECT_ROOT), "pub": str(pub), "manager": manager, "root": str(root)}
    proc = run_python(CHILD, json.dumps(cfg), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return json.loads([x for x in proc.stdout.splitlines() if x.startswith("RESULT:")][-1][7:])


def test_listed_bytecode_reports_its_source_file(sealed, tmp_path):
    out = run(sealed, True, tmp_path)
    assert out["loader"] == "VerifyingLoader"
    assert out["co_filename"] == str(sealed[0] / "compiled.py")
    assert run(sealed, False, tmp_path)["co_filename"] == out["co_filename"]


def test_a_warning_at_import_time_names_the_importer(sealed, tmp_path):
    out = run(sealed, True, tmp_path)
    control = run(sealed, False, tmp_path)
    line = CHILD.splitlines().index("    import compiled, noisy") + 1
    assert control["warnings"] == [["old API", "<string>", line]]
    assert out["warnings"] == control["warnings"]


PROBE_DATA = r"""
import json, pkgutil, sys
sys.path.insert(0, sys.argv[1])
from signedimp import SignedImportManager, load_public_key
del sys.path[0]
with open(sys.argv[2], "rb") as f:
    SignedImportManager([load_public_key(f.read())]).install()
sys.path.insert(0, sys.argv[3])
out = {}
for name in ("data.txt", "optional.cfg", "added.txt", "gone.txt"):
    try:
        out[name] = pkgutil.get_data("datapkg", name).decode()
    except Exception as exc:
        out[name] = [type(exc).__name__, isinstance(exc, OSError), isinstance(exc, ImportError)]
print("RESULT:" + json.dumps(out))
"""


@pytest.mark.parametrize("as_zip", [False, True], ids=["folder", "zip"])
def test_get_data_of_a_file_neither_listed_nor_there_is_file_not_found(tmp_path, as_zip):
    # The loader protocol (importlib.abc.ResourceLoader.get_data): OSError when the file is not
    # found, as without signedimp and as in frozen apps; code probing for an optional data file
    # with `except OSError` got an IntegrityCheckMissing (an ImportError) instead. A file added
    # after signing, or a listed file that was deleted, is still refused.
    import shutil
    import zipfile

    from signedimp.tools import sign_zipfile

    key = generate_key()
    pub = tmp_path / "pub.pem"
    pub.write_bytes(key.public_pem())
    files = {"datapkg/__init__.py": "", "datapkg/data.txt": "signed data\n", "datapkg/gone.txt": "x\n"}
    tree = write_tree(tmp_path / "tree", files)
    if as_zip:
        root = tmp_path / "app.zip"
        with zipfile.ZipFile(root, "w") as zf:
            for rel in files:
                zf.write(tree / rel, rel)
        sign_zipfile(root, key)
        with zipfile.ZipFile(root) as zf:  # rewritten: one member added, one deleted
            members = {name: zf.read(name) for name in zf.namelist() if name != "datapkg/gone.txt"}
        with zipfile.ZipFile(root, "w") as zf:
            for name, data in members.items():
                zf.writestr(name, data)
            zf.writestr("datapkg/added.txt", "unsigned\n")
    else:
        root = tree
        sign_directory(root, key)
        (root / "datapkg" / "gone.txt").unlink()
        (root / "datapkg" / "added.txt").write_text("unsigned\n")
    if as_zip:
        shutil.rmtree(tree)
    proc = run_python(PROBE_DATA, str(PROJECT_ROOT), str(pub), str(root), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads([x for x in proc.stdout.splitlines() if x.startswith("RESULT:")][-1][7:])
    assert out == {
        "data.txt": "signed data\n",
        "optional.cfg": ["FileNotFoundError", True, False],
        "added.txt": ["IntegrityCheckMissing", False, True],
        "gone.txt": ["IntegrityCheckFailed", False, True],
    }
