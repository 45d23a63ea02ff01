"""gdfast's benchmark suite: ns per iteration against the NumPy reference and optional peers.

Run it as ``gdfast bench [--quick] [--output DIR]`` or ``python benchmarks/run.py``. Every figure is
the median of several repeats, measured in this process next to the ``gdfast.reference`` NumPy loop,
with BLAS pinned to one thread (threadpoolctl) for single-thread figures. Slow loops (the NumPy
reference, PyTorch, scikit-learn) are timed over fewer iterations than gdfast and scaled to
ns/iteration; the table says how many iterations each figure was timed over.

Peers (Numba, JAX, PyTorch, scikit-learn) are measured only when installed. Before a peer's time is
reported, its final weights are compared with gdfast's after the same number of iterations
(``np.allclose`` with the tolerances of :data:`CHECK_TOL`); a peer that disagrees is reported as
``mismatch`` and gets no time.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TypedDict

import numpy as np
import numpy.typing as npt

# The benchmarks' arrays (float32 or float64) and their scalar types.
_FArray = npt.NDArray[np.floating[Any]]
_FType = type[np.floating[Any]]
# One row of results, the whole results and a peer (an optional third-party module): JSON-like
# dicts and untyped modules, hence Any.
Row = dict[str, Any]
Results = dict[str, Any]

# Peer agreement tolerances (rtol, atol relative to max |W|). float64 peers compute the same
# arithmetic in a different summation order, so they agree to ~1e-12 per step; after 10^4-10^6
# iterations of a contracting map the differences stay far below 1e-7. float32 peers compute in
# float32 while gdfast accumulates in double, so each step differs by ~1e-7 relative: 2e-3 is loose
# enough for that drift and still catches a different computation (wrong lr, wrong loss scaling).
CHECK_TOL: dict[str, tuple[float, float]] = {"float64": (1e-7, 1e-9), "float32": (2e-3, 1e-4)}
# Adam divides by sqrt(v): once the gradients are tiny, float32 rounding moves each step by a good
# fraction of lr, so float32 Adam runs (gdfast's own float32 and float64 runs included) end up
# ~3e-4 apart after a few hundred steps on adam-64; its float32 check allows 1e-3.
CHECK_TOL_ADAM: dict[str, tuple[float, float]] = {"float64": CHECK_TOL["float64"], "float32": (2e-3, 1e-3)}

LESSON_LR = 0.01
SWEEP_LRS = np.logspace(-4, -1, 64)


# --- timing helpers --------------------------------------------------------------------------


def _median_time(func: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``func()`` over ``repeats`` calls (after one warm-up call)."""
    func()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        func()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def _latency_ns(func: Callable[[], object], repeats: int, min_time: float = 0.05) -> float:
    """Median ns per call of ``func`` (each repeat loops until ``min_time`` seconds have passed)."""
    func()
    n = 1
    while True:
        t = time.perf_counter()
        for _ in range(n):
            func()
        dt = time.perf_counter() - t
        if dt >= min_time / 4:
            break
        n *= 4
    loops = max(1, int(n * (min_time / max(dt, 1e-9))))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(loops):
            func()
        times.append((time.perf_counter() - t) / loops)
    return float(np.median(times)) * 1e9


def _close(a: npt.ArrayLike, b: npt.ArrayLike, dtype_name: str,
           tol: dict[str, tuple[float, float]] | None = None) -> bool:
    rtol, atol = (tol or CHECK_TOL)[dtype_name]
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    scale = max(1.0, float(np.max(np.abs(b))))
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol * scale))


# --- problems --------------------------------------------------------------------------------


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


# --- peers -----------------------------------------------------------------------------------


