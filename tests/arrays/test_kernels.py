"""Every backend's kernels equal the generic array-API kernels, method by method, and
training with them equals training with the generic ones."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import mlp
from mlp import backends
from mlp.backends.kernels import GENERIC, Kernels
from mlp.model.grad import loss_and_grads

METHODS = sorted(n for n, f in inspect.getmembers(Kernels, inspect.isfunction) if not n.startswith("_") and n != "owns")


# methods about a run's arrays rather than values: each has a test of its own below
RUN_METHODS = {
    "gradient_buffers": "test_gradient_buffers_are_none_or_zeros_shaped_like_the_parameters",
    "compile": "test_compile_returns_the_step_or_one_that_computes_the_same",
}


OWN_KERNELS = [n for n in backends.available() if type(backends.get(n).kernels()) is not Kernels]


@pytest.fixture(
    params=OWN_KERNELS or [pytest.param(None, marks=pytest.mark.skip(reason="no backend with own kernels"))]
)
def fast_backend(request):
    return backends.get(request.param)


def _cases(b, dtype, rng):
    """Per kernel method: calls (args for the backend's kernels, same args for the generic ones).
    Each call is made fresh (key None) and into buffers (a key, and on owned inputs)."""
    k = b.kernels()
    x, d = rng.normal(size=(37, 11)), rng.normal(size=(37, 5))
    W, bias, c = rng.normal(size=(11, 5)), rng.normal(size=5), rng.normal(size=(11, 5))
    X, D, Wd, B = (b.asarray(a, dtype) for a in (x, d, W, bias))

    def fresh(a):
        return b.asarray(a, dtype, copy=True)

    owned_s = k.affine(X, Wd, B, "s")  # a buffer k owns: in-place overrides apply to it
    special = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.5, -2.0, np.nan])  # the specification covers these
    S = np.resize(special, (37, 5))
    rng_p = lambda: fresh(rng.normal(size=(11, 5)))
    cases = {
        "matmul": [((X, Wd), {}), ((X, Wd), {"key": "m"}), ((X[3:20], Wd), {"key": "m"})],
        "affine": [((X, Wd, B), {}), ((X, Wd, B), {"key": "a"}), ((X, Wd, None), {"key": "b"})],
        "affine_relu": [
            ((X, Wd, B), {}),
            ((X, Wd, B), {"key": "ar"}),
            ((X, Wd, fresh(np.resize(special, 5))), {"key": "ar2"}),
        ],
        "relu": [((fresh(x @ W),), {}), ((owned_s,), {}), ((fresh(S),), {}), ((_owned(k, b, S, dtype, "rs"),), {})],
        "relu_backward": [
            ((fresh(d), fresh(x @ W)), {}),
            ((k.matmul(D, fresh(np.eye(5)), "dx"), fresh(x @ W - 0.5)), {}),
            ((_owned(k, b, S, dtype, "d1"), fresh(x @ W)), {}),  # NaN and infinity in delta where y <= 0
            ((_owned(k, b, d, dtype, "d2"), fresh(S)), {}),  # ±infinity and ±0 in y (NaN in y: 0 or delta)
        ],
        "accumulate_tn": [((X, D), {})]
        + [((X, D, fresh(c), a, be), {}) for a, be in [(1.0, 0.0), (-0.1, 1.0), (1.0, 0.9), (2.5, 0.3)]]
        + [((X[3:20], D[3:20], fresh(c), 1.0, 0.9), {})]
        + [((X, D, fresh(np.resize(special, (11, 5))), a, be), {}) for a, be in [(1.0, 0.0), (1.0, 1.0)]],
        "accumulate_colsum": [((D,), {})]
        + [((D, fresh(bias), a, be), {}) for a, be in [(1.0, 0.0), (-0.1, 1.0), (2.5, 0.3)]]
        + [((D, fresh(special[:5]), a, be), {}) for a, be in [(1.0, 0.0), (0.5, 0.0), (1.0, 1.0)]],  # β 0: acc ignored
        "scale_add": [((fresh(c),), {}), ((fresh(c), None, 2.5, 0.0), {})]
        + [((fresh(c), fresh(3 * c), a, be), {}) for a, be in [(1.0, 0.0), (-0.1, 1.0), (1.0, 0.9), (2.5, 0.3)]]
        + [((fresh(c), fresh(np.resize(special, (11, 5))), a, be), {}) for a, be in [(1.0, 0.0), (0.5, 0.0), (1, 1)]],
        "axpy": [((-0.25, Wd, fresh(c)), {}), ((0.5, B, fresh(bias)), {}), ((0.5, fresh(S), fresh(d)), {})],
        "adam_update": [
            ((rng_p(), rng_p(), rng_p(), fresh(rng.uniform(size=(11, 5))), step, 0.9, 0.999, rc2, 1e-8), {})
            for step, rc2 in [(1e-3, 0.0316), (0.05, 0.5), (1e-3 / 0.1, 0.999**0.5)]
        ],
        "rmsprop_update": [
            ((rng_p(), rng_p(), fresh(rng.uniform(size=(11, 5))), lr, alpha, 1e-8), {})
            for lr, alpha in [(0.01, 0.99), (0.1, 0.9)]
        ],
        "softmax_cross_entropy": [
            ((fresh(x @ W), fresh(np.eye(5)[np.arange(37) % 5]), None), {}),
            ((fresh(30 * (x @ W)), fresh(np.full((37, 5), 0.2)), None), {}),  # large logits, soft targets
            ((fresh(x @ W), fresh(np.eye(5)[np.arange(37) % 5]), fresh(rng.uniform(size=37))), {}),
            ((fresh(x @ W), fresh(np.eye(5)[np.arange(37) % 5]), fresh(np.zeros(37))), {}),  # weights all 0
        ],
        "ema_update": [
            (([rng_p(), fresh(bias)], [rng_p(), fresh(rng.normal(size=5))], 0.99), {}),
            ((k.pack([rng_p(), fresh(bias)]), k.pack([rng_p(), fresh(rng.normal(size=5))]), 0.5), {}),
        ],
        "take_rows": [((X, b.asarray(np.array([4, 0, 36, 4]))), {}), ((X, b.asarray(np.array([1, 2]))), {"key": "X"})],
        "multiply": [((X, fresh(x)), {}), ((X, fresh(x)), {"key": "mul"}), ((D, B[:1]), {"key": "mul2"})],
        "pack": [(([fresh(c), fresh(bias), fresh(x)],), {}), (([],), {})],
        "zeros_like": [(([fresh(c), fresh(bias)],), {})],
        "optimizer_update": [
            (
                (
                    opt,
                    _state(k, opt, [rng_p(), fresh(bias)]),
                    k.pack([rng_p(), fresh(bias)]),
                    k.pack([rng_p(), fresh(bias)]),
                    opt.hyper(0.05, 3),
                ),
                {},
            )
            for opt in (
                mlp.Adam(0.01, weight_decay=0.1),
                mlp.AdamW(0.01, clip_norm=0.5),
                mlp.RMSProp(0.01, l1=0.01),
                mlp.SGD(0.1, momentum=0.9, weight_decay=0.01),
                mlp.SGD(0.1, momentum=0.9, nesterov=True),
            )
        ],
        "dropout_mask": [
            ((rows, 11, salt, rate, X.dtype), kw)
            for rows in (b.asarray(np.array([0, 5, 3, 1 << 30, 7], dtype=np.int32)),)
            for salt in (0, -123456789, 2**31 - 1)
            for rate in (0.0, 0.1, 0.5, 0.9)
            for kw in ({}, {"key": "drop"})
        ],
    }
    return k, cases


def _owned(k, b, host, dtype, key):
    """`host` in a buffer the kernels own (where in-place overrides apply)."""
    a = b.asarray(host, dtype, copy=True)
    return k.multiply(a, b.asarray(np.ones(1), dtype), key)


def _generic_args(b, args):
    """The same arguments as fresh copies (lists and dicts of arrays as plain ones): the generic
    kernels must see the inputs before any override worked in place on them."""

    def copy(a):
        if isinstance(a, dict):
            return {key: copy(v) for key, v in a.items()}
        if isinstance(a, list):
            return [copy(v) for v in a]
        return b.asarray(b.to_numpy(a), copy=True) if hasattr(a, "__array_namespace__") or b.owns(a) else a

    return tuple(copy(a) for a in args)


def test_gradient_buffers_are_none_or_zeros_shaped_like_the_parameters(rng):
    params = [rng.normal(size=(4, 3)), rng.normal(size=3)]
    assert GENERIC.gradient_buffers(params) is None  # fresh gradients
    for name in OWN_KERNELS:
        b = backends.get(name)
        k = b.kernels()
        p = [b.asarray(a) for a in params]
        buffers = k.gradient_buffers(p)
        if buffers is None:
            continue
        assert [tuple(g.shape) for g in buffers] == [(4, 3), (3,)]
        assert all(np.all(b.to_numpy(g) == 0) for g in buffers)
        assert k.gradient_buffers(p) is buffers  # kept for the run: scratch that backward overwrites


def test_compile_returns_the_step_or_one_that_computes_the_same(rng):
    """Kernels that do not compile return the step itself; those that do (JAX) a step that computes
    what the step computes, traced once per shape and reused under the same key."""
    X = rng.normal(size=(5, 3))

    def step(ts, x, lr):
        return [p - lr * p for p in ts], x.sum()

    assert GENERIC.compile(step, {}, "k") is step
    for name in OWN_KERNELS:
        b = backends.get(name)
        cache = {}
        compiled = b.kernels().compile(step, cache, "k")
        if compiled is step:
            continue
        ts = [b.asarray(np.ones((3, 2))), b.asarray(np.full(2, 2.0))]
        want = step([b.asarray(np.ones((3, 2))), b.asarray(np.full(2, 2.0))], b.asarray(X), 0.5)
        got = compiled(ts, b.asarray(X), 0.5)
        for g, w in zip(_flat_arrays(got), _flat_arrays(want)):
            np.testing.assert_allclose(b.to_numpy(g), b.to_numpy(w), rtol=1e-12)
        assert b.kernels().compile(step, cache, "k")(want[0], b.asarray(X), 0.25) is not None
        assert cache["k"]["traces"] == 1  # the same shapes under the same key: no new trace


def _state(k, opt, like):
    """An optimizer state with values, laid out as kernels `k` pack it."""
    state = opt.init(like, k)
    return {key: k.pack([a + 0.25 for a in arrays]) for key, arrays in state.items()}


def test_every_kernel_method_has_a_case(rng):
    _, cases = _cases(backends.get("numpy"), "float64", rng)
    assert sorted([*cases, *RUN_METHODS]) == METHODS
    assert all(name in globals() for name in RUN_METHODS.values())


def _flat_arrays(result):
    """Every array in a kernel's result (tuples, lists and dicts of arrays), in order."""
    if isinstance(result, dict):
        return [a for key in sorted(result) for a in _flat_arrays(result[key])]
    if isinstance(result, (tuple, list)):
        return [a for r in result for a in _flat_arrays(r)]
    return [result]


def _params(f):
    return [(p.name, p.kind, p.default) for p in inspect.signature(f).parameters.values()]


def test_overrides_keep_the_generic_signatures(fast_backend):
    k = fast_backend.kernels()
    for name in METHODS:
        assert _params(getattr(type(k), name)) == _params(getattr(Kernels, name)), name


@pytest.mark.parametrize("method", [m for m in METHODS if m not in RUN_METHODS])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_kernels_match_generic(fast_backend, method, dtype, rng):
    b = fast_backend
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == "float32" else dict(rtol=1e-12, atol=1e-12)
    k, cases = _cases(b, dtype, rng)
    for args, kw in cases[method]:
        expected = getattr(GENERIC, method)(*_generic_args(b, args), **kw)
        got = getattr(k, method)(*args, **kw)
        got, expected = _flat_arrays(got), _flat_arrays(expected)  # updates return every array they change
        assert len(got) == len(expected), method
        for g, e in zip(got, expected):
            g, e = b.to_numpy(g), b.to_numpy(e)
            if method == "relu_backward":  # where y is NaN the specification leaves 0 or delta
                free = np.isnan(b.to_numpy(args[1]))
                g, e = np.where(free, 0, g), np.where(free, 0, e)
            np.testing.assert_allclose(g, e, **tol, err_msg=f"{method}{kw}")


@pytest.mark.parametrize("name", [n for n in OWN_KERNELS if backends.get(n).kernels().buffered])
def test_keyed_buffers_are_reused_and_fresh_results_are_not(name, rng):
    fast_backend = backends.get(name)
    k = fast_backend.kernels()
    X = fast_backend.asarray(rng.normal(size=(8, 3)))
    W = fast_backend.asarray(rng.normal(size=(3, 2)))
    first = k.matmul(X, W, "s")
    assert k.matmul(X, W, "s") is first and k.owns(first)
    assert k.matmul(X, W) is not k.matmul(X, W) and not k.owns(k.matmul(X, W))


OPTIMIZERS = [
    lambda: mlp.SGD(0.1),
    lambda: mlp.SGD(0.1, weight_decay=0.01),
    lambda: mlp.SGD(0.05, momentum=0.9),
    lambda: mlp.SGD(0.05, momentum=0.9, weight_decay=0.01),
    lambda: mlp.SGD(0.05, momentum=0.9, nesterov=True),
    lambda: mlp.Adam(0.01),
    lambda: mlp.SGD(0.1, clip_norm=0.5),
]


@pytest.mark.parametrize(
    "make_opt", OPTIMIZERS, ids=["sgd", "sgd-wd", "momentum", "momentum-wd", "nesterov", "adam", "clip"]
)
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_training_fast_equals_generic(fast_backend, make_opt, activation, rng):
    X, y = rng.normal(size=(103, 7)), rng.integers(0, 4, size=103)  # 103: a partial last batch

    def run(fast):
        model = mlp.MLP([7, 16, 12, 4], activation, "softmax", backend=fast_backend, dtype="float64", seed=1)
        h = mlp.train(model, X, y, optimizer=make_opt(), epochs=3, batch_size=16, seed=2, progress=False, fast=fast)
        return h.loss, model.get_weights()

    (l_fast, w_fast), (l_gen, w_gen) = run(True), run(False)
    np.testing.assert_allclose(l_fast, l_gen, rtol=1e-12)
    for a, b in zip(w_fast, w_gen):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_kernels_never_write_user_arrays(fast_backend, rng):
    X = rng.normal(size=(20, 3))
    X_copy = X.copy()
    model = mlp.Sequential(mlp.ReLU(), mlp.Dense(3, 2), backend=fast_backend, dtype="float64")
    mlp.train(model, X, rng.normal(size=(20, 2)), loss="mse", epochs=2, batch_size=5, progress=False)
    np.testing.assert_array_equal(X, X_copy)  # ReLU applied first must not run in place on the data
    assert not fast_backend.kernels().owns(X)


def test_kernel_gradients_equal_value_and_grad(fast_backend, rng):
    """Gradients through the backend's kernels (no sinks) equal the generic path's."""
    X, y = rng.normal(size=(9, 5)), rng.integers(0, 3, size=9)
    model = mlp.MLP([5, 8, 3], "relu", "softmax", backend=fast_backend, dtype="float64", seed=3)
    _, ref = mlp.value_and_grad(model, "cross_entropy", X, y)
    loss = mlp.get_loss("cross_entropy")
    T = loss.prepare(y, 3, model.backend, model.dtype)
    ctx = mlp.Context(training=True, keep=True, kernels=fast_backend.kernels())
    _, grads, _ = loss_and_grads(model, loss, model.params, model.state, model.prepare_input(X), T, ctx)
    for a, b in zip(grads, ref):
        np.testing.assert_allclose(fast_backend.to_numpy(a), fast_backend.to_numpy(b), rtol=1e-12, atol=1e-14)


class Square(mlp.Layer):
    """A user's layer written against the plain contract: no kernels, no sinks used."""

    def forward(self, params, state, x, ctx=mlp.nn.layer.EVAL):
        return x * x, state, x

    def backward(self, params, saved, delta, ctx=mlp.nn.layer.EVAL, sinks=None, need_input_grad=True):
        return 2 * saved * delta, []


def test_custom_layers_train_with_backend_kernels(fast_backend, rng):
    X, y = rng.normal(size=(30, 3)), rng.normal(size=(30, 1))
    model = mlp.Sequential(mlp.Dense(3, 4), Square(), mlp.Dense(4, 1), backend=fast_backend, dtype="float64")
    h = mlp.train(
        model, X, y, loss="mse", optimizer=mlp.SGD(0.01, momentum=0.9), epochs=3, batch_size=8, progress=False
    )
    assert len(h.loss) == 3 and np.all(np.isfinite(h.loss))


def test_a_dense_layer_and_its_relu_in_one_call_equal_the_two_layers(rng):
    """The network hands Dense + ReLU to ``affine_relu`` in one call; the output, the tape and the
    gradients equal those of the two layers' own forward passes, on every backend."""
    from mlp.nn.layer import Context

    X, y = rng.normal(size=(11, 5)), rng.integers(0, 3, size=11)
    for name in backends.available():
        model = mlp.MLP([5, 8, 6, 3], "relu", backend=name, dtype="float64", seed=0)
        assert model.net.bias_relu == {0, 2}
        b, out = model.backend, []
        for pairs in (set(model.net.bias_relu), set()):
            model.net.bias_relu = pairs
            ctx = Context(training=True, keep=False, count=11, total=11)
            o, _, tape = model.net.forward(model.params, model.state, model.prepare_input(X), ctx)
            value, grads = mlp.value_and_grad(model, "softmax_cross_entropy", X, y)
            saved = [a for t in tape for a in (t if isinstance(t, tuple) else (t,)) if a is not None]
            out.append([b.to_numpy(o), *map(b.to_numpy, saved), value, *map(b.to_numpy, grads)])
        for fused, layered in zip(*out):
            np.testing.assert_array_equal(fused, layered, err_msg=name)
