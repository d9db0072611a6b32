"""Dumb loop-based oracles for mlxquant.vision (never imports mlxquant).

Written from the peers' C/Python sources (Pillow Resample.c / Geometry.c, OpenCV resize and color_yuv, Ultralytics
LetterBox and scale_boxes, torchvision / DETR size rules), one pixel at a time with Python ints and floats.
"""

# ruff: noqa: RUF046  (int(round(...)) is copied verbatim from the peers' sources)
from __future__ import annotations

import math

import numpy as np

__all__ = [
    "cv_linear_resize",
    "normalize_fused_loop",
    "normalize_loop",
    "pil_gray",
    "pil_resize_u8",
    "torchvision_resize_crop_params",
    "ultralytics_letterbox_params",
    "ultralytics_scale_boxes",
    "yuv_nv12_to_rgb_cv",
]


def _pil_coeffs(in_size: int, out_size: int, filt: str):
    support0 = {"bilinear": 1.0, "bicubic": 2.0, "box": 0.5}[filt]

    def f(x: float) -> float:
        if filt == "bilinear":
            x = abs(x)
            return 1.0 - x if x < 1.0 else 0.0
        if filt == "box":
            return 1.0 if -0.5 < x <= 0.5 else 0.0
        a = -0.5
        x = abs(x)
        if x < 1.0:
            return ((a + 2.0) * x - (a + 3.0)) * x * x + 1
        if x < 2.0:
            return (((x - 5) * x + 8) * x - 4) * a
        return 0.0

    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = support0 * filterscale
    out = []
    for xx in range(out_size):
        center = (xx + 0.5) * scale
        ss = 1.0 / filterscale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size) - xmin
        ws = [f((x + xmin - center + 0.5) * ss) for x in range(xmax)]
        tot = sum(ws)
        if tot != 0.0:
            ws = [w / tot for w in ws]
        ks = [int(-0.5 + w * (1 << 22)) if w < 0 else int(0.5 + w * (1 << 22)) for w in ws]
        out.append((xmin, ks))
    return out


def _pass(rows: list[list[int]], coeffs) -> list[list[int]]:
    res = []
    for row in rows:
        o = []
        for xmin, ks in coeffs:
            acc = 1 << 21
            for i, k in enumerate(ks):
                acc += row[xmin + i] * k
            o.append(min(max(acc >> 22, 0), 255))
        res.append(o)
    return res


def pil_resize_u8(img: np.ndarray, size: tuple[int, int], filt: str = "bilinear") -> np.ndarray:
    """Pillow 13 resize of a [H, W] uint8 image (ImagingResample 8bpc), including its pass order."""
    ih, iw = img.shape
    oh, ow = size
    rows = [[int(v) for v in r] for r in img]
    ch = _pil_coeffs(iw, ow, filt) if ow != iw else None
    cv = _pil_coeffs(ih, oh, filt) if oh != ih else None
    vertical_first = oh < ih and 2 * (iw - ow) < (ih - oh)

    def horiz(r):
        return _pass(r, ch) if ch else r

    def vert(r):
        if not cv:
            return r
        cols = [list(c) for c in zip(*r, strict=True)]
        return [list(c) for c in zip(*_pass(cols, cv), strict=True)]

    out = horiz(vert(rows)) if vertical_first else vert(horiz(rows))
    return np.array(out, dtype=np.uint8).reshape(oh, ow)


def cv_linear_resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """OpenCV INTER_LINEAR (half-pixel, replicated borders) in exact float, rounded half up: within 1 of cv2."""
    ih, iw = img.shape
    oh, ow = size
    out = np.zeros((oh, ow), dtype=np.uint8)

    def coord(d: int, i: int, o: int):
        s = (d + 0.5) * (1.0 / (o / i)) - 0.5
        x0 = math.floor(s)
        f = s - x0
        return min(max(x0, 0), i - 1), min(max(x0 + 1, 0), i - 1), f

    for y in range(oh):
        y0, y1, fy = coord(y, ih, oh)
        for x in range(ow):
            x0, x1, fx = coord(x, iw, ow)
            v = ((1 - fy) * ((1 - fx) * float(img[y0, x0]) + fx * float(img[y0, x1]))
                 + fy * ((1 - fx) * float(img[y1, x0]) + fx * float(img[y1, x1])))
            out[y, x] = min(max(math.floor(v + 0.5), 0), 255)
    return out


