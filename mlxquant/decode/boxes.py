"""Box formats, areas and IoU, written once against the backend shim.

Boxes are float arrays of shape ``[N, 4]``. Formats:

* ``"xyxy"``: (x1, y1, x2, y2), x2 >= x1 and y2 >= y1 (mlxquant's canonical format, model-input pixels);
* ``"xywh"``: (x1, y1, w, h) (OpenCV ``Rect``, COCO json);
* ``"cxcywh"``: (cx, cy, w, h) (YOLO heads);
* ``"yxyx"``: (y1, x1, y2, x2) (TensorFlow / TFLite SSD).

The IoU formula (docs/spec/decode.md §1) is the one torchvision and OpenCV use, in float32:
``inter = max(min(x2a, x2b) - max(x1a, x1b), 0) * max(min(y2a, y2b) - max(y1a, y1b), 0)``,
``union = (area_a + area_b) - inter``, ``iou = inter / union`` and ``iou = 0`` when ``union == 0`` (two zero-area
boxes: torchvision yields NaN there, which never suppresses either, so the decisions agree).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._backend import Backend, get_backend
from .._checks import check_choice
from .._errors import InputTypeError, InvalidArgumentError, NonFiniteError, ShapeError

__all__ = ["BOX_FORMATS", "box_area", "box_convert", "box_iou", "validate_boxes"]

BOX_FORMATS = ("xyxy", "xywh", "cxcywh", "yxyx")


def _cols(b: Backend, x: Any) -> tuple[Any, Any, Any, Any]:
    return x[..., 0], x[..., 1], x[..., 2], x[..., 3]


def box_convert(boxes: Any, in_fmt: str, out_fmt: str = "xyxy", *, backend: str | None = None) -> Any:
    """Convert boxes between ``xyxy``, ``xywh``, ``cxcywh`` and ``yxyx`` (last axis of size 4).

    ``cxcywh → xyxy`` is ``x1 = cx - w / 2`` (the half width is exact in binary floating point), as Ultralytics'
    ``xywh2xyxy``.

    Args:
        boxes: float array ``[..., 4]`` (NumPy or MLX).
        in_fmt: one of :data:`BOX_FORMATS`.
        out_fmt: one of :data:`BOX_FORMATS`.
        backend: force ``"numpy"`` or ``"mlx"``.

    Returns:
        The converted boxes, same backend, shape and dtype.

    Raises:
        InvalidArgumentError: unknown format.
        ShapeError: the last axis is not 4.

    Example:
        >>> import numpy as np
        >>> box_convert(np.array([[10., 20., 4., 6.]], np.float32), "cxcywh", "xyxy")
        array([[ 8., 17., 12., 23.]], dtype=float32)
    """
    check_choice("in_fmt", in_fmt, BOX_FORMATS)
    check_choice("out_fmt", out_fmt, BOX_FORMATS)
    b = get_backend(boxes, backend)
    x = b.asarray(boxes)
    if len(x.shape) < 1 or x.shape[-1] != 4:
        raise ShapeError(f"boxes has shape {tuple(x.shape)}, expected (..., 4)")
    if in_fmt == out_fmt:
        return x
    a0, a1, a2, a3 = _cols(b, x)
    dt = b.dtype_name(x)
    half = b.const(0.5, dt) if b.is_floating(x) else None
    # to xyxy
    if in_fmt == "xyxy":
        x1, y1, x2, y2 = a0, a1, a2, a3
    elif in_fmt == "yxyx":
        x1, y1, x2, y2 = a1, a0, a3, a2
    elif in_fmt == "xywh":
        x1, y1, x2, y2 = a0, a1, a0 + a2, a1 + a3
    else:  # cxcywh
        if half is None:
            raise InputTypeError("cxcywh conversion needs float boxes, got " + dt)
        dw, dh = a2 * half, a3 * half  # w / 2 exactly (power-of-two scaling)
        x1, y1, x2, y2 = a0 - dw, a1 - dh, a0 + dw, a1 + dh
    if out_fmt == "xyxy":
        cols = (x1, y1, x2, y2)
    elif out_fmt == "yxyx":
        cols = (y1, x1, y2, x2)
    elif out_fmt == "xywh":
        cols = (x1, y1, x2 - x1, y2 - y1)
    else:
        if half is None:
            raise InputTypeError("cxcywh conversion needs float boxes, got " + dt)
        cols = ((x1 + x2) * half, (y1 + y2) * half, x2 - x1, y2 - y1)
    return b.stack(list(cols), axis=-1)


def box_area(boxes: Any, *, backend: str | None = None) -> Any:
    """Area ``(x2 - x1) * (y2 - y1)`` of xyxy boxes ``[..., 4]``.

    Example:
        >>> import numpy as np
        >>> box_area(np.array([[0., 0., 2., 3.]], np.float32))
        array([6.], dtype=float32)
    """
    b = get_backend(boxes, backend)
    x = b.asarray(boxes)
    return (x[..., 2] - x[..., 0]) * (x[..., 3] - x[..., 1])


def _pair_iou(b: Backend, ax1: Any, ay1: Any, ax2: Any, ay2: Any, aa: Any, bx1: Any, by1: Any, bx2: Any, by2: Any,
              ba: Any) -> Any:
    """Elementwise (broadcast) IoU with the exact operation order of docs/spec/decode.md §1."""
    zero = b.const(0.0, "float32")
    one = b.const(1.0, "float32")
    w = b.maximum(b.minimum(ax2, bx2) - b.maximum(ax1, bx1), zero)
    h = b.maximum(b.minimum(ay2, by2) - b.maximum(ay1, by1), zero)
    inter = w * h
    union = (aa + ba) - inter
    pos = union > zero
    # union == 0 only for two zero-area boxes: define IoU = 0 there (never suppresses; torchvision gives NaN).
    return b.where(pos, inter / b.where(pos, union, one), zero)


def box_iou(boxes1: Any, boxes2: Any, *, backend: str | None = None) -> Any:
    """Pairwise IoU matrix ``[N, M]`` of xyxy boxes (float32), formula of docs/spec/decode.md §1.

    Args:
        boxes1: ``[N, 4]`` xyxy.
        boxes2: ``[M, 4]`` xyxy.
        backend: force ``"numpy"`` or ``"mlx"``.

    Returns:
        float32 ``[N, M]``; 0 where both boxes have zero area.

    Example:
        >>> import numpy as np
        >>> a = np.array([[0., 0., 2., 2.]], np.float32)
        >>> box_iou(a, np.array([[1., 0., 3., 2.], [5., 5., 6., 6.]], np.float32))
        array([[0.33333334, 0.        ]], dtype=float32)
    """
    b = get_backend(boxes1, backend)
    p = b.asarray(boxes1, "float32")
    q = b.asarray(boxes2, "float32")
    for name, x in (("boxes1", p), ("boxes2", q)):
        if len(x.shape) != 2 or x.shape[1] != 4:
            raise ShapeError(f"{name} has shape {tuple(x.shape)}, expected (N, 4)")
    pa = (p[:, 2] - p[:, 0]) * (p[:, 3] - p[:, 1])
    qa = (q[:, 2] - q[:, 0]) * (q[:, 3] - q[:, 1])
    return _pair_iou(b, p[:, 0:1], p[:, 1:2], p[:, 2:3], p[:, 3:4], pa[:, None],
                     q[None, :, 0], q[None, :, 1], q[None, :, 2], q[None, :, 3], qa[None, :])


def validate_boxes(boxes_np: np.ndarray, name: str = "boxes") -> None:
    """Raise unless ``boxes_np`` is a finite ``[N, 4]`` xyxy array with x2 >= x1 and y2 >= y1 (NumPy view)."""
    if boxes_np.ndim != 2 or boxes_np.shape[1] != 4:
        raise ShapeError(f"{name} has shape {tuple(boxes_np.shape)}, expected (N, 4) xyxy boxes")
    if boxes_np.size == 0:
        return
    if not np.isfinite(boxes_np).all():
        bad = int(np.argwhere(~np.isfinite(boxes_np))[0, 0])
        raise NonFiniteError(f"{name}[{bad}] = {boxes_np[bad].tolist()} is not finite; boxes must be finite xyxy")
    inv = (boxes_np[:, 2] < boxes_np[:, 0]) | (boxes_np[:, 3] < boxes_np[:, 1])
    if inv.any():
        bad = int(np.argmax(inv))
        raise InvalidArgumentError(
            f"{name}[{bad}] = {boxes_np[bad].tolist()} has x2 < x1 or y2 < y1 ({int(inv.sum())} such boxes); "
            "boxes must be xyxy (x1, y1, x2, y2) — convert xywh / cxcywh / yxyx boxes with mq.decode.box_convert"
        )
