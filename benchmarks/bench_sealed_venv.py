"""A real app from a sealed site-packages: verified against unverified, in one run.

rich (with pygments, markdown-it-py, mdurl) and pip are installed with ``pip install --target``
into a folder (cached under ~/.cache/signedimp-bench), compiled with ``compileall`` and sealed
with ``signedimp sign`` (one root manifest). Each case runs in a fresh ``python -I`` with the
folder first on ``sys.path``; "verified" first imports signedimp and installs a
``SignedImportManager`` pinned to the sealing key. CPU time of the child (user + system, from
``os.wait4``), medians of alternating runs, so other load on the machine matters less.

    python benchmarks/bench_sealed_venv.py [--runs 15] [--instructions] [--before OLD_TREE]

``--instructions`` counts the instructions of one child per case instead (``valgrind
--tool=callgrind``, with a fixed ``PYTHONHASHSEED``): the same from run to run to 0.1 %,
whatever else the machine does, so it shows what a change saves where CPU times on a shared
machine drift by 10 % or more. Valgrind does not emulate the SHA extensions, so SHA-256
weighs several times more there (about 28 instructions a byte) than on a CPU that has them.
Nor does it count the kernel's time: a ``stat`` or ``listdir`` saved shows in CPU time only.

``--before OLD_TREE`` runs the verified case a second time with the runtime of another
checkout (``git archive REV signedimp | tar -x -C OLD_TREE``), in the same turns, and adds
its columns: before and after measured in one run, on the same machine load.
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
CACHE = Path.home() / ".cache" / "signedimp-bench" / f"rich-pip-py{sys.version_info[0]}{sys.version_info[1]}"

PRELUDE = """
import sys
sys.path.insert(0, {root!r})
if {verified!r}:
    import signedimp
    with open({pub!r}) as fh:
        signedimp.SignedImportManager([signedimp.load_public_key(fh.read())]).install()
sys.path.insert(0, {site!r})
"""

APP = """
import io
from rich.console import Console
from rich.markdown import Markdown
from rich.syntax import Syntax
from rich.table import Table
console = Console(file=io.StringIO(), force_terminal=True, width=100, color_system="truecolor")
table = Table(title="Numbers")
for name in ("n", "square", "cube"):
    table.add_column(name, justify="right")
for n in range(30):
    table.add_row(str(n), str(n * n), str(n**3))
console.print(table)
console.print(Markdown("# Title\\n\\nSome *markdown* with `code`, a [link](https://example.org)\\n\\n- one\\n- two\\n"))
console.print(Syntax("def f(x):\\n    return [i * x for i in range(10)]\\n" * 20, "python", line_numbers=True))
"""

PIP_LIST = """
import runpy
sys.argv = ["pip", "list", "--path", {site!r}, "--disable-pip-version-check"]
try:
    runpy.run_module("pip", run_name="__main__")
except SystemExit as exc:
    assert not exc.code, exc.code
"""

CASES = {
    "empty script (import signedimp + install)": "",
    "first import from the sealed folder (import mdurl)": "import mdurl",
    "import rich.console": "import rich.console",
    "rich: table, markdown, syntax": APP,
    "pip list": PIP_LIST,
}


def prepare() -> Path:
    """The installed folder, made once and cached (pip's own cache holds the wheels)."""
    if not (CACHE / "rich").is_dir():
        staging = CACHE.with_name(CACHE.name + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--target", str(staging), "rich", "pip"],
            check=True,
        )
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", str(staging)], check=True, stdout=subprocess.DEVNULL
        )
        staging.rename(CACHE)
    return CACHE


def cpu_ms(code: str) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    proc = subprocess.Popen([sys.executable, "-I", "-c", code], env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"benchmark child failed (status {status}): {code[:200]}")
    return (usage.ru_utime + usage.ru_stime) * 1000


def instructions(code: str) -> int:
    """Instructions one child executes (callgrind's ``Collected``), start-up included."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONHASHSEED="0")
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-I", "-c", code],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    found = [line for line in proc.stderr.splitlines() if "Collected :" in line]
    if proc.returncode != 0 or not found:
        raise SystemExit(f"benchmark child failed under valgrind: {proc.stderr[-2000:]}")
    return int(found[-1].rsplit(":", 1)[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions under valgrind (one run per case)"
    )
    parser.add_argument("--before", metavar="OLD_TREE", help="a checkout whose runtime is measured too")
    args = parser.parse_args()
    if args.instructions and shutil.which("valgrind") is None:
        raise SystemExit("--instructions needs valgrind on PATH")
    trees = {"after": ROOT}
    if args.before:
        trees["before"] = Path(args.before).resolve()
        if not (trees["before"] / "signedimp" / "__init__.py").is_file():
            raise SystemExit(f"--before {args.before}: no signedimp/__init__.py there")
    cached = prepare()
    # signedimp's own bytecode, as an installed copy has it (PYTHONDONTWRITEBYTECODE is set here).
    for tree in trees.values():
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", str(tree / "signedimp")],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    cli = [sys.executable, "-m", "signedimp"]
    with tempfile.TemporaryDirectory(prefix="signedimp-bench-") as tmp:
        site = Path(tmp) / "site-packages"
        shutil.copytree(cached, site, symlinks=True)
        key = Path(tmp) / "key.pem"
        subprocess.run([*cli, "keygen", "-o", str(key)], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(
            [*cli, "sign", str(site), "--key", str(key), "-q"], check=True, stdout=subprocess.DEVNULL
        )
        lines = (site / "signedimp-manifest.txt").read_text().count("\n")
        if args.instructions:
            print(f"sealed {site.name}: {lines}-line root manifest; millions of instructions (callgrind)")
        else:
            print(
                f"sealed {site.name}: {lines}-line root manifest; CPU ms, medians of {args.runs} alternating runs"
            )
        extra = " verified, before | ratio before |" if args.before else ""
        print(f"| case | unverified | verified | ratio |{extra}")
        print("| --- | ---: | ---: | ---: |" + (" ---: | ---: |" if args.before else ""))
        digits = 3 if args.instructions else 2
        for name, body in CASES.items():
            codes = {"unverified": _code(ROOT, False, key, site, body)}
            codes.update({tree: _code(path, True, key, site, body) for tree, path in trees.items()})
            if args.instructions:
                found = {label: instructions(code) / 1e6 for label, code in codes.items()}
            else:
                runs: dict[str, list[float]] = {label: [] for label in codes}
                for _ in range(args.runs):
                    for label, code in codes.items():
                        runs[label].append(cpu_ms(code))
                found = {label: statistics.median(times) for label, times in runs.items()}
            plain = found["unverified"]
            cells = [f"{plain:.1f}"]
            for tree in trees:
                cells += [f"{found[tree]:.1f}", f"{found[tree] / plain:.{digits}f}x"]
            print(f"| {name} | {' | '.join(cells)} |", flush=True)


def _code(tree: Path, verified: bool, key: Path, site: Path, body: str) -> str:
    """The child's program: the runtime from ``tree``, a manager if ``verified``, then ``body``."""
    prelude = PRELUDE.format(root=str(tree), verified=verified, pub=f"{key}.pub", site=str(site))
    return prelude + body.format(site=str(site))


if __name__ == "__main__":
    main()
