"""MLX's quantized weight format: ``mx.quantize`` / ``mx.dequantize`` on NumPy or MLX arrays, bit for bit.

Modes (``docs/spec/formats.md`` gives the normative formulas):

* ``"affine"`` — groups of 32/64/128 consecutive values along the last axis, 1/2/3/4/5/6/8 bits (1-bit has its own
  rule in MLX 0.32: no edge correction), a scale and a bias per group in the input's float dtype, codes packed
  LSB-first into uint32 (layout ``"mlx"`` of :mod:`mlxquant.quant.packing`). Bit-exact with ``mx.quantize`` on
  MLX's CPU backend. MLX's Metal and CUDA kernels round the exact .5 ties of ``(w - bias) / scale`` away from zero
  instead of to even: ``rounding="half_away"`` reproduces them (not verified on a GPU here).
* ``"mxfp4"`` (E2M1 codes, groups of 32, E8M0 power-of-two scales), ``"mxfp8"`` (E4M3 codes, groups of 32, E8M0) and
  ``"nvfp4"`` (E2M1 codes, groups of 16, E4M3 scales): no bias; the scales are uint8 codes. nvfp4 also takes
  ``global_scale=`` (NVFP4's per-tensor scale), as ``mx.quantize`` / ``mx.dequantize``.

Where MLX itself is wrong or undefined (the functions here raise or behave as documented instead):

* NaN / ±inf weights: MLX's affine CPU kernel casts NaN to an integer (undefined behaviour, garbage codes); here
  :class:`~mlxquant.NonFiniteError`.
* ``nvfp4`` on MLX's CPU backend fails inside ``reshape`` when the element count is not a multiple of 32 (e.g. one
  row of 16 or three rows of 16); the generic implementation here handles any multiple of 16.
* ``mxfp4``/``mxfp8`` groups whose largest magnitude is below ~6·2⁻¹²⁷ (float32 subnormals): MLX's exponent code
  ``e + 127`` wraps around in its uint8 cast; here it is clamped to 0 (scale 2⁻¹²⁷).

Widths not divisible by the group size: ``mx.quantize`` raises. :func:`mlx_quantize` raises too (``policy="error"``,
the default) and offers ``"pad"`` (zero-pad each row to a multiple of the group; :func:`mlx_dequantize` with
``width=`` trims it), or ``"fallback"`` (the largest valid group size that divides the width). Skipping a tensor (keep
it in float) is a checkpoint-level decision: see :func:`mlxquant.quantize_checkpoint`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..._backend import Backend, get_backend, is_mlx_array, to_numpy
from ..._checks import check_choice
from ..._errors import AlreadyQuantizedError, InputTypeError, InvalidArgumentError, NonFiniteError, ShapeError
from ..packing import _pack_codes, unpack
from . import MLX_MODES

__all__ = ["MLX_MODES", "WIDTH_POLICIES", "mlx_dequantize", "mlx_quantize", "resolve_group_size"]

#: What :func:`mlx_quantize` does when the last axis is not a multiple of the group size.
WIDTH_POLICIES = ("error", "pad", "fallback")

# E2M1 (FP4) values by code, as MLX's FP4_LUT: codes 0-7 positive, 8-15 negative (code 8 is -0.0).
_FP4_VALUES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0)
# Upper bounds (inclusive) of each positive FP4 code: MLX picks the first LUT entry at minimal distance, so an exact
# midpoint goes to the smaller magnitude (0.75 -> 0.5, 5.0 -> 4.0), unlike IEEE round-to-nearest-even.
_FP4_BOUNDS = (0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0)


def _check_not_quantized(w: Any, b: Backend) -> None:
    from ..tensor import QuantizedTensor

    if isinstance(w, QuantizedTensor):
        raise AlreadyQuantizedError(
            f"this tensor is already quantized ({w.describe()}); dequantize it first or use it as it is"
        )
    if b.dtype_name(w) == "uint32":
        raise AlreadyQuantizedError(
            "a uint32 array looks like packed MLX weights (already quantized); pass float weights, or call "
            "mlx_dequantize(wq, scales, biases, ...) first"
        )


def resolve_group_size(width: int, group_size: int, mode: str = "affine") -> int:
    """The largest valid group size of ``mode`` that is ≤ ``group_size`` and divides ``width`` (policy "fallback").

    Raises:
        ShapeError: no valid group size divides ``width``.

    Example:
        >>> resolve_group_size(4320, 64), resolve_group_size(4096, 64)
        (32, 64)
        >>> resolve_group_size(4304, 64)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        mlxquant._errors.ShapeError: width 4304 is not divisible by any affine group size <= 64 ...
    """
    valid = MLX_MODES[mode][2]
    for g in sorted(valid, reverse=True):
        if g <= group_size and width % g == 0:
            return g
    raise ShapeError(
        f"width {width} is not divisible by any {mode} group size <= {group_size} (valid group sizes: "
        f"{', '.join(map(str, valid))}); use policy='pad' or keep this tensor in float"
    )


def _host_view(b: Backend, w: Any) -> np.ndarray | None:
    """A NumPy view of an MLX array on MLX's CPU device, for the whole-array checks before ``mx.quantize``: MLX's CPU
    reductions are single-threaded (``mx.all(mx.isfinite(w))`` took ~10x NumPy's time on a 4096² matrix, more than
    ``mx.quantize`` itself), while NumPy reads the evaluated buffer without a copy. float32 / float16 as they are;
    bfloat16 through its uint16 bits, widened exactly to float32. ``None`` elsewhere (NumPy input is handled by the
    caller; a GPU array would need a transfer)."""
    if b.name != "mlx" or b.mx.default_device() != b.mx.cpu:
        return None
    if b.dtype_name(w) == "bfloat16":
        u = np.asarray(w.view(b.mx.uint16))
        return (u.astype(np.uint32) << np.uint32(16)).view(np.float32)  # bf16 bits are float32's high half
    return np.asarray(w)


def _all_finite(b: Backend, w: Any) -> bool:
    h = w if b.name == "numpy" else _host_view(b, w)
    if h is not None:
        return bool(np.isfinite(h).all())
    return bool(b.all(b.isfinite(w)).item())


def _native_ok(b: Backend, w: Any, g: int, mode: str, rounding: str, impl: str, gs: float | None = None) -> bool:
    """Whether ``mx.quantize`` gives exactly the generic result here: MLX input on MLX's CPU device (GPU kernels
    round ties away from zero), round half to even, and not the nvfp4 shapes MLX's CPU path cannot reshape."""
    reasons = []
    if b.name != "mlx":
        reasons.append("the input is not an MLX array")
    else:
        mx = b.mx
        if mx.default_device() != mx.cpu:
            reasons.append("MLX's default device is not the CPU (its GPU kernels round ties away from zero)")
        if mode == "nvfp4" and w.size % 32:
            reasons.append("MLX's CPU nvfp4 fails when the element count is not a multiple of 32")
        on_cpu = mx.default_device() == mx.cpu
        if on_cpu and mode in ("mxfp4", "mxfp8") and b.dtype_name(w) != "float16" and w.size:
            # a group scale amax/maxval below 2^-127 makes MLX's E8M0 code e + 127 wrap around (garbage codes); a
            # non-zero |w| below maxval·2^-127 (float32 / bfloat16 only) may start such a group: take the generic
            # path, which clamps the code (conservative: a tiny value in a normal group costs only speed)
            a = np.abs(_host_view(b, w))  # the CPU device: checked above
            thr = np.float32((6.0 if mode == "mxfp4" else 448.0) * 2.0**-127)  # E2M1 / E4M3 max · 2^-127
            if bool(np.any((a > 0) & (a < thr))):
                reasons.append("a group scale below 2^-127 would wrap MLX's E8M0 code")
        if on_cpu and mode == "nvfp4" and w.size:
            # with the E4M3 scale saturated at 448, |v| = |w|/448·enc can reach 2^24, where MLX's float32 LUT argmin
            # sees equal distances to every entry and picks code 0; the generic path saturates at ±6
            enc = 1.0 if gs is None else float(np.float32(_NVFP4_ENC) / np.float32(gs))
            h = _host_view(b, w)  # the CPU device: checked above
            amax = float(max(np.abs(h.max()), np.abs(h.min())))
            if amax / 448.0 * enc >= 2.0**24:  # E4M3 max 448; 2^24: float32 integers stop being exact
                reasons.append("|w| / 448 reaches 2^24, where MLX's nvfp4 code argmin breaks down")
    if rounding != "half_even":
        reasons.append("rounding is not half_even")
    if reasons and impl == "native":
        raise InvalidArgumentError("impl='native' is not available here: " + "; ".join(reasons))
    return not reasons


