"""Loss curves of gdfast's optimizers on one problem: docs/optimizers.png.

A linear least-squares problem with W of shape (64, 64) and 256 samples (noisy targets), trained
full batch from the same start with each optimizer; each learning rate was picked by hand as a
reasonable setting for that optimizer (not tuned to make any one look good).

Run from the repository root:  python docs/optimizers_figure.py
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import gdfast  # noqa: E402

RUNS = [
    ("SGD (lr=5)", gdfast.SGD(), 5.0),
    ("SGD momentum 0.9, Nesterov (lr=1)", gdfast.SGD(momentum=0.9, nesterov=True), 1.0),
    ("Adam (lr=0.05)", gdfast.Adam(), 0.05),
    ("AdamW wd=0.01 (lr=0.05)", gdfast.AdamW(weight_decay=0.01), 0.05),
    ("RMSprop (lr=0.01)", gdfast.RMSprop(), 0.01),
    ("Adagrad (lr=0.5)", gdfast.Adagrad(), 0.5),
]


def main(path=Path(__file__).with_name("optimizers.png"), num_iterations=500):
    rng = np.random.default_rng(0)
    n_samples, n_features, n_outputs = 256, 64, 64
    X = rng.standard_normal((n_samples, n_features))
    W_true = rng.standard_normal((n_outputs, n_features))
    Y = X @ W_true.T + 0.1 * rng.standard_normal((n_samples, n_outputs))
    W0 = np.zeros((n_outputs, n_features))
    # The best loss any W can reach (least squares), drawn as a floor.
    W_ls = np.linalg.lstsq(X, Y, rcond=None)[0].T
    floor = gdfast.mse(gdfast.predict(W_ls, X), Y)

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
    for label, optimizer, lr in RUNS:
        result = gdfast.train(W0, X, Y, optimizer=optimizer, learning_rate=lr, num_iterations=num_iterations)
        ax.plot(np.arange(result.losses.size), result.losses, label=label, lw=1.6)
        print(f"{label:36s} final loss {result.loss:.6g}")
    ax.axhline(floor, color="k", ls=":", lw=1, label=f"least-squares optimum ({floor:.4f})")
    ax.set_yscale("log")
    ax.set_xlabel("update")
    ax.set_ylabel("training loss (MSE)")
    ax.set_title("gdfast optimizers: W 64x64, 256 samples, full batch")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    print(f"saved {path} ({Path(path).stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
