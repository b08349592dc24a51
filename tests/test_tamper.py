"""The tamper suite: signed directories and zips, tampered with, imported in fresh interpreters.

Every case is a real tree on disk, signed with ``signedimp.tools`` and then changed the way an
attacker would change it. The attacker's code writes a canary file when it runs. Each case runs
in its own fresh interpreter with ``SignedImportManager([public_key])`` installed, and the test
asserts that the canary stays absent and that the exact exception class is raised, with a
message that names the module, the file and the reason.

Each case is also run once *without* the manager (the "control"): there the canary must appear
(or the tampered bytes come back), which proves that the tampering is real and the test could
fail.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import json
import py_compile
import shutil
import sys
import sysconfig
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from signedimp import MANIFEST_NAME, Manifest
from signedimp.manifest import Signature
from signedimp.tools import generate_key, sign_directory, sign_zipfile

from .helpers import PROJECT_ROOT, clean_env, run_python, write_tree

GENUINE = "VALUE = 'genuine'\n"
GENUINE_PKG = "VALUE = 'genuine package'\n"
GENUINE_DATA = "genuine data\n"
EVIL_DATA = "evil data\n"

CHILD = r"""
import json, os, sys
cfg = json.loads(sys.argv[1])
import importlib, importlib.resources, pkgutil
sys.path.insert(0, cfg["project"])
import signedimp
from signedimp import SignedImportManager, load_public_key
del sys.path[0]
if cfg["manager"]:
    with open(cfg["pub"], "rb") as f:
        SignedImportManager([load_public_key(f.read())]).install()
sys.path[0:0] = cfg["paths"]

def act(action, target):
    if action == "import":
        return importlib.import_module(target).VALUE
    if action == "reload":
        return importlib.reload(sys.modules[target]).VALUE
    if action == "value":
        return sys.modules[target].VALUE
    if action == "write":  # the attacker changes a file while the program runs
        with open(target, "w") as f:
            f.write(cfg["payloads"][target])
        return "written"
    pkg, _, resource = target.partition(":")
    if action == "get_data":
        return pkgutil.get_data(pkg, resource).decode()
    if action == "files":
        return importlib.resources.files(pkg).joinpath(resource).read_bytes().decode()
    raise AssertionError(action)

out = []
for action, target in cfg["steps"]:
    try:
        out.append({"value": act(action, target)})
    except Exception as exc:
        out.append({
            "error": f"{type(exc).__module__}.{type(exc).__qualname__}",
            "message": str(exc),
            "module": getattr(exc, "module", None),
            "file": getattr(exc, "file", None),
            "import_error": isinstance(exc, ImportError),
        })
