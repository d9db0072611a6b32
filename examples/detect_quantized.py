"""Quantized YOLO-style detection: letterbox, int8 ONNX model (onnxruntime), decode + NMS, boxes mapped back.

Mirrors the seed guide's "Handling Detection Output" with a real runtime. The model is the colour-region detector
shipped with mlxquant (YOLOv8-style output [B, 4 + classes, anchors], 256×256 input); it is quantized here with
onnxruntime's own quantize_static, calibrated on the photos. Writes detect_quantized.jpg.

    python examples/detect_quantized.py
"""

import tempfile
from pathlib import Path

from _models import photo

import mlxquant as mq
from mlxquant.runtimes import load_runtime, ort_quantize_static

model = photo("colour_detector.onnx")  # shipped in mlxquant/data
photos = [photo("astronaut.jpg"), photo("coffee.jpg"), photo("chelsea.jpg")]
print(mq.inspect_model(model).table())

# Letterbox exactly as the model's input says (256×256, NCHW, float32; Ultralytics arithmetic, grey 114 padding)
batch = mq.vision.preprocess([str(p) for p in photos], size=(256, 256), strategy="letterbox", layout="nchw",
                             normalization="scale", dtype="float32")

# Quantize the model to int8 with onnxruntime, calibrated on the letterboxed photos
from mlxquant.commands.demo import DETECTOR_QUANT_NODES  # noqa: E402 - which nodes of this model get int8

int8_model = Path(tempfile.mkdtemp()) / "colour_detector.int8.onnx"
ort_quantize_static(model, int8_model, list(batch.tensor), nodes=DETECTOR_QUANT_NODES)
print(mq.inspect_model(int8_model).table())

# Run, decode (per-class NMS), and map every box back through its own letterbox transform
(output,) = load_runtime(int8_model).run(batch.tensor)
labels = mq.inspect_model(model).labels
detections = mq.decode.yolo(output, conf=0.4, iou=0.45, labels=labels)
for p, det, transform in zip(photos, detections, batch.transforms, strict=True):
    det = det.map_to_original(transform)
    print(p.name, [(lbl, round(float(s), 2)) for lbl, s in zip(det.labels, det.to_numpy().scores, strict=True)][:5])

# The same with the pipeline (letterbox, decode and reverse mapping derived from the model), float vs int8
float_det = mq.pipeline.Detector(model, decode={"conf": 0.4})
int8_det = mq.pipeline.Detector(int8_model, decode={"conf": 0.4})
for p, a, b in zip(photos, float_det(photos), int8_det(photos), strict=True):
    m = mq.pipeline.match_detections(a, b)
    print(f"{p.name}: float {m['reference']} boxes, int8 {m['test']}, matched {m['matched']} "
          f"(mean IoU {m['mean_iou']:.3f})")
mq.draw.boxes(mq.vision.load_image(photos[0]), int8_det(photos[0])).save("detect_quantized.jpg")
print("wrote detect_quantized.jpg")
