"""Compute every deterministic number the README and the user guide state, and write them in.

Each block between ``<!-- numbers:NAME:start -->`` and ``<!-- numbers:NAME:end -->`` is the output
of ``BLOCKS[NAME]()`` below; it lives in the Markdown file ``WHERE[NAME]`` (README.md or a page of
docs/user_guide/), once, and nowhere else (tests/test_readme.py checks both). Timings are not here:
they are tables printed by the benchmark scripts, pasted with the command that made them.

Usage (from the repository root)::

    python docs/readme_numbers.py            # print the blocks
    python docs/readme_numbers.py --update   # rewrite them in README.md and docs/user_guide/*.md
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import warnings

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # this checkout's gdfast

import gdfast  # noqa: E402
from gdfast import lesson  # noqa: E402


def lessons() -> str:
    """Lesson 3.1's numbers: the loss before and after one update, the working rates, train()."""
    first = lesson.one_update(0.03)
    rates = np.round(np.arange(0.001, 0.1, 0.001), 3)
    ok = [r for r in rates if lesson.one_update(float(r))["new_loss"] < lesson.LOSS_GOAL]
    trained = gdfast.train(lesson.W1, lesson.INPUT, lesson.TARGET, learning_rate=0.02, num_iterations=200)
    return (f"One update with the lesson's gradient and a learning rate of 0.03 takes the loss from "
            f"{first['loss']:.4f} to {first['new_loss']:.4f}, under the lesson's goal of {lesson.LOSS_GOAL} "
            f"(any rate from {min(ok):.3f} to {max(ok):.3f} works, in steps of 0.001); `train` with the true "
            f"gradient (learning rate 0.02, 200 updates) takes it to {trained.loss:.0e}.")


def lesson_assert() -> str:
    """The two sums behind the lesson's assert."""
    a = float((lesson.W1 @ lesson.INPUT).sum())
    b = float((lesson.INPUT @ lesson.W1).sum())
    return (f"Note on the lesson's assert: `prediction.sum() == -0.8516999999999999` is asserted for\n"
            f"`np.dot(W1, input)`, but the sum of `W1 @ input` is {a:.4f}; {b:.4f} is the sum of `input @ W1`,\n"
            f"and its last digits depend on the order of the sums. The tests check both values with a tolerance.")


def tour() -> str:
    """The short tour's results."""
    f = gdfast.Quadratic(1, 4, 4)
    path = gdfast.descend(f.gradient, 10.0, learning_rate=0.1, num_iterations=20, function=f)
    p = gdfast.predict(lesson.W1, lesson.INPUT)
    return (f"The tour's values: `loss` {gdfast.mse(p, lesson.TARGET):.4f}; `result.loss` "
            f"{gdfast.train(lesson.W1, lesson.INPUT, lesson.TARGET, learning_rate=0.02, num_iterations=200).loss:.0e} "
            f"after 200 updates; `path.x[-1]` {path.x[-1]:.4f} (the minimum is at -2).")


def optimizers() -> str:
    """Final losses of the README's nine optimizer runs (W 64x64, 256 samples, 500 full-batch updates)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((256, 64))
    Y = X @ rng.standard_normal((64, 64)).T + 0.1 * rng.standard_normal((256, 64))
    W0 = np.zeros((64, 64))
    runs = [("SGD", gdfast.SGD(), 5.0), ("SGD+Nesterov", gdfast.SGD(momentum=0.9, nesterov=True), 1.0),
            ("Adam", gdfast.Adam(), 0.05), ("AdamW", gdfast.AdamW(weight_decay=0.01), 0.05),
            ("RMSprop", gdfast.RMSprop(), 0.01), ("Adagrad", gdfast.Adagrad(), 0.5),
            ("NAdam", gdfast.NAdam(), 0.02), ("RAdam", gdfast.RAdam(), 0.1), ("Adamax", gdfast.Adamax(), 0.1)]
    loss = {name: gdfast.train(W0, X, Y, optimizer=opt, learning_rate=lr, num_iterations=500).loss
            for name, opt, lr in runs}
    floor = gdfast.mse(gdfast.predict(np.linalg.lstsq(X, Y, rcond=None)[0].T, X), Y)
    from gdfast.schedules import CosineAnnealing

    mini = gdfast.train(W0, X, Y, optimizer="adam", learning_rate=0.05, batch_size=32, num_epochs=100, seed=0,
                        schedule=CosineAnnealing(t_max=800))
    # RMSprop's constant step keeps it oscillating above the optimum, and NAdam and RAdam are still
    # settling after 500 updates: their 4th (RAdam: 6th) digit depends on the last bits of Y (computed
    # by NumPy's BLAS) and of the gradient (BLAS dgemm), so fewer digits here.
    parts = ", ".join(f"{n} {v:.6f}" for n, v in loss.items() if n not in ("RMSprop", "AdamW", "NAdam", "RAdam"))
    return (f"Final losses after 500 updates: {parts}, AdamW {loss['AdamW']:.6f} (the decay pulls W towards 0), "
            f"RAdam {loss['RAdam']:.4g}, NAdam {loss['NAdam']:.2g} and RMSprop {loss['RMSprop']:.2g} (still settling; "
            f"RMSprop's constant step keeps it oscillating above the optimum; the "
            f"digits after these depend on the CPU's BLAS kernel, see Numerics); the least-squares optimum "
            f"is {floor:.6f}. The mini-batch Adam run ends at {mini.loss:.5f} after {mini.n_iter} updates, "
            f"with {mini.epoch_losses.size} epoch losses.")


def sweep_table() -> str:
    """The SGD rows above 0.05 of the Dask example's sweep (run locally: equal to Dask to the bit)."""
    configs = gdfast.grid(optimizer=["sgd", "adam", "rmsprop", "adagrad"], learning_rate=np.logspace(-3, 0, 25))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = gdfast.sweep(lesson.W1, lesson.INPUT, lesson.TARGET, configs=configs, num_iterations=200)
    lines = ["| optimizer | learning_rate | loss | n_iter | converged | diverged | status |",
             "|---|---|---|---|---|---|---|"]
    for cfg, r in zip(res.configs, res.results):
        if cfg["optimizer"] == "sgd" and cfg["learning_rate"] > 0.05:
            lines.append(f"| sgd | {cfg['learning_rate']:.3g} | {r.loss:.3g} | {r.n_iter} | {r.converged} | "
                         f"{r.diverged} | {r.status} |")
    return "\n".join(lines)


