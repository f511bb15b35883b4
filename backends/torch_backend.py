"""PyTorch tensors (CPU, or CUDA as 'torch-cuda'), through array-api-compat, with kernels
that work in place: products into reused tensors (``out=``), ``addmm_`` with beta for the
momentum-fused weight gradient, ReLU in place, ``add_`` for updates. No tensor here ever
requires grad: nothing records an autograd graph."""

from __future__ import annotations

import numbers

import numpy as np

from .base import Backend
from .kernels import BufferedKernels


class TorchKernels(BufferedKernels):
    name = "torch"

    def __init__(self, torch, xp, dev):
        super().__init__(xp, dev)
        self.torch = torch
        self._bits = {
            torch.float32: torch.int32,
            torch.float64: torch.int64,
            torch.float16: torch.int16,
            torch.bfloat16: torch.int16,
        }
        self._ones = {}

    def matmul(self, a, b, key=None):
        if key is None:
            return super().matmul(a, b)
        return self.torch.matmul(a, b, out=self.buffer(key, (a.shape[0], b.shape[1]), a.dtype))

    def affine(self, x, W, b, key=None):
        if key is None:
            return super().affine(x, W, b)
        out = self.buffer(key, (x.shape[0], W.shape[1]), x.dtype)
        return self.torch.matmul(x, W, out=out) if b is None else self.torch.addmm(b, x, W, out=out)

    def multiply(self, a, b, key=None):
        if key is None:
            return super().multiply(a, b)
        out = self.buffer(key, tuple(self.torch.broadcast_shapes(a.shape, b.shape)), a.dtype)
        return self.torch.mul(a, b, out=out)

    def relu(self, s):
        return s.relu_() if self.owns(s) else super().relu(s)

    def relu_backward(self, delta, y):
        """threshold_backward: one kernel, in place, 7x faster here than the bit mask and 25x than
        ``where``. NaN and infinity in delta are zeroed where y <= 0; where y is NaN (a NaN forward,
        whose loss is NaN and whose step is discarded) delta is kept, not zeroed."""
        if not self.owns(delta):
            return super().relu_backward(delta, y)
        return self.torch.ops.aten.threshold_backward.grad_input(delta, y, 0, grad_input=delta)

    def softmax_cross_entropy(self, s, t, w=None):
        """log_softmax once; the loss and the gradient (exp(log p) − t)/n from it, in place: 7 kernels."""
        if w is not None or s.ndim != 2:
            return super().softmax_cross_entropy(s, t, w)
        n = s.shape[0]
        log_p = self.torch.log_softmax(s, dim=1)
        value = self.torch.sum(t * log_p).mul_(-1.0 / n)
        return value, log_p.exp_().sub_(t).div_(n)

    def adam_update(self, p, g, m, v, step, b1, b2, root_c2, eps):
        if not all(isinstance(s, (int, float)) for s in (step, root_c2)):
            return super().adam_update(p, g, m, v, step, b1, b2, root_c2, eps)
        m.mul_(b1).add_(g, alpha=1 - b1)
        v.mul_(b2).addcmul_(g, g, value=1 - b2)
        p.addcdiv_(m, v.sqrt().div_(root_c2).add_(eps), value=-step)
        return p, m, v

    def rmsprop_update(self, p, g, v, lr, alpha, eps):
        if not isinstance(lr, (int, float)):
            return super().rmsprop_update(p, g, v, lr, alpha, eps)
        v.mul_(alpha).addcmul_(g, g, value=1 - alpha)
        p.addcdiv_(g, v.sqrt().add_(eps), value=-lr)
        return p, v

    def accumulate_tn(self, x, delta, acc=None, alpha=1.0, beta=0.0):
        if acc is None:
            return super().accumulate_tn(x, delta, acc, alpha, beta)
        return acc.addmm_(x.T, delta, beta=beta, alpha=alpha)  # beta 0: acc's old values are ignored

    def accumulate_colsum(self, delta, acc=None, alpha=1.0, beta=0.0):
        """beta·acc + alpha·δᵀ1 in one GEMV into acc (a ones vector kept per batch size)."""
        if acc is None or not isinstance(alpha, numbers.Real) or not isinstance(beta, numbers.Real):
            return super().accumulate_colsum(delta, acc, alpha, beta)
        key = (delta.shape[0], delta.dtype)
        ones = self._ones.get(key)
        if ones is None:
            ones = self._ones[key] = self.torch.ones(delta.shape[0], dtype=delta.dtype, device=delta.device)
        return acc.addmv_(delta.T, ones, beta=beta, alpha=alpha)  # beta 0: acc's old values are ignored

    def scale_add(self, g, acc=None, alpha=1.0, beta=0.0):
        if acc is None or not isinstance(alpha, numbers.Real) or not isinstance(beta, numbers.Real):
            return super().scale_add(g, acc, alpha, beta)
        if beta == 0.0:
            return acc.copy_(g).mul_(alpha) if alpha != 1.0 else acc.copy_(g)
        return acc.mul_(beta).add_(g, alpha=alpha)

    def copy_into(self, dst, src):
        return dst.copy_(src)

    def _lerp_into(self, dst, src, w):
        dst.lerp_(src, w)

    def axpy(self, a, x, y):
        return y.add_(x, alpha=a)

    def take_rows(self, X, idx, key=None):
        if key is None:
            return super().take_rows(X, idx)
        return self.torch.index_select(X, 0, idx, out=self.buffer(key, (idx.shape[0], *X.shape[1:]), X.dtype))


