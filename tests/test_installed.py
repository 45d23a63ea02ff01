"""Which gdfast the tests run against (the wheel round-trip of .ci/wheel_roundtrip.sh checks this).

When ``GDFAST_EXPECT_INSTALLED_IN`` names a virtual environment, gdfast must be imported from inside
it and the source tree (``GDFAST_SOURCE_TREE``) must not be on ``sys.path``.
"""
import os
import sys
from pathlib import Path

import pytest

import gdfast


def test_report_where_gdfast_comes_from(capsys):
    with capsys.disabled():
        print(f"\n[gdfast {gdfast.__version__} imported from {gdfast.__file__}]")
    assert Path(gdfast.__file__).name == "__init__.py"


@pytest.mark.skipif("GDFAST_EXPECT_INSTALLED_IN" not in os.environ, reason="only in the wheel round-trip")
def test_gdfast_is_the_installed_wheel():
    venv = Path(os.environ["GDFAST_EXPECT_INSTALLED_IN"]).resolve()
    here = Path(gdfast.__file__).resolve()
    assert venv in here.parents, f"gdfast imported from {here}, not from the venv {venv}"
    assert "site-packages" in here.parts
    from gdfast import _contract, _kernels, _train

    for mod in (_contract, _kernels, _train):
        assert venv in Path(mod.__file__).resolve().parents
    source = os.environ.get("GDFAST_SOURCE_TREE")
    if source:
        src = Path(source).resolve()
        on_path = [p for p in sys.path if p and Path(p).resolve() == src]
        assert not on_path, f"the source tree {src} is on sys.path"
        assert src not in here.parents
