"""A model's input stage: rows checked, through the leading fitted transforms, in the model's dtype.

Host rows go through the transforms on the host in float64 (features of large magnitude lose no
precision to the cast), then are cast and copied to the device once; device rows are transformed
on the device. The float64 host copies of the transforms' state are kept while the model's state
arrays are the same objects (``set_state``, ``adapt``, a load or a broadcast replaces them, and
the copies are made again).
"""

from __future__ import annotations

import numpy as np

from mlp.checks import cast_host, check_host_rows, check_host_X, check_X, is_host_data

__all__ = ["InputStage"]


class InputStage:
    """The input stage of `model` (its ``layers[:net.n_input]``)."""

    def __init__(self, model):
        self.model = model
        self._arrays: list = []  # the state arrays the host copies were made from
        self._host: list | None = None

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
        for i, layer in enumerate(self.layers):
            Xd = layer.forward([], m.state[m.net.state_slices[i]], Xd)[0]
        return Xd

    def prepare_host(self, X, name: str = "X") -> np.ndarray:
        """Host rows checked, through the input stage (in float64), cast to the model's dtype on the
        host: what ``prepare`` copies to the device."""
        m = self.model
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
            exact[i] = [np.asarray(s, dtype=np.float64) for s in layer.fit(chunks, n, seed)]
            start = m.net.state_slices[i].start
            for k, s in enumerate(exact[i]):
                m.state[start + k] = m.backend.asarray(s, m.dtype, copy=True)
            self._host = [exact.get(j, h) for j, h in enumerate(self._host_states())]

    def _host_states(self) -> list:
        m = self.model
        arrays = m.state[: m.net.state_slices[m.net.n_input - 1].stop] if self.layers else []
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
