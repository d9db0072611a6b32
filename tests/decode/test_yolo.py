"""YOLO decoding: layout detection, errors, segmentation masks, quantized outputs, transforms."""

from __future__ import annotations

import numpy as np
import pytest

import mlxquant as mq
from tests.helpers import as_backend, backend_of


def _v8(n=8400, c=80):
    out = np.zeros((1, 4 + c, n), np.float32)
    out[0, :4, 10] = [320, 320, 100, 50]
    out[0, 4 + 16, 10] = 0.9  # dog
    out[0, :4, 11] = [322, 321, 100, 52]
    out[0, 4 + 16, 11] = 0.8  # suppressed by 10
    out[0, :4, 12] = [322, 321, 100, 52]
    out[0, 4 + 15, 12] = 0.7  # cat: other class, kept (class-aware)
    return out


def test_layout_detection_and_labels(backend):
    d = mq.decode.yolo(as_backend(_v8(), backend))[0]
    assert backend_of(d.boxes) == backend
    assert d.labels == ("dog", "cat") and mq.to_numpy(d.class_ids).tolist() == [16, 15]
    np.testing.assert_array_equal(mq.to_numpy(d.boxes)[0], [270, 295, 370, 345])
    assert len(d) == 2 and d.to_dict()["labels"] == ["dog", "cat"]
    assert '"labels": ["dog", "cat"]' in d.to_json()
    da = mq.decode.yolo(as_backend(_v8(), backend), agnostic=True)[0]
    assert da.labels == ("dog",)
    t = np.ascontiguousarray(_v8().transpose(0, 2, 1))
    assert mq.decode.yolo(t)[0].labels == ("dog", "cat")  # [1, 8400, 84]: 4 + 80 -> transposed v8
    assert mq.decode.detect_yolo_format((1, 8400, 85), 80) == "yolov5"
    assert mq.decode.detect_yolo_format((1, 300, 6), 80) == "end2end"
    assert mq.decode.yolo(_v8()[0])[0].labels == ("dog", "cat")  # unbatched



def test_end2end_max_det_counts_rows_before_the_class_filter(backend):
    # Ultralytics: pred[pred[:, 4] > conf][:max_det], then the classes filter
    e2e = np.zeros((1, 300, 6), np.float32)
    e2e[0, :, 2:4] = 10
    e2e[0, :4, 4] = [0.9, 0.8, 0.7, 0.6]
    e2e[0, :4, 5] = [1, 2, 1, 1]
    d = mq.decode.yolo(as_backend(e2e, backend), classes=[1], max_det=2, labels=None)[0]
    assert mq.to_numpy(d.class_ids).tolist() == [1] and mq.to_numpy(d.scores).tolist() == [np.float32(0.9)]
    d = mq.decode.yolo(as_backend(e2e, backend), classes=[1], max_det=3, labels=None)[0]
    np.testing.assert_array_equal(mq.to_numpy(d.scores), np.float32([0.9, 0.7]))

def test_layout_errors():
    with pytest.raises(mq.InvalidArgumentError, match=r"square.*format='yolov8'"):
        mq.decode.yolo(np.zeros((1, 84, 84), np.float32))
    with pytest.raises(mq.InvalidArgumentError, match=r"4 \+ 81 classes.*5 \+ 80 classes.*format="):
        mq.decode.yolo(np.zeros((1, 8400, 85), np.float32), labels=None)
    with pytest.raises(mq.ShapeError, match="matches neither 4 \\+ 80 classes"):
        mq.decode.yolo(np.zeros((1, 8400, 90), np.float32))
    with pytest.raises(mq.ShapeError, match=r"84 classes but the label set has 80|has 84 classes"):
        mq.decode.yolo(np.zeros((1, 88, 8400), np.float32))
    with pytest.raises(mq.InvalidArgumentError, match="conf must be in \\[0, 1\\]"):
        mq.decode.yolo(_v8(), conf=1.5)
    with pytest.raises(mq.InvalidArgumentError, match="iou must be in"):
        mq.decode.yolo(_v8(), iou=-0.5)
    with pytest.raises(mq.InvalidArgumentError, match="valid values are: auto, yolov8"):
        mq.decode.yolo(_v8(), format="yolox")
    bad = _v8()
    bad[0, 4 + 3, 100] = np.nan
    with pytest.raises(mq.NonFiniteError, match="NaN"):
        mq.decode.yolo(bad)
    neg = _v8()
    neg[0, 2, 10] = -100
    with pytest.raises(mq.InvalidArgumentError, match="negative width"):
        mq.decode.yolo(neg)


def test_empty_and_conf_strict(backend):
    out = _v8()
    d = mq.decode.yolo(as_backend(out, backend), conf=0.9)[0]  # 0.9 is not > float32(0.9)
    assert len(d) == 0 and mq.to_numpy(d.boxes).shape == (0, 4)
    d = mq.decode.yolo(as_backend(np.zeros((2, 84, 100), np.float32), backend))
    assert len(d) == 2 and all(len(x) == 0 for x in d)


