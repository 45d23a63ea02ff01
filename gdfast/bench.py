"""``gdfast bench``: how many times faster gdfast is than its NumPy twin, workload by workload.

Each workload runs gdfast and the pure-NumPy loop of :mod:`gdfast.reference` on the same problem.
gdfast's answer is first checked against the reference's (``np.allclose`` with the tolerances of
:data:`CHECK_TOL`); then both are timed in this process, interleaved repeat by repeat (gdfast,
NumPy, gdfast, NumPy, ...) so that both see the same disturbances of a shared machine, with BLAS
pinned to one thread (threadpoolctl). The printed ratio is NumPy time / gdfast time per iteration
(the median over the repeats of each repeat's ratio), with the smallest and largest repeat's ratio
as its spread. The NumPy loop is timed over fewer iterations than gdfast and scaled.

This is the model of bottleneck's ``bn.bench()``: small, and inside the package. Comparisons with
other libraries (Numba, JAX, PyTorch, scikit-learn), the JSON/markdown/chart reports and the
user guide's benchmark table are made by ``python benchmarks/run.py`` in a source checkout.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypedDict

import numpy as np
import numpy.typing as npt

__all__ = ["Workload", "interleaved", "workloads", "time_workload", "run_suite"]

# The benchmarks' arrays (float32 or float64) and their scalar types.
_FArray = npt.NDArray[np.floating[Any]]
_FType = type[np.floating[Any]]
# One row of results: a JSON-like dict (it is written as JSON by benchmarks/run.py), hence Any.
Row = dict[str, Any]

#: Agreement tolerances (rtol, atol relative to max(1, max |reference|)) of an answer against the
#: reference's. float64: the same arithmetic in another summation order agrees to ~1e-12 per step,
#: and after 10^4-10^6 iterations of a contracting map the difference stays far below 1e-7.
#: float32: gdfast accumulates in double and other code in float32, ~1e-7 relative per step; 2e-3
#: allows that drift and still catches a different computation (wrong lr, wrong loss scaling). The
#: ``accumulate="float32"`` rows sum in float32 as the other code does (in BLAS's order, not theirs).
CHECK_TOL: dict[str, tuple[float, float]] = {"float64": (1e-7, 1e-9), "float32": (2e-3, 1e-4)}
#: The tolerances of the Adam workloads. Adam divides by sqrt(v): once the gradients are tiny, float32
#: rounding moves each step by a good fraction of lr, so float32 Adam runs end up ~3e-4 apart after a
#: few hundred steps on adam-64 (the reference, torch and gdfast with float64 or float32 sums alike:
#: 7e-5 to 9e-4 measured after 300 steps); float32 allows 1e-3.
CHECK_TOL_ADAM: dict[str, tuple[float, float]] = {"float64": CHECK_TOL["float64"], "float32": (2e-3, 1e-3)}

LESSON_LR = 0.01
SWEEP_LRS = np.logspace(-4, -1, 64)
#: The mini-batch sweep: 64 learning rates (SWEEP_LRS) on 256 x 32 samples, one output, batches of
#: 32, shuffled every epoch from one seed (all 64 runs see the same batch order).
MBSWEEP_BATCH = 32
MBSWEEP_SEED = 7
#: The single-output full batch: 75,000 samples x 100 features.
SINGLE_SHAPE = (75_000, 100)
SINGLE_LR = 0.1
#: The float32 workloads timed a second time with ``accumulate="float32"`` (BLAS sums in float32,
#: as NumPy's float32 products): the full batches that option changes.
ACCUMULATE_FLOAT32_ROWS = ("batch-64", "batch-512", "adam-64", "single-75kx100")


class BenchSizes(TypedDict):
    """Iteration counts (gdfast's ``*_n``, the NumPy reference's ``*_n_ref``) and repeats of a run."""

    repeats: int
    seed_n: int
    seed_n_ref: int
    batch_n: dict[int, int]
    batch_n_ref: dict[int, int]
    persample_epochs: int
    sweep_n: int
    sweep_n_ref: int
    quad_n: int
    quad_n_ref: int
    lat_n: int
    lat_n_ref: int
    mbsweep_epochs: int
    mbsweep_epochs_ref: int
    single_n: int
    single_n_ref: int


FULL = BenchSizes(
    repeats=5, seed_n=1_000_000, seed_n_ref=20_000, batch_n={4: 100_000, 64: 2_000, 512: 30},
    batch_n_ref={4: 3_000, 64: 300, 512: 20}, persample_epochs=200, sweep_n=10_000, sweep_n_ref=200,
    quad_n=1_000_000, quad_n_ref=50_000, lat_n=200_000, lat_n_ref=20_000,
    mbsweep_epochs=100, mbsweep_epochs_ref=2, single_n=30, single_n_ref=5,
)
QUICK = BenchSizes(
    repeats=3, seed_n=200_000, seed_n_ref=2_000, batch_n={4: 5_000, 64: 100, 512: 3},
    batch_n_ref={4: 200, 64: 30, 512: 2}, persample_epochs=20, sweep_n=2_000, sweep_n_ref=10,
    quad_n=200_000, quad_n_ref=5_000, lat_n=20_000, lat_n_ref=2_000,
    mbsweep_epochs=10, mbsweep_epochs_ref=1, single_n=4, single_n_ref=2,
)


# --- timing ----------------------------------------------------------------------------------


def interleaved(funcs: Mapping[str, Callable[[], object]], repeats: int
                ) -> tuple[dict[str, npt.NDArray[np.float64]], dict[str, object]]:
    """Wall times of several calls, taken in turn repeat by repeat.

    Each function is called once untimed (warm-up), then ``repeats`` times, one call of each per
    repeat; the order rotates from one repeat to the next, so that no function always runs first.
    Calls of the same repeat see the same state of a shared machine, so the ratio of two functions'
    times in one repeat is steadier than the ratio of separately taken medians.

    Parameters
    ----------
    funcs : mapping of str to callable
        The functions to time, by name; each is called without arguments.
    repeats : int
        Timed calls of each function (>= 1).

    Returns
    -------
    times : dict of str to ndarray
        The ``repeats`` wall times (seconds, ``time.perf_counter``) of each function, in call order.
    last : dict of str to object
        What each function returned on its last call.

    Examples
    --------
    >>> from gdfast.bench import interleaved
    >>> times, last = interleaved({"sum": lambda: sum(range(100)), "len": lambda: len("abc")}, 3)
    >>> times["sum"].shape, last["sum"], last["len"]
    ((3,), 4950, 3)
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    names = list(funcs)
    last = {name: funcs[name]() for name in names}
    times: dict[str, list[float]] = {name: [] for name in names}
    for k in range(repeats):
        for name in names[k % len(names):] + names[:k % len(names)]:
            t = time.perf_counter()
            last[name] = funcs[name]()
            times[name].append(time.perf_counter() - t)
    return {name: np.array(t) for name, t in times.items()}, last


