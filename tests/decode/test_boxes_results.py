"""Box formats, IoU edge values, typed results and their mapping back to the original image."""

from __future__ import annotations

import json

import numpy as np
import pytest

import mlxquant as mq
from tests.helpers import as_backend, assert_equal
from tests.reference.decode_oracle import iou_loop

FMTS = mq.decode.BOX_FORMATS


@pytest.mark.parametrize("fmt", FMTS)
def test_box_convert_roundtrip(backend, fmt):
    xyxy = np.array([[1.0, 2.0, 5.0, 10.0], [0.5, 0.25, 0.5, 0.25], [-3.0, -2.0, 7.5, 1.0]], np.float32)
    there = mq.decode.box_convert(as_backend(xyxy, backend), "xyxy", fmt)
    back = mq.decode.box_convert(there, fmt, "xyxy")
    assert_equal(back, xyxy, backend=backend)


def test_box_convert_values_and_errors():
    b = np.array([[10.0, 20.0, 4.0, 6.0]], np.float32)
    assert mq.decode.box_convert(b, "cxcywh", "xyxy").tolist() == [[8, 17, 12, 23]]
    assert mq.decode.box_convert(b, "xywh", "xyxy").tolist() == [[10, 20, 14, 26]]
    assert mq.decode.box_convert(b, "yxyx", "xyxy").tolist() == [[20, 10, 6, 4]]
    with pytest.raises(mq.InvalidArgumentError, match="valid values are: xyxy, xywh, cxcywh, yxyx"):
        mq.decode.box_convert(b, "ltrb", "xyxy")
    with pytest.raises(mq.ShapeError, match=r"expected \(\.\.\., 4\)"):
        mq.decode.box_convert(np.zeros((2, 3), np.float32), "xywh", "xyxy")


def test_box_iou_edge_values_equal_oracle(backend):
    a = np.array([[0, 0, 2, 2], [0, 0, 0, 0], [1, 1, 1, 1], [0, 0, 1, 1], [-1, -1, 1, 1]], np.float32)
    got = mq.to_numpy(mq.decode.box_iou(as_backend(a, backend), as_backend(a, backend)))
    ref = np.array([[iou_loop(p, q) for q in a] for p in a], np.float32)
    np.testing.assert_array_equal(got, ref)
    assert got[1, 1] == 0.0 and got[0, 3] == 0.25 and got[0, 0] == 1.0


def test_detections_serialization_and_keypoint_mapping():
    from mlxquant.vision import letterbox

    d = mq.decode.Detections(np.array([[10, 150, 20, 160]], np.float32), np.array([0.5], np.float32),
                             np.array([3], np.int32), ("x",), keypoints=np.array([[[15, 155]]], np.float32))
    js = json.loads(d.to_json())
    assert js["labels"] == ["x"] and js["class_ids"] == [3] and js["keypoints"] == [[[15.0, 155.0]]]
    _, t = letterbox(np.zeros((1080, 1920, 3), np.uint8))  # scale 1/3, pad top 140
    m = d.map_to_original(t)
    np.testing.assert_allclose(m.boxes, [[30, 30, 60, 60]], atol=1e-4)
    np.testing.assert_allclose(m.keypoints, [[[45, 45]]], atol=1e-4)
    assert isinstance(m.to_numpy().boxes, np.ndarray) and len(m) == 1
