"""mlx_quantize / gguf_quantize / QuantizedTensor: oracle agreement, policies, edge values and clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from mlxquant import (
    AlreadyQuantizedError,
    InputTypeError,
    InvalidArgumentError,
    NonFiniteError,
    QuantizedTensor,
    ShapeError,
    gguf_dequantize,
    gguf_quantize,
    mlx_dequantize,
    mlx_quantize,
)
from mlxquant.quant.packing import unpack
from tests.helpers import as_backend, assert_close, assert_equal
from tests.reference.formats_oracle import affine_quantize_row, fp4_code


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 5, 6, 8])
@pytest.mark.parametrize("group", [32, 64, 128])
def test_affine_matches_loop_oracle(bits, group, backend):
    rng = np.random.default_rng(bits + group)
    w = (rng.standard_normal((3, 256)) * rng.choice([1e-3, 1, 50], size=(3, 1))).astype(np.float32)
    w[0, :group] = 0.0
    w[1, :group] = -2.5
    wq, scales, biases = mlx_quantize(as_backend(w, backend), group, bits)
    codes = unpack(wq, bits, count=256)
    for r in range(3):
        c, s, b = affine_quantize_row(w[r].tolist(), group, bits)
        assert_equal(codes[r], np.array(c, np.uint8), backend=backend)
        assert_equal(scales[r], np.array(s, np.float32), backend=backend)
        assert_equal(biases[r], np.array(b, np.float32), backend=backend)


def test_affine_error_bound_and_edges(backend):
    # MLX's affine maps the larger-magnitude edge exactly; the error is at most one scale
    rng = np.random.default_rng(1)
    w = rng.standard_normal((4, 128)).astype(np.float32)
    wq, s, b = mlx_quantize(as_backend(w, backend), 64, 4)
    wh = np.array(mlx_dequantize(wq, s, b, 64, 4))
    step = np.repeat(np.abs(np.asarray(s) if backend == "numpy" else np.array(s)), 64, axis=1)
    assert np.all(np.abs(wh - w) <= step * (1 + 1e-6))
    for g in range(2):
        grp = w[:, g * 64 : (g + 1) * 64]
        edge = np.where(np.abs(grp.min(1)) > np.abs(grp.max(1)), grp.min(1), grp.max(1))
        np.testing.assert_array_equal(np.take_along_axis(wh[:, g * 64 : (g + 1) * 64],
                                                         np.abs(grp).argmax(1)[:, None], 1)[:, 0], edge)


def test_constant_zero_and_single_value_groups():
    w = np.zeros((2, 32), np.float32)
    w[1] = 3.0
    wq, s, b = mlx_quantize(w, 32, 4)
    np.testing.assert_array_equal(mlx_dequantize(wq, s, b, 32, 4), w)  # both groups come back exactly
    # max - min = 0: MLX's eps 1e-7 becomes the scale (negative: |max| >= |min|); the constant 3 is the bias
    np.testing.assert_array_equal(s.ravel(), np.float32([-1e-7, np.float32(3) / np.float32(-3e7)]))
    np.testing.assert_array_equal(b.ravel(), np.float32([0.0, 3.0]))


def test_fp4_codes_match_lut_argmin_oracle():
    from mlxquant._backend import get_backend
    from mlxquant.quant.formats.mlx import _fp4_codes

    v = np.concatenate([np.linspace(-6, 6, 2401, dtype=np.float32), np.float32([-0.0, 0.0, 0.25, -0.25, 5.0])])
    got = _fp4_codes(get_backend(v), v)
    assert got.tolist() == [fp4_code(float(x)) for x in v]


def test_policies(backend):
    w = as_backend(np.random.default_rng(2).standard_normal((3, 96)).astype(np.float32), backend)
    with pytest.raises(ShapeError, match=r"not divisible by group_size 64.*policy='pad'"):
        mlx_quantize(w, 64, 4)
    wq, s, b = mlx_quantize(w, 64, 4, policy="fallback")
    assert tuple(s.shape) == (3, 3)  # group 32
    ref = mlx_quantize(w, 32, 4)
    for a, c in zip((wq, s, b), ref, strict=True):
        assert_equal(a, c, backend=backend)
    wq, s, b = mlx_quantize(w, 64, 4, policy="pad")
    assert tuple(wq.shape) == (3, 16) and tuple(s.shape) == (3, 2)
    wh = mlx_dequantize(wq, s, b, 64, 4, width=96)
    assert tuple(wh.shape) == (3, 96)
    assert_close(wh, np.asarray(w) if backend == "numpy" else np.array(w), rtol=0, atol=0.5, backend=backend)
    with pytest.raises(ShapeError, match="4304"):
        mlx_quantize(np.zeros((2, 4304), np.float32), 64, 4, policy="fallback")
    wq, s, _ = mlx_quantize(np.zeros((2, 4304), np.float32), 64, 4, policy="pad")
    assert s.shape == (2, 68)


def test_errors():
    w = np.ones((2, 64), np.float32)
    with pytest.raises(InvalidArgumentError, match="valid values are: affine, mxfp4, mxfp8, nvfp4"):
        mlx_quantize(w, 64, 4, "int4")
    with pytest.raises(InvalidArgumentError, match="valid values are: 32, 64, 128"):
        mlx_quantize(w, 16, 4)
    with pytest.raises(InvalidArgumentError, match="valid values are: 1, 2, 3, 4, 5, 6, 8"):
        mlx_quantize(w, 64, 7)
    with pytest.raises(InvalidArgumentError, match="valid values are: 32"):
        mlx_quantize(w, 64, 4, "mxfp4")
    with pytest.raises(InvalidArgumentError, match="policy"):
        mlx_quantize(w, 64, 4, policy="skip")
    with pytest.raises(ShapeError, match="at least 2 dimensions"):
        mlx_quantize(np.ones(64, np.float32), 64, 4)
    with pytest.raises(InputTypeError, match="float weights"):
        mlx_quantize(np.ones((2, 64), np.int32), 64, 4)
    for bad in (np.nan, np.inf, -np.inf):
        x = w.copy()
        x[1, 3] = bad
        with pytest.raises(NonFiniteError):
            mlx_quantize(x, 64, 4)
        with pytest.raises(NonFiniteError):
            gguf_quantize(x, "Q4_0")
    wq, s, b = mlx_quantize(w, 64, 4)
    with pytest.raises(AlreadyQuantizedError, match="already quantized"):
        mlx_quantize(wq, 64, 4)
    with pytest.raises(InvalidArgumentError, match="needs biases"):
        mlx_dequantize(wq, s, None, 64, 4)
    with pytest.raises(ShapeError, match="describe"):
        mlx_dequantize(wq, s, b, 32, 4)
    with pytest.raises(InvalidArgumentError, match="has no biases"):
        mlx_dequantize(wq, s, b, 32, 4, "mxfp4")
    with pytest.raises(InvalidArgumentError, match="impl='native' is not available"):
        mlx_quantize(w, 64, 4, impl="native")  # NumPy input
    with pytest.raises(InvalidArgumentError, match="valid values are: Q8_0"):
        gguf_quantize(w, "Q4_K")
    with pytest.raises(ShapeError, match="multiple of 32"):
        gguf_quantize(np.ones((2, 48), np.float32), "Q4_0")
    with pytest.raises(AlreadyQuantizedError):
        gguf_quantize(gguf_quantize(w, "Q4_0"), "Q4_0")
    with pytest.raises(InputTypeError, match="uint8"):
        gguf_dequantize(np.zeros(18, np.int8), "Q4_0")
    with pytest.raises(ShapeError, match="multiple of 18"):
        gguf_dequantize(np.zeros(20, np.uint8), "Q4_0")


def test_inputs_not_mutated_and_empty(backend):
    w = np.random.default_rng(3).standard_normal((0, 64)).astype(np.float32)
    wq, s, _ = mlx_quantize(as_backend(w, backend), 64, 4)
    assert tuple(wq.shape) == (0, 8) and tuple(s.shape) == (0, 1)
    ro = as_backend(np.ones((2, 64), np.float32), "numpy")  # read-only: a write would raise
    mlx_quantize(ro, 64, 4)
    gguf_quantize(ro, "Q5_1")
    assert gguf_quantize(np.zeros((0, 32), np.float32), "Q8_0").shape == (0, 34)


def test_float64_is_computed_in_float32():
    w = np.random.default_rng(4).standard_normal((2, 64))
    a = mlx_quantize(w, 64, 4)
    b = mlx_quantize(w.astype(np.float32), 64, 4)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
        assert x.dtype == y.dtype


def test_quantized_tensor(backend):
    w = np.random.default_rng(5).standard_normal((4, 96)).astype(np.float32)
    qt = QuantizedTensor.quantize(as_backend(w, backend), 64, 4, policy="fallback")
    assert qt.group_size == 32 and qt.bits == 4 and qt.mode == "affine" and qt.shape == (4, 96)
    assert qt.dtype == "float32" and qt.axis == -1
    assert qt.nbytes == 4 * 12 * 4 + 2 * 4 * 3 * 4
    assert_close(qt.dequantize(), w, rtol=0, atol=0.3, backend=backend)
    with pytest.raises(AlreadyQuantizedError, match="affine 4-bit, group 32"):
        QuantizedTensor.quantize(qt)
    with pytest.raises(AlreadyQuantizedError):
        mlx_quantize(qt)
    with pytest.raises(AlreadyQuantizedError):
        gguf_quantize(qt, "Q4_0")
    g = QuantizedTensor.quantize(w[:, :64], mode="Q4_0")
    assert g.nbytes == 4 * 2 * 18 and g.bits == 4 and g.group_size == 32
    np.testing.assert_array_equal(g.dequantize(), gguf_dequantize(gguf_quantize(w[:, :64], "Q4_0"), "Q4_0"))
    p = QuantizedTensor.quantize(w, 64, 4, policy="pad")
    assert p.dequantize().shape == (4, 96)
    m = QuantizedTensor.quantize(w, None, None, "mxfp4")
    assert m.biases is None and m.group_size == 32 and "mxfp4" in repr(m)
    with pytest.raises(InvalidArgumentError, match="valid values are"):
        QuantizedTensor.quantize(w, mode="Q9")
