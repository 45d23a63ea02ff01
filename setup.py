"""Build the gdfast Cython kernels.

Environment variables
---------------------
GDFAST_DEBUG=1
    Turn Cython's bounds, wraparound and initialisation checks back on (a debug build for test runs).
GDFAST_SANITIZE=1
    Compile and link with ``-fsanitize=address,undefined`` (see README, "Hardening").
GDFAST_NO_OPENMP=1
    Build without OpenMP even where the compiler has it (sweeps then run serially).
"""
import os
import re
import sys
import tempfile
import textwrap
import warnings

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def _env_flag(name):
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


DEBUG = _env_flag("GDFAST_DEBUG")
SANITIZE = _env_flag("GDFAST_SANITIZE")
NO_OPENMP = _env_flag("GDFAST_NO_OPENMP")

# Portable, exact floating point: no -ffast-math, no -march=native, and no contraction of a*b+c into
# an FMA (which would change results bit-wise between x86-64 and arm64 wheels).
UNIX_COMPILE = ["-O3", "-ffp-contract=off", "-fno-math-errno"]
MSVC_COMPILE = ["/O2", "/fp:precise"]

DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": not DEBUG,
    "embedsignature": True,
}


def _openmp_flags(compiler):
    """Return (compile_args, link_args) for OpenMP, or None when the compiler cannot build with it."""
    if NO_OPENMP:
        return None
    if compiler.compiler_type == "msvc":
        return ["/openmp"], []
    if sys.platform == "darwin":
        candidates = [(["-Xpreprocessor", "-fopenmp"], ["-lomp"]), (["-fopenmp"], ["-fopenmp"])]
    else:
        candidates = [(["-fopenmp"], ["-fopenmp"])]
    source = textwrap.dedent(
        """
        #include <omp.h>
        int main(void) { int n = 0;
        #pragma omp parallel reduction(+:n)
        n += 1;
        return omp_get_max_threads() > 0 ? 0 : 1; }
        """
    )
    for cflags, lflags in candidates:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "check_openmp.c")
            with open(path, "w") as fh:
                fh.write(source)
            try:
                objects = compiler.compile([path], output_dir=tmp, extra_postargs=cflags)
                compiler.link_executable(objects, "check_openmp", output_dir=tmp, extra_postargs=lflags)
            except Exception:  # noqa: BLE001 - any compiler failure means "no OpenMP here"
                continue
        return cflags, lflags
    return None


class BuildExt(build_ext):
    """build_ext that picks compiler flags per compiler and links OpenMP where it exists."""

    def build_extensions(self):
        msvc = self.compiler.compiler_type == "msvc"
        omp = _openmp_flags(self.compiler)
        if omp is None:
            warnings.warn(
                "gdfast: building without OpenMP; gdfast.sweep will run its configurations serially.",
                stacklevel=1,
            )
        for ext in self.extensions:
            ext.extra_compile_args = list(MSVC_COMPILE if msvc else UNIX_COMPILE)
            ext.extra_link_args = []
            if DEBUG and not msvc:
                ext.extra_compile_args += ["-O1", "-g"]
            if SANITIZE and not msvc:
                san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g"]
                ext.extra_compile_args += san
                ext.extra_link_args += san
            if omp is not None and ext.name in OPENMP_EXTENSIONS:
                ext.extra_compile_args += omp[0]
                ext.extra_link_args += omp[1]
        super().build_extensions()


# Modules with prange loops (cythonize rebuilds Extension objects, so this is keyed by name).
OPENMP_EXTENSIONS = {"gdfast._train"}


def _extension(name, source):
    return Extension(
        name,
        [source],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
    )


def _long_description():
    """README.md without its images: their links are relative to the repository (docs/*.png), which an
    index page cannot resolve; each becomes a line naming the figure and its file instead."""
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "README.md"), encoding="utf-8") as fh:
        text = fh.read()
    return re.sub(r"!\[([^\]]*)\]\(([^)\s]+)\)",
                  lambda m: f"*Figure: {m.group(1) or 'benchmark chart'} ({m.group(2)} in the source repository).*"
                  if "://" not in m.group(2) else m.group(0),
                  text)


extensions = [
    _extension("gdfast._contract", "src/_contract.pyx"),
    _extension("gdfast._kernels", "src/_kernels.pyx"),
    _extension("gdfast._train", "src/_train.pyx"),
]

setup(
    ext_modules=cythonize(
        extensions,
        include_path=["src"],
        compiler_directives=DIRECTIVES,
        compile_time_env={"GDFAST_DEBUG": DEBUG},
    ),
    cmdclass={"build_ext": BuildExt},
    long_description=_long_description(),
    long_description_content_type="text/markdown",
)
