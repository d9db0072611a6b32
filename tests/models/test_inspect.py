"""inspect_model: ONNX (Q/DQ next to the graph's inputs and outputs) and TFLite (the tensors' own parameters)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mlxquant as mq
from mlxquant.models import ModelInfo, TensorSpec

from .fixtures import ROOT, build_models

DATA = ROOT / "mlxquant" / "data"


def test_float_onnx(model_dir: Path) -> None:
    info = mq.inspect_model(model_dir / "colour_classifier.onnx")
    assert isinstance(info, ModelInfo) and info.format == "onnx" and not info.quantized
    (i,), (o,) = info.inputs, info.outputs
    assert (i.name, i.shape, i.dtype, i.quantized, i.io) == ("input", ("batch", 3, 64, 64), "float32", False, "float")
    assert (o.name, o.shape, o.dtype, o.scale) == ("logits", ("batch", 9), "float32", None)
    assert info.labels == build_models().COLOUR_NAMES


def test_integer_io_onnx(model_dir: Path) -> None:
    info = mq.inspect_model(model_dir / "colour_classifier_u8io.onnx")
    (i,), (o,) = info.inputs, info.outputs
    assert (i.dtype, i.io, i.qdtype, i.source, i.axis) == ("uint8", "integer", "uint8", "DequantizeLinear", None)
    assert i.scale.dtype == np.float32 and i.scale.shape == () and i.scale == np.float32(1 / 255)
    assert i.zero_point.dtype == np.int64 and i.zero_point == 0
    assert i.qparams == (float(np.float32(1 / 255)), 0)
    assert (o.dtype, o.io, o.source) == ("uint8", "integer", "QuantizeLinear")
    assert o.scale == build_models().U8IO_OUT_SCALE and o.zero_point == 0
    assert info.quantized


def test_qdq_onnx_from_quantize_static(model_dir: Path) -> None:
    """onnxruntime's quantize_static keeps float I/O and puts QuantizeLinear / DequantizeLinear at the boundary."""
    import onnx
    from onnx import numpy_helper

    path = model_dir / "colour_classifier.int8.onnx"
    info = mq.inspect_model(path)
    (i,), (o,) = info.inputs, info.outputs
    assert (i.dtype, i.io, i.qdtype, i.source) == ("float32", "float", "int8", "QuantizeLinear")
    assert (o.dtype, o.io, o.qdtype, o.source) == ("float32", "float", "int8", "DequantizeLinear")
    # the values are the initializers of the very nodes next to the input / output
    m = onnx.load(str(path))
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    q_in = next(n for n in m.graph.node if n.op_type == "QuantizeLinear" and n.input[0] == "input")
    dq_out = next(n for n in m.graph.node if n.op_type == "DequantizeLinear" and n.output[0] == "logits")
    assert i.scale == inits[q_in.input[1]] and i.zero_point == inits[q_in.input[2]]
    assert o.scale == inits[dq_out.input[1]] and o.zero_point == inits[dq_out.input[2]]
    assert i.scale == np.float32(1 / 255) and i.zero_point == -128  # calibration data spans exactly [0, 1]
    assert "QuantizeLinear" in info.operators


