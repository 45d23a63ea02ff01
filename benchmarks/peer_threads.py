"""How many CPUs each peer of the benchmark table keeps busy, with and without ``timing.one_cpu``.

The table's one-thread rows ask every peer for one thread (threadpoolctl, ``torch.set_num_threads(1)``,
``XLA_FLAGS`` with ``intra_op_parallelism_threads=1``), and time the rows where JAX takes part with
the timing thread and XLA's thread pools pinned to one CPU (``timing.one_cpu``). This script shows
why: for each workload it runs gdfast and each peer (the calls of ``peers.py``, checked against
gdfast first) some repeats free and some pinned, alternated, and prints the median wall time of a
call and the process's CPU time over its wall time (all threads: about 1.0 for one busy thread). A
peer above 1.0 free is using more than one CPU.

    python benchmarks/peer_threads.py [--workloads batch-512,minibatch-sweep-64] [--repeats 5]
                                      [--dtype float64]

Linux only (thread affinity); elsewhere it says so and stops. Writes no files.
"""
import argparse
import os
import resource
import sys
import time

import numpy as np
from timing import one_cpu  # first: puts the checkout's gdfast on sys.path

import peers as peer_module  # noqa: E402
from gdfast import bench  # noqa: E402


def cpu_seconds():
    """This process's user + system CPU time, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(run):
    """(wall seconds, CPU seconds / wall seconds) of one call of ``run``."""
    c, t = cpu_seconds(), time.perf_counter()
    run()
    wall = time.perf_counter() - t
    return wall, (cpu_seconds() - c) / wall


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="batch-512,minibatch-sweep-64")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    args = parser.parse_args(argv)
    with one_cpu() as can_pin:
        pass
    if not can_pin:
        print("thread affinity is not available here (Linux only): nothing to compare")
        return 0
    from threadpoolctl import threadpool_limits

    names = args.workloads.split(",")
    peer_set = peer_module.Peers(enabled=True)
    with threadpool_limits(limits=1):
        for w in bench.workloads(np.dtype(args.dtype).type, bench.FULL, threads=1):
            if w.name not in names:
                continue
            good, failed = peer_module.checked_calls(w, peer_set, peer_module.SLOW_PEER_N[False])
            calls = {"gdfast": (lambda w=w: w.fast(w.n))}
            calls.update({name: c.run for name, c in good.items()})
            for run in calls.values():
                run()  # (compiled, warm)
            seen = {(name, mode): [] for name in calls for mode in ("free", "pinned")}
            for _ in range(args.repeats):
                for mode in ("free", "pinned"):
                    for name, run in calls.items():
                        if mode == "pinned":
                            with one_cpu():
                                seen[name, mode].append(timed(run))
                        else:
                            seen[name, mode].append(timed(run))
            print(f"{w.name} {args.dtype}: median of {args.repeats} calls, free and pinned alternated "
                  f"(peers left out: {', '.join(failed) or 'none'})")
            for name in calls:
                cells = []
                for mode in ("free", "pinned"):
                    walls, ratios = zip(*seen[name, mode])
                    cells.append(f"{mode} {np.median(walls) * 1e3:9.2f} ms, CPU/wall {np.median(ratios):4.2f}")
                print(f"  {name:<14} " + "   ".join(cells))
    print(f"load average: {os.getloadavg()}" if hasattr(os, "getloadavg") else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
