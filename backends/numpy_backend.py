"""NumPy on the host CPU, with kernels that work in place.

``NumPyKernels`` overrides the generic kernels: products into buffers reused from batch to
batch (``out=``), ReLU in place, and BLAS for what NumPy's single-threaded ufuncs do slowly
on large arrays: C ← βC + α xᵀδ as one GEMM (momentum accumulated inside the product),
column sums as one GEMV and y += a·x as one AXPY, all called in NumPy's own BLAS
(``_cblas``), with NumPy fallbacks where that BLAS cannot be bound or the operands do not fit.
"""

from __future__ import annotations

import numbers

import numpy as np
from array_api_compat import numpy as xp_numpy

from .base import Backend
from .kernels import _GOLDEN, _M1, _M2, DROPOUT_BITS, BufferedKernels, dropout_threshold, mix32


class NumPyKernels(BufferedKernels):
    name = "numpy"

    def __init__(self):
        super().__init__(xp_numpy, "cpu")
        from . import _cblas

        self._blas = _cblas.load()

    def matmul(self, a, b, key=None):
        if key is None:
            return super().matmul(a, b)
        return np.matmul(a, b, out=self.buffer(key, (a.shape[0], b.shape[1]), a.dtype))

    def affine(self, x, W, b, key=None):
        if key is None:
            return super().affine(x, W, b)
        s = self.matmul(x, W, key)
        return s if b is None else np.add(s, b, out=s)

    def relu(self, s):
        if not self.owns(s):
            return super().relu(s)
        return np.maximum(s, 0, out=s)

    def relu_backward(self, delta, y):
        if not self.owns(delta):
            return super().relu_backward(delta, y)
        # delta's bits AND a mask of all ones where y > 0, zeros elsewhere (NaN in y included): the
        # specification exactly, NaN and infinity of delta zeroed where y <= 0 (a product with the
        # mask would keep them), in three vectorized passes (np.where branches per element: 20x slower)
        bits = np.dtype(f"i{delta.dtype.itemsize}")
        keep = self.buffer(("relu", "keep"), y.shape, bits)
        np.greater(y, 0, out=keep)
        np.negative(keep, out=keep)
        view = delta.view(bits)
        np.bitwise_and(view, keep, out=view)
        return delta

    def accumulate_tn(self, x, delta, acc=None, alpha=1.0, beta=0.0):
        if acc is None:
            return super().accumulate_tn(x, delta, acc, alpha, beta)
        if self._blas is not None and self._blas.gemm_tn_into(x, delta, acc, alpha, beta) is not None:
            return acc
        return self.scale_add(x.T @ delta, acc, alpha, beta)

    def accumulate_colsum(self, delta, acc=None, alpha=1.0, beta=0.0):
        if acc is None:
            return super().accumulate_colsum(delta, acc, alpha, beta)
        if self._blas is not None and self._blas.colsum_into(delta, acc, alpha, beta) is not None:
            return acc
        return self.scale_add(np.sum(delta, axis=0), acc, alpha, beta)

    def scale_add(self, g, acc=None, alpha=1.0, beta=0.0):
        if acc is None or not isinstance(alpha, numbers.Real) or not isinstance(beta, numbers.Real):
            return super().scale_add(g, acc, alpha, beta)
        if beta == 0.0:
            return np.multiply(g, alpha, out=acc)
        if beta != 1.0:
            acc *= beta
        return self.axpy(alpha, g, acc)

    def axpy(self, a, x, y):
        if self._blas is None or self._blas.axpy_inplace(x, y, a) is None:
            y += a * x
        return y

    def take_rows(self, X, idx, key=None):
        if key is None:
            return super().take_rows(X, idx)
        return np.take(X, idx, axis=0, out=self.buffer(key, (idx.shape[0], *X.shape[1:]), X.dtype))

    def adam_update(self, p, g, m, v, step, b1, b2, root_c2, eps):
        """In place, with two reused temporaries and no allocation: eleven passes (the step as
        step·√c2 · m / (√v + eps·√c2), the same value within rounding), the last one a BLAS AXPY."""
        t = self.buffer(("adam", "t"), p.shape, p.dtype)
        u = self.buffer(("adam", "u"), p.shape, p.dtype)
        m *= b1
        m += np.multiply(g, 1 - b1, out=t)
        np.multiply(g, 1 - b2, out=t)
        t *= g
        v *= b2
        v += t
        np.sqrt(v, out=t)
        t += eps * root_c2
        np.divide(m, t, out=u)
        return self.axpy(-step * root_c2, u, p), m, v

    def rmsprop_update(self, p, g, v, lr, alpha, eps):
        t = self.buffer(("rmsprop", "t"), p.shape, p.dtype)
        u = self.buffer(("rmsprop", "u"), p.shape, p.dtype)
        np.multiply(g, g, out=t)
        t *= 1 - alpha
        v *= alpha
        v += t
        np.sqrt(v, out=t)
        t += eps
        np.multiply(g, lr, out=u)
        u /= t
        p -= u
        return p, v

    def copy_into(self, dst, src):
        np.copyto(dst, src)
        return dst

    def multiply(self, a, b, key=None):
        if key is None:
            return super().multiply(a, b)
        return np.multiply(a, b, out=self.buffer(key, np.broadcast_shapes(a.shape, b.shape), a.dtype))

    def dropout_mask(self, rows, n_cols, salt, rate, dtype, key=None):
        """The same bits as the generic mask, on uint32 views (logical shifts need no masking) and
        in place in reused buffers: about ten passes over the mask instead of twenty."""
        if key is None:
            return super().dropout_mask(rows, n_cols, salt, rate, dtype)
        shape = (rows.shape[0], n_cols)
        r = mix32(rows.astype(np.int32) ^ np.int32(salt)).view(np.uint32)
        cols = self._columns(n_cols)
        h = self.buffer((key, "h"), shape, np.dtype(np.uint32))
        t = self.buffer((key, "t"), shape, np.dtype(np.uint32))
        np.add(r[:, None], cols, out=h)
        for shift, mult in ((16, _M1), (15, _M2 & 0xFFFFFFFF)):
            np.right_shift(h, shift, out=t)
            h ^= t
            h *= np.uint32(mult)
        np.right_shift(h, 16, out=t)
        h ^= t
        keep = self.buffer((key, "keep"), shape, np.dtype(bool))
        np.greater_equal(h, np.uint32(dropout_threshold(rate) << (32 - DROPOUT_BITS)), out=keep)
        return np.multiply(keep, np.asarray(1.0 / (1.0 - rate), dtype=dtype), out=self.buffer(key, shape, dtype))

    def _columns(self, n):
        cols = self._buffers.get(("columns", n))
        if cols is None:
            cols = self._buffers[("columns", n)] = np.arange(n, dtype=np.uint32) * np.uint32(_GOLDEN & 0xFFFFFFFF)
        return cols


class NumPyBackend(Backend):
    name = "numpy"
    shares_host_memory = True

    @staticmethod
    def canonical_device(device):
        return "cpu" if device in (None, "cpu") else device

    def __init__(self, device=None):
        if device not in (None, "cpu"):
            raise ValueError(f"device for backend 'numpy' must be 'cpu'; got {device!r}")
        self.xp = xp_numpy
        self.device = "cpu"

    def kernels(self):
        return NumPyKernels()
