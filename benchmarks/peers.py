"""The peers of ``python benchmarks/run.py``: Numba, JAX, PyTorch and scikit-learn on gdfast's workloads.

Each peer is measured only when installed. For every workload of :func:`gdfast.bench.workloads`,
:func:`candidates` gives the peers' calls on the same problem; before a peer's time counts, its
answer is compared with gdfast's after the same iterations (``np.allclose`` with the tolerances of
``gdfast.bench.CHECK_TOL``, or ``gdfast.bench.CHECK_TOL_ADAM`` on the Adam rows); a peer that disagrees is
reported as ``mismatch`` and gets no time. Exceptions, each stated where it is defined: the C
"limit" loops must be bit-equal to gdfast (:func:`bit_equal`), and the mini-batch sweep's peers, who
shuffle with their own generators, must reach the same final loss run by run
(:func:`same_final_losses`).
"""
from __future__ import annotations

import importlib
import os
import time
import warnings
from dataclasses import dataclass

import numpy as np

from gdfast.bench import CHECK_TOL, CHECK_TOL_ADAM, _close  # (CHECK_TOL_ADAM: the Adam rows, why: see there)

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

    def c_limit(self):
        """The compiled C loops (ctypes library) and a description, or ``(None, why)`` (noted once)."""
        if "c_limit" not in self._mods:
            lib, desc = compile_c_limit() if self.enabled else (None, "peers disabled (--no-peers)")
            self._mods["c_limit"] = (lib, desc)
            if lib is None:
                self.notes["c_limit"] = desc
        return self._mods["c_limit"]

    def numba_mbsweep(self):
        """Numba: the mini-batch sweep's loop, compiled on first use."""
        if "numba_mbsweep" not in self._mods:
            self._mods["numba_mbsweep"] = _numba_mbsweep(self.get("numba").njit)
        return self._mods["numba_mbsweep"]

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


# --- the "limit": a hand-written C loop, compiled at run time ---------------------------------

