"""NumPy vs MLX (and the NumPy fast path vs the generic path) for every vision operation: bit-identical."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mlxquant as mq
from mlxquant._backend import get_backend
from mlxquant.vision.resize import _resize_generic
from tests.helpers import as_backend, assert_close, assert_equal

sizes = st.integers(1, 40)


@pytest.fixture(autouse=True, scope="module")
def _mlx_requested(request):
    # NumPy-vs-MLX comparisons run whenever --backends includes mlx (the default); conftest fails the run if MLX
    # was requested but cannot run, so a missing MLX is never a silent skip here.
    if "mlx" not in request.config._mlxquant_backends:
        pytest.skip("--backends excludes mlx")


class _LazyMx:
    def __getattr__(self, name):
        import mlx.core

        return getattr(mlx.core, name)


mx = _LazyMx()


def _img(seed, h, w, c=3, dtype=np.uint8):
    rng = np.random.default_rng(seed)
    if dtype == np.uint8:
        return rng.integers(0, 256, (h, w, c), dtype=np.uint8)
    return (rng.random((h, w, c)) * 255).astype(dtype)


@given(ih=sizes, iw=sizes, oh=sizes, ow=sizes, seed=st.integers(0, 999),
       method=st.sampled_from(["bilinear", "bicubic", "area", "nearest"]), antialias=st.booleans(),
       mode=st.sampled_from(["half_pixel", "asymmetric", "align_corners"]), c=st.sampled_from([1, 3, 4]))
def test_resize_numpy_equals_mlx(ih, iw, oh, ow, seed, method, antialias, mode, c):
    if antialias and method != "nearest":
        mode = "half_pixel"
    img = _img(seed, ih, iw, c)
    a = mq.vision.resize(img, (oh, ow), method=method, antialias=antialias, coordinate_mode=mode)
    m = mq.vision.resize(mx.array(img), (oh, ow), method=method, antialias=antialias, coordinate_mode=mode)
    assert_equal(m, a, backend="mlx")
    # MLX on the CPU evaluates the generic path with NumPy; the MLX generic path itself (the GPU path) must agree
    g = _resize_generic(get_backend(backend="mlx"), mx.array(img), (oh, ow), method=method, antialias=antialias,
                        coordinate_mode=mode, nearest_mode=None, cubic_a=None, integer=True)
    assert_equal(g, a, backend="mlx")


@given(ih=sizes, iw=sizes, oh=sizes, ow=sizes, seed=st.integers(0, 999),
       method=st.sampled_from(["bilinear", "bicubic", "area", "nearest"]),
       mode=st.sampled_from(["half_pixel", "asymmetric", "align_corners"]),
       nearest_mode=st.sampled_from([None, "floor", "ceil", "round_prefer_floor", "round_prefer_ceil"]))
def test_resize_uint16_and_nearest_modes_numpy_equals_mlx(ih, iw, oh, ow, seed, method, mode, nearest_mode):
    """uint16 (Pillow I;16: rounded, clipped passes; direct nearest coordinate) and the onnxruntime nearest tables."""
    img = np.random.default_rng(seed).integers(0, 65536, (ih, iw, 2), dtype=np.uint16)
    kw = dict(method=method, nearest_mode=nearest_mode if method == "nearest" else None)
    if method == "nearest":
        kw["coordinate_mode"] = mode
    a = mq.vision.resize(img, (oh, ow), **kw)
    assert_equal(mq.vision.resize(mx.array(img), (oh, ow), **kw), a, backend="mlx")
    g = _resize_generic(get_backend(backend="mlx"), mx.array(img), (oh, ow), antialias=True, cubic_a=None,
                        integer=True, **{"coordinate_mode": "half_pixel", **kw})
    assert_equal(g, a, backend="mlx")


@given(ih=sizes, iw=sizes, oh=sizes, ow=sizes, seed=st.integers(0, 999),
       method=st.sampled_from(["bilinear", "bicubic", "area", "nearest"]), c=st.sampled_from([1, 3, 4]))
def test_pillow_fast_path_equals_generic(ih, iw, oh, ow, seed, method, c):
    """The NumPy fast path (Pillow) is only taken where it equals the generic path bit for bit."""
    img = _img(seed, ih, iw, c)
    fast = mq.vision.resize(img, (oh, ow), method=method)
    generic = _resize_generic(get_backend(), img, (oh, ow), method=method, antialias=True,
                              coordinate_mode="half_pixel", nearest_mode=None, cubic_a=None, integer=True)
    assert_equal(fast, generic, backend="numpy")
    # MLX on the CPU takes the same Pillow fast path; the MLX generic path (the GPU path) must equal it too
    m = mx.array(img)
    mlx_generic = _resize_generic(get_backend(backend="mlx"), m, (oh, ow), method=method, antialias=True,
                                  coordinate_mode="half_pixel", nearest_mode=None, cubic_a=None, integer=True)
    assert_equal(mq.vision.resize(m, (oh, ow), method=method), fast, backend="mlx")
    assert_equal(mlx_generic, fast, backend="mlx")


@settings(max_examples=20)
@given(ih=sizes, iw=sizes, oh=sizes, ow=sizes, seed=st.integers(0, 999), antialias=st.booleans())
def test_resize_float_numpy_equals_mlx(ih, iw, oh, ow, seed, antialias):
    img = _img(seed, ih, iw, 3, np.float32)
    a = mq.vision.resize(img, (oh, ow), antialias=antialias)
    m = mq.vision.resize(mx.array(img), (oh, ow), antialias=antialias)
    # same taps in the same order; MLX and NumPy float32 multiply-add may differ by FMA contraction: 1e-4 of 255
    assert_close(m, a, rtol=0, atol=3e-5 * 255, backend="mlx")


@pytest.mark.parametrize("strategy", ["stretch", "contain", "cover", "letterbox", "shorter_side_crop", "shorter_side",
                                      "mediapipe"])
@given(h=st.integers(1, 60), w=st.integers(1, 60), seed=st.integers(0, 999))
@settings(max_examples=10)
def test_fit_numpy_equals_mlx(strategy, h, w, seed):
    img = _img(seed, h, w)
    a, ta = mq.vision.fit(img, (32, 48), strategy=strategy, max_size=70)
    m, tm = mq.vision.fit(mx.array(img), (32, 48), strategy=strategy, max_size=70)
    assert_equal(m, a, backend="mlx")
    assert ta == tm
    boxes = np.array([[1.0, 2.0, 30.0, 20.0], [-5.0, 0.0, 100.0, 40.0]], np.float32)
    for fn in ("inverse_boxes", "forward_boxes"):
        assert_equal(getattr(tm, fn)(mx.array(boxes)), getattr(ta, fn)(boxes), backend="mlx")
    assert_equal(tm.inverse_boxes(mx.array(boxes), mode="ultralytics"), ta.inverse_boxes(boxes, mode="ultralytics"),
                 backend="mlx")
    mask = (np.random.default_rng(seed).random((2, *tuple(a.shape[:2]))) > 0.5)
    for method in ("nearest", "bilinear"):
        assert_equal(tm.inverse_mask(mx.array(mask), method=method), ta.inverse_mask(mask, method=method),
                     backend="mlx")


@pytest.mark.parametrize("norm", ["scale", "imagenet", "tensorflow", "raw", "caffe", "clip", "inception"])
def test_normalize_numpy_equals_mlx(norm):
    img = _img(1, 7, 9)
    assert_equal(mq.vision.normalize(mx.array(img), norm), mq.vision.normalize(img, norm), backend="mlx")


@pytest.mark.parametrize("quant", [(1 / 255, -128, "int8"), (0.0078125, 0, "int8"), (0.018, 114, "uint8"),
                                   ((0.02, 0.021, 0.019), (3, -4, 0), "int8")])
@pytest.mark.parametrize("norm", ["scale", "imagenet", "tensorflow"])
def test_quantize_input_numpy_equals_mlx(quant, norm):
    img = _img(2, 6, 5)
    assert_equal(mq.vision.quantize_input(mx.array(img), norm, quant), mq.vision.quantize_input(img, norm, quant),
                 backend="mlx")


def test_color_numpy_equals_mlx():
    img = _img(3, 8, 6)
    for w in ("pil", "opencv"):
        assert_equal(mq.vision.to_gray(mx.array(img), weights=w), mq.vision.to_gray(img, weights=w), backend="mlx")
    f = np.random.default_rng(4).integers(0, 256, (12, 10), dtype=np.uint8)
    for fmt in ("nv12", "nv21", "i420", "yv12"):
        for full in (False, True):
            assert_equal(mq.vision.yuv_to_rgb(mx.array(f), fmt, full_range=full),
                         mq.vision.yuv_to_rgb(f, fmt, full_range=full), backend="mlx")


@pytest.mark.parametrize("preset", [*mq.vision.PRESETS, *mq.vision.MODEL_PRESETS])
def test_preprocess_numpy_equals_mlx(preset):
    imgs = [_img(5, 50, 70), _img(6, 33, 21)]
    size = None if preset in mq.vision.MODEL_PRESETS else (24, 32)
    if preset in ("sam", "detr"):
        size = (64, 64)
    a, ta = mq.vision.preprocess(imgs, preset, size)
    m, tm = mq.vision.preprocess(imgs, preset, size, backend="mlx")
    assert ta == tm
    if preset in ("onnx_float16",):
        assert_equal(m, a, backend="mlx")
    else:
        assert_equal(m, a, backend="mlx", check_dtype=True)


def test_backend_fixture_runs(backend):
    # the shared fixture fails (never skips) if a requested backend cannot run
    x = as_backend(np.zeros((2, 2, 3), np.uint8), backend)
    assert tuple(mq.vision.resize(x, (1, 1)).shape) == (1, 1, 3)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_preprocess_half_dtypes_numpy_equals_mlx(dtype):
    imgs = [_img(7, 40, 30)]
    a, _ = mq.vision.preprocess(imgs, "pytorch", 16, dtype=dtype)
    m, _ = mq.vision.preprocess(imgs, "pytorch", 16, dtype=dtype, backend="mlx")
    assert mq.get_backend(m).dtype_name(m) == dtype
    # NumPy has no bfloat16: float32 holding the bfloat16 values (mq.to_bfloat16), compared value for value
    assert_equal(m, a, backend="mlx", check_dtype=dtype != "bfloat16")