def _per_axis_model(path: Path, *, block: bool = False) -> None:
    """int8 input [1, 3, 4, 4] dequantized per channel (axis 1), float output quantized per channel too."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    scale = np.array([0.5, 0.25, 0.125], np.float32)
    zp = np.array([1, -2, 3], np.int8)
    inits = [numpy_helper.from_array(scale, "s"), numpy_helper.from_array(zp, "z"),
             numpy_helper.from_array(scale[::-1].copy(), "s2"), numpy_helper.from_array(zp, "z2")]
    nodes = [helper.make_node("DequantizeLinear", ["x", "s", "z"], ["xf"], axis=1),
             helper.make_node("Relu", ["xf"], ["y"]),
             helper.make_node("QuantizeLinear", ["y", "s2", "z2"], ["yq"], axis=1)]
    g = helper.make_graph(nodes, "pa", [helper.make_tensor_value_info("x", TensorProto.INT8, [1, 3, 4, 4])],
                          [helper.make_tensor_value_info("yq", TensorProto.INT8, [1, 3, 4, 4])], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, str(path))


def test_per_axis_onnx(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    _per_axis_model(tmp_path / "pa.onnx")
    info = mq.inspect_model(tmp_path / "pa.onnx")
    (i,), (o,) = info.inputs, info.outputs
    assert i.per_axis and i.axis == 1 and i.qdtype == "int8" and i.io == "integer"
    np.testing.assert_array_equal(i.scale, np.array([0.5, 0.25, 0.125], np.float32))
    np.testing.assert_array_equal(i.zero_point, np.array([1, -2, 3]))
    assert o.per_axis and o.axis == 1
    np.testing.assert_array_equal(o.scale, np.array([0.125, 0.25, 0.5], np.float32))
    assert i.qparams is None  # per-axis parameters have no single (scale, zp)
    assert "per-axis axis=1" in i.describe_quant()


def test_tflite_known_values(model_dir: Path) -> None:
    info = mq.inspect_model(model_dir / "colour_classifier_int8.tflite")
    assert info.format == "tflite" and info.operators == ["QUANTIZE", "CONV_2D", "RESHAPE"]
    (i,), (o,) = info.inputs, info.outputs
    assert (i.name, i.shape, i.dtype, i.io) == ("image_u8", (1, 16, 16, 3), "uint8", "integer")
    assert i.scale == np.float32(1 / 255) and i.zero_point == 0
    assert (o.name, o.shape, o.dtype) == ("logits", (1, 9), "int8")
    f = mq.inspect_model(model_dir / "colour_classifier_float.tflite")
    assert f.inputs[0].dtype == "float32" and not f.inputs[0].quantized and not f.quantized


def test_tables_and_json(model_dir: Path) -> None:
    import json

    for name in ("colour_classifier_int8.tflite", "colour_classifier_u8io.onnx", "colour_classifier.int8.onnx"):
        info = mq.inspect_model(model_dir / name)
        table = info.table()
        assert info.inputs[0].name in table and "scale=" in table
        d = json.loads(json.dumps(info.to_dict()))  # plain Python numbers only
        assert d["inputs"][0]["scale"] == [float(info.inputs[0].scale)]


def test_shipped_detector_is_reproducible() -> None:
    """The model shipped in mlxquant/data is exactly what tools/build_models.py builds."""
    pytest.importorskip("onnx")
    shipped = (DATA / "colour_detector.onnx").read_bytes()
    assert build_models().build_detector().SerializeToString() == shipped


def test_shipped_detector_spec() -> None:
    pytest.importorskip("onnx")
    info = mq.inspect_model(DATA / "colour_detector.onnx")
    assert info.inputs[0].shape == ("batch", 3, 256, 256)
    assert info.outputs[0].shape == ("batch", 12, 472)
    assert info.labels == ["black", "white", "red", "orange", "brown", "yellow", "green", "blue"]


def test_static_shape() -> None:
    t = TensorSpec("x", ("batch", 3, 8, 8), "float32")
    assert t.static_shape(4) == (4, 3, 8, 8)
    assert TensorSpec("x", (1, None, 8), "float32").static_shape() is None


# ------------------------------------------------------------------------------------------------------ errors
def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such model file"):
        mq.inspect_model(tmp_path / "nope.onnx")


def test_unknown_format(tmp_path: Path) -> None:
    p = tmp_path / "model.bin"
    p.write_bytes(b"hello world, not a model")
    with pytest.raises(mq.ModelFormatError, match="valid formats are: onnx, tflite"):
        mq.inspect_model(p)
    q = tmp_path / "model.tflite"
    q.write_bytes(b"hello world, not a model")
    with pytest.raises(mq.ModelFormatError, match="TFL3"):
        mq.inspect_model(q)


def test_corrupt_onnx(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    p = tmp_path / "bad.onnx"
    p.write_bytes(b"\xff\x00garbage" * 10)
    with pytest.raises(mq.ModelFormatError):
        mq.inspect_model(p)


def test_truncated_tflite_never_crashes(model_dir: Path, tmp_path: Path) -> None:
    """Every truncation of a valid file either parses or raises ModelFormatError — never IndexError/struct.error."""
    data = (model_dir / "colour_classifier_int8.tflite").read_bytes()
    p = tmp_path / "t.tflite"
    outcomes = set()
    for n in [*range(0, 64), *range(64, len(data), 97), len(data) - 1]:
        p.write_bytes(data[:n])
        try:
            mq.inspect_model(p)
            outcomes.add("ok")
        except mq.ModelFormatError:
            outcomes.add("error")
    assert "error" in outcomes


def test_missing_onnx_package(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` raise ImportError
    with pytest.raises(mq.MissingDependencyError, match=r"pip install 'mlxquant\[onnx\]'"):
        mq.inspect_model(model_dir / "colour_classifier.onnx")
    # TFLite needs no peer at all
    assert mq.inspect_model(model_dir / "colour_classifier_int8.tflite").inputs[0].dtype == "uint8"


def test_weights_tflite(model_dir: Path) -> None:
    info = mq.inspect_model(model_dir / "colour_classifier_int8.tflite")
    w = {t.name: t for t in info.weights}
    assert set(w) == {"colour_w", "colour_b"}  # the constant, quantized tensors (not activations, not the shape)
    assert w["colour_w"].per_axis and w["colour_w"].axis == 0 and w["colour_w"].scale.shape == (9,)
    assert w["colour_w"].io == "constant" and w["colour_w"].dtype == "int8"
    assert w["colour_b"].dtype == "int32"
    assert not mq.inspect_model(model_dir / "colour_classifier_float.tflite").weights


def test_weights_onnx_qdq(model_dir: Path) -> None:
    import onnx
    from onnx import numpy_helper

    path = model_dir / "colour_classifier.int8.onnx"
    info = mq.inspect_model(path)
    m = onnx.load(str(path))
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    conv_w = next(t for t in info.weights if t.shape == (9, 3, 1, 1))
    assert conv_w.per_axis and conv_w.axis == 0 and conv_w.qdtype == "int8"  # per-channel conv weights
    dq = next(n for n in m.graph.node if n.op_type == "DequantizeLinear" and n.input[0] == conv_w.name)
    np.testing.assert_array_equal(conv_w.scale, inits[dq.input[1]])
    assert not mq.inspect_model(model_dir / "colour_classifier.onnx").weights
    assert "weight" in info.table(weights=True) and "weight" not in info.table()


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 255)), min_size=1, max_size=8))
def test_mutated_tflite_never_crashes(tflite_bytes: bytes, mutations: list[tuple[int, int]]) -> None:
    """Random byte mutations of a valid model: it parses or raises ModelFormatError, never anything else (no
    IndexError / struct.error / MemoryError from a corrupt vector length)."""
    from mlxquant._tflite import read_tflite

    data = bytearray(tflite_bytes)
    for pos, val in mutations:
        data[pos % len(data)] = val
    try:
        read_tflite(bytes(data))
    except mq.ModelFormatError:
        pass


@pytest.fixture(scope="module")
def tflite_bytes(model_dir: Path) -> bytes:
    return (model_dir / "colour_classifier_int8.tflite").read_bytes()


@pytest.mark.parametrize(("name", "op", "probs"), [
    ("colour_classifier.onnx", "Gemm", False),
    ("colour_classifier_softmax.onnx", "Softmax", True),
    ("colour_classifier_softmax.int8.onnx", "Softmax", True),  # through DequantizeLinear ← QuantizeLinear
    ("colour_classifier_int8.tflite", "CONV_2D", False),  # through RESHAPE
    ("colour_classifier_softmax_int8.tflite", "SOFTMAX", True),
    ("colour_detector_int8.tflite", "CONCATENATION", False),
])
def test_output_ops(model_dir: Path, name: str, op: str, probs: bool) -> None:
    info = mq.inspect_model(model_dir / name)
    assert info.output_ops == [op] and info.outputs_are_probabilities == [probs]


def test_tflite_embedded_labels(model_dir: Path, tmp_path: Path) -> None:
    """Labels packed the TFLite-metadata way (a zip appended to the FlatBuffer) are read; LiteRT still runs it."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("labels.txt", "\n".join(build_models().COLOUR_NAMES) + "\n")
    path = tmp_path / "with_labels.tflite"
    path.write_bytes((model_dir / "colour_classifier_int8.tflite").read_bytes() + buf.getvalue())
    info = mq.inspect_model(path)
    assert info.labels == build_models().COLOUR_NAMES and info.metadata["labels_file"] == "labels.txt"
    assert info.inputs[0].dtype == "uint8"  # the FlatBuffer part is unaffected
    clf = mq.pipeline.Classifier(path)  # labels come from the file: no decode={"labels": ...} needed
    assert clf(np.full((20, 20, 3), (191, 31, 31), np.uint8)).labels[0] == "red"
    assert mq.inspect_model(model_dir / "colour_classifier_int8.tflite").labels is None


