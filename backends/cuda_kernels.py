"""The CUDA kernels this project owns, as data: CuPy ``ElementwiseKernel`` definitions (input
parameters, output parameters, the C operation, the kernel's name), importable without CuPy.

``cupy_backend.CuPyKernels`` builds them; ``tests/arrays/test_cuda_compile.py`` compiles each one with
NVRTC for sm_80 and sm_90 from the exact source CuPy generates, and runs each operation compiled
by the host's C++ compiler against the generic array-API kernels, NaN and infinity included (C's
IEEE comparisons are the same on a GPU and a CPU: nothing here is built with fast math).

Conventions the operations follow, to match the generic specification exactly:

- ReLU keeps NaN (as ``maximum(s, 0)`` does): ``s > 0 || s != s``.
- A product with β = 0 ignores what the output held (NaN or infinity included), as BLAS does.
- The dropout hash is lowbias32 on unsigned 32-bit integers, as ``kernels.mix32``.
"""

from __future__ import annotations

__all__ = ["KERNELS", "Definition"]


class Definition(tuple):
    """(in_params, out_params, operation, name) of one ElementwiseKernel."""

    __slots__ = ()

    def __new__(cls, in_params, out_params, operation, name):
        return super().__new__(cls, (in_params, out_params, operation, name))

    in_params = property(lambda self: self[0])
    out_params = property(lambda self: self[1])
    operation = property(lambda self: self[2])
    name = property(lambda self: self[3])


KERNELS = {
    "relu": Definition("", "T s", "s = (s > (T)0 || s != s) ? s : (T)0", "mlp_relu_inplace"),
    "bias_relu": Definition("T b", "T s", "T v = s + b; s = (v > (T)0 || v != v) ? v : (T)0", "mlp_bias_relu"),
    "relu_backward": Definition("T y", "T d", "d = y > (T)0 ? d : (T)0", "mlp_relu_backward"),
    "axpy": Definition("T x, T a", "T y", "y = y + a * x", "mlp_axpy"),  # no compound assignment: bfloat16 has none
    "lerp": Definition("T p, T w", "T e", "e = e + w * (p - e)", "mlp_lerp"),  # an EMA step: e·(1 − w) + p·w
    "scale_add": Definition(
        "T c, T alpha, T beta", "T out", "out = beta == (T)0 ? alpha * c : beta * out + alpha * c", "mlp_scale_add"
    ),
    # one pass of Adam over a parameter: both moments and the step (the generic update's arithmetic)
    "adam": Definition(
        "T g, T step, T b1, T b2, T root_c2, T eps",
        "T p, T m, T v",
        "m = m * b1 + (1 - b1) * g; v = v * b2 + (1 - b2) * (g * g); p = p - step * m / (sqrt(v) / root_c2 + eps)",
        "mlp_adam",
    ),
    "rmsprop": Definition(
        "T g, T lr, T alpha, T eps",
        "T p, T v",
        "v = v * alpha + (1 - alpha) * (g * g); p = p - lr * g / (sqrt(v) + eps)",
        "mlp_rmsprop",
    ),
    # the dropout mask from r = mix32(rows ^ salt) (per row) and c = column · 0x9E3779B9 (per column)
    "dropout": Definition(
        "int32 r, uint32 c, uint32 threshold, T scale",
        "T mask",
        "unsigned int h = (unsigned int)r + c; h ^= h >> 16; h *= 0x7feb352dU; h ^= h >> 15; "
        "h *= 0x846ca68bU; h ^= h >> 16; mask = h >= threshold ? scale : (T)0",
        "mlp_dropout_mask",
    ),
}
