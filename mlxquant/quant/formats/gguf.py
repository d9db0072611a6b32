"""GGUF (llama.cpp / ggml) legacy block quantization: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, byte for byte.

Each row of the last axis is cut into blocks of 32 values; each block becomes a fixed number of bytes:

========  =====  ==========================================================================================
type      bytes  layout (little-endian)
========  =====  ==========================================================================================
Q8_0      34     fp16 d; int8 qs[32]                               x = d·q
Q4_0      18     fp16 d; u8 qs[16] (q[j] | q[j+16] << 4)           x = d·(q - 8)
Q4_1      20     fp16 d; fp16 m; u8 qs[16]                         x = d·q + m
Q5_0      22     fp16 d; u32 qh (bit j = bit 4 of q[j]); u8 qs[16]   x = d·(q - 16)
Q5_1      24     fp16 d; fp16 m; u32 qh; u8 qs[16]                 x = d·q + m
========  =====  ==========================================================================================

The quantizers follow ggml-quants.c's reference ``quantize_row_*_ref`` (and the ``gguf`` package's NumPy port, which
the tests compare against byte for byte): the reciprocal ``id = 1/d`` is taken from the float32 ``d`` *before* ``d`` is
rounded to fp16; codes are ``trunc(x·id + offset + 0.5)`` (Q4/Q5) or ``roundf(x·id)`` (Q8_0, half away from zero).
One generic implementation against the backend shim serves NumPy and MLX.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..._backend import Backend, get_backend
from ..._checks import check_choice
from ..._errors import AlreadyQuantizedError, InputTypeError, NonFiniteError, ShapeError
from ..packing import _pack_codes, unpack
from . import GGUF_TYPES

__all__ = ["GGUF_TYPES", "gguf_dequantize", "gguf_quantize", "gguf_row_bytes"]

_QK = 32  # values per block for every legacy type (QK8_0 = QK4_0 = QK4_1 = QK5_0 = QK5_1 = 32)
# Blocks per chunk of the NumPy fast path: 8192 blocks = 1 MB of float32, so the temporaries stay in cache while the
# per-chunk Python overhead stays small.
_FAST_BLOCKS = 8192


def _qtype(qtype: Any) -> str:
    """A GGUF type name: ``"Q4_0"``, ``"q4_0"`` or the ``gguf`` package's ``GGMLQuantizationType.Q4_0``."""
    name = getattr(qtype, "name", qtype)  # an enum member → its name
    if isinstance(name, str) and name.upper() in GGUF_TYPES:
        return name.upper()
    check_choice("qtype", qtype, GGUF_TYPES)
    return name  # pragma: no cover - check_choice raised


def gguf_row_bytes(width: int, qtype: str) -> int:
    """Bytes of one quantized row of ``width`` values.

    Example:
        >>> gguf_row_bytes(4096, "Q4_0")
        2304
    """
    qtype = _qtype(qtype)
    blk, size = GGUF_TYPES[qtype]
    if width % blk:
        raise ShapeError(f"row width {width} is not a multiple of the {qtype} block size {blk}")
    return width // blk * size


def _f16_bytes(b: Backend, d: Any, what: str, over: dict[str, int]) -> Any:
    """float32 (n, 1) → (n, 2) uint8: fp16 (round half to even) little-endian bytes.

    A value beyond float16's range becomes ±inf, as in ggml; ``over[what]`` counts them, and :func:`gguf_quantize`
    reports the total with one RuntimeWarning instead of NumPy's anonymous cast warning (REFERENCE §11: fp16
    overflow must be detected and reported).
    """
    with np.errstate(over="ignore"):
        h = b.astype(d, "float16")
    over[what] = over.get(what, 0) + (int(b.sum(b.astype(b.isinf(h), "int32")).item()) if h.size else 0)
    u = b.astype(b.view(h, "uint16"), "int32")
    lo = b.bitwise_and(u, b.const(0xFF, "int32"))
    hi = b.right_shift(u, b.const(8, "int32"))
    return b.astype(b.concatenate([lo, hi], axis=-1), "uint8")


def _f16_from_bytes(b: Backend, two: Any) -> Any:
    """(n, 2) uint8 little-endian fp16 → (n, 1) float32 (exact)."""
    t = b.astype(two, "int32")
    u = b.bitwise_or(t[..., 0:1], b.left_shift(t[..., 1:2], b.const(8, "int32")))
    return b.astype(b.view(b.astype(u, "uint16"), "float16"), "float32")


def _u32_bytes(b: Backend, u: Any) -> Any:
    """(n, 1) uint32 → (n, 4) uint8 little-endian."""
    parts = [b.bitwise_and(b.right_shift(u, b.const(8 * k, "uint32")), b.const(0xFF, "uint32")) for k in range(4)]
    return b.astype(b.concatenate(parts, axis=-1), "uint8")


