"""Scripts of the checkout write generated files outside the tree unless asked (--update); figures."""
import importlib.util
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import gdfast

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(gdfast.__file__)))
IN_CHECKOUT = os.path.isdir(os.path.join(ROOT, ".git")) or os.path.isfile(os.path.join(ROOT, ".git"))
pytestmark = pytest.mark.skipif(
    not (IN_CHECKOUT and os.path.isfile(os.path.join(ROOT, "docs", "make_figures.py")) and shutil.which("git")),
    reason="needs the source checkout (docs/, benchmarks/) and git",
)


def _status() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout


def _script(path: str, *args: str, tmp) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, TMPDIR=str(tmp), MPLBACKEND="Agg", PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, os.path.join(ROOT, path), *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300)


def _load(path: str, name: str):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_make_figures_by_default_writes_to_the_temp_dir_not_docs(tmp_path):
    before = _status()
    proc = _script("docs/make_figures.py", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert _status() == before
    written = sorted(os.listdir(tmp_path / "gdfast-figures"))
    assert written == sorted(["descent_contour.png", "lesson_descent_1d.png", "loss_curves.png",
                              "lr_sweep.png", "optimizers.png", "classifier_boundaries.png", "l1_path.png",
                              "optimizer_race.png"])


def test_benchmarks_run_by_default_writes_to_the_temp_dir(tmp_path):
    # --from-json: rebuild the table and chart from the committed results without running anything.
    before = _status()
    proc = _script("benchmarks/run.py", "--from-json", os.path.join(ROOT, "benchmarks", "results", "benchmark.json"),
                   tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert _status() == before
    assert sorted(os.listdir(tmp_path / "gdfast-benchmark")) == ["benchmark.json", "benchmark.md", "benchmark.png"]


def test_contour_figure_title_names_the_axes_variables(monkeypatch, tmp_path):
    figures = _load("docs/make_figures.py", "gdfast_make_figures")
    seen = []
    monkeypatch.setattr(figures, "_save", lambda ax, path: seen.append(ax) or path)
    figures.contour(str(tmp_path))
    ax = seen[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x[0]", "x[1]")
    assert "x[0]" in ax.get_title() and "x[1]" in ax.get_title()
    assert " y" not in ax.get_title() and "y²" not in ax.get_title()


def test_dask_sweep_figure_has_no_text_over_the_curves(tmp_path):
    pytest.importorskip("pandas")
    import matplotlib.pyplot as plt

    script = _load("docs/dask_sweep.py", "gdfast_docs_dask_sweep")
    configs = gdfast.grid(optimizer=script.OPTIMIZERS, learning_rate=np.logspace(-3, 0, 25))
    with pytest.warns(RuntimeWarning):
        df = gdfast.sweep(gdfast.lesson.W1, gdfast.lesson.INPUT, gdfast.lesson.TARGET, configs=configs,
                          num_iterations=200).to_dataframe()
    fig = script.plot(df, str(tmp_path / "d.png"))
    ax = fig.axes[0]
    assert len(ax.texts) == 0                               # the 2/15 label is in the legend instead
    legend = ax.get_legend()
    assert any("2/15" in t.get_text() for t in legend.get_texts())
    # the legend sits outside the axes, where it covers no curve
    fig.canvas.draw()
    assert legend.get_window_extent().x0 >= ax.get_window_extent().x1
    plt.close(fig)
