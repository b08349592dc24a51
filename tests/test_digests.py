"""signedimp/digests.py: the verifier's SHA-256 and SHA-512, built-in code for a small app,
OpenSSL once enough has been hashed or once anything has loaded it.

Each case runs in a fresh ``python -I -S``, where nothing has loaded OpenSSL yet."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from signedimp.digests import BUILTIN_BUDGET
from signedimp.tools import generate_key, sign_directory

from .helpers import PROJECT_ROOT, clean_env, write_tree

PROBE = f"""
import json, sys
sys.path.insert(0, {str(PROJECT_ROOT)!r})
from signedimp import digests
out = {{}}
def openssl():
    return "_hashlib" in sys.modules
"""


def run_isolated(code: str) -> subprocess.CompletedProcess:
    """``code`` in a fresh ``python -I -S``: nothing has loaded OpenSSL there."""
    command = [sys.executable, "-I", "-S", "-c", code]
    return subprocess.run(command, env=clean_env(), capture_output=True, text=True, timeout=120)


def run_probe(body: str) -> dict:
    result = run_isolated(PROBE + body + "\nprint(json.dumps(out))\n")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_small_amounts_are_hashed_without_loading_openssl():
    out = run_probe(
        """
out["before"] = openssl()
out["hex"] = digests.sha256_hex(b"abc")
out["raw"] = digests.sha256(b"abc" * 1000).hex()
out["512"] = digests.sha512(b"ab", b"", b"c" * 5000).hex()
out["view"] = digests.sha256_hex(memoryview(b"xyz"))
out["after"] = openssl()
"""
    )
    assert out == {
        "before": False,
        "hex": hashlib.sha256(b"abc").hexdigest(),
        "raw": hashlib.sha256(b"abc" * 1000).hexdigest(),
        "512": hashlib.sha512(b"ab" + b"c" * 5000).hexdigest(),
        "view": hashlib.sha256(b"xyz").hexdigest(),
        "after": False,
    }


def test_openssl_takes_over_past_the_budget():
    half = BUILTIN_BUDGET // 2
    out = run_probe(
        f"""
data = bytes(range(256)) * ({half} // 256)
out["first"] = digests.sha256_hex(data)
out["after first"] = openssl()
out["second"] = digests.sha256_hex(data)
out["after second"] = openssl()
out["third"] = digests.sha256_hex(data + b"!")  # past the budget: OpenSSL from here on
out["after third"] = openssl()
out["small"] = digests.sha512(b"x").hex()
"""
    )
    data = bytes(range(256)) * (half // 256)
    assert out == {
        "first": hashlib.sha256(data).hexdigest(),
        "after first": False,
        "second": hashlib.sha256(data).hexdigest(),
        "after second": False,
        "third": hashlib.sha256(data + b"!").hexdigest(),
        "after third": True,
        "small": hashlib.sha512(b"x").hexdigest(),
    }


def test_openssl_is_used_once_something_loaded_it():
    out = run_probe(
        """
import _hashlib
before = digests._hashed
out["hex"] = digests.sha256_hex(b"abc")
out["counted"] = digests._hashed - before
"""
    )
    assert out == {"hex": hashlib.sha256(b"abc").hexdigest(), "counted": 0}


@pytest.mark.parametrize("module_kb, loads_openssl", [(4, False), (400, True)])
def test_a_verified_import_loads_openssl_only_for_a_large_app(tmp_path, module_kb, loads_openssl):
    """A sealed folder's module checked in a fresh process: a small app hashes its manifest and
    module with the built-in code; one whose files pass the budget loads OpenSSL for the rest."""
    key = generate_key()
    write_tree(tmp_path, {"sealed/app_mod.py": "X = 1\n" + "#" * (module_kb * 1024) + "\n"})
    sign_directory(tmp_path / "sealed", key)
    pub = key.public_pem().decode()
    code = f"""
import sys
sys.path.insert(0, {str(PROJECT_ROOT)!r})
import signedimp
signedimp.SignedImportManager([signedimp.load_public_key({pub!r})]).install()
sys.path.insert(0, {str(tmp_path / "sealed")!r})
import app_mod
print(app_mod.X, "_hashlib" in sys.modules, "hashlib" in sys.modules)
"""
    result = run_isolated(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", str(loads_openssl), "False"]
