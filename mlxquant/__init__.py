"""mlxquant: quantization, preprocessing and output decoding for on-device ML inference, on MLX and NumPy.

``import mlxquant`` imports NumPy only; MLX and every optional peer are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._backend import get_backend, to_numpy
from ._errors import (
    AlreadyQuantizedError,
    BackendError,
    ImageError,
    InputTypeError,
    InvalidArgumentError,
    InvalidDtypeError,
    InvalidProfileError,
    MissingDependencyError,
    MlxquantError,
    ModelFormatError,
    NonFiniteError,
    QuantizationError,
    ShapeError,
)
from .quant.dtypes import QTYPES, QType

__version__ = "0.1.0"

# Public names resolved on first access (PEP 562), so that importing mlxquant stays light.
_LAZY: dict[str, str] = {
    # quantization core (issue 2)
    "quantize": "mlxquant.quant.primitives",
    "dequantize": "mlxquant.quant.primitives",
    "choose_qparams": "mlxquant.quant.primitives",
    "fake_quantize": "mlxquant.quant.primitives",
    "QParams": "mlxquant.quant.primitives",
    "qparams_from_minmax": "mlxquant.quant.primitives",
    "PROFILES": "mlxquant.quant.profiles",
    "Profile": "mlxquant.quant.profiles",
    # packing and LLM formats (issue 3)
    "pack": "mlxquant.quant.packing",
    "unpack": "mlxquant.quant.packing",
    "PACK_LAYOUTS": "mlxquant.quant.packing",
    "mlx_quantize": "mlxquant.quant.formats.mlx",
    "mlx_dequantize": "mlxquant.quant.formats.mlx",
    "gguf_quantize": "mlxquant.quant.formats.gguf",
    "gguf_dequantize": "mlxquant.quant.formats.gguf",
    "QuantizedTensor": "mlxquant.quant.tensor",
    "quantize_checkpoint": "mlxquant.checkpoint",
    # calibration, floats (issue 4)
    "MinMaxObserver": "mlxquant.quant.observers",
    "MovingAverageMinMaxObserver": "mlxquant.quant.observers",
    "PercentileObserver": "mlxquant.quant.observers",
    "EntropyObserver": "mlxquant.quant.observers",
    "MSEObserver": "mlxquant.quant.observers",
    "HistogramObserver": "mlxquant.quant.observers",
    "FixedHistogram": "mlxquant.quant.observers",
    "to_float16": "mlxquant.quant.floats",
    "to_bfloat16": "mlxquant.quant.floats",
    "to_float8": "mlxquant.quant.floats",
    "from_float8": "mlxquant.quant.floats",
    "from_bits": "mlxquant.quant.floats",
    "float_overflow_report": "mlxquant.quant.floats",
    "FloatReport": "mlxquant.quant.floats",
    "analyze_sensitivity": "mlxquant.analysis",
    # models (issue 7)
    "inspect_model": "mlxquant.models",
}

# Subpackages and modules reachable as attributes (mq.vision, mq.decode, ...), imported on first access.
_SUBMODULES = (
    "quant",
    "vision",
    "decode",
    "draw",
    "metrics",
    "nn",
    "pipeline",
    "analysis",
    "models",
    "runtimes",
    "checkpoint",
    "cli",
)

__all__ = [
    "__version__",
    "QTYPES",
    "QType",
    "get_backend",
    "to_numpy",
    "MlxquantError",
    "QuantizationError",
    "InvalidDtypeError",
    "InvalidProfileError",
    "InvalidArgumentError",
    "ShapeError",
    "NonFiniteError",
    "BackendError",
    "InputTypeError",
    "AlreadyQuantizedError",
    "ModelFormatError",
    "ImageError",
    "MissingDependencyError",
    *_LAZY,
    *_SUBMODULES,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        module = importlib.import_module(f"mlxquant.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'mlxquant' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
