"""JAX arrays (immutable: parameter updates rebind their slot).

float64 models need JAX's 64-bit mode, a process-wide JAX setting that this backend never
changes behind the user's back: switch it on yourself (``JAX_ENABLE_X64=1`` in the
environment, or ``jax.config.update("jax_enable_x64", True)`` at start-up); float64 without
it is a clear error. float32 models work either way.
"""

from __future__ import annotations

import warnings

import numpy as np

from .base import Backend
from .kernels import Kernels


class JaxKernels(Kernels):
    """The generic kernels (JAX arrays are immutable: every update rebinds), and a training step
    traced and compiled whole by XLA, with the run's value donated to it."""

    name = "jax"

    def __init__(self, backend):
        self.backend = backend

    def zeros_like(self, arrays):
        """Zeros made by XLA on the device (not copied over from the host: no transfer)."""
        return list(self.backend.compile_function(_zeros_like)(list(arrays))) if arrays else []

    def compile(self, step, cache, key):
        """`step(ts, *arrays, lr)` compiled once per `key` (kept in `cache`, so that a later run with
        the same settings reuses the trace), its first argument donated. Python numbers in it (a step
        counter, a seed) go to the device once, explicitly, as does each new learning rate: a run makes
        no implicit transfer. A step that reads array values in Python cannot be traced: it then runs
        eagerly, and says so once."""
        jax = self.backend.jax
        entry = cache.get(key)
        if entry is None:
            entry = cache[key] = {"step": step, "traces": 0}

            def traced(*args):
                entry["traces"] += 1  # runs only while tracing
                return entry["step"](*args)

            entry["jit"] = jax.jit(traced, donate_argnums=(0,))
        entry["step"] = step  # a new shape traces this run's step (the same computation, by the key)
        return _Compiled(self.backend, entry, step)


def _zeros_like(arrays):
    import jax.numpy as jnp

    return [jnp.zeros_like(a) for a in arrays]


class _Compiled:
    def __init__(self, backend, entry, step):
        self.backend, self.entry, self.step = backend, entry, step
        self.eager = False
        self.lr = {}  # the learning rate on the device: converted once per value, not per batch

    def __call__(self, ts, *arrays):
        *arrays, lr = arrays
        if self.eager:
            return self.step(ts, *arrays, lr)
        jax, b = self.backend.jax, self.backend
        ts = jax.tree_util.tree_map(lambda a: b.asarray(np.asarray(a, np.int32)) if isinstance(a, int) else a, ts)
        if lr not in self.lr:
            dtype = next(a.dtype for a in jax.tree_util.tree_leaves(ts) if b.xp.isdtype(a.dtype, "real floating"))
            self.lr = {lr: b.asarray(np.asarray(lr), dtype)}
        try:
            return self.entry["jit"](ts, *arrays, self.lr[lr])
        except jax.errors.JAXTypeError as exc:  # a layer or loss that reads values on the host
            self.eager = True
            warnings.warn(
                f"the training step cannot be compiled with jax.jit ({type(exc).__name__}: a layer or loss reads "
                "array values in Python); it runs eagerly",
                RuntimeWarning,
                stacklevel=3,
            )
            return self.step(ts, *arrays, lr)


class JaxBackend(Backend):
    name = "jax"

    def __init__(self, device=None):
        import jax
        import jax.numpy as jnp

        self.jax = jax
        self.xp = jnp
        self.device = device if device is not None else jax.devices()[0]
        from array_api_compat import array_namespace

        # array-api-compat finds JAX's namespace by creating an array (an implicit transfer) the
        # first time it sees one, then caches it: done here, so that it never happens in a run
        array_namespace(jax.device_put(np.zeros(1, np.float32), self.device))
        self.on_gpu = getattr(self.device, "platform", "cpu") in ("gpu", "cuda", "rocm")
        self._precision = "highest"

    def set_tf32(self, enabled):
        """JAX multiplies float32 on GPUs in TF32 unless told otherwise: here its precision is
        'highest' (true float32) unless TF32 is switched on ('tensorfloat32'); applied by
        ``context()``, in which the model traces and runs every computation."""
        self._precision = "tensorfloat32" if enabled else "highest"

    def context(self):
        return self.jax.default_matmul_precision(self._precision)

    def dtype(self, dtype):
        dt = super().dtype(dtype)
        if dt == self.xp.float64 and not self.jax.config.jax_enable_x64:
            raise ValueError(
                "dtype 'float64' on the jax backend needs JAX's 64-bit mode, which is off: set JAX_ENABLE_X64=1 in "
                "the environment or call jax.config.update('jax_enable_x64', True) before creating models, or use "
                "dtype='float32'"
            )
        return dt

    def kernels(self):
        return JaxKernels(self)

    @staticmethod
    def canonical_device(device):
        import jax

        return jax.devices()[0] if device is None else device

    def asarray(self, host, dtype=None, copy=False):
        """Host data on the device with an explicit transfer (jax.device_put): a run under
        ``jax.transfer_guard("disallow")`` proves that no transfer hides anywhere else."""
        host = np.asarray(host)
        if dtype is not None:
            host = host.astype(self.dtype_name(dtype) if not isinstance(dtype, str) else dtype, copy=False)
        if host.dtype == np.float64 and not self.jax.config.jax_enable_x64:
            host = host.astype(np.float32)
        elif host.dtype == np.int64 and not self.jax.config.jax_enable_x64:
            host = host.astype(np.int32)
        return self.jax.device_put(host, self.device)

    def compile_function(self, fn):
        """`fn` traced and compiled by XLA; a module-level function (one with no closure) once per process."""
        if fn.__closure__ is not None:
            return self.jax.jit(fn)
        cache = self.__dict__.setdefault("_jitted", {})
        if fn not in cache:
            cache[fn] = self.jax.jit(fn)
        return cache[fn]

    def split(self, x, sizes):
        """jnp.split: slicing with Python numbers would transfer each bound to the device."""
        if not sizes:
            return []
        return self.xp.split(x, np.cumsum(sizes)[:-1].tolist()) if len(sizes) > 1 else [x]

    def to_numpy(self, x):
        """A host copy, with an explicit transfer (jax.device_get)."""
        return np.asarray(self.jax.device_get(x))

    def synchronize(self, *arrays):
        """Wait until `arrays` are computed (JAX has no wait for every queued computation: timing code
        passes the last result; effects_barrier alone waits only for effects)."""
        if arrays:
            self.jax.block_until_ready(arrays)
        self.jax.effects_barrier()

    def owns(self, x):
        return isinstance(x, self.jax.Array) and self.device in x.devices()
