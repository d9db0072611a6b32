"""MediaPipe BlazeFace decoding (face_detection_short_range / full_range graphs), REFERENCE §8.

TensorsToDetectionsCalculator options of the graphs: ``num_coords 16``, ``box_coord_offset 0``,
``keypoint_coord_offset 4``, ``num_keypoints 6``, ``reverse_output_order true`` (x before y), ``x/y/w/h_scale`` =
input size (128 short, 192 full), ``sigmoid_score true``, ``score_clipping_thresh 100``, ``min_score_thresh`` 0.5
(short) / 0.6 (full); then NonMaxSuppressionCalculator with ``algorithm WEIGHTED``, ``overlap_type
INTERSECTION_OVER_UNION``, ``min_suppression_threshold 0.3``.

Decode per anchor (a = (y_center, x_center, h, w), normalized, fixed size 1):
``xc = r0 / xs * aw + ax``, ``yc = r1 / ys * ah + ay``, ``w = r2 / ws * aw``, ``h = r3 / hs * ah``,
box ``(xc - w/2, yc - h/2, xc + w/2, yc + h/2)``; keypoint k: ``(r[4+2k] / xs * aw + ax, r[5+2k] / ys * ah + ay)``;
score ``sigmoid(clip(raw, -100, 100))``, kept when ``>= min_score_thresh`` and the box has width, height >= 0.
Weighted NMS runs on the normalized coordinates (as MediaPipe); results are returned in model-input pixels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._backend import to_numpy
from .._checks import check_choice
from .._errors import InvalidArgumentError, ShapeError
from .diagnostics import dequantize_output
from .nms import _check_threshold, _weighted_numpy
from .results import Detections
from .ssd import ssd_anchors

__all__ = ["BLAZEFACE_KEYPOINTS", "BLAZEFACE_VARIANTS", "blazeface", "decode_blazeface_raw"]

BLAZEFACE_VARIANTS = {
    "short": {"anchors": "blazeface_short", "size": 128, "num_boxes": 896, "min_score": 0.5},
    "full": {"anchors": "blazeface_full", "size": 192, "num_boxes": 2304, "min_score": 0.6},
}
#: Keypoint order of the MediaPipe face detector.
BLAZEFACE_KEYPOINTS = ("right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear_tragion", "left_ear_tragion")
# TensorsToDetectionsCalculator score_clipping_thresh of both face detection graphs.
_SCORE_CLIP = 100.0


def decode_blazeface_raw(raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray, scale: float,
                         num_keypoints: int = 6) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decoded normalized xyxy boxes ``[N, 4]``, keypoints ``[N, K, 2]`` and sigmoid scores ``[N]`` (float32)."""
    f = np.float32
    s = f(scale)
    ay, ax, ah, aw = anchors[:, 0], anchors[:, 1], anchors[:, 2], anchors[:, 3]
    xc = raw_boxes[:, 0] / s * aw + ax
    yc = raw_boxes[:, 1] / s * ah + ay
    w = raw_boxes[:, 2] / s * aw
    h = raw_boxes[:, 3] / s * ah
    half = f(2.0)  # MediaPipe: h / 2.f
    boxes = np.stack([xc - w / half, yc - h / half, xc + w / half, yc + h / half], axis=1).astype(np.float32)
    kx = raw_boxes[:, 4:4 + 2 * num_keypoints:2] / s * aw[:, None] + ax[:, None]
    ky = raw_boxes[:, 5:5 + 2 * num_keypoints:2] / s * ah[:, None] + ay[:, None]
    kps = np.stack([kx, ky], axis=-1).astype(np.float32)
    sc = np.clip(raw_scores.astype(np.float32), f(-_SCORE_CLIP), f(_SCORE_CLIP))
    with np.errstate(over="ignore"):
        prob = (f(1) / (f(1) + np.exp(-sc))).astype(np.float32)
    return boxes, kps, prob


