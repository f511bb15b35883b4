"""The kernels interface: the array operations a training step is made of.

``Kernels`` is the specification. Each method is the generic array-API implementation and
*returns* its result; a backend's subclass overrides methods with faster versions (products
into reused buffers, in-place activations, BLAS calls, fused GPU kernels) that return the
same values. Callers always rebind what a method returns::

    acc = kernels.accumulate_tn(x, delta, acc, 1.0, mu)

so the same line is right where the override worked in place (NumPy, CuPy) and where
arrays are immutable (JAX). ``tests/arrays/test_kernels.py`` compares every backend's kernels with
these, method by method.

Buffers: a method that takes ``key`` may return an array that it reuses for the same key
(and shape and dtype) on a later call, when the caller is done with the earlier result;
``key=None`` always gives a fresh array. An override writes in place only into arrays it
returned itself (``owns``) or into the ``acc``/``y`` the caller hands it to update, never
into user data.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from array_api_compat import array_namespace, device

__all__ = [
    "Kernels",
    "BufferedKernels",
    "FlatList",
    "GENERIC",
    "Array",
    "zero_like",
    "scale_add",
    "is_number",
    "mix32",
    "as_int32",
    "dropout_salt",
    "DROPOUT_BITS",
    "sample_mean",
    "per_sample",
]

Array = Any  # an array of any array-API namespace


def zero_like(x: Array) -> Array:
    """A 0-d zero of x's dtype on x's device (broadcasts without changing the dtype)."""
    return array_namespace(x).zeros((), dtype=x.dtype, device=device(x))


def is_number(value: Any, number: float) -> bool:
    """`value` is the number `number`: a Python or NumPy scalar (False for an array or a traced
    scalar, whose value a compiled step cannot branch on)."""
    return isinstance(value, numbers.Real) and value == number


def scale_add(g: Array, acc: Array | None, alpha: Any, beta: Any) -> Array:
    """beta·acc + alpha·g (alpha·g where acc is None or beta is 0)."""
    if not is_number(alpha, 1.0):
        g = alpha * g
    if acc is None or is_number(beta, 0.0):
        return g
    return (acc if is_number(beta, 1.0) else beta * acc) + g


# -- counter-based random bits: the same on every backend ------------------------------------
# lowbias32 (a 32-bit integer hash with low bias), computed on int32 bit patterns with wrapping
# products and logical right shifts (an arithmetic shift masked), so that every array library
# gives the same bits: NumPy, CuPy, PyTorch (whose uint32 lacks shifts), JAX (int32 by default).
_M1, _M2 = 0x7FEB352D, 0x846CA68B - (1 << 32)  # the two multipliers as signed int32
_GOLDEN = 0x9E3779B9 - (1 << 32)
DROPOUT_BITS = 24  # a dropout decision compares the hash's top 24 bits with rate·2^24


def _col(w: Array, e: Array) -> Array:
    """Sample weights (n,) as a column against per-element terms (n, k)."""
    return array_namespace(w).reshape(w, (w.shape[0], 1)) if e.ndim == 2 else w


def _wsum(w: Array) -> Array:
    """Σw, never 0 (a batch whose weights are all 0 contributes nothing, not NaN)."""
    xp = array_namespace(w)
    return xp.maximum(xp.sum(w), zero_like(w) + float(xp.finfo(w.dtype).smallest_normal))


def sample_mean(e: Array, w: Array | None = None) -> Array:
    """Σ e over outputs, averaged over the batch's samples: plainly, or weighted by `w` (Σ w·e / Σ w,
    scikit-learn's weighted mean loss)."""
    xp = array_namespace(e)
    if w is None:
        return xp.sum(e) / e.shape[0]
    return xp.sum(e * _col(w, e)) / _wsum(w)


def per_sample(g: Array, w: Array | None = None) -> Array:
    """Per-sample gradient terms g scaled as ``sample_mean`` scales the loss (1/n, or w/Σw)."""
    if w is None:
        return g / g.shape[0]
    return g * (_col(w, g) / _wsum(w))


def _lsr(h, k):
    """Logical right shift of int32 bit patterns (arrays, or Python ints in [-2^31, 2^31))."""
    return (h >> k) & ((1 << (32 - k)) - 1)


def as_int32(v: int) -> int:
    """The Python int whose int32 bit pattern is v's low 32 bits."""
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


_int32 = as_int32