def _params(mode: str, group_size: int | None, bits: int | None) -> tuple[int, int]:
    check_choice("mode", mode, MLX_MODES)
    dg, db, groups, bitss = MLX_MODES[mode]
    g = dg if group_size is None else group_size
    nb = db if bits is None else bits
    if g not in groups:
        raise InvalidArgumentError(
            f"invalid group_size {g!r} for mode {mode!r}; valid values are: {', '.join(map(str, groups))}"
        )
    if nb not in bitss:
        raise InvalidArgumentError(
            f"invalid bits {nb!r} for mode {mode!r}; valid values are: {', '.join(map(str, bitss))}"
        )
    return g, nb


def _float_dtype(b: Backend, w: Any) -> str:
    name = b.dtype_name(w)
    if name not in ("float32", "float16", "bfloat16", "float64"):
        raise InputTypeError(f"mlx_quantize expects float weights (float32, float16, bfloat16), got dtype {name}")
    return name


def _dtype_arg(dtype: Any) -> str | None:
    """A dtype argument as a name: ``"float16"``, ``mx.float16``, ``np.float16`` and ``np.dtype("float16")`` all
    mean the same (``mx.dequantize`` takes MLX dtypes; NumPy users pass NumPy ones)."""
    if dtype is None or isinstance(dtype, str):
        return dtype
    name = str(dtype)
    if name.startswith("mlx.core."):
        return name.split(".")[-1]
    try:
        return np.dtype(dtype).name
    except TypeError:
        raise InvalidArgumentError(
            f"invalid dtype {dtype!r}; valid values are: float32, float16, bfloat16 (names, MLX or NumPy dtypes)"
        ) from None


