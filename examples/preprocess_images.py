"""Preprocess photos for a detector and a classifier, then map detections back onto the originals.

Run: python examples/preprocess_images.py [image ...]   (without arguments it makes two test photos)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

import mlxquant as mq


def demo_images(folder: Path) -> list[str]:
    from PIL import Image

    paths = []
    for i, (h, w) in enumerate([(1080, 1920), (900, 600)]):
        yy, xx = np.mgrid[0:h, 0:w]
        img = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) % 256], -1).astype(np.uint8)
        p = folder / f"demo_{i}.jpg"
        Image.fromarray(img).save(p, quality=90)
        paths.append(str(p))
    return paths


def main(paths: list[str]) -> None:
    # 1. a YOLO detector: letterbox 640, /255, NCHW float32 — plus the transforms to undo the letterbox
    x, transforms = mq.vision.preprocess(paths, "yolo")
    print("yolo input", x.shape, x.dtype)
    for p, t in zip(paths, transforms, strict=True):
        # pretend the model found a box covering the whole letterboxed content
        x0, y0, x1, y1 = t.content_window()
        box = np.array([[x0, y0, x1, y1]], np.float32)
        print(f"  {Path(p).name}: pad {t.pad}, box in the original image {t.inverse_boxes(box)[0].tolist()}",
              f"(Ultralytics arithmetic: {t.inverse_boxes(box, mode='ultralytics')[0].tolist()})")

    # 2. an int8 TFLite classifier whose input is quantized with scale 1/255, zero point -128 (pixel - 128)
    q, _ = mq.vision.preprocess(paths, "mobilenet", quant=(1 / 255, -128, "int8"), normalization="scale",
                                dtype="int8")
    print("int8 mobilenet input", q.shape, q.dtype, "range", int(q.min()), int(q.max()))

    # 3. a torchvision ResNet (resize 256, centre crop 224, ImageNet normalization), on MLX
    try:
        import mlx.core as mx  # noqa: F401

        r, _ = mq.vision.preprocess(paths, "resnet", backend="mlx")
        print("resnet input on MLX", r.shape, r.dtype)
    except ImportError:
        print("MLX not installed: skipped the MLX example")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1:])
    else:
        with tempfile.TemporaryDirectory() as d:
            main(demo_images(Path(d)))
