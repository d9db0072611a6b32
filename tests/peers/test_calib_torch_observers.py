"""Observers vs PyTorch's torch.ao.quantization observers: identical qparams after the same stream of batches."""

from __future__ import annotations

import numpy as np
import pytest

import mlxquant as mq
from tests.helpers import as_backend

torch = pytest.importorskip("torch")
from torch.ao.quantization import observer as tobs  # noqa: E402

# dtype name in mlxquant → torch dtype
pytestmark = pytest.mark.filterwarnings("ignore:Please use quant_min:UserWarning")

TORCH_DTYPES = {"uint8": torch.quint8, "int8": torch.qint8, "int32": torch.qint32}


def _stream(seed: int, shape: tuple[int, ...], n: int = 4) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        scale = rng.uniform(0.1, 5.0)
        shift = rng.uniform(-2.0, 2.0)
        out.append((rng.standard_normal(shape) * scale + shift).astype(np.float32))
    return out


def _torch_qparams(obs) -> tuple[np.ndarray, np.ndarray]:
    s, z = obs.calculate_qparams()
    return s.numpy().astype(np.float32).reshape(-1), z.numpy().astype(np.int64).reshape(-1)


def _ours(qp) -> tuple[np.ndarray, np.ndarray]:
    return (
        np.asarray(mq.to_numpy(qp.scale), np.float32).reshape(-1),
        np.asarray(mq.to_numpy(qp.zero_point), np.int64).reshape(-1),
    )


CASES = [
    (dt, sym, rr)
    for dt in ("uint8", "int8")
    for sym in (False, True)
    for rr in (False, True)
    if not (dt == "uint8" and sym and rr)  # torch refuses reduce_range for symmetric quint8
] + [("int32", False, False), ("int32", True, False)]


@pytest.mark.parametrize("dtype,symmetric,reduce_range", CASES)
@pytest.mark.parametrize("seed", [0, 1])
def test_minmax_per_tensor_matches_torch(backend, dtype, symmetric, reduce_range, seed):
    qscheme = torch.per_tensor_symmetric if symmetric else torch.per_tensor_affine
    t = tobs.MinMaxObserver(dtype=TORCH_DTYPES[dtype], qscheme=qscheme, reduce_range=reduce_range)
    o = mq.MinMaxObserver()
    for x in _stream(seed, (7, 33)):
        t(torch.from_numpy(x))
        o.update(as_backend(x, backend))
    qp = o.compute_qparams(dtype, symmetric=symmetric, reduce_range=reduce_range, profile="torch")
    s, z = _ours(qp)
    ts, tz = _torch_qparams(t)
    np.testing.assert_array_equal(s, ts)
    np.testing.assert_array_equal(z, tz)


@pytest.mark.parametrize("dtype,symmetric,reduce_range", [c for c in CASES if c[0] != "int32"])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_minmax_per_channel_matches_torch(backend, dtype, symmetric, reduce_range, axis):
    qscheme = torch.per_channel_symmetric if symmetric else torch.per_channel_affine
    t = tobs.PerChannelMinMaxObserver(
        ch_axis=axis, dtype=TORCH_DTYPES[dtype], qscheme=qscheme, reduce_range=reduce_range
    )
    o = mq.MinMaxObserver(axis=axis)
    for x in _stream(5, (4, 6, 5)):
        t(torch.from_numpy(x))
        o.update(as_backend(x, backend))
    s, z = _ours(o.compute_qparams(dtype, symmetric=symmetric, reduce_range=reduce_range, profile="torch"))
    ts, tz = _torch_qparams(t)
    np.testing.assert_array_equal(s, ts)
    np.testing.assert_array_equal(z, tz)


@pytest.mark.parametrize("dtype,symmetric,reduce_range", [c for c in CASES if c[0] != "int32"])
@pytest.mark.parametrize("c", [0.01, 0.5, 1.0])
def test_moving_average_matches_torch(backend, dtype, symmetric, reduce_range, c):
    qscheme = torch.per_tensor_symmetric if symmetric else torch.per_tensor_affine
    t = tobs.MovingAverageMinMaxObserver(
        averaging_constant=c, dtype=TORCH_DTYPES[dtype], qscheme=qscheme, reduce_range=reduce_range
    )
    o = mq.MovingAverageMinMaxObserver(averaging_constant=c)
    for x in _stream(7, (50,), n=6):
        t(torch.from_numpy(x))
        o.update(as_backend(x, backend))
    np.testing.assert_array_equal(o.min_val, t.min_val.numpy().reshape(-1))
    np.testing.assert_array_equal(o.max_val, t.max_val.numpy().reshape(-1))
    s, z = _ours(o.compute_qparams(dtype, symmetric=symmetric, reduce_range=reduce_range, profile="torch"))
    ts, tz = _torch_qparams(t)
    np.testing.assert_array_equal(s, ts)
    np.testing.assert_array_equal(z, tz)


