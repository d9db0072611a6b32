"""Quantized integer dtypes: bit width, signedness, saturation range and storage dtype."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from .._errors import InvalidDtypeError

__all__ = ["QTYPES", "QType", "qtype"]


@dataclass(frozen=True)
class QType:
    """A quantized integer type.

    Attributes:
        name: e.g. ``"int4"``.
        bits: bit width.
        signed: two's-complement signed or unsigned.
        qmin: smallest representable value (saturation bound).
        qmax: largest representable value (saturation bound).
        storage: the NumPy/MLX dtype that holds one unpacked value (``"int8"`` for int2/int4, ...).
    """

    name: str
    bits: int
    signed: bool
    qmin: int
    qmax: int
    storage: str

    def narrow(self) -> tuple[int, int]:
        """The narrow (symmetric) range: ``(qmin + 1, qmax)`` for signed types, ``(qmin, qmax)`` otherwise."""
        return (self.qmin + 1, self.qmax) if self.signed else (self.qmin, self.qmax)


def _make(bits: int, signed: bool) -> QType:
    name = f"{'' if signed else 'u'}int{bits}"
    if signed:
        qmin, qmax = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    else:
        qmin, qmax = 0, (1 << bits) - 1
    storage_bits = 8 if bits <= 8 else (16 if bits <= 16 else 32)
    storage = f"{'' if signed else 'u'}int{storage_bits}"
    return QType(name, bits, signed, qmin, qmax, storage)


#: Every quantized dtype mlxquant knows, by name (ONNX's saturation ranges, REFERENCE §2; int32 is for biases).
QTYPES: Mapping[str, QType] = MappingProxyType(
    {q.name: q for q in (_make(b, s) for b in (2, 4, 8, 16) for s in (True, False))} | {"int32": _make(32, True)}
)


def qtype(dtype: Any) -> QType:
    """Look up a :class:`QType` by name, or by a NumPy / ml_dtypes / MLX integer dtype of the same name.

    Args:
        dtype: ``"int8"``, a :class:`QType`, ``np.int8``, ``np.dtype("uint8")``, ``ml_dtypes.int4``, ``mx.int16``...

    Raises:
        InvalidDtypeError: unknown name (the message lists the valid ones).

    Example:
        >>> import numpy as np
        >>> qtype(np.uint8).qmax, qtype("int4").qmin
        (255, -8)
    """
    if isinstance(dtype, QType):
        return dtype
    name = dtype if isinstance(dtype, str) else _dtype_name(dtype)
    try:
        return QTYPES[name]
    except (KeyError, TypeError):
        raise InvalidDtypeError(f"unknown quantized dtype {dtype!r}; valid dtypes are: {', '.join(QTYPES)}") from None


def _dtype_name(dtype: Any) -> str | None:
    """The name of a NumPy/ml_dtypes dtype or scalar type, or of an MLX dtype (``mlx.core.int8`` → ``"int8"``)."""
    if type(dtype).__module__.startswith("mlx"):
        return str(dtype).rsplit(".", 1)[-1]
    try:
        return np.dtype(dtype).name
    except TypeError:
        return None
