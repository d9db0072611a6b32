"""Public-API snapshot: the names users import are stable, resolvable and documented.

A change to this list is a deliberate API change: update the snapshot in the same commit.
"""

from __future__ import annotations

import inspect

import pytest

import mlxquant as mq

TOP_LEVEL = sorted(
    """
    AlreadyQuantizedError BackendError EntropyObserver FixedHistogram FloatReport HistogramObserver ImageError
    InputTypeError InvalidArgumentError InvalidDtypeError InvalidProfileError MSEObserver MinMaxObserver
    MissingDependencyError MlxquantError ModelFormatError MovingAverageMinMaxObserver NonFiniteError PACK_LAYOUTS
    PROFILES PercentileObserver Profile QParams QTYPES QType QuantizationError QuantizedTensor ShapeError __version__
    analysis analyze_sensitivity checkpoint choose_qparams cli decode dequantize draw fake_quantize
    float_overflow_report from_bits from_float8 get_backend gguf_dequantize gguf_quantize inspect_model metrics
    mlx_dequantize mlx_quantize models nn pack pipeline qparams_from_minmax quant quantize quantize_checkpoint
    runtimes to_bfloat16 to_float16 to_float8 to_numpy unpack vision
    """.split()
)

SUBPACKAGE_API = {
    "vision": "load_image resize fit letterbox preprocess Transform Batch PRESETS MODEL_PRESETS normalize to_layout "
    "convert_color yuv_to_rgb to_gray check_model_input quantize_input".split(),
    "decode": "classify nms yolo ssd ssd_anchors blazeface segmentation tflite_detection_postprocess Detections "
    "Classification Segmentation get_labels box_iou weighted_nms".split(),
    "pipeline": "Classifier Detector Segmenter".split(),
    "metrics": "mse rmse max_abs_error sqnr cosine_similarity topk_agreement kl_divergence compare".split(),
    "draw": "boxes keypoints mask".split(),
    "nn": "prepare_qat convert QATLinear QATConv2d".split(),
}


def test_top_level_snapshot() -> None:
    assert sorted(mq.__all__) == TOP_LEVEL


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_top_level_names_resolve(name: str) -> None:
    obj = getattr(mq, name)
    if callable(obj) and not isinstance(obj, type) and not inspect.ismodule(obj):
        assert inspect.getdoc(obj), f"mq.{name} has no docstring"


@pytest.mark.parametrize("module, names", list(SUBPACKAGE_API.items()))
def test_subpackage_api(module: str, names: list[str]) -> None:
    mod = getattr(mq, module)
    for n in names:
        assert hasattr(mod, n), f"mq.{module}.{n} is missing"
        assert inspect.getdoc(getattr(mod, n)), f"mq.{module}.{n} has no docstring"


def test_errors_derive_from_builtins() -> None:
    assert issubclass(mq.QuantizationError, ValueError)
    assert issubclass(mq.ShapeError, ValueError)
    assert issubclass(mq.InputTypeError, TypeError)
    assert issubclass(mq.MissingDependencyError, ImportError)
    for name in TOP_LEVEL:
        obj = getattr(mq, name)
        if isinstance(obj, type) and name.endswith("Error"):
            assert issubclass(obj, mq.MlxquantError)
