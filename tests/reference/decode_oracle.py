"""Loop-based reference implementations for mlxquant.decode (never imports mlxquant).

Each function is a plain, slow transcription of the peer semantics it names, with float32 scalar arithmetic in the
order the peer uses, so that mlxquant can be compared exactly (integers) or with a documented tolerance (floats).
"""

from __future__ import annotations

import math

import numpy as np

f32 = np.float32


# ---- IoU and greedy NMS (torchvision nms_kernel.cpp semantics) ------------------------------------------------------
def iou_loop(a, b) -> np.float32:
    """torchvision's IoU in float32: inter / (area_a + area_b - inter); 0 when the union is 0."""
    ax1, ay1, ax2, ay2 = (f32(v) for v in a)
    bx1, by1, bx2, by2 = (f32(v) for v in b)
    area_a = f32((ax2 - ax1) * (ay2 - ay1))
    area_b = f32((bx2 - bx1) * (by2 - by1))
    w = max(f32(min(ax2, bx2) - max(ax1, bx1)), f32(0))
    h = max(f32(min(ay2, by2) - max(ay1, by1)), f32(0))
    inter = f32(w * h)
    union = f32(f32(area_a + area_b) - inter)
    return f32(inter / union) if union > 0 else f32(0)


def greedy_nms_loop(boxes, scores, iou_threshold: float, classes=None) -> list[int]:
    """Greedy NMS: descending score (ties: lower index), suppress when float32 IoU > float64 threshold, per class."""
    n = len(scores)
    order = sorted(range(n), key=lambda i: (-float(scores[i]), i))
    removed = [False] * n
    keep = []
    for a, i in enumerate(order):
        if removed[i]:
            continue
        keep.append(i)
        for j in order[a + 1:]:
            if removed[j] or (classes is not None and int(classes[i]) != int(classes[j])):
                continue
            if float(iou_loop(boxes[i], boxes[j])) > iou_threshold:
                removed[j] = True
    return keep


def torch_nms(boxes, scores, iou_threshold: float):
    """torchvision.ops.nms semantics written in torch (torchvision is not installable here).

    Mirrors csrc/ops/cpu/nms_kernel.cpp: order = scores.sort(descending) (stable here, for determinism), areas,
    and for each kept i suppress j when ``inter / (areas[i] + areas[j] - inter) > iou_threshold`` (the threshold a
    C++ double).
    """
    import torch

    if boxes.numel() == 0:
        return torch.empty((0,), dtype=torch.int64)
    x1, y1, x2, y2 = boxes.unbind(1)
    areas = (x2 - x1) * (y2 - y1)
    order = torch.sort(scores, descending=True, stable=True).indices
    suppressed = torch.zeros(boxes.shape[0], dtype=torch.bool)
    keep = []
    for _i in range(order.numel()):
        i = int(order[_i])
        if suppressed[i]:
            continue
        keep.append(i)
        rest = order[_i + 1:]
        xx1 = torch.maximum(x1[i], x1[rest])
        yy1 = torch.maximum(y1[i], y1[rest])
        xx2 = torch.minimum(x2[i], x2[rest])
        yy2 = torch.minimum(y2[i], y2[rest])
        w = (xx2 - xx1).clamp(min=0)
        h = (yy2 - yy1).clamp(min=0)
        inter = w * h
        ovr = inter / (areas[i] + areas[rest] - inter)
        # C++ compares the float IoU with the double threshold
        suppressed[rest[ovr.double() > iou_threshold]] = True
    return torch.tensor(keep, dtype=torch.int64)


# ---- Ultralytics non_max_suppression (ultralytics/utils/nms.py, v8.3) ------------------------------------------------
def xywh2xyxy_torch(x):
    import torch

    y = torch.empty_like(x)
    dw = x[..., 2] / 2
    dh = x[..., 3] / 2
    y[..., 0] = x[..., 0] - dw
    y[..., 1] = x[..., 1] - dh
    y[..., 2] = x[..., 0] + dw
    y[..., 3] = x[..., 1] + dh
    return y


