"""
A learning-rate sweep and the stability limit
=============================================

Plain gradient descent on a quadratic loss converges only for learning rates below ``2 / L``,
where ``L`` is the largest eigenvalue of the loss's Hessian. This example computes that limit in
closed form for lesson 3.1's layer, runs 25 learning rates in one :func:`gdfast.sweep` call, and
shows the runs converge below the limit and blow up above it.
"""

# %%
# The limit in closed form
# ------------------------
# The loss is ``mean((W @ x - t)**2)`` over the ``m = 4`` outputs. Each row of ``W`` sees the
# Hessian ``2/m * outer(x, x)``, whose eigenvalues are 0 and ``2/m * |x|**2 = 15``: the residuals
# are multiplied by ``1 - 15 lr`` at each update, so they shrink only while ``lr < 2/15``.

import warnings

import matplotlib.pyplot as plt
import numpy as np

import gdfast
from gdfast.lesson import INPUT, TARGET, W1

m = TARGET.size
hessian_block = 2 / m * np.outer(INPUT, INPUT)
L = np.linalg.eigvalsh(hessian_block).max()
limit = 2 / L
print(f"largest curvature L = {L:.6g}, stability limit 2/L = {limit:.6g}")

# %%
# One sweep, 25 learning rates
# ----------------------------
# All runs are computed in one parallel kernel call; each equals a plain :func:`gdfast.train` call.
# The largest rates diverge on purpose: each such run ends with ``diverged=True`` (and a warning,
# silenced here) as soon as its loss overflows or grows 10^4 times past its best.

learning_rates = np.logspace(-3, 0, 25)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    res = gdfast.sweep(W1, INPUT, TARGET, learning_rates=learning_rates, num_iterations=200)

for row in res.to_records()[12:19]:
    print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()})

# %%
# The closed form predicts every run: after ``n`` updates the loss is
# ``loss0 * (1 - L lr)**(2n)``. A diverged run keeps its last finite iterate, so the formula holds
# with its own ``n_iter``. Tolerance: 1e-6 relative, and 1e-20 absolute for the runs that reach
# the rounding floor (a 1% error in the learning rate changes most predictions by far more).

loss0 = gdfast.mse(gdfast.predict(W1, INPUT), TARGET)
predicted = loss0 * (1 - L * learning_rates) ** (2 * res.n_iter)
np.testing.assert_allclose(res.loss, predicted, rtol=1e-6, atol=1e-20)

stable = learning_rates < limit
assert not res.diverged[stable].any() and (res.loss[stable] < loss0).all()
assert (res.loss[~stable] > loss0).all()
print(f"{stable.sum()} rates below 2/L converge or shrink the loss; {(~stable).sum()} above do not "
      f"({res.diverged.sum()} flagged diverged)")

# %%
# :func:`gdfast.plot.lr_sweep` draws the final loss against the learning rate, diverged runs as
# red crosses; the dashed line is ``2/L``. The rate just past it (0.133) does not blow up within
# 200 updates, but its loss has grown: the limit is sharp.

ax = gdfast.plot.lr_sweep(res)
ax.axvline(limit, color="k", ls="--", lw=1, label=f"2/L = {limit:.4f}")
ax.legend(fontsize=8)
ax.set_title("Lesson 3.1: final loss after 200 updates vs learning rate")
