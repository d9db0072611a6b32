"""Pixel normalization, layouts, output dtypes and quantized model inputs.

Normalization is ``y = ((x / divisor) - mean) / std`` per channel, in float32, in exactly that order (torchvision's
``ToTensor`` then ``Normalize``: ``x.div(255)``, ``sub(mean)``, ``div(std)``; Keras "tf" mode ``x / 127.5 - 1``). On
uint8 images the whole chain (normalize, then the core :func:`mlxquant.quantize`) is evaluated once on the 256
possible values per channel and applied as a lookup table, or as an integer affine map ``q = a·x + b`` when the table
is one (e.g. ``x - 128`` for int8 inputs with scale 1/255): the same numbers as the two-step path, by construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._backend import get_backend
from .._checks import check_choice
from .._errors import InputTypeError, InvalidArgumentError, ShapeError

__all__ = [
    "LAYOUTS",
    "NORMALIZATIONS",
    "OUTPUT_DTYPES",
    "Normalization",
    "cast_output",
    "get_normalization",
    "input_lut",
    "normalize",
    "quantize_input",
    "to_layout",
]

LAYOUTS = ("hwc", "chw", "nhwc", "nchw")
OUTPUT_DTYPES = ("float32", "float16", "bfloat16", "uint8", "int8")


@dataclass(frozen=True)
class Normalization:
    """``y = ((x / divisor) - mean[c]) / std[c]`` with ``mean`` / ``std`` in the units of ``x / divisor``.

    Attributes:
        name: preset name or "custom".
        divisor: 255 (to [0, 1]), 127.5 (Keras "tf"), or 1 (raw / caffe).
        mean: per-channel means in the image's channel order (``order``); () means 0 for every channel.
        std: per-channel standard deviations; () means 1.
        order: "rgb" or "bgr", the channel order ``mean`` / ``std`` are written in (caffe is "bgr").
        fused: compute ``y = x·a + b`` with ONE rounding (``a = f32(1 / (divisor·std))``, ``b = f32(-mean/std)``),
            as OpenCV's ``convertTo(dst, CV_32F, a, b)`` does (MediaPipe). uint8 pixels only (evaluated exactly
            through a 256-entry table).
    """

    name: str
    divisor: float = 1.0
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    order: str = "rgb"
    fused: bool = False

    def vectors(self, channels: int) -> tuple[np.ndarray, np.ndarray]:
        """mean and std as float32 vectors of length ``channels`` (a length mismatch is an error, never reused)."""
        out = []
        for what, v, default in (("mean", self.mean, 0.0), ("std", self.std, 1.0)):
            if len(v) == 0:
                out.append(np.full(channels, default, dtype=np.float32))
            elif len(v) == 1 and self.name != "custom":
                out.append(np.full(channels, v[0], dtype=np.float32))
            elif len(v) != channels:
                raise ShapeError(f"normalization {self.name!r} has {len(v)} {what} values but the image has {channels} "
                                 f"channels; give exactly {channels} (no value is reused)")
            else:
                out.append(np.asarray(v, dtype=np.float32))
        if np.any(out[1] == 0) or not np.all(np.isfinite(out[1])):
            raise InvalidArgumentError(f"normalization std must be finite and non-zero, got {tuple(out[1])}")
        return out[0], out[1]


_IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
_CLIP = ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))

NORMALIZATIONS: dict[str, Normalization] = {
    "raw": Normalization("raw", 1.0),
    "scale": Normalization("scale", 255.0),
    "imagenet": Normalization("imagenet", 255.0, *_IMAGENET),
    # Keras applications "tf" mode (MobileNet, Inception, EfficientNet-lite): x / 127.5 - 1
    "tensorflow": Normalization("tensorflow", 127.5, (1.0,), (1.0,)),
    # Keras "caffe" mode (VGG, ResNet50 Keras): BGR, 0-255, minus the BGR means, no scaling
    "caffe": Normalization("caffe", 1.0, (103.939, 116.779, 123.68), (), order="bgr"),
    "clip": Normalization("clip", 255.0, *_CLIP),
    # Segment Anything: (x - pixel_mean) / pixel_std on 0-255 values (ImageNet statistics × 255, no /255 first)
    "sam": Normalization("sam", 1.0, (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)),
    # MediaPipe ImageToTensor [-1, 1]: cv::Mat::convertTo(dst, CV_32F, 2/255, -1), a fused multiply-add (verified
    # against cv2.normalize, which calls convertTo): 205 of the 256 values differ by 1 ulp from x / 127.5 - 1
    "mediapipe": Normalization("mediapipe", 127.5, (1.0,), (1.0,), fused=True),
    # timm IMAGENET_INCEPTION_MEAN / STD = 0.5: (x / 255 - 0.5) / 0.5
    "inception": Normalization("inception", 255.0, (0.5,), (0.5,)),
}


def get_normalization(norm: Any = "scale", *, mean: Sequence[float] | None = None,
                      std: Sequence[float] | None = None, divisor: float | None = None) -> Normalization:
    """Resolve a preset name, a :class:`Normalization`, a dict, or explicit mean/std into a :class:`Normalization`.

    Custom ``mean`` / ``std`` are in [0, 1] units (divisor 255) unless ``divisor`` says otherwise.

    Example:
        >>> get_normalization(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)).divisor
        255.0
    """
    if mean is not None or std is not None:
        return Normalization("custom", 255.0 if divisor is None else float(divisor),
                             tuple(float(m) for m in (mean or ())), tuple(float(s) for s in (std or ())))
    if isinstance(norm, Normalization):
        return norm
    if isinstance(norm, dict):
        return get_normalization(None, mean=norm.get("mean"), std=norm.get("std"), divisor=norm.get("divisor"))
    if norm is None:
        return NORMALIZATIONS["raw"]
    check_choice("normalization", norm, NORMALIZATIONS)
    return NORMALIZATIONS[norm]


def normalize(img: Any, normalization: Any = "imagenet", *, mean: Sequence[float] | None = None,
              std: Sequence[float] | None = None, channel_axis: int = -1, backend: str | None = None) -> Any:
    """Normalize pixels to float32: ``((x / divisor) - mean) / std`` per channel (see the module docstring).

    Args:
        img: image(s) with channels on ``channel_axis`` (uint8, uint16 or float), NumPy or MLX.
        normalization: "scale", "imagenet", "tensorflow", "raw", "caffe", "clip", "inception", a
            :class:`Normalization` or a dict with mean/std.
        mean: custom means ([0, 1] units), one per channel.
        std: custom standard deviations, one per channel.
        channel_axis: the channel axis (-1 for HWC/NHWC, -3 for CHW/NCHW).
        backend: None (follow ``img``), "numpy" or "mlx".

    Returns:
        float32 array, same shape and backend.

    Raises:
        ShapeError: mean/std length differs from the channel count.

    Example:
        >>> import numpy as np
        >>> normalize(np.array([[[0, 128, 255]]], dtype=np.uint8), "tensorflow")
        array([[[-1.        ,  0.00392163,  1.        ]]], dtype=float32)
    """
    n = get_normalization(normalization, mean=mean, std=std)
    b = get_backend(img, backend)
    x = b.asarray(img)
    if b.dtype_name(x) == "bool":
        raise InputTypeError("normalize needs a numeric image, got bool")
    nd = len(x.shape)
    if nd == 0:
        raise ShapeError("normalize needs an image, got a scalar")
    ax = channel_axis % nd
    c = int(x.shape[ax])
    m, s = n.vectors(c)
    bshape = [1] * nd
    bshape[ax] = c
    if n.fused:
        return _fused_normalize(b, x, n, m, s, ax, bshape)
    xf = b.astype(x, "float32")
    y = xf / b.const(n.divisor, "float32") if n.divisor != 1.0 else xf
    if np.any(m != 0):
        y = y - b.reshape(b.asarray(m, "float32"), bshape)
    if np.any(s != 1):
        y = y / b.reshape(b.asarray(s, "float32"), bshape)
    return y


def _fused_normalize(b: Any, x: Any, n: Normalization, m: np.ndarray, s: np.ndarray, ax: int,
                     bshape: list[int]) -> Any:
    """y = RN32(x·a + b) through a [C, 256] table: x·a (8 × 24 bits) and the addition are exact in float64, so the one
    cast to float32 is the single rounding of a fused multiply-add."""
    if b.dtype_name(x) != "uint8":
        raise InputTypeError(f"normalization {n.name!r} (fused multiply-add, as OpenCV convertTo) needs uint8 pixels, "
                             f"got {b.dtype_name(x)}")
    c = int(x.shape[ax])
    a = np.float32(1.0) / (np.float32(n.divisor) * s)  # float32, as MediaPipe's float ValueTransformation
    off = (-m / s).astype(np.float32)
    lut = (np.arange(256, dtype=np.float64)[None, :] * a.astype(np.float64)[:, None]
           + off.astype(np.float64)[:, None]).astype(np.float32)
    flat = b.asarray(lut.reshape(-1))
    idx = b.astype(x, "int32") + b.reshape(b.asarray((np.arange(c) * 256).astype(np.int32)), bshape)
    return b.reshape(b.take(flat, b.reshape(idx, (-1,)), axis=0), tuple(x.shape))


def to_layout(x: Any, layout: str, *, src: str = "hwc", backend: str | None = None) -> Any:
    """Reorder an image or batch between "hwc", "chw", "nhwc" and "nchw" (adds or removes the batch axis of 1).

    Example:
        >>> import numpy as np
        >>> to_layout(np.zeros((4, 5, 3)), "nchw").shape
        (1, 3, 4, 5)
    """
    check_choice("layout", layout, LAYOUTS)
    check_choice("src layout", src, LAYOUTS)
    b = get_backend(x, backend)
    a = b.asarray(x)
    if len(a.shape) != len(src):
        raise ShapeError(f"array has shape {tuple(a.shape)}, which is not a {src.upper()} layout")
    if len(src) == 3:
        a = b.expand_dims(a, 0)
        src = "n" + src
    if src == "nchw":
        a = b.transpose(a, (0, 2, 3, 1))
    if layout in ("nchw", "chw"):
        a = b.transpose(a, (0, 3, 1, 2))
    if len(layout) == 3:
        if int(a.shape[0]) != 1:
            raise ShapeError(f"layout {layout!r} holds one image but the batch has {int(a.shape[0])}")
        a = b.squeeze(a, 0)
    return a


def cast_output(x: Any, dtype: str, *, backend: str | None = None) -> Any:
    """Cast a float32 tensor to float32 / float16 / bfloat16 (round to nearest even).

    bfloat16 on NumPy (no native dtype) returns float32 holding exact bfloat16 values (``mlxquant.to_bfloat16``).

    Example:
        >>> import numpy as np
        >>> cast_output(np.array([1.00390625, 70000.0], np.float32), "bfloat16").tolist()
        [1.0, 70144.0]
        >>> cast_output(np.array([1.00390625, 70000.0], np.float32), "float16")
        array([1.004,   inf], dtype=float16)
    """
    check_choice("dtype", dtype, ("float32", "float16", "bfloat16"))
    b = get_backend(x, backend)
    if dtype == "float32":
        return b.astype(x, "float32") if b.dtype_name(x) != "float32" else x
    if dtype == "bfloat16" and b.name == "numpy":
        from ..quant.floats import to_bfloat16

        return to_bfloat16(x)
    with np.errstate(over="ignore"):  # float16 overflow is inf (IEEE, as torch / onnxruntime), not a warning
        return b.astype(x, dtype)


def _parse_quant(quant: Any) -> tuple[np.ndarray, np.ndarray, str]:
    if isinstance(quant, dict):
        scale, zp, dt = quant.get("scale"), quant.get("zero_point", 0), quant.get("dtype")
    else:
        q = tuple(quant)
        if len(q) not in (2, 3):
            raise InvalidArgumentError(f"quant must be (scale, zero_point[, dtype]), got {quant!r}")
        scale, zp = q[0], q[1]
        dt = q[2] if len(q) == 3 else None
    s = np.atleast_1d(np.asarray(scale, dtype=np.float64)).astype(np.float32)
    z = np.atleast_1d(np.asarray(zp))
    if z.dtype.kind == "f" and np.any(z != np.round(z)):
        raise InvalidArgumentError(f"zero_point must be integers, got {zp!r}")
    z = z.astype(np.int64)
    if dt is None:
        dt = "uint8" if np.all(z >= 0) and np.all(z <= 255) and np.any(z > 127) else "int8"
        if np.all(z == 0):
            raise InvalidArgumentError("quant with zero_point 0 is ambiguous between uint8 and int8: pass "
                                       "(scale, zero_point, dtype)")
    check_choice("quant dtype", dt, ("uint8", "int8", "int16", "uint16"))
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise InvalidArgumentError(f"quant scale must be finite and > 0, got {scale!r}")
    return s, z, dt


def input_lut(normalization: Any, quant: Any, channels: int, *, profile: str = "onnx") -> tuple[np.ndarray, str]:
    """The [channels, 256] table of ``quantize(normalize(v))`` for every uint8 value v (two-step path, NumPy).

    Example:
        >>> lut, dt = input_lut("scale", (1 / 255, -128, "int8"), 3)
        >>> lut[:, [0, 1, 255]].tolist(), dt
        ([[-128, -127, 127], [-128, -127, 127], [-128, -127, 127]], 'int8')
    """
    from ..quant.primitives import quantize

    s, z, dt = _parse_quant(quant)
    v = np.broadcast_to(np.arange(256, dtype=np.uint8)[:, None], (256, channels))
    y = normalize(v, normalization, backend="numpy")  # [256, C]
    per_channel = s.size > 1 or z.size > 1
    if per_channel:
        for name, arr in (("scale", s), ("zero_point", z)):
            if arr.size not in (1, channels):
                raise ShapeError(f"quant {name} has {arr.size} values but the image has {channels} channels")
        s_c = np.broadcast_to(s, (channels,)).copy()
        z_c = np.broadcast_to(z, (channels,)).copy()
        q = quantize(y, s_c, z_c, dt, axis=1, profile=profile)
    else:
        q = quantize(y, float(s[0]), int(z[0]), dt, profile=profile)
    return np.ascontiguousarray(np.asarray(q).T), dt


def _integer_affine(lut: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(a, b) per channel if lut[c, v] == a[c]·v + b[c] for every v (an exact integer affine fold), else None."""
    v = np.arange(256, dtype=np.int64)
    a = lut[:, 1].astype(np.int64) - lut[:, 0].astype(np.int64)
    b = lut[:, 0].astype(np.int64)
    if np.array_equal(a[:, None] * v[None, :] + b[:, None], lut.astype(np.int64)):
        return a, b
    return None


