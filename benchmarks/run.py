"""Run gdfast's benchmark suite from a source checkout: ``python benchmarks/run.py [--quick]``.

Same as ``gdfast bench``; by default writes benchmarks/results/ and docs/benchmark.png.
The logic lives in ``gdfast/bench.py`` so the installed package can run it too.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from gdfast import bench  # noqa: E402

if __name__ == "__main__":
    argv = sys.argv[1:]
    if not any(a in ("--output", "-o") or a.startswith("--output=") for a in argv):
        argv += ["--output", os.path.join(HERE, "results")]
    if not any(a == "--chart" or a.startswith("--chart=") for a in argv):
        argv += ["--chart", os.path.join(ROOT, "docs", "benchmark.png")]
    sys.exit(bench.main(argv, prog="python benchmarks/run.py"))
