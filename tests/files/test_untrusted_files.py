"""mlp.load on damaged, foreign and hostile files: a ValueError naming the file, with nothing
allocated or decompressed beyond what a file of that size can hold."""

from __future__ import annotations

import io as _io
import json
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mlp
from mlp.io import npz as io


def _header(layers, shapes, dtype="float64"):
    return {
        "format": "mlp-model",
        "version": 1,
        "layers": layers,
        "dtype": dtype,
        "n_params": len(shapes),
        "shapes": shapes,
    }


def _dense(i, o, bias=True):
    return {"type": "Dense", "config": {"in_features": i, "out_features": o, "init": None, "bias": bias}}


def _load_small_memory(path, limit=20 << 20):
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=str(path.name)) as info:
            mlp.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < limit, f"loading allocated {peak:,} bytes"
    return str(info.value)


def test_a_small_file_declaring_a_huge_model_is_refused_before_allocating(tmp_path):
    path = tmp_path / "huge.npz"
    io.write_npz(path, _header([_dense(100_000, 70_000)], [[100_000, 70_000], [70_000]]), {})
    assert path.stat().st_size < 4096
    assert "declares 56,000,560,000 bytes of arrays, more than a file of" in _load_small_memory(path)


def test_a_zip_bomb_member_is_refused_before_decompressing(tmp_path):
    path = tmp_path / "bomb.npz"
    header = _header([_dense(3000, 3000, bias=False)], [[3000, 3000]])
    raw = _io.BytesIO()
    np.lib.format.write_array(raw, np.zeros((3000, 3000)))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        hdr = _io.BytesIO()
        np.lib.format.write_array(hdr, np.frombuffer(json.dumps(header).encode(), dtype=np.uint8))
        zf.writestr("__mlp__.npy", hdr.getvalue())
        zf.writestr("param_0.npy", raw.getvalue())  # 72 MB of zeros in about 70 KB
    assert path.stat().st_size < 200_000
    assert "more than a file of" in _load_small_memory(path)


def test_a_member_larger_than_declared_is_refused_before_reading(tmp_path):
    path = tmp_path / "liar.npz"
    io.write_npz(path, _header([_dense(2, 2, bias=False)], [[2, 2]]), {"param_0": np.zeros((700, 700))})
    assert "member 'param_0' is larger" in _load_small_memory(path)


@pytest.mark.parametrize(
    "header,match",
    [
        (_header([{"type": "Evil", "config": {}}], []), "is not a known layer type"),
        (_header([{"type": "Dense", "config": {"in_features": [1] * 5}}], []), "settings that are not plain values"),
        (_header([_dense(2, 2)], [[2, 2], [2]], dtype="int8"), "dtype must be 'float32' or 'float64'"),
        (_header([_dense(2, 2)], [[2, -2], [2]]), "is not a list of one to three positive integers"),
        (_header([_dense(2, 2)], [[2, 3], [3]]), "do not match its architecture"),
        (_header([_dense("a", 2)], [[2, 2], [2]]), "invalid architecture: TypeError"),
        ({**_header([_dense(2, 2)], [[2, 2], [2]]), "version": 99}, "newer mlp"),
        ({**_header([_dense(2, 2)], [[2, 2], [2]]), "n_params": 5}, "one shape per parameter"),
    ],
)
def test_foreign_headers_are_value_errors(header, match, tmp_path):
    path = tmp_path / "h.npz"
    shapes = header["shapes"] if header.get("dtype") in ("float32", "float64") else []
    arrays = {}
    if all(isinstance(s, list) and all(isinstance(d, int) and d > 0 for d in s) for s in shapes):
        arrays = {f"param_{i}": np.zeros(s) for i, s in enumerate(shapes)}
    io.write_npz(path, header, arrays)
    with pytest.raises(ValueError, match=match):
        mlp.load(path)


def test_deeply_nested_json_is_a_value_error(tmp_path):
    path = tmp_path / "deep.npz"
    with zipfile.ZipFile(path, "w") as zf:
        hdr = _io.BytesIO()
        np.lib.format.write_array(hdr, np.frombuffer(b"[" * 100_000 + b"]" * 100_000, dtype=np.uint8))
        zf.writestr("__mlp__.npy", hdr.getvalue())
    with pytest.raises(ValueError, match="deep.npz"):
        mlp.load(path)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("good") / "good.npz"
    model = mlp.Sequential(
        mlp.Dense(3, 4), mlp.Tanh(), mlp.Maxout(4, 2, k=2), mlp.Dense(2, 2), mlp.Softmax(), dtype="float64"
    )
    model.save(path)
    return path.read_bytes(), model


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_files_load_or_fail_with_a_value_error(saved, tmp_path, data):
    good, model = saved
    raw = bytearray(good)
    kind = data.draw(st.sampled_from(["flip", "truncate", "splice"]))
    if kind == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            raw[data.draw(st.integers(0, len(raw) - 1))] ^= data.draw(st.integers(1, 255))
    elif kind == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    else:
        at = data.draw(st.integers(0, len(raw)))
        raw[at:at] = data.draw(st.binary(min_size=1, max_size=64))
    path = tmp_path / "fuzz.npz"
    path.write_bytes(bytes(raw))
    try:
        loaded = mlp.load(path)
    except ValueError as exc:
        assert "fuzz.npz" in str(exc)
        return
    x = np.ones((2, 3))  # a byte that changed nothing the model reads: the same model
    np.testing.assert_array_equal(loaded(x), model(x))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 5) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    layers=st.one_of(
        JSON,
        st.lists(
            st.fixed_dictionaries(
                {"type": st.sampled_from(["Dense", "Maxout", "ReLU", "Softmax", "x"]), "config": JSON}
            ),
            max_size=3,
        ),
    ),
    shapes=st.one_of(JSON, st.lists(st.lists(st.integers(-1, 4), max_size=3), max_size=3)),
    dtype=st.one_of(JSON, st.sampled_from(["float32", "float64"])),
    n_params=JSON,
)
def test_random_headers_load_or_fail_with_a_value_error(tmp_path, layers, shapes, dtype, n_params):
    path = tmp_path / "rand.npz"
    header = {
        "format": "mlp-model",
        "version": 1,
        "layers": layers,
        "dtype": dtype,
        "n_params": n_params,
        "shapes": shapes,
    }
    arrays = {}
    if isinstance(shapes, list):
        for i, s in enumerate(shapes):
            if isinstance(s, list) and all(type(d) is int and 0 <= d < 8 for d in s):
                arrays[f"param_{i}"] = np.zeros(s)
    io.write_npz(path, header, arrays)
    try:
        mlp.load(path)
    except ValueError as exc:
        assert "rand.npz" in str(exc)
