"""resize / letterbox / MediaPipe warp against the real Pillow, OpenCV and onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mlxquant as mq
from mlxquant._backend import get_backend
from mlxquant.vision.fit import _mediapipe_roi, _warp_table
from mlxquant.vision.resize import _resize_generic, apply_tables

PIL = pytest.importorskip("PIL.Image")
cv2 = pytest.importorskip("cv2")
pytestmark = pytest.mark.peers

sizes = st.integers(1, 96)
PIL_FILTERS = {"bilinear": 2, "bicubic": 3, "area": 4, "nearest": 0}


def _img(seed, h, w, c=3):
    rng = np.random.default_rng(seed)
    # half noise, half smooth gradient: noise finds rounding differences, gradients the interpolation
    g = (np.add.outer(np.arange(h), np.arange(w)) * 255 // max(h + w - 2, 1)).astype(np.uint8)
    img = rng.integers(0, 256, (h, w, c), dtype=np.uint8)
    img[: h // 2] = g[: h // 2, :, None]
    return img


def _pil(img, size, method):
    chans = [np.asarray(PIL.fromarray(img[..., k]).resize((size[1], size[0]), PIL_FILTERS[method]))
             for k in range(img.shape[-1])]
    return np.stack(chans, axis=-1)


@given(ih=sizes, iw=sizes, oh=sizes, ow=sizes, method=st.sampled_from(list(PIL_FILTERS)), seed=st.integers(0, 999))
def test_antialias_equals_pillow_exactly(ih, iw, oh, ow, method, seed):
    img = _img(seed, ih, iw)
    b = get_backend()
    generic = _resize_generic(b, img, (oh, ow), method=method, antialias=True, coordinate_mode="half_pixel",
                              nearest_mode=None, cubic_a=None, integer=True)
    np.testing.assert_array_equal(generic, _pil(img, (oh, ow), method))


@pytest.mark.slow
def test_antialias_equals_pillow_large_downscale():
    # 1920x1080 -> 224 and -> 640x360: > 32 taps for bicubic (the chunked exact accumulation)
    img = _img(7, 1080, 1920)
    b = get_backend()
    for size, method in (((224, 224), "bicubic"), ((360, 640), "bilinear"), ((17, 31), "bilinear")):
        generic = _resize_generic(b, img, size, method=method, antialias=True, coordinate_mode="half_pixel",
                                  nearest_mode=None, cubic_a=None, integer=True)
        np.testing.assert_array_equal(generic, _pil(img, size, method))


@given(ih=sizes, iw=sizes, oh=sizes, ow=sizes, seed=st.integers(0, 999),
       method=st.sampled_from(["bilinear", "nearest", "bicubic", "area"]))
def test_no_antialias_matches_opencv_within_one_level(ih, iw, oh, ow, seed, method):
    img = _img(seed, ih, iw)
    flag = {"bilinear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST, "bicubic": cv2.INTER_CUBIC,
            "area": cv2.INTER_AREA}[method]
    expected = cv2.resize(img, (ow, oh), interpolation=flag).reshape(oh, ow, 3)
    mode = "asymmetric" if method == "nearest" else "half_pixel"
    out = mq.vision.resize(img, (oh, ow), method=method, antialias=False, coordinate_mode=mode)
    diff = np.abs(out.astype(int) - expected.astype(int)).max()
    if method == "nearest":
        assert diff == 0  # floor(dx · (1 / (out / in))) exactly as OpenCV
    else:
        assert diff <= 1


def _ort_resize(x, size, mode, ctm, nearest_mode="round_prefer_floor", cubic_a=-0.75):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    node = helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode=mode, coordinate_transformation_mode=ctm,
                            nearest_mode=nearest_mode, cubic_coeff_a=cubic_a)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [helper.make_tensor("sizes", TensorProto.INT64, [4], [1, 1, *size])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    _ = onnx
    return sess.run(None, {"x": x})[0]


@settings(max_examples=25)
@given(ih=st.integers(2, 20), iw=st.integers(2, 20), oh=st.integers(2, 20), ow=st.integers(2, 20),
       case=st.sampled_from([("linear", "half_pixel", "bilinear"), ("linear", "asymmetric", "bilinear"),
                             ("linear", "align_corners", "bilinear"), ("nearest", "asymmetric", "nearest"),
                             ("cubic", "half_pixel", "bicubic"), ("cubic", "asymmetric", "bicubic")]),
       seed=st.integers(0, 999))
def test_float_sampling_matches_onnxruntime_resize(ih, iw, oh, ow, case, seed):
    mode, ctm, method = case
    x = np.random.default_rng(seed).random((1, 1, ih, iw), dtype=np.float32)
    nm = "floor" if method == "nearest" else "round_prefer_floor"
    expected = _ort_resize(x, (oh, ow), mode, ctm, nearest_mode=nm)[0, 0]
    out = mq.vision.resize(x[0, 0][..., None], (oh, ow), method=method, antialias=False, coordinate_mode=ctm,
                           nearest_mode=None if method != "nearest" else "floor")[..., 0]
    if method == "nearest":
        # onnxruntime divides in float32 (x / float32(out / in)); where that lands 1 ulp below an integer its index is
        # one lower than OpenCV's float64 floor(x · (1 / (out / in))) that we reproduce. Compare where both agree.
        def same(o, i):
            d = np.arange(o)
            return np.floor(d.astype(np.float32) / np.float32(o / i)) == np.floor(d * (1.0 / (o / i)))
        keep = np.outer(same(oh, ih), same(ow, iw))
        np.testing.assert_array_equal(out[keep], expected[keep])
        return
    # float32 sums of 2-4 taps in a different order: a few ulps
    np.testing.assert_allclose(out, expected, rtol=0, atol=2e-6)


@settings(max_examples=25)
@given(h=st.integers(4, 120), w=st.integers(4, 120), out=st.sampled_from([128, 192, 64]), seed=st.integers(0, 999))
def test_mediapipe_warp_matches_opencv_warp_affine(h, w, out, seed):
    """MediaPipe's OpenCV converter = cv2.warpPerspective(INTER_LINEAR, BORDER_CONSTANT 0) of the padded ROI."""
    img = _img(seed, h, w)
    x0, y0, rw, rh = _mediapipe_roi(h, w, out, out)
    src = np.float32([[x0, y0 + rh], [x0, y0], [x0 + rw, y0], [x0 + rw, y0 + rh]])
    dst = np.float32([[0, out], [0, 0], [out, 0], [out, out]])
    m = cv2.getPerspectiveTransform(src, dst)
    expected = cv2.warpPerspective(img, m, (out, out), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                                   borderValue=0)
    # OpenCV 5.0 samples at exact coordinates; MediaPipe's OpenCV 4 rounds them to 1/32 (see test_fit.py)
    got = apply_tables(img, _warp_table(h, out, y0, rh, None), _warp_table(w, out, x0, rw, None))
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1