# gdfast's seed arithmetic (src/_train.pyx simple_sgd_loop: lesson_sgd_steps, which keeps the
# parameters in registers; src/_linear.pxd mse_and_gradient, one sample) written out as a plain
# scalar C loop, one output after another: the dot product in four partial sums accumulated in double, the
# residual, the loss, the gradient (0.0 + 2 r x_k) * (1 / m), the finiteness check and the update
# W - lr * g rounded to the parameters' type. Same operations in the same order, so its answer must
# be bit-equal to gdfast's. Left out: gdfast's bookkeeping per step (loss history, best loss,
# divergence rule, Ctrl-C poll), which changes no parameter. The sweep's loop runs the 64 learning
# rates in lockstep (runs innermost, a structure of arrays), each lane with the scalar arithmetic.
# -march=native: the limit of this CPU (AVX2/AVX-512 where it has them); -ffp-contract=off keeps
# FMA out, so the wider ISA changes no bits. A compiler that refuses -march=native gets the rest.
C_FLAGS = ["-O3", "-march=native", "-ffp-contract=off", "-fno-fast-math", "-fPIC", "-shared"]
# dot of src/_linear.pxd in C: four partial sums in double, then the features past the last four into
# the first; a format string ({T}: the element type, {S}: the name's suffix), shared by the C loops.
C_DOT = r"""
static inline double dot_{S}(const {T}* a, const {T}* b, long n) {{
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    long k = 0;
    for (; k + 4 <= n; k += 4) {{
        s0 += (double)a[k] * b[k];
        s1 += (double)a[k + 1] * b[k + 1];
        s2 += (double)a[k + 2] * b[k + 2];
        s3 += (double)a[k + 3] * b[k + 3];
    }}
    for (; k < n; k++) s0 += (double)a[k] * b[k];
    return (s0 + s1) + (s2 + s3);
}}
"""
_C_TEMPLATE = C_DOT + r"""
/* n_steps of full-batch SGD on one sample; W (m x d) updated in place; returns the steps taken. */
long seed_{S}({T}* restrict W, const {T}* restrict x, const {T}* restrict y, long m, long d, double lr,
              long n_steps, double* restrict g) {{
    const double scale = 1.0 / ((double)m * 1.0);
    for (long t = 0; t < n_steps; t++) {{
        double loss = 0.0;
        for (long j = 0; j < m; j++) {{
            double r = dot_{S}(W + j * d, x, d);
            r -= y[j];
            loss += r * r;
            double c = 2.0 * r;
            double* row = g + j * d;
            if (c != 0.0) {{ for (long k = 0; k < d; k++) row[k] = (0.0 + c * x[k]) * scale; }}
            else {{ for (long k = 0; k < d; k++) row[k] = 0.0; }}
        }}
        loss = loss * scale;
        if (!isfinite(loss)) return t;
        for (long k = 0; k < m * d; k++) W[k] = ({T})(W[k] - lr * g[k]);
    }}
    return n_steps;
}}

/* R runs in lockstep: W is (m * d, R), runs innermost; lr (R); scratch: g (m * d * R), s (4 * R),
   c (m * R), loss (R). Returns the steps taken: it stops before the update of a step in which any
   run's loss is not finite (gdfast would step that run back and go on with the others; this loop
   is a limit for sweeps that converge, and one that stops early fails its check).
   For finite x, (0.0 + c * x) * scale is +0.0 when c == 0, as the scalar loop's branch writes. */
long sweep_{S}({T}* restrict W, const {T}* restrict x, const {T}* restrict y, long m, long d,
               const double* restrict lr, long R, long n_steps, double* restrict g, double* restrict s,
               double* restrict c, double* restrict loss) {{
    const double scale = 1.0 / ((double)m * 1.0);
    double *restrict s0 = s, *restrict s1 = s + R, *restrict s2 = s + 2 * R, *restrict s3 = s + 3 * R;
    for (long t = 0; t < n_steps; t++) {{
        for (long l = 0; l < R; l++) loss[l] = 0.0;
        for (long j = 0; j < m; j++) {{
            for (long l = 0; l < R; l++) {{ s0[l] = 0.0; s1[l] = 0.0; s2[l] = 0.0; s3[l] = 0.0; }}
            long k = 0;
            for (; k + 4 <= d; k += 4) {{
                const {T}* w = W + (j * d + k) * R;
                const double x0 = x[k], x1 = x[k + 1], x2 = x[k + 2], x3 = x[k + 3];
                for (long l = 0; l < R; l++) {{
                    s0[l] += (double)w[l] * x0;
                    s1[l] += (double)w[R + l] * x1;
                    s2[l] += (double)w[2 * R + l] * x2;
                    s3[l] += (double)w[3 * R + l] * x3;
                }}
            }}
            for (; k < d; k++) {{
                const {T}* w = W + (j * d + k) * R;
                for (long l = 0; l < R; l++) s0[l] += (double)w[l] * x[k];
            }}
            for (long l = 0; l < R; l++) {{
                double r = ((s0[l] + s1[l]) + (s2[l] + s3[l])) - (double)y[j];
                loss[l] += r * r;
                c[j * R + l] = 2.0 * r;
            }}
            for (long k2 = 0; k2 < d; k2++) {{
                const double xk = x[k2];
                double* gk = g + (j * d + k2) * R;
                for (long l = 0; l < R; l++) gk[l] = (0.0 + c[j * R + l] * xk) * scale;
            }}
        }}
        double any = 0.0;  /* inf - inf and nan - nan are nan: any is nan iff a loss is not finite */
        for (long l = 0; l < R; l++) any += (loss[l] * scale) - (loss[l] * scale);
        if (any != 0.0) return t;
        for (long i = 0; i < m * d; i++) {{
            {T}* w = W + i * R;
            const double* gi = g + i * R;
            for (long l = 0; l < R; l++) w[l] = ({T})(w[l] - lr[l] * gi[l]);
        }}
    }}
    return n_steps;
}}
"""


def compile_c(source, name, extra_flags=()):
    """Compile C ``source`` into a shared library at run time with ``C_FLAGS`` and ``extra_flags``
    (without -march=native where the compiler refuses it): ``(ctypes library, compiler
    description)``, or ``(None, why not)`` without a working C compiler ($CC, gcc or cc). ``name``
    names the files in a new temporary folder."""
    import ctypes
    import shutil
    import subprocess
    import tempfile

    cc = next((p for p in (os.environ.get("CC"), "gcc", "cc") if p and shutil.which(p)), None)
    if cc is None:
        return None, "no C compiler found (gcc or cc, or $CC)"
    folder = tempfile.mkdtemp(prefix=f"gdfast-{name}-")
    src, lib = os.path.join(folder, f"{name}.c"), os.path.join(folder, f"{name}.so")
    with open(src, "w") as fh:
        fh.write(source)
    error = None
    for flags in ([*C_FLAGS, *extra_flags], [f for f in [*C_FLAGS, *extra_flags] if f != "-march=native"]):
        try:
            subprocess.run([cc, *flags, "-o", lib, src, "-lm"], check=True, capture_output=True, text=True)
            version = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
            return ctypes.CDLL(lib), f"{version}, {' '.join(f for f in flags if f not in ('-fPIC', '-shared'))}"
        except (subprocess.CalledProcessError, OSError) as exc:
            error = f"the C compiler {cc} failed ({type(exc).__name__}: {getattr(exc, 'stderr', exc)})"[:200]
    return None, error