class Peers:
    """Lazily imported optional peers; ``notes`` says why one is missing."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.notes: dict[str, str] = {}
        self._mods: dict[str, Any] = {}
        self._cache: dict[str, tuple[Any, Any, Any]] = {}  # numba dispatchers

    def get(self, name: str) -> Any:
        if not self.enabled:
            self.notes[name] = "peers disabled (--no-peers)"
            return None
        if name in self._mods:
            return self._mods[name]
        mod: Any = None
        try:
            if name == "numba":
                mod = importlib.import_module("numba")
            elif name == "jax":
                os.environ.setdefault(
                    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
                )
                mod = importlib.import_module("jax")
                mod.config.update("jax_enable_x64", True)
            elif name == "torch":
                mod = importlib.import_module("torch")

                mod.set_num_threads(1)
            elif name == "sklearn":
                mod = importlib.import_module("sklearn.linear_model")
        except Exception as exc:  # noqa: BLE001 - any import failure means "not installed here"
            self.notes[name] = f"not installed ({type(exc).__name__}: {exc})"[:120]
            mod = None
        self._mods[name] = mod
        return mod

    # Numba: one fused loop (loss, gradient, update) per problem kind, compiled once per dtype.
    def numba_funcs(self) -> tuple[Any, Any, Any] | None:
        if "numba" in self._cache:
            return self._cache["numba"]
        numba = self.get("numba")
        if numba is None:
            return None
        njit: Callable[..., Callable[[Callable[..., Any]], Callable[..., Any]]] = numba.njit

        @njit(cache=False)
        def linear(W0: _FArray, X: _FArray, Y: _FArray, lr: float, n_steps: int, adam: bool) -> _FArray:
            W: _FArray = W0.copy()
            n, d = X.shape
            m = W.shape[0]
            scale = 2.0 / (m * n)
            R = np.empty((n, m), dtype=X.dtype)
            G = np.empty((m, d), dtype=np.float64)
            M = np.zeros((m, d), dtype=np.float64)
            V = np.zeros((m, d), dtype=np.float64)
            for t in range(n_steps):
                loss = 0.0
                for i in range(n):
                    for j in range(m):
                        s = 0.0
                        for k in range(d):
                            s += X[i, k] * W[j, k]
                        R[i, j] = s - Y[i, j]
                        loss += R[i, j] * R[i, j]
                if not np.isfinite(loss):
                    break
                for j in range(m):
                    for k in range(d):
                        g = 0.0
                        for i in range(n):
                            g += R[i, j] * X[i, k]
                        G[j, k] = g * scale
                if adam:
                    c1 = lr / (1.0 - 0.9 ** (t + 1))
                    c2 = np.sqrt(1.0 - 0.999 ** (t + 1))
                    for j in range(m):
                        for k in range(d):
                            g = G[j, k]
                            M[j, k] = 0.9 * M[j, k] + 0.1 * g
                            V[j, k] = 0.999 * V[j, k] + 0.001 * g * g
                            W[j, k] = W[j, k] - c1 * M[j, k] / (np.sqrt(V[j, k]) / c2 + 1e-8)
                else:
                    for j in range(m):
                        for k in range(d):
                            W[j, k] = W[j, k] - lr * G[j, k]
            return W

        @njit(cache=False)
        def seed(W0: _FArray, x: _FArray, y: _FArray, lr: float, n_steps: int) -> _FArray:
            # The same work as gdfast.train: the loss at every step (train keeps it for the history
            # and stops on a non-finite one), the gradient and the update.
            W: _FArray = W0.copy()
            m, d = W.shape
            scale = 2.0 / m
            r = np.empty(m, dtype=np.float64)
            for t in range(n_steps):
                loss = 0.0
                for j in range(m):
                    s = 0.0
                    for k in range(d):
                        s += W[j, k] * x[k]
                    e = s - y[j]
                    loss += e * e
                    r[j] = e * scale
                if not np.isfinite(loss):
                    break
                for j in range(m):
                    for k in range(d):
                        W[j, k] = W[j, k] - lr * (r[j] * x[k])
            return W

        @njit(cache=False)
        def quad(x0: np.floating[Any], lr: np.floating[Any], n_steps: int) -> np.floating[Any]:
            x = x0
            for t in range(n_steps):
                x = x - lr * (2.0 * x + 4.0)
            return x

        self._cache["numba"] = (linear, seed, quad)
        return self._cache["numba"]


# --- workloads -------------------------------------------------------------------------------
# Each workload returns one row: gdfast and reference ns/iteration, plus peers.


def _row(name: str, dtype_name: str, fast_ns: float, ref_ns: float, n_fast: int, n_ref: int,
         note: str = "") -> Row:
    return {"workload": name, "dtype": dtype_name, "gdfast_ns": fast_ns, "reference_ns": ref_ns,
            "ratio": ref_ns / fast_ns, "n_gdfast": n_fast, "n_reference": n_ref, "peers": {}, "note": note}


def _peer(row: Row, name: str, ns: float | None = None, n: int | None = None, ok: bool = True, note: str = "",
          compile_s: float | None = None) -> None:
    entry: dict[str, Any] = {"ns": ns if ok else None, "n": n, "ok": ok, "note": note}
    if compile_s is not None:
        entry["compile_s"] = compile_s
    row["peers"][name] = entry


def _time_peer(row: Row, name: str, func: Callable[[], npt.ArrayLike], n: int, reference_W: npt.ArrayLike,
               dtype_name: str, repeats: int, compile_s: float | None = None, note: str = "",
               tol: dict[str, tuple[float, float]] | None = None) -> None:
    """Run ``func()`` once for the agreement check, then time it; records the peer in ``row``."""
    try:
        W = func()
    except Exception as exc:  # noqa: BLE001 - a peer failing is reported, not fatal
        _peer(row, name, ok=False, note=f"error: {type(exc).__name__}: {exc}"[:120])
        return
    if not _close(W, reference_W, dtype_name, tol):
        _peer(row, name, ok=False, note="mismatch: final weights differ from gdfast's")
        return
    t = _median_time(func, repeats)
    _peer(row, name, ns=t / n * 1e9, n=n, note=note, compile_s=compile_s)


def bench_seed(dtype: _FType, cfg: BenchConfig, peers: Peers) -> Row:
    import gdfast
    from gdfast import reference

    W, x, y = _lesson_problem(dtype)
    dn = np.dtype(dtype).name
    n, n_ref, n_peer = cfg["seed_n"], cfg["seed_n_ref"], cfg["slow_peer_n"]

    def fast(k: int) -> _FArray:
        return gdfast.train(W, x, y, learning_rate=LESSON_LR, num_iterations=k, record_every=k).W

    t_fast = _median_time(lambda: fast(n), cfg["repeats"])
    ref_W = reference.train(W, x, y, learning_rate=LESSON_LR, num_iterations=n_ref, record_every=n_ref).W
    assert _close(fast(n_ref), ref_W, dn), "gdfast and gdfast.reference disagree on the seed problem"
    t_ref = _median_time(
        lambda: reference.train(W, x, y, learning_rate=LESSON_LR, num_iterations=n_ref, record_every=n_ref),
        cfg["ref_repeats"])
    row = _row("seed", dn, t_fast / n * 1e9, t_ref / n_ref * 1e9, n, n_ref)
    W_n = fast(n)
    W_slow = fast(n_peer)

    nb = peers.numba_funcs()
    if nb is not None:
        _, seed_nb, _ = nb
        c = time.perf_counter()
        seed_nb(W, x, y, LESSON_LR, 1)
        comp = time.perf_counter() - c
        _time_peer(row, "numba", lambda: seed_nb(W, x, y, LESSON_LR, n), n, W_n, dn, cfg["repeats"], comp)
    jax = peers.get("jax")
    if jax is not None:
        _jax_linear(row, jax, W, x.reshape(1, -1), y.reshape(1, -1), LESSON_LR, n, n_peer, W_slow, dn, cfg,
                    adam=False)
    torch = peers.get("torch")
    if torch is not None:
        _torch_linear(row, torch, W, x.reshape(1, -1), y.reshape(1, -1), LESSON_LR, n_peer, W_slow, dn, cfg,
                      adam=False)
    return row


def _jax_linear(row: Row, jax: Any, W: _FArray, X: _FArray, Y: _FArray, lr: float, n: int, n_check: int,
                W_check: _FArray, dn: str, cfg: BenchConfig, adam: bool,
                tol: dict[str, tuple[float, float]] | None = None) -> None:
    """JAX jit + lax.fori_loop: checked against gdfast after n_check iterations, timed over n."""
    jnp = jax.numpy
    Xj, Yj = jnp.asarray(X), jnp.asarray(Y)
    m, d = W.shape
    scale = 2.0 / (m * X.shape[0])

    def grad(Wc: Any) -> Any:
        R = Xj @ Wc.T - Yj
        return scale * (R.T @ Xj)

    def make(n_iter: int) -> Any:
        if adam:
            def body(t: Any, carry: Any, /) -> Any:
                Wc, M, V = carry
                g = grad(Wc)
                M = 0.9 * M + 0.1 * g
                V = 0.999 * V + 0.001 * g * g
                tt = (t + 1).astype(Wc.dtype)
                step = lr / (1.0 - 0.9 ** tt)
                return Wc - step * M / (jnp.sqrt(V) / jnp.sqrt(1.0 - 0.999 ** tt) + 1e-8), M, V

            def run(W0: Any) -> Any:
                z = jnp.zeros_like(W0)
                return jax.lax.fori_loop(0, n_iter, body, (W0, z, z))[0]
        else:
            def body(t: Any, Wc: Any, /) -> Any:
                return Wc - lr * grad(Wc)

            def run(W0: Any) -> Any:
                return jax.lax.fori_loop(0, n_iter, body, W0)

        return jax.jit(run).lower(jnp.asarray(W)).compile()

    W0 = jnp.asarray(W)
    try:
        checked = make(n_check)
        ok = _close(np.asarray(checked(W0).block_until_ready()), W_check, dn, tol)
    except Exception as exc:  # noqa: BLE001 - a peer failing is reported, not fatal
        _peer(row, "jax", ok=False, note=f"error: {type(exc).__name__}: {exc}"[:120])
        return
    if not ok:
        _peer(row, "jax", ok=False, note=f"mismatch: final weights differ from gdfast's after {n_check} iterations")
        return
    c = time.perf_counter()
    compiled = make(n)
    comp = time.perf_counter() - c
    t = _median_time(lambda: compiled(W0).block_until_ready(), cfg["repeats"])
    _peer(row, "jax", ns=t / n * 1e9, n=n, compile_s=comp, note=f"checked after {n_check} iterations")


def _torch_linear(row: Row, torch: Any, W: _FArray, X: _FArray, Y: _FArray, lr: float, n: int, W_n: _FArray,
                  dn: str, cfg: BenchConfig, adam: bool, tol: dict[str, tuple[float, float]] | None = None) -> None:
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    m, d = W.shape
    scale = 2.0 / (m * X.shape[0])

    def optim() -> Any:  # a torch tensor's numpy view
        Wt = torch.from_numpy(W.copy()).requires_grad_(True)
        opt = torch.optim.Adam([Wt], lr=lr) if adam else torch.optim.SGD([Wt], lr=lr)
        for _ in range(n):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(Xt @ Wt.T, Yt)
            loss.backward()
            opt.step()
        return Wt.detach().numpy()

    def manual() -> Any:
        Wt = torch.from_numpy(W.copy())
        Mt = torch.zeros_like(Wt)
        Vt = torch.zeros_like(Wt)
        with torch.no_grad():
            for t in range(n):
                G = (Xt @ Wt.T - Yt).T @ Xt
                G.mul_(scale)
                if adam:
                    Mt.mul_(0.9).add_(G, alpha=0.1)
                    Vt.mul_(0.999).addcmul_(G, G, value=0.001)
                    step = lr / (1 - 0.9 ** (t + 1))
                    denom = Vt.sqrt().div_((1 - 0.999 ** (t + 1)) ** 0.5).add_(1e-8)
                    Wt.addcdiv_(Mt, denom, value=-step)
                else:
                    Wt.sub_(G, alpha=lr)
        return Wt.numpy()

    reps = cfg["ref_repeats"]
    _time_peer(row, "torch_optim", optim, n, W_n, dn, reps, note="autograd + torch.optim", tol=tol)
    _time_peer(row, "torch_manual", manual, n, W_n, dn, reps, note="no_grad, in-place", tol=tol)


def bench_batch(d: int, dtype: _FType, cfg: BenchConfig, peers: Peers, adam: bool = False) -> Row:
    import gdfast
    from gdfast import reference

    W, X, Y = _batch_problem(d, dtype)
    dn = np.dtype(dtype).name
    n, n_ref = cfg["batch_n"][d], cfg["batch_n_ref"][d]
    lr = 0.01 if adam else 0.1
    opt = "adam" if adam else "sgd"

    def fast(k: int) -> _FArray:
        return gdfast.train(W, X, Y, learning_rate=lr, optimizer=opt, num_iterations=k, record_every=k).W

    def ref(k: int) -> _FArray:
        return reference.train(W, X, Y, learning_rate=lr, optimizer=opt, num_iterations=k, record_every=k).W

    t_fast = _median_time(lambda: fast(n), cfg["repeats"])
    assert _close(fast(n_ref), ref(n_ref), dn), f"gdfast and gdfast.reference disagree on batch-{d}"
    t_ref = _median_time(lambda: ref(n_ref), cfg["ref_repeats"])
    row = _row(f"adam-{d}" if adam else f"batch-{d}", dn, t_fast / n * 1e9, t_ref / n_ref * 1e9, n, n_ref)
    n_peer = min(n, n_ref)
    W_peer = fast(n_peer)

    tol = CHECK_TOL_ADAM if adam else CHECK_TOL
    nb = peers.numba_funcs()
    if nb is not None:
        lin = nb[0]
        c = time.perf_counter()
        lin(W, X, Y, lr, 1, adam)
        comp = time.perf_counter() - c
        # the plain loops are slow on large d: about 2e8 multiply-adds in all
        n_nb = max(2, min(n_peer, int(1e8 / (X.shape[0] * d * d))))
        W_nb = fast(n_nb)
        _time_peer(row, "numba", lambda: lin(W, X, Y, lr, n_nb, adam), n_nb, W_nb, dn, cfg["repeats"], comp,
                   tol=tol)
    jax = peers.get("jax")
    if jax is not None:
        _jax_linear(row, jax, W, X, Y, lr, n, n_peer, W_peer, dn, cfg, adam=adam, tol=tol)
    torch = peers.get("torch")
    if torch is not None:
        _torch_linear(row, torch, W, X, Y, lr, n_peer, W_peer, dn, cfg, adam=adam, tol=tol)
    return row


def bench_persample(dtype: _FType, cfg: BenchConfig, peers: Peers) -> Row:
    """Per-sample SGD (batch_size=1, no shuffle): the work scikit-learn's SGDRegressor does."""
    import gdfast
    from gdfast import reference

    W, X, Y = _batch_problem(64, dtype, n_outputs=1)
    dn = np.dtype(dtype).name
    lr = 0.005
    epochs, epochs_ref = cfg["persample_epochs"], 1
    n, n_ref = epochs * X.shape[0], epochs_ref * X.shape[0]
    opts: dict[str, Any] = dict(learning_rate=lr, batch_size=1, shuffle=False)

    t_fast = _median_time(lambda: gdfast.train(W, X, Y, num_epochs=epochs, record_every=n, **opts), cfg["repeats"])
    W_ref = reference.train(W, X, Y, num_epochs=epochs_ref, record_every=n_ref, **opts).W
    assert _close(gdfast.train(W, X, Y, num_epochs=epochs_ref, **opts).W, W_ref, dn)
    t_ref = _median_time(lambda: reference.train(W, X, Y, num_epochs=epochs_ref, record_every=n_ref, **opts),
                         cfg["ref_repeats"])
    row = _row("persample-64", dn, t_fast / n * 1e9, t_ref / n_ref * 1e9, n, n_ref,
               note="256 x 64, 1 output, batch_size=1, no shuffle")
    W_n = gdfast.train(W, X, Y, num_epochs=epochs, record_every=n, **opts).W
    sk = peers.get("sklearn")
    if sk is not None:
        from sklearn.exceptions import ConvergenceWarning

        def run() -> Any:  # scikit-learn's coef_
            # squared_error's gradient is (p - y) x, gdfast's MSE gives 2 (p - y) x: eta0 = 2 lr.
            reg = sk.SGDRegressor(loss="squared_error", penalty=None, learning_rate="constant", eta0=2 * lr,
                                  fit_intercept=False, shuffle=False, max_iter=epochs, tol=None, average=False)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                reg.fit(X, Y[:, 0], coef_init=W[0].astype(np.float64))
            return reg.coef_.reshape(1, -1)

        _time_peer(row, "sklearn", run, n, W_n, dn, cfg["repeats"],
                   note="SGDRegressor: per-sample SGD, computes in float64")
    return row


