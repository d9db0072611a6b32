"""mlxquant's own TFLite FlatBuffer reader against the LiteRT interpreter's view of the same file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mlxquant as mq
from mlxquant._tflite import read_tflite

from ..models.fixtures import model_dir  # noqa: F401

pytestmark = pytest.mark.peers

litert = pytest.importorskip("ai_edge_litert.interpreter")

MODELS = ["colour_classifier_int8.tflite", "colour_classifier_float.tflite", "colour_detector_int8.tflite",
          "colour_detector_float.tflite", "colour_detector_int8_pixelboxes.tflite"]


def _interp(path: Path):
    it = litert.Interpreter(model_path=str(path))
    it.allocate_tensors()
    return it


@pytest.mark.parametrize("name", MODELS)
def test_every_tensor_matches_litert(model_dir: Path, name: str) -> None:  # noqa: F811
    """Name, shape, dtype, scales, zero points and quantized_dimension of *every* tensor (per-channel weights too)."""
    path = model_dir / name
    ours = read_tflite(path.read_bytes())
    theirs = sorted(_interp(path).get_tensor_details(), key=lambda d: d["index"])
    assert len(theirs) == len(ours.tensors)
    for t, d in zip(ours.tensors, theirs, strict=True):
        assert t.name == d["name"]
        assert t.shape == tuple(int(v) for v in d["shape"])
        assert np.dtype(t.dtype) == np.dtype(d["dtype"])
        qp = d["quantization_parameters"]
        assert t.scale.shape == qp["scales"].shape and t.zero_point.shape == qp["zero_points"].shape
        np.testing.assert_array_equal(t.scale, qp["scales"])
        np.testing.assert_array_equal(t.zero_point, qp["zero_points"].astype(np.int64))
        assert t.quantized_dimension == qp["quantized_dimension"]
    per_channel = [t for t in ours.tensors if t.scale.size > 1]
    assert (len(per_channel) > 0) == ("int8" in name)  # the int8 conv has per-channel weights and bias


@pytest.mark.parametrize("name", MODELS)
def test_inputs_outputs_match_litert(model_dir: Path, name: str) -> None:  # noqa: F811
    path = model_dir / name
    info = mq.inspect_model(path)
    it = _interp(path)
    for specs, details in ((info.inputs, it.get_input_details()), (info.outputs, it.get_output_details())):
        assert [s.name for s in specs] == [d["name"] for d in details]
        for s, d in zip(specs, details, strict=True):
            assert s.shape == tuple(int(v) for v in d["shape_signature"])
            assert np.dtype(s.dtype) == np.dtype(d["dtype"])
            scale, zp = d["quantization"]
            if s.quantized:
                assert s.qparams == (float(np.float32(scale)), zp)
            else:
                assert scale == 0.0


def test_int8_model_runs_like_its_params_say(model_dir: Path) -> None:  # noqa: F811
    """Dequantizing LiteRT's int8 output with the parameters inspect_model read agrees with the float twin."""
    bm_images = np.random.default_rng(0).random((4, 16, 16, 3), dtype=np.float32)
    q = mq.inspect_model(model_dir / "colour_classifier_int8.tflite")
    s_in, z_in = q.inputs[0].qparams
    s_out, z_out = q.outputs[0].qparams
    iq, fl = _interp(model_dir / "colour_classifier_int8.tflite"), _interp(model_dir / "colour_classifier_float.tflite")
    for x in bm_images:
        xq = np.clip(np.round(x / s_in) + z_in, 0, 255).astype(np.uint8)[None]
        iq.set_tensor(iq.get_input_details()[0]["index"], xq)
        iq.invoke()
        yq = iq.get_tensor(iq.get_output_details()[0]["index"]).astype(np.float32)
        fl.set_tensor(fl.get_input_details()[0]["index"], ((xq.astype(np.float32) - z_in) * s_in))
        fl.invoke()
        yf = fl.get_tensor(fl.get_output_details()[0]["index"])
        np.testing.assert_allclose((yq - z_out) * s_out, yf, atol=1.5 * s_out)  # ≤ 1.5 output steps


