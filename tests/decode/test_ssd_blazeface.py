"""SSD anchors (MediaPipe), TF box coder, TFLite_Detection_PostProcess reader and BlazeFace against loop oracles."""

from __future__ import annotations

import numpy as np
import pytest

import mlxquant as mq
from mlxquant.decode.ssd import ANCHOR_PRESETS
from tests.helpers import as_backend, backend_of
from tests.reference.decode_oracle import mediapipe_anchors_loop, mediapipe_face_loop, tf_box_decode_loop


@pytest.mark.parametrize("preset, count", [("blazeface_short", 896), ("blazeface_full", 2304),
                                           ("ssd_mobilenet_300", 1917)])
def test_anchor_presets_equal_oracle(preset, count):
    a = mq.decode.ssd_anchors(preset)
    assert a.shape == (count, 4) and a.dtype == np.float32
    o = dict(ANCHOR_PRESETS[preset])
    ref = np.asarray(mediapipe_anchors_loop(**o), np.float32)
    np.testing.assert_array_equal(a, ref)


def test_blazeface_anchor_values():
    a = mq.decode.ssd_anchors("blazeface_short")
    assert a[0].tolist() == [0.03125, 0.03125, 1.0, 1.0] and a[1].tolist() == a[0].tolist()  # 2 anchors per cell
    assert a[512].tolist() == [0.0625, 0.0625, 1.0, 1.0]  # first anchor of the 8x8 layers (6 per cell)
    full = mq.decode.ssd_anchors("blazeface_full")
    assert full[0, 0] == np.float32(0.5 / 48)


def test_custom_anchor_options_and_errors():
    a = mq.decode.ssd_anchors(num_layers=2, min_scale=0.2, max_scale=0.9, input_size_height=64, input_size_width=96,
                              strides=(16, 32), aspect_ratios=(1.0, 2.0), interpolated_scale_aspect_ratio=0.0)
    ref = mediapipe_anchors_loop(2, 0.2, 0.9, 64, 96, 0.5, 0.5, (16, 32), (1.0, 2.0), False, 0.0, False)
    np.testing.assert_array_equal(a, np.asarray(ref, np.float32))
    with pytest.raises(mq.InvalidArgumentError, match="Both feature map shape and strides are missing"):
        mq.decode.ssd_anchors(num_layers=1)
    with pytest.raises(mq.InvalidArgumentError, match="valid presets are"):
        mq.decode.ssd_anchors("yolo")


def test_tf_box_coder_equals_loop(backend):
    rng = np.random.default_rng(1)
    enc = rng.normal(0, 2, (50, 4)).astype(np.float32)
    anc = mq.decode.ssd_anchors("ssd_mobilenet_300")[:50]
    got = mq.decode.decode_boxes(as_backend(enc, backend), anc)
    assert backend_of(got) == backend
    ref = np.array([tf_box_decode_loop(e, a) for e, a in zip(enc, anc, strict=True)], np.float32)
    # exp differs by ~1 ulp between libm / NumPy / MLX: 2 ulps of the coordinates
    np.testing.assert_allclose(mq.to_numpy(got), ref, rtol=3e-7, atol=3e-7)


def test_ssd_decode_end_to_end(backend):
    anc = mq.decode.ssd_anchors("ssd_mobilenet_300")
    n = anc.shape[0]
    enc = np.zeros((1, n, 4), np.float32)
    logits = np.full((1, n, 91), -8.0, np.float32)
    logits[0, 100, 1] = 4.0  # person (column 0 is background)
    logits[0, 101, 1] = 3.0  # same anchor centre, overlapping -> suppressed
    logits[0, 100, 0] = 9.0  # background column is ignored
    dets = mq.decode.ssd(as_backend(enc, backend), as_backend(logits, backend), anc, input_size=(300, 300))
    d = dets[0]
    assert d.labels[0] == "person" and backend_of(d.boxes) == backend
    y, x, h, w = anc[100]
    np.testing.assert_allclose(mq.to_numpy(d.boxes)[0], np.array([x - w / 2, y - h / 2, x + w / 2, y + h / 2]) * 300,
                               rtol=1e-6)
    with pytest.raises(mq.ShapeError, match="raw_boxes"):
        mq.decode.ssd(enc[:, :10], logits, anc)
    with pytest.raises(mq.ShapeError, match=r"90 classes .* labels have 80"):
        mq.decode.ssd(enc, logits, anc, labels="coco80")



@pytest.mark.parametrize("input_size", [None, (300, 300), (123, 77)])
def test_ssd_nms_is_tflite_fast_nms(backend, input_size):
    # TFLite NonMaxSuppressionSingleClassHelper: IoU of the normalized decoded boxes, float compare with the
    # float32 threshold: IoU = f32(3/5) = f32(0.6) is not > f32(0.6), both boxes stay (torchvision's float64 threshold
    # would suppress); pixel scaling does not enter the decision
    anc = np.array([[0.0625, 0.25, 0.125, 0.5], [0.0625, 0.375, 0.125, 0.5]], np.float32)  # (yc, xc, h, w)
    p = np.array([[[0.0, 0.9], [0.0, 0.8]]], np.float32)
    d = mq.decode.ssd(as_backend(np.zeros((1, 2, 4), np.float32), backend), as_backend(p, backend), anc,
                      score="none", iou=0.6, labels=None, input_size=input_size)[0]
    assert mq.to_numpy(d.scores).tolist() == [np.float32(0.9), np.float32(0.8)]
    d = mq.decode.ssd(np.zeros((1, 2, 4), np.float32), p, anc, score="none", iou=0.59, labels=None)[0]
    assert len(d) == 1


