"""Start-up of a `signedimp launcher` script for a sealed folder, against the same import unverified.

A launcher is a script, so Python compiles all of it at every start. Three cases, each a fresh
process of this interpreter running a one-module app from a sealed folder (`signedimp sign`):

- unverified: ``python -I -S -c "import sys; sys.path.insert(0, SITE); import app; app.main()"``;
- the launcher as `signedimp launcher` writes it (the verifier's bytecode for this Python
  embedded beside its sources, but for the modules a sealed folder's start never needs);
- the same launcher with the verifier's sources only (``get_bootstrap_code(keys)``: what a
  launcher made for a Python that cannot be run where it is made carries, and what every
  launcher carried before).

CPU time of the child (user + system, ``os.wait4``), medians of alternating runs;
``--instructions`` adds callgrind's count of one run of each (steady on a shared machine).

    python benchmarks/bench_launcher.py [--runs 21] [--instructions]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_startup import cpu_ms, instructions

from signedimp.tools import _launcher as launcher
from signedimp.tools import generate_key, get_bootstrap_code, sign_directory
from signedimp.tools._bootstrap import launcher_bootstrap

APP = "def main():\n    return 0\n"


def make_cases(tmp: Path) -> dict[str, list[str]]:
    site = tmp / "site"
    site.mkdir()
    (site / "benchapp.py").write_text(APP)
    key = generate_key("ed25519")
    sign_directory(site, key)
    python = sys.executable
    with_bytecode = tmp / "launcher"
    launcher.write_launcher(
        with_bytecode, launcher.launcher_source(key, [str(site)], entry="benchapp:main", python=python)
    )
    sources_only = tmp / "launcher-sources"
    text = with_bytecode.read_text(encoding="utf-8")
    text = text.replace(launcher_bootstrap(key, python), get_bootstrap_code(key))
    launcher.write_launcher(sources_only, text)
    plain = f"import sys; sys.path.insert(0, {str(site)!r}); import benchapp; benchapp.main()"
    return {
        "unverified (python -I -S -c)": [python, "-I", "-S", "-c", plain],
        "launcher (verifier's bytecode embedded)": [str(with_bytecode)],
        "launcher, verifier as sources only": [str(sources_only)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--instructions", action="store_true", help="also count instructions (callgrind)")
    args = parser.parse_args()
    if args.instructions and shutil.which("valgrind") is None:
        parser.error("--instructions needs valgrind on PATH")
    with tempfile.TemporaryDirectory() as tmp:
        cases = make_cases(Path(tmp))
        for command in cases.values():  # warm-up (and a check that each case runs)
            cpu_ms(command)
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.runs):
            for name, command in cases.items():
                times[name].append(cpu_ms(command))
        counts = {name: instructions(command) for name, command in cases.items()} if args.instructions else {}
    first = next(iter(cases))
    base = statistics.median(times[first])
    print(f"`python benchmarks/bench_launcher.py --runs {args.runs}` on {sys.version.split()[0]}")
    print("(CPU ms of the child, medians of alternating runs; instructions: one run under callgrind)\n")
    print("| case | CPU ms | ratio |" + (" instructions (M) | ratio |" if counts else ""))
    print("| --- | ---: | ---: |" + (" ---: | ---: |" if counts else ""))
    for name, values in times.items():
        median = statistics.median(values)
        row = f"| {name} | {median:.1f} | {median / base:.2f}x |"
        if counts:
            row += f" {counts[name] / 1e6:.1f} | {counts[name] / counts[first]:.2f}x |"
        print(row)


if __name__ == "__main__":
    main()
