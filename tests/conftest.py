"""Shared test settings: tolerances (stated once, with the reason) and the Agg backend."""
import os

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

# Tolerances of kernel-vs-reference comparisons.
# float64: the kernels sum in a different order than NumPy/BLAS (four partial sums), so results
#   differ by a few ulps per reduction; rtol 1e-12 leaves ~4 decimal digits of headroom.
# float32: the kernels accumulate in double while the reference computes in float32, so the
#   reference itself carries ~n * 6e-8 relative error; rtol 1e-5 covers sums of a few hundred terms.
# Iterated loops (train) amplify per-step differences by the conditioning of the problem; they use
#   the *_LOOP values, and an absolute floor for values that converge to zero.
RTOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}
RTOL_LOOP = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-4}
ATOL_LOOP = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}

DTYPES = [np.float64, np.float32]

# Hypothesis: a fixed-seed, bounded profile for the normal suite; GDFAST_HYPOTHESIS_PROFILE=long for more.
try:
    from hypothesis import settings

    settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True)
    settings.register_profile("long", max_examples=5000, deadline=None)
    settings.load_profile(os.environ.get("GDFAST_HYPOTHESIS_PROFILE", "ci"))
except ImportError:  # pragma: no cover
    pass


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def task_sizes(monkeypatch):
    """The lockstep planner's task sizes of every kernel call of the test ([]: every run alone),
    as ``RunSet.lockstep_tasks`` returned them (the tests check whether runs really went in lockstep)."""
    from gdfast import _engine

    seen = []
    tasks = _engine.RunSet.lockstep_tasks

    def spy(self, *args):
        order, sizes = tasks(self, *args)
        seen.append([] if sizes is None else list(sizes))
        return order, sizes

    monkeypatch.setattr(_engine.RunSet, "lockstep_tasks", spy)
    return seen


def random_problem(rng, n_samples, n_features, n_outputs, dtype=np.float64, noise=0.1):
    """A well-conditioned least-squares problem: X, Y = X @ W_true.T + noise, and a start W0."""
    X = rng.standard_normal((n_samples, n_features))
    W_true = rng.standard_normal((n_outputs, n_features))
    Y = X @ W_true.T + noise * rng.standard_normal((n_samples, n_outputs))
    W0 = 0.1 * rng.standard_normal((n_outputs, n_features))
    return W0.astype(dtype), X.astype(dtype), Y.astype(dtype)
