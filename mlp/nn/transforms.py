"""Fitted input transforms: layers whose state is fitted from data, not trained.

A transform at the front of a model makes ``model(X)`` take raw data, and a saved file the
whole predictor. Its state (a per-feature shift and scale, and the number of rows it was
fitted on) lives in ``model.state`` like any layer's state: saved, loaded, checkpointed,
exported to ONNX. ``model.adapt(X)`` fits the leading transforms (``mlp.train`` does it
itself for transforms not fitted yet, on the training rows only).

Leading transforms are the model's *input stage*: on host (NumPy) data they run on the host
in float64 before the data is cast to the model's dtype and copied to the device (so that
features of large magnitude lose no precision to the cast), and on device data on the
device. Both give the same rows whichever way the data arrives, streamed or in memory.

- ``Standardize``: (x − mean) / std, std 0 → 1 (with ``floor``: at least floor · the median std).
- ``MinMax``: (x − min) / (max − min), a constant feature → 0.
- ``RobustScale``: (x − median) / (IQR / 1.349), then a smooth clip ``z / sqrt(1 + (z/c)²)``
  that keeps outliers within about ±c (RealMLP's robust scaling); quantiles from at most
  ``sample`` rows drawn by the seed.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from array_api_compat import array_namespace

from mlp.checks import check_positive_float, check_positive_int
from mlp.nn.layer import EVAL, Layer

__all__ = ["Transform", "Standardize", "MinMax", "RobustScale", "TargetScale", "TRANSFORMS"]

TRANSFORMS: dict[str, type] = {}


class Transform(Layer):
    """y = (x − shift) / scale per feature; state [shift (d,), scale (d,), rows fitted (1,)]."""

    n_state = 3
    name = "?"

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if "name" in cls.__dict__:
            TRANSFORMS[cls.name] = cls

    def __init__(self, n_features: int, passthrough: int = 0):
        self.in_features = check_positive_int(n_features, f"{type(self).__name__} n_features")
        self.passthrough = check_positive_int(passthrough, f"{type(self).__name__} passthrough", minimum=0)
        if self.passthrough >= self.in_features:
            raise ValueError(
                f"{type(self).__name__} passthrough ({self.passthrough}) must leave features to scale "
                f"(n_features {self.in_features})"
            )

    @property
    def scaled(self) -> int:
        """How many leading features it scales; the last ``passthrough`` (category codes) pass unchanged."""
        return self.in_features - self.passthrough

    def build_state(self):
        d = self.scaled
        return [np.zeros(d), np.ones(d), np.zeros(1)]

    def forward(self, params, state, x, ctx=EVAL):
        if not self.passthrough:
            return self.apply(x, state[0], state[1]), state, None
        xp = array_namespace(x)
        scaled = self.apply(x[:, : self.scaled], state[0], state[1])
        return xp.concat([scaled, x[:, self.scaled :]], axis=1), state, None

    def apply(self, x, shift, scale):
        return (x - shift) / scale

    def backward(self, params, saved, delta, ctx=EVAL, sinks=None, need_input_grad=True):
        raise NotImplementedError(f"{type(self).__name__} is an input transform: no gradient flows into it")

    def flops(self, n_in, first=False):
        return 0  # applied once to the data, not per training step

    def fit(self, chunks: Iterable[np.ndarray], n_rows: int, seed: int = 0) -> list[np.ndarray]:
        """The fitted state from float64 host chunks covering the data (n_rows rows in all)."""
        raise NotImplementedError

    def fit_chunks(self, chunks, n_rows: int, seed: int = 0) -> list[np.ndarray]:
        """``fit`` on the features it scales."""
        return self.fit((c[:, : self.scaled] for c in chunks), n_rows, seed)

    def onnx(self, graph, x, params, state):
        rest = None
        if self.passthrough:
            i64 = np.int64
            axis, start = graph.const([1], "axis", i64), graph.const([0], "start", i64)
            mid, end = graph.const([self.scaled], "mid", i64), graph.const([self.in_features], "end", i64)
            rest = graph.node("Slice", [x, mid, end, axis])
            x = graph.node("Slice", [x, start, mid, axis])
        y = graph.node("Div", [graph.node("Sub", [x, graph.const(state[0], "shift")]), graph.const(state[1], "scale")])
        y = self._onnx_after(graph, y)
        return y if rest is None else graph.node("Concat", [y, rest], axis=1)

    def _onnx_after(self, graph, y):
        return y

    def config(self):
        return {"n_features": self.in_features, "passthrough": self.passthrough}


class Standardize(Transform):
    """(x − mean) / std with the training data's statistics. A constant feature keeps scale 1; with
    ``floor`` > 0, a std below ``floor`` · (the median std of the features) is raised to that: a
    near-constant feature (a border pixel that is almost always blank) is not blown up to unit
    variance, noise and all."""

    name = "standard"

    def __init__(self, n_features: int, floor: float = 0.0, passthrough: int = 0):
        super().__init__(n_features, passthrough)
        self.floor = check_positive_float(floor, "Standardize floor", allow_zero=True)

    def fit(self, chunks, n_rows, seed=0):
        """Mean and standard deviation in float64, chunk by chunk (Chan et al.'s pairwise update),
        of the features divided by a power of two near their magnitude: features of 1e-300 or
        1e200 neither underflow nor overflow in the squares, and the division is exact."""
        n, mean, m2, unit = 0, 0.0, 0.0, None
        for c in chunks:
            if unit is None:
                unit = _power_of_two(c)
            c = c / unit
            k = c.shape[0]
            cm = c.mean(axis=0)
            cm2 = ((c - cm) ** 2).sum(axis=0)
            delta = cm - mean
            mean = mean + delta * (k / (n + k))
            m2 = m2 + cm2 + delta**2 * (n * k / (n + k))
            n += k
        mean, std = mean * unit, np.sqrt(m2 / n) * unit
        scale = np.where(std > 0, std, 1.0)
        if self.floor > 0:
            positive = std[std > 0]
            low = self.floor * (float(np.median(positive)) if positive.size else 1.0)
            scale = np.where(std > 0, np.maximum(std, low), 1.0)
        return [np.asarray(mean, dtype=np.float64), scale, np.array([float(n)])]

    def config(self):
        return {**super().config(), "floor": self.floor}


def _power_of_two(c: np.ndarray) -> np.ndarray:
    """Per feature, the power of two at the magnitude of the chunk's largest value (1 for zeros)."""
    top = np.max(np.abs(c), axis=0) if c.shape[0] else np.zeros(c.shape[1])
    return np.ldexp(1.0, np.frexp(np.where(top > 0, top, 1.0))[1] - 1)  # top / unit in [1, 2): 1e308 -> 2**1023


class MinMax(Transform):
    """(x − min) / (max − min) with the training data's range; a constant feature maps to 0."""

    name = "minmax"

    def fit(self, chunks, n_rows, seed=0):
        lo = hi = None
        n = 0
        for c in chunks:
            lo = c.min(axis=0) if lo is None else np.minimum(lo, c.min(axis=0))
            hi = c.max(axis=0) if hi is None else np.maximum(hi, c.max(axis=0))
            n += c.shape[0]
        with np.errstate(over="ignore"):
            span = hi - lo
        if not np.all(np.isfinite(span)):
            j = int(np.argmax(~np.isfinite(span)))
            raise ValueError(
                f"X's feature {j} runs from {lo[j]:.3g} to {hi[j]:.3g}, a range wider than float64 holds, so "
                "scale='minmax' cannot map it to [0, 1]; use scale='standard' or scale='robust'"
            )
        return [lo, np.where(span > 0, span, 1.0), np.array([float(n)])]


class RobustScale(Transform):
    """(x − median) / (IQR / 1.349) (std-like for normal data; a feature with IQR 0 uses its
    std, and 1 where that is 0 too), then ``z / sqrt(1 + (z / clip)²)``: about z near 0,
    bounded by ±clip for outliers, smooth everywhere."""

    name = "robust"

    def __init__(self, n_features: int, clip: float = 3.0, sample: int = 100_000, passthrough: int = 0):
        super().__init__(n_features, passthrough)
        self.clip = check_positive_float(clip, "RobustScale clip")
        self.sample = check_positive_int(sample, "RobustScale sample")

    def fit(self, chunks, n_rows, seed=0):
        rng = np.random.default_rng(seed)
        keep = min(1.0, self.sample / max(n_rows, 1))
        parts, n = [], 0
        for c in chunks:
            parts.append(c if keep >= 1.0 else c[rng.random(c.shape[0]) < keep])
            n += c.shape[0]
        data = np.concatenate(parts) if parts else np.zeros((1, self.scaled))
        unit = _power_of_two(data)  # statistics of data / unit (exact): ±1e308 data neither overflows nor underflows
        data = data / unit
        q25, med, q75 = np.quantile(data, [0.25, 0.5, 0.75], axis=0)
        scale, std, med = (q75 - q25) / 1.349 * unit, data.std(axis=0) * unit, med * unit
        scale = np.where(scale > 0, scale, np.where(std > 0, std, 1.0))
        return [med, scale, np.array([float(n)])]

    def apply(self, x, shift, scale):
        xp = array_namespace(x)
        z = (x - shift) / scale
        return z / xp.sqrt(1 + (z / self.clip) ** 2)

    def _onnx_after(self, graph, z):
        r = graph.node("Div", [z, graph.const(self.clip)])
        root = graph.node("Sqrt", [graph.node("Add", [graph.const(1.0), graph.node("Mul", [r, r])])])
        return graph.node("Div", [z, root])

    def config(self):
        return {**super().config(), "clip": self.clip, "sample": self.sample}


class TargetScale(Layer):
    """The regression targets' standardization, as the model's last layer: the network learns
    (y − mean) / std per output (RealMLP's target standardization: a loss near 1 at the start
    whatever the targets' units, outputs of different scales weighted alike), and this layer maps
    its outputs back, ``out · std + mean``, so that ``model(X)``, saved files and ONNX give targets
    in their own units.

    Fitted by ``mlp.train`` on the training targets (float64, on the host) when it has seen no rows;
    state [mean (k,), std (k,), rows fitted (1,)], std 0 → 1. Training stops the forward pass before
    it and compares with the targets standardized by its state, so the loss (and the validation
    loss) is in standardized units; ``model.evaluate`` and the CLI report errors in the targets' units.
    Under mixed precision it maps back in the variable dtype (float32), not the 16-bit compute type."""

    n_state = 3

    def __init__(self, n_outputs: int):
        self.in_features = check_positive_int(n_outputs, "TargetScale n_outputs")

    def build_state(self):
        d = self.in_features
        return [np.zeros(d), np.ones(d), np.zeros(1)]

    def forward(self, params, state, x, ctx=EVAL):
        return x * state[1] + state[0], state, None

    def backward(self, params, saved, delta, ctx=EVAL, sinks=None, need_input_grad=True):
        raise NotImplementedError("TargetScale maps outputs back to the targets' units; training stops before it")

    def standardize(self, state, t):
        """Targets t in the units the network learns."""
        return (t - state[0]) / state[1]

    def fit(self, y: np.ndarray) -> list[np.ndarray]:
        """(mean, std, rows) of float64 host targets (n,) or (n, k), per output; a power of two
        divides them first (exact), so that targets of 1e200 or 1e-300 are fitted too."""
        y = np.asarray(y, dtype=np.float64).reshape(y.shape[0], -1)
        if y.shape[1] != self.in_features:
            raise ValueError(f"TargetScale has {self.in_features} outputs; the targets have {y.shape[1]} columns")
        unit = _power_of_two(y)
        z = y / unit
        mean, std = z.mean(axis=0) * unit, z.std(axis=0) * unit
        return [mean, np.where(std > 0, std, 1.0), np.array([float(y.shape[0])])]

    def onnx(self, graph, x, params, state):
        return graph.node("Add", [graph.node("Mul", [x, graph.const(state[1], "std")]), graph.const(state[0], "mean")])

    def config(self):
        return {"n_outputs": self.in_features}


def get_transform(name: str, n_features: int, passthrough: int = 0) -> Transform:
    if isinstance(name, Transform):
        return name
    if name not in TRANSFORMS:
        raise ValueError(f"scale must be one of {sorted(TRANSFORMS)} or None; got {name!r}")
    return TRANSFORMS[name](n_features, passthrough=passthrough)
