"""Shared by the build-hook tests: copy the sample project, run real builds, make keys, read wheels."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from .helpers import FIXTURES, clean_env

SAMPLE = FIXTURES / "sample_project"
SOURCE_DATE_EPOCH = "1700000000"
HOOK_TABLE = "[tool.hatch.build.hooks.signedimp]"


def copy_sample(dest: Path, hook_options: str = "", *, extra: str = "") -> Path:
    """A fresh copy of the sample project with ``hook_options`` added to the hook's table."""
    shutil.copytree(SAMPLE, dest, ignore=shutil.ignore_patterns("dist", "__pycache__", "*.egg-info"))
    pyproject = dest / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    assert HOOK_TABLE in text
    if hook_options:
        text = text.replace(HOOK_TABLE, HOOK_TABLE + "\n" + hook_options.strip() + "\n")
    pyproject.write_text(text + extra, encoding="utf-8")
    return dest


def build_env(**extra: str) -> dict[str, str]:
    """A clean environment with a fixed SOURCE_DATE_EPOCH (reproducible builds)."""
    return clean_env(SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH, **extra)


def run_build(
    project: Path,
    *args: str,
    env: dict[str, str] | None = None,
    outdir: Path | None = None,
    isolated: bool = False,
    timeout: float = 300,
) -> subprocess.CompletedProcess:
    """``python -m build`` of ``project`` (``--no-isolation`` unless told otherwise)."""
    cmd = [sys.executable, "-m", "build", *args, "--outdir", str(outdir or project / "dist")]
    if not isolated:
        cmd.insert(3, "--no-isolation")
    return subprocess.run(
        cmd,
        cwd=project,
        env=env if env is not None else build_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def output(proc: subprocess.CompletedProcess) -> str:
    return proc.stdout + proc.stderr


def extract(tar: tarfile.TarFile, dest: Path) -> None:
    """Unpack an sdist (with the "data" filter where this Python has it)."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(dest, filter="data")
    else:  # pragma: no cover - Python 3.10/3.11 before the filter backports
        tar.extractall(dest)


def wheels(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.whl")) if directory.is_dir() else []


def the_wheel(directory: Path) -> Path:
    found = wheels(directory)
    assert len(found) == 1, found
    return found[0]


# -- keys ------------------------------------------------------------------------------------


def ed25519_pem(passphrase: str | None = None) -> tuple[bytes, bytes]:
    """A fresh Ed25519 key: (PKCS#8 private PEM, SubjectPublicKeyInfo PEM)."""
    from Crypto.PublicKey import ECC

    key = ECC.generate(curve="ed25519")
    if passphrase is None:
        private = key.export_key(format="PEM")
    else:
        private = key.export_key(
            format="PEM", passphrase=passphrase, protection="PBKDF2WithHMAC-SHA256AndAES128-CBC"
        )
    return private.encode(), key.public_key().export_key(format="PEM").encode()


def rsa_pem(passphrase: str | None = None, bits: int = 3072) -> tuple[bytes, bytes]:
    """A fresh RSA key: (PKCS#8 private PEM, SubjectPublicKeyInfo PEM)."""
    from Crypto.PublicKey import RSA

    key = RSA.generate(bits)
    if passphrase is None:
        private = key.export_key(format="PEM", pkcs=8)
    else:
        private = key.export_key(
            format="PEM", pkcs=8, passphrase=passphrase, protection="PBKDF2WithHMAC-SHA256AndAES128-CBC"
        )
    return private, key.publickey().export_key(format="PEM")


# -- reading wheels --------------------------------------------------------------------------


def dist_info(names: list[str]) -> str:
    found = {name.split("/", 1)[0] for name in names if name.split("/", 1)[0].endswith(".dist-info")}
    assert len(found) == 1, found
    return found.pop()


def record_problems(wheel: Path) -> list[str]:
    """Everything wrong with the wheel's RECORD (empty list: every row's hash and size right)."""
    problems = []
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        record_name = f"{dist_info(names)}/RECORD"
        rows = list(csv.reader(io.StringIO(archive.read(record_name).decode("utf-8"))))
        listed = set()
        for row in rows:
            if not row:
                continue
            path, digest, size = row
            if path in listed:
                problems.append(f"duplicate row {path}")
            listed.add(path)
            if path == record_name:
                if digest or size:
                    problems.append("RECORD lists a hash for itself")
                continue
            if path not in names:
                problems.append(f"RECORD lists missing {path}")
                continue
            data = archive.read(path)
            algorithm, _, value = digest.partition("=")
            expected = base64.urlsafe_b64encode(hashlib.new(algorithm, data).digest()).rstrip(b"=").decode()
            if value != expected:
                problems.append(f"bad hash for {path}")
            if size != str(len(data)):
                problems.append(f"bad size for {path}")
        for name in names:
            if name not in listed and not name.endswith("/"):
                problems.append(f"RECORD does not list {name}")
    return problems
