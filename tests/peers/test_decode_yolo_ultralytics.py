"""mq.decode.yolo against a torch port of Ultralytics non_max_suppression (tests/reference/decode_oracle.py).

Box coordinates are generated on a 1/16-pixel grid so that Ultralytics' class offset (boxes + class * 7680 in
float32) is exact; then its class-offset NMS and mlxquant's exact per-class NMS take identical decisions and the
outputs must be equal bit for bit (boxes, scores, classes, order).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mlxquant as mq
from tests.helpers import as_backend
from tests.reference.decode_oracle import ultralytics_nms, ultralytics_process_mask

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.peers


def make_v8(rng: np.random.Generator, b: int, c: int, n: int, objects: int = 6) -> np.ndarray:
    """A YOLOv8-like raw output [b, 4 + c, n]: anchors cluster around a few objects with a dominant class."""
    out = np.zeros((b, 4 + c, n), np.float32)
    for i in range(b):
        ctr = rng.uniform(40, 600, (objects, 2))
        wh = rng.uniform(16, 200, (objects, 2))
        cls = rng.integers(0, c, objects)
        j = rng.integers(0, objects, n)
        out[i, 0:2] = (ctr[j] + rng.normal(0, 6, (n, 2))).T
        out[i, 2:4] = (wh[j] * rng.uniform(0.85, 1.15, (n, 2))).T
        out[i, 4:] = rng.uniform(0, 0.3, (c, n))
        out[i, 4 + cls[j], np.arange(n)] = rng.uniform(0.1, 1.0, n)
    out[:, :4] = np.round(out[:, :4] * 16) / 16  # 1/16 px grid: exact under the +cls*7680 offset
    return out


def _ours(out, **kw):
    return mq.decode.yolo(out, labels=None, **kw)


def _compare(dets, ref):
    assert len(dets) == len(ref)
    for d, r in zip(dets, ref, strict=True):
        r = r.numpy()
        np.testing.assert_array_equal(mq.to_numpy(d.boxes), r[:, :4])
        np.testing.assert_array_equal(mq.to_numpy(d.scores), r[:, 4])
        np.testing.assert_array_equal(mq.to_numpy(d.class_ids), r[:, 5].astype(np.int32))


@settings(max_examples=25)
@given(
    seed=st.integers(0, 2**31 - 1),
    conf=st.sampled_from([0.0, 0.1, 0.25, 0.5]),
    iou=st.sampled_from([0.3, 0.45, 0.7]),
    multi_label=st.booleans(),
    agnostic=st.booleans(),
    max_det=st.sampled_from([1, 5, 300]),
    max_nms=st.sampled_from([7, 30000]),
    with_classes=st.booleans(),
)
def test_yolov8_equals_ultralytics(backend, seed, conf, iou, multi_label, agnostic, max_det, max_nms, with_classes):
    rng = np.random.default_rng(seed)
    out = make_v8(rng, 2, 5, 300)
    classes = [1, 3] if with_classes else None
    kw = dict(conf=conf, iou=iou, multi_label=multi_label, agnostic=agnostic, max_det=max_det, max_nms=max_nms,
              classes=classes)
    ref = ultralytics_nms(torch.from_numpy(out), conf_thres=conf, iou_thres=iou, classes=classes, agnostic=agnostic,
                          multi_label=multi_label, max_det=max_det, max_nms=max_nms)
    _compare(_ours(as_backend(out, backend), nc=5, **kw), ref)
    # the transposed layout [B, N, 4+C] gives the same result
    _compare(_ours(np.ascontiguousarray(out.transpose(0, 2, 1)), format="yolov8_transposed", **kw), ref)


@settings(max_examples=15)
@given(seed=st.integers(0, 2**31 - 1), conf=st.sampled_from([0.1, 0.25]), multi_label=st.booleans())
def test_yolov5_equals_ultralytics(backend, seed, conf, multi_label):
    rng = np.random.default_rng(seed)
    v8 = make_v8(rng, 1, 4, 250)
    obj = rng.uniform(0, 1, (1, 1, 250)).astype(np.float32)
    v5 = np.concatenate([v8[:, :4], obj, v8[:, 4:]], axis=1).transpose(0, 2, 1).copy()  # [B, N, 5 + C]
    ref = ultralytics_nms(torch.from_numpy(v5), conf_thres=conf, multi_label=multi_label, yolov5=True)
    _compare(_ours(as_backend(v5, backend), format="yolov5", conf=conf, multi_label=multi_label), ref)


def test_end2end_equals_ultralytics(backend):
    rng = np.random.default_rng(0)
    e2e = np.zeros((2, 300, 6), np.float32)
    e2e[..., :2] = rng.uniform(0, 300, (2, 300, 2))
    e2e[..., 2:4] = e2e[..., :2] + rng.uniform(1, 100, (2, 300, 2))
    e2e[..., 4] = np.sort(rng.uniform(0, 1, (2, 300)))[:, ::-1]
    e2e[..., 5] = rng.integers(0, 80, (2, 300))
    for classes in (None, [0, 5, 17]):
        ref = ultralytics_nms(torch.from_numpy(e2e), conf_thres=0.25, classes=classes, max_det=50)
        dets = mq.decode.yolo(as_backend(e2e, backend), classes=classes, max_det=50)
        _compare(dets, ref)
        assert dets[0].labels[0] == mq.decode.get_labels("coco80")[int(mq.to_numpy(dets[0].class_ids)[0])]


def test_yolov8_seg_masks_equal_ultralytics(backend):
    rng = np.random.default_rng(3)
    c, nm, n = 3, 32, 400
    det = make_v8(rng, 1, c, n)
    coef = rng.normal(0, 1, (1, nm, n)).astype(np.float32)
    out = np.concatenate([det, coef], axis=1)
    protos = rng.normal(0, 1, (1, nm, 160, 160)).astype(np.float32)
    ref = ultralytics_nms(torch.from_numpy(out), nc=c)[0]
    ref_masks = ultralytics_process_mask(torch.from_numpy(protos[0]), ref[:, 6:], ref[:, :4], (640, 640)).numpy()
    d = mq.decode.yolo(as_backend(out, backend), labels=None, nc=c, protos=as_backend(protos, backend))[0]
    np.testing.assert_array_equal(mq.to_numpy(d.boxes), ref[:, :4].numpy())
    got = mq.to_numpy(d.masks) > 0.5
    assert got.shape == ref_masks.shape
    # sigmoid(x) > 0.5 vs x > 0 differ only for |x| < ~1e-7: allow none on random data
    np.testing.assert_array_equal(got, ref_masks.astype(bool))


def test_yolov8_seg_input_resolution_masks_equal_ultralytics_upsample(backend):
    rng = np.random.default_rng(4)
    c, nm, n = 2, 32, 300
    det = make_v8(rng, 1, c, n)
    out = np.concatenate([det, rng.normal(0, 1, (1, nm, n)).astype(np.float32)], axis=1)
    protos = rng.normal(0, 1, (1, nm, 160, 160)).astype(np.float32)
    ref = ultralytics_nms(torch.from_numpy(out), nc=c)[0]
    logits = ultralytics_process_mask(torch.from_numpy(protos[0]), ref[:, 6:], ref[:, :4], (640, 640), upsample=True,
                                      return_logits=True).numpy()
    d = mq.decode.yolo(as_backend(out, backend), labels=None, nc=c, protos=as_backend(protos, backend),
                       masks="input")[0]
    got = mq.to_numpy(d.masks)
    assert got.dtype == bool and got.shape == logits.shape == (len(d), 640, 640)
    # interpolation in float32 may differ from torch's kernel by an ulp: decisions may differ only where the
    # upsampled logit is within 1e-5 of 0
    differ = got != (logits > 0)
    assert not differ[np.abs(logits) > 1e-5].any()
    assert differ.mean() < 1e-4


@pytest.mark.parametrize("shape_in, shape_out", [((160, 160), (640, 640)), ((37, 53), (100, 71)), ((5, 4), (5, 4))])
def test_bilinear_upsample_matches_torch_interpolate(backend, shape_in, shape_out):
    import torch.nn.functional as F

    from mlxquant._backend import get_backend
    from mlxquant.decode.yolo import _upsample_bilinear

    x = np.random.default_rng(0).normal(size=(2, *shape_in)).astype(np.float32)
    got = mq.to_numpy(_upsample_bilinear(get_backend(backend=backend), as_backend(x, backend), *shape_out))
    ref = F.interpolate(torch.from_numpy(x)[None], shape_out, mode="bilinear", align_corners=False)[0].numpy()
    # same taps and weights as torch; torch's kernel orders the products differently: a few float32 ulps
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5)
