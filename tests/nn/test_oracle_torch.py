"""Independent oracle: outputs and gradients equal PyTorch autograd on the same weights."""

from __future__ import annotations

import numpy as np
import pytest

import mlp

torch = pytest.importorskip("torch", reason="PyTorch is the oracle")


F = torch.nn.functional


ACT = {
    "identity": lambda s: s,
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "leaky_relu": lambda s: F.leaky_relu(s, 0.01),
    "abs": torch.abs,
    "softplus": F.softplus,
    "gelu": lambda s: F.gelu(s, approximate="tanh"),
    "softmax": lambda s: torch.softmax(s, dim=1),
}


def torch_loss(name, out, y):
    n = out.shape[0]
    if name == "mse":
        return 0.5 * ((out - y) ** 2).sum() / n
    if name == "cross_entropy":  # out are probabilities from softmax
        return F.nll_loss(torch.log(out), y, reduction="mean")
    if name == "cross_entropy_ls":
        return F.cross_entropy(out, y, label_smoothing=0.2)  # out are logits here
    if name == "bce":
        return F.binary_cross_entropy(out, y, reduction="sum") / n
    if name == "kl":
        return F.kl_div(torch.log(out), y, reduction="batchmean")
    if name == "hinge":
        return torch.clamp(1 - y * out, min=0).sum() / n
    raise KeyError(name)


CASES = [  # activation, output, our loss, oracle loss
    ("relu", "softmax", "cross_entropy", "cross_entropy"),
    ("tanh", "identity", "mse", "mse"),
    ("sigmoid", "sigmoid", "bce", "bce"),
    ("gelu", "softmax", "kl", "kl"),
    ("softplus", "identity", mlp.CrossEntropy(label_smoothing=0.2, from_logits=True), "cross_entropy_ls"),
    ("leaky_relu", "identity", "hinge", "hinge"),
    ("abs", "softmax", "cross_entropy", "cross_entropy"),
]


@pytest.mark.parametrize("activation,output,loss,oracle", CASES, ids=[c[3] + "-" + c[0] for c in CASES])
def test_matches_torch_autograd(backend, activation, output, loss, oracle, rng):
    n, sizes = 9, [6, 7, 5, 4]
    if oracle in ("mse", "hinge"):
        sizes[-1] = 1 if oracle == "hinge" else 4
    k = sizes[-1]
    X = rng.normal(size=(n, sizes[0]))
    if oracle in ("cross_entropy", "cross_entropy_ls"):
        y = rng.integers(0, k, size=n)
        ty = torch.tensor(y)
    elif oracle == "kl":
        y = rng.dirichlet(np.ones(k), size=n)
        ty = torch.tensor(y)
    elif oracle == "bce":
        y = rng.integers(0, 2, size=(n, k)).astype(float)
        ty = torch.tensor(y)
    elif oracle == "hinge":
        y = rng.choice([-1.0, 1.0], size=n)
        ty = torch.tensor(y).reshape(n, 1)
    else:
        y = rng.normal(size=(n, k))
        ty = torch.tensor(y)
    model = backend.model(sizes, activation, output, seed=11)
    ours_out = backend.host(model(backend.data(X)))
    value, grads = mlp.value_and_grad(model, loss, backend.data(X), backend.data(y))

    tw = [torch.tensor(w, requires_grad=True) for w in model.get_weights()]
    h = torch.tensor(X)
    for i in range(0, len(tw), 2):
        h = h @ tw[i] + tw[i + 1]
        h = ACT[output if i == len(tw) - 2 else activation](h)
    tl = torch_loss(oracle, h, ty)
    tl.backward()
    np.testing.assert_allclose(ours_out, h.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(value, tl.item(), rtol=1e-10)
    for i, (g, t) in enumerate(zip(grads, tw)):
        np.testing.assert_allclose(backend.host(g), t.grad.numpy(), rtol=1e-8, atol=1e-12, err_msg=f"grad {i}")
