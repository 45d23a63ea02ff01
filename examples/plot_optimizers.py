"""
Optimizers compared on one problem
==================================

Every optimizer of gdfast follows the update ``torch.optim`` documents for it and runs inside the
one compiled training loop. Here six of them train the same least-squares problem (a 64 x 64
weight matrix, 256 noisy samples, full batch, from ``W = 0``), and their loss curves are drawn
against the least-squares optimum, which no run can go below.
"""

# %%
# The problem and its optimum
# ---------------------------
# ``Y = X @ A.T + noise``: the best ``W`` is the least-squares solution, computed by NumPy.

import matplotlib.pyplot as plt
import numpy as np

import gdfast

rng = np.random.default_rng(0)
X = rng.standard_normal((256, 64))
Y = X @ rng.standard_normal((64, 64)).T + 0.1 * rng.standard_normal((256, 64))
W0 = np.zeros((64, 64))

W_best = np.linalg.lstsq(X, Y, rcond=None)[0].T
floor = np.mean((X @ W_best.T - Y) ** 2)
print("least-squares optimum of the MSE:", floor)

# %%
# One step, checked by hand
# -------------------------
# The loss is the mean over the 256 samples *and* the 64 outputs (as ``torch.nn.MSELoss``), so
# its gradient is ``2 / (n * m) * (X @ W.T - Y).T @ X``. One plain SGD update must be that step
# (to rounding: 1e-12).

lr = 5.0
one = gdfast.train(W0, X, Y, optimizer="sgd", learning_rate=lr, num_iterations=1)
by_hand = W0 - lr * 2 / (256 * 64) * (X @ W0.T - Y).T @ X
np.testing.assert_allclose(one.W, by_hand, rtol=1e-12, atol=1e-15)

# %%
# The race
# --------
# Each learning rate is a reasonable setting for its optimizer, not tuned to flatter one (they
# look large for SGD because each gradient entry is divided by the 64 outputs).

runs = [
    ("SGD (lr=5)", gdfast.SGD(), 5.0),
    ("SGD momentum 0.9, Nesterov (lr=1)", gdfast.SGD(momentum=0.9, nesterov=True), 1.0),
    ("Adam (lr=0.05)", gdfast.Adam(), 0.05),
    ("AdamW wd=0.01 (lr=0.05)", gdfast.AdamW(weight_decay=0.01), 0.05),
    ("RMSprop (lr=0.01)", gdfast.RMSprop(), 0.01),
    ("Adagrad (lr=0.5)", gdfast.Adagrad(), 0.5),
]
results = {}
for label, optimizer, rate in runs:
    results[label] = gdfast.train(W0, X, Y, optimizer=optimizer, learning_rate=rate, num_iterations=500)
    print(f"{label:36s} final loss {results[label].loss:.6f}")

fig, ax = plt.subplots(figsize=(7, 4.2))
for label, r in results.items():
    ax.plot(np.arange(r.losses.size), r.losses, label=label, lw=1.6)
ax.axhline(floor, color="k", ls=":", lw=1, label=f"least-squares optimum ({floor:.4f})")
ax.set_yscale("log")
ax.set_xlabel("update")
ax.set_ylabel("training loss (MSE)")
ax.set_title("Six optimizers, W 64x64, 256 samples, full batch")
ax.grid(True, which="both", alpha=0.3)
ax.legend(fontsize=8)

# %%
# What the learner sees: plain SGD, Nesterov momentum and Adagrad reach the optimum to rounding
# (checked to 1e-10 relative; measured about 1e-14); Adam is still settling its last digits
# (checked to 1e-5; measured 7e-7); AdamW stays above it because its decay pulls ``W`` towards 0;
# RMSprop's constant step keeps it oscillating above. No run ends below the optimum (up to
# rounding, 1e-9 relative).

for label in ["SGD (lr=5)", "SGD momentum 0.9, Nesterov (lr=1)", "Adagrad (lr=0.5)"]:
    assert abs(results[label].loss - floor) <= 1e-10 * floor, label
assert abs(results["Adam (lr=0.05)"].loss - floor) <= 1e-5 * floor
for label in ["AdamW wd=0.01 (lr=0.05)", "RMSprop (lr=0.01)"]:
    assert results[label].loss > floor * (1 + 1e-3), label
for r in results.values():
    assert r.loss >= floor * (1 - 1e-9)
