"""Unit tests of the quantization core: known values, errors, shapes, degenerate ranges, dtypes, QParams, profiles."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import mlxquant as mq
from mlxquant.quant import primitives
from mlxquant.quant.primitives import fake_quantize_mask, qparams_from_minmax, qrange
from tests.helpers import as_backend, assert_equal, backend_of

X_TIES = np.array([0.5, 1.5, 2.5, -0.5, -2.5], np.float32)


# ---------------------------------------------------------------------------------------------------------------
# known values: REFERENCE §1 tie table, §2 DynamicQuantizeLinear, §4 torch observer
@pytest.mark.parametrize(
    ("profile", "zp0", "zp1"),
    [
        ("onnx", [0, 2, 2, 0, -2], [1, 3, 3, 1, -1]),
        ("torch", [0, 2, 2, 0, -2], [2, 2, 4, 0, -2]),
        ("tflite", [0, 2, 2, 0, -2], [1, 3, 3, 1, -1]),
        ("tflite_reference", [1, 2, 3, -1, -3], [2, 3, 4, 0, -2]),
    ],
)
def test_tie_table(backend: str, profile: str, zp0: list, zp1: list) -> None:
    x = as_backend(X_TIES, backend)
    assert_equal(mq.quantize(x, 1.0, 0, profile=profile), np.array(zp0, np.int8), backend=backend)
    assert_equal(mq.quantize(x, 1.0, 1, profile=profile), np.array(zp1, np.int8), backend=backend)


def test_rounding_override(backend: str) -> None:
    x = as_backend(X_TIES, backend)
    assert_equal(mq.quantize(x, 1.0, rounding="half_away"), np.array([1, 2, 3, -1, -3], np.int8))
    assert_equal(mq.quantize(x, 1.0, rounding="half_up"), np.array([1, 2, 3, 0, -2], np.int8))
    assert_equal(
        mq.quantize(x, 1.0, profile="tflite_reference", rounding="half_even"), np.array([0, 2, 2, 0, -2], np.int8)
    )
    with pytest.raises(mq.InvalidArgumentError, match="valid roundings are: half_even, half_away, half_up"):
        mq.quantize(x, 1.0, rounding="stochastic")


def test_dynamic_quantize_linear_example(backend: str) -> None:
    x = as_backend(np.array([-1.0, 0.2, 2.0, 3.0], np.float32), backend)
    p = mq.choose_qparams(x, "uint8")
    assert backend_of(p.scale) == backend and backend_of(p.zero_point) == backend
    assert mq.get_backend(p.scale).dtype_name(p.scale) == "float32"
    assert mq.get_backend(p.zero_point).dtype_name(p.zero_point) == "int32"
    assert tuple(p.scale.shape) == () and tuple(p.zero_point.shape) == ()
    assert np.float32(mq.to_numpy(p.scale)) == np.float32(0.015686275)
    assert int(mq.to_numpy(p.zero_point)) == 64
    assert_equal(mq.quantize(x, p), np.array([0, 77, 191, 255], np.uint8), backend=backend)


def test_torch_observer_examples() -> None:
    x = np.array([-1.0, 0.2, 2.0, 3.0], np.float32)
    p = mq.choose_qparams(x, "uint8", profile="torch")
    assert (round(float(p.scale), 7), int(p.zero_point)) == (0.0156863, 64)
    assert int(mq.choose_qparams(x, "int8", profile="torch").zero_point) == -64
    p = mq.choose_qparams(x, "uint8", profile="torch", reduce_range=True)
    assert (round(float(p.scale), 7), int(p.zero_point)) == (0.0314961, 32)
    p = mq.choose_qparams(np.zeros(3, np.float32), "uint8", profile="torch")
    assert (float(p.scale), int(p.zero_point)) == (float(np.finfo(np.float32).eps), 0)


def test_symmetric_scales_differ_by_profile() -> None:
    x = np.array([-1.0, 0.5, 2.54], np.float32)
    assert float(mq.choose_qparams(x, symmetric=True).scale) == float(np.float32(2.54) / np.float32(127))
    assert float(mq.choose_qparams(x, symmetric=True, profile="torch").scale) == float(
        np.float32(2.54) / np.float32(127.5)
    )
    assert float(mq.choose_qparams(x, symmetric=True, profile="tflite").scale) == float(
        np.float32(2.54) / np.float32(127)
    )
    assert int(mq.choose_qparams(x, "uint8", symmetric=True).zero_point) == 128
    assert int(mq.choose_qparams(x, "uint4", symmetric=True).zero_point) == 8  # rne(7.5)
    assert int(mq.choose_qparams(x, "uint4", symmetric=True, profile="torch").zero_point) == 7  # (0 + 15) // 2


def test_tflite_nudging() -> None:
    # all-positive data: zero point nudged to qmin; all-negative: to qmax
    assert int(qparams_from_minmax(0.5, 2.0, "int8", profile="tflite").zero_point) == -128
    assert int(qparams_from_minmax(-2.0, -0.5, "int8", profile="tflite").zero_point) == 127
    # zf = -128 - (-1/s) = -64.25 ... rha
    p = qparams_from_minmax(-1.0, 3.0, "int8", profile="tflite")
    assert int(p.zero_point) == -64


def test_qrange() -> None:
    assert qrange("int8") == (-128, 127)
    assert qrange("int8", symmetric=True) == (-127, 127)
    assert qrange("int4", symmetric=True) == (-8, 7)  # the ONNX tool narrows only int8/int16
    assert qrange("int4", symmetric=True, profile="tflite") == (-7, 7)
    assert qrange("int8", narrow_range=True, profile="torch") == (-127, 127)
    assert qrange("int8", reduce_range=True) == (-64, 64)
    assert qrange("int8", reduce_range=True, profile="torch") == (-64, 63)
    assert qrange("uint16", reduce_range=True) == (0, 32767)
    with pytest.raises(mq.InvalidArgumentError, match="tflite"):
        qrange("int8", reduce_range=True, profile="tflite")


# ---------------------------------------------------------------------------------------------------------------
# dtypes, saturation, NaN, inf, 0-d, empty
@pytest.mark.parametrize("dtype", list(mq.QTYPES))
@pytest.mark.parametrize("profile", list(mq.PROFILES))
def test_saturation_nan_inf_and_storage(backend: str, dtype: str, profile: str) -> None:
    qt = mq.QTYPES[dtype]
    x = as_backend(np.array([np.nan, np.inf, -np.inf, 3e38, -3e38, 0.0, -0.0], np.float32), backend)
    zp = 1 if qt.qmin <= 1 <= qt.qmax else 0
    q = mq.quantize(x, 0.5, zp, dtype, profile=profile)
    assert mq.get_backend(q).dtype_name(q) == qt.storage
    assert mq.to_numpy(q).tolist() == [qt.qmin, qt.qmax, qt.qmin, qt.qmax, qt.qmin, zp, zp]


def test_zero_d_and_empty(backend: str) -> None:
    x0 = as_backend(np.array(2.6, np.float32), backend)
    assert_equal(mq.quantize(x0, 1.0), np.array(3, np.int8), backend=backend)
    assert_equal(mq.dequantize(mq.quantize(x0, 0.5), 0.5), np.array(2.5, np.float32), backend=backend)
    for shape in ((0,), (3, 0), (0, 4)):
        e = as_backend(np.zeros(shape, np.float32), backend)
        assert tuple(mq.quantize(e, 1.0).shape) == shape
        assert tuple(mq.dequantize(mq.quantize(e, 1.0), 1.0).shape) == shape
        assert tuple(mq.fake_quantize(e, 1.0).shape) == shape
    p = mq.choose_qparams(as_backend(np.zeros((0,), np.float32), backend))
    assert float(mq.to_numpy(p.scale)) == 1.0
    pa = mq.choose_qparams(as_backend(np.zeros((3, 0), np.float32), backend), axis=0)
    assert mq.to_numpy(pa.scale).tolist() == [1.0, 1.0, 1.0]
    e = as_backend(np.zeros((0, 4), np.float32), backend)
    assert tuple(mq.quantize(e, np.ones(4, np.float32), axis=1).shape) == (0, 4)


def test_int32_quantize_full_range(backend: str) -> None:
    x = as_backend(np.array([2.0e9, -2.0e9, 3e38, -np.inf, 12345.5, -7.5], np.float32), backend)
    for profile in mq.PROFILES:
        q = mq.to_numpy(mq.quantize(x, 1.0, 0, "int32", profile=profile))
        assert q[2] == 2**31 - 1 and q[3] == -(2**31)
        assert q[0] == 2000000000 and q[1] == -2000000000
    q = mq.to_numpy(mq.quantize(x, 1.0, 5, "int32"))
    assert q[4] == 12351 and q[5] == -3  # rne(12345.5) + 5, rne(-7.5) + 5
    assert mq.to_numpy(
        mq.dequantize(as_backend(np.array([2**31 - 1, -(2**31)], np.int32), backend), 1.0, -5)
    ).tolist() == [
        2147483648.0,
        -2147483648.0,
    ]


def test_float_input_dtypes(backend: str) -> None:
    base = np.array([0.3, -1.7, 2.5], np.float32)
    want = mq.quantize(base, 0.1)
    # (mx.array of float64 NumPy data is float32, so float64 is exercised on NumPy only)
    for dt in ("float16", "float64") if backend == "numpy" else ("float16", "bfloat16"):
        x = mq.get_backend(backend=backend).asarray(base, dt)
        assert_equal(mq.quantize(x, 0.1), mq.quantize(mq.get_backend(backend=backend).astype(x, "float32"), 0.1))
        y = mq.fake_quantize(x, 0.1)
        assert mq.get_backend(y).dtype_name(y) == dt
    assert_equal(mq.quantize([0.3, -1.7, 2.5], 0.1), want)  # Python lists are float32 arithmetic too


def test_sub_byte_values_are_unpacked() -> None:
    q = mq.quantize(np.arange(-10, 10, dtype=np.float32), 1.0, 0, "int4")
    assert q.dtype == np.int8 and q.min() == -8 and q.max() == 7
    q = mq.quantize(np.arange(-1, 5, dtype=np.float32), 1.0, 0, "uint2")
    assert q.dtype == np.uint8 and q.tolist() == [0, 0, 1, 2, 3, 3]


def test_per_axis_negative_axis_and_blocked(backend: str) -> None:
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    s = np.array([1.0, 2.0, 4.0, 8.0], np.float32)
    a = mq.quantize(as_backend(x, backend), s, axis=-1)
    b = mq.quantize(as_backend(x, backend), s, axis=2)
    assert_equal(a, b)
    assert_equal(a, np.clip(np.round(x / s), -128, 127).astype(np.int8))
    # blocked, partial last block: 10 along axis 0 in blocks of 4 -> scales of shape (3, 3, 4)... here 2 -> 1 block
    xb = np.arange(40, dtype=np.float32).reshape(10, 4) / 4
    sb = np.array([[1.0] * 4, [2.0] * 4, [4.0] * 4], np.float32)
    q = mq.to_numpy(mq.quantize(as_backend(xb, backend), sb, axis=0, block_size=4))
    want = np.round(xb / np.repeat(sb, 4, axis=0)[:10]).astype(np.int8)
    assert_equal(q, want)
    p = mq.choose_qparams(as_backend(xb, backend), axis=0, block_size=4, symmetric=True)
    assert tuple(p.scale.shape) == (3, 4) and p.block_size == 4 and p.axis == 0
    assert_equal(mq.to_numpy(p.scale)[2], (xb[8:].max(axis=0) / np.float32(127)).astype(np.float32))


# ---------------------------------------------------------------------------------------------------------------
# degenerate ranges: usable scales, exact round trip of all-zero data
@pytest.mark.parametrize("profile", list(mq.PROFILES))
@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("dtype", ["int8", "uint8", "int4", "uint4", "int16", "uint16"])
def test_all_zero_and_constant(backend: str, profile: str, symmetric: bool, dtype: str) -> None:
    z = as_backend(np.zeros((3, 5), np.float32), backend)
    for axis in (None, 0, 1):
        p = mq.choose_qparams(z, dtype, symmetric=symmetric, profile=profile, axis=axis)
        s = mq.to_numpy(p.scale)
        assert np.all(np.isfinite(s) & (s > 0))
        assert_equal(mq.dequantize(mq.quantize(z, p, profile=profile), p), np.zeros((3, 5), np.float32))
    want_scale = float(np.finfo(np.float32).eps) if profile == "torch" else 1.0
    assert float(mq.to_numpy(mq.choose_qparams(z, dtype, symmetric=symmetric, profile=profile).scale)) == want_scale
    # constants: a usable scale, and the value is recovered to within one quantization step
    for c in (3.25, -0.007, 1234.5):
        x = as_backend(np.full(4, c, np.float32), backend)
        p = mq.choose_qparams(x, dtype, symmetric=symmetric, profile=profile)
        y = mq.to_numpy(mq.dequantize(mq.quantize(x, p, profile=profile), p))
        assert np.all(np.abs(y - np.float32(c)) <= float(mq.to_numpy(p.scale)) * 1.0001 + abs(c) * 1e-6)


def test_onnx_constant_round_trip_is_tight() -> None:
    rng = np.random.default_rng(1)
    for c in np.concatenate([10.0 ** rng.uniform(-6, 6, 200), -(10.0 ** rng.uniform(-6, 6, 200))]).astype(np.float32):
        x = np.full(3, c, np.float32)
        for dtype in ("int8", "uint8", "int16"):
            p = mq.choose_qparams(x, dtype)
            y = mq.dequantize(mq.quantize(x, p), p)
            assert np.all(np.abs(y - c) <= 2 * np.spacing(np.abs(c))), (c, dtype)


# ---------------------------------------------------------------------------------------------------------------
# errors
def test_error_hierarchy() -> None:
    assert issubclass(mq.InputTypeError, TypeError) and issubclass(mq.QuantizationError, ValueError)
    assert issubclass(mq.ShapeError, ValueError) and issubclass(mq.NonFiniteError, ValueError)


def test_bad_input_errors(backend: str) -> None:
    x = as_backend(np.ones((2, 3), np.float32), backend)
    with pytest.raises(mq.InputTypeError, match="floating-point"):
        mq.quantize(as_backend(np.ones(3, np.int32), backend), 1.0)
    with pytest.raises(mq.InputTypeError):
        mq.choose_qparams(as_backend(np.ones(3, np.uint8), backend))
    with pytest.raises(mq.InvalidDtypeError, match="valid dtypes are: int2, uint2, int4"):
        mq.quantize(x, 1.0, dtype="int3")
    with pytest.raises(mq.InvalidProfileError, match="valid profiles are: onnx, torch, tflite, tflite_reference"):
        mq.quantize(x, 1.0, profile="coreml")
    for bad in (0.0, -1.0, np.nan, np.inf):
        with pytest.raises(mq.QuantizationError, match="finite and > 0"):
            mq.quantize(x, bad)
        with pytest.raises(mq.QuantizationError, match="finite and > 0"):
            mq.dequantize(as_backend(np.ones(3, np.int8), backend), bad)
    with pytest.raises(mq.QuantizationError, match="outside the range of int8"):
        mq.quantize(x, 1.0, 128)
    with pytest.raises(mq.QuantizationError, match="outside the range of uint8"):
        mq.quantize(x, 1.0, -1, "uint8")
    with pytest.raises(mq.QuantizationError, match="integers"):
        mq.quantize(x, 1.0, 1.5)
    with pytest.raises(mq.InputTypeError):
        mq.quantize(x, 1.0, "3")
    with pytest.raises(mq.QuantizationError, match="2\\*\\*-127"):
        mq.quantize(x, 1e-39, profile="torch")


def test_shape_errors(backend: str) -> None:
    x = as_backend(np.ones((2, 3), np.float32), backend)
    with pytest.raises(mq.ShapeError, match=r"expected \(\) or \(1,\) for per-tensor"):
        mq.quantize(x, np.ones(3, np.float32))
    with pytest.raises(mq.ShapeError, match=r"expected \(3,\) for per-axis"):
        mq.quantize(x, np.ones(2, np.float32), axis=1)
    with pytest.raises(mq.ShapeError, match=r"zero_point has shape \(2,\), expected \(3,\)"):
        mq.quantize(x, np.ones(3, np.float32), np.zeros(2, np.int8), axis=1)
    with pytest.raises(mq.ShapeError, match="blocked"):
        mq.quantize(x, np.ones((2, 1), np.float32), axis=1, block_size=2)  # needs (2, 2)
    with pytest.raises(mq.ShapeError):
        mq.quantize(x, np.float32(1.0), axis=1)  # per-axis needs a 1-D scale
    with pytest.raises(mq.ShapeError):
        mq.dequantize(as_backend(np.ones((2, 3), np.int8), backend), np.ones(2, np.float32), axis=1)


def test_argument_errors(backend: str) -> None:
    x = as_backend(np.ones((2, 3), np.float32), backend)
    for bad in (0, -2, 2.5, True, "4"):
        with pytest.raises(mq.InvalidArgumentError, match="block_size"):
            mq.quantize(x, np.ones((2, 2), np.float32), axis=1, block_size=bad)
    with pytest.raises(mq.InvalidArgumentError, match="block_size requires axis"):
        mq.quantize(x, 1.0, block_size=2)
    with pytest.raises(mq.InvalidArgumentError, match="out of range"):
        mq.quantize(x, np.ones(3, np.float32), axis=2)
    with pytest.raises(mq.InvalidArgumentError, match="0-d"):
        mq.quantize(as_backend(np.float32(1.0), backend), np.ones(1, np.float32), axis=0)
    with pytest.raises(mq.InvalidArgumentError, match="output dtype"):
        mq.dequantize(as_backend(np.ones(3, np.int8), backend), 1.0, dtype="int8")


def test_dequantize_input_errors(backend: str) -> None:
    with pytest.raises(mq.InputTypeError, match="integer input"):
        mq.dequantize(as_backend(np.ones(3, np.float32), backend), 1.0)
    big = as_backend(np.array([0, 2**40], np.int64), backend)
    with pytest.raises(mq.QuantizationError, match="outside the range of int32"):
        mq.dequantize(big, 1.0)
    assert_equal(
        mq.dequantize(as_backend(np.array([5, -3], np.int64), backend), 0.5), np.array([2.5, -1.5], np.float32)
    )
    p = mq.choose_qparams(np.array([-1.0, 1.0], np.float32), "int4")
    with pytest.raises(mq.QuantizationError, match=r"outside the range of int4 \[-8, 7\]"):
        mq.dequantize(as_backend(np.array([0, 9], np.int8), backend), p)
    with pytest.raises(mq.QuantizationError, match="outside the range of int8"):
        mq.dequantize(as_backend(np.array([0, 1], np.int8), backend), 1.0, 300)


def test_nonfinite_reports_count_and_first(backend: str) -> None:
    x = np.ones((3, 4), np.float32)
    x[1, 2] = np.nan
    x[2, 3] = np.nan
    x[0, 1] = -np.inf
    with pytest.raises(
        mq.NonFiniteError, match=r"2 NaN \(first at index \(1, 2\)\); 1 ±inf \(first at index \(0, 1\)\)"
    ):
        mq.choose_qparams(as_backend(x, backend))
    with pytest.raises(mq.NonFiniteError, match=r"1 ±inf"):
        mq.choose_qparams(as_backend(np.array([1.0, np.inf], np.float32), backend), axis=0)
    with pytest.raises(mq.NonFiniteError, match="NaN"):
        qparams_from_minmax(np.nan, 1.0)
    with pytest.raises(mq.NonFiniteError, match="inf"):
        qparams_from_minmax(np.inf, -np.inf)  # an observer that saw no data
    with pytest.raises(mq.InvalidArgumentError, match="min_val > max_val"):
        qparams_from_minmax(2.0, 1.0)
    with pytest.raises(mq.QuantizationError, match="too large"):
        qparams_from_minmax(-3e38, 3e38, "uint8")  # DynamicQuantizeLinear's float32 max - min overflows
    # the quantization tool (onnx int8) subtracts in float64: finite
    assert float(qparams_from_minmax(-3e38, 3e38).scale) == np.float32(6e38 / 255)


def test_inputs_never_modified(backend: str) -> None:
    rng = np.random.default_rng(0)
    x_np = (rng.standard_normal((200, 700)) * 3).astype(np.float32)  # large enough for the fast path
    x_np[0, :3] = [np.nan, np.inf, -np.inf]
    before = x_np.copy()
    x = as_backend(x_np, backend)  # NumPy: a read-only copy, so any write raises
    s = as_backend(np.full(700, 0.05, np.float32), backend)
    for profile in mq.PROFILES:
        mq.quantize(x, 0.05, 3, profile=profile)
        mq.quantize(x, s, 2, axis=1, profile=profile)
        mq.fake_quantize(x, 0.05, 3, profile=profile)
    mq.choose_qparams(as_backend(np.nan_to_num(before, posinf=1, neginf=-1), backend), axis=0)
    q = mq.quantize(x, 0.05)
    q_before = mq.to_numpy(q).copy()
    mq.dequantize(q, 0.05, 3)
    assert_equal(mq.to_numpy(x), before)
    assert_equal(mq.to_numpy(q), q_before)
    assert_equal(mq.to_numpy(s), np.full(700, 0.05, np.float32))


# ---------------------------------------------------------------------------------------------------------------
# QParams, profiles, API surface
def test_qparams_usage(backend: str) -> None:
    x = as_backend(np.linspace(-2, 5, 24, dtype=np.float32).reshape(4, 6), backend)
    p = mq.choose_qparams(x, "uint8", axis=1)
    assert (p.dtype, p.axis, p.block_size) == ("uint8", 1, None)
    q1 = mq.quantize(x, p)
    q2 = mq.quantize(x, **p.kwargs())
    q3 = mq.quantize(x, p.scale, p.zero_point, "uint8", axis=1)
    assert_equal(q1, q3, backend=backend)
    assert_equal(q2, q3)
    assert_equal(mq.dequantize(q1, p), mq.dequantize(q1, p.scale, p.zero_point, axis=1))
    assert_equal(mq.fake_quantize(x, p), mq.dequantize(q1, p))
    with pytest.raises(mq.InvalidArgumentError, match="zero_point"):
        mq.quantize(x, p, 3)
    with pytest.raises(mq.InvalidArgumentError, match="dtype"):
        mq.quantize(x, p, dtype="int16")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.dtype = "int8"  # type: ignore[misc]
    assert "QParams(scale=" in repr(p) and "axis=1" in repr(p)
    pn = p.numpy()
    assert isinstance(pn.scale, np.ndarray) and pn.qtype is mq.QTYPES["uint8"]


def test_profiles_are_documented_records() -> None:
    assert list(mq.PROFILES) == ["onnx", "torch", "tflite", "tflite_reference"]
    for name, prof in mq.PROFILES.items():
        assert isinstance(prof, mq.Profile) and prof.name == name
        d = prof.describe()
        assert set(d) == {f.name for f in dataclasses.fields(mq.Profile)}
        with pytest.raises(dataclasses.FrozenInstanceError):
            prof.rounding = "half_up"  # type: ignore[misc]
    assert mq.quantize(X_TIES, 1.0, 1, profile=mq.PROFILES["torch"]).tolist() == [2, 2, 4, 0, -2]


def test_backend_forcing_and_mixed_inputs() -> None:
    x = np.array([0.26, -1.0], np.float32)
    q = mq.quantize(x, 0.1, backend="mlx")
    assert backend_of(q) == "mlx"
    import mlx.core as mx

    q2 = mq.quantize(mx.array(x), np.float32(0.1), np.int8(0))  # NumPy params with an MLX input
    assert backend_of(q2) == "mlx"
    assert_equal(q2, mq.quantize(x, mx.array(0.1)))
    assert backend_of(mq.dequantize(np.array([1], np.int8), 0.5, backend="mlx")) == "mlx"
    assert backend_of(qparams_from_minmax(mx.array(-1.0), 1.0).scale) == "mlx"


def test_fake_quantize_mask_values() -> None:
    x = np.array([126.4, 127.4, 127.6, -128.4, -128.6, np.nan], np.float32)
    assert fake_quantize_mask(x, 1.0, profile="torch").tolist() == [True, True, False, True, False, False]
    # tflite: the clamped input range [(qmin - zp)·s, (qmax - zp)·s]
    assert fake_quantize_mask(x, 1.0, profile="tflite").tolist() == [True, False, False, False, False, False]


def test_private_helpers_exact_fma() -> None:
    b = mq.get_backend(backend="numpy")
    rng = np.random.default_rng(2)
    x = (rng.standard_normal(20000) * 100).astype(np.float32)
    inv = np.float32(1) / np.float32(0.37)
    for zp in (0, 3, -128, 255, 65535):
        got = primitives._fma_f32(b, x, np.full_like(x, inv), np.full_like(x, np.float32(zp)))
        # exact reference: float64 product is exact; sum with TwoSum and round-to-odd, then round to float32
        p = x.astype(np.float64) * np.float64(inv)
        s = p + zp
        bb = s - p
        e = (p - (s - bb)) + (zp - bb)
        bits = s.view(np.int64)
        odd = np.where((e != 0) & ((bits & 1) == 0), bits + np.where((e > 0) == (s > 0), 1, -1), bits)
        want = odd.view(np.float64).astype(np.float32)
        assert_equal(got, want)


def _quantize_in_child(x: np.ndarray, want: np.ndarray, q) -> None:  # module level: picklable
    q.put(bool(np.array_equal(mq.quantize(x, 0.05), want)))


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork()")
def test_fast_path_works_in_a_forked_child() -> None:
    """The thread pool is per process: a child forked after the parent used it must not wait on dead threads."""
    import multiprocessing as mp

    from mlxquant.quant import _core_fast

    x = np.random.default_rng(0).standard_normal(2 * _core_fast.MIN_SIZE).astype(np.float32)
    want = mq.quantize(x, 0.05)  # starts the parent's pool
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_quantize_in_child, args=(x, want, q))
    p.start()
    p.join(60)
    if p.is_alive():
        p.kill()
        pytest.fail("quantize in a forked child hung (the parent's thread pool was reused)")
    assert p.exitcode == 0 and q.get(timeout=5) is True


def test_dequantize_output_dtypes(backend: str) -> None:
    q = as_backend(np.array([-128, -1, 0, 77, 127], np.int8), backend)
    y32 = mq.to_numpy(mq.dequantize(q, 0.1, 3))
    names = ("float16", "float64") if backend == "numpy" else ("float16", "bfloat16")
    for name in names:
        y = mq.dequantize(q, 0.1, 3, dtype=name)
        assert mq.get_backend(y).dtype_name(y) == name
        assert_equal(
            mq.to_numpy(mq.get_backend(y).astype(y, "float32")),
            mq.to_numpy(mq.get_backend(y).astype(mq.get_backend(y).asarray(y32), name)).astype(np.float32),
            check_dtype=False,
        )


def test_qparams_from_minmax_shapes_and_backends(backend: str) -> None:
    mn = as_backend(np.array([-1.0, -2.0, 0.0], np.float32), backend)
    mx_ = as_backend(np.array([1.0, 0.5, 0.0], np.float32), backend)
    p = qparams_from_minmax(mn, mx_, "uint8", axis=0)
    assert backend_of(p.scale) == backend and tuple(p.scale.shape) == (3,) and p.axis == 0
    assert mq.to_numpy(p.zero_point).tolist() == [127, 204, 0]  # f32(1 / f32(2/255)) = 127.49999 -> 127
    p0 = qparams_from_minmax(-1.0, np.array([1.0, 2.0], np.float32), "int8")  # broadcasting
    assert p0.scale.shape == (2,)
    with pytest.raises(mq.ShapeError):
        qparams_from_minmax(np.zeros(2, np.float32), np.ones(3, np.float32))
    with pytest.raises(mq.InputTypeError):
        qparams_from_minmax(np.array([True]), np.array([True]))


def test_strided_numpy_input_matches_contiguous() -> None:
    x = np.random.default_rng(4).standard_normal((700, 400)).astype(np.float32)
    s = np.random.default_rng(5).uniform(0.01, 0.1, 700).astype(np.float32)
    xt = x.T  # a strided view, large enough for the fast path
    for axis, sc in ((None, np.float32(0.05)), (1, s)):
        assert_equal(mq.quantize(xt, sc, 3, axis=axis), mq.quantize(np.ascontiguousarray(xt), sc, 3, axis=axis))
        q = mq.quantize(np.ascontiguousarray(xt), sc, 3, axis=axis)
        assert_equal(mq.dequantize(q.T.copy().T, sc, 3, axis=axis), mq.dequantize(q, sc, 3, axis=axis))


@pytest.mark.parametrize("profile", ["onnx", "torch", "tflite", "tflite_reference"])
def test_fake_quantize_never_returns_negative_zero(backend: str, profile: str) -> None:
    """(q - zp)·s of an integer q == zp is +0.0 in every peer (torch.fake_quantize_*, DequantizeLinear(QuantizeLinear)),
    also for small negative x and -0.0 (review regression: rne(-0.2) = -0.0 leaked through as -0.0)."""
    x = np.array([-0.0, -0.2, -1e-30, -0.49, 0.0, 0.2], np.float32)
    for zp in (0, 3):
        y = mq.to_numpy(mq.fake_quantize(as_backend(x, backend), 1.0, zp, "int8", profile=profile))
        assert not np.any(np.signbit(y)), y
        y = mq.to_numpy(mq.fake_quantize(as_backend(x, backend), np.ones(6, np.float32), zp, axis=0, profile=profile))
        assert not np.any(np.signbit(y)), y


def test_onnx_uint8_scale_that_underflows_is_usable(backend: str) -> None:
    """max - min = 2 subnormal ulps: f32(span / 255) underflows to 0. DynamicQuantizeLinear itself returns (0.0, 255),
    which no quantize accepts; mlxquant treats it like span == 0 (review regression: scale 0.0 was returned)."""
    x = as_backend(np.array([1e-45, 2e-45, 0.0], np.float32), backend)
    p = mq.choose_qparams(x, "uint8")
    assert float(mq.to_numpy(p.scale)) == 1.0 and int(mq.to_numpy(p.zero_point)) == 0
    assert mq.to_numpy(mq.quantize(x, p)).tolist() == [0, 0, 0]


def test_numpy_integer_axis_and_block_size(backend: str) -> None:
    """axis / block_size from NumPy (np.int64 from argmax or .shape arithmetic) work like Python ints; bools and
    floats still raise (review regression: np.int64(1) raised 'axis must be an int, got int64')."""
    x = as_backend(np.arange(12, dtype=np.float32).reshape(3, 4), backend)
    s = np.full(4, 0.5, np.float32)
    assert_equal(mq.quantize(x, s, axis=np.int64(-1)), mq.quantize(x, s, axis=-1))
    sb = np.full((3, 2), 0.5, np.float32)
    assert_equal(mq.quantize(x, sb, axis=np.int32(1), block_size=np.int64(2)), mq.quantize(x, sb, axis=1, block_size=2))
    assert mq.choose_qparams(x, axis=np.int64(0)).axis == 0
    with pytest.raises(mq.InvalidArgumentError):
        mq.quantize(x, s, axis=np.bool_(True))
    with pytest.raises(mq.InvalidArgumentError):
        mq.quantize(x, s, axis=1.0)
    with pytest.raises(mq.InvalidArgumentError):
        mq.quantize(x, sb, axis=1, block_size=2.0)


def test_dequantize_ml_dtypes_sub_byte_input() -> None:
    """ml_dtypes int4/uint4 arrays (what onnx.numpy_helper.to_array gives for INT4/UINT4 tensors) dequantize like
    their int8/uint8 unpacked form, and the zero point is checked against the 4-bit range (review: 9 was accepted)."""
    ml_dtypes = pytest.importorskip("ml_dtypes")
    for name, vals, zp in (("int4", [-8, -1, 0, 7], -3), ("uint4", [0, 5, 15], 9)):
        q4 = np.array(vals, getattr(ml_dtypes, name))
        q8 = np.array(vals, mq.QTYPES[name].storage)
        assert_equal(mq.dequantize(q4, np.float32(0.37), zp), mq.dequantize(q8, np.float32(0.37), zp))
        big = np.resize(q4, 300_001)  # the NumPy fast-path size
        s = np.float32(0.37)
        assert_equal(mq.dequantize(big, s, zp), mq.dequantize(big.astype(q8.dtype), s, zp))
        with pytest.raises(mq.QuantizationError, match=name):
            mq.dequantize(q4, 0.5, 16)


def test_ml_dtypes_scale_and_zero_point(backend: str) -> None:
    """A NumPy bfloat16 scale (ml_dtypes, as onnx gives for BFLOAT16 scales) and an int4 zero point are accepted like
    their float32 / int values, as MLX bfloat16 scales already were (review: 'scale must be a real number')."""
    ml_dtypes = pytest.importorskip("ml_dtypes")
    x = as_backend(np.array([0.26, 1.0, -0.7], np.float32), backend)
    s16 = np.array(0.1, ml_dtypes.bfloat16)
    z4 = np.array(3, ml_dtypes.int4)
    want = mq.quantize(x, np.float32(s16), 3, "int4")
    assert_equal(mq.quantize(x, s16, z4, "int4"), want)
    assert_equal(mq.dequantize(mq.quantize(x, s16, z4, "int4"), s16, z4), mq.dequantize(want, np.float32(s16), 3))
    p = qparams_from_minmax(np.array(-1.0, ml_dtypes.bfloat16), np.array(3.0, ml_dtypes.bfloat16), "uint8")
    assert float(p.scale) == np.float32(4.0) / np.float32(255.0) and int(p.zero_point) == 64