def compile_c_limit():
    """``(ctypes library, compiler description)``, or ``(None, why not)`` without a working C compiler."""
    source = "#include <math.h>\n" + "".join(_C_TEMPLATE.format(T=t, S=s) for t, s in (("double", "f64"),
                                                                                       ("float", "f32")))
    return compile_c(source, "limit")


def _ptr(a):
    import ctypes

    return a.ctypes.data_as(ctypes.c_void_p)


def _c_seed_peer(w, lib, desc):
    """The C seed loop: checked bit-equal to gdfast after w.n iterations, then timed over w.n."""
    import ctypes

    W, x, y = w.problem
    m, d = W.shape
    func = getattr(lib, "seed_" + ("f64" if W.dtype == np.float64 else "f32"))
    func.restype = ctypes.c_long
    g = np.empty(m * d)
    x, y = np.ascontiguousarray(x), np.ascontiguousarray(y)
    lr = w.options["learning_rate"]

    def run():
        Wc = np.ascontiguousarray(W).copy()
        done = func(_ptr(Wc), _ptr(x), _ptr(y), ctypes.c_long(m), ctypes.c_long(d), ctypes.c_double(lr),
                    ctypes.c_long(w.n), _ptr(g))
        if done != w.n:
            raise RuntimeError(f"the C loop stopped after {done} of {w.n} steps (loss not finite)")
        return Wc

    return PeerCall("c_limit", run, w.n, lambda: bit_equal(run(), w.fast(w.n)), note=f"bit-equal to gdfast; {desc}")


def _c_sweep_peer(w, lib, desc):
    """The C lockstep sweep: checked bit-equal to gdfast.sweep after w.n iterations, timed over w.n."""
    import ctypes

    W, x, y = w.problem
    m, d = W.shape
    lrs = np.ascontiguousarray(w.options["learning_rates"], dtype=np.float64)
    R = len(lrs)
    func = getattr(lib, "sweep_" + ("f64" if W.dtype == np.float64 else "f32"))
    func.restype = ctypes.c_long
    g, s, c, loss = np.empty(m * d * R), np.empty(4 * R), np.empty(m * R), np.empty(R)
    x, y = np.ascontiguousarray(x), np.ascontiguousarray(y)
    start = np.ascontiguousarray(np.repeat(W.reshape(-1, 1), R, axis=1))  # (m * d, R)

    def run():
        Wc = start.copy()
        done = func(_ptr(Wc), _ptr(x), _ptr(y), ctypes.c_long(m), ctypes.c_long(d), _ptr(lrs), ctypes.c_long(R),
                    ctypes.c_long(w.n), _ptr(g), _ptr(s), _ptr(c), _ptr(loss))
        if done != w.n:
            raise RuntimeError(f"the C loop stopped after {done} of {w.n} steps (a loss not finite)")
        return Wc.T.reshape(R, m, d)

    return PeerCall("c_limit", run, w.n * w.unit, lambda: bit_equal(run(), w.fast(w.n)),
                    note=f"bit-equal to gdfast; runs in lockstep; {desc}")


def bit_equal(a, b):
    """The check of the C loops: same shape and dtype, identical bits (they do gdfast's arithmetic)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def _limit_peers(w, peers):
    lib, desc = peers.c_limit()
    if lib is None:
        return []
    make = _c_seed_peer if w.name == "seed" else _c_sweep_peer
    return [("c_limit", lambda: make(w, lib, desc))]


# --- the mini-batch sweep: 64 learning rates, batches of 32, shuffled ---------------------------

#: The mini-batch sweep's check. The peers shuffle with their own generators, so their weights cannot
#: match gdfast's; what they must match is the outcome of each run: its final MSE on the whole data
#: set, per learning rate, within a factor 1.25 (|log(L_peer + f) - log(L_gdfast + f)| <= log 1.25,
#: with a floor f = 1e-6 x the initial MSE, below which runs count as converged). Why 1.25: gdfast's
#: own runs with five different seeds differ by at most 0.2% (100 epochs) to 5% (10 epochs) of the
#: loss; a learning rate 10% off, or the gradient without its factor 2, moves it by far more than 25%.
MBSWEEP_LOSS_FACTOR = 1.25
MBSWEEP_FLOOR = 1e-6


def final_losses(Ws, X, Y):
    """Each run's MSE on the whole data set, in float64: Ws (runs, 1, d) or (runs, d)."""
    Ws = np.asarray(Ws, dtype=np.float64).reshape(len(Ws), -1)
    R = np.asarray(X, dtype=np.float64) @ Ws.T - np.asarray(Y, dtype=np.float64).reshape(-1, 1)
    return np.mean(R * R, axis=0)


