"""
Lesson 3.1.1: gradient descent step by step
===========================================

Lesson 3.1.1 minimises a function of one variable, ``f(x) = x**2 + 4x + 4``, by repeating
``x -= learning_rate * gradient(x)``. This example first runs the notebook's cells as they are
(a Python loop), then the same 20 steps in one call of gdfast's compiled kernel, and checks that
both give the same numbers, to the last bit.
"""

# %%
# The notebook's cells
# --------------------
# The function to minimise and its derivative, with the notebook's own checks.

import matplotlib.pyplot as plt
import numpy as np


def function(x):
    return x**2 + 4 * x + 4


def gradient(x):
    return 2 * x + 4


assert function(0) == 4 and function(1) == 9 and function(-2) == 0
assert gradient(0) == 4 and gradient(1) == 6 and gradient(-2) == 0

# %%
# Twenty steps from ``x = 10`` with a learning rate of 0.1, keeping every point for the plot.

x_current = 10
learning_rate = 0.1
num_iterations = 20

x_values = [x_current]
f_values = [function(x_current)]
for _ in range(num_iterations):
    x_current -= learning_rate * gradient(x_current)
    x_values.append(x_current)
    f_values.append(function(x_current))

print("last x:", x_values[-1], " f(last x):", f_values[-1])

# %%
# Each step multiplies the distance to the minimum ``x = -2`` by ``1 - 2 * learning_rate = 0.8``
# (``x - lr * (2x + 4) + 2 = (1 - 2 lr)(x + 2)``), so after ``k`` steps
# ``x_k = -2 + 12 * 0.8**k``: a closed form to check the loop against (up to rounding, 1e-12).

closed_form = -2 + 12 * 0.8 ** np.arange(num_iterations + 1)
np.testing.assert_allclose(x_values, closed_form, rtol=1e-12, atol=1e-12)

# %%
# The notebook's figure: the function in red, the descent path in blue. The steps shrink as the
# slope flattens near the minimum.

x_range = np.linspace(-10, 10, 400)
fig, ax = plt.subplots()
ax.plot(x_range, function(x_range), "r-", label="f(x)")
ax.plot(x_values, f_values, "bo-", label="gradient descent path")
ax.set_xlabel("x")
ax.set_ylabel("f(x)")
ax.set_title("Lesson 3.1.1: 20 steps of gradient descent from x = 10")
ax.legend()
ax.grid(True)

# %%
# The same descent in one kernel call
# -----------------------------------
# :class:`gdfast.Quadratic` is ``a x**2 + b x + c``; :func:`gdfast.descend` given its ``.gradient``
# runs the whole loop in compiled code (no Python per step) and returns the path. It does the same
# arithmetic in the same order as the loop above, so the points are equal, not just close.

import gdfast

f = gdfast.Quadratic(1, 4, 4)
path = gdfast.descend(f.gradient, 10.0, learning_rate=0.1, num_iterations=20, function=f)
print(path.status, path.n_iter, path.x[-1])
assert path.x.tolist() == x_values, "the kernel's path differs from the notebook's loop"
assert path.f.tolist() == f_values

# %%
# :mod:`gdfast.lesson` wraps exactly this (``gradient_descent_1d`` and the notebook's plot), and
# :func:`gdfast.plot.path_1d` draws any 1-D path over its function.

from gdfast.lesson import gradient_descent_1d

xs, fs = gradient_descent_1d(x_start=10, learning_rate=0.1, num_iterations=20)
assert xs == x_values and fs == f_values

ax = gdfast.plot.path_1d(path, f)
ax.set_title("The same path, computed by gdfast.descend")

# %%
# A million steps cost the kernel a few milliseconds; ``record_every`` keeps every k-th point
# (and the last), so the path stays small. The iterate ends within rounding of the minimum, at a
# point where one more step of the notebook's formula changes nothing in floating point.

long = gdfast.descend(f.gradient, 10.0, learning_rate=0.1, num_iterations=1_000_000, function=f,
                      record_every=100_000)
x_last = long.x[-1]
print(len(long.x), x_last)
assert abs(x_last + 2) < 1e-15 and x_last - learning_rate * gradient(x_last) == x_last