def bench_sweep(dtype: _FType, cfg: BenchConfig, peers: Peers, n_threads: int = 1) -> Row:
    import gdfast
    from gdfast import reference

    W, x, y = _lesson_problem(dtype)
    dn = np.dtype(dtype).name
    n, n_ref = cfg["sweep_n"], cfg["sweep_n_ref"]
    lrs = SWEEP_LRS
    total = n * len(lrs)

    def fast(k: int, threads: int) -> gdfast.SweepResult:
        return gdfast.sweep(W, x, y, learning_rates=lrs, num_iterations=k, record_every=k, n_threads=threads)

    speedup = None
    if n_threads == 1:
        t_fast = _median_time(lambda: fast(n, n_threads), cfg["repeats"])
    else:
        # 1 and n_threads alternated, so both see the same disturbances of a shared machine.
        fast(n, 1)
        fast(n, n_threads)
        pairs = []
        for _ in range(3 * cfg["repeats"]):
            t = time.perf_counter()
            fast(n, 1)
            t1 = time.perf_counter() - t
            t = time.perf_counter()
            fast(n, n_threads)
            pairs.append((t1, time.perf_counter() - t))
        pair_times = np.array(pairs)
        t_fast = float(np.median(pair_times[:, 1]))
        speedup = float(np.median(pair_times[:, 0]) / t_fast)
    # The reference: one NumPy loop per learning rate, timed over n_ref iterations each.
    t_ref = _median_time(
        lambda: [reference.train(W, x, y, learning_rate=lr, num_iterations=n_ref, record_every=n_ref) for lr in lrs],
        cfg["ref_repeats"])
    ref_W = np.stack([reference.train(W, x, y, learning_rate=lr, num_iterations=n_ref).W for lr in lrs])
    assert _close(fast(n_ref, n_threads).W, ref_W, dn)
    name = "sweep-64" if n_threads == 1 else f"sweep-64 ({n_threads} threads)"
    row = _row(name, dn, t_fast / total * 1e9, t_ref / (n_ref * len(lrs)) * 1e9, total, n_ref * len(lrs),
               note=f"ns per iteration of one config; n_threads={n_threads}")
    if n_threads != 1:
        row["speedup_vs_1_thread"] = speedup
        return row
    W_n = fast(n, 1).W
    jax = peers.get("jax")
    if jax is not None:
        jnp = jax.numpy
        xj, yj = jnp.asarray(x), jnp.asarray(y)

        def one(lr: Any, W0: Any) -> Any:
            def body(t: Any, Wc: Any) -> Any:
                r = (Wc @ xj - yj) * (2.0 / W.shape[0])
                return Wc - lr * jnp.outer(r, xj)
            return jax.lax.fori_loop(0, n, body, W0)

        run = jax.vmap(one, in_axes=(0, None))
        c = time.perf_counter()
        lr_j = jnp.asarray(lrs.astype(dtype))
        compiled = jax.jit(run).lower(lr_j, jnp.asarray(W)).compile()
        comp = time.perf_counter() - c
        _time_peer(row, "jax", lambda: np.asarray(compiled(lr_j, jnp.asarray(W)).block_until_ready()), total,
                   W_n, dn, cfg["repeats"], comp, note="vmap over learning rates")
    nb = peers.numba_funcs()
    if nb is not None:
        seed_nb = nb[1]
        _time_peer(row, "numba", lambda: np.stack([seed_nb(W, x, y, lr, n) for lr in lrs]), total, W_n, dn,
                   cfg["repeats"], note="a Python loop over the 64 learning rates")
    return row


