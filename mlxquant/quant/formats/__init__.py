"""LLM weight formats: MLX (affine and microscaling) and GGUF block quantization."""

from __future__ import annotations

__all__ = ["GGUF_TYPES", "MLX_MODES"]

#: MLX quantization modes: name → (default group size, default bits, valid group sizes, valid bits).
MLX_MODES = {
    "affine": (64, 4, (32, 64, 128), (1, 2, 3, 4, 5, 6, 8)),
    "mxfp4": (32, 4, (32,), (4,)),
    "mxfp8": (32, 8, (32,), (8,)),
    "nvfp4": (16, 4, (16,), (4,)),
}

#: GGUF block types mlxquant quantizes: name → (values per block, bytes per block).
GGUF_TYPES = {"Q8_0": (32, 34), "Q4_0": (32, 18), "Q4_1": (32, 20), "Q5_0": (32, 22), "Q5_1": (32, 24)}
