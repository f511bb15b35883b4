"""NumPy on the host CPU, with in-place fast paths for the training step.

The fast paths write into buffers the training loop reuses (``out=``), apply ReLU in
place, and use BLAS directly for what NumPy's single-threaded ufuncs do slowly on
large arrays: C ← βC + α xᵀδ as one GEMM (momentum accumulated inside the product) and
y += a·x as one AXPY, called in NumPy's own BLAS (``_cblas``). Each is tested against the
generic array-API path.
"""
from __future__ import annotations

import numpy as np
from array_api_compat import numpy as xp_numpy

from .base import Backend


def _matmul_into(a, b, out):
    return np.matmul(a, b, out=out)


def _take_rows_into(x, idx, out):
    return np.take(x, idx, axis=0, out=out)


def _add_row_inplace(s, b):
    return np.add(s, b, out=s)


def _relu_inplace(s):
    return np.maximum(s, 0, out=s)


def _relu_backward_inplace(delta, y):
    return np.multiply(delta, y > 0, out=delta)


def _colsum_into(delta, out, alpha, beta):
    """out ← β·out + α·Σ_rows δ."""
    col = np.sum(delta, axis=0)
    if beta == 0.0:
        return np.multiply(col, alpha, out=out)
    if beta != 1.0:
        out *= beta
    if alpha != 1.0:
        col *= alpha
    out += col
    return out


def _blas_kernels():
    """gemm_tn_into and axpy from NumPy's own BLAS (see _cblas), with NumPy fallbacks."""
    from . import _cblas

    blas = _cblas.load()
    if blas is None:
        return None

    def gemm_tn_into(x, delta, out, alpha, beta):
        """out ← β·out + α·xᵀδ in one GEMM call (momentum accumulated inside the product)."""
        if blas.gemm_tn_into(x, delta, out, alpha, beta) is None:
            return _gemm_tn_numpy(x, delta, out, alpha, beta)
        return out

    def axpy_inplace(x, y, a):
        """y += a·x in one BLAS call, no temporary."""
        if blas.axpy_inplace(x, y, a) is None:
            return _axpy_numpy(x, y, a)
        return y

    def colsum_into(delta, out, alpha, beta):
        """out ← β·out + α·Σ_rows δ in one GEMV."""
        if blas.colsum_into(delta, out, alpha, beta) is None:
            return _colsum_into(delta, out, alpha, beta)
        return out

    return gemm_tn_into, axpy_inplace, colsum_into


def _gemm_tn_numpy(x, delta, out, alpha, beta):
    g = x.T @ delta
    if beta == 0.0:
        return np.multiply(g, alpha, out=out)
    out *= beta
    g *= alpha
    out += g
    return out


def _axpy_numpy(x, y, a):
    y += a * x
    return y


class NumPyBackend(Backend):
    name = "numpy"

    def __init__(self, device=None):
        super().__init__(device)
        if device not in (None, "cpu"):
            raise ValueError(f"device for backend 'numpy' must be 'cpu'; got {device!r}")
        self.xp = xp_numpy
        self.device = "cpu"
        blas = _blas_kernels()
        gemm_tn_into, axpy, colsum_into = blas if blas else (_gemm_tn_numpy, _axpy_numpy, _colsum_into)
        self._fast = {
            "matmul_into": _matmul_into,
            "take_rows_into": _take_rows_into,
            "add_row_inplace": _add_row_inplace,
            "relu_inplace": _relu_inplace,
            "relu_backward_inplace": _relu_backward_inplace,
            "gemm_tn_into": gemm_tn_into,
            "colsum_into": colsum_into,
            "axpy": axpy,
        }

    def to_numpy(self, x):
        return np.asarray(x)