def bench_quad1d(dtype: _FType, cfg: BenchConfig, peers: Peers) -> Row:
    import gdfast
    from gdfast import reference

    dn = np.dtype(dtype).name
    n, n_ref = cfg["quad_n"], cfg["quad_n_ref"]
    f = gdfast.Quadratic(1.0, 4.0, 4.0)
    x0 = np.array([10.0], dtype=dtype)
    t_fast = _median_time(lambda: gdfast.descend(f.gradient, x0, learning_rate=0.1, num_iterations=n),
                          cfg["repeats"])
    ref_path = reference.descend(f.gradient, x0, learning_rate=0.1, num_iterations=n_ref)
    fast_path = gdfast.descend(f.gradient, x0, learning_rate=0.1, num_iterations=n_ref)
    assert _close(fast_path.x, ref_path.x, dn)
    t_ref = _median_time(lambda: reference.descend(f.gradient, x0, learning_rate=0.1, num_iterations=n_ref),
                         cfg["ref_repeats"])
    row = _row("quad1d", dn, t_fast / n * 1e9, t_ref / n_ref * 1e9, n, n_ref,
               note="descend() stores the whole path (n+1 points)")
    x_n = gdfast.descend(f.gradient, x0, learning_rate=0.1, num_iterations=n).x[-1]
    nb = peers.numba_funcs()
    if nb is not None:
        quad = nb[2]
        x_start = dtype(10.0)
        quad(x_start, dtype(0.1), 1)
        _time_peer(row, "numba", lambda: np.array([quad(x_start, dtype(0.1), n)]), n, x_n, dn, cfg["repeats"],
                   note="keeps only the last x")
    return row


