"""The fixed cost of verification: ``import signedimp`` plus ``install()``, against ``python -c pass``.

Each case is a fresh ``python -I`` (``-I``: nothing from the environment or the user site;
``signedimp`` is put on ``sys.path`` by the command itself), with bytecode written by a warm-up
run, as on a user's machine. CPU time of the child (user + system, from ``os.wait4``), medians
of alternating runs, so other load on the machine matters less. ``--before DIR`` adds the same
measurement for another checkout (e.g. a worktree of an older commit) in the same run.

Also printed: what ``import signedimp`` runs (its modules), and the size of the source-only
bootstrap (``get_bootstrap_code``, which must fit in one ``python -c`` argument).

    python benchmarks/bench_startup.py [--runs 21] [--before DIR] [--instructions]

``--instructions`` also counts each case's instructions (valgrind's callgrind, one warm run):
steady on a shared machine where CPU time is not.
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

INSTALL = (
    "import sys; sys.path.insert(0, {root!r}); import signedimp; "
    "signedimp.SignedImportManager([signedimp.Ed25519Key(bytes.fromhex({key!r}))]).install()"
)
# A valid Ed25519 public key (RFC 8032, test 1): the key is never used to verify here.
KEY = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"


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


def copy_runtime(source: Path, into: Path) -> str:
    """The runtime package alone (no tools, no bytecode) in a folder of its own."""
    shutil.copytree(
        source / "signedimp", into / "signedimp", ignore=shutil.ignore_patterns("tools", "__pycache__")
    )
    return str(into)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--before", type=Path, help="another checkout to measure in the same run")
    parser.add_argument(
        "--instructions", action="store_true", help="also count instructions with valgrind (callgrind)"
    )
    args = parser.parse_args()
    if args.instructions and shutil.which("valgrind") is None:
        parser.error("--instructions needs valgrind on PATH")
    with tempfile.TemporaryDirectory() as tmp:
        cases = {"python -c pass": [sys.executable, "-I", "-c", "pass"]}
        trees = {"this tree": ROOT} | ({"before": args.before} if args.before else {})
        for label, tree in trees.items():
            root = copy_runtime(tree, Path(tmp) / label.replace(" ", "_"))
            cases[f"import signedimp + install() ({label})"] = [
                sys.executable,
                "-I",
                "-c",
                INSTALL.format(root=root, key=KEY),
            ]
        for command in cases.values():  # warm-up: writes the bytecode
            cpu_ms(command)
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.runs):
            for name, command in cases.items():
                times[name].append(cpu_ms(command))
        base = statistics.median(times["python -c pass"])
        counts = {name: instructions(command) for name, command in cases.items()} if args.instructions else {}
        modules = subprocess.run(
            [
                sys.executable,
                "-I",
                "-c",
                INSTALL.format(root=str(Path(tmp) / "this_tree"), key=KEY)
                + "; print(' '.join(sorted(m for m in sys.modules if m.startswith('signedimp'))))"
                + "; print('hashlib' in sys.modules)",
            ],
            env=_env(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    sys.path.insert(0, str(ROOT))
    from signedimp.tools import generate_key, get_bootstrap_code

    size = len(get_bootstrap_code([generate_key("ed25519"), generate_key("rsa", bits=2048)]).encode())
    print(
        f"`python benchmarks/bench_startup.py --runs {args.runs}` on {sys.version.split()[0]}, {os.cpu_count()} CPUs"
    )
    print("(CPU ms of a fresh `python -I`, medians of alternating runs)\n")
    print("| case | CPU ms | over `python -c pass` |")
    print("| --- | ---: | ---: |")
    for name, values in times.items():
        median = statistics.median(values)
        extra = "" if name == "python -c pass" else f"+{median - base:.1f}"
        print(f"| {name} | {median:.1f} | {extra} |")
    if counts:
        print("\n| case | instructions (M) | over `python -c pass` |")
        print("| --- | ---: | ---: |")
        for name, count in counts.items():
            extra = "" if name == "python -c pass" else f"+{(count - counts['python -c pass']) / 1e6:.1f}"
            print(f"| {name} | {count / 1e6:.1f} | {extra} |")
    print(f"\nModules run by `import signedimp` + `install()`: {modules[0]}")
    print(f"hashlib loaded: {modules[1]}")
    print(f"Source-only bootstrap with an Ed25519 and an RSA-2048 key: {size:,} bytes (limit 131,072)")


if __name__ == "__main__":
    main()
