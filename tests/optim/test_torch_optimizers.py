"""Each optimizer's first steps match PyTorch's optimizer of the same name on the same gradients."""

from __future__ import annotations

import numpy as np
import pytest

import mlp

torch = pytest.importorskip("torch", reason="PyTorch optimizers are the oracle")


CASES = [
    ("sgd", lambda: mlp.SGD(0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
    ("momentum", lambda: mlp.SGD(0.1, momentum=0.9), lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)),
    (
        "nesterov",
        lambda: mlp.SGD(0.1, momentum=0.9, nesterov=True),
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
    ),
    (
        "sgd-wd",
        lambda: mlp.SGD(0.1, momentum=0.5, weight_decay=0.01, decay_bias=True),
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.5, weight_decay=0.01),
    ),
    ("adam", lambda: mlp.Adam(0.01), lambda p: torch.optim.Adam(p, lr=0.01)),
    (
        "adam-wd",
        lambda: mlp.Adam(0.01, weight_decay=0.1, decay_bias=True),
        lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.1),
    ),
    (
        "adamw",
        lambda: mlp.AdamW(0.01, weight_decay=0.1, decay_bias=True),
        lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1),
    ),
    ("rmsprop", lambda: mlp.RMSProp(0.01), lambda p: torch.optim.RMSprop(p, lr=0.01)),
]


@pytest.mark.parametrize("name,ours,theirs", CASES, ids=[c[0] for c in CASES])
def test_first_steps_match_torch(backend, name, ours, theirs, rng):
    shapes = [(4, 3), (3,)]
    init = [rng.normal(size=s) for s in shapes]
    grads = [[rng.normal(size=s) for s in shapes] for _ in range(5)]
    params = [backend.backend.asarray(w, "float64", copy=True) for w in init]
    opt = ours()
    tparams = [torch.tensor(w, requires_grad=True) for w in init]
    topt = theirs(tparams)
    for step, gs in enumerate(grads):
        opt.step(params, [backend.backend.asarray(g, "float64") for g in gs])
        for t, g in zip(tparams, gs):
            t.grad = torch.tensor(g)
        topt.step()
        for p, t in zip(params, tparams):
            np.testing.assert_allclose(
                backend.host(p), t.detach().numpy(), rtol=1e-12, atol=1e-14, err_msg=f"{name} step {step + 1}"
            )


def test_clip_norm_matches_torch(backend, rng):
    g = [rng.normal(size=(5, 2)) * 10, rng.normal(size=2) * 10]
    params = [backend.backend.asarray(np.zeros(s.shape), "float64", copy=True) for s in g]
    mlp.SGD(1.0, clip_norm=1.5).step(params, [backend.backend.asarray(x, "float64") for x in g])
    tp = [torch.zeros(s.shape, dtype=torch.float64, requires_grad=True) for s in g]
    for t, x in zip(tp, g):
        t.grad = torch.tensor(x)
    torch.nn.utils.clip_grad_norm_(tp, 1.5)
    torch.optim.SGD(tp, lr=1.0).step()
    for p, t in zip(params, tp):
        np.testing.assert_allclose(backend.host(p), t.detach().numpy(), rtol=1e-6)


def test_biases_are_not_decayed_by_default():
    params = [np.ones((2, 2)), np.ones(2)]
    mlp.SGD(0.1, weight_decay=0.5).step(params, [np.zeros((2, 2)), np.zeros(2)])
    np.testing.assert_allclose(params[0], 0.95)
    np.testing.assert_allclose(params[1], 1.0)
    mlp.SGD(0.1, l1=0.5).step(params, [np.zeros((2, 2)), np.zeros(2)])
    np.testing.assert_allclose(params[0], 0.9)


def test_schedules():
    assert mlp.TimeDecay(0.5)(4, 0.3) == pytest.approx(0.1)
    assert mlp.StepDecay(10, 0.5)(25, 1.0) == pytest.approx(0.25)
    assert mlp.InverseScaling(0.5)(3, 1.0) == pytest.approx(0.5)
    s = mlp.ReduceOnPlateau(factor=0.5, patience=1)
    for loss in [1.0, 0.9, 0.9, 0.9, 0.9]:
        s.observe(loss)
    assert s(0, 1.0) == pytest.approx(0.5)


@pytest.mark.parametrize(
    "bad,match",
    [
        (dict(lr=0), "lr must be a finite number > 0"),
        (dict(lr=-1), "lr must be"),
        (dict(momentum=1.5), "momentum must be"),
        (dict(nesterov=True), "nesterov=True needs momentum"),
        (dict(weight_decay=-1), "weight_decay must be"),
    ],
)
def test_bad_optimizer_settings(bad, match):
    with pytest.raises(ValueError, match=match):
        mlp.SGD(**{"lr": 0.1, **bad})
    with pytest.raises(ValueError, match="optimizer must be one of"):
        mlp.get_optimizer("adagrad")


def test_cosine_decay():
    s = mlp.CosineDecay(10, min_factor=0.1)
    assert s(0, 1.0) == pytest.approx(1.0) and s(5, 1.0) == pytest.approx(0.55) and s(10, 1.0) == pytest.approx(0.1)
    assert s(25, 1.0) == pytest.approx(0.1)  # constant after `epochs`
    warm = mlp.CosineDecay(10, warmup=2)
    assert [warm(e, 1.0) for e in (0, 1)] == pytest.approx([1 / 3, 2 / 3]) and warm(2, 1.0) == pytest.approx(1.0)
    from mlp.optim.schedules import get_schedule

    assert get_schedule("cosine").config()["class"] == "CosineDecay"
    with pytest.raises(ValueError, match="CosineDecay min_factor"):
        mlp.CosineDecay(10, min_factor=1.5)


def test_adam_eps_hat_is_the_papers_efficient_form():
    """eps_hat: p ← p − lr·√(1 − b2^t)/(1 − b1^t) · m / (√v + ε̂), checked by hand on one weight."""
    g = np.array([[1e-7, 2.0]])
    for eps_hat in (False, True):
        p = [np.zeros((1, 2))]
        opt = mlp.Adam(0.1, eps=1e-6, eps_hat=eps_hat)
        opt.step(p, [g.copy()])
        m, v = 0.1 * g, 0.001 * g * g
        if eps_hat:
            want = -0.1 * np.sqrt(1 - 0.999) / (1 - 0.9) * m / (np.sqrt(v) + 1e-6)
        else:
            want = -0.1 * (m / 0.1) / (np.sqrt(v / 0.001) + 1e-6)
        np.testing.assert_allclose(p[0], want, rtol=1e-12)
    assert mlp.Adam(eps_hat=True).config()["eps_hat"] is True
    with pytest.raises(TypeError, match="eps_hat must be True or False"):
        mlp.Adam(eps_hat="yes")
