"""Every public name has a page in the API reference: each name of each documented module's
``__all__`` is an entry of that module's section of docs/api.rst (autosummary writes one page per
entry when the site is built). Sphinx is not needed: the test reads the reStructuredText source.

The oracle is the modules' own ``__all__`` (what the package exports), not a list kept beside the
documentation, so a new public name without an entry fails here.
"""
import importlib
import os
import re
import types

import pytest

import gdfast

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(gdfast.__file__)))
API = os.path.join(ROOT, "docs", "api.rst")
pytestmark = pytest.mark.skipif(not os.path.isfile(API), reason="needs the source checkout (docs/api.rst)")

# The modules the API reference covers (issue #16): the top level, the lessons, the schedules, the
# plots, the optimizers, descend's test functions, the NumPy twin and the scikit-learn estimators;
# and gdfast.bench (the timing behind ``gdfast bench``).
MODULES = ["gdfast", "gdfast.lesson", "gdfast.schedules", "gdfast.plot", "gdfast.optimizers",
           "gdfast.functions", "gdfast.reference", "gdfast.sklearn", "gdfast.bench"]


def _sections() -> dict[str, set[str]]:
    """{module: the names its autosummary entries (and ``.. data::`` directives) end in}, one section per
    ``.. currentmodule::``."""
    with open(API, encoding="utf-8") as fh:
        text = fh.read()
    sections: dict[str, set[str]] = {}
    parts = re.split(r"^\.\. currentmodule:: (\S+)\s*$", text, flags=re.M)
    for module, body in zip(parts[1::2], parts[2::2]):
        names = sections.setdefault(module, set())
        for block in re.findall(r"^\.\. autosummary::\n((?:[ \t]+\S.*\n|\s*\n)+)", body, flags=re.M):
            for line in block.splitlines():
                entry = line.strip()
                if entry and not entry.startswith(":"):
                    names.add(entry.rsplit(".", 1)[-1])
        # a name documented by hand (``__version__``: a plain string, whose own docstring is str's)
        names.update(re.findall(r"^\.\. (?:py:)?data:: (\S+)\s*$", body, flags=re.M))
    return sections


def test_the_api_source_parses_into_sections():
    sections = _sections()
    assert set(MODULES) <= set(sections), sorted(set(MODULES) - set(sections))
    assert all(sections[m] for m in MODULES)


@pytest.mark.parametrize("module_name", MODULES)
def test_every_public_name_has_an_api_entry(module_name):
    module = importlib.import_module(module_name)
    sections = _sections()
    missing = []
    for name in module.__all__:
        obj = getattr(module, name)
        if isinstance(obj, types.ModuleType):
            # a public submodule: documented by its own section (``.. currentmodule:: gdfast.NAME``)
            if obj.__name__ not in sections:
                missing.append(name)
        elif name not in sections.get(module_name, set()):
            missing.append(name)
    assert not missing, f"docs/api.rst: no entry for {module_name}.{missing} (add it to the module's autosummary)"


def test_the_checker_sees_a_missing_name(tmp_path, monkeypatch):
    # The test can fail: the same API source without one entry reports that name.
    with open(API, encoding="utf-8") as fh:
        text = fh.read()
    assert "\n   descend_sweep\n" in text
    broken = tmp_path / "api.rst"
    broken.write_text(text.replace("\n   descend_sweep\n", "\n", 1), encoding="utf-8")
    monkeypatch.setitem(globals(), "API", str(broken))
    with pytest.raises(AssertionError, match="descend_sweep"):
        test_every_public_name_has_an_api_entry("gdfast")
