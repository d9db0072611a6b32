"""Semantic segmentation decoding: class-id masks, confidence, palettes (VOC bit formula, Cityscapes, ADE20K)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._backend import Backend, to_numpy
from .._checks import check_choice
from .._errors import InvalidArgumentError, NonFiniteError, ShapeError
from .classification import softmax
from .diagnostics import dequantize_output
from .labels import _load, get_labels
from .results import Segmentation

__all__ = ["PALETTES", "SEG_KINDS", "overlay", "palette", "segmentation", "voc_palette"]

SEG_KINDS = ("logits", "probabilities", "argmax", "sigmoid")
PALETTES = ("voc", "cityscapes", "ade20k")

# Cityscapes train-id colours (cityscapesScripts labels.py), 19 classes.
_CITYSCAPES = np.array(
    [[128, 64, 128], [244, 35, 232], [70, 70, 70], [102, 102, 156], [190, 153, 153], [153, 153, 153],
     [250, 170, 30], [220, 220, 0], [107, 142, 35], [152, 251, 152], [70, 130, 180], [220, 20, 60], [255, 0, 0],
     [0, 0, 142], [0, 0, 70], [0, 60, 100], [0, 80, 100], [0, 0, 230], [119, 11, 32]], np.uint8)


def voc_palette(n: int = 256) -> np.ndarray:
    """PASCAL VOC colour map: class c's bits (b0, b1, b2) go to R, G, B from bit 7 down, 3 bits per step.

    Example:
        >>> voc_palette(4).tolist()
        [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0]]
    """
    out = np.zeros((n, 3), np.uint8)
    for i in range(n):
        r = g = bl = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            bl |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        out[i] = (r, g, bl)
    return out


def palette(name: str = "voc", n: int = 256) -> np.ndarray:
    """``[max(n, len), 3]`` uint8 colours of a named palette (``voc``, ``cityscapes``, ``ade20k``).

    Classes beyond a fixed palette's length get VOC colours (so every id has a colour).

    Raises:
        InvalidArgumentError: an unknown palette name.

    Example:
        >>> palette("cityscapes", 19)[:2].tolist()
        [[128, 64, 128], [244, 35, 232]]
    """
    check_choice("palette", name, PALETTES)
    if name == "voc":
        return voc_palette(max(n, 1))
    if name == "cityscapes":
        base = _CITYSCAPES
    else:
        base = np.array([[int(v) for v in line.split()] for line in _load("ade20k_palette")], np.uint8)
    if n <= base.shape[0]:
        return base
    return np.concatenate([base, voc_palette(n)[base.shape[0]:]])


def _argmax_low(b: Backend, x: Any, axis: int) -> Any:
    """argmax with ties to the lower index, independent of the backend's tie rule."""
    m = b.max(x, axis=axis, keepdims=True)
    c = int(x.shape[axis])
    shape = [1] * len(x.shape)
    shape[axis] = c
    ar = b.reshape(b.arange(c, dtype="int32"), shape)
    return b.min(b.where(x == m, ar, b.const(c, "int32")), axis=axis)