def test_qlinear_integer_io(tmp_path: Path) -> None:
    """A fully integer ONNX graph (QOperator style): uint8 input read by QLinearConv, uint8 output written by it."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    c = lambda name, v, dt: numpy_helper.from_array(np.array(v, dt), name)  # noqa: E731
    inits = [c("x_s", 1 / 255, np.float32), c("x_z", 3, np.uint8), c("w", np.full((2, 3, 1, 1), 130), np.uint8),
             c("w_s", 0.01, np.float32), c("w_z", 128, np.uint8), c("y_s", 0.05, np.float32), c("y_z", 7, np.uint8)]
    node = helper.make_node("QLinearConv", ["x", "x_s", "x_z", "w", "w_s", "w_z", "y_s", "y_z"], ["y"])
    g = helper.make_graph([node], "ql", [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, 3, 4, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.UINT8, [1, 2, 4, 4])], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    path = tmp_path / "qlinear.onnx"
    onnx.save(m, str(path))
    info = mq.inspect_model(path)
    (i,), (o,) = info.inputs, info.outputs
    assert (i.io, i.source, i.qparams) == ("integer", "QLinearConv", (float(np.float32(1 / 255)), 3))
    assert (o.io, o.source, o.qparams) == ("integer", "QLinearConv", (float(np.float32(0.05)), 7))
    ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])  # a model onnxruntime accepts


def _nhwc_conv_matmul(path: Path) -> None:
    """x [N, 8, 8, 3] float → Transpose → Conv (4 filters) → Relu → Flatten → MatMul [256, 5] → logits."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto as TP
    from onnx import helper as h
    from onnx import numpy_helper as nh

    rng = np.random.default_rng(0)
    inits = [nh.from_array(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), "W"),
             nh.from_array(rng.normal(size=(4,)).astype(np.float32), "B"),
             nh.from_array((rng.normal(size=(256, 5)) * 0.1).astype(np.float32), "G")]
    nodes = [h.make_node("Transpose", ["x"], ["xt"], perm=[0, 3, 1, 2]),
             h.make_node("Conv", ["xt", "W", "B"], ["c"], pads=[1, 1, 1, 1]), h.make_node("Relu", ["c"], ["r"]),
             h.make_node("Flatten", ["r"], ["f"]), h.make_node("MatMul", ["f", "G"], ["logits"])]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", TP.FLOAT, ["N", 8, 8, 3])],
                     [h.make_tensor_value_info("logits", TP.FLOAT, ["N", 5])], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, str(path))


