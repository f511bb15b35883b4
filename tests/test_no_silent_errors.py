"""Every combination a user can write either works or says why (issue: no silent wrong answers)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import needs

import mlp


@pytest.fixture(scope="module")
def digits():
    ds = mlp.data.digits()
    return ds.X_train / 16, ds.y_train, ds.X_test / 16, ds.y_test


def test_defaults_train_a_classifier(digits):
    """mlp.MLP's default head (scores, as PyTorch's nn.Linear) with train's default loss."""
    X, y, Xt, yt = digits
    model = mlp.MLP([64, 64, 10])
    h = mlp.train(model, X, y, epochs=10, progress=False)
    assert h.loss[-1] > 0 and mlp.metrics.accuracy(yt, model(Xt)) > 0.8  # chance is 0.1


@pytest.mark.parametrize(
    "output,loss,match",
    [
        (
            "identity",
            "cross_entropy",
            r"loss 'cross_entropy' expects probabilities.*output='softmax'.*'softmax_cross_entropy'",
        ),
        ("identity", "bce", r"loss 'bce' expects probabilities.*output='sigmoid'.*'bce_logits'"),
        ("identity", "binary_cross_entropy", r"loss 'bce' expects probabilities"),
        ("identity", "kl_divergence", r"loss 'kl_divergence' expects probabilities.*KLDivergence\(from_logits=True\)"),
        ("sigmoid", "cross_entropy", r"expects probabilities.*output='softmax'"),
        ("softmax", "softmax_cross_entropy", r"takes scores \(logits\).*ends|takes scores \(logits\).*Softmax"),
        ("sigmoid", "bce_logits", r"loss 'bce_logits' takes scores \(logits\).*use loss='bce'"),
    ],
)
def test_loss_and_output_that_do_not_fit_are_refused(output, loss, match):
    model = mlp.MLP([4, 3, 2 if output != "sigmoid" else 1], output=output)
    X, y = np.zeros((4, 4)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match=match):
        mlp.train(model, X, y, loss=loss, progress=False)
    with pytest.raises(ValueError, match=match):
        mlp.value_and_grad(model, loss, X, y)


def test_one_unbounded_output_needs_a_named_loss():
    with pytest.raises(ValueError, match="loss must be named.*'mse' for regression.*'bce_logits'"):
        mlp.train(mlp.MLP([2, 1]), np.zeros((4, 2)), np.zeros(4), progress=False)


