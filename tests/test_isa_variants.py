"""The CPU-specific builds of the kernels (x86-64 baseline, AVX2, AVX-512) give the same bits.

setup.py compiles gdfast._kernels and gdfast._train once per instruction set from the same C file,
always with -ffp-contract=off; gdfast/_isa.py loads AVX2 where the CPU runs it (else the
baseline), or the one ``GDFAST_ISA`` names. The oracle of every variant is the separately compiled baseline build: a broad
workload (tests/isa_workload.py: the single steps, ``train`` for every optimizer, loss and schedule,
mini-batches, sample weights, float32 and float64, ``sweep``, ``descend``) runs in a subprocess per
variant, and every array and number it produces must be byte-identical to the baseline's. No
tolerance: the variants differ only in instruction encoding and vector width, never in the order
or the rounding of an operation, so any difference at all is a bug.

On a machine or build without a variant (arm64, MSVC, ``GDFAST_BASELINE_ONLY=1`` builds, a CPU
without AVX-512) the tests of that variant skip.
"""
from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gdfast
from gdfast import _isa

HERE = Path(__file__).resolve().parent
WORKLOAD = HERE / "isa_workload.py"
VARIANTS = [isa for isa in _isa.ISAS if isa != "baseline"]
X86_64_LINUX = sys.platform.startswith("linux") and platform.machine() == "x86_64"


def _env(isa: str | None) -> dict[str, str]:
    """The environment of a child that imports the same gdfast as this session, GDFAST_ISA=isa."""
    env = dict(os.environ)
    env.pop(_isa.ENV_VAR, None)
    if isa is not None:
        env[_isa.ENV_VAR] = isa
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(gdfast.__file__)))
    env["PYTHONPATH"] = package_parent + os.pathsep + env.get("PYTHONPATH", "")
    env["MPLBACKEND"] = "Agg"
    return env


def _python(args: list[str], isa: str | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600, env=_env(isa))


def _workload(isa: str, tmp_path: Path) -> dict[str, np.ndarray]:
    path = tmp_path / f"{isa}.npz"
    proc = _python([str(WORKLOAD), str(path)], isa)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with np.load(path) as data:
        results = {key: data[key] for key in data.files}
    assert str(results["_meta/isa"]) == isa
    assert str(results["_meta/train_file"]) == _isa.variant_file(isa, "_train")
    assert str(results["_meta/gdfast_file"]) == os.path.abspath(gdfast.__file__)
    return results


def _differences(expected: dict[str, np.ndarray], got: dict[str, np.ndarray]) -> list[str]:
    """The keys whose dtype, shape or bytes differ (or that only one side has); _meta/ aside."""
    keys = {k for k in expected.keys() | got.keys() if not k.startswith("_meta/")}
    return sorted(k for k in keys if k not in expected or k not in got or expected[k].dtype != got[k].dtype
                  or expected[k].shape != got[k].shape or expected[k].tobytes() != got[k].tobytes())


def _usable_or_skip(isa: str) -> None:
    if isa not in _isa.built():
        pytest.skip(f"this gdfast was built without the {isa} kernels (built: {', '.join(_isa.built())})")
    if isa not in _isa.cpu():
        pytest.skip(f"this CPU cannot run the {isa} kernels")


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    return _workload("baseline", tmp_path_factory.mktemp("isa"))


# --- Same bits -------------------------------------------------------------------------------------

def test_the_workload_is_broad_and_deterministic(baseline, tmp_path):
    # A test of the test: two runs of the same build agree (nothing is left to chance), and the
    # workload produced what it claims (every optimizer trained, runs that diverge and stop early).
    assert _differences(baseline, _workload("baseline", tmp_path)) == []
    assert len(baseline) > 2000
    for opt in ("sgd", "adam", "adamw", "rmsprop", "adagrad", "nadam", "radam", "adamax"):
        for dtype in ("float64", "float32"):
            W = baseline[f"train/{opt}/{dtype}/minibatch_weighted_intercept/W"]
            assert W.dtype == dtype and np.isfinite(W).all()
            assert not np.array_equal(W, baseline[f"train/{opt}/mse/{dtype}/full/W"])
        assert f"descend/{opt}/x" in baseline
    assert str(baseline["train/diverging/float64/status"]) == "diverged"
    assert str(baseline["train/early_stop_restore_best/float64/status"]) == "no_improvement"
    assert baseline["sweep/optimizers/float32/0/W"].dtype == np.float32


