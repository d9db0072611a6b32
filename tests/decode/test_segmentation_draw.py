"""Segmentation decoding, palettes, overlays and drawing."""

from __future__ import annotations

import numpy as np
import pytest

import mlxquant as mq
from tests.helpers import as_backend, backend_of


def test_logits_nchw_nhwc_ties(backend):
    x = np.zeros((1, 3, 2, 2), np.float32)
    x[0, 2, 0, 0] = 1.0
    x[0, 1, 1, 1] = 1.0
    x[0, 2, 1, 1] = 1.0  # tie between 1 and 2 -> 1
    s = mq.decode.segmentation(as_backend(x, backend), labels="voc" if False else ["bg", "a", "b"])
    assert backend_of(s.mask) == backend
    assert mq.to_numpy(s.mask).tolist() == [[2, 0], [0, 1]]
    assert s.class_counts() == {0: 2, 1: 1, 2: 1}
    assert s.class_fractions() == {"bg": 0.5, "a": 0.25, "b": 0.25}
    s2 = mq.decode.segmentation(as_backend(np.ascontiguousarray(x.transpose(0, 2, 3, 1)), backend), layout="nhwc")
    assert mq.to_numpy(s2.mask).tolist() == [[2, 0], [0, 1]]
    np.testing.assert_allclose(mq.to_numpy(s.confidence)[0, 1], 1 / 3, rtol=1e-6)


def test_sigmoid_single_channel_threshold(backend):
    x = np.array([[[[-1.0, 0.0, -0.0, 1e-7, 2.0]]]], np.float32)
    s = mq.decode.segmentation(as_backend(x, backend), kind="sigmoid")
    assert mq.to_numpy(s.mask).tolist() == [[0, 0, 0, 1, 1]]  # p = 0.5 (logit 0) is a tie -> class 0
    assert s.num_classes == 2
    np.testing.assert_allclose(mq.to_numpy(s.confidence)[0, 1], 0.5)


def test_argmax_kind_and_batch():
    ids = np.array([[[0, 3], [3, 3]], [[1, 1], [0, 0]]], np.int64)
    segs = mq.decode.segmentation(ids, kind="argmax")
    assert isinstance(segs, list) and len(segs) == 2 and segs[0].confidence is None
    assert segs[0].class_counts() == {0: 1, 3: 3}
    with pytest.raises(mq.InvalidArgumentError, match="integer class ids"):
        mq.decode.segmentation(np.array([[0.5]], np.float32), kind="argmax")


def test_segmentation_errors():
    with pytest.raises(mq.InvalidArgumentError, match="single channel: use kind='sigmoid'"):
        mq.decode.segmentation(np.zeros((1, 1, 4, 4), np.float32))
    with pytest.raises(mq.ShapeError, match="expected 4-D"):
        mq.decode.segmentation(np.zeros((4, 4), np.float32))
    with pytest.raises(mq.ShapeError, match="4 classes but labels have 2"):
        mq.decode.segmentation(np.zeros((1, 4, 4, 4), np.float32), labels=["a", "b"])
    s = mq.decode.segmentation(np.zeros((1, 151, 2, 2), np.float32), labels="ade20k")  # background + 150
    assert s.labels[0] == "background" and s.labels[1] == "wall" and len(s.labels) == 151
    with pytest.raises(mq.NonFiniteError):
        mq.decode.segmentation(np.full((1, 2, 2, 2), np.nan, np.float32))
    with pytest.raises(mq.InvalidArgumentError, match="valid values are: nchw, nhwc"):
        mq.decode.segmentation(np.zeros((1, 2, 2, 2), np.float32), layout="chw")


def test_palettes():
    voc = mq.decode.voc_palette(256)
    assert voc[1].tolist() == [128, 0, 0] and voc[15].tolist() == [192, 128, 128] and voc[255].tolist() == [224, 224,
                                                                                                              192]
    assert mq.decode.palette("cityscapes", 19)[0].tolist() == [128, 64, 128]
    ade = mq.decode.palette("ade20k", 150)
    assert ade.shape == (150, 3) and ade[0].tolist() == [120, 120, 120] and ade[149].tolist() == [92, 0, 255]
    assert mq.decode.palette("cityscapes", 30).shape == (30, 3)


