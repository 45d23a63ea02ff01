"""A sweep on a local Dask cluster: final loss against learning rate, per optimizer (docs/dask_sweep.png).

The lesson's linear layer (W1, 4x4, one sample) trained for 200 updates by four optimizers at 25
learning rates from 1e-3 to 1. Plain gradient descent is stable only below 2/15 (the loss's largest
Hessian eigenvalue is 2 |x|^2 / 4 = 15): above it the runs blow up, and those that overflow are
flagged ``diverged`` in their row while the other runs of the sweep go on.

Run from the repository root (with the extension built in place and ``pip install "dask[distributed]" pandas``)::

    PYTHONPATH=. python docs/dask_sweep.py [--output DIR | --update]

The plot goes to a folder in the system's temporary directory unless ``--update`` (docs/dask_sweep.png)
or ``--output`` says otherwise. The user guide's table (docs/user_guide/sweeps.md) is made by
``docs/readme_numbers.py`` (the same sweep run locally: equal to the Dask sweep bit for bit, which
this script asserts).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's gdfast
import gdfast
from gdfast.lesson import INPUT, TARGET, W1

HERE = os.path.dirname(os.path.abspath(__file__))
OPTIMIZERS = ["sgd", "adam", "rmsprop", "adagrad"]
LOSS_FLOOR = 1e-32  # exact zeros (the minimum reached to the last bit) are drawn here on the log axis
LOSS_CEILING = 1e6  # larger losses (runs blowing up) are drawn here: ^ still finite, x diverged


def run(client):
    configs = gdfast.grid(optimizer=OPTIMIZERS, learning_rate=np.logspace(-3, 0, 25))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "n of 100 runs diverged": shown in the table
        res = gdfast.sweep(W1, INPUT, TARGET, configs=configs, num_iterations=200, client=client)
        local = gdfast.sweep(W1, INPUT, TARGET, configs=configs, num_iterations=200)
    assert all(np.array_equal(a.W, b.W) for a, b in zip(res.results, local.results))
    return res


def plot(df, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.6, 4.4))
    for name, rows in df.groupby("optimizer", sort=False):
        lr = rows["learning_rate"].to_numpy()
        loss = np.clip(rows["loss"].to_numpy(), LOSS_FLOOR, LOSS_CEILING)
        (line,) = ax.loglog(lr, loss, marker="o", ms=3, label=name)
        off = rows["loss"].to_numpy() > LOSS_CEILING
        bad = rows["diverged"].to_numpy()
        ax.loglog(lr[off & ~bad], loss[off & ~bad], "^", color=line.get_color(), ms=7)
        ax.loglog(lr[bad], loss[bad], "x", color=line.get_color(), ms=9, mew=2)
    ax.set_ylim(LOSS_FLOOR / 10, LOSS_CEILING * 100)
    # In the legend rather than as text along the line, where it crossed the curves.
    ax.axvline(2 / 15, color="0.5", ls=":", lw=1, label="SGD stability limit 2/15")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("final loss (MSE) after 200 updates")
    ax.set_title("gdfast.sweep on a 2-worker Dask LocalCluster\n(^: loss > 1e6, x: diverged, 0 drawn at 1e-32)", fontsize=10)
    ax.set_yticks([10.0**k for k in range(-30, 10, 5)])  # round decades (the default gave 1e7, 1e2, 1e-3...)
    ax.legend(title="optimizer", loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9)  # off the curves
    ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return fig


def markdown(df):
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in row) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--output", "-o", metavar="DIR", default=os.path.join(tempfile.gettempdir(), "gdfast-figures"),
                       help="folder for dask_sweep.png (default: %(default)s)")
    where.add_argument("--update", action="store_true", help="write docs/dask_sweep.png (the README's figure)")
    args = parser.parse_args(argv)
    out = HERE if args.update else os.path.abspath(args.output)
    os.makedirs(out, exist_ok=True)
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0",
                      scheduler_kwargs={"dashboard": False}) as cluster, Client(cluster) as client:
        res = run(client)
    df = res.to_dataframe()
    path = os.path.join(out, "dask_sweep.png")
    plot(df, path)
    print(f"{len(df)} runs, {int(df['diverged'].sum())} diverged; plot: {path}\n")
    sgd = df[(df["optimizer"] == "sgd") & (df["learning_rate"] > 0.05)]
    print(markdown(sgd))


if __name__ == "__main__":
    main(sys.argv[1:])
