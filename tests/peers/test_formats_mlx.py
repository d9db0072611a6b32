"""mlx_quantize / mlx_dequantize / pack against the real mx.quantize / mx.dequantize (MLX CPU), bit for bit.

The MLX inputs go through ``impl="generic"`` so the generic implementation (not mx.quantize itself) is what is
compared; NumPy inputs never touch MLX.
"""

from __future__ import annotations

import numpy as np
import pytest

from mlxquant.quant.formats.mlx import mlx_dequantize, mlx_quantize
from mlxquant.quant.packing import pack, unpack

mx = pytest.importorskip("mlx.core")
pytestmark = pytest.mark.peers

DTYPES = ["float32", "float16", "bfloat16"]


def _np(a):
    if a.dtype == mx.bfloat16:
        return np.array(a.view(mx.uint16)), "bfloat16"
    return np.array(a), str(a.dtype).split(".")[-1]


def _same(got, ref, msg=""):
    """Exact equality of an mlxquant result (NumPy or MLX) and an MLX result: dtype and bits."""
    if hasattr(got, "dtype") and isinstance(got, mx.array):
        g, gdt = _np(got)
    else:
        g = np.asarray(got)
        gdt = "bfloat16" if g.dtype.name == "bfloat16" else g.dtype.name
        if gdt == "bfloat16":
            g = g.view(np.uint16)
    r, rdt = _np(ref)
    assert gdt == rdt, f"{msg}: dtype {gdt} != {rdt}"
    assert g.shape == r.shape, f"{msg}: shape {g.shape} != {r.shape}"
    assert np.array_equal(
        g.view(np.uint8) if g.dtype.kind == "f" else g, r.view(np.uint8) if r.dtype.kind == "f" else r
    ), f"{msg}: {int((g != r).sum())} values differ"


def _weights(rng, shape, dt):
    scale = rng.choice([1e-4, 0.02, 1.0, 300.0], size=(*shape[:-1], 1))
    w = (rng.standard_normal(shape) * scale).astype(np.float32)
    w[..., :32] = np.round(w[..., :32] * 4) / 4  # coarse values: many exact ties in (w - bias) / scale
    w[0, :64] = 0.0  # an all-zero group
    w[0, 64:128] = 1.5  # a constant group
    return mx.array(w).astype(getattr(mx, dt))


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("bits", [1, 2, 3, 4, 5, 6, 8])
@pytest.mark.parametrize("group", [32, 64, 128])
def test_affine_bit_exact(dt, bits, group):
    rng = np.random.default_rng(bits * 1000 + group)
    w = _weights(rng, (6, 384), dt)
    ref = mx.quantize(w, group_size=group, bits=bits)
    got = mlx_quantize(w, group, bits, impl="generic")
    for name, g, r in zip(("wq", "scales", "biases"), got, ref, strict=True):
        _same(g, r, f"mlx {dt} {bits}b g{group} {name}")
    if dt != "bfloat16":  # NumPy input (no bfloat16 dtype in NumPy without ml_dtypes)
        got_np = mlx_quantize(np.array(w), group, bits)
        for name, g, r in zip(("wq", "scales", "biases"), got_np, ref, strict=True):
            assert isinstance(g, np.ndarray)
            _same(g, r, f"numpy {dt} {bits}b g{group} {name}")
    # dequantize, both backends
    dref = mx.dequantize(*ref, group_size=group, bits=bits)
    _same(mlx_dequantize(*ref, group_size=group, bits=bits), dref, "dequantize mlx")
    if dt != "bfloat16":
        _same(mlx_dequantize(*(np.array(a) for a in ref), group_size=group, bits=bits), dref, "dequantize numpy")
    # packing alone: the codes mx.quantize packed, repacked by mlxquant.pack, give the same words
    codes = unpack(np.array(ref[0]), bits, count=w.shape[-1])
    np.testing.assert_array_equal(pack(codes, bits), np.array(ref[0]))


def test_affine_ties_and_metal_rounding():
    # group of 32 with min -8, max 7 (4 bits): scale exactly 1, bias -8, so w + 8 hits every .5 tie
    g = np.concatenate([[-8.0, 7.0], np.tile(np.arange(-7.5, 7.0, 1.0), 2)[:30]]).astype(np.float32)[None]
    w = mx.array(g)
    ref = mx.quantize(w, group_size=32, bits=4)
    got = mlx_quantize(g, 32, 4)
    for a, r in zip(got, ref, strict=True):
        _same(a, r, "ties")
    codes_even = unpack(got[0], 4, count=32)[0].astype(int)
    codes_away = unpack(mlx_quantize(g, 32, 4, rounding="half_away")[0], 4, count=32)[0].astype(int)
    t = g[0] + 8  # exact ties at x.5
    ties = (t - np.floor(t)) == 0.5
    assert ties.sum() >= 14
    np.testing.assert_array_equal(codes_away[ties], np.floor(t[ties]) + 1)  # away from zero (t > 0)
    np.testing.assert_array_equal(codes_even[ties], 2 * np.round(t[ties] / 2))  # to even
    assert (codes_away != codes_even).sum() == (ties & (np.floor(t) % 2 == 0)).sum()


