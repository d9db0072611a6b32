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
          "colour_detector_float.tflite"]


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
