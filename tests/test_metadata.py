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


FILES_IN_ZIP = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from signedimp import SignedImportManager, load_public_key
del sys.path[0]
if sys.argv[4] == "manager":
    with open(sys.argv[2], "rb") as f:
        SignedImportManager([load_public_key(f.read())]).install()
sys.path.insert(0, sys.argv[3])
import importlib.metadata as md
files = md.files("zdist")
print("RESULT:" + json.dumps({
    "files": sorted(str(p) for p in files),
    "exists": sorted(str(p) for p in files if p.locate().exists()),
    "module": [p.read_text() for p in files if str(p) == "zmod.py"],
}))
"""


@pytest.mark.parametrize("prefix", ["", "lib/"], ids=["root", "subpath"])
def test_files_of_a_verified_distribution_in_a_zip_are_located_in_the_zip(tmp_path, prefix):
    # importlib.metadata.files() keeps only the files that locate().exists() (3.12+): each was
    # located as a file-system path below the archive (app.zip/zmod.py), which does not exist,
    # so files() was [] under a manager, but the full list without one (and on 3.10, 3.11).
    import json
    import zipfile

    from signedimp.tools import sign_zipfile

    key = generate_key()
    pub = tmp_path / "pub.pem"
    pub.write_bytes(key.public_pem())
    record = "zdist-1.0.dist-info/METADATA,,\nzdist-1.0.dist-info/RECORD,,\nzmod.py,,\n"
    members = {
        "zdist-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: zdist\nVersion: 1.0\n",
        "zdist-1.0.dist-info/RECORD": record,
        "zmod.py": "Z = 1\n",
    }
    archive = tmp_path / "app.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, text in members.items():
            zf.writestr(prefix + name, text)
    sign_zipfile(archive, key)
    entry = str(archive) + ("/" + prefix.rstrip("/") if prefix else "")
    results = []
    modes = ("manager", "plain") if not prefix else ("manager",)  # the stock finder: no subpaths
    for mode in modes:
        proc = run_python(FILES_IN_ZIP, str(PROJECT_ROOT), str(pub), entry, mode, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        results.append(json.loads([x for x in proc.stdout.splitlines() if x.startswith("RESULT:")][-1][7:]))
    listed = ["zdist-1.0.dist-info/METADATA", "zdist-1.0.dist-info/RECORD", "zmod.py"]
    expected = {"files": listed, "exists": listed, "module": ["Z = 1\n"]}
    assert results == [expected] * len(modes)
