"""A dumb, loop-based oracle of the quantization core: pure Python, one element at a time, exact arithmetic.

It never imports mlxquant. Every float32 operation is done exactly with :class:`fractions.Fraction` and rounded
once to binary32 by :func:`f32` (round to nearest, ties to even, with subnormals and overflow to inf), so a fused
multiply-add is a fused multiply-add and a division is correctly rounded by construction. The conventions are
re-encoded here from REFERENCE §1–4 and docs/spec/quant.md, independently of mlxquant.quant.profiles.
"""

from __future__ import annotations

import math
from fractions import Fraction

__all__ = [
    "ORACLE_PROFILES",
    "QRANGES",
    "dequantize",
    "f32",
    "fake_quantize",
    "qparams",
    "quantize",
    "round_int",
]

#: dtype -> (qmin, qmax)
QRANGES = {
    "int2": (-2, 1),
    "uint2": (0, 3),
    "int4": (-8, 7),
    "uint4": (0, 15),
    "int8": (-128, 127),
    "uint8": (0, 255),
    "int16": (-32768, 32767),
    "uint16": (0, 65535),
    "int32": (-(2**31), 2**31 - 1),
}

#: profile -> conventions (formula per tensor / per axis / int32, rounding per tensor / per axis, fake formula)
ORACLE_PROFILES = {
    "onnx": {"tensor": "div", "axis": "div", "int32": "div", "rnd": "even", "rnd_axis": "even", "fake": None},
    "torch": {"tensor": "fma", "axis": "mul_add", "int32": "mul_add", "rnd": "even", "rnd_axis": "even", "fake": "mul"},
    "tflite": {"tensor": "mul", "axis": "div", "int32": "mul", "rnd": "even", "rnd_axis": "away", "fake": None},
    "tflite_reference": {
        "tensor": "div",
        "axis": "div",
        "int32": "div",
        "rnd": "away",
        "rnd_axis": "away",
        "fake": None,
    },
}

_MAX_F32 = (2 - Fraction(1, 2**23)) * Fraction(2) ** 127


def f32(v: Fraction | float | int) -> float:
    """Round an exact value to the nearest binary32 (ties to even), returned as a Python float."""
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return v
        v = Fraction(v)
    v = Fraction(v)
    if v == 0:
        return 0.0
    sign = -1.0 if v < 0 else 1.0
    a = abs(v)
    e = a.numerator.bit_length() - a.denominator.bit_length()
    while Fraction(2) ** e > a:
        e -= 1
    while Fraction(2) ** (e + 1) <= a:
        e += 1
    ulp = max(e - 23, -149)
    n = round(a / Fraction(2) ** ulp)  # Fraction.__round__ rounds half to even
    r = n * Fraction(2) ** ulp
    if r > _MAX_F32:
        return sign * math.inf
    return sign * float(r)


def round_int(v: float, mode: str) -> float:
    """Round a float to an integer value: "even", "away" (half away from zero) or "up" (half toward +inf)."""
    if math.isnan(v) or math.isinf(v):
        return v
    fv = Fraction(v)
    fl = math.floor(fv)
    frac = fv - fl
    if frac < Fraction(1, 2):
        return float(fl)
    if frac > Fraction(1, 2):
        return float(fl + 1)
    if mode == "even":
        return float(fl if fl % 2 == 0 else fl + 1)
    if mode == "away":
        return float(fl + 1 if v > 0 else fl)
    return float(fl + 1)  # "up"


def _inv(s: float) -> float:
    return f32(1 / Fraction(s))


def _unsaturated(x: float, s: float, zp: int, formula: str, mode: str) -> tuple[float, bool]:
    """The rounded value before saturation; the bool says whether zp is included."""
    if math.isnan(x):
        return math.nan, False
    if math.isinf(x):
        return x, False
    fx = Fraction(x)
    if formula == "div":
        return round_int(f32(fx / Fraction(s)), mode), False
    inv = Fraction(_inv(s))
    if formula == "mul":
        return round_int(f32(fx * inv), mode), False
    if formula == "mul_add":
        p = f32(fx * inv)
        if math.isinf(p):
            return p, True
        return round_int(f32(Fraction(p) + zp), mode), True
    if formula == "fma":
        return round_int(f32(fx * inv + zp), mode), True
    raise ValueError(formula)


def quantize(
    x: float, s: float, zp: int, dtype: str, profile: str, per_axis: bool = False, rounding: str | None = None
) -> int:
    """One element, per the profile (NaN -> qmin, saturation otherwise)."""
    qmin, qmax = QRANGES[dtype]
    conv = ORACLE_PROFILES[profile]
    # tflite: no XNNPACK sub-byte QUANTIZE, LiteRT runs the builtin (per-channel-style) kernel for them
    builtin = per_axis or (profile == "tflite" and dtype in ("int2", "uint2", "int4", "uint4"))
    formula = conv["int32"] if dtype == "int32" else conv["axis" if builtin else "tensor"]
    mode = rounding or conv["rnd_axis" if builtin else "rnd"]
    r, included = _unsaturated(x, s, zp, formula, mode)
    if math.isnan(r):
        return qmin
    if math.isinf(r):
        return qmax if r > 0 else qmin
    q = int(r) if included else int(r) + zp
    return min(max(q, qmin), qmax)


