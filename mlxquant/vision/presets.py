"""Framework and model presets: one frozen dataclass per row, all documented in one table (docs/spec/vision.md).

| preset | size | strategy | colour | normalization | layout | dtype |
|---|---|---|---|---|---|---|
| pytorch, onnx | given | stretch | rgb | imagenet | nchw | float32 |
| onnx_float16 | given | stretch | rgb | imagenet | nchw | float16 |
| tensorflow | given | stretch | rgb | tensorflow [-1, 1] | nhwc | float32 |
| tflite_float | given | stretch | rgb | scale [0, 1] | nhwc | float32 |
| tflite_quantized | given | stretch | rgb | raw | nhwc | uint8 |
| tflite_int8 | given | stretch | rgb | raw - 128 | nhwc | int8 |
| onnx_quantized_uint8 | given | stretch | rgb | raw | nchw | uint8 |
| onnx_quantized_int8 | given | stretch | rgb | raw - 128 | nchw | int8 |
| coreml | given | stretch | rgb | raw 0-255 | nchw | float32 |
| opencv | given | stretch | bgr | raw | nhwc | uint8 |
| caffe | given | stretch | bgr | caffe | nhwc | float32 |
| yolo | 640 | letterbox (114) | rgb | scale | nchw | float32 |
| mobilenet | 224 | cover | rgb | tensorflow | nhwc | float32 |
| resnet, vit | 224 | shorter_side_crop 256 | rgb | imagenet | nchw | float32 |
| clip | 224 | shorter_side_crop 224 bicubic | rgb | clip | nchw | float32 |
| deeplab | 513 | contain (bottom/right), pad 0 after normalizing | rgb | tensorflow | nhwc | float32 |
| sam | 1024 | longest_side (int(x + 0.5)), pad 0 after normalizing | rgb | sam (0-255 stats) | nchw | float32 |
| detr | 800 | shorter_side (max 1333), batch padded with 0 | rgb | imagenet | nchw | float32 |
| blazeface, mediapipe | 128 | mediapipe | rgb | mediapipe (fma 2/255, -1) | nhwc | float32 |
| blazeface_full | 192 | mediapipe | rgb | mediapipe (fma 2/255, -1) | nhwc | float32 |
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from .._errors import InvalidArgumentError

__all__ = ["MODEL_PRESETS", "PRESETS", "Preset", "get_preset"]


@dataclass(frozen=True)
class Preset:
    """Everything that turns an image into a model input.

    Attributes:
        name: preset name.
        size: model input (height, width), or None (must be given, or all images must share a size).
        strategy: fit strategy (see :func:`mlxquant.vision.fit`), or "shorter_side" (resize the shorter side to
            ``size[0]``, long side capped at ``max_size``; batches are padded bottom/right).
        method: resize method.
        antialias: resize antialiasing (None: the strategy's default).
        resize_size: shorter side before the centre crop ("shorter_side_crop").
        max_size: long-side cap for "shorter_side".
        pad_color: pad value for "contain" / "letterbox" (pixel units), or "zero_after_normalize".
        center: centre the padding.
        color: channel order fed to the model: "rgb", "bgr" or "gray".
        normalization: a name of ``NORMALIZATIONS`` or a Normalization.
        layout: "hwc", "chw", "nhwc" or "nchw".
        dtype: "float32", "float16", "bfloat16", "uint8" or "int8".
        quant: (scale, zero_point[, dtype]) of a quantized input, or None.
        description: where the numbers come from.
    """

    name: str
    size: tuple[int, int] | None = None
    strategy: str = "stretch"
    method: str = "bilinear"
    antialias: bool | None = None
    resize_size: int | None = None
    max_size: int | None = None
    pad_color: Any = None
    center: bool = True
    color: str = "rgb"
    normalization: Any = "scale"
    layout: str = "nchw"
    dtype: str = "float32"
    quant: Any = None
    description: str = ""

    def with_overrides(self, **kw: Any) -> Preset:
        """A copy with some fields replaced (unknown names are an error listing the valid ones)."""
        valid = {f.name for f in fields(self)}
        bad = sorted(set(kw) - valid)
        if bad:
            raise InvalidArgumentError(f"unknown preset override(s) {bad}; valid names are: {', '.join(sorted(valid))}")
        return replace(self, **kw)


def _p(name: str, **kw: Any) -> Preset:
    return Preset(name, **kw)


PRESETS: dict[str, Preset] = {p.name: p for p in (
    _p("pytorch", normalization="imagenet", layout="nchw", description="torchvision ToTensor + Normalize(ImageNet)"),
    _p("onnx", normalization="imagenet", layout="nchw", description="ONNX image models exported from PyTorch"),
    _p("onnx_float16", normalization="imagenet", layout="nchw", dtype="float16", description="fp16 ONNX models"),
    _p("tensorflow", normalization="tensorflow", layout="nhwc", description="Keras 'tf' mode: x / 127.5 - 1"),
    _p("tflite_float", normalization="scale", layout="nhwc", description="float TFLite models fed [0, 1]"),
    _p("tflite_quantized", normalization="raw", layout="nhwc", dtype="uint8",
       description="uint8 TFLite models (input scale 1/255 or 1, zero point 0: the raw pixels)"),
    _p("tflite_int8", normalization="raw", layout="nhwc", dtype="int8",
       description="int8 TFLite models with input zero point -128: pixel - 128"),
    _p("onnx_quantized_uint8", normalization="raw", layout="nchw", dtype="uint8", description="QDQ uint8 inputs"),
    _p("onnx_quantized_int8", normalization="raw", layout="nchw", dtype="int8", description="QDQ int8 inputs: x - 128"),
    _p("coreml", normalization="raw", layout="nchw", description="Core ML image inputs (scale/bias inside the model)"),
    _p("opencv", color="bgr", normalization="raw", layout="nhwc", dtype="uint8", description="cv2.imread order"),
    _p("caffe", color="bgr", normalization="caffe", layout="nhwc", description="Keras 'caffe' mode (VGG, ResNet50)"),
)}

MODEL_PRESETS: dict[str, Preset] = {p.name: p for p in (
    _p("yolo", size=(640, 640), strategy="letterbox", pad_color=(114, 114, 114), antialias=False,
       normalization="scale", layout="nchw", description="Ultralytics YOLOv5/v8/11: LetterBox 640, /255, NCHW RGB"),
    _p("mobilenet", size=(224, 224), strategy="cover", normalization="tensorflow", layout="nhwc",
       description="Keras/TFLite MobileNet v1/v2: 224, [-1, 1], NHWC"),
    _p("resnet", size=(224, 224), strategy="shorter_side_crop", resize_size=256, normalization="imagenet",
       layout="nchw", description="torchvision ImageClassification: resize 256, centre crop 224"),
    _p("vit", size=(224, 224), strategy="shorter_side_crop", resize_size=256, normalization="imagenet",
       layout="nchw", description="torchvision ViT_B_16 IMAGENET1K_V1: resize 256, crop 224"),
    _p("clip", size=(224, 224), strategy="shorter_side_crop", resize_size=224, method="bicubic",
       normalization="clip", layout="nchw", description="OpenAI CLIP ViT-B/32: bicubic 224, crop 224"),
    _p("deeplab", size=(513, 513), strategy="contain", center=False, pad_color="zero_after_normalize",
       normalization="tensorflow", layout="nhwc",
       description="TF DeepLab v3 513: long side 513, [-1, 1], pad bottom/right with the mean (0 after normalizing)"),
    _p("sam", size=(1024, 1024), strategy="longest_side", pad_color="zero_after_normalize", normalization="sam",
       layout="nchw", description="Segment Anything: ResizeLongestSide 1024, (x - mean) / std on 0-255, pad 0"),
    _p("detr", size=(800, 800), strategy="shorter_side", max_size=1333, pad_color="zero_after_normalize",
       normalization="imagenet", layout="nchw", description="DETR: shorter side 800, long side <= 1333"),
    _p("blazeface", size=(128, 128), strategy="mediapipe", normalization="mediapipe", layout="nhwc",
       description="MediaPipe face detection short range (CPU ImageToTensor, keep aspect, zero border)"),
    _p("mediapipe", size=(128, 128), strategy="mediapipe", normalization="mediapipe", layout="nhwc",
       description="alias of blazeface"),
    _p("blazeface_full", size=(192, 192), strategy="mediapipe", normalization="mediapipe", layout="nhwc",
       description="MediaPipe face detection full range"),
)}


def get_preset(preset: Any) -> Preset:
    """A :class:`Preset` from its name (framework or model preset) or the preset itself.

    Example:
        >>> get_preset("yolo").size
        (640, 640)
    """
    if isinstance(preset, Preset):
        return preset
    if isinstance(preset, str):
        if preset in PRESETS:
            return PRESETS[preset]
        if preset in MODEL_PRESETS:
            return MODEL_PRESETS[preset]
    valid = ", ".join([*PRESETS, *MODEL_PRESETS])
    raise InvalidArgumentError(f"unknown preset {preset!r}; valid presets are: {valid}")
