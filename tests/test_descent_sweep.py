"""gdfast.descend_sweep: every run equals its own descend call (bit for bit, any n_threads), and
independent hand loops / torch.optim give the same paths."""
import warnings

import numpy as np
import pytest

import gdfast

F = gdfast.Quadratic(1, 4, 4)  # lesson 3.1.1


def _same_path(a, b):
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.steps, b.steps)
    if a.f is None:
        assert b.f is None
    else:
        np.testing.assert_array_equal(a.f, b.f)
    assert (a.n_iter, a.status, a.diverged, a.converged) == (b.n_iter, b.status, b.diverged, b.converged)


@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_every_run_is_its_descend_call_bit_for_bit(n_threads):
    starts = [10.0, -3.5, 0.25]
    optimizers = ["sgd", gdfast.SGD(momentum=0.9), "adam"]
    rates = [0.01, 0.1, 0.7]
    res = gdfast.descend_sweep(F.gradient, starts, optimizers=optimizers, learning_rates=rates, num_iterations=300,
                               function=F, grad_tol=1e-9, record_every=7, n_threads=n_threads)
    assert len(res) == 27 and res.x.shape == (27,)
    k = 0
    for s, x0 in enumerate(starts):
        for opt in optimizers:
            for lr in rates:
                assert res.configs[k] == {"start": s, "optimizer": opt if isinstance(opt, str) else repr(opt),
                                          "learning_rate": lr}
                one = gdfast.descend(F.gradient, x0, learning_rate=lr, num_iterations=300, function=F,
                                     optimizer=opt, grad_tol=1e-9, record_every=7)
                _same_path(res.paths[k], one)
                k += 1


def test_plain_sgd_runs_equal_the_lessons_hand_loop():
    # Independent oracle: lesson 3.1.1's loop in Python floats, x -= lr * (2x + 4), 20 steps.
    res = gdfast.descend_sweep(F.gradient, [10.0, -6.0], learning_rates=[0.1, 0.3], num_iterations=20,
                               record_every=1, n_threads=2)
    for path, cfg in zip(res.paths, res.configs):
        x = [10.0, -6.0][cfg["start"]]
        xs = [x]
        for _ in range(20):
            x = x - cfg["learning_rate"] * (2 * x + 4)
            xs.append(x)
        np.testing.assert_array_equal(path.x, xs)


def test_adam_runs_equal_torch_optim():
    torch = pytest.importorskip("torch")
    starts = [np.array([3.0, -1.0]), np.array([-2.0, 4.0])]
    grad = lambda x: np.array([2.0 * x[0], 20.0 * x[1]])  # noqa: E731  f = x0^2 + 10 x1^2, a Python gradient
    res = gdfast.descend_sweep(grad, starts, optimizers=["adam"], learning_rates=[0.05, 0.2], num_iterations=100,
                               record_every=1, n_threads=2)
    for path, cfg in zip(res.paths, res.configs):
        p = torch.tensor(starts[cfg["start"]], dtype=torch.float64, requires_grad=True)
        opt = torch.optim.Adam([p], lr=cfg["learning_rate"])
        xs = [p.detach().numpy().copy()]
        for _ in range(100):
            opt.zero_grad()
            (p[0] ** 2 + 10 * p[1] ** 2).backward()
            opt.step()
            xs.append(p.detach().numpy().copy())
        # float64 both ways; torch's Adam evaluates its bias corrections in another order: 1e-12
        np.testing.assert_allclose(path.x, np.array(xs), rtol=0, atol=1e-12)


def test_default_record_keeps_start_and_end_and_the_table():
    res = gdfast.descend_sweep(F.gradient, [10.0], learning_rates=[0.1, 1.5], num_iterations=50, function=F)
    assert [p.x.shape for p in res.paths][0] == (2,)  # start and end only
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the diverging run (lr 1.5: |1 - 2 lr| > 1) warns nothing ...
        res = gdfast.descend_sweep(F.gradient, [10.0], learning_rates=[0.1, 1.5], num_iterations=5000, function=F)
    rows = res.to_records()
    assert [r["status"] for r in rows] == ["max_iter", "diverged"]  # ... its row says it
    assert rows[0]["x"] == pytest.approx(-2.0) and rows[0]["f"] == pytest.approx(0.0, abs=1e-20)
    assert set(rows[0]) == {"start", "optimizer", "learning_rate", "x", "f", "n_iter", "converged", "diverged",
                            "status"}
    assert res.best() == 0 and "f min" in repr(res)
    np.testing.assert_array_equal(res.status, ["max_iter", "diverged"])
    assert res.n_iter[0] == 5000 and res.n_iter[1] < 5000


def test_vector_starts_and_an_elementwise_function():
    res = gdfast.descend_sweep(F.gradient, [[10.0, 0.0], [1.0, -1.0]], learning_rates=[0.25], num_iterations=40,
                               function=F)
    assert res.x.shape == (2, 2)
    np.testing.assert_allclose(res.x, -2.0, atol=1e-9)
    assert res.f.shape == (2,)  # f summed over the coordinates


@pytest.mark.parametrize("kwargs, error, match", [
    ({"starts": []}, ValueError, "starts is empty"),
    ({"starts": 1.0}, TypeError, "starts must be a sequence"),
    ({"starts": [[1.0, 2.0], [1.0]]}, ValueError, "one shape"),
    ({"starts": [[[1.0]]]}, ValueError, "scalar or 1-D"),
    ({"learning_rates": []}, ValueError, "learning_rates is empty"),
    ({"learning_rates": 0.1}, TypeError, "learning_rates must be a sequence"),
    ({"learning_rates": [0.1, -1.0]}, ValueError, "learning_rate"),
    ({"optimizers": "adam"}, TypeError, "optimizers must be a sequence"),
    ({"optimizers": []}, ValueError, "optimizers is empty"),
    ({"optimizers": ["nope"]}, ValueError, "optimizer"),
    ({"n_threads": 0}, ValueError, "n_threads must be >= 1"),
    ({"num_iterations": -1}, ValueError, "num_iterations"),
])
def test_bad_input_is_refused(kwargs, error, match):
    args = {"starts": [1.0], "learning_rates": [0.1], "num_iterations": 10, **kwargs}
    starts = args.pop("starts")
    with pytest.raises(error, match=match):
        gdfast.descend_sweep(F.gradient, starts, **args)


def test_best_needs_a_function():
    res = gdfast.descend_sweep(F.gradient, [1.0], learning_rates=[0.1], num_iterations=3)
    with pytest.raises(ValueError, match="pass function="):
        res.best()
