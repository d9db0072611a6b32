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
