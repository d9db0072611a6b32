"""mq.decode.nms against peers: a torch-written torchvision NMS and OpenCV's cv2.dnn.NMSBoxes.

Documented differences with OpenCV (checked below): both suppress when IoU > threshold (strict), both keep
``score > score_threshold`` (strict) and visit ties lower index first; OpenCV computes the IoU of ``Rect2d`` in
double (mlxquant: float32, as torchvision), and treats two identical zero-area boxes as overlapping (IoU 1: the
lower-score one is suppressed) where mlxquant/torchvision define IoU 0 (both kept).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mlxquant as mq
from tests.decode._data import clustered_boxes
from tests.helpers import as_backend
from tests.reference.decode_oracle import torch_nms

torch = pytest.importorskip("torch")
cv2 = pytest.importorskip("cv2")

pytestmark = pytest.mark.peers


def _cv2_nms(b: np.ndarray, s: np.ndarray, thr: float, score_threshold: float = 0.0) -> list[int]:
    # OpenCV requires score_threshold >= 0 and keeps score > score_threshold: pass positive scores.
    xywh = [[float(r[0]), float(r[1]), float(r[2] - r[0]), float(r[3] - r[1])] for r in b]
    out = cv2.dnn.NMSBoxes(xywh, [float(v) for v in s], score_threshold, thr)
    return [int(i) for i in np.asarray(out).ravel()]


@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 400), thr=st.sampled_from([0.0, 0.3, 0.45, 0.5, 0.7, 1.0]))
def test_equals_torch_nms(backend, seed, n, thr):
    rng = np.random.default_rng(seed)
    b = clustered_boxes(rng, n, k=max(1, n // 20))
    s = rng.random(n).astype(np.float32)
    ref = torch_nms(torch.from_numpy(b), torch.from_numpy(s), thr).numpy()
    for method in ("auto", "generic"):
        got = mq.to_numpy(mq.decode.nms(as_backend(b, backend), as_backend(s, backend), thr, method=method))
        np.testing.assert_array_equal(got, ref)


@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 300), thr=st.sampled_from([0.25, 0.375, 0.5, 0.625]))
def test_equals_opencv_on_integer_boxes(seed, n, thr):
    # Integer boxes below 100 px: IoU = p/q is either exactly the threshold or >= 2.5e-6 away from it. With a
    # threshold exact in binary, an exact tie is exact in float32 and double too, so float32 (mlxquant) and double
    # (OpenCV) IoUs take the same side. (Non-binary thresholds differ on exact ties: see the test below.)
    rng = np.random.default_rng(seed)
    b = clustered_boxes(rng, n, k=max(1, n // 15), size=90.0, grid=1.0)
    b = b[(b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])]
    s = ((rng.permutation(b.shape[0]) + 1) / (b.shape[0] + 1)).astype(np.float32)  # distinct, > 0
    got = mq.decode.nms(b, s, thr, score_threshold=0.0).tolist()
    assert got == _cv2_nms(b, s, thr)
    got = mq.decode.nms(b, s, thr, score_threshold=0.5).tolist()
    assert got == _cv2_nms(b, s, thr, 0.5)


def test_opencv_edge_semantics_documented():
    # strict IoU comparison in both
    b = np.array([[0, 0, 2, 1], [0, 0, 1, 1]], np.float32)
    s = np.array([0.9, 0.8], np.float32)
    assert _cv2_nms(b, s, 0.5) == mq.decode.nms(b, s, 0.5).tolist() == [0, 1]
    assert _cv2_nms(b, s, 0.499) == mq.decode.nms(b, s, 0.499).tolist() == [0]
    # strict score threshold in both
    b2 = np.array([[0, 0, 1, 1], [5, 5, 6, 6]], np.float32)
    s2 = np.array([0.9, 0.5], np.float32)
    assert _cv2_nms(b2, s2, 0.5, 0.5) == mq.decode.nms(b2, s2, 0.5, score_threshold=0.5).tolist() == [0]
    # ties: lower index first in both
    b3 = np.array([[0, 0, 1, 1]] * 3, np.float32)
    s3 = np.full(3, 0.5, np.float32)
    assert _cv2_nms(b3, s3, 0.5) == mq.decode.nms(b3, s3, 0.5).tolist() == [0]
    # the documented difference: identical zero-area boxes
    z = np.array([[5, 5, 5, 5], [5, 5, 5, 5]], np.float32)
    sz = np.array([0.5, 0.6], np.float32)
    assert _cv2_nms(z, sz, 0.0) == [1]
    assert mq.decode.nms(z, sz, 0.0).tolist() == [1, 0]


def test_opencv_differs_on_exact_ties_at_non_binary_thresholds():
    # IoU = 12/40 = 0.3 exactly. float32(12/40) = 0.30000001 > 0.3 (float64): mlxquant / torchvision suppress;
    # OpenCV computes 0.3 in double and compares with float(0.3) = 0.30000001: keeps.
    b = np.array([[0, 0, 10, 4], [0, 0, 3, 4]], np.float32)  # inter 12, union 40
    s = np.array([0.9, 0.8], np.float32)
    assert float(mq.decode.box_iou(b[:1], b[1:])[0, 0]) == float(np.float32(0.3))
    assert mq.decode.nms(b, s, 0.3).tolist() == [0]
    assert torch_nms(torch.from_numpy(b), torch.from_numpy(s), 0.3).tolist() == [0]
    assert _cv2_nms(b, s, 0.3) == [0, 1]


def test_torch_nms_class_offset_trick_differs_from_exact_per_class():
    # The Ultralytics / torchvision batched_nms offset (boxes + class * 7680 in float32) rounds coordinates: the
    # IoU of offset boxes differs from the true IoU, so a pair right at the threshold can flip.
    b = np.array([[0.1, 0.1, 1.13, 1.13], [0.33, 0.1, 1.37, 1.13]], np.float32)
    s = np.array([0.9, 0.8], np.float32)
    true_iou = float(mq.decode.box_iou(b[:1], b[1:])[0, 0])
    off = b + np.float32(7680 * 79)
    off_iou = float(mq.decode.box_iou(off[:1], off[1:])[0, 0])
    assert abs(true_iou - off_iou) > 1e-2
    thr = (true_iou + off_iou) / 2
    exact = mq.decode.nms(b, s, thr, classes=np.array([79, 79])).tolist()
    trick = torch_nms(torch.from_numpy(off), torch.from_numpy(s), thr).tolist()
    assert exact != trick
