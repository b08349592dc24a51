"""Loading one root manifest: read, signature check and strict parse, as the runtime does it.

Generates signed root manifests of 3,500 and 20,000 lines (site-packages-like paths, one
Ed25519 key from a fixed seed) and times ``ManifestRoot(DirectoryEntry(folder), ring)`` up to
its first lookup (``expected_digest``): the runtime's own code path at the first import from a
sealed folder. Each run is a fresh ``python -I`` child; its imports are done before the clock
starts, so "fresh" is the first load in a new interpreter (the Ed25519 key table built, caches
cold) and "warm" the median of further loads in the same child, split into the signature check
(``key.verify`` over the signed bytes) and the strict parse (``Manifest.parse``). CPU time of
the child (``time.process_time``), medians over the runs, so other load matters less.

    python benchmarks/bench_manifest.py [--runs 11] [--compare OLD_TREE] [--instructions]

``--compare`` runs the same children against another checkout of the project (for instance
``git archive main | tar -x -C /tmp/old``), alternating with this one, for before/after rows.
``--instructions`` adds a table of instructions executed (valgrind's callgrind, one warm
call each): slow, but independent of the machine's load, so before/after stay comparable on a
busy machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZES = (3500, 20000)
PACKAGES = ("rich", "pygments/lexers", "pip/_internal/commands", "pip/_vendor/rich", "markdown_it", "mdurl")

CHILD = """
import sys, time, statistics, json
sys.path.insert(0, {tree!r})
from signedimp.entries import DirectoryEntry
from signedimp.keys import key_ring, load_public_key
from signedimp.manifest import Manifest
from signedimp.roots import ManifestRoot

key = load_public_key({pem!r})
ring = key_ring([key])

def load():
    root = ManifestRoot(DirectoryEntry({folder!r}), ring)
    assert root.expected_digest({probe!r}) == {digest!r}

clock = time.process_time
start = clock()
load()
fresh = clock() - start

def median(fn, runs={warm}):
    times = []
    for _ in range(runs):
        start = clock()
        fn()
        times.append(clock() - start)
    return statistics.median(times)

with open({manifest!r}, "rb") as fh:
    data = fh.read()
manifest = Manifest.parse(data)
signed = manifest.signed_bytes()
signature = manifest.signatures[0].signature
print(json.dumps({{
    "fresh": fresh,
    "warm": median(load),
    "verify": median(lambda: key.verify(signed, signature)),
    "parse": median(lambda: Manifest.parse(data)),
}}))
"""


# One warm call of each measured step inside functools.reduce, the only code callgrind counts.
CHILD_INSTRUCTIONS = """
import functools, sys
sys.path.insert(0, {tree!r})
from signedimp.entries import DirectoryEntry
from signedimp.keys import key_ring, load_public_key
from signedimp.manifest import Manifest
from signedimp.roots import ManifestRoot

key = load_public_key({pem!r})
ring = key_ring([key])
with open({manifest!r}, "rb") as fh:
    data = fh.read()
