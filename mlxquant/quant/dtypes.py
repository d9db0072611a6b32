"""Quantized integer dtypes: bit width, signedness, saturation range and storage dtype."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

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


def qtype(dtype: str | QType) -> QType:
    """Look up a :class:`QType` by name.

    Raises:
        InvalidDtypeError: unknown name (the message lists the valid ones).
    """
    if isinstance(dtype, QType):
        return dtype
    try:
        return QTYPES[dtype]
    except (KeyError, TypeError):
        raise InvalidDtypeError(f"unknown quantized dtype {dtype!r}; valid dtypes are: {', '.join(QTYPES)}") from None
