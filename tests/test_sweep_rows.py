"""The sweep's per-run state rows: padded to whole cache lines, aligned, values intact."""
import numpy as np
import pytest

from gdfast import _runs  # the sweep's executor (gdfast.sweeps plans, gdfast._runs executes)


@pytest.mark.parametrize("dtype, width", [(np.int64, 9), (np.float64, 5), (np.float32, 17), (np.intp, 1),
                                          (np.float64, 16)])
def test_run_rows_start_on_cache_lines_and_keep_the_values(dtype, width):
    rng = np.random.default_rng(0)
    rows = [rng.integers(-100, 100, width).astype(dtype) for _ in range(7)]
    out = _runs._run_rows(rows)
    assert out.dtype == dtype and out.flags.c_contiguous
    assert out.ctypes.data % 64 == 0 and out.strides[0] % 64 == 0
    assert width <= out.shape[1] < width + 64 // np.dtype(dtype).itemsize
    np.testing.assert_array_equal(out[:, :width], np.stack(rows))
    assert not out[:, width:].any()


def test_aligned_stack_is_np_stack_aligned():
    arrays = [np.full((2, 3), i, dtype=np.float32) for i in range(5)]
    out = _runs._aligned_stack(arrays)
    assert out.ctypes.data % 64 == 0 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, np.stack(arrays))
