"""Public API snapshot of mlxquant.decode / mlxquant.draw, and import lightness."""

from __future__ import annotations

import subprocess
import sys

import mlxquant as mq

DECODE_API = {
    "ANCHOR_PRESETS", "BLAZEFACE_KEYPOINTS", "BOX_FORMATS", "LABEL_SETS", "NMS_MODES", "PALETTES", "SEG_KINDS",
    "YOLO_FORMATS", "Classification", "ClassificationBatch", "DecodeWarning", "Detections", "Segmentation",
    "blazeface", "box_area", "box_convert", "box_iou", "classify", "decode_boxes", "detect_yolo_format",
    "get_labels", "nms", "palette", "segmentation", "ssd", "ssd_anchors", "tflite_detection_postprocess",
    "voc_palette", "weighted_nms", "yolo",
}


def test_public_api_snapshot():
    assert set(mq.decode.__all__) == DECODE_API
    for name in DECODE_API:
        assert getattr(mq.decode, name) is not None
    assert set(mq.draw.__all__) == {"COLORS", "color_for", "boxes", "keypoints", "mask"}


def test_import_decode_and_draw_stay_light():
    code = (
        "import sys, mlxquant, mlxquant.decode, mlxquant.draw\n"
        "heavy = [m for m in ('mlx.core', 'torch', 'PIL', 'cv2', 'onnx') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"importing mlxquant.decode / mlxquant.draw imported {out}"