def bench_latency(dtype: _FType, cfg: BenchConfig) -> list[Row]:
    """One call of each lesson function on the lesson's 4x4 arrays, against its NumPy one-liner."""
    import gdfast

    W, x, y = _lesson_problem(dtype)
    dn = np.dtype(dtype).name
    p = W @ x
    G = np.outer(p - y, x) * (2 / y.size)
    lr = 0.01
    cases: list[tuple[str, Callable[[], npt.ArrayLike], Callable[[], npt.ArrayLike], str]] = [
        ("predict", lambda: gdfast.predict(W, x), lambda: W @ x, "W @ x"),
        ("mse", lambda: gdfast.mse(p, y), lambda: float(np.mean((p - y) ** 2)), "float(np.mean((p - y) ** 2))"),
        ("mse_gradient", lambda: gdfast.mse_gradient(W, x, y),
         lambda: (2 / y.size) * np.outer(W @ x - y, x), "2 / y.size * np.outer(W @ x - y, x)"),
        ("update", lambda: gdfast.update(W, G, lr), lambda: W - lr * G, "W - lr * G"),
    ]
    rows = []
    for name, fast, ref, expr in cases:
        assert _close(fast(), ref(), dn), f"latency {name}: gdfast and NumPy disagree"
        t_fast = _latency_ns(fast, cfg["lat_repeats"], cfg["lat_time"])
        t_ref = _latency_ns(ref, cfg["lat_repeats"], cfg["lat_time"])
        rows.append(_row(f"latency {name}", dn, t_fast, t_ref, 1, 1, note=f"ns per call vs `{expr}`"))
    return rows


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


