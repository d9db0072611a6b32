"""Float formats vs ml_dtypes (and NumPy's float16): bit-exact on every code and on dense float32 sweeps."""

from __future__ import annotations

import numpy as np
import pytest

import mlxquant as mq
from mlxquant.quant.floats import from_bits
from tests.helpers import as_backend

ml_dtypes = pytest.importorskip("ml_dtypes")

PEER = {
    "float16": np.float16,
    "bfloat16": ml_dtypes.bfloat16,
    "e4m3fn": ml_dtypes.float8_e4m3fn,
    "e5m2": ml_dtypes.float8_e5m2,
}
UINT = {"float16": np.uint16, "bfloat16": np.uint16, "e4m3fn": np.uint8, "e5m2": np.uint8}


def _ours_bits(x, fmt, backend, saturate=False):
    xb = as_backend(x, backend) if backend == "numpy" else mq.get_backend(backend="mlx").asarray(x)
    if fmt == "float16":
        out = mq.to_float16(xb, as_bits=True, warn=False, saturate=saturate)
    elif fmt == "bfloat16":
        out = mq.to_bfloat16(xb, as_bits=True, saturate=saturate)
    else:
        out = mq.to_float8(xb, fmt, saturate=saturate)
    return np.asarray(mq.to_numpy(out))


def _peer_bits(x, fmt):
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(x).astype(PEER[fmt]).view(UINT[fmt])


def _boundaries(fmt):
    """Every code's value, the midpoints between neighbours (ties) and ±1 float32 ulp around each midpoint."""
    n = 1 << (16 if UINT[fmt] is np.uint16 else 8)
    vals = np.arange(n, dtype=np.uint32).astype(UINT[fmt]).view(PEER[fmt]).astype(np.float32)
    fin = np.sort(np.unique(vals[np.isfinite(vals)]))
    mids = ((fin[:-1].astype(np.float64) + fin[1:]) / 2).astype(np.float32)  # exact in float32 for these formats
    top = np.float32(float(fin[-1]) + (float(fin[-1]) - float(fin[-2])) / 2)  # half-way past the largest value
    core = np.concatenate([vals, mids, [top, -top]])
    bits = core.view(np.uint32)
    return np.concatenate([core, (bits + 1).view(np.float32), (bits - 1).view(np.float32)])


@pytest.mark.slow
@pytest.mark.parametrize("fmt", list(PEER))
def test_every_code_and_rounding_boundary(backend, fmt):
    x = _boundaries(fmt)
    x = np.concatenate([x, -x])
    np.testing.assert_array_equal(_ours_bits(x, fmt, backend), _peer_bits(x, fmt))


@pytest.mark.slow
@pytest.mark.parametrize("fmt", list(PEER))
def test_dense_float32_sweep(backend, fmt):
    # ~2.1M float32 bit patterns spread over the whole space (every exponent, NaN payloads, subnormals, inf)
    bits = np.arange(0, 1 << 32, 2039, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32)
    np.testing.assert_array_equal(_ours_bits(x, fmt, backend), _peer_bits(x, fmt))


@pytest.mark.parametrize("fmt", list(PEER))
def test_decode_every_code(backend, fmt):
    n = 1 << (16 if UINT[fmt] is np.uint16 else 8)
    codes = np.arange(n, dtype=np.uint32).astype(UINT[fmt])
    cb = as_backend(codes, backend)
    got = np.asarray(mq.to_numpy(from_bits(cb, fmt)))
    ref = codes.view(PEER[fmt]).astype(np.float32)
    np.testing.assert_array_equal(got.view(np.uint32), ref.view(np.uint32))  # NaN payloads included


@pytest.mark.parametrize("fmt", ["float16", "e4m3fn", "e5m2"])
def test_float64_input_rounds_once(fmt):
    rng = np.random.default_rng(0)
    mx_ = {"float16": 65504.0, "e4m3fn": 448.0, "e5m2": 57344.0}[fmt]
    x = np.concatenate([rng.standard_normal(50000) * mx_ / 3, rng.standard_normal(50000) * 1e-6, [1 + 2**-11 + 2**-40]])
    np.testing.assert_array_equal(_ours_bits(x, fmt, "numpy"), _peer_bits(x, fmt))


def test_bfloat16_float64_matches_ml_dtypes_double_rounding():
    # ml_dtypes converts double → bfloat16 through float32; we match it (documented)
    rng = np.random.default_rng(1)
    x = rng.standard_normal(200000) * 1e30
    np.testing.assert_array_equal(_ours_bits(x, "bfloat16", "numpy"), _peer_bits(x, "bfloat16"))


def test_float16_and_bfloat16_inputs(backend):
    codes = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    for src in (np.float16, ml_dtypes.bfloat16):
        x = codes.view(src)
        if backend == "numpy" and src is ml_dtypes.bfloat16:
            continue  # NumPy has no native bfloat16; ml_dtypes arrays are not NumPy dtypes we accept
        if src is np.float16:
            xb = as_backend(x, backend)
        else:  # an MLX bfloat16 array with exactly these bit patterns (a cast from float32 would drop NaN signs)
            import mlx.core as mx

            xb = mx.view(mx.array(codes), mx.bfloat16)
        for fmt in ("e4m3fn", "e5m2"):
            got = np.asarray(mq.to_numpy(mq.to_float8(xb, fmt)))
            np.testing.assert_array_equal(got, _peer_bits(x.astype(np.float32), fmt))


@pytest.mark.parametrize("src", ["float16", "bfloat16"])
@pytest.mark.parametrize("fmt", list(PEER))
def test_half_inputs_to_every_format_match_ml_dtypes(backend, src, fmt):
    # every float16 / bfloat16 code (NaN payloads and signs included) converted to every format, as ml_dtypes'
    # astype does: same-format input is the identity (payload kept); bfloat16 → float16 NaN is 0x7E00 | sign
    codes = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    x = codes.view(PEER[src])
    if backend == "numpy":
        xb = x  # ml_dtypes' bfloat16 NumPy arrays are accepted as bfloat16
    else:
        import mlx.core as mx

        xb = mx.view(mx.array(codes), getattr(mx, src))
    np.testing.assert_array_equal(_ours_bits(xb, fmt, backend), _peer_bits(x, fmt))


onnx = pytest.importorskip("onnx")


@pytest.mark.parametrize("fmt", ["e4m3fn", "e5m2"])
@pytest.mark.parametrize("saturate", [False, True])
def test_saturate_matches_onnx_reference_cast(backend, fmt, saturate):
    from onnx import TensorProto, helper
    from onnx.reference import ReferenceEvaluator

    to = {"e4m3fn": TensorProto.FLOAT8E4M3FN, "e5m2": TensorProto.FLOAT8E5M2}[fmt]
    node = helper.make_node("Cast", ["x"], ["y"], to=to, saturate=int(saturate))
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None])],
        [helper.make_tensor_value_info("y", to, [None])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    rng = np.random.default_rng(0)
    x = np.concatenate(
        [
            np.array(
                [1000, -1000, np.inf, -np.inf, np.nan, 464, 465, 3e38, 57344, 61439, 61440, 1e6, -0.0], np.float32
            ),
            (rng.standard_normal(3000) * 3e4).astype(np.float32),
        ]
    )
    ref = np.asarray(ReferenceEvaluator(model).run(None, {"x": x})[0]).view(np.uint8)
    np.testing.assert_array_equal(_ours_bits(x, fmt, backend, saturate=saturate), ref)
