"""Float formats: the loop oracle, ties and saturation bounds, the overflow report, warnings and bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import mlxquant as mq
from mlxquant.quant.floats import FLOAT_FORMATS, float_overflow_report, from_bits
from tests.helpers import as_backend, assert_equal, backend_of
from tests.reference import calib_oracle as oracle


def _bits(x, fmt, backend, saturate=False):
    xb = as_backend(np.asarray(x, np.float32), backend)
    if fmt == "float16":
        return np.asarray(mq.to_numpy(mq.to_float16(xb, as_bits=True, warn=False, saturate=saturate)))
    if fmt == "bfloat16":
        return np.asarray(mq.to_numpy(mq.to_bfloat16(xb, as_bits=True, saturate=saturate)))
    return np.asarray(mq.to_numpy(mq.to_float8(xb, fmt, saturate=saturate)))


@pytest.mark.parametrize("fmt", list(FLOAT_FORMATS))
@pytest.mark.parametrize("saturate", [False, True])
def test_matches_loop_oracle(backend, fmt, saturate):
    rng = np.random.default_rng(1)
    mx_ = FLOAT_FORMATS[fmt].max_value
    x = np.concatenate([
        rng.standard_normal(300) * min(mx_, 1e30) / 4,
        rng.standard_normal(100) * 2.0 ** -14,  # around the float16 subnormal range
        rng.standard_normal(100) * 2.0 ** -8,  # float8 subnormals
        [0.0, -0.0, np.inf, -np.inf, np.nan, mx_, -mx_, 1e38, -1e38, 2.0**-149],
    ]).astype(np.float32)
    got = _bits(x, fmt, backend, saturate)
    want = np.array([oracle.encode_value(float(v), fmt, saturate) for v in x])
    # NaN codes: the oracle gives the canonical NaN; float16 keeps NaN payloads (NumPy) — compare NaN-ness there
    nan = np.isnan(x)
    np.testing.assert_array_equal(got[~nan], want[~nan])


TIES = [
    # (format, input, expected code): exact half-way cases go to the even code
    ("e4m3fn", 464.0, 0x7E),  # half-way between 448 (even) and the non-existent 480 → 448
    ("e4m3fn", 465.0, 0x7F),  # beyond → NaN
    ("e4m3fn", 1.0625, 0x38),  # half-way between 1.0 (0x38, even) and 1.125 → 1.0
    ("e4m3fn", 1.1875, 0x3A),  # half-way between 1.125 (odd) and 1.25 → 1.25
    ("e4m3fn", 2.0**-10, 0x00),  # half the smallest subnormal (2^-9) → 0 (even)
    ("e4m3fn", 3 * 2.0**-10, 0x02),  # 1.5 subnormal steps → 2 steps (even)
    ("e5m2", 61440.0, 0x7C),  # half-way between 57344 (0x7B odd) and inf → inf
    ("e5m2", 61439.0, 0x7B),
    ("e5m2", 2.0**-17, 0x00),  # half the smallest subnormal → 0
    ("float16", 65520.0, 0x7C00),  # half-way past 65504 (odd mantissa) → inf
    ("float16", 65519.99, 0x7BFF),
    ("float16", 1 + 2.0**-11, 0x3C00),  # tie → even (1.0)
    ("float16", 1 + 3 * 2.0**-11, 0x3C02),
    ("float16", 2.0**-25, 0x0000),  # half the smallest subnormal → 0
    ("float16", 3 * 2.0**-25, 0x0002),
    ("bfloat16", 1 + 2.0**-8, 0x3F80),
    ("bfloat16", 1 + 3 * 2.0**-8, 0x3F82),
    ("bfloat16", -0.0, 0x8000),
    ("e4m3fn", -0.0, 0x80),
]


@pytest.mark.parametrize("fmt,x,code", TIES)
def test_ties_and_bounds(backend, fmt, x, code):
    assert int(_bits([x], fmt, backend)[0]) == code


@pytest.mark.parametrize("fmt,big,maxcode", [("e4m3fn", 1000.0, 0x7E), ("e5m2", 1e6, 0x7B), ("float16", 1e6, 0x7BFF),
                                            ("bfloat16", 3.4e38, 0x7F7F)])
def test_saturate_clips_overflow_and_inf(backend, fmt, big, maxcode):
    sign = 1 << (FLOAT_FORMATS[fmt].nbits - 1)
    got = _bits([big, -big, np.inf, -np.inf], fmt, backend, saturate=True)
    np.testing.assert_array_equal(got, [maxcode, sign | maxcode, maxcode, sign | maxcode])


def test_outputs_follow_backend_and_dtype(backend):
    x = as_backend(np.array([1.0, 2.5, -3.0], np.float32), backend)
    y16 = mq.to_float16(x)
    assert backend_of(y16) == backend and mq.get_backend(y16).dtype_name(y16) == "float16"
    ybf = mq.to_bfloat16(x)
    assert backend_of(ybf) == backend
    assert mq.get_backend(ybf).dtype_name(ybf) == ("bfloat16" if backend == "mlx" else "float32")
    c = mq.to_float8(x, "e4m3fn")
    assert_equal(c, np.array([0x38, 0x42, 0xC4], np.uint8), backend=backend)
    assert_equal(mq.from_float8(c, "e4m3fn"), np.array([1.0, 2.5, -3.0], np.float32), backend=backend)


def test_empty_and_scalar(backend):
    e = as_backend(np.zeros((0, 3), np.float32), backend)
    assert tuple(mq.to_float8(e).shape) == (0, 3)
    s = as_backend(np.float32(1.0), backend)
    assert tuple(mq.to_float16(s).shape) == ()
    for fmt in ("float16", "bfloat16", "e4m3fn", "e5m2"):
        code = as_backend(np.array(1, np.uint8 if fmt.startswith("e") else np.uint16), backend)
        assert tuple(from_bits(code, fmt).shape) == ()
    assert tuple(mq.to_bfloat16(s).shape) == () and tuple(mq.to_float8(s).shape) == ()


def test_report_counts(backend):
    x = as_backend(np.array([1.0, 7e4, -1e5, 1e-9, np.nan, np.inf, 0.0], np.float32), backend)
    _, rep = mq.to_float16(x, return_report=True, warn=False)
    assert (rep.overflow_to_inf, rep.clipped, rep.underflow_to_zero, rep.nan_inputs, rep.inf_inputs) == (2, 0, 1, 1, 1)
    assert rep.max_abs == 1e5 and rep.count == 7 and rep.overflowed == 2
    _, rep = mq.to_float8(x, "e4m3fn", return_report=True)
    assert rep.overflow_to_nan == 2 and rep.overflow_to_inf == 0
    _, rep = mq.to_float8(x, "e4m3fn", saturate=True, return_report=True)
    assert rep.clipped == 2 and rep.overflow_to_nan == 0
    assert "overflow" in str(rep) and rep.to_dict()["clipped"] == 2


def test_float16_overflow_warns_and_suggests_bfloat16(backend):
    x = as_backend(np.array([1.0, 1e5], np.float32), backend)
    with pytest.warns(RuntimeWarning, match="bfloat16"):
        mq.to_float16(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mq.to_float16(x, warn=False)
        mq.to_float16(as_backend(np.array([1.0, 65504.0], np.float32), backend))  # in range: no warning


def test_overflow_report_function():
    r = float_overflow_report(np.array([1.0, 500.0], np.float32), "e4m3fn")
    assert r.overflow_to_nan == 1 and r.format == "e4m3fn"


def test_bad_input(backend):
    with pytest.raises(mq.InputTypeError, match="float"):
        mq.to_float16(as_backend(np.array([1, 2], np.int32), backend))
    with pytest.raises(mq.InvalidArgumentError, match="e4m3fn"):
        mq.to_float8(as_backend(np.array([1.0], np.float32), backend), "e3m4")
    with pytest.raises(mq.InvalidArgumentError, match="float8"):
        mq.to_float8(as_backend(np.array([1.0], np.float32), backend), "float16")
    with pytest.raises(mq.InputTypeError, match="uint8"):
        from_bits(as_backend(np.array([1], np.uint16), backend), "e4m3fn")
    with pytest.raises(mq.InvalidArgumentError, match="saturate"):
        mq.to_float8(as_backend(np.array([1.0], np.float32), backend), saturate=1)


def test_input_not_mutated():
    x = np.array([1.0, np.nan, 1e6], np.float32)
    x.setflags(write=False)
    keep = x.copy()
    mq.to_float16(x, warn=False)
    mq.to_bfloat16(x)
    mq.to_float8(x, "e5m2")
    np.testing.assert_array_equal(x, keep)


def test_bfloat16_numpy_values_are_exact_bf16():
    x = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    v = mq.to_bfloat16(x)
    bits = mq.to_bfloat16(x, as_bits=True)
    np.testing.assert_array_equal(v.view(np.uint32) & 0xFFFF, 0)  # low half empty: representable in bfloat16
    np.testing.assert_array_equal((v.view(np.uint32) >> 16).astype(np.uint16), bits)
