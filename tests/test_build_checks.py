"""The special builds really are what they claim (issue 7); skipped in a normal build.

``.ci/debug_build.sh`` sets ``GDFAST_EXPECT_DEBUG=1`` while it runs the suite against a
``GDFAST_DEBUG=1`` build (Cython bounds, wraparound and initialisation checks on). There, a private
kernel called with a buffer shorter than its loop (a precondition the Python API always establishes)
must raise IndexError instead of reading past the buffer. In a normal build the same call would read
out of bounds, so it is never made there.
"""
import os

import numpy as np
import pytest

from gdfast import _kernels

DEBUG_EXPECTED = os.environ.get("GDFAST_EXPECT_DEBUG") == "1"


@pytest.mark.skipif(not DEBUG_EXPECTED, reason="only against a GDFAST_DEBUG=1 build (.ci/debug_build.sh)")
def test_debug_build_has_bounds_checks():
    W = np.ones(8)
    G = np.ones(7)  # one element short: the loop over W's length runs past G's end
    out = np.empty(8)
    with pytest.raises(IndexError, match="[Oo]ut of bounds"):
        _kernels.update_into(W, G, 0.1, out)
    # The public API validates first, so the same mistake is a clear ValueError in every build.
    import gdfast
    with pytest.raises(ValueError, match="G must be a scalar or have W's shape"):
        gdfast.update(W, G, 0.1)
