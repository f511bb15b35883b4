"""A model's input stage: rows checked, through the leading fitted transforms, in the model's dtype.

Host rows go through the transforms on the host in float64 (features of large magnitude lose no
precision to the cast), then are cast and copied to the device once; device rows are transformed
on the device. The float64 host copies of the transforms' state are kept while the model's state
arrays are the same objects (``set_state``, ``adapt``, a load or a broadcast replaces them, and
the copies are made again). Those float64 values are the model's: ``get_state`` returns them,
``set_state``, a load and a move to another backend keep them. Where their cast to the model's
dtype is not faithful (a scale of 1e-300 or a shift of 1e200 in float32), device rows are refused,
naming the value: host rows still go through the float64 values.
"""

from __future__ import annotations

import numpy as np

from mlp.checks import cast_host, check_host_rows, check_host_X, check_X, is_host_data
from mlp.nn.columns import Encoded, is_table, needs_columns

__all__ = ["InputStage", "device_copy"]


class InputStage:
    """The input stage of `model` (its ``layers[:net.n_input]``)."""

    def __init__(self, model):
        self.model = model
        self._arrays: list = []  # the state arrays the host copies were made from
        self._host: list | None = None
        self._faithful: list | None = None  # the host copies last found faithful in the model's dtype

    def encode(self, X, name: str = "X"):
        """Host data through the model's table encoding (``model.columns``: float64 rows), once, at
        an entry point; device arrays (encoded rows) and data for a model without one unchanged. A
        table that needs an encoding (text, categories, booleans, missing numbers) into a model
        without one is a TypeError saying how to build one."""
        if isinstance(X, Encoded):
            return X
        columns = self.model.columns
        if columns is None:
            if needs_columns(X, name):
                raise TypeError(
                    f"{name} is a table with text, category or boolean columns or missing numbers, and this model "
                    f"takes numbers only: build it for the table, e.g. mlp.MLP([mlp.Columns.fit({name}), 64, k]) "
                    "(mlp train and the estimators do this themselves)"
                )
            return X
        if not is_host_data(X):
            return X
        if not (is_table(X) or isinstance(X, (np.ndarray, list, tuple)) or type(X).__module__.startswith("pandas")):
            raise TypeError(
                f"{name} is a {type(X).__name__}; a model with a table encoding takes tables in memory (a DataFrame, "
                "a pyarrow Table, a dict of columns) or a 2-D array of the table's columns"
            )
        return columns.encode(X, name)

    @property
    def layers(self) -> list:
        return self.model.net.layers[: self.model.net.n_input]

    def prepare(self, X, name: str = "X"):
        """X checked (2-D, finite, ``n_features`` columns), through the input stage, in the model's
        dtype on its device."""
        if is_host_data(X):
            return self.model.backend.asarray(self.prepare_host(X, name))
        return self.prepare_device(X, name)

    def prepare_device(self, X, name: str = "X"):
        """An array of the model's backend checked, through the input stage, in the model's dtype."""
        m = self.model
        Xd = check_X(X, m.backend, m.dtype, m.n_features, name)
        self._check_faithful(name)
        for i, layer in enumerate(self.layers):
            Xd = layer.forward([], m.state[m.net.state_slices[i]], Xd)[0]
        return Xd

    def prepare_host(self, X, name: str = "X") -> np.ndarray:
        """Host rows checked, through the input stage (in float64), cast to the model's dtype on the
        host: what ``prepare`` copies to the device."""
        m = self.model
        if isinstance(X, Encoded):
            X = X.view(np.ndarray)  # encoded rows: a plain array from here on
        if self.layers:
            host = self.host(check_host_X(X, m.n_features, name))
        else:
            host = check_host_rows(X, m.n_features, name)
        return cast_host(host, m.backend, m.dtype, name)

    def host(self, X: np.ndarray, stop: int | None = None) -> np.ndarray:
        """Host float64 rows through the input stage's first `stop` transforms (all by default)."""
        states = self._host_states()
        for layer, state in list(zip(self.layers, states))[:stop]:
            X = layer.forward([], state, X)[0]
        return X

    def unfitted(self) -> list[int]:
        """Indices of the input stage's transforms that have not been fitted (no rows seen)."""
        return [i for i, state in enumerate(self._host_states()) if state[2][0] == 0]

    def adapt(self, X, seed: int = 0) -> None:
        """Fit the input stage's transforms on X (host or device rows, read in chunks): each on the
        output of the transforms before it."""
        from mlp.data import host_chunks

        m = self.model
        n = int(X.shape[0])
        if n == 0:
            raise ValueError("X must hold at least one sample to fit the model's input transforms")
        exact = {}  # the fitted float64 values: the rest of this model's life uses them, not their cast
        for i, layer in enumerate(self.layers):
            chunks = (self.host(c, i) for c in host_chunks(X, m.backend, m.n_features))
            exact[i] = [np.asarray(s, dtype=np.float64) for s in layer.fit_chunks(chunks, n, seed)]
            start = m.net.state_slices[i].start
            for k, s in enumerate(exact[i]):
                m.state[start + k] = device_copy(m, s)
            self._host = [exact.get(j, h) for j, h in enumerate(self._host_states())]

    @property
    def n_state(self) -> int:
        """How many of the model's state arrays belong to the input stage."""
        m = self.model
        return m.net.state_slices[m.net.n_input - 1].stop if self.layers else 0

    def exact(self) -> list[np.ndarray]:
        """The input stage's state in float64 (copies), in the order of ``model.state``."""
        return [np.array(a) for arrays in self._host_states() for a in arrays]

    def pin(self, exact: list[np.ndarray]) -> None:
        """Keep `exact` (float64 host arrays) as the values of the model's current input-stage state."""
        m = self.model
        self._arrays = list(m.state[: self.n_state])
        self._host = [
            [np.asarray(exact[k], dtype=np.float64) for k in range(sl.start, sl.stop)]
            for sl in m.net.state_slices[: len(self.layers)]
        ]

    def _check_faithful(self, name: str) -> None:
        m = self.model
        exacts = self.exact()  # (re)made where the state arrays changed
        if self._faithful is self._host:
            return
        dtype = m.backend.dtype_name(m.dtype)
        for k, exact in enumerate(exacts):
            with np.errstate(over="ignore", under="ignore"):
                cast = exact.astype(dtype).astype(np.float64)
            if not np.allclose(cast, exact, rtol=1e-6, atol=0):
                worst = float(exact.reshape(-1)[np.argmax(np.abs(cast - exact).reshape(-1))])
                raise ValueError(
                    f"{name} is an array on the model's device, where its input scaling runs in {dtype}; that "
                    f"scaling holds {worst:.3g} (state[{k}]), which {dtype} does not hold: pass host (NumPy) "
                    f"rows, which are scaled in float64, or build the model with dtype='float64'"
                )
        self._faithful = self._host

    def _host_states(self) -> list:
        m = self.model
        arrays = m.state[: self.n_state]
        if (
            self._host is None
            or len(arrays) != len(self._arrays)
            or any(a is not b for a, b in zip(arrays, self._arrays))
        ):
            self._arrays = list(arrays)
            self._host = [
                [np.asarray(m.backend.to_numpy(s), dtype=np.float64) for s in m.state[m.net.state_slices[i]]]
                for i in range(len(self.layers))
            ]
        return self._host


def device_copy(model, exact: np.ndarray):
    """`exact` on the model's device in its dtype; a value beyond the dtype's range becomes ±inf there
    (device rows are then refused, ``_check_faithful``)."""
    with np.errstate(over="ignore", under="ignore"):
        host = exact.astype(model.backend.dtype_name(model.dtype))
    return model.backend.asarray(host, model.dtype, copy=True)