def bench_memory(dtype: _FType, cfg: BenchConfig) -> dict[str, Any]:
    """Peak RSS (KiB, VmHWM or getrusage) of a long run and of a 10^3-iteration run, each in a fresh process."""
    dn = np.dtype(dtype).name
    env = dict(os.environ)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = here + os.pathsep + env.get("PYTHONPATH", "")
    out: dict[int, int] = {}
    for n in (cfg["memory_n"], 1000):
        res = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, str(n), dn], capture_output=True, text=True,
                             env=env, check=True)
        out[n] = int(res.stdout.strip().splitlines()[-1])
    long_n = cfg["memory_n"]
    return {"workload": "memory", "dtype": dn, "n_long": long_n, "rss_long_kib": out[long_n],
            "rss_short_kib": out[1000], "difference_kib": out[long_n] - out[1000]}


# --- the suite -------------------------------------------------------------------------------


class BenchConfig(TypedDict):
    """Iteration counts and repeats of a suite run (FULL or QUICK)."""

    repeats: int
    ref_repeats: int
    seed_n: int
    seed_n_ref: int
    slow_peer_n: int
    batch_n: dict[int, int]
    batch_n_ref: dict[int, int]
    persample_epochs: int
    sweep_n: int
    sweep_n_ref: int
    quad_n: int
    quad_n_ref: int
    lat_repeats: int
    lat_time: float
    memory_n: int


FULL = BenchConfig(
    repeats=5, ref_repeats=3, seed_n=1_000_000, seed_n_ref=20_000, slow_peer_n=5_000,
    batch_n={4: 100_000, 64: 2_000, 512: 30}, batch_n_ref={4: 3_000, 64: 300, 512: 20},
    persample_epochs=200, sweep_n=10_000, sweep_n_ref=200, quad_n=1_000_000, quad_n_ref=50_000,
    lat_repeats=7, lat_time=0.1, memory_n=10_000_000,
)
QUICK = BenchConfig(
    repeats=3, ref_repeats=1, seed_n=200_000, seed_n_ref=2_000, slow_peer_n=500,
    batch_n={4: 5_000, 64: 100, 512: 3}, batch_n_ref={4: 200, 64: 30, 512: 2},
    persample_epochs=20, sweep_n=2_000, sweep_n_ref=10, quad_n=200_000, quad_n_ref=5_000,
    lat_repeats=3, lat_time=0.02, memory_n=1_000_000,
)


def run_suite(quick: bool = False, peers: bool = True, dtypes: Sequence[str] = ("float64", "float32"),
              threads: int = 2, log: Callable[[str], object] = print) -> Results:
    """Run every workload; returns the results as a dict (rows, memory, notes, machine)."""
    from threadpoolctl import threadpool_limits

    import gdfast
    from gdfast import _train

    cfg = QUICK if quick else FULL
    peer_set = Peers(enabled=peers)
    rows: list[Row] = []
    memory: list[dict[str, Any]] = []
    t_start = time.perf_counter()
    with threadpool_limits(limits=1):
        for dn in dtypes:
            dtype = np.dtype(dn).type
            steps: list[tuple[str, Callable[[], list[Row]]]] = [
                ("seed", lambda: [bench_seed(dtype, cfg, peer_set)]),
                ("batch-4", lambda: [bench_batch(4, dtype, cfg, peer_set)]),
                ("batch-64", lambda: [bench_batch(64, dtype, cfg, peer_set)]),
                ("batch-512", lambda: [bench_batch(512, dtype, cfg, peer_set)]),
                ("adam-64", lambda: [bench_batch(64, dtype, cfg, peer_set, adam=True)]),
                ("persample-64", lambda: [bench_persample(dtype, cfg, peer_set)]),
                ("sweep-64", lambda: [bench_sweep(dtype, cfg, peer_set, 1)]
                 + ([bench_sweep(dtype, cfg, peer_set, threads)] if threads > 1 else [])),
                ("quad1d", lambda: [bench_quad1d(dtype, cfg, peer_set)]),
                ("latency", lambda: bench_latency(dtype, cfg)),
            ]
            for label, step in steps:
                t = time.perf_counter()
                new = step()
                rows.extend(new)
                log(f"  {label:<13} {dn:<8} done in {time.perf_counter() - t:5.1f} s")
            memory.append(bench_memory(dtype, cfg))
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "gdfast_version": gdfast.__version__, "quick": quick, "python": sys.version.split()[0],
        "numpy": np.__version__, "platform": platform.platform(), "cpu_count": os.cpu_count(),
        "openmp": bool(_train.have_openmp()), "loadavg": load, "seconds": time.perf_counter() - t_start,
        "rows": rows, "memory": memory, "peer_notes": peer_set.notes, "check_tolerances": CHECK_TOL,
    }