def ultralytics_nms(prediction, conf_thres=0.25, iou_thres=0.45, classes=None, agnostic=False, multi_label=False,
                    max_det=300, nc=0, max_nms=30000, max_wh=7680, yolov5=False):
    """Port of Ultralytics non_max_suppression (YOLOv8 [B, 4+C, N]; ``yolov5=True``: YOLOv5 [B, N, 5+C]).

    Differences kept out on purpose: no wall-clock time limit, torchvision.nms replaced by :func:`torch_nms` (same
    semantics, stable sort), argsort for max_nms made stable (ties: lower index).
    """
    import torch

    prediction = prediction.clone()
    if classes is not None:
        classes = torch.tensor(classes)
    if prediction.shape[-1] == 6 and not yolov5:  # end-to-end
        out = []
        for pred in prediction:
            # Ultralytics: pred[pred[:, 4] > conf_thres][:max_det], THEN the classes filter (max_det counts the
            # rows before the class filter)
            p = pred[pred[:, 4] > conf_thres][:max_det]
            if classes is not None:
                p = p[(p[:, 5:6] == classes).any(1)]
            out.append(p)
        return out
    if yolov5:
        bs = prediction.shape[0]
        nc = prediction.shape[2] - 5
        xc = prediction[..., 4] > conf_thres
        multi_label &= nc > 1
        output = [torch.zeros((0, 6))] * bs
        for xi, x in enumerate(prediction):
            x = x[xc[xi]]
            if not x.shape[0]:
                continue
            x[:, 5:] *= x[:, 4:5]
            box = xywh2xyxy_torch(x[:, :4])
            if multi_label:
                i, j = (x[:, 5:] > conf_thres).nonzero(as_tuple=False).T
                x = torch.cat((box[i], x[i, j + 5, None], j[:, None].float()), 1)
            else:
                conf, j = x[:, 5:].max(1, keepdim=True)
                x = torch.cat((box, conf, j.float()), 1)[conf.view(-1) > conf_thres]
            if classes is not None:
                x = x[(x[:, 5:6] == classes).any(1)]
            n = x.shape[0]
            if not n:
                continue
            if n > max_nms:
                x = x[x[:, 4].sort(descending=True, stable=True).indices[:max_nms]]
            c = x[:, 5:6] * (0 if agnostic else max_wh)
            i = torch_nms(x[:, :4] + c, x[:, 4], iou_thres)[:max_det]
            output[xi] = x[i]
        return output
    bs = prediction.shape[0]
    nc = nc or (prediction.shape[1] - 4)
    extra = prediction.shape[1] - nc - 4
    mi = 4 + nc
    xc = prediction[:, 4:mi].amax(1) > conf_thres
    multi_label &= nc > 1
    prediction = prediction.transpose(-1, -2)
    prediction[..., :4] = xywh2xyxy_torch(prediction[..., :4])
    output = [torch.zeros((0, 6 + extra))] * bs
    for xi, x in enumerate(prediction):
        x = x[xc[xi]]
        if not x.shape[0]:
            continue
        box, cls, mask = x.split((4, nc, extra), 1)
        if multi_label:
            i, j = torch.where(cls > conf_thres)
            x = torch.cat((box[i], x[i, 4 + j, None], j[:, None].float(), mask[i]), 1)
        else:
            conf, j = cls.max(1, keepdim=True)
            x = torch.cat((box, conf, j.float(), mask), 1)[conf.view(-1) > conf_thres]
        if classes is not None:
            x = x[(x[:, 5:6] == classes).any(1)]
        n = x.shape[0]
        if not n:
            continue
        if n > max_nms:
            x = x[x[:, 4].sort(descending=True, stable=True).indices[:max_nms]]
        c = x[:, 5:6] * (0 if agnostic else max_wh)
        i = torch_nms(x[:, :4] + c, x[:, 4], iou_thres)[:max_det]
        output[xi] = x[i]
    return output