def dequantize(q: int, s: float, zp: int) -> float:
    """(q - zp)·s: the difference rounded to float32, then the product rounded to float32."""
    return f32(Fraction(f32(q - zp)) * Fraction(s))


def fake_quantize(x: float, s: float, zp: int, dtype: str, profile: str, per_axis: bool = False) -> tuple[float, bool]:
    """(value, gradient mask) of fake quantization, per the profile."""
    qmin, qmax = QRANGES[dtype]
    conv = ORACLE_PROFILES[profile]
    if conv["fake"] is None:  # dequantize(quantize(x)); mask
        q = quantize(x, s, zp, dtype, profile, per_axis)
        y = dequantize(q, s, zp)
        if profile in ("tflite", "tflite_reference"):
            lo = f32(Fraction(f32(qmin - zp)) * Fraction(s))
            hi = f32(Fraction(f32(qmax - zp)) * Fraction(s))
            return y, (not math.isnan(x)) and lo <= x <= hi
        formula = conv["int32"] if dtype == "int32" else conv["axis" if per_axis else "tensor"]
        r, _ = _unsaturated(x, s, zp, formula, conv["rnd_axis" if per_axis else "rnd"])
        return y, (not math.isnan(r)) and qmin - zp <= r <= qmax - zp
    # torch: zp + rne(f32(x·inv)), clamp, (q - zp)·s
    r, _ = _unsaturated(x, s, zp, conv["fake"], conv["rnd"])
    if math.isnan(r):
        return dequantize(qmin, s, zp), False
    mask = qmin - zp <= r <= qmax - zp
    rc = min(max(r, qmin - zp), qmax - zp)
    return f32(Fraction(rc) * Fraction(s)), mask


def _symmetric_range(dtype: str, profile: str, reduce_range: bool, narrow_range: bool) -> tuple[int, int]:
    qmin, qmax = QRANGES[dtype]
    if reduce_range:
        onnx_table = {
            "uint8": (0, 127),
            "int8": (-64, 64),
            "uint16": (0, 32767),
            "int16": (-16384, 16384),
            "uint4": (0, 7),
            "int4": (-4, 3),
        }
        if profile == "onnx" and dtype in onnx_table:
            qmin, qmax = onnx_table[dtype]
        else:
            qmin, qmax = qmin // 2, qmax // 2
    return qmin, qmax


def qparams(
    mn: float,
    mx: float,
    dtype: str,
    profile: str,
    symmetric: bool = False,
    reduce_range: bool = False,
    narrow_range: bool = False,
) -> tuple[float, int]:
    """(scale, zero_point) from a min and max, per the profile's rules (scalar, exact arithmetic)."""
    qmin, qmax = _symmetric_range(dtype, profile, reduce_range, narrow_range)
    signed = QRANGES[dtype][0] < 0
    if not reduce_range and symmetric and signed:
        narrow = {
            "onnx": ("int8", "int16", "int32"),
            "torch": (),
            "tflite": tuple(QRANGES),
            "tflite_reference": tuple(QRANGES),
        }
        if dtype in narrow[profile]:
            qmin = -qmax
    if narrow_range and signed:
        qmin = max(qmin, -qmax)
    mn_n = min(f32(mn), 0.0)
    mx_p = max(f32(mx), 0.0)
    if symmetric:
        amax = max(-mn_n, mx_p)
        s = f32(Fraction(amax) / (Fraction(qmax - qmin) / 2))
        if signed:
            zp = 0
        elif profile == "torch":
            zp = 128 if dtype == "uint8" else (32768 if dtype == "uint16" else (qmin + qmax) // 2)
        else:
            zp = int(round_int(float(Fraction(qmin + qmax, 2)), "even"))
        span = f32(Fraction(amax) * 2)
    elif profile == "onnx" and (dtype != "uint8" or reduce_range):
        # onnxruntime quantization tool (compute_scale_zp), float64 throughout; DynamicQuantizeLinear covers only uint8
        s64 = float(Fraction(float(Fraction(mx_p) - Fraction(mn_n))) / (qmax - qmin))
        if s64 < 2.0**-126:
            return 1.0, 0
        zf = float(qmin - Fraction(float(Fraction(mn_n) / Fraction(s64))))
        return f32(s64), min(max(int(round_int(zf, "even")), qmin), qmax)
    else:
        span = f32(Fraction(mx_p) - Fraction(mn_n))
        s = f32(Fraction(span) / (qmax - qmin))
        zp = None
    if profile == "torch":
        s = max(s, f32(Fraction(1, 2**23)))
    if not symmetric:
        ratio = f32(Fraction(mn_n) / Fraction(s)) if s > 0 else 0.0
        if profile == "torch":
            zp = min(max(qmin - int(round_int(ratio, "even")), qmin), qmax)
        else:
            zf = f32(qmin - Fraction(ratio))
            if profile == "onnx":
                zp = int(round_int(min(max(zf, float(qmin)), float(qmax)), "even"))
            elif zf < qmin:
                zp = qmin
            elif zf > qmax:
                zp = qmax
            else:
                zp = int(round_int(zf, "away"))
    if profile == "onnx":
        if (symmetric and s < 2.0**-126) or (not symmetric and (span == 0 or s == 0)):
            return 1.0, 0
    elif profile in ("tflite", "tflite_reference"):
        if span < 2.0**-52:
            return 1.0, (qmin if not symmetric else zp)
    return s, zp