@pytest.mark.parametrize("shape", [(427, 640), (1080, 1920), (500, 333), (640, 640), (1, 1), (2000, 13)])
def test_letterbox_pixels_match_ultralytics_recipe(shape):
    """Ultralytics LetterBox = cv2.resize INTER_LINEAR + cv2.copyMakeBorder(114): same sizes, pixels within 1."""
    from tests.reference.vision_oracle import ultralytics_letterbox_params

    img = _img(3, *shape)
    _, (nw, nh), top, bottom, left, right = ultralytics_letterbox_params(shape)
    r = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR) if (nh, nw) != shape else img
    expected = cv2.copyMakeBorder(r.reshape(nh, nw, 3), top, bottom, left, right, cv2.BORDER_CONSTANT,
                                  value=(114, 114, 114))
    out, t = mq.vision.letterbox(img)
    assert out.shape == expected.shape == (640, 640, 3)
    assert t.pad == (top, bottom, left, right)
    assert np.abs(out.astype(int) - expected.astype(int)).max() <= 1


@pytest.mark.slow
@pytest.mark.parametrize("method", ["bilinear", "bicubic", "area", "nearest"])
def test_every_1d_size_pair_up_to_48_equals_pillow(method):
    """Exhaustive over in, out in 1..48 along each axis (the tables are per axis): the generic path equals Pillow."""
    b = get_backend()
    rng = np.random.default_rng(11)
    for n_in in range(1, 49):
        row = rng.integers(0, 256, (2, n_in, 1), dtype=np.uint8)
        col = np.ascontiguousarray(row.transpose(1, 0, 2))
        for n_out in range(1, 49):
            for img, size in ((row, (2, n_out)), (col, (n_out, 2))):
                got = _resize_generic(b, img, size, method=method, antialias=True, coordinate_mode="half_pixel",
                                      nearest_mode=None, cubic_a=None, integer=True)
                np.testing.assert_array_equal(got, _pil(img, size, method), err_msg=f"{n_in}->{n_out} {size}")


def test_area_with_one_axis_growing_matches_opencv_where_fx_rounds_to_one():
    """OpenCV INTER_AREA when an axis grows: fx is rounded to float32 *before* the wrap fx - floor(fx), so a double
    0.99999999999999 (e.g. 1470 -> 92 at dx = 46) becomes 1.0f and wraps to 0: all weight on sx, not on sx + 1."""
    rng = np.random.default_rng(5)
    pairs = [(1470, 92)] + [(int(i), int(o)) for i, o in zip(rng.integers(2, 2000, 150), rng.integers(1, 200, 150),
                                                             strict=True)]
    for iw, ow in pairs:
        img = rng.random((2, iw), dtype=np.float32)
        expected = cv2.resize(img, (ow, 3), interpolation=cv2.INTER_AREA)  # height 2 -> 3 grows: linear-like rule
        got = mq.vision.resize(img, (3, ow), method="area", antialias=False)
        np.testing.assert_allclose(got, expected, rtol=0, atol=2e-6, err_msg=f"{iw} -> {ow}")
        u8 = (img * 255).astype(np.uint8)
        exp8 = cv2.resize(u8, (ow, 3), interpolation=cv2.INTER_AREA)
        got8 = mq.vision.resize(u8, (3, ow), method="area", antialias=False)
        assert np.abs(got8.astype(int) - exp8.astype(int)).max() <= 1, f"{iw} -> {ow}"


