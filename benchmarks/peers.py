"""The peers of ``python benchmarks/run.py``: Numba, JAX, PyTorch and scikit-learn on gdfast's workloads.

Each peer is measured only when installed. For every workload of :func:`gdfast.bench.workloads`,
:func:`candidates` gives the peers' calls on the same problem; before a peer's time counts, its
answer is compared with gdfast's after the same iterations (``np.allclose`` with the tolerances of
``gdfast.bench.CHECK_TOL``, or :data:`CHECK_TOL_ADAM` on the Adam row); a peer that disagrees is
reported as ``mismatch`` and gets no time.
"""
from __future__ import annotations

import importlib
import os
import time
import warnings
from dataclasses import dataclass

import numpy as np

from gdfast.bench import CHECK_TOL, _close

# Adam divides by sqrt(v): once the gradients are tiny, float32 rounding moves each step by a good
# fraction of lr, so float32 Adam runs (gdfast's own float32 and float64 runs included) end up
# ~3e-4 apart after a few hundred steps on adam-64; its float32 check allows 1e-3.
CHECK_TOL_ADAM = {"float64": CHECK_TOL["float64"], "float32": (2e-3, 1e-3)}

# Iterations of the slow peers (PyTorch) on the seed problem, full and quick runs.
SLOW_PEER_N = {False: 5_000, True: 500}


@dataclass
class PeerCall:
    """A peer's timed call ``run()`` (``n`` iterations); ``check()`` is True when it agrees with gdfast."""

    name: str
    run: object
    n: int
    check: object
    note: str = ""
    compile_s: float | None = None


class Peers:
    """Lazily imported optional peers; ``notes`` says why one is missing."""

    def __init__(self, enabled=True):
        self.enabled = enabled
        self.notes = {}
        self._mods = {}
        self._numba = None

    def get(self, name):
        if not self.enabled:
            self.notes[name] = "peers disabled (--no-peers)"
            return None
        if name in self._mods:
            return self._mods[name]
        mod = None
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

    def numba_funcs(self):
        """Numba: one fused loop (loss, gradient, update) per problem kind, compiled once per dtype."""
        if self._numba is None and self.get("numba") is not None:
            self._numba = _numba_funcs(self.get("numba").njit)
        return self._numba


def _numba_funcs(njit):
    @njit(cache=False)
    def linear(W0, X, Y, lr, n_steps, adam):
        W = W0.copy()
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
    def seed(W0, x, y, lr, n_steps):
        # The same work as gdfast.train: the loss at every step (train keeps it for the history
        # and stops on a non-finite one), the gradient and the update.
        W = W0.copy()
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
    def quad(x0, lr, n_steps):
        x = x0
        for t in range(n_steps):
            x = x - lr * (2.0 * x + 4.0)
        return x

    return linear, seed, quad


def _checked_against(w, run, n, tol=None):
    """The check "run()'s answer agrees with gdfast's after n iterations"."""
    return lambda: _close(run(), w.fast(n), w.dtype, tol)


def _compiled(func, *warm_args):
    """(func, seconds of its first call: Numba's compilation)."""
    c = time.perf_counter()
    func(*warm_args)
    return func, time.perf_counter() - c


def _jax_linear(jax, w, X, Y, lr, n, n_check, adam, tol):
    """JAX jit + lax.fori_loop: checked against gdfast after n_check iterations, timed over n."""
    jnp = jax.numpy
    W = w.problem[0]
    Xj, Yj = jnp.asarray(X), jnp.asarray(Y)
    m, d = W.shape
    scale = 2.0 / (m * X.shape[0])

    def grad(Wc):
        R = Xj @ Wc.T - Yj
        return scale * (R.T @ Xj)

    def make(n_iter):
        if adam:
            def body(t, carry, /):
                Wc, M, V = carry
                g = grad(Wc)
                M = 0.9 * M + 0.1 * g
                V = 0.999 * V + 0.001 * g * g
                tt = (t + 1).astype(Wc.dtype)
                step = lr / (1.0 - 0.9 ** tt)
                return Wc - step * M / (jnp.sqrt(V) / jnp.sqrt(1.0 - 0.999 ** tt) + 1e-8), M, V

            def run(W0):
                z = jnp.zeros_like(W0)
                return jax.lax.fori_loop(0, n_iter, body, (W0, z, z))[0]
        else:
            def body(t, Wc, /):
                return Wc - lr * grad(Wc)

            def run(W0):
                return jax.lax.fori_loop(0, n_iter, body, W0)

        return jax.jit(run).lower(jnp.asarray(W)).compile()

    W0 = jnp.asarray(W)
    checked = make(n_check)
    c = time.perf_counter()
    compiled = make(n)
    comp = time.perf_counter() - c
    return PeerCall("jax", lambda: np.asarray(compiled(W0).block_until_ready()), n,
                    _checked_against(w, lambda: np.asarray(checked(W0).block_until_ready()), n_check, tol),
                    note=f"checked after {n_check} iterations", compile_s=comp)


