"""
Classification: decision regions and the L1 path
================================================

:class:`gdfast.GDClassifier` trains linear classifiers in gdfast's kernel: with three classes,
one-vs-rest (three binary problems) or multinomial (one softmax model). This example draws both
models' decision regions on overlapping blobs and checks them against scikit-learn's
``LogisticRegression``; then it follows the coefficients of an L1-penalised regression as the
penalty grows, against scikit-learn's ``lasso_path``.
"""

# %%
# Decision regions
# ----------------

import matplotlib.colors
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_diabetes, make_blobs
from sklearn.linear_model import LogisticRegression, lasso_path

import gdfast

X, y = make_blobs(n_samples=300, centers=[[-2.0, 0.0], [2.0, 0.0], [0.0, 2.5]], cluster_std=1.3,
                  random_state=0)
xx, yy = np.meshgrid(np.linspace(X[:, 0].min() - 1, X[:, 0].max() + 1, 200),
                     np.linspace(X[:, 1].min() - 1, X[:, 1].max() + 1, 200))
grid = np.c_[xx.ravel(), yy.ravel()]
cmap = matplotlib.colors.ListedColormap(["tab:blue", "tab:orange", "tab:green"])

fig, axes = plt.subplots(1, 2, figsize=(9, 4), sharey=True)
scores = {}
for ax, multi_class in zip(axes, ["ovr", "multinomial"]):
    clf = gdfast.GDClassifier(multi_class=multi_class, random_state=0).fit(X, y)
    scores[multi_class] = clf.score(X, y)
    regions = clf.predict(grid).reshape(xx.shape)
    ax.contourf(xx, yy, regions, levels=[-0.5, 0.5, 1.5, 2.5], cmap=cmap, alpha=0.25)
    ax.contour(xx, yy, regions, levels=[0.5, 1.5], colors="k", linewidths=0.8)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap=cmap, s=14, edgecolors="k", linewidths=0.3)
    ax.set_title(f"GDClassifier(multi_class={multi_class!r})\ntraining accuracy {scores[multi_class]:.3f}")
    ax.set_xlabel("x[0]")
axes[0].set_ylabel("x[1]")
fig.tight_layout()
print(scores)

# %%
# The classes overlap, so no linear model separates them: the independent reference is
# scikit-learn's multinomial ``LogisticRegression`` (the exact optimum of the same kind of model).
# Both gdfast models should be within 0.02 of its training accuracy (6 of the 300 samples: a
# boundary shifted by stochastic steps moves a few of the overlapping points; measured: 1 sample).

reference = LogisticRegression().fit(X, y).score(X, y)
print("LogisticRegression accuracy:", reference)
for multi_class, score in scores.items():
    assert abs(score - reference) <= 0.02, (multi_class, score, reference)

# %%
# The L1 coefficient path
# -----------------------
# ``penalty="l1"`` adds ``alpha * |W|_1`` to the loss, applied by proximal steps that leave exact
# zeros. Along a decreasing grid of ``alpha`` (each full-batch run started from the previous
# solution), coefficients leave zero one after another. scikit-learn's ``Lasso(alpha=a)``
# minimises ``1/(2n) |y - Xw|**2 + a |w|_1``, half of gdfast's ``mean((y - Xw)**2) + alpha |w|_1``
# with ``alpha = 2a``, so the dashed lines are ``lasso_path`` at ``alpha / 2``.

X, y = load_diabetes(return_X_y=True)
names = load_diabetes().feature_names
X = (X - X.mean(axis=0)) / X.std(axis=0)  # standardised, y centred: no intercept needed
y = y - y.mean()
lr = 1 / (2 * np.linalg.eigvalsh(X.T @ X / len(y)).max())  # 1 / L of the mse: proximal steps converge
alphas = np.geomspace(100.0, 0.01, 20)
W = np.zeros(X.shape[1])
path = []
for alpha in alphas:
    W = gdfast.train(W, X, y, penalty="l1", alpha=float(alpha), learning_rate=lr, num_iterations=5000).W
    path.append(W)
path = np.array(path)
_, theirs, _ = lasso_path(X, y, alphas=alphas / 2, tol=1e-12, max_iter=100_000)
theirs = theirs.T

# %%
# The same zeros as scikit-learn at every alpha, and every coefficient (up to about 37) within
# 1e-3 of it after 5000 updates per alpha (longer runs get closer; the tests go to 1e-6).

print("exact zeros per alpha:", (path == 0).sum(axis=1))
print("largest difference from lasso_path:", np.abs(path - theirs).max())
assert ((path == 0) == (np.abs(theirs) < 1e-12)).all()
np.testing.assert_allclose(path, theirs, atol=1e-3)

fig, ax = plt.subplots(figsize=(7, 4.2))
for j, name in enumerate(names):
    ax.plot(alphas, path[:, j], lw=1.8, label=name)
    ax.plot(alphas, theirs[:, j], ls="--", color="k", lw=0.7)
ax.plot([], [], ls="--", color="k", lw=0.7, label="sklearn lasso_path(alpha / 2)")
ax.set_xscale("log")
ax.invert_xaxis()
ax.set_xlabel('alpha (penalty="l1")')
ax.set_ylabel("coefficient")
ax.set_title("L1 path on the diabetes data: exact zeros as alpha grows")
ax.grid(True, which="both", alpha=0.3)
ax.legend(fontsize=7, ncol=2)
