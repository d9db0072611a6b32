"""Unit tests of mq.decode.nms: semantics, ties, edge values, errors (NumPy and MLX)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import mlxquant as mq
from mlxquant.decode.nms import _nms_generic, _nms_numpy_fast, iou_threshold_up
from tests.decode._data import clustered_boxes
from tests.helpers import as_backend, assert_equal, backend_of
from tests.reference.decode_oracle import greedy_nms_loop

B3 = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float32)


def _np(x):
    return mq.to_numpy(x)


def test_basic(backend):
    k = mq.decode.nms(as_backend(B3, backend), as_backend(np.array([0.9, 0.8, 0.7], np.float32), backend), 0.5)
    assert_equal(k, np.array([0, 2], np.int32), backend=backend)


def test_strict_threshold_equal_iou_is_kept(backend):
    # IoU exactly 0.5: [0,0,2,1] vs [0,0,1,1] -> inter 1, union 2. Suppression needs IoU > 0.5 (strict).
    b = np.array([[0, 0, 2, 1], [0, 0, 1, 1]], np.float32)
    s = np.array([0.9, 0.8], np.float32)
    assert _np(mq.decode.nms(as_backend(b, backend), as_backend(s, backend), 0.5)).tolist() == [0, 1]
    assert _np(mq.decode.nms(as_backend(b, backend), as_backend(s, backend), 0.4999)).tolist() == [0]


def test_threshold_float64_semantics():
    # float32(0.1) rounds up above 0.1: an IoU equal to float32(0.1) is > 0.1 in float64 (torchvision) -> suppressed.
    t = iou_threshold_up(0.1)
    assert float(t) > 0.1 and float(np.nextafter(t, np.float32(0))) <= 0.1
    assert float(iou_threshold_up(0.5)) == float(np.nextafter(np.float32(0.5), np.float32(1)))
    assert float(iou_threshold_up(1.0)) > 1.0  # IoU <= 1: never suppresses


def test_ties_lower_index_first(backend):
    b = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]], np.float32)
    s = np.array([0.5, 0.5, 0.5], np.float32)
    assert _np(mq.decode.nms(as_backend(b, backend), as_backend(s, backend), 0.5)).tolist() == [0]
    s2 = np.array([0.5, 0.9, 0.5], np.float32)
    assert _np(mq.decode.nms(as_backend(b, backend), as_backend(s2, backend), 0.5)).tolist() == [1]
    # -0.0 ties with 0.0
    far = np.array([[0, 0, 1, 1], [5, 5, 6, 6], [9, 9, 10, 10]], np.float32)
    s3 = np.array([0.0, -0.0, 0.0], np.float32)
    assert _np(mq.decode.nms(as_backend(far, backend), as_backend(s3, backend), 0.5)).tolist() == [0, 1, 2]


def test_class_aware_exact(backend):
    s = np.array([0.9, 0.8, 0.7], np.float32)
    k = mq.decode.nms(as_backend(B3, backend), as_backend(s, backend), 0.5, classes=as_backend(np.array([0, 1, 0]),
                                                                                               backend))
    assert _np(k).tolist() == [0, 1, 2]
    k = mq.decode.nms(as_backend(B3, backend), as_backend(s, backend), 0.5, classes=np.array([3, 3, 3]))
    assert _np(k).tolist() == [0, 2]


def test_empty_single_zero_area_inf_scores(backend):
    e = mq.decode.nms(as_backend(np.zeros((0, 4), np.float32), backend), as_backend(np.zeros(0, np.float32), backend),
                      0.5)
    assert backend_of(e) == backend and _np(e).shape == (0,) and _np(e).dtype == np.int32
    one = mq.decode.nms(as_backend(B3[:1], backend), as_backend(np.array([0.1], np.float32), backend), 0.0)
    assert _np(one).tolist() == [0]
    # two identical zero-area boxes: IoU defined as 0 (torchvision NaN): neither suppresses the other
    z = np.array([[5, 5, 5, 5], [5, 5, 5, 5]], np.float32)
    assert _np(mq.decode.nms(as_backend(z, backend), as_backend(np.array([1, 2], np.float32), backend),
                             0.0)).tolist() == [1, 0]
    s = np.array([np.inf, -np.inf, 0.5], np.float32)
    assert _np(mq.decode.nms(as_backend(B3, backend), as_backend(s, backend), 0.99)).tolist() == [0, 2, 1]


def test_threshold_zero_and_one(backend):
    s = np.array([0.9, 0.8, 0.7], np.float32)
    # touching boxes (IoU 0) are never suppressed, even at threshold 0
    t = np.array([[0, 0, 1, 1], [1, 0, 2, 1], [0.5, 0, 1.5, 1]], np.float32)
    assert _np(mq.decode.nms(as_backend(t, backend), as_backend(s, backend), 0.0)).tolist() == [0, 1]
    assert _np(mq.decode.nms(as_backend(B3, backend), as_backend(s, backend), 1.0)).tolist() == [0, 1, 2]


def test_max_det_and_score_threshold(backend):
    s = np.array([0.9, 0.8, 0.7], np.float32)
    assert _np(mq.decode.nms(as_backend(B3, backend), as_backend(s, backend), 0.5, max_det=1)).tolist() == [0]
    assert _np(mq.decode.nms(as_backend(B3, backend), as_backend(s, backend), 0.5, max_det=0)).tolist() == []
    # score > threshold, strict: 0.7 is not > 0.7 (float32 compare)
    k = mq.decode.nms(as_backend(B3, backend), as_backend(s, backend), 0.95, score_threshold=float(np.float32(0.7)))
    assert _np(k).tolist() == [0, 1]


def test_inputs_not_mutated():
    b = B3.copy()
    b.setflags(write=False)
    s = np.array([0.9, 0.8, 0.7], np.float32)
    s.setflags(write=False)
    mq.decode.nms(b, s, 0.5, classes=np.array([0, 1, 0]))
    mq.decode.nms(b, s, 0.5, mode="soft")
    mq.decode.nms(b, s, 0.5, mode="weighted")
    np.testing.assert_array_equal(b, B3)


@pytest.mark.parametrize(
    "kw, err",
    [
        ({"iou_threshold": 1.5}, "iou_threshold must be in \\[0, 1\\]"),
        ({"iou_threshold": -0.1}, "iou_threshold"),
        ({"iou_threshold": float("nan")}, "iou_threshold"),
        ({"score_threshold": 2.0}, "score_threshold"),
        ({"mode": "fast"}, "valid values are: greedy, soft, weighted"),
        ({"max_det": -1}, "max_det"),
    ],
)
def test_bad_arguments(kw, err):
    args = {"iou_threshold": 0.5, **kw}
    with pytest.raises(mq.InvalidArgumentError, match=err):
        mq.decode.nms(B3, np.array([0.9, 0.8, 0.7], np.float32), **args)


def test_bad_boxes_and_scores():
    s = np.array([0.9, 0.8, 0.7], np.float32)
    bad = B3.copy()
    bad[1] = [11, 1, 1, 11]  # x2 < x1
    with pytest.raises(mq.InvalidArgumentError, match=r"boxes\[1\].*x2 < x1.*box_convert"):
        mq.decode.nms(bad, s, 0.5)
    with pytest.raises(mq.ShapeError, match=r"boxes has shape \(3, 5\), expected \(N, 4\)"):
        mq.decode.nms(np.zeros((3, 5), np.float32), s, 0.5)
    with pytest.raises(mq.ShapeError, match=r"scores has shape \(2,\), expected \(3,\)"):
        mq.decode.nms(B3, s[:2], 0.5)
    with pytest.raises(mq.NonFiniteError, match=r"scores\[1\] is NaN"):
        mq.decode.nms(B3, np.array([0.9, np.nan, 0.7], np.float32), 0.5)
    nanb = B3.copy()
    nanb[2, 0] = np.nan
    with pytest.raises(mq.NonFiniteError, match=r"boxes\[2\]"):
        mq.decode.nms(nanb, s, 0.5)
    with pytest.raises(mq.ShapeError, match="classes has shape"):
        mq.decode.nms(B3, s, 0.5, classes=np.array([0, 1]))


@pytest.mark.parametrize("n", [1, 7, 300, 2500])
def test_generic_equals_fast_equals_oracle_clustered(n):
    rng = np.random.default_rng(n)
    b = clustered_boxes(rng, n, k=max(1, n // 25), grid=1.0 if n < 300 else None)
    s = rng.integers(0, 50, n).astype(np.float32) / 50  # many ties
    cl = rng.integers(0, 3, n)
    for classes in (None, cl):
        fast = _nms_numpy_fast(b, s, classes, 0.45)
        gen = _nms_generic(mq.get_backend(b), b, s, classes, 0.45, block=97)
        np.testing.assert_array_equal(fast, gen)
        if n <= 300:
            assert fast.tolist() == greedy_nms_loop(b, s, 0.45, classes)



@pytest.mark.parametrize("seed", range(6))
def test_fast_path_class_aware_single_pass_equals_generic(seed):
    # the fast path runs all classes in one pass (class c owns its own bands of the index); windows that reach past
    # a band's ends touch the next class's bands and must not suppress across classes
    rng = np.random.default_rng(seed)
    n = 1100
    for kind in range(3):
        if kind == 0:
            xy = rng.uniform(0, 100, (n, 2))
            wh = rng.uniform(0, 30, (n, 2))
        elif kind == 1:
            xy = rng.integers(0, 20, (n, 2)).astype(np.float64)
            wh = rng.integers(0, 10, (n, 2)).astype(np.float64)
        else:
            xy = rng.uniform(-1e4, 1e4, (n, 2))
            wh = rng.uniform(0, 1e4, (n, 2))
        b = np.concatenate([xy, xy + wh], 1).astype(np.float32)
        s = rng.random(n).astype(np.float32)
        for nc in (2, 80):
            cl = rng.integers(0, nc, n)
            for thr in (0.0, 1 / 3, 0.5):
                fast = _nms_numpy_fast(b, s, cl, thr)
                np.testing.assert_array_equal(fast, _nms_generic(mq.get_backend(b), b, s, cl, thr))

def test_soft_nms_gaussian_and_linear():
    b = np.array([[0, 0, 10, 10], [0, 0, 10, 9], [20, 20, 30, 30]], np.float32)
    s = np.array([0.9, 0.8, 0.7], np.float32)
    idx, sc = mq.decode.nms(b, s, 0.5, mode="soft", sigma=0.5, return_scores=True)
    iou = 0.9
    expected = np.float32(0.8) * np.float32(np.exp(np.float32(-0.5 / 0.5) * np.float32(iou) * np.float32(iou)))
    assert idx.tolist() == [0, 2, 1]
    np.testing.assert_allclose(sc, [0.9, 0.7, expected], rtol=1e-6)
    # linear: weight 1 - iou above the threshold
    idx, sc = mq.decode.nms(b, s, 0.5, mode="soft", soft_method="linear", return_scores=True)
    np.testing.assert_allclose(sc, [0.9, 0.7, 0.8 * (1 - 0.9)], rtol=1e-5)
    # score threshold drops rescored boxes (<= threshold)
    idx = mq.decode.nms(b, s, 0.5, mode="soft", soft_method="linear", score_threshold=0.1)
    assert idx.tolist() == [0, 2]



def test_soft_nms_sigma_is_float32_as_tf():
    # TF passes soft_nms_sigma as a float32 tensor: scale = f32(-0.5 / f64(f32(sigma))); at sigma = 0.55 that is
    # -0.9090909, not f32(-0.5 / 0.55) = -0.90909094, and the rescored score differs in the last bit at IoU 0.9
    b = np.array([[0, 0, 10, 10], [0, 0, 10, 9]], np.float32)
    s = np.array([0.9, 0.8], np.float32)
    _, sc = mq.decode.nms(b, s, 0.5, mode="soft", sigma=0.55, return_scores=True)
    scale = np.float32(-0.5 / float(np.float32(0.55)))
    iou = np.float32(0.9)
    expected = np.float32(np.float32(0.8) * np.float32(math.exp(float(scale * iou * iou))))
    assert sc[1] == expected == np.float32(0.38308167)

def test_weighted_nms_mediapipe():
    b = np.array([[0, 0, 10, 10], [2, 2, 12, 12], [50, 50, 60, 60]], np.float32)
    s = np.array([0.6, 0.2, 0.9], np.float32)
    idx, mb, _ = mq.decode.weighted_nms(b, s, 0.3)
    assert idx.tolist() == [2, 0]
    # IoU([0,0,10,10],[2,2,12,12]) = 64/136 = 0.47 > 0.3: weighted mean with weights 0.6, 0.2
    np.testing.assert_allclose(mb[1], (b[0] * 0.6 + b[1] * 0.2) / 0.8, rtol=1e-6)
    np.testing.assert_array_equal(mb[0], b[2])
    assert mq.decode.nms(b, s, 0.3, mode="weighted").tolist() == [2, 0]


@pytest.mark.parametrize("seed", [0, 1])
def test_fast_path_sparse_windows_equal_generic(seed):
    # Spread-out small boxes with very different widths: the fast path's x1-sorted window pass (not the dense one)
    # decides; a too-narrow window would miss wide boxes that overlap from the left.
    rng = np.random.default_rng(seed)
    n = 3000
    c = rng.uniform(0, 400, (n, 2))
    wh = np.where(rng.random((n, 1)) < 0.05, rng.uniform(40, 80, (n, 2)), rng.uniform(2, 12, (n, 2)))
    b = np.concatenate([c - wh / 2, c + wh / 2], 1).astype(np.float32)
    s = rng.random(n).astype(np.float32)
    for thr in (0.0, 0.05, 0.3, 0.7):
        np.testing.assert_array_equal(_nms_numpy_fast(b, s, None, thr), _nms_generic(mq.get_backend(b), b, s, None,
                                                                                        thr))


@pytest.mark.parametrize("thr", [0.05, 0.1, 0.3, 0.5, 0.7, 0.95])
@pytest.mark.parametrize("axis", [0, 1])
def test_fast_path_extreme_centre_offsets(thr, axis):
    # The fast path only visits boxes whose centre is within (1 - t)/(2t) of the kept box size. The extreme case:
    # a kept box nested at the edge of a box 1/t times wider (IoU just above t, centre offset (1-t)/(2t)·w).
    rng = np.random.default_rng(int(thr * 10) + axis)
    n_pairs = 700
    o = rng.uniform(0, 5000, (n_pairs, 2)).astype(np.float32)
    small = np.concatenate([o, o + 10], 1)
    big = small.copy()
    big[:, 2 + axis] = big[:, axis] + np.float32(10 / thr * 0.999)  # IoU = thr / 0.999 > thr
    left = rng.random(n_pairs) < 0.5  # the small box at the left / right edge of the big one
    shift = big[:, 2 + axis] - small[:, 2 + axis]
    big[left, axis] -= shift[left]
    big[left, 2 + axis] -= shift[left]
    b = np.concatenate([small, big]).astype(np.float32)
    s = np.concatenate([np.full(n_pairs, 0.9), np.full(n_pairs, 0.5)]).astype(np.float32)
    fast = _nms_numpy_fast(b, s, None, thr)
    np.testing.assert_array_equal(fast, _nms_generic(mq.get_backend(b), b, s, None, thr))
    assert fast.shape[0] == n_pairs  # every wide box suppressed by its nested small box
