"""`signedimp sign` of a folder: one read per file, hashing overlapped with the walk (#13).

The speed itself is measured in benchmarks/bench_throughput.py; these tests pin the work that
was removed (a second open of every bytecode file, a second parse of the old manifest, realpath
of every folder) and that every check survived it: stale bytecode left out and named, special
files and files over the limit refused with the runtime reader's message, errors in order.
"""

from __future__ import annotations

import json
import os
import py_compile
import sys
import threading
from pathlib import Path

import pytest

from signedimp.errors import UnsafeInputError
from signedimp.manifest import MANIFEST_NAME, Manifest
from signedimp.tools import _hash_pool, _tree_digests, _tree_walk, generate_key, sign_directory
from signedimp.tools._hash_pool import HashPool
from signedimp.tools.cli import main

from .helpers import PROJECT_ROOT, run_python, write_tree

TAG = sys.implementation.cache_tag


@pytest.fixture(scope="module")
def key():
    return generate_key()


# ---------------------------------------------------------------- HashPool


@pytest.mark.parametrize("count", [3, 64, 500])
def test_pool_returns_results_in_submission_order(count: int) -> None:
    seen_threads: set[str] = set()

    def work(n: int) -> int:
        seen_threads.add(threading.current_thread().name)
        return n * n

    with HashPool(work) as pool:
        for n in range(count):
            pool.submit(n)
        assert pool.results() == [n * n for n in range(count)]
    # Small jobs stay in the calling thread; larger ones use the hashing threads.
    threaded = {name for name in seen_threads if name.startswith("signedimp-hash")}
    assert bool(threaded) == (count >= _hash_pool.MIN_PARALLEL)


def test_pool_raises_the_first_error_in_order_and_skips_the_rest() -> None:
    done: list[int] = []

    def work(n: int) -> int:
        if n in (150, 120):
            raise ValueError(f"item {n}")
        done.append(n)
        return n

    with HashPool(work) as pool:
        for n in range(400):
            pool.submit(n)
        with pytest.raises(ValueError, match="^item 120$"):
            pool.results()
    assert set(range(120)) <= set(done)  # everything before the failure was computed
    assert not [t for t in threading.enumerate() if t.name.startswith("signedimp-hash")]


def test_pool_threads_end_when_the_producer_fails() -> None:
    with pytest.raises(RuntimeError, match="walk failed"):
        with HashPool(lambda n: n) as pool:
            for n in range(200):
                pool.submit(n)
            raise RuntimeError("walk failed")
    assert not [t for t in threading.enumerate() if t.name.startswith("signedimp-hash")]


# ---------------------------------------------------------------- one read per file


COUNT_OPENS = r"""
import json, sys, collections
opened = collections.Counter()
def hook(event, args):
    if event == "open" and isinstance(args[0], str) and args[0].startswith(sys.argv[1]):
        opened[args[0][len(sys.argv[1]) + 1:]] += 1
sys.addaudithook(hook)
from signedimp.tools import generate_key, sign_directory
manifest = sign_directory(sys.argv[1], generate_key())
print(json.dumps({"opened": opened, "listed": sorted(manifest.hashes)}))
"""


def test_sign_directory_reads_each_file_once(tmp_path: Path) -> None:
    """The stale-bytecode check takes the header from the hashing read (it opened every .pyc twice)."""
    tree = write_tree(tmp_path / "tree", {"pkg/__init__.py": "", "pkg/mod.py": "X = 1\n", "data.txt": "d"})
    for name in ("__init__", "mod"):
        source = tree / "pkg" / f"{name}.py"
        py_compile.compile(str(source), cfile=str(tree / "pkg" / "__pycache__" / f"{name}.{TAG}.pyc"))
    proc = run_python(COUNT_OPENS, str(tree), cwd=PROJECT_ROOT)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    files = [
        "data.txt",
        "pkg/__init__.py",
        f"pkg/__pycache__/__init__.{TAG}.pyc",
        f"pkg/__pycache__/mod.{TAG}.pyc",
        "pkg/mod.py",
    ]
    assert result["listed"] == files
    assert {name: result["opened"].get(name) for name in files} == dict.fromkeys(files, 1)


