"""Bit-exactness of profile="onnx" against onnxruntime (QuantizeLinear / DequantizeLinear / DynamicQuantizeLinear
at opset 21, built with onnx.helper) and onnxruntime's quantization tool (symmetric qparams).

Every comparison is exact on integers (or on float bits for dequantize) and covers ties at .5 steps and their float32
neighbours, saturation bounds, ±0, NaN, ±inf, tiny and huge scales, per-axis, blocked with partial blocks, 0-d and
empty arrays, on both backends.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import mlxquant as mq
from mlxquant.quant.primitives import qparams_from_minmax
from tests.helpers import as_backend, assert_equal
from tests.quant.adversarial import SPECIAL_SCALES, adversarial_values, random_scales

onnx = pytest.importorskip("onnx", reason="peer tests need the 'peers' extra")
ort = pytest.importorskip("onnxruntime", reason="peer tests need the 'peers' extra")
from onnx import TensorProto, helper  # noqa: E402

pytestmark = pytest.mark.peers

ONNX_TYPES = {
    "int4": TensorProto.INT4,
    "uint4": TensorProto.UINT4,
    "int8": TensorProto.INT8,
    "uint8": TensorProto.UINT8,
    "int16": TensorProto.INT16,
    "uint16": TensorProto.UINT16,
}
DTYPES = tuple(ONNX_TYPES)


def _model(nodes, inputs, outputs, initializers=()):
    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    m.ir_version = 10
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])


@functools.lru_cache(maxsize=256)
def _q_session(dtype: str, rank: int, sshape: tuple, zp_bytes: bytes, axis, block):
    zp = np.frombuffer(zp_bytes, np.int64).reshape(sshape)
    attrs = {}
    if axis is not None:
        attrs["axis"] = axis
    if block is not None:
        attrs["block_size"] = block
    zt = helper.make_tensor("zp", ONNX_TYPES[dtype], list(sshape), zp.reshape(-1).tolist())
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["q"], **attrs),
        helper.make_node("Cast", ["q"], ["y"], to=TensorProto.INT32),
    ]
    return _model(
        nodes,
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [None] * rank),
            helper.make_tensor_value_info("s", TensorProto.FLOAT, list(sshape)),
        ],
        [helper.make_tensor_value_info("y", TensorProto.INT32, None)],
        [zt],
    )


def ort_quantize(x, s, zp, dtype, axis=None, block=None):
    s = np.asarray(s, np.float32)
    zp = np.broadcast_to(np.asarray(zp, np.int64), s.shape)
    sess = _q_session(dtype, x.ndim, s.shape, np.ascontiguousarray(zp).tobytes(), axis, block)
    return sess.run(None, {"x": x, "s": s})[0]


@functools.lru_cache(maxsize=256)
def _dq_session(dtype: str, rank: int, sshape: tuple, zp_bytes: bytes, axis, block):
    zp = np.frombuffer(zp_bytes, np.int64).reshape(sshape)
    attrs = {}
    if axis is not None:
        attrs["axis"] = axis
    if block is not None:
        attrs["block_size"] = block
    zt = helper.make_tensor("zp", ONNX_TYPES[dtype], list(sshape), zp.reshape(-1).tolist())
    nodes = [
        helper.make_node("Cast", ["xi"], ["q"], to=ONNX_TYPES[dtype]),
        helper.make_node("DequantizeLinear", ["q", "s", "zp"], ["y"], **attrs),
    ]
    return _model(
        nodes,
        [
            helper.make_tensor_value_info("xi", TensorProto.INT32, [None] * rank),
            helper.make_tensor_value_info("s", TensorProto.FLOAT, list(sshape)),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [zt],
    )


def ort_dequantize(q, s, zp, dtype, axis=None, block=None):
    s = np.asarray(s, np.float32)
    zp = np.broadcast_to(np.asarray(zp, np.int64), s.shape)
    sess = _dq_session(dtype, q.ndim, s.shape, np.ascontiguousarray(zp).tobytes(), axis, block)
    return sess.run(None, {"xi": q.astype(np.int32), "s": s})[0]


@functools.lru_cache(maxsize=4)
def _dql_session():
    node = helper.make_node("DynamicQuantizeLinear", ["x"], ["y", "s", "zp"])
    return _model(
        [node],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None])],
        [
            helper.make_tensor_value_info("y", TensorProto.UINT8, None),
            helper.make_tensor_value_info("s", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("zp", TensorProto.UINT8, None),
        ],
    )


def _zps(rng, qt):
    zs = {qt.qmin, qt.qmax, 0, 1, (qt.qmin + qt.qmax) // 2}
    zs.add(int(rng.integers(qt.qmin, qt.qmax + 1)))
    return sorted(z for z in zs if qt.qmin <= z <= qt.qmax)


# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_quantize_per_tensor_matches_ort(backend: str, dtype: str) -> None:
    rng = np.random.default_rng(hash(dtype) % 2**32)
    qt = mq.QTYPES[dtype]
    scales = list(SPECIAL_SCALES) + list(random_scales(rng, 6))
    n_checked = 0
    for s in scales:
        for zp in _zps(rng, qt):
            x = adversarial_values(rng, s, zp, qt.qmin, qt.qmax, n_random=300, max_k=300)
            want = ort_quantize(x, np.float32(s), zp, dtype)
            got = mq.quantize(as_backend(x, backend), np.float32(s), zp, dtype)
            assert_equal(got, want.astype(qt.storage), backend=backend, msg=f"{dtype} s={s!r} zp={zp}")
            n_checked += x.size
    assert n_checked > 50_000


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int4", "uint16"])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_quantize_per_axis_matches_ort(backend: str, dtype: str, axis: int) -> None:
    rng = np.random.default_rng(7)
    qt = mq.QTYPES[dtype]
    shape = (5, 6, 7)
    d = shape[axis]
    for trial in range(4):
        s = random_scales(rng, d, 1e-4, 10.0)
        if trial == 0:
            s[: min(3, d)] = [1.0, 0.1, 0.5][: min(3, d)]
        zp = rng.integers(qt.qmin, qt.qmax + 1, d)
        # values at exact ties and neighbours of each channel's own scale
        bshape = [1, 1, 1]
        bshape[axis] = d
        k = rng.integers(qt.qmin - 2, qt.qmax + 3, shape) - zp.reshape(bshape)
        base = ((k + 0.5) * s.astype(np.float64).reshape(bshape)).astype(np.float32)
        pick = rng.integers(0, 4, shape)
        x = np.where(pick == 0, base, np.where(pick == 1, np.nextafter(base, np.float32(np.inf)), base))
        x = np.where(pick == 2, np.nextafter(base, np.float32(-np.inf)), x).astype(np.float32)
        x.reshape(-1)[:4] = [np.nan, np.inf, -np.inf, -0.0]
        want = ort_quantize(x, s, zp, dtype, axis=axis)
        got = mq.quantize(as_backend(x, backend), s, zp, dtype, axis=axis)
        assert_equal(got, want.astype(qt.storage), backend=backend, msg=f"{dtype} axis={axis}")


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int4", "uint4", "int16"])
@pytest.mark.parametrize(
    ("shape", "axis", "block"),
    [((4, 10), 1, 4), ((10, 3), 0, 4), ((3, 7, 2), 1, 3), ((2, 9), 1, 9), ((2, 8), 1, 2), ((6,), 0, 5)],
)
def test_quantize_blocked_matches_ort(backend: str, dtype: str, shape, axis: int, block: int) -> None:
    rng = np.random.default_rng(11)
    qt = mq.QTYPES[dtype]
    sshape = list(shape)
    sshape[axis] = -(-shape[axis] // block)
    s = random_scales(rng, int(np.prod(sshape)), 1e-3, 1.0).reshape(sshape)
    zp = rng.integers(qt.qmin, qt.qmax + 1, sshape)
    x = (rng.standard_normal(shape) * 40).astype(np.float32)
    x = (np.round(x * 2) / 2).astype(np.float32) * np.float32(0.01)  # many exact .5-ties of 0.01-ish scales
    want = ort_quantize(x, s, zp, dtype, axis=axis, block=block)
    got = mq.quantize(as_backend(x, backend), s, zp, dtype, axis=axis, block_size=block)
    assert_equal(got, want.astype(qt.storage), backend=backend)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dequantize_matches_ort(backend: str, dtype: str) -> None:
    rng = np.random.default_rng(5)
    qt = mq.QTYPES[dtype]
    q = rng.integers(qt.qmin, qt.qmax + 1, (6, 10)).astype(qt.storage)
    q.reshape(-1)[:2] = [qt.qmin, qt.qmax]
    for s in (*SPECIAL_SCALES, *random_scales(rng, 4)):
        for zp in _zps(rng, qt):
            want = ort_dequantize(q, np.float32(s), zp, dtype)
            got = mq.dequantize(as_backend(q, backend), np.float32(s), zp)
            assert_equal(got, want, backend=backend, msg=f"{dtype} s={s} zp={zp}")
    # per-axis and blocked (partial last block)
    s_ax = random_scales(rng, 10)
    z_ax = rng.integers(qt.qmin, qt.qmax + 1, 10)
    assert_equal(
        mq.dequantize(as_backend(q, backend), s_ax, z_ax, axis=1), ort_dequantize(q, s_ax, z_ax, dtype, axis=1)
    )
    s_bl = random_scales(rng, 18).reshape(6, 3)
    z_bl = rng.integers(qt.qmin, qt.qmax + 1, (6, 3))
    assert_equal(
        mq.dequantize(as_backend(q, backend), s_bl, z_bl, axis=1, block_size=4),
        ort_dequantize(q, s_bl, z_bl, dtype, axis=1, block=4),
    )


def test_zero_d_and_empty_match_ort(backend: str) -> None:
    for x in (
        np.array(2.5, np.float32),
        np.array(-0.5, np.float32),
        np.zeros((0,), np.float32),
        np.zeros((3, 0), np.float32),
    ):
        want = ort_quantize(x, np.float32(1.0), 3, "int8")
        got = mq.quantize(as_backend(x, backend), 1.0, 3, "int8")
        assert_equal(got, want.astype(np.int8).reshape(x.shape), backend=backend)


# ---------------------------------------------------------------------------------------------------------------
def _dql_inputs(rng):
    yield np.array([-1.0, 0.2, 2.0, 3.0], np.float32)
    yield np.zeros(5, np.float32)
    yield np.full(4, 3.25, np.float32)
    yield np.full(4, -3.25, np.float32)
    yield np.array([0.0], np.float32)
    yield np.array([-1e-40, 1e-40], np.float32)
    # ranges whose zero point qmin - min/scale is exactly an even integer + 0.5 (RNE and RHA differ)
    for mn, mx in ((-0.1, 0.5), (-0.1, 2.9), (-0.2, 1.0), (-0.3, 0.7), (-0.5, 2.5), (-0.6, 1.4)):
        yield np.array([mn, 0.25, mx], np.float32)
    for _ in range(150):
        n = int(rng.integers(1, 300))
        sc = 10.0 ** rng.uniform(-6, 5)
        yield (rng.standard_normal(n) * sc + rng.uniform(-2, 2) * sc).astype(np.float32)
    for i in range(30):  # all-positive / all-negative
        yield (np.abs(rng.standard_normal(20)) * (1 if i % 2 else -1)).astype(np.float32)


def test_choose_qparams_uint8_is_dynamic_quantize_linear(backend: str) -> None:
    rng = np.random.default_rng(3)
    sess = _dql_session()
    for x in _dql_inputs(rng):
        y, s, zp = sess.run(None, {"x": x})
        p = mq.choose_qparams(as_backend(x, backend), "uint8")
        assert_equal(p.scale, np.asarray(s, np.float32), backend=backend, msg=f"scale for {x[:4]}")
        assert int(mq.to_numpy(p.zero_point)) == int(zp), f"zp for {x[:4]}"
        assert_equal(mq.quantize(as_backend(x, backend), p), y, backend=backend)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduce_range", [False, True])
def test_symmetric_matches_quantization_tool(backend: str, dtype: str, reduce_range: bool) -> None:
    from onnxruntime.quantization.quant_utils import compute_scale_zp, get_qmin_qmax_for_qType

    rng = np.random.default_rng(9)
    cases = [np.zeros(3, np.float32), np.array([-1.0, 3.0], np.float32), np.array([0.5, 2.0], np.float32)]
    cases += [(rng.standard_normal(50) * 10.0 ** rng.uniform(-5, 4)).astype(np.float32) for _ in range(60)]
    qmin, qmax = get_qmin_qmax_for_qType(ONNX_TYPES[dtype], reduce_range=reduce_range, symmetric=True)
    assert mq.quant.primitives.qrange(dtype, symmetric=True, reduce_range=reduce_range) == (int(qmin), int(qmax))
    for x in cases:
        zp, s = compute_scale_zp(np.float32(x.min()), np.float32(x.max()), qmin, qmax, symmetric=True)
        p = mq.choose_qparams(as_backend(x, backend), dtype, symmetric=True, reduce_range=reduce_range)
        assert np.float32(mq.to_numpy(p.scale)) == np.float32(s), (dtype, x[:3], p, s)
        assert int(mq.to_numpy(p.zero_point)) == int(zp), (dtype, x[:3], p, zp)
        p2 = qparams_from_minmax(
            np.float32(x.min()), np.float32(x.max()), dtype, symmetric=True, reduce_range=reduce_range
        )
        assert np.float32(p2.scale) == np.float32(s)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduce_range", [False, True])
def test_asymmetric_matches_quantization_tool(backend: str, dtype: str, reduce_range: bool) -> None:
    """Asymmetric qparams of every dtype but uint8 (whose rule is DynamicQuantizeLinear's, tested above) and of
    uint8 with reduce_range are the tool's compute_scale_zp (float64), per tensor and per channel.

    Review regression: they used DynamicQuantizeLinear's float32 rule, whose scale differed by an ulp in ~13%."""
    from onnxruntime.quantization.quant_utils import compute_scale_zp, get_qmin_qmax_for_qType

    if dtype == "uint8" and not reduce_range:
        pytest.skip("uint8 without reduce_range follows DynamicQuantizeLinear (test above)")
    rng = np.random.default_rng(11)
    qmin, qmax = get_qmin_qmax_for_qType(ONNX_TYPES[dtype], reduce_range=reduce_range, symmetric=False)
    assert mq.quant.primitives.qrange(dtype, reduce_range=reduce_range) == (int(qmin), int(qmax))
    cases = [*list(_dql_inputs(rng))[:80], np.array([-1e-40, 3e-40], np.float32), np.array([-1e-8, 1.0], np.float32)]
    for x in cases:
        zp, s = compute_scale_zp(np.float32(x.min()), np.float32(x.max()), qmin, qmax)
        p = mq.choose_qparams(as_backend(x, backend), dtype, reduce_range=reduce_range)
        assert np.float32(mq.to_numpy(p.scale)) == np.float32(s), (dtype, x[:3], p, s)
        assert int(mq.to_numpy(p.zero_point)) == int(zp), (dtype, x[:3], p, zp)
    w = (rng.standard_normal((6, 40)) * rng.uniform(0.01, 5, (6, 1))).astype(np.float32)
    w[0] = 0.0
    w[1] = np.abs(w[1])
    p = mq.choose_qparams(as_backend(w, backend), dtype, axis=0, reduce_range=reduce_range)
    for c in range(6):
        zp, s = compute_scale_zp(np.float32(w[c].min()), np.float32(w[c].max()), qmin, qmax)
        assert np.float32(mq.to_numpy(p.scale)[c]) == np.float32(s) and int(mq.to_numpy(p.zero_point)[c]) == int(zp)


def test_nan_goes_to_qmin_like_ort(backend: str) -> None:
    x = np.array([np.nan, -np.nan, 1.0], np.float32)
    for dtype in DTYPES:
        qt = mq.QTYPES[dtype]
        for zp in _zps(np.random.default_rng(0), qt):
            want = ort_quantize(x, np.float32(0.5), zp, dtype)
            assert want[0] == qt.qmin
            assert_equal(mq.quantize(as_backend(x, backend), 0.5, zp, dtype), want.astype(qt.storage))


@pytest.mark.parametrize(
    ("shape", "axis", "block"), [((70000, 3), -1, None), ((300, 1000), 0, None), ((2048, 96), 1, 32)]
)
def test_large_arrays_take_the_fast_path_and_match_ort(shape, axis: int, block) -> None:
    """Above the NumPy fast path's threshold: per-axis along a short last axis (tiled parameters), along axis 0,
    and blocked along the last axis, against onnxruntime, with ties, their neighbours, NaN and ±inf."""
    from mlxquant.quant import _core_fast

    assert int(np.prod(shape)) >= _core_fast.MIN_SIZE
    rng = np.random.default_rng(83)
    ax = axis % len(shape)
    pshape = [1] * len(shape) if block is None else list(shape)
    if block is None:
        pshape = [shape[ax]]
        bshape = [1] * len(shape)
        bshape[ax] = shape[ax]
    else:
        pshape[ax] = shape[ax] // block
    s = random_scales(rng, int(np.prod(pshape)), 1e-3, 0.1).reshape(pshape)
    zp = rng.integers(-128, 128, pshape)
    se = s.reshape(bshape) if block is None else np.repeat(s, block, axis=ax)
    ze = zp.reshape(bshape) if block is None else np.repeat(zp, block, axis=ax)
    k = rng.integers(-140, 140, shape) - ze
    base = ((k + 0.5) * se.astype(np.float64)).astype(np.float32)
    pick = rng.integers(0, 3, shape)
    x = np.where(pick == 1, np.nextafter(base, np.float32(np.inf)), base)
    x = np.where(pick == 2, np.nextafter(base, np.float32(-np.inf)), x).astype(np.float32)
    x.reshape(-1)[:4] = [np.nan, np.inf, -np.inf, -0.0]
    want = ort_quantize(x, s, zp, "int8", axis=ax, block=block)
    assert_equal(mq.quantize(x, s, zp, "int8", axis=axis, block_size=block), want.astype(np.int8))
    assert_equal(
        mq.dequantize(want.astype(np.int8), s, zp, axis=axis, block_size=block),
        ort_dequantize(want, s, zp, "int8", axis=ax, block=block),
    )
