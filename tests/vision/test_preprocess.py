"""preprocess: batches from every kind of source, presets against hand-written Pillow/NumPy pipelines, overrides,
quantized inputs, errors and diagnostics."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

import mlxquant as mq
from mlxquant.vision import ChannelOrderWarning, ConstantImageWarning, DoubleNormalizationWarning
from tests.helpers import assert_equal

PIL = pytest.importorskip("PIL.Image")


def _photo(h, w, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), (xx + yy) % 256], -1)
    return np.clip(base + rng.integers(-20, 21, (h, w, 3)), 0, 255).astype(np.uint8)


def _jpeg(a, q=90):
    buf = io.BytesIO()
    PIL.fromarray(a).save(buf, "JPEG", quality=q)
    return buf.getvalue()


def test_resnet_preset_equals_torchvision_recipe_with_pillow():
    img = _photo(300, 400)
    # torchvision ImageClassification on a PIL image: resize shorter side 256 (Pillow bilinear), crop 224,
    # ToTensor (/255), Normalize
    r = np.asarray(PIL.fromarray(img).resize((341, 256), PIL.BILINEAR))[16:240, 58:282]
    t = r.astype(np.float32) / np.float32(255)
    t = (t - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
    expected = t.transpose(2, 0, 1)[None]
    x, ts = mq.vision.preprocess(img, "resnet")
    assert_equal(x, expected, backend="numpy")
    assert ts[0].crop == (16, 58)


def test_yolo_preset_equals_letterbox_div_255(tmp_path):
    a, b_ = _photo(480, 640, 1), _photo(300, 200, 2)
    p = tmp_path / "a.jpg"
    p.write_bytes(_jpeg(a))
    x, ts = mq.vision.preprocess([str(p), _jpeg(b_)], "yolo")
    dec = np.asarray(PIL.open(p).convert("RGB"))
    lb, _ = mq.vision.letterbox(dec)
    np.testing.assert_array_equal(x[0], (lb.astype(np.float32) / np.float32(255)).transpose(2, 0, 1))
    assert x.shape == (2, 3, 640, 640) and ts[1].pad == (0, 0, 106, 107)
    box = ts[1].inverse_boxes(np.array([[106.0, 0.0, 533.0, 640.0]], np.float32))
    np.testing.assert_allclose(box, [[0, 0, 200, 300]], atol=1e-4)


def test_sources_and_single_image_layouts(tmp_path):
    img = _photo(20, 30)
    for src in (img, PIL.fromarray(img), _jpeg(img), io.BytesIO(_jpeg(img))):
        x, ts = mq.vision.preprocess(src, "tflite_float", 16)
        assert x.shape == (1, 16, 16, 3) and len(ts) == 1
    x, _ = mq.vision.preprocess(img, "tflite_float", 16, layout="hwc")
    assert x.shape == (16, 16, 3)
    x, _ = mq.vision.preprocess(img, "pytorch", (16, 24), layout="chw")
    assert x.shape == (3, 16, 24) and x.flags.c_contiguous
    x, _ = mq.vision.preprocess(img, "pytorch", (16, 24))
    assert x.shape == (1, 3, 16, 24) and x.flags.c_contiguous
    batch = np.stack([img, img])
    x, ts = mq.vision.preprocess(batch, "pytorch", 8)
    assert x.shape == (2, 3, 8, 8) and len(ts) == 2
    with pytest.raises(mq.ShapeError, match="nhwc"):
        mq.vision.preprocess([img, img], "pytorch", 8, layout="hwc")


def test_batch_unpacks_and_mlx_backend():
    mx = pytest.importorskip("mlx.core")
    res = mq.vision.preprocess([_photo(10, 12)], "pytorch", 8, backend="mlx")
    tensor, transforms = res
    assert isinstance(tensor, mx.array) and res.tensor is tensor and transforms == res.transforms
    x, _ = mq.vision.preprocess(mx.array(_photo(10, 12)), "pytorch", 8)
    assert isinstance(x, mx.array)


def test_overrides_and_dtypes():
    img = _photo(10, 12)
    x, _ = mq.vision.preprocess(img, "pytorch", 8, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    y = mq.vision.normalize(mq.vision.resize(img, (8, 8)), mean=(0.5,) * 3, std=(0.25,) * 3)
    np.testing.assert_array_equal(x[0], y.transpose(2, 0, 1))
    bf, _ = mq.vision.preprocess(img, "pytorch", 8, dtype="bfloat16")
    f32, _ = mq.vision.preprocess(img, "pytorch", 8)
    np.testing.assert_array_equal(bf, mq.to_bfloat16(f32))
    u8, _ = mq.vision.preprocess(img, "tflite_quantized", 8)
    i8, _ = mq.vision.preprocess(img, "tflite_int8", 8)
    assert u8.dtype == np.uint8 and i8.dtype == np.int8
    np.testing.assert_array_equal(i8.astype(np.int16), u8.astype(np.int16) - 128)
    bgr, _ = mq.vision.preprocess(img, "opencv", 8)
    np.testing.assert_array_equal(bgr[..., ::-1], u8)
    g, _ = mq.vision.preprocess(img, "tflite_float", 8, color="gray")
    assert g.shape == (1, 8, 8, 1)


def test_quantized_model_input():
    img = _photo(10, 12)
    q, _ = mq.vision.preprocess(img, "tflite_quantized", 8, normalization="imagenet", quant=(0.0186, -14),
                                dtype="int8")
    expected = mq.quantize(mq.vision.normalize(mq.vision.resize(img, (8, 8)), "imagenet"), np.float32(0.0186), -14,
                           "int8")
    np.testing.assert_array_equal(q[0], expected)


def test_detr_and_sam_pad_with_zero_after_normalizing():
    x, ts = mq.vision.preprocess([_photo(60, 80), _photo(90, 30)], "detr", (64, 64), max_size=200)
    assert x.shape[0] == 2 and (x[1, :, :, ts[1].input_size[1]:] == 0).all()
    s, t = mq.vision.preprocess(_photo(30, 60), "sam", 64)
    assert t[0].pad == (0, 32, 0, 0) and (s[0, :, 32:] == 0).all() and (s[0, :, :32] != 0).any()


def test_errors():
    img = _photo(10, 12)
    with pytest.raises(mq.InvalidArgumentError, match="valid presets"):
        mq.vision.preprocess(img, "yolov99")
    with pytest.raises(mq.InvalidArgumentError, match="unknown preset override"):
        mq.vision.preprocess(img, "pytorch", 8, normalise="imagenet")
    with pytest.raises(mq.ShapeError, match="pass size"):
        mq.vision.preprocess([img, _photo(11, 12)], "pytorch")
    with pytest.raises(mq.InvalidArgumentError, match="quant"):
        mq.vision.preprocess(img, "pytorch", 8, dtype="int8")
    with pytest.raises(mq.InvalidArgumentError, match="valid values"):
        mq.vision.preprocess(img, "pytorch", 8, layout="nwhc")
    with pytest.raises(mq.InvalidArgumentError, match="at least one"):
        mq.vision.preprocess([], "pytorch", 8)
    with pytest.raises(mq.ImageError):
        mq.vision.preprocess([b"not an image"], "pytorch", 8)


def test_diagnostics_warnings():
    with pytest.warns(ConstantImageWarning):
        mq.vision.preprocess(np.zeros((10, 10, 3), np.uint8), "pytorch", 8)
    with pytest.warns(DoubleNormalizationWarning):
        mq.vision.preprocess(_photo(10, 10).astype(np.float32) / 255, "pytorch", 8)
    with pytest.warns(ChannelOrderWarning):
        mq.vision.preprocess(_photo(10, 10), "pytorch", 8, mean=(0.406, 0.456, 0.485), std=(0.225, 0.224, 0.229))
    with pytest.warns(ChannelOrderWarning):
        mq.vision.preprocess(_photo(10, 10), "caffe", 8, color="rgb")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mq.vision.preprocess(_photo(10, 10), "caffe", 8)  # BGR pixels with BGR means: no warning


def test_check_model_input():
    with pytest.raises(mq.InputTypeError, match="quantize"):
        mq.vision.check_model_input(np.zeros((1, 4, 4, 3), np.float32), dtype="uint8")
    with pytest.raises(mq.InputTypeError, match="subtract 128"):
        mq.vision.check_model_input(np.ones((1, 4, 4, 3), np.uint8), dtype="int8")
    x = mq.vision.normalize(mq.vision.normalize(_photo(6, 6), "scale"), "scale")
    with pytest.warns(DoubleNormalizationWarning):
        mq.vision.check_model_input(x, dtype="float32", normalization="scale")
    good = mq.vision.normalize(_photo(6, 6), "imagenet")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert mq.vision.check_model_input(good, dtype="float32", normalization="imagenet") == []


def test_input_arrays_not_mutated():
    img = _photo(10, 12)
    img.setflags(write=False)
    for preset in ("yolo", "resnet", "tflite_int8", "blazeface"):
        mq.vision.preprocess([img, img], preset, None if preset in mq.vision.MODEL_PRESETS else 8)


def test_import_stays_light():
    import subprocess
    import sys

    code = ("import sys, mlxquant, mlxquant.vision; "
            "print([m for m in ('PIL', 'cv2', 'mlx.core', 'torch', 'onnx') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_progress_bar_when_asked(capsys):
    imgs = [_photo(8, 8, k) for k in range(20)]
    mq.vision.preprocess(imgs, "pytorch", 4, show_progress=True)
    err = capsys.readouterr().err
    assert "preprocess" in err and "20/20" in err
    mq.vision.preprocess(imgs, "pytorch", 4)  # not a terminal: no bar
    assert capsys.readouterr().err == ""


def test_workers_and_order_preserved():
    imgs = [_photo(8 + k, 8, k) for k in range(6)]
    x1, t1 = mq.vision.preprocess(imgs, "tflite_quantized", 4, workers=1)
    x4, t4 = mq.vision.preprocess(imgs, "tflite_quantized", 4, workers=4)
    np.testing.assert_array_equal(x1, x4)
    assert [t.original_size for t in t4] == [(8 + k, 8) for k in range(6)] and t1 == t4


def test_sam_preset_equals_segment_anything_recipe():
    img = _photo(300, 451)
    # segment_anything ResizeLongestSide(64).apply_image (Pillow bilinear via torchvision) + Sam.preprocess
    scale = 64 * 1.0 / 451
    nh, nw = int(300 * scale + 0.5), int(451 * scale + 0.5)
    r = np.asarray(PIL.fromarray(img).resize((nw, nh), PIL.BILINEAR)).astype(np.float32)
    r = (r - np.array([123.675, 116.28, 103.53], np.float32)) / np.array([58.395, 57.12, 57.375], np.float32)
    expected = np.zeros((1, 3, 64, 64), np.float32)
    expected[0, :, :nh, :nw] = r.transpose(2, 0, 1)
    x, ts = mq.vision.preprocess(img, "sam", 64)
    assert (nh, nw) == (43, 64) and ts[0].resized_size == (43, 64)
    assert_equal(x, expected, backend="numpy")


@pytest.mark.parametrize("preset,dtype", [("pytorch", "float32"), ("yolo", "float32"), ("clip", "float32"),
                                          ("onnx_float16", "float16"), ("pytorch", "bfloat16"),
                                          ("tensorflow", "float32")])
def test_numpy_table_path_equals_the_elementwise_chain(preset, dtype):
    """NumPy NCHW float outputs of uint8 pixels go through a [C, 256] table written straight into the batch; it must
    equal normalize → cast_output → to_layout element for element (mixed with a float image, which takes the
    elementwise path)."""
    imgs = [_photo(50, 70, 1), _photo(64, 48, 2), _photo(33, 33, 3)]
    p = mq.vision.get_preset(preset).with_overrides(size=(40, 56), dtype=dtype, layout="nchw")
    x, ts = mq.vision.preprocess(imgs, p, diagnose=False)
    norm = mq.vision.get_normalization(p.normalization)
    for k, img in enumerate(imgs):  # the geometry is shared; recompute the pixels by the elementwise chain
        geo, _ = mq.vision.fit(img, p.size, strategy=p.strategy, method=p.method, antialias=p.antialias,
                               color=p.pad_color, center=p.center, resize_size=p.resize_size, max_size=p.max_size)
        geo = geo[..., ::-1] if p.color == "bgr" else geo
        y = mq.vision.cast_output(mq.vision.normalize(geo, norm), dtype)
        np.testing.assert_array_equal(x[k], np.asarray(y).transpose(2, 0, 1))
        assert ts[k].original_size == img.shape[:2]
    mixed, _ = mq.vision.preprocess([imgs[0], imgs[1].astype(np.float32)], p, diagnose=False)
    np.testing.assert_array_equal(mixed[0], x[0])
    assert mixed.dtype == x.dtype and mixed.flags.c_contiguous