def mix32(h):
    """lowbias32 of int32 bit patterns: an int32 array, or a Python int (returned as a signed int32 value)."""
    if isinstance(h, int):
        h = _int32(h)
        h = _int32(h ^ _lsr(h, 16))
        h = _int32(h * _M1)
        h = _int32(h ^ _lsr(h, 15))
        h = _int32(h * _M2)
        return _int32(h ^ _lsr(h, 16))
    h = h ^ _lsr(h, 16)
    h = h * _M1
    h = h ^ _lsr(h, 15)
    h = h * _M2
    return h ^ _lsr(h, 16)


def dropout_salt(seed: int, layer: int, step: Any) -> Any:
    """The key of one layer's dropout masks at one optimizer step: a hash of (seed, layer, step);
    `seed` and `step` may be device int32 scalars (a compiled step's values)."""
    base = mix32((mix32(int(seed)) if isinstance(seed, int) else mix32(seed)) ^ _int32(int(layer) * 0x632BE5AB))
    return mix32(_int32(base + step) if isinstance(base, int) and isinstance(step, int) else base + step)


def dropout_threshold(rate: float) -> int:
    """rate·2^24 rounded (at most 2^24 - 1: a rate within 2^-25 of 1 keeps almost nothing)."""
    return min(int(round(float(rate) * (1 << DROPOUT_BITS))), (1 << DROPOUT_BITS) - 1)


