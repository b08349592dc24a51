"""Start-up cost of a signed zipapp: pip run from `signedimp zipapp` vs. `python -m zipapp`.

Both archives hold the same files (pip and its vendored packages, as `pip install --target`
put them), deflated, with the same bytecode (built with --compile, legacy .pyc beside each
module, which zipimport and the verifier both use) or with none. Runs alternate between the two
archives in one process so drift affects both alike; the report is the median wall and CPU time
(user + system of the child) of each and the ratios of the medians. Results go to
benchmarks/README.md, section "Zipapp start-up (pip)": only the tables this run measured are
replaced (each between its ``<!-- bench_zipapp: NAME -->`` markers), so the analysis written
there and a table this run did not measure (``--instructions``) are kept.

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

from _timing import HERE as BENCH_DIR
from _timing import interleaved, medians, time_once

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
        lambda name: dict(
            zip(("wall", "cpu"), time_once([sys.executable, "-I", str(apps[name]), *args], env))
        ),
    )
    ms = medians(samples, 1000)
    signed, plain = ms["signed"], ms["plain"]
    return {
        "signed_ms": signed["wall"],
        "plain_ms": plain["wall"],
        "ratio": signed["wall"] / plain["wall"],
        "signed_cpu": signed["cpu"],
        "plain_cpu": plain["cpu"],
        "cpu_ratio": signed["cpu"] / plain["cpu"],
    }


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


def wall_table(results: list[dict], runs: int, modules: int) -> str:
    lines = [
        f"`python benchmarks/bench_zipapp.py --runs {runs}` on {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.machine()} ({os.cpu_count()} CPUs). pip "
        f"({modules} Python modules in the archive) run as `python -I app.pyz ARGS`: the signed zipapp "
        "(`signedimp zipapp`, verifying every import) against the same files zipped by "
        "`python -m zipapp --compress` (plain zipimport). Runs alternate; medians of each side, "
        "wall time and CPU time (user + system of the child).",
        "",
        "| bytecode | command | plain (ms) | signed (ms) | ratio | plain CPU (ms) | signed CPU (ms) | CPU ratio |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {'yes (--compile)' if r['compiled'] else 'none'} | `{r['command']}` | "
            f"{r['plain_ms']:.1f} | {r['signed_ms']:.1f} | {r['ratio']:.3f}x | "
            f"{r['plain_cpu']:.1f} | {r['signed_cpu']:.1f} | {r['cpu_ratio']:.3f}x |"
        )
    return "\n".join(lines)


def instruction_table(counts: list[dict], runs: int) -> str:
    lines = [
        f"`python benchmarks/bench_zipapp.py --runs {runs} --instructions`: instructions of one run "
        "of each `--compile` archive (valgrind's callgrind, millions), and how many of them are "
        "in libcrypto (OpenSSL's SHA-256 and SHA-512 cost about ten times more instructions under "
        "valgrind, whose CPU has no SHA extensions, than on the real one):",
        "",
        "| command | plain | signed | ratio | signed, in libcrypto | ratio without libcrypto |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in counts:
        lines.append(
            f"| `{c['command']}` | {c['plain'] / 1e6:.1f} | {c['signed'] / 1e6:.1f} | "
            f"{c['signed'] / c['plain']:.3f}x | {c['signed_crypto'] / 1e6:.1f} | "
            f"{(c['signed'] - c['signed_crypto']) / (c['plain'] - c['plain_crypto']):.3f}x |"
        )
    return "\n".join(lines)


def marker(name: str, end: bool = False) -> str:
    return f"<!-- {'/' if end else ''}bench_zipapp: {name} -->"


def update_readme(blocks: dict[str, str], readme: Path = BENCH_DIR / "README.md") -> None:
    """Replace each named block of the section (between its markers) with the new text; a
    block not there yet is added at the end of the section, a missing section at the end of
    the file. Everything else in the README, the section's own prose included, stays."""
    text = readme.read_text(encoding="utf-8")
    start = text.find(SECTION + "\n")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + SECTION + "\n"
        start = text.find(SECTION + "\n")
    end = text.find("\n## ", start + len(SECTION))
    end = len(text) if end < 0 else end + 1
    section = text[start:end]
    for name, body in blocks.items():
        block = f"{marker(name)}\n{body.strip()}\n{marker(name, end=True)}"
        first = section.find(marker(name))
        last = section.find(marker(name, end=True))
        if first >= 0 and last > first:
            section = section[:first] + block + section[last + len(marker(name, end=True)) :]
        else:
            section = section.rstrip("\n") + "\n\n" + block + "\n"
    if not section.endswith("\n\n") and end < len(text):
        section = section.rstrip("\n") + "\n\n"
    readme.write_text(text[:start] + section + text[end:], encoding="utf-8")


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
                    f"  signed {result['signed_ms']:7.1f} ms  ratio {result['ratio']:.3f}x"
                    f"  CPU {result['plain_cpu']:7.1f} / {result['signed_cpu']:7.1f} ms  ratio {result['cpu_ratio']:.3f}x",
                    flush=True,
                )
        counts = []
        if options.instructions:
            print("\ninstructions (callgrind, millions; in libcrypto), --compile archives:")
            for args in COMMANDS:
                (plain, plain_crypto), (signed, signed_crypto) = (
                    instructions(archives[True][side], args) for side in (1, 0)
                )
                counts.append(
                    {
                        "command": "pip " + " ".join(args),
                        "plain": plain,
                        "plain_crypto": plain_crypto,
                        "signed": signed,
                        "signed_crypto": signed_crypto,
                    }
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
            blocks = {"times": wall_table(results, options.runs, modules)}
            if counts:
                blocks["instructions"] = instruction_table(counts, options.runs)
            update_readme(blocks)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
