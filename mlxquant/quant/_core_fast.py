"""NumPy fast path for quantize/dequantize (filled in below; returns None when it does not apply)."""

from __future__ import annotations

from typing import Any

__all__ = ["dequantize", "quantize"]


def quantize(x: Any, p: Any, formula: str, mode: str) -> Any:
    return None


def dequantize(q: Any, p: Any) -> Any:
    return None
