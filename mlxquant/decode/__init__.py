"""Output decoding: classification, NMS, detection (YOLO, SSD, BlazeFace), segmentation."""

from .blazeface import BLAZEFACE_KEYPOINTS, blazeface
from .boxes import BOX_FORMATS, box_area, box_convert, box_iou
from .classification import classify
from .diagnostics import DecodeWarning
from .labels import LABEL_SETS, get_labels
from .nms import NMS_MODES, nms, weighted_nms
from .results import Classification, ClassificationBatch, Detections, Segmentation
from .segmentation import PALETTES, SEG_KINDS, palette, segmentation, voc_palette
from .ssd import ANCHOR_PRESETS, decode_boxes, ssd, ssd_anchors, tflite_detection_postprocess
from .yolo import YOLO_FORMATS, detect_yolo_format, yolo

__all__ = [
    "ANCHOR_PRESETS",
    "BLAZEFACE_KEYPOINTS",
    "BOX_FORMATS",
    "LABEL_SETS",
    "NMS_MODES",
    "PALETTES",
    "SEG_KINDS",
    "YOLO_FORMATS",
    "Classification",
    "ClassificationBatch",
    "DecodeWarning",
    "Detections",
    "Segmentation",
    "blazeface",
    "box_area",
    "box_convert",
    "box_iou",
    "classify",
    "decode_boxes",
    "detect_yolo_format",
    "get_labels",
    "nms",
    "palette",
    "segmentation",
    "ssd",
    "ssd_anchors",
    "tflite_detection_postprocess",
    "voc_palette",
    "weighted_nms",
    "yolo",
]
