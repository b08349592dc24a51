"""C extension modules load verified: every one of a process, with bundled libraries, from zips.

Real extensions are compiled with gcc in the test (skipped without a C compiler), sealed with
``sign_directory`` or zipped and signed with ``sign_zipfile``, and imported in fresh
interpreters with a ``SignedImportManager`` installed:

- two extensions in one process (the second used to get the first one's library back, because
  the closed memfd's ``/proc/self/fd/N`` path was reused);
- an extension whose ``RPATH $ORIGIN/../withlib.libs`` points at a bundled library that needs
  another bundled library (the auditwheel layout), from a folder and from a zip, with the
  libraries verified (a flipped byte or an unlisted library is refused before any of its code
  runs);
- the private-copy fallback used where no sealed memfd can be made.
"""

from __future__ import annotations

import importlib.machinery
import json
import os
import shutil
import subprocess
import sysconfig
import zipfile
from pathlib import Path

import pytest

from signedimp.elf import ElfError, read_dynamic
from signedimp.tools import generate_key, sign_directory, sign_zipfile

from .helpers import PROJECT_ROOT, run_python

SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]
LINUX = os.path.isdir("/proc/self/fd")

SIMPLE_EXT = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
static PyObject *answer(PyObject *self, PyObject *args) { return PyLong_FromLong(%(answer)d); }
static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "%(name)s", NULL, -1, methods};
PyMODINIT_FUNC PyInit_%(name)s(void) { return PyModule_Create(&def); }
"""

# Multi-phase init with a create slot that copies the spec into the module, as Cython does.
SPEC_COPYING_EXT = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
static PyObject *answer(PyObject *self, PyObject *args) { return PyLong_FromLong(3); }
static PyObject *create(PyObject *spec, PyModuleDef *def) {
    PyObject *name = PyObject_GetAttrString(spec, "name");
    if (name == NULL) return NULL;
    PyObject *m = PyModule_NewObject(name);
    Py_DECREF(name);
    if (m == NULL) return NULL;
    const char *attrs[2][2] = {{"loader", "__loader__"}, {"origin", "__file__"}};
    for (int i = 0; i < 2; i++) {
        PyObject *value = PyObject_GetAttrString(spec, attrs[i][0]);
        if (value == NULL || PyObject_SetAttrString(m, attrs[i][1], value) < 0) { Py_XDECREF(value); Py_DECREF(m); return NULL; }
        Py_DECREF(value);
    }
    return m;
}
static int exec_module(PyObject *m) {
    PyObject *file = PyObject_GetAttrString(m, "__file__");
    return file == NULL ? -1 : PyModule_AddObject(m, "file_at_exec", file);
}
static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static PyModuleDef_Slot slots[] = {{Py_mod_create, create}, {Py_mod_exec, exec_module}, {0, NULL}};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "gamma", NULL, 0, methods, slots};
PyMODINIT_FUNC PyInit_gamma(void) { return PyModuleDef_Init(&def); }
"""

LIB_BASE = "int base_value(void) { return 40; }\n"
LIB_TINY = "extern int base_value(void);\nint tiny_value(void) { return base_value() + 2; }\n"
CORE_EXT = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
extern int tiny_value(void);
static PyObject *answer(PyObject *self, PyObject *args) { return PyLong_FromLong(tiny_value()); }
static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "_core", NULL, -1, methods};
PyMODINIT_FUNC PyInit__core(void) { return PyModule_Create(&def); }
"""
BASE_LIB = "libbase-1a2b3c4d.so"
TINY_LIB = "libtiny-5e6f7a8b.so"
CORE = f"withlib/_core{SUFFIX}"

CHILD = r"""
import json, os, sys
cfg = json.loads(sys.argv[1])
sys.path.insert(0, cfg["project"])
import signedimp.extensions
from signedimp import SignedImportManager, load_public_key
del sys.path[0]
if cfg["fallback"]:
    signedimp.extensions.WINDOWLESS = False  # what a system without memfd_create gets
