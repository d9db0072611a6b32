"""Float formats: float16, bfloat16, float8 (E4M3FN, E5M2) by round-to-nearest-even, bit-exact with ml_dtypes.

One generic implementation (integer operations on the IEEE bit pattern of the float32 or float64 input, written
against the backend shim) serves NumPy and MLX, so both give identical bits. Native casts are used as fast paths only
where they were proven bit-identical to the generic path (NumPy and MLX float32→float16, MLX float32→bfloat16, each
with NaN payloads fixed up to ml_dtypes' pattern; NumPy float32→bfloat16 by the rounding-bias bit trick;
float32/float16/bfloat16→float8 by an exact lookup table built from the generic encoder) —
tests/parity/test_calib_parity.py checks each one.

Output types:

* :func:`to_float16` returns float16 arrays (NumPy ``float16`` / ``mx.float16``).
* :func:`to_bfloat16` returns ``mx.bfloat16`` on MLX. NumPy has no bfloat16 dtype (and ml_dtypes is not a
  dependency), so on NumPy it returns **float32 arrays whose values are exactly the bfloat16 values** (widening
  bfloat16 to float32 is exact). ``as_bits=True`` returns the uint16 bit patterns instead, on both backends.
* :func:`to_float8` returns the uint8 codes (neither NumPy nor MLX has a float8 dtype); :func:`from_float8` (and
  :func:`from_bits` for every format) decodes codes back to float32, exactly.

Overflow: :func:`to_float16` and :func:`to_bfloat16` follow IEEE (finite values that round past the largest finite
value become ±inf, as ml_dtypes, NumPy, torch and onnxruntime do); ``saturate=True`` clips them to ±max instead.
float8 E4M3FN has no infinity: overflow and ±inf become NaN (ml_dtypes' behaviour), or ±448 with ``saturate=True``;
E5M2 overflow becomes ±inf, or ±57344 with ``saturate=True``. With ``saturate=True`` ±inf inputs also become ±max
(the ONNX reference ``Cast`` with saturate=1 does so for both float8 formats; we apply it to every format).
``return_report=True`` also returns a :class:`FloatReport` (counts of values that overflowed to inf /
NaN or were clipped, underflowed to zero, largest finite magnitude); float16 overflow emits a ``RuntimeWarning``
suggesting bfloat16.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .._backend import Backend, get_backend
from .._checks import check_choice
from .._errors import InputTypeError, InvalidArgumentError

__all__ = [
    "FLOAT_FORMATS",
    "FloatFormat",
    "FloatReport",
    "float_overflow_report",
    "from_bits",
    "from_float8",
    "to_bfloat16",
    "to_float8",
    "to_float16",
]


@dataclass(frozen=True)
class FloatFormat:
    """A binary floating-point format.

    Attributes:
        name: ``"float16"``, ``"bfloat16"``, ``"e4m3fn"`` or ``"e5m2"``.
        ebits: exponent bits.
        mbits: stored mantissa bits.
        bias: exponent bias.
        has_inf: IEEE-style (all-ones exponent = inf/NaN); ``False`` for E4M3FN (only S.1111.111 is NaN).
        max_value: largest finite value.
    """

    name: str
    ebits: int
    mbits: int
    bias: int
    has_inf: bool
    max_value: float

    @property
    def nbits(self) -> int:
        return 1 + self.ebits + self.mbits

    @property
    def max_bits(self) -> int:
        """Bit pattern (without sign) of the largest finite value."""
        if self.has_inf:
            return (((1 << self.ebits) - 1) << self.mbits) - 1
        return (1 << (self.ebits + self.mbits)) - 2  # E4M3FN: S.1111.110 = 448; S.1111.111 is NaN

    @property
    def inf_bits(self) -> int:
        """Bit pattern (without sign) of +inf (IEEE formats only)."""
        return ((1 << self.ebits) - 1) << self.mbits


#: The supported formats (OCP FP8 spec for E4M3FN / E5M2; IEEE 754 binary16; Google brain float).
FLOAT_FORMATS: dict[str, FloatFormat] = {
    "float16": FloatFormat("float16", 5, 10, 15, True, 65504.0),
    "bfloat16": FloatFormat("bfloat16", 8, 7, 127, True, 3.3895313892515355e38),
    "e4m3fn": FloatFormat("e4m3fn", 4, 3, 7, False, 448.0),
    "e5m2": FloatFormat("e5m2", 5, 2, 15, True, 57344.0),
}

# Source formats the generic encoder reads: (uint dtype, width, exponent bits, mantissa bits, bias).
_SRC = {"float32": ("uint32", 32, 8, 23, 127), "float64": ("uint64", 64, 11, 52, 1023)}
_STORE = {8: "uint8", 16: "uint16"}


@dataclass(frozen=True)
class FloatReport:
    """What a float conversion lost at the top and bottom of the range.

    Attributes:
        format: target format name.
        count: number of input values.
        saturate: whether overflow was clipped to ±max.
        overflow_to_inf: finite inputs that became ±inf.
        overflow_to_nan: finite inputs that became NaN (E4M3FN without saturation).
        clipped: finite inputs clipped to ±max (``saturate=True``).
        underflow_to_zero: nonzero finite inputs that became ±0.
        nan_inputs: NaN inputs (they stay NaN).
        inf_inputs: ±inf inputs.
        max_abs: largest finite input magnitude (0.0 if none).
        max_value: largest finite value of the target format.
    """

    format: str
    count: int
    saturate: bool
    overflow_to_inf: int
    overflow_to_nan: int
    clipped: int
    underflow_to_zero: int
    nan_inputs: int
    inf_inputs: int
    max_abs: float
    max_value: float

    @property
    def overflowed(self) -> int:
        """Finite inputs beyond the format's range (to inf, to NaN or clipped)."""
        return self.overflow_to_inf + self.overflow_to_nan + self.clipped

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python dict (JSON-serializable)."""
        return asdict(self)

    def __str__(self) -> str:
        return (
            f"{self.format}: {self.count} values, max |x| {self.max_abs:g} (format max {self.max_value:g}); "
            f"overflow→inf {self.overflow_to_inf}, overflow→NaN {self.overflow_to_nan}, clipped {self.clipped}, "
            f"underflow→0 {self.underflow_to_zero}, NaN in {self.nan_inputs}, inf in {self.inf_inputs}"
        )


def _source(b: Backend, x: Any) -> tuple[Any, str]:
    """The input as float32 or float64 (float16/bfloat16 widen exactly); integers are refused."""
    name = b.dtype_name(x)
    if name in ("float32", "float64"):
        return x, name
    if name == "bfloat16":
        # widen by the bit pattern (bf16 is the top half of float32): exact, and keeps the sign of NaNs, which
        # MLX's bf16 → f32 cast drops
        w = b.left_shift(b.astype(b.view(x, "uint16"), "uint32"), b.const(16, "uint32"))
        return b.reshape(b.view(w, "float32"), tuple(x.shape)), "float32"
    if name == "float16":
        return b.astype(x, "float32"), "float32"  # exact widening
    raise InputTypeError(f"float conversion needs float16/bfloat16/float32/float64 input, got dtype {name}")


def _rshift_rne(b: Backend, v: Any, s: Any, u: str) -> Any:
    """v >> s rounded to nearest, ties to even (s ≥ 1, unsigned)."""
    one = b.const(1, u)
    q = b.right_shift(v, s)
    rem = b.bitwise_and(v, b.left_shift(one, s) - one)
    half = b.left_shift(one, s - one)
    odd = b.bitwise_and(q, one) == one
    up = b.logical_or(rem > half, b.logical_and(rem == half, odd))
    return q + b.where(up, one, b.const(0, u))


def _encode(b: Backend, x: Any, fmt: FloatFormat, saturate: bool) -> tuple[Any, Any]:
    """Generic RNE encoder. Returns (target bit patterns as uint8/uint16, mask of finite inputs that overflowed)."""
    x, src = _source(b, x)
    if fmt.name != "float16" and src == "float64":
        # ml_dtypes converts double → bfloat16 / float8 through float32 (two roundings; the ONNX reference Cast does
        # the same for float8); match it. float16 from double is NumPy's own single rounding.
        x, src = b.astype(x, "float32"), "float32"
    u, width, es, ms, bias_s = _SRC[src]
    mt = fmt.mbits
    bits = b.reshape(b.view(x, u), tuple(x.shape))  # NumPy's view makes 0-d arrays 1-d
    c = lambda v: b.const(v, u)  # noqa: E731 - constants in the bit-pattern dtype
    ci = lambda v: b.const(v, "int32")  # noqa: E731
    sign = b.right_shift(bits, c(width - 1))
    mag = b.bitwise_and(bits, c((1 << (width - 1)) - 1))
    e = b.right_shift(mag, c(ms))
    mant = b.bitwise_and(mag, c((1 << ms) - 1))
    emax_src = (1 << es) - 1
    is_special = e == c(emax_src)  # inf or NaN
    is_nan = b.logical_and(is_special, mant != c(0))
    is_inf = b.logical_and(is_special, mant == c(0))
    # Full significand with the implicit bit; a subnormal source uses exponent 1 without it (IEEE 754).
    full = b.where(e > c(0), b.bitwise_or(mant, c(1 << ms)), mant)
    e_eff = b.astype(b.maximum(e, c(1)), "int32")
    t = e_eff - ci(bias_s - fmt.bias)  # target biased exponent; < 1 means the result is subnormal in the target
    sub = b.maximum(ci(1) - t, ci(0))
    # Shifting by more than ms + 2 already rounds to zero (half-way point above the significand); clip it so every
    # shift stays below the word width.
    shift = b.astype(b.minimum(sub + ci(ms - mt), ci(ms + 2)), u)
    q = _rshift_rne(b, full, shift, u)
    base = b.astype(b.clip(t, ci(1), ci(emax_src + 1)) - ci(1), u)
    # A carry out of the rounded significand increments the exponent field (and reaches inf on IEEE formats).
    res = b.left_shift(base, c(mt)) + q
    if fmt.has_inf:
        over = res >= c(fmt.inf_bits)
        res = b.where(over, c(fmt.max_bits if saturate else fmt.inf_bits), res)
    else:
        over = res > c(fmt.max_bits)
        res = b.where(over, c(fmt.max_bits if saturate else (1 << (fmt.ebits + fmt.mbits)) - 1), res)
    over = b.logical_and(over, b.logical_not(is_special))
    # inf input: ±max when saturating (the ONNX reference Cast with saturate=1 does this for E4M3FN and E5M2);
    # otherwise IEEE formats keep ±inf and E4M3FN gives NaN (ml_dtypes).
    if saturate:
        inf_out = fmt.max_bits
    elif fmt.has_inf:
        inf_out = fmt.inf_bits
    else:
        inf_out = (1 << (fmt.ebits + fmt.mbits)) - 1
    res = b.where(is_inf, c(inf_out), res)
    res = b.where(is_nan, _nan_bits(b, mant, fmt, ms, u), res)
    res = b.bitwise_or(res, b.left_shift(sign, c(fmt.nbits - 1)))
    return b.astype(res, _STORE[fmt.nbits]), over


def _nan_bits(b: Backend, mant: Any, fmt: FloatFormat, ms: int, u: str) -> Any:
    """NaN pattern (without sign) that ml_dtypes produces for a NaN with source mantissa ``mant``."""
    c = lambda v: b.const(v, u)  # noqa: E731
    if fmt.name == "float16":
        # NumPy's npy_floatbits_to_halfbits: keep the top payload bits; if they are all zero, set the lowest.
        p = b.right_shift(mant, c(ms - fmt.mbits))
        p = b.where(p == c(0), c(1), p)
        return b.bitwise_or(c(fmt.inf_bits), p)
    if fmt.has_inf:  # bfloat16, E5M2: the canonical quiet NaN (exponent all ones, top mantissa bit set)
        return c(fmt.inf_bits | (1 << (fmt.mbits - 1)))
    return c((1 << (fmt.ebits + fmt.mbits)) - 1)  # E4M3FN: S.1111.111


def _native_fast_path(b: Backend, x: Any, fmt: FloatFormat, saturate: bool) -> Any | None:
    """float32 → float16/bfloat16 fast paths (native casts with NaNs fixed to ml_dtypes' pattern; on NumPy,
    bfloat16 by the rounding-bias trick); None if not applicable. Each is proven equal to the generic encoder by
    tests/parity/test_calib_parity.py."""
    if saturate or b.dtype_name(x) != "float32":
        return None
    if fmt.name == "float16" or (fmt.name == "bfloat16" and b.name == "mlx"):
        y = b.reshape(b.view(b.astype(x, fmt.name), "uint16"), tuple(x.shape))
        nan = b.isnan(x)
        if b.name == "numpy" and not np.any(nan):  # nothing to fix (MLX stays lazy: always select)
            return y
        bits = b.reshape(b.view(x, "uint32"), tuple(x.shape))
        nan_fix = b.astype(
            b.bitwise_or(
                _nan_bits(b, b.bitwise_and(bits, b.const(0x7FFFFF, "uint32")), fmt, 23, "uint32"),
                b.left_shift(b.right_shift(bits, b.const(31, "uint32")), b.const(15, "uint32")),
            ),
            "uint16",
        )
        return b.where(nan, nan_fix, y)
    if fmt.name == "bfloat16":
        # NumPy has no bfloat16 cast: the classic rounding-bias trick on the bit pattern,
        # (u + 0x7FFF + ((u >> 16) & 1)) >> 16, is RNE for every finite value and carries into inf on overflow
        # (uint32 wrap-around only happens for NaN patterns, which are replaced)
        u = b.reshape(b.view(x, "uint32"), tuple(x.shape))
        c32 = lambda v: b.const(v, "uint32")  # noqa: E731
        odd = b.bitwise_and(b.right_shift(u, c32(16)), c32(1))
        r = b.astype(b.right_shift(u + c32(0x7FFF) + odd, c32(16)), "uint16")
        nan = b.isnan(x)
        if not np.any(nan):  # (this branch is NumPy only) nothing to fix
            return r
        nan_fix = b.astype(b.bitwise_or(b.right_shift(b.bitwise_and(u, c32(0x80000000)), c32(16)), c32(0x7FC0)),
                           "uint16")
        return b.where(nan, nan_fix, r)
    return None


def _half_nan_fix(b: Backend, x: Any, bits: Any, fmt: FloatFormat) -> Any:
    """NaNs of a float16/bfloat16 input converted to a 16-bit format, as ml_dtypes' ``astype`` gives them: the same
    format is the identity (payload and sign kept; MLX's f16 → f32 widening would quiet signalling payloads), and
    bfloat16 → float16 gives the canonical quiet NaN 0x7E00 with the sign (Eigen's float → half). float16 →
    bfloat16 already gets ml_dtypes' 0x7FC0 | sign from the encoder."""
    src = b.dtype_name(x)
    if fmt.nbits != 16 or src not in ("float16", "bfloat16") or (src, fmt.name) == ("float16", "bfloat16"):
        return bits
    xbits = b.reshape(b.view(x, "uint16"), tuple(x.shape))
    if src == fmt.name:
        nan_out = xbits
    else:
        nan_out = b.bitwise_or(b.bitwise_and(xbits, b.const(0x8000, "uint16")), b.const(0x7E00, "uint16"))
    is_nan = b.bitwise_and(xbits, b.const(0x7FFF, "uint16")) > b.const(FLOAT_FORMATS[src].inf_bits, "uint16")
    return b.where(is_nan, nan_out, bits)


# float8 lookup tables, built once per (format, saturate, source) from the generic encoder on the NumPy backend.
_F8_TABLES: dict[tuple[str, bool, str], tuple[np.ndarray, np.ndarray]] = {}


def _float8_table(fmt: FloatFormat, saturate: bool, src: str) -> tuple[np.ndarray, np.ndarray]:
    """(codes, overflowed) tables for the float8 fast path, from the generic encoder (so they cannot drift).

    float32 source, 2^14 entries indexed by ``(u >> 19) << 1 | sticky``: sign, exponent, the top 4 mantissa bits and
    whether the 19 bits below them are nonzero. This is exact, not an approximation: the RNE result of a float8
    format (≤ 3 mantissa bits) depends only on the kept bits, the round bit and the sticky bit; for normal targets
    the round bit is mantissa bit 19 (e4m3fn) or 20 (e5m2), for subnormal targets it is higher, so it always lies in
    the indexed bits and everything below it is summarized exactly by the indexed bits plus the sticky flag (NaN
    vs inf too: a NaN has a nonzero mantissa, so a nonzero index mantissa or sticky). Each entry is the generic
    encoder's result on the representative ``(idx >> 1) << 19 | (idx & 1)``. float16 / bfloat16 sources: all 2^16
    patterns, encoded through their exact float32 widening.
    """
    key = (fmt.name, saturate, src)
    if key not in _F8_TABLES:
        nb = get_backend(backend="numpy")
        if src == "float32":
            idx = np.arange(1 << 14, dtype=np.uint32)
            rep = ((idx >> 1) << 19) | (idx & 1)
        elif src == "bfloat16":
            rep = np.arange(1 << 16, dtype=np.uint32) << 16
        else:  # float16: exact widening (float8 NaN codes do not depend on the payload)
            with np.errstate(invalid="ignore"):
                rep = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float32)
            rep = rep.view(np.uint32)
        with np.errstate(over="ignore", invalid="ignore"):
            codes, over = _encode(nb, rep.view(np.float32), fmt, saturate)
        _F8_TABLES[key] = (np.asarray(codes, np.uint8), np.asarray(over, bool))
    return _F8_TABLES[key]


def _float8_fast_path(b: Backend, x: Any, fmt: FloatFormat, saturate: bool, need_over: bool) -> tuple[Any, Any]:
    """float32/float16/bfloat16 → float8 by an exact table lookup (:func:`_float8_table`); (None, None) if the
    source is float64 (the generic encoder rounds float64 → float32 → float8, as ml_dtypes does). Proven equal to
    the generic encoder by tests/parity/test_calib_parity.py (random patterns and every table class)."""
    src = b.dtype_name(x)
    if fmt.nbits != 8 or src not in ("float32", "float16", "bfloat16"):
        return None, None
    codes, over = _float8_table(fmt, saturate, src)
    shape = tuple(x.shape)
    if src == "float32":
        u = b.reshape(b.view(x, "uint32"), shape)
        # (u >> 18) keeps bit 18 as its lowest bit; OR-ing in "bits 0..17 nonzero" makes it the sticky of bits 0..18
        idx = b.bitwise_or(
            b.right_shift(u, b.const(18, "uint32")),
            b.minimum(b.bitwise_and(u, b.const(0x3FFFF, "uint32")), b.const(1, "uint32")),
        )
    else:
        idx = b.reshape(b.view(x, "uint16"), shape)
    bits = b.take(b.asarray(codes), idx)
    return bits, (b.take(b.asarray(over), idx) if need_over else None)


def _decode(b: Backend, bits: Any, fmt: FloatFormat) -> Any:
    """Exact decode of target bit patterns to float32 (every supported format widens exactly to float32)."""
    if fmt.name == "bfloat16":
        # bfloat16 is the upper half of float32: ``bits << 16`` is the general rule below for every code (normal,
        # subnormal, ±0, ±inf, NaN with its payload and sign) in two array passes instead of ~15
        w = b.left_shift(b.astype(bits, "uint32"), b.const(16, "uint32"))
        return b.reshape(b.view(w, "float32"), tuple(bits.shape))
    return _decode_generic(b, bits, fmt)


def _decode_generic(b: Backend, bits: Any, fmt: FloatFormat) -> Any:
    """The field-by-field decode of any supported format (see :func:`_decode`)."""
    u = "uint32"
    c = lambda v: b.const(v, u)  # noqa: E731
    v = b.astype(bits, u)
    shape = tuple(bits.shape)
    sign = b.right_shift(v, c(fmt.nbits - 1))
    mag = b.bitwise_and(v, c((1 << (fmt.nbits - 1)) - 1))
    e = b.right_shift(mag, c(fmt.mbits))
    mant = b.bitwise_and(mag, c((1 << fmt.mbits) - 1))
    # normal: rebias the exponent into float32 and left-align the mantissa
    normal = b.bitwise_or(b.left_shift(e + c(127 - fmt.bias), c(23)), b.left_shift(mant, c(23 - fmt.mbits)))
    out = b.reshape(b.view(normal, "float32"), shape)
    # subnormal (and zero): mant · 2^(1 - bias - mbits), an exact float32 product
    sub = b.astype(mant, "float32") * b.const(2.0 ** (1 - fmt.bias - fmt.mbits), "float32")
    out = b.where(e == c(0), sub, out)
    emax = (1 << fmt.ebits) - 1
    if fmt.has_inf:
        inf_f = b.reshape(b.view(c(0x7F800000), "float32"), ())
        if fmt.nbits == 16:  # NumPy / ml_dtypes widen float16 and bfloat16 NaNs keeping the payload bits
            nan_f = b.reshape(b.view(b.bitwise_or(c(0x7F800000), b.left_shift(mant, c(23 - fmt.mbits))), "float32"),
                              shape)
        else:  # ml_dtypes decodes every float8 NaN to the canonical quiet NaN
            nan_f = b.reshape(b.view(c(0x7FC00000), "float32"), ())
        special = b.where(mant == c(0), inf_f, nan_f)
        out = b.where(e == c(emax), special, out)
    else:
        qnan = b.reshape(b.view(c(0x7FC00000), "float32"), ())
        out = b.where(mag == c((1 << (fmt.ebits + fmt.mbits)) - 1), qnan, out)
    return b.where(sign == c(1), -out, out)


def _fmt(name: str) -> FloatFormat:
    aliases = {"float8_e4m3fn": "e4m3fn", "float8_e5m2": "e5m2", "fp16": "float16", "bf16": "bfloat16"}
    name = aliases.get(name, name)
    check_choice("float format", name, FLOAT_FORMATS)
    return FLOAT_FORMATS[name]


def _report(b: Backend, x: Any, out_bits: Any, over: Any, fmt: FloatFormat, saturate: bool) -> FloatReport:
    xs, _ = _source(b, x)
    finite = b.isfinite(xs)
    y = _decode(b, out_bits, fmt)
    nz_in = b.logical_and(finite, xs != b.const(0, b.dtype_name(xs)))
    under = b.logical_and(nz_in, y == b.const(0, "float32"))
    absx = b.where(finite, b.abs(xs), b.const(0, b.dtype_name(xs)))
    n_over = int(b.to_numpy(b.sum(b.astype(over, "int32"))))
    n = 1
    for d in x.shape:
        n *= int(d)
    if saturate:
        to_inf, to_nan, clipped = 0, 0, n_over
    elif fmt.has_inf:
        to_inf, to_nan, clipped = n_over, 0, 0
    else:
        to_inf, to_nan, clipped = 0, n_over, 0
    return FloatReport(
        format=fmt.name,
        count=n,
        saturate=saturate,
        overflow_to_inf=to_inf,
        overflow_to_nan=to_nan,
        clipped=clipped,
        underflow_to_zero=int(b.to_numpy(b.sum(b.astype(under, "int32")))),
        nan_inputs=int(b.to_numpy(b.sum(b.astype(b.isnan(xs), "int32")))),
        inf_inputs=int(b.to_numpy(b.sum(b.astype(b.isinf(xs), "int32")))),
        max_abs=float(b.to_numpy(b.max(absx))) if n else 0.0,
        max_value=fmt.max_value,
    )


def _convert(
    x: Any, fmt: FloatFormat, saturate: bool, return_report: bool, warn: bool, backend: str | None
) -> tuple[Any, Any, FloatReport | None]:
    b = get_backend(x, backend)
    x = b.asarray(x)
    if not b.is_floating(x):
        raise InputTypeError(f"float conversion needs floating-point input, got dtype {b.dtype_name(x)}")
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported by us, not by NumPy's cast warning
        return _convert_impl(b, x, fmt, saturate, return_report, warn)


def _convert_impl(
    b: Backend, x: Any, fmt: FloatFormat, saturate: bool, return_report: bool, warn: bool
) -> tuple[Any, Any, FloatReport | None]:
    if not isinstance(saturate, bool):
        raise InvalidArgumentError(f"saturate must be True or False, got {saturate!r}")
    need_over = return_report or (warn and fmt.name == "float16")
    bits = _native_fast_path(b, x, fmt, saturate)
    over = None
    if bits is None:
        bits, over = _float8_fast_path(b, x, fmt, saturate, need_over)
        if bits is None:
            bits, over = _encode(b, x, fmt, saturate)
    elif need_over:
        # fast path (never saturating): a finite input overflowed iff its result is ±inf
        mag = b.bitwise_and(bits, b.const(0x7FFF, "uint16"))
        over = b.logical_and(b.isfinite(x), mag == b.const(fmt.inf_bits, "uint16"))
    bits = _half_nan_fix(b, x, bits, fmt)
    report = _report(b, x, bits, over, fmt, saturate) if return_report else None
    if warn and fmt.name == "float16" and over is not None:
        n_over = report.overflowed if report is not None else int(b.to_numpy(b.sum(b.astype(over, "int32"))))
        if n_over:
            what = "were clipped to ±65504" if saturate else "became ±inf"
            warnings.warn(
                f"{n_over} value(s) exceed the float16 range (max 65504) and {what}; bfloat16 keeps float32's "
                "exponent range (to_bfloat16), or scale the tensor down first",
                RuntimeWarning,
                stacklevel=4,
            )
    return b, bits, report


def to_float16(
    x: Any,
    *,
    saturate: bool = False,
    as_bits: bool = False,
    return_report: bool = False,
    warn: bool = True,
    backend: str | None = None,
) -> Any:
    """Round float values to IEEE float16, round-to-nearest-even; bit-exact with NumPy / ml_dtypes.

    Args:
        x: float16/bfloat16/float32/float64 array (NumPy or MLX). float64 is rounded once, directly (as NumPy).
        saturate: clip values beyond ±65504 (±inf included) to ±65504 instead of producing ±inf.
        as_bits: return the uint16 bit patterns instead of float16 values.
        return_report: also return a :class:`FloatReport`.
        warn: emit a ``RuntimeWarning`` (suggesting bfloat16) when finite values overflow. On MLX this check forces
            evaluation; pass ``warn=False`` to keep the computation lazy.
        backend: force ``"numpy"`` or ``"mlx"``; default follows ``x``.

    Returns:
        float16 array (or uint16 patterns), same shape and backend as ``x``; with ``return_report``, a tuple
        ``(array, FloatReport)``.

    Raises:
        InputTypeError: non-float input.

    Example:
        >>> import numpy as np
        >>> to_float16(np.array([1.0, 0.1, 65519.0, 65520.0], np.float32), warn=False).tolist()
        [1.0, 0.0999755859375, 65504.0, inf]
    """
    fmt = FLOAT_FORMATS["float16"]
    b, bits, report = _convert(x, fmt, saturate, return_report, warn, backend)
    out = bits if as_bits else b.reshape(b.view(bits, "float16"), tuple(bits.shape))
    return (out, report) if return_report else out


def to_bfloat16(
    x: Any,
    *,
    saturate: bool = False,
    as_bits: bool = False,
    return_report: bool = False,
    backend: str | None = None,
) -> Any:
    """Round float values to bfloat16, round-to-nearest-even; bit-exact with ml_dtypes.bfloat16.

    Args:
        x: float16/bfloat16/float32/float64 array (NumPy or MLX).
        saturate: clip finite overflow to ±max bfloat16 (3.3895e38) instead of ±inf.
        as_bits: return the uint16 bit patterns (both backends).
        return_report: also return a :class:`FloatReport`.
        backend: force ``"numpy"`` or ``"mlx"``; default follows ``x``.

    Returns:
        On MLX, an ``mx.bfloat16`` array. On NumPy (no bfloat16 dtype), a float32 array holding exactly the bfloat16
        values. With ``as_bits``, uint16 patterns. With ``return_report``, a tuple ``(array, FloatReport)``.

    Raises:
        InputTypeError: non-float input.

    Example:
        >>> import numpy as np
        >>> to_bfloat16(np.array([1.0, 1.00390625, 1.01171875, 3.14159], np.float32))
        array([1.      , 1.      , 1.015625, 3.140625], dtype=float32)
        >>> to_bfloat16(np.array([1.0, -2.0], np.float32), as_bits=True)
        array([16256, 49152], dtype=uint16)
    """
    fmt = FLOAT_FORMATS["bfloat16"]
    b, bits, report = _convert(x, fmt, saturate, return_report, False, backend)
    if as_bits:
        out = bits
    elif b.name == "mlx":
        out = b.reshape(b.view(bits, "bfloat16"), tuple(bits.shape))
    else:
        out = _decode(b, bits, fmt)
    return (out, report) if return_report else out


def to_float8(
    x: Any,
    fmt: str = "e4m3fn",
    *,
    saturate: bool = False,
    return_report: bool = False,
    backend: str | None = None,
) -> Any:
    """Encode float values as float8 codes (uint8), round-to-nearest-even; bit-exact with ml_dtypes.

    Args:
        x: float16/bfloat16/float32/float64 array (NumPy or MLX).
        fmt: ``"e4m3fn"`` (max 448, no inf) or ``"e5m2"`` (max 57344, IEEE-like); ``"float8_e4m3fn"`` and
            ``"float8_e5m2"`` are accepted too.
        saturate: clip overflow to ±max. Without it (ml_dtypes' behaviour) E4M3FN overflow and ±inf become NaN
            (0x7F / 0xFF) and E5M2 overflow becomes ±inf. With it, overflow and ±inf become ±max (ONNX ``Cast``
            saturate=1, checked against onnx's reference evaluator).
        return_report: also return a :class:`FloatReport`.
        backend: force ``"numpy"`` or ``"mlx"``; default follows ``x``.

    Returns:
        uint8 codes (same shape and backend as ``x``); with ``return_report``, ``(codes, FloatReport)``.

    Raises:
        InputTypeError: non-float input.
        InvalidArgumentError: unknown format.

    Example:
        >>> import numpy as np
        >>> to_float8(np.array([1.0, 448.0, 464.0, 465.0, -0.0], np.float32))
        array([ 56, 126, 126, 127, 128], dtype=uint8)
        >>> from_float8(to_float8(np.array([0.3, 1000.0], np.float32), "e4m3fn", saturate=True), "e4m3fn").tolist()
        [0.3125, 448.0]
    """
    f = _fmt(fmt)
    if f.nbits != 8:
        raise InvalidArgumentError(f"to_float8 needs a float8 format (e4m3fn, e5m2), got {fmt!r}")
    _b, bits, report = _convert(x, f, saturate, return_report, False, backend)
    return (bits, report) if return_report else bits


def from_bits(bits: Any, fmt: str, *, backend: str | None = None) -> Any:
    """Decode bit patterns of ``fmt`` (uint8 for float8, uint16 for float16/bfloat16) to float32, exactly.

    NaN codes decode as ml_dtypes does: float16/bfloat16 keep the payload bits, float8 NaNs become the float32
    quiet NaN; the sign is kept; ±inf to ±inf.

    Args:
        bits: unsigned integer array of codes.
        fmt: ``"float16"``, ``"bfloat16"``, ``"e4m3fn"`` or ``"e5m2"``.
        backend: force ``"numpy"`` or ``"mlx"``; default follows ``bits``.

    Returns:
        float32 array, same shape and backend as ``bits``.

    Raises:
        InputTypeError: ``bits`` is not an unsigned integer array of the format's width.
        InvalidArgumentError: unknown format.

    Example:
        >>> import numpy as np
        >>> from_bits(np.array([0x3F80, 0xC000, 0x7F80], np.uint16), "bfloat16")
        array([ 1., -2., inf], dtype=float32)
    """
    f = _fmt(fmt)
    b = get_backend(bits, backend)
    bits = b.asarray(bits)
    want = _STORE[f.nbits]
    if b.dtype_name(bits) != want:
        raise InputTypeError(f"{f.name} codes must be {want}, got dtype {b.dtype_name(bits)}")
    return _decode(b, bits, f)


def from_float8(codes: Any, fmt: str = "e4m3fn", *, backend: str | None = None) -> Any:
    """Decode float8 codes (uint8) to float32, exactly (see :func:`from_bits`).

    Example:
        >>> import numpy as np
        >>> from_float8(np.array([0x38, 0x7E, 0x7F, 0x01], np.uint8), "e4m3fn").tolist()
        [1.0, 448.0, nan, 0.001953125]
    """
    f = _fmt(fmt)
    if f.nbits != 8:
        raise InvalidArgumentError(f"from_float8 needs a float8 format (e4m3fn, e5m2), got {fmt!r}")
    return from_bits(codes, f.name, backend=backend)


def float_overflow_report(x: Any, fmt: str = "float16", *, saturate: bool = False) -> FloatReport:
    """What converting ``x`` to ``fmt`` would lose (without emitting warnings).

    Example:
        >>> import numpy as np
        >>> r = float_overflow_report(np.array([1.0, 7e4, -1e5, 1e-9], np.float32), "float16")
        >>> (r.overflow_to_inf, r.underflow_to_zero, r.max_abs)
        (2, 1, 100000.0)
    """
    f = _fmt(fmt)
    _b, _, report = _convert(x, f, saturate, True, False, None)
    if report is None:  # pragma: no cover - return_report=True always builds one
        raise RuntimeError("internal error: no float report")
    return report
