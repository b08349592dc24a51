"""benchmarks/bench_zipapp.py writes only the tables it measured into its README section: a run
without ``--instructions`` used to rewrite the whole section, dropping the instruction table
and any analysis written there by hand."""

from __future__ import annotations

import importlib.util
import sys

from .helpers import PROJECT_ROOT

BENCH = PROJECT_ROOT / "benchmarks" / "bench_zipapp.py"


def load_bench():
    sys.path.insert(0, str(BENCH.parent))  # its own `from _timing import ...`
    try:
        spec = importlib.util.spec_from_file_location("bench_zipapp_under_test", BENCH)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCH.parent))
    return module


def test_a_run_replaces_its_tables_and_keeps_the_rest(tmp_path):
    bench = load_bench()
    readme = tmp_path / "README.md"
    times, instructions = bench.marker("times"), bench.marker("instructions")
    end_times, end_instructions = bench.marker("times", end=True), bench.marker("instructions", end=True)
    readme.write_text(
        "# Benchmarks\n\n## Before\n\nkept\n\n"
        f"{bench.SECTION}\n\nintro by hand\n\n{times}\nold times\n{end_times}\n\n"
        f"{instructions}\nold counts\n{end_instructions}\n\nanalysis by hand\n\n"
        "## After\n\nkept too\n",
        encoding="utf-8",
    )
    bench.update_readme({"times": "new times"}, readme)
    assert readme.read_text(encoding="utf-8") == (
        "# Benchmarks\n\n## Before\n\nkept\n\n"
        f"{bench.SECTION}\n\nintro by hand\n\n{times}\nnew times\n{end_times}\n\n"
        f"{instructions}\nold counts\n{end_instructions}\n\nanalysis by hand\n\n"
        "## After\n\nkept too\n"
    )
    bench.update_readme({"instructions": "new counts"}, readme)
    assert f"{instructions}\nnew counts\n{end_instructions}\n\nanalysis by hand" in readme.read_text(
        encoding="utf-8"
    )


def test_a_missing_block_or_section_is_added(tmp_path):
    bench = load_bench()
    readme = tmp_path / "README.md"
    readme.write_text(f"# Benchmarks\n\n{bench.SECTION}\n\nprose\n\n## Next\n\nx\n", encoding="utf-8")
    bench.update_readme({"times": "t"}, readme)
    times, end_times = bench.marker("times"), bench.marker("times", end=True)
    assert readme.read_text(encoding="utf-8") == (
        f"# Benchmarks\n\n{bench.SECTION}\n\nprose\n\n{times}\nt\n{end_times}\n\n## Next\n\nx\n"
    )
    other = tmp_path / "OTHER.md"
    other.write_text("# Benchmarks\n", encoding="utf-8")
    bench.update_readme({"times": "t"}, other)
    assert (
        other.read_text(encoding="utf-8") == f"# Benchmarks\n\n{bench.SECTION}\n\n{times}\nt\n{end_times}\n"
    )
