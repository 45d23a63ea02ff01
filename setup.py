"""Build the gdfast Cython kernels.

Environment variables
---------------------
GDFAST_DEBUG=1
    Turn Cython's bounds, wraparound and initialisation checks back on (a debug build for test runs).
GDFAST_SANITIZE=1
    Compile and link with ``-fsanitize=address,undefined`` (see README, "Hardening").
GDFAST_NO_OPENMP=1
    Build without OpenMP even where the compiler has it (sweeps then run serially).
GDFAST_BASELINE_ONLY=1
    Build the kernels for the x86-64 baseline only, without their AVX2 and AVX-512 variants (see
    ISA_VARIANTS below): about half the compile time, for the debug and sanitizer builds of
    .ci/; the package then always runs the baseline kernels.
"""
import os
import re
import shutil
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
BASELINE_ONLY = _env_flag("GDFAST_BASELINE_ONLY")

# Portable, exact floating point: no -ffast-math, no -march=native, and no contraction of a*b+c into
# an FMA (which would change results bit-wise between x86-64 and arm64 wheels).
UNIX_COMPILE = ["-O3", "-ffp-contract=off", "-fno-math-errno"]
MSVC_COMPILE = ["/O2", "/fp:precise"]

# CPU-specific builds of the kernels (GCC or Clang targeting x86-64; elsewhere only the baseline is
# built). Each is the baseline's C file, byte for byte, compiled with UNIX_COMPILE (so still
# -ffp-contract=off: -mfma only makes the instructions available, the compiler never fuses a*b+c on
# its own) plus these flags: wider vectors, the same operations in the same order, the same bits.
# Each variant is built under the same module name (its init function stays PyInit__train) into
# gdfast/_variants/<isa>/, and gdfast/_isa.py loads the one the CPU can run (GDFAST_ISA forces one).
# The CPU test that goes with each set of flags is in src/_contract.pyx (cpu_isas): keep them in step.
ISA_VARIANTS = {
    "avx2": ["-mavx2", "-mfma"],
    "avx512": ["-mavx2", "-mfma", "-mavx512f", "-mavx512cd", "-mavx512dq", "-mavx512bw", "-mavx512vl"],
}
VARIANT_MODULES = ("gdfast._kernels", "gdfast._train")

DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": not DEBUG,
    "embedsignature": True,
}


def _variant_name(isa, module):
    """gdfast._train built for ``isa`` -> gdfast._variants.<isa>._train (so gdfast/_variants/<isa>/_train*.so)."""
    package, _, leaf = module.rpartition(".")
    return f"{package}._variants.{isa}.{leaf}"


def _compiler_accepts(compiler, flags):
    """Whether ``compiler`` targets x86-64 and compiles code for it with ``flags`` (a cross or
    universal build for another architecture, or an old compiler, makes this False)."""
    source = textwrap.dedent(
        """
        #if !defined(__x86_64__)
        #error "not x86-64"
        #endif
        #include <immintrin.h>
        int check(void) { __builtin_cpu_init(); return __builtin_cpu_supports("avx2"); }
        """
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "check_isa.c")
        with open(path, "w") as fh:
            fh.write(source)
        try:
            compiler.compile([path], output_dir=tmp, extra_postargs=list(flags))
        except Exception:  # noqa: BLE001 - any compiler failure means "not for this target"
            return False
    return True


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
        isa_flags = self._keep_buildable_variants(msvc)
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
            ext.extra_compile_args += isa_flags.get(ext.name, [])
        super().build_extensions()

    def _keep_buildable_variants(self, msvc):
        """Drop the ISA variants this compiler cannot build; copy the baseline's C file for the others
        (one copy per variant, so that their object files do not collide). Returns {name: flags}."""
        flags = {}
        kept = []
        accepted = {}
        for ext in self.extensions:
            isa = getattr(ext, "gdfast_isa", None)
            if isa is None:
                kept.append(ext)
                continue
            if isa not in accepted:
                accepted[isa] = not msvc and _compiler_accepts(self.compiler, ISA_VARIANTS[isa])
                if not accepted[isa]:
                    warnings.warn(f"gdfast: not building the {isa} kernels (the compiler does not target x86-64, "
                                  f"or rejects {' '.join(ISA_VARIANTS[isa])}); the baseline kernels run on "
                                  "every CPU.", stacklevel=1)
            if not accepted[isa]:
                continue
            baseline_c, variant_c = ext.gdfast_copy_from, ext.sources[0]
            os.makedirs(os.path.dirname(variant_c), exist_ok=True)
            if not os.path.exists(variant_c) or os.path.getmtime(variant_c) != os.path.getmtime(baseline_c):
                shutil.copy2(baseline_c, variant_c)  # copy2 keeps the time stamp: rebuilt when that changes
            flags[ext.name] = ISA_VARIANTS[isa]
            kept.append(ext)
        self.extensions[:] = kept
        return flags

    def copy_extensions_to_source(self):
        # (an in-place build copies gdfast/_variants/<isa>/*.so: make their folders first)
        for ext in self.extensions:
            if getattr(ext, "gdfast_isa", None) is not None:
                os.makedirs(os.path.join(*ext.name.split(".")[:-1]), exist_ok=True)
        super().copy_extensions_to_source()


# Modules with prange loops (cythonize rebuilds Extension objects, so this is keyed by name).
OPENMP_EXTENSIONS = {"gdfast._train"} | {_variant_name(isa, "gdfast._train") for isa in ISA_VARIANTS}


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


def _isa_variants(baseline):
    """An Extension per ISA variant of each module of VARIANT_MODULES: the baseline's cythonized C,
    copied at build time to build/isa/<isa>/ (cythonized once: the same C, so the same module name
    and the same operations in every variant)."""
    variants = []
    for isa in () if BASELINE_ONLY else ISA_VARIANTS:
        for ext in baseline:
            if ext.name not in VARIANT_MODULES:
                continue
            (c_file,) = ext.sources
            variant = Extension(_variant_name(isa, ext.name), [os.path.join("build", "isa", isa, os.path.basename(c_file))],
                                include_dirs=ext.include_dirs, define_macros=ext.define_macros, depends=[c_file])
            variant.gdfast_isa, variant.gdfast_copy_from = isa, c_file
            variants.append(variant)
    return variants


cythonized = cythonize(
    extensions,
    include_path=["src"],
    compiler_directives=DIRECTIVES,
    compile_time_env={"GDFAST_DEBUG": DEBUG},
)

setup(
    ext_modules=cythonized + _isa_variants(cythonized),
    cmdclass={"build_ext": BuildExt},
    long_description=_long_description(),
    long_description_content_type="text/markdown",
)