class TorchBackend(Backend):
    name = "torch"
    _kind = "cpu"

    def __init__(self, device=None):
        import torch
        from array_api_compat import torch as xp

        self.torch = torch
        self.xp = xp
        self.device = self.canonical_device(device)
        if self.device.type != self._kind:
            raise ValueError(f"device for backend {self.name!r} must be a {self._kind} device; got {device!r}")
        self._copy_stream = None

    @classmethod
    def canonical_device(cls, device):
        """torch.device('cpu') for every CPU spelling ('cpu', 'cpu:0', torch.device('cpu', 0)): the
        device CPU tensors report; torch.device('cuda', i) with the index always set, as CUDA tensors
        report it ('cuda' is the current device)."""
        import torch

        dev = torch.device(cls._kind if device is None else device)
        if dev.type == "cpu":
            return torch.device("cpu")
        if dev.type == "cuda" and dev.index is None:
            return torch.device("cuda", torch.cuda.current_device() if torch.cuda.is_available() else 0)
        return dev

    def asarray(self, host, dtype=None, copy=False):
        host = np.asarray(host)
        if not host.flags.c_contiguous:  # (np.ascontiguousarray would make a 0-d array 1-d)
            host = np.ascontiguousarray(host)
        if dtype is not None:
            host = host.astype(dtype if isinstance(dtype, str) else self.dtype_name(dtype), copy=False)
        if copy or not host.flags.writeable:  # torch warns on read-only buffers
            host = host.copy()
        return self.torch.from_numpy(host).to(self.device)

    def upload(self, host):
        """A host batch on the device. On CUDA: through page-locked memory with a non-blocking copy
        on a copy stream of its own, so that the prefetch thread's copy overlaps the step computing
        on the default stream (the copy does not wait for it: the tensor is allocated on the copy
        stream, whose blocks the caching allocator never hands to it while it is in use). The
        default stream waits for an event recorded after the copy, and the tensor is recorded on
        the default stream so that its memory is not reused while the step reads it."""
        if self.device.type != "cuda":
            return self.asarray(host)
        torch = self.torch
        pinned = torch.from_numpy(np.ascontiguousarray(host)).pin_memory()
        if self._copy_stream is None:
            self._copy_stream = torch.cuda.Stream(self.device)
        compute = torch.cuda.default_stream(self.device)
        with torch.cuda.stream(self._copy_stream):
            out = pinned.to(self.device, non_blocking=True)
            copied = torch.cuda.Event()
            copied.record(self._copy_stream)
        compute.wait_event(copied)
        out.record_stream(compute)
        return out

    def kernels(self):
        return TorchKernels(self.torch, self.xp, self.device)

    def native_dtype(self, name):
        return getattr(self.torch, name)

    def to_numpy(self, x):
        return x.detach().cpu().numpy()

    def synchronize(self, *arrays):
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)

    def set_tf32(self, enabled):
        """TF32 for float32 matmul and addmm on CUDA (the flags exist on CPU builds, and do nothing there)."""
        self.torch.backends.cuda.matmul.allow_tf32 = bool(enabled)
        self.torch.backends.cudnn.allow_tf32 = bool(enabled)


class TorchCudaBackend(TorchBackend):
    name = "torch-cuda"
    _kind = "cuda"
    prefetch_default = True
    cuda_memory = on_gpu = True

    @staticmethod
    def cuda_devices() -> int:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0

    @staticmethod
    def probe():
        import torch

        if not torch.cuda.is_available() or torch.cuda.device_count() == 0:
            return "no CUDA device (or a CPU build of torch)"
        return None

    @staticmethod
    def device_of(x):
        return x.device
