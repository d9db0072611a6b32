"""Session fixtures: the small real models of tools/build_models.py, built once per test session.

Shared by tests/models, tests/pipeline and tests/cli (their conftest.py files import ``model_dir`` from here).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

__all__ = ["ROOT", "build_models", "model_dir"]

ROOT = Path(__file__).resolve().parents[2]


def build_models():
    """Import tools/build_models.py (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("mlxquant_tools_build_models", ROOT / "tools" / "build_models.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with every test model, float and quantized (onnxruntime quantize_static), ONNX and TFLite."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    bm = build_models()
    out = tmp_path_factory.mktemp("models")
    bm.main([str(out)])
    bm.quantize_onnx(out / "colour_classifier.onnx", out / "colour_classifier.int8.onnx",
                     bm.calibration_images(16, 64), per_channel=True)
    bm.quantize_onnx(out / "colour_classifier_softmax.onnx", out / "colour_classifier_softmax.int8.onnx",
                     bm.calibration_images(16, 64), per_channel=True)
    _quantize_qoperator(out / "colour_classifier_softmax.onnx", out / "colour_classifier_softmax.qop.onnx",
                        bm.calibration_images(16, 64))
    bm.quantize_onnx(out / "colour_segmenter.onnx", out / "colour_segmenter.int8.onnx",
                     bm.calibration_images(16, 128), per_channel=True)
    bm.quantize_onnx(out / "colour_detector.onnx", out / "colour_detector.int8.onnx",
                     bm.calibration_images(12, 256), nodes=bm.DETECTOR_QUANT_NODES)
    return out


def _quantize_qoperator(src: Path, dst: Path, calibration: Any) -> None:
    """onnxruntime quantize_static in the QOperator format (QLinearConv / QLinearSoftmax ..., uint8 activations)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter([{"input": c[None]} for c in calibration])

        def get_next(self) -> dict | None:
            return next(self._it, None)

    quantize_static(str(src), str(dst), _Reader(), quant_format=QuantFormat.QOperator)
