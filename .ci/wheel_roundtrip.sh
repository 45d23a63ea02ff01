#!/usr/bin/env bash
# Wheel round-trip: clean clone -> sdist -> wheel built from that sdist -> brand-new venv with no
# Cython (binary packages only, so nothing can be compiled) -> the test suite copied to an empty
# folder and run against the installed wheel, with the source tree off sys.path.
#
# Usage: .ci/wheel_roundtrip.sh            (builds HEAD of this repository: commit first)
# Env:   GDFAST_ROUNDTRIP_EXTRAS=           extras installed with the wheel (e.g. "test": scikit-learn
#                                           and tqdm too); default none: runtime deps + pytest/hypothesis
#        GDFAST_ROUNDTRIP_KEEP=1            keep the temp folder
#        PYTHON=python3                     interpreter used for the build and the venv
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-python}"
EXTRAS="${GDFAST_ROUNDTRIP_EXTRAS:-}"
TMP="$(mktemp -d "${TMPDIR:-/tmp}/gdfast-roundtrip.XXXXXX")"
[ "${GDFAST_ROUNDTRIP_KEEP:-0}" = 1 ] || trap 'rm -rf "$TMP"' EXIT
START=$SECONDS
step() { echo "[roundtrip +$((SECONDS - START))s] $*"; }

step "clean clone of $(git -C "$ROOT" rev-parse --short HEAD) into $TMP/src"
git clone --quiet --no-hardlinks "$ROOT" "$TMP/src"

step "python -m build (sdist, then the wheel built from the unpacked sdist)"
"$PYTHON" -m pip install --quiet build
"$PYTHON" -m build --outdir "$TMP/dist" "$TMP/src" > "$TMP/build.log" 2>&1 || { tail -50 "$TMP/build.log"; exit 1; }
SDIST="$(ls "$TMP"/dist/gdfast-*.tar.gz)"
WHEEL="$(ls "$TMP"/dist/gdfast-*.whl)"
step "built $(basename "$SDIST") and $(basename "$WHEEL")"

tar tzf "$SDIST" > "$TMP/sdist.txt"
for f in src/_kernels.pyx src/_train.pyx src/_contract.pyx src/gdfast/_contract.pxd src/_linear.pxd setup.py LICENSE gdfast/py.typed; do
  grep -q "/$f\$" "$TMP/sdist.txt" || { echo "sdist lacks $f"; exit 1; }
done
if grep -qE '\.(c|cpp|so|pyd)$' "$TMP/sdist.txt"; then
  echo "sdist holds generated or compiled files:"; grep -E '\.(c|cpp|so|pyd)$' "$TMP/sdist.txt"; exit 1
fi
"$PYTHON" - "$WHEEL" <<'PY'
import platform, sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
need = ["gdfast/__init__.py", "gdfast/py.typed", "gdfast/_contract.pyi", "gdfast/_kernels.pyi", "gdfast/_train.pyi"]
missing = [n for n in need if n not in names]
ext = [n for n in names if n.startswith("gdfast/_kernels.") and n.endswith((".so", ".pyd"))]
bad = [n for n in names if n.endswith((".pyx", ".pxd", ".c"))]
assert not missing and ext and not bad, (missing, ext, bad)
# The CPU-specific builds of the kernels (built with GCC or Clang for x86-64; gdfast/_isa.py loads one).
variants = sorted(n for n in names if n.startswith("gdfast/_variants/") and n.endswith(".so"))
if sys.platform.startswith("linux") and platform.machine() == "x86_64":
    for isa in ("avx2", "avx512"):
        for module in ("_kernels", "_train"):
            assert any(n.startswith(f"gdfast/_variants/{isa}/{module}.") for n in variants), (isa, module, variants)
print("wheel contents ok:", len(names), "files, extension", ext[0], "and", len(variants), "ISA variants")
PY

step "fresh venv: the wheel${EXTRAS:+[$EXTRAS]} + its runtime deps + pytest/hypothesis, binary packages only (no compiler used)"
"$PYTHON" -m venv "$TMP/venv"
VPY="$TMP/venv/bin/python"
[ -x "$VPY" ] || VPY="$TMP/venv/Scripts/python.exe"
"$VPY" -m pip install --quiet --upgrade pip
"$VPY" -m pip install --quiet --only-binary :all: "${WHEEL}${EXTRAS:+[$EXTRAS]}" "pytest>=7" "hypothesis>=6.80"
if "$VPY" -c "import Cython" 2>/dev/null; then echo "Cython is importable in the venv"; exit 1; fi
step "venv holds: $("$VPY" -m pip list --format=freeze | tr '\n' ' ')"

step "tests copied to an empty folder, run against the installed wheel"
mkdir "$TMP/run"
cp -r "$ROOT/tests" "$TMP/run/tests"
cd "$TMP/run"
GDFAST_EXPECT_INSTALLED_IN="$TMP/venv" GDFAST_SOURCE_TREE="$ROOT" \
  "$VPY" -m pytest -q -p no:cacheprovider tests
step "done: wheel round-trip passed in $((SECONDS - START)) s"
