"""Sub-byte packing: integer codes of 1, 2, 3, 4, 5, 6 or 8 bits packed into words, in the layouts real runtimes load.

Layouts (:data:`PACK_LAYOUTS`):

* ``"mlx"`` — along the last axis, one LSB-first bitstream per row stored as little-endian ``uint32`` words: element
  ``i`` of a row occupies bits ``[i·b, i·b + b)`` of the stream (for 4 bits: element 0 is the low nibble of word 0).
  For b = 2, 4, 8 no element straddles a word; for 3, 5, 6 elements cross word boundaries, exactly as
  ``mx.quantize`` writes them. A row of ``n`` codes takes ``ceil(n·b / 32)`` words (zero bits pad the last word).
* ``"onnx"`` — the whole tensor flattened in row-major order into ``uint8`` bytes, LSB first: int4/uint4 pairs with
  element 0 in the low nibble, int2/uint2 four to a byte, an incomplete last byte zero-padded (ONNX's INT4/UINT4 and
  INT2/UINT2 ``raw_data``; also the Swift library's int4 layout). Bits 2, 4 and 8 only.
* ``"gguf_q4"`` — GGUF's 4-bit block order along the last axis: blocks of 32 codes become 16 bytes with
  ``byte[j] = q[j] | q[j + 16] << 4`` (the first half of the block in the low nibbles, as in Q4_0 / Q4_1). A row whose
  length is not a multiple of 32 is zero-padded to one. Bits 4 only.

Every layout is one generic implementation written against the backend shim (shifts, ands, ors), so NumPy and MLX
inputs give identical results on their own backend.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from .._backend import get_backend
from .._checks import check_choice
from .._errors import InputTypeError, InvalidArgumentError, QuantizationError

__all__ = ["PACK_LAYOUTS", "PackLayout", "pack", "packed_length", "unpack"]


@dataclass(frozen=True)
class PackLayout:
    """A named packing layout.

    Attributes:
        name: the layout name used by :func:`pack` / :func:`unpack`.
        word_dtype: storage dtype of the packed words.
        word_bits: bits per word.
        bits: the code widths the layout supports.
        axis: ``"last"`` (each row along the last axis packed on its own) or ``"flat"`` (the whole tensor, row-major).
        description: one line.
    """

    name: str
    word_dtype: str
    word_bits: int
    bits: tuple[int, ...]
    axis: str
    description: str


#: The packing layouts, by name.
PACK_LAYOUTS: Mapping[str, PackLayout] = MappingProxyType(
    {
        "mlx": PackLayout(
            "mlx",
            "uint32",
            32,
            (1, 2, 3, 4, 5, 6, 8),
            "last",
            "LSB-first bitstream per row in little-endian uint32 words (mx.quantize)",
        ),
        "onnx": PackLayout(
            "onnx",
            "uint8",
            8,
            (2, 4, 8),
            "flat",
            "row-major, LSB first in bytes, element 0 in the low bits, last byte zero-padded (ONNX int4/int2)",
        ),
        "gguf_q4": PackLayout(
            "gguf_q4",
            "uint8",
            8,
            (4,),
            "last",
            "blocks of 32: byte[j] = q[j] | q[j+16] << 4 (GGUF Q4_0/Q4_1 nibble order)",
        ),
    }
)

_GGUF_BLOCK = 32  # QK4_0 = QK4_1 = 32 codes per GGUF block


def _layout(layout: str, bits: int) -> PackLayout:
    check_choice("layout", layout, PACK_LAYOUTS)
    lay = PACK_LAYOUTS[layout]
    if isinstance(bits, bool) or not isinstance(bits, int) or bits not in lay.bits:
        raise InvalidArgumentError(
            f"invalid bits {bits!r} for layout {layout!r}; valid values are: {', '.join(map(str, lay.bits))}"
        )
    return lay


def packed_length(count: int, bits: int, *, layout: str = "mlx") -> int:
    """Number of words that ``count`` codes take in ``layout`` (per row for "mlx"/"gguf_q4", in total for "onnx").

    Example:
        >>> packed_length(64, 3), packed_length(5, 4, layout="onnx"), packed_length(40, 4, layout="gguf_q4")
        (6, 3, 32)
    """
    lay = _layout(layout, bits)
    if layout == "gguf_q4":
        return math.ceil(count / _GGUF_BLOCK) * (_GGUF_BLOCK // 2)
    return math.ceil(count * bits / lay.word_bits)


def _period(bits: int, word_bits: int) -> tuple[int, int]:
    """(codes, words) of the shortest run after which the bit pattern repeats: codes·bits = words·word_bits."""
    g = math.gcd(bits, word_bits)
    return word_bits // g, bits // g


def _stream_pack(b: Any, u: Any, bits: int, word_bits: int, wdt: str) -> Any:
    """Pack codes ``u`` (unsigned, ``wdt``, last axis a multiple of the period) into an LSB-first word stream."""
    per, nw = _period(bits, word_bits)
    lead = tuple(u.shape[:-1])
    u = b.reshape(u, (*lead, u.shape[-1] // per, per))
    words = []
    for w in range(nw):
        acc = None
        for e in range(per):
            lo = e * bits - w * word_bits  # where code e starts relative to word w
            if lo >= word_bits or lo + bits <= 0:
                continue
            v = u[..., e]
            # a left shift keeps the bits that fit in the word (fixed-width dtype); a right shift takes a code's tail
            term = b.left_shift(v, b.const(lo, wdt)) if lo >= 0 else b.right_shift(v, b.const(-lo, wdt))
            acc = term if acc is None else b.bitwise_or(acc, term)
        words.append(acc)
    out = b.stack(words, axis=-1)
    return b.reshape(out, (*lead, u.shape[-2] * nw))


def _stream_unpack(b: Any, words: Any, bits: int, word_bits: int, wdt: str) -> Any:
    """Inverse of :func:`_stream_pack`: words (last axis a multiple of the period's words) → codes in ``wdt``."""
    per, nw = _period(bits, word_bits)
    lead = tuple(words.shape[:-1])
    words = b.reshape(words, (*lead, words.shape[-1] // nw, nw))
    mask = b.const((1 << bits) - 1, wdt)
    codes = []
    for e in range(per):
        w0, s = divmod(e * bits, word_bits)
        v = b.right_shift(words[..., w0], b.const(s, wdt))
        if s + bits > word_bits:  # the code continues in the next word
            v = b.bitwise_or(v, b.left_shift(words[..., w0 + 1], b.const(word_bits - s, wdt)))
        codes.append(b.bitwise_and(v, mask))
    out = b.stack(codes, axis=-1)
    return b.reshape(out, (*lead, words.shape[-2] * per))


def _pad_last(b: Any, x: Any, multiple: int) -> Any:
    n = x.shape[-1]
    extra = (-n) % multiple
    if extra == 0:
        return x
    widths = [(0, 0)] * (x.ndim - 1) + [(0, extra)]
    return b.pad(x, widths, 0)


def pack(q: Any, bits: int, *, layout: str = "mlx", signed: bool | None = None, backend: str | None = None) -> Any:
    """Pack integer codes into words.

    Args:
        q: integer array (NumPy or MLX). Signed values are stored as ``bits``-bit two's complement.
        bits: code width: 2, 3, 4, 5, 6 or 8 (see :data:`PACK_LAYOUTS` for what each layout supports).
        layout: ``"mlx"`` (default), ``"onnx"`` or ``"gguf_q4"``.
        signed: whether the codes are signed (range ``[-2^(b-1), 2^(b-1) - 1]``) or unsigned (``[0, 2^b - 1]``);
            default: the signedness of ``q``'s dtype.
        backend: force ``"numpy"`` or ``"mlx"``; default: ``q``'s own.

    Returns:
        The packed words: ``uint32`` for "mlx" (last axis ``ceil(n·bits/32)``), ``uint8`` 1-D for "onnx"
        (``ceil(size·bits/8)``), ``uint8`` for "gguf_q4" (last axis ``16·ceil(n/32)``).

    Raises:
        InputTypeError: ``q`` is not an integer array.
        InvalidArgumentError: unknown layout, bits not supported by the layout, a 0-d array for a per-row layout.
        QuantizationError: a value outside the range of the ``bits``-bit (signed or unsigned) type.

    Example:
        >>> import numpy as np
        >>> [hex(w) for w in pack(np.array([[1, 2, 3, 4, 5, 6, 7, 15]], np.uint8), 4)[0]]
        ['0xf7654321']
        >>> pack(np.array([1, -2, 3, -8, 7], np.int8), 4, layout="onnx")
        array([225, 131,   7], dtype=uint8)
    """
    b = get_backend(q, backend)
    _layout(layout, bits)
    q = b.asarray(q)
    if not b.is_integer(q):
        raise InputTypeError(f"pack expects integer codes, got dtype {b.dtype_name(q)}")
    if signed is None:
        signed = b.dtype_name(q).startswith("int")
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if q.size:
        qmin, qmax = int(b.min(q).item()), int(b.max(q).item())
        if qmin < lo or qmax > hi:
            kind = "signed" if signed else "unsigned"
            raise QuantizationError(f"values in [{qmin}, {qmax}] do not fit {bits}-bit {kind} codes [{lo}, {hi}]")
    # two's complement → unsigned bit pattern: the integer cast to uint8 wraps modulo 256 (defined for int → uint;
    # every value was range-checked above), the mask keeps the low `bits` bits. All layouts are packed as a byte
    # stream; "mlx" words are that stream read as little-endian uint32 (identical bits, 4x less memory traffic).
    u = b.bitwise_and(b.astype(q, "uint8"), b.const((1 << bits) - 1, "uint8"))
    if layout != "onnx" and q.ndim == 0:
        raise InvalidArgumentError(f"layout {layout!r} packs along the last axis; got a 0-d array")
    return _pack_codes(b, u, bits, layout)


def _pack_codes(b: Any, u: Any, bits: int, layout: str) -> Any:
    """Pack unsigned uint8 codes already known to be in ``[0, 2^bits)`` (internal: the formats call this directly,
    skipping :func:`pack`'s range check, since their codes are clipped by construction)."""
    if layout == "onnx":
        u = b.reshape(u, (-1,))
        n = u.shape[0]
        per, _ = _period(bits, 8)
        out = _stream_pack(b, _pad_last(b, u, per), bits, 8, "uint8")
        return out[: packed_length(n, bits, layout=layout)]
    n = u.shape[-1]
    if layout == "gguf_q4":
        u = _pad_last(b, u, _GGUF_BLOCK)
        lead = tuple(u.shape[:-1])
        blk = b.reshape(u, (*lead, u.shape[-1] // _GGUF_BLOCK, 2, _GGUF_BLOCK // 2))
        out = b.bitwise_or(blk[..., 0, :], b.left_shift(blk[..., 1, :], b.const(4, "uint8")))
        return b.reshape(out, (*lead, u.shape[-1] // 2))
    per32, _ = _period(bits, 32)  # pad to whole uint32 periods: the byte stream then fills whole words
    stream = _stream_pack(b, _pad_last(b, u, per32), bits, 8, "uint8")
    out = _le_words(b, stream)
    return out[..., : packed_length(n, bits, layout=layout)]


def _le_words(b: Any, stream: Any) -> Any:
    """uint8 byte stream (last axis a multiple of 4) → little-endian uint32 words.

    On a little-endian host (x86, Apple silicon) this is a reinterpretation of the bytes (``view``); elsewhere the
    words are built with shifts. Both give the same values.
    """
    if sys.byteorder == "little":
        return b.view(stream, "uint32")
    lead = tuple(stream.shape[:-1])
    q = b.astype(b.reshape(stream, (*lead, stream.shape[-1] // 4, 4)), "uint32")
    w = b.bitwise_or(b.bitwise_or(q[..., 0], b.left_shift(q[..., 1], b.const(8, "uint32"))),
                     b.bitwise_or(b.left_shift(q[..., 2], b.const(16, "uint32")),
                                  b.left_shift(q[..., 3], b.const(24, "uint32"))))
    return w


def _le_bytes(b: Any, words: Any) -> Any:
    """uint32 words → their little-endian uint8 byte stream."""
    if sys.byteorder == "little":
        return b.view(words, "uint8")
    lead = tuple(words.shape[:-1])
    parts = [b.astype(b.bitwise_and(b.right_shift(words, b.const(8 * k, "uint32")), b.const(0xFF, "uint32")), "uint8")
             for k in range(4)]
    return b.reshape(b.stack(parts, axis=-1), (*lead, words.shape[-1] * 4))


def unpack(
    packed: Any,
    bits: int,
    *,
    count: int | None = None,
    signed: bool = False,
    layout: str = "mlx",
    backend: str | None = None,
) -> Any:
    """Unpack words into integer codes (the inverse of :func:`pack`).

    Args:
        packed: ``uint32`` words ("mlx") or ``uint8`` bytes ("onnx", "gguf_q4"); NumPy or MLX.
        bits: code width.
        count: codes per row ("mlx", "gguf_q4") or in total ("onnx"); default: everything the words hold
            (``words·word_bits // bits``, ``2·bytes`` for "gguf_q4").
        signed: interpret codes as ``bits``-bit two's complement (returned as int8) instead of unsigned (uint8).
        layout: ``"mlx"`` (default), ``"onnx"`` or ``"gguf_q4"``.
        backend: force ``"numpy"`` or ``"mlx"``.

    Returns:
        ``uint8`` (or ``int8`` if ``signed``) codes; last axis ``count`` ("onnx": 1-D of ``count``).

    Raises:
        InputTypeError: ``packed`` does not have the layout's word dtype.
        InvalidArgumentError: unknown layout or bits; ``count`` larger than the words hold, or not matching them.

    Example:
        >>> import numpy as np
        >>> unpack(np.array([225, 131, 7], np.uint8), 4, count=5, signed=True, layout="onnx")
        array([ 1, -2,  3, -8,  7], dtype=int8)
    """
    b = get_backend(packed, backend)
    lay = _layout(layout, bits)
    packed = b.asarray(packed)
    wdt = lay.word_dtype
    if b.dtype_name(packed) != wdt:
        raise InputTypeError(f"layout {layout!r} expects {wdt} words, got dtype {b.dtype_name(packed)}")
    if layout == "onnx":
        packed = b.reshape(packed, (-1,))
    elif packed.ndim == 0:
        raise InvalidArgumentError(f"layout {layout!r} unpacks along the last axis; got a 0-d array")
    nwords = packed.shape[-1]
    cap = nwords * 2 if layout == "gguf_q4" else nwords * lay.word_bits // bits
    if count is None:
        count = cap
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise InvalidArgumentError(f"count must be a non-negative int, got {count!r}")
    if packed_length(count, bits, layout=layout) != nwords:
        raise InvalidArgumentError(
            f"{count} codes of {bits} bits take {packed_length(count, bits, layout=layout)} words in layout "
            f"{layout!r}, but {nwords} were given"
        )
    if layout == "gguf_q4":
        lead = tuple(packed.shape[:-1])
        blk = b.reshape(packed, (*lead, nwords // (_GGUF_BLOCK // 2), 1, _GGUF_BLOCK // 2))
        lo = b.bitwise_and(blk, b.const(0x0F, wdt))
        hi = b.right_shift(blk, b.const(4, wdt))
        codes = b.reshape(b.concatenate([lo, hi], axis=-2), (*lead, nwords * 2))
    else:
        if layout == "mlx":
            _, nw32 = _period(bits, 32)
            stream = _le_bytes(b, _pad_last(b, packed, nw32))
        else:
            stream = packed
        _, nb = _period(bits, 8)
        codes = _stream_unpack(b, _pad_last(b, stream, nb), bits, 8, "uint8")
    codes = codes[..., :count]
    if not signed:
        return b.astype(codes, "uint8")
    c = b.astype(codes, "int32")
    half = b.const(1 << (bits - 1), "int32")
    c = b.where(c >= half, c - b.const(1 << bits, "int32"), c)
    return b.astype(c, "int8")
