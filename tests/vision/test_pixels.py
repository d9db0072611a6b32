"""Normalization presets, layouts, dtypes, quantized inputs (folded == two-step), colour and YUV, loading."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mlxquant as mq
from mlxquant.vision.normalize import NORMALIZATIONS, _integer_affine, input_lut
from tests.helpers import as_backend, assert_equal
from tests.reference import vision_oracle as ref

PIL = pytest.importorskip("PIL.Image")


@pytest.mark.parametrize("name", list(NORMALIZATIONS))
def test_normalize_matches_loop_oracle(backend, name):
    img = np.random.default_rng(0).integers(0, 256, (3, 4, 3), dtype=np.uint8)
    n = NORMALIZATIONS[name]
    m, s = n.vectors(3)
    if n.fused:
        expected = ref.normalize_fused_loop(img, np.float32(1) / np.float32(n.divisor), -1.0)
    else:
        expected = ref.normalize_loop(img, n.divisor, m, s)
    assert_equal(mq.vision.normalize(as_backend(img, backend), name), expected, backend=backend)


def test_normalize_known_values():
    px = np.array([[[0, 128, 255]]], np.uint8)
    assert mq.vision.normalize(px, "scale").tolist() == [[[0.0, np.float32(128) / np.float32(255), 1.0]]]
    assert mq.vision.normalize(px, "raw").tolist() == [[[0.0, 128.0, 255.0]]]
    caffe = mq.vision.normalize(np.array([[[103, 116, 123]]], np.uint8), "caffe")
    np.testing.assert_allclose(caffe, [[[-0.939, -0.779, -0.68]]], atol=1e-4)
    imnet = mq.vision.normalize(np.array([[[124, 116, 104]]], np.uint8), "imagenet")
    # (124/255 - 0.485)/0.229, (116/255 - 0.456)/0.224, (104/255 - 0.406)/0.225
    np.testing.assert_allclose(imnet, [[[0.0055655, -0.0049020, 0.0081918]]], atol=1e-6)


def test_custom_mean_std_length_must_match():
    img = np.zeros((2, 2, 3), np.uint8)
    with pytest.raises(mq.ShapeError, match="no value is reused"):
        mq.vision.normalize(img, mean=(0.5, 0.5), std=(0.5, 0.5, 0.5))
    with pytest.raises(mq.ShapeError, match="3 channels"):
        mq.vision.normalize(img, mean=(0.5,), std=(0.2,))
    with pytest.raises(mq.InvalidArgumentError, match="non-zero"):
        mq.vision.normalize(img, mean=(0, 0, 0), std=(1, 0, 1))
    with pytest.raises(mq.InvalidArgumentError, match="valid values"):
        mq.vision.normalize(img, "imagenet21k")


@pytest.mark.parametrize("layout, shape", [("hwc", (4, 5, 3)), ("chw", (3, 4, 5)), ("nhwc", (1, 4, 5, 3)),
                                           ("nchw", (1, 3, 4, 5))])
def test_layouts(backend, layout, shape):
    x = as_backend(np.arange(60, dtype=np.float32).reshape(4, 5, 3), backend)
    out = mq.vision.to_layout(x, layout)
    assert tuple(out.shape) == shape
    back = mq.vision.to_layout(out, "hwc", src=layout)
    assert_equal(back, np.arange(60, dtype=np.float32).reshape(4, 5, 3), backend=backend)


def test_cast_output_dtypes(backend):
    x = as_backend(np.array([1.0, 1.00390625, 1.01171875, 70000.0], np.float32), backend)
    h = mq.vision.cast_output(x, "float16")
    assert mq.get_backend(h).dtype_name(h) == "float16" and np.isinf(mq.to_numpy(h)[3])  # fp16 overflow → inf
    bf = mq.to_numpy(mq.vision.cast_output(x, "bfloat16"))
    np.testing.assert_array_equal(bf[:3], [1.0, 1.0, 1.015625])  # round to nearest even


quants = st.sampled_from([(1 / 255, -128, "int8"), (1 / 255, 0, "uint8"), (0.0078125, 0, "int8"),
                          (0.0078125, 128, "uint8"), (0.018658, 114, "uint8"), (0.017, -14, "int8"),
                          ((0.02, 0.021, 0.019), (3, -4, 0), "int8"), ((0.0171, 0.0175, 0.0174), 0, "int8")])


@given(quant=quants, norm=st.sampled_from(["scale", "imagenet", "tensorflow", "raw", "clip", "inception"]),
       seed=st.integers(0, 999), profile=st.sampled_from(["onnx", "tflite", "torch"]))
def test_folded_quantized_input_equals_two_step(quant, norm, seed, profile):
    """The folded table / integer-affine path equals normalize() then mq.quantize() on every pixel."""
    img = np.random.default_rng(seed).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    folded = mq.vision.quantize_input(img, norm, quant, profile=profile)
    y = mq.vision.normalize(img, norm)
    s, z, dt = quant
    if np.ndim(s) or np.ndim(z):
        two = mq.quantize(y, np.broadcast_to(np.float32(s), (3,)).copy(), np.broadcast_to(z, (3,)).copy(), dt, axis=2,
                          profile=profile)
    else:
        two = mq.quantize(y, np.float32(s), z, dt, profile=profile)
    assert_equal(folded, two, backend="numpy")


def test_fold_is_an_integer_shift_for_scale_over_255():
    lut, dt = input_lut("scale", (1 / 255, -128, "int8"), 3)
    a, b = _integer_affine(lut)
    assert dt == "int8" and a.tolist() == [1, 1, 1] and b.tolist() == [-128, -128, -128]
    assert _integer_affine(input_lut("imagenet", (0.0187, -14, "int8"), 3)[0]) is None


def test_quant_errors():
    img = np.zeros((2, 2, 3), np.uint8)
    with pytest.raises(mq.InvalidArgumentError, match="ambiguous"):
        mq.vision.quantize_input(img, "scale", (0.1, 0))
    with pytest.raises(mq.InvalidArgumentError, match="> 0"):
        mq.vision.quantize_input(img, "scale", (0.0, 0, "int8"))
    with pytest.raises(mq.ShapeError):
        mq.vision.quantize_input(img, "scale", ((0.1, 0.2), 0, "int8"))


def test_gray_matches_pillow_and_oracle(backend):
    img = np.random.default_rng(1).integers(0, 256, (9, 11, 3), dtype=np.uint8)
    expected = np.asarray(PIL.fromarray(img).convert("L"))
    np.testing.assert_array_equal(ref.pil_gray(img), expected)
    assert_equal(mq.vision.to_gray(as_backend(img, backend))[..., 0], expected, backend=backend)
    edge = np.array([[[255, 255, 255], [0, 0, 0], [1, 1, 1]]], np.uint8)
    assert mq.vision.to_gray(edge)[..., 0].tolist() == [[255, 0, 1]]


def test_yuv_oracle_flat_and_errors(backend):
    f = np.random.default_rng(3).integers(0, 256, (6, 4), dtype=np.uint8)
    assert_equal(mq.vision.yuv_to_rgb(as_backend(f.ravel(), backend), size=(4, 4)), ref.yuv_nv12_to_rgb_cv(f),
                 backend=backend)
    with pytest.raises(mq.ShapeError, match="even"):
        mq.vision.yuv_to_rgb(np.zeros((3, 3), np.uint8))
    with pytest.raises(mq.ShapeError):
        mq.vision.yuv_to_rgb(np.zeros(10, np.uint8), size=(4, 4))
    with pytest.raises(mq.InputTypeError):
        mq.vision.yuv_to_rgb(np.zeros((6, 4), np.float32))


def test_convert_color(backend):
    x = as_backend(np.array([[[1, 2, 3, 4]]], np.uint8), backend)
    assert mq.to_numpy(mq.vision.convert_color(x, "rgba", "bgr")).tolist() == [[[3, 2, 1]]]
    assert mq.to_numpy(mq.vision.convert_color(x, "bgra", "rgba")).tolist() == [[[3, 2, 1, 4]]]
    g = as_backend(np.array([[[7]]], np.uint8), backend)
    assert mq.to_numpy(mq.vision.convert_color(g, "gray", "rgba")).tolist() == [[[7, 7, 7, 255]]]
    with pytest.raises(mq.ShapeError):
        mq.vision.convert_color(x, "rgb", "bgr")


# ---- loading -------------------------------------------------------------------------------------------------------
def _png(im) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("mode, value, expected", [
    ("L", 77, [77, 77, 77]), ("LA", (77, 3), [77, 77, 77]), ("RGBA", (1, 2, 3, 0), [1, 2, 3]),
    ("1", 1, [255, 255, 255]), ("P", 5, None), ("RGB", (9, 8, 7), [9, 8, 7]),
])
def test_load_modes_to_rgb(mode, value, expected):
    im = PIL.new(mode, (3, 2), value)
    a = mq.vision.load_image(_png(im))
    assert a.shape == (2, 3, 3) and a.dtype == np.uint8
    if expected is not None:
        assert a[0, 0].tolist() == expected


def test_load_alpha_bgr_gray_and_sources(tmp_path):
    im = PIL.new("RGBA", (4, 2), (10, 20, 30, 40))
    p = tmp_path / "x.png"
    im.save(p)
    assert mq.vision.load_image(str(p), keep_alpha=True)[0, 0].tolist() == [10, 20, 30, 40]
    assert mq.vision.load_image(p, mode="BGR")[0, 0].tolist() == [30, 20, 10]
    assert mq.vision.load_image(p, mode="L").shape == (2, 4, 1)
    with open(p, "rb") as f:
        assert mq.vision.load_image(f).shape == (2, 4, 3)
    assert mq.vision.load_image(im).shape == (2, 4, 3)
    rgb = PIL.new("RGB", (4, 2), (1, 2, 3))
    assert mq.vision.load_image(_png(rgb), keep_alpha=True)[0, 0].tolist() == [1, 2, 3, 255]


def test_load_cmyk_matches_pillow():
    im = PIL.new("CMYK", (2, 2), (10, 200, 30, 40))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=100)
    data = buf.getvalue()
    expected = np.asarray(PIL.open(io.BytesIO(data)).convert("RGB"))
    np.testing.assert_array_equal(mq.vision.load_image(data), expected)


def test_load_16bit():
    a16 = np.array([[0, 255, 256, 65535]], np.uint16)
    data = _png(PIL.fromarray(a16))
    kept = mq.vision.load_image(data, keep_16bit=True, mode="L")
    assert kept.dtype == np.uint16 and kept[..., 0].tolist() == [[0, 255, 256, 65535]]
    eight = mq.vision.load_image(data)
    assert eight.dtype == np.uint8 and eight[0, :, 0].tolist() == [0, 0, 1, 255]  # v >> 8


def test_load_exif_orientation():
    im = PIL.new("RGB", (4, 2), (0, 0, 0))
    im.putpixel((0, 0), (255, 0, 0))
    exif = PIL.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    buf = io.BytesIO()
    im.save(buf, "PNG", exif=exif)
    a = mq.vision.load_image(buf.getvalue())
    assert a.shape == (4, 2, 3) and a[0, 1].tolist() == [255, 0, 0]
    assert mq.vision.load_image(buf.getvalue(), exif=False).shape == (2, 4, 3)


def test_load_errors(tmp_path):
    with pytest.raises(mq.ImageError, match="no such file"):
        mq.vision.load_image(tmp_path / "missing.jpg")
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    with pytest.raises(mq.ImageError, match=r"notes\.txt"):
        mq.vision.load_image(bad)
    buf = io.BytesIO()
    PIL.new("RGB", (64, 64), (1, 2, 3)).save(buf, "JPEG")
    trunc = tmp_path / "trunc.jpg"
    trunc.write_bytes(buf.getvalue()[:200])
    with pytest.raises(mq.ImageError, match=r"trunc\.jpg"):
        mq.vision.load_image(trunc)
    with pytest.raises(mq.InputTypeError):
        mq.vision.load_image(3.5)
    with pytest.raises(mq.InvalidArgumentError, match="valid values"):
        mq.vision.load_image(np.zeros((2, 2, 3), np.uint8), mode="HSV")
    with pytest.raises(mq.ShapeError):
        mq.vision.load_image(np.zeros((2, 2, 5), np.uint8))


def test_load_arrays_copy_and_mlx():
    a = np.zeros((2, 3), np.uint8)
    out = mq.vision.load_image(a)
    out[0, 0] = 9
    assert a[0, 0] == 0 and out.shape == (2, 3, 3)
    mx = pytest.importorskip("mlx.core")
    assert isinstance(mq.vision.load_image(mx.array(np.ones((2, 2, 3), np.uint8))), np.ndarray)


def test_jpeg_draft_is_opt_in():
    buf = io.BytesIO()
    PIL.new("RGB", (800, 600), (10, 20, 30)).save(buf, "JPEG")
    assert mq.vision.load_image(buf.getvalue()).shape == (600, 800, 3)
    assert mq.vision.load_image(buf.getvalue(), draft=(150, 200)).shape == (150, 200, 3)


def test_load_16bit_colour_png_keeps_16_bits(tmp_path):
    cv2 = pytest.importorskip("cv2")
    a = (np.arange(24, dtype=np.uint16).reshape(2, 4, 3) * 2700)
    p = tmp_path / "deep.png"
    cv2.imwrite(str(p), a[..., ::-1])
    np.testing.assert_array_equal(mq.vision.load_image(p, keep_16bit=True), a)
    np.testing.assert_array_equal(mq.vision.load_image(p.read_bytes(), keep_16bit=True, mode="BGR"), a[..., ::-1])
    rgba = mq.vision.load_image(p, keep_16bit=True, keep_alpha=True)
    assert rgba.dtype == np.uint16 and (rgba[..., 3] == 65535).all()
    eight = mq.vision.load_image(p)  # Pillow's 8-bit decode: v >> 8
    np.testing.assert_array_equal(eight, (a >> 8).astype(np.uint8))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_table_matches_pillow(orientation):
    from PIL import ImageOps

    from mlxquant.vision.load import _ORIENT_OPS

    img = np.random.default_rng(orientation).integers(0, 256, (3, 5, 3), dtype=np.uint8)
    im = PIL.fromarray(img)
    exif = PIL.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    im.save(buf, "PNG", exif=exif)
    expected = np.asarray(ImageOps.exif_transpose(PIL.open(io.BytesIO(buf.getvalue())).convert("RGB")))
    np.testing.assert_array_equal(mq.vision.load_image(buf.getvalue()), expected)
    ours = _ORIENT_OPS.get(orientation, lambda a: a)(img)
    np.testing.assert_array_equal(ours, expected)


def test_load_directory_and_bomb_errors(tmp_path, monkeypatch):
    with pytest.raises(mq.ImageError, match="directory"):
        mq.vision.load_image(tmp_path)
    buf = io.BytesIO()
    PIL.new("RGB", (64, 64)).save(buf, "PNG")
    monkeypatch.setattr(PIL, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(mq.ImageError, match="MAX_IMAGE_PIXELS"):
        mq.vision.load_image(buf.getvalue())


def test_load_rgb_is_writable_and_preprocess_read_only_path_is_equal():
    from PIL import Image

    from mlxquant.vision.load import _load_image

    a = np.random.default_rng(4).integers(0, 256, (9, 13, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "PNG")
    loaded = mq.vision.load_image(buf.getvalue())
    assert loaded.flags.writeable and loaded.flags.c_contiguous
    loaded[0, 0] = 0  # the public result is the caller's to modify
    fast = _load_image(buf.getvalue(), writable=False)  # preprocess's read-only variant: same pixels
    np.testing.assert_array_equal(fast, a)
    np.testing.assert_array_equal(mq.vision.load_image(buf.getvalue(), mode="BGR"), a[..., ::-1])