@pytest.mark.parametrize("symmetric", [False, True])
def test_moving_average_per_channel_matches_torch(backend, symmetric):
    qscheme = torch.per_channel_symmetric if symmetric else torch.per_channel_affine
    t = tobs.MovingAveragePerChannelMinMaxObserver(
        averaging_constant=0.1, ch_axis=1, qscheme=qscheme, dtype=torch.qint8
    )
    o = mq.MovingAverageMinMaxObserver(averaging_constant=0.1, axis=1)
    for x in _stream(9, (3, 8, 2), n=5):
        t(torch.from_numpy(x))
        o.update(as_backend(x, backend))
    s, z = _ours(o.compute_qparams("int8", symmetric=symmetric, profile="torch"))
    ts, tz = _torch_qparams(t)
    np.testing.assert_array_equal(s, ts)
    np.testing.assert_array_equal(z, tz)


def test_moving_average_reference_values():
    # REFERENCE §4: (-1, 1) then (-3, 5) with c = 0.01 → (-1.02, 1.04)
    o = mq.MovingAverageMinMaxObserver(0.01)
    o.update(np.array([-1.0, 1.0], np.float32))
    o.update(np.array([-3.0, 5.0], np.float32))
    assert o.min_val[0] == np.float32(-1.02) and o.max_val[0] == np.float32(1.04)


def test_histogram_observer_check_value(backend):
    # REFERENCE §4: randn(10000, seed 0) → s 0.0331006, zp 131
    torch.manual_seed(0)
    x = torch.randn(10000)
    t = tobs.HistogramObserver()
    t(x)
    o = mq.HistogramObserver()
    o.update(as_backend(x.numpy(), backend))
    s, z = _ours(o.compute_qparams("uint8", profile="torch"))
    ts, tz = _torch_qparams(t)
    np.testing.assert_array_equal(s, ts)
    np.testing.assert_array_equal(z, tz)
    assert abs(float(s[0]) - 0.0331006) < 1e-7 and int(z[0]) == 131


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("dtype,symmetric", [("uint8", False), ("int8", False), ("int8", True)])
def test_histogram_observer_stream_matches_torch(seed, dtype, symmetric):
    qscheme = torch.per_tensor_symmetric if symmetric else torch.per_tensor_affine
    t = tobs.HistogramObserver(dtype=TORCH_DTYPES[dtype], qscheme=qscheme)
    o = mq.HistogramObserver()
    for x in _stream(100 + seed, (2000,), n=4):
        t(torch.from_numpy(x))
        o.update(x)
    assert np.float32(o.min_val) == t.min_val.item() and np.float32(o.max_val) == t.max_val.item()
    # the histogram itself, re-binned by _combine_histograms at every range growth, is bit-identical
    np.testing.assert_array_equal(o.histogram, t.histogram.numpy())
    lo, hi = o.search_range(8)
    tlo, thi = t._non_linear_param_search()
    assert (np.float32(lo), np.float32(hi)) == (tlo.item(), thi.item())
    s, z = _ours(o.compute_qparams(dtype, symmetric=symmetric, profile="torch"))
    ts, tz = _torch_qparams(t)
    np.testing.assert_array_equal(s, ts)
    np.testing.assert_array_equal(z, tz)


def test_histogram_observer_constant_then_growth_matches_torch():
    # first batch constant (orig_min == orig_max branch of _combine_histograms), then a wider one
    t = tobs.HistogramObserver()
    o = mq.HistogramObserver()
    for x in (np.full(100, 0.5, np.float32), np.linspace(-2, 3, 500, dtype=np.float32)):
        t(torch.from_numpy(x))
        o.update(x)
    s, z = _ours(o.compute_qparams("uint8"))
    ts, tz = _torch_qparams(t)
    np.testing.assert_array_equal(s, ts)
    np.testing.assert_array_equal(z, tz)


# torch's custom quant_min/quant_max ranges are mlxquant's narrower dtypes
CUSTOM = [("int4", torch.qint8, -8, 7), ("uint4", torch.quint8, 0, 15), ("int2", torch.qint8, -2, 1),
          ("int16", torch.qint32, -32768, 32767)]


CUSTOM_CASES = [
    (*c, sym, rr)
    for c in CUSTOM
    for sym in (False, True)
    for rr in (False, True)
    if not (c[0] == "uint4" and sym and rr)  # torch refuses reduce_range for symmetric quint8
]


