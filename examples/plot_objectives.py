"""
Any objective: an optimizer race and a Numba gradient
=====================================================

:func:`gdfast.descend` runs lesson 3.1.1's loop on any function. For the test functions of
:mod:`gdfast.functions` (here Rosenbrock's valley) and for a gradient written in C, Cython or
Numba and passed as a ``scipy.LowLevelCallable``, the whole loop runs compiled, with every
optimizer. This example races four optimizers down Rosenbrock's valley, then descends on an
objective of our own written with Numba.
"""

# %%
# The race on Rosenbrock's valley
# -------------------------------
# ``f(x, y) = (1 - x)**2 + 100 (y - x**2)**2`` has its minimum at (1, 1), at the end of a long
# curved valley: plain SGD crawls along its floor, momentum and the adaptive methods go faster.

import matplotlib.pyplot as plt
import numpy as np
from numba import cfunc, types
from scipy import LowLevelCallable

import gdfast
from gdfast.functions import Rosenbrock

f = Rosenbrock()
race = {name: gdfast.descend(f.gradient, [-1.5, 2.0], function=f, optimizer=opt, learning_rate=lr,
                             num_iterations=2000, record_every=10)
        for name, opt, lr in [("SGD, lr 1e-3", "sgd", 1e-3), ("momentum 0.9, lr 2e-4", gdfast.SGD(momentum=0.9), 2e-4),
                              ("RMSprop, lr 3e-3", "rmsprop", 3e-3), ("Adam, lr 0.02", "adam", 0.02)]}
for name, p in race.items():
    print(f"{name:22s} ends at {p.x[-1].round(4)}, f = {p.f[-1]:.3g}")

ax = gdfast.plot.paths_2d(f, race, minimum=(1, 1), log_levels=True)
ax.set_title("Optimizers on Rosenbrock's valley (2000 updates each)")

# %%
# Independent checks: the kernel's gradient is the derivative written out by hand, and a long
# Adam run (stopped when the gradient's norm falls below 1e-8) ends at the known minimum (1, 1).

x, y = 0.3, -0.7
assert np.allclose(f.gradient(np.array([x, y])), [-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)],
                   rtol=1e-14)
long = gdfast.descend(f.gradient, [-1.5, 2.0], function=f, optimizer="adam", learning_rate=0.02,
                      num_iterations=100_000, grad_tol=1e-8, record_every=1000)
print(long.status, long.n_iter, long.x[-1])
np.testing.assert_allclose(long.x[-1], [1.0, 1.0], atol=1e-6)

# %%
# Your own objective, compiled with Numba
# ---------------------------------------
# A C function ``int gradient(intptr_t n, const double *x, double *g, void *user_data)`` that fills
# ``g`` and returns 0: Numba's ``@cfunc`` compiles one from Python, ``LowLevelCallable`` wraps its
# address, and the kernel calls it at each update without going back to Python.
# ``f(x) = sum((x_i - i)**4)`` has its minimum at ``x = (0, 1, ..., n - 1)``.


@cfunc(types.intc(types.intp, types.CPointer(types.float64), types.CPointer(types.float64), types.voidptr))
def gradient(n, x, g, user_data):
    for i in range(n):
        g[i] = 4.0 * (x[i] - i) ** 3
    return 0


path = gdfast.descend(LowLevelCallable(gradient.ctypes), np.zeros(4), optimizer="adam",
                      learning_rate=0.01, num_iterations=20_000, record_every=100)
print(path.x[-1].round(3))

# %%
# The same descent with a plain Python gradient runs the same Adam arithmetic in a Python loop
# (slower, tens of microseconds per update): the two paths agree (1e-12; Numba and NumPy may round
# the cube differently in the last bit), and both approach the minimum. The quartic is flat near
# its minimum, so after 20,000 steps Adam is within 0.02 of it, not at it.


def python_gradient(x):
    return 4.0 * (x - np.arange(x.size)) ** 3


slow = gdfast.descend(python_gradient, np.zeros(4), optimizer="adam", learning_rate=0.01,
                      num_iterations=20_000, record_every=100)
np.testing.assert_allclose(path.x, slow.x, rtol=1e-12, atol=1e-12)
np.testing.assert_allclose(path.x[-1], [0.0, 1.0, 2.0, 3.0], atol=0.02)

fig, ax = plt.subplots()
steps = np.arange(path.x.shape[0]) * 100
for i in range(4):
    ax.plot(steps, path.x[:, i], label=f"x[{i}] (minimum at {i})")
ax.set_xlabel("update")
ax.set_ylabel("coordinate")
ax.set_title("Adam on sum((x_i - i)**4), gradient compiled by Numba")
ax.legend()
