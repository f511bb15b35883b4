"""The GPU path, checked on the CPU wherever a CPU can check it: device spellings and the backend
cache, the device context, host-side casts before upload, the copy ordering of CuPy uploads, TF32,
prefetch defaults, no host sync hidden in clipping, JAX runs whose every transfer is explicit,
which backends are usable and why, the benchmark's synchronization, the GPU runbook's commands,
and MPI's flat gradient buffer."""

from __future__ import annotations

import contextlib
import os
import pathlib
import re
import sys
import types

import numpy as np
import pytest

import mlp
from mlp import backends

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _xy(rng, n=80):
    X = rng.normal(size=(n, 5)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0)


# -- row 2 and 3: device spellings, one backend object per device --------------------------------
def test_every_spelling_of_a_torch_device_is_one_backend_that_owns_its_arrays(rng):
    torch = pytest.importorskip("torch")
    same = [
        backends.get("torch"),
        backends.get("torch", "cpu"),
        backends.get("torch", "cpu:0"),
        backends.get("torch", torch.device("cpu", 0)),
        backends.get("torch", torch.device("cpu")),
    ]
    assert all(b is same[0] for b in same)
    X, y = _xy(rng)
    for spelling in ("cpu:0", torch.device("cpu", 0)):
        b = backends.get("torch", spelling)
        x = b.asarray(X)
        assert b.owns(x) and backends.infer(x) is b
        model = mlp.MLP([5, 8, 3], backend=b, seed=0)
        mlp.train(model, x, b.asarray(y), epochs=2, progress=False)  # its own arrays are not refused
        assert model.evaluate(X, y)["accuracy"] > 0.3


def test_strict_device_objects_and_names_are_one_backend(rng):
    xp = pytest.importorskip("array_api_strict")
    by_name, by_object = (
        backends.get("array_api_strict", "device1"),
        backends.get("array_api_strict", xp.Device("device1")),
    )
    assert by_name is by_object
    X, y = _xy(rng)
    x = by_name.asarray(X)
    assert by_name.owns(x) and backends.infer(x) is by_name
    assert backends.infer(backends.get("array_api_strict").asarray(X)) is backends.get("array_api_strict", None)
    model = mlp.MLP([5, 8, 3], backend=x, seed=0)  # inferred from the array: the same object
    assert model.backend is by_name
    mlp.train(model, x, by_name.asarray(y), epochs=2, progress=False)


# -- row 4: every allocation inside the backend's device context --------------------------------
class _Recording(type(backends.get("numpy"))):
    """NumPy, but counting the device contexts entered (CuPy's creation functions follow the
    current device, which this context sets)."""

    name = "numpy"

    def __init__(self):
        super().__init__()
        self.entered = 0
        self.depth = 0

    @contextlib.contextmanager
    def context(self):
        self.entered += 1
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1


def test_training_and_prediction_run_inside_the_device_context(rng, monkeypatch):
    b = _Recording()
    model = mlp.MLP([5, 8, 3], backend=b, seed=0)
    inside = []
    real = model.backend.kernels

    def kernels():
        inside.append(b.depth)
        return real()

    monkeypatch.setattr(b, "kernels", kernels)
    X, y = _xy(rng)
    real_init, real_sinks = mlp.Adam.init, mlp.Adam.sinks

    def init(self, *args):  # the optimizer's state is made here
        inside.append(b.depth)
        return real_init(self, *args)

    def sinks(self, *args):  # the gradient buffers here
        inside.append(b.depth)
        return real_sinks(self, *args)

    monkeypatch.setattr(mlp.Adam, "init", init)
    monkeypatch.setattr(mlp.Adam, "sinks", sinks)
    mlp.train(model, X, y, optimizer="adam", epochs=1, progress=False)
    assert b.entered >= 1 and inside and all(d >= 1 for d in inside[1:])
    before = b.entered
    model(X)
    mlp.value_and_grad(model, "softmax_cross_entropy", X, y)
    assert b.entered >= before + 2


