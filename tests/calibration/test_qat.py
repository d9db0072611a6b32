"""mq.nn: prepare_qat / convert on MLX module trees, gradients through the STE, and the example's smoke test."""

from __future__ import annotations

import importlib.util
import pathlib

import numpy as np
import pytest

mx = pytest.importorskip("mlx.core")
nn = pytest.importorskip("mlx.nn")

import mlxquant as mq  # noqa: E402
from mlxquant import nn as qnn  # noqa: E402


def _mlp():
    mx.random.seed(0)
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 100), nn.ReLU(), nn.Linear(100, 10))


@pytest.mark.parametrize("scheme,bits", [("channel", 4), ("channel", 8), ("group", 4), ("group", 3), ("channel", 2)])
@pytest.mark.parametrize("act_bits", [None, 8])
@pytest.mark.filterwarnings("ignore:prepare_qat. layers.4:UserWarning")  # the width-100 layer stays per channel
def test_convert_output_equals_fake_quantized(scheme, bits, act_bits):
    model = qnn.prepare_qat(_mlp(), weight_bits=bits, weight_scheme=scheme, act_bits=act_bits)
    kinds = [type(m).__name__ for m in model.layers]
    assert kinds == ["QATLinear", "ReLU", "QATLinear", "ReLU", "QATLinear"]
    if scheme == "group":  # 100 is not a multiple of 64: that layer falls back to per-channel
        assert model.layers[4].weight_scheme == "channel" and model.layers[0].weight_scheme == "group"
    x = mx.random.normal((16, 64))
    model.train()
    model(x)
    model(x * 2)
    model.eval()
    y_fq = np.array(model(x))
    w_fq = [np.array(model.layers[i].quantized_weight()) for i in (0, 2, 4)]
    qnn.convert(model)
    y = np.array(model(x))
    for i, wf in zip((0, 2, 4), w_fq, strict=True):
        layer = model.layers[i].module if act_bits else model.layers[i]
        if isinstance(layer, nn.QuantizedLinear):
            wd = mx.dequantize(layer.weight, layer.scales, layer.biases, layer.group_size, layer.bits)
            np.testing.assert_array_equal(np.array(wd), wf)  # the very same dequantized weights
        else:
            assert isinstance(layer, qnn.ChannelQuantizedLinear)
            np.testing.assert_array_equal(np.array(layer.dequantized_weight()), wf)
            assert layer.codes.dtype == mx.int8
    # QuantizedLinear's quantized_matmul sums in another order: float32 rounding only
    np.testing.assert_allclose(y, y_fq, rtol=1e-5, atol=1e-5)
    if scheme == "channel":
        np.testing.assert_array_equal(y, y_fq)


def test_conv_and_lsq_gradients_flow():
    mx.random.seed(1)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 3, stride=2))
    qnn.prepare_qat(model, weight_bits=4, lsq=True)
    x = mx.random.normal((2, 9, 9, 3))
    model.train()
    model(x)
    loss_grad = nn.value_and_grad(model, lambda m, a: (m(a) ** 2).mean())
    _, g = loss_grad(model, x)
    for i in (0, 2):
        assert float(mx.abs(g["layers"][i]["weight"]).sum()) > 0  # STE passes gradient to the float weights
        assert "act_scale" in g["layers"][i] and np.isfinite(np.array(g["layers"][i]["act_scale"])).all()
    model.eval()
    y_fq = np.array(model(x))
    qnn.convert(model)
    assert isinstance(model.layers[0].module, qnn.ChannelQuantizedConv2d)
    np.testing.assert_array_equal(np.array(model(x)), y_fq)


def test_observer_updates_only_in_training():
    layer = qnn.QATLinear(8, 4)
    layer.train()
    layer(mx.ones((2, 8)))
    assert layer.observer.num_batches == 1
    layer.eval()
    layer(mx.ones((2, 8)) * 100)
    assert layer.observer.num_batches == 1 and float(layer.observer.max_val[0]) == 1.0


def test_ste_gradient_is_masked_outside_the_range():
    layer = qnn.QATLinear(4, 1, bias=False, weight_bits=8, act_bits=8)
    layer.weight = mx.ones((1, 4))
    layer.train()
    layer(mx.array([[0.0, 1.0, 2.0, 3.0]]))  # observer range [0, 3]
    layer.eval()
    g = mx.grad(lambda x: layer(x).sum())(mx.array([[0.5, 1.0, 10.0, -5.0]]))
    np.testing.assert_array_equal(np.array(g)[0, :2], [1.0, 1.0])
    np.testing.assert_array_equal(np.array(g)[0, 2:], [0.0, 0.0])  # saturated inputs get no gradient


