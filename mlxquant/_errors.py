"""The exception hierarchy of mlxquant.

Every error mlxquant raises on bad input derives from :class:`MlxquantError` and from the builtin that a caller
would naturally catch (``ValueError`` or ``TypeError``), so ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "AlreadyQuantizedError",
    "BackendError",
    "ImageError",
    "InputTypeError",
    "InvalidArgumentError",
    "InvalidDtypeError",
    "InvalidProfileError",
    "MissingDependencyError",
    "MlxquantError",
    "ModelFormatError",
    "NonFiniteError",
    "QuantizationError",
    "ShapeError",
]


class MlxquantError(Exception):
    """Base class of every mlxquant error."""


class QuantizationError(MlxquantError, ValueError):
    """A quantization argument has an invalid value."""


class InvalidDtypeError(QuantizationError):
    """An unknown or unsupported quantized (or float) dtype was requested."""


class InvalidProfileError(QuantizationError):
    """An unknown profile (peer convention) was requested."""


class InvalidArgumentError(MlxquantError, ValueError):
    """An argument has a value outside its valid set."""


class ShapeError(MlxquantError, ValueError):
    """An array has the wrong shape; the message names the expected and the actual shape."""


class NonFiniteError(MlxquantError, ValueError):
    """The data holds NaN or infinity where finite values are required."""


class BackendError(MlxquantError, RuntimeError):
    """An array backend is unavailable or the inputs mix backends."""


class InputTypeError(MlxquantError, TypeError):
    """An argument has the wrong type or dtype (e.g. integer data given to ``quantize``)."""


class AlreadyQuantizedError(MlxquantError, TypeError):
    """Refusal to quantize a tensor that is already quantized."""


class ModelFormatError(MlxquantError, ValueError):
    """A model or checkpoint file is unreadable, truncated or of an unknown format."""


class ImageError(MlxquantError, ValueError):
    """An image is unreadable, truncated or not an image."""


class MissingDependencyError(MlxquantError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""
