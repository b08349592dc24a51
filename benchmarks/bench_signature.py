"""Time one signature check: the runtime's pure-Python verifiers against pycryptodome.

Run: ``.venv/bin/python benchmarks/bench_signature.py [--runs N]``. Prints a Markdown table
(median of N timed runs after a warm-up) and the machine it ran on. Inputs are fixed so that
runs are comparable: an Ed25519 key from a fixed seed, and the RSA keys and signatures of the
Wycheproof PSS vectors in tests/fixtures/wycheproof/.

The Ed25519 key tables are cached per public key (a trusted key checks one manifest per
sys.path entry), so both the steady state and the first check with a new key are shown.

``--instructions [--tree DIR]...``: instead of timing, count the instructions (valgrind's
callgrind) of fresh interpreters that import the runtime of each DIR (a folder holding a
``signedimp`` package, copied and compiled to bytecode first; default: this checkout) and
check Ed25519 signatures with ``Ed25519Key.verify``, as a verified process does. Counts do not
depend on the machine's load, so before/after comparisons can be made on a busy machine, e.g.
against an old tree: ``git archive ff0af22 signedimp | tar -x -C /tmp/ed_old``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
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
    """Median time to import ed25519.py (fixed-base tables included) in a fresh interpreter.

    From a compiled copy of the package (as installed: the bytecode cache exists even when
    PYTHONDONTWRITEBYTECODE is set here), under an empty stand-in for the package, so that
    the rest of the package does not count; hashlib is imported first because every verifier
    needs it anyway.
    """
    code = (
        "import hashlib, sys, time, types\n"
        "pkg = types.ModuleType('signedimp'); pkg.__path__ = ['signedimp']\n"
        "sys.modules['signedimp'] = pkg\n"
        "t = time.perf_counter(); import signedimp.ed25519\n"
        "print(time.perf_counter() - t)"
    )
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        where = _compiled_copy(ROOT, Path(tmp))
        for _ in range(runs):
            out = subprocess.run(
                [sys.executable, "-c", code], cwd=where, capture_output=True, text=True, check=True
            ).stdout
            times.append(float(out))
    return statistics.median(times) * 1e3


# -- instruction counts -------------------------------------------------------------------

_CHILD = """\
import sys
sys.path.insert(0, {tree!r})
import hashlib, signedimp
from signedimp.keys import Ed25519Key
public = bytes.fromhex({public!r})
signature = bytes.fromhex({signature!r})
message = bytes.fromhex({message!r})
key = {key}
for _ in range({checks}):
    assert key.verify(message, signature) is True
"""


_PRECOMPUTE = """\
import sys
sys.path.insert(0, {tree!r})
from signedimp import ed25519
if hasattr(ed25519, "precompute"):
    print(ed25519.precompute(bytes.fromhex({public!r})).hex())
