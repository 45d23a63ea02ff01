"""gdfast.plot rendered with Agg: the pixels where each artist must be have its colour."""
import warnings

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_rgb

import gdfast
from gdfast import plot, reference
from gdfast.lesson import INPUT, TARGET, W1


@pytest.fixture(autouse=True)
def _no_show_and_close(monkeypatch):
    assert matplotlib.get_backend().lower() == "agg"

    def forbidden(*args, **kwargs):
        raise AssertionError("gdfast.plot must never call plt.show()")

    monkeypatch.setattr(plt, "show", forbidden)
    yield
    plt.close("all")


def _pixels(ax):
    ax.figure.canvas.draw()
    return np.asarray(ax.figure.canvas.buffer_rgba())[:, :, :3].astype(int)


def _color_near(ax, pixels, x, y, color, radius=3, tol=60):
    """Whether a pixel within ``radius`` of data point (x, y) has ``color`` (max channel diff <= tol)."""
    px, py = ax.transData.transform((x, y))
    row = pixels.shape[0] - int(round(py))  # display y grows upwards, image rows downwards
    col = int(round(px))
    patch = pixels[max(row - radius, 0): row + radius + 1, max(col - radius, 0): col + radius + 1]
    want = np.array(to_rgb(color)) * 255
    return bool((np.abs(patch - want).max(axis=2) <= tol).any())


def _count_color(pixels, color, tol=40):
    want = np.array(to_rgb(color)) * 255
    return int((np.abs(pixels - want).max(axis=2) <= tol).sum())


def test_loss_curves_draw_every_run_on_one_log_axes():
    runs = [gdfast.train(W1, INPUT, TARGET, learning_rate=lr, num_iterations=60) for lr in (0.002, 0.02)]
    ax = plot.loss_curves(runs, labels=["slow", "fast"])
    assert len(ax.lines) == 2 and ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["slow", "fast"]
    pix = _pixels(ax)
    for line, run in zip(ax.lines, runs):
        np.testing.assert_array_equal(line.get_ydata(), run.losses)
        color = line.get_color()
        for t in (0, 20, 40):  # the curve passes through its recorded losses
            assert _color_near(ax, pix, t, run.losses[t], color), (color, t)
    # The two curves differ: the fast run's end point is not drawn in the slow run's colour.
    assert not _color_near(ax, pix, 59, runs[1].losses[59], ax.lines[0].get_color(), radius=1)


def test_loss_curves_linear_scale_epochs_and_record_every():
    res = gdfast.train(W1, INPUT, TARGET, learning_rate=0.01, num_iterations=100, record_every=10)
    ax = plot.loss_curves(res, log=False, record_every=10)
    assert ax.get_yscale() == "linear" and ax.get_legend() is None
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), np.arange(0, 100, 10))
    ax2 = plot.loss_curves([res.epoch_losses, res.epoch_losses[:5]], epochs=True)
    # One update per epoch and record_every=10: every 10th epoch's loss is kept.
    assert res.epoch_losses.size == 10
    assert ax2.get_xlabel() == "epoch" and [ln.get_xdata().size for ln in ax2.lines] == [10, 5]
    with pytest.raises(ValueError, match="labels"):
        plot.loss_curves([res, res], labels=["one"])


def test_loss_curves_of_a_sweep_are_labelled_by_config():
    res = gdfast.sweep(W1, INPUT, TARGET, learning_rates=[0.001, 0.01], num_iterations=30)
    ax = plot.loss_curves(res)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["learning_rate=0.001", "learning_rate=0.01"]


def test_path_1d_draws_the_function_and_the_path():
    f = gdfast.Quadratic(1, 4, 4)
    path = gdfast.descend(f.gradient, 10.0, learning_rate=0.1, num_iterations=20, function=f)
    ax = plot.path_1d(path, f)
    curve, dots = ax.lines
    # The red curve is the function itself (closed form x**2 + 4x + 4), the blue dots the path.
    xs = curve.get_xdata()
    np.testing.assert_allclose(curve.get_ydata(), xs**2 + 4 * xs + 4, rtol=1e-12)
    np.testing.assert_array_equal(dots.get_xdata(), path.x)
    pix = _pixels(ax)
    assert _color_near(ax, pix, 10.0, 144.0, "blue")          # the start, f(10) = 144
    assert _color_near(ax, pix, path.x[3], path.f[3], "blue")
    assert _color_near(ax, pix, -4.0, 4.0, "red")             # a point of f away from the path
    assert not _color_near(ax, pix, -4.0, 100.0, "red", radius=2)  # and not one off it
    assert _count_color(pix, "red") > 200 and _count_color(pix, "blue") > 100


