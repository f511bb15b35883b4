"""The CUDA kernels the project owns (``mlp.backends.cuda_kernels``), checked on a machine with no GPU:

- compiled by NVRTC for sm_80 and sm_90, in float32 and float64, from the exact source CuPy
  generates for the calls ``CuPyKernels`` makes (CuPy's own code generator, then NVRTC with
  CuPy's options), beside a deliberately broken kernel that must fail to compile;
- each kernel's operation compiled by the host's C++ compiler and run against the generic
  array-API kernels, NaN and infinity included (IEEE comparisons are the same on both).

The first part needs ``pip install mlp[gpu-check]`` (CuPy, NVRTC and the CUDA headers, no GPU);
it uses CuPy's internal code generator (``cupy._core._kernel``), pinned to CuPy 14: if those
internals move, the test fails and says so instead of passing without checking. Under CI
(``CI=true``) a missing CuPy fails the test rather than skipping it."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess

import numpy as np
import pytest

from mlp.backends import kernels as K
from mlp.backends.cuda_kernels import KERNELS, Definition

DTYPES = [np.float32, np.float64]


def _compiled_dtypes():
    """The types each kernel is compiled for: the variables' (float32, float64) and the 16-bit
    compute types of mixed precision (float16; bfloat16 as CuPy 14 spells it, ml_dtypes')."""
    import ml_dtypes

    return [np.float32, np.float64, np.float16, ml_dtypes.bfloat16]


COMPILED = ["float32", "float64", "float16", "bfloat16"]


ARCHS = ["80", "90"]


# how CuPyKernels calls each kernel: which parameters are scalars, and the arrays' dimensions
CALLS = {
    "relu": {"scalars": set(), "ndims": [2]},
    "bias_relu": {"scalars": set(), "ndims": [2]},
    "relu_backward": {"scalars": set(), "ndims": [2]},
    "axpy": {"scalars": {"a"}, "ndims": [1, 2]},
    "lerp": {"scalars": {"w"}, "ndims": [1]},
    "scale_add": {"scalars": {"alpha", "beta"}, "ndims": [1]},
    "adam": {"scalars": {"step", "b1", "b2", "root_c2", "eps"}, "ndims": [1, 2]},
    "rmsprop": {"scalars": {"lr", "alpha", "eps"}, "ndims": [1, 2]},
    "dropout": {"scalars": {"threshold", "scale"}, "ndims": [2]},
}


BROKEN = Definition("T x", "T y", "y = x +* (T)1", "mlp_broken")


def test_every_kernel_has_its_call():
    assert sorted(CALLS) == sorted(KERNELS)


def _cupy():
    if os.environ.get("CI") == "true":
        import cupy  # CI installs mlp[gpu-check]: these checks run there, never skip
    else:
        cupy = pytest.importorskip("cupy", reason="NVRTC checks need CuPy (pip install mlp[gpu-check])")
    if not cupy.__version__.startswith("14."):
        pytest.fail(f"these checks use CuPy 14's code generator; CuPy {cupy.__version__} is installed: update them")
    try:
        from cupy._core import _kernel, core
        from cupy.cuda import compiler

        _kernel._ArgInfo, _kernel._TypeMap, _kernel._get_elementwise_kernel_code  # noqa: B018
        compiler._NVRTCProgram, core.assemble_cupy_compiler_options, core._cupy_header_list  # noqa: B018
    except (ImportError, AttributeError) as exc:
        pytest.fail(f"CuPy's internal code generator moved ({exc}): update tests/arrays/test_cuda_compile.py")
    return cupy, _kernel, core, compiler


def _source(cupy, _kernel, core, definition, call, dtype, ndim):
    """The CUDA source CuPy generates for this kernel called on arrays of `ndim` dimensions."""
    ND, SC, IX = 1, 3, 2  # ARG_KIND_NDARRAY, ARG_KIND_SCALAR, ARG_KIND_INDEXER (cupy/_core/_kernel.pxd)
    k = cupy.ElementwiseKernel(*definition)
    infos = []
    for p in k.params:
        if p.name == "_ind":
            continue
        fixed = None if p.ctype == "T" else np.dtype(p.dtype)
        dt = np.dtype(dtype) if fixed is None else fixed
        if p.name in call["scalars"]:
            infos.append(_kernel._ArgInfo(SC, cupy._core._scalar.CScalar, dt, 0, True, True))
        else:
            infos.append(_kernel._ArgInfo(ND, cupy.ndarray, dt, ndim, True, True))
    infos.append(_kernel._ArgInfo(IX, cupy._core._carray.Indexer, None, ndim, True, True))
    type_map = _kernel._TypeMap((("T", np.dtype(dtype).type),))
    code = _kernel._get_elementwise_kernel_code(tuple(infos), type_map, k.params, k.operation, k.name, k.preamble)
    return "".join(f"#include <{h}>\n" for h in core._cupy_header_list) + code


def _nvrtc(compiler, core, src, arch):
    options = core.assemble_cupy_compiler_options(()) + (f"-arch=sm_{arch}", "--device-as-default-execution-space")
    program = compiler._NVRTCProgram(src, "kernel.cu", (), (), name_expressions=None, method="cubin")
    cubin, _ = program.compile(options, None)
    return cubin


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("dtype_name", COMPILED)
@pytest.mark.parametrize("name", sorted(KERNELS))
def test_kernel_compiles_with_nvrtc(name, dtype_name, arch):
    cupy, _kernel, core, compiler = _cupy()
    dtype = _compiled_dtypes()[COMPILED.index(dtype_name)]
    for ndim in CALLS[name]["ndims"]:
        cubin = _nvrtc(compiler, core, _source(cupy, _kernel, core, KERNELS[name], CALLS[name], dtype, ndim), arch)
        assert len(cubin) > 1000 and bytes(cubin[:4]) == b"\x7fELF"  # a CUDA binary


@pytest.mark.parametrize("arch", ARCHS)
def test_a_broken_kernel_fails_to_compile(arch):
    cupy, _kernel, core, compiler = _cupy()
    src = _source(cupy, _kernel, core, BROKEN, {"scalars": set()}, np.float32, 1)
    with pytest.raises(compiler.CompileException, match="error"):
        _nvrtc(compiler, core, src, arch)


# -- the operations' semantics, compiled for the host ---------------------------------------------
def _params(text):
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        ctype, name = part.split()
        out.append((ctype, name))
    return out


def _host_library(tmp_path_factory, dtype):
    """Every kernel's operation in a loop over flat arrays (a stride of 0 broadcasts a scalar),
    compiled with g++ for the host: the C expressions the GPU runs, on CPU floats."""
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        pytest.skip("no C++ compiler (g++) on this machine")
    ctype = "float" if dtype == np.float32 else "double"
    lines = [
        "#include <cmath>",
        "#include <cstdint>",
        "using namespace std;",
        f"typedef {ctype} T;",
        "typedef int32_t int32;",
        "typedef uint32_t uint32;",
    ]
    for name, d in KERNELS.items():
        ins, outs = _params(d.in_params), _params(d.out_params)
        args = ", ".join(f"{'const ' if (c, n) in ins else ''}{c}* {n}_p, long {n}_s" for c, n in ins + outs)
        body = [f"const {c} {n} = {n}_p[i * {n}_s];" for c, n in ins] + [
            f"{c}& {n} = {n}_p[i * {n}_s];" for c, n in outs
        ]
        lines.append(f'extern "C" void {name}(long n, {args}) {{')
        lines.append("  for (long i = 0; i < n; ++i) { " + " ".join(body) + f" {d.operation}; }}")
        lines.append("}")
    folder = tmp_path_factory.mktemp(f"host-{ctype}")
    (folder / "k.cpp").write_text("\n".join(lines) + "\n")
    so = folder / "k.so"
    subprocess.run([cxx, "-O2", "-shared", "-fPIC", "-o", str(so), str(folder / "k.cpp")], check=True)
    return ctypes.CDLL(str(so))


def _call(lib, name, arrays):
    """Call kernel `name` with `arrays` in parameter order (0-d arrays are scalars); returns them."""
    scalar = [np.ndim(a) == 0 for a in arrays]
    flat = [np.ascontiguousarray(a).reshape(-1) for a in arrays]  # (0-d arrays become one element)
    n = max(a.size for a in flat)
    args = [ctypes.c_long(n)]
    for a, one in zip(flat, scalar):
        args += [a.ctypes.data_as(ctypes.c_void_p), ctypes.c_long(0 if one else 1)]
    getattr(lib, name)(*args)
    return flat


SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.5, -2.0, 3.0, np.nan, -np.inf, 0.25, -0.5])


