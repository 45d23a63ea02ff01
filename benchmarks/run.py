"""Run gdfast's benchmark suite from a source checkout: ``python benchmarks/run.py [--quick]``.

The workloads of ``gdfast bench`` (gdfast against its NumPy twin ``gdfast.reference``) plus, when
installed, Numba, JAX, PyTorch and scikit-learn (``peers.py``), all timed interleaved repeat by
repeat in one process (``timing.py``), each peer's answer checked against gdfast's before its time
counts; and the peak memory of a long run. The table, notes, JSON and chart come from ``report.py``.

By default the results go to a folder in the system's temporary directory, so a run never rewrites
tracked files; ``--update`` writes them to benchmarks/results/ and docs/benchmark.png and rewrites
the benchmark section of docs/user_guide/performance.md, for a commit.
"""
import argparse
import contextlib
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

from timing import ROOT, load_average, one_cpu  # first: puts the checkout's gdfast on sys.path

import peers as peer_module  # noqa: E402
import report  # noqa: E402
from gdfast import bench  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
MEMORY_N = {False: 10_000_000, True: 1_000_000}

_MEMORY_SCRIPT = """
import resource, sys, numpy as np, gdfast
from gdfast.lesson import W1, INPUT, TARGET
n = int(sys.argv[1])
r = gdfast.train(np.asarray(W1, dtype=sys.argv[2]), np.asarray(INPUT, dtype=sys.argv[2]),
                 np.asarray(TARGET, dtype=sys.argv[2]), learning_rate=0.01, num_iterations=n, record_every=1000)
assert r.n_iter == n
try:  # VmHWM: this process's peak RSS (getrusage can report the parent's peak across fork + exec)
    with open("/proc/self/status") as fh:
        print([int(l.split()[1]) for l in fh if l.startswith("VmHWM")][0])
except OSError:
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def bench_memory(dtype_name, long_n):
    """Peak RSS (KiB, VmHWM or getrusage) of a long run and of a 10^3-iteration run, each in a fresh process."""
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    out = {}
    for n in (long_n, 1000):
        res = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, str(n), dtype_name], capture_output=True,
                             text=True, env=env, check=True)
        out[n] = int(res.stdout.strip().splitlines()[-1])
    return {"workload": "memory", "dtype": dtype_name, "n_long": long_n, "rss_long_kib": out[long_n],
            "rss_short_kib": out[1000], "difference_kib": out[long_n] - out[1000]}


def measure(w, repeats, peer_set, slow_n):
    """One row: gdfast, the reference and the peers that agree with gdfast, timed interleaved."""
    good, failed = peer_module.checked_calls(w, peer_set, slow_n)
    # XLA runs its products on its own threads whatever its flags say: a row where JAX takes part is
    # timed with this thread and XLA's pools on one CPU (timing.one_cpu), gdfast and the other peers
    # included. (Pinning each JAX call alone made JAX's small calls about 12% slower than pinning
    # the row: its pool moved CPU at every call. gdfast's calls may run a few % slower pinned:
    # benchmarks/peer_threads.py.)
    with one_cpu() if "jax" in good else contextlib.nullcontext():
        row, ns = bench.time_workload(w, repeats, {name: (c.run, c.n) for name, c in good.items()})
    # the spread of gdfast's and the reference's repeats (the medians are time_workload's)
    for who in ("gdfast", "reference"):
        row[f"{who}_min_ns"], row[f"{who}_max_ns"] = float(ns[who].min()), float(ns[who].max())
    row["repeats"] = repeats
    for name, c in good.items():
        row["peers"][name] = peer_module.entry(ns[name], c.n, note=c.note, compile_s=c.compile_s,
                                               gdfast_ns=ns["gdfast"])
    row["peers"].update(failed)
    return row


def cpu_name():
    """The CPU's model name (Linux /proc/cpuinfo), else platform.processor() or the machine type."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_suite(quick=False, peers=True, dtypes=("float64", "float32"), threads=2, log=print):
    """Run every workload with its peers, and the memory rows; returns the results as a dict."""
    from threadpoolctl import threadpool_limits

    import gdfast
    from gdfast import _train

    cfg = bench.QUICK if quick else bench.FULL
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    peer_set = peer_module.Peers(enabled=peers)
    rows, memory = [], []
    with one_cpu() as pinned:  # (whether this platform can pin JAX's calls, see measure)
        pass
    t_start = time.perf_counter()
    with threadpool_limits(limits=1):
        for dn in dtypes:
            for w in bench.workloads(np.dtype(dn).type, cfg, threads):
                t = time.perf_counter()
                rows.append(measure(w, cfg["repeats"], peer_set, peer_module.SLOW_PEER_N[quick]))
                log(f"  {w.name:<20} {dn:<8} done in {time.perf_counter() - t:5.1f} s")
            memory.append(bench_memory(dn, MEMORY_N[quick]))
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "gdfast_version": gdfast.__version__, "quick": quick, "python": sys.version.split()[0],
        "numpy": np.__version__, "platform": platform.platform(), "cpu": cpu_name(), "cpu_count": os.cpu_count(),
        "openmp": bool(_train.have_openmp()), "jax_on_one_cpu": pinned,
        "loadavg_before": load_before, "loadavg": load,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "seconds": time.perf_counter() - t_start,
        "rows": rows, "memory": memory, "peer_notes": peer_set.notes, "check_tolerances": bench.CHECK_TOL,
    }


