"""pack / unpack: round trips for every layout, bits, signedness and length; the loop oracle; errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlxquant import InputTypeError, InvalidArgumentError, QuantizationError
from mlxquant.quant.packing import PACK_LAYOUTS, pack, packed_length, unpack
from tests.helpers import as_backend, assert_equal
from tests.reference.formats_oracle import pack_bits_lsb, pack_gguf_q4, unpack_bits_lsb

CASES = [(lay, bits) for lay, spec in PACK_LAYOUTS.items() for bits in spec.bits]


def _codes(rng, shape, bits, signed):
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    return rng.integers(lo, hi + 1, size=shape).astype(np.int8 if signed else np.uint8)


def _oracle(codes: np.ndarray, bits: int, layout: str) -> np.ndarray:
    lay = PACK_LAYOUTS[layout]
    if layout == "onnx":
        return np.array(pack_bits_lsb([int(c) for c in codes.ravel()], bits, 8), dtype=np.uint8)
    rows = codes.reshape(int(np.prod(codes.shape[:-1])), codes.shape[-1])
    if layout == "gguf_q4":
        out = [pack_gguf_q4([int(c) & 15 for c in r]) for r in rows]
    else:
        out = [pack_bits_lsb([int(c) for c in r], bits, lay.word_bits) for r in rows]
    n = packed_length(codes.shape[-1], bits, layout=layout)
    return np.array(out, dtype=lay.word_dtype).reshape(*codes.shape[:-1], n)


@pytest.mark.parametrize(("layout", "bits"), CASES)
@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 15, 16, 17, 31, 32, 33, 64, 100])
def test_roundtrip_and_oracle(layout, bits, signed, n, backend):
    rng = np.random.default_rng(n * 31 + bits)
    codes = _codes(rng, (3, n), bits, signed)
    packed = pack(as_backend(codes, backend), bits, layout=layout)
    assert_equal(packed, _oracle(codes, bits, layout), backend=backend)
    count = codes.size if layout == "onnx" else n
    back = unpack(packed, bits, count=count, signed=signed, layout=layout)
    want = codes.reshape(-1) if layout == "onnx" else codes
    assert_equal(back, want, backend=backend)


@given(data=st.data())
def test_roundtrip_property(data):
    layout, bits = data.draw(st.sampled_from(CASES))
    signed = data.draw(st.booleans())
    shape = data.draw(st.tuples(st.integers(1, 3), st.integers(0, 70)))
    seed = data.draw(st.integers(0, 2**32 - 1))
    codes = _codes(np.random.default_rng(seed), shape, bits, signed)
    packed = pack(codes, bits, layout=layout)
    count = codes.size if layout == "onnx" else shape[-1]
    np.testing.assert_array_equal(unpack(packed, bits, count=count, signed=signed, layout=layout),
                                  codes.reshape(-1) if layout == "onnx" else codes)
    np.testing.assert_array_equal(packed, _oracle(codes, bits, layout))


def test_oracle_unpack_agrees():
    rng = np.random.default_rng(5)
    for bits in (3, 5, 6):
        codes = _codes(rng, (1, 64), bits, False)
        words = pack_bits_lsb(codes[0].tolist(), bits, 32)
        assert unpack_bits_lsb(words, bits, 32, 64) == codes[0].tolist()


def test_known_values():
    # REFERENCE §2: [1,-2,3,-8,7] → E1 83 07
    assert pack(np.array([1, -2, 3, -8, 7], np.int8), 4, layout="onnx").tolist() == [0xE1, 0x83, 0x07]
    # 4-bit MLX: element 0 is the low nibble
    assert pack(np.arange(8, dtype=np.uint8)[None], 4).tolist() == [[0x76543210]]
    # 3-bit: element 10 straddles words 0 and 1 (bits 30..32)
    q = np.zeros((1, 32), np.uint8)
    q[0, 10] = 7
    assert pack(q, 3).tolist() == [[0xC0000000, 0x1, 0x0]]
    # gguf: q[0] low nibble of byte 0, q[16] its high nibble
    q = np.zeros((1, 32), np.uint8)
    q[0, 0], q[0, 16] = 3, 9
    assert pack(q, 4, layout="gguf_q4")[0, 0] == 0x93
    # saturation bounds survive
    for bits in (2, 3, 4, 5, 6, 8):
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        v = np.array([[lo, hi, lo, hi]], np.int8)
        assert unpack(pack(v, bits), bits, count=4, signed=True).tolist() == v.tolist()


def test_does_not_mutate_input():
    q = np.arange(16, dtype=np.uint8).reshape(2, 8) % 4
    q.setflags(write=False)
    pack(q, 2)


def test_errors():
    with pytest.raises(InvalidArgumentError, match="valid values are: mlx, onnx, gguf_q4"):
        pack(np.zeros(4, np.uint8), 4, layout="nibble")
    with pytest.raises(InvalidArgumentError, match="valid values are: 2, 4, 8"):
        pack(np.zeros(4, np.uint8), 3, layout="onnx")
    with pytest.raises(InvalidArgumentError, match="valid values are: 1, 2, 3, 4, 5, 6, 8"):
        pack(np.zeros((1, 4), np.uint8), 7)
    with pytest.raises(QuantizationError, match=r"\[0, 16\] do not fit 4-bit unsigned"):
        pack(np.array([[0, 16]], np.uint8), 4)
    with pytest.raises(QuantizationError, match="signed"):
        pack(np.array([[-9, 0]], np.int8), 4)
    with pytest.raises(InputTypeError, match="integer codes"):
        pack(np.zeros((1, 4), np.float32), 4)
    with pytest.raises(InvalidArgumentError, match="0-d"):
        pack(np.uint8(3), 4)
    with pytest.raises(InputTypeError, match="uint32"):
        unpack(np.zeros((1, 2), np.uint8), 4)
    with pytest.raises(InvalidArgumentError, match="take 1 words"):
        unpack(np.zeros((1, 2), np.uint32), 4, count=8)
    with pytest.raises(InvalidArgumentError, match="non-negative"):
        unpack(np.zeros((1, 2), np.uint32), 4, count=-1)


def test_unpack_default_count():
    w = pack(np.arange(16, dtype=np.uint8)[None] % 16, 4)
    assert unpack(w, 4).shape == (1, 16)


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 5, 6, 8])
def test_word_assembly_without_byte_views(bits, backend, monkeypatch):
    """The shift-based word assembly (used on big-endian hosts) equals the little-endian byte view."""
    import mlxquant.quant.packing as packing

    codes = _codes(np.random.default_rng(bits), (2, 67), bits, False)
    fast = pack(as_backend(codes, backend), bits)
    monkeypatch.setattr(packing.sys, "byteorder", "big")
    slow = pack(as_backend(codes, backend), bits)
    assert_equal(slow, fast, backend=backend)
    assert_equal(unpack(slow, bits, count=67), codes, backend=backend)