def test_cupy_kernels_allocate_their_buffers_on_the_model_device():
    cupy_backend = pytest.importorskip("mlp.backends.cupy_backend")
    calls = []

    class Device:
        def __enter__(self):
            calls.append("enter")

        def __exit__(self, *a):
            calls.append("exit")

    class XP:
        @staticmethod
        def empty(shape, dtype, device=None):
            calls.append("empty")  # CuPy's empty: on the current device, device= ignored
            return np.empty(shape, dtype)

    k = cupy_backend.CuPyKernels(None, XP, Device())
    k.buffer("s", (2, 3), np.float32)
    assert calls == ["enter", "empty", "exit"]


# -- row 5: the upload's copy stream waits for the default stream, and nothing waits on the host --
def test_cupy_upload_orders_the_copy_after_the_kernels_queued_before_it(monkeypatch):
    """The copy waits (on the GPU) for the kernels queued before it, the default stream waits for
    the copy; the prefetch thread itself never waits (no synchronize), and the pinned staging block
    is kept until its copy's event is done."""
    cupy_backend = pytest.importorskip("mlp.backends.cupy_backend")
    log, events = [], []

    class Event:
        def __init__(self, on):
            self.name, self.done = f"event {len(events)} on {on}", False
            events.append(self)

    class Stream:
        def __init__(self, non_blocking=False):
            self.name = "copy" if non_blocking else "null"

        def record(self, event=None):
            log.append(f"record on {self.name}")
            return Event(self.name)

        def wait_event(self, event):
            log.append(f"{self.name} waits for {event.name}")

        def synchronize(self):
            log.append(f"synchronize {self.name}")

    Stream.null = Stream()

    class Array(np.ndarray):
        def set(self, src, stream=None):
            log.append(f"copy on {stream.name}")
            self[...] = src

    fake = types.SimpleNamespace(
        cuda=types.SimpleNamespace(Stream=Stream),
        empty=lambda shape, dtype: np.empty(shape, dtype).view(Array),
    )
    b = cupy_backend.CuPyBackend.__new__(cupy_backend.CuPyBackend)
    b.cupy, b.device, b._copy_stream, b._inflight = fake, contextlib.nullcontext(), None, []
    try:
        import cupyx
    except ImportError:
        cupyx = types.ModuleType("cupyx")
        monkeypatch.setitem(sys.modules, "cupyx", cupyx)
    monkeypatch.setattr(cupyx, "empty_pinned", lambda shape, dtype: np.empty(shape, dtype), raising=False)
    out = b.upload(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(out, np.arange(6.0).reshape(2, 3))
    assert log == [
        "record on null",
        "copy waits for event 0 on null",
        "copy on copy",
        "record on copy",
        "null waits for event 1 on copy",
    ]
    assert len(b._inflight) == 1 and b._inflight[0][0] is events[1]  # the staging block, held
    events[1].done = True
    b.upload(np.zeros((2, 3)))
    assert len(b._inflight) == 1 and b._inflight[0][0] is events[3]  # the finished copy's block let go
    assert not any("synchronize" in line for line in log)


# -- row 8: no clip with boolean masks in the core -----------------------------------------------
def test_no_clipping_reads_masks_on_the_host(rng, monkeypatch):
    import array_api_compat.numpy as xpn

    def forbidden(*a, **k):
        raise AssertionError("xp.clip: array-api-compat's CuPy clip indexes with boolean masks (a host sync)")

    monkeypatch.setattr(xpn, "clip", forbidden)
    X, y = _xy(rng)
    mlp.train(mlp.MLP([5, 8, 3], seed=0), X, y, optimizer=mlp.Adam(0.01, clip_norm=0.5), epochs=2, progress=False)
    mlp.train(
        mlp.MLP([5, 8, 1], output="sigmoid", seed=0), X, (y > 0).astype(float), loss="bce", epochs=2, progress=False
    )
    mlp.train(mlp.MLP([5, 8, 3], output="softmax", seed=0), X, y, loss="cross_entropy", epochs=2, progress=False)
    sources = "".join(p.read_text() for p in pathlib.Path(ROOT, "mlp").glob("*.py"))
    assert not re.search(r"\bxp\.clip\(", sources)


# -- row 9: prefetch per device kind -------------------------------------------------------------
def test_prefetch_is_on_for_gpus_and_off_for_cpus():
    from mlp.backends.base import Backend

    defaults = {e.name: e.backend_class().prefetch_default for e in backends.BACKENDS if e.installed()}
    for name, on in defaults.items():
        entry = next(e for e in backends.BACKENDS if e.name == name)
        assert on == entry.needs_cuda, name
    assert Backend.prefetch_default is False


# -- row 11: one TF32 switch ---------------------------------------------------------------------
def test_one_tf32_switch_covers_backends_made_before_and_after(monkeypatch):
    torch = pytest.importorskip("torch")
    backends.get("torch")  # a backend made before the switch
    assert backends.tf32() is False and torch.backends.cuda.matmul.allow_tf32 is False  # off by default
    seen = []
    monkeypatch.setattr(
        type(backends.get("numpy")), "set_tf32", lambda self, on: seen.append(("numpy", on)), raising=False
    )
    try:
        backends.set_tf32(True)
        assert torch.backends.cuda.matmul.allow_tf32 is True and ("numpy", True) in seen
    finally:
        backends.set_tf32(False)
    assert torch.backends.cuda.matmul.allow_tf32 is False and backends.tf32() is False


def test_the_tf32_switch_covers_jax_inside_the_model_calls(monkeypatch):
    """JAX multiplies float32 in TF32 on GPUs by default; the model's calls run in its backend's
    context, where the matmul precision is 'highest' unless the switch is on. A model call
    traces under it (seen from inside a layer)."""
    if "jax" not in backends.available():
        pytest.skip("JAX is not installed")
    import jax

    b = backends.get("jax")
    with b.context():
        assert jax.config.jax_default_matmul_precision == "highest"
    seen = []
    model = mlp.MLP([2, 3], backend="jax", dtype="float32")
    real = type(model.layers[0]).forward

    def spy(self, *args, **kw):
        seen.append(jax.config.jax_default_matmul_precision)
        return real(self, *args, **kw)

    monkeypatch.setattr(type(model.layers[0]), "forward", spy)
    try:
        backends.set_tf32(True)
        with b.context():
            assert jax.config.jax_default_matmul_precision == "tensorfloat32"
        model(np.ones((4, 2)))
        assert seen and set(seen) == {"tensorfloat32"}
    finally:
        backends.set_tf32(False)
    seen.clear()
    model(np.ones((5, 2)))  # a new shape: traced again, in full float32
    assert seen and set(seen) == {"highest"}


# -- row 12: host data is cast on the host before upload ----------------------------------------
def test_float64_host_data_crosses_to_a_float32_model_as_float32(rng, monkeypatch):
    pytest.importorskip("torch")
    b = backends.get("torch")
    uploaded = []
    real = type(b).asarray

    def spy(self, host, dtype=None, copy=False):
        uploaded.append(np.asarray(host).dtype)
        return real(self, host, dtype, copy)

    monkeypatch.setattr(type(b), "asarray", spy)
    X = rng.normal(size=(50, 5))  # float64
    model = mlp.MLP([5, 4, 2], backend="torch", dtype="float32", seed=0)
    uploaded.clear()
    model(X)
    assert uploaded and all(d == np.float32 for d in uploaded)
    uploaded.clear()
    mlp.train(model, X, (X[:, 0] > 0).astype(int), epochs=1, progress=False)
    assert np.dtype(np.float64) not in uploaded[:2]  # X and the labels' targets went over in 32 bits


# -- row 13: the benchmark waits for the last product -------------------------------------------
def test_gemm_timings_synchronize_on_the_last_result(monkeypatch):
    from mlp.bench import peers as bench

    b = backends.get("numpy")
    got = []
    monkeypatch.setattr(type(b), "synchronize", lambda self, *arrays: got.append(arrays))
    bench.time_gemm_epoch("numpy", [8, 4, 2], 16, 8, 1)
    assert got and all(len(a) == 1 and hasattr(a[0], "shape") for a in got)


def test_jax_synchronize_blocks_on_the_arrays_it_is_given(monkeypatch):
    jax = pytest.importorskip("jax")
    b = backends.get("jax")
    blocked = []
    monkeypatch.setattr(jax, "block_until_ready", lambda x: blocked.append(x))
    x = b.asarray(np.ones(3, np.float32))
    b.synchronize(x)
    assert blocked and blocked[0][0] is x


# -- JAX: every transfer of a whole run is explicit ---------------------------------------------
@pytest.mark.parametrize(
    "make_opt,model_kw",
    [
        (lambda: mlp.SGD(0.05, momentum=0.9, schedule=mlp.StepDecay(1, 0.5)), {}),
        (lambda: mlp.Adam(0.01, clip_norm=1.0, schedule=mlp.TimeDecay(0.1)), {}),
        (lambda: mlp.Adam(0.01), {"norm": "batch", "dropout": 0.2}),
    ],
    ids=["momentum-schedule", "adam-clip-schedule", "stateful"],
)
def test_a_jax_run_on_device_data_makes_no_implicit_transfer(rng, tmp_path, make_opt, model_kw):
    jax = pytest.importorskip("jax")
    b = backends.get("jax")
    X, y = _xy(rng, 200)
    Xd, yd = b.asarray(X), b.asarray(y)
    model = mlp.MLP([5, 16, 3], "relu", "softmax", backend="jax", dtype="float32", seed=0, **model_kw)
    with jax.transfer_guard("disallow"):
        h = mlp.train(
            model,
            Xd,
            yd,
            optimizer=make_opt(),
            epochs=4,
            batch_size=32,
            validation_fraction=0.2,
            early_stopping=True,
            n_iter_no_change=2,
            checkpoint=tmp_path / "c.npz",
            progress=False,
        )
    assert h.epochs >= 2 and np.isfinite(h.loss[-1]) and h.val_accuracy
    assert (tmp_path / "c.npz").exists()


# -- row 1: usable only where CUDA, cuBLAS and NVRTC load ----------------------------------------
def test_cupy_is_usable_only_where_cublas_and_nvrtc_load(monkeypatch):
    from mlp.backends import _PROBED, BACKENDS

    entry = next(e for e in BACKENDS if e.name == "cupy")
    if not entry.installed():
        pytest.skip("cupy is not installed (pip install mlp[gpu-check])")
    cupy = pytest.importorskip("cupy")

    class Boom(Exception):
        pass

    def missing_cublas(*a, **k):
        raise Boom("Failure finding libcublasLt.so")

    monkeypatch.setattr(cupy.cuda.runtime, "getDeviceCount", lambda: 1)  # a driver-only machine: a device, no libraries
    monkeypatch.setattr(cupy.cuda, "Device", lambda i: contextlib.nullcontext())
    monkeypatch.setattr(cupy, "ones", missing_cublas)
    monkeypatch.delitem(_PROBED, "cupy", raising=False)
    try:
        reason = entry.unusable_reason()
        assert "cuBLAS cannot be loaded" in reason and "mlp[cuda12]" in reason
        assert "cupy" not in backends.available() and backends.best() == "numpy"
        assert "libcublasLt" in backends.unavailable()["cupy"]
    finally:
        _PROBED.pop("cupy", None)


def test_the_cuda_extras_bring_the_libraries_cupy_loads():
    text = pathlib.Path(ROOT, "pyproject.toml").read_text()
    assert re.search(r'cuda12 = \["cupy-cuda12x\[ctk\]', text) and re.search(r'cuda13 = \["cupy-cuda13x\[ctk\]', text)


# -- row 15: MPI gets the flat buffer where the arrays live ---------------------------------------
def test_mpi_reduces_host_arrays_in_place_and_stages_gpu_ones_unless_mpi_is_cuda_aware(monkeypatch):
    pytest.importorskip("mpi4py")
    from mlp.training.distributed import MPIComm

    comm = MPIComm.__new__(MPIComm)
    comm.device_buffers = None
    gpu = types.SimpleNamespace(shares_host_memory=False, cuda_memory=True)
    assert comm._direct(backends.get("numpy"))
    monkeypatch.setenv("MLP_MPI_CUDA_AWARE", "0")
    assert not comm._direct(gpu)
    monkeypatch.setenv("MLP_MPI_CUDA_AWARE", "1")
    assert comm._direct(gpu)
    comm.device_buffers = False
    assert not comm._direct(backends.get("numpy"))
