"""Quantization: dtypes, qparams, quantize/dequantize, profiles, packing, floats, observers, LLM formats."""

from .dtypes import QTYPES, QType, qtype

__all__ = ["QTYPES", "QType", "qtype"]
