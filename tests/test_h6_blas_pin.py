"""The BLAS pin is plain Python (gdfast._blas): BLAS on one thread while a dgemm-calling kernel runs.

The oracle for "one thread" is threadpoolctl's own report of every BLAS library loaded in the
process; the oracle for "the kernels enter the pin" is a recording stand-in for the pin's context
class, counted around calls that do (large float64 full batch) and do not (float32, tiny) use BLAS.
"""
import threading

import numpy as np
import pytest

import gdfast

threadpoolctl = pytest.importorskip("threadpoolctl")
_blas = pytest.importorskip("gdfast._blas")  # (an ImportError on the code before the move: the test fails)


def _blas_threads() -> set[int]:
    return {info["num_threads"] for info in threadpoolctl.threadpool_info() if info["user_api"] == "blas"}


def test_the_pin_is_plain_python_and_no_compiled_module_carries_it():
    import gdfast._train as train_module

    assert _blas.__file__.endswith(".py")
    assert not hasattr(train_module, "_blas_single_thread") and not hasattr(train_module, "_BlasOneThread")


def test_inside_the_pin_blas_runs_on_one_thread_and_the_limit_is_restored_after():
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        if not before or before == {1}:
            pytest.skip("no multi-threaded BLAS loaded here: nothing to pin")
        with _blas.blas_single_thread(True):
            assert _blas_threads() == {1}
            with _blas.blas_single_thread(True):  # nested (or another thread's call): still pinned
                assert _blas_threads() == {1}
            assert _blas_threads() == {1}  # the inner exit does not unpin the outer call
        assert _blas_threads() == before
        with _blas.blas_single_thread(False):  # a call that does not use BLAS changes nothing
            assert _blas_threads() == before


def test_pinned_calls_from_several_threads_keep_the_count():
    barrier = threading.Barrier(4)
    errors = []

    def work():
        try:
            for _ in range(50):
                with _blas.blas_single_thread(True):
                    barrier.wait(timeout=10) if _ == 0 else None
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert _blas._users == 0 and _blas._limiter is None


@pytest.fixture
def entered(monkeypatch):
    """Counts the pin's entries (the kernels look the context class up at each call)."""
    count = [0]
    real = _blas._OneThread

    class Recording(real):
        def __enter__(self):
            count[0] += 1
            return super().__enter__()

    monkeypatch.setattr(_blas, "_OneThread", Recording)
    return count


def test_kernels_that_call_dgemm_enter_the_pin(entered, monkeypatch):
    monkeypatch.delenv("GDFAST_BLAS", raising=False)
    rng = np.random.default_rng(0)
    # 64 samples x 64 features x 8 outputs: 32768 multiply-adds, above the size from which BLAS is used.
    X, Y, W = rng.standard_normal((64, 64)), rng.standard_normal((64, 8)), rng.standard_normal((8, 64))
    from gdfast import _train

    cfg = gdfast._engine.TrainOptions.from_kwargs(learning_rate=0.01).kernel_config(64)
    if not _train.run_uses_blas(cfg, 64, 64, 8):
        pytest.skip("this build does not call BLAS for this size (GDFAST_BLAS=0 or no BLAS)")
    gdfast.mse_gradient(W, X, Y)
    assert entered[0] == 1
    for call in (lambda: gdfast.train(W, X, Y, learning_rate=0.01, num_iterations=3),
                 lambda: gdfast.sweep(W, X, Y, learning_rates=[0.01, 0.02], num_iterations=3, n_threads=1)):
        before = entered[0]
        call()
        assert entered[0] > before  # the loop's kernel call (and the final loss's, for train)
    # float32 data and tiny problems never call dgemm: no pin.
    before = entered[0]
    gdfast.mse_gradient(W.astype(np.float32), X.astype(np.float32), Y.astype(np.float32))
    gdfast.mse_gradient(W[:1, :2], X[:3, :2], Y[:3, :1])
    gdfast.train(W[:1, :2], X[:3, :2], Y[:3, :1], learning_rate=0.01, num_iterations=3)
    assert entered[0] == before