print("RESULT:" + json.dumps(out))
"""


def run_child(cfg: dict, *, cwd: Path) -> list[dict]:
    proc = run_python(CHILD, json.dumps(cfg), cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT:")]
    assert len(lines) == 1, (proc.stdout, proc.stderr)
    return json.loads(lines[0][len("RESULT:") :])


def malicious(canary: Path, value: str = "evil") -> str:
    return f"open({str(canary)!r}, 'w').write('pwned')\nVALUE = {value!r}\n"


def forged_pyc(source: str, target: Path, display: str) -> None:
    """Bytecode for ``source`` that CPython runs without looking at any source file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    src = target.with_suffix(".forge.py")
    src.write_text(source)
    py_compile.compile(
        str(src),
        cfile=str(target),
        dfile=display,
        doraise=True,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    src.unlink()


def make_zip(path: Path, members: list[tuple[str, str | bytes]]) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name": that is the point of one case
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in members:
                zf.writestr(name, data)
    return path


def zip_members(path: Path) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(path) as zf:
        return [(info.filename, zf.read(info)) for info in zf.infolist()]


def sha(data: str | bytes) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


@dataclass
class Case:
    paths: list[str]
    steps: list[tuple[str, str]]
    canary: Path
    # the last step's expected outcome under the manager
    error: str | None = None  # "IntegrityCheckFailed" / "IntegrityCheckMissing"
    module: str | None = None
    file: str | None = None
    reason: str | None = None  # the reason: the message after "module ..., file ...: "
    value: str | None = None  # expected value when the import must succeed
    before: list[str] = field(default_factory=list)  # values of the steps before the last
    control: str = "canary"  # without the manager: "canary", "data" or "none"
    payloads: dict = field(default_factory=dict)  # files the child itself rewrites ("write" steps)


@pytest.fixture(scope="session")
def keys(tmp_path_factory):
    """The trusted signing key, an attacker's key, and the trusted public key's PEM file."""
    trusted, attacker = generate_key(), generate_key()
    folder = tmp_path_factory.mktemp("keys")
    pub = folder / "trusted.pub.pem"
    pub.write_bytes(trusted.public_pem())
    return trusted, attacker, pub


def genuine_tree(root: Path) -> Path:
    return write_tree(
        root,
        {
            "victim.py": GENUINE,
            "vpkg/__init__.py": GENUINE_PKG,
            "vpkg/helper.py": "VALUE = 'helper'\n",
            "vpkg/data.txt": GENUINE_DATA,
        },
    )


@pytest.fixture(scope="module")
def cases(tmp_path_factory, keys) -> dict[str, Case]:
    trusted, attacker, _ = keys
    base = tmp_path_factory.mktemp("tamper")
    built: dict[str, Case] = {}

    def signed_dir(name: str) -> tuple[Path, Path]:
        root = genuine_tree(base / name / "root")
        sign_directory(root, trusted)
        return root, base / name / "canary"

    # -- directories -----------------------------------------------------------------------
    root, canary = signed_dir("modified_module")
    (root / "victim.py").write_text(malicious(canary))
    built["modified_module"] = Case(
        [str(root)],
        [("import", "victim")],
        canary,
        "IntegrityCheckFailed",
        "victim",
        str(root / "victim.py"),
        "its SHA-256 does not match the signed manifest (modified)",
    )

    root, canary = signed_dir("modified_package_init")
    (root / "vpkg" / "__init__.py").write_text(malicious(canary))
    built["modified_package_init"] = Case(
        [str(root)],
        [("import", "victim"), ("import", "vpkg")],
        canary,
        "IntegrityCheckFailed",
        "vpkg",
        str(root / "vpkg" / "__init__.py"),
        "its SHA-256 does not match the signed manifest (modified)",
        before=["genuine"],
    )

    for action in ("get_data", "files"):
        root, canary = signed_dir(f"modified_data_{action}")
        (root / "vpkg" / "data.txt").write_text(EVIL_DATA)
        built[f"modified_data_{action}"] = Case(
            [str(root)],
            [("import", "vpkg"), (action, "vpkg:data.txt")],
            canary,
            "IntegrityCheckFailed",
            "vpkg",
            str(root / "vpkg" / "data.txt"),
            "its SHA-256 does not match the signed manifest (modified)",
            before=["genuine package"],
            control="data",
        )

    root, canary = signed_dir("unlisted_module")
    (root / "intruder.py").write_text(malicious(canary))
    built["unlisted_module"] = Case(
        [str(root)],
        [("import", "victim"), ("import", "intruder")],
        canary,
        "IntegrityCheckMissing",
        "intruder",
        str(root / "intruder.py"),
        f"not listed in the signed manifest of {root}",
        before=["genuine"],
    )

    root, canary = signed_dir("unlisted_submodule")
    (root / "vpkg" / "intruder.py").write_text(malicious(canary))
    built["unlisted_submodule"] = Case(
        [str(root)],
        [("import", "vpkg"), ("import", "vpkg.intruder")],
        canary,
        "IntegrityCheckMissing",
        "vpkg.intruder",
        str(root / "vpkg" / "intruder.py"),
        f"not listed in the signed manifest of {root}",
        before=["genuine package"],
    )

    root, canary = signed_dir("manifest_removed")
    (root / MANIFEST_NAME).unlink()
    (root / "victim.py").write_text(malicious(canary))
    built["manifest_removed"] = Case(
        [str(root)],
        [("import", "victim")],
        canary,
        "IntegrityCheckMissing",
        "victim",
        str(root / "victim.py"),
        f"no {MANIFEST_NAME} in {root} (nor in a *.dist-info folder there)",
    )

    root, canary = signed_dir("edited_hash_line")
    evil = malicious(canary)
    (root / "victim.py").write_text(evil)
    text = (root / MANIFEST_NAME).read_text()
    assert f"{sha(GENUINE)} victim.py\n" in text
    (root / MANIFEST_NAME).write_text(text.replace(f"{sha(GENUINE)} victim.py", f"{sha(evil)} victim.py"))
    built["edited_hash_line"] = Case(
        [str(root)],
        [("import", "victim")],
        canary,
        "IntegrityCheckFailed",
        "victim",
        str(root / "victim.py"),
        f"manifest rejected: {root / MANIFEST_NAME}: signature by trusted key {trusted.fingerprint} "
        "does not verify (manifest tampered with)",
    )

    root, canary = signed_dir("untrusted_key")
    (root / "victim.py").write_text(malicious(canary))
    (root / MANIFEST_NAME).unlink()
    sign_directory(root, attacker)
    built["untrusted_key"] = Case(
        [str(root)],
        [("import", "victim")],
        canary,
        "IntegrityCheckMissing",
        "victim",
        str(root / "victim.py"),
        f"manifest {root / MANIFEST_NAME} is not signed by a trusted key (signed by {attacker.fingerprint})",
    )

    root, canary = signed_dir("forged_signature")
    (root / "victim.py").write_text(malicious(canary))
    (root / MANIFEST_NAME).unlink()
    forged = Manifest(
        {
            rel: sha(p.read_bytes())
            for rel, p in ((p.relative_to(root).as_posix(), p) for p in root.rglob("*") if p.is_file())
        }
    )
    forged = forged.with_signature(Signature(trusted.fingerprint, attacker.sign(forged.signed_bytes())))
    (root / MANIFEST_NAME).write_bytes(forged.serialise())
    built["forged_signature"] = Case(
        [str(root)],
        [("import", "victim")],
        canary,
        "IntegrityCheckFailed",
        "victim",
        str(root / "victim.py"),
        f"manifest rejected: {root / MANIFEST_NAME}: signature by trusted key {trusted.fingerprint} "
        "does not verify (manifest tampered with)",
    )

    # The attacker also adds an attacker-signed line: a trusted line that fails still rejects.
    root, canary = signed_dir("forged_signature_cosigned")
    (root / "victim.py").write_text(malicious(canary))
    (root / MANIFEST_NAME).unlink()
    forged = sign_directory(root, attacker)
    forged = forged.with_signature(Signature(trusted.fingerprint, bytes(64)))
    (root / MANIFEST_NAME).write_bytes(forged.serialise())
    built["forged_signature_cosigned"] = Case(
        [str(root)],
        [("import", "victim")],
        canary,
        "IntegrityCheckFailed",
        "victim",
        str(root / "victim.py"),
        f"manifest rejected: {root / MANIFEST_NAME}: signature by trusted key {trusted.fingerprint} "
        "does not verify (manifest tampered with)",
    )

    root, canary = signed_dir("truncated_midline")
    (root / "victim.py").write_text(malicious(canary))
    data = (root / MANIFEST_NAME).read_bytes()
    (root / MANIFEST_NAME).write_bytes(data[:-20])
    built["truncated_midline"] = Case(
        [str(root)],
        [("import", "victim")],
        canary,
        "IntegrityCheckFailed",
        "victim",
        str(root / "victim.py"),
        f"manifest rejected: {root / MANIFEST_NAME}, line 7: missing newline at the end of the file",
    )

    root, canary = signed_dir("truncated_at_line")
    evil = malicious(canary)
    (root / "vpkg" / "helper.py").write_text(evil)
    data = (root / MANIFEST_NAME).read_bytes()
    lines = data.splitlines(keepends=True)
    assert lines[-2].endswith(b" vpkg/data.txt\n") and lines[-1].endswith(b" vpkg/helper.py\n")
    (root / MANIFEST_NAME).write_bytes(b"".join(lines[:-1]))  # the helper's line cut off
    built["truncated_at_line"] = Case(  # the whole manifest is rejected: vpkg is refused first
        [str(root)],
        [("import", "vpkg.helper")],
        canary,
        "IntegrityCheckFailed",
        "vpkg",
        str(root / "vpkg" / "__init__.py"),
        f"manifest rejected: {root / MANIFEST_NAME}: signature by trusted key {trusted.fingerprint} "
        "does not verify (manifest tampered with)",
    )

    root, canary = signed_dir("manifest_crlf")
    (root / "victim.py").write_text(malicious(canary))
    data = (root / MANIFEST_NAME).read_bytes()
    (root / MANIFEST_NAME).write_bytes(data.replace(b"\n", b"\r\n"))
    built["manifest_crlf"] = Case(
        [str(root)],
        [("import", "victim")],
        canary,
        "IntegrityCheckFailed",
        "victim",
        str(root / "victim.py"),
        f"manifest rejected: {root / MANIFEST_NAME}, line 1: carriage return (CR) not allowed",
    )

    root, canary = signed_dir("manifest_utf16")
    (root / "victim.py").write_text(malicious(canary))
    data = (root / MANIFEST_NAME).read_bytes()
    (root / MANIFEST_NAME).write_bytes(data.decode("utf-8").encode("utf-16"))
    built["manifest_utf16"] = Case(
        [str(root)],
        [("import", "victim")],
        canary,
        "IntegrityCheckFailed",
        "victim",
        str(root / "victim.py"),
        f"manifest rejected: {root / MANIFEST_NAME}, line 1: not valid UTF-8",
    )

    # Bytecode no manifest lists is never read: the genuine source is compiled instead.
    tag = sys.implementation.cache_tag
    root, canary = signed_dir("forged_pycache")
    forged_pyc(malicious(canary), root / "__pycache__" / f"victim.{tag}.pyc", str(root / "victim.py"))
    forged_pyc(
        malicious(canary, "evil package"),
        root / "vpkg" / "__pycache__" / f"__init__.{tag}.pyc",
        str(root / "vpkg" / "__init__.py"),
    )
    built["forged_pycache"] = Case(
        [str(root)],
        [("import", "vpkg"), ("import", "victim")],
        canary,
        value="genuine",
        before=["genuine package"],
    )

    root, canary = signed_dir("forged_pyc_beside_source")
    forged_pyc(malicious(canary), root / "victim.pyc", str(root / "victim.py"))
    built["forged_pyc_beside_source"] = Case(
        [str(root)], [("import", "victim")], canary, value="genuine", control="none"
    )  # CPython itself prefers victim.py; this guards the hook's own lookup

    root, canary = signed_dir("forged_sourceless_pyc")
    forged_pyc(malicious(canary), root / "orphan.pyc", str(root / "orphan.py"))
    built["forged_sourceless_pyc"] = Case(
        [str(root)],
        [("import", "victim"), ("import", "orphan")],
        canary,
        "IntegrityCheckMissing",
        "orphan",
        str(root / "orphan.pyc"),
        f"not listed in the signed manifest of {root}",
        before=["genuine"],
    )

    # Sealed after compileall: the pyc is listed, so a swapped pyc is tampering, not a fallback.
    root = genuine_tree(base / "sealed_pyc_replaced" / "root")
    canary = base / "sealed_pyc_replaced" / "canary"
    py_compile.compile(str(root / "victim.py"), doraise=True)
    pyc = root / "__pycache__" / f"victim.{tag}.pyc"
    assert pyc.is_file()
    sign_directory(root, trusted)
    forged_pyc(malicious(canary), pyc, str(root / "victim.py"))
    built["sealed_pyc_replaced"] = Case(
        [str(root)],
        [("import", "victim")],
        canary,
        "IntegrityCheckFailed",
        "victim",
        str(pyc),
        "its SHA-256 does not match the signed manifest (modified)",
    )

    # An unsigned directory earlier on sys.path shadows the signed module.
    root, canary = signed_dir("shadowed")
    shadow = write_tree(base / "shadowed" / "shadow", {"victim.py": malicious(canary)})
    built["shadowed"] = Case(
        [str(shadow), str(root)],
        [("import", "vpkg"), ("import", "victim")],
        canary,
        "IntegrityCheckMissing",
        "victim",
        str(shadow / "victim.py"),
        f"no {MANIFEST_NAME} in {shadow} (nor in a *.dist-info folder there)",
        before=["genuine package"],
    )

    # Modified while the program runs, then reloaded: the reload is refused, the old module stays.
    root, canary = signed_dir("modified_then_reloaded")
    target = str(root / "victim.py")
    built["modified_then_reloaded"] = Case(
        [str(root)],
        [("import", "victim"), ("write", target), ("value", "victim"), ("reload", "victim")],
        canary,
        "IntegrityCheckFailed",
        "victim",
        target,
        "its SHA-256 does not match the signed manifest (modified)",
        before=["genuine", "written", "genuine"],
        payloads={target: malicious(canary)},
    )

    # -- zips --------------------------------------------------------------------------------
    genuine_members = [
        ("victim.py", GENUINE),
        ("vpkg/__init__.py", GENUINE_PKG),
        ("vpkg/helper.py", "VALUE = 'helper'\n"),
        ("vpkg/data.txt", GENUINE_DATA),
    ]

    def signed_zip(name: str, members=genuine_members) -> tuple[Path, Path]:
        (base / name).mkdir()
        archive = make_zip(base / name / "app.zip", members)
        sign_zipfile(archive, trusted)
        return archive, base / name / "canary"

    archive, canary = signed_zip("zip_rewritten")
    make_zip(archive, [(n, malicious(canary) if n == "victim.py" else d) for n, d in zip_members(archive)])
    built["zip_rewritten"] = Case(
        [str(archive)],
        [("import", "vpkg"), ("import", "victim")],
        canary,
        "IntegrityCheckFailed",
        "victim",
        str(archive / "victim.py"),
        "its SHA-256 does not match the signed manifest (modified)",
        before=["genuine package"],
    )

    archive, canary = signed_zip("zip_rewritten_data")
    make_zip(archive, [(n, EVIL_DATA if n == "vpkg/data.txt" else d) for n, d in zip_members(archive)])
    built["zip_rewritten_data"] = Case(
        [str(archive)],
        [("import", "vpkg"), ("files", "vpkg:data.txt")],
        canary,
        "IntegrityCheckFailed",
        "vpkg",
        str(archive / "vpkg" / "data.txt"),
        "its SHA-256 does not match the signed manifest (modified)",
        before=["genuine package"],
        control="data",
    )

    archive, canary = signed_zip("zip_added")
    make_zip(archive, zip_members(archive) + [("intruder.py", malicious(canary))])
    built["zip_added"] = Case(
        [str(archive)],
        [("import", "victim"), ("import", "intruder")],
        canary,
        "IntegrityCheckMissing",
        "intruder",
        str(archive / "intruder.py"),
        f"not listed in the signed manifest of {archive}",
        before=["genuine"],
    )

    archive, canary = signed_zip("zip_added_pyc")
    forged_pyc(malicious(canary), base / "zip_added_pyc" / "victim.pyc", "victim.py")
    make_zip(
        archive, zip_members(archive) + [("victim.pyc", (base / "zip_added_pyc" / "victim.pyc").read_bytes())]
    )
    built["zip_added_pyc"] = Case(  # zipimport prefers victim.pyc; the hook only reads listed bytecode
        [str(archive)], [("import", "victim")], canary, value="genuine"
    )

    archive, canary = signed_zip("zip_duplicate")
    make_zip(archive, zip_members(archive) + [("victim.py", malicious(canary))])
    assert [n for n, _ in zip_members(archive)].count("victim.py") == 2
    built["zip_duplicate"] = Case(
        [str(archive)],
        [("import", "victim")],
        canary,
        "IntegrityCheckFailed",
        "victim",
        str(archive),
        "the zip archive on sys.path was rejected, so nothing is imported from it:"
        f" {archive}: duplicate member name 'victim.py'",
    )

    # A zip with a subpath on sys.path (app.zip/lib): lib/ carries its own manifest.
    lib = genuine_tree(base / "zip_subpath" / "staging" / "lib")
    sign_directory(lib, trusted)
    archive = base / "zip_subpath" / "app.zip"
    canary = base / "zip_subpath" / "canary"
    make_zip(
        archive,
        [("top.py", GENUINE)]
        + [
            (p.relative_to(lib.parent).as_posix(), p.read_bytes())
            for p in sorted(lib.rglob("*"))
            if p.is_file()
        ],
    )
    sign_zipfile(archive, trusted)
    make_zip(
        archive, [(n, malicious(canary) if n == "lib/victim.py" else d) for n, d in zip_members(archive)]
    )
    built["zip_subpath_rewritten"] = Case(
        [str(archive / "lib")],
        [("import", "vpkg"), ("import", "victim")],
        canary,
        "IntegrityCheckFailed",
        "victim",
        str(archive / "lib" / "victim.py"),
        "its SHA-256 does not match the signed manifest (modified)",
        before=["genuine package"],
    )

    # app.zip/lib on sys.path, signed only by sign_zipfile (the archive's root manifest lists lib/...)
    (base / "zip_root_manifest_subpath").mkdir()
    archive = make_zip(
        base / "zip_root_manifest_subpath" / "app.zip", [("lib/" + n, d) for n, d in genuine_members]
    )
    sign_zipfile(archive, trusted)
    canary = base / "zip_root_manifest_subpath" / "canary"
    make_zip(
        archive,
        [(n, malicious(canary) if n == "lib/victim.py" else d) for n, d in zip_members(archive)]
        + [("lib/intruder.py", malicious(canary))],
    )
    built["zip_root_manifest_subpath_rewritten"] = Case(
        [str(archive / "lib")],
        [("import", "vpkg"), ("import", "victim")],
        canary,
        "IntegrityCheckFailed",
        "victim",
        str(archive / "lib" / "victim.py"),
        "its SHA-256 does not match the signed manifest (modified)",
        before=["genuine package"],
    )
    built["zip_root_manifest_subpath_added"] = Case(
        [str(archive / "lib")],
        [("import", "vpkg"), ("import", "intruder")],
        canary,
        "IntegrityCheckMissing",
        "intruder",
        str(archive / "lib" / "intruder.py"),
        f"not listed in the signed manifest of {archive / 'lib'}",
        before=["genuine package"],
    )
    return built


CASES = [
    "modified_module",
    "modified_package_init",
    "modified_data_get_data",
    "modified_data_files",
    "unlisted_module",
    "unlisted_submodule",
    "manifest_removed",
    "edited_hash_line",
    "untrusted_key",
    "forged_signature",
    "forged_signature_cosigned",
    "truncated_midline",
    "truncated_at_line",
    "manifest_crlf",
    "manifest_utf16",
    "forged_pycache",
    "forged_pyc_beside_source",
    "forged_sourceless_pyc",
    "sealed_pyc_replaced",
    "shadowed",
    "modified_then_reloaded",
    "zip_rewritten",
    "zip_rewritten_data",
    "zip_added",
    "zip_added_pyc",
    "zip_duplicate",
    "zip_subpath_rewritten",
    "zip_root_manifest_subpath_rewritten",
    "zip_root_manifest_subpath_added",
]


def restore_genuine(case: Case) -> None:
    """Files that a case's child rewrites start genuine in every run."""
    for path in case.payloads:
        Path(path).write_text(GENUINE)


@pytest.mark.parametrize("name", CASES)
def test_tampering_is_refused(name, cases, keys, tmp_path):
    case = cases[name]
    assert not case.canary.exists()
    restore_genuine(case)
    results = run_child(
        {
            "project": str(PROJECT_ROOT),
            "pub": str(keys[2]),
            "manager": True,
            "paths": case.paths,
            "steps": case.steps,
            "payloads": case.payloads,
        },
        cwd=tmp_path,
    )
    assert not case.canary.exists(), "the attacker's code ran"
    assert [r.get("value") for r in results[:-1]] == case.before, results
    last = results[-1]
    if case.error is None:
        assert last == {"value": case.value}
        return
    assert last["error"] == f"signedimp.errors.{case.error}", last
    assert last["import_error"] is True
    assert last["module"] == case.module
    assert last["file"] == case.file
    assert last["message"] == f"signedimp refused module {case.module!r}, file {case.file!r}: {case.reason}"


@pytest.mark.parametrize("name", [n for n in CASES if n != "forged_pyc_beside_source"])
def test_control_tampering_works_without_the_manager(name, cases, keys, tmp_path):
    """Without the manager the same tampering succeeds: each case above tests something real."""
    case = cases[name]
    assert case.control != "none"
    restore_genuine(case)
    results = run_child(
        {
            "project": str(PROJECT_ROOT),
            "pub": str(keys[2]),
            "manager": False,
            "paths": case.paths,
            "steps": case.steps,
            "payloads": case.payloads,
        },
        cwd=tmp_path,
    )

    try:
        if case.control == "data":
            assert results[-1] == {"value": EVIL_DATA}
            assert not case.canary.exists()
        elif "error" in results[-1]:
            # a malformed zip or manifest does not stop plain Python; nothing else may fail
            raise AssertionError(results)
        else:
            assert results[-1] == {"value": "evil"}, results
            assert case.canary.read_text() == "pwned"
    finally:
        case.canary.unlink(missing_ok=True)


# -- extension modules ----------------------------------------------------------------------

EXT_SOURCE = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdio.h>

static PyObject *answer(PyObject *self, PyObject *args) { return PyLong_FromLong(%(answer)d); }
static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "cext", NULL, -1, methods};

