"""Public API snapshot: names, docstrings with examples, type hints."""

from __future__ import annotations

import inspect

import mlxquant as mq

EXPECTED = {
    "Batch", "COLOR_ORDERS", "COORDINATE_MODES", "ChannelOrderWarning", "ConstantImageWarning",
    "DoubleNormalizationWarning", "FIT_STRATEGIES", "LAYOUTS", "LOAD_MODES", "MODEL_PRESETS", "NEAREST_MODES",
    "NORMALIZATIONS", "Normalization", "OUTPUT_DTYPES", "PRESETS", "Preset", "PreprocessWarning", "RESIZE_METHODS",
    "Transform", "YUV_FORMATS", "cast_output", "center_crop", "check_model_input", "convert_color", "fit",
    "get_normalization", "get_preset", "letterbox", "letterbox_params", "load_image", "normalize", "pad_image",
    "preprocess", "quantize_input", "resize", "to_gray", "to_layout", "yuv_to_rgb",
}


def test_public_names_snapshot():
    assert set(mq.vision.__all__) == EXPECTED
    for name in EXPECTED:
        assert hasattr(mq.vision, name), name


def test_public_functions_documented_with_examples_and_hints():
    for name in mq.vision.__all__:
        obj = getattr(mq.vision, name)
        if inspect.isfunction(obj):
            doc = inspect.getdoc(obj) or ""
            assert "Example" in doc, f"{name} has no Example section"
            sig = inspect.signature(obj)
            assert sig.return_annotation is not inspect.Signature.empty, f"{name} lacks a return annotation"
        elif inspect.isclass(obj):
            assert inspect.getdoc(obj), f"{name} has no docstring"


def test_transform_methods_have_examples():
    for meth in ("inverse_boxes", "inverse_points", "inverse_mask", "forward_boxes", "forward_points"):
        assert "Example" in (inspect.getdoc(getattr(mq.vision.Transform, meth)) or ""), meth


def test_presets_are_frozen_and_complete():
    import dataclasses

    swift_rows = {"pytorch", "onnx", "tensorflow", "tflite_float", "tflite_quantized", "onnx_quantized_uint8",
                  "onnx_quantized_int8", "onnx_float16", "coreml", "opencv"}
    assert swift_rows <= set(mq.vision.PRESETS)
    assert {"yolo", "mobilenet", "resnet", "vit", "clip", "deeplab", "sam", "detr", "blazeface"} <= set(
        mq.vision.MODEL_PRESETS)
    p = mq.vision.PRESETS["pytorch"]
    assert dataclasses.is_dataclass(p) and p.__dataclass_params__.frozen
    assert mq.vision.get_preset("yolo").with_overrides(size=(320, 320)).size == (320, 320)
