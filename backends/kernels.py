"""The kernels interface: the array operations a training step is made of.

``Kernels`` is the specification. Each method is the generic array-API implementation and
*returns* its result; a backend's subclass overrides methods with faster versions (products
into reused buffers, in-place activations, BLAS calls, fused GPU kernels) that return the
same values. Callers always rebind what a method returns::

    acc = kernels.accumulate_tn(x, delta, acc, 1.0, mu)

so the same line is right where the override worked in place (NumPy, CuPy) and where
arrays are immutable (JAX). ``tests/test_kernels.py`` compares every backend's kernels with
these, method by method.

Buffers: a method that takes ``key`` may return an array that it reuses for the same key
(and shape and dtype) on a later call, when the caller is done with the earlier result;
``key=None`` always gives a fresh array. An override writes in place only into arrays it
returned itself (``owns``) or into the ``acc``/``y`` the caller hands it to update, never
into user data.
"""

from __future__ import annotations

from typing import Any

from array_api_compat import array_namespace, device

__all__ = ["Kernels", "BufferedKernels", "GENERIC", "Array", "zero_like", "scale_add", "is_number"]

Array = Any  # an array of any array-API namespace


def zero_like(x: Array) -> Array:
    """A 0-d zero of x's dtype on x's device (broadcasts without changing the dtype)."""
    return array_namespace(x).zeros((), dtype=x.dtype, device=device(x))


def is_number(value: Any, number: float) -> bool:
    """`value` is the Python number `number` (False for an array or a traced scalar, whose
    value a compiled step cannot branch on)."""
    return isinstance(value, (int, float)) and value == number


def scale_add(g: Array, acc: Array | None, alpha: Any, beta: Any) -> Array:
    """beta·acc + alpha·g (alpha·g where acc is None or beta is 0)."""
    if not is_number(alpha, 1.0):
        g = alpha * g
    if acc is None or is_number(beta, 0.0):
        return g
    return (acc if is_number(beta, 1.0) else beta * acc) + g


class Kernels:
    """Generic array-API kernels: the specification every backend's overrides must match."""

    name = "generic"

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

    def relu(self, s: Array) -> Array:
        """max(s, 0); an override may work in place on a buffer it owns."""
        return array_namespace(s).maximum(s, zero_like(s))

    # -- backward --------------------------------------------------------------------------
    def relu_backward(self, delta: Array, y: Array) -> Array:
        """delta where y > 0, else 0 (y is the ReLU's output); in place on an owned delta."""
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

    # -- updates and data --------------------------------------------------------------------
    def axpy(self, a: float, x: Array, y: Array) -> Array:
        """y + a·x; an override updates y in place."""
        return y + a * x

    def take_rows(self, X: Array, idx: Array, key: Any = None) -> Array:
        """The rows idx of X (a mini-batch gather)."""
        return array_namespace(X).take(X, idx, axis=0)

    def __repr__(self) -> str:
        return f"<{self.name} kernels>"


GENERIC = Kernels()


class BufferedKernels(Kernels):
    """Base for overrides that write results into buffers they keep, keyed by the caller."""

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
