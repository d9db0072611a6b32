"""fit / letterbox sizes and padding (Ultralytics, torchvision, DETR rules) and the Transform's exact inverses."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mlxquant as mq
from mlxquant.vision import Transform
from mlxquant.vision.fit import _detr_size, _mediapipe_roi, _warp_table
from tests.helpers import as_backend, assert_close, assert_equal
from tests.reference import vision_oracle as ref

dims = st.integers(1, 3000)


@pytest.mark.parametrize("shape, pads, ratio", [
    ((427, 640), (106, 107, 0, 0), 1.0),          # REFERENCE §8 examples
    ((1080, 1920), (140, 140, 0, 0), 1 / 3),
    ((500, 333), (0, 0, 107, 107), 1.28),
])
def test_letterbox_reference_examples(shape, pads, ratio):
    r, _, p = mq.vision.letterbox_params(shape, (640, 640))
    assert p == pads and r == pytest.approx(ratio)


@given(h=dims, w=dims, H=st.integers(1, 1024), W=st.integers(1, 1024), auto=st.booleans(), scaleup=st.booleans(),
       center=st.booleans(), stride=st.sampled_from([8, 32, 64]))
def test_letterbox_params_equal_ultralytics_oracle(h, w, H, W, auto, scaleup, center, stride):
    r, (nh, nw), pads = mq.vision.letterbox_params((h, w), (H, W), auto=auto, scaleup=scaleup, center=center,
                                                   stride=stride)
    r2, (nw2, nh2), *pads2 = ref.ultralytics_letterbox_params((h, w), (H, W), auto, scaleup, center, stride)
    assert (r, nh, nw, pads) == (r2, nh2, nw2, tuple(pads2))


def test_letterbox_center_false_pads_bottom_right(backend):
    img = as_backend(np.full((100, 200, 3), 7, np.uint8), backend)
    out, t = mq.vision.letterbox(img, (64, 64), center=False)
    a = mq.to_numpy(out)
    assert t.pad == (0, 32, 0, 0) and (a[:32] == 7).all() and (a[32:] == 114).all()
    assert_equal(t.inverse_boxes(as_backend(np.array([[0, 0, 64, 32]], np.float32), backend)),
                 np.array([[0, 0, 200, 100]], np.float32), backend=backend)


def test_letterbox_grayscale_and_bad_color():
    out, _ = mq.vision.letterbox(np.zeros((10, 20), np.uint8), (16, 16))
    assert out.shape == (16, 16) and out[0, 0] == 114
    with pytest.raises(mq.InvalidArgumentError, match="4 channels"):
        mq.vision.letterbox(np.zeros((10, 20, 4), np.uint8), (16, 16))


@pytest.mark.parametrize("hw, resized, crop", [
    ((300, 400), (256, 341), (16, 58)),   # 256·400/300 = 341.33 → 341; left = round(58.5) = 58 (half to even)
    ((480, 640), (256, 341), (16, 58)),
    ((500, 375), (341, 256), (58, 16)),
    ((224, 224), (256, 256), (16, 16)),
    ((100, 1000), (256, 2560), (16, 1168)),
])
def test_shorter_side_crop_torchvision_rules(hw, resized, crop):
    assert ref.torchvision_resize_crop_params(*hw) == (resized, crop)
    out, t = mq.vision.fit(np.zeros((*hw, 3), np.uint8), 224, strategy="shorter_side_crop")
    assert out.shape == (224, 224, 3) and t.resized_size == resized and t.crop == crop


def test_shorter_side_crop_pixels_match_pillow():
    from PIL import Image

    img = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    pil = Image.fromarray(img).resize((341, 256), Image.BILINEAR)
    expected = np.asarray(pil)[16:16 + 224, 58:58 + 224]
    out, _ = mq.vision.fit(img, 224, strategy="shorter_side_crop")
    np.testing.assert_array_equal(out, expected)


def test_center_crop_pads_small_images():
    out, (top, left) = mq.vision.center_crop(np.ones((2, 3), np.uint8), (4, 4))
    # torchvision pads (4 - 3) // 2 = 0 left and (4 - 3 + 1) // 2 = 1 right
    assert out.tolist() == [[0, 0, 0, 0], [1, 1, 1, 0], [1, 1, 1, 0], [0, 0, 0, 0]] and (top, left) == (-1, 0)


@pytest.mark.parametrize("hw, expected", [((480, 640), (800, 1066)), ((640, 480), (1066, 800)),
                                          ((100, 1000), (133, 1330)), ((800, 1200), (800, 1200))])
def test_detr_size_rule(hw, expected):
    # DETR get_size_with_aspect_ratio(size=800, max_size=1333);
    # 100x1000: size becomes round(133.3) = 133, long int(133·10) = 1330
    assert _detr_size(*hw, 800, 1333) == expected


def test_mediapipe_roi_and_quantized_coordinates():
    # 1920x1080 into 128x128: ROI grows to 1920x1920 centred, 420 rows above and below
    assert _mediapipe_roi(1080, 1920, 128, 128) == (0.0, -420.0, 1920.0, 1920.0)
    t = _warp_table(4, 192, 0.0, 4.0)
    # OpenCV 4 steps of 1/32 pixel: output 35 samples at round(35/48 · 32)/32 = 23/32
    assert t.idx[35].tolist() == [0, 1] and t.w[35].tolist() == [9 / 32, 23 / 32]
    out, tr = mq.vision.fit(np.full((1080, 1920, 3), 200, np.uint8), 128, strategy="mediapipe")
    assert out[0, 0].tolist() == [0, 0, 0] and out[64, 64].tolist() == [200, 200, 200]
    assert tr.inverse_points(np.array([[0.0, 28.0]], np.float32)).tolist() == [[0.0, 0.0]]


strategies = st.sampled_from(["stretch", "contain", "cover", "letterbox", "shorter_side_crop", "mediapipe"])


@given(h=st.integers(1, 400), w=st.integers(1, 400), H=st.integers(1, 96), W=st.integers(1, 96), strategy=strategies,
       fx=st.floats(0, 1), fy=st.floats(0, 1))
def test_points_round_trip(h, w, H, W, strategy, fx, fy):
    img = np.zeros((h, w, 1), np.uint8)
    _, t = mq.vision.fit(img, (H, W), strategy=strategy)
    pts = np.array([[fx * w, fy * h]], np.float64)
    back = t.inverse_points(t.forward_points(pts), clip=False)
    np.testing.assert_allclose(back, pts, rtol=1e-9, atol=1e-9 * max(h, w))
    # the model-input corners of the content map to the original corners
    x0, y0, x1, y1 = t.content_window()
    corners = t.inverse_points(np.array([[x0, y0], [x1, y1]], np.float64))
    if strategy in ("stretch", "contain", "letterbox"):
        np.testing.assert_allclose(corners, [[0, 0], [w, h]], atol=1e-9 * max(h, w))


def test_inverse_boxes_known_values_and_clip(backend):
    t = Transform((1080, 1920), (640, 640), 1 / 3, 1 / 3, 0.0, 140.0, (360, 640), (140, 140, 0, 0), (0, 0), "letterbox")
    boxes = as_backend(np.array([[0, 140, 320, 500], [-10, 0, 700, 640]], np.float32), backend)
    out = t.inverse_boxes(boxes)
    assert_equal(out, np.array([[0, 0, 960, 1080], [0, 0, 1920, 1080]], np.float32), backend=backend)
    raw = t.inverse_boxes(boxes, clip=False)
    assert_close(raw, np.array([[0, 0, 960, 1080], [-30, -420, 2100, 1500]], np.float32), rtol=1e-6, atol=1e-3,
                 backend=backend)
    ints = t.inverse_boxes(as_backend(np.array([[0, 140, 320, 500]], np.int32), backend))
    assert mq.get_backend(ints).dtype_name(ints) == "float32"
    assert tuple(t.inverse_boxes(as_backend(np.zeros((0, 4), np.float32), backend)).shape) == (0, 4)
    batched = t.inverse_boxes(as_backend(np.zeros((2, 3, 4), np.float32), backend))
    assert tuple(batched.shape) == (2, 3, 4)


@given(h=st.integers(1, 2000), w=st.integers(1, 2000), seed=st.integers(0, 999))
def test_ultralytics_mode_equals_scale_boxes_oracle(h, w, seed):
    _, t = mq.vision.letterbox(np.zeros((h, w), np.uint8), (64, 64)) if h * w < 5000 else (None, _lb_transform(h, w))
    boxes = np.random.default_rng(seed).uniform(-10, 700, (5, 4)).astype(np.float32)
    expected = ref.ultralytics_scale_boxes(t.input_size, boxes, (h, w))
    np.testing.assert_array_equal(t.inverse_boxes(boxes, mode="ultralytics"), expected)


def _lb_transform(h, w):
    _, (nh, nw), pad = mq.vision.letterbox_params((h, w), (640, 640))
    return Transform((h, w), (640, 640), nw / w, nh / h, float(pad[2]), float(pad[0]), (nh, nw), pad, (0, 0),
                     "letterbox")


def test_exact_and_ultralytics_modes_differ_where_expected():
    # 1280x721: Ultralytics' single gain leaves a sub-pixel shift that the exact per-axis map does not
    t = _lb_transform(721, 1280)
    box = np.array([[0.0, 140.0, 640.0, 500.0]], np.float32)
    exact, ul = t.inverse_boxes(box, clip=False), t.inverse_boxes(box, mode="ultralytics", clip=False)
    assert t.scale_y != t.scale_x and np.abs(exact - ul).max() > 0


def test_inverse_mask(backend):
    t = Transform((2, 4), (4, 4), 1.0, 1.0, 0.0, 1.0, (2, 4), (1, 1, 0, 0), (0, 0), "letterbox")
    m = np.zeros((4, 4), np.int64)
    m[1, :2] = 3
    m[0] = 9  # padding never bleeds in
    assert_equal(t.inverse_mask(as_backend(m, backend)), np.array([[3, 3, 0, 0], [0, 0, 0, 0]], np.int64),
                 backend=backend)
    f = t.inverse_mask(as_backend(m.astype(np.float32), backend), method="bilinear")
    assert mq.get_backend(f).dtype_name(f) == "float32"
    with pytest.raises(mq.ShapeError, match="model input size"):
        t.inverse_mask(as_backend(np.zeros((3, 3)), backend))


def test_inverse_mask_round_trip_upscaled():
    img = np.zeros((30, 50, 1), np.uint8)
    _, t = mq.vision.fit(img, (60, 60), strategy="letterbox")
    orig = (np.random.default_rng(0).random((30, 50)) > 0.5).astype(np.uint8)
    model, _ = mq.vision.fit(orig[..., None], (60, 60), strategy="letterbox", method="nearest", color=0)
    back = t.inverse_mask(model[..., 0])
    np.testing.assert_array_equal(back, orig)


def test_transform_errors():
    t = Transform((10, 10), (5, 5), 0.5, 0.5)
    with pytest.raises(mq.ShapeError, match="expected"):
        t.inverse_boxes(np.zeros((3, 2)))
    with pytest.raises(mq.InvalidArgumentError, match="valid values"):
        t.inverse_boxes(np.zeros((3, 4)), mode="yolov5")
    with pytest.raises(mq.InvalidArgumentError):
        mq.vision.fit(np.zeros((4, 4, 3), np.uint8), 2, strategy="squash")
    with pytest.raises(mq.ShapeError):
        mq.vision.fit(np.zeros((0, 4, 3), np.uint8), 2)
    with pytest.raises(dataclass_error()):
        t.scale_x = 2.0


def dataclass_error():
    import dataclasses

    return dataclasses.FrozenInstanceError


@pytest.mark.parametrize("stride", [0, -32, 2.5, True])
def test_letterbox_auto_needs_a_positive_integer_stride(stride):
    img = np.zeros((10, 12, 3), np.uint8)
    with pytest.raises(mq.InvalidArgumentError, match="stride"):
        mq.vision.letterbox(img, 64, auto=True, stride=stride)
