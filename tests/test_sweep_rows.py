"""A run set's stacked arrays: aligned, rows written in place padded to whole cache lines, values intact."""
import numpy as np
import pytest

from gdfast import _engine  # the run engine stacks the runs' arrays


@pytest.mark.parametrize("dtype, width", [(np.int64, 9), (np.float64, 5), (np.float32, 17), (np.intp, 1),
                                          (np.float64, 16)])
def test_padded_rows_start_on_cache_lines_and_keep_the_values(dtype, width):
    rng = np.random.default_rng(0)
    rows = [rng.integers(-100, 100, width).astype(dtype) for _ in range(7)]
    out = _engine._stack(rows, dtype, aligned=True, pad_rows=True)
    assert out.dtype == dtype and out.flags.c_contiguous
    assert out.ctypes.data % 64 == 0 and out.strides[0] % 64 == 0
    assert width <= out.shape[1] < width + 64 // np.dtype(dtype).itemsize
    np.testing.assert_array_equal(out[:, :width], np.stack(rows))
    assert not out[:, width:].any()


@pytest.mark.parametrize("aligned", [True, False])
def test_a_stack_is_np_stack(aligned):
    arrays = [np.full((2, 3), i, dtype=np.float32) for i in range(5)]
    out = _engine._stack(arrays, np.float32, aligned=aligned)
    assert out.flags.c_contiguous and (out.ctypes.data % 64 == 0 or not aligned)
    np.testing.assert_array_equal(out, np.stack(arrays))
    assert not any(np.shares_memory(out, a) for a in arrays)
