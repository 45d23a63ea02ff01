"""progress=True (train) and verbose=True (GDRegressor): a tqdm bar, and exactly the same numbers."""
import numpy as np
import pytest

import gdfast
from gdfast.lesson import INPUT, TARGET, W1

pytest.importorskip("tqdm")


def test_train_progress_bar_changes_nothing_but_stderr(capsys, rng):
    X = rng.standard_normal((64, 4))
    Y = X @ rng.standard_normal((4, 2)) + 0.1
    kw = dict(learning_rate=0.01, optimizer="adam", num_epochs=30, batch_size=16, seed=5, fit_intercept=True)
    plain = gdfast.train(np.zeros((2, 4)), X, Y, **kw)
    assert capsys.readouterr().err == ""
    shown = gdfast.train(np.zeros((2, 4)), X, Y, progress=True, **kw)
    err = capsys.readouterr().err
    assert "120/120" in err and "loss=" in err  # 30 epochs x 4 batches, the loss on the bar
    # Chunked kernel calls continue the run exactly: bit-identical to one call.
    np.testing.assert_array_equal(shown.W, plain.W)
    np.testing.assert_array_equal(shown.b, plain.b)
    np.testing.assert_array_equal(shown.losses, plain.losses)
    np.testing.assert_array_equal(shown.epoch_losses, plain.epoch_losses)


def test_train_progress_stops_with_the_run(capsys):
    res = gdfast.train(W1, INPUT, TARGET, learning_rate=0.02, num_iterations=10_000, grad_tol=1e-9, progress=True)
    assert res.converged and res.n_iter < 10_000
    assert f"{res.n_iter}/10000" in capsys.readouterr().err


def test_regressor_verbose_shows_a_bar(capsys, rng):
    pytest.importorskip("sklearn", minversion="1.6")
    X = rng.standard_normal((30, 3))
    y = X @ np.array([1.0, -2.0, 0.5])
    quiet = gdfast.GDRegressor(batch_size=None, schedule=None, learning_rate=0.1, max_iter=50, tol=None).fit(X, y)
    assert capsys.readouterr().err == ""
    loud = gdfast.GDRegressor(batch_size=None, schedule=None, learning_rate=0.1, max_iter=50, tol=None,
                                verbose=True).fit(X, y)
    assert "50/50" in capsys.readouterr().err
    np.testing.assert_array_equal(loud.coef_, quiet.coef_)


def test_progress_without_tqdm_is_a_clear_import_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # as if tqdm were not installed
    with pytest.raises(ImportError, match="pip install tqdm"):
        gdfast.train(W1, INPUT, TARGET, num_iterations=5, progress=True)
    # progress=False never touches tqdm.
    assert gdfast.train(W1, INPUT, TARGET, num_iterations=5).n_iter == 5
