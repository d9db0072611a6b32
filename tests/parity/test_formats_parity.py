"""NumPy vs MLX (generic) vs MLX native (mx.quantize) for packing, mlx_quantize and gguf_quantize (Hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlxquant.quant.formats.gguf import gguf_dequantize, gguf_quantize
from mlxquant.quant.formats.mlx import mlx_dequantize, mlx_quantize
from mlxquant.quant.packing import PACK_LAYOUTS, pack, unpack
from tests.helpers import assert_equal

mx = pytest.importorskip("mlx.core")

MODES = [("affine", g, b) for g in (32, 64, 128) for b in (1, 2, 3, 4, 5, 6, 8)] + [
    ("mxfp4", 32, 4), ("mxfp8", 32, 8), ("nvfp4", 16, 4)]


def _weights(seed: int, rows: int, groups: int, g: int, scale_exp: int, coarse: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((rows, groups * g)).astype(np.float32) * np.float32(2.0**scale_exp)
    if coarse:
        w = np.round(w * 4) / 4  # exact ties
    return w.astype(np.float32)


@given(data=st.data())
def test_pack_numpy_equals_mlx(data):
    layout = data.draw(st.sampled_from(list(PACK_LAYOUTS)))
    bits = data.draw(st.sampled_from(PACK_LAYOUTS[layout].bits))
    shape = data.draw(st.tuples(st.integers(1, 3), st.integers(0, 80)))
    q = np.random.default_rng(data.draw(st.integers(0, 999))).integers(0, 1 << bits, size=shape).astype(np.uint8)
    a = pack(q, bits, layout=layout)
    m = pack(mx.array(q), bits, layout=layout)
    assert_equal(m, a, backend="mlx")
    count = q.size if layout == "onnx" else shape[-1]
    assert_equal(unpack(m, bits, count=count, layout=layout, signed=True),
                 unpack(a, bits, count=count, layout=layout, signed=True), backend="mlx")


@given(mode=st.sampled_from(MODES), seed=st.integers(0, 2**16), rows=st.integers(1, 4), groups=st.integers(1, 4),
       scale_exp=st.integers(-20, 12), coarse=st.booleans(), dt=st.sampled_from(["float32", "float16"]))
def test_mlx_quantize_numpy_generic_native(mode, seed, rows, groups, scale_exp, coarse, dt):
    name, g, bits = mode
    if name == "nvfp4":
        groups = 2 * groups  # MLX's own nvfp4 needs a multiple of 32 elements (native path)
    w = _weights(seed, rows, groups, g, scale_exp, coarse).astype(dt)
    wm = mx.array(w)
    res_np = mlx_quantize(w, g, bits, name)
    res_gen = mlx_quantize(wm, g, bits, name, impl="generic")
    res_nat = mlx_quantize(wm, g, bits, name, impl="native")
    for a, b_, c in zip(res_np, res_gen, res_nat, strict=True):
        if a is None:
            assert b_ is None and c is None
            continue
        assert_equal(b_, a, backend="mlx")  # generic: NumPy == MLX
        assert_equal(c, b_, backend="mlx")  # fast path == generic
    d_np = mlx_dequantize(*res_np, g, bits, name, dtype="float32")
    d_mx = mlx_dequantize(*res_gen, g, bits, name, dtype="float32")
    assert_equal(d_mx, d_np, backend="mlx")


@given(qtype=st.sampled_from(["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"]), seed=st.integers(0, 2**16),
       rows=st.integers(1, 3), blocks=st.integers(1, 3), scale_exp=st.integers(-12, 14), coarse=st.booleans())
def test_gguf_numpy_equals_mlx(qtype, seed, rows, blocks, scale_exp, coarse):
    # Q4_1/Q5_1 store the block minimum; when a block mixes +0.0 and -0.0 and its minimum is zero, the sign of
    # that zero depends on the order of the backend's min reduction (NumPy's and MLX's both vary with the
    # arrangement; docs/spec/formats.md). Signed zeros are therefore canonicalized here (x + 0.0 maps -0.0 to
    # +0.0); everything else must agree bit for bit.
    x = _weights(seed, rows, blocks, 32, scale_exp, coarse) + np.float32(0.0)
    a = gguf_quantize(x, qtype)
    m = gguf_quantize(mx.array(x), qtype)
    assert_equal(m, a, backend="mlx")
    assert_equal(gguf_dequantize(m, qtype), gguf_dequantize(a, qtype), backend="mlx")