PyMODINIT_FUNC PyInit_cext(void) {
    %(payload)s
    return PyModule_Create(&def);
}
"""


def build_extension(folder: Path, answer: int, payload: str = "") -> bytes:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not available to build a C extension")
    import subprocess

    folder.mkdir(parents=True, exist_ok=True)
    src = folder / "cext.c"
    src.write_text(EXT_SOURCE % {"answer": answer, "payload": payload})
    out = folder / ("cext" + importlib.machinery.EXTENSION_SUFFIXES[0])
    proc = subprocess.run(
        [gcc, "-shared", "-fPIC", "-O0", f"-I{sysconfig.get_paths()['include']}", str(src), "-o", str(out)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot build a C extension here: {proc.stderr.strip()[:300]}")
    src.unlink()
    return out.read_bytes()


EXT_CHILD = r"""
import json, os, sys
cfg = json.loads(sys.argv[1])
sys.path.insert(0, cfg["project"])
import signedimp.extensions
from signedimp import SignedImportManager, load_public_key
del sys.path[0]
if cfg["manager"]:
    with open(cfg["pub"], "rb") as f:
        SignedImportManager([load_public_key(f.read())]).install()
sys.path.insert(0, cfg["root"])
out = {"windowless": signedimp.extensions.WINDOWLESS}
try:
    import cext