def test_stale_bytecode_is_still_left_out(tmp_path: Path, key, capfd) -> None:
    tree = write_tree(tmp_path / "tree", {"mod.py": "X = 1\n", "other.py": "Y = 1\n"})
    cache = tree / "__pycache__"
    for name in ("mod", "other"):
        py_compile.compile(str(tree / f"{name}.py"), cfile=str(cache / f"{name}.{TAG}.pyc"))
    st = (tree / "mod.py").stat()
    (tree / "mod.py").write_text("X = 2\n")
    os.utime(tree / "mod.py", (st.st_atime + 10, st.st_mtime + 10))
    manifest = sign_directory(tree, key)
    assert sorted(manifest.hashes) == [f"__pycache__/other.{TAG}.pyc", "mod.py", "other.py"]
    assert "left out 1 stale bytecode file" in capfd.readouterr().err


def test_previous_manifest_is_parsed_once_by_sign(tmp_path: Path, key, monkeypatch, capsys) -> None:
    """`signedimp sign` reads the old manifest for its co-signing report and to co-sign it: one parse."""
    tree = write_tree(tmp_path / "tree", {f"m{i}.py": f"V = {i}\n" for i in range(20)})
    pem = tmp_path / "key.pem"
    pem.write_bytes(key.to_pem())
    assert main(["sign", str(tree), "--key", str(pem), "-q"]) == 0
    parses: list[str | None] = []
    real_parse = Manifest.parse.__func__  # type: ignore[attr-defined]

    def counting_parse(cls, data, source=None):
        parses.append(source)
        return real_parse(cls, data, source)

    monkeypatch.setattr(Manifest, "parse", classmethod(counting_parse))
    assert main(["sign", str(tree), "--key", str(pem), "-q"]) == 0
    assert parses == [os.path.join(str(tree), MANIFEST_NAME)]
    assert "replaced this key's own earlier signature" in capsys.readouterr().out


def test_walk_calls_realpath_for_the_root_and_symlinks_only(tmp_path: Path, monkeypatch) -> None:
    tree = write_tree(tmp_path / "tree", {f"d{i}/e/f.txt": "x" for i in range(5)})
    (tree / "link").symlink_to(tree / "d0")
    calls: list[str] = []
    real = os.path.realpath

    def counting(path, *args, **kwargs):
        calls.append(os.fspath(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(_tree_walk.os.path, "realpath", counting)
    listed = [rel for rel, _ in _tree_walk.walk_tree(str(tree))]
    assert listed == [f"d{i}/e/f.txt" for i in range(5)] + ["link/e/f.txt"]
    assert calls == [str(tree), str(tree / "link")]


def test_symlink_loop_is_still_refused(tmp_path: Path, key) -> None:
    tree = write_tree(tmp_path / "tree", {"a/b/f.txt": "x"})
    (tree / "a" / "b" / "up").symlink_to(tree / "a")
    with pytest.raises(UnsafeInputError, match="symlink loop"):
        sign_directory(tree, key)


def test_file_over_the_limit_is_refused_with_the_runtime_message(tmp_path: Path, key, monkeypatch) -> None:
    tree = write_tree(tmp_path / "tree", {"small.txt": "x" * 10, "big.txt": "x" * 100})
    monkeypatch.setattr(_tree_digests, "MAX_MEMBER_SIZE", 50)
    with pytest.raises(UnsafeInputError, match=r"big\.txt: 100 bytes, over the limit of 50 bytes"):
        sign_directory(tree, key)
    assert not (tree / MANIFEST_NAME).exists()


def test_many_files_hash_like_one_thread(tmp_path: Path, key) -> None:
    """Hundreds of files (the threaded path) give the same manifest as hashlib one by one."""
    import hashlib

    files = {f"p{i % 7}/f{i}.bin": bytes([i % 256]) * (i * 37 % 5000) for i in range(300)}
    tree = write_tree(tmp_path / "tree", files)
    manifest = sign_directory(tree, key)
    assert dict(manifest.hashes) == {
        rel: hashlib.sha256(data).hexdigest() for rel, data in sorted(files.items())
    }
