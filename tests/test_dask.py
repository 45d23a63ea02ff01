"""gdfast.sweep(client=...) on a LocalCluster of 2 worker processes (1 thread each) on loopback.

The oracle is the local sweep (itself checked against gdfast.train run by run): runs are independent
and carry their own seed, so the distributed result must equal it to the bit, field by field.
"""
import asyncio
import math
import os
import signal
import threading
import time

import numpy as np
import pytest

pytest.importorskip(
    "distributed", reason="dask.distributed is not installed (pip install 'gdfast[dask]' to run these tests)"
)

import dask  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

import gdfast  # noqa: E402
from gdfast import _distributed, _runs, sweeps  # noqa: E402
from gdfast.lesson import INPUT, TARGET, W1  # noqa: E402

from conftest import random_problem  # noqa: E402


# Lesson problem: gradient descent diverges for learning_rate > 2/15 (largest Hessian eigenvalue 15);
# with 0.5 the error grows by |1 - 0.5 * 15| = 6.5 per step, so the loss overflows after ~190 steps.
DIVERGING_LR = 0.5


@pytest.fixture(scope="module")
def client():
    # Loopback only; the scheduler's HTTP server on a free port (":0", never a fixed one that another
    # test run on this machine may hold) and no dashboard.
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0",
        worker_dashboard_address=None, scheduler_kwargs={"dashboard": False},
    )
    c = Client(cluster)
    try:
        # The workers must run this checkout's gdfast, not another installed copy.
        worker_files = set(c.run(lambda: __import__("gdfast").__file__).values())
        assert worker_files == {gdfast.__file__}
        yield c
    finally:
        c.close()
        cluster.close()


def assert_same_result(a, b):
    """Two TrainResults equal to the bit (NaN where the other has NaN), dtypes included."""
    for field in ("W", "b", "losses", "epoch_losses"):
        x, y = getattr(a, field), getattr(b, field)
        if x is None or y is None:
            assert x is None and y is None, field
            continue
        assert x.dtype == y.dtype, field
        np.testing.assert_array_equal(x, y, err_msg=field)
    for field in ("loss", "grad_norm"):
        x, y = getattr(a, field), getattr(b, field)
        assert x == y or (math.isnan(x) and math.isnan(y)), (field, x, y)
    for field in ("n_iter", "converged", "stopped_early", "diverged", "status", "seed"):
        assert getattr(a, field) == getattr(b, field), field
    for field in ("params", "opt_state", "perm", "record"):  # (bytes: the record holds NaN fields)
        assert getattr(a.state, field).tobytes() == getattr(b.state, field).tobytes(), field
    assert (a.state.optimizer, a.state.fit_intercept, a.state.shape) == (
        b.state.optimizer, b.state.fit_intercept, b.state.shape)


def assert_same_sweep(a, b):
    assert a.configs == b.configs
    assert len(a.results) == len(b.results)
    for ra, rb in zip(a.results, b.results):
        assert_same_result(ra, rb)


def _with_fault(task, path, how):
    """``task`` (a sweep chunk's function) that, in the first of its copies to finish (the one that
    creates ``path``), kills its own worker process before returning the results (how="exit"), as a
    crash in the middle of a sweep would, or raises (how="raise"), as a transient error would.

    A function local to this one: cloudpickle sends it to the workers by value (with ``task``, a
    gdfast function, by reference), so no worker imports this test module and gdfast itself keeps
    no test-only hook.
    """
    def task_with_fault(*args, **kwargs):
        result = task(*args, **kwargs)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return result  # another copy (or this task's earlier try) already failed
        os.close(fd)
        if how == "raise":
            raise RuntimeError("gdfast test fault: a transient error in a sweep task")
        os._exit(17)

    return task_with_fault


@pytest.fixture
def inject_fault(client, monkeypatch):
    """``inject_fault(path, how)``: the sweep tasks this test submits fail once (see _with_fault)."""
    def arm(path, how):
        real_submit = client.submit

        def submit(fn, *args, **kwargs):
            return real_submit(_with_fault(fn, str(path), how), *args, **kwargs)

        monkeypatch.setattr(client, "submit", submit)

    return arm


@pytest.fixture(scope="module")
def problem():
    W0, X, Y = random_problem(np.random.default_rng(2024), 20, 3, 2)
    sw = np.random.default_rng(5).uniform(0.5, 2.0, 20)
    starts = np.stack([W0, 0.5 * W0, -W0])
    return W0, X, Y, sw, starts