class Kernels:
    """Generic array-API kernels: the specification every backend's overrides must match."""

    name = "generic"
    views = False  # see BufferedKernels
    buffered = False  # results may land in buffers these kernels reuse (see BufferedKernels)

    def owns(self, x: Array) -> bool:
        """True when `x` is a buffer these kernels returned (and may overwrite)."""
        return False

    # -- forward ---------------------------------------------------------------------------
    def matmul(self, a: Array, b: Array, key: Any = None) -> Array:
        """a @ b."""
        return a @ b

    def affine(self, x: Array, W: Array, b: Array | None, key: Any = None) -> Array:
        """s = x W + b (b None: no bias)."""
        s = x @ W
        return s if b is None else s + b

    def affine_relu(self, x: Array, W: Array, b: Array, key: Any = None) -> Array:
        """max(x W + b, 0) (NaN kept, as ``relu``): a Dense layer and the ReLU after it in one call,
        which an override may fuse (CuPy: the GEMM, then the bias and the ReLU in one kernel)."""
        return self.relu(self.affine(x, W, b, key))

    def relu(self, s: Array) -> Array:
        """max(s, 0); an override may work in place on a buffer it owns."""
        return array_namespace(s).maximum(s, zero_like(s))

    # -- backward --------------------------------------------------------------------------
    def relu_backward(self, delta: Array, y: Array) -> Array:
        """delta where y > 0, 0 where y <= 0 (y is the ReLU's output; NaN and infinity in delta are
        zeroed there too); in place on an owned delta. Where y is NaN (a NaN forward pass: the loss is
        NaN and the step is discarded) this gives 0 and an override may keep delta."""
        return array_namespace(delta).where(y > 0, delta, zero_like(delta))

    def accumulate_tn(
        self, x: Array, delta: Array, acc: Array | None = None, alpha: float = 1.0, beta: float = 0.0
    ) -> Array:
        """beta·acc + alpha·xᵀδ: a weight gradient, accumulated straight into acc (optimizer
        state, or the weights themselves) where the caller asks for it."""
        return scale_add(x.T @ delta, acc, alpha, beta)

    def accumulate_colsum(self, delta: Array, acc: Array | None = None, alpha: float = 1.0, beta: float = 0.0) -> Array:
        """beta·acc + alpha·Σ_rows δ: a bias gradient, accumulated like accumulate_tn."""
        return scale_add(array_namespace(delta).sum(delta, axis=0), acc, alpha, beta)

    def softmax_cross_entropy(self, s: Array, t: Array, w: Array | None = None) -> tuple[Array, Array]:
        """(mean loss, its gradient w.r.t. s) of softmax + cross-entropy: the loss −Σ_k t_k log p_k
        with p = softmax(s) over each row, averaged over the rows (weighted by `w`: Σ w·loss / Σ w),
        and the gradient (p − t)/n (w·(p − t)/Σ w). The loss is a 0-d array; nothing is read on the host."""
        xp = array_namespace(s)
        shifted = s - xp.max(s, axis=1, keepdims=True)
        e = xp.exp(shifted)
        z = xp.sum(e, axis=1, keepdims=True)
        log_p = shifted - xp.log(z)
        value = -sample_mean(t * log_p, w)
        return value, per_sample(e / z - t, w)

    # -- updates and data --------------------------------------------------------------------
    def scale_add(self, g: Array, acc: Array | None = None, alpha: Any = 1.0, beta: Any = 0.0) -> Array:
        """beta·acc + alpha·g, acc's old values ignored where beta is 0: a gradient put into its sink
        (``GradSink.receive``); an override writes into acc in place."""
        return scale_add(g, acc, alpha, beta)

    def axpy(self, a: float, x: Array, y: Array) -> Array:
        """y + a·x; an override updates y in place."""
        return y + a * x

    def take_rows(self, X: Array, idx: Array, key: Any = None) -> Array:
        """The rows idx of X (a mini-batch gather)."""
        return array_namespace(X).take(X, idx, axis=0)

    def adam_update(
        self, p: Array, g: Array, m: Array, v: Array, step: Any, b1: float, b2: float, root_c2: Any, eps: float
    ) -> tuple[Array, Array, Array]:
        """One Adam update of a parameter: m ← b1·m + (1 − b1)·g, v ← b2·v + (1 − b2)·g²,
        p ← p − step·m / (√v / root_c2 + eps), with step = lr / (1 − b1^t) and
        root_c2 = √(1 − b2^t). Returns (p, m, v); an override updates them in place."""
        xp = array_namespace(p)
        m = m * b1 + (1 - b1) * g
        v = v * b2 + (1 - b2) * (g * g)
        return p - step * m / (xp.sqrt(v) / root_c2 + eps), m, v

    def rmsprop_update(self, p: Array, g: Array, v: Array, lr: Any, alpha: float, eps: float) -> tuple[Array, Array]:
        """One RMSProp update: v ← α·v + (1 − α)·g², p ← p − lr·g / (√v + eps). Returns (p, v)."""
        xp = array_namespace(p)
        v = v * alpha + (1 - alpha) * (g * g)
        return p - lr * g / (xp.sqrt(v) + eps), v

    def multiply(self, a: Array, b: Array, key: Any = None) -> Array:
        """a * b (broadcasting)."""
        return a * b

    def dropout_mask(self, rows: Array, n_cols: int, salt: Any, rate: float, dtype: Any, key: Any = None) -> Array:
        """The inverted-dropout mask of shape (len(rows), n_cols): 1/(1 - rate) where an element
        is kept, 0 where it is dropped. Element (i, j) is dropped when the top 24 bits of
        h = mix32(mix32(rows[i] ^ salt) + j·0x9E3779B9) are below rate·2^24: a counter-based hash
        of the sample, the column and the salt (``dropout_salt``), the same on every backend and
        drawn where the data lives."""
        xp = array_namespace(rows)
        dev = device(rows)
        r = mix32(xp.astype(rows, xp.int32) ^ salt)
        cols = xp.arange(n_cols, dtype=xp.int32, device=dev) * _GOLDEN
        h = mix32(xp.expand_dims(r, axis=1) + cols)
        keep = _lsr(h, 32 - DROPOUT_BITS) >= dropout_threshold(rate)
        scale = xp.asarray(1.0 / (1.0 - rate), dtype=dtype, device=dev)
        return xp.where(keep, scale, xp.zeros((), dtype=dtype, device=dev))

    # -- a training run's arrays: packing, scratch, the optimizer's update, the compiled step --------
    def pack(self, arrays: list) -> list:
        """The arrays a run updates (parameters, optimizer state), laid out as these kernels update them
        fastest: here, as they are (a new list)."""
        return list(arrays)

    def zeros_like(self, arrays: list) -> list:
        """Zeros shaped like `arrays` (optimizer state), packed like ``pack``."""
        return [array_namespace(a).zeros_like(a) for a in arrays]

    def gradient_buffers(self, params: list) -> list | None:
        """Where backward writes raw gradients for an optimizer that reads them (None: fresh arrays)."""
        return None

    def ema_update(self, ema: list, params: list, decay: float) -> list:
        """The moving averages after one update: e + (1 − decay)·(p − e) for each (e, p) (e·decay +
        p·(1 − decay), as a lerp); an override updates e in place (flat buffers: one pass)."""
        w = 1.0 - decay
        return [e + w * (p - e) for e, p in zip(ema, params)]

    def optimizer_update(self, opt: Any, state: dict, params: list, grads: list, hyper: Any) -> tuple[list, dict]:
        """One optimizer update, (params, state) after it: the optimizer's rule applied array by array
        (``opt.update_arrays``, the specification). An override applies it to flat buffers at once."""
        return opt.update_arrays(state, params, grads, hyper, self)

    def compile(self, step: Any, cache: dict, key: Any) -> Any:
        """The training step as these kernels run it fastest: here, as it is. JAX's kernels trace and
        compile it whole (cached in `cache` under `key`, reused by later runs of the same settings)."""
        return step

    def __repr__(self) -> str:
        return f"<{self.name} kernels>"


