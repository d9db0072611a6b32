"""Regressions found in the adversarial review of issue 3, each against the real peer (mx.quantize / mx.dequantize on
MLX's CPU backend, the gguf package's NumPy quantizers)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mlxquant.quant.formats.gguf import gguf_dequantize, gguf_quantize
from mlxquant.quant.formats.mlx import mlx_dequantize, mlx_quantize
from tests.helpers import as_backend

mx = pytest.importorskip("mlx.core")
pytestmark = pytest.mark.peers


def _bits(a):
    """An MLX or NumPy float array → (dtype name, raw bits as unsigned ints) for an exact comparison (keeps -0.0)."""
    if isinstance(a, mx.array):
        name = str(a.dtype).split(".")[-1]
        u = {4: mx.uint32, 2: mx.uint16}[a.dtype.size]
        return name, np.array(a.view(u) if a.dtype not in (mx.uint8, mx.uint32) else a)
    a = np.asarray(a)
    return a.dtype.name, a.view({4: np.uint32, 2: np.uint16, 1: np.uint8}[a.dtype.itemsize])


@pytest.mark.parametrize("dt", ["float16", "bfloat16", "float32"])
def test_dequantize_dtype_accepts_mlx_and_numpy_dtypes(dt):
    """mx.dequantize takes dtype=mx.float16; a drop-in replacement must too (and NumPy dtypes on NumPy input)."""
    w = mx.random.normal((4, 128), key=mx.random.key(1))
    r = mx.quantize(w, 64, 4)
    ref = mx.dequantize(*r, 64, 4, dtype=getattr(mx, dt))
    got = mlx_dequantize(*r, 64, 4, dtype=getattr(mx, dt))
    assert _bits(got)[0] == dt and np.array_equal(_bits(got)[1], _bits(ref)[1])
    rn = [np.array(a) for a in r]
    got_np = mlx_dequantize(*rn, 64, 4, dtype=dt)  # NumPy bfloat16: an ml_dtypes array
    assert got_np.dtype.name == dt and np.array_equal(_bits(got_np)[1], _bits(ref)[1])
    if dt != "bfloat16":
        got_np = mlx_dequantize(*rn, 64, 4, dtype=np.dtype(dt))
        assert got_np.dtype == np.dtype(dt)
        np.testing.assert_array_equal(got_np, np.array(ref))
        assert mlx_dequantize(*rn, 64, 4, dtype=getattr(np, dt)).dtype == np.dtype(dt)


@pytest.mark.parametrize("mode", ["mxfp4", "mxfp8", "nvfp4"])
@pytest.mark.parametrize("out", ["float16", "bfloat16", "float32"])
def test_microscaling_dequantize_in_the_output_dtype(mode, out, backend):
    """MLX multiplies value·scale in the output dtype: an E8M0 scale beyond float16's range becomes inf (0·inf = NaN),
    one below it 0 — the float32 product cast afterwards differs."""
    rng = np.random.default_rng(7)
    w = np.concatenate([rng.standard_normal((2, 64)) * m for m in (1e-8, 1e-6, 1.0, 3e4, 1e6, 1e9)]).astype(np.float32)
    w[0, :32] = 0.0
    r = mx.quantize(mx.array(w), mode=mode)
    ref = mx.dequantize(r[0], r[1], mode=mode, dtype=getattr(mx, out))
    got = mlx_dequantize(as_backend(np.array(r[0]), backend), as_backend(np.array(r[1]), backend), None, mode=mode,
                         dtype=out)
    g, rf = _bits(got), _bits(ref)
    assert g[0] == rf[0] == out
    gf = np.array(got.astype(mx.float32)) if isinstance(got, mx.array) else np.asarray(got).astype(np.float32)
    rff = np.array(ref.astype(mx.float32))
    nan = np.isnan(rff)
    assert np.array_equal(np.isnan(gf), nan)  # NaN where MLX has NaN (0·inf); its payload/sign is the platform's
    assert np.array_equal(g[1][~nan], rf[1][~nan]), f"{int((g[1] != rf[1])[~nan].sum())} values differ"


@pytest.mark.parametrize("dt", ["float32", "float16", "bfloat16"])
def test_affine_1bit_zero_minimum_keeps_the_first_zeros_sign(dt, backend):
    """MLX's 1-bit bias is the group minimum from a running min: among equal values (+0.0 / -0.0) the first wins."""
    pats = [[0.0, -0.0], [-0.0, 0.0], [0.0] * 31 + [-0.0], [-0.0] * 5 + [0.0], [0.5, -0.0, 0.0], [0.25, 0.0, -0.0]]
    w = np.array([(p * 32)[:32] for p in pats] * 2, np.float32).reshape(6, 64)
    w[:, 40] = 1.0  # a positive maximum: the minimum is the zero
    wm = mx.array(w).astype(getattr(mx, dt))
    ref = mx.quantize(wm, 32, 1)
    src = wm if backend == "mlx" else np.array(wm.astype(mx.float32)).astype(
        pytest.importorskip("ml_dtypes").bfloat16 if dt == "bfloat16" else dt)
    got = mlx_quantize(src, 32, 1, impl="generic")
    for k in range(3):
        assert np.array_equal(_bits(got[k])[1], _bits(ref[k])[1]), k