manifest = Manifest.parse(data)
signed = manifest.signed_bytes()
signature = manifest.signatures[0].signature
steps = {{
    "load": lambda: ManifestRoot(DirectoryEntry({folder!r}), ring).expected_digest({probe!r}),
    "verify": lambda: key.verify(signed, signature),
    "parse": lambda: Manifest.parse(data),
}}
step = steps[sys.argv[1]]
step()
functools.reduce(lambda _, __: step(), range(1), None)
"""


def manifest_paths(count: int) -> dict[str, str]:
    """``count`` distinct site-packages-like paths (sources and their bytecode) -> SHA-256."""
    hashes: dict[str, str] = {}
    number = 0
    while len(hashes) < count:
        package = PACKAGES[number % len(PACKAGES)]
        folder = f"{package}/sub_{number % 41}"
        if number % 3:
            path = f"{folder}/module_{number}.py"
        else:
            path = f"{folder}/__pycache__/module_{number - 1}.cpython-312.pyc"
        hashes[path] = hashlib.sha256(path.encode()).hexdigest()
        number += 1
    return hashes


def make_root(folder: Path, count: int, key) -> tuple[str, str]:
    """A folder whose root manifest lists ``count`` files; returns a (path, digest) to look up."""
    from signedimp.manifest import MANIFEST_NAME, Manifest, Signature

    hashes = manifest_paths(count)
    manifest = Manifest(hashes)
    signed = manifest.with_signature(Signature(key.fingerprint, key.sign(manifest.signed_bytes())))
    folder.mkdir()
    (folder / MANIFEST_NAME).write_bytes(signed.serialise())
    probe = sorted(hashes)[len(hashes) // 2]
    return probe, hashes[probe]


def run_child(tree: str, folder: Path, probe: str, digest: str, pem: str, warm: int) -> dict:
    code = CHILD.format(
        tree=tree,
        pem=pem,
        folder=str(folder),
        manifest=str(folder / "signedimp-manifest.txt"),
        probe=probe,
        digest=digest,
        warm=warm,
    )
    out = subprocess.run([sys.executable, "-I", "-c", code], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def count_instructions(tree: str, folder: Path, probe: str, pem: str, step: str) -> int:
    """Instructions callgrind counts for one warm ``step`` (load, verify or parse)."""
    code = CHILD_INSTRUCTIONS.format(
        tree=tree, pem=pem, folder=str(folder), manifest=str(folder / "signedimp-manifest.txt"), probe=probe
    )
    with tempfile.TemporaryDirectory(prefix="bench-manifest-cg-") as tmp:
        out = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--toggle-collect=functools_reduce",
                f"--callgrind-out-file={tmp}/out",
                sys.executable,
                "-I",
                "-c",
                code,
                step,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    for line in out.stderr.splitlines():
        if "Collected :" in line:
            return int(line.split(":")[-1])
    raise RuntimeError(f"no instruction count from callgrind:\n{out.stderr}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11, help="fresh children per case (default 11)")
    parser.add_argument("--warm", type=int, default=15, help="warm loads per child (default 15)")
    parser.add_argument("--compare", metavar="OLD_TREE", help="another checkout to time in the same run")
    parser.add_argument(
        "--instructions", action="store_true", help="also count instructions with valgrind (callgrind)"
    )
    args = parser.parse_args()
    if args.instructions and shutil.which("valgrind") is None:
        parser.error("--instructions needs valgrind on PATH")

    from signedimp.tools._signing_keys import PrivateKey

    key = PrivateKey.from_ed25519_seed(bytes(range(32)))
    pem = key.public_pem().decode("ascii")
    trees = [("this tree", str(ROOT))]
    if args.compare:
        trees.insert(0, ("compared", str(Path(args.compare).resolve())))
    rows = []
    counted = []
    with tempfile.TemporaryDirectory(prefix="bench-manifest-") as tmp:
        for count in SIZES:
            folder = Path(tmp) / f"root{count}"
            probe, digest = make_root(folder, count, key)
            if args.instructions:
                for name, tree in trees:
                    ir = {
                        step: count_instructions(tree, folder, probe, pem, step)
                        for step in ("load", "verify", "parse")
                    }
                    counted.append((count, name, ir))
            results: dict[str, list[dict]] = {name: [] for name, _ in trees}
            for _ in range(args.runs):  # alternate the trees, so load changes hit both alike
                for name, tree in trees:
                    results[name].append(run_child(tree, folder, probe, digest, pem, args.warm))
            for name, _ in trees:
                med = {
                    field: statistics.median(r[field] for r in results[name]) * 1e3
                    for field in results[name][0]
                }
                rows.append((count, name, med))

    print(f"Python {platform.python_version()} on {platform.machine()}, {args.runs} fresh children per case,")
    print(f"{args.warm} warm loads each; CPU ms, medians\n")
    print(
        "| manifest lines | tree | first load (fresh) | warm load | of which: signature check | strict parse |"
    )
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    for count, name, med in rows:
        print(
            f"| {count:,} | {name} | {med['fresh']:.2f} | {med['warm']:.2f} | {med['verify']:.2f} | {med['parse']:.2f} |"
        )

    if counted:
        print("\nInstructions executed, millions (callgrind, one warm call each)\n")
        print("| manifest lines | tree | load | of which: signature check | strict parse |")
        print("| ---: | --- | ---: | ---: | ---: |")
        for count, name, ir in counted:
            print(
                f"| {count:,} | {name} | {ir['load'] / 1e6:.1f} | {ir['verify'] / 1e6:.1f} | {ir['parse'] / 1e6:.1f} |"
            )


if __name__ == "__main__":
    main()
