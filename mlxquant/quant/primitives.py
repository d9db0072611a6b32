"""The quantization core: choose_qparams, quantize, dequantize, fake_quantize (NumPy and MLX, one implementation).

Every function is written once against the array shim (:mod:`mlxquant._backend`); NumPy in → NumPy out, MLX in →
MLX out, ``backend=`` forces one. The arithmetic of each profile is defined in ``docs/spec/quant.md``; the
conventions are named in :mod:`mlxquant.quant.profiles`. All arithmetic is float32 (float16/bfloat16/float64 input
is converted to float32 first, exactly for the first two), with every float→int cast preceded by NaN replacement and
saturation, so no cast is undefined.

Parameters travel as a :class:`QParams` (what ``choose_qparams`` returns): pass it in place of ``scale``
(``quantize(x, p)``, ``dequantize(q, p)``, ``fake_quantize(x, p)``), or unpack it with ``quantize(x, **p.kwargs())``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from .._backend import Backend, get_backend, is_mlx_array, to_numpy
from .._errors import InputTypeError, InvalidArgumentError, NonFiniteError, QuantizationError, ShapeError
from .dtypes import QType, qtype
from .granularity import Layout, make_layout
from .profiles import Profile, get_profile, rounding_mode

__all__ = [
    "QParams",
    "choose_qparams",
    "dequantize",
    "fake_quantize",
    "fake_quantize_mask",
    "qparams_from_minmax",
    "qrange",
    "quantize",
]

_FLOAT_NAMES = ("float32", "float16", "bfloat16", "float64")
_STORAGE_NAMES = ("int8", "uint8", "int16", "uint16", "int32")

#: torch.finfo(torch.float32).eps, torch's scale floor (torch/ao/quantization/observer.py).
_TORCH_EPS = float(np.finfo(np.float32).eps)
#: FLT_MIN: onnxruntime's quantization tool maps a scale below finfo(float32).tiny to 1.0.
_FLT_MIN = float(np.finfo(np.float32).tiny)
#: DBL_EPSILON: the TFLite MLIR converter treats |max - min| < DBL_EPSILON as an all-zero range (FakeQuantSupport.cc).
_DBL_EPSILON = float(np.finfo(np.float64).eps)
#: Reciprocal formulas need f32(1/s) to be a normal float32: s in [2^-127, 2^126] (then 1/s in [2^-126, 2^127]).
_RECIP_SCALE_MIN = 2.0**-127
_RECIP_SCALE_MAX = 2.0**126


_F = TypeVar("_F", bound=Callable[..., Any])


def _quiet(fn: _F) -> _F:
    """Run ``fn`` with NumPy float warnings off: inf/NaN inputs are handled by explicit rules, not warnings."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------------------------
# QParams
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class QParams:
    """Quantization parameters: what :func:`choose_qparams` returns and what quantize/dequantize accept.

    Attributes:
        scale: float32 array on the input's backend (0-d for per-tensor, 1-D for per-axis, ``x``'s rank for
            blocked).
        zero_point: int32 array of the scale's shape.
        dtype: the quantized dtype name (a key of ``mlxquant.QTYPES``).
        axis: the quantization axis (None for per-tensor).
        block_size: the block size along ``axis`` (None unless blocked).

    Use it as ``quantize(x, p)`` / ``dequantize(q, p)`` / ``fake_quantize(x, p)``, or ``quantize(x, **p.kwargs())``.

    Example:
        >>> import numpy as np, mlxquant as mq
        >>> p = mq.choose_qparams(np.array([-1.0, 0.2, 2.0, 3.0], np.float32), "uint8")
        >>> float(p.scale), int(p.zero_point), p.dtype
        (0.01568627543747425, 64, 'uint8')
        >>> mq.quantize(np.array([-1.0, 0.2, 2.0, 3.0], np.float32), p).tolist()
        [0, 77, 191, 255]
    """

    scale: Any
    zero_point: Any
    dtype: str
    axis: int | None = None
    block_size: int | None = None

    @property
    def qtype(self) -> QType:
        """The :class:`~mlxquant.QType` of :attr:`dtype`."""
        return qtype(self.dtype)

    def kwargs(self) -> dict[str, Any]:
        """``dict(scale=..., zero_point=..., dtype=..., axis=..., block_size=...)`` for ``quantize(x, **kw)``.

        (``dequantize``'s ``dtype`` is the *float* output dtype: pass the QParams itself, ``dequantize(q, p)``.)
        """
        return {
            "scale": self.scale,
            "zero_point": self.zero_point,
            "dtype": self.dtype,
            "axis": self.axis,
            "block_size": self.block_size,
        }

    def numpy(self) -> QParams:
        """The same parameters with NumPy arrays."""
        return QParams(to_numpy(self.scale), to_numpy(self.zero_point), self.dtype, self.axis, self.block_size)

    def __repr__(self) -> str:
        s, z = to_numpy(self.scale), to_numpy(self.zero_point)
        fmt = lambda a: repr(a.item()) if a.ndim == 0 else np.array2string(a, threshold=8)  # noqa: E731
        extra = "" if self.axis is None else f", axis={self.axis}"
        extra += "" if self.block_size is None else f", block_size={self.block_size}"
        return f"QParams(scale={fmt(s)}, zero_point={fmt(z)}, dtype={self.dtype!r}{extra})"


def _unpack_qparams(
    scale: Any, zero_point: Any, dtype: str | None, axis: int | None, block_size: int | None
) -> tuple[Any, Any, str | None, int | None, int | None]:
    """If ``scale`` is a QParams, take everything from it.

    Giving a different zero point, axis or block size as well is an error; so is a dtype other than the default
    ``"int8"`` (which cannot be told apart from an explicit ``"int8"``, so it defers to the QParams).
    """
    if not isinstance(scale, QParams):
        return scale, zero_point, dtype, axis, block_size
    p = scale
    clash = []
    if not (isinstance(zero_point, int) and zero_point == 0):
        clash.append("zero_point")
    if dtype is not None and dtype not in ("int8", p.dtype):
        clash.append("dtype")
    if axis is not None and axis != p.axis:
        clash.append("axis")
    if block_size is not None and block_size != p.block_size:
        clash.append("block_size")
    if clash:
        raise InvalidArgumentError(
            f"a QParams was passed as scale, so {', '.join(clash)} must not be given as well (it carries them)"
        )
    return p.scale, p.zero_point, p.dtype, p.axis, p.block_size


