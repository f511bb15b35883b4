"""JAX arrays (immutable: parameter updates rebind their slot).

float64 models need JAX's 64-bit mode, a process-wide JAX setting that this backend never
changes behind the user's back: switch it on yourself (``JAX_ENABLE_X64=1`` in the
environment, or ``jax.config.update("jax_enable_x64", True)`` at start-up); float64 without
it is a clear error. float32 models work either way.
"""

from __future__ import annotations

import numpy as np

from .base import Backend


class JaxBackend(Backend):
    name = "jax"

    def __init__(self, device=None):
        import jax
        import jax.numpy as jnp

        self.jax = jax
        self.xp = jnp
        self.device = device if device is not None else jax.devices()[0]

    def dtype(self, dtype):
        dt = super().dtype(dtype)
        if dt == self.xp.float64 and not self.jax.config.jax_enable_x64:
            raise ValueError(
                "dtype 'float64' on the jax backend needs JAX's 64-bit mode, which is off: set JAX_ENABLE_X64=1 in "
                "the environment or call jax.config.update('jax_enable_x64', True) before creating models, or use "
                "dtype='float32'"
            )
        return dt

    def to_numpy(self, x):
        return np.asarray(x)

    def synchronize(self):
        self.jax.effects_barrier()

    def owns(self, x):
        return isinstance(x, self.jax.Array) and self.device in x.devices()
