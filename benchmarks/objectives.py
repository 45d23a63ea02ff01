"""Adam on the 2-D Rosenbrock function, one thread: gdfast.descend's built-in Rosenbrock kernel, a Numba
``@cfunc`` gradient through ``scipy.LowLevelCallable``, and the Python-callable path, against a
hand-written Numba ``@njit`` Adam loop on the same function (the reference), timed interleaved.

    python benchmarks/objectives.py [--steps 1000000] [--python-steps 10000] [--repeats 7]

Needs numba (optional for gdfast: ``pip install numba``). Prints a markdown table: median seconds per
call and per update, the median and spread (min-max over the repeats) of each repeat's time ratio to the
njit loop, and the Python path's ratio to each compiled path (its time per update scaled to the full step
count). Each answer is checked before its time counts: the final x of the built-in and LowLevelCallable
paths against the njit loop's (same operations, rtol 1e-9 after 10^6 updates; the max difference is
printed), and the Python path against the built-in kernel run of the same step count (bit for bit).
Targets of issue 15: LowLevelCallable <= 1.5x the njit loop, built-in <= 1.0x, both >= 100x faster
than the Python path.
"""
from __future__ import annotations

import argparse
import os

import numpy as np
from timing import interleaved, load_average  # first: puts the checkout's gdfast on sys.path

import gdfast  # noqa: E402
from gdfast.functions import Rosenbrock  # noqa: E402

X0 = np.array([-1.2, 1.0])
LR = 1e-3
BETA1, BETA2, EPS = 0.9, 0.999, 1e-8


def numba_pieces():
    from numba import cfunc, njit, types
    from scipy import LowLevelCallable

    signature = types.intc(types.intp, types.CPointer(types.float64), types.CPointer(types.float64), types.voidptr)

    @cfunc(signature)
    def rosen_gradient(n, x, g, user_data):
        # the built-in kernel's operations (src/_objectives.pxd, 2-D)
        u = x[1] - x[0] * x[0]
        g[0] = -400.0 * x[0] * u - 2.0 * (1.0 - x[0])
        g[1] = 200.0 * u
        return 0

    @njit(cache=False)
    def njit_adam(x0, lr, beta1, beta2, eps, n_steps):
        # torch.optim.Adam (foreach=False), as gdfast's adam_step (src/_optimizers.pxd)
        x = x0.copy()
        m = np.zeros(2)
        v = np.zeros(2)
        g = np.empty(2)
        for t in range(1, n_steps + 1):
            u = x[1] - x[0] * x[0]
            g[0] = -400.0 * x[0] * u - 2.0 * (1.0 - x[0])
            g[1] = 200.0 * u
            step_size = lr / (1.0 - beta1 ** t)
            bias2_sqrt = np.sqrt(1.0 - beta2 ** t)
            for k in range(2):
                m[k] = beta1 * m[k] + (1.0 - beta1) * g[k]
                v[k] = beta2 * v[k] + (1.0 - beta2) * g[k] * g[k]
                x[k] = x[k] - step_size * m[k] / (np.sqrt(v[k]) / bias2_sqrt + eps)
        return x

    return LowLevelCallable(rosen_gradient.ctypes), njit_adam


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--python-steps", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    n, n_py = args.steps, args.python_steps
    low_level, njit_adam = numba_pieces()
    f = Rosenbrock()
    adam = gdfast.Adam(beta1=BETA1, beta2=BETA2, eps=EPS)
    kw = dict(learning_rate=LR, optimizer=adam, record_every=n)

    def python_gradient(x):  # a plain callable: the Python loop
        return f.gradient(x)

    calls = {
        "njit Adam loop (reference)": lambda: njit_adam(X0, LR, BETA1, BETA2, EPS, n),
        "built-in Rosenbrock": lambda: gdfast.descend(f.gradient, X0, num_iterations=n, **kw).x[-1],
        "Numba @cfunc via LowLevelCallable": lambda: gdfast.descend(low_level, X0, num_iterations=n, **kw).x[-1],
        "Python callable": lambda: gdfast.descend(python_gradient, X0, num_iterations=n_py,
                                                  **{**kw, "record_every": n_py}).x[-1],
    }
    # answers first
    ref = calls["njit Adam loop (reference)"]()
    for name in ("built-in Rosenbrock", "Numba @cfunc via LowLevelCallable"):
        got = calls[name]()
        print(f"{name}: final x {got.tolist()}, max |x - njit x| = {np.abs(got - ref).max():.3g}")
        np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)
    py = calls["Python callable"]()
    kernel_short = gdfast.descend(f.gradient, X0, num_iterations=n_py, **{**kw, "record_every": n_py}).x[-1]
    np.testing.assert_array_equal(py, kernel_short)

    times, _ = interleaved(calls, args.repeats)
    per_update = {k: t / (n_py if k == "Python callable" else n) for k, t in times.items()}
    ref_t = per_update["njit Adam loop (reference)"]
    print(f"\nAdam on 2-D Rosenbrock, {n:,} updates ({n_py:,} for the Python callable, scaled), one thread, "
          f"{args.repeats} interleaved repeats; load average {load_average()}; "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}\n")
    print("| path | median s/call | ns/update | ratio to njit: median (min-max) | Python path / this |")
    print("|---|---:|---:|---:|---:|")
    for name, t in per_update.items():
        ratio = t / ref_t
        vs_python = per_update["Python callable"] / t
        print(f"| {name} | {np.median(times[name]):.4f} | {np.median(t) * 1e9:,.1f} | "
              f"{np.median(ratio):.2f}x ({ratio.min():.2f}-{ratio.max():.2f}) | "
              f"{np.median(vs_python):,.0f}x ({vs_python.min():,.0f}-{vs_python.max():,.0f}) |")


if __name__ == "__main__":
    main()