@pytest.mark.parametrize("flag", ["bce", "binary_cross_entropy"])
def test_cli_asks_the_loss_for_its_output(flag, capsys):
    import json

    from mlp.cli import main

    args = ["train", "--json", "--no-progress", "--dataset", "moons", "--epochs", "20", "--hidden", "8"]
    assert main([*args, "--loss", flag]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["sizes"][-1] == 1 and out["test_accuracy"] > 0.7


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("lr", [1.0, 1e12], ids=["outputs-overflow", "weights-overflow"])
def test_the_last_update_of_an_epoch_is_checked(backend, lr):
    """One full-batch step whose loss is finite but whose update overflows float32."""
    model = mlp.Sequential(mlp.Dense(1, 1, bias=False), backend=backend.backend, dtype="float32", init=1.0)
    model.set_weights([np.ones((1, 1))])
    X, y = np.array([[1e18]]), np.array([0.0])
    with pytest.raises(mlp.DivergenceError, match="training diverged"):
        mlp.train(
            model,
            backend.data(X),
            backend.data(y),
            loss="mse",
            optimizer="sgd",
            lr=lr,
            batch_size=None,
            epochs=1,
            progress=False,
        )
    np.testing.assert_array_equal(model.get_weights()[0], [[1.0]])  # the weights whose loss was finite
    assert np.all(np.isfinite(backend.host(model(backend.data(X)))))


def test_validation_data_is_checked_up_front(rng):
    model = mlp.MLP([3, 4, 2], output="softmax")
    X, y = rng.normal(size=(10, 3)), rng.integers(0, 2, size=10)
    seen = []
    cb = [lambda e, logs, m: seen.append(e)]
    with pytest.raises(ValueError, match=r"validation y must have one target per sample of validation X \(4\); got 3"):
        mlp.train(model, X, y, validation=(X[:4], y[:3]), callbacks=cb, progress=False)
    with pytest.raises(ValueError, match=r"validation y labels must be in \[0, 2\)"):
        mlp.train(model, X, y, validation=(X[:3], np.array([0, 1, 5])), callbacks=cb, progress=False)
    with pytest.raises(TypeError, match="validation X must hold real numbers"):
        mlp.train(model, X, y, validation=(np.array([["a", "b", "c"]]), [0]), callbacks=cb, progress=False)
    with pytest.raises(ValueError, match="validation X must have 3 features"):
        mlp.train(model, X, y, validation=(X[:, :2], y), callbacks=cb, progress=False)
    assert seen == []  # refused before the first epoch


@pytest.mark.parametrize(
    "change,match",
    [
        (dict(optimizer=lambda: mlp.SGD(0.1, momentum=0.5)), r"optimizer\.momentum: 0\.9 in the checkpoint, 0\.5"),
        (dict(optimizer=lambda: mlp.SGD(0.05, momentum=0.9)), r"optimizer\.lr: 0\.1 in the checkpoint, 0\.05"),
        (dict(optimizer=lambda: mlp.Adam(0.1)), r"optimizer\.class: 'SGD' in the checkpoint, 'Adam'"),
        (
            dict(optimizer=lambda: mlp.SGD(0.1, momentum=0.9, schedule=mlp.StepDecay(2))),
            r"optimizer\.schedule\.class: 'Constant' in the checkpoint, 'StepDecay'",
        ),
        (dict(activation="relu"), r"layers\.1\.type: 'Tanh' in the checkpoint, 'ReLU'"),
        (
            dict(loss=lambda: mlp.CrossEntropy(label_smoothing=0.1)),
            r"loss\.label_smoothing: 0\.0 in the checkpoint, 0\.1",
        ),
    ],
)
def test_resume_names_what_differs(change, match, tmp_path, rng):
    X, y = rng.normal(size=(30, 3)), rng.integers(0, 2, size=30)

    def run(epochs, activation="tanh", optimizer=lambda: mlp.SGD(0.1, momentum=0.9), loss=mlp.CrossEntropy, **kw):
        model = mlp.MLP([3, 4, 2], activation, "softmax", dtype="float64")
        return mlp.train(model, X, y, loss=loss(), optimizer=optimizer(), epochs=epochs, progress=False, **kw)

    ckpt = tmp_path / "c.npz"
    run(1, checkpoint=ckpt)
    with pytest.raises(ValueError, match="resume checkpoint .* was written by a different run: .*" + match):
        run(2, resume=ckpt, **change)
    assert run(2, resume=ckpt).epochs == 2  # the same run resumes


def test_saved_files_get_plain_permissions_and_symlinks_write_their_target(tmp_path):
    import os

    model = mlp.MLP([2, 2])
    old = os.umask(0o027)
    try:
        model.save(tmp_path / "m.npz")
    finally:
        os.umask(old)
    assert (tmp_path / "m.npz").stat().st_mode & 0o777 == 0o640
    (tmp_path / "real").mkdir()
    (tmp_path / "link.npz").symlink_to(tmp_path / "real" / "target.npz")
    model.save(tmp_path / "link.npz")
    assert (tmp_path / "link.npz").is_symlink() and (tmp_path / "real" / "target.npz").is_file()
    assert mlp.load(tmp_path / "link.npz").n_features == 2


def test_leftovers_of_an_interrupted_save_are_cleaned(tmp_path):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    leftover = tmp_path / f".m.npz.{int(dead.stdout)}.abc123.mlp-tmp"
    leftover.write_bytes(b"half a file")
    import os

    mine = tmp_path / f".m.npz.{os.getpid()}.xyz789.mlp-tmp"  # a save in progress (this process runs)
    mine.write_bytes(b"in progress")
    mlp.MLP([2, 2]).save(tmp_path / "m.npz")
    assert not leftover.exists() and mine.exists()


def test_jax_never_switches_64_bit_mode_on_behind_the_users_back():
    pytest.importorskip("jax")
    import subprocess
    import sys

    code = (
        "import jax, mlp, numpy as np\n"
        "m = mlp.MLP([2, 2], backend='jax', dtype='float32'); m(np.zeros((1, 2)))\n"
        "print(jax.config.jax_enable_x64)\n"
        "try:\n    mlp.MLP([2, 2], backend='jax', dtype='float64')\n"
        "except ValueError as e:\n    print(e)\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "JAX_ENABLE_X64"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    first, second = r.stdout.strip().splitlines()
    assert first == "False"
    assert "dtype 'float64' on the jax backend needs JAX's 64-bit mode" in second and "JAX_ENABLE_X64=1" in second


def test_plotting_leaves_matplotlib_backend_alone(tmp_path):
    needs("matplotlib", "plot")
    import subprocess
    import sys

    code = (
        "import matplotlib; matplotlib.use('svg')\n"
        "import mlp\nfrom mlp.plotting import plot_history\n"
        f"plot_history(mlp.History(loss=[1.0, 0.5]), {str(tmp_path / 'p.png')!r})\n"
        "print(matplotlib.get_backend())\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "svg" and (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "make,err,match",
    [
        (
            lambda: mlp.train(mlp.MLP([2, 2]), np.zeros((4, 2)), [0, 1, 0, 1], seed=-1, progress=False),
            ValueError,
            r"seed must be an integer >= 0 or None; got -1",
        ),
        (
            lambda: mlp.train(mlp.MLP([2, 2]), np.zeros((4, 2)), [0, 1, 0, 1], seed="a", progress=False),
            TypeError,
            r"seed must be an integer >= 0 or None; got str",
        ),
        (lambda: mlp.MLP([2, 2], seed=1.5), TypeError, r"seed must be an integer"),
        (lambda: mlp.Adam(betas=0.9), TypeError, r"betas must be a pair"),
        (lambda: mlp.Adam(betas=(0.9, 1.0)), ValueError, r"betas\[1\] must be in \[0, 1\); got 1.0"),
        (lambda: mlp.TimeDecay("fast"), TypeError, r"TimeDecay decay must be a real number"),
        (lambda: mlp.StepDecay(2.5), TypeError, r"StepDecay step must be an integer"),
        (lambda: mlp.StepDecay(2, gamma=0), ValueError, r"StepDecay gamma must be in \(0, 1\]"),
        (lambda: mlp.InverseScaling(power=-1), ValueError, r"InverseScaling power must be a finite number > 0"),
        (lambda: mlp.ReduceOnPlateau(patience=-1), ValueError, r"ReduceOnPlateau patience must be an integer >= 0"),
        (lambda: mlp.ReduceOnPlateau(threshold="x"), TypeError, r"ReduceOnPlateau threshold must be a real number"),
    ],
)
def test_arguments_are_checked_where_they_enter(make, err, match):
    with pytest.raises(err, match=match):
        make()


def test_sparse_input_is_named_as_sparse():
    sparse = pytest.importorskip("scipy.sparse")
    X = sparse.csr_matrix(np.eye(3))
    with pytest.raises(
        TypeError, match=r"X is a scipy sparse csr_matrix; mlp trains on dense arrays: pass X.toarray\(\)"
    ):
        mlp.MLP([3, 2])(X)


def test_float64_data_that_overflows_a_float32_model_is_named_as_overflow():
    model = mlp.MLP([2, 1], dtype="float32")
    with pytest.raises(ValueError, match=r"X holds values beyond the range of float32 .*dtype='float64'"):
        model(np.array([[1e300, 0.0]]))
    with pytest.raises(ValueError, match=r"y holds values beyond the range of float32"):
        mlp.train(model, np.zeros((2, 2)), np.array([1e300, 0.0]), loss="mse", progress=False)
    with pytest.raises(ValueError, match="X must be finite; it holds NaN"):
        model(np.array([[np.nan, 0.0]]))


def _cli(*args):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "mlp", *args], capture_output=True, text=True)