@pytest.mark.parametrize("isa", VARIANTS)
def test_each_variant_gives_the_baselines_bits(isa, baseline, tmp_path):
    _usable_or_skip(isa)
    differ = _differences(baseline, _workload(isa, tmp_path))
    assert not differ, f"the {isa} kernels differ from the baseline's in {len(differ)} results: {differ[:20]}"


# --- Choosing and forcing a variant ----------------------------------------------------------------

def test_the_loaded_modules_are_the_chosen_variant():
    assert _isa.ACTIVE in _isa.usable()
    for module in _isa.MODULES:
        loaded = sys.modules[f"gdfast.{module}"]
        assert loaded is getattr(gdfast, module)
        assert loaded.__file__ == _isa.variant_file(_isa.ACTIVE, module)
        assert loaded.__name__ == f"gdfast.{module}"
    if not os.environ.get(_isa.ENV_VAR, "").strip():
        assert _isa.ACTIVE == [isa for isa in _isa.usable() if isa in _isa.DEFAULT_ISAS][-1]


@pytest.mark.parametrize("isa", _isa.ISAS)
def test_gdfast_isa_forces_a_variant_and_gdfast_info_names_it(isa):
    _usable_or_skip(isa)
    proc = _python(["-m", "gdfast", "info"], isa.upper())  # (any case)
    assert proc.returncode == 0, proc.stderr
    assert f"kernels     : {isa} (forced by GDFAST_ISA={isa.upper()}; built: {', '.join(_isa.built())}" in proc.stdout
    proc = _python(["-c", "import gdfast, gdfast._isa as i, gdfast._train as t, gdfast._kernels as k; "
                          "print(i.ACTIVE, t.__file__, k.__file__, sep='\\n')"], isa)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:3] == [isa, _isa.variant_file(isa, "_train"), _isa.variant_file(isa, "_kernels")]


def test_gdfast_info_without_gdfast_isa_names_the_default():
    proc = _python(["-m", "gdfast", "info"], None)
    assert proc.returncode == 0, proc.stderr
    default = [isa for isa in _isa.usable() if isa in ("baseline", "avx2")][-1]  # AVX-512 only when forced
    assert f"kernels     : {default} (the default: the widest of baseline, avx2 built and run here" in proc.stdout


def test_an_unknown_gdfast_isa_is_a_clear_error_at_import():
    proc = _python(["-c", "import gdfast"], "sse4")
    assert proc.returncode != 0
    assert ("ValueError: environment variable GDFAST_ISA='sse4' is not understood: set it to one of "
            "baseline, avx2, avx512 (this machine can use: " + ", ".join(_isa.usable()) + ")") in proc.stderr


def test_a_variant_this_machine_cannot_use_is_a_clear_error_at_import():
    unusable = [isa for isa in _isa.ISAS if isa not in _isa.usable()]
    if not unusable:
        pytest.skip("this machine can use every variant (the rule is tested with choose() below)")
    proc = _python(["-c", "import gdfast"], unusable[-1])
    assert proc.returncode != 0
    assert f"ValueError: environment variable GDFAST_ISA='{unusable[-1]}'" in proc.stderr
    assert "set GDFAST_ISA to one of those, or unset it" in proc.stderr


ALL = ("baseline", "avx2", "avx512")