if cfg["manager"]:
    with open(cfg["pub"], "rb") as f:
        SignedImportManager([load_public_key(f.read())]).install()
sys.path[0:0] = cfg["paths"]
import importlib, pkgutil

def our_memfds():
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("/memfd:signedimp:"):
                found.append(int(fd))
        except OSError:
            pass
    return found

out = {"steps": []}
for step in cfg["steps"]:
    if step == "close-memfds":  # a program that closes descriptors it does not own
        for fd in our_memfds():
            os.close(fd)
        out["steps"].append("closed")
        continue
    if step.startswith("forget:"):  # as a test suite or a plugin reloader does
        del sys.modules[step[7:]]
        out["steps"].append("forgotten")
        continue
    if step == "iter_modules":
        out["steps"].append(sorted(m.name for m in pkgutil.iter_modules(cfg["paths"][:1])))
        continue
    try:
        module = importlib.import_module(step)
        out["steps"].append({"answer": module.answer(), "loader": type(module.__spec__.loader).__name__,
                             "file": module.__file__, "module_loader": type(module.__loader__).__name__,
                             "file_at_exec": getattr(module, "file_at_exec", module.__file__)})
    except Exception as exc:
        out["steps"].append({"error": f"{type(exc).__module__}.{type(exc).__qualname__}", "message": str(exc),
                             "module": getattr(exc, "module", None), "file": getattr(exc, "file", None)})
if os.path.exists("/proc/self/maps"):
    with open("/proc/self/maps") as f:
        mapped = sorted({line.split(None, 5)[5] for line in f.read().splitlines() if len(line.split(None, 5)) == 6})
    out["mapped"] = [m for m in mapped if "signedimp" in m or any(p in m for p in cfg["paths"])]
out["private"] = signedimp.extensions._private[:1]
print("RESULT:" + json.dumps(out))
"""


# -- building ---------------------------------------------------------------------------------


def gcc(*args: str, cwd: Path) -> None:
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        pytest.skip("no C compiler (gcc) to build extension modules")
    proc = subprocess.run([compiler, *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot build a C extension here: {proc.stderr.strip()[:400]}")


def build_simple(folder: Path, name: str, answer: int, source: str = SIMPLE_EXT) -> Path:
    src = folder / f"{name}.c"
    src.write_text(source % {"name": name, "answer": answer} if source is SIMPLE_EXT else source)
    out = folder / f"{name}{SUFFIX}"
    gcc(
        "-shared",
        "-fPIC",
        "-O0",
        f"-I{sysconfig.get_paths()['include']}",
        src.name,
        "-o",
        out.name,
        cwd=folder,
    )
    src.unlink()
    return out


def build_with_libs(root: Path) -> None:
    """``withlib/_core`` -> ``withlib.libs/libtiny`` (RUNPATH $ORIGIN) -> ``withlib.libs/libbase``."""
    libs = root / "withlib.libs"
    pkg = root / "withlib"
    libs.mkdir(parents=True)
    pkg.mkdir()
    (libs / "base.c").write_text(LIB_BASE)
    gcc("-shared", "-fPIC", f"-Wl,-soname,{BASE_LIB}", "base.c", "-o", BASE_LIB, cwd=libs)
    (libs / "tiny.c").write_text(LIB_TINY)
    gcc(
        "-shared",
        "-fPIC",
        f"-Wl,-soname,{TINY_LIB}",
        "tiny.c",
        "-L.",
        f"-l:{BASE_LIB}",
        "-Wl,--enable-new-dtags,-rpath,$ORIGIN",
        "-o",
        TINY_LIB,
        cwd=libs,
    )
    (pkg / "core.c").write_text(CORE_EXT)
    gcc(
        "-shared",
        "-fPIC",
        f"-I{sysconfig.get_paths()['include']}",
        "core.c",
        "-L../withlib.libs",
        f"-l:{TINY_LIB}",
        "-Wl,--disable-new-dtags,-rpath,$ORIGIN/../withlib.libs",
        "-o",
        Path(CORE).name,
        cwd=pkg,
    )
    for src in (libs / "base.c", libs / "tiny.c", pkg / "core.c"):
        src.unlink()
    (pkg / "__init__.py").write_text("from ._core import answer\n")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The unsigned tree: ``alpha``, ``beta`` and the ``withlib`` package with its libraries."""
    root = tmp_path_factory.mktemp("ext-build") / "tree"
    root.mkdir()
    build_simple(root, "alpha", 1)
    build_simple(root, "beta", 2)
    build_simple(root, "gamma", 3, SPEC_COPYING_EXT)
    build_with_libs(root)
    return root


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    trusted = generate_key()
    pub = tmp_path_factory.mktemp("ext-keys") / "trusted.pub.pem"
    pub.write_bytes(trusted.public_pem())
    return trusted, pub


