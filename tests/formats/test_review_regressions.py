"""Regressions found in the adversarial review of issue 3 that need no peer: mode-aware defaults everywhere
(``mode="mxfp4"`` alone must work, as in ``mx.quantize``) and QuantizedTensor giving back its original dtype."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlxquant import InvalidArgumentError
from mlxquant.checkpoint import plan_checkpoint, quantize_checkpoint
from mlxquant.checkpoint_io import write_safetensors
from mlxquant.quant.tensor import QuantizedTensor
from tests.helpers import as_backend


@pytest.mark.parametrize(("mode", "group", "bits"), [("mxfp4", 32, 4), ("mxfp8", 32, 8), ("nvfp4", 16, 4),
                                                     ("affine", 64, 4)])
def test_checkpoint_defaults_follow_the_mode(tmp_path, mode, group, bits):
    w = np.random.default_rng(0).standard_normal((32, 128)).astype(np.float32)
    write_safetensors(tmp_path / "in.safetensors", {"l.weight": w})
    plans = plan_checkpoint(tmp_path / "in.safetensors", mode=mode)
    assert (plans[0].bits, plans[0].group_size, plans[0].mode) == (bits, group, mode)
    rep = quantize_checkpoint(tmp_path / "in.safetensors", tmp_path / "out", mode=mode, backend="numpy")
    cfg = json.loads((tmp_path / "out" / "config.json").read_text())
    assert cfg["quantization"] == {"group_size": group, "bits": bits, "mode": mode}
    assert rep.rows[0]["group_size"] == group and rep.rows[0]["bits"] == bits
    # an explicit value that does not fit the mode is still refused, naming the valid values
    with pytest.raises(InvalidArgumentError, match="valid values are"):
        plan_checkpoint(tmp_path / "in.safetensors", mode=mode, group_size=128 if mode != "affine" else 16)


@pytest.mark.parametrize(("mode", "group"), [("mxfp4", 32), ("mxfp8", 32), ("nvfp4", 16)])
def test_quantized_tensor_defaults_follow_the_mode(mode, group, backend):
    w = np.random.default_rng(1).standard_normal((4, 64)).astype(np.float32)
    qt = QuantizedTensor.quantize(as_backend(w, backend), mode=mode)
    assert qt.group_size == group and qt.mode == mode and qt.biases is None
    # dequantize() gives back the original dtype (mx.dequantize's own default for these modes is bfloat16)
    out = qt.dequantize()
    assert str(out.dtype).split(".")[-1] == "float32"
    assert tuple(out.shape) == (4, 64)
    assert str(qt.dequantize("float16").dtype).split(".")[-1] == "float16"


def test_quantized_tensor_dequantize_dtype_float16_original(backend):
    w = np.random.default_rng(2).standard_normal((4, 64)).astype(np.float16)
    for mode in ("affine", "mxfp4"):
        out = QuantizedTensor.quantize(as_backend(w, backend), mode=mode).dequantize()
        assert str(out.dtype).split(".")[-1] == "float16", mode


def test_quantized_tensor_keeps_the_nvfp4_global_scale(backend):
    from mlxquant.quant.formats.mlx import mlx_dequantize, mlx_quantize

    w = np.random.default_rng(3).standard_normal((4, 64)).astype(np.float32)
    qt = QuantizedTensor.quantize(as_backend(w, backend), mode="nvfp4", global_scale=0.37)
    assert qt.meta["global_scale"] == float(np.float32(0.37))
    ref = mlx_dequantize(*mlx_quantize(w, mode="nvfp4", global_scale=0.37), mode="nvfp4", global_scale=0.37)
    np.testing.assert_array_equal(np.array(qt.dequantize()), ref)


# ---- the NumPy fast path of affine mlx_quantize is the generic path, bit for bit ------------------------------------
from unittest import mock  # noqa: E402

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import mlxquant.quant.formats.mlx as _mlxfmt  # noqa: E402


@st.composite
def _affine_case(draw):
    g = draw(st.sampled_from([32, 64, 128]))
    bits = draw(st.sampled_from([2, 3, 4, 5, 6, 8]))
    lead = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=2)))
    width = g * draw(st.integers(1, 3))
    dtype = draw(st.sampled_from(["float32", "float16", "bfloat16"]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    mag = 2.0 ** draw(st.integers(-20, 12))
    w = rng.standard_normal((*lead, width)) * mag
    kind = draw(st.sampled_from(["plain", "coarse", "zeros", "const", "signed_zeros"]))
    if kind == "coarse":  # exact .5 ties of (w - bias) / scale
        w = np.round(w / mag * 4) / 4
    elif kind == "zeros":
        w.reshape(-1, width)[::2, :g] = 0.0
    elif kind == "const":
        w.reshape(-1, width)[:, :g] = w.reshape(-1, width)[:, :1]
    elif kind == "signed_zeros":
        w = np.where(rng.random(w.shape) < 0.5, 0.0, -0.0) * np.where(rng.random(w.shape) < 0.3, 0, 1) + w * (
            rng.random(w.shape) < 0.3)
    w = w.astype(np.float32)
    if dtype == "bfloat16":
        ml = pytest.importorskip("ml_dtypes")
        w = w.astype(ml.bfloat16)
    else:
        w = w.astype(dtype)
    chunk = draw(st.sampled_from([1, 97, 1 << 16]))  # tiny chunks: many chunks, a partial last one
    rounding = draw(st.sampled_from(["half_even", "half_away"]))
    return w, g, bits, chunk, rounding


@given(_affine_case())
def test_numpy_affine_fast_path_equals_generic(case):
    w, g, bits, chunk, rounding = case
    with mock.patch.object(_mlxfmt, "_FAST_CHUNK", chunk):
        fast = _mlxfmt.mlx_quantize(w, g, bits, rounding=rounding)  # impl="auto": the fast path on NumPy input
    gen = _mlxfmt.mlx_quantize(w, g, bits, rounding=rounding, impl="generic")
    for a, b in zip(fast, gen, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.array_equal(a.view(np.uint8), b.view(np.uint8))


def test_numpy_affine_fast_path_is_taken_and_checks_finiteness():
    w = np.random.default_rng(5).standard_normal((3, 128)).astype(np.float32)
    with mock.patch.object(_mlxfmt, "_affine_quantize", side_effect=AssertionError("generic path taken")):
        _mlxfmt.mlx_quantize(w, 64, 4)
    from mlxquant import NonFiniteError

    for bad in (np.nan, np.inf, -np.inf):
        x = w.copy()
        x[2, 100] = bad
        with pytest.raises(NonFiniteError, match="NaN or inf"):
            _mlxfmt.mlx_quantize(x, 64, 4)


@pytest.mark.parametrize("bits", [2, 3, 4, 5, 6, 8])
def test_numpy_affine_fast_path_equals_generic_on_many_groups(bits):
    """Thousands of groups with many near-ties: a reciprocal multiply instead of the division, or a wrong group
    extreme, shows up here even where 40 Hypothesis examples might miss it."""
    rng = np.random.default_rng(bits)
    w = rng.standard_normal((96, 1024)).astype(np.float32) * rng.choice([1e-3, 1.0, 50.0], size=(96, 1))
    w[::3] = np.round(w[::3] * 16) / 16  # coarse rows: exact .5 ties
    for g in (32, 64, 128):
        with mock.patch.object(_mlxfmt, "_FAST_CHUNK", 4096):
            fast = _mlxfmt.mlx_quantize(w, g, bits)
        gen = _mlxfmt.mlx_quantize(w, g, bits, impl="generic")
        for a, b in zip(fast, gen, strict=True):
            assert np.array_equal(a, b), g


@pytest.mark.parametrize("dt", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("mode", ["affine", "mxfp4", "nvfp4"])
def test_nonfinite_weights_refused_on_every_path(dt, mode, backend):
    """The finiteness check before mx.quantize reads MLX's CPU buffer through NumPy (bfloat16 via its bits): NaN and
    ±inf are refused for every dtype and mode, on the generic and the fast / native paths alike."""
    from mlxquant import NonFiniteError

    if backend == "numpy" and dt == "bfloat16":
        ml = pytest.importorskip("ml_dtypes")
    for bad in (np.nan, np.inf, -np.inf):
        x = np.random.default_rng(6).standard_normal((2, 64)).astype(np.float32)
        x[1, 37] = bad
        if backend == "mlx":
            mx = pytest.importorskip("mlx.core")
            w = mx.array(x).astype(getattr(mx, dt))
        else:
            w = x.astype(ml.bfloat16) if dt == "bfloat16" else x.astype(dt)
        for impl in ("auto", "generic"):
            with pytest.raises(NonFiniteError):
                _mlxfmt.mlx_quantize(w, mode=mode, impl=impl)


def test_quantized_tensor_from_nested_lists():
    rows = np.random.default_rng(8).standard_normal((2, 64)).astype(np.float32)
    qt = QuantizedTensor.quantize(rows.tolist(), group_size=32)
    assert qt.shape == (2, 64) and qt.dtype == "float32"
    np.testing.assert_array_equal(qt.dequantize(), QuantizedTensor.quantize(rows, group_size=32).dequantize())


# ---- the NumPy fast path of gguf_quantize is the generic block code, bit for bit -----------------------------------
import warnings  # noqa: E402

import mlxquant.quant.formats.gguf as _gguffmt  # noqa: E402
from mlxquant._backend import get_backend  # noqa: E402


def _gguf_generic(x, qtype):
    b = get_backend(x)
    blocks = np.asarray(x, np.float32).reshape(-1, 32)
    out = _gguffmt._quantize_blocks(b, blocks, qtype, _gguffmt._block_stats(b, blocks, qtype), {})
    return out.reshape(*x.shape[:-1], -1)


@st.composite
def _gguf_case(draw):
    qtype = draw(st.sampled_from(["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"]))
    lead = tuple(draw(st.lists(st.integers(1, 6), min_size=0, max_size=2)))
    width = 32 * draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    w = rng.standard_normal((*lead, width)) * 2.0 ** draw(st.sampled_from([-140, -128, -20, 0, 10, 17]))
    kind = draw(st.sampled_from(["plain", "ties", "zeros", "pm"]))
    flat = w.reshape(-1, 32)
    if kind == "ties":  # exact ties in x·id + offset
        flat[:] = np.round(flat / np.abs(flat).max() * 16) / 2
    elif kind == "zeros":  # all-zero blocks with mixed signs of zero, and zero extremes
        flat[::2] = np.where(rng.random(flat[::2].shape) < 0.5, 0.0, -0.0)
        flat[1::3] = np.abs(flat[1::3]) + 1  # positive blocks whose zero minimum holds +0.0 and -0.0
        for r in range(1, flat.shape[0], 3):  # at random places: NumPy's SIMD min picks either zero by position
            i, j = rng.choice(32, 2, replace=False)
            flat[r, i], flat[r, j] = 0.0, -0.0
    elif kind == "pm":  # +a and -a both present: the first one decides Q4_0 / Q5_0's d
        flat[:, 3], flat[:, 9] = -4.0, 4.0
        flat[::2, 3], flat[::2, 9] = 4.0, -4.0
        flat[:] = np.clip(flat, -4, 4)
    dtype = draw(st.sampled_from(["float32", "float16", "float64"]))
    with np.errstate(over="ignore"):
        w = w.astype(dtype)
    w = np.where(np.isfinite(w), w, 0).astype(dtype)
    chunk = draw(st.sampled_from([1, 3, 8192]))
    return w, qtype, chunk


@given(_gguf_case())
def test_numpy_gguf_fast_path_equals_generic(case):
    w, qtype, chunk = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mock.patch.object(_gguffmt, "_FAST_BLOCKS", chunk):
            fast = _gguffmt.gguf_quantize(w, qtype)
        gen = _gguf_generic(w, qtype)
    assert fast.dtype == np.uint8 and fast.shape == gen.shape
    assert np.array_equal(fast, gen)


def test_gguf_fp16_overflow_is_one_warning_with_the_total(backend):
    x = np.ones((4, 64), np.float32)
    x[0, 3] = 1e7  # d = 1e7/-8 overflows float16 in Q4_0: one block
    x[2, 40] = -2e6
    x[3, :] = 7e5
    with mock.patch.object(_gguffmt, "_FAST_BLOCKS", 2):  # several chunks: still one warning
        with pytest.warns(RuntimeWarning, match="4 block d values exceed float16") as rec:
            _gguffmt.gguf_quantize(as_backend(x, backend), "Q4_0")
    assert len([r for r in rec if issubclass(r.category, RuntimeWarning)]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _gguffmt.gguf_quantize(as_backend(np.ones((2, 64), np.float32), backend), "Q4_1")  # no warning at all


@pytest.mark.parametrize("qtype", ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"])
def test_numpy_gguf_fast_path_equals_generic_on_many_blocks(qtype):
    """Thousands of blocks with the cases the fast path must hand back to the last-axis reductions: a zero minimum /
    maximum holding both +0.0 and -0.0 at random places (NumPy's SIMD min / max picks either by position), all-zero
    blocks, and +a / -a magnitude ties (the first one decides Q4_0 / Q5_0's d)."""
    rng = np.random.default_rng(29)
    x = rng.standard_normal((3000, 32)).astype(np.float32)
    for r in range(0, 1000):
        i, j = rng.choice(32, 2, replace=False)
        x[r] = np.abs(x[r]) + 0.5
        x[r, i], x[r, j] = 0.0, -0.0
        if r % 2:
            x[r] = -x[r]  # a zero maximum holding both signs
    x[1000:1200] = np.where(rng.random((200, 32)) < 0.5, 0.0, -0.0)
    for r in range(1200, 1600):
        i, j = rng.choice(32, 2, replace=False)
        x[r] = np.clip(x[r], -2, 2)
        x[r, i], x[r, j] = 3.0, -3.0
    fast = _gguffmt.gguf_quantize(x, qtype)
    assert np.array_equal(fast, _gguf_generic(x, qtype))
