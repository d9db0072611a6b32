"""Dumb loop-based oracles for sub-byte packing, MLX affine / FP4 quantization and GGUF blocks.

Written from the format descriptions (REFERENCE §6, ggml-quants.c, MLX's quantize), one element at a time with
Python ints and NumPy float32 scalars. Never imports mlxquant.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "affine_quantize_row",
    "fp4_code",
    "gguf_q4_0_block",
    "gguf_q8_0_block",
    "pack_bits_lsb",
    "pack_gguf_q4",
    "unpack_bits_lsb",
]

F = np.float32


def pack_bits_lsb(codes: list[int], bits: int, word_bits: int) -> list[int]:
    """One LSB-first bitstream: code i occupies stream bits [i·bits, (i+1)·bits); words of word_bits, zero-padded."""
    nwords = -(-len(codes) * bits // word_bits)
    words = [0] * nwords
    for i, c in enumerate(codes):
        c &= (1 << bits) - 1
        for k in range(bits):
            if (c >> k) & 1:
                pos = i * bits + k
                words[pos // word_bits] |= 1 << (pos % word_bits)
    return words


def unpack_bits_lsb(words: list[int], bits: int, word_bits: int, count: int) -> list[int]:
    out = []
    for i in range(count):
        v = 0
        for k in range(bits):
            pos = i * bits + k
            v |= ((words[pos // word_bits] >> (pos % word_bits)) & 1) << k
        out.append(v)
    return out


def pack_gguf_q4(codes: list[int]) -> list[int]:
    """byte[j] of each 32-block = q[j] | q[j+16] << 4; the row zero-padded to a multiple of 32."""
    codes = list(codes) + [0] * (-len(codes) % 32)
    out = []
    for b0 in range(0, len(codes), 32):
        blk = codes[b0 : b0 + 32]
        out += [(blk[j] & 15) | ((blk[j + 16] & 15) << 4) for j in range(16)]
    return out


def affine_quantize_row(w: list[float], group_size: int, bits: int) -> tuple[list[int], list[float], list[float]]:
    """MLX affine quantization of one row (float32 arithmetic, REFERENCE §6): codes, scales, biases (float32)."""
    n_bins = F((1 << bits) - 1)
    codes, scales, biases = [], [], []
    for g0 in range(0, len(w), group_size):
        grp = [F(v) for v in w[g0 : g0 + group_size]]
        w_max, w_min = max(grp), min(grp)
        if bits == 1:  # MLX 0.32's 1-bit rule: scale max - min (at least eps), bias min, no edge correction
            scale, bias = max(F(w_max - w_min), F(1e-7)), w_min
            codes += [int(min(max(F(np.rint(F(F(v - bias) / scale))), F(0)), F(1))) for v in grp]
            scales.append(scale)
            biases.append(bias)
            continue
        mask = abs(w_min) > abs(w_max)
        scale = max(F(F(w_max - w_min) / n_bins), F(1e-7))
        scale = scale if mask else F(-scale)
        edge = w_min if mask else w_max
        q0 = F(np.rint(F(edge / scale)))
        bias = F(0.0)
        if q0 != 0:
            scale = F(edge / q0)
            bias = edge
        for v in grp:
            q = F(np.rint(F(F(v - bias) / scale)))
            codes.append(int(min(max(q, F(0)), n_bins)))
        scales.append(scale)
        biases.append(bias)
    return codes, scales, biases


_FP4 = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0]


def fp4_code(v: float) -> int:
    """MLX's E2M1 choice: the first LUT entry at minimal |v - lut| (argmin)."""
    d = [abs(F(v) - F(x)) for x in _FP4]
    return d.index(min(d))


def _f16_bytes(x: np.float32) -> list[int]:
    u = int(np.float16(x).view(np.uint16))
    return [u & 0xFF, u >> 8]


def gguf_q4_0_block(x: list[float]) -> list[int]:
    """quantize_row_q4_0_ref for one block of 32."""
    amax, vmax = F(0), F(0)
    for v in x:
        if amax < abs(F(v)):
            amax, vmax = abs(F(v)), F(v)
    d = F(vmax / F(-8))
    idd = F(1) / d if d != 0 else F(0)
    q = [min(15, int(np.trunc(F(F(F(v) * idd) + F(8.5))))) for v in x]
    return _f16_bytes(d) + [q[j] | (q[j + 16] << 4) for j in range(16)]


def gguf_q8_0_block(x: list[float]) -> list[int]:
    """quantize_row_q8_0_ref for one block of 32 (roundf: half away from zero)."""
    amax = max(abs(F(v)) for v in x)
    d = F(amax / F(127))
    idd = F(1) / d if d != 0 else F(0)
    out = []
    for v in x:
        t = float(F(F(v) * idd))
        r = math.floor(abs(t) + 0.5)  # exact in double for |t| <= 127.x: round half away from zero
        r = r if t >= 0 else -r
        out.append(r & 0xFF)
    return _f16_bytes(d) + out