def test_qoperator_weights_dynamic_and_nhwc_input(tmp_path: Path) -> None:
    """quantize_static QOperator (QLinearConv / QLinearMatMul read int8 initializers directly), quantize_dynamic
    (MatMulInteger / ConvInteger: no Q/DQ at the boundary) and an NHWC input transposed before its QuantizeLinear."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import numpy_helper as nh
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_dynamic, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            rng = np.random.default_rng(1)
            self.it = iter([{"x": rng.uniform(0, 1, (1, 8, 8, 3)).astype(np.float32)} for _ in range(4)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.it, None)

    f = tmp_path / "f.onnx"
    _nhwc_conv_matmul(f)
    for fmt in (QuantFormat.QOperator, QuantFormat.QDQ):
        q = tmp_path / f"q{fmt}.onnx"
        quantize_static(str(f), str(q), Reader(), quant_format=fmt, per_channel=True)
        info = mq.inspect_model(q)
        model = onnx.load(str(q))
        consts = {i.name: nh.to_array(i) for i in model.graph.initializer}
        qnode = next(n for n in model.graph.node if n.op_type == "QuantizeLinear")
        (x,) = info.inputs
        assert (x.source, x.io, x.axis) == ("QuantizeLinear", "float", None)
        assert x.scale == consts[qnode.input[1]] and x.zero_point == consts[qnode.input[2]]
        w = {t.name: t for t in info.weights}
        assert {"W_quantized", "G_quantized"} <= set(w), sorted(w)
        assert (w["W_quantized"].axis, w["W_quantized"].scale.shape, w["W_quantized"].dtype) == (0, (4,), "int8")
        assert (w["G_quantized"].axis, w["G_quantized"].scale.shape) == (1, (5,))
        np.testing.assert_array_equal(w["W_quantized"].scale, consts["W_scale"])
        np.testing.assert_array_equal(w["G_quantized"].scale, consts["G_scale"])
        wf = mq.dequantize(consts["W_quantized"], w["W_quantized"].scale, w["W_quantized"].zero_point, axis=0)
        w0 = nh.to_array(onnx.load(str(f)).graph.initializer[0])
        assert np.all(np.abs(wf - w0) <= w["W_quantized"].scale.reshape(-1, 1, 1, 1) / 2 + 1e-7)
    d = tmp_path / "dyn.onnx"
    quantize_dynamic(str(f), str(d))
    info = mq.inspect_model(d)
    assert info.quantized and not any(t.quantized for t in (*info.inputs, *info.outputs))


def test_output_dequantize_without_zero_point_takes_the_quantize_dtype(tmp_path: Path) -> None:
    """Opset 21: QuantizeLinear(output_dtype=int8, no zero point) → DequantizeLinear (no zero point) → float output:
    the values are int8 (DequantizeLinear's "uint8 without a zero point" default applies only to its own input type,
    which here is int8)."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto as TP
    from onnx import helper as h
    from onnx import numpy_helper as nh

    nodes = [h.make_node("QuantizeLinear", ["x", "s"], ["q"], output_dtype=TP.INT8),
             h.make_node("DequantizeLinear", ["q", "s"], ["y"])]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", TP.FLOAT, [1, 4])],
                     [h.make_tensor_value_info("y", TP.FLOAT, [1, 4])], [nh.from_array(np.array(0.1, np.float32), "s")])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 21)])
    m.ir_version = 10
    p = tmp_path / "odt.onnx"
    onnx.save(m, str(p))
    info = mq.inspect_model(p)
    assert (info.inputs[0].qdtype, info.outputs[0].qdtype) == ("int8", "int8")
    # the peer agrees: negative values survive the round trip (uint8 would clamp them to 0)
    (y,) = ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {"x": np.full((1, 4), -1.0,
                                                                                                   np.float32)})
    assert float(y.min()) < 0