@pytest.mark.parametrize(
    "args,match",
    [
        (["--save", "/no/such/folder/m.npz"], "--save must be in an existing folder"),
        (["--checkpoint", "/no/such/folder/c.npz"], "--checkpoint must be in an existing folder"),
        (["--plot", "/no/such/folder/p.png"], "--plot must be in an existing folder"),
        (["--plot", "curves.txt"], "--plot 'curves.txt' must end in a picture format"),
        (["--validation-fraction", "1.5"], "argument --validation-fraction: must be in (0, 1)"),
        (["--label-smoothing", "1"], "argument --label-smoothing: must be in [0, 1)"),
        (["--momentum", "1.5"], "argument --momentum: must be in [0, 1)"),
    ],
)
def test_cli_checks_flags_and_output_paths_before_training(args, match, tmp_path):
    import time

    if "--plot" in args:
        needs("matplotlib", "plot")

    t0 = time.monotonic()
    r = _cli("train", "--epochs", "200", "--dataset", "digits", *args)
    assert r.returncode == 2 and r.stderr.startswith("mlp: error: ") and match in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and time.monotonic() - t0 < 30  # refused before 200 epochs ran


def test_cli_names_a_backend_that_is_not_installed():
    from mlp import backends

    missing = [e for e in backends.BACKENDS if not e.installed()]
    if not missing:
        pytest.skip("every backend's library is installed here")
    r = _cli("train", "--backend", missing[0].name)
    assert (
        r.returncode == 2
        and f"backend {missing[0].name!r} needs {missing[0].library}, which is not installed" in r.stderr
    )


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_save_refuses_weights_whose_outputs_overflow(tmp_path):
    model = mlp.MLP([3, 4, 1], dtype="float32")
    model.set_weights([np.full((3, 4), 1e30), np.zeros(4), np.full((4, 1), 1e30), np.zeros(1)])  # finite weights
    with pytest.raises(ValueError, match=r"outputs overflow to NaN or infinity on unit-scale inputs.*refusing to save"):
        model.save(tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []
