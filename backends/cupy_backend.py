"""CuPy on a CUDA GPU, with kernels done the GPU way.

``CuPyKernels`` overrides the generic kernels: products into reused buffers
(``cupy.matmul(out=)``), C ← βC + α xᵀδ with one cuBLAS GEMM (``cupy.cublas.gemm``), and the
project's own elementwise kernels (``cuda_kernels``: ReLU forward and backward in place,
y += a·x, β·out + α·c, one-pass Adam and RMSProp updates, dropout masks), compiled by NVRTC on
first use. Nothing here synchronizes with the host.

Devices: array-api-compat's CuPy creation functions (``empty``, ``zeros``, ``zeros_like``,
``arange``) ignore ``device=`` and allocate on CuPy's current device, so every allocation this
backend makes runs inside ``with self.device`` (``Backend.context()``), and so does a training
run (``mlp.train`` enters it), so that a model on GPU 1 keeps its buffers and optimizer state
on GPU 1.

TF32: ``mlp.backends.set_tf32(True)`` switches float32 products to TF32 tensor cores for both
``cupy.matmul`` (its compute type) and cuBLAS's classic GEMMs (the handle's math mode), which
``CUPY_TF32=1`` alone does not cover. Off by default.
"""

from __future__ import annotations

import numbers

import numpy as np

from .base import Backend
from .cuda_kernels import KERNELS
from .kernels import _GOLDEN, DROPOUT_BITS, BufferedKernels, dropout_threshold, mix32

CUBLAS_DEFAULT_MATH, CUBLAS_TF32_TENSOR_OP_MATH = 0, 3  # cublasMath_t
_INSTALL = "install mlp[cuda12] or mlp[cuda13] (CuPy with the CUDA libraries it loads)"


