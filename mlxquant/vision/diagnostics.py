"""Diagnostics for the silent preprocessing mistakes users report (REFERENCE §11).

Each finding is a warning of a specific subclass of :class:`PreprocessWarning` (filter them with ``warnings``) or,
where the tensor cannot be right, an exception from :mod:`mlxquant._errors`; every message says how to fix it.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .._backend import get_backend, to_numpy
from .._errors import InputTypeError
from .normalize import NORMALIZATIONS, Normalization, get_normalization

__all__ = [
    "ChannelOrderWarning",
    "ConstantImageWarning",
    "DoubleNormalizationWarning",
    "PreprocessWarning",
    "check_constant",
    "check_float_pixels",
    "check_model_input",
    "check_normalization_order",
]


class PreprocessWarning(UserWarning):
    """Base class of mlxquant.vision's preprocessing warnings."""


class DoubleNormalizationWarning(PreprocessWarning):
    """The data looks normalized already (e.g. [0, 1] floats normalized again as 0-255 pixels)."""


class ChannelOrderWarning(PreprocessWarning):
    """mean/std are written in BGR order for an RGB input (or the reverse)."""


class ConstantImageWarning(PreprocessWarning):
    """An image is one constant value (blank frame, failed decode, wrong buffer)."""


def _close(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return len(a) == len(b) and bool(np.allclose(np.asarray(a), np.asarray(b), rtol=1e-3, atol=1e-4))


def check_normalization_order(norm: Normalization, color: str) -> None:
    """Warn when the mean/std order contradicts the channel order (caffe's BGR means on RGB pixels, ImageNet's RGB
    means written reversed, ...).

    Example:
        >>> import warnings
        >>> from mlxquant.vision.normalize import get_normalization
        >>> with warnings.catch_warnings(record=True) as w:
        ...     warnings.simplefilter("always")
        ...     check_normalization_order(get_normalization(mean=(0.406, 0.456, 0.485), std=(0.225, 0.224, 0.229)),
        ...                               "rgb")
        >>> w[0].category.__name__
        'ChannelOrderWarning'
    """
    if color == "gray":
        return
    if norm.order != color and norm.name != "custom" and len(set(norm.mean)) > 1:
        warnings.warn(f"normalization {norm.name!r} has its mean/std in {norm.order.upper()} order but the pixels are "
                      f"{color.upper()}: pass color={norm.order!r} (or a normalization written in {color.upper()})",
                      ChannelOrderWarning, stacklevel=3)
        return
    for ref in NORMALIZATIONS.values():
        if len(set(ref.mean)) <= 1 or ref.name == norm.name:
            continue
        rev_mean, rev_std = tuple(reversed(ref.mean)), tuple(reversed(ref.std))
        if _close(norm.mean, rev_mean) and (not ref.std or _close(norm.std, rev_std)):
            other = "BGR" if ref.order == "rgb" else "RGB"
            warnings.warn(f"mean/std {norm.mean} are the {ref.name!r} values in {other} order, but the pixels are "
                          f"{color.upper()}: use normalization={ref.name!r} or reverse the mean/std",
                          ChannelOrderWarning, stacklevel=3)
            return


def check_float_pixels(img: Any, norm: Any) -> None:
    """Warn when float pixels already in [0, 1] are about to be divided by 255 again."""
    n = get_normalization(norm)
    b = get_backend(img)
    if not b.is_floating(img) or n.divisor < 2:
        return
    a = to_numpy(img)
    if a.size and float(np.nanmax(a)) <= 1.0 and float(np.nanmin(a)) >= -1.0 and float(np.nanmax(a)) > 0:
        warnings.warn(f"float pixels lie in [{float(np.nanmin(a)):.3g}, {float(np.nanmax(a)):.3g}] but normalization "
                      f"{n.name!r} divides by {n.divisor:g}: the image looks normalized already. Pass uint8 pixels, "
                      "or multiply by 255 first, or use normalization='raw'", DoubleNormalizationWarning, stacklevel=3)


def check_constant(x: Any, *, axis_batch: int = 0, first_index: int = 0) -> list[int]:
    """Indices of constant images in a batch (warned as :class:`ConstantImageWarning`); ``first_index`` is the
    index of the batch's first image in the caller's list."""
    b = get_backend(x)
    nd = len(x.shape)
    axes = tuple(i for i in range(nd) if i != axis_batch)
    # max == min in the native dtype: no float copy of the batch, no wrap-around of an unsigned difference
    same = to_numpy(b.max(x, axis=axes) == b.min(x, axis=axes))
    bad = [int(i) + first_index for i in np.flatnonzero(same)]
    if bad:
        warnings.warn(f"image(s) {bad} are constant (every pixel the same value): a blank frame, a failed decode or a "
                      "wrong buffer? The model output will be meaningless", ConstantImageWarning, stacklevel=3)
    return bad


def check_model_input(x: Any, *, dtype: str, quant: Any = None, normalization: Any = None) -> list[str]:
    """Check a tensor about to be fed to a model input of ``dtype`` (and its quantization / normalization).

    Raises:
        InputTypeError: float data for a uint8/int8 input; uint8 data for an int8 input or int8 for uint8 (off by
            128), each with the fix.

    Returns:
        The warnings issued (messages), also emitted with ``warnings.warn``.

    Example:
        >>> import numpy as np, warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     check_model_input(np.zeros((1, 4, 4, 3), np.float32), dtype="float32")  # doctest: +ELLIPSIS
        ['image(s) [0] are constant ...']
    """
    b = get_backend(x)
    have = b.dtype_name(x)
    found: list[str] = []
    if dtype in ("uint8", "int8") and b.is_floating(x):
        raise InputTypeError(f"the model input is {dtype} but the tensor is {have}: quantize it with the input's "
                             "scale and zero point (preprocess(..., quant=(scale, zero_point)) or "
                             "mq.quantize); casting floats would truncate them")
    if {dtype, have} == {"uint8", "int8"}:
        fix = "subtract 128 (preset 'tflite_int8' / 'onnx_quantized_int8')" if dtype == "int8" else "add 128"
        raise InputTypeError(f"the model input is {dtype} but the tensor is {have}: reinterpreting shifts every value "
                             f"by 128; {fix}")
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        check_constant(x)
        if normalization is not None and b.is_floating(x):
            n = get_normalization(normalization)
            a = to_numpy(x).astype(np.float64)
            c = a.shape[-1] if a.shape[-1] in (1, 3, 4) else a.shape[1]  # NHWC, else NCHW
            axis = -1 if a.shape[-1] == c else 1
            m, s = n.vectors(int(c))
            shape = [1] * a.ndim
            shape[axis] = int(c)
            pix = (a * s.reshape(shape) + m.reshape(shape)) * n.divisor
            if a.size and np.nanmax(pix) - np.nanmin(pix) <= 2.0 and np.nanmax(np.abs(pix)) <= 2.0:
                warnings.warn(f"undoing normalization {n.name!r} gives pixel values in [{np.nanmin(pix):.3g}, "
                              f"{np.nanmax(pix):.3g}] instead of 0-255: the normalization was applied twice (or the "
                              "pixels were [0, 1] floats); normalize uint8 pixels once", DoubleNormalizationWarning,
                              stacklevel=2)
    for r in rec:
        warnings.warn(r.message, r.category, stacklevel=2)
        found.append(str(r.message))
    return found
