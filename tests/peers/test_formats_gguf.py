"""gguf_quantize / gguf_dequantize against the gguf package's NumPy reference quantizers (gguf/quants.py)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mlxquant.quant.formats.gguf import gguf_dequantize, gguf_quantize
from tests.helpers import as_backend
from tests.reference.formats_oracle import gguf_q4_0_block, gguf_q8_0_block

gguf = pytest.importorskip("gguf")
quants = pytest.importorskip("gguf.quants")
pytestmark = pytest.mark.peers

TYPES = ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"]


def _data(rng, rows=48, width=256):
    x = rng.standard_normal((rows, width)) * rng.choice([1e-5, 1e-2, 1.0, 1e3, 6e4], size=(rows, 1))
    x = x.astype(np.float32)
    x[0, :32] = 0.0  # all-zero block: d = 0, id = 0
    x[1, :32] = 3.0  # constant block
    x[2, :32] = -np.arange(32)  # largest magnitude negative
    x[3, :32] = np.arange(32) - 16.0
    x[4, :32] = np.where(np.arange(32) % 2, 7.0, -7.0)  # +max and -max tie: the first one wins
    x[5, :32] = np.round(x[5, :32] * 8) / 8  # coarse: exact ties in x·id + 8.5
    x[6, :32] = 1e-8  # d underflows in fp16
    return x


@pytest.mark.parametrize("qtype", TYPES)
def test_bit_exact_with_gguf_package(qtype, backend):
    rng = np.random.default_rng(TYPES.index(qtype))
    x = _data(rng)
    t = getattr(gguf.GGMLQuantizationType, qtype)
    with np.errstate(over="ignore"):
        ref = quants.quantize(x, t)
    xin = as_backend(x, backend)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = gguf_quantize(xin, qtype)
    # rows scaled by 6e4 overflow fp16 in d (Q8_0: no, amax/127 fits) or min (Q4_1, Q5_1): reported, not silent
    overflow = [w for w in caught if "exceed float16" in str(w.message)]
    assert bool(overflow) == (qtype in ("Q4_1", "Q5_1")), [str(w.message) for w in caught]
    got_np = np.array(got)
    assert got_np.dtype == np.uint8 and got_np.shape == ref.shape
    bad = np.argwhere(got_np != ref)
    assert bad.size == 0, f"{len(bad)} bytes differ, first at {bad[:3].tolist()}"
    with np.errstate(over="ignore", invalid="ignore"):
        dref = quants.dequantize(ref, t)
    blocks = as_backend(ref, backend)
    dq = np.array(gguf_dequantize(blocks, qtype))
    np.testing.assert_array_equal(dq, dref)
    assert dq.dtype == np.float32


@pytest.mark.parametrize("qtype", TYPES)
def test_float16_and_3d_inputs(qtype):
    x = _data(np.random.default_rng(9), rows=8, width=64).astype(np.float16).reshape(2, 4, 64)
    t = getattr(gguf.GGMLQuantizationType, qtype)
    np.testing.assert_array_equal(gguf_quantize(x, qtype), quants.quantize(x.astype(np.float32), t))


def test_loop_oracle():
    rng = np.random.default_rng(11)
    x = _data(rng, rows=8, width=64)
    for r in range(8):
        for b0 in (0, 32):
            blk = x[r, b0 : b0 + 32].tolist()
            assert gguf_quantize(x[r, b0 : b0 + 32], "Q4_0").tolist() == gguf_q4_0_block(blk)
            assert gguf_quantize(x[r, b0 : b0 + 32], "Q8_0").tolist() == gguf_q8_0_block(blk)
