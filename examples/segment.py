"""Semantic segmentation with a real runtime: float and int8 ONNX segmenters, masks back at the photo's size.

The model is a small per-cell colour segmenter written by tools/build_models.py (output [B, 9, 32, 32] logits for a
128×128 input); the int8 version is made with onnxruntime's quantize_static. Writes segment.png (photo | overlay).

    python examples/segment.py
"""

import numpy as np
from _models import build, photo
from PIL import Image

import mlxquant as mq
from mlxquant.runtimes import ort_quantize_static

models = build()
float_model = models / "colour_segmenter.onnx"
int8_model = ort_quantize_static(
    float_model, models / "colour_segmenter.int8.onnx",
    list(mq.vision.preprocess([str(photo(n)) for n in ("astronaut.jpg", "coffee.jpg", "chelsea.jpg")],
                              size=(128, 128), layout="nchw", normalization="scale", dtype="float32").tensor))
print(mq.inspect_model(int8_model).table())

image = photo("astronaut.jpg")
seg_f = mq.pipeline.Segmenter(float_model)(image)
seg_q = mq.pipeline.Segmenter(int8_model)(image)
mf, mq8 = mq.to_numpy(seg_f.mask), mq.to_numpy(seg_q.mask)
print(f"mask {mf.shape} (the photo's size); int8 agrees with float on {100 * np.mean(mf == mq8):.1f} % of pixels")
print("class fractions:", {k: round(v, 3) for k, v in sorted(seg_q.class_fractions().items(), key=lambda kv: -kv[1])})

palette = np.round(np.array([(0.05, 0.05, 0.06), (0.93, 0.93, 0.93), (0.75, 0.12, 0.12), (0.85, 0.55, 0.25),
                             (0.40, 0.25, 0.15), (0.90, 0.85, 0.20), (0.20, 0.60, 0.20), (0.15, 0.25, 0.70),
                             (0.50, 0.50, 0.50)]) * 255).astype(np.uint8)
left = Image.open(image).convert("RGB")
right = Image.fromarray(palette[mq8])
canvas = Image.new("RGB", (left.width * 2, left.height))
canvas.paste(left, (0, 0))
canvas.paste(right, (left.width, 0))
canvas.save("segment.png")
print("wrote segment.png")
