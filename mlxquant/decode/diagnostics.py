"""Dequantization of raw model outputs and the diagnostics users need (REFERENCE §11).

Each output is dequantized with its *own* scale and zero point through the core :func:`mlxquant.dequantize`.
Diagnostics (warnings of class :class:`DecodeWarning`, each naming the fix):

* an output stuck at its zero point (every value equal: the model, the input or the quantization is broken);
* an output saturated at qmin / qmax (the output range was calibrated too small);
* detection outputs whose boxes and scores share one scale, so that scores collapse to a few levels (INT8 TFLite
  YOLO exports with one output tensor: the scale is set by 0-640 pixel coordinates, scores in [0, 1] keep 1-2
  levels and nothing passes the confidence threshold).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .._backend import Backend, get_backend, to_numpy
from .._errors import InputTypeError, InvalidArgumentError

__all__ = ["DecodeWarning", "check_score_collapse", "dequantize_output", "parse_quant"]

# A saturation fraction above this is reported: a well-calibrated output clips well under 1 % of values.
_SATURATION_FRACTION = 0.05


class DecodeWarning(UserWarning):
    """A decoding diagnostic: the result is computed, but the output looks wrong (the message names the fix)."""


def parse_quant(quant: Any) -> tuple[Any, Any]:
    """``(scale, zero_point)`` from a tuple, a dict with ``scale`` / ``zero_point``, or an object with those fields."""
    if isinstance(quant, dict):
        if "scale" not in quant:
            raise InvalidArgumentError(f"quant dict needs a 'scale' key, got keys {sorted(quant)}")
        return quant["scale"], quant.get("zero_point", 0)
    if isinstance(quant, (tuple, list)) and len(quant) == 2:
        return quant[0], quant[1]
    if hasattr(quant, "scale"):
        return quant.scale, getattr(quant, "zero_point", 0)
    raise InvalidArgumentError(
        "quant must be (scale, zero_point), {'scale': s, 'zero_point': z} or an object with .scale and .zero_point; "
        f"got {quant!r}"
    )


def _qrange(name: str) -> tuple[int, int] | None:
    info = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767), "uint16": (0, 65535),
            "int32": (-(2**31), 2**31 - 1)}
    return info.get(name)


def dequantize_output(x: Any, quant: Any, *, name: str = "output", backend: str | None = None) -> tuple[Backend, Any]:
    """Float32 view of a model output: integer outputs need ``quant``; float outputs must not have one.

    Returns:
        ``(backend, float32 array)`` on the input's backend.

    Raises:
        InputTypeError: an integer output without ``quant``.
    """
    b = get_backend(x, backend)
    a = b.asarray(x)
    dt = b.dtype_name(a)
    if quant is None:
        if b.is_integer(a) or dt == "bool":
            raise InputTypeError(
                f"{name} has integer dtype {dt}: pass quant=(scale, zero_point) of this output (from the model's "
                "output details) so it can be dequantized"
            )
        return b, (a if dt == "float32" else b.astype(a, "float32"))
    if not b.is_integer(a):
        raise InputTypeError(f"{name} is already float ({dt}) but quant= was given; drop quant for float outputs")
    scale, zp = parse_quant(quant)
    _diagnose_raw(b, a, dt, zp, name)
    from ..quant.primitives import dequantize  # the core primitive (issue 2), imported on use

    return b, b.asarray(dequantize(a, scale, zp, dtype="float32"), "float32")


def _diagnose_raw(b: Backend, a: Any, dt: str, zp: Any, name: str) -> None:
    q = to_numpy(a)
    if q.size == 0:
        return
    zpa = np.asarray(to_numpy(zp))
    if zpa.size == 1 and (q == zpa.reshape(())).all():
        warnings.warn(
            f"{name} is stuck at its zero point {int(zpa.reshape(()))} (every value equal): the model output is "
            "constant — check the input preprocessing (dtype, scale, quantization of the input) and the model",
            DecodeWarning,
            stacklevel=3,
        )
        return
    r = _qrange(dt)
    if r is not None:
        # A bound equal to the zero point holds exact zeros, not clipped values (uint8 / int8 softmax outputs have
        # zero_point = qmin and most values there), so only a bound other than the zero point counts.
        z = int(zpa.reshape(-1)[0]) if zpa.size == 1 else None
        at = np.zeros(q.shape, bool)
        for bound in r:
            if bound != z:
                at |= q == bound
        sat = float(np.mean(at))
        if sat > _SATURATION_FRACTION:
            warnings.warn(
                f"{name}: {sat:.0%} of the values sit at the saturation bounds {r} of {dt}: the output range was "
                "calibrated too small — re-calibrate the output quantization (larger range) or keep it float",
                DecodeWarning,
                stacklevel=3,
            )


def check_score_collapse(scores: Any, boxes: Any, conf: float, name: str = "output") -> None:
    """Warn when dequantized scores have collapsed to very few levels while boxes span pixels (shared scale)."""
    s = to_numpy(scores).ravel()
    bx = to_numpy(boxes)
    if s.size < 16 or bx.size == 0:
        return
    levels = np.unique(s)
    if levels.size <= 4 and float(np.abs(bx).max()) > 2.0:
        step = float(np.min(np.diff(levels))) if levels.size > 1 else float("nan")
        warnings.warn(
            f"{name}: the class scores take only {levels.size} distinct values ({levels[:4].tolist()}, step {step:g}) "
            f"while box coordinates reach {float(np.abs(bx).max()):g}: boxes and scores share one quantization "
            f"scale, so scores collapsed and few pass conf={conf}. Export the model with separate box and score "
            "outputs (or a float output), then dequantize each output with its own scale and zero point",
            DecodeWarning,
            stacklevel=3,
        )