class CuPyKernels(BufferedKernels):
    name = "cupy"

    def __init__(self, cupy, xp, dev):
        super().__init__(xp, dev)
        self.cupy = cupy
        self._compiled = {}
        self._ones = {}

    def _kernel(self, name):
        k = self._compiled.get(name)
        if k is None:
            k = self._compiled[name] = self.cupy.ElementwiseKernel(*KERNELS[name])
        return k

    def buffer(self, key, shape, dtype):
        with self._device:  # CuPy's empty() allocates on the current device, whatever device= says
            return super().buffer(key, shape, dtype)

    def matmul(self, a, b, key=None):
        if key is None:
            return super().matmul(a, b)
        return self.cupy.matmul(a, b, out=self.buffer(key, (a.shape[0], b.shape[1]), a.dtype))

    def affine(self, x, W, b, key=None):
        if key is None:
            return super().affine(x, W, b)
        s = self.matmul(x, W, key)
        return s if b is None else self.cupy.add(s, b, out=s)

    def affine_relu(self, x, W, b, key=None):
        if key is None or b is None:
            return super().affine_relu(x, W, b, key)
        s = self.matmul(x, W, key)
        self._kernel("bias_relu")(b, s)  # the bias and the ReLU in one pass over s
        return s

    def _lerp_into(self, dst, src, w):
        self._kernel("lerp")(src, dst.dtype.type(w), dst)

    def relu(self, s):
        if not self.owns(s):
            return super().relu(s)
        self._kernel("relu")(s)
        return s

    def relu_backward(self, delta, y):
        if not self.owns(delta):
            return super().relu_backward(delta, y)
        self._kernel("relu_backward")(y, delta)
        return delta

    def accumulate_tn(self, x, delta, acc=None, alpha=1.0, beta=0.0):
        if acc is None:
            return super().accumulate_tn(x, delta, acc, alpha, beta)
        from cupy import cublas

        return cublas.gemm("T", "N", x, delta, out=acc, alpha=alpha, beta=beta)  # beta 0: BLAS ignores acc

    def accumulate_colsum(self, delta, acc=None, alpha=1.0, beta=0.0):
        if acc is None:
            return super().accumulate_colsum(delta, acc, alpha, beta)
        if delta.dtype.char not in "fd" or not isinstance(alpha, numbers.Real) or not isinstance(beta, numbers.Real):
            return self.scale_add(self.cupy.sum(delta, axis=0), acc, alpha, beta)
        from cupy import cublas

        key = (delta.shape[0], delta.dtype.char)
        ones = self._ones.get(key)
        if ones is None:
            with self._device:
                ones = self._ones[key] = self.cupy.ones(delta.shape[0], dtype=delta.dtype)
        cublas.gemv("T", alpha, delta, ones, beta, acc)  # acc = alpha·δᵀ1 + beta·acc: one launch (beta 0: acc ignored)
        return acc

    def scale_add(self, g, acc=None, alpha=1.0, beta=0.0):
        if acc is None:
            return super().scale_add(g, acc, alpha, beta)
        self._kernel("scale_add")(g, acc.dtype.type(alpha), acc.dtype.type(beta), acc)
        return acc

    def copy_into(self, dst, src):
        self.cupy.copyto(dst, src)
        return dst

    def flat_views(self, like):
        with self._device:
            return super().flat_views(like)

    def axpy(self, a, x, y):
        self._kernel("axpy")(x, y.dtype.type(a), y)
        return y

    def adam_update(self, p, g, m, v, step, b1, b2, root_c2, eps):
        t = p.dtype.type
        self._kernel("adam")(g, t(step), t(b1), t(b2), t(root_c2), t(eps), p, m, v)  # one launch, not thirteen
        return p, m, v

    def rmsprop_update(self, p, g, v, lr, alpha, eps):
        t = p.dtype.type
        self._kernel("rmsprop")(g, t(lr), t(alpha), t(eps), p, v)
        return p, v

    def take_rows(self, X, idx, key=None):
        if key is None:
            return super().take_rows(X, idx)
        return self.cupy.take(X, idx, axis=0, out=self.buffer(key, (idx.shape[0], *X.shape[1:]), X.dtype))

    def multiply(self, a, b, key=None):
        if key is None:
            return super().multiply(a, b)
        out = self.buffer(key, tuple(np.broadcast_shapes(a.shape, b.shape)), a.dtype)
        return self.cupy.multiply(a, b, out=out)

    def dropout_mask(self, rows, n_cols, salt, rate, dtype, key=None):
        """The generic mask's bits in one kernel over the (rows, columns) grid."""
        if key is None:
            return super().dropout_mask(rows, n_cols, salt, rate, dtype)
        cp = self.cupy
        with self._device:
            r = mix32(rows.astype(cp.int32) ^ np.int32(salt))[:, None]
            cols = self._columns(n_cols)
        out = self.buffer(key, (rows.shape[0], n_cols), dtype)
        threshold = np.uint32(dropout_threshold(rate) << (32 - DROPOUT_BITS))
        self._kernel("dropout")(r, cols, threshold, np.dtype(dtype).type(1.0 / (1.0 - rate)), out)
        return out

    def _columns(self, n):
        cols = self._buffers.get(("columns", n))
        if cols is None:
            with self._device:
                cols = self.cupy.arange(n, dtype=self.cupy.uint32) * np.uint32(_GOLDEN & 0xFFFFFFFF)
            cols = self._buffers[("columns", n)] = cols[None, :]
        return cols