# ---------------------------------------------------------------------------------------------------------------
# ranges
# ---------------------------------------------------------------------------------------------------------------
# onnxruntime.quantization.quant_utils.ONNX_INT_TYPE_REDUCED_RANGE
_ONNX_REDUCED = {
    "uint8": (0, 127),
    "int8": (-64, 64),
    "uint16": (0, 32767),
    "int16": (-16384, 16384),
    "uint4": (0, 7),
    "int4": (-4, 3),
}


def qrange(
    dtype: str | QType,
    *,
    symmetric: bool = False,
    narrow_range: bool = False,
    reduce_range: bool = False,
    profile: str | Profile = "onnx",
) -> tuple[int, int]:
    """The integer range ``(qmin, qmax)`` that ``choose_qparams`` spreads the float range over.

    This is the saturation range of the dtype, adjusted per profile: ``reduce_range`` (ONNX tool table, torch
    halving; TFLite has none), symmetric narrowing (the profile's :attr:`~Profile.symmetric_narrow` dtypes use
    ``qmin = -qmax``) and ``narrow_range=True`` (``qmin = max(qmin, -qmax)`` for signed dtypes).

    Example:
        >>> qrange("int8", symmetric=True), qrange("int8", symmetric=True, profile="torch")
        ((-127, 127), (-128, 127))
        >>> qrange("uint8", reduce_range=True, profile="torch"), qrange("int8", reduce_range=True)
        ((0, 127), (-64, 64))
    """
    qt = qtype(dtype)
    prof = get_profile(profile)
    lo, hi = qt.qmin, qt.qmax
    if reduce_range:
        if prof.reduce_range is None:
            raise InvalidArgumentError(f"profile {prof.name!r} has no reduce_range (the peer does not define one)")
        if prof.reduce_range == "onnx" and qt.name in _ONNX_REDUCED:
            lo, hi = _ONNX_REDUCED[qt.name]
        else:
            lo, hi = lo // 2, hi // 2  # torch calculate_qmin_qmax: (-64, 63) / (0, 127), customized ranges halved
    elif symmetric and qt.name in prof.symmetric_narrow:
        lo = -hi
    if narrow_range and qt.signed:
        lo = max(lo, -hi)
    if hi - lo < 1:
        raise InvalidArgumentError(
            f"{qt.name} with reduce_range={reduce_range}, narrow_range={narrow_range} "
            f"leaves the empty range [{lo}, {hi}]"
        )
    return lo, hi


# ---------------------------------------------------------------------------------------------------------------
# input conversion and validation
# ---------------------------------------------------------------------------------------------------------------
def _float_input(b: Backend, x: Any, what: str) -> Any:
    """``x`` as a float32 array of backend ``b``; non-float input raises InputTypeError."""
    if not b.is_native(x):
        if is_mlx_array(x) or isinstance(x, np.ndarray):
            x = b.asarray(x)
        else:
            a = np.asarray(x)
            if a.dtype == np.float64:
                a = a.astype(np.float32)  # Python floats: float32 arithmetic, as everywhere
            x = b.asarray(a)
    name = b.dtype_name(x)
    if name not in _FLOAT_NAMES:
        raise InputTypeError(
            f"{what} expects floating-point input (float32, float16, bfloat16 or float64), got {name}; "
            "integer data is already quantized (use dequantize) or must be converted to float explicitly"
        )
    return x if name == "float32" else b.astype(x, "float32")


def _host(b: Backend, x: Any) -> np.ndarray:
    return to_numpy(x) if b.name == "mlx" else np.asarray(x)


def _plain(a: np.ndarray) -> np.ndarray:
    """ml_dtypes arrays (bfloat16, float8_*, int2/int4/uint2/uint4; NumPy kind 'V') as float32 / int64, exactly."""
    if a.dtype.kind != "V":
        return a
    name = a.dtype.name
    if name == "bfloat16" or name.startswith("float8"):
        return a.astype(np.float32)
    if name in ("int2", "uint2", "int4", "uint4"):
        return a.astype(np.int64)
    return a


