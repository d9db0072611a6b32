"""Quantize LLM weights for on-device inference: MLX 4-bit, GGUF Q4_0, and a whole checkpoint for mlx-lm.

Run: ``python examples/llm_weights.py`` (needs only NumPy; uses MLX for the last check when it is installed).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

import mlxquant as mq
from mlxquant.checkpoint import format_report
from mlxquant.checkpoint_io import write_safetensors


def main() -> None:
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((512, 1024)) * 0.02).astype(np.float32)

    # 1. MLX's format, computed by NumPy: the same bits mx.quantize produces
    wq, scales, biases = mq.mlx_quantize(w, group_size=64, bits=4)
    w_hat = mq.mlx_dequantize(wq, scales, biases, group_size=64, bits=4)
    print(f"mlx affine 4-bit: {wq.shape} uint32 + scales {scales.shape}; max |err| {np.abs(w_hat - w).max():.2e}")

    # 2. a self-describing tensor that refuses to be quantized twice
    qt = mq.QuantizedTensor.quantize(w, group_size=64, bits=4)
    print(qt, f"{qt.bits_per_weight:.2f} bits/weight")
    try:
        mq.QuantizedTensor.quantize(qt)
    except mq.AlreadyQuantizedError as e:
        print("refused:", e)

    # 3. GGUF Q4_0 blocks, byte for byte what llama.cpp's reference quantizer writes
    blocks = mq.gguf_quantize(w, "Q4_0")
    print(f"GGUF Q4_0: {blocks.shape} bytes; max |err| {np.abs(mq.gguf_dequantize(blocks, 'Q4_0') - w).max():.2e}")

    # 4. a width that no group size divides (4304 = 16·269): choose a policy explicitly
    odd = rng.standard_normal((8, 4304)).astype(np.float32)
    try:
        mq.mlx_quantize(odd, 64, 4)
    except mq.ShapeError as e:
        print("4304 wide:", str(e).split(";")[0])
    wq_pad, s_pad, b_pad = mq.mlx_quantize(odd, 64, 4, policy="pad")
    print("  padded:", mq.mlx_dequantize(wq_pad, s_pad, b_pad, 64, 4, width=4304).shape)

    # 5. a whole (toy) checkpoint → an mlx-lm loadable folder, with mlx-lm's mixed_4_6 recipe
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "model"
        src.mkdir()
        tensors = {"model.embed_tokens.weight": rng.standard_normal((1000, 256)).astype(np.float16)}
        for i in range(4):
            for name, shape in [("self_attn.v_proj", (256, 256)), ("mlp.down_proj", (256, 512))]:
                tensors[f"model.layers.{i}.{name}.weight"] = (rng.standard_normal(shape) * 0.02).astype(np.float16)
            tensors[f"model.layers.{i}.input_layernorm.weight"] = np.ones(256, np.float16)
        write_safetensors(src / "model.safetensors", tensors)
        (src / "config.json").write_text(json.dumps({"model_type": "llama", "num_hidden_layers": 4}))
        report = mq.quantize_checkpoint(src, Path(d) / "model-4bit", recipe="mixed_4_6", progress=False)
        print(format_report(report, max_rows=6))
        cfg = json.loads((Path(d) / "model-4bit" / "config.json").read_text())
        print("config quantization:", {k: v for k, v in list(cfg["quantization"].items())[:4]})
        try:
            import mlx.core as mx
            import mlx.nn as nn
        except ImportError:
            return
        weights = mx.load(str(Path(d) / "model-4bit" / "model.safetensors"))
        layer = nn.QuantizedLinear(512, 256, bias=False, group_size=64, bits=6)
        p = "model.layers.3.mlp.down_proj"  # 6 bits in mixed_4_6 (the last eighth of the layers)
        layer.load_weights([(k, weights[f"{p}.{k}"]) for k in ("weight", "scales", "biases")])
        print("QuantizedLinear output:", layer(mx.ones((1, 512), dtype=mx.float16)).shape)


if __name__ == "__main__":
    main()