# NVFP4's two-level scaling: the per-tensor global scale gs maps the group scales into E4M3's range through
# scale_enc = (E4M3 max 448 · E2M1 max 6) / gs (MLX's F8E4M3_MAX * F4E2M1_MAX)
_NVFP4_ENC = 448.0 * 6.0


def _global_scale(global_scale: Any, mode: str) -> float | None:
    """Validate ``global_scale`` (nvfp4 only; a positive finite scalar) → a float32-rounded Python float."""
    if global_scale is None:
        return None
    if mode != "nvfp4":
        raise InvalidArgumentError(f"global_scale is only supported for mode 'nvfp4' (as MLX), got mode {mode!r}")
    a = to_numpy(global_scale) if is_mlx_array(global_scale) else np.asarray(global_scale)
    if a.size != 1 or a.dtype.kind not in "fiu":
        raise InvalidArgumentError(f"global_scale must be a real scalar, got {global_scale!r}")
    v = float(np.float32(a.reshape(())))
    if not (np.isfinite(v) and v > 0):
        raise InvalidArgumentError(f"global_scale must be positive and finite, got {v!r}")
    return v


def _to_dtype(b: Backend, x: Any, name: str) -> Any:
    """``b.astype``, plus bfloat16 on NumPy through ml_dtypes (the dtype mlx_quantize accepts as NumPy input)."""
    if b.name == "numpy" and name == "bfloat16":
        try:
            import ml_dtypes
        except ImportError:
            raise InvalidArgumentError(
                "NumPy bfloat16 output needs the ml_dtypes package (pip install ml_dtypes)"
            ) from None
        return np.asarray(x).astype(ml_dtypes.bfloat16)
    return b.astype(x, name)


def _cast_like(b: Backend, x: Any, ref: Any) -> Any:
    """Cast ``x`` to ``ref``'s dtype (NumPy: also ml_dtypes bfloat16 arrays)."""
    if b.name == "numpy":
        return x.astype(ref.dtype)
    return b.astype(x, b.dtype_name(ref))


# ---- affine ----------------------------------------------------------------------------------------------------------
def _affine_params(b: Backend, w_max: Any, w_min: Any, bits: int) -> tuple[Any, Any]:
    """Per-group float32 (scale, bias) of 2-8-bit affine from the group max / min (shared by both paths)."""
    f32 = "float32"
    zero = b.const(0.0, f32)
    n_bins = b.const((1 << bits) - 1, f32)
    eps = b.const(1e-7, f32)  # MLX's eps: the smallest scale (a constant group gets scale 1e-7)
    mask = b.abs(w_min) > b.abs(w_max)
    scale = b.maximum((w_max - w_min) / n_bins, eps)
    scale = b.where(mask, scale, -scale)  # negative when |max| >= |min|: the edge of larger magnitude maps exactly
    edge = b.where(mask, w_min, w_max)
    q0 = b.round(edge / scale)  # rint: round half to even (MLX CPU)
    nz = q0 != zero
    scale = b.where(nz, edge / b.where(nz, q0, b.const(1.0, f32)), scale)
    bias = b.where(nz, edge, zero)
    return scale, bias


# Elements per row chunk of the NumPy fast path: its few float32 buffers (256 KB each) stay in the L2 cache.
_FAST_CHUNK = 1 << 16


