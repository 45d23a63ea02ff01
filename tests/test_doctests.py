"""Every docstring example of gdfast runs (and must pass) in the normal test suite.

Also checks the documentation rule: every public name (``gdfast.__all__`` and each public module's
``__all__``) has a docstring with an ``Examples`` section.
"""
import doctest
import importlib
import inspect
import pkgutil

import matplotlib
import numpy as np
import pytest

import gdfast

OPTIONAL = {"gdfast.sklearn": "sklearn"}  # modules whose examples need an optional dependency


def _module_names():
    names = ["gdfast"]
    for info in pkgutil.iter_modules(gdfast.__path__):
        if info.name != "__main__":
            names.append(f"gdfast.{info.name}")
    return sorted(names)


def _import(name):
    if name in OPTIONAL:
        pytest.importorskip(OPTIONAL[name])
    return importlib.import_module(name)


@pytest.mark.parametrize("name", _module_names())
def test_docstring_examples(name):
    module = _import(name)
    matplotlib.use("Agg")
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(module, name, globs={"np": np}) if t.examples]
    with np.printoptions(legacy=False):
        for test in tests:
            runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} failing example(s) in {name} (see the output above)"
    if not name.startswith("gdfast._") and name not in ("gdfast.__init__",):
        public = getattr(module, "__all__", [])
        if public:
            assert tests, f"{name} has public names but no examples"


def _public_objects():
    seen = {}
    for name in _module_names():
        short = name.rsplit(".", 1)[-1]
        if short.startswith("_") or name in OPTIONAL:
            continue
        module = importlib.import_module(name)
        for attr in getattr(module, "__all__", []):
            obj = getattr(module, attr)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                seen[f"{obj.__module__}.{obj.__qualname__}"] = obj
    try:
        seen["gdfast.sklearn.GDRegressor"] = gdfast.GDRegressor
    except ImportError:
        pass
    return sorted(seen.items())


@pytest.mark.parametrize("qualname, obj", _public_objects(), ids=[q for q, _ in _public_objects()])
def test_every_public_name_has_examples(qualname, obj):
    doc = inspect.getdoc(obj) or ""
    assert doc.strip(), f"{qualname} has no docstring"
    assert "\nExamples\n--------\n" in doc, f"{qualname}'s docstring has no numpydoc Examples section"
    assert ">>> " in doc.split("\nExamples\n--------\n", 1)[1]
