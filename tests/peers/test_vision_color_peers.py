"""Colour conversions and normalization against the real OpenCV and Pillow."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mlxquant as mq

PIL = pytest.importorskip("PIL.Image")
pytestmark = pytest.mark.peers

def test_gray_matches_opencv():
    cv2 = pytest.importorskip("cv2")
    img = np.random.default_rng(2).integers(0, 256, (9, 11, 3), dtype=np.uint8)
    np.testing.assert_array_equal(mq.vision.to_gray(img, weights="opencv")[..., 0],
                                  cv2.cvtColor(img, cv2.COLOR_RGB2GRAY))
    np.testing.assert_array_equal(mq.vision.to_gray(img[..., ::-1], order="bgr", weights="opencv")[..., 0],
                                  cv2.cvtColor(img[..., ::-1], cv2.COLOR_BGR2GRAY))


def test_gray_matches_opencv_on_every_colour():
    """All 2^24 RGB colours (OpenCV 5's RGB2GRAY is 15-bit fixed point: (9798 R + 19235 G + 3735 B + 2^14) >> 15;
    the 14-bit (4899, 9617, 1868) rule differs on 0.26 % of colours, e.g. (0, 0, 250): 29 instead of 28)."""
    cv2 = pytest.importorskip("cv2")
    v = np.arange(256, dtype=np.uint8)
    for r0 in range(0, 256, 64):  # in 4 slices of 64 x 256 x 256 to bound memory
        img = np.stack(np.meshgrid(v[r0:r0 + 64], v, v, indexing="ij"), axis=-1).reshape(64, 65536, 3)
        for width in (65536, 4093):  # a vector-unfriendly width exercises OpenCV's scalar tails too
            part = np.ascontiguousarray(img.reshape(-1, 3)[: (img.size // 3 // width) * width].reshape(-1, width, 3))
            np.testing.assert_array_equal(mq.vision.to_gray(part, weights="opencv")[..., 0],
                                          cv2.cvtColor(part, cv2.COLOR_RGB2GRAY))
    np.testing.assert_array_equal(mq.vision.to_gray(part[..., ::-1], order="bgr", weights="opencv")[..., 0],
                                  cv2.cvtColor(np.ascontiguousarray(part[..., ::-1]), cv2.COLOR_BGR2GRAY))


@given(h=st.integers(1, 12), w=st.integers(1, 12), seed=st.integers(0, 999),
       fmt=st.sampled_from(["nv12", "nv21", "i420", "yv12"]), order=st.sampled_from(["rgb", "bgr"]))
def test_yuv_matches_opencv_exactly(h, w, seed, fmt, order):
    cv2 = pytest.importorskip("cv2")
    f = np.random.default_rng(seed).integers(0, 256, (3 * h, 2 * w), dtype=np.uint8)
    code = getattr(cv2, f"COLOR_YUV2{order.upper()}_{fmt.upper()}")
    np.testing.assert_array_equal(mq.vision.yuv_to_rgb(f, fmt, order=order), cv2.cvtColor(f, code))


def test_yuv_full_range_matches_pillow_within_one():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 256, (8, 8), dtype=np.uint8)
    u = rng.integers(0, 256, (4, 4), dtype=np.uint8)
    v = rng.integers(0, 256, (4, 4), dtype=np.uint8)
    up = lambda p: np.repeat(np.repeat(p, 2, 0), 2, 1)  # noqa: E731
    expected = np.asarray(PIL.fromarray(np.stack([y, up(u), up(v)], -1), "YCbCr").convert("RGB")).astype(int)
    frame = np.concatenate([y, np.stack([u, v], -1).reshape(4, 8)], axis=0)
    assert np.abs(mq.vision.yuv_to_rgb(frame, "nv12", full_range=True).astype(int) - expected).max() <= 1


def test_mediapipe_normalization_equals_opencv_convert_to():
    """cv2.normalize(NORM_MINMAX, -1..1) on an image holding 0 and 255 is convertTo(CV_32F, 2/255, -1)."""
    cv2 = pytest.importorskip("cv2")
    x = np.arange(256, dtype=np.uint8).reshape(16, 16)
    expected = cv2.normalize(x, None, -1, 1, cv2.NORM_MINMAX, dtype=cv2.CV_32F)
    got = mq.vision.normalize(x[..., None], "mediapipe")[..., 0]
    np.testing.assert_array_equal(got, expected)
    assert (mq.vision.normalize(x[..., None], "tensorflow")[..., 0] != expected).sum() > 100  # not the same thing
    with pytest.raises(mq.InputTypeError, match="uint8"):
        mq.vision.normalize(x.astype(np.float32)[..., None], "mediapipe")
