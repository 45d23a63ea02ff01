"""
A sweep on a Dask cluster
=========================

Give :func:`gdfast.sweep` a ``dask.distributed.Client`` and the same sweep is cut into chunks,
each one compiled sweep call on a worker. The result is the same table, in the same order, equal
to the local (threaded) sweep bit for bit. Here the cluster is a small local one: two workers
running as threads of this process, started and closed by the example.
"""

# %%
# Four optimizers x 25 learning rates
# -----------------------------------
# :func:`gdfast.grid` builds the 100 configurations; the local sweep runs them on threads. Each
# result records the seed of its run (it would shuffle mini-batches; these are full batches): a
# sweep without ``seed=`` draws one at random, so both sweeps below are given the same seed.

import warnings

import matplotlib.pyplot as plt
import numpy as np
from dask.distributed import Client, LocalCluster

import gdfast
from gdfast.lesson import INPUT, TARGET, W1

configs = gdfast.grid(optimizer=["sgd", "adam", "rmsprop", "adagrad"], learning_rate=np.logspace(-3, 0, 25))
with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)  # the largest SGD rates diverge, on purpose
    local = gdfast.sweep(W1, INPUT, TARGET, configs=configs, num_iterations=200, seed=0)
print(local)

# %%
# The same sweep on the cluster
# -----------------------------
# ``processes=False`` keeps the workers in this process (nothing to re-import, quick to start);
# on a real cluster only the ``Client`` changes. The data are sent to the workers once.

with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
        Client(cluster) as client, warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    distributed = gdfast.sweep(W1, INPUT, TARGET, configs=configs, num_iterations=200, client=client,
                               n_chunks=4, seed=0)

assert distributed == local, "the Dask sweep differs from the local one"
assert distributed.to_records() == local.to_records()
print("Dask result == local result, bit for bit")

# %%
# An independent check of one row: plain SGD on this layer multiplies the residuals by
# ``1 - 15 lr`` per update (15 is the loss's curvature), so the loss after 200 updates of a stable
# rate is ``loss0 * (1 - 15 lr)**400`` (1e-6 relative; 1e-20 absolute near the rounding floor).

loss0 = gdfast.mse(gdfast.predict(W1, INPUT), TARGET)
for row in distributed.to_records():
    if row["optimizer"] == "sgd" and row["learning_rate"] < 2 / 15:
        assert np.isclose(row["loss"], loss0 * (1 - 15 * row["learning_rate"]) ** 400, rtol=1e-6, atol=1e-20)

# %%
# The table, one curve per optimizer. SGD diverges past ``2/15``; the adaptive optimizers, whose
# step is normalised by the gradient's size, do not blow up at these rates.

records = distributed.to_records()
fig, ax = plt.subplots(figsize=(8, 4))
for name in ["sgd", "adam", "rmsprop", "adagrad"]:
    rows = [r for r in records if r["optimizer"] == name]
    lr = np.array([r["learning_rate"] for r in rows])
    loss = np.array([r["loss"] for r in rows])
    diverged = np.array([r["diverged"] for r in rows])
    line, = ax.plot(lr[~diverged], np.maximum(loss[~diverged], 1e-32), "o-", ms=3, label=name)
    ax.plot(lr[diverged], np.full(diverged.sum(), 1e3), "x", color=line.get_color(), ms=7)
ax.axvline(2 / 15, color="k", ls="--", lw=1, label="2/15, SGD's stability limit")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("learning rate")
ax.set_ylabel("final loss (crosses: diverged; 1e-32: exactly 0)")
ax.set_title("100 trainings on a Dask cluster (equal to the local sweep)")
ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
fig.tight_layout()