def build_parser():
    parser = argparse.ArgumentParser(prog="python benchmarks/run.py", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations and repeats (under a minute)")
    parser.add_argument("--output", "-o", default=None,
                        help="folder for benchmark.json, benchmark.md and benchmark.png (default: a folder "
                             "in the system's temporary directory; benchmarks/results with --update)")
    parser.add_argument("--chart", default=None, help="also write the bar chart to this path")
    parser.add_argument("--json", default=None, metavar="PATH",
                        help="also write the results (with the machine, date, load and command) to this JSON file, "
                             "e.g. examples/benchmark_results.json, which the gallery's benchmark example reads")
    parser.add_argument("--no-peers", action="store_true", help="skip Numba, JAX, PyTorch and scikit-learn")
    parser.add_argument("--dtype", choices=["float64", "float32", "both"], default="both",
                        help="dtype of the workloads (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="threads of the parallel sweep row (default: 2)")
    parser.add_argument("--from-json", default=None, metavar="JSON",
                        help="do not run anything: rebuild the table, chart and markdown section from a saved "
                             "benchmark.json")
    parser.add_argument("--readme", default=None,
                        help="rewrite the part of this markdown file between the lines '<!-- benchmark:start -->' "
                             "and '<!-- benchmark:end -->' with the new table")
    parser.add_argument("--update", action="store_true",
                        help="write benchmarks/results/, docs/benchmark.png and the benchmark section of "
                             "docs/user_guide/performance.md")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.output is None:
        args.output = (os.path.join(HERE, "results") if args.update
                       else os.path.join(tempfile.gettempdir(), "gdfast-benchmark"))
    if args.update:
        args.chart = args.chart or os.path.join(ROOT, "docs", "benchmark.png")
        args.readme = args.readme or os.path.join(ROOT, "docs", "user_guide", "performance.md")
    if args.from_json:
        with open(args.from_json) as fh:
            results = json.load(fh)
    else:
        print(f"gdfast benchmark suite ({'quick' if args.quick else 'full'}), load average {load_average()}")
        dtypes = ("float64", "float32") if args.dtype == "both" else (args.dtype,)
        results = run_suite(quick=args.quick, peers=not args.no_peers, dtypes=dtypes, threads=args.threads)
        results["command"] = " ".join(["python benchmarks/run.py"] + list(sys.argv[1:] if argv is None else argv))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
            fh.write("\n")
    report.write(results, args.output, chart=args.chart, readme=args.readme, json_in=args.from_json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
