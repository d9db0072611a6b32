"""Bit-exactness of profile="tflite" / "tflite_reference" against LiteRT (ai-edge-litert): one-op QUANTIZE and
DEQUANTIZE models written as .tflite flatbuffers with the schema module that ai-edge-litert ships
(``ai_edge_litert.schema_py_generated``) and run by its Interpreter:

* "tflite" ↔ the default interpreter (XNNPACK delegate) for per-tensor int8/uint8; the builtin per-channel kernel
  for per-axis (XNNPACK does not take per-channel QUANTIZE).
* "tflite_reference" ↔ ``OpResolverType.BUILTIN_REF`` (the reference kernels).

Documented differences, asserted here so that a change in LiteRT shows up: NaN gives qmax in XNNPACK (mlxquant:
qmin), and the reference kernel's float→int32 cast of values beyond int32 is undefined (x86 gives INT_MIN, so +inf
becomes qmin); mlxquant saturates.
"""

from __future__ import annotations

import numpy as np
import pytest

import mlxquant as mq
from tests.helpers import as_backend, assert_equal
from tests.quant.adversarial import adversarial_values, random_scales

flatbuffers = pytest.importorskip("flatbuffers", reason="peer tests need the 'peers' extra")
litert = pytest.importorskip("ai_edge_litert.interpreter", reason="peer tests need the 'peers' extra")
S = pytest.importorskip("ai_edge_litert.schema_py_generated")

pytestmark = pytest.mark.peers

TT = {"int8": S.TensorType.INT8, "uint8": S.TensorType.UINT8, "int16": S.TensorType.INT16}
AUTO = litert.OpResolverType.AUTO
REF = litert.OpResolverType.BUILTIN_REF


def _one_op_model(op_code: int, shape, in_type, out_type, qparams_tensor: int, scales, zps, axis: int) -> bytes:
    m = S.ModelT()
    m.version = 3
    oc = S.OperatorCodeT()
    oc.builtinCode = op_code
    oc.deprecatedBuiltinCode = op_code
    oc.version = 1
    m.operatorCodes = [oc]
    m.buffers = [S.BufferT(), S.BufferT(), S.BufferT()]
    tensors = []
    for i, (t, name) in enumerate(((in_type, b"in"), (out_type, b"out"))):
        tt = S.TensorT()
        tt.shape = list(shape)
        tt.type = t
        tt.buffer = i + 1
        tt.name = name
        tensors.append(tt)
    qp = S.QuantizationParametersT()
    qp.scale = [float(s) for s in np.atleast_1d(scales)]
    qp.zeroPoint = [int(z) for z in np.atleast_1d(zps)]
    qp.quantizedDimension = axis
    tensors[qparams_tensor].quantization = qp
    op = S.OperatorT()
    op.opcodeIndex = 0
    op.inputs = [0]
    op.outputs = [1]
    sg = S.SubGraphT()
    sg.tensors = tensors
    sg.inputs = [0]
    sg.outputs = [1]
    sg.operators = [op]
    m.subgraphs = [sg]
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _run(model: bytes, x: np.ndarray, resolver) -> np.ndarray:
    it = litert.Interpreter(model_content=model, experimental_op_resolver_type=resolver)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])


def litert_quantize(x, scales, zps, dtype, resolver, axis=0):
    model = _one_op_model(S.BuiltinOperator.QUANTIZE, x.shape, S.TensorType.FLOAT32, TT[dtype], 1, scales, zps, axis)
    return _run(model, x, resolver)


def litert_dequantize(q, scales, zps, dtype, resolver, axis=0):
    model = _one_op_model(S.BuiltinOperator.DEQUANTIZE, q.shape, TT[dtype], S.TensorType.FLOAT32, 0, scales, zps, axis)
    return _run(model, q, resolver)


