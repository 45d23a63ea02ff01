# Sourced (not run) by .ci/debug_build.sh and .ci/asan.sh: one copy-and-build step for both.
#
#   build_copy NAME VARIABLE
#
# Copies the tracked (and untracked, not ignored) files of this checkout to a new temporary directory
# ${TMPDIR:-/tmp}/gdfast-NAME.XXXXXX (removed when the calling script exits), changes into it and
# builds the extensions there in place with VARIABLE=1 in the environment (the build's output goes to
# build.log, whose tail is shown if the build fails). The checkout itself is not touched.
# GDFAST_BASELINE_ONLY=1 is exported for the build and the tests that follow: only the x86-64
# baseline kernels (about half the compile time); the AVX2/AVX-512 builds are tested by the README's
# test command and the wheel round-trip, and tests/test_isa_variants.py skips them here.
# Sets ROOT (this checkout), PY ($PYTHON, default python), TMP (the copy) and start (date +%s before
# the copy).
build_copy() {
    local name="$1" variable="$2"
    ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    PY="${PYTHON:-python}"
    TMP="$(mktemp -d "${TMPDIR:-/tmp}/gdfast-$name.XXXXXX")"
    trap 'rm -rf "$TMP"' EXIT
    start=$(date +%s)
    export GDFAST_BASELINE_ONLY=1
    (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$TMP")
    cd "$TMP"
    env "$variable=1" "$PY" setup.py -q build_ext --inplace -j 2 >build.log 2>&1 || { tail -50 build.log; exit 1; }
}
