"""Regressions found in the adversarial review of issue 3 that need no peer: mode-aware defaults everywhere
(``mode="mxfp4"`` alone must work, as in ``mx.quantize``) and QuantizedTensor giving back its original dtype."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlxquant import InvalidArgumentError
from mlxquant.checkpoint import plan_checkpoint, quantize_checkpoint
from mlxquant.checkpoint_io import write_safetensors
from mlxquant.quant.tensor import QuantizedTensor
from tests.helpers import as_backend


@pytest.mark.parametrize(("mode", "group", "bits"), [("mxfp4", 32, 4), ("mxfp8", 32, 8), ("nvfp4", 16, 4),
                                                     ("affine", 64, 4)])
def test_checkpoint_defaults_follow_the_mode(tmp_path, mode, group, bits):
    w = np.random.default_rng(0).standard_normal((32, 128)).astype(np.float32)
    write_safetensors(tmp_path / "in.safetensors", {"l.weight": w})
    plans = plan_checkpoint(tmp_path / "in.safetensors", mode=mode)
    assert (plans[0].bits, plans[0].group_size, plans[0].mode) == (bits, group, mode)
    rep = quantize_checkpoint(tmp_path / "in.safetensors", tmp_path / "out", mode=mode, backend="numpy")
    cfg = json.loads((tmp_path / "out" / "config.json").read_text())
    assert cfg["quantization"] == {"group_size": group, "bits": bits, "mode": mode}
    assert rep.rows[0]["group_size"] == group and rep.rows[0]["bits"] == bits
    # an explicit value that does not fit the mode is still refused, naming the valid values
    with pytest.raises(InvalidArgumentError, match="valid values are"):
        plan_checkpoint(tmp_path / "in.safetensors", mode=mode, group_size=128 if mode != "affine" else 16)


@pytest.mark.parametrize(("mode", "group"), [("mxfp4", 32), ("mxfp8", 32), ("nvfp4", 16)])
def test_quantized_tensor_defaults_follow_the_mode(mode, group, backend):
    w = np.random.default_rng(1).standard_normal((4, 64)).astype(np.float32)
    qt = QuantizedTensor.quantize(as_backend(w, backend), mode=mode)
    assert qt.group_size == group and qt.mode == mode and qt.biases is None
    # dequantize() gives back the original dtype (mx.dequantize's own default for these modes is bfloat16)
    out = qt.dequantize()
    assert str(out.dtype).split(".")[-1] == "float32"
    assert tuple(out.shape) == (4, 64)
    assert str(qt.dequantize("float16").dtype).split(".")[-1] == "float16"


def test_quantized_tensor_dequantize_dtype_float16_original(backend):
    w = np.random.default_rng(2).standard_normal((4, 64)).astype(np.float16)
    for mode in ("affine", "mxfp4"):
        out = QuantizedTensor.quantize(as_backend(w, backend), mode=mode).dequantize()
        assert str(out.dtype).split(".")[-1] == "float16", mode


def test_quantized_tensor_keeps_the_nvfp4_global_scale(backend):
    from mlxquant.quant.formats.mlx import mlx_dequantize, mlx_quantize

    w = np.random.default_rng(3).standard_normal((4, 64)).astype(np.float32)
    qt = QuantizedTensor.quantize(as_backend(w, backend), mode="nvfp4", global_scale=0.37)
    assert qt.meta["global_scale"] == float(np.float32(0.37))
    ref = mlx_dequantize(*mlx_quantize(w, mode="nvfp4", global_scale=0.37), mode="nvfp4", global_scale=0.37)
    np.testing.assert_array_equal(np.array(qt.dequantize()), ref)
