"""A broad, deterministic workload of gdfast, every result saved bit for bit (tests/test_isa_variants.py).

    python tests/isa_workload.py OUT.npz      (run with GDFAST_ISA set to the kernel build to test)

Runs the single steps of ``gdfast.core``, ``train`` (every optimizer, loss, schedule; full and
mini-batches, sample weights, intercepts, clipping, early stopping, resumed state, float32 and
float64, a full batch large enough for BLAS, blocked batches on 1 and 2 threads, float32 sums with
``accumulate="float32"``), ``sweep`` (1 and 2 threads, runs in lockstep) and ``descend`` (a Quadratic and
every gdfast.functions objective, each optimizer, with clip_norm and state= too), and
saves every array and number of their results into OUT.npz, one entry per leaf, keyed by a path
such as ``train/adam/huber/float64/W``. Nothing is drawn at random without a fixed seed, so two
runs of the same build give the same file. It also saves ``_meta/isa`` (the variant that ran) and
``_meta/train_file`` (the file of the loaded ``gdfast._train``).
"""
from __future__ import annotations

import dataclasses
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

import gdfast
from gdfast import _isa, _train, functions

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad", "nadam", "radam", "adamax")
LOSSES = ("mse", "mae", "huber")
SCHEDULES = ("constant", "exponential", "step", "invscaling", "cosine")
DTYPES = ("float64", "float32")
# Learning rates small enough that no run diverges, large enough that every run moves.
LR = {"sgd": 0.01, "adam": 0.01, "adamw": 0.01, "rmsprop": 0.005, "adagrad": 0.05, "nadam": 0.01,
      "radam": 0.01, "adamax": 0.01}