def test_overlay_and_resize_to_original():
    pytest.importorskip("PIL")
    from mlxquant.vision import letterbox

    x = np.zeros((1, 2, 4, 4), np.float32)
    x[0, 1, :2] = 5.0
    s = mq.decode.segmentation(x)
    img = np.full((4, 4, 3), 100, np.uint8)
    o = np.asarray(s.overlay(img, alpha=0.5))
    assert o[0, 0].tolist() == [114, 50, 50]  # round(0.5 * 100 + 0.5 * (128, 0, 0))
    assert o[3, 3].tolist() == [100, 100, 100]  # background unchanged
    assert np.asarray(mq.draw.mask(img, s)).tolist() == o.tolist()
    _, t = letterbox(np.zeros((8, 4, 3), np.uint8), (4, 4))
    r = s.resize_to_original(t)
    assert mq.to_numpy(r.mask).shape == (8, 4)


def test_draw_boxes_keypoints():
    pytest.importorskip("PIL")
    out = np.zeros((1, 6, 10), np.float32)
    out[0, :4, 0] = [20, 20, 20, 20]
    out[0, 4, 0] = 0.9
    d = mq.decode.yolo(out, labels=["cat", "dog"])[0]
    img = mq.draw.boxes(np.zeros((40, 40, 3), np.uint8), d)
    assert img.size == (40, 40) and img.getpixel((10, 20)) == mq.draw.COLORS[0]
    assert np.asarray(img)[:, :, :].sum() > 0
    kp = mq.draw.keypoints(img, np.array([[[30.0, 30.0]]]))
    assert kp.getpixel((30, 30)) == mq.draw.COLORS[9]
    with pytest.raises(mq.InvalidArgumentError, match="width"):
        mq.draw.boxes(np.zeros((4, 4, 3), np.uint8), d, width=0)


def test_resize_to_original_from_a_lower_resolution_output(backend):
    # a segmentation output at 1/4 of the model input (SegFormer-style): nearest upsampling to the input size
    # (half-pixel: input pixel o reads mask pixel floor((o + 0.5) * h / H)), then the transform's inverse
    img = np.zeros((60, 100, 3), np.uint8)
    _, t = mq.vision.letterbox(img, 40)
    x = np.zeros((1, 2, 10, 10), np.float32)
    x[0, 1, :, 5:] = 1.0  # right half is class 1
    s = mq.decode.segmentation(as_backend(x, backend))
    r = s.resize_to_original(t)
    full = mq.decode.segmentation(as_backend(np.repeat(np.repeat(x, 4, axis=2), 4, axis=3), backend))
    ref = full.resize_to_original(t)
    assert backend_of(r.mask) == backend and tuple(r.mask.shape) == (60, 100)
    np.testing.assert_array_equal(mq.to_numpy(r.mask), mq.to_numpy(ref.mask))
    np.testing.assert_array_equal(mq.to_numpy(r.confidence), mq.to_numpy(ref.confidence))


def test_nhwc_output_read_as_nchw_warns():
    # a TFLite DeepLab output [1, 257, 257, 21] is NHWC; read with the default layout="nchw" it would give 257
    # "classes" of 257 x 21 pixels
    x = np.zeros((1, 65, 65, 21), np.float32)
    with pytest.warns(mq.decode.DecodeWarning, match="layout='nhwc'"):
        mq.decode.segmentation(x)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mq.decode.segmentation(x, layout="nhwc")
        mq.decode.segmentation(np.zeros((1, 21, 65, 65), np.float32))
        mq.decode.segmentation(np.zeros((1, 150, 128, 128), np.float32))  # ADE20K at 1/4 resolution
