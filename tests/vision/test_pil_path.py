"""preprocess on NumPy keeps decoded images as PIL images until their first resize (Pillow's fast path resizes them
as they are): every result must equal the array path's (the same image passed as the array load_image gives)."""

from __future__ import annotations

import io

import numpy as np
import pytest

import mlxquant as mq
from mlxquant.vision.load import _load_image, _load_pil_or_array
from mlxquant.vision.resize import PilImage

PIL = pytest.importorskip("PIL.Image")


def _photo(h, w, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), (xx * 3 + yy) % 256], -1)
    return np.clip(base + rng.integers(-40, 41, (h, w, 3)), 0, 255).astype(np.uint8)


def _save(im, fmt, **kw):
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _exif(orientation):
    exif = PIL.Exif()
    exif[0x0112] = orientation
    return exif


def _sources():
    """(name, source): JPEG / PNG bytes of several sizes, EXIF-rotated files and non-RGB modes, PIL images."""
    a = _photo(97, 143, 1)
    b = _photo(61, 40, 2)
    rgb = PIL.fromarray(a)
    out = [
        ("jpeg", _save(rgb, "JPEG", quality=90)),
        ("jpeg-tall", _save(PIL.fromarray(b), "JPEG", quality=85)),
        ("png", _save(rgb, "PNG")),
        ("pil-rgb", PIL.fromarray(_photo(50, 77, 3))),
        ("pil-L", PIL.fromarray(a[..., 0])),
        ("L-png", _save(rgb.convert("L"), "PNG")),
        ("LA-png", _save(rgb.convert("LA"), "PNG")),
        ("RGBA-png", _save(rgb.convert("RGBA"), "PNG")),
        ("P-png", _save(rgb.convert("P"), "PNG")),
        ("P-transparency", _save(rgb.convert("P"), "PNG", transparency=3)),
        ("1-png", _save(rgb.convert("1"), "PNG")),
        ("CMYK-jpeg", _save(rgb.convert("CMYK"), "JPEG", quality=90)),
        ("I;16-png", _save(PIL.fromarray(a[..., 1].astype(np.uint16) * 257), "PNG")),
    ]
    for o in range(1, 9):
        out.append((f"jpeg-exif{o}", _save(PIL.fromarray(b), "JPEG", quality=90, exif=_exif(o))))
        out.append((f"png-exif{o}", _save(rgb, "PNG", exif=_exif(o))))
    return out


SOURCES = _sources()

# preset, size, overrides: every strategy, the Pillow fast path (antialias, all four methods) and the generic path
CASES = [
    ("pytorch", 64, {}),
    ("pytorch", (40, 90), {"method": "bicubic"}),
    ("pytorch", 33, {"method": "nearest"}),
    ("pytorch", 50, {"method": "area"}),
    ("pytorch", 48, {"antialias": False}),
    ("pytorch", 200, {}),  # upscaling
    ("tflite_quantized", 224, {}),
    ("tflite_int8", 32, {}),
    ("opencv", 45, {}),
    ("caffe", 45, {}),
    ("yolo", 96, {}),
    ("yolo", 96, {"antialias": True}),
    ("mobilenet", 56, {}),
    ("resnet", 56, {}),
    ("clip", 40, {}),
    ("deeplab", 65, {}),
    ("sam", 64, {}),
    ("detr", 48, {}),
    ("mediapipe", 32, {}),
    ("pytorch", 40, {"color": "gray", "mean": [0.5], "std": [0.25]}),
    ("tflite_quantized", 30, {"color": "gray"}),
]


@pytest.mark.parametrize("preset,size,kw", CASES, ids=[f"{p}-{s}-{'-'.join(kw)}" for p, s, kw in CASES])
def test_pil_path_equals_array_path(preset, size, kw):
    gray = kw.get("color") == "gray"
    for name, src in SOURCES:
        arr = _load_image(src, mode="L" if gray else "RGB")
        x_pil, t_pil = mq.vision.preprocess(src, preset, size, diagnose=False, **kw)
        x_arr, t_arr = mq.vision.preprocess(arr, preset, size, diagnose=False, **kw)
        assert x_pil.dtype == x_arr.dtype and x_pil.shape == x_arr.shape, name
        np.testing.assert_array_equal(x_pil.view(np.uint8), x_arr.view(np.uint8), err_msg=name)  # bits, NaN-safe
        assert t_pil == t_arr, name