# ---- MediaPipe SsdAnchorsCalculator (ssd_anchors_calculator.cc), an independent transcription --------------------
def mediapipe_anchors_loop(num_layers, min_scale, max_scale, input_size_height, input_size_width, anchor_offset_x,
                           anchor_offset_y, strides, aspect_ratios, reduce_boxes_in_lowest_layer=False,
                           interpolated_scale_aspect_ratio=1.0, fixed_anchor_size=False):
    """Returns a list of (y_center, x_center, h, w) float32 tuples."""

    def calc_scale(i, n):
        if n == 1:
            return f32((f32(min_scale) + f32(max_scale)) * f32(0.5))
        return f32(float(f32(min_scale)) + float(f32(max_scale) - f32(min_scale)) * 1.0 * i / float(f32(n) - f32(1)))

    anchors = []
    layer_id = 0
    while layer_id < num_layers:
        heights, widths, ratios, scales = [], [], [], []
        last = layer_id
        while last < len(strides) and strides[last] == strides[layer_id]:
            scale = calc_scale(last, len(strides))
            if last == 0 and reduce_boxes_in_lowest_layer:
                ratios += [f32(1.0), f32(2.0), f32(0.5)]
                scales += [f32(0.1), scale, scale]
            else:
                for r in aspect_ratios:
                    ratios.append(f32(r))
                    scales.append(scale)
                if interpolated_scale_aspect_ratio > 0.0:
                    nxt = f32(1.0) if last == len(strides) - 1 else calc_scale(last + 1, len(strides))
                    scales.append(f32(math.sqrt(float(f32(scale * nxt)))))
                    ratios.append(f32(interpolated_scale_aspect_ratio))
            last += 1
        for s, r in zip(scales, ratios, strict=True):
            q = f32(math.sqrt(float(r)))
            heights.append(f32(s / q))
            widths.append(f32(s * q))
        st = strides[layer_id]
        fh = math.ceil(float(f32(f32(1.0) * f32(input_size_height)) / f32(st)))
        fw = math.ceil(float(f32(f32(1.0) * f32(input_size_width)) / f32(st)))
        for y in range(fh):
            for x in range(fw):
                for k in range(len(heights)):
                    xc = f32(f32(f32(x) + f32(anchor_offset_x)) * f32(1.0)) / f32(fw)
                    yc = f32(f32(f32(y) + f32(anchor_offset_y)) * f32(1.0)) / f32(fh)
                    if fixed_anchor_size:
                        anchors.append((yc, xc, f32(1.0), f32(1.0)))
                    else:
                        anchors.append((yc, xc, heights[k], widths[k]))
        layer_id = last
    return anchors


# ---- MediaPipe TensorsToDetections + weighted NMS (face detection graph) -------------------------------------------
def mediapipe_face_loop(raw_boxes, raw_scores, anchors, scale, min_score, iou=0.3):
    """Per-anchor decode (reverse_output_order, fixed scales), sigmoid(clip ±100) score >= min_score, then
    MediaPipe WeightedNonMaxSuppression with sequential float32 sums. Returns a list of
    (score, (xmin, ymin, xmax, ymax), [(kx, ky)*6]) in normalized coordinates."""
    dets = []
    s = f32(scale)
    for i in range(len(anchors)):
        ay, ax, ah, aw = (f32(v) for v in anchors[i])
        r = [f32(v) for v in raw_boxes[i]]
        xc = f32(f32(f32(r[0] / s) * aw) + ax)
        yc = f32(f32(f32(r[1] / s) * ah) + ay)
        w = f32(f32(r[2] / s) * aw)
        h = f32(f32(r[3] / s) * ah)
        box = (f32(xc - w / f32(2)), f32(yc - h / f32(2)), f32(xc + w / f32(2)), f32(yc + h / f32(2)))
        kps = [(f32(f32(f32(r[4 + 2 * k] / s) * aw) + ax), f32(f32(f32(r[5 + 2 * k] / s) * ah) + ay)) for k in range(6)]
        sc = min(max(f32(raw_scores[i]), f32(-100)), f32(100))
        p = f32(1.0 / (1.0 + math.exp(-float(sc))))
        if p < f32(min_score) or box[2] - box[0] < 0 or box[3] - box[1] < 0:
            continue
        dets.append((p, box, kps))
    order = sorted(range(len(dets)), key=lambda k: (-float(dets[k][0]), k))
    remained = order
    out = []
    while remained:
        top = dets[remained[0]]
        cand, rest = [], []
        for k in remained:
            sim = iou_loop(dets[k][1], top[1])
            (cand if sim > f32(iou) else rest).append(k)
        box, kps = top[1], top[2]
        if cand:
            tot = f32(0)
            acc = [f32(0)] * 4
            kacc = [[f32(0), f32(0)] for _ in range(6)]
            for k in cand:
                sc = dets[k][0]
                tot = f32(tot + sc)
                acc = [f32(acc[t] + f32(dets[k][1][t] * sc)) for t in range(4)]
                for q in range(6):
                    kacc[q][0] = f32(kacc[q][0] + f32(dets[k][2][q][0] * sc))
                    kacc[q][1] = f32(kacc[q][1] + f32(dets[k][2][q][1] * sc))
            box = tuple(f32(v / tot) for v in acc)
            kps = [(f32(a / tot), f32(b / tot)) for a, b in kacc]
        out.append((top[0], box, kps))
        if len(rest) == len(remained):
            break
        remained = rest
    return out


