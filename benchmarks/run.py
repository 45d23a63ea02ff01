"""Run gdfast's benchmark suite from a source checkout: ``python benchmarks/run.py [--quick]``.

Same as ``gdfast bench``. By default the results (JSON, markdown, chart) go to a folder in the
system's temporary directory, so a run never rewrites tracked files; ``--update`` writes them to
benchmarks/results/ and docs/benchmark.png and rewrites the README's benchmark section, for a commit.
The logic lives in ``gdfast/bench.py`` so the installed package can run it too.
"""
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from gdfast import bench  # noqa: E402

if __name__ == "__main__":
    argv = sys.argv[1:]
    update = "--update" in argv
    argv = [a for a in argv if a != "--update"]
    if not any(a in ("--output", "-o") or a.startswith("--output=") for a in argv):
        argv += ["--output", os.path.join(HERE, "results") if update
                 else os.path.join(tempfile.gettempdir(), "gdfast-benchmark")]
    if update:
        argv += ["--chart", os.path.join(ROOT, "docs", "benchmark.png"), "--readme", os.path.join(ROOT, "README.md")]
    sys.exit(bench.main(argv, prog="python benchmarks/run.py"))