def test_tflite_constant_with_dynamic_signature_keeps_its_shape(tmp_path: Path) -> None:
    """LiteRT reports a constant tensor's stored extents even when its shape_signature says -1 (only activations are
    dynamic): inspect_model's weights agree."""
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    w = build_models()._TFLiteWriter()
    x = w.tensor("x", [1, 4], 0)
    q = w.tensor("q", [1, 4], 9, scale=0.1, zp=1)
    y = w.tensor("y", [1, 4], 0)
    w.op(114, [x], [q])
    w.op(6, [q], [y])
    c = w.tensor("c", [3, 2], 9, np.arange(6, dtype=np.int8).reshape(3, 2), scale=[0.5, 0.25], zp=[0, 0], qdim=1)
    for t in w.tensors:
        t.shapeSignature = [-1, *t.shape[1:]]
    p = tmp_path / "m.tflite"
    p.write_bytes(w.finish([x], [y], "signature"))
    details = {d["name"]: d for d in litert.Interpreter(model_path=str(p)).get_tensor_details()}
    info = mq.inspect_model(p)
    (wc,) = info.weights
    assert wc.shape == tuple(details["c"]["shape"].tolist()) == (3, 2) and wc.axis == 1
    assert info.inputs[0].shape == (None, 4) and details["x"]["shape_signature"].tolist() == [-1, 4]
    assert c == 3


