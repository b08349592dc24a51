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
