"""
Lesson 3.1: a layer, its loss, its gradient
===========================================

Lesson 3.1 predicts ``W1 @ input`` with a 4 x 4 weight matrix, measures the mean squared error
against a target, computes a gradient, and asks for one update that brings the loss under 2.96.
This example follows it, then compares the lesson's simplified gradient with the true gradient of
the loss (checked by finite differences), and trains the layer with :func:`gdfast.train`.
"""

# %%
# The layer and its loss
# ----------------------
# The lesson's arrays are in :mod:`gdfast.lesson`. :func:`gdfast.predict` is ``W1 @ input`` and
# :func:`gdfast.mse` the mean of the squared residuals.

import matplotlib.pyplot as plt
import numpy as np

import gdfast
from gdfast.lesson import INPUT, LOSS_GOAL, TARGET, W1, scalar_gradient

prediction = gdfast.predict(W1, INPUT)
loss = gdfast.mse(prediction, TARGET)
print("prediction", prediction)
print("loss", loss)
np.testing.assert_allclose(prediction, W1 @ INPUT, rtol=1e-15)
assert np.isclose(loss, np.mean((W1 @ INPUT - TARGET) ** 2), rtol=1e-15)

# %%
# The notebook asserts ``prediction.sum() == -0.8516999999999999`` for ``np.dot(W1, input)``. The
# sum of ``W1 @ input`` is -1.2738: -0.8517 is the sum of ``input @ W1`` (the transposed product,
# which the notebook's last cell uses), and its last digits depend on the order of the sums, so
# both are checked with a tolerance (1e-12) rather than ``==``.

print("sum of W1 @ input:", prediction.sum(), " sum of input @ W1:", (INPUT @ W1).sum())
assert np.isclose(prediction.sum(), -1.2738, rtol=0, atol=1e-12)
assert np.isclose((INPUT @ W1).sum(), -0.8517, rtol=0, atol=1e-12)

# %%
# The lesson's gradient is not the gradient
# -----------------------------------------
# The lesson computes ``np.mean((prediction - target) * input)``: one number, which it subtracts
# from every weight. The gradient of the loss with respect to ``W1`` is a 4 x 4 matrix:
# ``2/m * outer(prediction - target, input)`` with ``m = 4`` outputs
# (:func:`gdfast.mse_gradient`).

lesson_gradient = scalar_gradient(prediction, TARGET, INPUT)
G = gdfast.mse_gradient(W1, INPUT, TARGET)
print("lesson's gradient:", lesson_gradient)
print("true gradient:\n", G.round(3))

# %%
# Finite differences are the independent check: nudge each weight by ``h`` both ways and take
# the slope of the loss. The loss is quadratic in ``W``, so the central difference is exact up to
# rounding, about ``1e-16 * loss / h`` = 2e-9 for ``h = 1e-6``; we allow 1e-7.

h = 1e-6
fd = np.zeros_like(W1)
for i in range(4):
    for j in range(4):
        up, down = W1.copy(), W1.copy()
        up[i, j] += h
        down[i, j] -= h
        fd[i, j] = (np.mean((up @ INPUT - TARGET) ** 2) - np.mean((down @ INPUT - TARGET) ** 2)) / (2 * h)
np.testing.assert_allclose(G, fd, atol=1e-7)
print("largest |true - finite differences|:", np.abs(G - fd).max())
print("largest |lesson - finite differences|:", np.abs(lesson_gradient - fd).max())

# %%
# One update under 2.96
# ---------------------
# The lesson's update ``W1 - lr * g`` subtracts the same number from every weight, so it shifts
# every prediction by ``-lr * g * sum(input) = -10 lr g`` (``g`` is negative: the predictions go
# up). The new loss is a parabola in the learning rate, ``mean((r - 10 lr g)**2)`` with the
# residuals ``r``: the learning rates that reach the goal are an interval, found in closed form.

residual = prediction - TARGET
rates = np.linspace(0.0002, 0.08, 400)
new_losses = [gdfast.mse(gdfast.predict(gdfast.update(W1, lesson_gradient, lr), INPUT), TARGET) for lr in rates]

# mean((r - s)**2) = LOSS_GOAL with s = 10 * lr * g: a quadratic equation in s
s_roots = np.roots([1.0, -2 * residual.mean(), np.mean(residual**2) - LOSS_GOAL])
lr_low, lr_high = sorted(s_roots / (INPUT.sum() * lesson_gradient))
print(f"one update reaches the goal for learning rates in ({lr_low:.4f}, {lr_high:.4f})")

new_loss = gdfast.mse(gdfast.predict(gdfast.update(W1, lesson_gradient, 0.03), INPUT), TARGET)
print("loss after one update with learning rate 0.03:", new_loss)
assert new_loss < LOSS_GOAL
np.testing.assert_allclose(new_loss, np.mean((residual - INPUT.sum() * 0.03 * lesson_gradient) ** 2), rtol=1e-12)

fig, ax = plt.subplots()
ax.plot(rates, new_losses, label="loss after one update")
ax.axhline(LOSS_GOAL, color="k", ls="--", lw=1, label=f"the lesson's goal, {LOSS_GOAL}")
ax.axvspan(lr_low, lr_high, color="tab:green", alpha=0.15, label="rates that reach it (closed form)")
ax.axhline(loss, color="tab:red", ls=":", lw=1, label=f"loss before the update, {loss:.2f}")
ax.set_xlabel("learning rate")
ax.set_ylabel("MSE")
ax.set_title("Lesson 3.1: one update with the lesson's gradient")
ax.legend(fontsize=8)

# %%
# Training with the true gradient
# -------------------------------
# :func:`gdfast.train` runs the whole loop ``W -= lr * mse_gradient(W, input, target)`` in one
# kernel call. Here each update multiplies the residuals by ``1 - lr * 15`` (15 is the loss's
# curvature ``2/m * |input|**2``), so the loss after ``k`` updates is ``loss * (1 - 15 lr)**(2k)``:
# the first 30 recorded losses must follow it (to 1e-8, far above the rounding of the residuals).

result = gdfast.train(W1, INPUT, TARGET, learning_rate=0.02, num_iterations=200)
print(result)
k = np.arange(30)
np.testing.assert_allclose(result.losses[:30], loss * (1 - 15 * 0.02) ** (2 * k), rtol=1e-8)
assert result.loss < 1e-20

ax = gdfast.plot.loss_curves(result, labels=["gdfast.train, learning rate 0.02"])
ax.axhline(LOSS_GOAL, color="k", ls="--", lw=1, label="the lesson's goal")
ax.legend()
ax.set_title("Lesson 3.1 trained with the true gradient")
