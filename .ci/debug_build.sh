#!/usr/bin/env bash
# Debug build + the whole test suite (issue 7).
#
#   .ci/debug_build.sh [pytest args...]
#
# Copies the tracked (and untracked, not ignored) files of this checkout to a temporary directory,
# builds the extensions there with GDFAST_DEBUG=1 (Cython boundscheck, wraparound and initializedcheck
# on, cdivision off, -O1 -g), checks that the copy's gdfast is the one imported, and runs the whole test
# suite against it with GDFAST_EXPECT_DEBUG=1 (tests/test_build_checks.py then proves the bounds checks
# are really compiled in). The checkout itself is not touched.
set -euo pipefail
source "$(dirname "$0")/build_copy.sh"
build_copy debug GDFAST_DEBUG
"$PY" - "$TMP" <<'PY'
import sys, gdfast
assert gdfast.__file__.startswith(sys.argv[1]), f"imported {gdfast.__file__}, not the debug copy"
print("debug build:", gdfast.__file__)
PY
built=$(date +%s)
GDFAST_EXPECT_DEBUG=1 "$PY" -m pytest -q -p no:cacheprovider "$@"
end=$(date +%s)
echo "debug build: built in $((built - start)) s, tests ran in $((end - built)) s"
