"""The epochs we are measured against: the same epoch's matrix products alone (the GEMM roofline),
PyTorch's eager loop on the same device, scikit-learn's MLPClassifier, PyTorch's small-model Adam."""

from __future__ import annotations

import numpy as np

from mlp import backends as _backends
from mlp.bench.timing import PRECISIONS, SMALL, median_time


def gemm_epoch(backend, sizes, n, batch, dtype="float32", precision="fp32"):
    """One epoch of only the matrix products (in the compute dtype): per batch and layer the forward
    x@W, the weight gradient xᵀ@δ, and δ@Wᵀ except for the first layer."""
    b = _backends.get(backend)
    rng = np.random.default_rng(0)
    full, rest = divmod(n, batch)
    shapes = [batch] + ([rest] if rest else [])
    cdt = dtype if precision == "fp32" else b.compute_dtype(PRECISIONS[precision])
    xp = b.xp

    def cast(a):
        return xp.astype(b.asarray(a, dtype), cdt) if precision != "fp32" else b.asarray(a, dtype)

    arrays = {m: [cast(rng.standard_normal((m, d))) for d in sizes] for m in shapes}
    Ws = [cast(rng.standard_normal((a, c)) * 0.01) for a, c in zip(sizes, sizes[1:])]

    def one_epoch():
        out = None
        for m, count in ((batch, full), (rest, 1 if rest else 0)):
            xs = arrays.get(m)
            for _ in range(count):
                for i, W in enumerate(Ws):
                    out = xs[i] @ W
                    out = xs[i].T @ xs[i + 1]
                    if i > 0:
                        out = xs[i + 1] @ W.T
        b.synchronize(out)  # JAX: wait for the last product (its queue runs in order); GPUs: the device
        return out

    return one_epoch


def time_gemm_epoch(backend, sizes, n, batch, repeats, dtype="float32"):
    """Median seconds of the GEMM-only epoch (after one warm-up)."""
    return median_time(gemm_epoch(backend, sizes, n, batch, dtype), repeats)


# -- peers ------------------------------------------------------------------------------
def torch_epoch(device, sizes, X, y, batch, lr=0.01, momentum=0.9, precision="fp32"):
    """PyTorch eager: same architecture, He-normal init, SGD with momentum, float32 weights, shuffled
    batches; bf16/fp16 through ``torch.autocast`` (and a GradScaler for fp16), as PyTorch users write it."""
    import torch

    torch.manual_seed(0)
    dev = torch.device(device)
    layers = []
    for i, (a, c) in enumerate(zip(sizes, sizes[1:])):
        lin = torch.nn.Linear(a, c)
        torch.nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
        torch.nn.init.zeros_(lin.bias)
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    lossf = torch.nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(X).to(dev), torch.from_numpy(y).to(dev)
    n = Xt.shape[0]
    gen = torch.Generator(device="cpu").manual_seed(0)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    scaler = torch.amp.GradScaler(dev.type) if precision == "fp16" else None

    def one_epoch():
        perm = torch.randperm(n, generator=gen).to(dev)
        Xe, ye = Xt[perm], yt[perm]
        total = torch.zeros((), device=dev)
        for s in range(0, n, batch):
            opt.zero_grad(set_to_none=True)
            with torch.autocast(dev.type, dtype=dtype, enabled=dtype is not None):
                loss = lossf(model(Xe[s : s + batch]), ye[s : s + batch])
            if scaler is None:
                loss.backward()
                opt.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            total += loss.detach() * min(batch, n - s)
        return float(total) / n  # reads the device: synchronizes

    return one_epoch


def time_torch_epoch(device, sizes, X, y, batch, repeats, lr=0.01, momentum=0.9):
    return median_time(torch_epoch(device, sizes, X, y, batch, lr, momentum), repeats)


def sklearn_epoch(sizes, X, y, batch, lr=0.01, momentum=0.9):
    """scikit-learn's MLPClassifier, solver='sgd', one epoch per partial_fit call."""
    import warnings

    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(
        hidden_layer_sizes=tuple(sizes[1:-1]),
        activation="relu",
        solver="sgd",
        alpha=0.0,
        batch_size=batch,
        learning_rate_init=lr,
        momentum=momentum,
        nesterovs_momentum=False,
        shuffle=True,
        random_state=0,
    )
    classes = np.arange(sizes[-1])

    def one_epoch():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.partial_fit(X, y, classes=classes)

    return one_epoch


def time_sklearn_epoch(sizes, X, y, batch, repeats, lr=0.01, momentum=0.9):
    return median_time(sklearn_epoch(sizes, X, y, batch, lr, momentum), repeats)


def torch_small_epoch(device, X, y):
    import torch

    torch.manual_seed(0)
    dev = torch.device(device)
    net = torch.nn.Sequential(
        torch.nn.Linear(26, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, 1)
    ).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    Xt, yt = torch.from_numpy(X).to(dev), torch.from_numpy(y)[:, None].to(dev)
    n, B = Xt.shape[0], SMALL["batch"]

    def one_epoch():
        perm = torch.randperm(n).to(dev)
        for s in range(0, n, B):
            idx = perm[s : s + B]
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.mse_loss(net(Xt[idx]), yt[idx]).backward()
            opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    return one_epoch
