"""CuPy on a CUDA GPU, with kernels done the GPU way.

``CuPyKernels`` overrides the generic kernels: products into reused buffers
(``cupy.matmul(out=)``), C ← βC + α xᵀδ with one cuBLAS GEMM (``cupy.cublas.gemm``), and
fused elementwise kernels (ReLU forward and backward in place, y += a·x, β·out + α·c) as
``ElementwiseKernel``s compiled on first use. Nothing here synchronizes with the host.
TF32 for float32 products is CuPy's own switch: set ``CUPY_TF32=1`` in the environment
before CuPy is imported. tests/test_kernels.py compares these with the generic kernels
wherever a CUDA device exists.
"""

from __future__ import annotations

import numpy as np

from .base import Backend
from .kernels import BufferedKernels


class CuPyKernels(BufferedKernels):
    name = "cupy"

    def __init__(self, cupy, xp, dev):
        super().__init__(xp, dev)
        self.cupy = cupy
        self._compiled = {}

    def _kernel(self, name):
        k = self._compiled.get(name)
        if k is None:
            E = self.cupy.ElementwiseKernel
            k = self._compiled[name] = {
                "relu": E("", "T s", "s = s > (T)0 ? s : (T)0", "mlp_relu_inplace"),
                "relu_bwd": E("T y", "T d", "d = y > (T)0 ? d : (T)0", "mlp_relu_backward"),
                "axpy": E("T x, T a", "T y", "y += a * x", "mlp_axpy"),
                "scale_add": E("T c, T alpha, T beta", "T out", "out = beta * out + alpha * c", "mlp_scale_add"),
            }[name]
        return k

    def matmul(self, a, b, key=None):
        if key is None:
            return super().matmul(a, b)
        return self.cupy.matmul(a, b, out=self.buffer(key, (a.shape[0], b.shape[1]), a.dtype))

    def affine(self, x, W, b, key=None):
        if key is None:
            return super().affine(x, W, b)
        s = self.matmul(x, W, key)
        return s if b is None else self.cupy.add(s, b, out=s)

    def relu(self, s):
        if not self.owns(s):
            return super().relu(s)
        self._kernel("relu")(s)
        return s

    def relu_backward(self, delta, y):
        if not self.owns(delta):
            return super().relu_backward(delta, y)
        self._kernel("relu_bwd")(y, delta)
        return delta

    def accumulate_tn(self, x, delta, acc=None, alpha=1.0, beta=0.0):
        if acc is None:
            return super().accumulate_tn(x, delta, acc, alpha, beta)
        from cupy import cublas

        return cublas.gemm("T", "N", x, delta, out=acc, alpha=alpha, beta=beta)

    def accumulate_colsum(self, delta, acc=None, alpha=1.0, beta=0.0):
        if acc is None:
            return super().accumulate_colsum(delta, acc, alpha, beta)
        col = self.cupy.sum(delta, axis=0)
        self._kernel("scale_add")(col, acc.dtype.type(alpha), acc.dtype.type(beta), acc)
        return acc

    def axpy(self, a, x, y):
        self._kernel("axpy")(x, y.dtype.type(a), y)
        return y

    def take_rows(self, X, idx, key=None):
        if key is None:
            return super().take_rows(X, idx)
        return self.cupy.take(X, idx, axis=0, out=self.buffer(key, (idx.shape[0], *X.shape[1:]), X.dtype))


class CuPyBackend(Backend):
    name = "cupy"

    def __init__(self, device=None):
        import cupy
        from array_api_compat import cupy as xp

        self.cupy = cupy
        self.xp = xp
        self.device = cupy.cuda.Device(0 if device is None else getattr(device, "id", device))
        self._copy_stream = None

    @staticmethod
    def cuda_devices() -> int:
        import cupy

        return cupy.cuda.runtime.getDeviceCount()

    @staticmethod
    def device_of(x):
        return x.device

    def kernels(self):
        return CuPyKernels(self.cupy, self.xp, self.device)

    def asarray(self, host, dtype=None, copy=False):
        with self.device:
            return super().asarray(host, dtype, copy)

    def upload(self, host):
        """A host batch on the GPU through page-locked memory, on a copy stream of its own: run
        from the prefetch thread, the copy overlaps the step computing on the default stream.
        The copy is complete when this returns."""
        import cupyx

        host = np.ascontiguousarray(host)
        with self.device:
            if self._copy_stream is None:
                self._copy_stream = self.cupy.cuda.Stream(non_blocking=True)
            staged = cupyx.empty_pinned(host.shape, host.dtype)  # from CuPy's pinned memory pool
            staged[...] = host
            out = self.cupy.empty(host.shape, host.dtype)
            out.set(staged, stream=self._copy_stream)
            self._copy_stream.synchronize()
        return out

    def to_numpy(self, x):
        return self.cupy.asnumpy(x)

    def synchronize(self):
        self.device.synchronize()
