"""Weight initialization, drawn on the host from the user's seed.

One seed gives the same initial weights on every backend: the numbers come from a
``numpy.random.Generator`` and are copied to the device afterwards. Biases start at zero,
except under ``"torch"`` (PyTorch's ``nn.Linear`` default draws them too).

Initializers and the moments they promise (fan_in inputs, fan_out outputs):

==================  ===============================================  ======================
name                distribution                                     variance
==================  ===============================================  ======================
normal              N(0, σ²), σ = 0.01 (a number: that σ)            σ²
glorot_uniform      U(±√(6/(fan_in+fan_out)))                        2/(fan_in+fan_out)
glorot_normal       N(0, 2/(fan_in+fan_out))                         2/(fan_in+fan_out)
he_normal           N(0, 2/fan_in)                                   2/fan_in
he_uniform          U(±√(6/fan_in))                                  2/fan_in
lecun_normal        N truncated at ±2σ, scaled to the variance       1/fan_in
lecun_uniform       U(±√(3/fan_in))                                  1/fan_in
truncated_normal    N(0, 0.05²) truncated at ±2σ (Keras' default)    0.05² · 0.7737
orthogonal          the Q of a QR of a normal matrix (signs fixed)   WᵀW = I (or WWᵀ = I)
torch               W and b ~ U(±1/√fan_in) (PyTorch nn.Linear)      1/(3·fan_in)
zeros               0                                                0
==================  ===============================================  ======================
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["INITIALIZERS", "initialize", "initial_bias", "TRUNCATED_VARIANCE"]

# the variance of a standard normal truncated at ±2
TRUNCATED_VARIANCE = 1.0 - 4.0 * math.exp(-2.0) / math.sqrt(2.0 * math.pi) / math.erf(2.0 / math.sqrt(2.0))


def normal(rng, fan_in, fan_out, sigma=0.01):
    """ "Small random numbers": N(0, sigma^2)."""
    return rng.normal(0.0, sigma, size=(fan_in, fan_out))


def glorot_uniform(rng, fan_in, fan_out):
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


def glorot_normal(rng, fan_in, fan_out):
    return rng.normal(0.0, math.sqrt(2.0 / (fan_in + fan_out)), size=(fan_in, fan_out))


def he_normal(rng, fan_in, fan_out):
    return rng.normal(0.0, math.sqrt(2.0 / fan_in), size=(fan_in, fan_out))


def he_uniform(rng, fan_in, fan_out):
    limit = math.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


def _truncated(rng, shape, sigma):
    """N(0, sigma²) truncated at ±2 sigma (draws outside are redrawn)."""
    out = rng.normal(0.0, 1.0, size=shape)
    bad = np.abs(out) > 2.0
    while bad.any():
        out[bad] = rng.normal(0.0, 1.0, size=int(bad.sum()))
        bad = np.abs(out) > 2.0
    return out * sigma


def truncated_normal(rng, fan_in, fan_out):
    return _truncated(rng, (fan_in, fan_out), 0.05)


def lecun_normal(rng, fan_in, fan_out):
    return _truncated(rng, (fan_in, fan_out), math.sqrt(1.0 / fan_in / TRUNCATED_VARIANCE))


def lecun_uniform(rng, fan_in, fan_out):
    limit = math.sqrt(3.0 / fan_in)
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


def orthogonal(rng, fan_in, fan_out):
    """Orthonormal columns (fan_in >= fan_out) or rows: Q of the QR of a normal matrix, with the
    signs of R's diagonal folded in so that Q is uniformly (Haar) distributed."""
    a = rng.normal(0.0, 1.0, size=(max(fan_in, fan_out), min(fan_in, fan_out)))
    q, r = np.linalg.qr(a)
    q *= np.where(np.diag(r) < 0, -1.0, 1.0)
    return q if fan_in >= fan_out else q.T


def torch_uniform(rng, fan_in, fan_out):
    bound = 1.0 / math.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=(fan_in, fan_out))


def zeros(rng, fan_in, fan_out):
    return np.zeros((fan_in, fan_out))


INITIALIZERS = {
    "normal": normal,
    "glorot_uniform": glorot_uniform,
    "xavier_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "xavier_normal": glorot_normal,
    "he": he_normal,
    "he_normal": he_normal,
    "kaiming_normal": he_normal,
    "he_uniform": he_uniform,
    "kaiming_uniform": he_uniform,
    "lecun_normal": lecun_normal,
    "lecun_uniform": lecun_uniform,
    "truncated_normal": truncated_normal,
    "orthogonal": orthogonal,
    "torch": torch_uniform,
    "zeros": zeros,
}

# initializers that draw the biases too (the others start them at zero)
BIAS_INITIALIZERS = {"torch": lambda rng, fan_in, n: rng.uniform(-1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in), n)}


def initialize(init, rng, fan_in, fan_out) -> np.ndarray:
    """A float64 host matrix (fan_in, fan_out) drawn by `init`: a name, a float sigma
    for ``normal(sigma)``, or a callable ``init(rng, fan_in, fan_out)``."""
    if isinstance(init, (int, float)) and not isinstance(init, bool):
        if not init > 0:
            raise ValueError(f"init as a number is the sigma of normal(sigma) and must be > 0; got {init}")
        return normal(rng, fan_in, fan_out, float(init))
    if callable(init):
        W = np.asarray(init(rng, fan_in, fan_out), dtype=np.float64)
        if W.shape != (fan_in, fan_out):
            raise ValueError(f"init returned shape {W.shape}; expected {(fan_in, fan_out)}")
        return W
    if not isinstance(init, str) or init not in INITIALIZERS:
        raise ValueError(f"init must be one of {sorted(INITIALIZERS)}, a sigma or a callable; got {init!r}")
    return INITIALIZERS[init](rng, fan_in, fan_out)


def initial_bias(init, rng, fan_in, n) -> np.ndarray:
    """The initial bias (n,) that goes with weights drawn by `init`: zeros, or drawn (``"torch"``)."""
    if isinstance(init, str) and init in BIAS_INITIALIZERS:
        return BIAS_INITIALIZERS[init](rng, fan_in, n)
    return np.zeros(n)
