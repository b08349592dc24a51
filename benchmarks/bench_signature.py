"""Time one signature check: the runtime's pure-Python verifiers against pycryptodome.

Run: ``.venv/bin/python benchmarks/bench_signature.py [--runs N]``. Prints a Markdown table
(median of N timed runs after a warm-up) and the machine it ran on. Inputs are fixed so that
runs are comparable: an Ed25519 key from a fixed seed, and the RSA keys and signatures of the
Wycheproof PSS vectors in tests/fixtures/wycheproof/.

The Ed25519 key table is cached per public key (a trusted key checks one manifest per
sys.path entry), so both the steady state and the first check with a new key are shown.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from signedimp import ed25519, rsa_pss

MESSAGE = b"sha256\n" + b"".join(
    b"%064x pkg/module_%d.py\n" % (i * 0x9E3779B97F4A7C15, i) for i in range(50)
)  # ~4 KiB


def median_ms(fn, runs: int, warmup: int = 50, before=None) -> float:
    """Median wall time of fn() in milliseconds; ``before`` runs untimed before each call."""
    for _ in range(warmup):
        if before:
            before()
        fn()
    times = []
    for _ in range(runs):
        if before:
            before()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def ed25519_case():
    from Crypto.Signature import eddsa

    private = eddsa.import_private_key(bytes(range(32)))
    public = private.public_key().export_key(format="raw")
    signature = eddsa.new(private, "rfc8032").sign(MESSAGE)
    assert ed25519.verify(public, MESSAGE, signature)
    verifier = eddsa.new(private.public_key(), "rfc8032")
    return public, signature, verifier


def rsa_case(bits: int):
    from Crypto.Hash import SHA256
    from Crypto.PublicKey import RSA
    from Crypto.Signature import pss

    data = json.loads(
        (ROOT / "tests" / "fixtures" / "wycheproof" / f"rsa_pss_{bits}_sha256_mgf1_32_test.json").read_text()
    )
    group = data["testGroups"][0]
    n = int(group["publicKey"]["modulus"], 16)
    e = int(group["publicKey"]["publicExponent"], 16)
    test = next(t for t in group["tests"] if t["result"] == "valid" and t["msg"])
    msg, sig = bytes.fromhex(test["msg"]), bytes.fromhex(test["sig"])
    assert rsa_pss.verify(n, e, msg, sig)
    verifier = pss.new(RSA.construct((n, e)), salt_bytes=32)

    def theirs():
        verifier.verify(SHA256.new(msg), sig)

    return (lambda: rsa_pss.verify(n, e, msg, sig)), theirs


def import_ms(runs: int = 15) -> float:
    """Median time to import ed25519.py (fixed-base table included) in a fresh interpreter.

    The module and the table module it imports are loaded under an empty stand-in for the
    package (so its relative import works and the rest of the package does not count);
    hashlib is imported first because every verifier needs it anyway.
    """
    code = (
        "import hashlib, sys, time, types\n"
        "pkg = types.ModuleType('signedimp'); pkg.__path__ = ['signedimp']\n"
        "sys.modules['signedimp'] = pkg\n"
        "t = time.perf_counter(); import signedimp.ed25519\n"
        "print(time.perf_counter() - t)"
    )
    times = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
        times.append(float(out))
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="timed runs per row (default 1000)")
    args = parser.parse_args()
    runs = args.runs

    public, signature, ed_verifier = ed25519_case()
    rows = []

    def ours_ed():
        ed25519.verify(public, MESSAGE, signature)

    def theirs_ed():
        ed_verifier.verify(MESSAGE, signature)

    ref = median_ms(theirs_ed, runs)
    rows.append(("Ed25519", median_ms(ours_ed, runs), ref))
    rows.append(
        (
            "Ed25519, first check with a new key",
            median_ms(ours_ed, max(runs // 4, 50), before=ed25519._KEY_CACHE.clear),
            ref,
        )
    )
    for bits in (2048, 3072):
        ours, theirs = rsa_case(bits)
        rows.append((f"RSA-{bits} PSS (e = 65537)", median_ms(ours, runs), median_ms(theirs, runs)))

    print(f"Python: {sys.version.splitlines()[0]} ({platform.python_implementation()})")
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}")
    print(f"Message: {len(MESSAGE)} bytes; median of {runs} runs after 50 warm-up runs\n")
    print("| signature check | pure Python (ms) | pycryptodome (ms) | ratio |")
    print("| --- | ---: | ---: | ---: |")
    for name, ours, theirs in rows:
        print(f"| {name} | {ours:.3f} | {theirs:.3f} | {ours / theirs:.1f}x |")
    print(
        f"\nImport of signedimp/ed25519.py alone (builds the fixed-base table): {import_ms():.1f} ms median"
    )


if __name__ == "__main__":
    main()