def classifier() -> str:
    """The Classification block's iris scores, and the figure's (docs/make_figures.py) blob accuracies."""
    from sklearn.datasets import load_iris, make_blobs
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_iris(return_X_y=True)
    iris = {mc: make_pipeline(StandardScaler(), gdfast.GDClassifier(multi_class=mc, random_state=0)).fit(X, y)
            .score(X, y) for mc in ("ovr", "multinomial")}
    Xb, yb = make_blobs(n_samples=300, centers=[[-2.0, 0.0], [2.0, 0.0], [0.0, 2.5]], cluster_std=1.3,
                        random_state=0)
    blobs = {mc: gdfast.GDClassifier(multi_class=mc, random_state=0).fit(Xb, yb).score(Xb, yb)
             for mc in ("ovr", "multinomial")}
    return (f"On iris (standardised, default settings) the training accuracy is {iris['ovr']:.3f} one-vs-rest "
            f"and {iris['multinomial']:.3f} multinomial. In the figure (300 points, three overlapping blobs) the "
            f"regions differ little: {blobs['ovr']:.3f} and {blobs['multinomial']:.3f}.")


def l1_path() -> str:
    """The L1 path block's exact zeros, and its agreement with scikit-learn's lasso_path at alpha / 2."""
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import lasso_path

    X, y = load_diabetes(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    y = y - y.mean()
    lr = 1 / (2 * np.linalg.eigvalsh(X.T @ X / len(y)).max())
    alphas = np.array([30.0, 10.0, 3.0, 1.0, 0.3])
    W, ours = np.zeros(10), []
    for alpha in alphas:
        W = gdfast.train(W, X, y, penalty="l1", alpha=float(alpha), learning_rate=lr, num_iterations=20000).W
        ours.append(W)
    theirs = lasso_path(X, y, alphas=alphas / 2, tol=1e-12, max_iter=100_000)[1].T
    zeros = ", ".join(f"{int((w == 0).sum())} at {a:g}" for a, w in zip(alphas, ours))
    same = all(np.array_equal(w == 0, t == 0) for w, t in zip(ours, theirs))
    close = bool(np.abs(np.array(ours) - theirs).max() < 1e-6)
    return (f"Exact zeros among the 10 coefficients: {zeros}; "
            f"{'the same' if same else 'NOT the same'} zeros as `lasso_path` at alpha / 2, and every coefficient "
            f"{'within' if close else 'NOT within'} 1e-6 of it.")


BLOCKS = {"lessons": lessons, "lesson-assert": lesson_assert, "tour": tour, "optimizers": optimizers,
          "sweep-table": sweep_table, "classifier": classifier, "l1-path": l1_path}

# The file of each block, relative to the repository root: the README keeps the short tour's numbers,
# the user guide's pages the rest (their sections moved there from the README).
WHERE = {"tour": "README.md",
         "lessons": "docs/user_guide/lessons.md", "lesson-assert": "docs/user_guide/lessons.md",
         "optimizers": "docs/user_guide/training.md", "l1-path": "docs/user_guide/training.md",
         "sweep-table": "docs/user_guide/sweeps.md", "classifier": "docs/user_guide/sklearn.md"}


def pattern(name: str) -> re.Pattern[str]:
    """Group 2 is the block's text (with a newline either side)."""
    return re.compile(rf"(<!-- numbers:{name}:start -->)(.*?)(<!-- numbers:{name}:end -->)", re.S)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="rewrite the blocks in README.md and docs/user_guide/*.md")
    args = parser.parse_args(argv)
    blocks = {name: make() for name, make in BLOCKS.items()}
    if not args.update:
        for name, text in blocks.items():
            print(f"<!-- numbers:{name} -->\n{text}\n")
        return 0
    for where in sorted(set(WHERE.values())):
        path = os.path.join(ROOT, where)
        with open(path, encoding="utf-8") as fh:
            content = fh.read()
        names = [name for name in blocks if WHERE[name] == where]
        for name in names:
            content, n = pattern(name).subn(lambda m: m.group(1) + "\n" + blocks[name] + "\n" + m.group(3), content)
            if n != 1:
                raise SystemExit(f"{where} has {n} blocks named {name!r} (expected 1)")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(content)
        print(f"updated {len(names)} blocks of {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