def sealed_copy(built: Path, target: Path, key) -> Path:
    shutil.copytree(built, target)
    sign_directory(target, key[0])
    return target


def signed_zip(tree: Path, target: Path, key) -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(tree.rglob("*")):
            if path.is_file() and path.name != "signedimp-manifest.txt":
                archive.write(path, path.relative_to(tree).as_posix())
    sign_zipfile(target, key[0])
    return target


def flip_member(archive: Path, member: str, target: Path) -> Path:
    """A copy of ``archive`` whose ``member`` has one byte flipped (the manifest kept)."""
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == member:
                data = flip(data)
            dst.writestr(info, data)
    return target


def flip(data: bytes, at: int | None = None) -> bytes:
    at = len(data) // 2 if at is None else at
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


def run_child(paths, steps, key, tmp_path, *, manager: bool = True, fallback: bool = False) -> dict:
    cfg = {
        "project": str(PROJECT_ROOT),
        "pub": str(key[1]),
        "manager": manager,
        "fallback": fallback,
        "paths": [str(p) for p in paths],
        "steps": steps,
    }
    proc = run_python(CHILD, json.dumps(cfg), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT:")][-1]
    return json.loads(line[len("RESULT:") :])


def ok(step: dict, answer: int, file: str) -> None:
    assert step.get("error") is None, step
    assert step == {
        "answer": answer,
        "loader": "VerifyingLoader",
        "file": file,
        "module_loader": "VerifyingLoader",
        "file_at_exec": file,
    }


# -- two extensions in one process ------------------------------------------------------------


def test_every_extension_of_a_process_loads(built, key, tmp_path):
    root = sealed_copy(built, tmp_path / "sealed", key)
    out = run_child([root], ["alpha", "beta", "withlib"], key, tmp_path)
    ok(out["steps"][0], 1, str(root / f"alpha{SUFFIX}"))
    ok(out["steps"][1], 2, str(root / f"beta{SUFFIX}"))
    assert out["steps"][2]["answer"] == 42
    if LINUX:
        mapped = out["mapped"]
        for label in ("alpha", "beta", "withlib._core", TINY_LIB, BASE_LIB):
            assert any(m.startswith(f"/memfd:signedimp:{label} ") for m in mapped), (label, mapped)
        assert not [m for m in mapped if m.startswith(str(root))], "a file of the sealed folder was mapped"


def test_a_program_closing_our_descriptors_does_not_get_a_stale_library(built, key, tmp_path):
    if not LINUX:
        pytest.skip("memfd loading is Linux only")
    root = sealed_copy(built, tmp_path / "sealed", key)
    out = run_child([root], ["alpha", "close-memfds", "beta"], key, tmp_path)
    ok(out["steps"][0], 1, str(root / f"alpha{SUFFIX}"))
    ok(out["steps"][2], 2, str(root / f"beta{SUFFIX}"))


@pytest.mark.parametrize("kind", ["folder", "zip"])
def test_a_module_that_copies_its_spec_sees_the_verifying_loader_and_the_real_file(
    built, key, tmp_path, kind
):
    """Cython modules copy ``spec.loader`` and ``spec.origin``: not the memfd's stand-in."""
    entry = (
        sealed_copy(built, tmp_path / "sealed", key)
        if kind == "folder"
        else signed_zip(built, tmp_path / "e.zip", key)
    )
    out = run_child([entry], ["gamma"], key, tmp_path)
    ok(out["steps"][0], 3, str(entry / f"gamma{SUFFIX}"))


def test_an_extension_imported_again_reuses_its_verified_copy(built, key, tmp_path):
    root = sealed_copy(built, tmp_path / "sealed", key)
    out = run_child(
        [root], ["alpha", "forget:alpha", "alpha", "gamma", "forget:gamma", "gamma"], key, tmp_path
    )
    for index, answer, name in ((0, 1, "alpha"), (2, 1, "alpha"), (3, 3, "gamma"), (5, 3, "gamma")):
        ok(out["steps"][index], answer, str(root / f"{name}{SUFFIX}"))
    if LINUX:
        for label in ("alpha", "gamma"):
            copies = {m for m in out["mapped"] if m.startswith(f"/memfd:signedimp:{label} ")}
            assert len(copies) == 1, out["mapped"]


# -- bundled libraries ($ORIGIN/../pkg.libs) --------------------------------------------------


def test_bundled_libraries_are_loaded_verified_from_a_folder(built, key, tmp_path):
    root = sealed_copy(built, tmp_path / "sealed", key)
    control = run_child([root], ["withlib"], key, tmp_path, manager=False)
    assert control["steps"][0]["answer"] == 42 and control["steps"][0]["module_loader"] == "SourceFileLoader"
    out = run_child([root], ["withlib", "withlib._core"], key, tmp_path)
    assert out["steps"][0]["answer"] == 42
    ok(out["steps"][1], 42, str(root / CORE))


@pytest.mark.parametrize("lib", [TINY_LIB, BASE_LIB])
def test_a_changed_bundled_library_is_refused(built, key, tmp_path, lib):
    root = sealed_copy(built, tmp_path / "sealed", key)
    target = root / "withlib.libs" / lib
    target.write_bytes(flip(target.read_bytes()))
    out = run_child([root], ["withlib._core"], key, tmp_path)
    step = out["steps"][0]
    assert step["error"] == "signedimp.errors.IntegrityCheckFailed", step
    assert step["module"] == "withlib._core" and step["file"] == str(target)
    assert step["message"].endswith("its SHA-256 does not match the signed manifest (modified)")
    if LINUX:
        assert not [m for m in out["mapped"] if "withlib" in m or "lib" in m.rpartition(":")[2]], out[
            "mapped"
        ]


def test_an_unlisted_bundled_library_is_refused(built, key, tmp_path):
    root = tmp_path / "sealed"
    shutil.copytree(built, root)
    lib = root / "withlib.libs" / BASE_LIB
    data = lib.read_bytes()
    lib.unlink()
    sign_directory(root, key[0])
    lib.write_bytes(data)  # added after sealing
    out = run_child([root], ["withlib._core"], key, tmp_path)
    step = out["steps"][0]
    assert step["error"] == "signedimp.errors.IntegrityCheckMissing", step
    assert step["file"] == str(lib)
    assert step["message"] == (
        f"signedimp refused module 'withlib._core', file {str(lib)!r}: "
        f"not listed in the signed manifest of {root}"
    )


def test_a_removed_bundled_library_is_refused(built, key, tmp_path):
    root = sealed_copy(built, tmp_path / "sealed", key)
    lib = root / "withlib.libs" / BASE_LIB
    lib.unlink()
    out = run_child([root], ["withlib._core"], key, tmp_path)
    step = out["steps"][0]
    assert step["error"] == "signedimp.errors.IntegrityCheckFailed", step
    assert step["file"] == str(lib) and step["module"] == "withlib._core"
    assert "cannot be read: No such file or directory" in step["message"], step


def test_extensions_and_their_libraries_load_from_a_signed_zip(built, key, tmp_path):
    archive = signed_zip(built, tmp_path / "exts.zip", key)
    out = run_child([archive], ["alpha", "beta", "withlib._core", "iter_modules"], key, tmp_path)
    ok(out["steps"][0], 1, str(archive / f"alpha{SUFFIX}"))
    ok(out["steps"][1], 2, str(archive / f"beta{SUFFIX}"))
    ok(out["steps"][2], 42, str(archive / CORE))
    assert out["steps"][3] == ["alpha", "beta", "gamma", "withlib"]
    if LINUX:
        assert not [m for m in out["mapped"] if m.startswith(str(tmp_path)) and m != str(archive)], out[
            "mapped"
        ]
    # without the manager zipimport cannot load extension modules at all
    control = run_child([archive], ["alpha"], key, tmp_path, manager=False)
    assert control["steps"][0]["error"] == "builtins.ModuleNotFoundError"


@pytest.mark.parametrize("member", [f"beta{SUFFIX}", f"withlib.libs/{BASE_LIB}"])
def test_a_flipped_byte_in_a_zip_member_is_refused(built, key, tmp_path, member):
    archive = flip_member(signed_zip(built, tmp_path / "good.zip", key), member, tmp_path / "bad.zip")
    out = run_child([archive], ["alpha", "withlib._core" if "libs" in member else "beta"], key, tmp_path)
    ok(out["steps"][0], 1, str(archive / f"alpha{SUFFIX}"))
    step = out["steps"][1]
    assert step["error"] == "signedimp.errors.IntegrityCheckFailed", step
    assert step["file"] == str(archive / member)


@pytest.mark.parametrize("kind", ["folder", "zip"])
def test_private_copy_fallback(built, key, tmp_path, kind):
    root = sealed_copy(built, tmp_path / "sealed", key)
    entry = root if kind == "folder" else signed_zip(built, tmp_path / "exts.zip", key)
    out = run_child([entry], ["alpha", "beta", "withlib._core"], key, tmp_path, fallback=True)
    (private,) = out["private"]
    ok(out["steps"][0], 1, str(entry / f"alpha{SUFFIX}"))
    ok(out["steps"][1], 2, str(entry / f"beta{SUFFIX}"))
    ok(out["steps"][2], 42, str(entry / CORE))
    if LINUX:
        copies = [m for m in out["mapped"] if m.startswith(private)]
        assert sorted(Path(m).name for m in copies) == sorted(
            [f"alpha{SUFFIX}", f"beta{SUFFIX}", Path(CORE).name, TINY_LIB, BASE_LIB]
        )
    assert not os.path.exists(private), "the private copies outlived the process"


# -- the ELF reader ---------------------------------------------------------------------------


def test_elf_reader_reads_soname_needed_and_search_paths(built):
    tiny = read_dynamic((built / "withlib.libs" / TINY_LIB).read_bytes())
    assert tiny.soname == TINY_LIB
    assert BASE_LIB in tiny.needed
    assert tiny.runpath == ("$ORIGIN",) and tiny.rpath == ()
    core = read_dynamic((built / CORE).read_bytes())
    assert core.soname is None and core.needed[0] == TINY_LIB
    assert core.rpath == ("$ORIGIN/../withlib.libs",) and core.runpath == ()
    assert read_dynamic(b"#!/bin/sh\n") is None
    assert read_dynamic(b"") is None


def test_elf_reader_is_bounded_on_damaged_input(built):
    """Truncated or damaged images give an answer or ElfError, nothing else, quickly."""
    for path in (built / "withlib.libs" / TINY_LIB, built / CORE):
        data = path.read_bytes()
        for cut in range(0, len(data), 97):
            try:
                read_dynamic(data[:cut])
            except ElfError:
                pass
        for at in range(4, min(len(data), 4096), 7):
            for value in (0x00, 0xFF, 0x7F):
                try:
                    read_dynamic(data[:at] + bytes([value]) + data[at + 1 :])
                except ElfError:
                    pass


def test_elf_reader_refuses_inconsistent_headers(built):
    data = (built / "withlib.libs" / TINY_LIB).read_bytes()
    with pytest.raises(ElfError, match="outside the file"):
        read_dynamic(data[:200])
    with pytest.raises(ElfError, match="unknown ELF class"):
        read_dynamic(data[:4] + b"\x07" + data[5:])