def _high_bits(b: Backend, q: Any) -> Any:
    """qh: bit j of a little-endian uint32 = bit 4 of q[j] (np.packbits(q >> 4, bitorder="little"))."""
    bit = b.bitwise_and(b.right_shift(b.astype(q, "uint32"), b.const(4, "uint32")), b.const(1, "uint32"))
    shifted = b.left_shift(bit, b.arange(_QK, dtype="uint32"))
    return b.astype(b.sum(shifted, axis=-1, keepdims=True), "uint32")  # disjoint bits: the sum is an OR


def _zero_where_id_overflows(b: Backend, t: Any, idd: Any) -> Any:
    """``t`` set to 0 in the blocks whose ``id = 1/d`` overflowed to inf.

    That happens only when |d| < 2^-128 (a block whose largest magnitude is ~< 2.4e-38); every ``x·id`` of such a
    block is then ±inf, or NaN for x = ±0, and ggml's ``(int8_t)`` cast of those is undefined behaviour; on x86 (and
    in the gguf package's NumPy port there) it yields 0, which is stored. The fp16 ``d`` of such a block is 0 anyway,
    so it dequantizes to zeros whatever the codes. (With a finite ``id``, ``x·id`` is finite: |x·id| ≤ the level
    count; a NaN from Q4_1's inf range times id = 0 becomes 0 in float_to_int, as in ggml on x86.)
    """
    bad = b.isinf(idd)  # one flag per block: no full-size pass unless some block needs it
    if not bool(b.any(bad).item()):
        return t
    return b.where(bad, b.zeros((), b.dtype_name(t)), t)


def _trunc_codes(b: Backend, t: Any, hi: int) -> Any:
    """``trunc(t)`` clipped to [0, hi] as uint8 (t ≥ 0 up to rounding; ggml: MIN(hi, (int8_t)(t)))."""
    return b.float_to_int(b.trunc(t), 0, hi, "uint8")


def _block_stats(b: Backend, x: Any, qtype: str) -> tuple[Any, ...]:
    """The per-block extremes each type starts from, as (n, 1) arrays: Q4_0 / Q5_0 the signed value of largest
    magnitude (the first one on ties, as ggml's ``if (amax < fabsf(v))`` loop and np.argmax), Q4_1 / Q5_1 (max, min),
    Q8_0 max |x|."""
    if qtype in ("Q4_0", "Q5_0"):
        imax = b.expand_dims(b.argmax(b.abs(x), axis=-1), -1)
        return (b.take_along_axis(x, imax, axis=-1),)
    if qtype in ("Q4_1", "Q5_1"):
        return b.max(x, axis=-1, keepdims=True), b.min(x, axis=-1, keepdims=True)
    return (b.max(b.abs(x), axis=-1, keepdims=True),)


def _block_stats_np(x: np.ndarray, qtype: str) -> tuple[np.ndarray, ...]:
    """:func:`_block_stats` for NumPy, from a transposed copy: NumPy reduces a 32-long last axis slowly, the first
    axis of (32, n) vectorized across blocks. Max, min and the first argmax are exact; only the sign of a zero
    extreme can depend on the reduction order, and Q4_1 / Q5_1 store it (m, and d = max - min of an all-zero
    block), so blocks with a zero extreme are reduced again along the last axis, exactly as the generic path (and
    the gguf package) do."""
    t = np.ascontiguousarray(x.T)
    if qtype in ("Q4_0", "Q5_0"):
        # the largest |x| is the max or minus the min (argmax along the first axis is slow); where they tie (+a and
        # -a both present, or an all-zero block) the first occurrence decides: those blocks take the generic argmax
        pos, neg = t.max(axis=0)[:, None], t.min(axis=0)[:, None]
        vmax = np.where(pos > -neg, pos, neg)
        tie = (pos == -neg)[:, 0]
        if tie.any():
            xt = x[tie]
            vmax[tie] = np.take_along_axis(xt, np.abs(xt).argmax(axis=-1)[:, None], axis=-1)
        return (vmax,)
    if qtype in ("Q4_1", "Q5_1"):
        vmax, vmin = t.max(axis=0)[:, None], t.min(axis=0)[:, None]
        z = ((vmax == 0) | (vmin == 0))[:, 0]
        if z.any():
            vmax[z], vmin[z] = x[z].max(axis=-1, keepdims=True), x[z].min(axis=-1, keepdims=True)
        return vmax, vmin
    return (np.abs(t).max(axis=0)[:, None],)