def _torch_linear(torch, w, X, Y, lr, n, adam, tol):
    W = w.problem[0]
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    m, d = W.shape
    scale = 2.0 / (m * X.shape[0])

    def optim():  # a torch tensor's numpy view
        Wt = torch.from_numpy(W.copy()).requires_grad_(True)
        opt = torch.optim.Adam([Wt], lr=lr) if adam else torch.optim.SGD([Wt], lr=lr)
        for _ in range(n):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(Xt @ Wt.T, Yt)
            loss.backward()
            opt.step()
        return Wt.detach().numpy()

    def manual():
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

    return [("torch_optim", lambda: PeerCall("torch_optim", optim, n, _checked_against(w, optim, n, tol),
                                             note="autograd + torch.optim")),
            ("torch_manual", lambda: PeerCall("torch_manual", manual, n, _checked_against(w, manual, n, tol),
                                              note="no_grad, in-place"))]


def _linear_peers(w, peers, slow_n):
    """seed, batch-d and adam-64: a linear layer trained by full-batch SGD or Adam."""
    W, X, Y = w.problem
    lr, adam = w.options["learning_rate"], w.options.get("optimizer") == "adam"
    tol = CHECK_TOL_ADAM if adam else CHECK_TOL
    if X.ndim == 1:  # the seed problem: one sample
        X, Y = X.reshape(1, -1), Y.reshape(1, -1)
    n_peer = slow_n if w.name == "seed" else min(w.n, w.n_ref)
    out = []
    nb = peers.numba_funcs()
    if nb is not None:
        if w.name == "seed":
            seed_nb, comp = _compiled(nb[1], W, w.problem[1], w.problem[2], lr, 1)
            run = lambda: seed_nb(W, w.problem[1], w.problem[2], lr, w.n)  # noqa: E731
            out.append(("numba", lambda: PeerCall("numba", run, w.n, _checked_against(w, run, w.n), compile_s=comp)))
        else:
            lin, comp = _compiled(nb[0], W, X, Y, lr, 1, adam)
            # the plain loops are slow on large d: about 2e8 multiply-adds in all
            n_nb = max(2, min(n_peer, int(1e8 / (X.shape[0] * X.shape[1] ** 2))))
            run_lin = lambda: lin(W, X, Y, lr, n_nb, adam)  # noqa: E731
            out.append(("numba", lambda: PeerCall("numba", run_lin, n_nb, _checked_against(w, run_lin, n_nb, tol),
                                                  compile_s=comp)))
    jax = peers.get("jax")
    if jax is not None:
        out.append(("jax", lambda: _jax_linear(jax, w, X, Y, lr, w.n, n_peer, adam, tol)))
    torch = peers.get("torch")
    if torch is not None:
        out.extend(_torch_linear(torch, w, X, Y, lr, n_peer, adam, tol))
    return out


