"""The BLAS pin: BLAS runs on one thread while a gdfast kernel that calls ``dgemm`` runs.

OpenBLAS may sum a product in another order when it splits it over threads, so the kernels' dgemm
calls run single-threaded: results then depend neither on BLAS's thread count nor on how many
sweep threads call it at once. The compiled modules (``_kernels``, ``_train``) enter
:func:`blas_single_thread` around their ``nogil`` blocks; it is plain Python, below them, so no
compiled module imports another for it.
"""
from __future__ import annotations

import contextlib
import threading
from types import TracebackType
from typing import Any

__all__ = ["blas_single_thread"]

_lock = threading.Lock()
_controller: Any = None  # threadpoolctl.ThreadpoolController once needed; False without threadpoolctl
_users = 0  # kernel calls inside the pin now (several Python threads may run kernels at once)
_limiter: Any = None  # the active threadpoolctl limit while _users > 0


class _OneThread:
    """Pins BLAS to one thread while any gdfast kernel call that uses dgemm runs (reference-counted,
    so concurrent calls from several Python threads keep it pinned until the last one ends)."""

    def __enter__(self) -> _OneThread:
        global _users, _limiter
        with _lock:
            if _users == 0:
                _limiter = _controller.limit(limits=1, user_api="blas")
            _users += 1
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        global _users, _limiter
        with _lock:
            _users -= 1
            if _users == 0:
                _limiter.restore_original_limits()
                _limiter = None


def blas_single_thread(uses_blas: bool) -> contextlib.AbstractContextManager[object]:
    """A context in which BLAS runs on one thread (a no-op when ``uses_blas`` is false).

    Without threadpoolctl (a dependency of gdfast) this is a no-op.

    Examples
    --------
    >>> from gdfast._blas import blas_single_thread
    >>> with blas_single_thread(True):
    ...     pass  # a kernel's dgemm calls here run on one BLAS thread
    """
    global _controller
    if not uses_blas:
        return contextlib.nullcontext()
    if _controller is None:
        with _lock:
            if _controller is None:
                try:
                    from threadpoolctl import ThreadpoolController
                    _controller = ThreadpoolController()
                except ImportError:  # pragma: no cover - threadpoolctl is a dependency
                    _controller = False
    if _controller is False:
        return contextlib.nullcontext()
    return _OneThread()
