"""``gdfast.GDRegressor``: the compiled training loop as a scikit-learn regressor.

Importing this module imports scikit-learn (``pip install gdfast[sklearn]``); ``import gdfast`` alone
does not: ``gdfast.GDRegressor`` is loaded on first access.
"""
from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Any, Callable, TypeVar

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._engine import LOSSES, MARGIN_LOSSES, RUNNING, TrainOptions, TrainState
from ._validation import as_array, as_float, check_bool, check_int, check_ndim, check_real
from .schedules import SCHEDULES
from .core import predict as _predict
from .training import TrainResult, train

__all__ = ["GDRegressor"]

_Method = TypeVar("_Method", bound=Callable[..., Any])

# The Parameters and Returns sections of fit and partial_fit: the same arguments, the same result.
_FIT_ARGUMENTS_DOC = """Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
        y : array_like, shape (n_samples,) or (n_samples, n_targets)
        sample_weight : array_like, shape (n_samples,), optional
            Non-negative weights (weighted mean loss).

        Returns
        -------
        self"""


def _with_fit_arguments(method: _Method) -> _Method:
    """``method`` with the line ``{fit arguments}`` of its docstring replaced by _FIT_ARGUMENTS_DOC."""
    if method.__doc__ is not None:  # None under python -OO
        method.__doc__ = method.__doc__.replace("{fit arguments}", _FIT_ARGUMENTS_DOC)
    return method


