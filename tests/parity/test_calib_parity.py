"""NumPy vs MLX vs native fast paths for issue 4: floats, observers, metrics (Hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import mlxquant as mq
from mlxquant import metrics
from mlxquant.quant import floats as F

mx = pytest.importorskip("mlx.core")

NP = mq.get_backend(backend="numpy")
MX = mq.get_backend(backend="mlx")

# any float32 bit pattern (NaN payloads, subnormals, inf included)
f32_bits = hnp.arrays(np.uint32, st.integers(0, 64), elements=st.integers(0, 2**32 - 1))
finite_f32 = hnp.arrays(np.float32, st.tuples(st.integers(1, 4), st.integers(1, 40)),
                        elements=st.floats(-1e6, 1e6, width=32, allow_subnormal=True))


@given(f32_bits, st.sampled_from(list(F.FLOAT_FORMATS)), st.booleans())
def test_float_encode_numpy_equals_mlx(bits, fmt, saturate):
    x = bits.view(np.float32)
    a, oa = F._encode(NP, x, F.FLOAT_FORMATS[fmt], saturate)
    b, ob = F._encode(MX, mx.array(x), F.FLOAT_FORMATS[fmt], saturate)
    np.testing.assert_array_equal(a, np.array(b))
    np.testing.assert_array_equal(oa, np.array(ob))


@given(f32_bits, st.sampled_from(["float16", "bfloat16"]))
def test_native_fast_path_equals_generic(bits, fmt):
    x = bits.view(np.float32)
    f = F.FLOAT_FORMATS[fmt]
    for be, xx in ((NP, x), (MX, mx.array(x))):
        with np.errstate(over="ignore", invalid="ignore"):
            fast = F._native_fast_path(be, xx, f, False)
        assert fast is not None
        gen, _ = F._encode(be, xx, f, False)
        np.testing.assert_array_equal(np.asarray(be.to_numpy(fast)), np.asarray(be.to_numpy(gen)))


@given(hnp.arrays(np.uint8, st.integers(0, 64)), st.sampled_from(["e4m3fn", "e5m2"]))
def test_float8_decode_numpy_equals_mlx(codes, fmt):
    a = F.from_float8(codes, fmt)
    b = F.from_float8(mx.array(codes), fmt)
    np.testing.assert_array_equal(a.view(np.uint32), np.array(b).view(np.uint32))


@given(finite_f32, st.integers(0, 1))
def test_observers_numpy_equals_mlx(x, axis):
    for cls in (mq.MinMaxObserver, mq.MovingAverageMinMaxObserver, mq.PercentileObserver):
        kw = {"axis": axis} if cls is not mq.PercentileObserver else {"axis": axis, "num_bins": 256}
        a, b = cls(**kw), cls(**kw)
        for k in range(2):
            a.update(x * np.float32(k + 1))
            b.update(mx.array(x) * (k + 1))
        np.testing.assert_array_equal(a.min_val, b.min_val)
        np.testing.assert_array_equal(a.max_val, b.max_val)
        if hasattr(a, "hist"):
            np.testing.assert_array_equal(a.hist.counts, b.hist.counts)
        qa, qb = a.compute_qparams("int8"), b.compute_qparams("int8")
        np.testing.assert_array_equal(mq.to_numpy(qa.scale), mq.to_numpy(qb.scale))
        np.testing.assert_array_equal(mq.to_numpy(qa.zero_point), mq.to_numpy(qb.zero_point))
        assert isinstance(qb.scale, mx.array)  # qparams follow the observed data's backend


@given(finite_f32, finite_f32)
def test_metrics_numpy_vs_mlx(r, c):
    if r.shape != c.shape:
        c = np.resize(c, r.shape)
    # float32 reductions differ in summation order between NumPy (pairwise) and MLX: relative 1e-5
    for fn in (metrics.mse, metrics.max_abs_error, metrics.mean_abs_error, metrics.cosine_similarity):
        a = float(fn(r, c))
        b = float(np.array(fn(mx.array(r), mx.array(c))))
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-30)
    a, b = float(metrics.sqnr(r, c)), float(np.array(metrics.sqnr(mx.array(r), mx.array(c))))
    if np.isfinite(a):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-3)  # dB: absolute 1e-3
    else:
        assert a == b
    a = float(metrics.topk_agreement(r, c, 1))
    assert a == float(np.array(metrics.topk_agreement(mx.array(r), mx.array(c), 1)))


@given(f32_bits, st.sampled_from(["e4m3fn", "e5m2"]), st.booleans())
def test_float8_table_fast_path_equals_generic(bits, fmt, saturate):
    x = bits.view(np.float32)
    f = F.FLOAT_FORMATS[fmt]
    for be, xx in ((NP, x), (MX, mx.array(x))):
        with np.errstate(over="ignore", invalid="ignore"):
            fast, fover = F._float8_fast_path(be, xx, f, saturate, True)
            gen, gover = F._encode(be, xx, f, saturate)
        np.testing.assert_array_equal(np.asarray(be.to_numpy(fast)), np.asarray(be.to_numpy(gen)))
        np.testing.assert_array_equal(np.asarray(be.to_numpy(fover)), np.asarray(be.to_numpy(gover)))


@pytest.mark.parametrize("fmt", ["e4m3fn", "e5m2"])
@pytest.mark.parametrize("saturate", [False, True])
def test_float8_table_classes_are_exact(fmt, saturate):
    # The float32 table is indexed by sign, exponent, the top 4 mantissa bits and "the 19 bits below are nonzero".
    # Every float32 in a class must encode alike: check each sticky class with 16 random low-19-bit patterns
    # (and the ones nearest to a tie: 1 and 0x7FFFF) against the generic encoder.
    f = F.FLOAT_FORMATS[fmt]
    rng = np.random.default_rng(0)
    hi = (np.arange(1 << 13, dtype=np.uint32) << 19)[:, None]
    low = np.concatenate([rng.integers(1, 1 << 19, (1 << 13, 16)), np.ones((1 << 13, 1), np.int64),
                          np.full((1 << 13, 1), (1 << 19) - 1)], axis=1).astype(np.uint32)
    x = (hi | low).reshape(-1).view(np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        fast, _ = F._float8_fast_path(NP, x, f, saturate, False)
        gen, _ = F._encode(NP, x, f, saturate)
    np.testing.assert_array_equal(fast, gen)


@pytest.mark.parametrize("src", ["float16", "bfloat16"])
@pytest.mark.parametrize("fmt", ["e4m3fn", "e5m2"])
def test_float8_half_tables_equal_generic_on_every_code(src, fmt):
    codes = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    f = F.FLOAT_FORMATS[fmt]
    for saturate in (False, True):
        xx = mx.view(mx.array(codes), getattr(mx, src))
        with np.errstate(over="ignore", invalid="ignore"):
            fast, _ = F._float8_fast_path(MX, xx, f, saturate, False)
            gen, _ = F._encode(MX, xx, f, saturate)
        np.testing.assert_array_equal(np.array(fast), np.array(gen))


def test_bfloat16_decode_shortcut_equals_the_generic_decode_on_every_code():
    codes = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    f = F.FLOAT_FORMATS["bfloat16"]
    for be, cc in ((NP, codes), (MX, mx.array(codes))):
        fast = np.asarray(be.to_numpy(F._decode(be, cc, f)))
        gen = np.asarray(be.to_numpy(F._decode_generic(be, cc, f)))
        np.testing.assert_array_equal(fast.view(np.uint32), gen.view(np.uint32))