except Exception as exc:
    out.update(error=f"{type(exc).__module__}.{type(exc).__qualname__}", message=str(exc),
               module=getattr(exc, "module", None), file=getattr(exc, "file", None))
else:
    with open("/proc/self/maps") as f:
        maps = f.read()
    out.update(answer=cext.answer(), file=cext.__file__, origin=cext.__spec__.origin,
               loader=type(cext.__spec__.loader).__name__,
               memfd_mapped="memfd:signedimp:cext" in maps, real_file_mapped=cext.__file__ in maps)
print("RESULT:" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def extension_roots(tmp_path_factory, keys):
    trusted = keys[0]
    base = tmp_path_factory.mktemp("ext")
    genuine = base / "genuine"
    build_extension(genuine, 42)
    sign_directory(genuine, trusted)
    tampered = base / "tampered"
    build_extension(tampered, 42)
    sign_directory(tampered, trusted)
    canary = base / "canary"
    payload = f'{{ FILE *f = fopen("{canary}", "w"); if (f) {{ fputs("pwned", f); fclose(f); }} }}'
    evil = build_extension(base / "evil", 666, payload)
    name = "cext" + importlib.machinery.EXTENSION_SUFFIXES[0]
    (tampered / name).write_bytes(evil)
    return genuine, tampered, canary, name


def run_ext_child(root: Path, pub: Path, manager: bool, cwd: Path) -> dict:
    cfg = {"project": str(PROJECT_ROOT), "pub": str(pub), "manager": manager, "root": str(root)}
    proc = run_python(EXT_CHILD, json.dumps(cfg), cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT:")][-1]
    return json.loads(line[len("RESULT:") :])


def test_extension_genuine_loads_from_sealed_memfd(extension_roots, keys, tmp_path):
    genuine, _, _, name = extension_roots
    out = run_ext_child(genuine, keys[2], True, tmp_path)
    assert out.pop("error", None) is None, out
    assert out["answer"] == 42
    assert out["loader"] == "VerifyingLoader"
    assert out["file"] == out["origin"] == str(genuine / name)
    if sys.platform.startswith("linux"):
        assert out["windowless"] is True
        assert out["memfd_mapped"] is True, "the extension was not loaded from the sealed memfd"
        assert out["real_file_mapped"] is False, "the file on disk was mapped: a check/load window"


def test_extension_with_changed_bytes_is_refused(extension_roots, keys, tmp_path):
    _, tampered, canary, name = extension_roots
    out = run_ext_child(tampered, keys[2], True, tmp_path)
    assert not canary.exists(), "the forged extension's init ran"
    assert out["error"] == "signedimp.errors.IntegrityCheckFailed", out
    assert out["module"] == "cext"
    assert out["file"] == str(tampered / name)
    assert out["message"] == (
        f"signedimp refused module 'cext', file {str(tampered / name)!r}: "
        "its SHA-256 does not match the signed manifest (modified)"
    )
    # control: plain Python runs the forged init
    out = run_ext_child(tampered, keys[2], False, tmp_path)
    assert out["answer"] == 666 and canary.read_text() == "pwned"
    canary.unlink()


def test_namespace_package_data_read_through_resources_is_verified(tmp_path_factory, keys, tmp_path):
    trusted, _, pub = keys
    root = write_tree(
        tmp_path_factory.mktemp("ns-tamper") / "root",
        {"nsdata/mod.py": GENUINE, "nsdata/data/a.txt": GENUINE_DATA},
    )
    sign_directory(root, trusted)
    (root / "nsdata" / "data" / "a.txt").write_text(EVIL_DATA)
    results = run_child(
        {
            "project": str(PROJECT_ROOT),
            "pub": str(pub),
            "manager": True,
            "paths": [str(root)],
            "steps": [("import", "nsdata.mod"), ("files", "nsdata:data/a.txt")],
        },
        cwd=tmp_path,
    )
    assert results[0] == {"value": "genuine"}
    file = str(root / "nsdata" / "data" / "a.txt")
    assert results[1] != {"value": EVIL_DATA}, "tampered data was returned unverified"
    assert results[1]["error"] == "signedimp.errors.IntegrityCheckFailed", results
    assert results[1]["file"] == file


def test_meta_path_finder_inserted_before_the_manager_is_still_vetted(tmp_path_factory, keys, tmp_path):
    base = tmp_path_factory.mktemp("late-finder")
    canary = base / "canary"
    unsigned = write_tree(base / "unsigned", {"latecomer.py": malicious(canary)})
    code = CHILD.replace(
        'sys.path[0:0] = cfg["paths"]',
        'sys.path[0:0] = cfg["paths"]\n'
        "import importlib.machinery\n"
        "sys.meta_path.insert(0, importlib.machinery.PathFinder)",
    )
    proc = run_python(
        code,
        json.dumps(
            {
                "project": str(PROJECT_ROOT),
                "pub": str(keys[2]),
                "manager": True,
                "paths": [str(unsigned)],
                "steps": [("import", "latecomer")],
            }
        ),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.split("RESULT:", 1)[1])
    canary_ran = canary.exists()
    canary.unlink(missing_ok=True)
    assert not canary_ran, "unsigned code ran through a finder inserted before the manager"
    assert result[0]["error"] == "signedimp.errors.IntegrityCheckMissing"


def test_forged_stdlib_bytecode_under_pycache_prefix_never_runs(tmp_path_factory, keys, tmp_path):
    import colorsys
    import importlib.util

    base = tmp_path_factory.mktemp("pycache-prefix")
    prefix, canary = base / "prefix", base / "canary"
    saved = sys.pycache_prefix
    sys.pycache_prefix = str(prefix)
    try:
        target = Path(importlib.util.cache_from_source(colorsys.__file__))
    finally:
        sys.pycache_prefix = saved
    assert str(target).startswith(str(prefix))
    forged_pyc(malicious(canary), target, colorsys.__file__)
    code = CHILD.replace(
        "def act(action, target):",
        "def act(action, target):\n"
        '    if action == "stdlib":\n'
        "        return importlib.import_module(target).rgb_to_hsv(1, 0, 0)[2]",
    )
    proc = run_python(
        code,
        json.dumps(
            {
                "project": str(PROJECT_ROOT),
                "pub": str(keys[2]),
                "manager": True,
                "paths": [],
                "steps": [("stdlib", "colorsys")],
            }
        ),
        cwd=tmp_path,
        env=clean_env(PYTHONPYCACHEPREFIX=str(prefix)),
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.split("RESULT:", 1)[1])
    canary_ran = canary.exists()
    canary.unlink(missing_ok=True)
    assert not canary_ran, "forged bytecode for a trusted stdlib module ran"
    assert result == [{"value": 1.0}]
