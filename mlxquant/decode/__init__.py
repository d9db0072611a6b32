"""Output decoding: classification, NMS, detection (YOLO, SSD, BlazeFace), segmentation."""

from .boxes import BOX_FORMATS, box_area, box_convert, box_iou
from .classification import classify
from .diagnostics import DecodeWarning
from .labels import LABEL_SETS, get_labels
from .nms import NMS_MODES, nms, weighted_nms
from .results import Classification, ClassificationBatch, Detections, Segmentation
from .yolo import YOLO_FORMATS, detect_yolo_format, yolo

__all__ = [
    "BOX_FORMATS",
    "LABEL_SETS",
    "NMS_MODES",
    "YOLO_FORMATS",
    "Classification",
    "ClassificationBatch",
    "DecodeWarning",
    "Detections",
    "Segmentation",
    "box_area",
    "box_convert",
    "box_iou",
    "classify",
    "detect_yolo_format",
    "get_labels",
    "nms",
    "weighted_nms",
    "yolo",
]