def test_path_1d_refuses_a_2d_path():
    path = gdfast.descend(lambda p: 2 * p, [1.0, 1.0], learning_rate=0.1, num_iterations=3)
    with pytest.raises(ValueError, match="contour_2d"):
        plot.path_1d(path, lambda x: x**2)


def _valley(p):
    return p[0] ** 2 + 10 * p[1] ** 2


def test_contour_2d_draws_levels_and_the_path():
    grad = lambda p: np.array([2 * p[0], 20 * p[1]])  # noqa: E731
    path = gdfast.descend(grad, [4.0, 1.5], learning_rate=0.09, num_iterations=25)
    ax = plot.contour_2d(_valley, path, levels=12)
    contours = [c for c in ax.collections if hasattr(c, "levels")]
    assert len(contours) == 1 and len(contours[0].levels) >= 8
    np.testing.assert_array_equal(ax.lines[0].get_xydata(), path.x)
    pix = _pixels(ax)
    assert _color_near(ax, pix, 4.0, 1.5, "black")                      # the start square
    assert _color_near(ax, pix, *path.x[-1], "gold", radius=4)           # the end star
    mid = 0.5 * (path.x[1] + path.x[2])
    assert _color_near(ax, pix, *mid, "crimson", radius=2)               # the segment between
    # Contour lines are drawn with viridis colours somewhere in the plot area.
    assert len({tuple(c) for c in contours[0].get_edgecolor().round(3)}) > 3


def test_contour_2d_evaluates_scalar_only_and_elementwise_functions():
    grad = lambda p: 2 * p  # noqa: E731
    path = gdfast.descend(grad, [1.0, -1.0], learning_rate=0.2, num_iterations=5)
    calls = []

    def scalar_only(p):
        calls.append(1)
        return float(np.dot(p, p))  # fails on a (2, ny, nx) grid: one call per point

    ax = plot.contour_2d(scalar_only, path, n_points=20)
    assert len(calls) == 1 + 20 * 20 or len(calls) == 20 * 20
    # A Quadratic applied element-wise is the separable sum f(x) + f(y).
    q = gdfast.Quadratic(1, 0, 0)
    ax2 = plot.contour_2d(q, path, n_points=20)
    assert ax2.collections and ax.collections


def test_lr_sweep_marks_diverged_runs():
    lrs = [1e-4, 1e-3, 1e-2, 0.04, 2.0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = gdfast.sweep(W1, INPUT, TARGET, learning_rates=lrs, num_iterations=200)
    assert res.diverged.tolist() == [False, False, False, False, True]
    ax = plot.lr_sweep(res)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    curve, crosses = ax.lines
    np.testing.assert_array_equal(curve.get_xdata(), lrs[:4])
    # Independent values: the NumPy reference run of the same options.
    expected = [reference.train(W1, INPUT, TARGET, learning_rate=lr, num_iterations=200).loss for lr in lrs[:4]]
    expected = np.array(expected)
    if (expected == 0).any():  # a loss of exactly 0 is drawn a decade under the smallest positive one
        expected[expected == 0] = expected[expected > 0].min() / 10
    np.testing.assert_allclose(curve.get_ydata(), expected, rtol=1e-8, atol=1e-30)
    np.testing.assert_array_equal(crosses.get_xdata(), [2.0])
    pix = _pixels(ax)
    assert _color_near(ax, pix, 2.0, crosses.get_ydata()[0], "red")
    assert _color_near(ax, pix, 1e-3, expected[1], curve.get_color())


def test_lr_sweep_one_curve_per_seed():
    res = gdfast.sweep(W1, INPUT, TARGET, learning_rates=[0.001, 0.01], seeds=[1, 2], num_iterations=20)
    ax = plot.lr_sweep(res, log=False)
    assert len(ax.lines) == 2 and ax.get_xscale() == "linear"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["seed=1", "seed=2"]
    with pytest.raises(TypeError, match="SweepResult"):
        plot.lr_sweep(res.results[0])


def test_plots_draw_on_a_given_axes():
    fig, (a, b) = plt.subplots(1, 2)
    res = gdfast.train(W1, INPUT, TARGET, learning_rate=0.01, num_iterations=10)
    assert plot.loss_curves(res, ax=b) is b and not a.lines


def test_a_fitted_regressor_gives_its_loss_curve():
    pytest.importorskip("sklearn", minversion="1.6")
    X = np.arange(20.0).reshape(10, 2) / 10
    reg = gdfast.GDRegressor(learning_rate=0.1, max_iter=30, tol=None).fit(X, X.sum(axis=1))
    ax = plot.loss_curves(reg, epochs=True)
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), reg.loss_curve_)


