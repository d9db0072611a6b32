"""Separable image resizing written once against the backend shim.

Every method is a pair of per-axis *tables* (for each output index: the source indices it reads and their weights),
computed on the host in float64 and applied by :func:`_apply_axis` as gathers and weighted sums on the image's
backend. NumPy and MLX therefore run the same arithmetic (float32 accumulation, same order of taps).

Two families of tables:

* ``antialias=True`` (bilinear / bicubic / area): Pillow's ``Resample.c`` (``precompute_coeffs``): the filter is
  widened by the scale when downscaling, weights are normalized to sum 1 and rounded to Pillow's 22-bit fixed point,
  the horizontal pass runs first and (for integer images) its result is rounded and clipped exactly as Pillow's
  8-bit intermediate is.
* ``antialias=False``: sampling at the ONNX Resize coordinate (``half_pixel`` = OpenCV / torch
  ``align_corners=False``, ``align_corners``, ``asymmetric`` = TF1 / MediaPipe) with 2 (linear) or 4 (cubic) taps and
  clamped (replicated) borders; OpenCV's 11-bit linear weights for uint8 when ``half_pixel``.

See docs/spec/vision.md for the normative formulas.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._backend import get_backend
from .._checks import check_choice
from .._errors import InputTypeError, InvalidArgumentError, ShapeError

__all__ = [
    "COORDINATE_MODES",
    "NEAREST_MODES",
    "RESIZE_METHODS",
    "AxisTable",
    "apply_tables",
    "axis_table",
    "pil_vertical_first",
    "resize",
]

RESIZE_METHODS = ("nearest", "bilinear", "bicubic", "area")
COORDINATE_MODES = ("half_pixel", "align_corners", "asymmetric")
NEAREST_MODES = ("floor", "ceil", "round_prefer_floor", "round_prefer_ceil")

# Pillow Resample.c: PRECISION_BITS = 32 - 8 - 2 (fixed-point weights of the 8-bit path).
_PIL_PRECISION_BITS = 22
# OpenCV resize INTER_RESIZE_COEF_BITS = 11 (fixed-point weights of the uint8 INTER_LINEAR path).
_CV_COEF_BITS = 11
# Pillow's bicubic uses a = -0.5; OpenCV, torch and ONNX Resize default to a = -0.75.
_PIL_CUBIC_A = -0.5
_CV_CUBIC_A = -0.75

_INT_RANGES = {"uint8": (0, 255), "uint16": (0, 65535), "int8": (-128, 127), "int16": (-32768, 32767)}


class AxisTable:
    """Source indices ``idx`` [out, taps] (int32) and weights ``w`` [out, taps] (float64) of one axis.

    ``round_intermediate`` is True for Pillow tables (Pillow rounds the first pass to the image's integer type).
    """

    __slots__ = ("idx", "in_size", "round_intermediate", "w")

    def __init__(self, idx: np.ndarray, w: np.ndarray, in_size: int, round_intermediate: bool = False) -> None:
        self.idx = np.ascontiguousarray(idx, dtype=np.int32)
        self.w = np.ascontiguousarray(w, dtype=np.float64)
        self.in_size = int(in_size)
        self.round_intermediate = round_intermediate

    @property
    def out_size(self) -> int:
        return int(self.idx.shape[0])

    def is_identity(self) -> bool:
        return (
            self.out_size == self.in_size
            and self.idx.shape[1] >= 1
            and bool(np.all(self.idx[:, 0] == np.arange(self.in_size)))
            and bool(np.all(self.w[:, 0] == 1.0))
            and bool(np.all(self.w[:, 1:] == 0.0))
        )


# ---- filters (Pillow Resample.c) --------------------------------------------------------------------------------
def _bilinear(x: np.ndarray) -> np.ndarray:
    x = np.abs(x)
    return np.where(x < 1.0, 1.0 - x, 0.0)


def _bicubic(a: float):
    def f(x: np.ndarray) -> np.ndarray:
        x = np.abs(x)
        near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
        far = (((x - 5.0) * x + 8.0) * x - 4.0) * a
        return np.where(x < 1.0, near, np.where(x < 2.0, far, 0.0))

    return f


def _box(x: np.ndarray) -> np.ndarray:
    # Pillow box_filter: 1 on (-0.5, 0.5].
    return np.where((x > -0.5) & (x <= 0.5), 1.0, 0.0)


def _pil_table(in_size: int, out_size: int, method: str, cubic_a: float, fixed_point: bool) -> AxisTable:
    """Pillow precompute_coeffs + normalize_coeffs_8bpc, vectorized (float64 like Pillow's doubles)."""
    filt, support = {
        "bilinear": (_bilinear, 1.0),
        "bicubic": (_bicubic(cubic_a), 2.0),
        "area": (_box, 0.5),
    }[method]
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = support * filterscale
    ksize = math.ceil(support) * 2 + 1
    xx = np.arange(out_size, dtype=np.float64)
    center = (xx + 0.5) * scale
    ss = 1.0 / filterscale
    # Pillow: xmin = (int)(center - support + 0.5), a C truncation, then clamped to >= 0 (same as floor here).
    xmin = np.maximum(np.trunc(center - support + 0.5), 0).astype(np.int64)
    xmax = np.minimum(np.trunc(center + support + 0.5), in_size).astype(np.int64) - xmin
    k = np.arange(ksize, dtype=np.int64)
    valid = k[None, :] < xmax[:, None]
    w = filt((k[None, :] + xmin[:, None] - center[:, None] + 0.5) * ss)
    w = np.where(valid, w, 0.0)
    ww = w.sum(axis=1, keepdims=True)
    w = np.where(ww != 0.0, w / np.where(ww != 0.0, ww, 1.0), w)
    if fixed_point:
        # Pillow normalize_coeffs_8bpc: (int)(w * 2^22 ± 0.5), i.e. round half away from zero, kept as k / 2^22.
        one = float(1 << _PIL_PRECISION_BITS)
        w = np.trunc(w * one + np.where(w < 0, -0.5, 0.5)) / one
    # Taps past the window get weight 0 and repeat the window's last index (never read outside the window).
    idx = np.minimum(xmin[:, None] + k[None, :], (xmin + np.maximum(xmax, 1) - 1)[:, None])
    idx = np.clip(idx, 0, in_size - 1)
    return AxisTable(idx, w, in_size, round_intermediate=True)


def _source_coord(out_size: int, in_size: int, mode: str) -> np.ndarray:
    """ONNX Resize coordinate_transformation_mode, in float64.

    The scale is 1 / (out / in) as OpenCV computes it (``scale_x = 1. / inv_scale_x``), so that OpenCV's
    INTER_NEAREST indices ``floor(dx · scale_x)`` are reproduced bit for bit.
    """
    d = np.arange(out_size, dtype=np.float64)
    scale = 1.0 / (out_size / in_size)
    if mode == "half_pixel":
        return (d + 0.5) * scale - 0.5
    if mode == "align_corners":
        return d * ((in_size - 1) / (out_size - 1)) if out_size > 1 else np.zeros(out_size)
    return d * scale  # asymmetric


def _pil_nearest_table(in_size: int, out_size: int) -> AxisTable:
    """Pillow NEAREST (Geometry.c ImagingScaleAffine): x = a/2, then x += a per pixel in double, index (int)x."""
    a = in_size / out_size
    src = np.cumsum(np.concatenate([[a * 0.5], np.full(out_size - 1, a)]))  # sequential double additions
    idx = np.clip(np.floor(src), 0, in_size - 1).astype(np.int64)[:, None]
    return AxisTable(idx, np.ones((out_size, 1)), in_size)


def _ort_nearest_table(in_size: int, out_size: int, mode: str, nearest_mode: str) -> AxisTable:
    """ONNX Resize nearest as onnxruntime computes it (the peer that defines these combinations): every step in
    float32 (upsamplebase.h), scale = f32(out) / f32(in); half_pixel (d + 0.5) / scale - 0.5, asymmetric d / scale,
    align_corners d · (in - 1) / (out - 1); then floor / ceil / round (x.5 away from zero, or down for
    round_prefer_floor) and a clamp to [0, in - 1]. The float32 quotient lands just below an integer where the exact
    coordinate is one (e.g. 189 -> 15, half_pixel, d = 2: 31 exactly, 30.999998 in float32 -> floor 30)."""
    f32 = np.float32
    d = np.arange(out_size, dtype=np.float32)
    if mode == "half_pixel":
        src = (d + f32(0.5)) / (f32(out_size) / f32(in_size)) - f32(0.5)
    elif mode == "asymmetric":
        src = d / (f32(out_size) / f32(in_size))
    else:
        src = d * f32(in_size - 1) / f32(out_size - 1) if out_size > 1 else np.zeros(out_size, np.float32)
    # std::round (half away from zero), exactly: x - trunc(x) is exact in float32, so no x + 0.5 rounding error
    t = np.trunc(src)
    rounded = t + np.where(np.abs(src - t) >= f32(0.5), np.sign(src), f32(0.0))
    if nearest_mode == "round_prefer_floor":
        # onnxruntime: x == (int64)x + 0.5f -> floor(x), else std::round
        i = np.where(src == t + f32(0.5), np.floor(src), rounded)
    elif nearest_mode == "round_prefer_ceil":
        i = rounded
    else:
        i = np.floor(src) if nearest_mode == "floor" else np.ceil(src)
    idx = np.clip(i.astype(np.int64), 0, in_size - 1)[:, None]
    return AxisTable(idx, np.ones((out_size, 1)), in_size)


def _nearest_index(src: np.ndarray, nearest_mode: str) -> np.ndarray:
    if nearest_mode == "floor":
        i = np.floor(src)
    elif nearest_mode == "ceil":
        i = np.ceil(src)
    elif nearest_mode == "round_prefer_floor":
        i = np.ceil(src - 0.5)  # x.5 goes down
    else:
        i = np.floor(src + 0.5)  # round_prefer_ceil: x.5 goes up (Pillow NEAREST, torch 'nearest-exact')
    return i


def _sampling_table(
    in_size: int, out_size: int, method: str, mode: str, nearest_mode: str, cubic_a: float, cv_fixed: bool,
    src: np.ndarray | None = None, border: str = "replicate", quantize_coord: int | None = None,
) -> AxisTable:
    if src is None:
        src = _source_coord(out_size, in_size, mode)
    if quantize_coord:
        # OpenCV warpAffine: coordinates rounded to 1/INTER_TAB_SIZE (32) of a pixel.
        src = np.floor(src * quantize_coord + 0.5) / quantize_coord
    if method == "nearest":
        i = _nearest_index(src, nearest_mode)
        idx = i[:, None]
        w = np.ones((out_size, 1))
    elif method == "bilinear":
        x0 = np.floor(src)
        f = src - x0
        if cv_fixed:
            # OpenCV uint8 INTER_LINEAR: weights saturate_cast<short>(w * 2^11) (round to nearest), kept as k / 2^11.
            one = float(1 << _CV_COEF_BITS)
            f = np.round(f * one) / one
        idx = np.stack([x0, x0 + 1], axis=1)
        w = np.stack([1.0 - f, f], axis=1)
    elif method == "bicubic":
        x0 = np.floor(src)
        t = src - x0
        a = cubic_a

        def cub(x: np.ndarray) -> np.ndarray:
            x = np.abs(x)
            return np.where(
                x <= 1.0, ((a + 2) * x - (a + 3)) * x * x + 1, np.where(x < 2.0, ((x - 5) * x + 8) * x * a - 4 * a, 0.0)
            )

        idx = np.stack([x0 - 1, x0, x0 + 1, x0 + 2], axis=1)
        w = np.stack([cub(t + 1), cub(t), cub(1 - t), cub(2 - t)], axis=1)
    else:  # area without antialias: OpenCV INTER_AREA
        return _cv_area_table(in_size, out_size)
    idx = idx.astype(np.int64)
    if border == "constant":
        w = np.where((idx < 0) | (idx >= in_size), 0.0, w)
    idx = np.clip(idx, 0, in_size - 1)
    return AxisTable(idx, w, in_size)


def _cv_area_table(in_size: int, out_size: int) -> AxisTable:
    """OpenCV INTER_AREA: exact pixel-coverage weights when downscaling; its linear-like rule when upscaling."""
    scale = in_size / out_size
    if scale >= 1.0:
        taps = math.ceil(scale) + 1
        d = np.arange(out_size, dtype=np.float64)
        lo = d * scale
        hi = lo + scale
        start = np.floor(lo).astype(np.int64)
        k = np.arange(taps)
        pix = start[:, None] + k[None, :]
        cover = np.clip(np.minimum(hi[:, None], pix + 1.0) - np.maximum(lo[:, None], pix.astype(np.float64)), 0, None)
        cover = np.where(pix < in_size, cover, 0.0)
        w = cover / scale
        idx = np.clip(pix, 0, in_size - 1)
        return AxisTable(idx, w, in_size)
    return _cv_area_up_table(in_size, out_size)


def _cv_area_up_table(in_size: int, out_size: int) -> AxisTable:
    """OpenCV resize INTER_AREA when an axis grows: sx = floor(dx·scale), fx = (dx+1) - (sx+1)/scale wrapped to
    [0, 1), then 2-tap linear with clamped indices (on both axes, even a shrinking one)."""
    scale = 1.0 / (out_size / in_size)
    inv = out_size / in_size
    d = np.arange(out_size, dtype=np.float64)
    sx = np.floor(d * scale)
    # OpenCV stores fx as float before the wrap ((float)((dx+1) - (sx+1)*inv_scale_x)): a double 0.99999999999999
    # becomes 1.0f and wraps to 0 (e.g. 1470 -> 92 at dx = 46), so round to float32 first.
    fx = ((d + 1) - (sx + 1) * inv).astype(np.float32).astype(np.float64)
    fx = np.where(fx <= 0, 0.0, fx - np.floor(fx))
    idx = np.clip(np.stack([sx, sx + 1], axis=1), 0, in_size - 1).astype(np.int64)
    w = np.stack([1.0 - fx, fx], axis=1)
    return AxisTable(idx, w, in_size)


def axis_table(
    in_size: int,
    out_size: int,
    *,
    method: str = "bilinear",
    antialias: bool = True,
    coordinate_mode: str = "half_pixel",
    nearest_mode: str | None = None,
    cubic_a: float | None = None,
    integer_image: bool = True,
) -> AxisTable:
    """The sampling table of one axis (see the module docstring); exposed for transforms and tests."""
    if nearest_mode is None:
        # Defaults: OpenCV INTER_NEAREST / TF1 / torch 'nearest' floor asymmetric coordinates; with half_pixel
        # coordinates, Pillow NEAREST and torch 'nearest-exact' round x.5 up.
        nearest_mode = "floor" if coordinate_mode == "asymmetric" else "round_prefer_ceil"
    if method == "nearest":
        if coordinate_mode == "half_pixel" and nearest_mode == "round_prefer_ceil":
            # floor(src + 0.5) with src = (d + 0.5)·in/out - 0.5 is Pillow's floor((d + 0.5)·in/out); Pillow
            # accumulates the coordinate by repeated double additions, reproduced here exactly.
            return _pil_nearest_table(in_size, out_size)
        if coordinate_mode == "asymmetric" and nearest_mode == "floor":
            return _sampling_table(in_size, out_size, "nearest", coordinate_mode, nearest_mode, 0.0, False)  # OpenCV
        return _ort_nearest_table(in_size, out_size, coordinate_mode, nearest_mode)

    if antialias:
        if coordinate_mode != "half_pixel":
            raise InvalidArgumentError(
                f"antialias=True resizes with Pillow's half-pixel filter; coordinate_mode {coordinate_mode!r} needs "
                "antialias=False"
            )
        a = _PIL_CUBIC_A if cubic_a is None else cubic_a
        return _pil_table(in_size, out_size, method, a, fixed_point=integer_image)
    a = _CV_CUBIC_A if cubic_a is None else cubic_a
    cv_fixed = integer_image and method == "bilinear" and coordinate_mode == "half_pixel"
    return _sampling_table(in_size, out_size, method, coordinate_mode, nearest_mode, a, cv_fixed)


# Pillow's 8-bit passes are integer arithmetic: acc = 2^21 + Σ x·k with k = round(w·2^22) (|k| < 2^23) and x ≤ 255.
# |acc| ≤ 2^21 + 255·Σ|k| ≤ 2^21 + 255·1.2·2^22 < 2^31 (Σ|w| ≤ 1.2 for Pillow's normalized bicubic, 1 for the
# non-negative filters), so int32 holds it exactly on NumPy and MLX (CPU and GPU) in any summation order.
_ONE22 = float(1 << _PIL_PRECISION_BITS)


def _apply_axis(b: Any, x: Any, table: AxisTable, axis: int) -> Any:
    """out[..., j, ...] = sum_t x[..., idx[j, t], ...] · w[j, t] in float32, taps in order."""
    ndim = len(x.shape)
    bshape = [1] * ndim
    bshape[axis] = table.out_size
    acc = None
    for t in range(table.idx.shape[1]):
        wt = table.w[:, t]
        if not np.any(wt):
            continue
        g = b.take(x, b.asarray(table.idx[:, t]), axis=axis)
        if b.dtype_name(g) != "float32":
            g = b.astype(g, "float32")  # gather the narrow input first, convert only what is read
        term = g if np.all(wt == 1.0) else g * b.reshape(b.asarray(wt, "float32"), bshape)
        acc = term if acc is None else acc + term
    if acc is None:
        shape = list(x.shape)
        shape[axis] = table.out_size
        acc = b.zeros(tuple(shape), "float32")
    return acc


def _apply_axis_pil8(b: Any, x: Any, table: AxisTable, axis: int) -> Any:
    """Pillow's ImagingResample{Horizontal,Vertical}_8bpc bit for bit on int32 pixels:
    clip((2^21 + Σ x·k) >> 22, 0, 255)."""
    ndim = len(x.shape)
    bshape = [1] * ndim
    bshape[axis] = table.out_size
    k = np.round(table.w * _ONE22).astype(np.int32)  # the table holds k / 2^22 exactly, so this recovers k
    acc = None
    for t in range(k.shape[1]):
        if not np.any(k[:, t]):
            continue
        g = b.take(x, b.asarray(table.idx[:, t]), axis=axis)
        if b.dtype_name(g) != "int32":
            g = b.astype(g, "int32")
        term = g * b.reshape(b.asarray(k[:, t], "int32"), bshape)
        acc = term if acc is None else acc + term
    if acc is None:
        return b.zeros(_out_shape(x, table, axis), "int32")
    # + 2^21: Pillow starts its accumulator at 1 << (PRECISION_BITS - 1) (round half up); >> 22 is an arithmetic
    # shift (floor division by 2^22) on int32 in NumPy and MLX
    out = b.right_shift(acc + b.const(1 << (_PIL_PRECISION_BITS - 1), "int32"), b.const(_PIL_PRECISION_BITS, "int32"))
    return b.clip(out, b.const(0, "int32"), b.const(255, "int32"))


def _out_shape(x: Any, table: AxisTable, axis: int) -> tuple[int, ...]:
    shape = [int(s) for s in x.shape]
    shape[axis] = table.out_size
    return tuple(shape)


def pil_vertical_first(in_hw: tuple[int, int], out_hw: tuple[int, int]) -> bool:
    """Pillow 13's pass order: vertical first iff the height shrinks by more than twice the width's shrink (pixels).

    Found by running Pillow 13.0 on 3 × 400 random size pairs (bilinear, bicubic, lanczos; 0 exceptions), where
    exactly one order reproduced its output; tests/peers/test_vision_resize_peers.py keeps checking it.
    """
    (ih, iw), (oh, ow) = in_hw, out_hw
    return oh < ih and 2 * (iw - ow) < (ih - oh)


def apply_tables(img: Any, table_y: AxisTable, table_x: AxisTable, *, backend: str | None = None,
                 order: str = "auto") -> Any:
    """Apply a vertical and a horizontal table to images [..., H, W, C].

    Pillow tables on uint8 run Pillow's exact fixed-point passes (each pass rounds and clips to uint8, in Pillow's
    pass order). uint16 with Pillow tables follows Pillow's I;16 resize: each pass (in Pillow's order) is rounded half
    up and clipped to [0, 65535]. Other integer images are computed in float32 and rounded half up once at the end
    (OpenCV's fixed-point ``(acc + 2^(n-1)) >> n``), then clipped to their range. Float images stay float
    (float16 / bfloat16 are computed in float32 and cast back).
    """
    b = get_backend(img, backend)
    x = b.asarray(img)
    name = b.dtype_name(x)
    integer = name in _INT_RANGES
    if not integer and name not in ("float32", "float16", "bfloat16", "float64"):
        raise InputTypeError(f"resize needs an integer or float image, got dtype {name}")
    ndim = len(x.shape)
    ay, ax = ndim - 3, ndim - 2
    ih, iw = int(x.shape[ay]), int(x.shape[ax])
    pil8 = name == "uint8" and table_x.round_intermediate and table_y.round_intermediate
    # Pillow I;16: double weights, each pass rounded half up and clipped to [0, 65535], Pillow's pass order
    pil16 = name == "uint16" and table_x.round_intermediate and table_y.round_intermediate
    # the first pass gathers from the input dtype and converts per tap (to int32 for Pillow's passes, else float32)
    xf = x if name in ("uint8", "uint16", "int8", "int16", "float32", "int32") else b.astype(x, "float32")
    if order == "auto":
        if pil8 or pil16:
            order = "vh" if pil_vertical_first((ih, iw), (table_y.out_size, table_x.out_size)) else "hv"
        else:
            order = "hv"
    passes = [(table_x, ax), (table_y, ay)] if order == "hv" else [(table_y, ay), (table_x, ax)]
    fn = _apply_axis_pil8 if pil8 else _apply_axis
    passes = [(t, a) for t, a in passes if not t.is_identity()]
    if not passes:
        # same size on both axes: the identity, exactly; a copy on NumPy, so the result never aliases the caller's
        # array (as Pillow's fast path, which returns a new image); MLX arrays are immutable
        return x.copy() if b.name == "numpy" else x
    for table, axis in passes:
        if axis == ax and b.name == "mlx":
            # MLX gathers along an inner axis are slow on CPU (~20x NumPy); gather whole rows of a transposed copy
            # instead. Same taps, same order, same arithmetic: only the memory layout changes.
            perm = list(range(ndim))
            perm[ay], perm[ax] = perm[ax], perm[ay]
            xt = b.mx.contiguous(b.transpose(xf, perm))
            xf = b.transpose(fn(b, xt, table, ay), perm)
        else:
            xf = fn(b, xf, table, axis)
        if pil16:
            xf = b.clip(b.round_half_up(xf), b.const(0, "float32"), b.const(65535, "float32"))
    if integer:
        lo, hi = _INT_RANGES[name]
        if pil8:
            return b.astype(xf, name)  # already clipped to [0, 255]
        # round half up, the +2^(n-1) >> n of OpenCV's fixed point. Integer pixels times finite weights cannot be NaN,
        # so clip-then-cast is fully defined (float_to_int's NaN pass would be a wasted full-size pass)
        fl = b.dtype_name(xf)
        return b.astype(b.clip(b.round_half_up(xf), b.const(lo, fl), b.const(hi, fl)), name)
    return xf if name == "float32" else b.astype(xf, name)


def _resize_generic(b: Any, x: Any, size: tuple[int, int], *, method: str, antialias: bool, coordinate_mode: str,
                    nearest_mode: str | None, cubic_a: float | None, integer: bool) -> Any:
    (ih, iw), (oh, ow) = (int(x.shape[-3]), int(x.shape[-2])), size
    if method == "area" and not antialias:
        # OpenCV INTER_AREA: pixel-coverage averaging only when neither axis grows; otherwise its linear-like rule on
        # both axes.
        if ih >= oh and iw >= ow:
            ty, tx = _cv_area_table(ih, oh), _cv_area_table(iw, ow)
        else:
            ty, tx = _cv_area_up_table(ih, oh), _cv_area_up_table(iw, ow)
    else:
        kw = dict(method=method, antialias=antialias, coordinate_mode=coordinate_mode, nearest_mode=nearest_mode,
                  cubic_a=cubic_a, integer_image=integer)
        ty = axis_table(ih, oh, **kw)
        tx = axis_table(iw, ow, **kw)
        if (method == "nearest" and b.dtype_name(x) == "uint16" and coordinate_mode == "half_pixel"
                and nearest_mode in (None, "round_prefer_ceil")):
            # Pillow NEAREST on I;16 goes through ImagingGenericTransform: floor((d + 0.5)·(in/out)) in double, read
            # directly (its 8-bit/32-bit ImagingScaleAffine accumulates the coordinate instead)
            ty, tx = _pil16_nearest_table(ih, oh), _pil16_nearest_table(iw, ow)
    return apply_tables(x, ty, tx, backend=b.name)


def _pil16_nearest_table(in_size: int, out_size: int) -> AxisTable:
    src = (np.arange(out_size, dtype=np.float64) + 0.5) * (in_size / out_size)
    return AxisTable(np.clip(np.floor(src), 0, in_size - 1).astype(np.int64)[:, None], np.ones((out_size, 1)), in_size)


# Pillow modes for uint8 images by channel count; 4 channels go through "CMYK" because Pillow premultiplies "RGBA"
# by alpha before resizing (its resize of a 4-band image without premultiplication is the plain per-channel one).
_PIL_MODES = {1: "L", 3: "RGB", 4: "CMYK"}
_PIL_FILTERS = {"nearest": 0, "bilinear": 2, "bicubic": 3, "area": 4}  # Image.Resampling NEAREST, BILINEAR, ...


def _pil_fast_path_ok(b: Any, x: Any, method: str, antialias: bool, coordinate_mode: str, nearest_mode: str | None,
                      cubic_a: float | None) -> bool:
    """Pillow is the fast path where the generic path reproduces it bit for bit (uint8, Pillow's semantics): on NumPy,
    and on MLX when MLX computes on the CPU (unified memory: the pixels are already host memory; on a GPU the
    generic path runs on the device)."""
    if b.dtype_name(x) != "uint8" or int(x.shape[-1]) not in _PIL_MODES:
        return False
    if b.name == "mlx" and b.mx.default_device() != b.mx.cpu:
        return False
    return _pil_method_ok(method, antialias, coordinate_mode, nearest_mode, cubic_a)


def _pil_method_ok(method: str, antialias: bool, coordinate_mode: str, nearest_mode: str | None,
                   cubic_a: float | None) -> bool:
    """The resize arguments for which Pillow's resize is the generic path's result (uint8 images)."""
    if method == "nearest":
        return coordinate_mode == "half_pixel" and nearest_mode in (None, "round_prefer_ceil")
    return antialias and coordinate_mode == "half_pixel" and cubic_a in (None, _PIL_CUBIC_A)


class PilImage:
    """A decoded 8-bit Pillow image of mode "RGB" or "L" standing for the HWC uint8 array ``np.asarray(image)``
    (with a channel axis for "L"); made by ``load._load_pil_or_array`` for :func:`preprocess` on NumPy.

    :func:`resize` hands it straight to Pillow where the Pillow fast path applies (the array path would copy it into
    NumPy and back into Pillow first: two full-size copies, same pixels, so the same result); everywhere else it
    becomes that array first (:func:`_image_pixels`). It has ``shape`` and ``dtype`` for the size arithmetic of
    :func:`~mlxquant.vision.fit`."""

    __slots__ = ("dtype", "image", "shape")

    def __init__(self, image: Any) -> None:
        if image.mode not in ("RGB", "L"):
            raise InvalidArgumentError(f"PilImage holds a mode 'RGB' or 'L' image, got {image.mode!r}")
        self.image = image
        w, h = image.size
        self.shape = (int(h), int(w), 3 if image.mode == "RGB" else 1)
        self.dtype = np.dtype(np.uint8)

    def to_array(self) -> np.ndarray:
        """The pixels as ``_load_image(..., writable=False)`` gives them (Pillow's read-only array, [H, W, C])."""
        a = np.asarray(self.image)
        return a[..., None] if self.image.mode == "L" else a


def _image_pixels(x: Any) -> Any:
    """``x`` itself, or the array a :class:`PilImage` stands for."""
    return x.to_array() if isinstance(x, PilImage) else x


def _resize_pil_image(src: PilImage, size: tuple[int, int], method: str) -> np.ndarray:
    """Pillow's resize of the image itself: the pixels of ``_resize_pil(src.to_array(), size, method)`` (which copies
    the same pixels into a new Pillow image of the same mode first), a fresh writable [h, w, C] array."""
    r = np.asarray(src.image.resize((size[1], size[0]), _PIL_FILTERS[method]))
    return r.reshape(size[0], size[1], src.shape[2]).copy()


def _mlx_on_cpu(b: Any, x: Any) -> bool:
    return (b.name == "mlx" and b.mx.default_device() == b.mx.cpu
            and b.dtype_name(x) in ("uint8", "uint16", "int8", "int16", "float32"))


def _resize_pil(x: np.ndarray, size: tuple[int, int], method: str) -> np.ndarray:
    from PIL import Image

    c = int(x.shape[-1])
    mode = _PIL_MODES[c]
    flat = x.reshape((-1, *x.shape[-3:]))
    out = np.empty((flat.shape[0], size[0], size[1], c), dtype=np.uint8)

    def one(i: int) -> None:
        src = np.ascontiguousarray(flat[i] if c != 1 else flat[i][..., 0])
        im = Image.frombuffer(mode, (src.shape[1], src.shape[0]), src, "raw", mode, 0, 1)
        r = np.asarray(im.resize((size[1], size[0]), _PIL_FILTERS[method]))
        out[i] = r if c != 1 else r[..., None]

    n = int(flat.shape[0])
    if n > 1:
        # batches: Pillow releases the GIL while resizing, so images of a batch run on all cores
        import os
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(n, os.cpu_count() or 1)) as pool:
            list(pool.map(one, range(n)))
    elif n == 1:
        one(0)
    return out.reshape((*x.shape[:-3], size[0], size[1], c))


def _as_hw(size: Any, name: str = "size") -> tuple[int, int]:
    """(height, width) from an int or a pair of ints (integral floats accepted); anything else is an error."""
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (size, size)
    try:
        vals = list(size)
    except TypeError:
        vals = []
    ok = len(vals) == 2 and all(
        not isinstance(v, bool) and isinstance(v, (int, np.integer, float, np.floating)) and float(v).is_integer()
        for v in vals)
    if not ok:
        raise InvalidArgumentError(f"{name} must be (height, width) of integers or one int, got {size!r}")
    h, w = int(vals[0]), int(vals[1])
    if h < 1 or w < 1:
        raise InvalidArgumentError(f"{name} must be positive, got (height, width) = ({h}, {w})")
    return h, w


def _image_view(b: Any, img: Any) -> tuple[Any, bool]:
    """Images are [H, W], [H, W, C] or [N, H, W, C]; 2-D images get a channel axis (removed again on output)."""
    nd = len(img.shape)
    if nd == 2:
        return b.expand_dims(img, -1), True
    if nd in (3, 4):
        return img, False
    raise ShapeError(f"image has shape {tuple(img.shape)}, expected (H, W), (H, W, C) or (N, H, W, C)")


def resize(
    img: Any,
    size: int | Sequence[int],
    *,
    method: str = "bilinear",
    antialias: bool = True,
    coordinate_mode: str = "half_pixel",
    nearest_mode: str | None = None,
    cubic_a: float | None = None,
    backend: str | None = None,
) -> Any:
    """Resize an image (or a batch of same-size images) to ``size = (height, width)``.

    Args:
        img: [H, W], [H, W, C] or [N, H, W, C] image(s); uint8/uint16/int8/int16 or float; NumPy or MLX.
        size: (height, width) of the result, or one int for a square.
        method: "nearest", "bilinear", "bicubic" or "area".
        antialias: True (default): Pillow's resize — the filter widens when downscaling (within 1 level of
            ``PIL.Image.resize`` on uint8, most pixels exact). False: point sampling like OpenCV ``cv2.resize``
            (INTER_LINEAR / INTER_CUBIC / INTER_AREA) and ONNX Resize. Ignored for "nearest".
        coordinate_mode: ONNX Resize coordinate_transformation_mode: "half_pixel" (OpenCV, Pillow, torch
            align_corners=False), "align_corners" or "asymmetric" (TF1 resize_bilinear, OpenCV INTER_NEAREST,
            MediaPipe). Only "half_pixel" is valid with antialias=True.
        nearest_mode: rounding of the source coordinate for "nearest" ("floor", "ceil", "round_prefer_floor",
            "round_prefer_ceil"); default "floor" for asymmetric (OpenCV INTER_NEAREST), else "round_prefer_ceil"
            (Pillow NEAREST). Those two pairs follow OpenCV and Pillow; every other pair is ONNX Resize as
            onnxruntime computes it (float32 coordinates).
        cubic_a: the bicubic coefficient (default -0.5 with antialias as Pillow, -0.75 without as OpenCV/ONNX).
        backend: None (follow ``img``), "numpy" or "mlx".

    Returns:
        The resized image(s), same dtype and backend as ``img``.

    Raises:
        InvalidArgumentError: an unknown method / mode or a non-positive size.
        ShapeError: ``img`` is not 2-, 3- or 4-dimensional, or empty.

    Example:
        >>> import numpy as np
        >>> img = np.arange(16, dtype=np.uint8).reshape(4, 4) * 10
        >>> resize(img, (2, 2))  # Pillow BILINEAR (antialiased): same bytes as PIL.Image.resize
        array([[ 36,  52],
               [ 98, 114]], dtype=uint8)
        >>> resize(img, (2, 2), antialias=False)  # OpenCV INTER_LINEAR
        array([[ 25,  45],
               [105, 125]], dtype=uint8)
        >>> resize(img, (2, 2), method="nearest", coordinate_mode="asymmetric")
        array([[  0,  20],
               [ 80, 100]], dtype=uint8)
    """
    check_choice("method", method, RESIZE_METHODS)
    check_choice("coordinate_mode", coordinate_mode, COORDINATE_MODES)
    if nearest_mode is not None:
        check_choice("nearest_mode", nearest_mode, NEAREST_MODES)
    oh, ow = _as_hw(size)
    b = get_backend(img, backend)
    if isinstance(img, PilImage):
        if (b.name == "numpy" and min(img.shape[:2]) > 0
                and _pil_method_ok(method, antialias, coordinate_mode, nearest_mode, cubic_a)):
            return _resize_pil_image(img, (oh, ow), method)
        img = img.to_array()
    x = b.asarray(img)
    x, squeeze = _image_view(b, x)
    ih, iw = int(x.shape[-3]), int(x.shape[-2])
    if ih == 0 or iw == 0:
        raise ShapeError(f"cannot resize an empty image of shape {tuple(img.shape)}")
    integer = b.dtype_name(x) in _INT_RANGES
    if _pil_fast_path_ok(b, x, method, antialias, coordinate_mode, nearest_mode, cubic_a):
        out = _resize_pil(b.to_numpy(x), (oh, ow), method)
        out = b.asarray(out) if b.name == "mlx" else out
    elif _mlx_on_cpu(b, x):
        # MLX computing on the CPU (unified memory): the same generic tables and arithmetic evaluated by NumPy, which
        # gathers ~10x faster than MLX's CPU backend; bit-identical (tests/parity runs _resize_generic on both
        # backends). On a GPU the generic path runs on the device.
        out = b.asarray(_resize_generic(get_backend(backend="numpy"), b.to_numpy(x), (oh, ow), method=method,
                                        antialias=antialias, coordinate_mode=coordinate_mode,
                                        nearest_mode=nearest_mode, cubic_a=cubic_a, integer=integer))
    else:
        out = _resize_generic(b, x, (oh, ow), method=method, antialias=antialias, coordinate_mode=coordinate_mode,
                              nearest_mode=nearest_mode, cubic_a=cubic_a, integer=integer)
    return b.squeeze(out, -1) if squeeze else out