@pytest.fixture(scope="module", params=DTYPES, ids=["float32", "float64"])
def host(request, tmp_path_factory):
    return request.param, _host_library(tmp_path_factory, request.param)


def _same(got, want, dtype):
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)  # NaN where NaN, infinities equal


def test_host_compiled_kernels_equal_the_specification(host):
    dtype, lib = host
    rng = np.random.default_rng(0)
    s = SPECIAL.astype(dtype)
    y = np.roll(s, 3)
    # relu: in place
    (got,) = _call(lib, "relu", [s.copy()])
    _same(got, K.GENERIC.relu(s), dtype)
    # bias_relu(b, s): in place on s
    b = np.roll(s, 5)
    _, got = _call(lib, "bias_relu", [b, s.copy()])
    _same(got, K.GENERIC.relu(s + b), dtype)
    # relu_backward(y, d)
    _, got = _call(lib, "relu_backward", [y, s.copy()])
    _same(got, K.GENERIC.relu_backward(s, y), dtype)
    # axpy(x, a, y)
    x = rng.normal(size=s.shape).astype(dtype)
    for a in (0.5, -2.0):
        _, _, got = _call(lib, "axpy", [s, np.asarray(a, dtype), x.copy()])
        _same(got, K.GENERIC.axpy(dtype(a), s, x), dtype)
    # lerp(p, w, e): the EMA step, in place on e
    for w in (0.001, 0.5):
        *_, got = _call(lib, "lerp", [x, np.asarray(w, dtype), s.copy()])
        _same(got, K.GENERIC.ema_update([s.copy()], [x], dtype(1 - w))[0], dtype)
    # scale_add(c, alpha, beta, out): beta 0 ignores what out held (NaN, infinity)
    c = rng.normal(size=s.shape).astype(dtype)
    for alpha, beta in ((1.0, 0.0), (2.5, 0.0), (1.0, 1.0), (-0.1, 0.9)):
        *_, got = _call(lib, "scale_add", [c, np.asarray(alpha, dtype), np.asarray(beta, dtype), s.copy()])
        _same(got, K.scale_add(c, s.copy(), dtype(alpha), dtype(beta)), dtype)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # inf / inf in the inputs
