"""A main-thread kernel beside a busy Python thread: Adam on the 2-D Rosenbrock function (10^6 updates
by default, ``gdfast.descend``'s built-in kernel) called from the main thread, alone and while another
Python thread computes (a pure-Python loop that holds the GIL whenever it runs), timed interleaved.

    python benchmarks/busy_thread.py [--steps 3000000] [--repeats 7]

A kernel in the main thread polls for Ctrl-C, and each poll takes the GIL; beside a busy thread that
waits for the GIL to be handed over (up to a switch interval, 5 ms). Prints the median seconds of each
case, the per-repeat ratio (busy / alone: median and min-max) and the seconds the kernel spent in its
polls (``_train.signal_poll_seconds``) in each case. Both answers are checked equal (bit for bit)
before the times count. Writes no files.
"""
from __future__ import annotations

import argparse
import threading

import numpy as np
from timing import interleaved, load_average  # first: puts the checkout's gdfast on sys.path

import gdfast  # noqa: E402
from gdfast import _train  # noqa: E402
from gdfast.functions import Rosenbrock  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3_000_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    f = Rosenbrock()
    polls = {"alone": 0.0, "beside a busy thread": 0.0}

    def descend():
        return gdfast.descend(f.gradient, [-1.5, 2.0], learning_rate=1e-3, num_iterations=args.steps,
                              optimizer="adam", record_every=args.steps).x[-1]

    def alone():
        before = _train.signal_poll_seconds()
        x = descend()
        polls["alone"] += _train.signal_poll_seconds() - before
        return x

    def beside_busy_thread():
        busy = [True]

        def spin():
            x = 0
            while busy[0]:
                x += 1

        spinner = threading.Thread(target=spin, daemon=True)
        spinner.start()
        try:
            before = _train.signal_poll_seconds()
            x = descend()
            polls["beside a busy thread"] += _train.signal_poll_seconds() - before
        finally:
            busy[0] = False
            spinner.join()
        return x

    calls = {"alone": alone, "beside a busy thread": beside_busy_thread}
    a, b = alone(), beside_busy_thread()
    if not np.array_equal(a, b):
        raise SystemExit(f"answers differ: {a} vs {b}")
    polls.update({name: 0.0 for name in polls})
    times, _ = interleaved(calls, args.repeats)
    ratios = np.asarray(times["beside a busy thread"]) / np.asarray(times["alone"])
    print(f"Adam on 2-D Rosenbrock, {args.steps:,} updates in the main thread, {args.repeats} interleaved "
          f"repeats; load average {load_average()}")
    for name, t in times.items():
        # (interleaved calls each function once untimed first: repeats + 1 calls in the poll sums)
        print(f"  {name:22s}: median {np.median(t):.3f} s; in polls {polls[name] / (args.repeats + 1):.4f} s a call")
    print(f"  busy / alone: median {np.median(ratios):.2f}x (min {ratios.min():.2f}x, max {ratios.max():.2f}x)")


if __name__ == "__main__":
    main()
