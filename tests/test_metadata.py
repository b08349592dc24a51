"""#8.5: under a manager, ``importlib.metadata`` believes only verified distribution metadata.

A signed folder holds a genuine distribution ``good`` 1.0 with an entry point; an unsigned
folder later on ``sys.path`` holds a spoofed ``good`` 9.9 and a distribution ``spoof`` that adds
an entry point to the same group. Without a manager ``importlib.metadata`` sees all of it.
"""

from __future__ import annotations

import ast

import pytest

from signedimp.tools import generate_key, sign_directory

from .helpers import PROJECT_ROOT, clean_env, run_python, write_tree

CHILD = r"""
import ast, sys
CFG = ast.literal_eval(sys.argv[1])
sys.path.insert(0, CFG["project"])
import signedimp
from signedimp import SignedImportManager, load_public_key
del sys.path[0]
with open(CFG["pub"], "rb") as f:
    KEY = load_public_key(f.read())
if CFG["manager"]:
    SignedImportManager([KEY]).install()
    OUT = {"metadata_imported_by_install": "importlib.metadata" in sys.modules}
else:
    OUT = {}
sys.path[0:0] = CFG["paths"]
import importlib.metadata as md
def attempt(fn):
    try:
        return fn()
    except Exception as exc:
        return (type(exc).__name__, str(exc))
OUT["good"] = attempt(lambda: md.version("good"))
OUT["spoof"] = attempt(lambda: md.version("spoof"))
OUT["plugins"] = attempt(lambda: sorted(ep.value for ep in md.entry_points(group="app.plugins")))
OUT["names"] = attempt(lambda: sorted(d.metadata["Name"] for d in md.distributions()))
OUT["requires"] = attempt(lambda: md.requires("good"))
OUT["info_dir"] = attempt(lambda: str(getattr(md.distribution("good"), "_path", None)))
print("RESULT:" + repr(OUT))
"""


def dist_info(name: str, version: str, plugin: str) -> dict[str, str]:
    folder = f"{name}-{version}.dist-info"
    return {
        f"{folder}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nRequires-Dist: six\n",
        f"{folder}/entry_points.txt": f"[app.plugins]\n{name} = {plugin}\n",
        f"{plugin}.py": "X = 1\n",
    }


@pytest.fixture()
def layout(tmp_path):
    key = generate_key()
    pub = tmp_path / "pub.pem"
    pub.write_bytes(key.public_pem())
    signed = write_tree(tmp_path / "signed", dist_info("good", "1.0", "good_plugin"))
    sign_directory(signed, key)
    unsigned = write_tree(
        tmp_path / "unsigned",
        {**dist_info("good", "9.9", "evil_good"), **dist_info("spoof", "6.6", "evil_spoof")},
    )
    return {"pub": pub, "signed": signed, "unsigned": unsigned}


def run(layout, *, manager: bool, paths=None) -> dict:
    paths = paths or [layout["signed"], layout["unsigned"]]
    cfg = {
        "project": str(PROJECT_ROOT),
        "pub": str(layout["pub"]),
        "manager": manager,
        "paths": [str(p) for p in paths],
    }
    proc = run_python(CHILD, repr(cfg), env=clean_env())
    assert proc.returncode == 0, proc.stderr
    line = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT:"))
    return ast.literal_eval(line[len("RESULT:") :])


def test_without_a_manager_unsigned_metadata_is_believed(layout):
    out = run(layout, manager=False, paths=[layout["unsigned"], layout["signed"]])
    assert out["good"] == "9.9"
    assert out["spoof"] == "6.6"
    assert out["plugins"] == ["evil_good", "evil_spoof"]  # the first "good" shadows the signed one


def test_unsigned_distributions_are_not_seen(layout):
    """Spoofed versions and added entry points vanish; the signed distribution is read verified."""
    out = run(layout, manager=True, paths=[layout["unsigned"], layout["signed"]])
    assert out["metadata_imported_by_install"] is False
    assert out["good"] == "1.0"
    assert out["spoof"] == ("PackageNotFoundError", "No package metadata was found for spoof")
    assert out["plugins"] == ["good_plugin"]
    assert "spoof" not in out["names"] and out["names"].count("good") == 1
    assert out["requires"] == ["six"]


def test_verified_distributions_name_their_metadata_folder(layout):
    """``_path``, as ``PathDistribution`` has it: pip reads name and version from the folder's
    name and, without it, parses every ``METADATA`` with the ``email`` package seven times."""
    out = run(layout, manager=True, paths=[layout["signed"], layout["unsigned"]])
    assert out["info_dir"] == str(layout["signed"] / "good-1.0.dist-info")
    assert run(layout, manager=False, paths=[layout["signed"]])["info_dir"] == out["info_dir"]


def test_added_and_modified_files_in_a_signed_distribution(layout):
    """An entry_points.txt added after sealing is as good as absent; a modified METADATA is refused."""
    info = layout["signed"] / "good-1.0.dist-info"
    (info / "entry_points.txt").unlink()  # listed and gone: absent too
    write_tree(info, {"RECORD": "x\n"})
    out = run(layout, manager=True, paths=[layout["signed"]])
    assert out["plugins"] == []
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: good\nVersion: 7.0\n")
    out = run(layout, manager=True, paths=[layout["signed"]])
    error, message = out["good"]
    assert error == "IntegrityCheckFailed"
    assert message == (
        f"signedimp refused file {str(info / 'METADATA')!r}: "
        "its SHA-256 does not match the signed manifest (modified)"
    )
