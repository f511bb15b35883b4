"""CuPy on a CUDA GPU, with fused fast paths for the training step.

The same fast-path names as the NumPy backend, done the GPU way: products into reused
buffers (``cupy.matmul(out=)``), C ← βC + α xᵀδ with one cuBLAS GEMM
(``cupy.cublas.gemm``), and fused elementwise kernels (bias + ReLU forward, ReLU
backward, y += a·x) as ``ElementwiseKernel``s compiled on first use. Nothing here
synchronizes with the host. TF32 for float32 products is CuPy's own switch: set
``CUPY_TF32=1`` in the environment before CuPy is imported.
These paths are tested against the generic array-API path by tests/test_fast_paths.py,
which runs only where a CUDA device exists.
"""
from __future__ import annotations

from .base import Backend


class CuPyBackend(Backend):
    name = "cupy"

    def __init__(self, device=None):
        super().__init__(device)
        import cupy
        from array_api_compat import cupy as xp

        self.cupy = cupy
        self.xp = xp
        self.device = cupy.cuda.Device(0 if device is None else getattr(device, "id", device))
        self._kernels = {}
        self._fast = {
            "matmul_into": self._matmul_into,
            "take_rows_into": self._take_rows_into,
            "add_row_inplace": self._add_row_inplace,
            "relu_inplace": self._relu_inplace,
            "relu_backward_inplace": self._relu_backward_inplace,
            "gemm_tn_into": self._gemm_tn_into,
            "colsum_into": self._colsum_into,
            "axpy": self._axpy,
        }

    # -- kernels (compiled on first use) ------------------------------------------
    def _kernel(self, name):
        k = self._kernels.get(name)
        if k is None:
            E = self.cupy.ElementwiseKernel
            k = self._kernels[name] = {
                "relu": E("", "T s", "s = s > (T)0 ? s : (T)0", "mlp_relu_inplace"),
                "relu_bwd": E("T y", "T d", "d = y > (T)0 ? d : (T)0", "mlp_relu_backward"),
                "axpy": E("T x, T a", "T y", "y += a * x", "mlp_axpy"),
                "scale_add": E("T c, T alpha, T beta", "T out", "out = beta * out + alpha * c", "mlp_scale_add"),
            }[name]
        return k

    def _matmul_into(self, a, b, out):
        return self.cupy.matmul(a, b, out=out)

    def _take_rows_into(self, x, idx, out):
        return self.cupy.take(x, idx, axis=0, out=out)

    def _add_row_inplace(self, s, b):
        return self.cupy.add(s, b, out=s)

    def _relu_inplace(self, s):
        self._kernel("relu")(s)
        return s

    def _relu_backward_inplace(self, delta, y):
        self._kernel("relu_bwd")(y, delta)
        return delta

    def _gemm_tn_into(self, x, delta, out, alpha, beta):
        from cupy import cublas

        return cublas.gemm("T", "N", x, delta, out=out, alpha=alpha, beta=beta)

    def _colsum_into(self, delta, out, alpha, beta):
        col = self.cupy.sum(delta, axis=0)
        self._kernel("scale_add")(col, out.dtype.type(alpha), out.dtype.type(beta), out)
        return out

    def _axpy(self, x, y, a):
        self._kernel("axpy")(x, y.dtype.type(a), y)
        return y

    # -- transfers ----------------------------------------------------------------------
    def asarray(self, host, dtype=None, copy=False):
        with self.device:
            return super().asarray(host, dtype, copy)

    def to_numpy(self, x):
        return self.cupy.asnumpy(x)

    def synchronize(self):
        self.device.synchronize()
