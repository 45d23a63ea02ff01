"""
scikit-learn: a pipeline and a grid search
==========================================

:class:`gdfast.GDRegressor` is a scikit-learn regressor over :func:`gdfast.train`, so it goes
wherever scikit-learn estimators go: after a ``StandardScaler`` in a ``Pipeline``, and inside
``GridSearchCV``. Its answer is checked against scikit-learn's exact least-squares fit.
"""

# %%
# A pipeline
# ----------

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_regression
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from gdfast import GDRegressor

X, y = make_regression(n_samples=500, n_features=8, noise=5.0, random_state=0)
model = make_pipeline(StandardScaler(), GDRegressor(random_state=0))
model.fit(X, y)
print("R^2 of the pipeline:", model.score(X, y))

# %%
# The independent check: ordinary least squares (``LinearRegression``) gives the best possible R²
# of a linear model on the training data. Mini-batch gradient descent should come within 1e-5 of
# it (it stops when the epoch loss stops improving by ``tol``; measured: 6e-8 here), never above.

exact = make_pipeline(StandardScaler(), LinearRegression()).fit(X, y)
print("R^2 of least squares:", exact.score(X, y))
assert exact.score(X, y) - 1e-5 < model.score(X, y) <= exact.score(X, y) + 1e-12

# %%
# A grid search over the learning rate
# ------------------------------------
# Parameters of a pipeline step are addressed as ``step__parameter``. The best model's
# coefficients (on the standardised features, up to about 95) are within 0.1 of least squares'
# (measured: 0.03, the noise of the last mini-batch steps).

rates = [0.001, 0.005, 0.02, 0.05]
search = GridSearchCV(make_pipeline(StandardScaler(), GDRegressor(random_state=0)),
                      {"gdregressor__learning_rate": rates}).fit(X, y)
print("best:", search.best_params_, "cross-validated R^2:", round(search.best_score_, 5))
reg = search.best_estimator_[-1]
print("coef_", reg.coef_.round(2), "intercept_", round(float(reg.intercept_), 3), "n_iter_", reg.n_iter_)
np.testing.assert_allclose(reg.coef_, exact[-1].coef_, rtol=0, atol=0.1)

# %%
# What a learner sees: all four rates reach nearly the same cross-validated R² (within 1e-5), but
# not at the same cost: the loss curves (one point per epoch, scikit-learn's ``loss_curve_``)
# show the smallest rate needing hundreds of epochs where the largest needs about twenty.

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.6))
ax1.plot(rates, search.cv_results_["mean_test_score"], "o-")
ax1.set_xscale("log")
ax1.set_xlabel("learning_rate")
ax1.set_ylabel("mean cross-validated R²")
ax1.set_title("GridSearchCV over GDRegressor")
for rate in rates:
    fitted = make_pipeline(StandardScaler(), GDRegressor(random_state=0, learning_rate=rate)).fit(X, y)[-1]
    ax2.plot(np.arange(1, fitted.n_iter_ + 1), fitted.loss_curve_, label=f"learning_rate={rate}")
ax2.set_xscale("log")
ax2.set_yscale("log")
ax2.set_xlabel("epoch")
ax2.set_ylabel("training loss")
ax2.set_title("loss per epoch")
ax2.legend(fontsize=8)
fig.tight_layout()