def test_docs_make_figures_regenerates_every_readme_image(tmp_path):
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "docs" / "make_figures.py"
    if not script.exists():
        pytest.skip("docs/ is not next to the tests (installed-wheel run)")
    spec = importlib.util.spec_from_file_location("make_figures", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    paths = module.main(["--output", str(tmp_path)])
    # Figures that need more than a plotting script (a Dask cluster, a benchmark run) come from their
    # own generators; every other committed PNG must be one that make_figures.py regenerates.
    other_generators = {"dask_sweep.png": "docs/dask_sweep.py", "benchmark.png": "benchmarks/run.py"}
    root = script.parents[1]
    committed = {p.name for p in script.parent.glob("*.png")}
    for name, generator in other_generators.items():
        if name in committed:
            assert (root / generator).exists(), f"{name} has no generator {generator}"
    assert sorted(Path(p).name for p in paths) == sorted(committed - set(other_generators))
    for p in paths:
        image = plt.imread(p)
        assert image.shape[0] > 200 and image[..., :3].std() > 0.05
        # Same size as the committed image (bytes may differ with another matplotlib/FreeType).
        assert plt.imread(script.parent / Path(p).name).shape == image.shape, Path(p).name


# --- issue 11: log ticks of lr_sweep a round number of decades apart ---

def test_lr_sweep_log_ticks_are_a_round_number_of_decades_apart():
    import warnings

    import matplotlib.pyplot as plt
    import numpy as np

    import gdfast
    from gdfast.lesson import INPUT, TARGET, W1

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = gdfast.sweep(W1, INPUT, TARGET, learning_rates=np.geomspace(1e-4, 1.0, 25), num_iterations=200)
    ax = gdfast.plot.lr_sweep(res)
    ax.figure.canvas.draw()
    low, high = ax.get_ylim()
    ticks = [t for t in ax.get_yticks() if low <= t <= high]
    exponents = np.log10(ticks)
    steps = set(np.round(np.diff(exponents)).astype(int).tolist())
    assert len(steps) == 1, steps
    step = steps.pop()
    assert step in (1, 2, 5, 10, 20, 50, 100), step       # the old figure had ticks 36 decades apart
    assert all(e % step == 0 for e in np.round(exponents).astype(int))
    assert 3 <= len(ticks) <= 16
    plt.close(ax.figure)


def _race():
    """Two 2-D paths of different lengths on the valley: plain SGD (30 updates) and Adam (10)."""
    grad = lambda p: np.array([2 * p[0], 20 * p[1]])  # noqa: E731
    return {"sgd": gdfast.descend(grad, [4.0, 1.5], learning_rate=0.04, num_iterations=30),
            "adam": gdfast.descend(grad, [4.0, 1.5], learning_rate=0.3, num_iterations=10, optimizer="adam")}


def test_paths_2d_draws_every_path_its_end_the_start_and_the_minimum():
    race = _race()
    ax = plot.paths_2d(_valley, race, minimum=(0.0, 0.0))
    sgd, adam = ax.lines[0], ax.lines[1]
    assert sgd.get_label() == "sgd (30 updates)" and adam.get_label() == "adam (10 updates)"
    np.testing.assert_array_equal(sgd.get_xydata(), race["sgd"].x)
    np.testing.assert_array_equal(adam.get_xydata(), race["adam"].x)
    assert to_rgb(sgd.get_color()) != to_rgb(adam.get_color())
    # each end is a dot of its path's colour at the path's last point
    for line, end, path in zip((sgd, adam), ax.lines[2:4], race.values()):
        np.testing.assert_array_equal(end.get_xydata(), path.x[-1:])
        assert to_rgb(end.get_color()) == to_rgb(line.get_color())
    labels = [line.get_label() for line in ax.lines]
    assert "start" in labels and "minimum" in labels
    pix = _pixels(ax)
    assert _color_near(ax, pix, 4.0, 1.5, "black")  # the start square
    # the limits cover both paths with a margin
    lo, hi = ax.get_xlim()
    assert lo < min(p.x[:, 0].min() for p in race.values()) and hi > 4.0
    # a list gets numbered labels
    ax2 = plot.paths_2d(_valley, list(race.values()))
    assert [line.get_label() for line in ax2.lines[:2]] == ["path 0 (30 updates)", "path 1 (10 updates)"]


@pytest.mark.parametrize("bad, error, match", [
    ({}, ValueError, "paths is empty"),
    ("sgd", TypeError, "paths must be a dict"),
    ({"sgd": np.zeros((3, 2))}, TypeError, r"paths\['sgd'\] must be a DescentPath"),
    ("1-D", ValueError, r"paths\['a'\] is not a 2-D path"),
])
def test_paths_2d_and_animate_paths_refuse_bad_paths(bad, error, match):
    if bad == "1-D":
        f = gdfast.Quadratic(1, 0, 0)
        bad = {"a": gdfast.descend(f.gradient, 1.0, learning_rate=0.1, num_iterations=3)}
    for function in (plot.paths_2d, plot.animate_paths):
        with pytest.raises(error, match=match):
            function(_valley, bad)


def test_animate_paths_races_update_for_update(tmp_path):
    from PIL import Image

    race = _race()
    gif = tmp_path / "race.gif"
    anim = plot.animate_paths(_valley, race, gif, frames=4, fps=5, n_points=40)
    # frame k shows each path's points after at most 30 * k / 3 updates (hand-counted: record_every=1)
    sgd_line, adam_line = anim._fig.axes[0].lines[:2]
    for k, (n_sgd, n_adam) in enumerate([(1, 1), (11, 11), (21, 11), (31, 11)]):
        anim._func(k)
        np.testing.assert_array_equal(sgd_line.get_xydata(), race["sgd"].x[:n_sgd])
        np.testing.assert_array_equal(adam_line.get_xydata(), race["adam"].x[:n_adam])
    with Image.open(gif) as image:
        assert image.n_frames == 4  # every frame differs (SGD moves in each), so none is merged
    # recorded every 5th update: the frames follow path.steps, not the point count
    grad = lambda p: np.array([2 * p[0], 20 * p[1]])  # noqa: E731
    sparse = gdfast.descend(grad, [4.0, 1.5], learning_rate=0.04, num_iterations=30, record_every=5)
    anim = plot.animate_paths(_valley, {"every 5th": sparse, "adam": race["adam"]}, frames=4, n_points=40)
    anim._func(1)  # after <= 10 updates: steps 0, 5, 10
    np.testing.assert_array_equal(anim._fig.axes[0].lines[0].get_xydata(), sparse.x[:3])


def test_animate_paths_refuses_bad_options(tmp_path, monkeypatch):
    from matplotlib import animation

    race = _race()
    with pytest.raises(ValueError, match="frames must be an integer >= 2"):
        plot.animate_paths(_valley, race, frames=1)
    with pytest.raises(ValueError, match="fps must be an integer >= 1"):
        plot.animate_paths(_valley, race, fps=0)
    with pytest.raises(ValueError, match=r"must end in \.gif or \.mp4"):
        plot.animate_paths(_valley, race, tmp_path / "race.avi")
    monkeypatch.setattr(animation.writers, "is_available", lambda name: False)
    with pytest.raises(ValueError, match="needs ffmpeg"):
        plot.animate_paths(_valley, race, tmp_path / "race.mp4")
    assert not list(tmp_path.iterdir())
