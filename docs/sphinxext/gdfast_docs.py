"""Helpers the Sphinx configuration (docs/conf.py) names by their import path.

sphinx-gallery takes its callables as strings ("module.function") so that Sphinx can cache the
configuration; this module is on ``sys.path`` while the site builds.
"""
from __future__ import annotations

from typing import Any

GALLERY_DPI = 80  # modest: small PNGs, fast builds; the figures are read on screen, not printed


def reset_matplotlib(gallery_conf: dict[str, Any], fname: str) -> None:
    """Before each example: matplotlib's defaults (as sphinx-gallery's own reset) at GALLERY_DPI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.close("all")
    plt.rcdefaults()
    matplotlib.rcParams["savefig.dpi"] = GALLERY_DPI