def test_host_compiled_updates_equal_the_specification(host):
    dtype, lib = host
    rng = np.random.default_rng(1)
    p, g, m = (rng.normal(size=64).astype(dtype) for _ in range(3))
    v = rng.uniform(size=64).astype(dtype)
    g[:4] = [np.nan, np.inf, -np.inf, 0.0]
    scal = [np.asarray(a, dtype) for a in (1e-3 / 0.1, 0.9, 0.999, 0.999**0.5, 1e-8)]
    _, *_, gp, gm, gv = _call(lib, "adam", [g, *scal, p.copy(), m.copy(), v.copy()])
    wp, wm, wv = K.GENERIC.adam_update(p, g, m, v, *(dtype(a) for a in scal[:4]), dtype(scal[4]))
    for a, b in ((gp, wp), (gm, wm), (gv, wv)):
        _same(a, b, dtype)
    scal = [np.asarray(a, dtype) for a in (0.01, 0.99, 1e-8)]
    *_, gp, gv = _call(lib, "rmsprop", [g, *scal, p.copy(), v.copy()])
    wp, wv = K.GENERIC.rmsprop_update(p, g, v, *(dtype(a) for a in scal))
    _same(gp, wp, dtype)
    _same(gv, wv, dtype)


def test_host_compiled_dropout_mask_equals_the_specification(host):
    dtype, lib = host
    rows = np.array([0, 1, 7, 123456, (1 << 31) - 1], dtype=np.int32)
    n = 33
    for seed, layer, step, rate in ((0, 1, 0, 0.5), (3, 4, 100, 0.1), (12345, 0, 7, 0.9)):
        salt = K.dropout_salt(seed, layer, step)
        want = K.GENERIC.dropout_mask(rows, n, salt, rate, dtype)
        r = np.repeat(K.mix32(rows ^ np.int32(salt)), n)
        cols = np.tile(np.arange(n, dtype=np.uint32) * np.uint32(K._GOLDEN & 0xFFFFFFFF), rows.size)
        threshold = np.asarray(K.dropout_threshold(rate) << (32 - K.DROPOUT_BITS), dtype=np.uint32)
        out = np.zeros(rows.size * n, dtype)
        *_, got = _call(lib, "dropout", [r, cols, threshold, np.asarray(1 / (1 - rate), dtype), out])
        np.testing.assert_array_equal(got.reshape(rows.size, n), want)


def test_cupy_imports_and_the_backend_constructs_without_a_gpu():
    cupy, *_ = _cupy()
    import mlp
    from mlp.backends import cupy_backend

    b = cupy_backend.CuPyBackend()
    assert b.name == "cupy" and b.device.id == 0 and b.prefetch_default
    k = b.kernels()  # the kernel objects are made lazily: nothing compiles or runs here
    assert k.name == "cupy"
    reasons = mlp.backends.unavailable()
    if cupy_backend.CuPyBackend.probe() is not None:  # no device here: cupy is left out, saying why
        assert "cupy" not in mlp.backends.available() and mlp.backends.best() == "numpy"
        assert "driver" in reasons["cupy"] or "device" in reasons["cupy"]
        with pytest.raises(ValueError, match="backend 'cupy' cannot run here: .*available:"):
            mlp.backends.get("cupy", 0)