def _affine_quantize_np(w: np.ndarray, g: int, bits: int, rounding: str) -> tuple[Any, Any, Any]:
    """NumPy fast path of :func:`_affine_quantize` (2-8 bits): the same float32 operations in the same order, over
    cache-sized row chunks with in-place ``out=`` buffers, packed chunk by chunk. Proven equal to the generic path by
    a property test (tests/formats/test_review_regressions.py). Non-finite input is found from the group max / min
    (NaN propagates through max, ±inf is a max or a min) instead of a separate pass."""
    b = get_backend(w)
    lead, width = tuple(w.shape[:-1]), w.shape[-1]
    ng = width // g
    x2 = w.reshape(-1, width)
    rows = x2.shape[0]
    n_bins = np.float32((1 << bits) - 1)
    zero = np.float32(0.0)
    wq = np.empty((rows, math.ceil(width * bits / 32)), np.uint32)
    scales = np.empty((rows, ng, 1), np.float32)
    biases = np.empty((rows, ng, 1), np.float32)
    step = max(1, _FAST_CHUNK // width)
    buf = np.empty((min(step, rows), ng, g), np.float32)
    tbuf = np.empty((g, min(step, rows) * ng), np.float32)
    for r0 in range(0, rows, step):
        xc = x2[r0 : r0 + step]
        k = xc.shape[0]
        x = xc.astype(np.float32, copy=False).reshape(k, ng, g)  # exact widening (a view for float32)
        # group max / min: reducing a short last axis is slow in NumPy, so reduce the transposed copy along its
        # first axis (vectorized across groups). Max / min are exact; only the sign of a zero extreme may differ
        # from x.max(-1), and that never reaches the outputs (|·|, differences, q0 = 0 → bias = +0)
        tg = tbuf[:, : k * ng]
        np.copyto(tg, x.reshape(k * ng, g).T)
        w_max = tg.max(axis=0).reshape(k, ng, 1)
        w_min = tg.min(axis=0).reshape(k, ng, 1)
        if not (np.isfinite(w_max).all() and np.isfinite(w_min).all()):
            raise NonFiniteError("mlx_quantize: the weights hold NaN or inf (MLX's result would be undefined)")
        scale, bias = _affine_params(b, w_max, w_min, bits)
        t = buf[:k]
        np.subtract(x, bias, out=t)
        np.divide(t, scale, out=t)  # a division, never a reciprocal multiply (as the generic path and MLX)
        if rounding == "half_even":
            np.rint(t, out=t)
        else:
            t[...] = b.round_half_away(t)
        np.fmax(t, zero, out=t)  # clip to [0, n]; fmax also maps a NaN to 0, as float_to_int does
        np.fmin(t, n_bins, out=t)
        wq[r0 : r0 + k] = _pack_codes(b, t.reshape(k, width).astype(np.uint8), bits, "mlx")
        scales[r0 : r0 + k] = scale
        biases[r0 : r0 + k] = bias
    sshape = (*lead, ng)
    return (wq.reshape(*lead, wq.shape[-1]), _cast_like(b, scales.reshape(sshape), w),
            _cast_like(b, biases.reshape(sshape), w))


def _affine_quantize(b: Backend, w: Any, g: int, bits: int, rounding: str) -> tuple[Any, Any, Any]:
    lead = tuple(w.shape[:-1])
    x = b.reshape(b.astype(w, "float32"), (*lead, w.shape[-1] // g, g))  # MLX computes in float32 for every dtype
    f32 = "float32"
    zero = b.const(0.0, f32)
    n_bins = b.const((1 << bits) - 1, f32)
    eps = b.const(1e-7, f32)  # MLX's eps: the smallest scale (a constant group gets scale 1e-7)
    w_max = b.max(x, axis=-1, keepdims=True)
    w_min = b.min(x, axis=-1, keepdims=True)
    if bits == 1:
        # MLX 0.32's 1-bit affine has no edge correction: s = max(max - min, eps), bias = min (verified against
        # mx.quantize on CPU); q = 1 where (w - min) / s rounds up
        scale = b.maximum(w_max - w_min, eps)
        # MLX takes the minimum with a running min, so among equal values the first wins: a zero minimum keeps
        # the sign of the group's first ±0.0 (a tree reduction such as np.min may return either zero)
        first_zero = b.expand_dims(b.argmax(b.astype(x == zero, "int32"), axis=-1), -1)
        bias = b.where(w_min == zero, b.take_along_axis(x, first_zero, axis=-1), w_min)
        t = (x - bias) / scale
        q = b.clip(b.round(t) if rounding == "half_even" else b.round_half_away(t), zero, n_bins)
        codes = b.reshape(b.float_to_int(q, 0, 1, "uint8"), (*lead, w.shape[-1]))
        sshape = (*lead, w.shape[-1] // g)
        return (_pack_codes(b, codes, 1, "mlx"), _cast_like(b, b.reshape(scale, sshape), w),
                _cast_like(b, b.reshape(bias, sshape), w))
    scale, bias = _affine_params(b, w_max, w_min, bits)
    t = (x - bias) / scale
    q = b.round(t) if rounding == "half_even" else b.round_half_away(t)
    q = b.clip(q, zero, n_bins)
    codes = b.reshape(b.float_to_int(q, 0, (1 << bits) - 1, "uint8"), (*lead, w.shape[-1]))
    wq = _pack_codes(b, codes, bits, "mlx")
    sshape = (*lead, w.shape[-1] // g)
    return wq, _cast_like(b, b.reshape(scale, sshape), w), _cast_like(b, b.reshape(bias, sshape), w)


def _affine_dequantize(b: Backend, wq: Any, scales: Any, biases: Any, g: int, bits: int, out: str | None) -> Any:
    width = scales.shape[-1] * g
    codes = unpack(wq, bits, count=width, layout="mlx")
    lead = tuple(codes.shape[:-1])
    sdt = b.dtype_name(scales)
    q = b.reshape(_cast_like(b, codes, scales), (*lead, scales.shape[-1], g))
    # w = q·scale + bias, each operation rounded in the scales' dtype (MLX: scale * q + bias, not fused)
    s = b.expand_dims(scales, -1)
    bb = b.expand_dims(_cast_like(b, biases, scales), -1)
    w = b.reshape(q * s + bb, (*lead, width))
    if out is not None and out != sdt:
        w = _to_dtype(b, w, out)
    return w


# ---- microscaling ----------------------------------------------------------------------------------------------------
def _exponent_bits(b: Backend, x: Any) -> tuple[Any, Any]:
    """(biased exponent, mantissa != 0) of float32 ``x`` ≥ 0, from its bit pattern."""
    u = b.view(b.astype(x, "float32"), "uint32")
    e = b.astype(b.right_shift(u, b.const(23, "uint32")), "int32")
    m = b.bitwise_and(u, b.const(0x7FFFFF, "uint32"))
    return e, m != b.const(0, "uint32")


def _e4m3_encode(b: Backend, x: Any) -> Any:
    """float32 → E4M3 (FN) codes, round half to even, saturating to ±448 (MLX's to_fp8). ``x`` must be finite."""
    f32 = "float32"
    x = b.astype(x, f32)
    neg = b.view(x, "uint32") >= b.const(0x80000000, "uint32")  # sign bit (keeps -0.0)
    a = b.minimum(b.abs(x), b.const(448.0, f32))  # saturation: 448 is E4M3FN's largest finite value
    # normal range (a >= 2^-6): keep 3 mantissa bits of the float32 pattern with round-half-even, rebias 127 -> 7
    u = b.view(a, "uint32")
    lsb = b.bitwise_and(b.right_shift(u, b.const(20, "uint32")), b.const(1, "uint32"))
    r = b.right_shift(u + b.const(0x7FFFF, "uint32") + lsb, b.const(20, "uint32"))
    normal = b.astype(r, "int32") - b.const((127 - 7) << 3, "int32")
    # subnormal range: multiples of 2^-9, round half to even (a·512 is exact)
    sub = b.astype(b.round(a * b.const(512.0, f32)), "int32")
    code = b.where(a < b.const(2.0**-6, f32), sub, normal)
    code = b.where(neg, code + b.const(128, "int32"), code)
    return b.astype(code, "uint8")


def _e4m3_decode(b: Backend, c: Any) -> Any:
    """E4M3 (FN) codes → float32 (exact); 0x7F / 0xFF → NaN."""
    f32 = "float32"
    ci = b.astype(c, "int32")
    s = b.right_shift(ci, b.const(7, "int32"))
    e = b.bitwise_and(b.right_shift(ci, b.const(3, "int32")), b.const(15, "int32"))
    m = b.astype(b.bitwise_and(ci, b.const(7, "int32")), f32)
    mag_norm = (b.const(1.0, f32) + m / b.const(8.0, f32)) * _pow2(b, e - b.const(7, "int32"))
    mag_sub = m * b.const(2.0**-9, f32)
    mag = b.where(e == b.const(0, "int32"), mag_sub, mag_norm)
    nan = b.bitwise_and(ci, b.const(0x7F, "int32")) == b.const(0x7F, "int32")
    mag = b.where(nan, b.const(float("nan"), f32), mag)
    return b.where(s == b.const(1, "int32"), -mag, mag)


def _pow2(b: Backend, e: Any) -> Any:
    """2^e as float32 for integer e in [-126, 127], built from the bit pattern (exact)."""
    bits = b.astype(e + b.const(127, "int32"), "uint32")
    return b.view(b.left_shift(bits, b.const(23, "uint32")), "float32")


def _e8m0_decode(b: Backend, c: Any) -> Any:
    """E8M0 codes → float32 scales as MLX: 2^(c-127); code 0 is 2^-127 (a subnormal), 255 is inf."""
    f32 = "float32"
    ci = b.astype(c, "int32")
    # 2^(c-127) for c >= 1 from the float32 bit pattern; c = 0 needs the subnormal 2^-127 = 0x00400000
    u = b.where(ci == b.const(0, "int32"), b.const(0x00400000, "int32"), b.left_shift(ci, b.const(23, "int32")))
    return b.view(b.astype(u, "uint32"), f32)


def _fp4_codes(b: Backend, v: Any) -> Any:
    """E2M1 codes of scaled values ``v`` (|v| <= 6) as MLX chooses them (nearest LUT entry, first on ties)."""
    dt = b.dtype_name(v)
    a = b.abs(v)
    k = b.zeros(v.shape, "int32")
    for bound in _FP4_BOUNDS:
        k = k + b.astype(a > b.const(bound, dt), "int32")
    neg = v < b.const(0.0, dt)  # -0.0 and tiny negatives tie with +0.0 (code 0), which comes first
    k = b.where(b.logical_and(neg, k > b.const(0, "int32")), k + b.const(8, "int32"), k)
    return b.astype(k, "uint8")


def _fp_quantize(b: Backend, w: Any, g: int, bits: int, mode: str, gs: float | None = None) -> tuple[Any, Any]:
    dt = b.dtype_name(w)
    lead = tuple(w.shape[:-1])
    x = b.reshape(w, (*lead, w.shape[-1] // g, g))
    maxval = b.const(6.0 if bits == 4 else 448.0, "float32")  # largest E2M1 / E4M3 magnitude
    amax = b.max(b.abs(x), axis=-1, keepdims=True)
    # MLX computes max|w| / maxval in the weight dtype
    scale = _cast_like(b, b.astype(amax, "float32") / maxval, w) if dt != "float32" else amax / maxval
    scale = b.astype(scale, "float32")
    enc = None
    if gs is not None:  # nvfp4 with a global scale (MLX: the float32 product, then E4M3)
        enc = b.const(_NVFP4_ENC, "float32") / b.const(gs, "float32")
        scale = scale * enc
    if mode == "nvfp4":
        scode = _e4m3_encode(b, scale)
        sval = _e4m3_decode(b, scode)
        ok = sval > b.const(0.0, "float32")
        div = b.where(ok, sval, b.const(1.0, "float32"))
    else:
        # E8M0: e = ceil(log2(scale)) exactly, from the bit pattern (0 for an all-zero group)
        ebits, frac = _exponent_bits(b, scale)
        e = ebits - b.const(127, "int32") + b.astype(frac, "int32")
        e = b.where(scale == b.const(0.0, "float32"), b.const(0, "int32"), e)
        e = b.clip(e, b.const(-127, "int32"), b.const(127, "int32"))
        scode = b.astype(e + b.const(127, "int32"), "uint8")
        div = _e8m0_decode(b, scode)
        ok = None
    # the division happens in the weight dtype (as MLX)
    v = (
        b.astype(x, "float32") / div
        if dt == "float32"
        else b.astype(_cast_like(b, b.astype(x, "float32") / div, w), "float32")
    )
    if enc is not None:
        v = v * enc  # float32, after the division in the weight dtype (verified against mx.quantize on CPU)
    if bits == 4:
        codes = _fp4_codes(b, v)
    else:
        codes = _e4m3_encode(b, v)
    if ok is not None:  # an nvfp4 group whose scale rounds to 0: MLX divides by 0 and every code becomes 0
        codes = b.where(ok, codes, b.zeros((), "uint8"))
    codes = b.reshape(codes, (*lead, w.shape[-1]))
    wq = _pack_codes(b, codes, bits, "mlx")
    return wq, b.reshape(scode, (*lead, w.shape[-1] // g))


def _fp_dequantize(b: Backend, wq: Any, scales: Any, g: int, bits: int, mode: str, out: str | None,
                   gs: float | None = None) -> Any:
    width = scales.shape[-1] * g
    codes = unpack(wq, bits, count=width, layout="mlx")
    lead = tuple(codes.shape[:-1])
    if bits == 4:
        lut = b.asarray(np.asarray(_FP4_VALUES, dtype=np.float32))
        vals = b.take(lut, b.astype(codes, "int32"))
    else:
        vals = _e4m3_decode(b, codes)
    sv = _e4m3_decode(b, scales) if mode == "nvfp4" else _e8m0_decode(b, scales)
    if gs is not None:
        # MLX: value · (scale · (gs / 2688)), all in float32. mx.dequantize then returns float32 whatever dtype= says
        # (an MLX bug, not copied): here the float32 result is cast to dtype= when one is given.
        sv = sv * (b.const(gs, "float32") / b.const(_NVFP4_ENC, "float32"))
        w = b.reshape(b.reshape(vals, (*lead, scales.shape[-1], g)) * b.expand_dims(sv, -1), (*lead, width))
        return w if out is None or out == "float32" else _to_dtype(b, w, out)
    if out is None:
        out = "bfloat16" if b.name == "mlx" else "float32"
    # MLX's CPU kernel casts the scale and the code's value to the output dtype and multiplies there (float16: an
    # E8M0 scale above 65504 becomes inf, so 0·scale is NaN; one below 2^-24 becomes 0). Both factors are exact in
    # float32, so for float32 output this is the plain product.
    if out != "float32":
        vals, sv = _to_dtype(b, vals, out), _to_dtype(b, sv, out)
    return b.reshape(b.reshape(vals, (*lead, scales.shape[-1], g)) * b.expand_dims(sv, -1), (*lead, width))


# ---- public ----------------------------------------------------------------------------------------------------------
def mlx_quantize(
    w: Any,
    group_size: int | None = None,
    bits: int | None = None,
    mode: str = "affine",
    *,
    global_scale: Any = None,
    policy: str = "error",
    rounding: str = "half_even",
    impl: str = "auto",
    backend: str | None = None,
) -> tuple[Any, Any, Any]:
    """Quantize weights like ``mx.quantize`` (same arguments, same bits), on NumPy or MLX arrays.

    Args:
        w: float weights (float32, float16, bfloat16; float64 is computed as float32), at least 2-D; groups run
            along the last axis.
        group_size: values per group; ``None`` → the mode's default (affine 64, mxfp4/mxfp8 32, nvfp4 16).
        bits: code width; ``None`` → the mode's default (affine 4, mxfp4 4, mxfp8 8, nvfp4 4).
        mode: ``"affine"``, ``"mxfp4"``, ``"mxfp8"`` or ``"nvfp4"``.
        global_scale: nvfp4 only: the per-tensor float32 scale of NVFP4's two-level scaling (a positive scalar:
            Python float, NumPy or MLX); the group scales become ``E4M3(amax/6 · 2688/global_scale)``, as
            ``mx.quantize(..., global_scale=)``. Pass the same value to :func:`mlx_dequantize`.
        policy: last axis not divisible by ``group_size``: ``"error"`` (default, as MLX), ``"pad"`` (zero-pad rows
            to a multiple of the group; pass ``width=`` to :func:`mlx_dequantize`), ``"fallback"`` (the largest valid
            group size ≤ ``group_size`` that divides the width; the group size used is ``width // scales.shape[-1]``).
        rounding: affine code rounding: ``"half_even"`` (MLX CPU, default) or ``"half_away"`` (MLX Metal/CUDA).
        impl: ``"auto"`` (MLX input on MLX's CPU device → ``mx.quantize`` itself, proven equal to the generic path by
            tests/parity, except where MLX is wrong; NumPy affine input with 2-8 bits → a cache-blocked NumPy fast
            path, proven equal by a property test; everything else → the generic implementation), ``"generic"``
            (always the generic implementation) or ``"native"`` (``mx.quantize``; an error where it cannot be used).
        backend: force ``"numpy"`` or ``"mlx"``; default: ``w``'s own.

    Returns:
        ``(wq, scales, biases)``: ``wq`` uint32 of shape ``(..., width·bits/32)``; affine: scales and biases
        ``(..., width/group)`` in ``w``'s dtype; microscaling modes: uint8 scale codes and ``biases=None``.

    Raises:
        AlreadyQuantizedError: ``w`` is a :class:`~mlxquant.QuantizedTensor` or a uint32 (packed) array.
        InputTypeError: non-float weights.
        InvalidArgumentError: unknown mode / policy / rounding, group size or bits not valid for the mode.
        ShapeError: fewer than 2 dimensions; a width not divisible by the group size under ``policy="error"``.
        NonFiniteError: NaN or ±inf weights.

    Example:
        >>> import numpy as np
        >>> w = np.linspace(-1, 1, 64, dtype=np.float32).reshape(2, 32)
        >>> wq, scales, biases = mlx_quantize(w, group_size=32, bits=4)
        >>> wq.shape, wq.dtype, scales.ravel().round(4), biases.ravel().round(4)
        ((2, 4), dtype('uint32'), array([ 0.0667, -0.0667], dtype=float32), array([-1.,  1.], dtype=float32))
    """
    b = get_backend(w, backend)
    _check_not_quantized(w, b)
    w = b.asarray(w)
    check_choice("policy", policy, WIDTH_POLICIES)
    check_choice("rounding", rounding, ("half_even", "half_away"))
    g, nb = _params(mode, group_size, bits)
    gs = _global_scale(global_scale, mode)
    dt = _float_dtype(b, w)
    if dt == "float64":
        w = b.astype(w, "float32")
    if w.ndim < 2:
        raise ShapeError(f"mlx_quantize needs at least 2 dimensions (as mx.quantize), got shape {tuple(w.shape)}")
    width = w.shape[-1]
    if width % g:
        if policy == "error":
            raise ShapeError(
                f"the last dimension {width} (shape {tuple(w.shape)}) is not divisible by group_size {g}; "
                "pass policy='pad' or policy='fallback', or keep this tensor in float"
            )
        if policy == "fallback":
            g = resolve_group_size(width, g, mode)
        else:  # pad with zeros (a zero never changes a group's max |w|; affine: it widens [min, max] to include 0)
            w = b.pad(w, [(0, 0)] * (w.ndim - 1) + [(0, (-width) % g)], 0)
    check_choice("impl", impl, ("auto", "generic", "native"))
    if impl == "auto" and b.name == "numpy" and mode == "affine" and nb > 1 and w.size:
        return _affine_quantize_np(w, g, nb, rounding)  # checks finiteness itself
    if w.size and not _all_finite(b, w):
        raise NonFiniteError("mlx_quantize: the weights hold NaN or inf (MLX's result would be undefined)")
    if impl != "generic" and _native_ok(b, w, g, mode, rounding, impl, gs):
        kw = {} if gs is None else {"global_scale": b.mx.array(gs, dtype=b.mx.float32)}
        r = b.mx.quantize(w, group_size=g, bits=nb, mode=mode, **kw)
        return (r[0], r[1], r[2]) if mode == "affine" else (r[0], r[1], None)
    if mode == "affine":
        return _affine_quantize(b, w, g, nb, rounding)
    wq, sc = _fp_quantize(b, w, g, nb, mode, gs)
    return wq, sc, None


def mlx_dequantize(
    wq: Any,
    scales: Any,
    biases: Any = None,
    group_size: int | None = None,
    bits: int | None = None,
    mode: str = "affine",
    global_scale: Any = None,
    dtype: Any = None,
    *,
    width: int | None = None,
    backend: str | None = None,
) -> Any:
    """Dequantize like ``mx.dequantize``: affine ``w = q·scale + bias``; microscaling ``w = value(q)·scale``.

    Args:
        wq: uint32 packed codes.
        scales: affine: float scales; microscaling: uint8 scale codes (E8M0 or, for nvfp4, E4M3).
        biases: affine biases (required for affine, must be ``None`` otherwise).
        group_size: as in :func:`mlx_quantize` (``None`` → the mode's default).
        bits: as in :func:`mlx_quantize`.
        mode: ``"affine"``, ``"mxfp4"``, ``"mxfp8"`` or ``"nvfp4"``.
        global_scale: nvfp4 only: the global scale given to :func:`mlx_quantize` (scales become
            ``scale · global_scale/2688`` in float32). Positional order as ``mx.dequantize``.
        dtype: output dtype (a name, an MLX dtype such as ``mx.float16`` or a NumPy dtype; NumPy ``"bfloat16"``
            means an ml_dtypes array); default: affine → the scales' dtype; microscaling → bfloat16 on MLX (as
            ``mx.dequantize``), float32 on NumPy (the same values: the products are exact in bfloat16).
            Microscaling values are multiplied in the output dtype, as MLX does (float16: a scale above 65504 is
            inf, one below 2^-24 is 0).
        width: trim the last axis to this width (undoes ``policy="pad"``).
        backend: force ``"numpy"`` or ``"mlx"``.

    Returns:
        The dequantized weights, shape ``(..., scales.shape[-1]·group_size)`` (or ``width``).

    Raises:
        InvalidArgumentError: bad mode / group size / bits; biases missing for affine or given for another mode.
        ShapeError: ``wq``, ``scales`` and ``biases`` do not agree.
        InputTypeError: ``wq`` is not uint32.

    Example:
        >>> import numpy as np
        >>> w = np.linspace(-1, 1, 64, dtype=np.float32).reshape(2, 32)
        >>> wh = mlx_dequantize(*mlx_quantize(w, 32, 4), group_size=32, bits=4)
        >>> float(np.abs(wh - w).max()) < 0.067
        True
    """
    b = get_backend(wq, backend)
    wq, scales = b.asarray(wq), b.asarray(scales)
    g, nb = _params(mode, group_size, bits)
    gs = _global_scale(global_scale, mode)
    dtype = _dtype_arg(dtype)
    if dtype is not None:
        check_choice("dtype", dtype, ("float32", "float16", "bfloat16", "float64"))
    if b.dtype_name(wq) != "uint32":
        raise InputTypeError(f"wq must be uint32 packed codes, got dtype {b.dtype_name(wq)}")
    if mode == "affine":
        if biases is None:
            raise InvalidArgumentError("mode 'affine' needs biases")
        biases = b.asarray(biases)
        if tuple(biases.shape) != tuple(scales.shape):
            raise ShapeError(f"biases have shape {tuple(biases.shape)}, scales {tuple(scales.shape)}; they must match")
    elif biases is not None:
        raise InvalidArgumentError(f"mode {mode!r} has no biases; pass biases=None")
    if wq.ndim < 1 or tuple(wq.shape[:-1]) != tuple(scales.shape[:-1]):
        raise ShapeError(f"wq {tuple(wq.shape)} and scales {tuple(scales.shape)} differ outside the last axis")
    if wq.shape[-1] * 32 != scales.shape[-1] * g * nb:
        raise ShapeError(
            f"wq of shape {tuple(wq.shape)} holds {wq.shape[-1] * 32 // nb} codes per row, but scales "
            f"{tuple(scales.shape)} with group_size {g} describe {scales.shape[-1] * g}"
        )
    if mode == "affine":
        w = _affine_dequantize(b, wq, scales, biases, g, nb, dtype)
    else:
        if b.dtype_name(scales) != "uint8":
            raise InputTypeError(f"mode {mode!r} expects uint8 scale codes, got dtype {b.dtype_name(scales)}")
        w = _fp_dequantize(b, wq, scales, g, nb, mode, dtype, gs)
    if width is not None:
        if not 0 <= width <= w.shape[-1]:
            raise InvalidArgumentError(f"width {width} is outside [0, {w.shape[-1]}]")
        w = w[..., :width]
    return w
