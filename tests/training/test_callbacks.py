"""Callbacks as classes (Keras' and skorch's hooks) beside plain functions: the order of the hooks,
per-batch hooks without host reads unless asked, stopping from a batch or an epoch, and the built-in
EarlyStopping, ModelCheckpoint, CSVLogger and TensorBoard, end to end."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from helpers import needs

import mlp


def _data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    return X, (X[:, 0] - X[:, 1] > 0).astype(int)


class Recorder(mlp.Callback):
    def __init__(self):
        self.calls = []

    def on_train_begin(self, model, logs):
        self.calls.append(("train_begin", logs["epochs"], logs["steps_per_epoch"]))

    def on_epoch_begin(self, epoch, model):
        self.calls.append(("epoch_begin", epoch))

    def on_batch_end(self, step, logs, model):
        self.calls.append(("batch", step, logs["epoch"], logs["batch"], isinstance(logs["loss"], float)))

    def on_epoch_end(self, epoch, logs, model):
        self.calls.append(("epoch_end", epoch, round(logs["loss"], 12)))

    def on_train_end(self, model, history):
        self.calls.append(("train_end", history.epochs))


def test_hooks_are_called_in_order_and_batch_logs_stay_on_the_device():
    needs("array_api_strict", "test")
    X, y = _data()
    rec, seen = Recorder(), []
    h = mlp.train(
        mlp.MLP([5, 8, 2], seed=0, backend="array_api_strict"),
        X,
        y,
        epochs=2,
        batch_size=32,
        progress=False,
        callbacks=[rec, lambda epoch, logs, model: seen.append(epoch)],  # a plain function still works
    )
    assert rec.calls[0] == ("train_begin", 2, 3) and rec.calls[-1] == ("train_end", 2)
    assert [c[:2] for c in rec.calls[1:6]] == [
        ("epoch_begin", 0),
        ("batch", 0),
        ("batch", 1),
        ("batch", 2),
        ("epoch_end", 0),
    ]
    steps = [c[1] for c in rec.calls if c[0] == "batch"]
    assert steps == list(range(6)) and not any(c[4] for c in rec.calls if c[0] == "batch")  # device scalars
    assert [c[2] for c in rec.calls if c[0] == "epoch_end"] == [round(v, 12) for v in h.loss]
    assert seen == [0, 1]


def test_a_batch_hook_asking_for_host_losses_gets_floats_and_can_stop():
    class StopAt(mlp.Callback):
        batch_loss_on_host = True

        def __init__(self):
            self.losses = []

        def on_batch_end(self, step, logs, model):
            self.losses.append(logs["loss"])
            return step == 4

    X, y = _data()
    cb = StopAt()
    h = mlp.train(mlp.MLP([5, 8, 2], seed=0), X, y, epochs=5, batch_size=32, progress=False, callbacks=[cb])
    assert all(isinstance(v, float) for v in cb.losses) and len(cb.losses) == 5
    assert h.epochs == 2 and h.stop_reason == "callback"


def test_early_stopping_restores_the_best_weights():
    X, y = _data()
    stop = mlp.EarlyStopping("val_loss", patience=2)
    model = mlp.MLP([5, 8, 2], seed=0)
    h = mlp.train(
        model, X, y, optimizer=mlp.SGD(3.0), epochs=40, validation_fraction=0.25, progress=False, callbacks=[stop]
    )
    assert h.stop_reason == "callback" and stop.stopped_epoch is not None
    best = int(np.argmin(h.val_loss))
    assert stop.best_epoch == best and stop.best == pytest.approx(min(h.val_loss))
    for a, b in zip(model.get_weights(), stop.best_weights[0]):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="EarlyStopping monitors 'val_accuracy', which this run does not report"):
        mlp.train(mlp.MLP([5, 2]), X, y, epochs=1, progress=False, callbacks=[mlp.EarlyStopping("val_accuracy")])


def test_model_checkpoint_saves_the_best_model_and_csv_logger_writes_every_epoch(tmp_path):
    X, y = _data()
    ckpt = mlp.ModelCheckpoint(tmp_path / "best.npz", monitor="val_loss")
    every = mlp.ModelCheckpoint(tmp_path / "e{epoch}.npz", save_best_only=False)
    log = mlp.CSVLogger(tmp_path / "log.csv")
    model = mlp.MLP([5, 8, 2], seed=0)
    h = mlp.train(model, X, y, epochs=4, validation_fraction=0.25, progress=False, callbacks=[ckpt, every, log])
    assert sorted(p.name for p in tmp_path.glob("e*.npz")) == ["e1.npz", "e2.npz", "e3.npz", "e4.npz"]
    best = int(np.argmin(h.val_loss))
    np.testing.assert_array_equal(
        mlp.load(tmp_path / "best.npz").get_weights()[0], mlp.load(tmp_path / f"e{best + 1}.npz").get_weights()[0]
    )
    with open(tmp_path / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    np.testing.assert_allclose([float(r["loss"]) for r in rows], h.loss)
    np.testing.assert_allclose([float(r["val_loss"]) for r in rows], h.val_loss)
    assert {"lr", "seconds"} <= set(rows[0])


def _scalars(folder):
    """{tag: [(step, value)]} from the event files in `folder` (TFRecord framing, tensorboardX's protos)."""
    import struct

    from tensorboardX.proto import event_pb2

    out = {}
    for path in sorted(folder.iterdir()):
        raw, at = path.read_bytes(), 0
        while at < len(raw):
            (n,) = struct.unpack("<Q", raw[at : at + 8])
            event = event_pb2.Event.FromString(raw[at + 12 : at + 12 + n])
            at += 16 + n
            for v in event.summary.value:
                out.setdefault(v.tag, []).append((event.step, v.simple_value))
    return out


def test_tensorboard_writes_epoch_and_batch_scalars(tmp_path):
    needs("tensorboardX", "tensorboard")
    X, y = _data()
    h = mlp.train(
        mlp.MLP([5, 8, 2], seed=0),
        X,
        y,
        epochs=3,
        batch_size=32,
        progress=False,
        callbacks=[mlp.TensorBoard(tmp_path / "tb", batch_every=2)],
    )
    scalars = _scalars(tmp_path / "tb")
    assert [s for s, _ in scalars["epoch/loss"]] == [1, 2, 3]
    np.testing.assert_allclose([v for _, v in scalars["epoch/loss"]], h.loss, rtol=1e-6)
    assert [s for s, _ in scalars["batch/loss"]] == [0, 2, 4, 6, 8]


def test_callbacks_must_be_objects_or_functions():
    X, y = _data()
    with pytest.raises(TypeError, match="got the class EarlyStopping \\(call it: EarlyStopping\\(\\)\\)"):
        mlp.train(mlp.MLP([5, 2]), X, y, epochs=1, progress=False, callbacks=[mlp.EarlyStopping])
    with pytest.raises(TypeError, match="got int"):
        mlp.train(mlp.MLP([5, 2]), X, y, epochs=1, progress=False, callbacks=[3])