def test_gguf_blocks_whose_reciprocal_overflows(backend):
    """A block whose d is below 2^-128 (max |x| ~< 2.4e-38, float32 subnormal territory): 1/d overflows to inf, so
    x·id is ±inf or NaN; ggml / the gguf package then store code 0 for every value (x86 float→int conversion).
    mlxquant defines that explicitly instead of saturating."""
    gguf = pytest.importorskip("gguf")
    quants = pytest.importorskip("gguf.quants")
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((6, 64)) * np.array([[1e-40], [1e-39], [3e-39], [1e-38], [3e-38], [1.0]])).astype(
        np.float32)
    x[0, 5] = 0.0
    x[1, 7] = -0.0
    for qtype in ("Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"):
        t = getattr(gguf.GGMLQuantizationType, qtype)
        with np.errstate(all="ignore"):
            ref = quants.quantize(x, t)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = np.array(gguf_quantize(as_backend(x, backend), qtype))
        np.testing.assert_array_equal(got, ref, err_msg=qtype)
        np.testing.assert_array_equal(np.array(gguf_dequantize(got, qtype)), quants.dequantize(ref, t))


@pytest.mark.parametrize("dt", ["float32", "float16", "bfloat16"])
def test_nvfp4_global_scale(dt, backend):
    """mx.quantize(..., mode="nvfp4", global_scale=gs): scale codes E4M3(T(amax/6)·(2688/gs)), values
    FP4(T(w / scale)·(2688/gs)); mx.dequantize: value·(scale·(gs/2688)) in the output dtype. Positional arguments
    of mx.dequantize (…, mode, global_scale, dtype) work the same."""
    rng = np.random.default_rng(13)
    ml_dtypes = pytest.importorskip("ml_dtypes")
    for k, gs in enumerate([1.0, 0.37, 3.7, 2688.0 / 7.5, 1e-4, 250.0]):
        w = (rng.standard_normal((6, 64)) * [[1e-3], [1.0], [30.0], [1.0], [0.02], [5.0]]).astype(np.float32)
        w[0, :16] = np.round(w[0, :16] * 4) / 4
        w[1, 16:32] = 0.0
        wm = mx.array(w).astype(getattr(mx, dt))
        g = mx.array(np.float32(gs))
        ref = mx.quantize(wm, mode="nvfp4", global_scale=g)
        src = wm if backend == "mlx" else np.array(wm.astype(mx.float32)).astype(
            ml_dtypes.bfloat16 if dt == "bfloat16" else dt)
        for impl in ("generic", "auto"):
            got = mlx_quantize(src, mode="nvfp4", global_scale=gs if k % 2 else g, impl=impl)
            assert got[2] is None
            for a, r in zip(got[:2], ref[:2], strict=True):
                assert np.array_equal(np.array(a), np.array(r)), (gs, impl)
        # with a global scale MLX computes value·(scale·gs/2688) in float32 and returns float32 whatever dtype= asks
        # (an MLX bug, not copied): mlxquant returns that float32 result by default and casts it to dtype= if given
        dref = mx.dequantize(ref[0], ref[1], None, 16, 4, "nvfp4", g, mx.float16)
        assert dref.dtype == mx.float32
        for out in (None, "float32", "float16") + (("bfloat16",) if backend == "mlx" else ()):
            dgot = mlx_dequantize(as_backend(np.array(ref[0]), backend), as_backend(np.array(ref[1]), backend), None,
                                  16, 4, "nvfp4", gs, out)
            assert _bits(dgot)[0] == (out or "float32")
            assert np.array_equal(_bits(dgot)[1], _bits(dref.astype(getattr(mx, out or "float32")))[1]), (gs, out)


def test_global_scale_errors():
    from mlxquant import InvalidArgumentError

    w = np.ones((2, 32), np.float32)
    with pytest.raises(InvalidArgumentError, match=r"only supported for mode .nvfp4."):
        mlx_quantize(w, mode="mxfp4", global_scale=1.0)
    with pytest.raises(InvalidArgumentError, match=r"only supported for mode .nvfp4."):
        mlx_dequantize(*mlx_quantize(w, 32, 4), 32, 4, global_scale=1.0)
    for bad in (0.0, -1.0, float("nan"), float("inf"), np.ones(2, np.float32)):
        with pytest.raises(InvalidArgumentError, match="global_scale"):
            mlx_quantize(w, mode="nvfp4", global_scale=bad)


