"""PyTorch tensors (CPU, or CUDA as 'torch-cuda'), through array-api-compat."""

from __future__ import annotations

import numpy as np

from .base import Backend


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