def test_bad_arguments():
    with pytest.raises(mq.InvalidArgumentError, match="weight_scheme"):
        qnn.QATLinear(8, 4, weight_scheme="tensor")
    with pytest.raises(mq.InvalidArgumentError, match="weight_bits"):
        qnn.QATLinear(8, 4, weight_bits=3)
    with pytest.raises(mq.InvalidArgumentError, match="group_size"):
        qnn.QATLinear(100, 4, weight_scheme="group", weight_bits=4)
    with pytest.raises(mq.InvalidArgumentError, match="act_bits"):
        qnn.QATLinear(8, 4, act_bits=5)


def test_skip_keeps_layers_float():
    model = qnn.prepare_qat(_mlp(), skip=lambda m: isinstance(m, nn.Linear) and m.weight.shape[0] == 10)
    assert type(model.layers[4]) is nn.Linear and type(model.layers[0]) is qnn.QATLinear


def test_example_quick_smoke():
    path = pathlib.Path(__file__).resolve().parents[2] / "examples" / "qat.py"
    spec = importlib.util.spec_from_file_location("qat_example", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    res = mod.main(["--quick"])
    assert res["converted"] == res["qat"]
    assert 0.0 <= res["ptq"] <= 1.0 and res["float"] > 0.3


class _Tree(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = [[nn.Linear(8, 8)], {"proj": nn.Linear(8, 8)}]  # nested list and dict children
        self.heads = {"a": nn.Linear(8, 4), "b": nn.Sequential(nn.Linear(8, 4))}

    def __call__(self, x):
        x = self.blocks[1]["proj"](self.blocks[0][0](x))
        return self.heads["a"](x) + self.heads["b"](x)


def test_prepare_and_convert_reach_dicts_nested_lists_and_the_root():
    mx.random.seed(1)
    model = qnn.prepare_qat(_Tree(), weight_bits=8)
    assert type(model.blocks[0][0]) is qnn.QATLinear and type(model.blocks[1]["proj"]) is qnn.QATLinear
    assert type(model.heads["a"]) is qnn.QATLinear and type(model.heads["b"].layers[0]) is qnn.QATLinear
    x = mx.random.normal((4, 8))
    model(x)
    model.eval()
    want = model(x)
    qnn.convert(model)
    assert type(model.heads["a"]) is qnn.ActQuant and type(model.blocks[0][0]) is qnn.ActQuant
    np.testing.assert_array_equal(np.array(model(x)), np.array(want))
    # a bare layer as the model: the returned module is the QAT (then the converted) layer
    root = qnn.prepare_qat(nn.Linear(8, 4), act_bits=None)
    assert type(root) is qnn.QATLinear
    assert type(qnn.convert(root)) is qnn.ChannelQuantizedLinear


def test_prepare_warns_when_a_layer_cannot_take_the_requested_scheme():
    model = nn.Sequential(nn.Linear(64, 8), nn.Linear(8, 8), nn.Conv2d(3, 4, 3))
    with pytest.warns(UserWarning) as rec:
        qnn.prepare_qat(model, weight_bits=3, weight_scheme="group")
    msgs = [str(w.message) for w in rec]
    assert len(msgs) == 2 and "layers.1" in msgs[0] and "8 bits" in msgs[0] and "layers.2" in msgs[1]
    assert model.layers[0].weight_bits == 3 and model.layers[1].weight_bits == 8 and model.layers[2].weight_bits == 8


def _round_f32(v):
    """Exact Fraction → float32, round to nearest, ties to even (no double rounding)."""
    from fractions import Fraction

    f = np.float32(float(v))
    cands = [np.nextafter(f, np.float32(-np.inf)), f, np.nextafter(f, np.float32(np.inf))]
    best = min(cands, key=lambda c: (abs(Fraction(float(c)) - v), int(np.array(c).view(np.uint32)) & 1))
    return np.float32(best)


def test_fma_emulation_rounds_once():
    from fractions import Fraction

    from mlxquant.nn import _fma_f32

    rng = np.random.default_rng(0)
    a = (rng.standard_normal(400) * 2.0 ** rng.integers(-20, 20, 400)).astype(np.float32)
    b = (rng.standard_normal(400) * 2.0 ** rng.integers(-20, 20, 400)).astype(np.float32)
    c = np.round(rng.uniform(-300, 300, 400)).astype(np.float32)
    c[:100] = -(a[:100] * b[:100])  # cancellation: the result is the product's rounding error
    got = np.array(_fma_f32(mx.array(a), mx.array(b), mx.array(c)))
    want = np.array([_round_f32(Fraction(float(x)) * Fraction(float(y)) + Fraction(float(z)))
                     for x, y, z in zip(a, b, c, strict=True)], np.float32)
    np.testing.assert_array_equal(got, want)