@pytest.mark.parametrize("mode", ["mxfp4", "mxfp8"])
def test_native_path_not_used_where_mlx_wraps_the_e8m0_code(mode):
    """impl="auto" on MLX input must give the generic result (NumPy == MLX): for groups whose scale is below 2^-127
    MLX's E8M0 code wraps around (garbage), so the native path must not be taken there."""
    rng = np.random.default_rng(17)
    w = (rng.standard_normal((4, 64)) * np.array([[1e-40], [1e-38], [3e-37], [1.0]])).astype(np.float32)
    got_np = mlx_quantize(w, mode=mode)
    got_mx = mlx_quantize(mx.array(w), mode=mode)  # impl="auto"
    gen_mx = mlx_quantize(mx.array(w), mode=mode, impl="generic")
    for a, b_, c in zip(got_np[:2], got_mx[:2], gen_mx[:2], strict=True):
        np.testing.assert_array_equal(np.array(b_), a)
        np.testing.assert_array_equal(np.array(c), a)
    # the rows MLX does get right are still bit-exact with it
    ref = mx.quantize(mx.array(w[3:]), mode=mode)
    np.testing.assert_array_equal(got_np[0][3:], np.array(ref[0]))
    np.testing.assert_array_equal(got_np[1][3:], np.array(ref[1]))


@pytest.mark.parametrize("gs", [None, 1e-6])
def test_native_path_not_used_where_mlx_nvfp4_argmin_ties(gs):
    """nvfp4 with the scale saturated at 448 and |w / scale| ≥ 2^24: every |v - LUT entry| of MLX's float32 argmin
    rounds to the same value and MLX picks code 0 for the largest weights. impl="auto" must then give the generic
    (saturating) result, equal to NumPy's."""
    rng = np.random.default_rng(19)
    w = (rng.standard_normal((4, 32)) * np.array([[1.0], [1e9], [1e10], [1e30]])).astype(np.float32)
    got_np = mlx_quantize(w, mode="nvfp4", global_scale=gs)
    got_mx = mlx_quantize(mx.array(w), mode="nvfp4", global_scale=gs)
    for a, b_ in zip(got_np[:2], got_mx[:2], strict=True):
        np.testing.assert_array_equal(np.array(b_), a)
    codes = np.array(got_np[0][3]).view(np.uint8)  # the largest row saturates at ±6 (codes 7 / 15 in each nibble)
    assert set(np.unique(codes & 0x7).tolist()) == {7} and set(np.unique(codes >> 4 & 0x7).tolist()) == {7}


def test_gguf_accepts_the_gguf_packages_type_enum_and_lowercase_names():
    gguf = pytest.importorskip("gguf")
    quants = pytest.importorskip("gguf.quants")
    x = np.random.default_rng(23).standard_normal((2, 64)).astype(np.float32)
    t = gguf.GGMLQuantizationType.Q5_1
    ref = quants.quantize(x, t)
    np.testing.assert_array_equal(gguf_quantize(x, t), ref)
    np.testing.assert_array_equal(gguf_quantize(x, "q5_1"), ref)
    np.testing.assert_array_equal(gguf_dequantize(ref, t), quants.dequantize(ref, t))
    from mlxquant import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="valid values are: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1"):
        gguf_quantize(x, gguf.GGMLQuantizationType.Q4_K)


@pytest.mark.parametrize("qtype", ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"])
def test_gguf_numpy_fast_path_equals_gguf_package_on_signed_zero_and_tie_blocks(qtype):
    """NumPy input: bit-exact with the gguf package even where only the sign of a zero block extreme or the order of
    +a / -a differs (the fast path's transposed reductions hand those blocks back to last-axis reductions)."""
    gguf = pytest.importorskip("gguf")
    quants = pytest.importorskip("gguf.quants")
    rng = np.random.default_rng(31)
    x = rng.standard_normal((2048, 32)).astype(np.float32)
    for r in range(0, 1024):
        i, j = rng.choice(32, 2, replace=False)
        x[r] = np.abs(x[r]) + 0.5
        x[r, i], x[r, j] = 0.0, -0.0
        if r % 2:
            x[r] = -x[r]
    x[1024:1200] = np.where(rng.random((176, 32)) < 0.5, 0.0, -0.0)
    x[1200:1600, 5], x[1200:1600, 9] = 9.0, -9.0
    x = x.reshape(64, 1024)
    ref = quants.quantize(x, getattr(gguf.GGMLQuantizationType, qtype))
    np.testing.assert_array_equal(gguf_quantize(x, qtype), ref)
