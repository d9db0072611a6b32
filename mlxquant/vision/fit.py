"""Fit strategies: stretch, contain, cover, Ultralytics letterbox, torchvision shorter-side-then-crop, MediaPipe.

Each returns ``(image, Transform)``; the transform maps model-input coordinates back to the original image exactly.
Sizes are (height, width). Images are [H, W], [H, W, C] or a batch [N, H, W, C] of same-size images (one transform).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._backend import get_backend
from .._checks import check_choice
from .._errors import InvalidArgumentError, ShapeError
from .resize import AxisTable, PilImage, _as_hw, _image_pixels, apply_tables, resize
from .transforms import Transform

__all__ = ["FIT_STRATEGIES", "center_crop", "fit", "letterbox", "letterbox_params", "pad_image"]

FIT_STRATEGIES = (
    "stretch", "contain", "cover", "letterbox", "shorter_side_crop", "shorter_side", "longest_side", "mediapipe",
)


def _hw(img: Any) -> tuple[int, int]:
    nd = len(img.shape)
    if nd not in (2, 3, 4):
        raise ShapeError(f"image has shape {tuple(img.shape)}, expected (H, W), (H, W, C) or (N, H, W, C)")
    ax = 0 if nd == 2 else nd - 3
    h, w = int(img.shape[ax]), int(img.shape[ax + 1])
    if h == 0 or w == 0:
        raise ShapeError(f"image of shape {tuple(img.shape)} is empty")
    return h, w


def _color_vector(color: Any, channels: int) -> list[float]:
    if isinstance(color, (int, float, np.integer, np.floating)):
        return [float(color)] * channels
    vals = [float(c) for c in color]
    if len(vals) == channels:
        return vals
    if channels == 1 and len(set(vals)) == 1:
        return vals[:1]
    raise InvalidArgumentError(f"pad color has {len(vals)} values but the image has {channels} channels: give one "
                               f"value or {channels}")


def pad_image(img: Any, top: int, bottom: int, left: int, right: int, color: Any = 0, *,
              backend: str | None = None) -> Any:
    """Pad [H, W], [H, W, C] or [N, H, W, C] images with a constant colour (scalar or one value per channel).

    Example:
        >>> import numpy as np
        >>> pad_image(np.ones((1, 2), dtype=np.uint8), 1, 0, 0, 1, 9)
        array([[9, 9, 9],
               [1, 1, 9]], dtype=uint8)
    """
    b = get_backend(img, backend)
    x = b.asarray(img)
    if min(top, bottom, left, right) < 0:
        raise InvalidArgumentError(f"padding must be >= 0, got top, bottom, left, right = {top, bottom, left, right}")
    squeeze = len(x.shape) == 2
    if squeeze:
        x = b.expand_dims(x, -1)
    nd = len(x.shape)
    ay, ax = nd - 3, nd - 2
    c = int(x.shape[-1])
    dt = b.dtype_name(x)
    colv = np.asarray(_color_vector(color, c), dtype=np.float64)
    if dt.startswith(("int", "uint")):
        info = np.iinfo(np.dtype(dt))
        if not (np.all(colv == np.round(colv)) and np.all(colv >= info.min) and np.all(colv <= info.max)):
            raise InvalidArgumentError(
                f"pad colour {color!r} is not representable in a {dt} image: give integers in [{info.min}, {info.max}]"
            )
    col = b.asarray(colv, dt)
    if top or bottom or left or right:
        h, w = int(x.shape[ay]), int(x.shape[ax])

        def block(rows: int, cols: int) -> Any:
            shape = list(x.shape)
            shape[ay], shape[ax] = rows, cols
            return b.broadcast_to(col, tuple(shape))

        if left or right:
            parts = ([block(h, left)] if left else []) + [x] + ([block(h, right)] if right else [])
            x = b.concatenate(parts, axis=ax)
        w2 = w + left + right
        if top or bottom:
            parts = ([block(top, w2)] if top else []) + [x] + ([block(bottom, w2)] if bottom else [])
            x = b.concatenate(parts, axis=ay)
    return b.squeeze(x, -1) if squeeze else x


def _crop(b: Any, x: Any, top: int, left: int, h: int, w: int) -> Any:
    nd = len(x.shape)
    ay = 0 if nd == 2 else nd - 3
    idx = [slice(None)] * nd
    idx[ay] = slice(top, top + h)
    idx[ay + 1] = slice(left, left + w)
    return x[tuple(idx)]


def center_crop(img: Any, size: int | Sequence[int], *, backend: str | None = None) -> tuple[Any, tuple[int, int]]:
    """torchvision ``center_crop``: top = int(round((H - h) / 2)), left likewise; zero-pads first if too small.

    Returns:
        (cropped image, (top, left)) where negative offsets mean padding was added.

    Example:
        >>> import numpy as np
        >>> center_crop(np.arange(25, dtype=np.uint8).reshape(5, 5), 2)[1]
        (2, 2)
    """
    ch, cw = _as_hw(size)
    b = get_backend(img, backend)
    x = b.asarray(img)
    h, w = _hw(x)
    pt = pl = 0
    if ch > h or cw > w:
        # torchvision pads (crop - size) // 2 before and (crop - size + 1) // 2 after, with 0
        pl, pr = ((cw - w) // 2, (cw - w + 1) // 2) if cw > w else (0, 0)
        pt, pb = ((ch - h) // 2, (ch - h + 1) // 2) if ch > h else (0, 0)
        x = pad_image(x, pt, pb, pl, pr, 0, backend=b.name)
        h, w = _hw(x)
    # Python round() is half-to-even, as torchvision's int(round(...)).
    top = round((h - ch) / 2.0)
    left = round((w - cw) / 2.0)
    return _crop(b, x, top, left, ch, cw), (top - pt, left - pl)


def letterbox_params(shape: tuple[int, int], new_shape: tuple[int, int], *, auto: bool = False, scaleup: bool = True,
                     center: bool = True, stride: int = 32) -> tuple[float, tuple[int, int], tuple[int, int, int, int]]:
    """Ultralytics LetterBox arithmetic: (ratio, (new_h, new_w), (top, bottom, left, right)).

    Example:
        >>> letterbox_params((1080, 1920), (640, 640))
        (0.3333333333333333, (360, 640), (140, 140, 0, 0))
        >>> letterbox_params((427, 640), (640, 640))[2]
        (106, 107, 0, 0)
    """
    h, w = shape
    H, W = new_shape
    r = min(H / h, W / w)
    if not scaleup:
        r = min(r, 1.0)
    # Python round() (half to even) as ultralytics, floored at 1 pixel.
    nw, nh = max(round(w * r), 1), max(round(h * r), 1)
    dw, dh = W - nw, H - nh
    if auto:
        if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 1:
            raise InvalidArgumentError(f"auto=True pads to a multiple of stride, which must be a positive integer; "
                                       f"got stride={stride!r}")
        dw, dh = dw % stride, dh % stride
    if center:
        dw /= 2
        dh /= 2
    # the ±0.1 biases are Ultralytics': an odd padding puts the extra pixel at the bottom / right.
    top, bottom = (round(dh - 0.1), round(dh + 0.1)) if center else (0, round(dh + 0.1))
    left, right = (round(dw - 0.1), round(dw + 0.1)) if center else (0, round(dw + 0.1))
    return r, (nh, nw), (int(top), int(bottom), int(left), int(right))


def letterbox(
    img: Any,
    new_shape: int | Sequence[int] = (640, 640),
    *,
    color: Any = (114, 114, 114),
    auto: bool = False,
    scaleup: bool = True,
    center: bool = True,
    stride: int = 32,
    method: str = "bilinear",
    antialias: bool = False,
    backend: str | None = None,
) -> tuple[Any, Transform]:
    """Ultralytics ``LetterBox``: scale to fit keeping the aspect ratio, then pad with ``color``.

    The size and padding arithmetic is Ultralytics' exactly (:func:`letterbox_params`); the resize defaults to
    OpenCV's INTER_LINEAR (``antialias=False``), as Ultralytics calls ``cv2.resize``.

    Args:
        img: [H, W], [H, W, C] or [N, H, W, C] image(s).
        new_shape: (height, width) of the result (an int for a square).
        color: padding value, one per channel or a scalar.
        auto: pad only to a multiple of ``stride`` (minimum rectangle).
        scaleup: allow enlarging (False: only shrink).
        center: split the padding on both sides (False: pad only bottom and right).
        stride: the stride for ``auto``.
        method: resize method (see :func:`resize`).
        antialias: see :func:`resize`.
        backend: None (follow ``img``), "numpy" or "mlx".

    Returns:
        (image, transform).

    Example:
        >>> import numpy as np
        >>> out, t = letterbox(np.zeros((1080, 1920, 3), dtype=np.uint8))
        >>> out.shape, t.pad, t.scale_y
        ((640, 640, 3), (140, 140, 0, 0), 0.3333333333333333)
    """
    H, W = _as_hw(new_shape, "new_shape")
    b = get_backend(img, backend)
    x = _as_image(b, img)
    h, w = _hw(x)
    _, (nh, nw), (top, bottom, left, right) = letterbox_params((h, w), (H, W), auto=auto, scaleup=scaleup,
                                                               center=center, stride=stride)
    if (nh, nw) != (h, w):
        x = resize(x, (nh, nw), method=method, antialias=antialias, backend=b.name)
    x = pad_image(_image_pixels(x), top, bottom, left, right, color, backend=b.name)
    oh, ow = _hw(x)
    t = Transform((h, w), (oh, ow), nw / w, nh / h, float(left), float(top), (nh, nw), (top, bottom, left, right),
                  (0, 0), "letterbox")
    return x, t


def _as_image(b: Any, img: Any) -> Any:
    """``b.asarray(img)``; a :class:`PilImage` on NumPy is kept as it is (see :func:`fit`)."""
    if isinstance(img, PilImage):
        return img if b.name == "numpy" else b.asarray(img.to_array())
    return b.asarray(img)


def _mediapipe_roi(h: int, w: int, H: int, W: int) -> tuple[float, float, float, float]:
    """MediaPipe PadRoi(keep_aspect_ratio=True) of the full-image ROI, in float32 as MediaPipe computes it:
    (x0, y0, roi_w, roi_h)."""
    f = np.float32
    tensor_aspect = f(H) / f(W)
    roi_aspect = f(h) / f(w)
    if tensor_aspect > roi_aspect:
        new_w, new_h = f(w), f(w) * tensor_aspect
    else:
        new_w, new_h = f(h) / tensor_aspect, f(h)
    cx, cy = f(w) / f(2), f(h) / f(2)
    return float(cx - new_w / f(2)), float(cy - new_h / f(2)), float(new_w), float(new_h)


# OpenCV 3.x/4.x warpAffine / warpPerspective round source coordinates to 1/INTER_TAB_SIZE = 1/32 pixel; MediaPipe
# links those. OpenCV 5.0 (the peer installed for tests) samples at the exact coordinate instead.
_MEDIAPIPE_COORD_STEPS = 32


def _warp_table(in_size: int, out_size: int, start: float, length: float,
                coord_steps: int | None = _MEDIAPIPE_COORD_STEPS) -> AxisTable:
    """OpenCV warpAffine/warpPerspective INTER_LINEAR along one axis: src = d·(length/out) + start (asymmetric),
    coordinates rounded to 1/coord_steps pixel (None: exact), taps outside the image weigh 0 (BORDER_CONSTANT 0)."""
    d = np.arange(out_size, dtype=np.float64)
    src = d * (length / out_size) + start
    if coord_steps:
        src = np.floor(src * coord_steps + 0.5) / coord_steps
    x0 = np.floor(src)
    f = src - x0
    idx = np.stack([x0, x0 + 1], axis=1).astype(np.int64)
    w = np.stack([1.0 - f, f], axis=1)
    w = np.where((idx < 0) | (idx >= in_size), 0.0, w)
    return AxisTable(np.clip(idx, 0, in_size - 1), w, in_size)


def _mediapipe(b: Any, x: Any, H: int, W: int) -> tuple[Any, Transform]:
    h, w = _hw(x)
    x0, y0, rw, rh = _mediapipe_roi(h, w, H, W)
    squeeze = len(x.shape) == 2
    xx = b.expand_dims(x, -1) if squeeze else x
    out = apply_tables(xx, _warp_table(h, H, y0, rh), _warp_table(w, W, x0, rw), backend=b.name)
    if squeeze:
        out = b.squeeze(out, -1)
    sx, sy = W / rw, H / rh
    pad_l, pad_t = -x0 * sx, -y0 * sy
    t = Transform((h, w), (H, W), sx, sy, pad_l, pad_t, None, (pad_t, pad_t, pad_l, pad_l), (0, 0), "mediapipe")
    return out, t


def _detr_size(h: int, w: int, size: int, max_size: int | None) -> tuple[int, int]:
    """DETR datasets/transforms.py get_size_with_aspect_ratio, verbatim arithmetic (Python floats, int() truncation)."""
    if max_size is not None:
        mn, mx = float(min(w, h)), float(max(w, h))
        if mx / mn * size > max_size:
            size = round(max_size * mn / mx)
    if (w <= h and w == size) or (h <= w and h == size):
        return h, w
    if w < h:
        return int(size * h / w), size
    return size, int(size * w / h)


def fit(
    img: Any,
    size: int | Sequence[int],
    *,
    strategy: str = "stretch",
    method: str = "bilinear",
    antialias: bool | None = None,
    color: Any = None,
    center: bool = True,
    resize_size: int | None = None,
    max_size: int | None = None,
    backend: str | None = None,
) -> tuple[Any, Transform]:
    """Bring an image to the model-input ``size`` by one of the common strategies.

    Strategies:
        * "stretch": resize to ``size`` ignoring the aspect ratio.
        * "contain": scale to fit inside (``r = min(H/h, W/w)``, sides ``max(round(side·r), 1)``), pad with ``color``
          (default 0), ``(H - nh) // 2`` on top (``center=False``: bottom/right only).
        * "cover": scale to cover (``r = max``), then centre-crop (torchvision's ``int(round((nh - H) / 2))``).
        * "letterbox": Ultralytics LetterBox (:func:`letterbox`, pad colour default 114).
        * "shorter_side_crop": torchvision's classification preset: shorter side to ``resize_size`` (default
          ``int(crop / 0.875)``, 256 for 224), long side ``int(resize_size · long / short)``, centre crop ``size``.
        * "shorter_side": DETR's ``get_size_with_aspect_ratio``: shorter side to ``size[0]`` (reduced to
          ``int(round(max_size · short / long))`` when the long side would exceed ``max_size``), long side
          ``int(size · long / short)``; no crop, so the result's size varies with the image.
        * "longest_side": Segment Anything's ``ResizeLongestSide``: ``scale = max(H, W) / max(h, w)``, sides
          ``int(side · scale + 0.5)`` (half up), padded bottom/right to ``size`` with ``color``.
        * "mediapipe": MediaPipe ImageToTensorCalculator (OpenCV converter) with keep_aspect_ratio: fractional
          symmetric padding, asymmetric bilinear sampling at 1/32-pixel steps, zero border.

    Args:
        img: [H, W], [H, W, C] or [N, H, W, C] image(s), NumPy or MLX.
        size: model input (height, width).
        strategy: one of the above.
        method: resize method (see :func:`resize`).
        antialias: default True (Pillow-like) except "letterbox" (False, OpenCV-like, as Ultralytics).
        color: padding colour for "contain" / "letterbox".
        center: centre the padding ("contain", "letterbox").
        resize_size: shorter-side size for "shorter_side_crop".
        max_size: long-side cap for "shorter_side".
        backend: None (follow ``img``), "numpy" or "mlx".

    Returns:
        (image, transform).

    Raises:
        InvalidArgumentError: unknown strategy or bad size.

    Example:
        >>> import numpy as np
        >>> out, t = fit(np.zeros((300, 400, 3), dtype=np.uint8), (224, 224), strategy="shorter_side_crop")
        >>> out.shape, t.resized_size, t.crop
        ((224, 224, 3), (256, 341), (16, 58))
    """
    check_choice("strategy", strategy, FIT_STRATEGIES)
    H, W = _as_hw(size)
    b = get_backend(img, backend)
    # a PilImage (preprocess on NumPy) stays one until its first resize (Pillow's fast path takes it as it is); every
    # other step takes its array (_image_pixels)
    x = _as_image(b, img)
    h, w = _hw(x)
    if strategy == "letterbox":
        return letterbox(x, (H, W), color=114 if color is None else color, center=center, method=method,
                         antialias=False if antialias is None else antialias, backend=b.name)
    if strategy == "mediapipe":
        return _mediapipe(b, _image_pixels(x), H, W)
    if strategy == "shorter_side":
        nh, nw = _detr_size(h, w, H, max_size)
        out = resize(x, (nh, nw), method=method, antialias=True if antialias is None else antialias,
                     backend=b.name) if (nh, nw) != (h, w) else _image_pixels(x)
        return out, Transform((h, w), (nh, nw), nw / w, nh / h, 0.0, 0.0, (nh, nw), (0, 0, 0, 0), (0, 0), strategy)
    aa = True if antialias is None else antialias
    rkw = dict(method=method, antialias=aa, backend=b.name)
    if strategy == "stretch":
        out = resize(x, (H, W), **rkw) if (H, W) != (h, w) else _image_pixels(x)
        return out, Transform((h, w), (H, W), W / w, H / h, 0.0, 0.0, (H, W), (0, 0, 0, 0), (0, 0), strategy)
    if strategy in ("contain", "longest_side"):
        if strategy == "contain":
            r = min(H / h, W / w)
            nh, nw = max(round(h * r), 1), max(round(w * r), 1)
        else:
            # segment_anything/utils/transforms.py get_preprocess_shape: int(x + 0.5), padding bottom/right
            r = max(H, W) * 1.0 / max(h, w)
            nh, nw = min(max(int(h * r + 0.5), 1), H), min(max(int(w * r + 0.5), 1), W)
            center = False
        out = resize(x, (nh, nw), **rkw) if (nh, nw) != (h, w) else _image_pixels(x)
        top, left = ((H - nh) // 2, (W - nw) // 2) if center else (0, 0)
        pad = (top, H - nh - top, left, W - nw - left)
        out = pad_image(out, *pad, 0 if color is None else color, backend=b.name)
        return out, Transform((h, w), (H, W), nw / w, nh / h, float(left), float(top), (nh, nw), pad, (0, 0),
                              strategy)
    if strategy == "cover":
        r = max(H / h, W / w)
        nh, nw = max(round(h * r), H), max(round(w * r), W)
    else:  # shorter_side_crop (torchvision _compute_resized_output_size + center_crop)
        rs = int(resize_size) if resize_size is not None else int(min(H, W) / 0.875)
        if rs < 1:
            raise InvalidArgumentError(f"resize_size must be >= 1, got {resize_size!r}")
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = rs, int(rs * long / short)
        nw, nh = (new_short, new_long) if w <= h else (new_long, new_short)
    out = resize(x, (nh, nw), **rkw) if (nh, nw) != (h, w) else _image_pixels(x)
    out, (top, left) = center_crop(out, (H, W), backend=b.name)
    pad = (max(-top, 0), max(H - nh + top, 0) if top < 0 else 0,
           max(-left, 0), max(W - nw + left, 0) if left < 0 else 0)
    return out, Transform((h, w), (H, W), nw / w, nh / h, float(-left), float(-top), (nh, nw), pad,
                          (max(top, 0), max(left, 0)), strategy)


