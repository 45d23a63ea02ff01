"""scipy.sparse CSR input: validation, and the arrays the kernels read (never a dense copy of X).

A CSR matrix X reaches the kernels as its three arrays: ``data`` (the stored values, float32 or
float64), ``indices`` (their columns) and ``indptr`` (row i's entries are ``indptr[i]:indptr[i+1]``),
int32 or int64 as scipy made them. Unsorted indices, duplicate entries (they add up, as scipy
reads them), explicit zeros and empty rows are all valid. Other sparse formats (COO, CSC, ...) are
refused with a TypeError that says ``X.tocsr()``: converting them costs a copy of the matrix, which
the caller should see.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validation import as_array, as_float, check_ndim, common_float_dtype

__all__ = ["CSRData", "is_sparse", "prepare_csr"]

INDEX_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))


def is_sparse(value: Any) -> bool:
    """Whether ``value`` is a scipy.sparse matrix or array (False when scipy was never imported)."""
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and bool(sparse.issparse(value))


@dataclass(frozen=True)
class CSRData:
    """A validated CSR matrix: ``data`` (nnz,) of the call's float dtype, ``indices`` (nnz,) and
    ``indptr`` (n_samples + 1,) of one index dtype (int32 or int64), all C-contiguous, and its
    ``shape`` (n_samples, n_features). The arrays are the caller's own when they qualified (never
    written to), else copies."""

    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    shape: tuple[int, int]

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def nnz(self) -> int:
        return int(self.data.shape[0])

    def kernel_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(data, indices) as the kernels take them: never empty (an empty matrix gets one entry of
        each, which no row points to and no kernel reads)."""
        if self.nnz:
            return self.data, self.indices
        return np.zeros(1, dtype=self.data.dtype), np.zeros(1, dtype=self.indices.dtype)


def _csr_of(name: str, value: Any) -> Any:
    """``value`` itself if it is in CSR format, else a TypeError saying how to convert it."""
    fmt = getattr(value, "format", None)
    if fmt != "csr":
        raise TypeError(
            f"{name} is a scipy.sparse {type(value).__name__} in {fmt!r} format; gdfast takes sparse {name} in "
            f"CSR format only (its rows are the samples): pass {name}.tocsr() (a copy of the matrix)"
        )
    return value


def _index_out_of_range(indices: np.ndarray, n_features: int) -> bool:
    """Whether an entry of the (non-empty) integer array ``indices`` is outside [0, n_features).

    NumPy equivalent: ``indices.min() < 0 or indices.max() >= n_features``, in one pass where the
    indices' own unsigned view does it: a negative index reads as at least 2**(bits - 1) there, so
    ``max(unsigned) >= n_features`` catches both ends when n_features <= 2**(bits - 1).
    """
    if indices.dtype.kind == "i" and indices.dtype.isnative and n_features <= 2 ** (8 * indices.dtype.itemsize - 1):
        unsigned = indices.view(np.dtype(f"u{indices.dtype.itemsize}"))
        return int(unsigned.max()) >= n_features
    return int(indices.min()) < 0 or int(indices.max()) >= n_features


def prepare_csr(name: str, value: Any, dtype: np.dtype | None = None) -> CSRData:
    """Validate a CSR matrix ``value`` and return its arrays (values converted to ``dtype``, or to
    their own float dtype: float32 kept, integers and bools to float64).

    Checked: 2-D and not empty, finite values, ``indptr`` starting at 0 and non-decreasing, every
    index in [0, n_features). The kernels trust these (no bounds checks), so nothing invalid can
    reach them. Copies are made only where needed (other index dtypes, a dtype conversion).
    """
    csr = _csr_of(name, value)
    shape = tuple(int(s) for s in csr.shape)
    check_ndim(name, shape, 2)
    n_samples, n_features = shape
    if n_samples == 0 or n_features == 0:
        raise ValueError(f"{name} must not be empty; got a sparse matrix of shape {shape}")
    indptr = np.asarray(csr.indptr)
    indices = np.asarray(csr.indices)
    values = as_array(name, np.asarray(csr.data))
    if indptr.shape != (n_samples + 1,) or indptr[0] != 0 or (np.diff(indptr) < 0).any():
        raise ValueError(f"{name} is not a valid CSR matrix: its indptr must start at 0 and never decrease")
    nnz = int(indptr[-1])
    if nnz > indices.shape[0] or nnz > values.shape[0]:
        raise ValueError(f"{name} is not a valid CSR matrix: indptr[-1] = {nnz} exceeds its stored entries")
    indices, values = indices[:nnz], values[:nnz]
    if nnz and _index_out_of_range(indices, n_features):
        raise ValueError(f"{name} is not a valid CSR matrix: a column index is outside [0, {n_features})")
    index_dtype = indices.dtype if indices.dtype == indptr.dtype and indices.dtype in INDEX_DTYPES else np.int64
    indices = np.ascontiguousarray(indices, dtype=index_dtype)
    indptr = np.ascontiguousarray(indptr, dtype=index_dtype)
    if dtype is None:
        dtype = common_float_dtype(**{name: values})
    if nnz:
        data = as_float(name, values, dtype)
    else:
        data = np.zeros(0, dtype=dtype)
    return CSRData(data=data, indices=indices, indptr=indptr, shape=(n_samples, n_features))


def sparse_value_dtype(value: Any) -> np.dtype:
    """The dtype of a sparse matrix's stored values (refused when not real numbers)."""
    _csr_of("X", value)
    return as_array("X", np.asarray(value.data[:0])).dtype


def prepare_sparse_samples(W: Any, X: Any, Y: Any = None, has_y: bool = True
                           ) -> tuple[np.ndarray, CSRData, np.ndarray | None, bool]:
    """(W2, X, Y2, vector) of a call with a sparse ``X``: as ``prepare_samples`` for dense X (W 1-D
    for one output, the common float dtype of W, X's values and Y), X as :class:`CSRData`."""
    W_in = as_array("W", W)
    check_ndim("W", W_in.shape, (1, 2))
    if W_in.size == 0:
        raise ValueError(f"W must not be empty; got shape {W_in.shape}")
    Y_in = as_array("Y", Y) if has_y else None
    arrays = {"W": W_in, "X": np.zeros(0, dtype=sparse_value_dtype(X))}
    if Y_in is not None:
        arrays["Y"] = Y_in
    dtype = common_float_dtype(**arrays)
    vector = W_in.ndim == 1
    W2 = as_float("W", W_in, dtype).reshape(1, -1) if vector else as_float("W", W_in, dtype)
    n_outputs, n_features = W2.shape
    if len(X.shape) == 2 and X.shape[1] != n_features:
        raise ValueError(
            f"X's second axis must have length n_features = W.shape[-1] = {n_features}; got sparse X of shape "
            f"{X.shape}")
    csr = prepare_csr("X", X, dtype)
    n_samples = csr.shape[0]
    Y2 = None
    if Y_in is not None:
        expected = (n_samples,) if vector else (n_samples, n_outputs)
        if Y_in.shape != expected:
            raise ValueError(f"Y must have shape {expected} (n_samples, n_outputs = W.shape[0]); got {Y_in.shape}")
        Y2 = as_float("Y", Y_in, dtype).reshape(n_samples, n_outputs)
    return W2, csr, Y2, vector
