"""The BLAS floor of a full-batch step: the two matrix products of one SGD update alone, with the
BLAS gdfast calls (SciPy's OpenBLAS, ``scipy.linalg.blas``) and with the peers' own (torch's
``matmul``, JAX's ``dot``), next to gdfast's whole update.

    python benchmarks/blas_floor.py [--repeats 15] [--dtype float64|float32]

A step of ``train`` on a full batch X (n x d) with W (m x d) computes R = X W^T (minus Y) and the
gradient R^T X: two products of 2 n d m multiply-adds each. When a peer's two products alone take
less time than the BLAS gdfast calls, that gap is in the BLAS libraries, not in gdfast's loop. All
calls on one thread (threadpoolctl, torch.set_num_threads(1), XLA single-threaded, and on Linux the
timing thread and XLA's thread pools pinned to one CPU, ``timing.one_cpu``), interleaved repeat by repeat; each product's
answer is checked against NumPy's before its time counts.
"""
import argparse
import os

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import numpy as np  # noqa: E402
from timing import interleaved, one_cpu  # noqa: E402  (puts the checkout's gdfast first on sys.path)

import gdfast  # noqa: E402

SHAPES = {"batch-64": (256, 64, 64), "batch-512": (256, 512, 512)}  # n samples, d features, m outputs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    args = parser.parse_args(argv)
    dtype = np.dtype(args.dtype)
    from scipy.linalg import blas
    from threadpoolctl import threadpool_limits

    gemm = blas.dgemm if dtype == np.float64 else blas.sgemm
    limits = threadpool_limits(limits=1)
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        torch = None
    try:
        import jax
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
    except ImportError:
        jax = None
    tol = 1e-10 if dtype == np.float64 else 1e-3
    options = {} if dtype == np.float64 else {"accumulate": "float32"}
    try:
        for name, (n, d, m) in SHAPES.items():
            rng = np.random.default_rng(0)
            X = rng.normal(size=(n, d)).astype(dtype)
            W = (rng.normal(size=(m, d)) * 0.1).astype(dtype)
            Y = rng.normal(size=(n, m)).astype(dtype)
            R = X @ W.T - Y
            want = (X @ W.T, R.T @ X)
            # (Fortran-ordered views of the C arrays, as gdfast's calls read them: no copies. X.T is X
            # seen as a d x n Fortran array; P.T = W @ X.T and G.T = X.T @ R come out Fortran-ordered,
            # so their .T are P and G as C arrays)
            Xf, Wf, Rf = X.T, W.T, R.T
            calls = {
                "scipy BLAS (gdfast's)": lambda: (gemm(1.0, Wf, Xf, trans_a=True).T, gemm(1.0, Xf, Rf, trans_b=True).T),
                "NumPy @": lambda: (X @ W.T, R.T @ X),
            }
            if torch is not None:
                tX, tW, tR = (torch.from_numpy(a) for a in (X, W, R))
                calls["torch matmul"] = lambda: (torch.matmul(tX, tW.T).numpy(), torch.matmul(tR.T, tX).numpy())
            if jax is not None:
                jX, jW, jR = (jnp.asarray(a) for a in (X, W, R))
                two = jax.jit(lambda a, b, r: (a @ b.T, r.T @ a))
                calls["JAX dot"] = lambda: tuple(np.asarray(p) for p in two(jX, jW, jR))
            ok = {k: all(np.allclose(a, b, rtol=tol, atol=tol * np.abs(b).max()) for a, b in zip(f(), want))
                  for k, f in calls.items()}
            calls["gdfast.train, one whole step"] = lambda: gdfast.train(W, X, Y, learning_rate=1e-3,
                                                                          num_iterations=50, record_every=50, **options)
            with one_cpu() as pinned:  # (XLA's flags alone left JAX a second core)
                times, _ = interleaved(calls, args.repeats)
            step = np.asarray(times.pop("gdfast.train, one whole step")) / 50
            print(f"{name} {dtype.name} (n={n}, d={d}, m={m}); min and median over {args.repeats} repeats"
                  + ("; this thread and XLA's pools pinned to one CPU" if pinned else ""))
            print(f"  {'gdfast.train, one whole step':32s} min {step.min() * 1e6:9.1f} us  "
                  f"median {np.median(step) * 1e6:9.1f} us  (50-step call / 50, validation included)")
            for k, t in times.items():
                t = np.asarray(t)
                print(f"  {k:32s} min {t.min() * 1e6:9.1f} us  median {np.median(t) * 1e6:9.1f} us  "
                      f"step / products {np.median(step / t):5.2f}  answer {'ok' if ok[k] else 'WRONG'}")
    finally:
        limits.restore_original_limits()
    print(f"load average now: {os.getloadavg()}")


if __name__ == "__main__":
    main()
