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


def _Batch(*fields):
    from mlp.batches import Batch

    return Batch(*fields)


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

    def dtype(self, dtype):
        dt = super().dtype(dtype)
        if dt == self.xp.float64 and not self.jax.config.jax_enable_x64:
            raise ValueError(
                "dtype 'float64' on the jax backend needs JAX's 64-bit mode, which is off: set JAX_ENABLE_X64=1 in "
                "the environment or call jax.config.update('jax_enable_x64', True) before creating models, or use "
                "dtype='float32'"
            )
        return dt

    def compile_step(self, step, model, opt, loss=None, seed=0):
        """The whole step (forward, backward, update) traced once per batch shape from the same
        generic code and compiled by XLA: parameters, the model's state, the optimizer's state and
        step count go in and come out as arguments, so nothing is captured from an earlier call.

        The compiled function is kept on the model, keyed by what the trace bakes in (the loss,
        the optimizer's kind and settings, the seed of dropout masks, the dtypes): a later
        ``train()`` call (or ``partial_fit``) on the same model with the same settings reuses
        it, with no new trace or compilation for a batch shape it has seen."""
        jax = self.jax
        key = (
            None if loss is None else (type(loss).__name__, repr(sorted(loss.config().items()))),
            repr(sorted((k, v) for k, v in opt.config().items() if k not in ("lr", "schedule"))),
            int(seed),
            self.dtype_name(model.dtype),
            self.dtype_name(model.compute_dtype),
            type(opt.state).__name__ if opt.state is not None else None,
            None if opt.scaler is None else (opt.scaler.growth, opt.scaler.backoff, opt.scaler.interval),
        )
        cache = model.__dict__.setdefault("_compiled_steps", {})
        entry = cache.get(key)
        if entry is None:
            holder = {}

            def pure(params, mstate, ostate, grads, t, scaler, xb, tb, wb, rows, lr):
                m, o = holder["model"], holder["opt"]
                m.params[:], m.state[:] = params, mstate
                o.state, o._grads, o.t = ostate, grads, t
                if o.scaler is not None:
                    o.scaler.state = scaler
                n = xb.shape[0]
                weight = float(n) if wb is None else self.xp.sum(wb)  # the batch's weight sum, traced
                value = holder["step"](_Batch(xb, tb, wb, rows, n, n, weight, weight), lr)
                scaler = None if o.scaler is None else o.scaler.state
                return list(m.params), list(m.state), o.state, o._grads, o.t, scaler, value

            entry = cache[key] = {"holder": holder, "traces": 0}

            def counted(*args):
                entry["traces"] += 1  # runs only while tracing
                return pure(*args)

            entry["jit"] = jax.jit(counted)
        entry["holder"].update(model=model, opt=opt, step=step)
        compiled = entry["jit"]
        eager = []  # set once the step turned out not to be traceable
        device_lr = {}  # the epoch's learning rate on the device: converted once per epoch, not per batch

        def run(batch, lr):
            if eager:
                return step(batch, lr)
            if isinstance(opt.t, int):  # the first call: fix the state's structure before tracing

                def init(params):  # the state and gradient buffers the step uses, made by XLA
                    opt.sinks(params, 0.0)
                    return opt.state if opt.state is not None else opt._init_state(params), opt._grads

                opt.state, opt._grads = jax.jit(init)(list(model.params))
                opt.t = self.asarray(np.asarray(opt.t, dtype=np.int32))
            if lr not in device_lr:
                device_lr.clear()
                device_lr[lr] = self.asarray(np.asarray(lr, dtype=self.dtype_name(model.dtype)))
            scaler = None if opt.scaler is None else opt.scaler.state
            before = (list(model.params), list(model.state), opt.state, opt._grads, opt.t, scaler)
            try:
                params, mstate, opt.state, opt._grads, opt.t, scaler, value = compiled(
                    list(model.params),
                    list(model.state),
                    opt.state,
                    opt._grads,
                    opt.t,
                    scaler,
                    batch.x,
                    batch.t,
                    batch.w,
                    batch.rows,
                    device_lr[lr],
                )
                if opt.scaler is not None:
                    opt.scaler.state = scaler
            except jax.errors.JAXTypeError as exc:  # a layer or loss that reads values on the host
                model.params[:], model.state[:], opt.state, opt._grads, opt.t, scaler = before
                if opt.scaler is not None:
                    opt.scaler.state = scaler
                eager.append(True)
                warnings.warn(
                    f"the training step cannot be compiled with jax.jit ({type(exc).__name__}: a layer or "
                    "loss reads array values in Python); it runs eagerly",
                    RuntimeWarning,
                    stacklevel=2,
                )
                return step(batch, lr)
            model.params[:], model.state[:] = params, mstate
            return value

        run.entry = entry
        return run

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
