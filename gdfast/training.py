"""``gdfast.train``: the whole gradient-descent loop in one compiled call."""
from __future__ import annotations

import math
import operator
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from ._sparse import CSRData
from ._engine import (
    CONVERGED, DIVERGED, NO_IMPROVEMENT, STATUS_NAMES, KernelConfigs, RunSet, TrainCall, TrainOptions, TrainState,
    compact, dataset_loss, history_sizes, identity_index, is_full_batch, local_threads, same_value,
)
from ._validation import check_int
from .optimizers import Optimizer
from .schedules import Schedule

__all__ = ["train", "TrainResult"]


@dataclass(frozen=True, repr=False, eq=False)
class TrainResult:
    """What :func:`gdfast.train` returns.

    Attributes
    ----------
    W : ndarray
        Final weights (a new array; the caller's W is untouched).
    b : ndarray or None
        Final bias when ``fit_intercept=True``.
    loss : float
        Loss of the final (W, b) on all samples.
    losses : ndarray of float64
        The loss *before* updates t = 0, record_every, 2*record_every, ... (computed in each
        update's forward pass; the batch's loss for mini-batches). The loss after the last update
        is not in it: it is ``loss``. A run stopped by ``grad_tol`` also records the forward pass
        that found convergence.
    epoch_losses : ndarray of float64
        Mean batch loss of each completed epoch. With ``record_every`` > 1, only every
        ``max(1, record_every // steps_per_epoch)``-th epoch is kept (from the first), so long runs
        keep bounded memory. A full batch's epoch is its one update: its epoch losses are its
        losses, and this is the same array as ``losses`` (stored once).
    n_iter : int
        Updates done by this call.
    converged : bool
        Stopped because the gradient's norm fell below ``grad_tol``.
    stopped_early : bool
        Stopped by the ``n_iter_no_change`` rule.
    diverged : bool
        Stopped because the loss stopped being finite or grew past ``divergence_factor`` times its
        best value; W is then the last iterate before the blow-up whose loss on all samples is
        finite (the result equals, bit for bit, a fresh run of ``n_iter`` updates), and a
        RuntimeWarning was issued.
    status : str
        ``"max_iter"``, ``"converged"``, ``"no_improvement"`` or ``"diverged"``.
    grad_norm : float
        Norm of the last gradient computed (NaN when neither ``grad_tol`` nor ``clip_norm`` asked for it,
        or when no update ran).
    seed : int
        Seed of the shuffling generator (drawn from the OS when none was given).
    state : TrainState
        Pass as ``train(result.W, X, Y, state=result.state, ...)`` to continue the run exactly (with
        ``restore_best``, W of the state's last iterate: ``result.state.split()[0]``). The state of a
        diverged run cannot be continued.
    best_step : int
        Updates since the run began (``state.step`` counts the same way) after which the returned
        W was reached: ``state.step`` unless ``restore_best`` returned earlier weights (with
        ``average``, the last iterate in the returned mean).

    Examples
    --------
    >>> import gdfast
    >>> from gdfast.lesson import INPUT, TARGET, W1
    >>> r = gdfast.train(W1, INPUT, TARGET, learning_rate=0.01, num_iterations=10)
    >>> r.status, r.n_iter, r.losses.shape, r.W.shape, r.b is None
    ('max_iter', 10, (10,), (4, 4), True)

    Two results are equal (``==``) when every field is: arrays (and the arrays of ``state``) of the
    same dtype, shape and values, NaN equal to NaN, so a rerun with the same seed compares equal:

    >>> r == gdfast.train(W1, INPUT, TARGET, learning_rate=0.01, num_iterations=10, seed=r.seed)
    True
    >>> r == gdfast.train(W1, INPUT, TARGET, learning_rate=0.01, num_iterations=11)
    False
    """

    W: np.ndarray
    b: np.ndarray | None
    loss: float
    losses: np.ndarray
    epoch_losses: np.ndarray
    n_iter: int
    converged: bool
    stopped_early: bool
    diverged: bool
    status: str
    grad_norm: float
    seed: int
    state: TrainState
    best_step: int

    def __repr__(self) -> str:
        """A few lines: the outcome and the arrays' shapes (the arrays themselves: ``result.W`` ...)."""
        b = "None" if self.b is None else f"{self.b.dtype} {self.b.shape}"
        lines = [
            f"TrainResult(status={self.status!r}, n_iter={self.n_iter}, loss={self.loss:.6g},",
            f"            W: {self.W.dtype} {self.W.shape}, b: {b},",
            f"            losses: {self.losses.shape} (the loss before every record_every-th update; the "
            "final loss is .loss),",
            f"            epoch_losses: {self.epoch_losses.shape}, grad_norm={self.grad_norm:.4g}, "
            f"seed={self.seed}, best_step={self.best_step},",
        ]
        hint = self.still_improving_hint()
        if hint:
            lines.append(f"            note: {hint},")
        lines.append("            arrays: .W .b .losses .epoch_losses; continue with state=.state)")
        return "\n".join(lines)

    def still_improving_hint(self) -> str:
        """For a run that stopped at ``max_iter``: a sentence when its loss was still falling
        (by over 1% across the last tenth of its recorded losses), else ``""``."""
        n = self.losses.size
        if self.status != "max_iter" or n < 10:
            return ""
        before, last = self.losses[n - 1 - n // 10], self.losses[-1]
        if not (before > 0 and last < 0.99 * before):
            return ""
        return (f"the loss was still falling ({(1 - last / before) * 100:.3g}% over the last tenth of the "
                "updates): more iterations or a larger learning_rate would lower it")

    def __eq__(self, other: object) -> bool:
        """Field-by-field equality, arrays compared by dtype, shape and values (NaN equal to NaN).

        The dataclass's generated ``==`` compared the arrays with ``==`` and raised "The truth
        value of an array ... is ambiguous"; results are not hashable (they hold arrays).
        """
        if not isinstance(other, TrainResult):
            return NotImplemented
        return same_value(self, other)

    __hash__ = None  # type: ignore[assignment]


def train(
    W: npt.ArrayLike,
    X: npt.ArrayLike,
    Y: npt.ArrayLike,
    *,
    b: npt.ArrayLike | None = None,
    learning_rate: float = 0.01,
    num_iterations: int | None = None,
    grad_tol: float | None = None,
    record_every: int = 1,
    optimizer: Optimizer | str = "sgd",
    loss: str = "mse",
    huber_delta: float | None = None,
    epsilon: float | None = None,
    fit_intercept: bool = False,
    batch_size: int | None = None,
    shuffle: bool = True,
    seed: int | None = None,
    num_epochs: int | None = None,
    schedule: Schedule | str | None = None,
    loss_tol: float = 1e-4,
    n_iter_no_change: int | None = None,
    clip_norm: float | None = None,
    sample_weight: npt.ArrayLike | None = None,
    state: TrainState | None = None,
    progress: bool = False,
    divergence_factor: float | None = 1e4,
    restore_best: bool = False,
    n_threads: int = 1,
    accumulate: str = "float64",
    tol: float | None = None,
    penalty: str | None = None,
    alpha: float = 0.0001,
    l1_ratio: float = 0.15,
    reduction: str = "mean",
    average: bool | int = False,
) -> TrainResult:
    """Train the linear model ``W @ x (+ b)`` by gradient descent, the whole loop in one kernel call.

    Parameters
    ----------
    W : array_like, shape (n_outputs, n_features)
        Starting weights (not modified).
    X : array_like, shape (n_features,) or (n_samples, n_features), or scipy.sparse CSR matrix
        One sample, or one sample per row. A CSR matrix (``csr_matrix`` or ``csr_array``, int32 or
        int64 indices; other formats are a TypeError: pass ``X.tocsr()``) goes to the kernel as its
        data, indices and indptr and is never densified: each prediction sums the row's stored
        entries, each gradient is scattered to their columns (unsorted indices, duplicates, which
        add up, explicit zeros and empty rows are all fine). Per-sample plain SGD (``batch_size=1``,
        ``optimizer="sgd"`` without momentum or weight decay, no ``grad_tol``, ``clip_norm`` or
        ``restore_best``) touches only each row's entries: the L2 shrink is a scale factor of W
        (scikit-learn's), the L1 truncated gradient acts on the row's stored entries only (as
        scikit-learn's sparse SGD: explicit zeros count as entries), and float32 runs keep double
        weights during the call, rounded once at its end (a run continued with ``state=`` equals
        one call to rounding, not to the bit). Every other batch size and optimizer works too,
        with a dense gradient and update of W per batch (O(n_outputs x n_features) each), and
        every loss, ``loss="multinomial"`` included (each row's K logits summed over its entries,
        then the softmax). Not with ``accumulate="float32"`` or ``n_threads`` > 1 (ValueError);
        :func:`gdfast.sweep` takes it too (the same kernels, each run equal to ``train``).
    Y : array_like, shape (n_outputs,) or (n_samples, n_outputs)
        Targets, matching X. With a classification loss, binary class labels: every value -1 or +1,
        or every value 0 or 1 (0 is the negative class); each output is its own binary problem.
    b : array_like, shape (n_outputs,), optional
        Start bias with ``fit_intercept=True`` (default zeros; not modified), e.g. the bias of a
        ``torch.nn.Linear`` whose weight is W.
    learning_rate : float, default 0.01
        Base step size (> 0); a ``schedule`` may vary it per update.
    num_iterations : int, optional
        Number of updates (>= 0); ``0`` returns the start unchanged. None (the default) means 100
        updates, unless ``num_epochs`` is given. A run that ends at this limit while its loss is
        still falling says so in its repr (``status='max_iter'`` and a note); no warning is issued,
        since a fixed number of steps is what the lessons ask for.
    grad_tol : float, optional
        Stop (``converged=True``) when the norm of the loss gradient falls below ``grad_tol``.
    record_every : int, default 1
        Record the loss every this many updates (bounded memory for long runs); epoch losses are
        then kept about as often (see ``TrainResult.epoch_losses``).
    optimizer : str or Optimizer, default "sgd"
        ``"sgd"``, ``"adam"``, ``"adamw"``, ``"rmsprop"``, ``"adagrad"``, ``"nadam"``, ``"radam"``,
        ``"adamax"`` or an object from
        :mod:`gdfast.optimizers` with its hyper-parameters.
    loss : str, default "mse"
        The loss l of each output of each sample; the training loss is its (weighted) mean over
        samples and outputs, as torch's ``reduction="mean"``. With r = p - y the residual of a
        prediction p:

        - ``"mse"`` (alias ``"squared_error"``): r**2 (torch's MSELoss; scikit-learn's
          ``squared_error`` is half of it, r**2 / 2);
        - ``"mae"``: abs(r), subgradient 0 at r = 0 (torch's L1Loss);
        - ``"huber"``: r**2 / 2 where abs(r) <= epsilon, else epsilon * (abs(r) - epsilon / 2)
          (torch's HuberLoss(delta=epsilon), scikit-learn's huber);
        - ``"epsilon_insensitive"``: max(0, abs(r) - epsilon), derivative 0 at abs(r) = epsilon;
        - ``"squared_epsilon_insensitive"``: max(0, abs(r) - epsilon)**2.

        Binary classification, on the margin z = y * p of labels y = -1 or +1 (0/1 labels are
        read as -1/+1), each as scikit-learn's SGDClassifier defines it, derivative included:

        - ``"log_loss"``: log(1 + exp(-z)), logistic regression (computed without overflow for
          any z);
        - ``"hinge"``: max(0, 1 - z), a linear SVM (derivative -y at z = 1, as scikit-learn);
        - ``"squared_hinge"``: max(0, 1 - z)**2;
        - ``"modified_huber"``: (1 - z)**2 clipped to 0 for z >= 1, and -4 z for z < -1;
        - ``"perceptron"``: max(0, -z) (derivative -y at z = 0, as scikit-learn: a zero model
          moves).

        Multi-class classification, one loss per sample (row), the mean over samples alone:

        - ``"multinomial"`` (alias ``"cross_entropy"``): the softmax cross-entropy of the K >= 2
          logits p = W @ x + b (W of shape (K, n_features)), logsumexp(p) - p[y], gradient
          softmax(p) - onehot(y) (torch's CrossEntropyLoss; scikit-learn's multinomial
          LogisticRegression). Y is the class indices 0..K-1, shape (n_samples,) or
          (n_samples, 1) (integer-valued; one-hot rows made in float32, which keeps float32 data
          float32), or rows of class probabilities, shape (n_samples, K), each >= 0 and summing to 1
          (soft labels: -sum(Y * log_softmax(p)), as torch's CrossEntropyLoss with probabilities).
          The row maximum is subtracted before exp: any finite logits.
    huber_delta : float, optional
        The Huber width under torch's name: the same option as ``epsilon`` (give one of them).
    epsilon : float, optional
        The width of ``"huber"`` (> 0; default 1.0, torch's), ``"epsilon_insensitive"`` and
        ``"squared_epsilon_insensitive"`` (>= 0; default 0.1, scikit-learn's); scikit-learn's name.
    fit_intercept : bool, default False
        Also train a bias b (prediction ``W @ x + b``); it starts at ``b`` (default zero).
    batch_size : int, optional
        Mini-batch size (1 <= batch_size <= n_samples); None means the full batch. The last batch of
        an epoch is smaller when batch_size does not divide n_samples.
    shuffle : bool, default True
        Reshuffle the samples at each epoch start (mini-batches only), in the kernel, with a
        splitmix64 generator and Fisher-Yates; ``seed`` makes it reproducible to the bit.
    seed : int, optional
        Seed in [0, 2**64). None draws one (reported as ``result.seed``).
    num_epochs : int, optional
        Alternative to ``num_iterations``: this many passes over the samples.
    schedule : str or Schedule, optional
        Learning-rate schedule from :mod:`gdfast.schedules` (default constant).
    loss_tol : float, default 1e-4
        With ``n_iter_no_change``: an epoch "improves" when its mean loss is below the best so far
        minus ``loss_tol`` (scikit-learn's rule).
    n_iter_no_change : int, optional
        Stop after this many consecutive epochs without improvement.
    clip_norm : float, optional
        Rescale the gradient to this global norm when it is larger (torch's ``clip_grad_norm_``).
    sample_weight : array_like, shape (n_samples,), optional
        Non-negative weights of the samples in the loss (weighted mean). Under the default
        ``reduction="mean"`` they are normalised within each batch, so with ``batch_size=1`` they
        have no effect at all; ``reduction="sample_mean"`` makes them scale each sample's step
        (scikit-learn's meaning).
    state : TrainState, optional
        ``result.state`` of an earlier call, to continue it exactly (pass ``result.W`` as W). It is
        copied, never modified, so one state can be continued several times.
    progress : bool, default False
        Show a tqdm progress bar (the kernel then runs in chunks between bar updates).
    divergence_factor : float or None, default 1e4
        The run has diverged (``status="diverged"``, a RuntimeWarning, the last iterate before the
        blow-up returned) when its loss is not finite, or when an epoch's mean loss exceeds both
        ``divergence_factor`` times the best epoch loss so far and the first epoch's loss. A full
        batch is one epoch per update, so this is the loss of each iterate; mini-batch runs are
        tested at the end of each epoch. None: only a non-finite loss is divergence.
    restore_best : bool, default False
        Return the weights with the lowest loss seen instead of the last ones: the best epoch's
        weights (full batch: the iterate with the lowest loss; mini-batches: the weights at the end
        of the epoch with the lowest mean loss) when their loss on all samples is lower than the
        final weights'. ``result.best_step`` tells which update they come from. Costs one more
        copy of the parameters in the state.
    n_threads : int, default 1
        Threads for this one training (>= 1). Batches of at least ``2 * BLOCK_ROWS`` samples
        (8192; a full batch or large mini-batches) with at most 4 outputs are summed in fixed
        blocks of ``BLOCK_ROWS`` consecutive samples whose partial gradients are added in block
        order, and the blocks of a step are computed on ``n_threads`` threads: results are
        bit-identical for any thread count (and do not depend on BLAS). Other batches run on one
        thread. A build without OpenMP, or a process forked after OpenMP ran, uses one thread.
    accumulate : {"float64", "float32"}, default "float64"
        What the large full batches of float32 data sum their matrix products in. ``"float64"``
        (the default): in double, as every other batch (BLAS ``dgemm`` on float64 copies of the
        data, or the blocked loops for tall batches with at most 4 outputs). ``"float32"`` (only
        with float32 W, X and Y; other data is a ValueError): each full batch (``batch_size`` None
        or n_samples, no shuffling) of at least 2048 multiply-adds per step (n_samples x n_features
        x n_outputs) computes its two products, the predictions ``X @ W.T`` and the gradient's
        ``D.T @ X``, with BLAS ``sgemv`` (one output) or ``sgemm`` on the float32 arrays
        themselves, as NumPy's float32 ``@`` does: about NumPy's float32 speed, no float64 copy of
        X, but each entry of a product is a float32 sum (rounding error up to about n x 6e-8 of the
        sum of its n terms' magnitudes, against about n x 1e-16 in double) and its last bits
        depend on the CPU's BLAS kernel (the same bits on one machine, not on every machine).
        The residuals are float32; the loss terms, the bias gradient and the optimizer step stay
        in double. These batches run on one BLAS thread whatever ``n_threads``. Mini-batches,
        single samples, smaller problems and runs with ``GDFAST_BLAS=0`` sum in double as with
        ``"float64"``. Not part of ``state``: a continued run may change it.
    tol : float, optional
        Deprecated alias of ``grad_tol`` (a DeprecationWarning; removed in the next release).
        ``tol`` means the loss-improvement threshold in :class:`gdfast.GDRegressor`, as in
        scikit-learn; here that threshold is ``loss_tol``.
    penalty : {None, "l2", "l1", "elasticnet"}, default None
        Add ``alpha * (l1_ratio * |W|_1 + (1 - l1_ratio) / 2 * |W|_2^2)`` to the loss, as
        scikit-learn's SGD ("l2": l1_ratio = 0, "l1": l1_ratio = 1); the bias ``b`` is never
        penalised. Plain SGD only (optimizer "sgd" without momentum or weight_decay; others are a
        ValueError). Each update first shrinks the weights by ``max(0, 1 - lr * alpha * (1 -
        l1_ratio))``, then takes the loss's gradient step (scikit-learn's order). The L1 part:
        with ``batch_size=1`` scikit-learn's cumulative truncated gradient (Tsuruoka et al. 2009:
        each weight is pulled towards 0 by the L1 owed since the run began, never across it, so
        noisy single-sample steps still leave exact zeros; its per-weight total lives in the
        state, so ``state=`` continues it); larger batches a proximal step (soft-thresholding,
        ``w = sign(w) * max(|w| - lr * alpha * l1_ratio, 0)``), whose fixed points are the
        minimiser's, exact zeros included. ``loss`` and the histories report the loss without
        the penalty. None (the default) leaves the arithmetic as it was.
    alpha : float, default 0.0001
        Strength of ``penalty`` (>= 0; unused without one).
    l1_ratio : float, default 0.15
        The L1 share of ``penalty="elasticnet"``, in [0, 1].
    reduction : {"mean", "sample_mean"}, default "mean"
        How each batch's losses ``l_ij`` (sample i, output j) and sample weights ``w_i`` make the
        objective whose gradient a step follows. ``"mean"`` (the default): the weighted mean
        ``sum_ij w_i l_ij / (n_outputs * sum_i w_i)`` (0 for a batch whose weights are all 0).
        Its weights only matter relative to each other within a batch: with ``batch_size=1`` the
        single sample's weight cancels, so ``sample_weight`` has no effect on per-sample steps;
        and n_outputs trained together each get 1/n_outputs of their own gradient.
        ``"sample_mean"``: scikit-learn's SGD objective ``sum_ij w_i l_ij / n_batch``
        (``n_batch`` the number of samples in the batch): each weight multiplies its sample's
        step (with ``batch_size=1`` the step is ``lr * w_i * grad l_i``, as ``SGDRegressor``
        and ``SGDClassifier`` with ``sample_weight``), and the outputs are summed, so the columns
        of W are independent problems (one-vs-rest classification is n_outputs binary ones).
        The reported losses follow the same objective.
    average : bool or int, default False
        Averaged SGD (Polyak-Ruppert averaging), as scikit-learn's SGD ``average``: return the
        mean of the iterates instead of the last one. True averages from the first update on; an
        int n >= 1 from update n on (the iterates after updates n, n + 1, ..., so with
        ``batch_size=1`` after n samples seen, as scikit-learn); False or 0: off. A mini- or full
        batch averages the same way over its updates, one iterate per update. The mean is kept
        in double in ``result.state.opt_state[2]`` (the raw iterate stays the state's current
        parameters, ``result.state.split()``; ``record["averaged"]`` counts the iterates in the
        mean), so ``state=`` continues it bit for bit; pass ``result.W`` (the mean) or the raw
        iterate as W. Each update costs one more pass over the parameters:
        ``mean += (w - mean) / k``. ``losses``, ``epoch_losses`` and the stopping rules
        (``n_iter_no_change``, ``grad_tol``, divergence) are the raw iterate's, as scikit-learn's
        (its rule reads the running loss of the iterates); ``result.loss`` is the loss of the
        returned mean. W is the mean once averaging has begun (before update n: the raw iterate;
        a diverged run: the last finite raw iterate). Optimizer "sgd" only (momentum and
        ``penalty`` allowed) and not with ``restore_best`` (ValueErrors). With an L1 penalty,
        the mean is that of the iterates after their truncation; scikit-learn's lazily kept
        average then differs (its truncation reaches the earlier iterates of its sum too).

    Returns
    -------
    TrainResult
        All its arrays (W, b, the loss histories, the state's arrays) are new: they share no memory
        with the inputs, with each other's W/b, or with an earlier result.

    Examples
    --------
    >>> import numpy as np, gdfast
    >>> from gdfast.lesson import INPUT, TARGET, W1
    >>> result = gdfast.train(W1, INPUT, TARGET, learning_rate=0.02, num_iterations=200)
    >>> result.loss < 1e-10
    True

    Three classes, the softmax cross-entropy, labels as class indices (W has one row per class):

    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((90, 2))
    >>> y = np.digitize(X[:, 0], [-0.5, 0.5])  # classes 0, 1, 2
    >>> r = gdfast.train(np.zeros((3, 2)), X, y, loss="multinomial", fit_intercept=True,
    ...                  learning_rate=0.5, num_iterations=300, shuffle=False)
    >>> bool(r.loss < r.losses[0] / 3), bool(((X @ r.W.T + r.b).argmax(axis=1) == y).mean() > 0.9)
    (True, True)

    Averaged SGD: the mean of the iterates from update 11 on; the raw iterate stays in the state.

    >>> avg = gdfast.train(W1, INPUT, TARGET, learning_rate=0.02, batch_size=1, num_iterations=40, average=11)
    >>> int(avg.state.record["averaged"]), bool(np.array_equal(avg.W, avg.state.split()[0]))
    (30, False)
    """
    call = TrainCall.prepare(locals())
    n_threads = local_threads(check_int(n_threads, "n_threads", low=1), "train")  # (None is not all threads here)
    if isinstance(call.X, CSRData) and n_threads > 1:
        raise ValueError(f"n_threads={n_threads}: a run on sparse X goes on one thread; pass n_threads=1")
    options, X2, Y2, sw, start = call.options, call.X, call.Y, call.sample_weight, call.start
    kernel_config = options.kernel_config(X2.shape[0], end_step=start.step + call.n_steps)
    # The run advances a set of one made from a copy: ``start`` stays as it was, for the rare replay
    # of a diverged run.
    runs = _advance(kernel_config, options, X2, Y2, sw, start, call.n_steps, progress, n_threads)
    result = finish(kernel_config, options, X2, Y2, sw, runs, 0, start, call.seed)
    return single_output(result) if call.vector else result


def single_output(result: TrainResult) -> TrainResult:
    """``result`` of a one-output model given a 1-D W: W of shape (n_features,), b a 0-d array."""
    fields = dict(vars(result))  # (dataclasses.replace would run the frozen __init__ again)
    fields["W"], fields["b"] = result.W[0], None if result.b is None else result.b.reshape(())
    return _result_of(fields)


def _advance(kernel_config: dict[str, Any], options: TrainOptions, X2: np.ndarray | CSRData, Y2: np.ndarray, sw: np.ndarray | None,
             start: TrainState, n_steps: int, progress: bool = False, n_threads: int = 1) -> RunSet:
    """A set of one run starting at ``start`` (copied), advanced by up to ``n_steps`` updates
    (its blocked batches on ``n_threads`` threads)."""
    runs = RunSet.of([start], [kernel_config], [history_sizes(options, X2.shape[0], n_steps)], X2.shape[0])
    if not progress or n_steps == 0:
        runs.run(X2, Y2, sw, [n_steps], n_threads)
        return runs
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("progress=True needs tqdm: pip install tqdm") from None
    record = runs.records[0]
    with tqdm(total=n_steps, unit="it") as bar:
        def show() -> None:
            bar.update(int(record["step"]) - start.step - bar.n)
            bar.set_postfix(loss=f"{record['last_loss']:.4g}")

        runs.run(X2, Y2, sw, [n_steps], n_threads, between_calls=show, updates_per_call=max(1, n_steps // 100))
        show()
    return runs


def finish(kernel_config: dict[str, Any], options: TrainOptions, X2: np.ndarray | CSRData, Y2: np.ndarray, sw: np.ndarray | None,
           runs: RunSet, r: int, start: TrainState, seed: int, warn: bool = True,
           final_loss: float | None = None) -> TrainResult:
    """Final loss, divergence fix-up, restore_best and the TrainResult of run ``r`` of a set the
    kernel advanced (its state: views of run ``r``'s rows of the set's arrays, which nothing else
    writes once the kernel is done).

    ``start`` is the run's state before the kernel call (unchanged), from which a diverged
    mini-batch run is replayed when the iterate the kernel stopped at has no finite loss.
    ``final_loss``: the loss of the iterate the kernel stopped at, when the caller has it
    (``RunSet.final_losses``).
    """
    def loss_of(theta: np.ndarray) -> float:
        return float(dataset_loss(kernel_config, X2, Y2, sw, options.fit_intercept, theta))

    state = runs.state(r, start.params.shape[0], copy=False)
    history, epoch_history = runs.history[r], runs.epoch_history[r]
    status = int(state.record["status"])
    t0 = start.step
    full_batch = is_full_batch(kernel_config, X2.shape[0])
    if final_loss is None:
        final_loss = loss_of(state.current_params())
    if full_batch and status != DIVERGED and _grown_past(final_loss, state, options):
        status = DIVERGED  # the last update's loss, which no forward pass saw, fails the test
    if status == DIVERGED or not np.isfinite(final_loss):
        if state.step > t0 and full_batch and state.record["status"] != DIVERGED:
            # The very last update blew up (no forward pass saw it yet): its predecessor's loss passed.
            state.record["current"] = 1 - state.record["current"]
            state.record["step"] -= 1
            final_loss = loss_of(state.current_params())
        if not np.isfinite(final_loss) and state.step > t0:
            # A mini-batch run saw only its batches' losses: replay it to the last iterate whose loss
            # on all samples is finite.
            state, final_loss, history, epoch_history = _replay_last_finite(
                kernel_config, options, X2, Y2, sw, start, state.step - t0 - 1, loss_of)
        status = DIVERGED
        state.record["status"] = DIVERGED  # such a state cannot be continued
    n_iter = state.step - t0
    if status == DIVERGED and warn:
        warnings.warn(
            f"train: the loss blew up after {n_iter} updates (learning_rate too large?); returning the "
            "last weights before it, whose loss is finite",
            RuntimeWarning,
            stacklevel=4,
        )
    theta, best_step = state.current_params(), state.step
    if options.restore_best and state.record["best_step"] >= 0:
        best_loss = loss_of(state.params[2])
        if best_loss < final_loss:
            theta, final_loss, best_step = state.params[2], best_loss, int(state.record["best_step"])
    averaged = state.averaged_params(options)
    if averaged is not None and status != DIVERGED:
        # averaged SGD returns the mean of the iterates (the raw iterate stays in the state)
        theta = averaged
        final_loss = loss_of(theta)
    W, b = _split(theta, state)
    grad_norm = state.record["last_grad_norm"] if (options.grad_tol is not None or options.clip_norm) else np.nan
    recorded = history[: state.record["recorded"]]
    losses = compact(recorded if status != DIVERGED else _recorded(history, n_iter, options.record_every))
    # (a full batch's epochs are its updates: its epoch losses are its losses)
    epoch_losses = losses if full_batch else epoch_history[: state.record["epochs_recorded"]]
    return TrainResult(
        W=W, b=b, loss=final_loss,
        losses=losses, epoch_losses=compact(epoch_losses),
        n_iter=int(n_iter), converged=status == CONVERGED, stopped_early=status == NO_IMPROVEMENT,
        diverged=status == DIVERGED, status=STATUS_NAMES[status], grad_norm=float(grad_norm),
        seed=int(seed), state=state, best_step=int(best_step),
    )


def finish_runs(kernel_configs: Sequence[dict[str, Any]], options: Sequence[TrainOptions], X2: np.ndarray | CSRData,
                Y2: np.ndarray, sw: np.ndarray | None, runs: RunSet, start_of: Callable[[int], TrainState],
                seeds: Sequence[int], final_losses: Sequence[float]) -> RunResults:
    """:func:`finish` (``warn=False``) for every run of a set of fresh runs, in bulk: the TrainResults, in order.

    Every run's result equals ``finish(kernel_configs[r], options[r], ..., runs, r, start_of(r),
    seeds[r], warn=False, final_loss=final_losses[r])`` field for field, bit for bit. ``options[r]``
    is run r's options, of which neither this nor :func:`finish` reads the learning rate or the seed
    (``kernel_configs[r]`` and ``seeds[r]`` are the run's): a sweep passes the options each run
    shares with its family (``gdfast._runs.Run.shared_options``). The runs that
    ended plainly (not diverged, a finite final loss, no ``restore_best``, no ``average``: a sweep's
    usual runs) are finished together: their W, b and loss histories are gathered in one NumPy
    operation per field, each result's arrays views of those new arrays (no two results' arrays
    overlap, none shares memory with the set's buffers or the inputs), and each of their
    TrainResults is made when it is first asked for (:class:`RunResults`). The others go through
    :func:`finish` one by one, here; ``start_of(r)`` (run r's start state, unchanged) is asked for them only.
    The runs' starts are the records' ``history_origin`` (``RunSet.of`` sets it to the start's step).
    """
    records = runs.records
    n_runs = len(kernel_configs)
    n_samples = X2.shape[0]
    status = records["status"]
    losses_now = np.asarray(final_losses, dtype=np.float64)
    full_batch = KernelConfigs.of(kernel_configs).per_run(lambda c: is_full_batch(c, n_samples), bool)
    distinct, index = identity_index(options)  # (a sweep's runs share a few options objects)
    # _grown_past of every run at once (only the full batches' verdicts count): the same float64 operations
    factors = np.array([np.nan if o.divergence_factor is None else o.divergence_factor for o in distinct])[index]
    with np.errstate(invalid="ignore", over="ignore"):
        grown = ~np.isfinite(losses_now) | (~np.isnan(factors) & (losses_now > factors * records["best_loss"])
                                            & (losses_now > records["first_loss"]))
    plain = ((status != DIVERGED) & ~(full_batch & grown) & np.isfinite(losses_now)
             & ~np.array([o.restore_best or bool(o.average) for o in distinct], dtype=bool)[index])
    made: list[TrainResult | None] = [None] * n_runs
    for r in np.flatnonzero(~plain).tolist():
        made[r] = finish(kernel_configs[r], options[r], X2, Y2, sw, runs, r, start_of(r), seeds[r], warn=False,
                         final_loss=final_losses[r])
    return RunResults(made, plain, runs, options, full_batch, seeds, final_losses)


class RunResults(Sequence[TrainResult]):
    """The TrainResults of a set of fresh runs (:func:`finish_runs`), in order, as a sequence.

    The result of a run that ended plainly is made when first asked for (then kept), from arrays
    gathered here for all of them at once: W and b (one new array each), the loss histories (one
    new array per distinct length), the counters and statuses of the records. :meth:`stacked` gives
    a field of every run as one array without making the TrainResults (``gdfast.sweep``'s
    ``SweepResult.W``, ``.loss``, ...). Equal, field for field and bit for bit, to the list of
    results :func:`finish` makes run by run; ``list(results)`` is that list.
    """

    def __init__(self, made: list[TrainResult | None], plain: np.ndarray, runs: RunSet, options: Sequence[TrainOptions],
                 full_batch: np.ndarray, seeds: Sequence[int], final_losses: Sequence[float]) -> None:
        self._made = made
        self._runs = runs
        self._options = options
        self._full_batch = full_batch
        self._seeds = seeds
        self._final_losses = final_losses
        self._vector = False
        fast = np.flatnonzero(plain)
        self._fast = fast
        self._slot = np.full(len(made), -1, dtype=np.intp)  # run -> its row in the gathered arrays
        self._slot[fast] = np.arange(len(fast))
        records = runs.records
        self._records = records
        m, n = runs.shape
        # theta = params[r, current[r]]; W, b = theta[:m * n], theta[m * n:] (each a new (len(fast), ...) array)
        rows = (fast, records["current"][fast])
        self._W = runs.params[rows + (slice(0, m * n),)].reshape(-1, m, n)
        self._b = runs.params[rows + (slice(m * n, None),)] if runs.fit_intercept else None
        self._losses = _gathered_rows(runs.history, fast, records["recorded"][fast].tolist()) if len(fast) else []
        self._epoch_losses = (
            [] if full_batch[fast].all() else  # (a full batch's are its losses)
            _gathered_rows(runs.epoch_history, fast,
                           np.where(full_batch[fast], 0, records["epochs_recorded"][fast]).tolist()))

    @property
    def has_bias(self) -> bool:
        """Whether the runs fit an intercept (every result's b is an array, else None)."""
        return bool(self._runs.fit_intercept)

    def single_output(self) -> RunResults:
        """These results with W of shape (n_features,) and b a 0-d array (:func:`single_output`; a
        one-output model given a 1-D W)."""
        out = object.__new__(RunResults)
        out.__dict__.update(self.__dict__)
        out._made = [None if r is None else single_output(r) for r in self._made]
        out._W = self._W[:, 0]
        out._b = None if self._b is None else self._b.reshape(-1)
        out._vector = True
        return out

    def __len__(self) -> int:
        return len(self._made)

    def __eq__(self, other: object) -> bool:
        """As a list's: the same length and equal results in order (``list(self) == list(other)``),
        against another RunResults or a list."""
        if not isinstance(other, (RunResults, list)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(list(self))

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[r] for r in range(*index.indices(len(self)))]
        r = operator.index(index)
        if r < 0:
            r += len(self)
        if not 0 <= r < len(self):
            raise IndexError(f"run index {index} out of range for {len(self)} runs")
        result = self._made[r]
        if result is None:
            result = self._made[r] = self._result(r)
        return result

    def _result(self, r: int) -> TrainResult:
        """Run r's TrainResult, made from the gathered arrays (a plain run)."""
        i = int(self._slot[r])
        record = self._records[r]
        o = self._options[r]
        status = int(record["status"])
        step = int(record["step"])
        losses = self._losses[i]
        state = self._runs.states([r], 2)[0]  # (2 params rows: no restore_best)
        return _result_of({
            "W": self._W[i], "b": None if self._b is None else (self._b[i].reshape(()) if self._vector else self._b[i]),
            "loss": self._final_losses[r], "losses": losses,
            # (a full batch's epochs are its updates: its epoch losses are its losses)
            "epoch_losses": losses if self._full_batch[r] else self._epoch_losses[i],
            "n_iter": step - int(record["history_origin"]), "converged": status == CONVERGED,
            "stopped_early": status == NO_IMPROVEMENT, "diverged": False, "status": STATUS_NAMES[status],
            "grad_norm": float(record["last_grad_norm"]) if (o.grad_tol is not None or o.clip_norm) else math.nan,
            "seed": int(self._seeds[r]), "state": state, "best_step": step,
        })

    def histories(self) -> list[np.ndarray]:
        """``[result.losses for result in self]`` without making the plain runs' results."""
        return [self[r].losses if self._slot[r] < 0 else self._losses[self._slot[r]] for r in range(len(self))]

    def stacked(self, name: str) -> np.ndarray:
        """``np.array([result.<name> for result in self])`` for ``name`` in W, b, loss, n_iter,
        converged, diverged, status (b: every run has one), without making the plain runs' results."""
        records = self._records
        plain_values: Any
        if name == "W":
            plain_values = self._W
        elif name == "b":
            plain_values = self._b
        elif name == "loss":
            plain_values = np.array(self._final_losses, dtype=np.float64)[self._fast]
        elif name == "n_iter":
            plain_values = (records["step"] - records["history_origin"])[self._fast]
        elif name in ("converged", "diverged", "status"):
            status = records["status"][self._fast]
            plain_values = (status == CONVERGED if name == "converged" else
                            np.zeros(len(self._fast), dtype=bool) if name == "diverged" else
                            [STATUS_NAMES[s] for s in status.tolist()])
        else:
            raise ValueError(f"stacked: no field {name!r}")
        if len(self._fast) == len(self):
            return np.array(plain_values)  # (a new array)
        values = [getattr(self[r], name) if self._slot[r] < 0 else plain_values[self._slot[r]] for r in range(len(self))]
        return np.array(values)


def _result_of(fields: dict[str, Any]) -> TrainResult:
    """``TrainResult(**fields)`` (every field given) without the frozen dataclass's ``__init__``, whose
    ``object.__setattr__`` per field costs 2 us a result (a sweep makes one per run)."""
    result = object.__new__(TrainResult)
    result.__dict__.update(fields)
    return result


def _gathered_rows(buffer: np.ndarray, index: np.ndarray, lengths: list[int]) -> list[np.ndarray]:
    """``[buffer[index[i], :lengths[i]].copy() for i ...]``, the rows of one length views of one new
    array (``buffer[index[same], :length]``): one copy per distinct length rather than per row."""
    if len(set(lengths)) == 1:  # (a sweep's usual case: one block)
        block = buffer[index, : lengths[0]] if len(index) < buffer.shape[0] else buffer[:, : lengths[0]].copy()
        return list(block)
    by_length: dict[int, list[int]] = {}
    for i, length in enumerate(lengths):
        by_length.setdefault(length, []).append(i)
    out: list[np.ndarray] = [buffer[:0, 0]] * len(lengths)
    for length, which in by_length.items():
        block = buffer[index[which] if len(which) < len(index) else index, :length]  # (a new array)
        for i, row in zip(which, block):
            out[i] = row
    return out


def _grown_past(loss: float, state: TrainState, options: TrainOptions) -> bool:
    """The kernel's divergence test (``grown_past`` in src/_train.pyx) on a loss it did not see."""
    factor = options.divergence_factor
    return not np.isfinite(loss) or (factor is not None and loss > factor * float(state.record["best_loss"])
                                     and loss > float(state.record["first_loss"]))


def _recorded(history: np.ndarray, n_iter: int, record_every: int) -> np.ndarray:
    """The losses of updates 0, record_every, ... < n_iter: a diverged run's history, without the
    record of the blow-up (a fresh run of n_iter updates records exactly these)."""
    return history[: -(-n_iter // record_every)]


def _split(theta: np.ndarray, state: TrainState) -> tuple[np.ndarray, np.ndarray | None]:
    """(W, b) copies of parameters ``theta`` (b is None without an intercept)."""
    m, n = state.shape
    W = theta[: m * n].reshape(m, n).copy()
    b = theta[m * n:].copy() if state.fit_intercept else None
    return W, b


def _replay_last_finite(kernel_config: dict[str, Any], options: TrainOptions, X2: np.ndarray | CSRData, Y2: np.ndarray,
                        sw: np.ndarray | None, start: TrainState, k: int,
                        loss_of: Callable[[np.ndarray], float]) -> tuple[TrainState, float, np.ndarray, np.ndarray]:
    """Replay ``start`` for k, k-1, ... updates (then bisect) until the iterate's loss on all
    samples is finite; its state, loss and histories. A run is deterministic given its state, so
    each replay is exactly a fresh run of that many updates. Costs a few runs of k updates: only a
    diverged mini-batch run whose kernel stop left an iterate without a finite loss comes here."""

    def attempt(n: int) -> tuple[TrainState, float, np.ndarray, np.ndarray]:
        runs = _advance(kernel_config, options, X2, Y2, sw, start, n)
        st = runs.state(0, start.params.shape[0], copy=False)
        return st, loss_of(st.current_params()), runs.history[0], runs.epoch_history[0]

    tried = attempt(k)
    for n in range(k - 1, max(k - 4, 0) - 1, -1):
        if np.isfinite(tried[1]):
            return tried
        tried = attempt(n)
    if np.isfinite(tried[1]) or k <= 4:
        return tried
    # Still not finite 4 updates back: bisect for the last finite one below (assuming the loss stays
    # finite up to some update and not after it, the shape of a blow-up).
    lo, hi = 0, k - 4  # loss finite at lo (or lo == 0, the start), not finite at hi
    best = attempt(0)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        trial = attempt(mid)
        if np.isfinite(trial[1]):
            lo, best = mid, trial
        else:
            hi = mid
    return best