@pytest.mark.parametrize("mode", ["mxfp4", "mxfp8", "nvfp4"])
@pytest.mark.parametrize("dt", DTYPES)
def test_microscaling_bit_exact(mode, dt):
    rng = np.random.default_rng(7)
    w = _weights(rng, (8, 256), dt)
    ref = mx.quantize(w, mode=mode)
    got = mlx_quantize(w, None, None, mode, impl="generic")
    assert got[2] is None
    _same(got[0], ref[0], f"{mode} {dt} wq")
    _same(got[1], ref[1], f"{mode} {dt} scales")
    if dt != "bfloat16":
        got_np = mlx_quantize(np.array(w), None, None, mode)
        _same(got_np[0], ref[0], f"{mode} numpy wq")
        _same(got_np[1], ref[1], f"{mode} numpy scales")
    dref = mx.dequantize(*ref, mode=mode)
    _same(mlx_dequantize(*ref, None, None, None, mode), dref, f"{mode} dequantize")
    d_np = mlx_dequantize(np.array(ref[0]), np.array(ref[1]), None, None, None, mode)
    np.testing.assert_array_equal(d_np, np.array(dref.astype(mx.float32)))


def test_fp4_ties_go_to_smaller_magnitude():
    v = np.array(
        [0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, -0.25, -0.75, -2.5, -5.0, -0.0, 0.1, -0.1, 6.0, -6.0] + [0.0] * 16,
        np.float32,
    )[None]
    ref = mx.quantize(mx.array(v), mode="mxfp4")
    got = mlx_quantize(v, None, None, "mxfp4")
    _same(got[0], ref[0], "fp4 ties")
    _same(got[1], ref[1], "fp4 ties scales")


def test_nvfp4_shapes_mlx_cannot_do():
    # MLX's CPU nvfp4 fails when the element count is not a multiple of 32; the generic path does not
    w = np.random.default_rng(0).standard_normal((3, 16)).astype(np.float32)
    with pytest.raises(ValueError, match="reshape"):
        mx.eval(*mx.quantize(mx.array(w), mode="nvfp4"))
    wq, scales, _ = mlx_quantize(w, None, None, "nvfp4")
    # rows quantized one at a time by MLX (each padded to 32 elements with a second zero group) agree
    for i in range(3):
        row = np.concatenate([w[i : i + 1], np.zeros((1, 16), np.float32)], axis=1)
        rq, rs = mx.quantize(mx.array(row), mode="nvfp4")
        np.testing.assert_array_equal(wq[i], np.array(rq)[0, :2])
        np.testing.assert_array_equal(scales[i], np.array(rs)[0, :1])


def test_native_path_equals_generic():
    rng = np.random.default_rng(3)
    for mode, g, b in [("affine", 64, 4), ("affine", 32, 3), ("mxfp4", 32, 4), ("mxfp8", 32, 8), ("nvfp4", 16, 4)]:
        w = _weights(rng, (4, 256), "float16")
        nat = mlx_quantize(w, g, b, mode, impl="native")
        gen = mlx_quantize(w, g, b, mode, impl="generic")
        for a, c in zip(nat, gen, strict=True):
            if a is None:
                assert c is None
            else:
                _same(c, a, f"{mode} native vs generic")


@pytest.mark.parametrize(("mode", "group", "bits"), [("affine", 64, 4), ("affine", 32, 6), ("mxfp4", 32, 4),
                                                     ("mxfp8", 32, 8), ("nvfp4", 16, 4)])
def test_numpy_bfloat16_via_ml_dtypes(mode, group, bits):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    w = _weights(np.random.default_rng(8), (4, 256), "float32")
    wb = np.array(w).astype(ml_dtypes.bfloat16)
    ref = mx.quantize(w.astype(mx.bfloat16), group, bits, mode=mode)
    got = mlx_quantize(wb, group, bits, mode)
    for g, r in zip(got, ref, strict=False):
        _same(g, r, f"numpy bf16 {mode}")
