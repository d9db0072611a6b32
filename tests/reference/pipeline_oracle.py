"""Loop-based oracles for the small numeric pieces of mlxquant.pipeline (never imports mlxquant).

* ``nearest_upsample``: nearest neighbour with half-pixel centres, src = floor((dst + 0.5) · in / out), clamped.
* ``greedy_match``: for each reference box in order, the unmatched test box of the same class with the highest IoU
  (first one on ties) is matched when IoU ≥ threshold.
"""

from __future__ import annotations

import math

__all__ = ["greedy_match", "nearest_upsample"]


def nearest_upsample(mask: list[list[int]], out_h: int, out_w: int) -> list[list[int]]:
    in_h, in_w = len(mask), len(mask[0])
    out = []
    for y in range(out_h):
        sy = min(math.floor((y + 0.5) * in_h / out_h), in_h - 1)
        row = []
        for x in range(out_w):
            sx = min(math.floor((x + 0.5) * in_w / out_w), in_w - 1)
            row.append(mask[sy][sx])
        out.append(row)
    return out


def _iou(a: list[float], b: list[float]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else float("nan")


def greedy_match(ref_boxes: list[list[float]], ref_cls: list[int], test_boxes: list[list[float]],
                 test_cls: list[int], thr: float) -> list[tuple[int, int, float]]:
    used = [False] * len(test_boxes)
    pairs = []
    for i, rb in enumerate(ref_boxes):
        best, best_j = -1.0, -1
        for j, tb in enumerate(test_boxes):
            if used[j] or test_cls[j] != ref_cls[i]:
                continue
            v = _iou(rb, tb)
            if not math.isnan(v) and v > best:
                best, best_j = v, j
        if best_j >= 0 and best >= thr:
            used[best_j] = True
            pairs.append((i, best_j, best))
    return pairs
