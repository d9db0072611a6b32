"""pack(layout="onnx") against ONNX's own int4/uint4/int2/uint2 raw_data (onnx.numpy_helper + ml_dtypes)."""

from __future__ import annotations

import numpy as np
import pytest

from mlxquant.quant.packing import pack, unpack

onnx = pytest.importorskip("onnx")
ml_dtypes = pytest.importorskip("ml_dtypes")
pytestmark = pytest.mark.peers


@pytest.mark.parametrize(("bits", "signed"), [(4, True), (4, False), (2, True), (2, False)])
@pytest.mark.parametrize("shape", [(1,), (5,), (2, 3), (3, 7), (0,), (4, 4, 3)])
def test_raw_data_equals_onnx(bits, signed, shape):
    from onnx import numpy_helper

    dt = {(4, True): "int4", (4, False): "uint4", (2, True): "int2", (2, False): "uint2"}[(bits, signed)]
    if not hasattr(ml_dtypes, dt):
        pytest.skip(f"ml_dtypes has no {dt}")
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    q = np.random.default_rng(bits + len(shape)).integers(lo, hi + 1, size=shape).astype(np.int8)
    ref = np.frombuffer(numpy_helper.from_array(q.astype(getattr(ml_dtypes, dt))).raw_data, dtype=np.uint8)
    got = pack(q if signed else q.astype(np.uint8), bits, layout="onnx")
    np.testing.assert_array_equal(got, ref)
    back = unpack(ref.copy(), bits, count=q.size, signed=signed, layout="onnx")
    np.testing.assert_array_equal(back, q.reshape(-1))