def flatten(prefix: str, value: Any, out: dict[str, np.ndarray]) -> None:
    """Every leaf of ``value`` (dataclasses, sequences, arrays, numbers) as an array under its path."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            flatten(f"{prefix}/{field.name}", getattr(value, field.name), out)
    elif isinstance(value, dict):
        for key, item in value.items():
            flatten(f"{prefix}/{key}", item, out)
    elif isinstance(value, Sequence) and not isinstance(value, (str, list, tuple)):  # (a sweep's RunResults)
        flatten(prefix, list(value), out)
    elif isinstance(value, (list, tuple)) and any(not np.isscalar(v) for v in value):
        for i, item in enumerate(value):
            flatten(f"{prefix}/{i}", item, out)
    elif value is None:
        out[prefix] = np.array("None")
    elif isinstance(value, (str, bool, int, float, np.generic, np.ndarray, list, tuple)):
        out[prefix] = np.asarray(value)
    else:  # an enum member (status) or another small object: its text says all
        out[prefix] = np.array(repr(value))


def data(n_samples: int, n_features: int, n_outputs: int, dtype: str, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features)).astype(dtype)
    W_true = rng.standard_normal((n_outputs, n_features))
    Y = (X @ W_true.T + 0.1 * rng.standard_normal((n_samples, n_outputs))).astype(dtype)
    W0 = (0.1 * rng.standard_normal((n_outputs, n_features))).astype(dtype)
    sw = rng.uniform(0.5, 2.0, n_samples)
    return W0, X, Y, sw


def core_steps(out: dict[str, np.ndarray]) -> None:
    # Odd sizes (the unrolled sums' remainders), and one large enough for the BLAS path.
    for n_out, n_feat, n_samp in [(1, 1, 1), (1, 7, 3), (3, 4, 1), (17, 13, 29), (5, 33, 100), (64, 96, 257)]:
        for dtype in DTYPES:
            W, X, Y, _ = data(n_samp, n_feat, n_out, dtype, seed=n_out * 1000 + n_feat)
            key = f"core/{n_out}x{n_feat}x{n_samp}/{dtype}"
            P = gdfast.predict(W, X)
            flatten(f"{key}/predict", P, out)
            flatten(f"{key}/mse", gdfast.mse(P, Y), out)
            G = gdfast.mse_gradient(W, X, Y)
            flatten(f"{key}/mse_gradient", G, out)
            flatten(f"{key}/update", gdfast.update(W, G, 0.03), out)
            flatten(f"{key}/update_scalar", gdfast.update(W, 0.25, 0.03), out)


def trainings(out: dict[str, np.ndarray]) -> None:
    for dtype in DTYPES:
        W0, X, Y, sw = data(60, 9, 3, dtype, seed=1)
        for opt in OPTIMIZERS:
            for loss in LOSSES:
                r = gdfast.train(W0, X, Y, optimizer=opt, loss=loss, learning_rate=LR[opt], num_iterations=40,
                                 huber_delta=0.5, seed=0)
                flatten(f"train/{opt}/{loss}/{dtype}/full", r, out)
            r = gdfast.train(W0, X, Y, optimizer=opt, learning_rate=LR[opt], batch_size=7, seed=3, num_epochs=4,
                             fit_intercept=True, sample_weight=sw)
            flatten(f"train/{opt}/{dtype}/minibatch_weighted_intercept", r, out)
            r = gdfast.train(W0, X, Y, optimizer=opt, learning_rate=LR[opt], batch_size=1, seed=5, num_epochs=2,
                             loss="huber", clip_norm=1.0)
            flatten(f"train/{opt}/{dtype}/per_sample_huber_clipped", r, out)
        for schedule in SCHEDULES:
            r = gdfast.train(W0, X, Y, learning_rate=0.02, schedule=schedule, num_iterations=30, batch_size=16, seed=7)
            flatten(f"train/schedule/{schedule}/{dtype}", r, out)
        rates = np.linspace(0.03, 0.001, 25)
        flatten(f"train/schedule/table/{dtype}", gdfast.train(W0, X, Y, schedule=rates, num_iterations=25, seed=0), out)
        r = gdfast.train(W0, X, Y, learning_rate=0.01, batch_size=10, seed=11, num_epochs=50, n_iter_no_change=3,
                         loss_tol=0.1, restore_best=True, record_every=3)
        flatten(f"train/early_stop_restore_best/{dtype}", r, out)
        # dense per-sample plain SGD (its own loop: dense_sgd_loop), weighted, and the lesson's
        # one-sample shape (lesson_sgd_steps: four features, four outputs, in registers; and
        # one_sample_sgd_steps: nine outputs with an intercept in vector lanes, past a whole vector
        # of every variant)
        W64, X64, Y64, sw64 = data(40, 64, 1, dtype, seed=17)
        r = gdfast.train(W64, X64, Y64, learning_rate=0.005, batch_size=1, seed=17, num_epochs=3, fit_intercept=True,
                         sample_weight=sw64)
        flatten(f"train/per_sample_plain/{dtype}", r, out)
        r = gdfast.train(W64, X64, Y64, loss="huber", learning_rate=0.01, batch_size=1,
                         shuffle=False, num_epochs=2, seed=18)
        flatten(f"train/per_sample_plain_huber/{dtype}", r, out)
        W4, X4, Y4, _ = data(1, 4, 4, dtype, seed=19)
        flatten(f"train/one_sample_four_features/{dtype}",
                gdfast.train(W4, X4, Y4, learning_rate=0.01, num_iterations=300, record_every=7, seed=19), out)
        flatten(f"train/one_sample_four_features_intercept/{dtype}",
                gdfast.train(W4, X4, Y4, learning_rate=0.01, num_iterations=300, record_every=7, fit_intercept=True,
                             seed=19), out)
        W9, X9, Y9, _ = data(1, 4, 9, dtype, seed=20)
        flatten(f"train/one_sample_four_features_nine_outputs/{dtype}",
                gdfast.train(W9, X9, Y9, learning_rate=0.02, num_iterations=300, record_every=7, fit_intercept=True,
                             seed=20), out)
        # per-sample SGD with the elastic net (truncated gradient) and averaging (the running mean)
        r = gdfast.train(W0, X, Y, learning_rate=0.01, batch_size=1, seed=13, num_epochs=2, fit_intercept=True,
                         penalty="elasticnet", alpha=0.05, average=20)
        flatten(f"train/averaged_elasticnet/{dtype}", r, out)
        first = gdfast.train(W0, X, Y, optimizer="adam", learning_rate=0.01, num_iterations=15, batch_size=8, seed=2)
        more = gdfast.train(first.W, X, Y, optimizer="adam", learning_rate=0.01, num_iterations=10, batch_size=8,
                            seed=2, state=first.state)
        flatten(f"train/resumed/{dtype}", more, out)
        r = gdfast.train(W0, X, Y, learning_rate=2.0, num_iterations=200, seed=0)  # diverges: the detection path
        flatten(f"train/diverging/{dtype}", r, out)
        # A full batch large enough for the BLAS path (dgemm is outside gdfast, the same in every variant).
        Wb, Xb, Yb, swb = data(400, 64, 16, dtype, seed=4)
        flatten(f"train/large_full_batch/{dtype}", gdfast.train(Wb, Xb, Yb, learning_rate=0.01, num_iterations=5,
                                                                 sample_weight=swb, seed=0), out)
        # Blocked batches (>= 2 blocks of rows, <= 4 outputs: summed in blocks), on 1 and 2 threads.
        Wk, Xk, Yk, swk = data(2 * _train.block_rows() + 301, 7, 2, dtype, seed=5)
        for threads in (1, 2):
            r = gdfast.train(Wk, Xk, Yk, loss="huber", fit_intercept=True, learning_rate=0.01, num_iterations=4,
                             sample_weight=swk, seed=0, n_threads=threads)
            flatten(f"train/blocked/{dtype}/threads{threads}", r, out)
        # The softmax cross-entropy (a row loss: exp and log of each row's logits) on the loops (weighted,
        # mini-batches), the blocked sums (3 classes), dgemm (16 classes) and float32 sums; labels from the data
        labels = (Y.argmax(axis=1)).astype(np.int64)
        r = gdfast.train(W0, X, labels, loss="multinomial", optimizer="adam", learning_rate=0.05, batch_size=7,
                         seed=3, num_epochs=3, fit_intercept=True, sample_weight=sw)
        flatten(f"train/multinomial/{dtype}/minibatch_weighted", r, out)
        Wm = np.vstack([Wk, Wk[:1]])  # 3 classes
        for threads in (1, 2):
            r = gdfast.train(Wm, Xk, (Xk[:, 0] > 0).astype(np.int64) + (Xk[:, 1] > 0), loss="multinomial",
                             fit_intercept=True, learning_rate=0.1, num_iterations=3, seed=0, n_threads=threads)
            flatten(f"train/multinomial/{dtype}/blocked/threads{threads}", r, out)
        r = gdfast.train(Wb, Xb, Yb.argmax(axis=1), loss="multinomial", learning_rate=0.1, num_iterations=3, seed=0)
        flatten(f"train/multinomial/{dtype}/large_full_batch", r, out)
        if dtype == "float32":
            r = gdfast.train(Wb, Xb, Yb.argmax(axis=1), loss="multinomial", learning_rate=0.1, num_iterations=3,
                             seed=0, accumulate="float32", fit_intercept=True)
            flatten("train/multinomial/accumulate_float32", r, out)
        if dtype == "float32":
            # accumulate="float32" on both shapes: sgemv/sgemm (outside gdfast) and gdfast's own float32
            # residual, loss and bias loops around them (the MSE's and the weighted general branch)
            for shape, (Wa, Xa, Ya, swa) in (("tall", (Wk, Xk, Yk, swk)), ("large", (Wb, Xb, Yb, swb))):
                for loss, weights in (("mse", None), ("huber", swa)):
                    r = gdfast.train(Wa, Xa, Ya, loss=loss, sample_weight=weights, fit_intercept=True,
                                     learning_rate=0.01, num_iterations=4, seed=0, accumulate="float32")
                    flatten(f"train/accumulate_float32/{shape}/{loss}", r, out)


def sweeps(out: dict[str, np.ndarray]) -> None:
    for dtype in DTYPES:
        W0, X, Y, sw = data(48, 6, 2, dtype, seed=8)
        for threads in (1, 2):
            s = gdfast.sweep(W0, X, Y, learning_rates=[0.003, 0.01, 0.03], seeds=[0, 1], batch_size=5,
                             num_epochs=3, sample_weight=sw, n_threads=threads)
            flatten(f"sweep/lr_seed/{dtype}/threads{threads}", s.results, out)
        configs = [{"optimizer": opt, "learning_rate": LR[opt]} for opt in OPTIMIZERS]
        s = gdfast.sweep(W0, X, Y, configs=configs, num_iterations=20, loss="huber", seeds=[4],
                         n_threads=2)
        flatten(f"sweep/optimizers/{dtype}", s.results, out)
        # Plain SGD learning rates on a full batch: the runs go in lockstep (vectorised across runs).
        s = gdfast.sweep(W0, X, Y, learning_rates=list(np.linspace(0.001, 0.05, 9)), num_iterations=40,
                         fit_intercept=True, seeds=[0], n_threads=1)
        flatten(f"sweep/lockstep/{dtype}", s.results, out)
        # Many lanes: whole register blocks of lanes (_train.lane_block(): 16, 32 or 64 by variant) and
        # the lanes past them (51: one task; 67: a task of 64 and one of 3), on mini-batches of nine
        # features (one past the blocks of four), some lanes diverging
        W9, X9, Y9, _ = data(40, 9, 2, dtype, seed=9)
        for n_lanes in (51, 67):
            s = gdfast.sweep(W9, X9, Y9, learning_rates=list(np.geomspace(1e-3, 30.0, n_lanes)), batch_size=6,
                             num_iterations=20, fit_intercept=True, seeds=[2], n_threads=1)
            flatten(f"sweep/lockstep_lanes{n_lanes}/{dtype}", s.results, out)


def sparse_runs(out: dict[str, np.ndarray]) -> None:
    """CSR X: the per-sample loop (L2 scale, L1 on stored entries, intercept), a mini-batch Adam run
    and a full batch (the CSR loss/gradient with a dense step), and predict; the softmax (per sample
    and mini-batches) and a sweep on 1 and 2 threads."""
    import scipy.sparse

    for dtype in DTYPES:
        W0, X, Y, sw = data(70, 11, 2, dtype, seed=12)
        X[np.abs(X) < 0.8] = 0.0  # about 40% stored
        Xs = scipy.sparse.csr_matrix(X)
        y = np.where(Y[:, 0] > 0, 1.0, -1.0).astype(dtype)
        r = gdfast.train(W0[0], Xs, y, loss="log_loss", batch_size=1, seed=0, num_epochs=3, learning_rate=0.1,
                         penalty="elasticnet", alpha=0.01, fit_intercept=True)
        flatten(f"sparse/per_sample/{dtype}", r, out)
        r = gdfast.train(W0, Xs, Y, optimizer="adam", batch_size=9, seed=1, num_epochs=3, learning_rate=0.01,
                         sample_weight=sw, loss="huber")
        flatten(f"sparse/minibatch_adam/{dtype}", r, out)
        r = gdfast.train(W0, Xs, Y, num_iterations=10, learning_rate=0.05, fit_intercept=True, seed=0)
        flatten(f"sparse/full_batch/{dtype}", r, out)
        flatten(f"sparse/predict/{dtype}", gdfast.predict(W0, Xs), out)
        labels = np.argmax(Y, axis=1)  # two classes, the softmax of W0's two rows
        r = gdfast.train(W0, Xs, labels, loss="multinomial", batch_size=1, seed=2, num_epochs=3, learning_rate=0.1,
                         penalty="l2", alpha=0.01, fit_intercept=True)
        flatten(f"sparse/multinomial_per_sample/{dtype}", r, out)
        r = gdfast.train(W0, Xs, labels, loss="multinomial", batch_size=8, seed=3, num_epochs=3, learning_rate=0.1,
                         sample_weight=sw)
        flatten(f"sparse/multinomial_minibatch/{dtype}", r, out)
        for threads in (1, 2):
            s = gdfast.sweep(W0, Xs, labels, learning_rates=[0.03, 0.1, 0.3], loss="multinomial", batch_size=1,
                             seed=4, num_epochs=2, n_threads=threads)
            flatten(f"sparse/sweep/{dtype}/threads{threads}", s.results, out)


def descents(out: dict[str, np.ndarray]) -> None:
    f = gdfast.Quadratic(1.5, -4.0, 2.0)
    for opt in OPTIMIZERS:
        p = gdfast.descend(f.gradient, [10.0, -3.0, 0.25], learning_rate=0.1, num_iterations=50, optimizer=opt,
                           function=f)
        flatten(f"descend/{opt}", p, out)
        q = gdfast.descend(f.gradient, p.x[-1], learning_rate=0.1, num_iterations=20, optimizer=opt, function=f,
                           clip_norm=1e-4, record_every=3, state=p.state)  # a clip that fires near the minimum too
        flatten(f"descend/clip_state/{opt}", q, out)
    for schedule in SCHEDULES:
        p = gdfast.descend(f.gradient, 7.0, learning_rate=0.1, num_iterations=30, schedule=schedule)
        flatten(f"descend/schedule/{schedule}", p, out)
    # lesson 3.1.1: one coordinate, plain SGD at a constant rate (its own loop), with f, in both dtypes
    lesson = gdfast.Quadratic(1.0, 4.0, 4.0)
    for dtype in DTYPES:
        p = gdfast.descend(lesson.gradient, np.array([10.0], dtype=dtype), learning_rate=0.1, num_iterations=40,
                           function=lesson, record_every=3)
        flatten(f"descend/lesson_1d/{dtype}", p, out)
    # the compiled objectives (src/_objectives.pxd), each with every optimizer
    objectives = [
        ("quadratic_form", functions.QuadraticForm([[3.0, 1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 1.0]],
                                                   [1.0, -2.0, 0.5]), [1.0, 2.0, -1.0], 0.05),
        ("rosenbrock", functions.Rosenbrock(), [-1.2, 1.0, 0.5, 2.0], 1e-4),
        ("rosenbrock2", functions.Rosenbrock(), [-1.2, 1.0], 1e-4),
        ("beale", functions.Beale(), [1.0, 1.0], 1e-3),
        ("himmelblau", functions.Himmelblau(), [0.0, 0.0], 1e-3),
        ("booth", functions.Booth(), [0.0, 0.0], 0.01),
        ("rastrigin", functions.Rastrigin(), [0.3, -1.7, 2.2], 1e-3),
        ("styblinski_tang", functions.StyblinskiTang(), [1.0, -2.0, 3.0], 1e-3),
    ]
    for name, obj, x0, lr in objectives:
        for opt in OPTIMIZERS:
            p = gdfast.descend(obj.gradient, x0, learning_rate=lr if opt == "sgd" else 10 * lr, num_iterations=50,
                               optimizer=opt, function=obj)
            flatten(f"descend_objective/{name}/{opt}", p, out)
            # clipped gradients (the norm and the scaling in each build), then 20 more updates from the state
            p = gdfast.descend(obj.gradient, x0, learning_rate=lr if opt == "sgd" else 10 * lr, num_iterations=30,
                               optimizer=opt, function=obj, clip_norm=1.0)
            q = gdfast.descend(obj.gradient, p.x[-1], learning_rate=lr if opt == "sgd" else 10 * lr,
                               num_iterations=20, optimizer=opt, function=obj, clip_norm=1.0, state=p.state)
            flatten(f"descend_objective/clip_state/{name}/{opt}", q, out)


def main(path: str) -> None:
    out: dict[str, np.ndarray] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (the diverging run and the early stop warn: expected)
        core_steps(out)
        trainings(out)
        sweeps(out)
        sparse_runs(out)
        descents(out)
    out["_meta/isa"] = np.array(_isa.ACTIVE)
    out["_meta/train_file"] = np.array(_train.__file__)
    out["_meta/gdfast_file"] = np.array(gdfast.__file__)
    np.savez(path, **out)


if __name__ == "__main__":
    main(sys.argv[1])
