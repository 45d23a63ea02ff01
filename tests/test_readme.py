"""README.md and the user guide tell the truth: every Python block of README.md and of each page of
docs/user_guide/ runs as a script, every deterministic number is the one docs/readme_numbers.py
computes now (in the page it names), every relative link resolves from its page, and the package's
long description has no broken images."""
import importlib.util
import os
import re
import subprocess
import sys

import pytest

import gdfast

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(gdfast.__file__)))
README = os.path.join(ROOT, "README.md")
GUIDE = os.path.join(ROOT, "docs", "user_guide")
pytestmark = pytest.mark.skipif(not os.path.isfile(os.path.join(ROOT, "docs", "readme_numbers.py")),
                                reason="needs the source checkout (README.md, docs/)")

# How many Python blocks README.md had before its sections moved to the user guide: a block lost in
# a move (or deleted rather than moved) fails test_readme_has_python_blocks.
PYTHON_BLOCKS_BEFORE_THE_MOVE = 17


def _pages() -> list[str]:
    """README.md and every Markdown page of the user guide, relative to the repository root."""
    guide = sorted(name for name in os.listdir(GUIDE) if name.endswith(".md")) if os.path.isdir(GUIDE) else []
    return ["README.md"] + [f"docs/user_guide/{name}" for name in guide]


def _read(page: str) -> str:
    with open(os.path.join(ROOT, page), encoding="utf-8") as fh:
        return fh.read()


def _readme() -> str:
    return _read("README.md")


def _python_blocks(page: str = "README.md") -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", _read(page), flags=re.S | re.M)


def _all_python_blocks() -> list[tuple[str, int]]:
    if not os.path.isfile(README):
        return []
    return [(page, index) for page in _pages() for index in range(len(_python_blocks(page)))]


OPTIONAL = {"sklearn": "sklearn", "dask": "distributed", "pandas": "pandas", "tqdm": "tqdm"}


def test_readme_has_python_blocks():
    assert len(_python_blocks()) >= 1                      # the short tour
    assert len(_all_python_blocks()) >= PYTHON_BLOCKS_BEFORE_THE_MOVE


@pytest.mark.parametrize("page, index", _all_python_blocks(), ids=lambda v: str(v).replace("/", "-"))
def test_readme_python_block_runs_as_a_script(page, index, tmp_path):
    code = _python_blocks(page)[index]
    for word, module in OPTIONAL.items():
        if re.search(rf"^\s*(from|import) {word}\b", code, flags=re.M) and importlib.util.find_spec(module) is None:
            pytest.skip(f"{page} block {index} needs {module}")
    script = tmp_path / f"block_{index}.py"
    script.write_text(code)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, f"{page} block {index} failed:\n{code}\n--- stderr ---\n{proc.stderr[-3000:]}"


def _numbers_module():
    spec = importlib.util.spec_from_file_location("gdfast_readme_numbers",
                                                  os.path.join(ROOT, "docs", "readme_numbers.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_numbers_block_of_the_readme_is_what_the_script_computes_now():
    numbers = _numbers_module()
    assert set(numbers.WHERE) == set(numbers.BLOCKS)
    pages = {page: _read(page) for page in _pages()}
    for name, make in numbers.BLOCKS.items():
        where = numbers.WHERE[name]
        assert where in pages, f"numbers:{name} is said to live in {where}, which is not a page"
        found = numbers.pattern(name).findall(pages[where])
        assert len(found) == 1, f"{where} needs exactly one numbers:{name} block"
        elsewhere = [page for page, text in pages.items() if page != where and numbers.pattern(name).search(text)]
        assert not elsewhere, f"numbers:{name} is also in {elsewhere} (one source: {where})"
        assert found[0][1].strip() == make().strip(), (
            f"{where} block numbers:{name} is stale: run `python docs/readme_numbers.py --update`")


def test_every_relative_link_resolves_from_its_page():
    # Images and links of sections moved from README.md into docs/user_guide/ must point at the
    # same files from their new folder (GitHub renders the pages with these links, Sphinx too).
    for page in _pages():
        text = re.sub(r"^```.*?^```", "", _read(page), flags=re.S | re.M)     # not inside code blocks
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            path = target.split("#", 1)[0]
            if "://" in target or target.startswith(("#", "mailto:")) or not path:
                continue
            resolved = os.path.normpath(os.path.join(ROOT, os.path.dirname(page), path))
            assert os.path.exists(resolved), f"{page}: link {target} resolves to missing {resolved}"


@pytest.mark.parametrize("stale", ["0.008736", "335 MB", "~1.7x", "python -m pip install gdfast ",
                                   "x86-64 and arm64 give the same bits", "Wheels exist for"])
def test_known_stale_statements_are_gone(stale):
    for page in _pages():
        assert stale not in _read(page), page


def test_long_description_has_no_relative_image_links(tmp_path):
    # The metadata an index page shows: PKG-INFO from setup.py egg_info (the same long_description
    # the wheel and sdist carry).
    proc = subprocess.run([sys.executable, "setup.py", "-q", "egg_info", "--egg-base", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 and "No module named" in proc.stderr:
        pytest.skip(f"cannot run setup.py here: {proc.stderr.strip().splitlines()[-1]}")
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "gdfast.egg-info" / "PKG-INFO", encoding="utf-8") as fh:
        pkg_info = fh.read()
    assert "Description-Content-Type: text/markdown" in pkg_info
    assert "A short tour" in pkg_info                    # the README is there
    images = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", pkg_info)
    assert all("://" in link for link in images), images
    assert "docs/optimizers.png" in pkg_info             # named, as text, for the reader
