"""Reusable buffers and in-place kernels for training steps, on backends that offer them.

A backend's fast paths (``backend.fast(name)``) let a training step write matrix
products into buffers it reuses from batch to batch, apply activations in place, and
accumulate weight gradients straight into optimizer state (``gemm_tn_into``: C ← βC + α xᵀδ,
one BLAS call). The workspace exists only inside ``mlp.train``: arrays handed to users
never alias its buffers. Kernels are applied in place only to buffers the workspace
owns, never to user data.
"""
from __future__ import annotations

REQUIRED = ("matmul_into", "add_row_inplace", "gemm_tn_into", "colsum_into")


class Workspace:
    def __init__(self, backend):
        self.backend = backend
        self.fast = {name: backend.fast(name) for name in backend._fast}
        self._bufs = {}
        self._owned = set()

    @classmethod
    def for_backend(cls, backend):
        """A workspace when `backend` has the fast paths it needs, else None (generic path)."""
        return cls(backend) if all(backend.fast(n) for n in REQUIRED) else None

    def buffer(self, key, shape, dtype):
        full = (key, tuple(shape), dtype)
        buf = self._bufs.get(full)
        if buf is None:
            buf = self.backend.xp.empty(full[1], dtype=dtype, device=self.backend.device)
            self._bufs[full] = buf
            self._owned.add(id(buf))
        return buf

    def owns(self, x) -> bool:
        return id(x) in self._owned

    def matmul(self, a, b, key):
        out = self.buffer(key, (a.shape[0], b.shape[1]), a.dtype)
        return self.fast["matmul_into"](a, b, out)

    def kernel(self, name):
        return self.fast.get(name)
