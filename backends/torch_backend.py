"""PyTorch tensors (CPU, or CUDA as 'torch-cuda'), through array-api-compat, with kernels
that work in place: products into reused tensors (``out=``), ``addmm_`` with beta for the
momentum-fused weight gradient, ReLU in place, ``add_`` for updates. No tensor here ever
requires grad: nothing records an autograd graph."""

from __future__ import annotations

import numpy as np

from .base import Backend
from .kernels import BufferedKernels


class TorchKernels(BufferedKernels):
    name = "torch"

    def __init__(self, torch, xp, dev):
        super().__init__(xp, dev)
        self.torch = torch

    def matmul(self, a, b, key=None):
        if key is None:
            return super().matmul(a, b)
        return self.torch.matmul(a, b, out=self.buffer(key, (a.shape[0], b.shape[1]), a.dtype))

    def affine(self, x, W, b, key=None):
        if key is None:
            return super().affine(x, W, b)
        out = self.buffer(key, (x.shape[0], W.shape[1]), x.dtype)
        return self.torch.matmul(x, W, out=out) if b is None else self.torch.addmm(b, x, W, out=out)

    def relu(self, s):
        return s.relu_() if self.owns(s) else super().relu(s)

    def relu_backward(self, delta, y):
        return delta.masked_fill_(y <= 0, 0) if self.owns(delta) else super().relu_backward(delta, y)

    def accumulate_tn(self, x, delta, acc=None, alpha=1.0, beta=0.0):
        if acc is None:
            return super().accumulate_tn(x, delta, acc, alpha, beta)
        return acc.addmm_(x.T, delta, beta=beta, alpha=alpha)  # beta 0: acc's old values are ignored

    def accumulate_colsum(self, delta, acc=None, alpha=1.0, beta=0.0):
        if acc is None:
            return super().accumulate_colsum(delta, acc, alpha, beta)
        col = self.torch.sum(delta, dim=0)
        if beta == 0.0:
            return acc.copy_(col).mul_(alpha) if alpha != 1.0 else acc.copy_(col)
        return acc.mul_(beta).add_(col, alpha=alpha)

    def axpy(self, a, x, y):
        return y.add_(x, alpha=a)

    def take_rows(self, X, idx, key=None):
        if key is None:
            return super().take_rows(X, idx)
        return self.torch.index_select(X, 0, idx, out=self.buffer(key, (idx.shape[0], *X.shape[1:]), X.dtype))


class TorchBackend(Backend):
    name = "torch"

    def __init__(self, device=None):
        import torch
        from array_api_compat import torch as xp

        self.torch = torch
        self.xp = xp
        self.device = torch.device(device if device is not None else self._default_device())

    def _default_device(self):
        return "cpu"

    def asarray(self, host, dtype=None, copy=False):
        host = np.ascontiguousarray(host)
        if dtype is not None:
            host = host.astype(dtype if isinstance(dtype, str) else self.dtype_name(dtype), copy=False)
        if copy or not host.flags.writeable:  # torch warns on read-only buffers
            host = host.copy()
        return self.torch.from_numpy(host).to(self.device)

    def kernels(self):
        return TorchKernels(self.torch, self.xp, self.device)

    def native_dtype(self, name):
        return getattr(self.torch, name)

    def to_numpy(self, x):
        return x.detach().cpu().numpy()

    def synchronize(self):
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)


class TorchCudaBackend(TorchBackend):
    name = "torch-cuda"

    @staticmethod
    def cuda_devices() -> int:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0

    @staticmethod
    def device_of(x):
        return x.device

    def _default_device(self):
        return "cuda"
