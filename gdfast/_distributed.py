"""``gdfast.sweep(client=...)``: a planned sweep split into chunks run as tasks on a Dask cluster.

Each task runs its chunk of runs through the ``advance_runs`` kernel (the compiled parallel loop does
the work on the worker); the arrays are scattered to every worker once, before the tasks. Runs are
independent and carry their own seed, so a chunk's results do not depend on which worker runs it,
with how many threads, or how often: the gathered result equals the local sweep bit for bit.

Cancelling: Dask cannot stop a task that is running, so each task calls the kernel in pieces of a
fraction of a second (a run continued in pieces gives the same bits as one call) and, between two
pieces, looks at a Dask ``Event`` of its sweep. When the client's wait ends with an exception
(Ctrl-C included), the client sets that event and cancels the futures: running tasks end within
about one piece, and the workers are free for the next sweep.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from types import ModuleType
from typing import Any, cast

import numpy as np

from ._runs import Plan, Run, execute
from ._sparse import CSRData
from .training import TrainResult

__all__ = ["check_client", "run_sweep", "chunk_indices"]

_INSTALL = "pip install 'gdfast[dask]' (or: pip install 'dask[distributed]')"

DEFAULT_RETRIES = 2
TASKS_PER_THREAD = 4


def _require_distributed() -> ModuleType:
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(f"gdfast.sweep(client=...) needs dask.distributed; install it with {_INSTALL}") from exc
    return distributed


def check_client(client: Any) -> None:
    """Raise ImportError without dask.distributed, TypeError when ``client`` is not a Client."""
    distributed = _require_distributed()
    if not isinstance(client, distributed.Client):
        raise TypeError(f"client must be a dask.distributed.Client; got {type(client).__name__}")
    if client.asynchronous:
        raise TypeError("client must be a synchronous dask.distributed.Client (asynchronous=False): "
                        "gdfast.sweep waits for its results")


def chunk_indices(n_runs: int, n_chunks: int) -> list[list[int]]:
    """Run indices of each chunk: chunk c holds c, c + n_chunks, ... (cheap and costly runs mix)."""
    return [list(range(c, n_runs, n_chunks)) for c in range(n_chunks)]


def _resolve_n_chunks(client: Any, n_runs: int, chunk_size: int | None, n_chunks: int | None) -> int:
    from ._validation import check_int

    if chunk_size is not None and n_chunks is not None:
        raise ValueError("give chunk_size or n_chunks, not both")
    if chunk_size is not None:
        chunk_size = check_int(chunk_size, "chunk_size", low=1)
        return -(-n_runs // chunk_size)
    if n_chunks is not None:
        return min(check_int(n_chunks, "n_chunks", low=1), n_runs)
    total_threads = sum(client.nthreads().values()) or 1
    return min(n_runs, TASKS_PER_THREAD * total_threads)


def run_sweep(client: Any, plan: Plan, *, n_threads: int | None = None, chunk_size: int | None = None,
              n_chunks: int | None = None, retries: int | None = None) -> list[TrainResult]:
    """The TrainResults of ``plan``'s runs, computed on ``client``'s cluster, in plan order."""
    from ._validation import check_int

    retries = DEFAULT_RETRIES if retries is None else check_int(retries, "retries", low=0)
    n_runs = len(plan.runs)
    chunks = chunk_indices(n_runs, _resolve_n_chunks(client, n_runs, chunk_size, n_chunks))

    arrays = {"W": plan.W, "X": plan.X, "Y": plan.Y}
    if plan.sample_weight is not None:
        arrays["sample_weight"] = plan.sample_weight
    if plan.starts is not None:
        arrays["starts"] = plan.starts
    if plan.b is not None:
        arrays["b"] = plan.b
    # A list (not the dict itself: scatter would use its names as cluster-wide keys), fresh keys.
    data = dict(zip(arrays, client.scatter(list(arrays.values()), broadcast=True, hash=False)))
    token = uuid.uuid4().hex
    cancel_name = f"gdfast-sweep-{token}-cancel"
    futures: list[Any] = []  # dask.distributed Futures
    try:
        for c, idx in enumerate(chunks):
            futures.append(client.submit(
                _run_chunk, [plan.runs[i] for i in idx], data["W"], data["X"], data["Y"],
                data.get("sample_weight"), data.get("starts"), n_threads, cancel_name, data.get("b"),
                key=f"gdfast-sweep-{token}-{c}", retries=retries,
            ))
        chunk_results = client.gather(futures)
    except BaseException:
        # Ctrl-C (or a failed task, or a lost connection): stop the running tasks at their next
        # look at the event, drop the others, then let the exception go on.
        try:
            _require_distributed().Event(cancel_name, client=client).set()
        except Exception:  # pragma: no cover - e.g. the scheduler is gone; cancelling is all we can do
            pass
        client.cancel(futures + list(data.values()))
        raise
    results: list[TrainResult | None] = [None] * n_runs
    for idx, res in zip(chunks, chunk_results):
        if len(res) != len(idx):  # pragma: no cover - would be a bug in _run_chunk
            raise RuntimeError(f"a sweep chunk returned {len(res)} results for {len(idx)} runs")
        for i, r in zip(idx, res):
            results[i] = r
    return cast(list[TrainResult], results)  # the chunks cover every run index once


class SweepCancelled(Exception):
    """Raised in a task whose sweep was cancelled by its client (the client no longer waits for it)."""


def _run_chunk(runs: list[Run], W: np.ndarray, X: np.ndarray | CSRData, Y: np.ndarray, sample_weight: np.ndarray | None,
               starts: np.ndarray | None, n_threads: int | None, cancel_name: str | None = None,
               b: np.ndarray | None = None) -> list[TrainResult]:
    """The task: a chunk of planned runs through the kernel (executed on a worker).

    With ``cancel_name``, the kernel is called in pieces of a fraction of a second, and the task
    raises SweepCancelled between two pieces once the Dask Event of that name is set.
    """
    from . import _train

    if n_threads is None:
        n_threads = _train.max_threads()
    between_calls: Callable[[], None] | None = None
    if cancel_name is not None:
        cancel = _require_distributed().Event(cancel_name)

        def check_cancel() -> None:
            if cancel.is_set():
                raise SweepCancelled(f"sweep cancelled by its client ({cancel_name})")

        check_cancel()  # a task that starts after the cancel (e.g. a retry) does no work
        between_calls = check_cancel
    # (a list: a task's results travel to the client made, not as the run set's buffers)
    return list(execute(runs, W, X, Y, sample_weight, starts, n_threads, b, between_calls=between_calls))