class GDRegressor(RegressorMixin, BaseEstimator):
    """Linear regression trained by :func:`gdfast.train`, with scikit-learn's estimator API.

    The model is ``X @ coef_.T + intercept_``, trained from zero weights by (mini-batch) gradient
    descent on the mean loss over samples and outputs, the whole loop in one compiled call.

    Parameters
    ----------
    learning_rate : float, default 0.01
        Base step size (> 0).
    optimizer : str or Optimizer, default "sgd"
        ``"sgd"``, ``"adam"``, ``"adamw"``, ``"rmsprop"``, ``"adagrad"``, ``"nadam"``, ``"radam"``,
        ``"adamax"`` or an object from
        :mod:`gdfast.optimizers`.
    loss : str, default "mse"
        A regression loss of :func:`gdfast.train`: ``"mse"`` (alias ``"squared_error"``; the mean of
        r**2, twice scikit-learn's half squared error), ``"mae"``, ``"huber"``,
        ``"epsilon_insensitive"`` or ``"squared_epsilon_insensitive"``. (The classification losses
        are for a classifier, which this is not.)
    huber_delta : float, optional
        The same option as ``epsilon``, under torch's name (give one of them).
    epsilon : float, optional
        The width of ``"huber"`` (default 1.0) and of the insensitive losses (default 0.1).
    fit_intercept : bool, default True
        Also learn ``intercept_`` (scikit-learn's default; :func:`gdfast.train` defaults to False).
    batch_size : int, optional
        Mini-batch size; None is the full batch (deterministic gradient descent). Batches larger
        than the data are clipped to the number of samples.
    shuffle : bool, default True
        Reshuffle the samples every epoch (mini-batches only).
    random_state : int, RandomState instance or None, default None
        Seeds the in-kernel shuffling generator.
    max_iter : int, default 1000
        Maximum number of epochs (passes over the data) of ``fit``.
    tol : float or None, default 1e-4
        Stop when the epoch's mean loss has not improved on the best one by at least ``tol`` for
        ``n_iter_no_change`` consecutive epochs (scikit-learn's SGD rule; ``loss_tol`` of
        :func:`gdfast.train`). None trains for all ``max_iter`` epochs.
    n_iter_no_change : int, default 5
    schedule : str or Schedule, optional
        Learning-rate schedule from :mod:`gdfast.schedules` (default constant).
    clip_norm : float, optional
        Clip the gradient to this global norm.
    penalty : {None, "l2", "l1", "elasticnet"}, default None
        Penalty on ``coef_`` (never ``intercept_``), scikit-learn's definition; ``penalty`` of
        :func:`gdfast.train` (plain SGD only).
    alpha : float, default 0.0001
        Strength of ``penalty``.
    l1_ratio : float, default 0.15
        The L1 share of ``penalty="elasticnet"``.
    average : bool or int, default False
        Averaged SGD, as scikit-learn's: ``coef_`` and ``intercept_`` are the mean of the iterates
        from update ``average`` on (True: from the first; an int counts updates, samples with
        ``batch_size=1``), continued across ``partial_fit`` calls; ``average`` of
        :func:`gdfast.train` (optimizer "sgd" only). ``restore_best`` is not applied when
        averaging, and ``tol`` reads the raw iterate's epoch losses.
    verbose : bool or int, default False
        Show a tqdm progress bar (``progress=True`` of :func:`gdfast.train`; needs tqdm).
    restore_best : bool, default True
        ``fit`` keeps the weights of the epoch with the lowest training loss when the last ones are
        worse (``restore_best=True`` of :func:`gdfast.train`). When ``fit`` ends on divergence, or
        on ``n_iter_no_change`` with a last epoch loss over 1.1 times the best one, a
        ``ConvergenceWarning`` says so (the learning rate is then usually too large).
    accumulate : {"float64", "float32"}, default "float64"
        ``accumulate`` of :func:`gdfast.train`: ``"float32"`` sums the full batches of float32
        data (``batch_size=None``) in float32 with BLAS, at NumPy's float32 speed and precision
        and with CPU-dependent last bits; it needs float32 X and y (``fit`` raises a ValueError
        for other data). The default sums in double.

    Attributes
    ----------
    coef_ : ndarray, shape (n_features,) or (n_targets, n_features)
    intercept_ : float or ndarray of shape (n_targets,)
    n_iter_ : int
        Epochs run by the last ``fit`` or ``partial_fit`` call.
    t_ : int
        Updates done since the first ``fit``/``partial_fit`` (continued by ``partial_fit``).
    loss_curve_ : ndarray of float64
        Mean training loss of each epoch (``partial_fit`` appends to it).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X had string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from gdfast import GDRegressor
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [2.0, 1.0]])
    >>> y = X @ np.array([2.0, -1.0]) + 0.5
    >>> reg = GDRegressor(learning_rate=0.1, max_iter=2000, tol=None).fit(X, y)
    >>> np.round(reg.coef_, 4), round(float(reg.intercept_), 4)
    (array([ 2., -1.]), 0.5)
    >>> round(reg.score(X, y), 6)
    1.0
    """

    def __init__(
        self,
        *,
        learning_rate: float = 0.01,
        optimizer: Any = "sgd",
        loss: str = "mse",
        huber_delta: float | None = None,
        epsilon: float | None = None,
        fit_intercept: bool = True,
        batch_size: int | None = None,
        shuffle: bool = True,
        random_state: Any = None,
        max_iter: int = 1000,
        tol: float | None = 1e-4,
        n_iter_no_change: int = 5,
        schedule: Any = None,
        clip_norm: float | None = None,
        verbose: bool | int = False,
        restore_best: bool = True,
        accumulate: str = "float64",
        penalty: str | None = None,
        alpha: float = 0.0001,
        l1_ratio: float = 0.15,
        average: bool | int = False,
    ) -> None:
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.loss = loss
        self.huber_delta = huber_delta
        self.epsilon = epsilon
        self.fit_intercept = fit_intercept
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.random_state = random_state
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.schedule = schedule
        self.clip_norm = clip_norm
        self.verbose = verbose
        self.restore_best = restore_best
        self.accumulate = accumulate
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.average = average

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        tags.input_tags.sparse = False
        return tags

    # ------------------------------------------------------------------------------------------
    @_with_fit_arguments
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> "GDRegressor":
        """Train from zero weights for up to ``max_iter`` epochs.

        {fit arguments}

        Examples
        --------
        >>> import numpy as np
        >>> from gdfast import GDRegressor
        >>> X = np.arange(8.0).reshape(4, 2)
        >>> reg = GDRegressor(learning_rate=0.02, max_iter=5, tol=None).fit(X, X.sum(axis=1))
        >>> reg.n_iter_, reg.t_, reg.loss_curve_.shape
        (5, 5, (5,))
        """
        self._check_params()
        self.__dict__.pop("_state", None)  # a new fit starts a new run
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], multi_output=True,
                             y_numeric=True, reset=True)
        return self._train(X, y, sample_weight, first=True, epochs=self.max_iter, early_stop=True)

    @_with_fit_arguments
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> "GDRegressor":
        """One more epoch over (X, y), continuing the optimizer state, step count and schedule.

        The first call (or a call after ``fit``) starts or continues from the current weights,
        ``coef_`` and ``intercept_`` (set them to start elsewhere; a first call without them starts
        from zero); batches may have different numbers of samples. ``tol`` is not used (no early
        stopping).

        {fit arguments}

        Examples
        --------
        >>> import numpy as np
        >>> from gdfast import GDRegressor
        >>> reg = GDRegressor(learning_rate=0.02)
        >>> for X in np.split(np.arange(16.0).reshape(8, 2), [3, 4]):  # batches of 3, 1 and 4 samples
        ...     reg = reg.partial_fit(X, X.sum(axis=1))
        >>> reg.t_, reg.loss_curve_.shape, reg.coef_.shape
        (3, (3,), (2,))
        """
        self._check_params()
        first = not hasattr(self, "_state")
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], multi_output=True,
                             y_numeric=True, reset=first)
        return self._train(X, y, sample_weight, first=first, epochs=1, early_stop=False)

    def predict(self, X: Any) -> np.ndarray:
        """Predictions ``X @ coef_.T + intercept_`` (computed by :func:`gdfast.predict`).

        ``coef_`` and ``intercept_`` are read at each call, so values set by the user are used.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)

        Returns
        -------
        ndarray, shape (n_samples,) or (n_samples, n_targets)

        Examples
        --------
        >>> import numpy as np
        >>> from gdfast import GDRegressor
        >>> X = np.array([[0.0], [1.0], [2.0]])
        >>> reg = GDRegressor(learning_rate=0.1, tol=None).fit(X, 3 * X[:, 0] + 1)
        >>> np.round(reg.predict([[4.0]]), 4)
        array([13.])
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        W, b, y_1d = self._public_params(None)
        if W.shape[1] != X.shape[1]:
            raise ValueError(f"coef_ has {W.shape[1]} features; X has {X.shape[1]}")
        out: np.ndarray = _predict(W, X) + b.astype(W.dtype if W.dtype == X.dtype else np.float64)
        return out[:, 0] if y_1d else out

    # ------------------------------------------------------------------------------------------
    def _train(self, X: np.ndarray, y: np.ndarray, sample_weight: Any, *, first: bool, epochs: int,
               early_stop: bool) -> "GDRegressor":
        Y = np.asarray(y, dtype=X.dtype)
        y_1d = Y.ndim == 1
        Y = Y.reshape(-1, 1) if y_1d else Y
        n_samples, n_features = X.shape
        warm = None
        if not first or (not early_stop and hasattr(self, "coef_")):
            # Continue from the public attributes (the user may have set them), in the model's dtype.
            dtype = self._state.params.dtype if not first else X.dtype
            W_pub, b_pub, model_1d = self._public_params(dtype)
            if Y.shape[1] != W_pub.shape[0] or y_1d != model_1d:
                raise ValueError(
                    f"y has {Y.shape[1]} target(s) ({'1-D' if y_1d else '2-D'}); the model (coef_) has "
                    f"{W_pub.shape[0]} ({'1-D' if model_1d else '2-D'})"
                )
            if W_pub.shape[1] != n_features:
                raise ValueError(f"coef_ has {W_pub.shape[1]} features; X has {n_features}")
            if not self.fit_intercept and b_pub.any():
                raise ValueError("intercept_ must be 0 with fit_intercept=False; set fit_intercept=True to train it")
            warm = (W_pub, b_pub)
            # Keep the model's dtype: later batches are cast to it.
            X = np.asarray(X, dtype=dtype)
            Y = np.asarray(Y, dtype=dtype)
        sw = None
        if sample_weight is not None:
            sw = _check_sample_weight(sample_weight, X, dtype=X.dtype, ensure_non_negative=True)
        batch_size = None if self.batch_size is None else min(self.batch_size, n_samples)  # checked
        options: dict[str, Any] = dict(
            learning_rate=self.learning_rate, optimizer=self.optimizer, loss=self.loss, huber_delta=self.huber_delta,
            epsilon=self.epsilon, fit_intercept=self.fit_intercept, batch_size=batch_size, shuffle=self.shuffle,
            num_epochs=epochs, schedule=self.schedule, clip_norm=self.clip_norm,
            accumulate=self.accumulate, penalty=self.penalty, alpha=self.alpha, l1_ratio=self.l1_ratio,
            average=self.average,
            # One per-update record per epoch: loss_curve_ comes from the (complete) epoch history.
            progress=bool(self.verbose), record_every=-(-n_samples // (batch_size or n_samples)),
        )
        if early_stop and self.tol is not None:
            options.update(loss_tol=self.tol, n_iter_no_change=self.n_iter_no_change)
        if early_stop:
            # (the mean of the iterates is returned when averaging: no best iterate to restore)
            options.update(restore_best=self.restore_best and not self.average)
        if first:
            seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
            if warm is None:
                W0 = np.zeros((Y.shape[1], n_features), dtype=X.dtype)
                result = train(W0, X, Y, seed=seed, sample_weight=sw, **options)
            else:  # a first partial_fit from coef_ / intercept_ set by the user
                start = TrainState.new(warm[0], warm[1], n_samples, TrainOptions.from_kwargs(
                    **{k: v for k, v in options.items() if k != "progress"}), seed)
                result = train(warm[0], X, Y, seed=seed, state=start, sample_weight=sw, **options)
            curve_before: np.ndarray = np.empty(0)
            t_before, epoch_before = 0, 0
        else:
            state = self._state
            t_before, epoch_before = state.step, state.epoch
            if state.perm.shape[0] != n_samples or state.record["position"] != 0:
                # A batch of another size: same optimizer buffers, counters and generator, a fresh
                # sample order for the new data (an epoch always ends at the end of a call).
                state = replace(state.copy(), perm=np.arange(n_samples, dtype=np.intp))
                state.record["position"] = 0
            else:
                state = state.copy()
            assert warm is not None
            m, n = state.shape
            theta = state.current_params()  # the copy's: the model's state is not touched
            averaged = state.averaged_params(TrainOptions.from_kwargs(average=self.average))
            if averaged is None or not (np.array_equal(averaged[: m * n], warm[0].reshape(-1))
                                        and (not state.fit_intercept or np.array_equal(averaged[m * n:], warm[1]))):
                # coef_ / intercept_ are not the state's mean of the iterates (set by the user, or
                # no averaging): continue from them; else from the raw iterate, as scikit-learn
                theta[: m * n] = warm[0].reshape(-1)
                if state.fit_intercept:
                    theta[m * n:] = warm[1]
            result = train(warm[0], X, Y, state=state, sample_weight=sw, **options)
            curve_before = self.loss_curve_
        self._store(result, y_1d, X.dtype)
        self.n_iter_ = int(result.state.epoch - epoch_before)
        self.t_ = int(t_before + result.n_iter)
        self.loss_curve_: np.ndarray = np.concatenate([curve_before, result.epoch_losses])
        self._warn_if_worse_than_best(result, early_stop)
        if early_stop and self.tol is not None and result.status == "max_iter" and not result.diverged:
            warnings.warn(
                f"GDRegressor: max_iter={self.max_iter} epochs reached before the loss stopped improving "
                "by tol; consider increasing max_iter or learning_rate",
                ConvergenceWarning,
                stacklevel=3,
            )
        return self

    def _warn_if_worse_than_best(self, result: TrainResult, early_stop: bool) -> None:
        """A ConvergenceWarning when fit ended on divergence, or on no improvement far above its best."""
        curve = result.epoch_losses
        if not early_stop or result.status not in ("diverged", "no_improvement"):
            return
        restored = result.best_step != result.state.step
        if result.status == "diverged":
            kept = "the weights of its best epoch" if restored else "the last weights before the blow-up"
            warnings.warn(
                f"GDRegressor: training diverged after {result.n_iter} updates (the loss overflowed or grew "
                f"past 1e4 times its best); the model holds {kept}. The learning_rate ({self.learning_rate}) "
                "is too large for this data: lower it, or standardise the features.",
                ConvergenceWarning, stacklevel=4,
            )
            return
        best = int(np.argmin(curve))
        ratio = curve[-1] / curve[best] if curve[best] > 0 else np.inf
        if not ratio > 1.1:
            return
        kept = "the weights of the best epoch" if restored else "the last weights"
        warnings.warn(
            f"GDRegressor: training stopped improving with a last epoch loss of {curve[-1]:.4g}, {ratio:.3g} "
            f"times the best epoch's ({curve[best]:.4g}, epoch {best + 1}); the model holds {kept}. The "
            f"learning_rate ({self.learning_rate}) is probably too large.",
            ConvergenceWarning,
            stacklevel=4,
        )

    def _check_params(self) -> None:
        """Validate every hyper-parameter (at fit time, as scikit-learn does) with the validators of
        :func:`gdfast.train`; messages name the parameter as GDRegressor spells it."""
        check_int(self.max_iter, "max_iter", low=1)
        if self.tol is not None:
            check_real(self.tol, "tol", low=0.0)
        check_int(self.n_iter_no_change, "n_iter_no_change", low=1)
        if self.batch_size is not None:
            check_int(self.batch_size, "batch_size", low=1)
        if not isinstance(self.verbose, (bool, np.bool_)):
            check_int(self.verbose, "verbose", low=0)
        check_bool(self.restore_best, "restore_best")
        if isinstance(self.learning_rate, str):
            hint = (f"; scikit-learn's learning_rate={self.learning_rate!r} is schedule={self.learning_rate!r} "
                    "here (with learning_rate=eta0)" if self.learning_rate.lower() in SCHEDULES else "")
            raise TypeError(f"learning_rate is the step size, a number > 0; got {self.learning_rate!r}{hint}")
        options = TrainOptions.from_kwargs(
            learning_rate=self.learning_rate, optimizer=self.optimizer, loss=self.loss,
            huber_delta=self.huber_delta, epsilon=self.epsilon, fit_intercept=self.fit_intercept,
            shuffle=self.shuffle, schedule=self.schedule, clip_norm=self.clip_norm, accumulate=self.accumulate,
            penalty=self.penalty, alpha=self.alpha, l1_ratio=self.l1_ratio, average=self.average,
        )
        if options.loss in MARGIN_LOSSES:
            raise ValueError(
                f"loss={self.loss!r} is a classification loss; GDRegressor takes the regression losses "
                f"{', '.join(sorted(set(LOSSES) - MARGIN_LOSSES))} (gdfast.train takes {self.loss!r} with -1/+1 "
                "targets)"
            )
        check_random_state(self.random_state)

    def _public_params(self, dtype: Any) -> tuple[np.ndarray, np.ndarray, bool]:
        """(W, b, y_1d) from ``coef_`` and ``intercept_``: W of shape (n_targets, n_features), b of
        shape (n_targets,), in ``dtype`` (None: coef_'s float dtype)."""
        coef = as_array("coef_", self.coef_)
        check_ndim("coef_", coef.shape, (1, 2))
        y_1d = coef.ndim == 1
        W = as_float("coef_", coef.reshape(1, -1) if y_1d else coef,
                     np.dtype(dtype) if dtype is not None else np.result_type(coef.dtype, np.float32))
        intercept = as_array("intercept_", self.intercept_)
        m = W.shape[0]
        if intercept.shape not in ((), (m,), (1,) if m == 1 else (m,)):
            raise ValueError(f"intercept_ must be a number or have shape ({m},) (one per target); got {intercept.shape}")
        b = as_float("intercept_", np.broadcast_to(intercept, (m,)), W.dtype)
        return W, b, y_1d

    def _store(self, result: TrainResult, y_1d: bool, dtype: np.dtype) -> None:
        if result.best_step != result.state.step or result.diverged:
            # restore_best returned earlier weights, or the run diverged: a later partial_fit continues
            # from the returned weights (with the optimizer's buffers and counters of the last update).
            state = result.state.copy()
            state.record["status"] = RUNNING
            m, n = result.W.shape
            theta = state.current_params()
            theta[: m * n] = result.W.reshape(-1)
            if result.b is not None:
                theta[m * n:] = result.b
            result = replace(result, state=state)
        if result.state.params.shape[0] > 2:
            # partial_fit continues without restore_best: the state without its best-iterate row
            result = replace(result, state=replace(result.state, params=result.state.params[:2].copy()))
        self._state: TrainState = result.state
        n_outputs = result.W.shape[0]
        b = result.b if result.b is not None else np.zeros(n_outputs, dtype=dtype)
        if y_1d:
            self.coef_ = result.W[0].copy()
            self.intercept_: Any = float(b[0])
        else:
            self.coef_ = result.W.copy()
            self.intercept_ = b.copy()