def _close(a: npt.ArrayLike, b: npt.ArrayLike, dtype_name: str,
           tol: Mapping[str, tuple[float, float]] | None = None) -> bool:
    """Same shape and ``np.allclose`` within ``tol[dtype_name]`` (atol scaled by max(1, max |b|))."""
    rtol, atol = (tol or CHECK_TOL)[dtype_name]
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    scale = max(1.0, float(np.max(np.abs(b)))) if b.size else 1.0
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol * scale))


# --- workloads -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """One benchmark: gdfast and the NumPy reference on the same problem.

    ``fast(k)`` and ``reference(k)`` run ``k`` iterations (epochs for ``persample-64``, calls for
    the latency rows) and return the answer (final weights, path or value); each of those counts
    ``unit`` iterations of the figure (64 runs of a sweep, 256 samples of an epoch). gdfast is timed
    over ``n`` and the reference over ``n_ref``; their answers are compared after ``n_check``, within
    ``check_tol`` (None: :data:`CHECK_TOL`). ``baseline``, when given, is gdfast on one thread, timed beside a parallel row. ``problem`` holds
    the arrays the workload starts from and ``options`` its settings (``learning_rate``, ...), for
    other code to run the same problem.

    Examples
    --------
    >>> import numpy as np
    >>> from gdfast.bench import QUICK, workloads
    >>> [w.name for w in workloads(np.float64, QUICK, threads=1)][:4]
    ['seed', 'batch-4', 'batch-64', 'batch-512']
    """

    name: str
    dtype: str
    fast: Callable[[int], Any]
    reference: Callable[[int], Any]
    n: int
    n_ref: int
    n_check: int
    unit: int = 1
    note: str = ""
    baseline: Callable[[int], Any] | None = None
    problem: tuple[Any, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    check_tol: Mapping[str, tuple[float, float]] | None = None

    def check(self, tol: Mapping[str, tuple[float, float]] | None = None) -> None:
        """Raise RuntimeError unless gdfast's answer after ``n_check`` agrees with the reference's
        (within ``tol``, else ``check_tol``, else :data:`CHECK_TOL`)."""
        if not _close(self.fast(self.n_check), self.reference(self.n_check), self.dtype, tol or self.check_tol):
            raise RuntimeError(f"gdfast and gdfast.reference disagree on {self.name} ({self.dtype}) after "
                               f"{self.n_check} iterations: a bug, not a benchmark result")


def _lesson_problem(dtype: _FType) -> tuple[_FArray, _FArray, _FArray]:
    from .lesson import INPUT, TARGET, W1

    return np.asarray(W1, dtype=dtype), np.asarray(INPUT, dtype=dtype), np.asarray(TARGET, dtype=dtype)


def _batch_problem(d: int, dtype: _FType, n_samples: int = 256,
                   n_outputs: int | None = None) -> tuple[_FArray, _FArray, _FArray]:
    """Seeded least-squares data: X (n_samples, d) standard normal, Y = X @ W_true.T, W0 = 0."""
    rng = np.random.default_rng(1234 + d)
    m = d if n_outputs is None else n_outputs
    X = rng.standard_normal((n_samples, d))
    W_true = rng.standard_normal((m, d)) / np.sqrt(d)
    Y = X @ W_true.T
    return np.zeros((m, d), dtype=dtype), X.astype(dtype), Y.astype(dtype)


def _train_pair(W: _FArray, X: _FArray, Y: _FArray, **options: Any
                ) -> tuple[Callable[[int], Any], Callable[[int], Any]]:
    """gdfast.train and reference.train for k iterations (final W only: record_every=k)."""
    import gdfast
    from gdfast import reference

    def fast(k: int) -> Any:
        return gdfast.train(W, X, Y, num_iterations=k, record_every=k, **options).W

    def ref(k: int) -> Any:
        return reference.train(W, X, Y, num_iterations=k, record_every=k, **options).W

    return fast, ref


def _repeat_call(func: Callable[[], Any]) -> Callable[[int], Any]:
    """``k`` calls of ``func`` in a Python loop; returns the last result."""
    def run(k: int) -> Any:
        out = None
        for _ in range(k):
            out = func()
        return out

    return run


def workloads(dtype: _FType, sizes: BenchSizes, threads: int = 2) -> list[Workload]:
    """Every workload of the suite for one dtype, in table order.

    ``threads > 1`` adds the row ``sweep-64 (<threads> threads)``, timed beside the one-thread sweep.
    float32 adds the workloads of ``ACCUMULATE_FLOAT32_ROWS`` again, trained with
    ``accumulate="float32"`` (``"<name> (accumulate=float32)"``, after ``single-75kx100``).

    Examples
    --------
    >>> import numpy as np
    >>> from gdfast.bench import QUICK, workloads
    >>> ws = workloads(np.float32, QUICK, threads=2)
    >>> w = ws[12]
    >>> w.name, w.dtype, w.unit
    ('sweep-64 (2 threads)', 'float32', 64)
    >>> ws[7].name, ws[7].options["accumulate"]
    ('batch-512 (accumulate=float32)', 'float32')
    """
    import gdfast
    from gdfast import reference

    dn = np.dtype(dtype).name
    out: list[Workload] = []
    W, x, y = _lesson_problem(dtype)
    fast, ref = _train_pair(W, x, y, learning_rate=LESSON_LR)
    out.append(Workload("seed", dn, fast, ref, sizes["seed_n"], sizes["seed_n_ref"], sizes["seed_n_ref"], problem=(W, x, y),
                        options={"learning_rate": LESSON_LR}))
    for d, opt in ((4, "sgd"), (64, "sgd"), (512, "sgd"), (64, "adam")):
        Wb, Xb, Yb = _batch_problem(d, dtype)
        options = {"learning_rate": 0.01 if opt == "adam" else 0.1, "optimizer": opt}
        fast, ref = _train_pair(Wb, Xb, Yb, **options)
        n_ref = sizes["batch_n_ref"][d]
        out.append(Workload(f"{'adam' if opt == 'adam' else 'batch'}-{d}", dn, fast, ref, sizes["batch_n"][d], n_ref,
                            n_ref, problem=(Wb, Xb, Yb), options=options,
                            check_tol=CHECK_TOL_ADAM if opt == "adam" else None))

    # One output, full batch, many samples: gdfast.train against the reference's same full-batch SGD.
    n_single, d_single = SINGLE_SHAPE
    Ws, Xs, Ys = _batch_problem(d_single, dtype, n_samples=n_single, n_outputs=1)
    fast, ref = _train_pair(Ws, Xs, Ys, learning_rate=SINGLE_LR)
    out.append(Workload(f"single-{n_single // 1000}kx{d_single}", dn, fast, ref, sizes["single_n"],
                        sizes["single_n_ref"], sizes["single_n_ref"],
                        note=f"{n_single:,} x {d_single}, 1 output, full batch, SGD", problem=(Ws, Xs, Ys),
                        options={"learning_rate": SINGLE_LR}))

    if dn == "float32":
        # The same problems, gdfast summing its full batches in float32 (sgemv/sgemm); the reference
        # (float32 NumPy whatever accumulate says) and the peers as in the rows above.
        for base in [w for w in out if w.name in ACCUMULATE_FLOAT32_ROWS]:
            in_float32: dict[str, Any] = {**base.options, "accumulate": "float32"}
            fast, ref = _train_pair(*base.problem, **in_float32)
            out.append(replace(base, name=f"{base.name} (accumulate=float32)", fast=fast, reference=ref,
                               options=in_float32, note=(base.note + "; " if base.note else "") + 'accumulate="float32"'))

    Wp, Xp, Yp = _batch_problem(64, dtype, n_outputs=1)
    n_samples = Xp.shape[0]
    per_sample: dict[str, Any] = dict(learning_rate=0.005, batch_size=1, shuffle=False)

    def persample_fast(k: int) -> Any:
        return gdfast.train(Wp, Xp, Yp, num_epochs=k, record_every=k * n_samples, **per_sample).W

    def persample_ref(k: int) -> Any:
        return reference.train(Wp, Xp, Yp, num_epochs=k, record_every=k * n_samples, **per_sample).W

    out.append(Workload("persample-64", dn, persample_fast, persample_ref, sizes["persample_epochs"], 1, 1,
                        unit=n_samples, note="256 x 64, 1 output, batch_size=1, no shuffle", problem=(Wp, Xp, Yp),
                        options=per_sample))

    def sweep(n_threads: int) -> Callable[[int], Any]:
        def run(k: int) -> Any:
            return gdfast.sweep(W, x, y, learning_rates=SWEEP_LRS, num_iterations=k, record_every=k,
                                n_threads=n_threads).W
        return run

    def sweep_ref(k: int) -> Any:
        # The reference: one NumPy loop per learning rate.
        return np.stack([reference.train(W, x, y, learning_rate=lr, num_iterations=k, record_every=k).W
                         for lr in SWEEP_LRS])

    for n_threads in (1, threads) if threads > 1 else (1,):
        out.append(Workload("sweep-64" if n_threads == 1 else f"sweep-64 ({n_threads} threads)", dn, sweep(n_threads),
                            sweep_ref, sizes["sweep_n"], sizes["sweep_n_ref"], sizes["sweep_n_ref"], unit=len(SWEEP_LRS),
                            note=f"ns per iteration of one config; n_threads={n_threads}",
                            baseline=sweep(1) if n_threads > 1 else None, problem=(W, x, y),
                            options={"learning_rates": SWEEP_LRS, "n_threads": n_threads}))

    # The mini-batch sweep: ns per mini-batch step of one configuration (64 runs x 8 steps an epoch).
    Wm, Xm, Ym = _batch_problem(32, dtype, n_outputs=1)
    mb_options: dict[str, Any] = dict(batch_size=MBSWEEP_BATCH, shuffle=True, loss_tol=0.0)
    steps_per_epoch = -(-Xm.shape[0] // MBSWEEP_BATCH)

    def mbsweep(k: int) -> Any:
        return gdfast.sweep(Wm, Xm, Ym, learning_rates=SWEEP_LRS, seeds=[MBSWEEP_SEED], num_epochs=k,
                            record_every=k * steps_per_epoch, n_threads=1, **mb_options).W

    def mbsweep_ref(k: int) -> Any:
        return np.stack([reference.train(Wm, Xm, Ym, learning_rate=lr, seed=MBSWEEP_SEED, num_epochs=k,
                                         record_every=k * steps_per_epoch, **mb_options).W for lr in SWEEP_LRS])

    out.append(Workload("minibatch-sweep-64", dn, mbsweep, mbsweep_ref, sizes["mbsweep_epochs"],
                        sizes["mbsweep_epochs_ref"], sizes["mbsweep_epochs_ref"], unit=len(SWEEP_LRS) * steps_per_epoch,
                        note=f"256 x 32, 1 output, batch {MBSWEEP_BATCH}, shuffled (seed {MBSWEEP_SEED}); ns per "
                             "mini-batch step of one config; n_threads=1",
                        problem=(Wm, Xm, Ym),
                        options=dict(mb_options, learning_rates=SWEEP_LRS, seed=MBSWEEP_SEED,
                                     steps_per_epoch=steps_per_epoch)))

    f = gdfast.Quadratic(1.0, 4.0, 4.0)
    x0 = np.array([10.0], dtype=dtype)

    def quad_fast(k: int) -> Any:
        return gdfast.descend(f.gradient, x0, learning_rate=0.1, num_iterations=k).x

    def quad_ref(k: int) -> Any:
        return reference.descend(f.gradient, x0, learning_rate=0.1, num_iterations=k).x

    out.append(Workload("quad1d", dn, quad_fast, quad_ref, sizes["quad_n"], sizes["quad_n_ref"], sizes["quad_n_ref"],
                        note="descend() stores the whole path (n+1 points)", problem=(x0,),
                        options={"learning_rate": 0.1}))

    # Latency: one call on the lesson's 4x4 arrays against its NumPy one-liner (in a Python loop).
    p = W @ x
    G = np.outer(p - y, x) * (2 / y.size)
    lr = 0.01
    cases: list[tuple[str, Callable[[], Any], Callable[[], Any], str]] = [
        ("predict", lambda: gdfast.predict(W, x), lambda: W @ x, "W @ x"),
        ("mse", lambda: gdfast.mse(p, y), lambda: float(np.mean((p - y) ** 2)), "float(np.mean((p - y) ** 2))"),
        ("mse_gradient", lambda: gdfast.mse_gradient(W, x, y),
         lambda: (2 / y.size) * np.outer(W @ x - y, x), "2 / y.size * np.outer(W @ x - y, x)"),
        ("update", lambda: gdfast.update(W, G, lr), lambda: W - lr * G, "W - lr * G"),
    ]
    for name, fast_call, ref_call, expr in cases:
        out.append(Workload(f"latency {name}", dn, _repeat_call(fast_call), _repeat_call(ref_call), sizes["lat_n"],
                            sizes["lat_n_ref"], 1, note=f"ns per call vs `{expr}`"))
    return out


def time_workload(w: Workload, repeats: int, others: Mapping[str, tuple[Callable[[], object], int]] | None = None
                  ) -> tuple[Row, dict[str, npt.NDArray[np.float64]]]:
    """Check ``w``, then time gdfast, the reference and ``others`` interleaved; one row of results.

    Parameters
    ----------
    w : Workload
        The workload; :meth:`Workload.check` runs first (a disagreement raises RuntimeError).
    repeats : int
        Timed calls of each function.
    others : mapping of str to (callable, int), optional
        More calls to time in the same repeats (peers): each with the iterations one call does.

    Returns
    -------
    row : dict
        ``workload``, ``dtype``, ``gdfast_ns`` and ``reference_ns`` (median ns per iteration),
        ``ratio`` (median over repeats of reference / gdfast time per iteration), ``ratio_min`` and
        ``ratio_max`` (its spread), ``n_gdfast``, ``n_reference``, ``note``, ``peers`` (empty) and,
        for a parallel row, ``speedup_vs_1_thread``.
    ns : dict of str to ndarray
        ns per iteration of every timed function in each repeat (``gdfast``, ``reference``, ...).

    Examples
    --------
    >>> import numpy as np
    >>> from gdfast.bench import QUICK, time_workload, workloads
    >>> sizes = dict(QUICK, quad_n=1000, quad_n_ref=100)
    >>> quad = next(w for w in workloads(np.float64, sizes) if w.name == "quad1d")
    >>> row, ns = time_workload(quad, repeats=2)
    >>> row["workload"], row["ratio_min"] <= row["ratio"] <= row["ratio_max"], ns["gdfast"].shape
    ('quad1d', True, (2,))
    """
    w.check()
    calls: dict[str, tuple[Callable[[], object], int]] = {
        "gdfast": (lambda: w.fast(w.n), w.n * w.unit),
        "reference": (lambda: w.reference(w.n_ref), w.n_ref * w.unit),
    }
    baseline = w.baseline
    if baseline is not None:
        calls["baseline"] = (lambda: baseline(w.n), w.n * w.unit)
    calls.update(others or {})
    times, _ = interleaved({name: func for name, (func, _) in calls.items()}, repeats)
    ns = {name: times[name] / calls[name][1] * 1e9 for name in calls}
    ratios = ns["reference"] / ns["gdfast"]
    row: Row = {"workload": w.name, "dtype": w.dtype, "gdfast_ns": float(np.median(ns["gdfast"])),
                "reference_ns": float(np.median(ns["reference"])), "ratio": float(np.median(ratios)),
                "ratio_min": float(ratios.min()), "ratio_max": float(ratios.max()), "n_gdfast": w.n * w.unit,
                "n_reference": w.n_ref * w.unit, "peers": {}, "note": w.note}
    if baseline is not None:
        row["speedup_vs_1_thread"] = float(np.median(ns["baseline"] / ns["gdfast"]))
    return row, ns


def run_suite(quick: bool = False, dtypes: Sequence[str] = ("float64", "float32"), threads: int = 2,
              log: Callable[[Row], object] | None = None) -> list[Row]:
    """Check and time every workload (BLAS pinned to one thread); returns the rows.

    ``log`` is called with each row as soon as it is measured.

    Examples
    --------
    >>> from gdfast.bench import run_suite
    >>> rows = run_suite(quick=True, dtypes=["float64"])  # doctest: +SKIP
    >>> rows[0]["workload"], rows[0]["ratio"] > 1  # doctest: +SKIP
    ('seed', True)
    """
    from threadpoolctl import threadpool_limits

    sizes = QUICK if quick else FULL
    rows = []
    with threadpool_limits(limits=1):
        for dn in dtypes:
            for w in workloads(np.dtype(dn).type, sizes, threads):
                row, _ = time_workload(w, sizes["repeats"])
                rows.append(row)
                if log is not None:
                    log(row)
    return rows


# --- the command line ------------------------------------------------------------------------


def format_ns(ns: float | None) -> str:
    """A time in ns, with the unit that keeps 3-4 significant digits (``'23.3 ns'``, ``'1.70 ms'``)."""
    if ns is None:
        return "–"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e4:
        return f"{ns / 1e3:.1f} µs"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.1f} ns"


def _print_row(row: Row) -> None:
    spread = f"{row['ratio_min']:.3g}-{row['ratio_max']:.3g}"
    print(f"{row['workload']:<35} {row['dtype']:<8} {format_ns(row['gdfast_ns']):>10} "
          f"{format_ns(row['reference_ns']):>10} {row['ratio']:>8.1f}x  ({spread})", flush=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``gdfast bench``."""
    parser.add_argument("--quick", action="store_true", help="fewer iterations and repeats (under a minute)")
    parser.add_argument("--dtype", choices=["float64", "float32", "both"], default="both",
                        help="dtype of the workloads (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2,
                        help="threads of the parallel sweep row; 1 leaves it out (default: %(default)s)")