def segmentation(
    output: Any,
    *,
    layout: str = "nchw",
    kind: str = "logits",
    labels: Any = None,
    quant: Any = None,
    backend: str | None = None,
) -> Any:
    """Decode a segmentation output into a :class:`Segmentation` (a list of them for a batch of more than 1).

    * ``logits``: mask = argmax over classes (ties: lower index), confidence = max softmax probability.
    * ``probabilities``: mask = argmax, confidence = the max probability.
    * ``sigmoid``: one channel: p = sigmoid(x), mask = 1 where p > 0.5, decided exactly as x > 0 (x = 0 is a tie →
      class 0), confidence
      = p or 1 - p; several channels: independent sigmoids, mask = argmax, confidence = that sigmoid.
    * ``argmax``: the output already holds class ids ``[B, H, W]`` / ``[H, W]`` (layout ignored); no confidence.

    Args:
        output: ``[B, C, H, W]`` / ``[C, H, W]`` (``nchw``) or ``[B, H, W, C]`` / ``[H, W, C]`` (``nhwc``).
        layout: ``"nchw"`` or ``"nhwc"``.
        kind: one of :data:`SEG_KINDS`.
        labels: label set name or list (must cover the classes), or None.
        quant: ``(scale, zero_point)`` of a quantized output.
        backend: force ``"numpy"`` or ``"mlx"``.

    Returns:
        A :class:`Segmentation` for one image, ``list[Segmentation]`` for a batch of more than one.

    Example:
        >>> import numpy as np
        >>> x = np.array([[[0.0, 2.0]], [[1.0, 2.0]]], np.float32)      # C=2, H=1, W=2
        >>> s = segmentation(x)
        >>> s.mask.tolist(), s.class_counts()
        ([[1, 0]], {0: 1, 1: 1})
    """
    check_choice("layout", layout, ("nchw", "nhwc"))
    check_choice("kind", kind, SEG_KINDS)
    if kind == "argmax":
        b, x = _ids(output, backend)
        if len(x.shape) == 2:
            x = x[None]
        if len(x.shape) == 4 and int(x.shape[1 if layout == "nchw" else 3]) == 1:
            x = b.squeeze(x, 1 if layout == "nchw" else 3)
        if len(x.shape) != 3:
            raise ShapeError(f"argmax segmentation output has shape {tuple(output.shape)}, expected (B, H, W)")
        n = int(to_numpy(x).max()) + 1 if int(np.prod(x.shape)) else 0
        lab = _labels(labels, n, allow_more=True)
        segs = [Segmentation(x[i], None, lab, max(n, len(lab) if lab else 0)) for i in range(int(x.shape[0]))]
        return segs[0] if len(segs) == 1 else segs
    b, x = dequantize_output(output, quant, name="segmentation output", backend=backend)
    if len(x.shape) == 3:
        x = x[None]
    if len(x.shape) != 4:
        raise ShapeError(f"segmentation output has shape {tuple(x.shape)}, expected 4-D ({layout}) or 3-D")
    d1, d2, d3 = (int(v) for v in x.shape[1:])
    # square spatial axes first and a shorter last axis: an NHWC output (TFLite DeepLab [1, 257, 257, 21]);
    # 32 px: smaller maps are not image-sized
    if layout == "nchw" and d1 == d2 >= 32 and d3 < d1:
        import warnings

        from .diagnostics import DecodeWarning

        warnings.warn(f"segmentation output {tuple(x.shape)} looks NHWC ([B, H, W, C] with H = W = {d1}, C = {d3}) "
                      "but is read as NCHW; pass layout='nhwc' if so", DecodeWarning, stacklevel=2)
    if layout == "nhwc":
        x = b.transpose(x, (0, 3, 1, 2))
    c = int(x.shape[1])
    if np.isnan(to_numpy(x)).any():
        raise NonFiniteError("segmentation output contains NaN")
    if c == 1 and kind != "sigmoid":
        raise InvalidArgumentError(
            f"segmentation output {tuple(output.shape)} has a single channel: use kind='sigmoid' (binary mask), "
            "or check layout= (nchw / nhwc)"
        )
    if kind == "sigmoid" and c == 1:
        p = b.sigmoid(x[:, 0])
        half = b.const(0.5, "float32")
        # sigmoid(x) > 0.5 decided exactly on the logit (x > 0): float32 sigmoid rounds tiny logits to 0.5 and
        # MLX / NumPy may round differently there. x == 0 (p = 0.5) is a tie: lower index (0).
        pos = x[:, 0] > b.const(0.0, "float32")
        mask = b.astype(pos, "int32")
        confd = b.where(pos, p, b.const(1.0, "float32") - p)
        del half
        ncls = 2
    else:
        if kind == "logits":
            p = softmax(b, x, axis=1)
        elif kind == "sigmoid":
            p = b.sigmoid(x)
        else:
            p = x
        mask = _argmax_low(b, x if kind != "probabilities" else p, axis=1)
        confd = b.max(p, axis=1)
        ncls = c
    lab = _labels(labels, ncls)
    segs = [Segmentation(mask[i], confd[i], lab, ncls) for i in range(int(x.shape[0]))]
    return segs[0] if len(segs) == 1 else segs