def test_tflite_postprocess_reader_scores_of_exactly_one():
    # a single detection with score 1.0 (sigmoid of a logit > 17): scores and classes are both integral; the class
    # id above 1 tells them apart, in any output order
    boxes = np.array([[[0.1, 0.2, 0.5, 0.6], [0, 0, 0, 0]]], np.float32)
    classes = np.array([[17.0, 0.0]], np.float32)
    scores = np.array([[1.0, 0.0]], np.float32)
    count = np.array([1.0], np.float32)
    for outs in ([boxes, classes, scores, count], [scores, boxes, count, classes]):
        d = mq.decode.tflite_detection_postprocess(outs, labels=None)[0]
        assert d.class_ids.tolist() == [17] and d.scores.tolist() == [1.0]


def test_tflite_postprocess_reader():
    boxes = np.array([[[0.1, 0.2, 0.5, 0.6], [0.0, 0.0, 1.0, 1.0], [0, 0, 0, 0]]], np.float32)
    classes = np.array([[0.0, 17.0, 0.0]], np.float32)
    scores = np.array([[0.9, 0.4, 0.0]], np.float32)
    count = np.array([2.0], np.float32)
    d = mq.decode.tflite_detection_postprocess([scores, boxes, count, classes], input_size=(200, 100))[0]
    assert len(d) == 2 and d.labels == ("person", "dog")  # coco91: class k -> id k + 1 (index 18 = dog)
    np.testing.assert_allclose(d.boxes[0], [20, 20, 60, 100])
    d = mq.decode.tflite_detection_postprocess({"boxes": boxes, "classes": classes, "scores": scores,
                                                "count": count}, conf=0.5, labels="coco80", label_offset=0)[0]
    assert d.labels == ("person",)
    np.testing.assert_allclose(d.boxes[0], [0.2, 0.1, 0.6, 0.5])


@pytest.mark.parametrize("variant, scale, n, min_score", [("short", 128, 896, 0.5), ("full", 192, 2304, 0.6)])
def test_blazeface_equals_mediapipe_loop(backend, variant, scale, n, min_score):
    rng = np.random.default_rng(7)
    raw = rng.normal(0, 4, (1, n, 16)).astype(np.float32)
    raw[..., 2:4] = np.abs(raw[..., 2:4]) * 6 + 10
    sc = rng.normal(-6, 4, (1, n, 1)).astype(np.float32)
    sc[0, rng.integers(0, n, 8)] = 150.0  # clipped at 100 before the sigmoid
    anchors = mq.decode.ssd_anchors(f"blazeface_{variant}")
    ref = mediapipe_face_loop(raw[0], sc[0, :, 0], anchors, scale, min_score)
    d = mq.decode.blazeface(as_backend(raw, backend), as_backend(sc, backend), variant)[0]
    assert backend_of(d.boxes) == backend
    assert len(d) == len(ref) and len(ref) > 0
    np.testing.assert_allclose(mq.to_numpy(d.scores), [r[0] for r in ref], rtol=1e-6)
    # weighted means: MediaPipe sums sequentially, NumPy pairwise -> float32 rounding differences (~1e-6 relative)
    np.testing.assert_allclose(mq.to_numpy(d.boxes) / scale, [r[1] for r in ref], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mq.to_numpy(d.keypoints) / scale, [r[2] for r in ref], rtol=1e-5, atol=1e-6)
    assert mq.to_numpy(d.keypoints).shape == (len(ref), 6, 2) and d.labels[0] == "face"


def test_blazeface_errors():
    with pytest.raises(mq.ShapeError, match=r"expected \(B, 896, 16\)"):
        mq.decode.blazeface(np.zeros((1, 2304, 16), np.float32), np.zeros((1, 2304, 1), np.float32))
    with pytest.raises(mq.InvalidArgumentError, match="valid values are: short, full"):
        mq.decode.blazeface(np.zeros((1, 896, 16), np.float32), np.zeros((1, 896, 1), np.float32), "long")


def test_blazeface_score_clipping_and_threshold():
    from mlxquant.decode.blazeface import decode_blazeface_raw

    anc = mq.decode.ssd_anchors("blazeface_short")[:3]
    raw = np.zeros((3, 16), np.float32)
    _, _, p = decode_blazeface_raw(raw, np.array([-150.0, 150.0, 0.0], np.float32), anc, 128)
    # clipped to -100 first; exp(100) overflows float32 to inf, so the score is exactly 0, as MediaPipe's float
    # 1.0f / (1.0f + std::exp(-score)). (A clip at 50 would give 1.9e-22.)
    assert p[0] == 0.0
    assert p[1] == 1.0 and p[2] == 0.5
    rb = np.zeros((1, 896, 16), np.float32)
    rb[..., 2:4] = 10
    rs = np.full((1, 896, 1), -200.0, np.float32)
    rs[0, 5] = 0.0  # score exactly 0.5 == min_score: kept (MediaPipe skips score < threshold)
    d = mq.decode.blazeface(rb, rs)[0]
    assert len(d) == 1 and float(d.scores[0]) == 0.5