def run_from_args(args: argparse.Namespace) -> int:
    """Run ``gdfast bench`` with parsed arguments; prints one line per workload."""
    from ._version import __version__

    dtypes = ("float64", "float32") if args.dtype == "both" else (args.dtype,)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    sizes = QUICK if args.quick else FULL
    print(f"gdfast {__version__} bench ({'quick' if args.quick else 'full'}): NumPy reference time / gdfast "
          f"time per iteration, {sizes['repeats']} interleaved repeats, BLAS on 1 thread; load average {load}")
    print(f"{'workload':<35} {'dtype':<8} {'gdfast':>10} {'NumPy':>10} {'ratio':>9}  (spread over repeats)")
    t = time.perf_counter()
    run_suite(quick=args.quick, dtypes=dtypes, threads=args.threads, log=_print_row)
    print(f"every answer checked against gdfast.reference first; {time.perf_counter() - t:.0f} s. Peers "
          "(Numba, JAX, PyTorch, scikit-learn) and reports: python benchmarks/run.py in a source checkout.")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add the ``bench`` subcommand to the ``gdfast`` command line."""
    p = subparsers.add_parser("bench", help="time gdfast against its NumPy twin, workload by workload",
                              description="Check and time gdfast against its pure-NumPy twin gdfast.reference "
                                          "(interleaved repeats, one process) and print NumPy time / gdfast "
                                          "time for each workload.")
    add_arguments(p)
    p.set_defaults(func=run_from_args)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m gdfast.bench [--quick]``: the same as ``gdfast bench``."""
    parser = argparse.ArgumentParser(prog="python -m gdfast.bench", description=(__doc__ or "").splitlines()[0])
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