def test_depthwise_quantized_dimension_3(tmp_path: Path) -> None:
    """Per-channel depthwise weights carry quantized_dimension 3 (TFLite spec): read it like LiteRT does."""
    from ..models.fixtures import build_models

    bm = build_models()
    wr = bm._TFLiteWriter()
    s = wr.s
    tt = s.TensorType
    t_u8 = wr.tensor("x_u8", [1, 4, 4, 2], tt.UINT8, scale=np.float32(1 / 255), zp=0)
    t_i8 = wr.tensor("x_i8", [1, 4, 4, 2], tt.INT8, scale=np.float32(1 / 255), zp=-128)
    w_q = np.array([[[[100, -50]]]], np.int8)  # [1, kh, kw, channels]
    w_s = np.array([0.01, 0.02], np.float32)
    t_w = wr.tensor("dw_w", [1, 1, 1, 2], tt.INT8, w_q, scale=w_s, zp=np.zeros(2, np.int64), qdim=3)
    b_s = (np.float32(1 / 255) * w_s).astype(np.float32)
    t_b = wr.tensor("dw_b", [2], tt.INT32, np.array([7, -3], np.int32), scale=b_s, zp=np.zeros(2, np.int64), qdim=0)
    t_out = wr.tensor("y", [1, 4, 4, 2], tt.INT8, scale=np.float32(0.01), zp=3)
    opt = s.DepthwiseConv2DOptionsT()
    opt.padding, opt.strideW, opt.strideH, opt.depthMultiplier = s.Padding.VALID, 1, 1, 1
    opt.dilationWFactor = opt.dilationHFactor = 1
    wr.op(s.BuiltinOperator.QUANTIZE, [t_u8], [t_i8])
    wr.op(s.BuiltinOperator.DEPTHWISE_CONV_2D, [t_i8, t_w, t_b], [t_out], s.BuiltinOptions.DepthwiseConv2DOptions, opt)
    path = tmp_path / "dw.tflite"
    path.write_bytes(wr.finish([t_u8], [t_out], "depthwise"))
    theirs = {d["name"]: d for d in _interp(path).get_tensor_details()}
    ours = {t.name: t for t in read_tflite(path.read_bytes()).tensors}
    assert ours["dw_w"].quantized_dimension == theirs["dw_w"]["quantization_parameters"]["quantized_dimension"] == 3
    np.testing.assert_array_equal(ours["dw_w"].scale, theirs["dw_w"]["quantization_parameters"]["scales"])
    w = {t.name: t for t in mq.inspect_model(path).weights}["dw_w"]
    assert w.axis == 3 and w.per_axis
    assert mq.inspect_model(path).operators == ["QUANTIZE", "DEPTHWISE_CONV_2D"]


@pytest.mark.parametrize("seed", range(12))
def test_random_tensor_zoo_matches_litert(tmp_path: Path, seed: int) -> None:
    """Random extra tensors (int8 / uint8 / int16 / int32 / int64 / float32 / float16; constant or not; unquantized,
    per-tensor or per-channel along a random quantized_dimension; some with a -1 shape signature) next to a small
    QUANTIZE → DEQUANTIZE graph: every tensor's name, shape, dtype, scales, zero points and quantized_dimension as
    LiteRT reports them, and the quantized constants in ModelInfo.weights with LiteRT's parameters and shape."""
    from ..models.fixtures import build_models

    types = {9: np.int8, 3: np.uint8, 7: np.int16, 2: np.int32, 4: np.int64, 0: np.float32, 1: np.float16}
    rng = np.random.default_rng(seed)
    w = build_models()._TFLiteWriter()
    x = w.tensor("x", [1, 4], 0)
    q = w.tensor("q", [1, 4], 9, scale=0.1, zp=int(rng.integers(-128, 128)))
    y = w.tensor("y", [1, 4], 0)
    w.op(114, [x], [q])
    w.op(6, [q], [y])
    for k in range(6):
        tt = int(rng.choice(list(types)))
        shape = [int(v) for v in rng.integers(1, 5, int(rng.integers(1, 4)))]
        data = rng.integers(-5, 5, shape).astype(types[tt]) if rng.random() < 0.7 else None
        kind = int(rng.integers(0, 3))
        if kind == 0:
            w.tensor(f"t{k}", shape, tt, data)
        elif kind == 1:
            w.tensor(f"t{k}", shape, tt, data, scale=float(rng.uniform(1e-4, 2)), zp=int(rng.integers(-100, 100)))
        else:
            ax = int(rng.integers(0, len(shape)))
            w.tensor(f"t{k}", shape, tt, data, scale=rng.uniform(1e-4, 2, shape[ax]).astype(np.float32),
                     zp=rng.integers(-3, 3, shape[ax]), qdim=ax)
        if rng.random() < 0.3:
            w.tensors[-1].shapeSignature = [-1, *shape[1:]]
    p = tmp_path / "zoo.tflite"
    p.write_bytes(w.finish([x], [y], f"zoo {seed}"))
    m = read_tflite(p.read_bytes())
    weights = {t.name: t for t in mq.inspect_model(p).weights}
    details = _interp(p).get_tensor_details()
    assert len(details) == len(m.tensors)
    for d in details:
        t = m.tensors[d["index"]]
        qp = d["quantization_parameters"]
        assert (t.name, list(t.shape), t.dtype) == (d["name"], d["shape"].tolist(), np.dtype(d["dtype"]).name)
        np.testing.assert_array_equal(t.scale, qp["scales"])
        np.testing.assert_array_equal(t.zero_point, qp["zero_points"])
        assert t.quantized_dimension == qp["quantized_dimension"]
        if t.name in weights:
            spec = weights[t.name]
            assert spec.shape == tuple(d["shape"].tolist()) and spec.io == "constant"
            if spec.axis is None:
                assert spec.qparams == (float(np.float32(d["quantization"][0])), int(d["quantization"][1]))
            else:
                assert spec.axis == qp["quantized_dimension"]
                np.testing.assert_array_equal(spec.scale, qp["scales"])
        elif t.is_constant and qp["scales"].size and np.any(qp["scales"]):
            raise AssertionError(f"quantized constant {t.name!r} missing from ModelInfo.weights")
