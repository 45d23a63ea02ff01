"""The example gallery (examples/plot_*.py) runs: each example as a script in a fresh process, as the
documentation build executes it.

Each example checks its own key result with an ``assert`` against an independent value (a closed form,
a hand-written loop, scikit-learn), so a broken example is a non-zero exit status here. An example is
skipped only when an optional module it imports is missing (as in tests/test_readme.py); no time is
asserted (the gallery runs in about 20 s on a 2-core machine).
"""
import importlib.util
import json
import os
import re
import subprocess
import sys

import pytest

import gdfast

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(gdfast.__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
pytestmark = pytest.mark.skipif(not os.path.isdir(EXAMPLES), reason="needs the source checkout (examples/)")

SCRIPTS = (sorted(f for f in os.listdir(EXAMPLES) if re.fullmatch(r"plot_\w+\.py", f))
           if os.path.isdir(EXAMPLES) else [])
OPTIONAL = {"sklearn": "sklearn", "dask": "distributed", "numba": "numba", "pandas": "pandas"}

# Runs the example as `python examples/plot_X.py` does (its folder first on sys.path, __name__ == "__main__",
# sys.argv[0] its path), then reports how many matplotlib figures it left open.
RUNNER = """
import os, runpy, sys
path = sys.argv[1]
sys.argv = [path]
sys.path.insert(0, os.path.dirname(path))
runpy.run_path(path, run_name="__main__")
import matplotlib.pyplot as plt
print("figures:", len(plt.get_fignums()))
"""


def _source(name: str) -> str:
    with open(os.path.join(EXAMPLES, name), encoding="utf-8") as fh:
        return fh.read()


def test_gallery_has_its_readme_and_the_examples():
    with open(os.path.join(EXAMPLES, "README.rst"), encoding="utf-8") as fh:
        title, underline = fh.read().splitlines()[:2]
    assert title and set(underline) == {"="} and len(underline) >= len(title)
    assert len(SCRIPTS) >= 9


@pytest.mark.parametrize("name", SCRIPTS)
def test_example_starts_with_a_rest_title_and_has_text_cells(name):
    lines = _source(name).splitlines()
    assert lines[0] == '"""', f"{name} must start with a docstring"
    assert lines[1].strip() and set(lines[2]) == {"="} and len(lines[2]) >= len(lines[1]), \
        f"{name}: the docstring's first line is the title, underlined with '='"
    assert "\n# %%\n# " in _source(name), f"{name} has no text cell (# %% followed by comment lines)"


@pytest.mark.parametrize("name", SCRIPTS)
def test_example_runs_as_a_script_and_draws_a_figure(name, tmp_path):
    code = _source(name)
    for word, module in OPTIONAL.items():
        if re.search(rf"^\s*(from|import) {word}\b", code, flags=re.M) and importlib.util.find_spec(module) is None:
            pytest.skip(f"{name} needs {module}")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, "-c", RUNNER, os.path.join(EXAMPLES, name)], cwd=tmp_path,
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, (f"{name} failed:\n--- stdout ---\n{proc.stdout[-2000:]}\n"
                                  f"--- stderr ---\n{proc.stderr[-3000:]}")
    figures = int(proc.stdout.strip().splitlines()[-1].split()[-1])
    assert figures >= 1, f"{name} draws no figure"
    assert not list(tmp_path.iterdir()), f"{name} wrote files into its working directory"


def test_benchmark_results_file_names_where_and_when_it_was_measured():
    with open(os.path.join(EXAMPLES, "benchmark_results.json"), encoding="utf-8") as fh:
        results = json.load(fh)
    for key in ("command", "date", "cpu", "cpu_count", "platform", "loadavg_before", "loadavg", "rows"):
        assert results.get(key), f"benchmark_results.json has no {key!r}"
    assert results["command"].startswith("python benchmarks/run.py") and "--json" in results["command"]
