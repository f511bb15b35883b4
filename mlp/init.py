"""Weight initialization, drawn on the host from the user's seed.

One seed gives the same initial weights on every backend: the numbers come from a
``numpy.random.Generator`` and are copied to the device afterwards. Biases start at zero.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["INITIALIZERS", "initialize"]


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
    "he_uniform": he_uniform,
    "zeros": zeros,
}


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
    if init not in INITIALIZERS:
        raise ValueError(f"init must be one of {sorted(INITIALIZERS)}, a sigma or a callable; got {init!r}")
    return INITIALIZERS[init](rng, fan_in, fan_out)