def test_segmentation_masks(backend):
    n, nm = 64, 4
    out = np.zeros((1, 4 + 2 + nm, n), np.float32)
    out[0, :4, 3] = [32, 32, 16, 16]
    out[0, 5, 3] = 0.9
    out[0, 6:, 3] = [1, 0, 0, 0]
    protos = np.zeros((1, nm, 16, 16), np.float32)
    protos[0, 0] = 4.0
    d = mq.decode.yolo(as_backend(out, backend), labels=["a", "b"], protos=as_backend(protos, backend))[0]
    m = mq.to_numpy(d.masks)
    assert m.shape == (1, 16, 16)
    # box 24..40 at input scale -> 6..10 at proto scale (stride 4): sigmoid(4) inside, 0 outside
    np.testing.assert_allclose(m[0, 6:10, 6:10], 1 / (1 + np.exp(-4.0)), rtol=1e-6)
    assert m[0, :6].max() == 0 and m[0, 10:].max() == 0 and m[0, :, :6].max() == 0 and m[0, :, 10:].max() == 0
    # input resolution: bool [K, 64, 64], the box interior set (logit 4 > 0), outside cleared
    di = mq.decode.yolo(as_backend(out, backend), labels=["a", "b"], protos=as_backend(protos, backend),
                        masks="input")[0]
    mi = mq.to_numpy(di.masks)
    assert mi.dtype == bool and mi.shape == (1, 64, 64)
    assert mi[0, 26:38, 26:38].all() and not mi[0, :20].any() and not mi[0, :, 44:].any()
    e = mq.decode.yolo(as_backend(np.zeros_like(out), backend), labels=["a", "b"], protos=as_backend(protos, backend),
                       masks="input")[0]
    assert mq.to_numpy(e.masks).shape == (0, 64, 64)
    with pytest.raises(mq.InvalidArgumentError, match="valid values are: proto, input"):
        mq.decode.yolo(out, labels=["a", "b"], protos=protos, masks="full")


def test_quantized_yolo_and_shared_scale_warning():
    rng = np.random.default_rng(0)
    f = np.zeros((1, 6, 200), np.float32)
    f[0, :4] = rng.uniform(50, 600, (4, 200))
    f[0, 4:] = rng.uniform(0, 1, (2, 200))
    scale = 640 / 255  # one scale for boxes (0-640) and scores (0-1): scores collapse to 0 or 2.5
    q = np.clip(np.round(f / scale), 0, 255).astype(np.uint8)
    with pytest.warns(mq.decode.DecodeWarning, match="share one quantization scale"):
        mq.decode.yolo(q, labels=["a", "b"], quant=(scale, 0))
    with pytest.raises(mq.InputTypeError, match="quant="):
        mq.decode.yolo(q, labels=["a", "b"])


def test_map_to_original_through_letterbox():
    from mlxquant.vision import letterbox

    img = np.zeros((1080, 1920, 3), np.uint8)
    _, t = letterbox(img)
    out = np.zeros((1, 6, 100), np.float32)
    out[0, :4, 0] = [320, 320, 640, 360]  # the whole content area (rows 140..500)
    out[0, 4, 0] = 0.9
    d = mq.decode.yolo(out, labels=["a", "b"])[0].map_to_original(t)
    np.testing.assert_allclose(mq.to_numpy(d.boxes), [[0, 0, 1920, 1080]], atol=1e-3)
    with pytest.raises(mq.InvalidArgumentError, match="inverse_boxes"):
        mq.decode.yolo(out, labels=["a", "b"])[0].map_to_original(object())


def test_conf_strict_per_class_filters(backend):
    # YOLOv5: obj passes, cls * obj == conf exactly -> dropped (strict >), as Ultralytics
    v5 = np.zeros((1, 10, 7), np.float32)
    v5[0, :, :4] = [50, 50, 10, 10]
    v5[0, 0, 4:7] = [1.0, 0.5, 0.2]
    v5[0, 1, 4:7] = [1.0, 0.2, 0.75]
    d = mq.decode.yolo(as_backend(v5, backend), format="yolov5", conf=0.5, labels=["a", "b"])[0]
    assert mq.to_numpy(d.class_ids).tolist() == [1]
    # multi-label: a second class exactly at conf is not a pair
    v8 = np.zeros((1, 6, 10), np.float32)
    v8[0, :4, 0] = [50, 50, 10, 10]
    v8[0, 4:, 0] = [0.9, 0.5]
    d = mq.decode.yolo(as_backend(v8, backend), conf=0.5, multi_label=True, labels=["a", "b"])[0]
    assert mq.to_numpy(d.class_ids).tolist() == [0]
    v8[0, 5, 0] = np.nextafter(np.float32(0.5), np.float32(1))
    d = mq.decode.yolo(as_backend(v8, backend), conf=0.5, multi_label=True, labels=["a", "b"], iou=1.0)[0]
    assert mq.to_numpy(d.class_ids).tolist() == [0, 1]


@pytest.mark.parametrize("masks", ["proto", "input"])
def test_seg_masks_map_to_original(backend, masks):
    # default masks="proto" (prototype resolution) must map through the transform too: upsampled to the input
    # size first (bilinear, half-pixel, as masks="input" does before its threshold)
    img = np.zeros((72, 128, 3), np.uint8)
    _, t = mq.vision.letterbox(img, 64)
    out = np.zeros((1, 4 + 1 + 2, 84), np.float32)
    out[0, :4, 0] = [32, 32, 20, 16]
    out[0, 4, 0] = 0.9
    out[0, 5:, 0] = [3.0, 0.0]
    protos = np.ones((1, 2, 16, 16), np.float32)
    d = mq.decode.yolo(as_backend(out, backend), labels=None, nc=1, protos=as_backend(protos, backend), masks=masks,
                       input_size=(64, 64))[0]
    m = d.map_to_original(t)
    assert backend_of(m.masks) == backend and tuple(m.masks.shape) == (1, 72, 128)
    got = mq.to_numpy(m.masks) > (0.5 if masks == "proto" else 0)
    box = mq.to_numpy(m.boxes)[0]
    ys, xs = np.nonzero(got[0])  # 8 px: bilinear bleed of the cropped logits
    assert got.sum() > 0 and xs.min() >= box[0] - 8 and xs.max() <= box[2] + 8 and ys.min() >= box[1] - 8