def _quantize_blocks(b: Backend, x: Any, qtype: str, stats: tuple[Any, ...], over: dict[str, int]) -> Any:
    f32 = "float32"
    zero = b.const(0.0, f32)
    one = b.const(1.0, f32)
    if qtype in ("Q4_0", "Q5_0"):
        (vmax,) = stats
        nlev = 8 if qtype == "Q4_0" else 16
        d = vmax / b.const(-nlev, f32)
        idd = b.where(d == zero, zero, one / b.where(d == zero, one, d))
        t = _zero_where_id_overflows(b, x * idd + b.const(nlev + 0.5, f32), idd)
        q = _trunc_codes(b, t, 2 * nlev - 1)  # 8.5 / 16.5: offset + 0.5
        head = [_f16_bytes(b, d, "d", over)]
    elif qtype in ("Q4_1", "Q5_1"):
        vmax, vmin = stats
        n = 15 if qtype == "Q4_1" else 31
        d = (vmax - vmin) / b.const(n, f32)
        idd = b.where(d == zero, zero, one / b.where(d == zero, one, d))
        t = _zero_where_id_overflows(b, (x - vmin) * idd + b.const(0.5, f32), idd)
        q = _trunc_codes(b, t, n)  # + 0.5 then trunc: round half up
        head = [_f16_bytes(b, d, "d", over), _f16_bytes(b, vmin, "min", over)]
    else:  # Q8_0
        (amax,) = stats
        d = amax / b.const(127.0, f32)
        idd = b.where(d == zero, zero, one / b.where(d == zero, one, d))
        qf = b.round_half_away(_zero_where_id_overflows(b, x * idd, idd))  # roundf
        q8 = b.float_to_int(qf, -127, 127, "int8")
        qs = b.astype(b.bitwise_and(b.astype(q8, "int32"), b.const(0xFF, "int32")), "uint8")  # two's complement
        return b.concatenate([_f16_bytes(b, d, "d", over), qs], axis=-1)
    if qtype in ("Q5_0", "Q5_1"):
        head.append(_u32_bytes(b, _high_bits(b, q)))
        q = b.bitwise_and(q, b.const(0x0F, "uint8"))
    return b.concatenate([*head, _pack_codes(b, q, 4, "gguf_q4")], axis=-1)