@settings(max_examples=40)
@given(ih=st.integers(1, 300), iw=st.integers(1, 300), oh=st.integers(1, 300), ow=st.integers(1, 300),
       ctm=st.sampled_from(["half_pixel", "asymmetric", "align_corners"]),
       nm=st.sampled_from(["floor", "ceil", "round_prefer_floor", "round_prefer_ceil"]), seed=st.integers(0, 999))
def test_nearest_modes_match_onnxruntime_exactly(ih, iw, oh, ow, ctm, nm, seed):
    """Every nearest (coordinate_mode, nearest_mode) pair except the two that OpenCV and Pillow define (asymmetric +
    floor, half_pixel + round_prefer_ceil) is onnxruntime's float32 arithmetic: e.g. 189 -> 15 half_pixel floor reads
    index 30 at d = 2 (exact coordinate 31, 30.999998 in float32)."""
    if (ctm, nm) in (("asymmetric", "floor"), ("half_pixel", "round_prefer_ceil")):
        ctm, nm = ("half_pixel", "floor") if nm == "floor" else ("align_corners", "ceil")
    x = np.random.default_rng(seed).random((1, 1, ih, iw), dtype=np.float32)
    expected = _ort_resize(x, (oh, ow), "nearest", ctm, nearest_mode=nm)[0, 0]
    out = mq.vision.resize(x[0, 0], (oh, ow), method="nearest", antialias=False, coordinate_mode=ctm, nearest_mode=nm)
    if nm.startswith("round"):
        # onnxruntime disagrees with its float32 formula at ~0.06 % of exact ties (x.5 within an ulp, sizes up to
        # 600); those positions are left out, every other one must be equal
        def off_tie(o, i):
            d, f = np.arange(o, dtype=np.float32), np.float32
            src = {"half_pixel": (d + f(0.5)) / (f(o) / f(i)) - f(0.5), "asymmetric": d / (f(o) / f(i)),
                   "align_corners": d * f(i - 1) / f(max(o - 1, 1))}[ctm]
            return np.abs(np.abs(src - np.trunc(src)) - 0.5) > 4 * np.spacing(np.maximum(np.abs(src), 1))

        keep = np.outer(off_tie(oh, ih), off_tie(ow, iw))
        np.testing.assert_array_equal(out[keep], expected[keep])
        return
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("ctm,nm", [("half_pixel", "floor"), ("half_pixel", "ceil"), ("asymmetric", "ceil"),
                                    ("asymmetric", "round_prefer_floor"), ("half_pixel", "round_prefer_floor")])
def test_nearest_modes_match_onnxruntime_at_float32_integer_landings(ctm, nm):
    x = np.arange(189, dtype=np.float32).reshape(1, 1, 1, 189)
    for n_out in (15, 41, 63, 100, 210, 400):
        expected = _ort_resize(x, (1, n_out), "nearest", ctm, nearest_mode=nm)[0, 0]
        out = mq.vision.resize(x[0, 0], (1, n_out), method="nearest", coordinate_mode=ctm, nearest_mode=nm)
        np.testing.assert_array_equal(out, expected, err_msg=f"189 -> {n_out}")


@settings(max_examples=30)
@given(ih=st.integers(1, 120), iw=st.integers(1, 120), oh=st.integers(1, 120), ow=st.integers(1, 120),
       method=st.sampled_from(list(PIL_FILTERS)), seed=st.integers(0, 999))
def test_uint16_matches_pillow_i16_within_one_or_two_levels(ih, iw, oh, ow, method, seed):
    """Pillow resizes I;16 in double with each pass rounded half up and clipped to [0, 65535] (the clip matters for
    bicubic overshoot: unclipped, 3000+ levels apart), and its NEAREST reads floor((d + 0.5)·in/out) directly
    (ImagingGenericTransform; no accumulated coordinate as for 8-bit)."""
    img = np.random.default_rng(seed).integers(0, 65536, (ih, iw), dtype=np.uint16)
    expected = np.asarray(PIL.fromarray(img).resize((ow, oh), PIL_FILTERS[method])).astype(int)
    got = mq.vision.resize(img, (oh, ow), method=method).astype(int)
    # float32 passes vs Pillow's double: an intermediate can round the other way (1), which bicubic's weights (sum of
    # |w| up to 1.2) can carry into a second level
    assert np.abs(got - expected).max() <= {"nearest": 0, "bicubic": 2}.get(method, 1)


def test_uint16_nearest_reads_the_direct_coordinate():
    img = np.arange(60, dtype=np.uint16).reshape(1, 60) * 1000
    # 60 -> 21 at d = 17: (17 + 0.5)·60/21 = 50 exactly; Pillow 8-bit accumulates to 49.999..., I;16 reads 50
    assert int(mq.vision.resize(img, (1, 21), method="nearest")[0, 17]) == 50000
    np.testing.assert_array_equal(mq.vision.resize(img, (1, 21), method="nearest"),
                                  np.asarray(PIL.fromarray(img).resize((21, 1), 0)))
