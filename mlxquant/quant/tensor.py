"""A self-describing quantized tensor: packed codes plus everything needed to dequantize them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .._backend import get_backend
from .._errors import AlreadyQuantizedError, InvalidArgumentError

__all__ = ["QuantizedTensor"]


@dataclass(frozen=True)
class QuantizedTensor:
    """Packed quantized weights that carry their own format (so nobody re-quantizes them by mistake).

    Attributes:
        data: packed codes: uint32 words (MLX formats) or uint8 GGUF blocks.
        scales: per-group scales (float for affine, uint8 codes for mxfp4/mxfp8/nvfp4); ``None`` for GGUF (the
            scales live inside the blocks).
        biases: per-group biases (affine) or zero points; ``None`` where the format has none.
        bits: code width.
        group_size: values per group (along ``axis``).
        mode: ``"affine"``, ``"mxfp4"``, ``"mxfp8"``, ``"nvfp4"`` or a GGUF type (``"Q4_0"``, ...).
        axis: the axis the groups run along (always the last: -1).
        shape: the original (float) shape.
        dtype: the original float dtype name.
        meta: free-form extra facts (e.g. the width policy used).

    Example:
        >>> import numpy as np
        >>> qt = QuantizedTensor.quantize(np.ones((4, 64), np.float32), group_size=32, bits=4)
        >>> qt.describe()
        'affine 4-bit, group 32, axis -1, shape (4, 64) float32'
        >>> qt.nbytes, qt.dequantize().shape
        (192, (4, 64))
    """

    data: Any
    scales: Any
    biases: Any
    bits: int
    group_size: int
    mode: str
    shape: tuple[int, ...]
    dtype: str
    axis: int = -1
    meta: dict[str, Any] = field(default_factory=dict)

    # ---- construction ------------------------------------------------------------------------------------------
    @classmethod
    def quantize(
        cls, w: Any, group_size: int | None = None, bits: int | None = None, mode: str = "affine", **kwargs: Any
    ) -> QuantizedTensor:
        """Quantize float weights into a QuantizedTensor: MLX modes via :func:`mlxquant.mlx_quantize`, GGUF types
        (``mode="Q4_0"``, ...) via :func:`mlxquant.gguf_quantize`. ``group_size`` / ``bits`` ``None``: the mode's
        defaults (affine 64 / 4, mxfp4 32 / 4, mxfp8 32 / 8, nvfp4 16 / 4), as ``mx.quantize``.

        Raises:
            AlreadyQuantizedError: ``w`` is already quantized.
        """
        from .formats import GGUF_TYPES, MLX_MODES

        if isinstance(w, QuantizedTensor):
            raise AlreadyQuantizedError(f"this tensor is already quantized ({w.describe()})")
        if isinstance(w, (list, tuple)):  # nested Python numbers: float32, as mlx_quantize computes them
            import numpy as np

            w = np.asarray(w, dtype=np.float32)
        b = get_backend(w)
        dtype = b.dtype_name(b.asarray(w))
        shape = tuple(int(s) for s in w.shape)
        if mode in GGUF_TYPES:
            from .formats.gguf import gguf_quantize

            blocks = gguf_quantize(w, mode, **kwargs)
            return cls(blocks, None, None, _GGUF_BITS[mode], GGUF_TYPES[mode][0], mode, shape, dtype)
        if mode not in MLX_MODES:
            raise InvalidArgumentError(
                f"invalid mode {mode!r}; valid values are: {', '.join([*MLX_MODES, *GGUF_TYPES])}"
            )
        from .formats.mlx import MLX_MODES as _M
        from .formats.mlx import mlx_quantize

        wq, scales, biases = mlx_quantize(w, group_size, bits, mode, **kwargs)
        g = group_size if group_size is not None else _M[mode][0]
        nb = bits if bits is not None else _M[mode][1]
        if shape[-1] % g:  # "pad" or "fallback" policy: the group actually used
            g = (wq.shape[-1] * 32 // nb) // scales.shape[-1]
        meta = {"policy": kwargs.get("policy", "error")}
        if kwargs.get("global_scale") is not None:  # nvfp4's per-tensor scale, needed again to dequantize
            from .formats.mlx import _global_scale

            meta["global_scale"] = _global_scale(kwargs["global_scale"], mode)
        return cls(wq, scales, biases, nb, g, mode, shape, dtype, meta=meta)

    # ---- use ---------------------------------------------------------------------------------------------------
    def dequantize(self, dtype: str | None = None) -> Any:
        """The float weights in the original shape.

        ``dtype`` default: GGUF → float32 (as the format's dequantizer); MLX modes → the original dtype (affine
        computes in the scales' dtype, which is the original one; microscaling modes, whose ``mx.dequantize``
        default is bfloat16, multiply in the original dtype — on NumPy, float32 for a bfloat16 original).
        """
        from .formats import GGUF_TYPES

        if dtype is None and self.mode not in GGUF_TYPES and self.mode != "affine":
            b = get_backend(self.data)
            dtype = self.dtype if (b.name == "mlx" or self.dtype != "bfloat16") else "float32"
        if self.mode in GGUF_TYPES:
            from .formats.gguf import gguf_dequantize

            w = gguf_dequantize(self.data, self.mode, self.shape)
        else:
            from .formats.mlx import mlx_dequantize

            w = mlx_dequantize(
                self.data,
                self.scales,
                self.biases,
                self.group_size,
                self.bits,
                self.mode,
                self.meta.get("global_scale"),
                dtype=dtype,
                width=self.shape[-1],
            )
        if dtype is not None:
            b = get_backend(w)
            if b.dtype_name(w) != dtype:
                w = b.astype(w, dtype)
        return w

    @property
    def nbytes(self) -> int:
        """Bytes of storage: packed data + scales + biases."""
        return sum(_nbytes(a) for a in (self.data, self.scales, self.biases) if a is not None)

    @property
    def bits_per_weight(self) -> float:
        """Storage bits per original weight (scales and biases included)."""
        n = math.prod(self.shape)
        return 8 * self.nbytes / n if n else 0.0

    def describe(self) -> str:
        """One line: mode, bits, group, axis, original shape and dtype."""
        return (
            f"{self.mode} {self.bits}-bit, group {self.group_size}, axis {self.axis}, shape {self.shape} {self.dtype}"
        )

    def __repr__(self) -> str:
        return f"QuantizedTensor({self.describe()}, {self.nbytes} bytes)"


_GGUF_BITS = {"Q8_0": 8, "Q4_0": 4, "Q4_1": 4, "Q5_0": 5, "Q5_1": 5}


def _nbytes(a: Any) -> int:
    n = getattr(a, "nbytes", None)
    if n is not None:
        return int(n)
    return int(get_backend(a).to_numpy(a).nbytes)  # pragma: no cover
