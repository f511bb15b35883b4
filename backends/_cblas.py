"""GEMM-with-β and AXPY from the BLAS that NumPy itself loaded, through ctypes.

NumPy exposes matrix products but not C ← βC + α AᵀB or y ← y + a·x, which a training
step needs to fuse momentum into the weight-gradient product and to update weights
without temporaries. Calling a second BLAS (SciPy bundles its own OpenBLAS) would make
two thread pools fight over the same cores, which measured 16x slower here; so this
module binds the very library NumPy uses, found with threadpoolctl. ``load()`` returns
None where that is not possible (another BLAS, symbols not found), and callers fall
back to NumPy-only kernels.
"""

from __future__ import annotations

import ctypes

import numpy as np

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112


def _numpy_blas_path():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    for lib in threadpool_info():
        path = lib.get("filepath") or ""
        if lib.get("user_api") == "blas" and "numpy" in path:
            return path
    return None


class CBlas:
    def __init__(self, lib, names, int_t):
        self.int_t = int_t
        self.gemm = {
            np.dtype(np.float32): getattr(lib, names["sgemm"]),
            np.dtype(np.float64): getattr(lib, names["dgemm"]),
        }
        self.axpy = {
            np.dtype(np.float32): getattr(lib, names["saxpy"]),
            np.dtype(np.float64): getattr(lib, names["daxpy"]),
        }
        self.gemv = {
            np.dtype(np.float32): getattr(lib, names["sgemv"]),
            np.dtype(np.float64): getattr(lib, names["dgemv"]),
        }
        self._ones = {}
        self.real = {np.dtype(np.float32): ctypes.c_float, np.dtype(np.float64): ctypes.c_double}
        for dt, f in self.gemm.items():
            r, i = self.real[dt], int_t
            f.restype = None
            f.argtypes = [
                ctypes.c_int,
                ctypes.c_int,
                ctypes.c_int,
                i,
                i,
                i,
                r,
                ctypes.c_void_p,
                i,
                ctypes.c_void_p,
                i,
                r,
                ctypes.c_void_p,
                i,
            ]
        for dt, f in self.axpy.items():
            f.restype = None
            f.argtypes = [int_t, self.real[dt], ctypes.c_void_p, int_t, ctypes.c_void_p, int_t]
        for dt, f in self.gemv.items():
            r, i = self.real[dt], int_t
            f.restype = None
            f.argtypes = [
                ctypes.c_int,
                ctypes.c_int,
                i,
                i,
                r,
                ctypes.c_void_p,
                i,
                ctypes.c_void_p,
                i,
                r,
                ctypes.c_void_p,
                i,
            ]

    @staticmethod
    def _ld(a):
        """Leading dimension of a row-major matrix whose rows may be strided, or None."""
        item = a.itemsize
        if a.ndim != 2 or a.strides[1] != item or a.strides[0] % item or a.strides[0] // item < a.shape[1]:
            return None
        return max(a.strides[0] // item, 1)

    def gemm_tn_into(self, x, delta, out, alpha, beta):
        """out ← β·out + α·xᵀδ; returns None when the operands do not fit (caller falls back)."""
        f = self.gemm.get(out.dtype)
        if f is None or x.dtype != out.dtype or delta.dtype != out.dtype or not out.flags.c_contiguous:
            return None
        ldx, ldd = self._ld(x), self._ld(delta)
        if ldx is None or ldd is None:
            return None
        m, n, k = out.shape[0], out.shape[1], x.shape[0]
        f(
            _ROW_MAJOR,
            _TRANS,
            _NO_TRANS,
            m,
            n,
            k,
            alpha,
            x.ctypes.data,
            ldx,
            delta.ctypes.data,
            ldd,
            beta,
            out.ctypes.data,
            max(n, 1),
        )
        return out

    def colsum_into(self, delta, out, alpha, beta):
        """out ← β·out + α·δᵀ·1 (column sums) in one GEMV; None when the operands do not fit."""
        f = self.gemv.get(out.dtype)
        ld = self._ld(delta)
        if f is None or ld is None or delta.dtype != out.dtype or not out.flags.c_contiguous or out.ndim != 1:
            return None
        m = delta.shape[0]
        ones = self._ones.get((m, out.dtype))
        if ones is None:
            ones = self._ones[(m, out.dtype)] = np.ones(m, dtype=out.dtype)
        f(
            _ROW_MAJOR,
            _TRANS,
            m,
            delta.shape[1],
            alpha,
            delta.ctypes.data,
            ld,
            ones.ctypes.data,
            1,
            beta,
            out.ctypes.data,
            1,
        )
        return out

    def axpy_inplace(self, x, y, a):
        """y ← y + a·x for contiguous arrays of one dtype; None when they do not fit."""
        f = self.axpy.get(y.dtype)
        if f is None or x.dtype != y.dtype or x.shape != y.shape or not (x.flags.c_contiguous and y.flags.c_contiguous):
            return None
        f(y.size, a, x.ctypes.data, 1, y.ctypes.data, 1)
        return y


def load():
    path = _numpy_blas_path()
    if path is None:
        return None
    try:
        lib = ctypes.CDLL(path)
    except OSError:
        return None
    for prefix, suffix, int_t in (
        ("scipy_cblas_", "64_", ctypes.c_int64),
        ("cblas_", "64_", ctypes.c_int64),
        ("scipy_cblas_", "", ctypes.c_int32),
        ("cblas_", "", ctypes.c_int32),
    ):
        names = {k: f"{prefix}{k}{suffix}" for k in ("sgemm", "dgemm", "saxpy", "daxpy", "sgemv", "dgemv")}
        if all(hasattr(lib, n) for n in names.values()):
            return CBlas(lib, names, int_t)
    return None