def test_pil_path_batch_and_draft_equal_array_path(tmp_path):
    srcs = [src for _, src in SOURCES]
    x_pil, ts_pil = mq.vision.preprocess(srcs, "pytorch", 72, diagnose=False)
    x_arr, ts_arr = mq.vision.preprocess([_load_image(s) for s in srcs], "pytorch", 72, diagnose=False)
    np.testing.assert_array_equal(x_pil, x_arr)
    assert ts_pil == ts_arr
    # draft decoding (JPEG DCT scaling) happens before the image becomes an array or a PilImage
    big = _save(PIL.fromarray(_photo(400, 600, 4)), "JPEG", quality=90, exif=_exif(6))
    x_pil, _ = mq.vision.preprocess([big, big], "tflite_quantized", 90, draft=True, diagnose=False)
    x_arr, _ = mq.vision.preprocess([_load_image(big, draft=(90, 90))] * 2, "tflite_quantized", 90, diagnose=False)
    np.testing.assert_array_equal(x_pil, x_arr)


def test_pil_path_has_the_load_image_pixels():
    for name, src in SOURCES:
        for mode in ("RGB", "L"):
            got = _load_pil_or_array(src, mode=mode)
            got = got.to_array() if isinstance(got, PilImage) else got
            np.testing.assert_array_equal(got, _load_image(src, mode=mode), err_msg=f"{name} {mode}")
    # 16-bit and 32-bit images and arrays are not PilImages (their 8-bit rule is load_image's own)
    assert not isinstance(_load_pil_or_array(dict(SOURCES)["I;16-png"]), PilImage)
    assert not isinstance(_load_pil_or_array(_photo(4, 5)), PilImage)
    assert isinstance(_load_pil_or_array(dict(SOURCES)["CMYK-jpeg"]), PilImage)


@pytest.mark.parametrize("method", ["nearest", "bilinear", "bicubic", "area"])
def test_resize_of_pil_image_equals_resize_of_its_array(method):
    rng = np.random.default_rng(5)
    for mode in ("RGB", "L"):
        im = PIL.fromarray(_photo(83, 121, 6)).convert(mode)
        a = np.asarray(im)
        a = a[..., None] if mode == "L" else a
        for size in [(83, 121), (1, 1), (7, 300), (200, 5), *[tuple(rng.integers(1, 250, 2)) for _ in range(6)]]:
            for aa in (True, False):
                got = mq.vision.resize(PilImage(im), size, method=method, antialias=aa)
                exp = mq.vision.resize(a, size, method=method, antialias=aa)
                assert got.dtype == exp.dtype and got.flags.writeable
                np.testing.assert_array_equal(got, exp, err_msg=f"{mode} {size} aa={aa}")
        # anything other than NumPy gets the array
        for cm in ("align_corners", "asymmetric"):
            np.testing.assert_array_equal(
                mq.vision.resize(PilImage(im), (20, 30), method=method, antialias=False, coordinate_mode=cm),
                mq.vision.resize(a, (20, 30), method=method, antialias=False, coordinate_mode=cm))


def test_stretch_preset_never_copies_the_full_size_image_into_numpy(monkeypatch):
    # the point of the PIL path: with a Pillow-resizable preset the decoded image is never turned into an array
    def fail(self):
        raise AssertionError("full-size PIL image converted to an array")

    monkeypatch.setattr(PilImage, "to_array", fail)
    src = _save(PIL.fromarray(_photo(120, 160)), "JPEG", quality=90)
    x, _ = mq.vision.preprocess([src, src], "tflite_quantized", 24, diagnose=False)
    assert x.shape == (2, 24, 24, 3)
    x, _ = mq.vision.preprocess(src, "resnet", 24, diagnose=False)
    assert x.shape == (1, 3, 24, 24)


def test_pil_path_diagnostics_still_run():
    src = _save(PIL.new("RGB", (40, 30), (7, 7, 7)), "PNG")
    with pytest.warns(mq.vision.ConstantImageWarning):
        mq.vision.preprocess(src, "pytorch", 16)
