"""Decode a YOLOv8-style output into labelled boxes on the original image.

A real pipeline gets ``output`` from a runtime (ONNX Runtime, LiteRT, Core ML, MLX) for a letterboxed 640 x 640
input; here a synthetic [1, 84, 8400] output stands in for the model so the example runs anywhere:

    python examples/detect_yolo.py [out.png]
"""

from __future__ import annotations

import sys

import numpy as np

import mlxquant as mq
from mlxquant.vision import letterbox


def fake_yolov8_output(seed: int = 0) -> np.ndarray:
    """[1, 84, 8400]: cx, cy, w, h rows then 80 class scores; a few anchors fire around two objects."""
    rng = np.random.default_rng(seed)
    out = np.zeros((1, 84, 8400), np.float32)
    out[0, 4:] = rng.uniform(0, 0.1, (80, 8400))
    for k, (cx, cy, w, h, cls) in enumerate([(250, 320, 120, 200, 0), (420, 360, 160, 90, 16)]):  # person, dog
        idx = np.arange(40) + 1000 * (k + 1)
        out[0, 0, idx] = cx + rng.normal(0, 3, 40)
        out[0, 1, idx] = cy + rng.normal(0, 3, 40)
        out[0, 2, idx] = w * rng.uniform(0.95, 1.05, 40)
        out[0, 3, idx] = h * rng.uniform(0.95, 1.05, 40)
        out[0, 4 + cls, idx] = rng.uniform(0.5, 0.9, 40)
    return out


def main() -> None:
    image = np.full((720, 1280, 3), 200, np.uint8)  # the original frame
    _model_input, transform = letterbox(image, 640)  # what the model saw
    output = fake_yolov8_output()  # runtime output for model_input
    det = mq.decode.yolo(output, conf=0.25, iou=0.45)[0]  # boxes in model-input pixels
    det = det.map_to_original(transform)  # boxes in original-image pixels
    for box, label, score in zip(det.boxes.tolist(), det.labels, det.scores.tolist(), strict=True):
        print(f"{label:>8} {score:.2f} " + " ".join(f"{v:7.1f}" for v in box))
    if len(sys.argv) > 1:
        mq.draw.boxes(image, det).save(sys.argv[1])
        print("wrote", sys.argv[1])


if __name__ == "__main__":
    main()
