"""What the benchmark scripts share: timing a child process, interleaved runs, their README section.

Every comparison here is a ratio measured in one run: the commands take turns (the order
rotates each round, after one warm-up run of each), so drift of a shared machine affects all
of them alike, and the medians are compared.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent


def time_once(
    command: Sequence[str], env: Mapping[str, str] | None = None, cwd: str | os.PathLike[str] | None = None
) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system of the child and the children it waited for).

    Output goes to /dev/null; a failing command stops the benchmark with the end of its stderr.
    """
    start = time.perf_counter()
    process = subprocess.Popen(
        list(command), env=dict(env) if env is not None else None, cwd=cwd,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    errors = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, command))} failed:\n{errors.decode(errors='replace')[-2000:]}")
    return elapsed, usage.ru_utime + usage.ru_stime


def interleaved(
    names: Sequence[str], runs: int, one_run: Callable[[str], Mapping[str, float]], warm_up: bool = True
) -> dict[str, dict[str, list[float]]]:
    """``one_run(name)`` for every name, ``runs`` rounds, the order rotating each round.

    ``one_run`` returns named figures of one run (``{"wall": s, "cpu": s}``, or more); the result
    is every figure of every run, by name: ``{name: {figure: [values...]}}``. With ``warm_up``,
    each name runs once first, untimed (page cache, bytecode, caches of the tool measured).
    """
    names = list(names)
    if warm_up:
        for name in names:
            one_run(name)
    samples: dict[str, dict[str, list[float]]] = {name: {} for name in names}
    for round_ in range(runs):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            for figure, value in one_run(name).items():
                samples[name].setdefault(figure, []).append(value)
    return samples


def medians(
    samples: Mapping[str, Mapping[str, Sequence[float]]], scale: float = 1.0
) -> dict[str, dict[str, float]]:
    """The median of every figure, times ``scale`` (1000 for milliseconds)."""
    return {
        name: {figure: statistics.median(values) * scale for figure, values in figures.items()}
        for name, figures in samples.items()
    }


def write_section(section: str, text: str, readme: Path = HERE / "README.md") -> None:
    """Replace the ``section`` (a ``## `` heading line) of benchmarks/README.md with ``text``
    (which starts with that heading), or append it; the other sections stay as they are."""
    old = readme.read_text(encoding="utf-8") if readme.exists() else "# Benchmarks\n"
    start = old.find(section + "\n")
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        end = old.find("\n## ", start + len(section))
        new = old[:start] + text.rstrip("\n") + "\n" + ("" if end < 0 else "\n" + old[end + 1 :])
    readme.write_text(new.rstrip("\n") + "\n", encoding="utf-8")
