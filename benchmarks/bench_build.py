"""How much the `signedimp` build hook adds to `python -m build --wheel --no-isolation`.

Generates a project of 1,000 modules (20 packages of 50 modules, a few KiB each), then builds its
wheel alternately with and without the hook, in the same run, and reports the median times and
their ratio. "Without" is the same project minus the `[tool.hatch.build.hooks.signedimp]` table.

    .venv/bin/python benchmarks/bench_build.py [--repeats 7] [--modules 1000] [--write]

``--write`` puts the result into benchmarks/README.md under "## Build hook overhead".
``--profile`` runs the backend under cProfile once and prints where the hook's time goes.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SECTION = "## Build hook overhead"

MODULE = '''\
"""Generated module {i} of the build benchmark."""

from __future__ import annotations

import dataclasses

CONSTANT_{i} = {i}


@dataclasses.dataclass
class Record{i}:
    name: str
    value: int = {i}

    def describe(self) -> str:
        return f"{{self.name}}={{self.value}}"


def compute_{i}(values: list[int]) -> int:
    """Sum the squares of ``values`` plus this module's constant."""
    total = CONSTANT_{i}
    for value in values:
        total += value * value
    return total


def table_{i}() -> dict[str, int]:
    return {{f"key{{n}}": n * {i} for n in range(32)}}