@pytest.mark.parametrize("dtype,tdtype,qmin,qmax,symmetric,reduce_range", CUSTOM_CASES)
def test_custom_quant_range_matches_torch(backend, dtype, tdtype, qmin, qmax, symmetric, reduce_range):
    qscheme = torch.per_tensor_symmetric if symmetric else torch.per_tensor_affine
    t = tobs.MinMaxObserver(dtype=tdtype, qscheme=qscheme, quant_min=qmin, quant_max=qmax, reduce_range=reduce_range)
    o = mq.MinMaxObserver()
    for x in _stream(11, (100,), n=3):
        t(torch.from_numpy(x))
        o.update(as_backend(x, backend))
    s, z = _ours(o.compute_qparams(dtype, symmetric=symmetric, reduce_range=reduce_range, profile="torch"))
    ts, tz = _torch_qparams(t)
    np.testing.assert_array_equal(s, ts)
    np.testing.assert_array_equal(z, tz)


@pytest.mark.parametrize("axis", [None, 0])
def test_moving_average_min_above_max_by_rounding(backend, axis):
    # A constant batch after (-1, 1) with c = 1: min = -1 + (v + 1) and max = 1 + (v - 1) round differently in
    # float32, so min ends 2 ulp above max. torch's calculate_qparams asserts (its own bug: min⁻ = min(min, 0) and
    # max⁺ = max(max, 0) are well defined); we give the qparams of [min(min, 0), max(max, 0)] (documented).
    v = np.float32(0.10475238)
    x1, x2 = np.array([[-1.0, 1.0]], np.float32), np.full((1, 2), v, np.float32)
    if axis is None:
        t = tobs.MovingAverageMinMaxObserver(averaging_constant=1.0)
    else:
        t = tobs.MovingAveragePerChannelMinMaxObserver(averaging_constant=1.0, ch_axis=0)
    o = mq.MovingAverageMinMaxObserver(averaging_constant=1.0, axis=axis)
    for x in (x1, x2):
        t(torch.from_numpy(x))
        o.update(as_backend(x, backend))
    assert (t.min_val > t.max_val).all() and (o.min_val > o.max_val).all()  # same statistics as torch
    np.testing.assert_array_equal(o.min_val, t.min_val.numpy().reshape(-1))
    with pytest.raises(AssertionError):
        t.calculate_qparams()
    s, z = _ours(o.compute_qparams("uint8", profile="torch"))
    ref = tobs.MinMaxObserver()  # torch's rule on the well-defined range [0, max]
    ref(torch.tensor([0.0, float(o.max_val[0])]))
    ts, tz = _torch_qparams(ref)
    np.testing.assert_array_equal(s, ts)
    np.testing.assert_array_equal(z, tz)


def test_qint32_wide_asymmetric_range_is_exact_where_torch_overflows(backend):
    # torch: zp = qmin - round(min⁻/s).to(int32), and |min⁻/s| > 2^31 overflows to INT_MIN → zp 0 (its bug,
    # documented in docs/spec/calibration.md); ours is the exact value, which maps min⁻ to qmin.
    x = np.array([-786.954, 329.189], np.float32)
    t = tobs.MinMaxObserver(dtype=torch.qint32)
    t(torch.from_numpy(x))
    o = mq.MinMaxObserver()
    o.update(as_backend(x, backend))
    s, z = _ours(o.compute_qparams("int32", profile="torch"))
    ts, tz = _torch_qparams(t)
    np.testing.assert_array_equal(s, ts)  # the scale agrees
    assert tz[0] == 0  # torch's overflowed zero point
    # torch's float32 formula evaluated without the overflow (int64): qmin - rne(f32(min⁻ / s))
    want = -(2**31) - int(np.round(np.float32(-786.954) / s[0]))
    assert int(z[0]) == want == 880750080


def test_moving_average_multiplies_by_the_float32_constant(backend):
    # torch casts the Python averaging constant to float32 before the float32 multiply; keeping 0.01 as a double
    # gives another float32 for this step (checked below), so this pins the cast.
    d = np.float32(0.64042264)
    assert np.float32(np.float32(0.01) * d) != np.float32(0.01 * np.float64(d))
    t = tobs.MovingAverageMinMaxObserver(averaging_constant=0.01)
    o = mq.MovingAverageMinMaxObserver(averaging_constant=0.01)
    for x in (np.zeros(2, np.float32), np.array([d, d + 1], np.float32)):
        t(torch.from_numpy(x))
        o.update(as_backend(x, backend))
    np.testing.assert_array_equal(o.min_val, t.min_val.numpy().reshape(-1))
    np.testing.assert_array_equal(o.max_val, t.max_val.numpy().reshape(-1))