GENERIC = Kernels()


class FlatList(list):
    """Arrays that are views of one flat buffer, ``flat``: an update of all of them is one call."""

    def __init__(self, views, flat):
        super().__init__(views)
        self.flat = flat


def _flat(lists) -> bool:
    """Whether every list is packed (views of flat buffers of one layout)."""
    return all(isinstance(a, FlatList) for a in lists)


class BufferedKernels(Kernels):
    """Base for overrides that write results into buffers they keep, keyed by the caller, on a
    library whose arrays can be views of one another (``views``): the optimizer then keeps the
    parameters, gradients and its state as views of one flat buffer each, and updates all of them
    with one call per step (torch.optim's multi-tensor pattern)."""

    views = True
    buffered = True

    def flat_views(self, like: list) -> tuple[Array, list]:
        """A zeroed flat buffer holding arrays shaped like `like` (one dtype), and those arrays as
        views of it."""
        dtype = like[0].dtype
        sizes = [int(math.prod(a.shape)) for a in like]
        flat = self._xp.zeros((sum(sizes),), dtype=dtype, device=self._device)
        views, at = [], 0
        for a, n in zip(like, sizes):
            views.append(self._xp.reshape(flat[at : at + n], tuple(a.shape)))
            at += n
        return flat, views

    def copy_into(self, dst: Array, src: Array) -> Array:
        """dst's values replaced by src's, in place."""
        raise NotImplementedError

    def pack(self, arrays: list) -> list:
        """Copies of `arrays` as views of one flat buffer (one update call for all of them)."""
        if not arrays:
            return FlatList([], None)
        flat, views = self.flat_views(arrays)
        for v, a in zip(views, arrays):
            self.copy_into(v, a)
        return FlatList(views, flat)

    def zeros_like(self, arrays: list) -> list:
        if not arrays:
            return FlatList([], None)
        flat, views = self.flat_views(arrays)
        return FlatList(views, flat)

    def gradient_buffers(self, params: list) -> list:
        """Packed gradient buffers, kept for the run (scratch: backward overwrites them each step)."""
        key = ("gradients", tuple((tuple(p.shape), p.dtype) for p in params))
        buf = self._buffers.get(key)
        if buf is None:
            buf = self._buffers[key] = self.zeros_like(params)
        return buf

    def ema_update(self, ema, params, decay):
        """On packed arrays: one in-place pass over the flat buffers."""
        if params and _flat([ema, params]):
            self._lerp_into(ema.flat, params.flat, 1.0 - decay)
            return ema
        return super().ema_update(ema, params, decay)

    def _lerp_into(self, dst, src, w):
        """dst ← dst + w·(src − dst) in place."""
        self.copy_into(dst, dst + w * (src - dst))

    def optimizer_update(self, opt, state, params, grads, hyper):
        """On packed arrays, the optimizer's rule on the flat buffers (``opt.update_flat``) where it has
        one: one call for all parameters (torch.optim's multi-tensor pattern)."""
        flat = getattr(opt, "update_flat", None)
        if flat is not None and params and _flat([params, grads, *state.values()]):
            return flat(state, params, grads, hyper, self)
        return super().optimizer_update(opt, state, params, grads, hyper)

    def __init__(self, xp: Any, dev: Any):
        self._xp, self._device = xp, dev
        self._buffers: dict = {}
        self._owned: set = set()

    def buffer(self, key: Any, shape: tuple, dtype: Any) -> Array:
        """The buffer for (key, shape, dtype), allocated on first use."""
        full = (key, tuple(shape), dtype)
        buf = self._buffers.get(full)
        if buf is None:
            buf = self._buffers[full] = self._xp.empty(full[1], dtype=dtype, device=self._device)
            self._owned.add(id(buf))
        return buf

    def owns(self, x: Array) -> bool:
        return id(x) in self._owned
