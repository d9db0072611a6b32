"""The runtime adapters: strict feeds, batch handling, missing extras."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import mlxquant as mq
from mlxquant.runtimes import LiteRTRuntime, OnnxRuntime, check_feed, load_runtime


def test_auto_picks_by_format(model_dir: Path) -> None:
    assert isinstance(load_runtime(model_dir / "colour_classifier.onnx"), OnnxRuntime)
    assert isinstance(load_runtime(model_dir / "colour_classifier_int8.tflite"), LiteRTRuntime)


def test_wrong_runtime_for_format(model_dir: Path) -> None:
    with pytest.raises(mq.InvalidArgumentError, match="cannot run a onnx model"):
        load_runtime(model_dir / "colour_classifier.onnx", runtime="litert")
    with pytest.raises(mq.InvalidArgumentError, match="valid values are: auto, onnxruntime, litert"):
        load_runtime(model_dir / "colour_classifier.onnx", runtime="tensorrt")


def test_float_fed_to_uint8_model_is_caught(model_dir: Path) -> None:
    for name in ("colour_classifier_u8io.onnx", "colour_classifier_int8.tflite"):
        rt = load_runtime(model_dir / name)
        shape = rt.inputs[0].static_shape(1)
        with pytest.raises(mq.InputTypeError, match=r"expects dtype uint8, got float32.*quantize the float tensor"):
            rt.run(np.zeros(shape, np.float32))


def test_uint8_fed_to_float_model_is_caught(model_dir: Path) -> None:
    rt = load_runtime(model_dir / "colour_classifier.onnx")
    with pytest.raises(mq.InputTypeError, match="model takes floats"):
        rt.run(np.zeros((1, 3, 64, 64), np.uint8))


def test_shape_is_checked(model_dir: Path) -> None:
    rt = load_runtime(model_dir / "colour_classifier.onnx")
    with pytest.raises(mq.ShapeError, match=r"expected \(\*, 3, 64, 64\)"):
        rt.run(np.zeros((1, 64, 64, 3), np.float32))
    with pytest.raises(mq.InputTypeError, match="missing model input 'input'"):
        rt.run({"x": np.zeros((1, 3, 64, 64), np.float32)})


def test_batch_one_model_runs_a_batch(model_dir: Path) -> None:
    rt = load_runtime(model_dir / "colour_classifier_int8.tflite")
    x = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    (y,) = rt.run(x)
    assert y.shape == (3, 9) and y.dtype == np.int8
    for i in range(3):
        np.testing.assert_array_equal(rt.run(x[i:i + 1])[0][0], y[i])


def test_feed_not_mutated_and_mlx_accepted(model_dir: Path) -> None:
    mx = pytest.importorskip("mlx.core")
    rt = load_runtime(model_dir / "colour_classifier.onnx")
    x = np.random.default_rng(0).random((2, 3, 64, 64), dtype=np.float32)
    x0 = x.copy()
    (a,) = rt.run(x)
    (b,) = rt.run(mx.array(x))
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(a, b)


def test_check_feed_spec() -> None:
    spec = mq.models.TensorSpec("x", (1, 4), "float32")
    assert check_feed(spec, np.zeros((5, 4), np.float32)).shape == (5, 4)  # batch-1 models loop over a batch
    with pytest.raises(mq.ShapeError):
        check_feed(spec, np.zeros((5, 3), np.float32))


@pytest.mark.parametrize(("module", "name", "extra"), [("onnxruntime", "colour_classifier.onnx", "onnx"),
                                                       ("ai_edge_litert", "colour_classifier_int8.tflite", "litert")])
def test_missing_runtime_names_the_extra(model_dir: Path, monkeypatch: pytest.MonkeyPatch, module: str, name: str,
                                         extra: str) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    if module == "ai_edge_litert":
        monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    with pytest.raises(mq.MissingDependencyError, match=rf"pip install 'mlxquant\[{extra}\]'"):
        load_runtime(model_dir / name)


def test_litert_dynamic_batch_is_resized(tmp_path: Path) -> None:
    """A .tflite input with shape_signature [-1, 4] is allocated as [1, 4]: a batch of 3 must resize it, not fail."""
    pytest.importorskip("ai_edge_litert")
    from ..models.fixtures import build_models

    w = build_models()._TFLiteWriter()
    x = w.tensor("x", [1, 4], 0)
    q = w.tensor("q", [1, 4], 9, scale=0.05, zp=-3)
    y = w.tensor("y", [1, 4], 0)
    w.op(114, [x], [q])  # QUANTIZE
    w.op(6, [q], [y])  # DEQUANTIZE
    for t in w.tensors:
        t.shapeSignature = [-1, 4]
    path = tmp_path / "dyn.tflite"
    path.write_bytes(w.finish([x], [y], "dynamic batch"))
    rt = load_runtime(path)
    assert rt.inputs[0].shape == (None, 4)
    xs = np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4)
    (out,) = rt.run(xs)
    assert out.shape == (3, 4)
    np.testing.assert_array_equal(out, (np.clip(np.round(xs / np.float32(0.05)) - 3, -128, 127) + 3) * np.float32(0.05))
    (one,) = rt.run(xs[:1])  # and back to a batch of one
    np.testing.assert_array_equal(one, out[:1])


def test_ort_quantize_static_skips_initializers_listed_as_inputs(tmp_path: Path) -> None:
    """Old exporters (IR < 4) list every initializer among the graph inputs, sometimes before the real input: the
    calibration feeds the first input that is not an initializer."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto as TP
    from onnx import helper as h
    from onnx import numpy_helper as nh

    from mlxquant.runtimes import ort_quantize_static

    w = nh.from_array(np.random.default_rng(0).normal(size=(2, 3, 1, 1)).astype(np.float32), "W")
    g = h.make_graph([h.make_node("Conv", ["x", "W"], ["y"])], "g",
                     [h.make_tensor_value_info("W", TP.FLOAT, [2, 3, 1, 1]),
                      h.make_tensor_value_info("x", TP.FLOAT, [1, 3, 4, 4])],
                     [h.make_tensor_value_info("y", TP.FLOAT, [1, 2, 4, 4])], [w])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 13)])
    m.ir_version = 7
    f = tmp_path / "f.onnx"
    onnx.save(m, str(f))
    cal = np.random.default_rng(1).uniform(0, 1, (3, 3, 4, 4)).astype(np.float32)
    q = ort_quantize_static(f, tmp_path / "q.onnx", cal)
    info = mq.inspect_model(q)
    assert [t.name for t in info.inputs] == ["x"] and info.inputs[0].source == "QuantizeLinear"