SWEEP = dict(
    learning_rates=[0.01, 0.03],
    seeds=[1, 2**63 + 5],
    configs=gdfast.grid(optimizer=["sgd", "adam", gdfast.SGD(momentum=0.9)], batch_size=[5, 20]),
    num_iterations=60,
    fit_intercept=True,
    record_every=3,
)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_distributed_sweep_equals_local_sweep_to_the_bit(client, problem, dtype):
    W0, X, Y, sw, starts = (a.astype(dtype) for a in problem)
    local = gdfast.sweep(W0, X, Y, initial_weights=starts, sample_weight=sw, n_threads=2, **SWEEP)
    dist = gdfast.sweep(W0, X, Y, initial_weights=starts, sample_weight=sw, client=client, **SWEEP)
    assert len(dist) == 2 * 2 * 3 * 6
    assert dist.W.dtype == dtype
    assert_same_sweep(dist, local)


@pytest.mark.parametrize(
    "options", [dict(n_chunks=1), dict(n_chunks=1000), dict(chunk_size=1), dict(chunk_size=7, n_threads=2)]
)
def test_any_chunking_gives_the_same_result(client, problem, options):
    W0, X, Y, _, _ = problem
    kw = dict(learning_rates=[0.01, 0.02, 0.05], seeds=[3, 4], batch_size=4, num_iterations=30)
    assert_same_sweep(gdfast.sweep(W0, X, Y, client=client, **options, **kw), gdfast.sweep(W0, X, Y, **kw))


def test_seeds_left_to_chance_are_drawn_once_before_chunking(client, problem):
    W0, X, Y, _, _ = problem
    # One plan, executed locally and on the cluster: identical, including the drawn seeds.
    plan = sweeps._plan(W0, X, Y, [0.01, 0.02], None, None, None, None,
                        dict(batch_size=3, num_iterations=25))
    assert len({run.seed for run in plan.runs}) == 2
    local = _runs.execute(plan.runs, plan.W, plan.X, plan.Y, None, None, 1)
    dist = _distributed.run_sweep(client, plan, n_chunks=2)
    for a, b in zip(local, dist):
        assert_same_result(a, b)
    # Through the public API: each row's reported seed reproduces it with a plain train call.
    res = gdfast.sweep(W0, X, Y, learning_rates=[0.01, 0.02], batch_size=3, num_iterations=25, client=client)
    for lr, r in zip([0.01, 0.02], res.results):
        ref = gdfast.train(W0, X, Y, learning_rate=lr, batch_size=3, num_iterations=25, seed=r.seed)
        np.testing.assert_array_equal(r.W, ref.W)


def test_data_is_scattered_once_and_tasks_get_futures(client, problem, monkeypatch):
    W0, X, Y, sw, starts = problem
    scatters, submits = [], []
    real_scatter, real_submit = client.scatter, client.submit

    def scatter(data, **kwargs):
        scatters.append((data, kwargs))
        return real_scatter(data, **kwargs)

    def submit(fn, *args, **kwargs):
        submits.append((args, kwargs))
        return real_submit(fn, *args, **kwargs)

    monkeypatch.setattr(client, "scatter", scatter)
    monkeypatch.setattr(client, "submit", submit)
    gdfast.sweep(W0, X, Y, initial_weights=starts, sample_weight=sw, learning_rates=[0.01, 0.02, 0.03],
                 num_iterations=5, client=client, n_chunks=3, retries=4)
    assert len(scatters) == 1 and scatters[0][1]["broadcast"] is True
    scattered = scatters[0][0]
    assert len(scattered) == 5 and all(isinstance(a, np.ndarray) for a in scattered)
    assert len(submits) == 3
    for args, kwargs in submits:
        assert not any(isinstance(a, np.ndarray) for a in args)  # arrays travel as futures only
        assert kwargs["retries"] == 4


def test_worker_killed_mid_sweep_loses_no_result(client, problem, tmp_path, inject_fault):
    W0, X, Y, _, _ = problem
    kw = dict(learning_rates=[0.01, 0.02, 0.04, 0.08], seeds=[1, 2, 3], batch_size=5, num_iterations=200)
    local = gdfast.sweep(W0, X, Y, **kw)
    marker = tmp_path / "worker-killed"
    before = set(client.nthreads())  # asks the scheduler (scheduler_info() may be cached)
    inject_fault(marker, "exit")
    dist = gdfast.sweep(W0, X, Y, client=client, n_chunks=6, **kw)
    assert marker.exists()  # a worker process did exit in the middle of the sweep
    assert before - set(client.nthreads())  # and the scheduler lost that worker
    assert_same_sweep(dist, local)
    client.wait_for_workers(2, timeout=60)  # the nanny restarts it; leave 2 workers for the next test
    assert len(client.nthreads()) == 2


@pytest.mark.parametrize("retries", [0, 1])
def test_a_task_that_raises_is_retried_retries_times(client, problem, tmp_path, retries, inject_fault):
    W0, X, Y, _, _ = problem
    kw = dict(learning_rates=[0.01, 0.02, 0.04], seeds=[1, 2], batch_size=5, num_iterations=50)
    marker = tmp_path / "task-raised"
    inject_fault(marker, "raise")
    if retries == 0:
        with pytest.raises(RuntimeError, match="gdfast test fault"):
            gdfast.sweep(W0, X, Y, client=client, n_chunks=3, retries=0, **kw)
    else:
        dist = gdfast.sweep(W0, X, Y, client=client, n_chunks=3, retries=1, **kw)
        assert_same_sweep(dist, gdfast.sweep(W0, X, Y, **kw))
    assert marker.exists()


