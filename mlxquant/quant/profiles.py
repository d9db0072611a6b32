"""Profiles: every convention in which the quantization peers (ONNX Runtime, PyTorch, TFLite) differ, named.

A :class:`Profile` is a frozen record; :data:`PROFILES` maps a name to one. The arithmetic that the fields name is
defined once in :mod:`mlxquant.quant.primitives` and normatively in ``docs/spec/quant.md``; this module only
*describes* each peer. Each field's comment says where the convention comes from (REFERENCE §1–4, and the peer's
source or a run of the real package).

Formulas (``s`` scale, ``zp`` zero point, ``inv = f32(1/s)``, ``round`` = the profile's rounding, ``f32(e)`` = ``e``
rounded once to binary32):

===========  ================================================  ==========================================
formula      integer before saturation                         used by
===========  ================================================  ==========================================
``div``      ``round(f32(x / s)) + zp``                        onnxruntime QuantizeLinear, LiteRT reference
``mul``      ``round(f32(x · inv)) + zp``                      LiteRT XNNPACK, torch fake_quantize
``fma``      ``round(f32(fma(x, inv, zp)))`` (one rounding)    torch.quantize_per_tensor (qint8, quint8)
``mul_add``  ``round(f32(f32(x · inv) + zp))``                 torch.quantize_per_channel, torch qint32
===========  ================================================  ==========================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType

from .._errors import InvalidArgumentError, InvalidProfileError

__all__ = [
    "FORMULAS",
    "PROFILES",
    "ROUNDINGS",
    "Profile",
    "get_profile",
    "rounding_mode",
]

#: Rounding modes of ``rounding=`` and of :attr:`Profile.rounding`: round half to even (RNE), half away from zero
#: (RHA, C ``round``/``std::round``), half up toward +inf (RHU, ``floor(v + 0.5)``).
ROUNDINGS = ("half_even", "half_away", "half_up")

#: The quantize formulas (see the module docstring).
FORMULAS = ("div", "mul", "fma", "mul_add")

_ROUNDING_ALIASES = {
    "half_even": "half_even",
    "rne": "half_even",
    "even": "half_even",
    "half_away": "half_away",
    "rha": "half_away",
    "away": "half_away",
    "half_up": "half_up",
    "rhu": "half_up",
    "up": "half_up",
}


def rounding_mode(name: str) -> str:
    """Normalize a rounding name (``"half_even"``, ``"half_away"``, ``"half_up"``; aliases rne/rha/rhu).

    Raises:
        InvalidArgumentError: unknown name (the message lists the valid ones).
    """
    try:
        return _ROUNDING_ALIASES[name]
    except (KeyError, TypeError):
        raise InvalidArgumentError(f"unknown rounding {name!r}; valid roundings are: {', '.join(ROUNDINGS)}") from None


@dataclass(frozen=True)
class Profile:
    """The conventions of one peer. Every field is documented in ``docs/spec/quant.md``.

    Attributes:
        name: the profile's key in :data:`PROFILES`.
        peer: the real implementation this profile is bit-exact with.
        rounding: rounding of ``quantize`` / ``fake_quantize`` (one of :data:`ROUNDINGS`).
        formula: the per-tensor quantize formula (one of :data:`FORMULAS`).
        formula_per_axis: the formula for per-axis and blocked quantization.
        rounding_per_axis: the rounding for per-axis and blocked quantization.
        formula_int32: the formula when the target dtype is int32.
        fake_formula: the formula inside ``fake_quantize``: ``"quantize"`` (the quantize formula and rounding of the
            granularity, so that fake_quantize = dequantize(quantize(x))) or one of :data:`FORMULAS` (with
            :attr:`rounding`).
        fake_mask: straight-through-estimator mask of ``fake_quantize``'s gradient: ``"rounded"`` (1 where the
            rounded, unsaturated q lies in [qmin, qmax]; torch) or ``"clamped_input"`` (1 where
            ``(qmin - zp)·s <= x <= (qmax - zp)·s``; TF FakeQuant).
        nan: the quantized value of a NaN input: ``"qmin"``.
        zero_point_rule: how ``choose_qparams`` derives an asymmetric zero point from ``zf = f32(qmin - f32(min/s))``:
            ``"clip_then_round"`` (``rne(clip(zf))``, ONNX DynamicQuantizeLinear), ``"round_then_clamp"``
            (``clamp(qmin - rne(f32(min/s)))``, torch), ``"nudge"`` (``qmin`` if ``zf < qmin``, ``qmax`` if
            ``zf > qmax``, else ``rha(zf)``; the TFLite converter), ``"onnx"`` (``"clip_then_round"`` for uint8
            without reduce_range, DynamicQuantizeLinear's only case; otherwise onnxruntime's quantization tool,
            ``compute_scale_zp`` in float64: ``s = f64(max⁺ - min⁻)/(qmax - qmin)``, ``zp = rne(qmin - min⁻/s)``,
            ``s < FLT_MIN`` → (1.0, 0)).
        symmetric_narrow: the signed dtypes whose symmetric qparams use the narrow range ``[-qmax, qmax]``
            (``amax/127`` for int8; the ONNX tool narrows int8 and int16 only, TFLite every signed dtype); the others
            use the full range (``amax/127.5`` for int8; torch).
        unsigned_symmetric_zero_point: ``"mid_even"`` (``rne((qmin + qmax)/2)``: 128 for uint8; ONNX tool, TFLite)
            or ``"torch"`` (128 for uint8, ``(qmin + qmax) // 2`` for the other unsigned dtypes, torch's customized
            ranges).
        degenerate: qparams when ``scale`` would be unusable (all-zero range): ``"onnx"`` (scale 1.0, zp 0 when
            max⁺ == min⁻ for asymmetric, as DynamicQuantizeLinear; when the scale is below FLT_MIN for symmetric, as
            the quantization tool), ``"eps"`` (scale floored at float32 eps = 1.1920929e-07; torch),
            ``"one_qmin"`` (scale 1.0, asymmetric zp qmin, symmetric zp as usual, when max - min < DBL_EPSILON;
            the TFLite MLIR converter).
        reduce_range: ``"onnx"`` (the onnxruntime quantization tool's table), ``"half"`` (``(qmin // 2,
            qmax // 2)``; torch) or ``None`` (not supported: ``reduce_range=True`` raises).
        builtin_dtypes: dtypes whose *per-tensor* quantize also uses :attr:`formula_per_axis` and
            :attr:`rounding_per_axis` (tflite: XNNPACK has no 4-bit QUANTIZE, so LiteRT's default interpreter runs
            the builtin kernel, ``round(x / s) + zp`` half away, for int4/uint4; checked against ai-edge-litert 2.3).
    """

    name: str
    peer: str
    rounding: str
    formula: str
    formula_per_axis: str
    rounding_per_axis: str
    formula_int32: str
    fake_formula: str
    fake_mask: str
    nan: str
    zero_point_rule: str
    symmetric_narrow: tuple[str, ...]
    unsigned_symmetric_zero_point: str
    degenerate: str
    reduce_range: str | None
    builtin_dtypes: tuple[str, ...] = ()

    def describe(self) -> dict[str, object]:
        """The profile's fields as a plain dict (for tables and JSON)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


_ONNX = Profile(
    name="onnx",
    peer="onnxruntime QuantizeLinear/DequantizeLinear (opset 21), DynamicQuantizeLinear, quantization tool",
    rounding="half_even",  # ORT: std::nearbyintf under the default FE_TONEAREST (REFERENCE §1)
    formula="div",  # x / s, not x·(1/s): the reciprocal mismatches ~9% of near-ties (REFERENCE §1)
    formula_per_axis="div",
    rounding_per_axis="half_even",
    formula_int32="div",
    fake_formula="quantize",  # fake_quantize = DequantizeLinear(QuantizeLinear(x))
    fake_mask="rounded",
    nan="qmin",  # ORT CPU (MLAS): NaN -> qmin for every dtype, checked against onnxruntime 1.32
    zero_point_rule="onnx",  # uint8: DynamicQuantizeLinear; other dtypes / reduce_range: the tool (compute_scale_zp)
    symmetric_narrow=("int8", "int16", "int32"),  # quant_utils ONNX_INT_TYPE_SYMMETRIC_RANGE (int8, int16) + int32
    unsigned_symmetric_zero_point="mid_even",  # quant_utils.compute_scale_zp: round((qmin + qmax) / 2)
    degenerate="onnx",  # asymmetric: DynamicQuantizeLinear max == min -> (1.0, 0); symmetric: tool scale < FLT_MIN
    reduce_range="onnx",  # quant_utils ONNX_INT_TYPE_REDUCED_RANGE: uint8 [0,127], int8 [-64,64], ...
)

_TORCH = Profile(
    name="torch",
    peer="torch 2.13 quantize_per_tensor/per_channel, MinMaxObserver, fake_quantize_per_*_affine",
    rounding="half_even",  # std::nearbyint / _mm256_cvtps_epi32
    formula="fma",  # fbgemm QuantizeAvx2 (LEGACY): _mm256_fmadd_ps(x, inv, zp), then cvtps (REFERENCE §1)
    formula_per_axis="mul_add",  # quantize_per_channel: zp + x·inv in float32, then nearbyint
    rounding_per_axis="half_even",
    formula_int32="mul_add",  # qint32: same as per-channel
    fake_formula="mul",  # fake_quantize: zp + nearbyint(x·inv)
    fake_mask="rounded",  # mask = quant_min <= zp + nearbyint(x·inv) <= quant_max (REFERENCE §4)
    nan="qmin",  # deliberate: torch itself gives qmax (per-tensor 8-bit), 0 (per-channel 8-bit), qmin (qint32)
    zero_point_rule="round_then_clamp",  # _calculate_qparams: clamp(qmin - round(min/s), qmin, qmax)
    symmetric_narrow=(),  # scale = amax / ((qmax - qmin) / 2) = amax/127.5 for qint8
    unsigned_symmetric_zero_point="torch",  # quint8 -> 128; customized range -> (qmin + qmax) // 2
    degenerate="eps",  # scale = max(scale, torch.finfo(torch.float32).eps)
    reduce_range="half",  # calculate_qmin_qmax: qint8 [-64,63], quint8 [0,127]; custom ranges halved
)

_TFLITE = Profile(
    name="tflite",
    peer="LiteRT/XNNPACK QUANTIZE (default delegate); TFLite converter qparams",
    rounding="half_even",  # XNNPACK f32->qs8 cvt: magic-bias / cvtps rounding (RNE) (REFERENCE §1)
    formula="mul",  # XNNPACK multiplies by the reciprocal scale
    formula_per_axis="div",  # per-channel QUANTIZE is not delegated: builtin PerChannelQuantize, round(x / s[c]) + zp
    rounding_per_axis="half_away",  # ... with TfLiteRound (std::round); checked against ai-edge-litert 2.3
    formula_int32="mul",
    fake_formula="quantize",  # dequantize(quantize(x))
    fake_mask="clamped_input",  # TF FakeQuant gradient: 1 on [nudged_min, nudged_max] (REFERENCE §3)
    nan="qmin",  # TFLite's own result is a UB float->int cast; mlxquant defines qmin
    zero_point_rule="nudge",  # tools/optimize/quantization_utils.cc GetAsymmetricQuantizationParams (float32)
    symmetric_narrow=("int2", "int4", "int8", "int16", "int32"),  # weights: int8 [-127, 127], amax/127 (REF §3)
    unsigned_symmetric_zero_point="mid_even",
    degenerate="one_qmin",  # MLIR converter: |max - min| < DBL_EPSILON -> scale 1.0, zero point qmin
    reduce_range=None,  # TFLite has no reduce_range
    builtin_dtypes=("int2", "uint2", "int4", "uint4"),  # no XNNPACK sub-byte convert: builtin kernel (int4/uint4 run)
)

_TFLITE_REFERENCE = Profile(
    name="tflite_reference",
    peer="LiteRT QUANTIZE reference kernel (reference_ops::AffineQuantize)",
    rounding="half_away",  # TfLiteRound = std::round (REFERENCE §1)
    formula="div",  # static_cast<int32_t>(TfLiteRound(val / scale)) + zero_point
    formula_per_axis="div",
    rounding_per_axis="half_away",
    formula_int32="div",
    fake_formula="quantize",
    fake_mask="clamped_input",
    nan="qmin",  # the reference kernel's cast of NaN is UB (INT_MIN on x86, then clamped to qmin)
    zero_point_rule="nudge",
    symmetric_narrow=("int2", "int4", "int8", "int16", "int32"),
    unsigned_symmetric_zero_point="mid_even",
    degenerate="one_qmin",
    reduce_range=None,
)

#: Every profile by name.
PROFILES: Mapping[str, Profile] = MappingProxyType({p.name: p for p in (_ONNX, _TORCH, _TFLITE, _TFLITE_REFERENCE)})


def get_profile(profile: str | Profile) -> Profile:
    """Look up a profile by name (a :class:`Profile` passes through).

    Raises:
        InvalidProfileError: unknown name (the message lists the valid ones).
    """
    if isinstance(profile, Profile):
        return profile
    try:
        return PROFILES[profile]
    except (KeyError, TypeError):
        raise InvalidProfileError(f"unknown profile {profile!r}; valid profiles are: {', '.join(PROFILES)}") from None
