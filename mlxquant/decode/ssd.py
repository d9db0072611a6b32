"""SSD decoding: MediaPipe SsdAnchorsCalculator anchors, the TF box coder and TFLite_Detection_PostProcess outputs.

Anchors are float32 ``[N, 4]`` in the TFLite anchor layout ``(y_center, x_center, h, w)``, normalized to [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._backend import get_backend, to_numpy
from .._errors import InvalidArgumentError, ShapeError
from .diagnostics import dequantize_output
from .labels import get_labels
from .nms import _check_max_det, _check_threshold, _nms_numpy_fast
from .results import Detections

__all__ = ["ANCHOR_PRESETS", "decode_boxes", "ssd", "ssd_anchors", "tflite_detection_postprocess"]

#: SsdAnchorsCalculator options of MediaPipe graphs (face_detection_short_range / full_range, ssd_mobilenet 300).
ANCHOR_PRESETS: dict[str, dict[str, Any]] = {
    "blazeface_short": dict(num_layers=4, min_scale=0.1484375, max_scale=0.75, input_size_height=128,
                            input_size_width=128, anchor_offset_x=0.5, anchor_offset_y=0.5, strides=(8, 16, 16, 16),
                            aspect_ratios=(1.0,), fixed_anchor_size=True, interpolated_scale_aspect_ratio=1.0),
    "blazeface_full": dict(num_layers=1, min_scale=0.1484375, max_scale=0.75, input_size_height=192,
                           input_size_width=192, anchor_offset_x=0.5, anchor_offset_y=0.5, strides=(4,),
                           aspect_ratios=(1.0,), fixed_anchor_size=True, interpolated_scale_aspect_ratio=0.0),
    "ssd_mobilenet_300": dict(num_layers=6, min_scale=0.2, max_scale=0.95, input_size_height=300,
                              input_size_width=300, anchor_offset_x=0.5, anchor_offset_y=0.5,
                              strides=(16, 32, 64, 128, 256, 512), aspect_ratios=(1.0, 2.0, 0.5, 3.0, 0.3333),
                              reduce_boxes_in_lowest_layer=True),
}


def _calc_scale(min_scale: float, max_scale: float, stride_index: int, num_strides: int) -> np.float32:
    # CalculateScale of ssd_anchors_calculator.cc: float args, the division in double (the `* 1.0`).
    if num_strides == 1:
        return np.float32((np.float32(min_scale) + np.float32(max_scale)) * np.float32(0.5))
    return np.float32(float(np.float32(min_scale)) + float(np.float32(max_scale) - np.float32(min_scale)) * 1.0
                      * stride_index / float(np.float32(num_strides) - np.float32(1.0)))


def ssd_anchors(
    preset: str | None = None,
    *,
    num_layers: int | None = None,
    min_scale: float = 0.0,
    max_scale: float = 0.0,
    input_size_height: int = 0,
    input_size_width: int = 0,
    anchor_offset_x: float = 0.5,
    anchor_offset_y: float = 0.5,
    strides: Sequence[int] = (),
    aspect_ratios: Sequence[float] = (),
    feature_map_height: Sequence[int] = (),
    feature_map_width: Sequence[int] = (),
    reduce_boxes_in_lowest_layer: bool = False,
    interpolated_scale_aspect_ratio: float = 1.0,
    fixed_anchor_size: bool = False,
    multiscale_anchor_generation: bool = False,
    min_level: int = 3,
    max_level: int = 7,
    anchor_scale: float = 4.0,
    scales_per_octave: int = 2,
    normalize_coordinates: bool = True,
) -> np.ndarray:
    """Anchors exactly as MediaPipe's ``SsdAnchorsCalculator`` (same options, same float32 arithmetic and order).

    Args:
        preset: ``"blazeface_short"`` (896 anchors), ``"blazeface_full"`` (2304) or ``"ssd_mobilenet_300"``;
            keyword options override the preset.
        num_layers, min_scale, max_scale, input_size_height, input_size_width, anchor_offset_x, anchor_offset_y,
        strides, aspect_ratios, feature_map_height, feature_map_width, reduce_boxes_in_lowest_layer,
        interpolated_scale_aspect_ratio, fixed_anchor_size, multiscale_anchor_generation, min_level, max_level,
        anchor_scale, scales_per_octave, normalize_coordinates: the ``SsdAnchorsCalculatorOptions`` fields.

    Returns:
        float32 ``[N, 4]``: ``(y_center, x_center, h, w)`` per anchor (TFLite anchor layout).

    Raises:
        InvalidArgumentError: neither strides nor feature map sizes, or inconsistent layer counts.

    Example:
        >>> a = ssd_anchors("blazeface_short")
        >>> a.shape, a[0].tolist()
        ((896, 4), [0.03125, 0.03125, 1.0, 1.0])
    """
    opts: dict[str, Any] = {}
    if preset is not None:
        if preset not in ANCHOR_PRESETS:
            raise InvalidArgumentError(f"unknown anchor preset {preset!r}; valid presets are: "
                                       f"{', '.join(ANCHOR_PRESETS)}")
        opts.update(ANCHOR_PRESETS[preset])
    given = dict(num_layers=num_layers, min_scale=min_scale, max_scale=max_scale, input_size_height=input_size_height,
                 input_size_width=input_size_width, anchor_offset_x=anchor_offset_x, anchor_offset_y=anchor_offset_y,
                 strides=tuple(strides), aspect_ratios=tuple(aspect_ratios),
                 feature_map_height=tuple(feature_map_height), feature_map_width=tuple(feature_map_width),
                 reduce_boxes_in_lowest_layer=reduce_boxes_in_lowest_layer,
                 interpolated_scale_aspect_ratio=interpolated_scale_aspect_ratio, fixed_anchor_size=fixed_anchor_size)
    defaults = dict(num_layers=None, min_scale=0.0, max_scale=0.0, input_size_height=0, input_size_width=0,
                    anchor_offset_x=0.5, anchor_offset_y=0.5, strides=(), aspect_ratios=(), feature_map_height=(),
                    feature_map_width=(), reduce_boxes_in_lowest_layer=False, interpolated_scale_aspect_ratio=1.0,
                    fixed_anchor_size=False)
    for k, v in given.items():
        if preset is None or v != defaults[k]:
            opts[k] = v
    for k, v in defaults.items():
        opts.setdefault(k, v)
    o = opts
    strides_, fmh, fmw = list(o["strides"]), list(o["feature_map_height"]), list(o["feature_map_width"])
    if not fmh and not strides_:
        raise InvalidArgumentError("Both feature map shape and strides are missing. Must provide either one.")
    if multiscale_anchor_generation:
        return _multiscale(o, min_level, max_level, anchor_scale, scales_per_octave, normalize_coordinates)
    nl = o["num_layers"] if o["num_layers"] is not None else (len(fmh) or len(strides_))
    if fmh:
        if len(fmh) != nl or len(fmw) != nl:
            raise InvalidArgumentError(f"feature_map_height/width need {nl} entries, got {len(fmh)} / {len(fmw)}")
    elif len(strides_) != nl:
        raise InvalidArgumentError(f"strides has {len(strides_)} entries, num_layers is {nl}")
    f32 = np.float32
    out: list[tuple[float, float, float, float]] = []
    layer_id = 0
    while layer_id < nl:
        ars: list[float] = []
        scales: list[float] = []
        last = layer_id
        while last < len(strides_) and strides_[last] == strides_[layer_id]:
            scale = _calc_scale(o["min_scale"], o["max_scale"], last, len(strides_))
            if last == 0 and o["reduce_boxes_in_lowest_layer"]:
                ars += [f32(1.0), f32(2.0), f32(0.5)]
                scales += [f32(0.1), scale, scale]
            else:
                for ar in o["aspect_ratios"]:
                    ars.append(f32(ar))
                    scales.append(scale)
                if o["interpolated_scale_aspect_ratio"] > 0.0:
                    nxt = f32(1.0) if last == len(strides_) - 1 else _calc_scale(
                        o["min_scale"], o["max_scale"], last + 1, len(strides_))
                    scales.append(f32(math.sqrt(float(f32(scale * nxt)))))
                    ars.append(f32(o["interpolated_scale_aspect_ratio"]))
            last += 1
        if not strides_:  # feature maps only: one layer at a time
            last = layer_id + 1
            for ar in o["aspect_ratios"]:
                ars.append(f32(ar))
                scales.append(_calc_scale(o["min_scale"], o["max_scale"], layer_id, nl))
        hs = [f32(s / f32(math.sqrt(float(a)))) for s, a in zip(scales, ars, strict=True)]
        ws = [f32(s * f32(math.sqrt(float(a)))) for s, a in zip(scales, ars, strict=True)]
        if fmh:
            fh, fw = fmh[layer_id], fmw[layer_id]
        else:
            st = strides_[layer_id]
            fh = (math.ceil(float(f32(1.0) * f32(o["input_size_height"]) / f32(st))))
            fw = (math.ceil(float(f32(1.0) * f32(o["input_size_width"]) / f32(st))))
        ox, oy = f32(o["anchor_offset_x"]), f32(o["anchor_offset_y"])
        for y in range(fh):
            for x in range(fw):
                xc = f32(f32(f32(x) + ox) * f32(1.0)) / f32(fw)
                yc = f32(f32(f32(y) + oy) * f32(1.0)) / f32(fh)
                for a in range(len(hs)):
                    if o["fixed_anchor_size"]:
                        out.append((yc, xc, 1.0, 1.0))
                    else:
                        out.append((yc, xc, hs[a], ws[a]))
        layer_id = last
    return np.asarray(out, np.float32).reshape(-1, 4)


def _multiscale(o: dict[str, Any], min_level: int, max_level: int, anchor_scale: float, spo: int,
                normalize: bool) -> np.ndarray:
    out = []
    ih, iw = int(o["input_size_height"]), int(o["input_size_width"])
    for li, level in enumerate(range(min_level, max_level + 1)):
        stride = float(2.0**level)
        base = stride * anchor_scale
        scales = [2.0 ** (i / spo) for i in range(spo)]
        if o["feature_map_height"]:
            fh, fw = o["feature_map_height"][li], o["feature_map_width"][li]
        else:
            st = o["strides"][li]
            fh, fw = math.ceil(ih / st), math.ceil(iw / st)
        den = 2**level
        offy = stride / 2.0 if (ih % den == 0 or ih == 1) else 0.0
        offx = stride / 2.0 if (iw % den == 0 or iw == 1) else 0.0
        for y in range(fh):
            for x in range(fw):
                for ar in o["aspect_ratios"]:
                    r = math.sqrt(ar)
                    for s in scales:
                        h, w = s * base / r, s * r * base
                        yc, xc = y * stride + offy, x * stride + offx
                        if normalize:
                            h, w, yc, xc = h / ih, w / iw, yc / ih, xc / iw
                        out.append((yc, xc, h, w))
    return np.asarray(out, np.float32).reshape(-1, 4)


def decode_boxes(raw_boxes: Any, anchors: Any, *, scales: Sequence[float] = (10.0, 10.0, 5.0, 5.0),
                 backend: str | None = None) -> Any:
    """TF box coder (TFLite ``DecodeCenterSizeBoxes``): (ty, tx, th, tw) → normalized (ymin, xmin, ymax, xmax).

    ``yc = ty / y_scale * ha + ya``, ``xc = tx / x_scale * wa + xa``, ``h = exp(th / h_scale) * ha``,
    ``w = exp(tw / w_scale) * wa``; corners ``yc ∓ h / 2``, ``xc ∓ w / 2`` (float32).

    Args:
        raw_boxes: ``[..., N, 4]`` encodings (ty, tx, th, tw).
        anchors: ``[N, 4]`` (y_center, x_center, h, w).
        scales: (y_scale, x_scale, h_scale, w_scale), TF default 10, 10, 5, 5.
        backend: force ``"numpy"`` or ``"mlx"``.

    Returns:
        float32 ``[..., N, 4]`` (ymin, xmin, ymax, xmax), normalized.

    Example:
        >>> import numpy as np
        >>> decode_boxes(np.zeros((1, 4), np.float32), np.array([[0.5, 0.5, 0.2, 0.4]], np.float32)).tolist()
        [[0.4000000059604645, 0.30000001192092896, 0.6000000238418579, 0.699999988079071]]
    """
    b = get_backend(raw_boxes, backend)
    r = b.asarray(raw_boxes, "float32")
    a = b.asarray(to_numpy(anchors).astype(np.float32)) if b.name == "mlx" else np.asarray(anchors, np.float32)
    if len(a.shape) != 2 or a.shape[1] != 4 or r.shape[-1] != 4 or r.shape[-2] != a.shape[0]:
        raise ShapeError(f"raw_boxes {tuple(r.shape)} and anchors {tuple(a.shape)} must be (..., N, 4) and (N, 4)")
    ys, xs, hs, ws = (b.const(float(s), "float32") for s in scales)
    ya, xa, ha, wa = a[:, 0], a[:, 1], a[:, 2], a[:, 3]
    yc = r[..., 0] / ys * ha + ya
    xc = r[..., 1] / xs * wa + xa
    half = b.const(0.5, "float32")
    hh = half * b.exp(r[..., 2] / hs) * ha
    hw = half * b.exp(r[..., 3] / ws) * wa
    return b.stack([yc - hh, xc - hw, yc + hh, xc + hw], axis=-1)


def ssd(
    raw_boxes: Any,
    raw_scores: Any,
    anchors: Any,
    *,
    scales: Sequence[float] = (10.0, 10.0, 5.0, 5.0),
    score: str = "sigmoid",
    background: bool = True,
    conf: float = 0.5,
    iou: float = 0.6,
    max_det: int = 100,
    agnostic: bool = True,
    input_size: tuple[int, int] | None = None,
    labels: Any = "coco91",
    label_offset: int | None = None,
    quant: Any = None,
    scores_quant: Any = None,
    backend: str | None = None,
) -> list[Detections]:
    """Decode raw SSD outputs (box encodings + class scores) with anchors, then NMS.

    Per anchor the best non-background class is taken (TFLite fast NMS, ``max_classes_per_detection = 1``) with
    ``score >= conf`` (TFLite ``nms_score_threshold`` semantics), then greedy NMS (IoU > ``iou``), class-agnostic by
    default as TFLite's fast path, first ``max_det``.

    Args:
        raw_boxes: ``[B, N, 4]`` encodings (ty, tx, th, tw).
        raw_scores: ``[B, N, C (+1 background)]``.
        anchors: ``[N, 4]`` (y_center, x_center, h, w) normalized, e.g. from :func:`ssd_anchors`.
        scales: box coder scales (10, 10, 5, 5).
        score: ``"sigmoid"``, ``"softmax"`` or ``"none"`` (already probabilities).
        background: the first score column is background and is skipped.
        conf: score threshold in [0, 1] (``>=``). iou: NMS IoU threshold in [0, 1].
        max_det: detections per image. agnostic: class-agnostic NMS.
        input_size: (height, width) of the model input: boxes in pixels; None keeps normalized [0, 1] coordinates.
        labels: label names; class ``k`` (counted after the background column) is ``labels[k + label_offset]``.
        label_offset: default 1 for ``"coco91"`` (its index 0 is ``__background__``; TF SSD COCO models have 1 + 90
            score columns), else 0.
        quant / scores_quant: ``(scale, zero_point)`` of quantized box / score outputs (each its own).
        backend: force ``"numpy"`` or ``"mlx"``.

    Returns:
        ``list[Detections]`` with xyxy boxes.

    Raises:
        ShapeError: raw_boxes / raw_scores / anchors disagree, or the labels are shorter than the classes.
        InvalidArgumentError: thresholds outside [0, 1] or an unknown ``score``.

    Example:
        >>> import numpy as np
        >>> anchors = np.array([[0.5, 0.5, 0.2, 0.2], [0.1, 0.1, 0.1, 0.1]], np.float32)
        >>> logits = np.array([[[5.0, -5.0, -5.0], [-5.0, -5.0, 2.0]]], np.float32)   # background, a, b
        >>> d = ssd(np.zeros((1, 2, 4), np.float32), logits, anchors, labels=["a", "b"], input_size=(100, 100))[0]
        >>> d.labels, [round(float(v), 1) for v in d.boxes[0]]
        (('b',), [5.0, 5.0, 15.0, 15.0])
    """
    conf = _check_threshold("conf", conf)
    iou = _check_threshold("iou", iou)
    md = _check_max_det(max_det)
    if score not in ("sigmoid", "softmax", "none"):
        raise InvalidArgumentError(f"invalid score {score!r}; valid values are: sigmoid, softmax, none")
    b, rb = dequantize_output(raw_boxes, quant, name="SSD box encodings", backend=backend)
    _, rs = dequantize_output(raw_scores, scores_quant, name="SSD class scores", backend=b.name)
    if len(rb.shape) == 2:
        rb, rs = rb[None], rs[None] if len(rs.shape) == 2 else rs
    if len(rb.shape) != 3 or len(rs.shape) != 3 or rb.shape[:2] != rs.shape[:2]:
        raise ShapeError(f"raw_boxes {tuple(rb.shape)} and raw_scores {tuple(rs.shape)} must be (B, N, 4), (B, N, C)")
    dec = decode_boxes(rb, anchors, scales=scales)
    if score == "sigmoid":
        p = b.sigmoid(rs)
    elif score == "softmax":
        from .classification import softmax as _softmax

        p = _softmax(b, rs)
    else:
        p = rs
    if background:
        p = p[..., 1:]
    c = int(p.shape[-1])
    lab = None
    off = label_offset if label_offset is not None else (1 if labels == "coco91" else 0)
    if labels is not None:
        lab = get_labels(labels) if isinstance(labels, str) else tuple(labels)
        if len(lab) < c + off:
            raise ShapeError(f"SSD scores have {c} classes (background column removed) but labels have {len(lab)} "
                             f"(label_offset {off}): expected {c + off}")
    dn, pn = to_numpy(dec), to_numpy(p)
    out = []
    for i in range(int(rb.shape[0])):
        j = np.argmax(pn[i], axis=1)
        s = pn[i][np.arange(pn.shape[1]), j]
        cand = np.flatnonzero(s >= np.float32(conf))
        yx = dn[i][cand]
        boxes = np.stack([yx[:, 1], yx[:, 0], yx[:, 3], yx[:, 2]], axis=1).astype(np.float32)
        bad = ~((boxes[:, 2] >= boxes[:, 0]) & (boxes[:, 3] >= boxes[:, 1]))  # also drops NaN boxes
        keep_ok = np.flatnonzero(~bad)
        # TFLite fast NMS: IoU of the normalized boxes (scaled after), `iou > f32(threshold)` in float32; passing
        # f32(iou) makes the float64 comparison of §2 that same float32 comparison.
        k = _nms_numpy_fast(boxes[keep_ok], s[cand][keep_ok], None if agnostic else j[cand][keep_ok],
                            float(np.float32(iou)))
        k = keep_ok[k][:md] if md is not None else keep_ok[k]
        if input_size is not None:
            boxes = boxes * np.array([input_size[1], input_size[0], input_size[1], input_size[0]], np.float32)
        ids = j[cand][k].astype(np.int32)
        names = tuple(lab[t + off] if lab is not None else str(int(t)) for t in ids)
        det = Detections(boxes[k], s[cand][k].astype(np.float32), ids, names, image_size=input_size)
        out.append(_to_backend(b, det))
    return out


def _to_backend(b: Any, det: Detections) -> Detections:
    if b.name == "numpy":
        return det
    return Detections(b.asarray(det.boxes), b.asarray(det.scores), b.asarray(det.class_ids), det.labels,
                      None if det.keypoints is None else b.asarray(det.keypoints), det.masks, det.image_size,
                      dict(det.extras))


def tflite_detection_postprocess(
    outputs: Any,
    *,
    input_size: tuple[int, int] | None = None,
    conf: float = 0.0,
    labels: Any = "coco91",
    label_offset: int | None = None,
    backend: str | None = None,
) -> list[Detections]:
    """Read the 4 outputs of TFLite ``TFLite_Detection_PostProcess`` into :class:`Detections`.

    The op already decoded and suppressed: boxes ``[B, K, 4]`` (ymin, xmin, ymax, xmax) normalized, classes
    ``[B, K]`` (float class ids, background removed), scores ``[B, K]``, count ``[B]``. Only the first ``count``
    rows are valid. Outputs are recognised by shape (boxes: last axis 4; count: one value per image); classes vs
    scores by content (classes are integral; if both are, the one with a value above 1). A dict may name them
    ``boxes``, ``classes``, ``scores``, ``count``.

    Args:
        outputs: the 4 arrays (any order) or a dict.
        input_size: (height, width): boxes in model-input pixels; None keeps normalized coordinates.
        conf: keep ``score >= conf`` among the valid rows.
        labels: label set; class ``k`` is ``labels[k + label_offset]``.
        label_offset: default 1 for ``"coco91"`` (index 0 is ``__background__``), else 0.
        backend: force ``"numpy"`` or ``"mlx"``.

    Returns:
        ``list[Detections]`` (xyxy).

    Example:
        >>> import numpy as np
        >>> outs = [np.array([[[0.1, 0.2, 0.5, 0.6]]], np.float32), np.array([[0.0]], np.float32),
        ...         np.array([[0.9]], np.float32), np.array([1.0], np.float32)]
        >>> d = tflite_detection_postprocess(outs, input_size=(100, 100))[0]
        >>> d.labels, [round(float(v), 3) for v in d.boxes[0]]
        (('person',), [20.0, 10.0, 60.0, 50.0])
    """
    conf = _check_threshold("conf", conf)
    first = next(iter(outputs.values())) if isinstance(outputs, dict) else outputs[0]
    b = get_backend(first, backend)
    if isinstance(outputs, dict):
        missing = {"boxes", "classes", "scores", "count"} - set(outputs)
        if missing:
            raise InvalidArgumentError(f"outputs dict lacks {sorted(missing)}; keys are {sorted(outputs)}")
        boxes, classes, scores, count = (to_numpy(outputs[k]) for k in ("boxes", "classes", "scores", "count"))
    else:
        arrs = [to_numpy(x) for x in outputs]
        if len(arrs) != 4:
            raise ShapeError(f"expected the 4 outputs of TFLite_Detection_PostProcess, got {len(arrs)}")
        bi = [i for i, a in enumerate(arrs) if a.ndim == 3 and a.shape[-1] == 4]
        ci = [i for i, a in enumerate(arrs) if a.size == (arrs[bi[0]].shape[0] if bi else -1) and a.ndim <= 1]
        if len(bi) != 1 or len(ci) != 1:
            raise ShapeError(f"cannot identify boxes [B, K, 4] and count [B] among shapes {[a.shape for a in arrs]}")
        rest = [i for i in range(4) if i not in (bi[0], ci[0])]
        integral = [bool(np.all(arrs[i] == np.round(arrs[i]))) for i in rest]
        above1 = [bool(np.any(arrs[i] > 1)) for i in rest]  # a class id > 1; scores lie in [0, 1]
        if integral[0] and not integral[1]:
            cls_i, sc_i = rest
        elif integral[1] and not integral[0]:
            sc_i, cls_i = rest
        elif above1[1] and not above1[0]:  # both integral (scores exactly 0 / 1): the one above 1 holds classes
            sc_i, cls_i = rest
        else:  # both integral and within [0, 1] (e.g. all zero): TF1 order boxes, classes, scores, count
            cls_i, sc_i = rest
        boxes, classes, scores, count = arrs[bi[0]], arrs[cls_i], arrs[sc_i], arrs[ci[0]]
    lab = None
    if labels is not None:
        lab = get_labels(labels) if isinstance(labels, str) else tuple(labels)
    off = label_offset if label_offset is not None else (1 if labels == "coco91" else 0)
    out = []
    for i in range(boxes.shape[0]):
        n = int(np.clip(np.round(count.reshape(-1)[i]), 0, boxes.shape[1]))
        s = scores[i, :n].astype(np.float32)
        k = np.flatnonzero(s >= np.float32(conf))
        yx = boxes[i, :n][k].astype(np.float32)
        xy = np.stack([yx[:, 1], yx[:, 0], yx[:, 3], yx[:, 2]], axis=1) if k.size else np.zeros((0, 4), np.float32)
        if input_size is not None:
            xy = xy * np.array([input_size[1], input_size[0], input_size[1], input_size[0]], np.float32)
        ids = np.clip(np.round(classes[i, :n][k]), -1, 2**31 - 1).astype(np.int32)
        names = tuple(lab[t + off] if lab is not None and 0 <= t + off < len(lab) else str(int(t)) for t in ids)
        out.append(_to_backend(b, Detections(xy.astype(np.float32), s[k], ids, names, image_size=input_size)))
    return out
