"""Peak memory of gdfast's training calls above their inputs (issue 10's memory figures).

Each measurement runs in a fresh subprocess (peak RSS, ``ru_maxrss``, is a high-water mark of the
whole process): the data is made first, then the peak is read before and after the call.

    python benchmarks/memory.py                 # the gdfast importable from here
    python benchmarks/memory.py --path DIR      # the gdfast of another checkout (built in place)
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

CASES = {
    # train's validation (the finite check) on a 10^5 x 500 float64 X (381 MiB): one update
    "train 1e5x500 f64, 1 update": """
X = rng.standard_normal((100_000, 500)); Y = rng.standard_normal((100_000, 1)); W = np.zeros((1, 500))
data = X.nbytes + Y.nbytes
before = peak()
gdfast.train(W, X, Y, num_iterations=1)
""",
    # a 1000-configuration sweep on 10,000 x 4 (shared/repro/r05)
    "sweep 1000 configs 1e4x4": """
X = rng.standard_normal((10_000, 4)); Y = rng.standard_normal((10_000, 4)); W = np.zeros((4, 4))
data = X.nbytes + Y.nbytes
before = peak()
gdfast.sweep(W, X, Y, learning_rates=np.logspace(-4, -1, 1000), num_iterations=10, record_every=10, seeds=[0])
""",
    # the loss histories of a long full-batch run with record_every=1
    "train lesson 2e6 updates": """
from gdfast.lesson import INPUT, TARGET, W1
data = 0
before = peak()
gdfast.train(W1, INPUT, TARGET, learning_rate=0.01, num_iterations=2_000_000)
""",
}

PROLOGUE = """
import resource, sys
sys.path.insert(0, {path!r})
import numpy as np, gdfast
def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
rng = np.random.default_rng(0)
"""
EPILOGUE = """
import json
print(json.dumps({"above_peak_MiB": (peak() - before) / 2**20, "data_MiB": data / 2**20,
                  "gdfast": gdfast.__file__}))
"""


def measure(path: str, code: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", PROLOGUE.format(path=path) + code + EPILOGUE],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", default="", help="directory to import gdfast from (default: as installed)")
    args = parser.parse_args()
    for name, code in CASES.items():
        m = measure(args.path, code)
        print(f"{name:32s} peak above the data: {m['above_peak_MiB']:8.1f} MiB  (data {m['data_MiB']:.1f} MiB)"
              f"  [{m['gdfast']}]")


if __name__ == "__main__":
    main()