def _scale_param(b: Backend, scale: Any, recip: bool) -> tuple[Any, tuple[int, ...]]:
    """Scale as a float32 backend array; raise unless every value is finite and > 0."""
    s_host = _plain(np.asarray(to_numpy(scale)))
    if s_host.dtype.kind not in "fiu" or s_host.dtype == np.bool_:
        raise InputTypeError(f"scale must be a real number or array of them, got dtype {s_host.dtype}")
    s32 = s_host.astype(np.float32)
    bad = ~(np.isfinite(s32) & (s32 > 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise QuantizationError(
            f"scale must be finite and > 0; {int(bad.sum())} of {s32.size} values are not "
            f"(first at flat index {i}: {s32.reshape(-1)[i]!r})"
        )
    if recip:
        out = (s32 < _RECIP_SCALE_MIN) | (s32 > _RECIP_SCALE_MAX)
        if out.any():
            i = int(np.flatnonzero(out)[0])
            raise QuantizationError(
                f"scale {s32.reshape(-1)[i]!r} is outside [2**-127, 2**126]: this profile multiplies by f32(1/scale), "
                "which would not be a normal float32 (use profile='onnx', which divides)"
            )
    if b.is_native(scale) and b.dtype_name(scale) == "float32":
        return scale, tuple(s32.shape)
    return b.asarray(s32), tuple(s32.shape)


def _zero_point_param(b: Backend, zero_point: Any, qt: QType) -> tuple[Any, tuple[int, ...], np.ndarray]:
    """Zero point as an int32 backend array (int64 host copy returned too); must be integral and within the dtype."""
    z_host = _plain(np.asarray(to_numpy(zero_point)))
    if z_host.dtype == np.bool_ or z_host.dtype.kind not in "fiu":
        raise InputTypeError(f"zero_point must be an integer or an array of integers, got dtype {z_host.dtype}")
    if z_host.dtype.kind == "f":
        if not np.all(np.isfinite(z_host)) or np.any(z_host != np.round(z_host)):
            raise QuantizationError("zero_point must hold integers (got non-integral or non-finite values)")
    z64 = z_host.astype(np.float64).astype(np.int64) if z_host.dtype.kind == "f" else z_host.astype(np.int64)
    bad = (z64 < qt.qmin) | (z64 > qt.qmax)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise QuantizationError(
            f"zero_point {int(z64.reshape(-1)[i])} is outside the range of {qt.name} [{qt.qmin}, {qt.qmax}]"
        )
    return b.asarray(z64.astype(np.int32)), tuple(z64.shape), z64


@dataclass
class _Params:
    """Validated parameters, expanded to broadcast against ``layout.view(x)``."""

    layout: Layout
    qt: QType
    scale: Any  # float32
    zp_f: Any  # float32 (exact for <= 16-bit dtypes)
    zp_i: Any  # int32
    zp_scalar: bool
    zp_host: np.ndarray  # int64
    scale_host_shape: tuple[int, ...]


def _params(
    b: Backend, shape: tuple[int, ...], scale: Any, zero_point: Any, qt: QType, axis: Any, block_size: Any, recip: bool
) -> _Params:
    layout = make_layout(shape, axis, block_size)
    s, s_shape = _scale_param(b, scale, recip)
    s_scalar = layout.check_param("scale", s_shape, scalar_ok=False)
    z, z_shape, z_host = _zero_point_param(b, zero_point, qt)
    z_scalar = layout.check_param("zero_point", z_shape, scalar_ok=True)
    s_e = layout.expand(b, s, s_scalar)
    z_e = layout.expand(b, z, z_scalar)
    return _Params(layout, qt, s_e, b.astype(z_e, "float32"), z_e, z_scalar, z_host, s_shape)


# ---------------------------------------------------------------------------------------------------------------
# exact arithmetic helpers (float32 only, so that they run on MLX GPUs too)
# ---------------------------------------------------------------------------------------------------------------
def _two_sum(a: Any, c: Any) -> tuple[Any, Any]:
    """Knuth's TwoSum: s + e == a + c exactly, s = RN(a + c)."""
    s = a + c
    bb = s - a
    e = (a - (s - bb)) + (c - bb)
    return s, e


def _view(b: Backend, a: Any, dtype: str) -> Any:
    """Bit reinterpretation that keeps the shape (the shim's NumPy view turns 0-d into 1-d)."""
    return b.reshape(b.view(a, dtype), tuple(a.shape))


def _split(b: Backend, a: Any) -> tuple[Any, Any]:
    """Veltkamp split of a float32 into two 12-bit halves (|a| < 2**100 so that 4097·a cannot overflow)."""
    t = b.const(4097.0) * a  # 2**12 + 1 (float32 has a 24-bit significand)
    hi = t - (t - a)
    return hi, a - hi


def _round_to_odd_sum(b: Backend, a: Any, c: Any) -> Any:
    """RO(a + c): the sum rounded to odd (truncate, then set the last bit if inexact), float32 only."""
    s, e = _two_sum(a, c)
    bits = _view(b, s, "int32")
    even = b.bitwise_and(bits, b.const(1, "int32")) == 0
    inexact = e != 0
    # Move one ulp toward e: +1 on the bit pattern grows |s|, -1 shrinks it (sign-magnitude encoding).
    grow = (e > 0) == (s > 0)
    step = b.where(grow, b.const(1, "int32"), b.const(-1, "int32"))
    fixed = _view(b, bits + step, "float32")
    return b.where(b.logical_and(inexact, even), fixed, s)


def _fma_f32(b: Backend, x: Any, inv: Any, zp: Any) -> Any:
    """RN32(x·inv + zp) with a single rounding, in float32 only (no float64: MLX GPUs have none).

    ``inv`` is a normal float32 (> 0), ``zp`` an integer-valued float32 with |zp| <= 2**16. Method: write
    inv = m·2^k with m in [1, 2) and x' = x·2^k (both exact), take the exact product x'·m = ph + pl (Dekker), then
    the correctly rounded sum of three terms by rounding to odd (Boldo & Melquiond 2008: th + tl = zp + ph exactly,
    v = RO(tl + pl), result RN(th + v)). Where |x'| >= 2**60 (or x is not finite) the result saturates whatever the
    rounding, and the plain RN(RN(x·inv) + zp) is returned.
    """
    ibits = _view(b, inv, "int32")
    k_bits = b.bitwise_and(ibits, b.const(0x7F800000, "int32"))  # the exponent field of inv: 2^k as float32 bits
    p2k = _view(b, k_bits, "float32")
    m = inv / p2k  # exact: division by a power of two
    xs = x * p2k  # exact unless it over/underflows (then the guard below, or a result far from any tie)
    big = b.logical_not(b.abs(xs) < b.const(2.0**60))  # also true for inf and NaN
    xs = b.where(big, b.const(0.0), xs)
    ph = xs * m
    xh, xl = _split(b, xs)
    mh, ml = _split(b, m)
    pl = ((xh * mh - ph) + xh * ml + xl * mh) + xl * ml  # Dekker TwoProduct: ph + pl == xs·m exactly
    th, tl = _two_sum(zp, ph)
    v = _round_to_odd_sum(b, tl, pl)
    exact = th + v
    plain = x * inv + zp
    return b.where(big, plain, exact)


def _round(b: Backend, v: Any, mode: str) -> Any:
    if mode == "half_even":
        return b.round(v)
    if mode == "half_away":
        return b.round_half_away(v)
    return b.round_half_up(v)


# ---------------------------------------------------------------------------------------------------------------
# the generic kernels
# ---------------------------------------------------------------------------------------------------------------
def _formula(prof: Profile, qt: QType, kind: str) -> str:
    if qt.bits == 32:
        return prof.formula_int32
    return prof.formula if kind == "tensor" and qt.name not in prof.builtin_dtypes else prof.formula_per_axis


def _mode(prof: Profile, qt: QType, kind: str) -> str:
    return prof.rounding if kind == "tensor" and qt.name not in prof.builtin_dtypes else prof.rounding_per_axis


def _rounded(b: Backend, x: Any, p: _Params, formula: str, mode: str) -> tuple[Any, bool]:
    """The rounded, unsaturated value; the bool says whether the zero point is already included."""
    if formula == "div":
        return _round(b, x / p.scale, mode), False
    inv = b.const(1.0) / p.scale
    if formula == "mul":
        return _round(b, x * inv, mode), False
    if formula == "mul_add":
        return _round(b, x * inv + p.zp_f, mode), True
    if formula == "fma":
        return _round(b, _fma_f32(b, x, inv, p.zp_f), mode), True
    raise AssertionError(formula)  # pragma: no cover


def _saturate(b: Backend, r: Any, p: _Params, zp_included: bool) -> Any:
    """Saturate the rounded value to the dtype's range (NaN -> qmin) and cast to the storage dtype."""
    qt = p.qt
    if qt.bits < 32:
        # sat(r, qmin - zp, qmax - zp) + zp == sat(r + zp, qmin, qmax): r + zp is exact for |r| < 2**24 (integers),
        # and beyond that it lies outside [qmin, qmax] on the same side (monotone), so both saturate alike. Scalar
        # bounds: one fewer broadcast per element.
        lo, hi = b.const(float(qt.qmin)), b.const(float(qt.qmax))
        if not zp_included:
            r = r + p.zp_f
        r = b.clip(r, lo, hi)
        r = b.where(b.isnan(r), lo, r)
        return b.astype(r, qt.storage)
    # int32: float32 cannot hold every int32; saturate in float to +-2**32 (exact), finish in int64.
    big = b.const(2.0**32)
    r = b.clip(r, -big, big)
    r = b.where(b.isnan(r), -big, r)
    ri = b.astype(r, "int64")
    if not zp_included:
        ri = ri + b.astype(p.zp_i, "int64")
    ri = b.clip(ri, b.const(qt.qmin, "int64"), b.const(qt.qmax, "int64"))
    return b.astype(ri, "int32")


# ---------------------------------------------------------------------------------------------------------------
# quantize
# ---------------------------------------------------------------------------------------------------------------
@_quiet
def quantize(
    x: Any,
    scale: Any,
    zero_point: Any = 0,
    dtype: str | None = "int8",
    *,
    axis: int | None = None,
    block_size: int | None = None,
    profile: str | Profile = "onnx",
    rounding: str | None = None,
    backend: str | None = None,
) -> Any:
    """Quantize float data to integers: ``q = saturate(round(x / scale) + zero_point)`` in the profile's arithmetic.

    Args:
        x: float array (NumPy or MLX; float32, float16, bfloat16 or float64, computed in float32). Never modified.
        scale: scale, > 0 and finite: a scalar (per-tensor), 1-D along ``axis`` (per-axis) or ``x``'s rank with
            ``ceil(D / block_size)`` entries along ``axis`` (blocked). A :class:`QParams` may be passed instead,
            carrying zero point, dtype, axis and block size.
        zero_point: integer(s) within the dtype's range; a scalar or the scale's shape.
        dtype: quantized dtype, a key of ``mlxquant.QTYPES`` (int2 ... uint16, int32). Sub-byte results are unpacked,
            one value per int8/uint8 element.
        axis: per-axis / blocked quantization axis (None: per-tensor).
        block_size: block size along ``axis`` (ONNX blocked quantization; the last block may be partial).
        profile: the peer whose arithmetic to reproduce bit-exactly: ``"onnx"`` (``x / s``, RNE, zp after),
            ``"torch"`` (``fma(x, 1/s, zp)``, RNE; per-channel ``x·(1/s) + zp``), ``"tflite"`` (``x·(1/s)``, RNE),
            ``"tflite_reference"`` (``x / s``, half away). See ``mlxquant.PROFILES``.
        rounding: override the profile's rounding: ``"half_even"``, ``"half_away"`` or ``"half_up"``.
        backend: ``"numpy"`` or ``"mlx"`` to force a backend (default: follow ``x``).

    Returns:
        Integer array of ``x``'s shape with the dtype's storage type (int8, uint8, int16, uint16 or int32).
        NaN becomes qmin, ±inf and out-of-range values saturate.

    Raises:
        InputTypeError: non-float ``x``.
        InvalidDtypeError, InvalidProfileError, InvalidArgumentError: unknown dtype / profile / rounding, bad axis or
            block size.
        QuantizationError: scale <= 0 or non-finite, zero point outside the dtype's range.
        ShapeError: scale or zero point shape does not match axis / block_size.

    Example:
        >>> import numpy as np, mlxquant as mq
        >>> x = np.array([0.5, 1.5, 2.5, -0.5, -2.5], np.float32)
        >>> mq.quantize(x, 1.0, 1).tolist(), mq.quantize(x, 1.0, 1, profile="torch").tolist()
        ([1, 3, 3, 1, -1], [2, 2, 4, 0, -2])
        >>> mq.quantize(x, 1.0, 1, profile="tflite_reference").tolist()
        [2, 3, 4, 0, -2]
    """
    scale, zero_point, dtype, axis, block_size = _unpack_qparams(scale, zero_point, dtype, axis, block_size)
    prof = get_profile(profile)
    qt = qtype(dtype if dtype is not None else "int8")
    b = get_backend(x, backend)
    xf = _float_input(b, x, "quantize")
    shape = tuple(xf.shape)
    layout = make_layout(shape, axis, block_size)
    formula = _formula(prof, qt, layout.kind)
    if rounding is not None:
        mode = rounding_mode(rounding)
    else:
        mode = _mode(prof, qt, layout.kind)
    p = _params(b, shape, scale, zero_point, qt, axis, block_size, recip=formula != "div")
    if b.name == "numpy":
        from . import _core_fast

        out = _core_fast.quantize(xf, p, formula, mode)
        if out is not None:
            return out
    return _quantize_generic(b, xf, p, formula, mode)


def _quantize_generic(b: Backend, x: Any, p: _Params, formula: str, mode: str) -> Any:
    xv = p.layout.view(b, x)
    r, included = _rounded(b, xv, p, formula, mode)
    return p.layout.unview(b, _saturate(b, r, p, included))


# ---------------------------------------------------------------------------------------------------------------
# dequantize
# ---------------------------------------------------------------------------------------------------------------
@_quiet
def dequantize(
    q: Any,
    scale: Any,
    zero_point: Any = 0,
    *,
    axis: int | None = None,
    block_size: int | None = None,
    dtype: str = "float32",
    backend: str | None = None,
) -> Any:
    """Dequantize integers: ``x = f32(q - zero_point) · scale`` (the same in every peer).

    Args:
        q: integer array (int8/uint8/int16/uint16/int32 storage; wider integer types are accepted when their values
            fit int32). Sub-byte values are unpacked, one per element (int8/uint8 storage, or ml_dtypes
            int4/uint4 arrays, whose zero point is then checked against the 4-bit range).
        scale: as in :func:`quantize`, or a :class:`QParams` (which then also fixes zero point, axis, block size,
            and checks that ``q`` lies in its dtype's range).
        zero_point: as in :func:`quantize` (checked against ``q``'s integer type, or the QParams' dtype).
        axis: per-axis / blocked axis.
        block_size: block size along ``axis``.
        dtype: float output dtype: ``"float32"`` (default), ``"float16"``, ``"bfloat16"`` (MLX only) or
            ``"float64"``; computed in float32 then cast (round to nearest even).
        backend: ``"numpy"`` or ``"mlx"`` to force a backend.

    Returns:
        Float array of ``q``'s shape.

    Raises:
        InputTypeError: non-integer ``q``.
        QuantizationError: ``q`` outside the range of its dtype (QParams given) or of int32; bad scale or zero point.
        ShapeError: scale / zero point shape mismatch.

    Example:
        >>> import numpy as np, mlxquant as mq
        >>> mq.dequantize(np.array([0, 77, 191, 255], np.uint8), 0.015686275, 64)
        array([-1.0039216 ,  0.20392159,  1.992157  ,  2.9960785 ], dtype=float32)
    """
    qdtype: str | None = None
    if isinstance(scale, QParams):
        qdtype = scale.dtype
        scale, zero_point, _, axis, block_size = _unpack_qparams(scale, zero_point, None, axis, block_size)
    if dtype not in _FLOAT_NAMES:
        raise InvalidArgumentError(
            f"invalid dequantize output dtype {dtype!r}; valid dtypes are: {', '.join(_FLOAT_NAMES)} "
            "(the quantized dtype comes from q itself, or pass a QParams)"
        )
    b = get_backend(q, backend)
    if not b.is_native(q):
        q = b.asarray(q)
    name = b.dtype_name(q)
    if not b.is_integer(q):
        raise InputTypeError(f"dequantize expects integer input (a quantized array), got {name}")
    if qdtype is not None:
        qt = qtype(qdtype)
    elif name in _STORAGE_NAMES or name in ("int2", "uint2", "int4", "uint4"):  # ml_dtypes int4 etc. (onnx to_array)
        qt = qtype(name)
    else:
        qt = qtype("int32")
    check_range = qdtype is not None and (name != qt.storage or qt.bits not in (8, 16, 32))
    if name not in _STORAGE_NAMES or check_range:
        if q.size:
            lo, hi = int(_host(b, b.min(q))), int(_host(b, b.max(q)))
            if lo < qt.qmin or hi > qt.qmax:
                raise QuantizationError(
                    f"dequantize input holds values in [{lo}, {hi}], outside the range of {qt.name} "
                    f"[{qt.qmin}, {qt.qmax}]"
                )
    shape = tuple(q.shape)
    p = _params(b, shape, scale, zero_point, qt, axis, block_size, recip=False)
    if b.name == "numpy":
        from . import _core_fast

        out = _core_fast.dequantize(q, p)
        if out is not None:
            return out if dtype == "float32" else b.astype(out, dtype)
    y = _dequantize_generic(b, q, p)
    return y if dtype == "float32" else b.astype(y, dtype)


def _dequantize_generic(b: Backend, q: Any, p: _Params) -> Any:
    qv = p.layout.view(b, q)
    if p.qt.bits < 32 and b.dtype_name(q) in ("int8", "uint8", "int16", "uint16"):
        d = b.astype(qv, "float32") - p.zp_f  # exact: |q - zp| < 2**17
    else:
        d = b.astype(b.astype(qv, "int64") - b.astype(p.zp_i, "int64"), "float32")  # one rounding (RNE)
    return p.layout.unview(b, d * p.scale)


# ---------------------------------------------------------------------------------------------------------------
# fake_quantize
# ---------------------------------------------------------------------------------------------------------------
@_quiet
def fake_quantize(
    x: Any,
    scale: Any,
    zero_point: Any = 0,
    dtype: str | None = "int8",
    *,
    axis: int | None = None,
    block_size: int | None = None,
    profile: str | Profile = "onnx",
    rounding: str | None = None,
    backend: str | None = None,
) -> Any:
    """Quantize then dequantize, in float: ``(saturate(q) - zp) · scale`` with the profile's fake-quant arithmetic.

    onnx, tflite, tflite_reference: exactly ``dequantize(quantize(x))``. torch: ``torch.fake_quantize_per_*_affine``,
    i.e. ``q = zp + rne(f32(x·(1/s)))`` (not torch.quantize_per_tensor's fused multiply-add).

    On MLX the result is differentiable with respect to ``x`` by a straight-through estimator whose mask is the
    profile's (:attr:`~mlxquant.Profile.fake_mask`): torch and onnx pass the gradient where the rounded,
    unsaturated q lies in [qmin, qmax]; tflite where ``(qmin - zp)·s <= x <= (qmax - zp)·s`` (TF FakeQuant). Scale
    and zero point receive no gradient. :func:`fake_quantize_mask` returns the mask itself.

    Args:
        x: float array; the result has ``x``'s float dtype (computed in float32).
        scale: as in :func:`quantize` (or a :class:`QParams`).
        zero_point: as in :func:`quantize`.
        dtype: the quantized dtype whose range saturates.
        axis: per-axis / blocked axis.
        block_size: block size along ``axis``.
        profile: the peer convention.
        rounding: override the profile's rounding.
        backend: ``"numpy"`` or ``"mlx"``.

    Returns:
        Float array like ``x``: values on the quantization grid. NaN becomes ``(qmin - zp)·s``.

    Example:
        >>> import numpy as np, mlxquant as mq
        >>> mq.fake_quantize(np.array([0.26, 0.5, 9.0], np.float32), 0.1, 0, "int4")
        array([0.3, 0.5, 0.7], dtype=float32)
    """
    b, xf, in_dtype, f = _fake_setup(x, scale, zero_point, dtype, axis, block_size, profile, rounding, backend)
    if b.name == "mlx":
        mx = b.mx  # type: ignore[attr-defined]

        @mx.custom_function
        def ste(xin: Any) -> Any:
            return f(xin)[0]

        @ste.vjp
        def ste_vjp(primals: Any, cotangent: Any, output: Any) -> Any:
            xin = primals[0] if isinstance(primals, (tuple, list)) else primals
            mask = f(xin)[1]
            return (b.where(mask, cotangent, b.zeros(cotangent.shape, b.dtype_name(cotangent))),)

        y = ste(xf)
    else:
        y = f(xf)[0]
    return y if in_dtype == "float32" else b.astype(y, in_dtype)


@_quiet
def fake_quantize_mask(
    x: Any,
    scale: Any,
    zero_point: Any = 0,
    dtype: str | None = "int8",
    *,
    axis: int | None = None,
    block_size: int | None = None,
    profile: str | Profile = "onnx",
    rounding: str | None = None,
    backend: str | None = None,
) -> Any:
    """The boolean straight-through mask of :func:`fake_quantize`: where its gradient passes (any backend).

    Example:
        >>> import numpy as np
        >>> from mlxquant.quant.primitives import fake_quantize_mask
        >>> fake_quantize_mask(np.array([127.4, 127.6, -128.4, -128.6], np.float32), 1.0, profile="torch").tolist()
        [True, False, True, False]
    """
    _, xf, _, f = _fake_setup(x, scale, zero_point, dtype, axis, block_size, profile, rounding, backend)
    return f(xf)[1]


def _fake_setup(
    x: Any,
    scale: Any,
    zero_point: Any,
    dtype: str | None,
    axis: Any,
    block_size: Any,
    profile: str | Profile,
    rounding: str | None,
    backend: str | None,
) -> tuple[Backend, Any, str, Callable[[Any], tuple[Any, Any]]]:
    """Validate fake_quantize's arguments; return (backend, float32 x, x's dtype, values-and-mask function)."""
    scale, zero_point, dtype, axis, block_size = _unpack_qparams(scale, zero_point, dtype, axis, block_size)
    prof = get_profile(profile)
    qt = qtype(dtype if dtype is not None else "int8")
    b = get_backend(x, backend)
    if not b.is_native(x):
        x = b.asarray(x if isinstance(x, np.ndarray) or is_mlx_array(x) else np.asarray(x, np.float32))
    in_dtype = b.dtype_name(x)
    xf = _float_input(b, x, "fake_quantize")
    shape = tuple(xf.shape)
    layout = make_layout(shape, axis, block_size)
    if prof.fake_formula == "quantize":
        formula = _formula(prof, qt, layout.kind)
        mode = _mode(prof, qt, layout.kind)
    else:
        formula, mode = prof.fake_formula, prof.rounding
    if rounding is not None:
        mode = rounding_mode(rounding)
    p = _params(b, shape, scale, zero_point, qt, axis, block_size, recip=formula != "div")
    # q - zp lies in [qmin - zp, qmax - zp]; for int32 these bounds are rounded to float32 (documented).
    lo = b.const(float(qt.qmin)) - p.zp_f
    hi = b.const(float(qt.qmax)) - p.zp_f
    clamped_input = prof.fake_mask == "clamped_input"

    def f(xin: Any) -> tuple[Any, Any]:
        xv = layout.view(b, xin)
        r, included = _rounded(b, xv, p, formula, mode)
        if included:  # fma / mul_add formulas round x/s + zp: subtract zp again (exact for <= 16-bit dtypes)
            r = r - p.zp_f
        rc = b.clip(r, lo, hi)
        rc = b.where(b.isnan(rc), lo, rc)
        # + 0.0 turns RNE's -0.0 (x in (-s/2, 0]) into +0.0: the peers compute (q - zp)·s from integers, so never -0.0
        y = (rc + b.const(0.0)) * p.scale
        if clamped_input:
            mask = b.logical_and(xv >= lo * p.scale, xv <= hi * p.scale)
        else:
            mask = b.logical_and(r >= lo, r <= hi)
        return layout.unview(b, y), layout.unview(b, mask)

    return b, xf, in_dtype, f


# ---------------------------------------------------------------------------------------------------------------
# qparams
# ---------------------------------------------------------------------------------------------------------------
def _nonfinite_report(x_host: np.ndarray, what: str) -> None:
    nan = np.isnan(x_host)
    inf = np.isinf(x_host)
    parts = []
    first = None
    for name, m in (("NaN", nan), ("±inf", inf)):
        n = int(m.sum())
        if n:
            idx = np.unravel_index(int(np.argmax(m.reshape(-1))), x_host.shape) if x_host.ndim else ()
            parts.append(f"{n} {name} (first at index {tuple(int(i) for i in idx)})")
            first = first or name
    if parts:
        raise NonFiniteError(f"{what} holds non-finite values: {'; '.join(parts)} out of {x_host.size} elements")


@_quiet
def qparams_from_minmax(
    min_val: Any,
    max_val: Any,
    dtype: str = "int8",
    *,
    symmetric: bool = False,
    narrow_range: bool = False,
    reduce_range: bool = False,
    profile: str | Profile = "onnx",
    axis: int | None = None,
    block_size: int | None = None,
    backend: str | None = None,
) -> QParams:
    """The profile's qparams rule applied to already-reduced min/max values (scalars or arrays, elementwise).

    With ``lo, hi = qrange(dtype, ...)``, ``min⁻ = min(min_val, 0)``, ``max⁺ = max(max_val, 0)`` (float32):

    * asymmetric: ``s = f32(f32(max⁺ - min⁻) / (hi - lo))``; zero point by :attr:`Profile.zero_point_rule`
      (onnx: so for uint8 = DynamicQuantizeLinear; other dtypes and reduce_range follow the onnxruntime
      quantization tool, which computes ``s`` and the zero point in float64).
    * symmetric: ``amax = max(-min⁻, max⁺)``, ``s = f32(amax / ((hi - lo) / 2))``; zero point 0 (signed) or the
      profile's unsigned midpoint (128 for uint8).
    * degenerate ranges by :attr:`Profile.degenerate`: onnx ``s < FLT_MIN`` → (1.0, 0); torch ``s = max(s, eps)``;
      tflite ``range < DBL_EPSILON`` → (1.0, qmin) asymmetric, (1.0, symmetric zp) symmetric.

    Args:
        min_val: minimum(s) of the data (float, any shape; broadcast against ``max_val``).
        max_val: maximum(s) of the data.
        dtype: the quantized dtype.
        symmetric: symmetric (zero point fixed) rather than affine qparams.
        narrow_range: for signed dtypes, use ``qmin = -qmax`` (e.g. [-127, 127]).
        reduce_range: the profile's reduced range (onnx: the quantization tool's table, torch: halved; tflite: none).
        profile: ``"onnx"``, ``"torch"``, ``"tflite"`` or ``"tflite_reference"``.
        axis: recorded in the result (the axis along which ``min_val`` runs), for per-axis or blocked parameters.
        block_size: recorded in the result.
        backend: ``"numpy"`` or ``"mlx"`` (default: follow ``min_val``).

    Returns:
        :class:`QParams` with float32 scale and int32 zero point of the broadcast shape of min_val and max_val.

    Raises:
        NonFiniteError: NaN or ±inf in min_val / max_val (an observer that saw no data has min=+inf, max=-inf).
        InvalidArgumentError: min_val > max_val somewhere; reduce_range with the tflite profiles.
        QuantizationError: the range is too large for a finite float32 scale.

    Example:
        >>> from mlxquant.quant.primitives import qparams_from_minmax
        >>> qparams_from_minmax(-1.0, 3.0, "uint8", profile="torch")
        QParams(scale=0.01568627543747425, zero_point=64, dtype='uint8')
        >>> qparams_from_minmax(-1.0, 3.0, "int8", symmetric=True, profile="torch")
        QParams(scale=0.0235294122248888, zero_point=0, dtype='int8')
        >>> qparams_from_minmax(-1.0, 3.0, "int8", symmetric=True, profile="onnx")
        QParams(scale=0.023622047156095505, zero_point=0, dtype='int8')
    """
    prof = get_profile(profile)
    qt = qtype(dtype)
    b = get_backend(min_val if is_mlx_array(min_val) else max_val, backend)
    mn_h = _plain(np.asarray(to_numpy(min_val)))
    mx_h = _plain(np.asarray(to_numpy(max_val)))
    for name, a in (("min_val", mn_h), ("max_val", mx_h)):
        if a.dtype == np.bool_ or a.dtype.kind not in "fiu":
            raise InputTypeError(f"{name} must be real numbers, got dtype {a.dtype}")
    mn_h = mn_h.astype(np.float32)
    mx_h = mx_h.astype(np.float32)
    _nonfinite_report(mn_h, "min_val")
    _nonfinite_report(mx_h, "max_val")
    try:
        mn_h, mx_h = np.broadcast_arrays(mn_h, mx_h)
    except ValueError:
        raise ShapeError(f"min_val shape {mn_h.shape} and max_val shape {mx_h.shape} do not broadcast") from None
    if np.any(mn_h > mx_h):
        i = int(np.flatnonzero((mn_h > mx_h).reshape(-1))[0])
        raise InvalidArgumentError(
            f"min_val > max_val at flat index {i} ({mn_h.reshape(-1)[i]!r} > {mx_h.reshape(-1)[i]!r})"
        )
    lo, hi = qrange(qt, symmetric=symmetric, narrow_range=narrow_range, reduce_range=reduce_range, profile=prof)
    if b.is_native(min_val) and b.dtype_name(min_val) == "float32" and tuple(min_val.shape) == mn_h.shape:
        mn = min_val
    else:
        mn = b.asarray(np.array(mn_h, dtype=np.float32))
    if b.is_native(max_val) and b.dtype_name(max_val) == "float32" and tuple(max_val.shape) == mx_h.shape:
        mxv = max_val
    else:
        mxv = b.asarray(np.array(mx_h, dtype=np.float32))
    if not symmetric and prof.zero_point_rule == "onnx" and (qt.name != "uint8" or reduce_range):
        scale, zp = _onnx_tool_rule(b, mn_h, mx_h, lo, hi)
    else:
        scale, zp = _qparams_rule(b, mn, mxv, qt, lo, hi, symmetric, prof)
    s_h = _host(b, scale)
    if not np.all(np.isfinite(s_h)):
        raise QuantizationError(
            f"the range [{float(mn_h.min())}, {float(mx_h.max())}] is too large for a finite float32 scale"
        )
    return QParams(scale, zp, qt.name, axis, block_size)


def _onnx_tool_rule(b: Backend, mn_h: np.ndarray, mx_h: np.ndarray, lo: int, hi: int) -> tuple[Any, Any]:
    """Asymmetric qparams of onnxruntime's quantization tool (quant_utils.compute_scale_zp), for the dtypes and
    ranges that DynamicQuantizeLinear (uint8 only, no reduce_range) does not cover.

    The tool works in float64: ``s = f64(f64(max⁺) - f64(min⁻)) / (hi - lo)``, ``zp = RNE(f64(lo - min⁻ / s))``,
    ``s < FLT_MIN`` → ``(1.0, 0)``, then stores ``f32(s)``. Computed on the host (the parameters are small, and
    MLX GPUs have no float64); the result is moved to backend ``b``.
    """
    mn = np.minimum(mn_h, np.float32(0.0)).astype(np.float64)
    mx = np.maximum(mx_h, np.float32(0.0)).astype(np.float64)
    s64 = (mx - mn) / np.float64(hi - lo)
    deg = s64 < _FLT_MIN  # the tool: scale < numpy.finfo(float32).tiny -> (1.0, 0)
    s64 = np.where(deg, 1.0, s64)
    zp = np.round(np.float64(lo) - mn / s64)  # numpy.round: half to even, in float64 as the tool
    zp = np.where(deg, 0.0, np.clip(zp, lo, hi))  # the clip never binds in exact arithmetic: a guard
    return b.asarray(np.asarray(s64.astype(np.float32))), b.asarray(np.asarray(zp.astype(np.int32)))


def _unsigned_sym_zp(prof: Profile, qt: QType, lo: int, hi: int) -> int:
    if prof.unsigned_symmetric_zero_point == "torch":
        # observer.py: quint8 -> 128 (even with reduce_range), uint16 -> 2**15; a customized range (the other
        # unsigned dtypes, emulated in torch by quant_min/quant_max) -> (quant_min + quant_max) // 2.
        return {"uint8": 128, "uint16": 32768}.get(qt.name, (lo + hi) // 2)
    return int(np.round((lo + hi) / 2.0))  # quant_utils.compute_scale_zp: numpy.round, half to even


def _qparams_rule(
    b: Backend, mn: Any, mxv: Any, qt: QType, lo: int, hi: int, symmetric: bool, prof: Profile
) -> tuple[Any, Any]:
    zero = b.const(0.0)
    mn_neg = b.minimum(mn, zero)
    mx_pos = b.maximum(mxv, zero)
    flo, fhi = b.const(float(lo)), b.const(float(hi))
    shape = tuple(mn_neg.shape)
    if symmetric:
        amax = b.maximum(-mn_neg, mx_pos)
        s = amax / b.const((hi - lo) / 2.0)  # ONNX tool: 2·amax/(hi - lo) in float64, then float32: the same value
        zp_val = 0 if qt.signed else _unsigned_sym_zp(prof, qt, lo, hi)
        zp = b.full(shape, zp_val, "int32")
        span = amax + amax
    else:
        span = mx_pos - mn_neg
        s = span / b.const(float(hi - lo))
        zp = None
    if prof.degenerate == "eps":
        s = b.maximum(s, b.const(_TORCH_EPS))
    if not symmetric:
        zp = _affine_zero_point(b, mn_neg, s, lo, hi, flo, fhi, prof)
    one = b.const(1.0)
    if prof.degenerate == "onnx":
        # DynamicQuantizeLinear: scale = (max == min) ? 1.0 : ...; the quantization tool: scale < FLT_MIN -> 1.0
        # (s == 0: a span of a few subnormal ulps underflows; DynamicQuantizeLinear would return scale 0, unusable)
        deg = (s < b.const(_FLT_MIN)) if symmetric else b.logical_or(span == zero, s == zero)
        s = b.where(deg, one, s)
        zp = b.where(deg, b.zeros(shape, "int32"), zp)
    elif prof.degenerate == "one_qmin":
        deg = span < b.const(_DBL_EPSILON)
        s = b.where(deg, one, s)
        if not symmetric:
            zp = b.where(deg, b.full(shape, lo, "int32"), zp)
    return s, zp


def _affine_zero_point(b: Backend, mn_neg: Any, s: Any, lo: int, hi: int, flo: Any, fhi: Any, prof: Profile) -> Any:
    rule = prof.zero_point_rule
    # (s may be 0 for an all-zero range here; the degenerate rule replaces those entries afterwards.)
    safe_s = b.where(s > b.const(0.0), s, b.const(1.0))
    ratio = mn_neg / safe_s
    if rule == "round_then_clamp":
        # torch: zero_point = quant_min - round(min_val_neg / scale).to(int); clamp(zero_point, quant_min, quant_max)
        r = b.round(ratio)
        r = b.clip(r, b.const(-(2.0**33)), b.const(2.0**33))
        zi = b.const(lo, "int64") - b.astype(r, "int64")
        zi = b.clip(zi, b.const(lo, "int64"), b.const(hi, "int64"))
        return b.astype(zi, "int32")
    zf = flo - ratio  # float32: qmin - min/scale
    if rule in ("clip_then_round", "onnx"):
        # DynamicQuantizeLinear: RoundHalfToEven(max(qmin, min(qmax, qmin - min / scale)))
        z = b.round(b.clip(zf, flo, fhi))
    else:
        # TFLite nudging: qmin if zf < qmin, qmax if zf > qmax, else std::round(zf) (half away)
        z = b.where(zf < flo, flo, b.where(zf > fhi, fhi, b.round_half_away(zf)))
    z = b.clip(z, b.const(-(2.0**32)), b.const(2.0**32))
    zi = b.clip(b.astype(z, "int64"), b.const(lo, "int64"), b.const(hi, "int64"))
    return b.astype(zi, "int32")


@_quiet
def choose_qparams(
    x: Any,
    dtype: str = "int8",
    *,
    symmetric: bool = False,
    axis: int | None = None,
    block_size: int | None = None,
    narrow_range: bool = False,
    reduce_range: bool = False,
    profile: str | Profile = "onnx",
    backend: str | None = None,
) -> QParams:
    """Min/max quantization parameters of ``x`` under a profile's rules (per-tensor, per-axis or blocked).

    Reduces ``x`` to min/max per granule (per-tensor: whole array; per-axis: every axis but ``axis``; blocked:
    blocks of ``block_size`` along ``axis``, the last one possibly partial), then applies
    :func:`qparams_from_minmax`. An empty ``x`` has min = max = 0 (the degenerate range).

    Args:
        x: float array (never modified).
        dtype: the quantized dtype.
        symmetric: symmetric instead of affine parameters.
        axis: per-axis / blocked axis.
        block_size: block size along ``axis``.
        narrow_range: signed range ``[-qmax, qmax]``.
        reduce_range: the profile's reduced range.
        profile: ``"onnx"`` (asymmetric uint8 = DynamicQuantizeLinear, everything else = onnxruntime's
            quantization tool),
            ``"torch"`` (MinMaxObserver / PerChannelMinMaxObserver), ``"tflite"``/``"tflite_reference"`` (the
            TFLite converter's nudged activation and symmetric narrow-range weight parameters).
        backend: ``"numpy"`` or ``"mlx"``.

    Returns:
        :class:`QParams` on ``x``'s backend.

    Raises:
        NonFiniteError: ``x`` holds NaN or ±inf (the message gives how many and where the first is).
        InputTypeError: non-float ``x``.

    Example:
        >>> import numpy as np, mlxquant as mq
        >>> x = np.array([-1.0, 0.2, 2.0, 3.0], np.float32)
        >>> mq.choose_qparams(x, "uint8")
        QParams(scale=0.01568627543747425, zero_point=64, dtype='uint8')
        >>> mq.choose_qparams(x, "int8", profile="torch")
        QParams(scale=0.01568627543747425, zero_point=-64, dtype='int8')
        >>> mq.choose_qparams(x, "int8", profile="tflite")
        QParams(scale=0.01568627543747425, zero_point=-64, dtype='int8')
    """
    prof = get_profile(profile)
    qt = qtype(dtype)
    qrange(qt, symmetric=symmetric, narrow_range=narrow_range, reduce_range=reduce_range, profile=prof)
    b = get_backend(x, backend)
    xf = _float_input(b, x, "choose_qparams")
    layout = make_layout(tuple(xf.shape), axis, block_size)
    mn, mxv = layout.minmax(b, xf)
    mn_h, mx_h = _host(b, mn), _host(b, mxv)
    if not (np.all(np.isfinite(mn_h)) and np.all(np.isfinite(mx_h))):
        _nonfinite_report(_host(b, xf), "choose_qparams input")
    return qparams_from_minmax(
        mn,
        mxv,
        qt.name,
        symmetric=symmetric,
        narrow_range=narrow_range,
        reduce_range=reduce_range,
        profile=prof,
        axis=layout.axis,
        block_size=layout.block_size,
        backend=b.name,
    )