def same_final_losses(Ws_peer, Ws_gdfast, X, Y):
    """The mini-batch sweep's check (see MBSWEEP_LOSS_FACTOR): run by run, the same final loss scale."""
    if np.shape(Ws_peer)[0] != np.shape(Ws_gdfast)[0]:
        return False
    floor = MBSWEEP_FLOOR * float(np.mean(np.asarray(Y, dtype=np.float64) ** 2))
    lp, lg = final_losses(Ws_peer, X, Y), final_losses(Ws_gdfast, X, Y)
    return bool(np.all(np.isfinite(lp)) and np.all(np.abs(np.log((lp + floor) / (lg + floor)))
                                                    <= np.log(MBSWEEP_LOSS_FACTOR)))


def _checked_losses(w, run, n):
    return lambda: same_final_losses(run(), w.fast(n), w.problem[1], w.problem[2])


def _numba_mbsweep(njit):
    @njit(cache=False)
    def mbsweep(W0, X, y, lrs, n_epochs, batch, seed):
        # The runs of one batch order side by side: per epoch one permutation (Numba's generator),
        # per batch each run's residuals, gradient 2/b * X_b^T r and update.
        np.random.seed(seed)
        n, d = X.shape
        R = lrs.shape[0]
        W = np.empty((R, d), dtype=X.dtype)
        for l in range(R):
            W[l] = W0
        g = np.empty(d, dtype=np.float64)
        for e in range(n_epochs):
            perm = np.random.permutation(n)
            for start in range(0, n, batch):
                stop = min(start + batch, n)
                scale = 2.0 / (stop - start)
                for l in range(R):
                    g[:] = 0.0
                    for ii in range(start, stop):
                        i = perm[ii]
                        r = -y[i]
                        for k in range(d):
                            r += W[l, k] * X[i, k]
                        for k in range(d):
                            g[k] += r * X[i, k]
                    for k in range(d):
                        W[l, k] = W[l, k] - lrs[l] * scale * g[k]
        return W

    return mbsweep