def ultralytics_letterbox_params(shape, new_shape=(640, 640), auto=False, scaleup=True, center=True, stride=32):
    """ultralytics/data/augment.py LetterBox.__call__ arithmetic: (ratio, (new_w, new_h), top, bottom, left, right)."""
    r = min(new_shape[0] / shape[0], new_shape[1] / shape[1])
    if not scaleup:
        r = min(r, 1.0)
    new_unpad = max(int(round(shape[1] * r)), 1), max(int(round(shape[0] * r)), 1)
    dw, dh = new_shape[1] - new_unpad[0], new_shape[0] - new_unpad[1]
    if auto:
        dw, dh = np.mod(dw, stride), np.mod(dh, stride)
    if center:
        dw /= 2
        dh /= 2
    top, bottom = int(round(dh - 0.1)) if center else 0, int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)) if center else 0, int(round(dw + 0.1))
    return r, new_unpad, top, bottom, left, right


def ultralytics_scale_boxes(img1_shape, boxes: np.ndarray, img0_shape) -> np.ndarray:
    """ultralytics 8.4 ops.scale_boxes (ratio_pad=None, padding=True, xyxy) + clip_boxes, on a float32 copy."""
    boxes = np.array(boxes, dtype=np.float32, copy=True)
    gain = min(img1_shape[0] / img0_shape[0], img1_shape[1] / img0_shape[1])
    pad_x = round((img1_shape[1] - round(img0_shape[1] * gain)) / 2 - 0.1)
    pad_y = round((img1_shape[0] - round(img0_shape[0] * gain)) / 2 - 0.1)
    for i in range(boxes.shape[0]):
        boxes[i, 0] -= pad_x
        boxes[i, 1] -= pad_y
        boxes[i, 2] -= pad_x
        boxes[i, 3] -= pad_y
        for j in range(4):
            boxes[i, j] = np.float32(boxes[i, j] / np.float32(gain))
        boxes[i, 0] = min(max(boxes[i, 0], 0), img0_shape[1])
        boxes[i, 1] = min(max(boxes[i, 1], 0), img0_shape[0])
        boxes[i, 2] = min(max(boxes[i, 2], 0), img0_shape[1])
        boxes[i, 3] = min(max(boxes[i, 3], 0), img0_shape[0])
    return boxes


def torchvision_resize_crop_params(h: int, w: int, resize: int = 256, crop: int = 224):
    """torchvision _compute_resized_output_size(size=[resize]) + center_crop offsets: ((nh, nw), (top, left))."""
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = resize, int(resize * long / short)
    nw, nh = (new_short, new_long) if w <= h else (new_long, new_short)
    top = int(round((nh - crop) / 2.0))
    left = int(round((nw - crop) / 2.0))
    return (nh, nw), (top, left)


def normalize_loop(img: np.ndarray, divisor: float, mean, std) -> np.ndarray:
    """((x / divisor) - mean) / std per pixel in float32, channels last."""
    out = np.zeros(img.shape, dtype=np.float32)
    for idx in np.ndindex(img.shape):
        c = idx[-1]
        v = np.float32(np.float32(img[idx]) / np.float32(divisor))
        v = np.float32(v - np.float32(mean[c]))
        out[idx] = np.float32(v / np.float32(std[c]))
    return out


def yuv_nv12_to_rgb_cv(frame: np.ndarray) -> np.ndarray:
    """OpenCV COLOR_YUV2RGB_NV12 (BT.601 video range, 20-bit fixed point), pixel by pixel."""
    h = frame.shape[0] * 2 // 3
    w = frame.shape[1]
    out = np.zeros((h, w, 3), dtype=np.uint8)
    for y in range(h):
        for x in range(w):
            yy = max(0, int(frame[y, x]) - 16) * 1220542
            u = int(frame[h + y // 2, (x // 2) * 2]) - 128
            v = int(frame[h + y // 2, (x // 2) * 2 + 1]) - 128
            r = (yy + (1 << 19) + 1673527 * v) >> 20
            g = (yy + (1 << 19) - 852492 * v - 409993 * u) >> 20
            b = (yy + (1 << 19) + 2116026 * u) >> 20
            out[y, x] = [min(max(t, 0), 255) for t in (r, g, b)]
    return out


def pil_gray(img: np.ndarray) -> np.ndarray:
    """Pillow convert('L'): (R·19595 + G·38470 + B·7471 + 0x8000) >> 16."""
    out = np.zeros(img.shape[:2], dtype=np.uint8)
    for y in range(img.shape[0]):
        for x in range(img.shape[1]):
            r, g, b = (int(v) for v in img[y, x, :3])
            out[y, x] = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16
    return out


def normalize_fused_loop(img: np.ndarray, scale: float, offset: float) -> np.ndarray:
    """OpenCV convertTo(CV_32F, scale, offset) with float32 scale/offset and one rounding (a fused multiply-add)."""
    s, o = float(np.float32(scale)), float(np.float32(offset))
    out = np.zeros(img.shape, dtype=np.float32)
    for idx in np.ndindex(img.shape):
        out[idx] = np.float32(float(img[idx]) * s + o)  # Python floats are doubles: exact here, one final rounding
    return out
