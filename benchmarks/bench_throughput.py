"""`signedimp sign` and `signedimp verify` on many files against `sha256sum`, in one run.

Makes a tree of N files (default 20,000, ~80 MB, sizes spread like a site-packages), then
alternates `sha256sum` over all of them, `signedimp sign` and `signedimp verify`, and reports
the median CPU-independent wall time of each and the ratios to `sha256sum` (which also uses one
core; signedimp hashes with two threads). The tree stays in the page cache: this measures
hashing and bookkeeping, not the disk.

    python benchmarks/bench_throughput.py [--files 20000] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_tree(root: Path, files: int) -> int:
    rng = random.Random(13)
    total = 0
    for i in range(files):
        folder = root / f"pkg{i % 200}" / f"sub{i % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        size = min(int(rng.lognormvariate(7.6, 1.1)), 400_000)  # median ~2 KB, mean ~4 KB
        (folder / f"mod{i}.py").write_bytes(rng.randbytes(size))
        total += size
    return total


def wall(cmd: list[str], **kw) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not shutil.which("sha256sum"):
        print("sha256sum not found: nothing to compare with", file=sys.stderr)
        return
    cli = [sys.executable, "-m", "signedimp"]
    with tempfile.TemporaryDirectory(prefix="signedimp-bench-") as tmp:
        base = Path(tmp)
        tree = base / "tree"
        total = make_tree(tree, args.files)
        key = base / "key.pem"
        subprocess.run([*cli, "keygen", "-o", str(key)], check=True, stdout=subprocess.DEVNULL)
        names = sorted(str(p.relative_to(tree)) for p in tree.rglob("*") if p.is_file())
        listing = base / "files.txt"
        listing.write_text("\0".join(names) + "\0")
        sha = f"xargs -0 sha256sum < {listing} > /dev/null"
        subprocess.run(
            [*cli, "sign", str(tree), "--key", str(key), "-q"], check=True, stdout=subprocess.DEVNULL
        )
        times: dict[str, list[float]] = {"sha256sum": [], "sign": [], "verify": []}
        for _ in range(args.runs):
            times["sha256sum"].append(wall(["sh", "-c", sha], cwd=tree))
            times["sign"].append(wall([*cli, "sign", str(tree), "--key", str(key), "-q"]))
            times["verify"].append(wall([*cli, "verify", str(tree), "--key", f"{key}.pub", "-q"]))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"{args.files} files, {total / 1e6:.0f} MB, medians of {args.runs} alternating runs, {os.cpu_count()} CPUs"
    )
    print("| command | median s | ratio to sha256sum |")
    print("| --- | ---: | ---: |")
    for name, value in med.items():
        print(f"| {name} | {value:.2f} | {value / med['sha256sum']:.2f}x |")


if __name__ == "__main__":
    main()
