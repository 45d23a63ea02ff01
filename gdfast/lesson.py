"""The two lessons, step by step, through gdfast's kernels.

Lesson 3.1.1 (1-D descent on f(x) = x**2 + 4x + 4) and lesson 3.1 (a linear layer ``W1 @ input``,
the MSE, a gradient and one update that brings the loss under 2.96).

A note on the lesson's assert: the notebook checks ``prediction.sum() == -0.8516999999999999`` for
``prediction = np.dot(W1, input)``. The sum of ``W1 @ input`` is -1.2738; -0.8517 is the sum of
``input @ W1`` (that is ``W1.T @ input``), and its last digits depend on the rounding order of the
sums. gdfast's tests check both values with a tolerance instead of ``==``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .core import mse, predict, update
from .descent import Quadratic, descend
from .training import TrainResult, train

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = [
    "function", "gradient", "QUADRATIC", "gradient_descent_1d", "plot_gradient_descent",
    "INPUT", "TARGET", "W1", "LOSS_GOAL", "scalar_gradient", "one_update", "train_lesson",
]

#: f(x) = x**2 + 4x + 4 of lesson 3.1.1, as a :class:`gdfast.Quadratic`.
QUADRATIC = Quadratic(1.0, 4.0, 4.0)


def function(x: Any) -> Any:
    """Lesson 3.1.1's ``f(x) = x**2 + 4*x + 4`` (scalars or arrays).

    Examples
    --------
    >>> from gdfast.lesson import function
    >>> function(0), function(1), function(-2)
    (4, 9, 0)
    """
    return x**2 + 4 * x + 4


def gradient(x: Any) -> Any:
    """Derivative of :func:`function`: ``2*x + 4``.

    Examples
    --------
    >>> from gdfast.lesson import function, gradient
    >>> gradient(0), gradient(1), gradient(-2)  # 0 at the minimum of function, x = -2
    (4, 6, 0)
    >>> gradient(1.0) == function(1.5) - function(0.5)  # a central difference is exact for a quadratic
    True
    """
    return 2 * x + 4


def gradient_descent_1d(
    x_start: float = 10, learning_rate: float = 0.1, num_iterations: int = 20
) -> tuple[list[float], list[float]]:
    """The notebook's descent loop, run in the compiled kernel.

    Returns
    -------
    x_values, f_values : list of float
        ``num_iterations + 1`` points each (start first), equal to the notebook's
        ``x_current -= learning_rate * gradient(x_current)`` loop to the last bit.

    Examples
    --------
    >>> from gdfast.lesson import gradient_descent_1d
    >>> xs, fs = gradient_descent_1d()
    >>> len(xs), xs[1]
    (21, 7.6)
    """
    path = descend(QUADRATIC.gradient, float(x_start), learning_rate=learning_rate,
                   num_iterations=num_iterations, function=QUADRATIC)
    assert path.f is not None
    return path.x.tolist(), path.f.tolist()


def plot_gradient_descent(x_values: Any, f_values: Any, ax: Axes | None = None) -> Axes:
    """The notebook's figure: f in red over [-10, 10], the descent path in blue dots.

    Parameters
    ----------
    x_values, f_values : sequence of float
        The path (from :func:`gradient_descent_1d`).
    ax : matplotlib Axes, optional
        Where to draw; a new figure's Axes when None.

    Returns
    -------
    matplotlib.axes.Axes
        Never calls ``plt.show()``.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from gdfast.lesson import gradient_descent_1d, plot_gradient_descent
    >>> ax = plot_gradient_descent(*gradient_descent_1d())
    >>> ax.get_title()
    'Visualisation de la Descente de Gradient'
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    x_range = np.linspace(-10, 10, 400)
    ax.plot(x_range, function(x_range), "r-", label="Fonction f(x)")
    ax.plot(x_values, f_values, "bo-", label="Chemin de la Descente de Gradient")
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)")
    ax.set_title("Visualisation de la Descente de Gradient")
    ax.legend()
    ax.grid(True)
    return ax


#: Lesson 3.1's input vector.
INPUT = np.array([1.0, 2.0, 3.0, 4.0])
INPUT.flags.writeable = False
#: Lesson 3.1's target vector.
TARGET = np.array([2.0, 3.0, 4.0, 5.0])
TARGET.flags.writeable = False
#: Lesson 3.1's weights (4 x 4).
W1 = np.array([
    [-0.2416, -0.2497, -0.3932, 0.2935],
    [-0.0396, 0.1421, -0.4436, 0.1714],
    [-0.3519, 0.4072, -0.0721, -0.1659],
    [0.2055, -0.0330, -0.2145, 0.1987],
])
W1.flags.writeable = False
#: The loss the lesson asks to get under with one update.
LOSS_GOAL = 2.96


def scalar_gradient(prediction: Any, target: Any, input: Any) -> float:
    """The lesson's simplified gradient ``np.mean((prediction - target) * input)``.

    This is *not* the gradient of the MSE with respect to W (that is a matrix, see
    :func:`gdfast.mse_gradient`): it is one number, the mean of the residuals weighted by the input,
    which the lesson subtracts from every weight.

    Examples
    --------
    >>> from gdfast.lesson import INPUT, TARGET, W1, scalar_gradient
    >>> import gdfast
    >>> round(scalar_gradient(gdfast.predict(W1, INPUT), TARGET, INPUT), 4)
    -10.4092
    """
    p = np.asarray(prediction, dtype=float)
    t = np.asarray(target, dtype=float)
    x = np.asarray(input, dtype=float)
    if not (p.shape == t.shape == x.shape):
        raise ValueError(
            f"prediction, target and input must have the same shape; got {p.shape}, {t.shape}, {x.shape}"
        )
    return float(np.mean((p - t) * x))


def one_update(learning_rate: float = 0.03) -> dict[str, Any]:
    """Lesson 3.1's exercise: one update of W1 with the scalar gradient.

    Returns
    -------
    dict
        ``prediction``, ``loss`` and ``gradient`` at W1, then ``new_W1``, ``new_prediction`` and
        ``new_loss`` after ``W1 - learning_rate * gradient``.

    Examples
    --------
    >>> from gdfast.lesson import one_update, LOSS_GOAL
    >>> result = one_update(0.03)
    >>> round(result["loss"], 4), round(result["new_loss"], 4)
    (15.1995, 1.1029)
    """
    prediction = predict(W1, INPUT)
    loss = mse(prediction, TARGET)
    g = scalar_gradient(prediction, TARGET, INPUT)
    new_W1 = update(W1, g, learning_rate)
    new_prediction = predict(new_W1, INPUT)
    return dict(prediction=prediction, loss=loss, gradient=g, new_W1=new_W1,
                new_prediction=new_prediction, new_loss=mse(new_prediction, TARGET))


def train_lesson(learning_rate: float = 0.02, num_iterations: int = 200, **options: Any) -> TrainResult:
    """Lesson 3.1 taken further: :func:`gdfast.train` with the true gradient (:func:`gdfast.mse_gradient`).

    Examples
    --------
    >>> from gdfast.lesson import train_lesson
    >>> train_lesson().loss < 1e-10
    True
    """
    return train(W1, INPUT, TARGET, learning_rate=learning_rate, num_iterations=num_iterations, **options)
