#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer run of the whole test suite (issue 7).
#
#   .ci/asan.sh [pytest args...]
#
# Copies this checkout to a temporary directory, builds the extensions there with GDFAST_SANITIZE=1
# (-fsanitize=address,undefined -fno-omit-frame-pointer -g; GCC or Clang on Linux), proves the sanitizer
# is live (a deliberate out-of-bounds read through a private kernel must be reported as a
# heap-buffer-overflow), then runs the test suite with libasan preloaded into the (uninstrumented)
# Python interpreter. Any sanitizer report aborts the run with a non-zero status. tests/test_leaks.py
# is skipped there (GDFAST_SANITIZER=1): ASan's quarantine makes RSS grow by design.
#   ASAN_OPTIONS: detect_leaks=0 (CPython's own allocations at exit are not leaks of ours),
#                 allocator_may_return_null=1 (huge requests become MemoryError as without ASan).
#   UBSAN_OPTIONS: halt_on_error=1:print_stacktrace=1.
set -euo pipefail
CC_FOR_ASAN="${CC:-gcc}"
source "$(dirname "$0")/build_copy.sh"
build_copy asan GDFAST_SANITIZE
LIBASAN="$("$CC_FOR_ASAN" -print-file-name=libasan.so)"
[ -e "$LIBASAN" ] || { echo "libasan.so not found (got '$LIBASAN')"; exit 1; }
# libstdc++ preloaded too: otherwise ASan's __cxa_throw interceptor finds no real symbol when a C++
# extension (matplotlib's) throws, and aborts with "CHECK failed: asan_interceptors.cpp".
LIBSTDCXX="$("$CC_FOR_ASAN" -print-file-name=libstdc++.so)"
PRELOAD="$LIBASAN"
[ -e "$LIBSTDCXX" ] && PRELOAD="$LIBASAN:$LIBSTDCXX"
for so in gdfast/_kernels*.so gdfast/_train*.so; do
    ldd "$so" | grep -q libasan || { echo "$so is not linked against libasan"; exit 1; }
done
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:abort_on_error=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
built=$(date +%s)

# 1. The sanitizer is live: an out-of-bounds read (G one element short) must be caught.
if ASAN_OPTIONS="$ASAN_OPTIONS:abort_on_error=0" LD_PRELOAD="$PRELOAD" "$PY" -c "
import numpy as np
from gdfast import _kernels
n = 100_000  # large enough to bypass NumPy's small-buffer cache: G is its own heap block
_kernels.update_into(np.ones(n), np.ones(n - 1), 0.1, np.empty(n))
" >selfcheck.log 2>&1; then
    echo "sanitizer self-check FAILED: the out-of-bounds read went unnoticed"; exit 1
fi
grep -q "heap-buffer-overflow" selfcheck.log || { echo "sanitizer self-check: unexpected output"; cat selfcheck.log; exit 1; }
echo "sanitizer self-check: a deliberate out-of-bounds read was caught, as it must be:"
grep -m1 "ERROR: AddressSanitizer" selfcheck.log | sed 's/^/    /'
grep -m1 "#0 " selfcheck.log | sed 's/^/    /' || true

# 2. The whole suite under the sanitizers.
GDFAST_SANITIZER=1 LD_PRELOAD="$PRELOAD" "$PY" -m pytest -q -p no:cacheprovider "$@" || { echo "asan: FAILED (a sanitizer report or a failing test, see above)"; exit 1; }
end=$(date +%s)
echo "asan: built in $((built - start)) s, tests ran in $((end - built)) s; no sanitizer report"