def gguf_quantize(x: Any, qtype: str = "Q4_0", *, backend: str | None = None) -> Any:
    """Quantize float values to GGUF blocks (the bytes llama.cpp stores), bit-exact with the ``gguf`` package.

    Args:
        x: float array (any float dtype; computed in float32); the last axis must be a multiple of 32.
        qtype: ``"Q8_0"``, ``"Q4_0"``, ``"Q4_1"``, ``"Q5_0"`` or ``"Q5_1"`` (case-insensitive), or the ``gguf``
            package's ``GGMLQuantizationType`` member.
        backend: force ``"numpy"`` or ``"mlx"``.

    Returns:
        uint8 array of shape ``(*x.shape[:-1], x.shape[-1] // 32 * bytes_per_block)``.

    Raises:
        AlreadyQuantizedError: ``x`` is a QuantizedTensor or a uint8 / uint32 (packed) array.
        InputTypeError: non-float input.
        InvalidArgumentError: unknown ``qtype``.
        ShapeError: a 0-d array, or a last axis not a multiple of 32.
        NonFiniteError: NaN or ±inf values.

    Example:
        >>> import numpy as np
        >>> blk = gguf_quantize(np.arange(32, dtype=np.float32) - 16, "Q4_0")
        >>> blk.shape, blk[:4].tolist()
        ((18,), [0, 64, 128, 145])
    """
    from ..tensor import QuantizedTensor

    qtype = _qtype(qtype)
    if isinstance(x, QuantizedTensor):
        raise AlreadyQuantizedError(f"this tensor is already quantized ({x.describe()})")
    b = get_backend(x, backend)
    x = b.asarray(x)
    dt = b.dtype_name(x)
    if dt in ("uint8", "uint32"):
        raise AlreadyQuantizedError(f"a {dt} array looks like packed quantized data; pass float values")
    if not b.is_floating(x):
        raise InputTypeError(f"gguf_quantize expects float values, got dtype {dt}")
    if x.ndim == 0 or x.shape[-1] % _QK:
        raise ShapeError(f"gguf_quantize needs a last axis that is a multiple of {_QK}, got shape {tuple(x.shape)}")
    if x.size and not bool(b.all(b.isfinite(x)).item()):
        raise NonFiniteError("gguf_quantize: the values hold NaN or inf (ggml's result would be undefined)")
    lead = tuple(x.shape[:-1])
    size = GGUF_TYPES[qtype][1]
    over: dict[str, int] = {}
    if b.name == "numpy" and x.size:
        # NumPy fast path: cache-sized chunks of blocks through the same block code, extremes from a transposed copy
        # (proven equal to the generic path by a property test in tests/formats/test_review_regressions.py)
        blocks = x.reshape(-1, _QK)
        out = np.empty((blocks.shape[0], size), np.uint8)
        for s in range(0, blocks.shape[0], _FAST_BLOCKS):
            xc = blocks[s : s + _FAST_BLOCKS].astype(np.float32)
            out[s : s + xc.shape[0]] = _quantize_blocks(b, xc, qtype, _block_stats_np(xc, qtype), over)
    else:
        blocks = b.reshape(b.astype(x, "float32"), (-1, _QK))
        out = _quantize_blocks(b, blocks, qtype, _block_stats(b, blocks, qtype), over)
    for what, n_over in over.items():
        if n_over:
            warnings.warn(
                f"gguf_quantize: {n_over} block {what} values exceed float16's range (65504) and are stored as inf, "
                "as ggml does; the dequantized blocks will be inf/NaN. Scale the tensor down or use a wider format.",
                RuntimeWarning,
                stacklevel=2,
            )
    return b.reshape(out, (*lead, x.shape[-1] // _QK * size))


def gguf_dequantize(blocks: Any, qtype: str, shape: Any = None, *, backend: str | None = None) -> Any:
    """GGUF blocks → float32 values (as the ``gguf`` package's ``dequantize``).

    Args:
        blocks: uint8 block bytes (last axis a multiple of the block size in bytes).
        qtype: ``"Q8_0"``, ``"Q4_0"``, ``"Q4_1"``, ``"Q5_0"`` or ``"Q5_1"`` (case-insensitive), or the ``gguf``
            package's ``GGMLQuantizationType`` member.
        shape: the float shape to return (default: leading axes kept, last axis ``bytes // size * 32``).
        backend: force ``"numpy"`` or ``"mlx"``.

    Returns:
        float32 array.

    Raises:
        InputTypeError: ``blocks`` is not uint8.
        ShapeError: the byte count does not match ``qtype`` or ``shape``.

    Example:
        >>> import numpy as np
        >>> x = np.arange(32, dtype=np.float32) - 16
        >>> gguf_dequantize(gguf_quantize(x, "Q8_0"), "Q8_0")[:4].tolist()
        [-15.9990234375, -14.9912109375, -13.9833984375, -12.9755859375]
    """
    qtype = _qtype(qtype)
    b = get_backend(blocks, backend)
    blocks = b.asarray(blocks)
    if b.dtype_name(blocks) != "uint8":
        raise InputTypeError(f"gguf blocks must be uint8 bytes, got dtype {b.dtype_name(blocks)}")
    size = GGUF_TYPES[qtype][1]
    if blocks.ndim == 0 or blocks.shape[-1] % size:
        raise ShapeError(f"{qtype} rows must be a multiple of {size} bytes, got shape {tuple(blocks.shape)}")
    default_shape = (*blocks.shape[:-1], blocks.shape[-1] // size * _QK)
    shape = default_shape if shape is None else tuple(int(s) for s in shape)
    if int(np.prod(shape)) != int(np.prod(default_shape)):
        raise ShapeError(
            f"{tuple(blocks.shape)} {qtype} bytes hold {int(np.prod(default_shape))} values, not shape {shape}"
        )
    blk = b.reshape(blocks, (-1, size))
    f32 = "float32"
    d = _f16_from_bytes(b, blk[:, 0:2])
    if qtype == "Q8_0":
        q = b.astype(b.view(blk[:, 2:], "int8"), f32)
        return b.reshape(q * d, shape)
    if qtype in ("Q4_1", "Q5_1"):
        m = _f16_from_bytes(b, blk[:, 2:4])
        rest = blk[:, 4:]
    else:
        m = None
        rest = blk[:, 2:]
    if qtype in ("Q5_0", "Q5_1"):
        qh = b.astype(rest[:, 0:4], "uint32")
        qh32 = b.bitwise_or(
            b.bitwise_or(qh[:, 0:1], b.left_shift(qh[:, 1:2], b.const(8, "uint32"))),
            b.bitwise_or(
                b.left_shift(qh[:, 2:3], b.const(16, "uint32")), b.left_shift(qh[:, 3:4], b.const(24, "uint32"))
            ),
        )
        hbit = b.bitwise_and(b.right_shift(qh32, b.arange(_QK, dtype="uint32")), b.const(1, "uint32"))
        low = unpack(rest[:, 4:], 4, count=_QK, layout="gguf_q4")
        q = b.astype(b.bitwise_or(b.astype(low, "uint32"), b.left_shift(hbit, b.const(4, "uint32"))), "int32")
    else:
        q = b.astype(unpack(rest, 4, count=_QK, layout="gguf_q4"), "int32")
    if m is None:
        offset = 8 if qtype == "Q4_0" else 16
        return b.reshape(d * b.astype(q - b.const(offset, "int32"), f32), shape)
    return b.reshape(d * b.astype(q, f32) + m, shape)