'''

PYPROJECT = """\
[build-system]
requires = ["hatchling", "hatch-signedimp"]
build-backend = "hatchling.build"

[project]
name = "bench-app"
version = "1.0.0"
requires-python = ">=3.10"

[tool.hatch.build.targets.wheel]
packages = ["src/bench_app"]
"""


def make_project(root: Path, modules: int, hook: bool) -> Path:
    """The generated project; identical with and without the hook but for its table."""
    package = root / "src" / "bench_app"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""Benchmark package."""\n')
    per_package = 50
    for i in range(modules):
        sub = package / f"pkg{i // per_package:02d}"
        if not sub.exists():
            sub.mkdir()
            (sub / "__init__.py").write_text("")
        (sub / f"mod{i:04d}.py").write_text(MODULE.format(i=i))
    (package / "data.json").write_text('{"modules": %d}\n' % modules)
    (package / "py.typed").write_text("")
    text = PYPROJECT + ("\n[tool.hatch.build.hooks.signedimp]\n" if hook else "")
    (root / "pyproject.toml").write_text(text)
    return root


def _children_cpu() -> float:
    try:
        import resource
    except ImportError:  # Windows: wall time only
        return 0.0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def build_once(project: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the build and its backend) of one `python -m build`."""
    out = project / "dist"
    shutil.rmtree(out, ignore_errors=True)
    cpu, start = _children_cpu(), time.perf_counter()
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out)],
                   cwd=project, env=env, check=True, capture_output=True)
    return time.perf_counter() - start, _children_cpu() - cpu


BREAKDOWN = """
import os, shutil, statistics, sys, time, zipfile
from pathlib import Path
import hatchling.build, hatchling.builders.wheel           # what the backend has loaded anyway
wheel, pem = Path(sys.argv[1]), os.environ["SIGNEDIMP_KEY"]
t = time.perf_counter()
from hatchling.plugin.manager import PluginManager
PluginManager().build_hook.get("signedimp")  # entry-point scan, pluggy, import of hatch_signedimp
plugin = time.perf_counter() - t
t = time.perf_counter(); import signedimp.tools; tools = time.perf_counter() - t
t = time.perf_counter(); key = signedimp.tools.load_private_key(pem); load = time.perf_counter() - t
signs = []
for i in range(5):
    copy = wheel.with_name(f"copy{i}-" + wheel.name)
    shutil.copy(wheel, copy)
    t = time.perf_counter(); signedimp.tools.sign_wheel(copy, key); signs.append(time.perf_counter() - t)
print(plugin, tools, load, statistics.median(signs))
"""


def breakdown(plain_wheel: Path, env: dict[str, str]) -> dict[str, float]:
    """Where the hook's time goes, measured piece by piece in a fresh interpreter."""
    proc = subprocess.run([sys.executable, "-c", BREAKDOWN, str(plain_wheel)], env=env, check=True,
                          capture_output=True, text=True)
    plugin, tools, load, sign = map(float, proc.stdout.split())
    return {"plugin": plugin, "tools": tools, "load": load, "sign": sign}


def signing_key_pem() -> str:
    from Crypto.PublicKey import ECC

    return ECC.generate(curve="ed25519").export_key(format="PEM")


def bench(modules: int, repeats: int) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "SIGNEDIMP_", "HATCH_"))}
    env.update(SOURCE_DATE_EPOCH="1700000000", SIGNEDIMP_KEY=signing_key_pem(), PYTHONDONTWRITEBYTECODE="1")
    with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
        plain = make_project(Path(tmp) / "plain", modules, hook=False)
        signed = make_project(Path(tmp) / "signed", modules, hook=True)
        build_once(plain, env), build_once(signed, env)  # warm-up: caches, bytecode of the tools
        times: dict[str, list[float]] = {"plain": [], "signed": []}
        cpu: dict[str, list[float]] = {"plain": [], "signed": []}
        for _ in range(repeats):
            for name, project in (("plain", plain), ("signed", signed)):
                wall, used = build_once(project, env)
                times[name].append(wall)
                cpu[name].append(used)
        wheel_size = next((signed / "dist").glob("*.whl")).stat().st_size
        parts = breakdown(next((plain / "dist").glob("*.whl")), env)
    median = statistics.median
    return {
        "modules": modules,
        "repeats": repeats,
        "plain": median(times["plain"]),
        "signed": median(times["signed"]),
        "ratio": median(times["signed"]) / median(times["plain"]),
        "plain_cpu": median(cpu["plain"]),
        "signed_cpu": median(cpu["signed"]),
        "cpu_ratio": median(cpu["signed"]) / median(cpu["plain"]) if median(cpu["plain"]) else float("nan"),
        "wheel_kib": wheel_size / 1024,
        "times": times,
        "parts": parts,
    }


def profile(modules: int) -> str:
    """cProfile of the backend's build_wheel in-process, reduced to the hook's share."""
    import cProfile
    import io
    import pstats

    with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
        project = make_project(Path(tmp) / "signed", modules, hook=True)
        os.environ["SIGNEDIMP_KEY"] = signing_key_pem()
        os.environ["SOURCE_DATE_EPOCH"] = "1700000000"
        cwd = os.getcwd()
        os.chdir(project)
        try:
            import hatchling.build

            profiler = cProfile.Profile()
            profiler.enable()
            hatchling.build.build_wheel(str(project / "dist"))
            profiler.disable()
        finally:
            os.chdir(cwd)
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream).sort_stats("cumulative")
    stats.print_stats("hatch_signedimp|signedimp/tools|build_wheel|wheel.py:.*build_standard", 15)
    return stream.getvalue()


def markdown(result: dict[str, object]) -> str:
    times, parts = result["times"], result["parts"]
    assert isinstance(times, dict) and isinstance(parts, dict)
    ms = {name: f"{value * 1000:.1f}" for name, value in parts.items()}
    overhead = (float(result["signed"]) - float(result["plain"])) * 1000  # type: ignore[arg-type]
    return textwrap.dedent(f"""\
        {SECTION}

        `.venv/bin/python benchmarks/bench_build.py` generates a project of {result['modules']:,} modules
        (20 packages of 50 modules of about 0.7 KiB, a data file and `py.typed`; the wheel is
        {result['wheel_kib']:.0f} KiB) and times `python -m build --wheel --no-isolation` of it with the
        `[tool.hatch.build.hooks.signedimp]` table (Ed25519 key in `SIGNEDIMP_KEY`) and without it,
        alternating, {result['repeats']} runs each after one warm-up run each; medians of wall time,
        each run a fresh `python -m build` process (interpreter start, backend subprocess, build).

        Machine: `python -VV`: `{sys.version.splitlines()[0]}`; `nproc`: {os.cpu_count()}; {platform.machine()}, {platform.system()} {platform.release().split('-')[0]}.

        | build | median wall (s) | median CPU (s) | wall time of each run (s) |
        | --- | ---: | ---: | --- |
        | without the hook | {result['plain']:.3f} | {result['plain_cpu']:.3f} | {', '.join(f'{t:.2f}' for t in times['plain'])} |
        | with the hook (signed) | {result['signed']:.3f} | {result['signed_cpu']:.3f} | {', '.join(f'{t:.2f}' for t in times['signed'])} |

        Ratio: **{result['ratio']:.2f}x** wall time, {result['cpu_ratio']:.2f}x CPU time (target: <= 1.10x).
        CPU time (user + system of `build` and its backend) is the steadier figure on a busy machine.

        Where the hook's time goes, measured piece by piece in a fresh interpreter that has already
        imported hatchling (as the backend has):

        | step | ms |
        | --- | ---: |
        | hatchling finds third-party hooks (entry-point scan, pluggy) and imports `hatch_signedimp` | {ms['plugin']} |
        | import `signedimp.tools` (pycryptodome, the `signedimp` runtime package) | {ms['tools']} |
        | load the Ed25519 key from `SIGNEDIMP_KEY` | {ms['load']} |
        | `sign_wheel()` of the {result['modules']:,}-module wheel (median of 5) | {ms['sign']} |

        The hook adds {overhead:.0f} ms to a {result['plain']:.2f} s build, so the target is not met. The
        hook's own work (options, finding and checking the key) is about a millisecond; the rest is:

        - `sign_wheel()` rewrites the whole wheel through `zipfile`: it inflates every member, hashes
          it (three times: the old RECORD check, the manifest, the new RECORD) and deflates it again.
          Copying each member's compressed bytes as they are (inflating only to hash, hashing once)
          and writing the central directory anew keeps order, times, modes and compression just the
          same; a prototype of that copy of this wheel takes about 15-20 ms.
        - Importing `signedimp.tools` loads pycryptodome's ECC and RSA modules (their C parts through
          cffi/ctypes) and, through `signedimp/__init__.py`, the whole runtime verifier (manager,
          loader, resources), though signing needs only `keys` and `manifest`. Importing RSA only for
          RSA keys and the runtime lazily would save roughly half.
        - Any third-party build hook makes hatchling scan entry points and load pluggy; that cost is
          hatchling's, not this hook's, and is the same for every hatch plugin.

        Even with both changes the fixed cost (~60 ms) stays above 10 % of a build this small;
        it falls under 10 % for builds that take 0.6 s or more. Run with `--profile` for a
        cProfile of one signed build.
        """)


def write_section(text: str) -> None:
    """Replace (or append) only this benchmark's section of benchmarks/README.md."""
    readme = HERE / "README.md"
    current = readme.read_text(encoding="utf-8") if readme.exists() else "# Benchmarks\n"
    start = current.find(SECTION + "\n")
    if start == -1:
        updated = current.rstrip("\n") + "\n\n" + text
    else:
        end = current.find("\n## ", start + len(SECTION))
        rest = current[end + 1:] if end != -1 else ""
        updated = current[:start] + text + ("\n" + rest if rest else "")
    readme.write_text(updated, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--write", action="store_true", help="update benchmarks/README.md")
    parser.add_argument("--profile", action="store_true", help="print a profile of one signed build")
    args = parser.parse_args(argv)
    if args.profile:
        print(profile(args.modules))
        return 0
    result = bench(args.modules, args.repeats)
    text = markdown(result)
    print(text)
    if args.write:
        write_section(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
