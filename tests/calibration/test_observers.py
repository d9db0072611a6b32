"""Observers: mergeability (Hypothesis), fixed memory, state_dict round trips, amax rules vs the loop oracles,
per-axis consistency and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mlxquant as mq
from mlxquant.quant.observers import FixedHistogram, amax_entropy, amax_mse, amax_percentile
from tests.helpers import as_backend
from tests.reference import calib_oracle as oracle

HIST_OBSERVERS = [mq.PercentileObserver, mq.EntropyObserver, mq.MSEObserver]
ALL = [mq.MinMaxObserver, mq.MovingAverageMinMaxObserver, *HIST_OBSERVERS, mq.HistogramObserver]


def _batches(seed: int, n: int, shape=(3, 64)) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(shape) * 2.0 ** rng.integers(-20, 20)).astype(np.float32) for _ in range(n)]


@st.composite
def shards(draw):
    n = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 10_000))
    batches = _batches(seed, n)
    perm = draw(st.permutations(range(n)))
    cut = draw(st.integers(0, n))
    return batches, list(perm), cut


@given(shards(), st.sampled_from([False, True]))
def test_fixed_histogram_merge_in_any_order_equals_one_pass(data, signed):
    batches, perm, cut = data
    b = mq.get_backend(backend="numpy")
    one = FixedHistogram(256, signed)
    for x in batches:
        one.update(b, x)
    left, right = FixedHistogram(256, signed), FixedHistogram(256, signed)
    for i in perm[:cut]:
        left.update(b, batches[i])
    for i in perm[cut:]:
        right.update(b, batches[i])
    right.merge(left)
    np.testing.assert_array_equal(right.counts, one.counts)
    np.testing.assert_array_equal(right.exp, one.exp)


@given(shards())
def test_histogram_observers_merge_equals_one_pass(data):
    batches, perm, cut = data
    for cls in (*HIST_OBSERVERS, mq.MinMaxObserver):
        kw = {"axis": 0} if cls is mq.MinMaxObserver else {"axis": 0, "num_bins": 256}
        one = cls(**kw)
        for x in batches:
            one.update(x)
        a, c = cls(**kw), cls(**kw)
        for i in perm[:cut]:
            a.update(batches[i])
        for i in perm[cut:]:
            c.update(batches[i])
        c.merge(a)
        np.testing.assert_array_equal(c.min_val, one.min_val)
        np.testing.assert_array_equal(c.max_val, one.max_val)
        if cls is not mq.MinMaxObserver:
            np.testing.assert_array_equal(c.compute_amax(), one.compute_amax())


def test_fixed_histogram_bins_are_exact():
    # |x| = j·R/n lands exactly in bin j; the value just below lands in bin j-1
    h = FixedHistogram(8, signed=False)
    b = mq.get_backend(backend="numpy")
    x = np.array([[0.0, 0.125, np.nextafter(np.float32(0.25), np.float32(0)), 0.25, -0.99]], np.float32)
    h.update(b, x)  # amax 0.99 → R = 1, bin width 1/8
    assert h.exp.tolist() == [0]
    np.testing.assert_array_equal(h.counts[0], [1, 2, 1, 0, 0, 0, 0, 1])
    h.update(b, np.array([[1.0]], np.float32))  # 1.0 needs R = 2: bins merge pairwise
    assert h.exp.tolist() == [1]
    np.testing.assert_array_equal(h.counts[0], [3, 1, 0, 1, 1, 0, 0, 0])  # 0.99 → bin 3, 1.0 → bin 4
    s = FixedHistogram(4, signed=True)
    s.update(b, np.array([[-1e-30, 0.0, -0.75, 0.5]], np.float32))  # R = 1: bins [-1,-.5) [-.5,0) [0,.5) [.5,1)
    np.testing.assert_array_equal(s.counts[0], [1, 1, 1, 1])


def test_memory_is_fixed_after_many_batches():
    obs = mq.EntropyObserver(num_bins=512)
    rng = np.random.default_rng(0)
    obs.update(rng.standard_normal(100).astype(np.float32))
    shape = obs.hist.counts.shape
    for i in range(1000):
        obs.update((rng.standard_normal(100) * (1 + i)).astype(np.float32))
    assert obs.hist.counts.shape == shape == (1, 512)
    assert obs.num_batches == 1001 and obs.count == 100_100


@pytest.mark.parametrize("cls", ALL)
def test_state_dict_json_round_trip_then_continue(cls):
    batches = _batches(3, 6, shape=(200,))
    kw = {} if cls is mq.HistogramObserver else {"axis": None}
    a = cls(**kw)
    for x in batches[:3]:
        a.update(x)
    state = json.loads(json.dumps(a.state_dict()))
    b = cls.from_state_dict(state)
    for x in batches[3:]:
        a.update(x)
        b.update(x)
    assert json.dumps(a.state_dict()) == json.dumps(b.state_dict())
    qa, qb = a.compute_qparams("int8"), b.compute_qparams("int8")
    assert float(qa.scale) == float(qb.scale) and int(qa.zero_point) == int(qb.zero_point)


def test_histogram_observer_fixed_mode_merges():
    batches = _batches(4, 4, shape=(500,))
    one = mq.HistogramObserver(mode="fixed")
    for x in batches:
        one.update(x)
    a, b = mq.HistogramObserver(mode="fixed"), mq.HistogramObserver(mode="fixed")
    for x in batches[:2]:
        a.update(x)
    for x in batches[2:]:
        b.update(x)
    b.merge(a)
    assert b.search_range() == one.search_range()
    with pytest.raises(mq.InvalidArgumentError, match="order"):
        mq.HistogramObserver().merge(mq.HistogramObserver())


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("bits,unsigned", [(8, False), (4, False), (4, True), (6, True)])
def test_amax_rules_match_loop_oracle(seed, bits, unsigned):
    rng = np.random.default_rng(seed)
    n = 260
    h = np.bincount(np.minimum((np.abs(rng.standard_normal(4000)) * 50).astype(int), n - 1), minlength=n)
    h[rng.integers(0, n, 20)] = 0  # holes: empty bins inside the data
    e = np.arange(n + 1) / 50.0
    assert amax_entropy(h, e, bits, unsigned) == oracle.amax_entropy(list(h), list(e), bits, unsigned)
    assert amax_mse(h, e, bits, unsigned) == oracle.amax_mse(list(h), list(e), bits, unsigned)
    for p in (50.0, 99.0, 99.9, 99.99, 100.0):
        assert amax_percentile(h, e, p) == oracle.amax_percentile(list(h), list(e), p)


def test_entropy_takes_the_last_minimum():
    # flat then empty: every candidate past the data quantizes without loss (KL = 0), the last one wins
    h = np.concatenate([np.full(150, 7), np.zeros(150, np.int64)])
    e = np.arange(301) / 10.0
    assert amax_entropy(h, e) == oracle.amax_entropy(list(h), list(e), 8, False) == 30.0


def test_amax_observers_use_their_rule_on_the_trimmed_histogram():
    x = np.random.default_rng(0).standard_normal(20000).astype(np.float32)
    for cls, rule in ((mq.EntropyObserver, amax_entropy), (mq.MSEObserver, amax_mse)):
        obs = cls(num_bins=1024)
        obs.update(x)
        counts, edges = obs.hist.counts[0], obs.hist.edges(0)
        last = int(np.nonzero(counts)[0][-1]) + 1
        assert obs.compute_amax()[0] == np.float32(rule(counts[:last], edges[: last + 1]))
        assert obs.compute_amax()[0] <= np.abs(x).max() + (edges[1] - edges[0])
    p = mq.PercentileObserver(percentile=99.0)
    p.update(x)
    assert abs(float(p.compute_amax()[0]) - float(np.percentile(np.abs(x), 99.0))) < 2 * 8 / 2048


def test_amax_qparams_clip_observed_range():
    x = np.concatenate([np.random.default_rng(0).standard_normal(5000), [100.0]]).astype(np.float32)
    obs = mq.PercentileObserver(percentile=99.0)
    obs.update(x)
    amax = float(obs.compute_amax()[0])
    qp = obs.compute_qparams("int8", symmetric=True, profile="torch")
    assert float(qp.scale) == pytest.approx(amax / 127.5, rel=1e-6)  # torch symmetric: amax / ((qmax - qmin) / 2)
    relu = mq.PercentileObserver(percentile=100.0)
    relu.update(np.abs(x))
    qp = relu.compute_qparams("uint8", symmetric=False, profile="torch")
    assert int(qp.zero_point) == 0


@pytest.mark.parametrize("cls", [mq.MinMaxObserver, *HIST_OBSERVERS])
def test_per_axis_equals_per_tensor_of_each_slice(cls, backend):
    x = _batches(8, 1, shape=(5, 3, 40))[0]
    per = cls(axis=1)
    per.update(as_backend(x, backend))
    qp = per.compute_qparams("int8", symmetric=True)
    for c in range(3):
        one = cls()
        one.update(as_backend(np.ascontiguousarray(x[:, c, :]), backend))
        q1 = one.compute_qparams("int8", symmetric=True)
        assert float(mq.to_numpy(qp.scale)[c]) == float(mq.to_numpy(q1.scale))


def test_nonfinite_values_are_counted_not_folded(backend):
    x = as_backend(np.array([1.0, np.nan, -2.0, np.inf, -np.inf, 3.0], np.float32), backend)
    for cls in ALL:
        obs = cls()
        obs.update(x)
        assert (obs.num_nan, obs.num_inf, obs.count) == (1, 2, 3), cls
        assert obs.summary()["nan"] == 1
        if hasattr(obs, "min_val"):
            assert float(np.min(obs.min_val)) == -2.0 and float(np.max(obs.max_val)) == 3.0


@pytest.mark.parametrize("cls", ALL)
def test_no_data_or_only_nan_raises(cls, backend):
    with pytest.raises(mq.NonFiniteError, match="no data"):
        cls().compute_qparams("int8")
    obs = cls()
    obs.update(as_backend(np.array([np.nan, np.inf], np.float32), backend))
    with pytest.raises(mq.NonFiniteError, match="non-finite"):
        obs.compute_qparams("int8")
    empty = cls()
    empty.update(as_backend(np.zeros((0,), np.float32), backend))
    assert empty.num_batches == 0


def test_bad_input_and_merge_errors(backend):
    with pytest.raises(mq.InputTypeError, match="floating"):
        mq.MinMaxObserver().update(as_backend(np.array([1, 2], np.int32), backend))
    a, b = mq.MinMaxObserver(axis=0), mq.MinMaxObserver(axis=0)
    a.update(as_backend(np.ones((3, 4), np.float32), backend))
    b.update(as_backend(np.ones((2, 4), np.float32), backend))
    with pytest.raises(mq.ShapeError, match="3 and 2"):
        a.merge(b)
    with pytest.raises(mq.ShapeError, match="channel"):
        a.update(as_backend(np.ones((5, 4), np.float32), backend))
    with pytest.raises(mq.InputTypeError, match="merge"):
        a.merge(mq.PercentileObserver(axis=0))
    with pytest.raises(mq.InvalidArgumentError, match="axis"):
        a.merge(mq.MinMaxObserver(axis=1))
    with pytest.raises(mq.InvalidArgumentError, match="order"):
        mq.MovingAverageMinMaxObserver().merge(mq.MovingAverageMinMaxObserver())
    with pytest.raises(mq.InvalidArgumentError, match="power of two"):
        mq.EntropyObserver(num_bins=1000)
    with pytest.raises(mq.InvalidArgumentError, match="percentile"):
        mq.PercentileObserver(percentile=101)
    with pytest.raises(mq.InvalidArgumentError, match="averaging_constant"):
        mq.MovingAverageMinMaxObserver(averaging_constant=0)
    with pytest.raises(mq.InvalidArgumentError, match="out of range"):
        mq.MinMaxObserver(axis=3).update(as_backend(np.ones((2, 2), np.float32), backend))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_ranges_too_wide_for_float32_raise_clearly(backend):
    # max - min (or the power-of-two histogram range) overflows float32: torch's HistogramObserver silently drops
    # every value and returns a NaN scale; we raise a clear NonFiniteError instead of crashing in np.bincount
    # or searching over inf edges. The observer stays usable (the failing batch is not folded in).
    x = as_backend(np.array([3e38, -3e38, 0.0, 1.0], np.float32), backend)
    obs = mq.HistogramObserver()
    obs.update(as_backend(np.array([1.0, 2.0], np.float32), backend))
    with pytest.raises(mq.NonFiniteError, match="float32"):
        obs.update(x)
    assert obs.compute_qparams("uint8") is not None and obs.num_batches == 1
    with pytest.raises(mq.NonFiniteError, match="float32"):
        mq.HistogramObserver().update(x)
    fixed = mq.HistogramObserver(mode="fixed")
    fixed.update(x)
    with pytest.raises(mq.NonFiniteError, match="float32"):
        fixed.compute_qparams("int8", symmetric=True)
    mse = mq.MSEObserver()
    mse.update(as_backend(np.array([np.finfo(np.float32).max, 1.0], np.float32), backend))  # top edge 2^128
    with pytest.raises(mq.NonFiniteError, match="float32"):
        mse.compute_amax()
    for cls in (mq.EntropyObserver, mq.PercentileObserver):  # their amax is a float64 edge: fine
        o = cls()
        o.update(x)
        assert np.isfinite(o.compute_amax()).all()


def test_update_returns_input_and_does_not_mutate(backend):
    x = as_backend(np.array([[1.0, -2.0], [3.0, 4.0]], np.float32), backend)
    for cls in ALL:
        assert cls().update(x) is x
    if backend == "numpy":
        np.testing.assert_array_equal(x, [[1.0, -2.0], [3.0, 4.0]])


def test_single_element_and_negative_zero(backend):
    obs = mq.MinMaxObserver()
    obs.update(as_backend(np.array([-0.0], np.float32), backend))
    qp = obs.compute_qparams("uint8", profile="torch")
    assert float(qp.scale) == float(np.finfo(np.float32).eps) and int(qp.zero_point) == 0  # torch all-zero case


@pytest.mark.parametrize("dtype,qmin,qmax,unsigned", [("uint8", 0, 255, True), ("int8", -128, 127, False),
                                                       ("int4", -8, 7, False), ("uint4", 0, 15, True)])
@pytest.mark.parametrize("symmetric", [False, True])
def test_minmax_qparams_match_loop_oracle(backend, dtype, qmin, qmax, unsigned, symmetric):
    obs = mq.MinMaxObserver()
    for x in _batches(21, 3, shape=(50,)):
        obs.update(as_backend(x + np.float32(0.3), backend))
    qp = obs.compute_qparams(dtype, symmetric=symmetric, profile="torch")
    s, z = oracle.torch_minmax_qparams(float(obs.min_val[0]), float(obs.max_val[0]), qmin, qmax, symmetric, unsigned)
    assert float(mq.to_numpy(qp.scale)) == s and int(mq.to_numpy(qp.zero_point)) == z


def test_amax_mse_picks_like_np_argmin_when_float32_errors_overflow():
    # ModelOpt's _compute_amax_mse takes np.argmin over float32 errors: for magnitudes ~1e21 the squared errors
    # overflow (inf·0 counts = NaN) and np.argmin returns the first NaN, i.e. the first candidate. It used to raise.
    counts = np.zeros(300, np.int64)
    counts[[10, 290]] = [5, 1]
    edges = np.arange(301, dtype=np.float64) * 1e19
    centers = ((edges[1:] + edges[:-1]) / 2).astype(np.float32)
    assert amax_mse(counts, edges, 8, False, 1, 128) == float(centers[128])


@pytest.mark.parametrize(
    "cls, kw",
    [
        (mq.MinMaxObserver, {"axis": 1}),
        (mq.MovingAverageMinMaxObserver, {"averaging_constant": 0.25, "axis": 0}),
        (mq.PercentileObserver, {"percentile": 97.5, "num_bins": 256}),
        (mq.EntropyObserver, {"num_bins": 512, "start_bin": 64, "stride": 2}),
        (mq.MSEObserver, {"num_bins": 512, "start_bin": 32, "stride": 4}),
    ],
)
def test_state_dict_keeps_non_default_constructor_args(cls, kw):
    a = cls(**kw)
    a.update(np.random.default_rng(3).standard_normal((4, 64)).astype(np.float32))
    b = cls.from_state_dict(json.loads(json.dumps(a.state_dict())))
    assert type(b) is cls
    for name, value in kw.items():
        got = b.hist.num_bins if name == "num_bins" else getattr(b, name)
        assert got == value, f"{cls.__name__}.{name} not restored: {got!r} != {value!r}"
    assert json.dumps(a.state_dict()) == json.dumps(b.state_dict())
