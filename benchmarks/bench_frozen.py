"""Start-up cost of a frozen app: the same app frozen with and without signedimp.

The app is tests/fixtures/frozen_app (PyYAML's C extension, a data file through
importlib.resources). Each freezer builds it twice from the same arguments: plainly, and through
``signedimp freeze`` (the frozen bootstrap as runtime hook / init script, the output sealed).
Runs alternate between the two builds so that drift affects both alike; the report is the
median wall time of a full run of the executable (start to exit) and the ratio of the medians.
Results go to benchmarks/README.md, section "Frozen app start-up".

    python benchmarks/bench_frozen.py [--runs N] [--no-write]
        [--freezer pyinstaller|pyinstaller-onefile|cxfreeze|pyinstaller-strip]...
    python benchmarks/bench_frozen.py --phases [--runs N]
    python benchmarks/bench_frozen.py --instructions [--freezer F]...

``--phases`` (PyInstaller onedir only) says where the time goes: both builds get a runtime hook
that notes the CPU time (``time.process_time``) when it starts and when the process exits; in
the signed build the hook is the frozen bootstrap itself (two-step path: ``bootstrap`` text,
``--runtime-hook``, ``sign``), which also notes the time once the embedded runtime is built and
once the manager is installed and the start-up check done. Printed only.

``--instructions`` counts the instructions of one run of each build under callgrind (valgrind
must be installed; children followed, so onefile's second process counts too): repeatable to
about 0.1 %, where CPU time on a shared machine moves by several percent. Valgrind's CPU has no
SHA extensions, so OpenSSL's SHA-256 runs several times its real share there: the count without
``libcrypto`` is printed beside the total. Printed only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
APP = HERE.parent / "tests" / "fixtures" / "frozen_app"
SECTION = "## Frozen app start-up"
FREEZERS = ("pyinstaller", "pyinstaller-onefile", "cxfreeze", "pyinstaller-strip")


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "SIGNEDIMP_"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _pyinstaller_args(work: Path, src: Path) -> list[str]:
    """PyInstaller's options for the bench app (output under ``work``), without the script."""
    return [
        "--noconfirm",
        "--log-level",
        "WARN",
        "--distpath",
        str(work / "dist"),
        "--workpath",
        str(work / "build"),
        "--specpath",
        str(work),
        "--add-data",
        f"{src / 'fzapp' / 'data'}:fzapp/data",
        "--additional-hooks-dir",
        str(src / "pyinstaller_hooks"),
    ]