"""


def _collected(tree: str, checks: int, key: str, sig_case) -> int:
    """Instructions of one fresh ``python -I`` running _CHILD (callgrind's "Collected")."""
    public, signature = sig_case
    return _count(
        _CHILD.format(
            tree=tree,
            public=public.hex(),
            signature=signature.hex(),
            message=MESSAGE.hex(),
            key=key,
            checks=checks,
        )
    )


def _count(code: str) -> int:
    """Instructions of one fresh ``python -I script`` running ``code`` (callgrind's "Collected").

    From a file, not ``-c``: a bootstrap with bytecode is longer than one argument may be.
    """
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "child.py"
        script.write_text(code, encoding="utf-8")
        done = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--callgrind-out-file=/dev/null",
                sys.executable,
                "-I",
                str(script),
            ],
            capture_output=True,
            text=True,
        )
    match = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode or match is None:
        raise RuntimeError(f"a counted child failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return int(match.group(1))


_BOOTSTRAP = """\
import sys
sys.path.insert(0, {tree!r})
from signedimp.keys import Ed25519Key
from signedimp.tools import _bootstrap
print(_bootstrap.get_bootstrap_code(Ed25519Key(bytes.fromhex({public!r})), bytecode={bytecode!r}))
"""

_BOOTSTRAP_CHECKS = """
(key,) = _signedimp_manager.keys
for _ in range({checks}):
    assert key.verify(bytes.fromhex({message!r}), bytes.fromhex({signature!r})) is True
"""


def _bootstrap_rows(tree: str, sig_case, bytecode: bool) -> dict[str, int]:
    """A whole verified process: the bootstrap text of ``tree`` run by ``-c``, then one check."""
    public, signature = sig_case
    text = subprocess.run(
        [sys.executable, "-I", "-c", _BOOTSTRAP.format(tree=tree, public=public.hex(), bytecode=bytecode)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    kind = "bytecode" if bytecode else "sources"
    count = {
        c: _count(text + _BOOTSTRAP_CHECKS.format(checks=c, message=MESSAGE.hex(), signature=signature.hex()))
        for c in (0, 1)
    }
    return {
        f"process: bootstrap ({kind}) run, manager installed, no check": count[0],
        f"process: bootstrap ({kind}) run and one check with the pinned key": count[1],
        f"the check alone (bootstrap with {kind})": count[1] - count[0],
    }


def _compiled_copy(tree: Path, into: Path) -> str:
    """``tree/signedimp`` copied to ``into`` and compiled, as an installed package would be."""
    if not (tree / "signedimp" / "__init__.py").is_file():
        raise SystemExit(f"--tree {tree}: no signedimp/__init__.py in it")
    shutil.copytree(tree / "signedimp", into / "signedimp", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(into / "signedimp")], check=True)
    return str(into)


def instructions(trees: list[Path]) -> None:
    """Print instruction counts of Ed25519 checks in fresh processes, one column per tree."""
    if shutil.which("valgrind") is None:
        raise SystemExit("--instructions needs valgrind (callgrind) on PATH")
    from Crypto.Signature import eddsa

    private = eddsa.import_private_key(bytes(range(32)))
    public = private.public_key().export_key(format="raw")
    signature = eddsa.new(private, "rfc8032").sign(MESSAGE)
    case = (public, signature)
    api_key = "Ed25519Key(public)"
    columns = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, tree in enumerate(trees):
            path = _compiled_copy(tree, Path(tmp) / str(n))
            count = {c: _collected(path, c, api_key, case) for c in (0, 1, 2, 3, 13)}
            rows = {
                "process: import signedimp, make the key (no check)": count[0],
                "first check, key from the API (ed25519 imported, key decoded)": count[1] - count[0],
                "second check with the same key": count[2] - count[1],
                "third check (the split tables computed)": count[3] - count[2],
                "each further check (mean of 10)": (count[13] - count[3]) // 10,
            }
            tables = subprocess.run(
                [sys.executable, "-I", "-c", _PRECOMPUTE.format(tree=path, public=public.hex())],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            if tables:  # a tree whose keys can carry their tables (bootstrap_text embeds them)
                literal = f"Ed25519Key(public, precomputed=bytes.fromhex({tables!r}))"
                rows["first check, key with embedded tables (as a bootstrap pins it)"] = (
                    _collected(path, 1, literal, case) - count[0]
                )
            for bytecode in (False, True):
                rows.update(_bootstrap_rows(path, case, bytecode))
            columns.append((str(tree), rows))
    names = list(dict.fromkeys(name for _, rows in columns for name in rows))
    print(f"Python: {sys.version.splitlines()[0]}; instructions (callgrind), {len(MESSAGE)}-byte message\n")
    print("| | " + " | ".join(f"`{tree}`" for tree, _ in columns) + " |")
    print("| --- |" + " ---: |" * len(columns))
    for name in names:
        cells = [f"{rows[name] / 1e6:.2f} M" if name in rows else "n/a" for _, rows in columns]
        print(f"| {name} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="timed runs per row (default 1000)")
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions in fresh processes (valgrind)"
    )
    parser.add_argument(
        "--tree",
        action="append",
        type=Path,
        default=[],
        help="with --instructions: a folder holding a signedimp package (repeatable; default: this checkout)",
    )
    args = parser.parse_args()
    if args.instructions:
        instructions(args.tree or [ROOT])
        return
    runs = args.runs

    public, signature, ed_verifier = ed25519_case()
    rows = []

    def ours_ed():
        ed25519.verify(public, MESSAGE, signature)

    def theirs_ed():
        ed_verifier.verify(MESSAGE, signature)

    ref = median_ms(theirs_ed, runs)
    rows.append(("Ed25519 (the key's tables cached)", median_ms(ours_ed, runs), ref))
    rows.append(
        (
            "Ed25519, first check with a new key (decoded, unsplit pass)",
            median_ms(ours_ed, max(runs // 4, 50), before=ed25519._KEY_CACHE.clear),
            ref,
        )
    )
    tables = ed25519.precompute(public)

    def embedded_ed():
        ed25519.verify(public, MESSAGE, signature, tables)

    rows.append(
        (
            "Ed25519, first check with a key carrying its tables (a bootstrap's)",
            median_ms(embedded_ed, max(runs // 4, 50), before=ed25519._KEY_CACHE.clear),
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
        f"\nImport of signedimp/ed25519.py alone (parses the fixed-base tables): {import_ms():.1f} ms median"
    )


if __name__ == "__main__":
    main()
