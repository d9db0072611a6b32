"""resize: known values, edge cases, errors, and the loop oracles in tests/reference/vision_oracle.py."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mlxquant as mq
from mlxquant.vision.resize import _resize_generic, get_backend, pil_vertical_first
from tests.helpers import as_backend, assert_equal
from tests.reference import vision_oracle as ref

sizes = st.integers(1, 24)


def _generic(img, size, method="bilinear", antialias=True, backend="numpy", **kw):
    b = get_backend(backend=backend)
    x = b.asarray(img)
    return _resize_generic(b, x, size, method=method, antialias=antialias, coordinate_mode=kw.get("mode", "half_pixel"),
                           nearest_mode=None, cubic_a=None, integer=img.dtype.kind in "ui")


def test_known_values_pil_and_cv():
    img = (np.arange(16, dtype=np.uint8).reshape(4, 4) * 10)
    assert resize_list(img, (2, 2)) == [[36, 52], [98, 114]]  # Pillow BILINEAR
    assert resize_list(img, (2, 2), antialias=False) == [[25, 45], [105, 125]]  # cv2 INTER_LINEAR
    assert resize_list(img, (2, 2), method="nearest", coordinate_mode="asymmetric") == [[0, 20], [80, 100]]


def resize_list(img, size, **kw):
    return mq.vision.resize(img, size, **kw).tolist()


@pytest.mark.parametrize("method", ["bilinear", "bicubic", "area", "nearest"])
def test_same_size_is_identity(backend, method):
    img = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    out = mq.vision.resize(as_backend(img, backend), (5, 7), method=method)
    assert_equal(out, img, backend=backend)


def test_one_pixel_and_shapes(backend):
    img = as_backend(np.full((1, 1, 3), 200, np.uint8), backend)
    assert_equal(mq.vision.resize(img, (3, 2)), np.full((3, 2, 3), 200, np.uint8), backend=backend)
    gray = as_backend(np.arange(12, dtype=np.uint8).reshape(3, 4), backend)
    assert tuple(mq.vision.resize(gray, 2).shape) == (2, 2)
    batch = as_backend(np.zeros((2, 4, 4, 1), np.uint8), backend)
    assert tuple(mq.vision.resize(batch, (3, 5)).shape) == (2, 3, 5, 1)


def test_float_images_stay_float_and_nan_propagates(backend):
    img = np.linspace(0, 1, 16, dtype=np.float32).reshape(4, 4, 1)
    img[0, 0, 0] = np.nan
    out = mq.vision.resize(as_backend(img, backend), (2, 2), antialias=False)
    a = mq.to_numpy(out)
    assert a.dtype == np.float32 and np.isnan(a[0, 0, 0]) and np.isfinite(a[1, 1, 0])
    f16 = mq.vision.resize(as_backend(img.astype(np.float16), backend), (8, 8))
    assert mq.get_backend(f16).dtype_name(f16) == "float16"


def test_uint16_saturates_and_rounds(backend):
    img = np.array([[0, 65535, 0, 65535]], dtype=np.uint16)[..., None]
    out = mq.to_numpy(mq.vision.resize(as_backend(img, backend), (1, 2), antialias=False))
    assert out.dtype == np.uint16 and out.ravel().tolist() == [32768, 32768]  # 32767.5 rounds half up


def test_errors():
    img = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(mq.InvalidArgumentError, match="valid values are"):
        mq.vision.resize(img, (2, 2), method="lanczos7")
    with pytest.raises(mq.InvalidArgumentError, match="positive"):
        mq.vision.resize(img, (0, 2))
    with pytest.raises(mq.InvalidArgumentError, match="antialias"):
        mq.vision.resize(img, (2, 2), coordinate_mode="asymmetric")
    with pytest.raises(mq.ShapeError, match="empty"):
        mq.vision.resize(np.zeros((0, 4, 3), np.uint8), (2, 2))
    with pytest.raises(mq.ShapeError):
        mq.vision.resize(np.zeros(5, np.uint8), (2, 2))
    with pytest.raises(mq.InputTypeError):
        mq.vision.resize(np.zeros((4, 4, 1), bool), (2, 2))


def test_input_not_mutated():
    img = np.random.default_rng(1).integers(0, 256, (6, 5, 3), dtype=np.uint8)
    img.setflags(write=False)
    mq.vision.resize(img, (3, 9))
    _generic(img, (3, 9))


@given(ih=sizes, iw=sizes, oh=sizes, ow=sizes, filt=st.sampled_from(["bilinear", "bicubic", "area"]),
       seed=st.integers(0, 2**16))
def test_generic_matches_pillow_loop_oracle(ih, iw, oh, ow, filt, seed):
    img = np.random.default_rng(seed).integers(0, 256, (ih, iw), dtype=np.uint8)
    expected = ref.pil_resize_u8(img, (oh, ow), "box" if filt == "area" else filt)
    out = _generic(img[..., None], (oh, ow), method=filt)[..., 0]
    np.testing.assert_array_equal(out, expected)


@given(ih=sizes, iw=sizes, oh=sizes, ow=sizes, seed=st.integers(0, 2**16))
def test_cv_linear_within_one_of_loop_oracle(ih, iw, oh, ow, seed):
    img = np.random.default_rng(seed).integers(0, 256, (ih, iw), dtype=np.uint8)
    out = _generic(img[..., None], (oh, ow), antialias=False)[..., 0]
    # our weights are OpenCV's 11-bit fixed point, the oracle's exact: they may straddle a rounding boundary
    assert np.abs(out.astype(int) - ref.cv_linear_resize(img, (oh, ow))).max() <= 1


def test_pass_order_rule():
    assert pil_vertical_first((80, 30), (40, 60))
    assert not pil_vertical_first((30, 80), (60, 40))
    assert not pil_vertical_first((40, 40), (5, 22)) and pil_vertical_first((40, 40), (5, 23))
    assert not pil_vertical_first((29, 31), (45, 57))  # both grow: horizontal first


def test_sampling_modes_known_values():
    x = np.array([[0.0, 10.0, 20.0, 30.0]], np.float32)[..., None]
    up = lambda m: mq.vision.resize(x, (1, 8), antialias=False, coordinate_mode=m)[0, :, 0].tolist()  # noqa: E731
    assert up("asymmetric") == [0, 5, 10, 15, 20, 25, 30, 30]
    assert up("align_corners") == pytest.approx([0, 30 / 7, 60 / 7, 90 / 7, 120 / 7, 150 / 7, 180 / 7, 30], abs=1e-5)
    assert up("half_pixel") == [0.0, 2.5, 7.5, 12.5, 17.5, 22.5, 27.5, 30.0]


def test_nearest_modes_ties():
    x = np.arange(4, dtype=np.uint8).reshape(1, 4, 1)
    # 4 -> 8, half_pixel: src = (d + 0.5)/2 - 0.5 hits x.25 / x.75, never a tie; 4 -> 2 asymmetric: 0, 2
    assert mq.vision.resize(x, (1, 2), method="nearest", coordinate_mode="asymmetric")[0, :, 0].tolist() == [0, 2]
    # 3 -> 2 half_pixel: src = 0.25, 1.75; 2 -> 4 asymmetric: 0, 0.5, 1, 1.5 (ties)
    y = np.arange(2, dtype=np.uint8).reshape(1, 2, 1)
    r = lambda nm: mq.vision.resize(y, (1, 4), method="nearest", coordinate_mode="asymmetric",  # noqa: E731
                                    nearest_mode=nm)[0, :, 0].tolist()
    assert r("floor") == [0, 0, 1, 1]
    assert r("ceil") == [0, 1, 1, 1]
    assert r("round_prefer_floor") == [0, 0, 1, 1]
    assert r("round_prefer_ceil") == [0, 1, 1, 1]


@pytest.mark.parametrize("size", [(2.5, 3), (2, 3, 4), "ab", None, (True, 2), (-1, 2)])
def test_bad_sizes_are_errors(size):
    with pytest.raises(mq.InvalidArgumentError, match="size"):
        mq.vision.resize(np.zeros((4, 4, 3), np.uint8), size)
    with pytest.raises(mq.InvalidArgumentError, match="size"):
        mq.vision.preprocess(np.zeros((4, 4, 3), np.uint8), "pytorch", size if size is not None else (0, 1))


def test_integral_float_sizes_accepted():
    assert mq.vision.resize(np.zeros((4, 4, 3), np.uint8), (2.0, np.int64(3))).shape == (2, 3, 3)


@pytest.mark.parametrize("shape,dtype", [((4, 5, 2), np.uint8), ((4, 5, 3), np.float32), ((4, 5), np.float32),
                                         ((4, 5, 3), np.uint16)])
@pytest.mark.parametrize("antialias", [True, False])
def test_identity_resize_returns_a_new_array(shape, dtype, antialias):
    img = np.arange(int(np.prod(shape))).reshape(shape).astype(dtype)
    out = mq.vision.resize(img, shape[:2], antialias=antialias)
    assert not np.shares_memory(out, img)
    np.testing.assert_array_equal(out, img)
    out[...] = 0
    assert img.max() > 0  # writing the result leaves the caller's image alone
