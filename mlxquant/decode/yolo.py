"""YOLO-family decoding with the Ultralytics post-processing semantics (REFERENCE §8, docs/spec/decode.md §4).

Per image (Ultralytics ``non_max_suppression``):

1. YOLOv8/11: candidate if ``max_c cls[c] > conf`` (strict). YOLOv5: candidate if ``obj > conf``, then
   ``cls *= obj``.
2. ``cxcywh → xyxy`` (``x1 = cx - w / 2``).
3. Best class (first maximum on ties) with ``score > conf``; or with ``multi_label`` every (box, class) pair with
   ``cls > conf``, ordered by box then class.
4. ``classes`` filter; if more than ``max_nms`` remain, the ``max_nms`` best by score (ties: lower index).
5. Greedy NMS at ``iou`` — class-aware exactly per class (Ultralytics offsets boxes by ``class * 7680`` instead,
   which shifts IoU in float32 by up to ~6e-3; identical decisions whenever that shift does not cross the
   threshold), or class-agnostic with ``agnostic=True``.
6. The first ``max_det`` in descending score order.

End-to-end outputs (YOLOv10 / ``end2end``, ``[B, K, 6]`` = x1, y1, x2, y2, score, class): ``score > conf``,
the first ``max_det`` in the model's order, then the ``classes`` filter (as Ultralytics; no NMS).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._backend import Backend, to_numpy
from .._checks import check_choice
from .._errors import InvalidArgumentError, NonFiniteError, ShapeError
from .diagnostics import check_score_collapse, dequantize_output
from .labels import get_labels
from .nms import _check_max_det, _check_threshold, _desc_order, _nms_indices
from .results import Detections

__all__ = ["YOLO_FORMATS", "detect_yolo_format", "yolo"]

YOLO_FORMATS = ("auto", "yolov8", "yolov8_transposed", "yolov5", "yolov10", "end2end")
_ALIASES = {"yolov11": "yolov8", "yolo11": "yolov8", "yolov9": "yolov8", "yolov8-seg": "yolov8"}


def detect_yolo_format(shape: tuple[int, ...], num_classes: int | None, num_masks: int = 0) -> str:
    """The layout of a YOLO output of ``shape`` ``[B, A, B']``; raises when it cannot be told apart.

    Rules: ``[B, K, 6]`` with ``num_classes + 4 + num_masks != 6`` → end-to-end; ``A < B'`` → YOLOv8 ``[B, 4+C, N]``;
    ``A > B'`` → ``[B, N, D]`` where ``D == 4 + C (+ masks)`` is YOLOv8 transposed and ``D == 5 + C`` YOLOv5 —
    which needs the class count (from ``labels`` or ``nc``) when both are possible.
    """
    if len(shape) != 3:
        raise ShapeError(f"YOLO output has shape {shape}, expected (B, 4+C, N), (B, N, 4+C), (B, N, 5+C) or (B, K, 6)")
    _, a, d = shape
    if d == 6 and a > 6 and (num_classes is None or num_classes + 4 + num_masks != 6):
        return "end2end"
    if a < d:
        return "yolov8"
    if a == d:
        raise InvalidArgumentError(
            f"YOLO output shape {shape} is square: cannot tell channels from anchors; pass format='yolov8' "
            "([B, 4+C, N]) or format='yolov8_transposed' ([B, N, 4+C])"
        )
    if num_classes is None:
        raise InvalidArgumentError(
            f"YOLO output shape {shape} is [B, N, D]: D = {d} may be 4 + {d - 4} classes (YOLOv8 transposed) or "
            f"5 + {d - 5} classes (YOLOv5 with objectness); pass labels / nc, or format='yolov8_transposed' / 'yolov5'"
        )
    if d == 4 + num_classes + num_masks:
        return "yolov8_transposed"
    if d == 5 + num_classes + num_masks:
        return "yolov5"
    raise ShapeError(
        f"YOLO output shape {shape}: last axis {d} matches neither 4 + {num_classes} classes (+{num_masks} mask "
        f"coefficients) nor 5 + {num_classes}; check labels / nc, or pass format= explicitly"
    )


def yolo(
    output: Any,
    *,
    format: str = "auto",
    conf: float = 0.25,
    iou: float = 0.45,
    max_det: int = 300,
    agnostic: bool = False,
    multi_label: bool = False,
    classes: Any = None,
    max_nms: int = 30000,
    labels: Any = "coco80",
    nc: int | None = None,
    quant: Any = None,
    protos: Any = None,
    protos_quant: Any = None,
    masks: str = "proto",
    input_size: tuple[int, int] | None = None,
    backend: str | None = None,
) -> list[Detections]:
    """Decode YOLO outputs into one :class:`Detections` per batch item (boxes xyxy in model-input pixels).

    Args:
        output: ``[B, 4+C, N]`` (YOLOv8/11 raw), ``[B, N, 4+C]`` (transposed), ``[B, N, 5+C]`` (YOLOv5, objectness)
            or ``[B, K, 6]`` (end-to-end, YOLOv10); an unbatched ``[A, D]`` is treated as batch 1. Segmentation
            models append mask coefficients after the classes (pass ``protos``).
        format: ``"auto"`` or one of :data:`YOLO_FORMATS`.
        conf: confidence threshold in [0, 1] (strict ``>``).
        iou: NMS IoU threshold in [0, 1] (suppress when IoU > iou).
        max_det: detections kept per image.
        agnostic: class-agnostic NMS.
        multi_label: one detection per (box, class) pair above ``conf``.
        classes: keep only these class ids.
        max_nms: at most this many candidates enter NMS (best scores).
        labels: label set name / list / None (also fixes the class count for ``"auto"``).
        nc: the number of classes, when labels do not say it.
        quant: ``(scale, zero_point)`` of a quantized output (its own parameters).
        protos: ``[B, M, h, w]`` mask prototypes of a segmentation model.
        protos_quant: ``(scale, zero_point)`` of quantized prototypes.
        masks: ``"proto"``: float32 probabilities at prototype resolution, zero outside the box (Ultralytics
            ``process_mask(upsample=False)`` before its threshold); ``"input"``: bool masks at the model-input
            resolution, the cropped mask logits upsampled bilinearly (half-pixel centres, as
            ``F.interpolate(align_corners=False)``) and thresholded at logit > 0 (Ultralytics' predict path,
            ``process_mask(upsample=True)``).
        input_size: (height, width) of the model input for the masks; default 4 x the prototype size (stride 4).
        backend: force ``"numpy"`` or ``"mlx"``.

    Returns:
        ``list[Detections]``; with ``protos`` each has ``masks``: ``[K, h, w]`` float32 probabilities
        (``masks="proto"``) or ``[K, H, W]`` bool (``masks="input"``).

    Raises:
        ShapeError / InvalidArgumentError: unknown or ambiguous layout, class-count mismatch, thresholds outside
            [0, 1]. NonFiniteError: NaN in the output.

    Example:
        >>> import numpy as np
        >>> out = np.zeros((1, 6, 8400), np.float32)          # 4 box rows + 2 classes, 8400 anchors
        >>> out[0, :4, 7] = [100, 100, 40, 20]; out[0, 5, 7] = 0.9
        >>> det = yolo(out, labels=["cat", "dog"])[0]
        >>> det.boxes.tolist(), det.labels, [round(float(s), 2) for s in det.scores]
        ([[80.0, 90.0, 120.0, 110.0]], ('dog',), [0.9])
    """
    fmt = _ALIASES.get(format, format)
    check_choice("format", fmt, YOLO_FORMATS)
    check_choice("masks", masks, ("proto", "input"))
    conf = _check_threshold("conf", conf)
    iou = _check_threshold("iou", iou)
    md = _check_max_det(max_det)
    if isinstance(max_nms, bool) or not isinstance(max_nms, (int, np.integer)) or max_nms < 1:
        raise InvalidArgumentError(f"max_nms must be an int >= 1, got {max_nms!r}")
    b, x = dequantize_output(output, quant, name="YOLO output", backend=backend)
    if len(x.shape) == 2:
        x = x[None]
    shape = tuple(int(d) for d in x.shape)
    pr = None
    nm = 0
    if protos is not None:
        _, pr = dequantize_output(protos, protos_quant, name="YOLO mask prototypes", backend=b.name)
        if len(pr.shape) == 3:
            pr = pr[None]
        if len(pr.shape) != 4 or int(pr.shape[0]) != shape[0]:
            raise ShapeError(f"protos has shape {tuple(pr.shape)}, expected ({shape[0]}, M, h, w)")
        nm = int(pr.shape[1])
        if input_size is None:
            input_size = (4 * int(pr.shape[2]), 4 * int(pr.shape[3]))  # YOLOv8-seg protos: stride 4
        if len(input_size) != 2 or min(int(v) for v in input_size) < 1:
            raise InvalidArgumentError(f"input_size must be (height, width) >= 1, got {input_size!r}")
    n_cls = nc
    lab_fixed = None
    if n_cls is None and labels is not None:
        lab_fixed = get_labels(labels) if isinstance(labels, str) else tuple(labels)
        n_cls = len(lab_fixed)
    if fmt == "auto":
        fmt = detect_yolo_format(shape, n_cls, nm)
    if np.isnan(to_numpy(x)).any():
        raise NonFiniteError("YOLO output contains NaN; check the model input (NaN pixels?) and the export")
    if classes is not None:
        classes = np.asarray(list(classes) if not np.isscalar(classes) else [classes], dtype=np.int64)
    if fmt == "end2end" or fmt == "yolov10":
        if shape[2] != 6:
            raise ShapeError(f"end-to-end YOLO output has shape {shape}, expected (B, K, 6)")
        lab = None if labels is None else (lab_fixed if lab_fixed is not None else tuple(labels))
        return [_end2end(b, x[i], conf, classes, md, lab) for i in range(shape[0])]
    # channels-first view [B, D, N]
    xc = x if fmt == "yolov8" else b.transpose(x, (0, 2, 1))
    d = int(xc.shape[1])
    extra = 5 if fmt == "yolov5" else 4
    c = d - extra - nm
    if c < 1:
        raise ShapeError(f"YOLO output {shape} ({fmt}) leaves {c} classes after {extra} box/obj rows and {nm} masks")
    if nc is not None and nc != c:
        raise ShapeError(f"YOLO output {shape} ({fmt}) has {c} classes after {extra} box/obj rows and {nm} mask "
                         f"coefficients, but nc={nc}")
    lab = None
    if labels is not None:
        lab = lab_fixed if lab_fixed is not None else (get_labels(labels) if isinstance(labels, str)
                                                       else tuple(labels))
        if len(lab) != c:
            kind = "shorter than" if len(lab) < c else "longer than"
            raise ShapeError(f"labels are {kind} the classes: the YOLO output {shape} ({fmt}) has {c} classes, the "
                             f"label set has {len(lab)} labels; pass matching labels, labels=None, or check format=")
    if quant is not None:
        cls_all = xc[:, extra:extra + c, :]
        check_score_collapse(cls_all, xc[:, :4, :], conf, name="YOLO output")
    return [
        _decode_one(b, xc[i], fmt, c, nm, None if pr is None else pr[i], conf, iou, md, agnostic, multi_label,
                    classes, int(max_nms), lab, masks, input_size)
        for i in range(shape[0])
    ]


def _labels_for(lab: Any, ids: np.ndarray) -> tuple[str, ...]:
    return tuple(lab[int(k)] if lab is not None and 0 <= int(k) < len(lab) else str(int(k)) for k in ids)


def _end2end(b: Backend, p: Any, conf: float, classes: Any, md: int | None, lab: Any) -> Detections:
    pn = to_numpy(p)
    cls = pn[:, 5]
    # Ultralytics: pred[pred[:, 4] > conf][:max_det], then the classes filter (max_det counts rows before it)
    idx = np.flatnonzero(pn[:, 4] > np.float32(conf))
    if md is not None:
        idx = idx[:md]
    if classes is not None:
        idx = idx[np.isin(cls[idx], classes)]
    ids = np.round(cls[idx]).astype(np.int32) if idx.size else np.zeros(0, np.int32)
    ii = b.asarray(idx.astype(np.int32))
    sel = b.take(p, ii, axis=0)
    return Detections(sel[:, :4], sel[:, 4], b.asarray(ids), _labels_for(lab, ids))


def _decode_one(b: Backend, xc: Any, fmt: str, c: int, nm: int, proto: Any, conf: float, iou: float, md: int | None,
                agnostic: bool, multi_label: bool, classes: Any, max_nms: int, lab: Any, mask_mode: str = "proto",
                input_size: Any = None) -> Detections:
    extra = 5 if fmt == "yolov5" else 4
    # Ultralytics compares float32 scores with the Python float conf in float32 (torch casts the scalar to the
    # tensor dtype): score > float32(conf).
    tc = b.const(conf, "float32")
    cls = xc[extra:extra + c, :]  # [C, N]
    if fmt == "yolov5":
        obj = xc[4, :]
        cand = to_numpy(obj > tc)
    else:
        cand = to_numpy(b.max(cls, axis=0) > tc)
    idx = np.flatnonzero(cand)  # API boundary: the candidate count is data-dependent
    empty = _empty(b, nm, proto, mask_mode, input_size)
    if idx.size == 0:
        return empty
    ii = b.asarray(idx.astype(np.int32))
    sub = b.take(xc, ii, axis=1)  # [D, K]
    scls = sub[extra:extra + c, :]
    if fmt == "yolov5":
        scls = scls * sub[4:5, :]
    cx, cy, w, h = sub[0], sub[1], sub[2], sub[3]
    half = b.const(0.5, "float32")
    dw, dh = w * half, h * half  # Ultralytics xywh2xyxy: x - w / 2 (exact halving)
    boxes = b.stack([cx - dw, cy - dh, cx + dw, cy + dh], axis=-1)  # [K, 4]
    bn = to_numpy(boxes)
    if (bn[:, 2] < bn[:, 0]).any() or (bn[:, 3] < bn[:, 1]).any():
        raise InvalidArgumentError(
            "YOLO output has candidate boxes with negative width or height: the box rows are not (cx, cy, w, h) — "
            "check format= (yolov8 / yolov8_transposed / yolov5 / end2end)"
        )
    sc_np = to_numpy(scls).T  # [K, C]
    if multi_label and c > 1:
        i_np, j_np = np.nonzero(sc_np > np.float32(conf))  # ordered by box, then class
        scores_np = sc_np[i_np, j_np]
    else:
        j_np = np.argmax(sc_np, axis=1)  # first maximum on ties (torch.max)
        scores_np = sc_np[np.arange(sc_np.shape[0]), j_np]
        i_np = np.flatnonzero(scores_np > np.float32(conf))
        j_np, scores_np = j_np[i_np], scores_np[i_np]
    if classes is not None:
        f = np.isin(j_np, classes)
        i_np, j_np, scores_np = i_np[f], j_np[f], scores_np[f]
    if i_np.size == 0:
        return empty
    if i_np.size > max_nms:
        o = np.asarray(to_numpy(_desc_order(b, b.asarray(scores_np))))[:max_nms]
        i_np, j_np, scores_np = i_np[o], j_np[o], scores_np[o]
    bsel = b.take(boxes, b.asarray(i_np.astype(np.int32)), axis=0)
    ssel = b.asarray(scores_np.astype(np.float32))
    csel = b.asarray(j_np.astype(np.int32))
    keep = _nms_indices(bsel, ssel, None if agnostic else csel, iou, b)
    if md is not None:
        keep = keep[:md]
    kn = np.asarray(to_numpy(keep)).astype(np.int64)
    ids = j_np[kn].astype(np.int32)
    out_boxes = b.take(bsel, keep, axis=0)
    masks = None
    if proto is not None:
        coef = b.take(b.take(sub, b.asarray(i_np[kn].astype(np.int32)), axis=1), b.arange(extra + c, extra + c + nm),
                      axis=0)  # [nm, K]
        masks = _process_masks(b, proto, coef, out_boxes, mask_mode, input_size)
    return Detections(out_boxes, b.take(ssel, keep, axis=0), b.asarray(ids), _labels_for(lab, ids), masks=masks)


def _empty(b: Backend, nm: int, proto: Any, mask_mode: str = "proto", input_size: Any = None) -> Detections:
    masks = None
    if proto is not None:
        if mask_mode == "input":
            masks = b.zeros((0, int(input_size[0]), int(input_size[1])), "bool")
        else:
            masks = b.zeros((0, int(proto.shape[1]), int(proto.shape[2])), "float32")
    return Detections(b.zeros((0, 4), "float32"), b.zeros((0,), "float32"), b.zeros((0,), "int32"), (), masks=masks)


def _linear_taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Half-pixel linear interpolation taps (PyTorch upsample, align_corners=False), float32 arithmetic:
    ``scale = f32(n_in / n_out)``, ``src = max(scale·(o + 0.5) - 0.5, 0)``, ``i0 = trunc(src)``,
    ``i1 = i0 + (i0 < n_in - 1)``, ``l1 = src - i0``, ``l0 = 1 - l1``."""
    f = np.float32
    scale = f(f(n_in) / f(n_out))
    src = np.maximum(scale * (np.arange(n_out, dtype=f) + f(0.5)) - f(0.5), f(0))
    i0 = src.astype(np.int64)  # src >= 0: truncation == floor
    i1 = i0 + (i0 < n_in - 1)
    l1 = (src - i0.astype(f)).astype(f)
    return i0, i1, (f(1) - l1).astype(f), l1


def _upsample_bilinear(b: Backend, x: Any, out_h: int, out_w: int) -> Any:
    """Bilinear resize of ``x`` [K, h, w] to [K, out_h, out_w] (half-pixel centres, no antialias)."""
    h, w = int(x.shape[1]), int(x.shape[2])
    r0, r1, a0, a1 = _linear_taps(h, out_h)
    c0, c1, w0, w1 = _linear_taps(w, out_w)
    xw = b.take(x, b.asarray(c0.astype(np.int32)), axis=2) * b.asarray(w0)[None, None, :] + \
        b.take(x, b.asarray(c1.astype(np.int32)), axis=2) * b.asarray(w1)[None, None, :]
    return b.take(xw, b.asarray(r0.astype(np.int32)), axis=1) * b.asarray(a0)[None, :, None] + \
        b.take(xw, b.asarray(r1.astype(np.int32)), axis=1) * b.asarray(a1)[None, :, None]


def _process_masks(b: Backend, proto: Any, coef: Any, boxes: Any, mask_mode: str = "proto",
                   input_size: Any = None) -> Any:
    """Ultralytics ``process_mask``: ``coefᵀ @ protos`` per detection, zero outside its box scaled to prototype
    resolution (``crop_mask``: keep ``r >= x1 & r < x2 & c >= y1 & c < y2``); then either the sigmoid at prototype
    resolution, or the bilinear upsampling to the input size thresholded at logit > 0."""
    m, h, w = int(proto.shape[0]), int(proto.shape[1]), int(proto.shape[2])
    k = int(coef.shape[1])
    ih, iw = (4 * h, 4 * w) if input_size is None else (int(input_size[0]), int(input_size[1]))
    logits = b.reshape(b.matmul(b.transpose(coef), b.reshape(proto, (m, h * w))), (k, h, w))
    # Ultralytics scales the boxes by mw / iw and mh / ih (float32 multiply; 1/4 exactly for YOLOv8-seg at 640).
    sx = b.const(w / iw, "float32")
    sy = b.const(h / ih, "float32")
    r = b.astype(b.arange(w, dtype="int32"), "float32")[None, None, :]
    cc = b.astype(b.arange(h, dtype="int32"), "float32")[None, :, None]
    x1, x2 = boxes[:, 0, None, None] * sx, boxes[:, 2, None, None] * sx
    y1, y2 = boxes[:, 1, None, None] * sy, boxes[:, 3, None, None] * sy
    inside = b.logical_and(b.logical_and(r >= x1, r < x2), b.logical_and(cc >= y1, cc < y2))
    zero = b.const(0.0, "float32")
    if mask_mode == "input":
        return _upsample_bilinear(b, b.where(inside, logits, zero), ih, iw) > zero
    return b.where(inside, b.sigmoid(logits), zero)