def _sklearn_peer(w, sk):
    W, X, Y = w.problem
    epochs, lr = w.n, w.options["learning_rate"]
    from sklearn.exceptions import ConvergenceWarning

    def run():  # scikit-learn's coef_
        # squared_error's gradient is (p - y) x, gdfast's MSE gives 2 (p - y) x: eta0 = 2 lr.
        reg = sk.SGDRegressor(loss="squared_error", penalty=None, learning_rate="constant", eta0=2 * lr,
                              fit_intercept=False, shuffle=False, max_iter=epochs, tol=None, average=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            reg.fit(X, Y[:, 0], coef_init=W[0].astype(np.float64))
        return reg.coef_.reshape(1, -1)

    return PeerCall("sklearn", run, epochs * w.unit, _checked_against(w, run, epochs),
                    note="SGDRegressor: per-sample SGD, computes in float64")


def _sweep_peers(w, peers):
    W, x, y = w.problem
    lrs, n, total = w.options["learning_rates"], w.n, w.n * w.unit
    out = []
    jax = peers.get("jax")
    if jax is not None:
        def make_jax():
            jnp = jax.numpy
            xj, yj = jnp.asarray(x), jnp.asarray(y)

            def one(lr, W0):
                def body(t, Wc):
                    r = (Wc @ xj - yj) * (2.0 / W.shape[0])
                    return Wc - lr * jnp.outer(r, xj)
                return jax.lax.fori_loop(0, n, body, W0)

            c = time.perf_counter()
            lr_j = jnp.asarray(lrs.astype(W.dtype))
            compiled = jax.jit(jax.vmap(one, in_axes=(0, None))).lower(lr_j, jnp.asarray(W)).compile()
            comp = time.perf_counter() - c
            run = lambda: np.asarray(compiled(lr_j, jnp.asarray(W)).block_until_ready())  # noqa: E731
            return PeerCall("jax", run, total, _checked_against(w, run, n), note="vmap over learning rates",
                            compile_s=comp)
        out.append(("jax", make_jax))
    nb = peers.numba_funcs()
    if nb is not None:
        seed_nb = nb[1]
        run_nb = lambda: np.stack([seed_nb(W, x, y, lr, n) for lr in lrs])  # noqa: E731
        out.append(("numba", lambda: PeerCall("numba", run_nb, total, _checked_against(w, run_nb, n),
                                              note="a Python loop over the 64 learning rates")))
    return out


def _quad_peers(w, peers):
    nb = peers.numba_funcs()
    if nb is None:
        return []
    dtype = w.problem[0].dtype.type
    quad, _ = _compiled(nb[2], dtype(10.0), dtype(0.1), 1)
    run = lambda: np.array([quad(dtype(10.0), dtype(0.1), w.n)])  # noqa: E731
    # gdfast's answer: the last point of its path
    return [("numba", lambda: PeerCall("numba", run, w.n, lambda: _close(run(), w.fast(w.n)[-1], w.dtype),
                                       note="keeps only the last x"))]


def candidates(w, peers, slow_n):
    """``(name, factory)`` of each peer's call on workload ``w`` (a factory that raises: the peer errs)."""
    if w.name == "seed" or w.name.startswith(("batch-", "adam-")):
        return _linear_peers(w, peers, slow_n)
    if w.name == "persample-64":
        sk = peers.get("sklearn")
        return [] if sk is None else [("sklearn", lambda: _sklearn_peer(w, sk))]
    if w.name == "sweep-64":
        return _sweep_peers(w, peers)
    if w.name == "quad1d":
        return _quad_peers(w, peers)
    return []


def entry(ns=None, n=None, ok=True, note="", compile_s=None):
    """A peer's record in a row's ``peers``: ns per iteration (None unless ok), n, ok, note."""
    out = {"ns": ns if ok else None, "n": n, "ok": ok, "note": note}
    if compile_s is not None:
        out["compile_s"] = compile_s
    return out


def checked_calls(w, peers, slow_n):
    """The peers that agree with gdfast on ``w``, as ``{name: PeerCall}``, and the others' entries."""
    good, failed = {}, {}
    for name, factory in candidates(w, peers, slow_n):
        try:
            call = factory()
            ok = call.check()
        except Exception as exc:  # noqa: BLE001 - a peer failing is reported, not fatal
            failed[name] = entry(ok=False, note=f"error: {type(exc).__name__}: {exc}"[:120])
            continue
        if ok:
            good[call.name] = call
        else:
            failed[call.name] = entry(ok=False, note=f"mismatch: final weights differ from gdfast's ({call.note})"
                                      if call.note.startswith("checked") else
                                      "mismatch: final weights differ from gdfast's")
    return good, failed

