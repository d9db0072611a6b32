"""The NumPy fast path's pair formulation (small / sparse sets, and the rest of a set after its first blocks) gives
exactly the generic result: at the size thresholds, forced on dense sets, refused (fallback), class-aware."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mlxquant as mq
from mlxquant.decode.nms import _nms_generic, _nms_numpy_fast
from tests.decode._data import clustered_boxes
from tests.reference.decode_oracle import greedy_nms_loop

NMS = importlib.import_module("mlxquant.decode.nms")  # the module (mq.decode.nms is the function)


def _sets(rng, n):
    yield clustered_boxes(rng, n, k=max(1, n // 10), size=640.0)
    yield clustered_boxes(rng, n, k=max(1, n // 8), size=60.0, grid=1.0)  # integer boxes: exact IoU ties
    c = rng.uniform(0, 640, (n, 2))
    wh = rng.uniform(5, 40, (n, 2))
    yield np.concatenate([c - wh / 2, c + wh / 2], 1).astype(np.float32)  # spread: many kept


def _check(b, s, cl, thr, oracle=False):
    fast = _nms_numpy_fast(b, s, cl, thr)
    np.testing.assert_array_equal(fast, _nms_generic(mq.get_backend(b), b, s, cl, thr, block=257))
    if oracle:
        assert fast.tolist() == greedy_nms_loop(b, s, thr, cl)
    return fast


@pytest.mark.parametrize("n", [NMS._PAIRS_DIRECT_N - 1, NMS._PAIRS_DIRECT_N, NMS._PAIRS_DIRECT_N + 1,
                               NMS._PAIRS_MAX_N, NMS._PAIRS_MAX_N + 1])
def test_pair_path_size_boundaries(n):
    rng = np.random.default_rng(n)
    for b in _sets(rng, n):
        s = (rng.integers(0, 40, n) / 40).astype(np.float32)  # many score ties
        cl = rng.integers(0, 5, n)
        for thr in (0.0, 0.45, 0.7):
            _check(b, s, None, thr, oracle=n <= NMS._PAIRS_DIRECT_N + 1 and thr == 0.45)
            _check(b, s, cl, thr)


def test_pair_path_forced_and_refused(monkeypatch):
    # forced: every set goes to the pair formulation (directly, and after each block); refused: never
    rng = np.random.default_rng(7)
    sets = [(b, n) for n in (1, 2, 3, 40, 700, 2100) for b in _sets(rng, n)]
    for forced in (True, False):
        with monkeypatch.context() as m:
            if forced:
                m.setattr(NMS, "_PAIRS_DIRECT_N", 10**9)
                m.setattr(NMS, "_PAIRS_MAX_N", 10**9)
                m.setattr(NMS, "_PAIRS_PER_BOX", 10**6)
                m.setattr(NMS, "_PAIRS_EST_PER_BOX", 10**6)
            else:
                m.setattr(NMS, "_PAIRS_PER_BOX", -(10**6))
                m.setattr(NMS, "_PAIRS_SLACK", -1)
            for b, n in sets:
                s = rng.random(n).astype(np.float32)
                cl = rng.integers(0, 3, n)
                for thr in (0.0, 1 / 3, 0.5, 1.0):
                    _check(b, s, None, thr, oracle=n <= 40)
                    _check(b, s, cl, thr, oracle=n <= 40)


def test_pair_path_used_where_it_should_be(monkeypatch):
    calls = []
    orig = NMS._greedy_pairs

    def spy(*a, **k):
        r = orig(*a, **k)
        calls.append((a[0].shape[0], r[0] is not None))
        return r

    monkeypatch.setattr(NMS, "_greedy_pairs", spy)
    rng = np.random.default_rng(3)
    c = rng.uniform(0, 640, (1000, 2))
    wh = rng.uniform(10, 60, (1000, 2))
    b = np.concatenate([c - wh / 2, c + wh / 2], 1).astype(np.float32)
    s = rng.random(1000).astype(np.float32)
    _check(b, s, None, 0.5)
    assert calls and calls[-1][1] and calls[-1][0] < 1000  # after the first block
    calls.clear()
    _check(b[:300], s[:300], None, 0.5)
    assert calls == [(300, True)]  # directly
    calls.clear()
    one = np.tile(np.array([[0, 0, 10, 10]], np.float32), (500, 1))  # one dense cluster: refused, blocks decide
    assert _check(one, s[:500], None, 0.5).tolist() == [int(np.argmax(s[:500]))]
    assert calls == [(500, False)]


def test_pair_path_many_classes_and_degenerate():
    rng = np.random.default_rng(11)
    n = 2100
    b = clustered_boxes(rng, n, k=30, size=200.0)
    s = rng.random(n).astype(np.float32)
    for cl in (rng.integers(0, 2000, n), np.arange(n) * 7, rng.integers(0, 2, n)):  # class ranks with gaps in subsets
        for thr in (0.0, 0.5):
            _check(b, s, cl, thr)
    z = np.zeros((300, 4), np.float32)  # all zero-area at one point: IoU 0 (0/0), nothing suppressed
    assert _check(z, s[:300], None, 0.5).shape[0] == 300
    flat = np.concatenate([rng.uniform(0, 100, (300, 2)), rng.uniform(0, 100, (300, 2))], 1).astype(np.float32)
    flat[:, 3] = flat[:, 1]  # zero height, spread in y
    flat[:, 2] = np.maximum(flat[:, 0], flat[:, 2])
    _check(flat, s[:300], None, 0.3)
    big = clustered_boxes(rng, 400, k=20, size=1e6)  # large coordinates: window slack and key rounding
    _check(big, s[:400], None, 0.5, oracle=True)


@settings(max_examples=40, deadline=None)
@given(n=st.sampled_from([2, 5, 60, 511, 512, 513, 900]), seed=st.integers(0, 2**31 - 1),
       thr=st.sampled_from([0.0, 0.25, 0.5, float(np.float32(0.45)), 0.7, 1.0]), class_aware=st.booleans(),
       levels=st.sampled_from([3, 50, 10**6]))
def test_pair_path_property(n, seed, thr, class_aware, levels):
    rng = np.random.default_rng(seed)
    kind = seed % 3
    b = list(_sets(rng, n))[kind]
    if seed % 5 == 0:  # duplicates and zero-area boxes
        d = rng.random(n) < 0.3
        b[d] = b[rng.integers(0, n, n)[d]]
        z = rng.random(n) < 0.2
        b[z, 2:] = b[z, :2]
    s = (rng.integers(0, levels, n) / levels).astype(np.float32)
    s[rng.random(n) < 0.05] = -0.0
    cl = rng.integers(0, 4, n) if class_aware else None
    _check(b, s, cl, thr, oracle=n <= 60)
