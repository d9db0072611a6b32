"""Colour conversions: channel orders, grayscale (ITU-R 601-2 luma), and YUV 4:2:0 camera frames to RGB.

Grayscale of uint8 images is Pillow's fixed point ``L = (R·19595 + G·38470 + B·7471 + 2^15) >> 16`` (the
ITU-R 601-2 weights 0.299, 0.587, 0.114 in 16-bit fixed point) or OpenCV's ``(R·9798 + G·19235 + B·3735 + 2^14) >> 15``;
every intermediate is an integer below 2^24, so the float32 evaluation is exact on both backends.

YUV → RGB (BT.601): video range uses OpenCV's fixed point (``cvtColor`` COLOR_YUV2RGB_NV12/NV21/I420, 20-bit
coefficients, computed exactly in int32); full range (JPEG/JFIF) uses R = Y + 1.402·V', G = Y - 0.344136·U' -
0.714136·V', B = Y + 1.772·U' in float32, rounded half to even and clipped. Chroma is upsampled by pixel replication
(each 2×2 block shares its U, V), as OpenCV does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._backend import get_backend
from .._checks import check_choice
from .._errors import InputTypeError, ShapeError

__all__ = ["COLOR_ORDERS", "YUV_FORMATS", "convert_color", "to_gray", "yuv_to_rgb"]

COLOR_ORDERS = ("rgb", "bgr", "rgba", "bgra", "gray")
YUV_FORMATS = ("nv12", "nv21", "i420", "yv12")

# Pillow Convert.c L24 (16-bit); OpenCV 5's RGB2Gray<uchar> is 15-bit (found over all 2^24 colours: its 14-bit
# yuv_shift constants 4899/9617/1868 differ on 0.26 % of them).
_GRAY_FIXED = {"pil": ((19595, 38470, 7471), 16), "opencv": ((9798, 19235, 3735), 15)}


def to_gray(img: Any, *, order: str = "rgb", weights: str = "pil", backend: str | None = None) -> Any:
    """Grayscale [..., H, W, 1] from RGB/BGR(A) [..., H, W, C≥3] with the ITU-R 601-2 luma weights.

    Args:
        img: uint8 (exact fixed point) or float image(s) (0.299, 0.587, 0.114 in float32).
        order: "rgb" or "bgr" (the channel order of ``img``).
        weights: "pil" (Pillow ``convert("L")``) or "opencv" (``cv2.COLOR_RGB2GRAY``) fixed point.
        backend: None (follow ``img``), "numpy" or "mlx".

    Example:
        >>> import numpy as np
        >>> to_gray(np.array([[[255, 0, 0], [10, 200, 30]]], dtype=np.uint8))[..., 0]
        array([[ 76, 124]], dtype=uint8)
    """
    check_choice("order", order, ("rgb", "bgr"))
    check_choice("weights", weights, _GRAY_FIXED)
    b = get_backend(img, backend)
    x = b.asarray(img)
    if len(x.shape) < 3 or int(x.shape[-1]) < 3:
        raise ShapeError(f"to_gray needs [..., H, W, 3 or 4], got shape {tuple(x.shape)}")
    name = b.dtype_name(x)
    r, g, bl = (x[..., 0:1], x[..., 1:2], x[..., 2:3]) if order == "rgb" else (x[..., 2:3], x[..., 1:2], x[..., 0:1])
    if name == "uint8":
        (wr, wg, wb), shift = _GRAY_FIXED[weights]
        f = lambda v: b.const(v, "float32")  # noqa: E731
        acc = b.astype(r, "float32") * f(wr) + b.astype(g, "float32") * f(wg) + b.astype(bl, "float32") * f(wb)
        out = b.floor((acc + f(1 << (shift - 1))) / f(1 << shift))
        return b.float_to_int(out, 0, 255, "uint8")
    if name not in ("float32", "float16", "bfloat16", "float64"):
        raise InputTypeError(f"to_gray supports uint8 and float images, got {name}")
    xf = [b.astype(c, "float32") for c in (r, g, bl)]
    out = xf[0] * b.const(0.299, "float32") + xf[1] * b.const(0.587, "float32") + xf[2] * b.const(0.114, "float32")
    return out if name == "float32" else b.astype(out, name)


def convert_color(img: Any, src: str, dst: str, *, backend: str | None = None) -> Any:
    """Convert between "rgb", "bgr", "rgba", "bgra" and "gray" (HWC / NHWC; alpha added as opaque, or dropped).

    Example:
        >>> import numpy as np
        >>> convert_color(np.array([[[1, 2, 3]]], dtype=np.uint8), "rgb", "bgra").tolist()
        [[[3, 2, 1, 255]]]
    """
    check_choice("source colour", src, COLOR_ORDERS)
    check_choice("target colour", dst, COLOR_ORDERS)
    b = get_backend(img, backend)
    x = b.asarray(img)
    want = {"rgb": 3, "bgr": 3, "rgba": 4, "bgra": 4, "gray": 1}[src]
    if int(x.shape[-1]) != want:
        raise ShapeError(f"a {src.upper()} image has {want} channels; got shape {tuple(x.shape)}")
    if src == dst:  # a new array, never the caller's own (results are never views of the input)
        return b.asarray(np.array(b.to_numpy(x), copy=True)) if b.name == "numpy" else x + 0
    if dst == "gray":
        return to_gray(x, order="bgr" if src.startswith("bgr") else "rgb", backend=b.name)
    if src == "gray":
        rgb = b.concatenate([x, x, x], axis=-1)
    else:
        rgb = x[..., :3]
        if src.startswith("bgr"):
            rgb = b.take(rgb, b.asarray(np.array([2, 1, 0], dtype=np.int32)), axis=-1)
    if dst.startswith("bgr"):
        rgb = b.take(rgb, b.asarray(np.array([2, 1, 0], dtype=np.int32)), axis=-1)
    if dst in ("rgba", "bgra"):
        if src in ("rgba", "bgra"):
            alpha = x[..., 3:4]
        else:
            name = b.dtype_name(x)
            # opaque = the dtype's largest value for integer images (255 for uint8, 127 for int8, ...), 1.0 for floats
            full = int(np.iinfo(np.dtype(name)).max) if b.is_integer(x) else 1.0
            shape = (*tuple(x.shape[:-1]), 1)
            alpha = b.full(shape, full, name)
        rgb = b.concatenate([rgb, alpha], axis=-1)
    return rgb


# OpenCV color_yuv.simd.hpp, ITU-R BT.601 video range, 20-bit fixed point
_CV_SHIFT = 20
_CV_CY, _CV_CUB, _CV_CUG, _CV_CVG, _CV_CVR = 1220542, 2116026, -409993, -852492, 1673527


def _planes(b: Any, frame: Any, fmt: str, h: int, w: int) -> tuple[Any, Any, Any]:
    """Y [h, w], U [h/2, w/2], V [h/2, w/2] from an OpenCV-style [h·3/2, w] buffer."""
    y = frame[:h]
    chroma = b.reshape(frame[h:], (-1,))
    hc, wc = h // 2, w // 2
    if fmt in ("nv12", "nv21"):
        uv = b.reshape(chroma, (hc, wc, 2))
        u, v = (uv[..., 0], uv[..., 1]) if fmt == "nv12" else (uv[..., 1], uv[..., 0])
    else:
        p0 = b.reshape(chroma[: hc * wc], (hc, wc))
        p1 = b.reshape(chroma[hc * wc:], (hc, wc))
        u, v = (p0, p1) if fmt == "i420" else (p1, p0)
    return y, u, v


def yuv_to_rgb(frame: Any, fmt: str = "nv12", *, size: tuple[int, int] | None = None, full_range: bool = False,
               order: str = "rgb", backend: str | None = None) -> Any:
    """Convert a YUV 4:2:0 camera frame (NV12, NV21, I420 or YV12; BT.601) to RGB (or BGR) uint8 [H, W, 3].

    Args:
        frame: uint8 buffer, [H·3/2, W] as OpenCV lays it out, or flat [H·W·3/2] with ``size``.
        fmt: "nv12" (Y then interleaved U, V), "nv21" (V, U), "i420" (Y, U plane, V plane), "yv12" (Y, V, U).
        size: (H, W) when ``frame`` is flat.
        full_range: False: video range (Y 16-235, OpenCV's COLOR_YUV2RGB_*); True: full range (JPEG/JFIF).
        order: "rgb" or "bgr".
        backend: None (follow ``frame``), "numpy" or "mlx".

    Raises:
        ShapeError: odd sizes or a buffer of the wrong length.

    Example:
        >>> import numpy as np
        >>> f = np.array([[16, 235], [16, 235], [128, 128]], dtype=np.uint8)  # 2x2 frame, neutral chroma
        >>> yuv_to_rgb(f, "nv12")[:, :, 0].tolist()
        [[0, 255], [0, 255]]
    """
    check_choice("fmt", fmt, YUV_FORMATS)
    check_choice("order", order, ("rgb", "bgr"))
    b = get_backend(frame, backend)
    x = b.asarray(frame)
    if b.dtype_name(x) != "uint8":
        raise InputTypeError(f"YUV frames must be uint8, got {b.dtype_name(x)}")
    if size is not None:
        h, w = int(size[0]), int(size[1])
        if len(x.shape) != 1 or int(x.shape[0]) != h * w * 3 // 2:
            raise ShapeError(f"a {h}x{w} {fmt} frame has {h * w * 3 // 2} bytes, got shape {tuple(x.shape)}")
        x = b.reshape(x, (h * 3 // 2, w))
    else:
        if len(x.shape) != 2 or int(x.shape[0]) % 3:
            raise ShapeError(f"a {fmt} frame is [H*3/2, W] (or flat with size=), got shape {tuple(x.shape)}")
        h, w = int(x.shape[0]) * 2 // 3, int(x.shape[1])
    if h % 2 or w % 2 or h == 0 or w == 0:
        raise ShapeError(f"YUV 4:2:0 frames need even, non-zero height and width, got {h}x{w}")
    y, u, v = _planes(b, x, fmt, h, w)
    # replicate chroma over 2x2 blocks
    up = lambda p: b.repeat(b.repeat(p, 2, axis=0), 2, axis=1)  # noqa: E731
    u, v = up(u), up(v)
    if not full_range:
        i = lambda a: b.astype(a, "int32")  # noqa: E731
        c = lambda k: b.const(k, "int32")  # noqa: E731
        yy = b.maximum(i(y) - c(16), c(0)) * c(_CV_CY)
        uu, vv = i(u) - c(128), i(v) - c(128)
        half = c(1 << (_CV_SHIFT - 1))
        r = b.right_shift(yy + half + c(_CV_CVR) * vv, c(_CV_SHIFT))
        g = b.right_shift(yy + half + c(_CV_CVG) * vv + c(_CV_CUG) * uu, c(_CV_SHIFT))
        bl = b.right_shift(yy + half + c(_CV_CUB) * uu, c(_CV_SHIFT))
        chans = [b.astype(b.clip(t, c(0), c(255)), "uint8") for t in (r, g, bl)]
    else:
        f = lambda a: b.astype(a, "float32")  # noqa: E731
        k = lambda v_: b.const(v_, "float32")  # noqa: E731
        yf, uf, vf = f(y), f(u) - k(128.0), f(v) - k(128.0)
        r = yf + k(1.402) * vf
        g = yf - k(0.344136) * uf - k(0.714136) * vf
        bl = yf + k(1.772) * uf
        chans = [b.float_to_int(b.round(t), 0, 255, "uint8") for t in (r, g, bl)]
    if order == "bgr":
        chans = chans[::-1]
    return b.stack(chans, axis=-1)
