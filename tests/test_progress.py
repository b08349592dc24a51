"""Progress of long hashing jobs: on stderr only when it is a terminal, off with --quiet."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import PROJECT_ROOT, clean_env


def _tree(root: Path, count: int) -> Path:
    for i in range(count):
        sub = root / f"d{i % 10}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i}.txt").write_bytes(b"x" * (i % 5000))
    return root


def _run(args: list[str], tty: bool) -> tuple[int, str]:
    """Run the CLI with stderr on a pseudo-terminal (or a pipe); (exit code, stderr text)."""
    cmd = [sys.executable, "-m", "signedimp", *args]
    if not tty:
        proc = subprocess.run(cmd, cwd=PROJECT_ROOT, env=clean_env(), capture_output=True, text=True)
        return proc.returncode, proc.stderr
    master, slave = pty.openpty()
    proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=clean_env(), stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=120), b"".join(chunks).decode()


@pytest.fixture(scope="module")
def signed_tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("progress")
    key = base / "key.pem"
    subprocess.run(
        [sys.executable, "-m", "signedimp", "keygen", "-o", str(key)],
        check=True,
        env=clean_env(),
        cwd=PROJECT_ROOT,
    )
    return _tree(base / "tree", 1200), key


def test_sign_and_verify_show_progress_on_a_terminal(signed_tree: tuple[Path, Path]) -> None:
    tree, key = signed_tree
    code, err = _run(["sign", str(tree), "--key", str(key)], tty=True)
    assert code == 0
    assert "signedimp: hashed 1200/1200 files" in err
    code, err = _run(["verify", str(tree), "--key", str(key) + ".pub"], tty=True)
    assert code == 0
    assert "signedimp: hashed 1200/1200 files" in err


def test_quiet_or_no_terminal_means_no_progress(signed_tree: tuple[Path, Path]) -> None:
    tree, key = signed_tree
    code, err = _run(["sign", str(tree), "--key", str(key), "--quiet"], tty=True)
    assert code == 0 and "hashed" not in err
    code, err = _run(["verify", str(tree), "--key", str(key) + ".pub", "-q"], tty=True)
    assert code == 0 and "hashed" not in err
    code, err = _run(["verify", str(tree), "--key", str(key) + ".pub"], tty=False)
    assert code == 0 and err == ""