def _mbsweep_peers(w, peers):
    W, X, Y = w.problem
    lrs = np.asarray(w.options["learning_rates"])
    batch, epochs, dtype = w.options["batch_size"], w.n, W.dtype
    n, d = X.shape
    y = np.ascontiguousarray(Y[:, 0])
    starts = list(range(0, n, batch))
    total = w.n * w.unit
    out = []
    jax = peers.get("jax")
    if jax is not None:
        def make_jax():
            jnp = jax.numpy
            Xj, yj, lr_j = jnp.asarray(X), jnp.asarray(y), jnp.asarray(lrs.astype(dtype))

            def one(lr, W0, key):
                # one run: per epoch a permutation from the shared key (so every lane sees the same order)
                def epoch(e, Wc):
                    perm = jax.random.permutation(jax.random.fold_in(key, e), n)

                    def step(s, Wb):
                        idx = jax.lax.dynamic_slice(perm, (s * batch,), (batch,))
                        Xb, yb = Xj[idx], yj[idx]
                        return Wb - lr * (2.0 / batch) * (Xb.T @ (Xb @ Wb - yb))
                    return jax.lax.fori_loop(0, n // batch, step, Wc)
                return jax.lax.fori_loop(0, epochs, epoch, W0)

            if n % batch:
                raise ValueError("the JAX peer needs n divisible by the batch size")
            key = jax.random.PRNGKey(w.options["seed"])
            W0 = jnp.asarray(W[0])
            c = time.perf_counter()
            compiled = jax.jit(jax.vmap(one, in_axes=(0, None, None))).lower(lr_j, W0, key).compile()
            comp = time.perf_counter() - c
            run = lambda: np.asarray(compiled(lr_j, W0, key).block_until_ready())  # noqa: E731
            return PeerCall("jax", run, total, _checked_losses(w, run, epochs), compile_s=comp,
                            note="vmap over learning rates; final losses checked")
        out.append(("jax", make_jax))
    if peers.get("numba") is not None:
        def make_numba():
            func, comp = _compiled(peers.numba_mbsweep(), W[0], X, y, lrs, 1, batch, w.options["seed"])
            run = lambda: func(W[0], X, y, lrs, epochs, batch, w.options["seed"])  # noqa: E731
            return PeerCall("numba", run, total, _checked_losses(w, run, epochs), compile_s=comp,
                            note="runs side by side per batch; final losses checked")
        out.append(("numba", make_numba))
    torch = peers.get("torch")
    if torch is not None:
        def make_torch():
            Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
            lr_t = torch.from_numpy(lrs.astype(dtype)).reshape(-1, 1)

            def run():
                gen = torch.Generator().manual_seed(w.options["seed"])
                Wt = torch.from_numpy(np.repeat(W, len(lrs), axis=0))  # (runs, d)
                with torch.no_grad():
                    for _ in range(epochs):
                        perm = torch.randperm(n, generator=gen)
                        for s in starts:
                            idx = perm[s:s + batch]
                            Xb = Xt[idx]
                            Rb = Wt @ Xb.T - yt[idx]  # (runs, b)
                            Wt.sub_(lr_t * (2.0 / len(idx)) * (Rb @ Xb))
                return Wt.numpy()
            return PeerCall("torch_manual", run, total, _checked_losses(w, run, epochs),
                            note="no_grad, the 64 runs as one (64, d) tensor; final losses checked")
        out.append(("torch_manual", make_torch))
    return out


# --- one output, 75,000 x 100, full batch --------------------------------------------------------


def _single_peers(w, peers):
    W, X, Y = w.problem
    lr, n = w.options["learning_rate"], X.shape[0]
    y = np.ascontiguousarray(Y[:, 0])
    n_iter = w.n
    out = []
    if not peers.enabled:
        return out

    def numpy_two_line():
        Wv = W[0].copy()
        for _ in range(n_iter):
            # the two-line update of a NumPy user (np.dot on one thread: BLAS is pinned)
            Wv -= lr * 2 / n * (X.T @ (X @ Wv - y))
        return Wv.reshape(1, -1)

    out.append(("numpy", lambda: PeerCall("numpy", numpy_two_line, n_iter,
                                          _checked_against(w, numpy_two_line, n_iter),
                                          note="W -= lr * 2/n * (X.T @ (X @ W - y))")))
    torch = peers.get("torch")
    if torch is not None:
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

        def torch_manual():
            Wt = torch.from_numpy(W[0].copy())
            with torch.no_grad():
                for _ in range(n_iter):
                    Wt.sub_(Xt.T @ (Xt @ Wt - yt), alpha=lr * 2 / n)
            return Wt.numpy().reshape(1, -1)

        out.append(("torch_manual", lambda: PeerCall("torch_manual", torch_manual, n_iter,
                                                     _checked_against(w, torch_manual, n_iter),
                                                     note="no_grad, in-place, the same two lines")))
    return out


def candidates(w, peers, slow_n):
    """``(name, factory)`` of each peer's call on workload ``w`` (a factory that raises: the peer errs)."""
    if w.name == "seed":
        return _linear_peers(w, peers, slow_n) + _limit_peers(w, peers)
    if w.name.startswith(("batch-", "adam-")):
        return _linear_peers(w, peers, slow_n)
    if w.name == "persample-64":
        sk = peers.get("sklearn")
        return [] if sk is None else [("sklearn", lambda: _sklearn_peer(w, sk))]
    if w.name == "sweep-64":
        return _sweep_peers(w, peers) + _limit_peers(w, peers)
    if w.name == "minibatch-sweep-64":
        return _mbsweep_peers(w, peers)
    if w.name.startswith("single-"):
        return _single_peers(w, peers)
    if w.name == "quad1d":
        return _quad_peers(w, peers)
    return []


def entry(ns=None, n=None, ok=True, note="", compile_s=None, gdfast_ns=None):
    """A peer's record in a row's ``peers``: n, ok, note and, when ok, its times.

    ``ns`` and ``gdfast_ns``: the ns per iteration of the peer and of gdfast in each interleaved
    repeat. The record keeps ``ns`` (the median), ``ns_min``, ``ns_max`` and ``ratio`` (the median over
    repeats of that repeat's peer time / gdfast time: above 1, gdfast is faster) with ``ratio_min``
    and ``ratio_max``; all None for a peer that failed its check.
    """
    out = {"ns": None, "ns_min": None, "ns_max": None, "ratio": None, "ratio_min": None, "ratio_max": None,
           "n": n, "ok": ok, "note": note}
    if ok and ns is not None:
        ns = np.asarray(ns, dtype=np.float64)
        out.update(ns=float(np.median(ns)), ns_min=float(ns.min()), ns_max=float(ns.max()))
        if gdfast_ns is not None:
            ratios = ns / np.asarray(gdfast_ns, dtype=np.float64)
            out.update(ratio=float(np.median(ratios)), ratio_min=float(ratios.min()), ratio_max=float(ratios.max()))
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

