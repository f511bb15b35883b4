"""JAX arrays (immutable: parameter updates rebind their slot)."""

from __future__ import annotations

import numpy as np

from .base import Backend


class JaxBackend(Backend):
    name = "jax"

    def __init__(self, device=None):
        import jax

        # float64 models need 64-bit mode; float32 models keep their explicit dtype.
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp

        self.jax = jax
        self.xp = jnp
        self.device = device if device is not None else jax.devices()[0]

    def to_numpy(self, x):
        return np.asarray(x)

    def synchronize(self):
        self.jax.effects_barrier()

    def owns(self, x):
        return isinstance(x, self.jax.Array) and self.device in x.devices()
