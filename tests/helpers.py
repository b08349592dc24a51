"""Small helpers shared by the test modules: run real interpreters, make sample trees."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a child interpreter: no PYTHON* variables leaking in from outside."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and not k.startswith("SIGNEDIMP_")
    }
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


def run_python(
    code: str,
    *args: str,
    cwd: str | os.PathLike | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    interpreter: str | None = None,
) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (the one running the tests unless told otherwise)."""
    return subprocess.run(
        [interpreter or sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=cwd,
        env=env if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def write_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    """Create ``files`` (relative path -> text or bytes) under ``root``; return ``root``."""
    for rel, content in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(textwrap.dedent(content), encoding="utf-8")
    return root
