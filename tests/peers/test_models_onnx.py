"""inspect_model on ONNX files against onnxruntime's own view of their inputs and outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mlxquant as mq

from ..models.fixtures import model_dir  # noqa: F401

pytestmark = pytest.mark.peers

ort = pytest.importorskip("onnxruntime")

MODELS = [
    "colour_classifier.onnx",
    "colour_classifier.int8.onnx",
    "colour_classifier_u8io.onnx",
    "colour_segmenter.int8.onnx",
    "colour_detector.onnx",
    "colour_detector.int8.onnx",
]
_ORT_TYPES = {"tensor(float)": "float32", "tensor(uint8)": "uint8", "tensor(int8)": "int8"}


@pytest.mark.parametrize("name", MODELS)
def test_io_matches_onnxruntime(model_dir: Path, name: str) -> None:  # noqa: F811
    info = mq.inspect_model(model_dir / name)
    sess = ort.InferenceSession(str(model_dir / name), providers=["CPUExecutionProvider"])
    for specs, theirs in ((info.inputs, sess.get_inputs()), (info.outputs, sess.get_outputs())):
        assert [s.name for s in specs] == [t.name for t in theirs]
        for s, t in zip(specs, theirs, strict=True):
            assert list(s.shape) == list(t.shape)
            assert s.dtype == _ORT_TYPES[t.type]


def test_u8io_params_reproduce_onnxruntime(model_dir: Path) -> None:  # noqa: F811
    """Quantizing with the input parameters read from the file, and dequantizing the output with the output ones,
    reproduces the float model run by onnxruntime (to one output step)."""
    u8 = model_dir / "colour_classifier_u8io.onnx"
    info = mq.inspect_model(u8)
    s_in, z_in = info.inputs[0].qparams
    s_out, z_out = info.outputs[0].qparams
    x = np.random.default_rng(1).random((2, 3, 64, 64), dtype=np.float32)
    xq = np.clip(np.round(x / np.float32(s_in)) + z_in, 0, 255).astype(np.uint8)
    yq = ort.InferenceSession(str(u8), providers=["CPUExecutionProvider"]).run(None, {"input_u8": xq})[0]
    fl = ort.InferenceSession(str(model_dir / "colour_classifier.onnx"), providers=["CPUExecutionProvider"])
    yf = fl.run(None, {"input": (xq.astype(np.float32) - z_in) * np.float32(s_in)})[0]
    np.testing.assert_allclose(
        (yq.astype(np.float32) - z_out) * np.float32(s_out), np.clip(yf, 0, 255 * s_out), atol=0.5 * s_out + 1e-6
    )


def _two_output_classifier(path: Path) -> None:
    """x [N, 3, 8, 8] → Conv → Relu → Flatten → MatMul → logits, and Softmax(logits) → prob (two outputs)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto as TP
    from onnx import helper as h
    from onnx import numpy_helper as nh

    rng = np.random.default_rng(0)
    inits = [nh.from_array(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), "W"),
             nh.from_array(rng.normal(size=(4,)).astype(np.float32), "B"),
             nh.from_array((rng.normal(size=(256, 5)) * 0.1).astype(np.float32), "G")]
    nodes = [h.make_node("Conv", ["x", "W", "B"], ["c"], pads=[1, 1, 1, 1]), h.make_node("Relu", ["c"], ["r"]),
             h.make_node("Flatten", ["r"], ["f"]), h.make_node("MatMul", ["f", "G"], ["logits"]),
             h.make_node("Softmax", ["logits"], ["prob"], axis=1)]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", TP.FLOAT, ["N", 3, 8, 8])],
                     [h.make_tensor_value_info("prob", TP.FLOAT, ["N", 5]),
                      h.make_tensor_value_info("logits", TP.FLOAT, ["N", 5])], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, str(path))


@pytest.mark.parametrize("fmt", ["QDQ", "QOperator"])
@pytest.mark.parametrize("act", ["QUInt8", "QInt8"])
@pytest.mark.parametrize("per_channel", [False, True])
def test_quantize_static_grid(tmp_path: Path, fmt: str, act: str, per_channel: bool) -> None:
    """onnxruntime quantize_static in both formats, uint8 / int8 activations, per-tensor / per-channel weights: the
    I/O names, shapes and dtypes are the session's; the input's and every output's parameters are those of the
    QuantizeLinear / DequantizeLinear nodes onnxruntime wrote (read back with onnx), and the weights are listed."""
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper as nh
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            rng = np.random.default_rng(1)
            self.it = iter([{"x": rng.uniform(0, 1, (1, 3, 8, 8)).astype(np.float32)} for _ in range(4)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.it, None)

    f, q = tmp_path / "f.onnx", tmp_path / "q.onnx"
    _two_output_classifier(f)
    quantize_static(str(f), str(q), Reader(), quant_format=getattr(QuantFormat, fmt),
                    activation_type=getattr(QuantType, act), weight_type=QuantType.QInt8, per_channel=per_channel)
    info = mq.inspect_model(q)
    sess = ort.InferenceSession(str(q), providers=["CPUExecutionProvider"])
    assert [(t.name, list(t.shape), t.dtype) for t in info.inputs] == [
        (i.name, list(i.shape), _ORT_TYPES[i.type]) for i in sess.get_inputs()]
    assert [(t.name, list(t.shape), t.dtype) for t in info.outputs] == [
        (o.name, list(o.shape), _ORT_TYPES[o.type]) for o in sess.get_outputs()]
    g = onnx.load(str(q)).graph
    consts = {i.name: nh.to_array(i) for i in g.initializer}
    qdtype = "uint8" if act == "QUInt8" else "int8"
    (x,) = info.inputs
    node = next(n for n in g.node if n.op_type == "QuantizeLinear" and n.input[0] == "x")
    assert (x.io, x.source, x.qdtype, x.axis) == ("float", "QuantizeLinear", qdtype, None)
    assert x.scale == consts[node.input[1]] and x.zero_point == consts[node.input[2]]
    for spec in info.outputs:
        node = next(n for n in g.node if spec.name in n.output)
        assert node.op_type == "DequantizeLinear" and (spec.io, spec.qdtype) == ("float", qdtype)
        assert spec.scale == consts[node.input[1]] and spec.zero_point == consts[node.input[2]]
    assert info.outputs_are_probabilities == [True, False]
    w = {t.name: t for t in info.weights}
    assert {"W_quantized", "G_quantized"} <= set(w)
    assert (w["W_quantized"].axis, w["G_quantized"].axis) == ((0, 1) if per_channel else (None, None))
    np.testing.assert_array_equal(w["W_quantized"].scale, consts["W_scale"])