class CuPyBackend(Backend):
    name = "cupy"
    prefetch_default = True  # the next batch's host gather and copy overlap the step on the GPU
    cuda_memory = on_gpu = True

    def __init__(self, device=None):
        import cupy
        from array_api_compat import cupy as xp

        self.cupy = cupy
        self.xp = xp
        self.device = cupy.cuda.Device(self.canonical_device(device))
        self._copy_stream = None
        self._inflight = []  # (event, pinned block) of copies that may still be running

    @staticmethod
    def canonical_device(device):
        """The device id (an int) for None, an int, a CuPy Device or 'cuda:N': one key per GPU."""
        if device is None:
            return 0
        if isinstance(device, str):
            return int(device.rsplit(":", 1)[1]) if ":" in device else 0
        return int(getattr(device, "id", device))

    @staticmethod
    def cuda_devices() -> int:
        import cupy

        return cupy.cuda.runtime.getDeviceCount()

    @staticmethod
    def probe() -> str | None:
        """None where CuPy can run here, else what is missing: a CUDA device, the driver, or the
        CUDA libraries CuPy loads (cuBLAS for products, NVRTC to compile kernels)."""
        import cupy

        try:
            n = cupy.cuda.runtime.getDeviceCount()
        except Exception as exc:  # no driver, or one too old for this CuPy
            return f"no usable CUDA driver ({type(exc).__name__}: {str(exc)[:120]})"
        if n == 0:
            return "no CUDA device"
        try:
            with cupy.cuda.Device(0):
                a = cupy.ones((2, 2), dtype=cupy.float32)
                (a @ a).sum().get()
        except Exception as exc:
            return f"cuBLAS cannot be loaded or run ({type(exc).__name__}: {str(exc)[:120]}); {_INSTALL}"
        try:
            with cupy.cuda.Device(0):
                cupy.ElementwiseKernel("T x", "T y", "y = x + (T)1", "mlp_probe")(a).get()
        except Exception as exc:
            return f"NVRTC cannot compile kernels ({type(exc).__name__}: {str(exc)[:120]}); {_INSTALL}"
        return None

    @staticmethod
    def device_of(x):
        return x.device

    def context(self):
        return self.device

    def native_dtype(self, name):
        if name == "bfloat16":
            import ml_dtypes  # CuPy 14's bfloat16 is ml_dtypes'

            return np.dtype(ml_dtypes.bfloat16)
        return getattr(self.xp, name)

    def kernels(self):
        return CuPyKernels(self.cupy, self.xp, self.device)

    def asarray(self, host, dtype=None, copy=False):
        with self.device:
            return super().asarray(host, dtype, copy)

    def zeros(self, shape, dtype):
        with self.device:
            return super().zeros(shape, dtype)

    def upload(self, host):
        """A host batch on the GPU through page-locked memory, on a copy stream of its own: run
        from the prefetch thread, the copy overlaps the step computing on the default stream, and
        the thread never waits for the GPU (events, not synchronize).

        The device block comes from CuPy's pool on the default stream, where kernels still queued
        may have been its last users: the copy stream first waits for an event recorded on the
        default stream, so the copy cannot overwrite memory those kernels read. The default stream
        then waits for an event recorded after the copy, before any kernel queued later (the step
        that reads the batch) runs. The pinned staging block is kept until its copy's event is done."""
        import cupyx

        host = np.ascontiguousarray(host)
        cp = self.cupy
        with self.device:
            if self._copy_stream is None:
                self._copy_stream = cp.cuda.Stream(non_blocking=True)
            self._inflight = [(e, s) for e, s in self._inflight if not e.done]
            staged = cupyx.empty_pinned(host.shape, host.dtype)  # from CuPy's pinned memory pool
            staged[...] = host
            out = cp.empty(host.shape, host.dtype)  # on the default stream's pool
            self._copy_stream.wait_event(cp.cuda.Stream.null.record())  # after the block's last users
            out.set(staged, stream=self._copy_stream)
            copied = self._copy_stream.record()
            cp.cuda.Stream.null.wait_event(copied)  # the step's kernels, queued after this, read a full batch
            self._inflight.append((copied, staged))
        return out

    def to_numpy(self, x):
        return self.cupy.asnumpy(x)

    def synchronize(self, *arrays):
        self.device.synchronize()

    def set_tf32(self, enabled: bool) -> None:
        """TF32 for every float32 product: cupy.matmul's compute type and cuBLAS's math mode."""
        from cupy._core import _routines_linalg as linalg
        from cupy_backends.cuda.libs import cublas

        with self.device:
            linalg.set_compute_type(np.float32, linalg.COMPUTE_TYPE_TF32 if enabled else linalg.COMPUTE_TYPE_DEFAULT)
            handle = self.cupy.cuda.device.get_cublas_handle()
            cublas.setMathMode(handle, CUBLAS_TF32_TENSOR_OP_MATH if enabled else CUBLAS_DEFAULT_MATH)