def build(freezer: str, signed: bool, work: Path, key: Path) -> Path:
    """Freeze the app into ``work``; return the executable."""
    src = work / "src"
    shutil.copytree(APP, src)
    if freezer.startswith("pyinstaller"):
        args = _pyinstaller_args(work, src)
        if freezer.endswith("onefile"):
            args.append("--onefile")
        if freezer.endswith("strip"):
            args.append("--strip")  # strip the symbols of the collected shared libraries
        args.append(str(src / "main.py"))
        plain = [sys.executable, "-m", "PyInstaller", *args]
        exe = work / "dist" / ("main" if freezer.endswith("onefile") else "main/main")
    else:
        args = [
            "--script",
            "main.py",
            "--target-dir",
            str(work / "dist"),
            "build_exe",
            "--silent",
            "--packages=fzapp",
            "--zip-exclude-packages=fzapp",
        ]
        plain = [sys.executable, "-m", "cx_Freeze", *args]
        exe = work / "dist" / "main"
    name = "pyinstaller" if freezer.startswith("pyinstaller") else "cxfreeze"
    signedimp = [sys.executable, "-m", "signedimp", "freeze", name, "--key", str(key), "--", *args]
    command = signedimp if signed else plain
    subprocess.run(
        command, cwd=src, check=True, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return exe


# -- --phases ---------------------------------------------------------------------------------

#: Put before the hook's code: the clock, and a report (JSON, to $BENCH_PHASES) at exit.
PHASE_PROLOGUE = """\
import atexit as _bench_atexit, json as _bench_json, os as _bench_os, time as _bench_time
_bench_marks = {"hook": _bench_time.process_time()}
def _bench_mark(name):
    _bench_marks[name] = _bench_time.process_time()
def _bench_report():
    _bench_mark("exit")
    with open(_bench_os.environ["BENCH_PHASES"], "w") as _bench_fh:
        _bench_json.dump(_bench_marks, _bench_fh)
if _bench_os.environ.get("BENCH_PHASES"):
    _bench_atexit.register(_bench_report)
"""


def phase_hook(signed: bool, key: Path) -> str:
    """The runtime hook of a ``--phases`` build: the clock alone, or around the bootstrap."""
    if not signed:
        return PHASE_PROLOGUE
    sys.path.insert(0, str(HERE.parent))
    from signedimp.tools import load_private_key
    from signedimp.tools._bootstrap import get_bootstrap_code

    text = get_bootstrap_code(load_private_key(key.read_bytes()), frozen=True, bytecode=True)
    install = "        return _pkg.frozen.install(keys)\n"
    if install not in text:
        raise SystemExit("--phases: the frozen bootstrap no longer ends with _pkg.frozen.install(keys)")
    text = text.replace(install, '        _bench_mark("runtime")\n' + install, 1)
    end = "del _signedimp_bootstrap\n"
    return PHASE_PROLOGUE + text.replace(end, end + '_bench_mark("installed")\n', 1)


def build_phases(signed: bool, work: Path, key: Path) -> Path:
    """PyInstaller onedir with ``phase_hook`` as its (first) runtime hook, sealed if signed."""
    src = work / "src"
    shutil.copytree(APP, src)
    hook = work / "phase_hook.py"
    hook.write_text(phase_hook(signed, key), encoding="utf-8")
    args = [*_pyinstaller_args(work, src), "--runtime-hook", str(hook), str(src / "main.py")]
    quiet = subprocess.DEVNULL
    freeze = [sys.executable, "-m", "PyInstaller", *args]
    subprocess.run(freeze, cwd=src, check=True, env=child_env(), stdout=quiet, stderr=quiet)
    dist = work / "dist" / "main"
    if signed:
        sign = [sys.executable, "-m", "signedimp", "sign", str(dist), "--key", str(key)]
        subprocess.run(sign, check=True, env=child_env(), stdout=quiet, stderr=quiet)
    return dist / "main"


def measure_phases(runs: int, tmp: Path, key: Path) -> None:
    """Median CPU ms of each phase, plain and signed, printed as a table."""
    exes = {kind: build_phases(kind == "signed", tmp / f"phases-{kind}", key) for kind in ("plain", "signed")}
    marks: dict[str, list[dict[str, float]]] = {"plain": [], "signed": []}
    for index in range(runs + 2):
        for kind, exe in exes.items():
            env = child_env()
            env["BENCH_PHASES"] = str(tmp / f"phases-{kind}.json")
            time_run(exe, env)
            if index >= 2:  # two warm-up rounds
                marks[kind].append(json.loads((tmp / f"phases-{kind}.json").read_text()))
    spans = {
        "start to the first runtime hook": ("", "hook"),
        "bootstrap: unpack and run the embedded runtime": ("hook", "runtime"),
        "bootstrap: manager, start-up check": ("runtime", "installed"),
        "the app, to exit (plain: hook to exit)": ("installed", "exit"),
    }
    print(f"| phase (CPU ms, median of {runs}) | plain | signedimp |")
    print("| --- | ---: | ---: |")
    for label, (start, end) in spans.items():
        cells = []
        for kind in ("plain", "signed"):
            first = start if kind == "signed" or start in ("", "hook") else "hook"
            values = [m[end] - (m[first] if first else 0.0) for m in marks[kind] if end in m]
            cells.append(f"{statistics.median(values) * 1000:.1f}" if values else "-")
        print(f"| {label} | {cells[0]} | {cells[1]} |")
    totals = [statistics.median(m["exit"] for m in marks[kind]) * 1000 for kind in ("plain", "signed")]
    print(f"| total (start to exit) | {totals[0]:.1f} | {totals[1]:.1f} |")


def time_run(exe: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system of the process and its children)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [str(exe)], cwd=exe.parent, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    stderr = proc.stderr.read() if proc.stderr else b""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{exe} failed: {stderr.decode(errors='replace')[-2000:]}")
    return elapsed, usage.ru_utime + usage.ru_stime


def measure(freezer: str, runs: int, tmp: Path, key: Path) -> tuple[float, float, float, float]:
    """Medians in ms: (plain wall, signed wall, plain CPU, signed CPU)."""
    plain = build(freezer, False, tmp / f"{freezer}-plain", key)
    signed = build(freezer, True, tmp / f"{freezer}-signed", key)
    env = child_env()
    for exe in (plain, signed):  # warm the page cache
        for _ in range(3):
            time_run(exe, env)
    wall: dict[Path, list[float]] = {plain: [], signed: []}
    cpu: dict[Path, list[float]] = {plain: [], signed: []}
    for _ in range(runs):
        for exe in (plain, signed):
            w, c = time_run(exe, env)
            wall[exe].append(w)
            cpu[exe].append(c)
    med = lambda xs: statistics.median(xs) * 1000
    return med(wall[plain]), med(wall[signed]), med(cpu[plain]), med(cpu[signed])


def count_instructions(exe: Path, tmp: Path) -> tuple[int, int]:
    """(instructions of one run of ``exe``, of them in libcrypto), from callgrind."""
    out = tmp / f"callgrind-{os.getpid()}-{time.monotonic_ns()}"
    out.mkdir()
    command = [
        "valgrind",
        "--tool=callgrind",
        "--trace-children=yes",
        f"--callgrind-out-file={out}/cg.%p",
        str(exe),
    ]
    subprocess.run(command, cwd=exe.parent, env=child_env(), check=True, capture_output=True)
    total = crypto = 0
    for path in out.iterdir():
        text = subprocess.run(
            ["callgrind_annotate", "--threshold=100", str(path)], capture_output=True, text=True, check=True
        ).stdout
        for line in text.splitlines():
            fields = line.split()
            if not fields or not fields[0].replace(",", "").isdigit():
                continue
            count = int(fields[0].replace(",", ""))
            if "PROGRAM TOTALS" in line:
                total += count
            elif "libcrypto" in line:
                crypto += count
    shutil.rmtree(out)
    return total, crypto


def measure_instructions(freezers: list[str], tmp: Path, key: Path) -> None:
    """Millions of instructions of one run, plain and signed, per freezer: printed as a table."""
    print("| freezer | plain (M) | signedimp (M) | ratio | without libcrypto (M) | ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for freezer in freezers:
        plain = build(freezer, False, tmp / f"{freezer}-plain", key)
        signed = build(freezer, True, tmp / f"{freezer}-signed", key)
        for exe in (plain, signed):
            time_run(exe, child_env())  # onefile: nothing left over from the build
        (pt, pc), (st, sc) = count_instructions(plain, tmp), count_instructions(signed, tmp)
        print(
            f"| {freezer} | {pt / 1e6:.1f} | {st / 1e6:.1f} | {st / pt:.3f}x "
            f"| {(st - sc) / 1e6:.1f} | {(st - sc) / (pt - pc):.3f}x |",
            flush=True,
        )


def versions() -> str:
    found = []
    for dist in ("pyinstaller", "cx_Freeze"):
        try:
            from importlib.metadata import version

            found.append(f"{dist} {version(dist)}")
        except Exception:
            pass
    return ", ".join(found)


def report(rows: list[tuple[str, float, float, float, float]], runs: int) -> str:
    lines = [
        SECTION,
        "",
        f"`.venv/bin/python benchmarks/bench_frozen.py --runs {runs}` freezes tests/fixtures/frozen_app",
        "(PyYAML's C extension, a data file through `importlib.resources`) twice per freezer: plainly",
        "and through `signedimp freeze` (frozen bootstrap with the runtime's bytecode, output sealed).",
        f"Medians of {runs} full runs of each executable (start to exit), alternating: wall time, and",
        "CPU time (user + system, from `wait4`), which the other engineers' load on this shared",
        "machine disturbs less.",
        f"Machine: `{platform.python_implementation()} {platform.python_version()}`, {versions()};",
        f"`nproc`: {os.cpu_count()}; {platform.machine()}, "
        f"{platform.system()} {platform.release().split('-')[0]}.",
        "Target: signed <= 1.10x plain.",
        "",
        "| freezer | plain wall (ms) | signedimp wall (ms) | ratio "
        "| plain CPU (ms) | signedimp CPU (ms) | ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for freezer, pw, sw, pc, sc in rows:
        lines.append(
            f"| {freezer} | {pw:.1f} | {sw:.1f} | {sw / pw:.3f}x | {pc:.1f} | {sc:.1f} | {sc / pc:.3f}x |"
        )
    return "\n".join(lines) + "\n"


#: In the README section, the notes below this line (phases, instructions, analysis) are kept
#: when the table above them is rewritten.
KEEP = "<!-- bench_frozen.py keeps what follows when it rewrites the table above -->"


def write_section(text: str) -> None:
    readme = HERE / "README.md"
    content = readme.read_text(encoding="utf-8")
    if SECTION in content:
        start = content.index(SECTION)
        end = content.find("\n## ", start + len(SECTION))
        section = content[start:] if end == -1 else content[start:end]
        if KEEP in section:
            text += "\n" + section[section.index(KEEP) :].rstrip("\n") + "\n"
        content = content[:start] + text + ("" if end == -1 else content[end:])
    else:
        content = content.rstrip("\n") + "\n\n" + text
    readme.write_text(content, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--freezer", action="append", choices=FREEZERS)
    parser.add_argument("--no-write", action="store_true", help="print only; leave README.md alone")
    parser.add_argument("--phases", action="store_true", help="where the time goes (PyInstaller onedir)")
    parser.add_argument(
        "--instructions", action="store_true", help="instruction counts under callgrind (printed only)"
    )
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-frozen-") as tmp:
        key = Path(tmp) / "key.pem"
        subprocess.run(
            [sys.executable, "-m", "signedimp", "keygen", "-o", str(key)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        if args.phases:
            measure_phases(args.runs, Path(tmp), key)
            return
        if args.instructions:
            measure_instructions(args.freezer or list(FREEZERS[:3]), Path(tmp), key)
            return
        for freezer in args.freezer or FREEZERS[:3]:
            pw, sw, pc, sc = measure(freezer, args.runs, Path(tmp), key)
            rows.append((freezer, pw, sw, pc, sc))
            print(
                f"{freezer}: wall {pw:.1f} / {sw:.1f} ms ({sw / pw:.3f}x), "
                f"CPU {pc:.1f} / {sc:.1f} ms ({sc / pc:.3f}x)",
                flush=True,
            )
    text = report(rows, args.runs)
    print(text)
    if not args.no_write:
        write_section(text)


if __name__ == "__main__":
    main()