def test_diverging_config_is_reported_in_its_row(client):
    configs = gdfast.grid(optimizer=["sgd", "adam"], learning_rate=[0.05, DIVERGING_LR])
    with pytest.warns(RuntimeWarning, match="1 of 4 runs diverged"):
        res = gdfast.sweep(W1, INPUT, TARGET, configs=configs, num_iterations=400, client=client)
    rows = res.to_records()
    assert [r["diverged"] for r in rows] == [False, True, False, False]
    assert rows[1]["status"] == "diverged" and np.isfinite(rows[1]["loss"])
    assert rows[0]["loss"] < 1e-10  # the stable SGD step converges on the lesson problem


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(chunk_size=2, n_chunks=2), ValueError, "chunk_size or n_chunks, not both"),
        (dict(n_chunks=0), ValueError, "n_chunks must be >= 1"),
        (dict(chunk_size=1.5), TypeError, "chunk_size must be an integer"),
        (dict(retries=-1), ValueError, "retries must be >= 0"),
        (dict(n_threads=0), ValueError, "n_threads must be >= 1"),
    ],
)
def test_bad_distributed_options(client, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        gdfast.sweep(W1, INPUT, TARGET, learning_rates=[0.01], client=client, **kwargs)


def test_client_must_be_a_dask_client():
    with pytest.raises(TypeError, match="client must be a dask.distributed.Client; got str"):
        gdfast.sweep(W1, INPUT, TARGET, learning_rates=[0.01], client="tcp://127.0.0.1:8786")


def test_the_shipped_code_keeps_no_fault_hook():
    # Faults are injected by the tests (inject_fault wraps the task function they submit).
    import inspect

    for name in ("_FAULT", "_arm_fault", "_fault_if_armed"):
        assert not hasattr(_distributed, name), name
    assert "os._exit" not in inspect.getsource(_distributed)


def test_tasks_use_the_threads_openmp_sees_on_the_worker(client):
    # Dask's nanny sets OMP_NUM_THREADS=1 in its workers (distributed.nanny.pre-spawn-environ),
    # which is what n_threads=None gives each task there.
    threads = client.run(lambda: __import__("gdfast._train")._train.max_threads())
    expected = int(dask.config.get("distributed.nanny.pre-spawn-environ").get("OMP_NUM_THREADS", 0)) or None
    if expected is not None:
        assert set(threads.values()) == {expected}


def test_an_asynchronous_client_is_refused(client):
    async def main():
        async with Client(client.scheduler.address, asynchronous=True) as aclient:
            with pytest.raises(TypeError, match="synchronous"):
                gdfast.sweep(W1, INPUT, TARGET, learning_rates=[0.01], client=aclient)

    asyncio.run(main())


@pytest.mark.skipif(signal.getsignal(signal.SIGINT) is not signal.default_int_handler,
                    reason="SIGINT does not raise KeyboardInterrupt here")
def test_ctrl_c_stops_the_running_tasks_and_leaves_the_cluster_usable(client):
    # Tasks a worker's threads are computing, cancelled ones included, as the worker sees them. (A
    # local function travels by value; one of this module would make the worker import the module.)
    def executing(dask_worker):
        return len(dask_worker.state.executing)

    assert set(client.run(executing).values()) == {0}
    # Each of the 8 runs would take minutes; Ctrl-C (a real SIGINT to the main thread, as a
    # terminal sends) arrives 1 s after the sweep starts, while the client waits for the results.
    timer = threading.Timer(1.0, signal.pthread_kill, (threading.main_thread().ident, signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            gdfast.sweep(W1, INPUT, TARGET, learning_rates=np.logspace(-9, -8, 8), num_iterations=4 * 10**8,
                         record_every=10**9, client=client)
    finally:
        timer.cancel()
        timer.join()
    # Within 2 s no task is processing, as the scheduler sees it, and no worker thread is still
    # computing a cancelled task (a task looks for the cancel between kernel calls of ~0.2 s).
    start = time.perf_counter()
    while any(client.processing().values()) or any(client.run(executing).values()):
        assert time.perf_counter() - start < 2.0, (client.processing(), client.run(executing))
        time.sleep(0.05)
    # The cluster is free: a short sweep completes at once, with the right numbers.
    start = time.perf_counter()
    short = dict(learning_rates=[0.01, 0.02], seeds=[1], num_iterations=200)
    res = gdfast.sweep(W1, INPUT, TARGET, client=client, **short)
    assert time.perf_counter() - start < 5.0
    assert_same_sweep(res, gdfast.sweep(W1, INPUT, TARGET, **short))