def blazeface(
    raw_boxes: Any,
    raw_scores: Any,
    variant: str = "short",
    *,
    min_score: float | None = None,
    iou: float = 0.3,
    max_det: int | None = None,
    quant: Any = None,
    scores_quant: Any = None,
    backend: str | None = None,
) -> list[Detections]:
    """Decode BlazeFace outputs as MediaPipe's face detection graph: boxes, 6 keypoints, weighted NMS.

    Args:
        raw_boxes: ``[B, N, 16]`` (or ``[N, 16]``) regressors; N = 896 (short) or 2304 (full).
        raw_scores: ``[B, N, 1]`` / ``[B, N]`` logits.
        variant: ``"short"`` (128 x 128 input) or ``"full"`` (192 x 192).
        min_score: score threshold (default 0.5 short, 0.6 full), kept when ``score >= min_score``.
        iou: weighted-NMS ``min_suppression_threshold`` (0.3).
        max_det: at most this many faces.
        quant / scores_quant: ``(scale, zero_point)`` of quantized outputs.
        backend: force ``"numpy"`` or ``"mlx"``.

    Returns:
        ``list[Detections]`` per image: xyxy boxes and keypoints ``[K, 6, 2]`` in model-input pixels, class id 0
        (``"face"``).

    Example:
        >>> import numpy as np
        >>> rb = np.zeros((896, 16), np.float32); rs = np.full((896, 1), -10.0, np.float32)
        >>> rb[0, 2:4] = 20.0; rs[0] = 5.0
        >>> d = blazeface(rb, rs)[0]
        >>> len(d), [round(float(v), 2) for v in d.boxes[0]]
        (1, [-6.0, -6.0, 14.0, 14.0])
    """
    check_choice("variant", variant, tuple(BLAZEFACE_VARIANTS))
    v = BLAZEFACE_VARIANTS[variant]
    iou = _check_threshold("iou", iou)
    ms = v["min_score"] if min_score is None else _check_threshold("min_score", min_score)
    b, rb = dequantize_output(raw_boxes, quant, name="BlazeFace boxes", backend=backend)
    _, rs = dequantize_output(raw_scores, scores_quant, name="BlazeFace scores", backend=b.name)
    rbn, rsn = to_numpy(rb), to_numpy(rs)
    if rbn.ndim == 2:
        rbn = rbn[None]
    if rsn.ndim >= 2 and rsn.shape[-1] == 1:
        rsn = rsn[..., 0]
    if rsn.ndim == 1:
        rsn = rsn[None]
    n = v["num_boxes"]
    if rbn.ndim != 3 or rbn.shape[1:] != (n, 16):
        raise ShapeError(f"BlazeFace {variant} raw_boxes has shape {tuple(rb.shape)}, expected (B, {n}, 16)")
    if rsn.shape != rbn.shape[:2]:
        raise ShapeError(f"BlazeFace raw_scores has shape {tuple(rs.shape)}, expected ({rbn.shape[0]}, {n}, 1)")
    if np.isnan(rsn).any():
        raise InvalidArgumentError("BlazeFace scores contain NaN; check the model input")
    anchors = ssd_anchors(v["anchors"])
    size = np.float32(v["size"])
    out = []
    for i in range(rbn.shape[0]):
        boxes, kps, prob = decode_blazeface_raw(rbn[i].astype(np.float32), rsn[i], anchors, v["size"])
        ok = (prob >= np.float32(ms)) & ((boxes[:, 2] - boxes[:, 0]) >= 0) & ((boxes[:, 3] - boxes[:, 1]) >= 0)
        c = np.flatnonzero(ok)
        idx, mb, mk = _weighted_numpy(boxes[c], prob[c], iou, kps[c], max_det, None)
        det = Detections(
            (mb * size).astype(np.float32),
            prob[c][idx].astype(np.float32),
            np.zeros(idx.shape[0], np.int32),
            ("face",) * int(idx.shape[0]),
            keypoints=(mk * size).astype(np.float32),
            image_size=(int(size), int(size)),
            extras={"anchor_indices": c[idx]},
        )
        if b.name == "mlx":
            det = Detections(b.asarray(det.boxes), b.asarray(det.scores), b.asarray(det.class_ids), det.labels,
                             b.asarray(det.keypoints), None, det.image_size, det.extras)
        out.append(det)
    return out