def _ids(output: Any, backend: str | None) -> tuple[Backend, Any]:
    from .._backend import get_backend

    b = get_backend(output, backend)
    x = b.asarray(output)
    if b.is_floating(x):
        xn = to_numpy(x)
        if not np.isfinite(xn).all() or (xn != np.round(xn)).any():
            raise InvalidArgumentError("kind='argmax' needs integer class ids; got non-integral floats")
        x = b.astype(x, "int32")
    elif b.dtype_name(x) != "int32":
        x = b.astype(x, "int32")
    if int(np.prod(x.shape)) and int(to_numpy(x).min()) < 0:
        raise InvalidArgumentError("kind='argmax' class ids must be >= 0")
    return b, x


def _labels(labels: Any, n: int, allow_more: bool = False) -> tuple[str, ...] | None:
    if labels is None:
        return None
    lab = get_labels(labels) if isinstance(labels, str) else tuple(str(v) for v in labels)
    if n == len(lab) + 1:  # one more class than labels: a background class at 0 (ADE20K 150 + 1, ...)
        return ("background", *lab)
    if len(lab) < n or (len(lab) != n and not allow_more):
        raise ShapeError(f"segmentation output has {n} classes but labels have {len(lab)} (expected {n}, or {n - 1} "
                         "plus a background class at 0)")
    return lab


def overlay(image: Any, seg: Any, *, alpha: float = 0.5, palette: Any = "voc", background: int | None = 0) -> Any:
    """Blend a colourized mask over an image; pixels of class ``background`` stay unchanged. Returns a PIL image.

    ``out = round((1 - alpha) * image + alpha * colour)`` per channel (uint8). The mask is resized to the image
    with nearest-neighbour sampling when sizes differ.

    Args:
        image: PIL image or ``[H, W, 3]`` uint8 array.
        seg: a :class:`Segmentation` or an ``[h, w]`` array of class ids.
        alpha: opacity of the colours in [0, 1].
        palette: palette name or ``[C, 3]`` uint8 colours.
        background: class id left unpainted (None: paint every class).

    Returns:
        A PIL RGB image.

    Raises:
        InvalidArgumentError: ``alpha`` outside [0, 1].

    Example:
        >>> import numpy as np
        >>> img = overlay(np.full((1, 2, 3), 100, np.uint8), np.array([[0, 1]]), alpha=0.5)
        >>> np.asarray(img).tolist()
        [[[100, 100, 100], [114, 50, 50]]]
    """
    from PIL import Image

    if not 0.0 <= float(alpha) <= 1.0:
        raise InvalidArgumentError(f"alpha must be in [0, 1], got {alpha!r}")
    img = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, np.uint8))
    arr = np.asarray(img.convert("RGB"), np.float32)
    mask = to_numpy(seg.mask if isinstance(seg, Segmentation) else seg).astype(np.int64)
    if mask.shape != arr.shape[:2]:
        mi = Image.fromarray(mask.astype(np.int32), mode="I").resize((arr.shape[1], arr.shape[0]), Image.NEAREST)
        mask = np.asarray(mi).astype(np.int64)
    n = int(mask.max()) + 1 if mask.size else 1
    pal = globals()["palette"](palette, n) if isinstance(palette, str) else np.asarray(palette, np.uint8)
    col = pal[np.clip(mask, 0, pal.shape[0] - 1)].astype(np.float32)
    a = np.float32(alpha)
    blend = np.round((np.float32(1) - a) * arr + a * col)
    if background is not None:
        blend = np.where((mask == background)[..., None], arr, blend)
    return Image.fromarray(np.clip(blend, 0, 255).astype(np.uint8))
