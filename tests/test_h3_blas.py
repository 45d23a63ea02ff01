"""GDFAST_BLAS=0: the kernels never call BLAS, so results are the same bits on every machine.

OpenBLAS picks its dgemm kernel for the CPU at run time (``OPENBLAS_CORETYPE`` forces one): with
BLAS, full batches above ``BLAS_MIN_WORK`` multiply-adds give different last bits per kernel. With
``GDFAST_BLAS=0`` the portable loops run: the gradient equals a hand-written loop in the loops'
documented order (exactly, tolerance 0), and whole trainings are bit-equal across forced kernels.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

import gdfast

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(gdfast.__file__)))


def _run(code: str, **env: str) -> str:
    environ = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for key in ("GDFAST_BLAS", "OPENBLAS_CORETYPE"):
        environ.pop(key, None)
    environ.update(env)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=environ, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


# One SGD step and the MSE gradient of a (16 x 16) X, 8 outputs: 2048 multiply-adds, exactly the
# size from which BLAS is used. The oracle is written here in plain Python floats (IEEE doubles, no
# FMA): prediction = dot with four partial sums combined as (s0 + s1) + (s2 + s3), residual
# derivative 2 r, gradient entry ((0.0 + D[0, j] x[0, k]) + D[1, j] x[1, k]) + ... times
# 1 / (n_outputs n_samples), then W - lr * G.
HAND_LOOP = """
    import hashlib, json, numpy as np, gdfast
    rng = np.random.default_rng(7)
    X = rng.standard_normal((16, 16)); Y = rng.standard_normal((16, 8)); W = rng.standard_normal((8, 16))

    def dot(a, b):
        s = [0.0, 0.0, 0.0, 0.0]; k = 0
        while k + 4 <= len(a):
            for q in range(4):
                s[q] += a[k + q] * b[k + q]
            k += 4
        while k < len(a):
            s[0] += a[k] * b[k]; k += 1
        return (s[0] + s[1]) + (s[2] + s[3])

    n, f = X.shape; o = W.shape[0]
    Xl, Yl, Wl = X.tolist(), Y.tolist(), W.tolist()
    D = [[2.0 * (dot(Wl[j], Xl[i]) - Yl[i][j]) for j in range(o)] for i in range(n)]
    scale = 1.0 / (o * n)
    G = [[0.0] * f for _ in range(o)]
    for j in range(o):
        for k in range(f):
            acc = 0.0
            for i in range(n):
                acc = acc + D[i][j] * Xl[i][k]
            G[j][k] = acc * scale
    G = np.array(G)
    step = np.array([[Wl[j][k] - 0.1 * G[j][k] for k in range(f)] for j in range(o)])
    g = gdfast.mse_gradient(W, X, Y)
    r = gdfast.train(W, X, Y, learning_rate=0.1, num_iterations=1)
    print(json.dumps({"gradient": bool(np.array_equal(g, G)), "step": bool(np.array_equal(r.W, step)),
                      "max_abs_diff": float(np.abs(g - G).max())}))
"""


def test_gdfast_blas_0_gradient_and_step_equal_the_hand_written_loop():
    out = json.loads(_run(HAND_LOOP, GDFAST_BLAS="0"))
    assert out == {"gradient": True, "step": True, "max_abs_diff": 0.0}


# A 64 x 64 RMSprop training as in the README, with data that do not depend on BLAS themselves
# (random X and Y; the README's Y = X @ A.T is computed by NumPy's BLAS).
TRAINING = """
    import hashlib, numpy as np, gdfast
    rng = np.random.default_rng(0)
    X = rng.standard_normal((256, 64)); Y = rng.standard_normal((256, 64)); W0 = np.zeros((64, 64))
    r = gdfast.train(W0, X, Y, optimizer=gdfast.RMSprop(), learning_rate=0.01, num_iterations=50)
    print(hashlib.sha256(r.W.tobytes() + r.losses.tobytes()).hexdigest())
"""


def _coretypes() -> list[str]:
    try:
        with open("/proc/cpuinfo") as fh:
            flags = fh.read()
    except OSError:
        return []
    if sys.platform != "linux" or os.uname().machine != "x86_64" or " avx2" not in flags:
        return []
    return ["Prescott", "Haswell"] + (["SkylakeX"] if " avx512f" in flags else [])


@pytest.mark.skipif(not _coretypes(), reason="forcing OpenBLAS kernels needs x86-64 Linux with AVX2")
def test_gdfast_blas_0_is_bit_equal_across_openblas_kernels():
    cores = _coretypes()
    portable = {core: _run(TRAINING, GDFAST_BLAS="0", OPENBLAS_CORETYPE=core) for core in cores}
    assert len(set(portable.values())) == 1, portable
    with_blas = {core: _run(TRAINING, OPENBLAS_CORETYPE=core) for core in cores}
    # The check has teeth: BLAS's SSE3 and AVX2 kernels do give different bits here.
    assert with_blas["Prescott"] != with_blas["Haswell"]
    assert portable["Haswell"] not in with_blas.values()


def test_gdfast_blas_bad_value_is_a_clear_error():
    environ = dict(os.environ, PYTHONPATH=ROOT, GDFAST_BLAS="off")
    proc = subprocess.run([sys.executable, "-c", "import gdfast"], capture_output=True, text=True,
                          env=environ, timeout=120)
    assert proc.returncode != 0
    assert "ValueError" in proc.stderr and "GDFAST_BLAS='off'" in proc.stderr and "set it to 0" in proc.stderr


# With BLAS, the MSE loss of a full batch is summed in dot's four partial sums (each row's output
# j = 4m + q into s_q, every row continuing them; then (s0 + s1) + (s2 + s3)), the loops' in one
# chain in (sample, output) order. Integer data make dgemm's predictions exact in any order, so the
# loss is known to the bit: one residual of 2**27 (square 2**54, whose ulp is 4) and 127 of 1.0. In
# one chain every +1.0 rounds away; in four sums the 96 ones of s1, s2 and s3 survive.
LOSS_ORDER = """
    import json, numpy as np, gdfast
    rng = np.random.default_rng(3)
    X = rng.integers(-2, 3, (16, 16)).astype(float); W = rng.integers(-2, 3, (8, 16)).astype(float)
    R = np.ones((16, 8)); R[0, 0] = 2.0 ** 27
    Y = X @ W.T - R  # (integers: exact)
    terms = (R ** 2).tolist()
    s = [0.0, 0.0, 0.0, 0.0]
    for row in terms:
        for j, t in enumerate(row):
            s[j % 4 if j < 8 - 8 % 4 else 0] += t
    four = ((s[0] + s[1]) + (s[2] + s[3])) / 128.0
    chain = 0.0
    for row in terms:
        for t in row:
            chain += t
    r = gdfast.train(W, X, Y, learning_rate=1e-30, num_iterations=1, record_every=1)
    print(json.dumps({"loss": float(r.losses[0]), "four": four, "chain": chain / 128.0}))
"""


def test_blas_full_batch_loss_is_summed_in_four_partial_sums_and_the_loops_in_one_chain():
    with_blas = json.loads(_run(LOSS_ORDER))
    assert with_blas["four"] != with_blas["chain"]  # (the data tell the two orders apart)
    assert with_blas["loss"] == with_blas["four"]
    loops = json.loads(_run(LOSS_ORDER, GDFAST_BLAS="0"))
    assert loops["loss"] == loops["chain"]
