"""quantize_checkpoint and `mlxquant quantize-weights`: MLX loadability, recipes, skips, errors, atomic output."""

from __future__ import annotations

import json
import os
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from mlxquant import AlreadyQuantizedError, InvalidArgumentError, ModelFormatError, ShapeError
from mlxquant.checkpoint import RECIPES, plan_checkpoint, quantize_checkpoint
from mlxquant.checkpoint_io import list_tensors, read_tensor, write_safetensors
from mlxquant.cli import main

ml_dtypes = pytest.importorskip("ml_dtypes")

L = 8  # layers of the toy model


def _toy(folder: Path, dtype=np.float32, layers: int = L, width: int = 128, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    t: dict[str, np.ndarray] = {"model.embed_tokens.weight": rng.standard_normal((256, width))}
    for i in range(layers):
        for n, s in [("self_attn.q_proj", (width, width)), ("self_attn.v_proj", (64, width)),
                     ("mlp.down_proj", (width, 2 * width)), ("mlp.up_proj", (2 * width, width))]:
            t[f"model.layers.{i}.{n}.weight"] = rng.standard_normal(s) * 0.02
        t[f"model.layers.{i}.self_attn.q_proj.bias"] = rng.standard_normal(width)
        t[f"model.layers.{i}.input_layernorm.weight"] = np.ones(width)
    t["model.norm.weight"] = np.ones(width)
    t["lm_head.weight"] = rng.standard_normal((256, width))
    t = {k: v.astype(dtype) for k, v in t.items()}
    folder.mkdir(parents=True, exist_ok=True)
    write_safetensors(folder / "model.safetensors", t)
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", "num_hidden_layers": layers}))
    (folder / "tokenizer.json").write_text("{}")
    return t


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_mlx_loads_output_and_quantized_matmul_agrees(tmp_path, dtype):
    mx = pytest.importorskip("mlx.core")
    nn = pytest.importorskip("mlx.nn")
    np_dtype = ml_dtypes.bfloat16 if dtype == "bfloat16" else np.dtype(dtype)
    src = _toy(tmp_path / "src", np_dtype)
    rep = quantize_checkpoint(tmp_path / "src", tmp_path / "out", backend="numpy")
    out = tmp_path / "out"
    assert sorted(os.listdir(out)) == ["config.json", "model.safetensors", "quantize_report.json", "tokenizer.json"]
    w = mx.load(str(out / "model.safetensors"))
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["quantization"] == {"group_size": 64, "bits": 4, "mode": "affine"}
    assert cfg["model_type"] == "llama"
    # kept tensors are unchanged, bit for bit (bf16 included)
    kept = ("model.embed_tokens.weight", "lm_head.weight", "model.norm.weight", "model.layers.0.self_attn.q_proj.bias")
    for k in kept:
        assert w[k].dtype == getattr(mx, dtype)
        got = np.array(w[k].astype(mx.float32))
        np.testing.assert_array_equal(got, src[k].astype(np.float32))
    name = "model.layers.3.mlp.down_proj"
    assert w[f"{name}.weight"].dtype == mx.uint32
    assert w[f"{name}.scales"].dtype == getattr(mx, dtype) and w[f"{name}.biases"].dtype == getattr(mx, dtype)
    # the written weights are exactly what mx.quantize gives for the same weights
    ref = mx.quantize(mx.array(src[f"{name}.weight"].astype(np.float32)).astype(getattr(mx, dtype)), 64, 4)
    for part, r in zip(("weight", "scales", "biases"), ref, strict=True):
        assert mx.array_equal(w[f"{name}.{part}"], r).item(), part
    # they load into nn.QuantizedLinear, and quantized_matmul equals x @ dequantized(W).T
    out_f, in_f = src[f"{name}.weight"].shape
    layer = nn.QuantizedLinear(in_f, out_f, bias=False, group_size=64, bits=4)
    layer.load_weights([("weight", w[f"{name}.weight"]), ("scales", w[f"{name}.scales"]),
                        ("biases", w[f"{name}.biases"])])
    # float32 activations: quantized_matmul promotes the fp16/bf16 scales to float32 (with fp16/bf16 activations
    # MLX's CPU kernel accumulates in that dtype, which only measures its rounding, not our weights)
    x = mx.random.normal((5, in_f), key=mx.random.key(0)).astype(mx.float32)
    y = layer(x)
    assert y.dtype == mx.float32
    # the dequantized weight, computed in float32 as the kernel does after promoting the scales and biases
    wdq = mx.dequantize(w[f"{name}.weight"], w[f"{name}.scales"].astype(mx.float32),
                        w[f"{name}.biases"].astype(mx.float32), 64, 4)
    y_ref = x @ wdq.T
    y_qmm = mx.quantized_matmul(x, w[f"{name}.weight"], w[f"{name}.scales"], w[f"{name}.biases"], transpose=True,
                                group_size=64, bits=4)
    # tolerance: float32 summation order differs between the quantized kernel and the matmul (K = 256 terms)
    tol = 1e-5 * float(mx.abs(y_ref).max().item())
    np.testing.assert_allclose(np.array(y), np.array(y_ref), rtol=1e-4, atol=tol)
    np.testing.assert_allclose(np.array(y_qmm), np.array(y_ref), rtol=1e-4, atol=tol)
    rows = {r["name"]: r for r in rep.rows}
    assert rows[f"{name}.weight"]["action"] == "quantize" and rows[f"{name}.weight"]["sqnr_db"] > 15
    assert rows["lm_head.weight"]["action"] == "keep" and "lm_head" in rows["lm_head.weight"]["reason"]
    assert rows["model.embed_tokens.weight"]["action"] == "keep"
    assert rows["model.norm.weight"]["reason"] in ("1-D", "norm")
    assert rep.compression > 1


def test_recipe_matches_mlx_lm_predicate(tmp_path):
    _toy(tmp_path / "src", layers=L)
    for recipe, (low, high) in RECIPES.items():
        plans = {p.name: p for p in plan_checkpoint(tmp_path / "src", recipe=recipe, quantize_lm_head=True,
                                                    quantize_embeddings=True)}
        for i in range(L):
            # mlx-lm mixed_quant_predicate, written out: first/last eighth and every third layer get more bits
            more = i < L // 8 or i >= 7 * L // 8 or (i - L // 8) % 3 == 2
            for n in ("self_attn.v_proj", "mlp.down_proj"):
                assert plans[f"model.layers.{i}.{n}.weight"].bits == (high if more else low), (recipe, i, n)
            for n in ("self_attn.q_proj", "mlp.up_proj"):
                assert plans[f"model.layers.{i}.{n}.weight"].bits == low
        assert plans["lm_head.weight"].bits == high
        assert plans["model.embed_tokens.weight"].bits == low


def test_mlx_lm_style_loading_with_overrides(tmp_path):
    """config.json per-layer overrides let nn.quantize rebuild the mixed model (mlx-lm's load logic)."""
    mx = pytest.importorskip("mlx.core")
    nn = pytest.importorskip("mlx.nn")
    _toy(tmp_path / "src", layers=2, width=64)
    quantize_checkpoint(tmp_path / "src", tmp_path / "out", recipe="mixed_3_6", backend="numpy",
                        rules=["*.q_proj=8:32"])
    cfg = json.loads((tmp_path / "out" / "config.json").read_text())
    weights = mx.load(str(tmp_path / "out" / "model.safetensors"))
    q = cfg["quantization"]
    assert q["model.layers.0.self_attn.q_proj"] == {"group_size": 32, "bits": 8, "mode": "affine"}

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.q_proj = nn.Linear(64, 64)
            self.v_proj = nn.Linear(64, 64, bias=False)
            self.down_proj = nn.Linear(128, 64, bias=False)

    model = nn.Module()
    model.layers = [Block(), Block()]
    renamed = {}
    for k, v in weights.items():
        if k.startswith("model.layers."):
            parts = k.split(".")
            renamed[".".join(["layers", parts[2], parts[4], *parts[5:]])] = v
    path_cfg = {k.replace("model.layers.", "layers.").replace(".self_attn.", ".").replace(".mlp.", "."): v
                for k, v in q.items() if isinstance(v, dict)}

    def predicate(p, m):
        if p in path_cfg:
            return path_cfg[p]
        return hasattr(m, "to_quantized") and f"{p}.scales" in renamed

    nn.quantize(model, group_size=q["group_size"], bits=q["bits"], class_predicate=predicate)
    model.load_weights([(k, v) for k, v in renamed.items() if not k.split(".")[2].startswith("up_proj")
                        and "layernorm" not in k], strict=False)
    assert isinstance(model.layers[0].q_proj, nn.QuantizedLinear) and model.layers[0].q_proj.bits == 8
    # 2 layers: num_layers // 8 = 0, so layer 0 gets the low bits and layer 1 (>= 7·2 // 8) the high bits
    assert model.layers[0].v_proj.bits == 3 and model.layers[1].v_proj.bits == 6
    assert model.layers[1].down_proj.bits == 6 and model.layers[0].down_proj.bits == 3
    y = model.layers[1].q_proj(mx.ones((1, 64)))
    assert y.shape == (1, 64)


def test_sharded_input_and_numpy_equals_mlx_backend(tmp_path):
    t = _toy(tmp_path / "one", ml_dtypes.bfloat16, layers=2)
    shard = tmp_path / "sharded"
    shard.mkdir()
    names = list(t)
    half = len(names) // 2
    write_safetensors(shard / "model-00001-of-00002.safetensors", {k: t[k] for k in names[:half]})
    write_safetensors(shard / "model-00002-of-00002.safetensors", {k: t[k] for k in names[half:]})
    wm = {k: f"model-0000{1 + (i >= half)}-of-00002.safetensors" for i, k in enumerate(names)}
    (shard / "model.safetensors.index.json").write_text(json.dumps({"weight_map": wm}))
    quantize_checkpoint(shard, tmp_path / "a", backend="numpy", quantize_embeddings=True)
    pytest.importorskip("mlx.core")
    quantize_checkpoint(tmp_path / "one" / "model.safetensors", tmp_path / "b", backend="mlx",
                        quantize_embeddings=True)
    a = {t_.name: read_tensor(tmp_path / "a", t_.name, raw=True) for t_ in list_tensors(tmp_path / "a")}
    b = {t_.name: read_tensor(tmp_path / "b", t_.name, raw=True) for t_ in list_tensors(tmp_path / "b")}
    assert set(a) == set(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert "model.embed_tokens.scales" in a


@pytest.mark.parametrize("mode", ["mxfp4", "mxfp8", "nvfp4"])
def test_microscaling_modes(tmp_path, mode):
    mx = pytest.importorskip("mlx.core")
    t = _toy(tmp_path / "src", layers=1)
    rep = quantize_checkpoint(tmp_path / "src", tmp_path / "out", mode=mode, bits={"mxfp8": 8}.get(mode, 4),
                              group_size={"nvfp4": 16}.get(mode, 32), backend="numpy")
    w = mx.load(str(tmp_path / "out" / "model.safetensors"))
    n = "model.layers.0.mlp.up_proj"
    assert f"{n}.biases" not in w and w[f"{n}.scales"].dtype == mx.uint8
    ref = mx.quantize(mx.array(t[f"{n}.weight"]), mode=mode)
    assert mx.array_equal(w[f"{n}.weight"], ref[0]).item() and mx.array_equal(w[f"{n}.scales"], ref[1]).item()
    assert json.loads((tmp_path / "out" / "config.json").read_text())["quantization"]["mode"] == mode
    assert all(r["sqnr_db"] > 5 for r in rep.rows if r["action"] == "quantize")


def test_width_policies_skip_rule(tmp_path):
    src = tmp_path / "src"
    rng = np.random.default_rng(1)
    write_safetensors(src / "m.safetensors" if src.mkdir() is None else None, {
        "a.weight": rng.standard_normal((8, 4304)).astype(np.float32),
        "b.weight": rng.standard_normal((8, 96)).astype(np.float32),
        "c.weight": rng.standard_normal((8, 128)).astype(np.float32),
        "d.mlp.gate.weight": rng.standard_normal((8, 128)).astype(np.float32),
        "e.counts": np.arange(4, dtype=np.int32),
    })
    with pytest.raises(ShapeError, match=r"2 weights .*a\.weight.*b\.weight"):
        plan_checkpoint(src)
    with pytest.raises(ShapeError, match="4304"):
        plan_checkpoint(src, width_policy="fallback")
    plans = {p.name: p for p in plan_checkpoint(src, width_policy="skip", skip=["*.gate"], rules=["c=8:128"])}
    assert plans["a.weight"].action == "keep" and "4304" in plans["a.weight"].reason
    assert plans["b.weight"].action == "keep"
    assert (plans["c.weight"].bits, plans["c.weight"].group_size) == (8, 128)
    assert plans["d.mlp.gate.weight"].reason == "--skip"
    assert plans["e.counts"].action == "keep"
    plans = {p.name: p for p in plan_checkpoint(src, width_policy="fallback", skip=["a"])}
    assert plans["b.weight"].group_size == 32
    with pytest.raises(InvalidArgumentError, match="PATTERN=BITS"):
        plan_checkpoint(src, rules=["c:8"], width_policy="skip")
    with pytest.raises(InvalidArgumentError, match="valid values are: 1, 2, 3, 4, 5, 6, 8"):
        plan_checkpoint(src, rules=["c=7"], width_policy="skip")


def test_errors_leave_nothing_behind(tmp_path, monkeypatch):
    _toy(tmp_path / "src", layers=1)
    out = tmp_path / "out"
    quantize_checkpoint(tmp_path / "src", out, backend="numpy")
    with pytest.raises(InvalidArgumentError, match=r"already exists.*--force"):
        quantize_checkpoint(tmp_path / "src", out, backend="numpy")
    quantize_checkpoint(tmp_path / "src", out, backend="numpy", force=True)
    # already quantized input
    with pytest.raises(AlreadyQuantizedError, match="already quantized"):
        quantize_checkpoint(out, tmp_path / "again", backend="numpy")
    # truncated input
    data = (tmp_path / "src" / "model.safetensors").read_bytes()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFormatError, match="truncated"):
        quantize_checkpoint(bad, tmp_path / "o1", backend="numpy")
    # not enough disk
    import shutil

    class Usage:
        free = 1000

    monkeypatch.setattr(shutil, "disk_usage", lambda p: Usage)
    with pytest.raises(InvalidArgumentError, match="not enough disk space"):
        quantize_checkpoint(tmp_path / "src", tmp_path / "o2", backend="numpy")
    monkeypatch.undo()
    # a failure in the middle of writing (e.g. the disk filling up): no output, no temporary left behind
    import mlxquant.checkpoint as ck

    calls = {"n": 0}
    real = ck._quantize_one

    def failing(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        return real(*a, **k)

    monkeypatch.setattr(ck, "_quantize_one", failing)
    with pytest.raises(OSError, match="No space"):
        quantize_checkpoint(tmp_path / "src", tmp_path / "o3", backend="numpy")
    assert not (tmp_path / "o3").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    # an existing output survives a failed --force run untouched
    before = (out / "model.safetensors").read_bytes()
    calls["n"] = 0
    with pytest.raises(OSError):
        quantize_checkpoint(tmp_path / "src", out, backend="numpy", force=True)
    assert (out / "model.safetensors").read_bytes() == before


def test_name_collision(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    write_safetensors(src / "m.safetensors", {"a.weight": np.ones((4, 64), np.float32),
                                              "a.scales": np.ones((4, 1), np.float32)})
    with pytest.raises(ModelFormatError, match=r"collision.*a\.scales"):
        plan_checkpoint(src)


def test_streaming_peak_memory(tmp_path):
    """Peak traced memory stays near a few copies of the largest tensor, far below the checkpoint size."""
    src = tmp_path / "src"
    src.mkdir()
    rng = np.random.default_rng(0)
    t = {f"layers.{i}.w.weight": rng.standard_normal((256, 1024)).astype(np.float32) for i in range(24)}
    write_safetensors(src / "m.safetensors", t)
    del t
    total = 24 * 256 * 1024 * 4
    largest = 256 * 1024 * 4
    tracemalloc.start()
    quantize_checkpoint(src, tmp_path / "out", backend="numpy")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 6 * largest, (peak, largest)
    assert peak < total / 4


def test_cli(tmp_path, capsys):
    _toy(tmp_path / "src", layers=1)
    rc = main(["quantize-weights", str(tmp_path / "src"), str(tmp_path / "out"), "--bits", "3", "--group-size", "32",
               "--skip", "*.up_proj", "--rule", "*.down_proj=6", "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "SQNR dB" in out and "compression" in out and "model.layers.0.mlp.down_proj.weight" in out
    rep = json.loads((tmp_path / "out" / "quantize_report.json").read_text())
    rows = {r["name"]: r for r in rep["tensors"]}
    assert rows["model.layers.0.mlp.down_proj.weight"]["bits"] == 6
    assert rows["model.layers.0.mlp.up_proj.weight"]["action"] == "keep"
    assert rep["quantization"]["model.layers.0.mlp.down_proj"] == {"group_size": 32, "bits": 6, "mode": "affine"}
    rc = main(["quantize-weights", str(tmp_path / "src"), str(tmp_path / "out")])
    assert rc == 2 and "already exists" in capsys.readouterr().err
    rc = main(["quantize-weights", str(tmp_path / "src"), str(tmp_path / "dry"), "--dry-run", "--recipe", "mixed_4_6"])
    assert rc == 0 and not (tmp_path / "dry").exists() and "would be quantized" in capsys.readouterr().out
    rc = main(["quantize-weights", str(tmp_path / "nope"), str(tmp_path / "x")])
    assert rc == 2 and "does not exist" in capsys.readouterr().err


def test_npz_input_and_progress_bar(tmp_path, capsys):
    rng = np.random.default_rng(3)
    np.savez(tmp_path / "w.npz", **{"a.weight": rng.standard_normal((16, 64)).astype(np.float32),
                                    "a.bias": np.zeros(16, np.float32)})
    rep = quantize_checkpoint(tmp_path / "w.npz", tmp_path / "out", backend="numpy", progress=True)
    err = capsys.readouterr().err
    assert "quantize-weights [" in err and "2/2" in err
    assert [r["action"] for r in rep.rows] == ["quantize", "keep"]
    wq = read_tensor(tmp_path / "out", "a.weight")
    assert wq.dtype == np.uint32 and wq.shape == (16, 8)
    from mlxquant import mlx_quantize

    np.testing.assert_array_equal(wq, mlx_quantize(np.load(tmp_path / "w.npz")["a.weight"], 64, 4)[0])


def test_report_is_strict_json(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    write_safetensors(src / "m.safetensors", {"z.weight": np.zeros((4, 64), np.float32)})  # exact: SQNR inf
    rc = main(["quantize-weights", str(src), str(tmp_path / "out"), "--json"])
    assert rc == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["tensors"][0]["sqnr_db"] == "inf" and rep["tensors"][0]["max_abs_err"] == 0.0
    json.loads((tmp_path / "out" / "quantize_report.json").read_text())


@pytest.mark.parametrize("mode", ["mxfp4", "nvfp4"])
def test_bfloat16_microscaling_numpy_equals_mlx(tmp_path, mode):
    pytest.importorskip("mlx.core")
    _toy(tmp_path / "src", ml_dtypes.bfloat16, layers=1)
    g = 16 if mode == "nvfp4" else 32
    quantize_checkpoint(tmp_path / "src", tmp_path / "np", mode=mode, group_size=g, backend="numpy")
    quantize_checkpoint(tmp_path / "src", tmp_path / "mx", mode=mode, group_size=g, backend="mlx")
    for t in list_tensors(tmp_path / "np"):
        np.testing.assert_array_equal(read_tensor(tmp_path / "np", t.name, raw=True),
                                      read_tensor(tmp_path / "mx", t.name, raw=True), err_msg=t.name)


def test_only_small_model_files_are_copied(tmp_path):
    _toy(tmp_path / "src", layers=1)
    for name in ("generation_config.json", "tokenizer.model", "chat_template.jinja", "pytorch_model.bin", "cat.png",
                 "quantize_report.json"):
        (tmp_path / "src" / name).write_bytes(b"x")
    quantize_checkpoint(tmp_path / "src", tmp_path / "out", backend="numpy")
    got = sorted(os.listdir(tmp_path / "out"))
    assert got == ["chat_template.jinja", "config.json", "generation_config.json", "model.safetensors",
                   "quantize_report.json", "tokenizer.json", "tokenizer.model"]
    assert (tmp_path / "out" / "quantize_report.json").read_bytes() != b"x"


def test_unknown_dtype_is_refused_before_writing(tmp_path):
    import struct

    src = tmp_path / "f8.safetensors"
    hdr = json.dumps({"w.weight": {"dtype": "F8_E4M3", "shape": [2, 32], "data_offsets": [0, 64]}}).encode()
    src.write_bytes(struct.pack("<Q", len(hdr)) + hdr + b"\0" * 64)
    with pytest.raises(ModelFormatError, match=r"F8_E4M3.*cannot read or copy"):
        quantize_checkpoint(src, tmp_path / "out", backend="numpy")
    assert not (tmp_path / "out").exists()


def test_output_must_not_hold_the_input(tmp_path):
    _toy(tmp_path / "src", layers=1)
    before = (tmp_path / "src" / "model.safetensors").read_bytes()
    for src in (tmp_path / "src", tmp_path / "src" / "model.safetensors"):
        with pytest.raises(InvalidArgumentError, match="holds, the input"):
            quantize_checkpoint(src, tmp_path / "src", force=True, backend="numpy")
    assert (tmp_path / "src" / "model.safetensors").read_bytes() == before