# ---- classification / segmentation ----------------------------------------------------------------------------------
def softmax_topk_loop(logits, k, temperature=1.0):
    """Stable softmax in float64 of one row, then top-k with ties to the lower index."""
    x = [float(v) / temperature for v in logits]
    m = max(x)
    e = [math.exp(v - m) for v in x]
    s = sum(e)
    p = [v / s for v in e]
    order = sorted(range(len(p)), key=lambda i: (-p[i], i))[:k]
    return order, [p[i] for i in order]


def argmax_low_loop(values):
    """Index of the maximum, ties to the lower index."""
    best = 0
    for i in range(1, len(values)):
        if values[i] > values[best]:
            best = i
    return best


def tf_box_decode_loop(enc, anchor, scales=(10.0, 10.0, 5.0, 5.0)):
    """TFLite DecodeCenterSizeBoxes for one box: returns (ymin, xmin, ymax, xmax) float32."""
    ty, tx, th, tw = (f32(v) for v in enc)
    ya, xa, ha, wa = (f32(v) for v in anchor)
    ys, xs, hs, ws = (f32(v) for v in scales)
    yc = f32(f32(f32(ty / ys) * ha) + ya)
    xc = f32(f32(f32(tx / xs) * wa) + xa)
    hh = f32(f32(f32(0.5) * f32(math.exp(float(f32(th / hs))))) * ha)
    hw = f32(f32(f32(0.5) * f32(math.exp(float(f32(tw / ws))))) * wa)
    return (f32(yc - hh), f32(xc - hw), f32(yc + hh), f32(xc + hw))


def ultralytics_process_mask(protos, masks_in, bboxes, shape, upsample=False, return_logits=False):
    """Ultralytics ops.process_mask: crop_mask of (masks_in @ protos) at prototype resolution, optionally
    ``F.interpolate(bilinear, align_corners=False)`` to ``shape``, then ``gt_(0.0)`` (logit > 0)."""
    import torch
    import torch.nn.functional as F

    c, mh, mw = protos.shape
    ih, iw = shape
    masks = (masks_in @ protos.float().view(c, -1)).view(-1, mh, mw)
    db = bboxes.clone()
    db[:, 0] *= mw / iw
    db[:, 2] *= mw / iw
    db[:, 3] *= mh / ih
    db[:, 1] *= mh / ih
    x1, y1, x2, y2 = torch.chunk(db[:, :, None], 4, 1)
    r = torch.arange(mw, dtype=x1.dtype)[None, None, :]
    cc = torch.arange(mh, dtype=x1.dtype)[None, :, None]
    masks = masks * ((r >= x1) * (r < x2) * (cc >= y1) * (cc < y2))
    if upsample:
        masks = F.interpolate(masks[None], shape, mode="bilinear", align_corners=False)[0]
    return masks if return_logits else masks.gt_(0.0)
