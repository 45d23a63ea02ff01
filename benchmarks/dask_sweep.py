"""Time a large gdfast.sweep locally (OpenMP threads) and on a local Dask cluster (worker processes).

The problem is the lesson's linear layer (W1 of shape 4x4, one sample): learning rates x seeds
(4096 runs by default) of 10**4 full-batch SGD updates each. Every timed call does the whole job:
local, one ``advance_runs`` kernel call; on the cluster, scatter the data, one kernel call per chunk
on the workers, gather the results. The cluster is started (and warmed up) before the timing, and
its start-up time is reported apart. The NumPy reference (gdfast.reference.train, one run at a
time) is timed on a few runs in the same process and scaled to the sweep's size, for the ratio.

Run from the repository root (with the extension built in place)::

    PYTHONPATH=. python benchmarks/dask_sweep.py            # 4096 runs
    PYTHONPATH=. python benchmarks/dask_sweep.py --quick    # 256 runs, a smoke test

The machine's load (``os.getloadavg``) is printed before and after: on a shared machine, numbers
taken under load are slower than the machine can do.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
from timing import best  # first: puts the checkout's gdfast on sys.path

import gdfast  # noqa: E402
from gdfast import reference  # noqa: E402
from gdfast.lesson import INPUT, TARGET, W1  # noqa: E402


def same_to_the_bit(a, b):
    return all(
        np.array_equal(ra.W, rb.W) and np.array_equal(ra.losses, rb.losses, equal_nan=True)
        and ra.loss == rb.loss and ra.n_iter == rb.n_iter and ra.status == rb.status
        for ra, rb in zip(a.results, b.results)
    ) and len(a) == len(b)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-lr", type=int, default=256, help="learning rates (log-spaced)")
    parser.add_argument("--n-seeds", type=int, default=16, help="seeds per learning rate")
    parser.add_argument("--iterations", type=int, default=10**4)
    parser.add_argument("--record-every", type=int, default=100,
                        help="loss history stride (1 would keep 4096 x 10**4 floats = 328 MB)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reference-runs", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="256 runs, 1 repeat")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_lr, args.n_seeds, args.repeat, args.reference_runs = 16, 16, 1, 1

    from dask.distributed import Client, LocalCluster

    # Learning rates below 2/15 (the lesson problem's stability limit): every run does all updates.
    lrs = np.logspace(-4, -1, args.n_lr)
    seeds = list(range(args.n_seeds))
    common = dict(learning_rates=lrs, seeds=seeds, num_iterations=args.iterations,
                  record_every=args.record_every)
    n_runs = args.n_lr * args.n_seeds
    print(f"gdfast {gdfast.__version__} from {os.path.dirname(gdfast.__file__)}")
    print(f"sweep: {n_runs} runs = {args.n_lr} learning rates x {args.n_seeds} seeds, "
          f"{args.iterations} updates each, lesson W1 (4x4), record_every={args.record_every}; "
          f"best of {args.repeat}")
    print("load average before: %.2f %.2f %.2f" % os.getloadavg(), f"(cpu_count={os.cpu_count()})")

    rows = []
    t0 = time.perf_counter()
    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=":0", scheduler_kwargs={"dashboard": False})
    client = Client(cluster)
    gdfast.sweep(W1, INPUT, TARGET, learning_rates=[0.01], num_iterations=1, client=client)  # warm-up
    t_start = time.perf_counter() - t0
    try:
        # All four timed in turn, repeat by repeat (best of --repeat; one untimed warm-up call each).
        t, last = best({
            "reference": lambda: [reference.train(W1, INPUT, TARGET, learning_rate=lr, num_iterations=args.iterations,
                                                  seed=0, record_every=args.record_every)
                                  for lr in lrs[: args.reference_runs]],
            "local1": lambda: gdfast.sweep(W1, INPUT, TARGET, n_threads=1, **common),
            "local2": lambda: gdfast.sweep(W1, INPUT, TARGET, n_threads=2, **common),
            "dask": lambda: gdfast.sweep(W1, INPUT, TARGET, client=client, **common),
        }, args.repeat)
        n_tasks = min(n_runs, 4 * sum(client.nthreads().values()))
    finally:
        client.close()
        cluster.close()
    local, local2, dist, t_dask = last["local1"], last["local2"], last["dask"], t["dask"]
    t_ref = t["reference"] / args.reference_runs * n_runs
    rows.append(("NumPy reference (scaled from %d runs)" % args.reference_runs, t_ref))
    rows.append(("local sweep, n_threads=1", t["local1"]))
    rows.append(("local sweep, n_threads=2", t["local2"]))
    rows.append((f"Dask LocalCluster, {args.workers} workers x 1 thread ({n_tasks} tasks)", t_dask))
    print("load average after:  %.2f %.2f %.2f" % os.getloadavg())

    print(f"\n| {'how':<52} | {'time (s)':>9} | {'runs/s':>8} | {'vs NumPy':>8} |")
    print(f"|{'-' * 54}|{'-' * 10}:|{'-' * 9}:|{'-' * 9}:|")
    for name, t in rows:
        print(f"| {name:<52} | {t:9.3f} | {n_runs / t:8.0f} | {t_ref / t:7.0f}x |")
    print(f"\ncluster start-up + warm-up (not in the times above): {t_start:.2f} s")
    epoch_mb = sum(r.epoch_losses.nbytes for r in local.results) / 1e6
    total_mb = sum(r.epoch_losses.nbytes + r.losses.nbytes + r.W.nbytes + sum(
        a.nbytes for a in (r.state.params, r.state.opt_state, r.state.perm, r.state.counters, r.state.scalars))
        for r in local.results) / 1e6
    print(f"result arrays gathered from the workers: {total_mb:.0f} MB, of which epoch_losses {epoch_mb:.0f} MB")
    print("local n_threads=2 == n_threads=1 to the bit:", same_to_the_bit(local2, local))
    print("Dask result == local result to the bit:", same_to_the_bit(dist, local))


if __name__ == "__main__":
    main()