PEER_COLUMNS = [("numba", "Numba"), ("jax", "JAX"), ("torch_optim", "torch.optim"),
                ("torch_manual", "torch manual"), ("sklearn", "sklearn")]


def _fmt_ns(ns: float | None) -> str:
    if ns is None:
        return "–"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e4:
        return f"{ns / 1e3:.1f} µs"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.1f} ns"


def markdown_table(results: Results) -> str:
    """The results as a markdown table (ns per iteration; ratio = reference / gdfast)."""
    lines = ["| workload | dtype | gdfast | NumPy reference | ratio | "
             + " | ".join(label for _, label in PEER_COLUMNS) + " |",
             "|---|---|---:|---:|---:|" + "---:|" * len(PEER_COLUMNS)]
    for r in results["rows"]:
        cells = []
        for key, _ in PEER_COLUMNS:
            p = r["peers"].get(key)
            if p is None:
                cells.append("–")
            elif not p["ok"]:
                cells.append("mismatch" if p["note"].startswith("mismatch") else "error")
            else:
                cells.append(_fmt_ns(p["ns"]))
        lines.append(f"| {r['workload']} | {r['dtype']} | {_fmt_ns(r['gdfast_ns'])} | {_fmt_ns(r['reference_ns'])} "
                     f"| {r['ratio']:.1f}x | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("| memory | dtype | iterations | peak RSS | peak RSS of 10^3 iterations | difference |")
    lines.append("|---|---|---:|---:|---:|---:|")
    for m in results["memory"]:
        lines.append(f"| record_every=1000 | {m['dtype']} | {m['n_long']:,} | {m['rss_long_kib']:,} KiB "
                     f"| {m['rss_short_kib']:,} KiB | {m['difference_kib']:+,} KiB |")
    return "\n".join(lines)


def notes_text(results: Results) -> str:
    """The notes printed under the table: how each figure was measured, peers skipped."""
    cfg = QUICK if results["quick"] else FULL
    lines = [
        "Times are per iteration (latency rows: per call), median of repeats, BLAS pinned to 1 thread "
        "(threadpoolctl), torch.set_num_threads(1), XLA single-threaded; ratio = NumPy reference / gdfast.",
        f"gdfast is timed over the full iteration counts (seed {cfg['seed_n']:,}, batch-4/64/512 "
        f"{cfg['batch_n'][4]:,}/{cfg['batch_n'][64]:,}/{cfg['batch_n'][512]:,}, sweep 64 x {cfg['sweep_n']:,}, "
        f"quad1d {cfg['quad_n']:,}); the NumPy reference over fewer (seed {cfg['seed_n_ref']:,}, batch "
        f"{cfg['batch_n_ref'][4]:,}/{cfg['batch_n_ref'][64]:,}/{cfg['batch_n_ref'][512]:,}, sweep 64 x "
        f"{cfg['sweep_n_ref']:,}, quad1d {cfg['quad_n_ref']:,}) and scaled; so are PyTorch (seed: "
        f"{cfg['slow_peer_n']:,}) and Numba on batch-d.",
        "Latency rows compare one gdfast call (validation included) with the NumPy one-liner in the note.",
        "Peers: each one's final weights are checked against gdfast's after the same iterations (np.allclose, "
        "rtol/atol " + ", ".join(f"{k}: {v[0]:g}/{v[1]:g}" for k, v in CHECK_TOL.items())
        + "; float32 Adam: atol 1e-3, see CHECK_TOL_ADAM) before its time is shown. JAX compile time is "
        "excluded (reported in the JSON). "
        "scikit-learn's SGDRegressor does per-sample SGD, so it only appears on persample-64.",
    ]
    for dn in sorted({r["dtype"] for r in results["rows"]}, reverse=True):
        more = [r for r in results["rows"] if r["workload"].startswith("sweep-64 (") and r["dtype"] == dn]
        if more and more[0].get("speedup_vs_1_thread"):
            lines.append(f"Parallel sweep, {dn}: {more[0]['workload'][10:-1]} run the 64 configurations "
                         f"{more[0]['speedup_vs_1_thread']:.2f}x as fast as 1 thread (whole gdfast.sweep call, "
                         "Python set-up included; median of alternated 1- and 2-thread calls).")
    for name, why in sorted(results["peer_notes"].items()):
        lines.append(f"Skipped {name}: {why}.")
    for r in results["rows"]:
        for key, p in r["peers"].items():
            if not p["ok"]:
                lines.append(f"{key} on {r['workload']} {r['dtype']}: {p['note']}")
    if results.get("loadavg"):
        lines.append("Load average at the end: " + ", ".join(f"{x:.2f}" for x in results["loadavg"])
                     + f" on {results['cpu_count']} cores.")
    return "\n".join("- " + line for line in lines)


def bar_chart(results: Results, path: str) -> None:
    """A PNG bar chart of the ratios (log scale), float64 and float32 side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    for r in results["rows"]:
        if r["workload"] not in names:
            names.append(r["workload"])
    dtypes = sorted({r["dtype"] for r in results["rows"]}, reverse=True)
    ratio = {(r["workload"], r["dtype"]): r["ratio"] for r in results["rows"]}
    fig, ax = plt.subplots(figsize=(11, 4.5))
    width = 0.8 / max(1, len(dtypes))
    xs = np.arange(len(names))
    for k, dn in enumerate(dtypes):
        vals = [ratio.get((nm, dn), np.nan) for nm in names]
        bars = ax.bar(xs + (k - (len(dtypes) - 1) / 2) * width, vals, width, label=dn)
        for b, v in zip(bars, vals):
            if np.isfinite(v):
                ax.annotate(f"{v:.3g}", (b.get_x() + b.get_width() / 2, v), ha="center", va="bottom", fontsize=6)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_yscale("log")
    ax.set_xticks(xs)
    ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("speed-up over the NumPy reference (x)")
    ax.set_title(f"gdfast {results['gdfast_version']}: NumPy reference time / gdfast time"
                 + (" (quick)" if results["quick"] else ""))
    ax.legend()
    ax.grid(True, axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] | None = None, prog: str = "gdfast bench") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="fewer iterations and repeats (under a minute)")
    parser.add_argument("--output", "-o", default="benchmark-results",
                        help="folder for benchmark.json, benchmark.md and benchmark.png (default: %(default)s)")
    parser.add_argument("--chart", default=None, help="also write the bar chart to this path (e.g. docs/benchmark.png)")
    parser.add_argument("--no-peers", action="store_true", help="skip Numba, JAX, PyTorch and scikit-learn")
    parser.add_argument("--dtype", choices=["float64", "float32", "both"], default="both",
                        help="dtype of the workloads (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="threads of the parallel sweep row (default: 2)")
    parser.add_argument("--from-json", default=None, metavar="JSON",
                        help="do not run anything: rebuild the table, chart and README section from a saved "
                             "benchmark.json")
    parser.add_argument("--readme", default=None,
                        help="rewrite the part of this markdown file between the lines '<!-- benchmark:start -->' "
                             "and '<!-- benchmark:end -->' with the new table")


def run_from_args(args: argparse.Namespace) -> int:
    dtypes = ("float64", "float32") if args.dtype == "both" else (args.dtype,)
    if args.from_json:
        with open(args.from_json) as fh:
            results = json.load(fh)
    else:
        print(f"gdfast benchmark suite ({'quick' if args.quick else 'full'}), load average "
              + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
        results = run_suite(quick=args.quick, peers=not args.no_peers, dtypes=dtypes, threads=args.threads)
    table = markdown_table(results)
    notes = notes_text(results)
    print()
    print(table)
    print()
    print(notes)
    out = os.path.abspath(args.output)
    os.makedirs(out, exist_ok=True)
    json_path = os.path.join(out, "benchmark.json")
    if not (args.from_json and os.path.abspath(args.from_json) == json_path):
        with open(json_path, "w") as fh:
            json.dump(results, fh, indent=1)
    with open(os.path.join(out, "benchmark.md"), "w") as fh:
        fh.write(table + "\n\n" + notes + "\n")
    charts = [os.path.join(out, "benchmark.png")]
    if args.chart:
        os.makedirs(os.path.dirname(os.path.abspath(args.chart)), exist_ok=True)
        charts.append(args.chart)
    for path in charts:
        bar_chart(results, path)
    if args.readme:
        update_readme(args.readme, table + "\n\n" + notes)
        print(f"updated the benchmark section of {args.readme}")
    written = [json_path, os.path.join(out, "benchmark.md")] + [os.path.abspath(c) for c in charts]
    print("\nwrote " + ", ".join(written) + f" ({results['seconds']:.0f} s)")
    return 0


START, END = "<!-- benchmark:start -->", "<!-- benchmark:end -->"


def update_readme(path: str, text: str) -> None:
    """Replace the lines between the START and END markers of ``path`` with ``text``."""
    with open(path) as fh:
        content = fh.read()
    if START not in content or END not in content:
        raise SystemExit(f"{path} has no '{START}' ... '{END}' section to update")
    head, rest = content.split(START, 1)
    _, tail = rest.split(END, 1)
    with open(path, "w") as fh:
        fh.write(head + START + "\n" + text.strip() + "\n" + END + tail)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add the ``bench`` subcommand to the ``gdfast`` command line."""
    p = subparsers.add_parser("bench", help="run the benchmark suite (ns/iteration vs NumPy and peers)",
                              description="Time gdfast against its pure-NumPy twin gdfast.reference and, "
                                          "when installed, Numba, JAX, PyTorch and scikit-learn; print the "
                                          "table and write it (JSON, markdown, bar chart) under --output.")
    add_arguments(p)
    p.set_defaults(func=run_from_args)
    return p


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(prog="python -m gdfast.bench"))
