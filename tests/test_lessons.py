"""The lessons' own numbers: the notebooks' asserts, the 1-D path, the loss under 2.96."""
import numpy as np
import pytest

import gdfast
from gdfast import lesson


def notebook_1d_loop(x_current=10, learning_rate=0.1, num_iterations=20):
    """Lesson 3.1.1's loop, verbatim (the independent oracle)."""

    def function(x):
        return x**2 + 4 * x + 4

    def gradient(x):
        return 2 * x + 4

    x_values = [x_current]
    f_values = [function(x_current)]
    for _ in range(num_iterations):
        x_current -= learning_rate * gradient(x_current)
        x_values.append(x_current)
        f_values.append(function(x_current))
    return x_values, f_values


def test_notebook_asserts_hold():
    f, g = lesson.function, lesson.gradient
    assert f(0) == 4 and f(1) == 9 and f(-2) == 0
    assert g(0) == 4 and g(1) == 6 and g(-2) == 0
    q = lesson.QUADRATIC
    assert q(0.0) == 4 and q(1.0) == 9 and q(-2.0) == 0
    assert q.gradient(0.0) == 4 and q.gradient(1.0) == 6 and q.gradient(-2.0) == 0


def test_function_accepts_arrays():
    x = np.linspace(-3, 3, 7)
    np.testing.assert_array_equal(lesson.function(x), (x + 2) ** 2)


@pytest.mark.parametrize("x_start, lr, n", [(10, 0.1, 20), (-7.5, 0.3, 50), (3, 0.01, 200)])
def test_1d_path_equals_notebook_to_the_bit(x_start, lr, n):
    xs, fs = lesson.gradient_descent_1d(x_start=x_start, learning_rate=lr, num_iterations=n)
    x_ref, f_ref = notebook_1d_loop(x_start, lr, n)
    assert xs == x_ref  # exact: same IEEE operations in the same order
    assert fs == f_ref


def test_1d_path_approaches_the_closed_form_minimum():
    xs, fs = lesson.gradient_descent_1d(num_iterations=200)
    # x_t + 2 = (x_0 + 2) * (1 - 2 * lr)**t exactly in real arithmetic.
    np.testing.assert_allclose(xs[20] + 2, 12 * 0.8**20, rtol=1e-12)
    assert abs(xs[-1] + 2) < 1e-15 and fs[-1] < 1e-28


def test_lesson_prediction_values_and_the_sum_assert():
    prediction = gdfast.predict(lesson.W1, lesson.INPUT)
    np.testing.assert_allclose(prediction, np.dot(np.asarray(lesson.W1), lesson.INPUT), rtol=1e-15)
    # The notebook's -0.8516999999999999 is the sum of input @ W1, not of W1 @ input.
    np.testing.assert_allclose(prediction.sum(), -1.2738, rtol=1e-12)
    transposed = gdfast.predict(np.asarray(lesson.W1).T, lesson.INPUT)
    np.testing.assert_allclose(transposed.sum(), -0.8516999999999999, rtol=1e-12)


def test_one_update_gets_the_loss_under_the_lessons_goal():
    step = lesson.one_update(0.03)
    prediction = np.asarray(lesson.W1) @ lesson.INPUT
    loss0 = np.mean((prediction - lesson.TARGET) ** 2)
    g = np.mean((prediction - lesson.TARGET) * lesson.INPUT)
    assert step["loss"] == pytest.approx(loss0, rel=1e-14)
    assert step["gradient"] == pytest.approx(g, rel=1e-14)
    new_W1 = np.asarray(lesson.W1) - 0.03 * g
    expected = np.mean((new_W1 @ lesson.INPUT - lesson.TARGET) ** 2)
    assert step["new_loss"] == pytest.approx(expected, rel=1e-13)
    assert step["new_loss"] < lesson.LOSS_GOAL < step["loss"]


def test_train_with_the_true_gradient_reaches_zero_loss():
    result = lesson.train_lesson(learning_rate=0.02, num_iterations=200)
    # Closed form: one sample, so the residual shrinks by (1 - lr * 2/m * |x|^2) = 0.7 per step.
    assert result.loss < 1e-25
    np.testing.assert_allclose(result.losses[:5] / result.losses[0], 0.49 ** np.arange(5), rtol=1e-12)
    np.testing.assert_allclose(result.W @ lesson.INPUT, lesson.TARGET, atol=1e-12)


def test_lesson_constants_are_read_only():
    for name in ("INPUT", "TARGET", "W1"):
        with pytest.raises(ValueError):
            getattr(lesson, name)[0] = 1.0


def test_plot_renders(tmp_path):
    import matplotlib.pyplot as plt

    xs, fs = lesson.gradient_descent_1d()
    ax = lesson.plot_gradient_descent(xs, fs)
    assert ax.get_title() == "Visualisation de la Descente de Gradient"
    red, blue = ax.get_lines()
    assert red.get_color() == "r" and blue.get_color() == "b" and blue.get_marker() == "o"
    np.testing.assert_array_equal(blue.get_xdata(), xs)
    path = tmp_path / "descent.png"
    ax.figure.savefig(path)
    image = plt.imread(path)
    plt.close(ax.figure)
    assert image.shape[0] > 100 and image.shape[1] > 100
    # Both curves are drawn: strongly red and strongly blue pixels exist.
    rgb = image[..., :3]
    assert ((rgb[..., 0] > 0.8) & (rgb[..., 1] < 0.3) & (rgb[..., 2] < 0.3)).sum() > 50
    assert ((rgb[..., 2] > 0.8) & (rgb[..., 0] < 0.3) & (rgb[..., 1] < 0.3)).sum() > 50


def test_demo_command_prints_numbers_and_writes_plots(tmp_path, capsys):
    from gdfast.cli import main

    assert main(["demo", "--output", str(tmp_path), "--iterations", "20000", "--reference-iterations", "500"]) == 0
    out = capsys.readouterr().out
    assert "initial loss          = 15.199470" in out
    assert "under the lesson's goal 2.96" in out
    assert "speed-up" in out
    assert (tmp_path / "descent_1d.png").stat().st_size > 1000
    assert (tmp_path / "loss_curve.png").stat().st_size > 1000
