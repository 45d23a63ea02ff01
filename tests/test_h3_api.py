"""Public API surface: submodules reachable after ``import gdfast``, light imports, result equality."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import gdfast
from gdfast.lesson import INPUT, TARGET, W1

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(gdfast.__file__)))


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run code in a fresh interpreter that imports the gdfast under test."""
    environ = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), **env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=environ, timeout=120)


def test_every_public_submodule_is_an_attribute_after_import_gdfast():
    # The issue: ``import gdfast; gdfast.lesson.W1`` raised AttributeError.
    proc = _run("""
        import types, gdfast
        assert gdfast.lesson.W1.shape == (4, 4)
        for name in ["lesson", "plot", "schedules", "optimizers", "reference", "core", "descent",
                     "training", "cli", "bench"]:
            assert isinstance(getattr(gdfast, name), types.ModuleType), name
        assert callable(gdfast.sweep) and callable(gdfast.train)
        print("ok")
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_import_gdfast_imports_neither_matplotlib_nor_sklearn():
    pytest.importorskip("sklearn")  # (the last line loads it; the installed-wheel run has none)
    proc = _run("""
        import sys, gdfast
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("matplotlib", "sklearn", "pandas", "dask"))
        print(heavy)
        gdfast.plot, gdfast.lesson, gdfast.cli
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("matplotlib", "sklearn")))
        gdfast.GDRegressor
        print("sklearn" in sys.modules)
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:3] == ["[]", "[]", "True"]


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        gdfast.nope  # noqa: B018


def test_gdregressor_without_sklearn_says_how_to_install_it():
    # gdfast is not on PyPI: the hint must not be `pip install 'gdfast[sklearn]'`.
    proc = _run("""
        import sys
        sys.modules["sklearn"] = None          # as if scikit-learn were not installed
        import gdfast
        try:
            gdfast.GDRegressor
        except ImportError as exc:
            print(exc)
    """)
    assert proc.returncode == 0, proc.stderr
    message = proc.stdout
    assert "pip install scikit-learn" in message
    assert "install 'gdfast[sklearn]'" not in message and 'install "gdfast[sklearn]"' not in message


# --- TrainResult == TrainResult -------------------------------------------------------------------

def test_trainresult_equality_compares_values_not_array_truth():
    # The dataclass's generated __eq__ raised "The truth value of an array ... is ambiguous".
    a = gdfast.train(W1, INPUT, TARGET, learning_rate=0.01, num_iterations=10, seed=3)
    b = gdfast.train(W1, INPUT, TARGET, learning_rate=0.01, num_iterations=10, seed=3)
    assert a == b and not (a != b)
    assert a == a
    assert np.isnan(a.grad_norm)                     # NaN fields still compare equal to themselves
    assert a != gdfast.train(W1, INPUT, TARGET, learning_rate=0.01, num_iterations=11, seed=3)
    assert a != gdfast.train(W1, INPUT, TARGET, learning_rate=0.02, num_iterations=10, seed=3)
    assert a != gdfast.train(W1, INPUT, TARGET, learning_rate=0.01, num_iterations=10, seed=4)   # seed field
    # same values in another dtype are a different result
    c = gdfast.train(W1.astype(np.float32), INPUT.astype(np.float32), TARGET.astype(np.float32),
                     learning_rate=0.01, num_iterations=10, seed=3)
    assert a != c
    assert (a == "a string") is False
    with pytest.raises(TypeError):
        hash(a)
