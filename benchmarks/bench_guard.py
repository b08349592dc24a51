"""What the process-wide guard (the PEP 578 audit hook, ``signedimp/guard.py``) costs.

Both sides install ``SignedImportManager``; one of them has the guard switched off (the child
replaces ``signedimp.manager.activate_guard`` with a no-op before ``install()``, so no audit hook
is ever added), so the ratio is the guard's cost alone, on two workloads:

* imports: the 500 generated modules of ``bench_import.py``, from the signed folder and the
  signed zip, timed inside the child with ``time.perf_counter`` (``python -I -B``: every module
  compiled from source, one ``exec`` and several other audit events per module);
* pip:     ``pip --version`` and ``pip list`` run from a signed zipapp (``signedimp zipapp pip
  --compile``, as ``bench_zipapp.py`` builds it), wall time of the whole child, started through a
  small launcher that imports this project's ``signedimp`` first (the zipapp's bootstrap reuses
  it), so that the switch can be thrown.

Children alternate (guarded, unguarded, unguarded, guarded, ...); medians and their ratio.

Usage: ``python benchmarks/bench_guard.py [--rounds N] [--skip-pip] [--no-readme]``.
Results go to ``benchmarks/README.md`` under "## Guard overhead (audit hook)".
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parent
sys.path.insert(0, str(PROJECT_ROOT))
sys.path.insert(0, str(HERE))

from bench_import import generate_tree, write_readme, zip_tree  # noqa: E402
from signedimp.tools import generate_key, sign_directory, sign_zipfile  # noqa: E402

SECTION = "## Guard overhead (audit hook)"

SWITCH = '''
import sys
sys.path.insert(0, {project!r})
import signedimp, signedimp.manager
if {off!r}:
    signedimp.manager.activate_guard = lambda owner, is_trusted: None
del sys.path[0]
'''

IMPORT_CHILD = '''
import importlib, time
pub, entry, names_file = sys.argv[1:4]
with open(pub, "rb") as f:
    manager = signedimp.SignedImportManager([signedimp.load_public_key(f.read())]).install()
names = open(names_file).read().split()
sys.path.insert(0, entry)
start = time.perf_counter()
for name in names:
    importlib.import_module(name)
elapsed = time.perf_counter() - start
assert type(sys.modules[names[0]].__spec__.loader).__name__ == "VerifyingLoader"
print(elapsed)
'''

PIP_CHILD = '''
import runpy
app = sys.argv[1]
sys.argv = [app, *sys.argv[2:]]
runpy.run_path(app, run_name="__main__")
'''


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def import_run(off: bool, pub: Path, entry: Path, names_file: Path) -> float:
    code = SWITCH.format(project=str(PROJECT_ROOT), off=off) + IMPORT_CHILD
    proc = subprocess.run([sys.executable, "-I", "-B", "-c", code, str(pub), str(entry), str(names_file)],
                          capture_output=True, text=True, env=child_env(), timeout=300)
    if proc.returncode != 0:
        raise SystemExit(f"import child failed:\n{proc.stderr}")
    return float(proc.stdout.split()[-1])


def pip_run(off: bool, app: Path, args: tuple[str, ...]) -> float:
    code = SWITCH.format(project=str(PROJECT_ROOT), off=off) + PIP_CHILD
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-I", "-c", code, str(app), *args], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, env=child_env(), timeout=300)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"pip child failed:\n{proc.stderr.decode()[-2000:]}")
    return elapsed


def alternate(run, rounds: int) -> dict:
    run(False), run(True)  # warm the page cache
    times: dict[bool, list[float]] = {False: [], True: []}
    for i in range(rounds):
        for off in ((False, True) if i % 2 == 0 else (True, False)):
            times[off].append(run(off))
    guarded, unguarded = statistics.median(times[False]), statistics.median(times[True])
    return {"guarded_ms": guarded * 1000, "unguarded_ms": unguarded * 1000, "ratio": guarded / unguarded}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21, help="children per side and workload")
    parser.add_argument("--skip-pip", action="store_true", help="only the 500-module imports")
    parser.add_argument("--no-readme", action="store_true", help="do not update benchmarks/README.md")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="signedimp-bench-guard-") as tmp:
        tmp_path = Path(tmp)
        key = generate_key()
        pub = tmp_path / "pub.pem"
        pub.write_bytes(key.public_pem())
        tree = tmp_path / "tree"
        names_file = tmp_path / "names.txt"
        names_file.write_text("\n".join(generate_tree(tree)))
        archive = tmp_path / "tree.zip"
        zip_tree(tree, archive)
        sign_zipfile(archive, key)
        sign_directory(tree, key)
        for layout, entry in (("directory", tree), ("zip", archive)):
            r = alternate(lambda off: import_run(off, pub, entry, names_file), args.rounds)
            rows.append((f"import 500 modules ({layout})", r))
            print(f"{rows[-1][0]:36s} {r['unguarded_ms']:8.1f} ms -> {r['guarded_ms']:8.1f} ms"
                  f"  ratio {r['ratio']:.3f}", flush=True)
        if not args.skip_pip:
            from signedimp.zipapp import build_zipapp

            app = tmp_path / "pip.pyz"
            build_zipapp("pip", app, key, main="pip._internal.cli.main:main", compile=True)
            for command in (("--version",), ("list", "--disable-pip-version-check")):
                r = alternate(lambda off: pip_run(off, app, command), args.rounds)
                rows.append((f"pip {' '.join(command[:1])} (signed zipapp, --compile)", r))
                print(f"{rows[-1][0]:36s} {r['unguarded_ms']:8.1f} ms -> {r['guarded_ms']:8.1f} ms"
                      f"  ratio {r['ratio']:.3f}", flush=True)
    if not args.no_readme:
        table = "\n".join(f"| {name} | {r['unguarded_ms']:.1f} | {r['guarded_ms']:.1f} | {r['ratio']:.3f}x |"
                          for name, r in rows)
        text = textwrap.dedent(f"""\
            `python benchmarks/bench_guard.py --rounds {args.rounds}` (Python {platform.python_version()},
            {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs; fresh interpreters alternating
            guarded / unguarded, medians). Both sides run under `SignedImportManager`; the unguarded
            side never adds the audit hook. Target (#8): under 2 % (ratio < 1.02x).

            | workload | manager without guard (ms) | manager with guard (ms) | ratio |
            | --- | ---: | ---: | ---: |
            """) + table + "\n\n" + textwrap.dedent("""\
            Why it is cheap: the hook is one Python call per audit event of the process; it returns
            after a truth test (no manager installed) and a frozenset lookup of the event name,
            so only `exec`, `marshal.load(s)` and `import` go further. An `exec` of a code object
            the verifier produced is one dict lookup and a weak-reference call; a trusted
            standard-library module is one prefix check of its file name. Frames are inspected
            only for `marshal` calls and for code about to be refused.
            """)
        write_readme_section(text)
    return 0


def write_readme_section(text: str) -> None:
    import bench_import

    saved = bench_import.SECTION
    bench_import.SECTION = SECTION
    try:
        write_readme(text)
    finally:
        bench_import.SECTION = saved


if __name__ == "__main__":
    sys.exit(main())