def test_tensor_spec_equality_and_repr_include_the_parameters() -> None:
    """Two specs that differ only in scale or zero point are different specs (the generated dataclass __eq__ skipped
    the array fields), and the repr shows the parameters."""
    def spec(s: float, z: int) -> TensorSpec:
        return TensorSpec("x", (1, 4), "uint8", np.float32(s), np.int64(z), qdtype="uint8", io="integer")

    assert spec(0.1, 3) == spec(0.1, 3) and hash(spec(0.1, 3)) == hash(spec(0.1, 3))
    assert spec(0.1, 3) != spec(0.2, 3) and spec(0.1, 3) != spec(0.1, 4)
    assert spec(0.1, 3) != TensorSpec("x", (1, 4), "uint8", qdtype="uint8", io="integer")
    per_axis = TensorSpec("w", (2, 3), "int8", np.float32([1, 2]), np.zeros(2, np.int64), axis=0, qdtype="int8")
    assert per_axis != TensorSpec("w", (2, 3), "int8", np.float32([1, 3]), np.zeros(2, np.int64), axis=0, qdtype="int8")
    assert "scale=0.1 zp=3" in repr(spec(0.1, 3))


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("names", "{0: 'cat', 1: 'dog'}", ["cat", "dog"]),  # Ultralytics
    ("labels", '["cat", "dog"]', ["cat", "dog"]),  # a JSON list
    ("classes", '{"1": "dog", "0": "cat"}', ["cat", "dog"]),  # a JSON object: string keys
    ("class_names", "cat\ndog\n", ["cat", "dog"]),  # one per line
    ("labels", "not a list", None),
])
def test_labels_from_common_metadata_keys(key: str, value: str, expected: list[str] | None) -> None:
    info = ModelInfo("m.onnx", "onnx", [], [], metadata={key: value})
    assert info.labels == expected


def test_output_parameters_through_layout_operators(tmp_path: Path) -> None:
    """QuantizeLinear → Reshape → int8 output and DequantizeLinear → Identity → float output: the parameters before
    the layout operators describe the outputs; onnxruntime agrees (the int8 codes dequantize to the float output)."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto as TP
    from onnx import helper as h
    from onnx import numpy_helper as nh

    nodes = [h.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]), h.make_node("Reshape", ["q", "shp"], ["y"]),
             h.make_node("DequantizeLinear", ["q", "s", "z"], ["f"]), h.make_node("Identity", ["f"], ["yf"])]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", TP.FLOAT, [1, 4])],
                     [h.make_tensor_value_info("y", TP.INT8, [4]), h.make_tensor_value_info("yf", TP.FLOAT, [1, 4])],
                     [nh.from_array(np.array(0.1, np.float32), "s"), nh.from_array(np.array(-3, np.int8), "z"),
                      nh.from_array(np.array([4], np.int64), "shp")])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 13)])
    m.ir_version = 8
    p = tmp_path / "o.onnx"
    onnx.save(m, str(p))
    y, yf = mq.inspect_model(p).outputs
    assert (y.io, y.source, y.qparams, y.qdtype) == ("integer", "QuantizeLinear", (float(np.float32(0.1)), -3), "int8")
    assert (yf.io, yf.source, yf.qparams) == ("float", "DequantizeLinear", (float(np.float32(0.1)), -3))
    x = np.array([[-1.0, 0.04, 0.35, 2.0]], np.float32)
    qy, fy = ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    np.testing.assert_array_equal(mq.dequantize(qy, y.scale, y.zero_point), fy.reshape(-1))


def test_integer_input_through_layout_operators(tmp_path: Path) -> None:
    """uint8 NHWC input → Transpose → DequantizeLinear: the caller feeds codes with that node's parameters."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto as TP
    from onnx import helper as h
    from onnx import numpy_helper as nh

    nodes = [h.make_node("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2]),
             h.make_node("DequantizeLinear", ["t", "s", "z"], ["y"])]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", TP.UINT8, [1, 2, 2, 3])],
                     [h.make_tensor_value_info("y", TP.FLOAT, [1, 3, 2, 2])],
                     [nh.from_array(np.array(1 / 255, np.float32), "s"), nh.from_array(np.array(7, np.uint8), "z")])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 13)])
    m.ir_version = 8
    p = tmp_path / "i.onnx"
    onnx.save(m, str(p))
    (x,) = mq.inspect_model(p).inputs
    assert (x.io, x.source, x.qparams, x.qdtype) == ("integer", "DequantizeLinear", (float(np.float32(1 / 255)), 7),
                                                     "uint8")
    codes = np.arange(12, dtype=np.uint8).reshape(1, 2, 2, 3)
    (y,) = ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {"x": codes})
    np.testing.assert_array_equal(mq.dequantize(codes, x.scale, x.zero_point).transpose(0, 3, 1, 2), y)
