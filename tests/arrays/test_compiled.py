"""The JAX backend compiles the whole training step (forward, backward, update) with jax.jit
from the same generic code; it equals the eager generic step over whole runs."""

from __future__ import annotations

import numpy as np
import pytest

import mlp

pytest.importorskip("jax", reason="the compiled step is JAX's")


OPTIMIZERS = {
    "sgd-wd": lambda: mlp.SGD(0.1, weight_decay=0.01),
    "momentum": lambda: mlp.SGD(0.05, momentum=0.9),
    "nesterov-schedule": lambda: mlp.SGD(0.05, momentum=0.9, nesterov=True, schedule=mlp.StepDecay(1, 0.5)),
    "adam": lambda: mlp.Adam(0.01),
    "adamw-clip": lambda: mlp.AdamW(0.01, clip_norm=1.0),
    "rmsprop-l1": lambda: mlp.RMSProp(0.01, l1=1e-3),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_compiled_step_equals_the_eager_generic_step(name, rng):
    X, y = rng.normal(size=(103, 7)), rng.integers(0, 4, size=103)  # 103: a partial last batch, a second shape

    def run(fast):
        model = mlp.MLP([7, 16, 12, 4], "relu", "softmax", backend="jax", dtype="float64", seed=1)
        opt = OPTIMIZERS[name]()
        h = mlp.train(model, X, y, optimizer=opt, epochs=3, batch_size=16, seed=2, progress=False, fast=fast)
        return h.loss, model.get_weights(), opt.t

    (l_c, w_c, t_c), (l_e, w_e, t_e) = run(True), run(False)
    assert t_c == t_e == 21 and isinstance(t_c, int)
    np.testing.assert_allclose(l_c, l_e, rtol=1e-10)
    for a, b in zip(w_c, w_e):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_compiled_step_in_float32_and_with_checkpoints(tmp_path, rng):
    X, y = rng.normal(size=(60, 5)), rng.normal(size=60)
    model = mlp.MLP([5, 8, 1], "tanh", backend="jax", dtype="float32", seed=0)
    h = mlp.train(
        model, X, y, loss="mse", optimizer="adam", epochs=3, batch_size=7, progress=False, checkpoint=tmp_path / "c.npz"
    )
    assert np.all(np.isfinite(h.loss)) and h.loss[-1] < h.loss[0]
    again = mlp.MLP([5, 8, 1], "tanh", backend="jax", dtype="float32", seed=0)
    assert (
        mlp.train(
            again, X, y, loss="mse", optimizer="adam", epochs=4, batch_size=7, progress=False, resume=tmp_path / "c.npz"
        ).epochs
        == 4
    )


def test_other_backends_run_the_step_as_it_is():
    step = object()
    for name in mlp.backends.available():
        if name != "jax":
            assert mlp.backends.get(name).kernels().compile(step, {}, "key") is step


class HostReadingMSE(mlp.SquaredError):
    """A user's loss that looks at values in Python: it cannot be traced."""

    def value_and_gradient(self, out, t):
        self.largest = float(np.max(np.asarray(t)))
        return super().value_and_gradient(out, t)


def test_a_step_that_cannot_be_traced_runs_eagerly_and_says_so(rng):
    X, y = rng.normal(size=(30, 3)), rng.normal(size=30)

    def run(fast):
        model = mlp.MLP([3, 4, 1], "tanh", backend="jax", dtype="float64", seed=0)
        h = mlp.train(model, X, y, loss=HostReadingMSE(), epochs=2, batch_size=8, progress=False, fast=fast)
        return h.loss, model.get_weights()

    with pytest.warns(RuntimeWarning, match="cannot be compiled with jax.jit .* it runs eagerly"):
        (l_c, w_c) = run(True)
    (l_e, w_e) = run(False)
    assert l_c == l_e
    for a, b in zip(w_c, w_e):
        np.testing.assert_array_equal(a, b)
