"""Which build of the compiled kernels this process runs: x86-64 baseline, AVX2 or AVX-512.

``setup.py`` compiles ``gdfast._kernels`` and ``gdfast._train`` once for the x86-64 baseline
(``gdfast/_kernels*.so``) and, with GCC or Clang targeting x86-64, again for AVX2 and AVX-512
(``gdfast/_variants/<isa>/``). Every variant is the same C file with the same ``-ffp-contract=off``
(no fused multiply-add unless the source asks for one, and it never does), so every variant computes
the same bits; only the speed may differ. Elsewhere (MSVC, arm64, ``GDFAST_BASELINE_ONLY=1``) only the
baseline exists.

Importing this module (``gdfast/__init__.py`` does so before anything that uses the kernels) loads
one variant into ``sys.modules`` under the names ``gdfast._kernels`` and ``gdfast._train``, so every
``from . import _train`` gets it:

- ``GDFAST_ISA`` unset or empty: the widest of :data:`DEFAULT_ISAS` (baseline, AVX2) that is built and
  that this CPU (and its OS) can run. AVX-512 is built but loaded only when forced: on the Xeon
  gdfast is developed on it ran the lesson's one-run loop slower than AVX2 (and sweeps in lockstep
  a little faster), so it is not a safe default;
- ``GDFAST_ISA=baseline``, ``avx2`` or ``avx512`` (any case): that variant. A value that is none of
  these, or a variant this build lacks or this CPU cannot run, raises ValueError at ``import gdfast``
  (forcing a variant is for tests and benchmarks, whose results would be mislabelled by a quiet
  fallback; and running code for an instruction set the CPU lacks would crash the process).

Examples
--------
>>> from gdfast import _isa
>>> _isa.ACTIVE in _isa.usable()
True
>>> _isa.choose("baseline", built=("baseline", "avx2"), cpu=("baseline",))
'baseline'
>>> _isa.choose(None, built=("baseline", "avx2", "avx512"), cpu=("baseline", "avx2", "avx512"))
'avx2'
"""
from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence

from . import _contract

ENV_VAR = "GDFAST_ISA"
# From the most portable to the widest.
ISAS = ("baseline", "avx2", "avx512")
# What choose() picks from without GDFAST_ISA: the last of these that is usable (see the docstring).
DEFAULT_ISAS = ("baseline", "avx2")
MODULES = ("_kernels", "_train")
PACKAGE = __name__.rpartition(".")[0]
VARIANTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_variants")


def variant_file(isa: str, module: str) -> str | None:
    """The file of ``module`` (``"_kernels"`` or ``"_train"``) built for ``isa``, or None if absent."""
    if isa == "baseline":
        folder = os.path.dirname(VARIANTS_DIR)
    else:
        folder = os.path.join(VARIANTS_DIR, isa)
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = os.path.join(folder, module + suffix)
        if os.path.isfile(path):
            return path
    return None


def built() -> tuple[str, ...]:
    """The variants this installation holds (both modules present), from the most portable."""
    return tuple(isa for isa in ISAS if all(variant_file(isa, m) is not None for m in MODULES))


def cpu() -> tuple[str, ...]:
    """The variants this CPU and its OS can run, from the most portable."""
    return tuple(isa for isa in ISAS if isa in _contract.cpu_isas())


def usable() -> tuple[str, ...]:
    """The variants both built and runnable here; ``"baseline"`` always is."""
    runnable = cpu()
    return tuple(isa for isa in built() if isa in runnable)


def choose(requested: str | None, *, built: Sequence[str], cpu: Sequence[str]) -> str:
    """The variant to load, given ``GDFAST_ISA``'s value (None or ``""``: the widest usable one of
    :data:`DEFAULT_ISAS`).

    Raises
    ------
    ValueError
        ``requested`` is not one of :data:`ISAS` (case-insensitive), or names a variant that is not
        built or that the CPU cannot run; the message names the variable and the values that work.

    Examples
    --------
    >>> from gdfast._isa import choose
    >>> choose("AVX2", built=("baseline", "avx2"), cpu=("baseline", "avx2", "avx512"))
    'avx2'
    >>> choose("sse", built=("baseline",), cpu=("baseline",))
    Traceback (most recent call last):
    ...
    ValueError: environment variable GDFAST_ISA='sse' is not understood: set it to one of baseline, avx2, avx512 (this machine can use: baseline), or unset it for the default
    """
    here = [isa for isa in built if isa in cpu]
    if requested is None or requested.strip() == "":
        return ([isa for isa in here if isa in DEFAULT_ISAS] or ["baseline"])[-1]
    isa = requested.strip().lower()
    usable_here = f"this machine can use: {', '.join(here) or 'baseline'}"
    if isa not in ISAS:
        raise ValueError(
            f"environment variable {ENV_VAR}={requested!r} is not understood: set it to one of "
            f"{', '.join(ISAS)} ({usable_here}), or unset it for the default"
        )
    if isa not in built:
        raise ValueError(
            f"environment variable {ENV_VAR}={requested!r}: this gdfast was built without the {isa} kernels "
            f"(built: {', '.join(built)}; {usable_here}); set {ENV_VAR} to one of those, or unset it"
        )
    if isa not in cpu:
        raise ValueError(
            f"environment variable {ENV_VAR}={requested!r}: this CPU cannot run the {isa} kernels "
            f"({usable_here}); set {ENV_VAR} to one of those, or unset it"
        )
    return isa


def _load(isa: str) -> None:
    """Put the ``isa`` build of each of MODULES into ``sys.modules`` (and onto the package)."""
    package = sys.modules[PACKAGE]
    for module in MODULES:
        name = f"{PACKAGE}.{module}"
        path = variant_file(isa, module)
        assert path is not None  # (choose() returns only built variants)
        if name in sys.modules:
            # Only if something imported the kernels before gdfast/__init__.py imported this module.
            if os.path.abspath(getattr(sys.modules[name], "__file__", "")) != path:
                raise ImportError(f"{name} was imported before gdfast._isa could load its {isa} build: "
                                  f"import gdfast first")
            continue
        if isa == "baseline":
            importlib.import_module(name)  # the ordinary gdfast/<module>*.so
            continue
        loader = importlib.machinery.ExtensionFileLoader(name, path)
        spec = importlib.util.spec_from_file_location(name, path, loader=loader)
        assert spec is not None
        loaded = importlib.util.module_from_spec(spec)
        sys.modules[name] = loaded
        try:
            loader.exec_module(loaded)
        except BaseException:
            del sys.modules[name]
            raise
        setattr(package, module, loaded)


def _active() -> str:
    isa = choose(os.environ.get(ENV_VAR), built=built(), cpu=cpu())
    _load(isa)
    return isa


ACTIVE: str = _active()
"""The variant this process runs (one of :data:`ISAS`)."""


def describe() -> str:
    """One line for ``gdfast info``: the variant in use, why, and the ones built and runnable here."""
    forced = os.environ.get(ENV_VAR, "").strip()
    why = (f"forced by {ENV_VAR}={forced}" if forced
           else f"the default: the widest of {', '.join(DEFAULT_ISAS)} built and run here; {ENV_VAR} forces one")
    return f"{ACTIVE} ({why}; built: {', '.join(built())}; CPU runs: {', '.join(cpu())})"

