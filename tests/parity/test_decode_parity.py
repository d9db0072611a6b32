"""Hypothesis parity: NMS fast path == generic (NumPy) == generic (MLX) == loop oracle; classify, IoU and
segmentation NumPy vs MLX.

Tolerances: integer outputs (indices, masks) exact; IoU exact (float32 division is correctly rounded in both
backends, REFERENCE §7); softmax / sigmoid probabilities rtol 1e-6 (MLX exp differs from NumPy by ~1 ulp).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import mlxquant as mq
from mlxquant._backend import get_backend
from mlxquant.decode.nms import _nms_generic, _nms_numpy_fast
from tests.decode._data import clustered_boxes
from tests.helpers import as_backend, assert_close, assert_equal
from tests.reference.decode_oracle import argmax_low_loop, greedy_nms_loop, softmax_topk_loop


@st.composite
def box_sets(draw, max_n=120):
    n = draw(st.integers(0, max_n))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    kind = draw(st.sampled_from(["clustered", "grid", "degenerate"]))
    if kind == "clustered" or n == 0:
        b = clustered_boxes(rng, n, k=max(1, n // 10), size=100.0)
    elif kind == "grid":  # integer boxes: exact IoU ties at the threshold happen
        b = clustered_boxes(rng, n, k=max(1, n // 8), size=20.0, grid=1.0)
    else:  # duplicates and zero-area boxes
        b = clustered_boxes(rng, n, k=2, size=10.0, grid=1.0)
        dup = rng.integers(0, n, n)
        d = rng.random(n) < 0.3
        b[d] = b[dup[d]]  # exact duplicates
        z = rng.random(n) < 0.2
        b[z, 2:] = b[z, :2]
    levels = draw(st.sampled_from([3, 50, 10**6]))  # few levels -> many score ties
    s = (rng.integers(0, levels, n) / levels).astype(np.float32)
    s[rng.random(n) < 0.05] = -0.0
    cl = rng.integers(0, 3, n)
    thr = draw(st.sampled_from([0.0, 0.25, 0.5, float(np.float32(0.45)), 0.7, 1.0]))
    return b, s, cl, thr


@settings(max_examples=60)
@given(data=box_sets(), class_aware=st.booleans())
def test_nms_fast_generic_mlx_oracle(data, class_aware):
    b, s, cl, thr = data
    classes = cl if class_aware else None
    fast = _nms_numpy_fast(b, s, classes, thr)
    gen = _nms_generic(get_backend(b), b, s, classes, thr, block=37)
    np.testing.assert_array_equal(fast, gen)
    assert fast.tolist() == greedy_nms_loop(b, s, thr, classes)
    for method in ("generic", "auto"):
        got = mq.decode.nms(as_backend(b, "mlx"), as_backend(s, "mlx"), thr, method=method,
                            classes=None if classes is None else as_backend(classes, "mlx"))
        assert_equal(got, fast, backend="mlx")
    assert_equal(mq.decode.nms(b, s, thr, classes=classes, method="generic"), fast, backend="numpy")


@settings(max_examples=30)
@given(data=box_sets(max_n=60))
def test_box_iou_numpy_vs_mlx(data):
    b = data[0]
    ref = mq.decode.box_iou(b, b)
    assert_equal(mq.decode.box_iou(as_backend(b, "mlx"), as_backend(b, "mlx")), ref, backend="mlx")


@settings(max_examples=30)
@given(seed=st.integers(0, 2**31 - 1), bsz=st.integers(1, 3), c=st.integers(1, 40), k=st.integers(1, 8),
       temp=st.sampled_from([0.5, 1.0, 3.0]), ties=st.booleans())
def test_classify_numpy_vs_mlx_vs_oracle(seed, bsz, c, k, temp, ties):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 3, (bsz, c)).astype(np.float32)
    if ties:
        x = np.round(x)
    rn = mq.decode.classify(x, topk=k, labels=None, temperature=temp)
    rm = mq.decode.classify(as_backend(x, "mlx"), topk=k, labels=None, temperature=temp)
    for i in range(bsz):
        assert_equal(rm[i].indices, rn[i].indices, backend="mlx")
        assert_close(rm[i].scores, rn[i].scores, rtol=1e-6, atol=1e-7, backend="mlx")
        order, probs = softmax_topk_loop(x[i], min(k, c), temp)
        assert rn[i].indices.tolist() == order
        np.testing.assert_allclose(rn[i].scores, probs, rtol=2e-6, atol=1e-7)


@settings(max_examples=30)
@given(seed=st.integers(0, 2**31 - 1), c=st.integers(1, 6), h=st.integers(1, 7), w=st.integers(1, 7),
       kind=st.sampled_from(["logits", "probabilities", "sigmoid"]))
def test_segmentation_numpy_vs_mlx_vs_oracle(seed, c, h, w, kind):
    rng = np.random.default_rng(seed)
    x = np.round(rng.normal(0, 2, (1, c, h, w)) * 2).astype(np.float32) / 2  # ties and exact 0 logits
    if c == 1 and kind != "sigmoid":
        kind = "sigmoid"
    sn = mq.decode.segmentation(x, kind=kind)
    sm = mq.decode.segmentation(as_backend(x, "mlx"), kind=kind)
    assert_equal(sm.mask, sn.mask, backend="mlx")
    assert_close(sm.confidence, sn.confidence, rtol=1e-6, atol=1e-7, backend="mlx")
    m = mq.to_numpy(sn.mask)
    for yy in range(h):
        for xx in range(w):
            v = x[0, :, yy, xx]
            if c == 1:
                assert m[yy, xx] == int(v[0] > 0)  # sigmoid(v) > 0.5 <=> v > 0; v == 0 is a tie -> 0
            else:
                assert m[yy, xx] == argmax_low_loop(list(v))