@pytest.mark.parametrize("requested, built, cpu, expected", [
    (None, ALL, ALL, "avx2"),                        # AVX-512 only when forced
    (None, ("baseline", "avx512"), ALL, "baseline"),
    ("", ALL, ("baseline", "avx2"), "avx2"),         # the CPU's limit
    ("  ", ("baseline", "avx2"), ALL, "avx2"),        # the build's limit
    (None, ("baseline",), ALL, "baseline"),
    ("baseline", ALL, ALL, "baseline"),
    (" AvX2 ", ALL, ALL, "avx2"),
    ("avx512", ALL, ALL, "avx512"),
])
def test_choose(requested, built, cpu, expected):
    assert _isa.choose(requested, built=built, cpu=cpu) == expected


@pytest.mark.parametrize("requested, built, cpu, message", [
    ("avx", ALL, ALL, "GDFAST_ISA='avx' is not understood: set it to one of baseline, avx2, avx512 "
                      "(this machine can use: baseline, avx2, avx512), or unset it"),
    ("native", ALL, ("baseline",), "GDFAST_ISA='native' is not understood"),
    ("avx512", ALL, ("baseline", "avx2"), "GDFAST_ISA='avx512': this CPU cannot run the avx512 kernels "
                                          "(this machine can use: baseline, avx2); set GDFAST_ISA to one"),
    ("avx2", ("baseline",), ALL, "GDFAST_ISA='avx2': this gdfast was built without the avx2 kernels (built: "
                                 "baseline; this machine can use: baseline)"),
])
def test_choose_rejects_what_cannot_run(requested, built, cpu, message):
    with pytest.raises(ValueError, match=re.escape("environment variable " + message)):
        _isa.choose(requested, built=built, cpu=cpu)


# --- The builds ------------------------------------------------------------------------------------

@pytest.mark.skipif(not (X86_64_LINUX and Path("/proc/cpuinfo").exists()), reason="reads Linux's /proc/cpuinfo")
def test_cpu_detection_agrees_with_the_kernels_cpu_flags():
    # The oracle: the flags the Linux kernel reports (it clears those whose registers it does not save).
    flags_line = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    flags = set(flags_line.split(":", 1)[1].split())
    expected = ["baseline"]
    if {"avx2", "fma"} <= flags:
        expected.append("avx2")
        if {"avx512f", "avx512cd", "avx512dq", "avx512bw", "avx512vl"} <= flags:
            expected.append("avx512")
    assert list(_isa.cpu()) == expected


@pytest.mark.skipif(not X86_64_LINUX or os.environ.get("GDFAST_BASELINE_ONLY", "") not in ("", "0"),
                    reason="the variants are built with GCC or Clang on x86-64, unless GDFAST_BASELINE_ONLY=1")
def test_an_x86_64_build_has_every_variant():
    assert _isa.built() == _isa.ISAS


def _disassembly(path: str) -> str:
    proc = subprocess.run(["objdump", "-d", "--no-show-raw-insn", "-j", ".text", path], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.skipif(not X86_64_LINUX or shutil.which("objdump") is None, reason="needs objdump and x86-64 ELF files")
def test_no_build_contains_a_fused_multiply_add_and_each_uses_its_instruction_set():
    # -mfma only makes FMA instructions available; -ffp-contract=off keeps the compiler from fusing
    # a*b+c on its own, which would round once instead of twice and change the bits.
    fma = re.compile(r"\bvf(n)?m(add|sub)\w*\b")
    vex_arithmetic = re.compile(r"\bv(add|sub|mul|div)[sp][sd]\b")
    files = {isa: [_isa.variant_file(isa, m) for m in _isa.MODULES] for isa in _isa.built()}
    for isa, paths in files.items():
        for path in paths:
            code = _disassembly(path)
            assert not fma.search(code), f"{path} contains {fma.search(code).group(0)}"
            # (a test of the test: the variants really are compiled for their instruction sets)
            if isa == "baseline":
                assert not vex_arithmetic.search(code) and "%ymm" not in code, path
            else:
                assert vex_arithmetic.search(code) and "%ymm" in code, path
    if "avx512" in files:
        assert all(Path(a).read_bytes() != Path(b).read_bytes() for a, b in zip(files["avx2"], files["avx512"]))