def quantize_input(img: Any, normalization: Any, quant: Any, *, channel_axis: int = -1, profile: str = "onnx",
                   backend: str | None = None) -> Any:
    """Normalize, then quantize with the model input's (scale, zero_point[, dtype]) — per-tensor or per-channel.

    uint8 images use the folded path: one lookup (or an exact integer affine map) per channel, equal to the two-step
    path by construction and proven by tests/vision/test_normalize.py. Float images take the two-step path.

    Example:
        >>> import numpy as np
        >>> quantize_input(np.array([[[0, 128, 255]]], dtype=np.uint8), "scale", (1 / 255, -128, "int8"))
        array([[[-128,    0,  127]]], dtype=int8)
    """
    b = get_backend(img, backend)
    x = b.asarray(img)
    nd = len(x.shape)
    ax = channel_axis % nd
    c = int(x.shape[ax])
    if b.dtype_name(x) != "uint8":
        from ..quant.primitives import quantize

        s, z, dt = _parse_quant(quant)
        y = normalize(x, normalization, channel_axis=channel_axis, backend=b.name)
        if s.size > 1 or z.size > 1:
            return quantize(y, np.broadcast_to(s, (c,)).copy(), np.broadcast_to(z, (c,)).copy(), dt, axis=ax,
                            profile=profile)
        return quantize(y, float(s[0]), int(z[0]), dt, profile=profile)
    lut, dt = input_lut(normalization, quant, c, profile=profile)
    bshape = [1] * nd
    bshape[ax] = c
    aff = _integer_affine(lut)
    lo, hi = (0, 255) if dt == "uint8" else (-128, 127) if dt == "int8" else (None, None)
    if aff is not None and np.all(aff[0] == 1) and lo is not None:
        # q = x + b exactly (e.g. int8 with scale 1/255, zp -128): an int16 add, no table
        xi = b.astype(x, "int16")
        out = xi + b.reshape(b.asarray(aff[1].astype(np.int16), "int16"), bshape)
        return b.astype(b.clip(out, b.const(lo, "int16"), b.const(hi, "int16")), dt)
    # general case: gather from the flattened [C, 256] table at c·256 + x
    flat = b.asarray(lut.reshape(-1))
    off = b.reshape(b.asarray((np.arange(c) * 256).astype(np.int32)), bshape)
    idx = b.astype(x, "int32") + off
    return b.reshape(b.take(flat, b.reshape(idx, (-1,)), axis=0), tuple(x.shape))
