"""ns per step of every optimizer on the 64x64 problem with 256 samples (full batch), gdfast vs the
NumPy reference, in one process (interleaved repeats), BLAS pinned to one thread.

    python benchmarks/optimizers_64.py [--steps 2000] [--ref-steps 200] [--repeats 5]

Prints a markdown table; each row's final weights are checked against the reference run of the same
number of steps before the time is shown.
"""
from __future__ import annotations

import argparse

import numpy as np
from threadpoolctl import threadpool_limits
from timing import median  # first: puts the checkout's gdfast on sys.path

import gdfast  # noqa: E402
from gdfast import reference  # noqa: E402

OPTIMIZERS = {
    "SGD": (gdfast.SGD(), 0.5),
    "SGD momentum 0.9 nesterov": (gdfast.SGD(momentum=0.9, nesterov=True), 0.1),
    "Adam": (gdfast.Adam(), 0.01),
    "AdamW": (gdfast.AdamW(), 0.01),
    "RMSprop": (gdfast.RMSprop(), 0.001),
    "Adagrad": (gdfast.Adagrad(), 0.1),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--ref-steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((256, 64))
    Y = X @ rng.standard_normal((64, 64)).T + 0.1 * rng.standard_normal((256, 64))
    W0 = np.zeros((64, 64))
    print("| optimizer (64x64 W, 256 samples, full batch, float64) | gdfast ns/step | reference ns/step | ratio |")
    print("|---|---:|---:|---:|")
    with threadpool_limits(limits=1):
        for name, (opt, lr) in OPTIMIZERS.items():
            fast = gdfast.train(W0, X, Y, optimizer=opt, learning_rate=lr, num_iterations=args.ref_steps)
            slow = reference.train(W0, X, Y, optimizer=opt, learning_rate=lr, num_iterations=args.ref_steps)
            np.testing.assert_allclose(fast.W, slow.W, rtol=1e-9, atol=1e-12)
            t, _ = median({
                "fast": lambda: gdfast.train(W0, X, Y, optimizer=opt, learning_rate=lr, num_iterations=args.steps,
                                             record_every=100),
                "ref": lambda: reference.train(W0, X, Y, optimizer=opt, learning_rate=lr,
                                               num_iterations=args.ref_steps, record_every=100),
            }, args.repeats)
            t_fast, t_ref = t["fast"] / args.steps, t["ref"] / args.ref_steps
            print(f"| {name} | {t_fast * 1e9:,.0f} | {t_ref * 1e9:,.0f} | {t_ref / t_fast:.2f}x |")


if __name__ == "__main__":
    main()
