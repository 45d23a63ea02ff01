"""Sphinx configuration of gdfast's documentation site.

Build it (from the repository root, after ``python -m pip install -e ".[docs]"``)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Warnings are errors, and so is an example of the gallery that raises. Nothing is fetched from the
network at build time (no intersphinx; the theme's assets are bundled with it).
"""
from __future__ import annotations

import os
import sys

import matplotlib

matplotlib.use("Agg")  # the gallery's examples draw without a display

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)                            # this checkout's gdfast (as the tests import it)
sys.path.insert(0, os.path.join(HERE, "sphinxext"))  # gdfast_docs: helpers named in sphinx_gallery_conf

import gdfast  # noqa: E402

project = "gdfast"
author = "gdfast developers"
copyright = "gdfast developers, BSD-3-Clause"
release = gdfast.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]
# sphinx.ext.intersphinx stays off: it downloads inventories, and CI has no network.

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
# docs/ also holds the README's figures and the scripts that make them (make_figures.py,
# readme_numbers.py, dask_sweep.py): only .rst and .md files are sources, and none of those may be
# picked up by accident. The generated folders are build outputs (see .gitignore).
exclude_patterns = ["_build", "sphinxext", "_templates", "**.ipynb_checkpoints",
                    "auto_examples/*.ipynb", "auto_examples/*.py", "auto_examples/*.zip"]

# --- API reference: autosummary writes one page per name into docs/generated/ (not in git) ---
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": False}
autodoc_typehints = "none"          # the numpydoc sections state the types
numpydoc_show_class_members = False  # autosummary lists the members; numpydoc would list them twice
numpydoc_class_members_toctree = False
numpydoc_validation_checks: set[str] = set()  # -W already fails on a docstring numpydoc cannot parse

# --- myst: the user guide is Markdown (the README's sections moved over verbatim) ---
myst_heading_anchors = 4            # GitHub-style #anchors for headings, as in the README
myst_enable_extensions = ["colon_fence"]

# --- The gallery: examples/plot_*.py, executed at build time, each with its figure ---
sphinx_gallery_conf = {
    "examples_dirs": ["../examples"],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",          # execute every plot_*.py
    "only_warn_on_example_error": False,    # a broken example fails the build
    "abort_on_example_error": False,        # ... after all of them ran (--keep-going reports them all)
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("gdfast_docs.reset_matplotlib",),
    "remove_config_comments": True,
    "download_all_examples": False,
    "show_memory": False,
    "plot_gallery": "True",
}

# --- HTML ---
html_theme = "pydata_sphinx_theme"
html_title = f"gdfast {release}"
html_static_path: list[str] = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_show_sourcelink = False