def _cases(rng, dtype):
    qt = mq.QTYPES[dtype]
    zps = [0] if dtype == "int16" else sorted({qt.qmin, qt.qmax, 0, 3, (qt.qmin + qt.qmax) // 2})
    for s in (1.0, 0.1, 0.0123, 0.5, 3.0, 1e-3, *random_scales(rng, 4, 1e-4, 10.0)):
        for zp in zps:
            yield np.float32(s), zp


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16"])
@pytest.mark.parametrize(("profile", "resolver"), [("tflite", AUTO), ("tflite_reference", REF)])
def test_quantize_per_tensor(backend: str, dtype: str, profile: str, resolver) -> None:
    rng = np.random.default_rng(51)
    qt = mq.QTYPES[dtype]
    for s, zp in _cases(rng, dtype):
        x = adversarial_values(rng, s, zp, qt.qmin, qt.qmax, n_random=300, max_k=300)
        # compared where the peer is defined: finite and within int32 after scaling (the reference kernel casts
        # float->int32 without a check), NaN separately below
        with np.errstate(all="ignore"):
            x = x[np.isfinite(x) & (np.abs(x.astype(np.float64) / s) < 2.0**30)]
        want = litert_quantize(x, s, zp, dtype, resolver)
        got = mq.quantize(as_backend(x, backend), s, zp, dtype, profile=profile)
        assert_equal(got, want, backend=backend, msg=f"{profile} {dtype} s={s} zp={zp}")


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
def test_xnnpack_uses_reciprocal_and_reference_divides(dtype: str) -> None:
    """The two kernels really differ on these near-ties, and each profile picks its own."""
    s = np.float32(0.1)
    k = np.arange(-100, 100, dtype=np.float64)
    x = ((k + 0.5) * np.float64(s)).astype(np.float32)
    x = np.concatenate([x, np.nextafter(x, np.float32(1e9)), np.nextafter(x, np.float32(-1e9))])
    zp = 0 if dtype == "int8" else 128
    xnn = litert_quantize(x, s, zp, dtype, AUTO)
    ref = litert_quantize(x, s, zp, dtype, REF)
    assert np.any(xnn != ref)
    assert_equal(mq.quantize(x, s, zp, dtype, profile="tflite"), xnn)
    assert_equal(mq.quantize(x, s, zp, dtype, profile="tflite_reference"), ref)
    assert np.any(mq.quantize(x, s, zp, dtype, profile="tflite") != mq.quantize(x, s, zp, dtype, profile="onnx"))


@pytest.mark.parametrize(("profile", "resolver"), [("tflite", AUTO), ("tflite_reference", REF)])
@pytest.mark.parametrize("axis", [0, 1])
def test_quantize_per_channel(backend: str, profile: str, resolver, axis: int) -> None:
    rng = np.random.default_rng(53)
    shape = (6, 9)
    d = shape[axis]
    for _ in range(6):
        s = random_scales(rng, d, 1e-3, 1.0)
        zp = rng.integers(-20, 20, d)
        bshape = [1, 1]
        bshape[axis] = d
        k = rng.integers(-140, 140, shape) - zp.reshape(bshape)
        x = ((k + 0.5) * s.reshape(bshape).astype(np.float64)).astype(np.float32)
        pick = rng.integers(0, 3, shape)
        x = np.where(pick == 1, np.nextafter(x, np.float32(1e9)), x)
        x = np.where(pick == 2, np.nextafter(x, np.float32(-1e9)), x).astype(np.float32)
        want = litert_quantize(x, s, zp, "int8", resolver, axis=axis)
        got = mq.quantize(as_backend(x, backend), s, zp, "int8", axis=axis, profile=profile)
        assert_equal(got, want, backend=backend)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16"])
@pytest.mark.parametrize("resolver", [AUTO, REF])
def test_dequantize(backend: str, dtype: str, resolver) -> None:
    rng = np.random.default_rng(57)
    qt = mq.QTYPES[dtype]
    q = rng.integers(qt.qmin, qt.qmax + 1, 500).astype(qt.storage)
    q[:2] = [qt.qmin, qt.qmax]
    for s, zp in _cases(rng, dtype):
        want = litert_dequantize(q, s, zp, dtype, resolver)
        assert_equal(mq.dequantize(as_backend(q, backend), s, zp), want, backend=backend)


def test_documented_differences() -> None:
    x = np.array([np.nan, np.inf, -np.inf, 1.0], np.float32)
    xnn = litert_quantize(x, np.float32(0.5), 3, "int8", AUTO)
    assert xnn.tolist() == [127, 127, -128, 5]  # XNNPACK: NaN -> qmax
    ref = litert_quantize(x, np.float32(0.5), 3, "int8", REF)
    assert ref[1] == -128  # reference kernel: +inf -> (int32)inf is UB; INT_MIN + zp clamps to qmin on x86
    for profile in ("tflite", "tflite_reference"):
        assert mq.quantize(x, 0.5, 3, "int8", profile=profile).tolist() == [-128, 127, -128, 5]
