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
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from signedimp.tools import generate_key, get_bootstrap_code, sign_directory  # noqa: E402
from signedimp.tools import _launcher as launcher  # noqa: E402
from signedimp.tools._bootstrap import launcher_bootstrap  # noqa: E402

APP = "def main():\n    return 0\n"


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}


def cpu_ms(args: list[str]) -> float:
    proc = subprocess.Popen(args, env=_env(), stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if status:
        raise SystemExit(f"{args} failed with status {status}")
    return (usage.ru_utime + usage.ru_stime) * 1000


def instructions(args: list[str]) -> int:
    """Instructions callgrind counts for one run of ``args``."""
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *args],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
    )
    for line in proc.stderr.splitlines():
        if "Collected :" in line:
            return int(line.rsplit(":", 1)[1])
    raise RuntimeError(f"no instruction count from callgrind:\n{proc.stderr}")


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
