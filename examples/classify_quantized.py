"""Quantized classification with a real runtime (LiteRT), step by step and then as a one-liner.

Mirrors the seed guide's "Input Preprocessing for Quantized Models" and "Output Dequantization": read the model's
own input/output quantization parameters, normalize as in training, quantize with the *model's* parameters, run,
dequantize the output with *its own* parameters, decode. The model is a small int8 TFLite colour classifier
(uint8 input, per-channel int8 conv) written by tools/build_models.py; use your own .tflite the same way.

    python examples/classify_quantized.py
"""

from _models import build, photo

import mlxquant as mq
from mlxquant.runtimes import load_runtime

models = build()
tflite = models / "colour_classifier_int8.tflite"

# 1. What does the model expect? (read from the file itself)
info = mq.inspect_model(tflite)
print(info.table())
inp, out = info.inputs[0], info.outputs[0]
in_scale, in_zp = inp.qparams
out_scale, out_zp = out.qparams

# 2. Preprocess as in training ([0, 1] RGB, the model's 16×16 NHWC size), then quantize with the input's parameters
image = mq.vision.load_image(photo("coffee.jpg"))
batch = mq.vision.preprocess(image, size=(16, 16), layout="nhwc", normalization="scale", dtype="float32")
x = mq.quantize(batch.tensor, in_scale, in_zp, dtype=inp.dtype, profile="tflite")
print(f"input: {inp.dtype} {list(x.shape)}, scale {in_scale:.6g}, zero point {in_zp}")

# 3. Run with LiteRT
runtime = load_runtime(tflite)
(y,) = runtime.run(x)

# 4. Dequantize the output with its own parameters, then decode
logits = mq.dequantize(y, out_scale, out_zp)
labels = ["black", "white", "red", "orange", "brown", "yellow", "green", "blue", "other"]
top = mq.decode.classify(logits, labels=labels, topk=3)[0]
print("step by step:", top.to_dict())

# The same in one line: the pipeline derives all of the above from the model file
clf = mq.pipeline.Classifier(tflite, decode={"labels": labels, "topk": 3})
print("pipeline:    ", clf(photo("coffee.jpg")).to_dict())
# The float twin: on this photo red and brown are nearly tied, and int8 logits (one step = 0.13 here) can flip them
flt = mq.pipeline.Classifier(models / "colour_classifier_float.tflite", decode={"labels": labels, "topk": 3})
print("float twin:  ", flt(photo("coffee.jpg")).to_dict())

# The classic mistake (seed guide, "Common Mistakes" 1): float data fed to a uint8 model is caught, not cast
try:
    runtime.run(batch.tensor)
except mq.InputTypeError as e:
    print("caught:", e)
