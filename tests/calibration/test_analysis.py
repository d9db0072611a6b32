"""Sensitivity analysis, the mixed-precision plan and the ``mlxquant analyze`` command."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

import mlxquant as mq
from mlxquant.analysis import DEFAULT_SCHEMES, Scheme, analyze_sensitivity, plot_sensitivity
from mlxquant.cli import main
from tests.helpers import as_backend


def _weights(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "a": rng.standard_normal((32, 128)).astype(np.float32),
        "b": (rng.standard_normal((64, 64)) ** 3).astype(np.float32),
        "c": (rng.standard_normal((16, 192)) * 0.01).astype(np.float32),
        "odd": rng.standard_normal((8, 100)).astype(np.float32),
    }


def test_errors_match_direct_round_trips(backend):
    w = {k: as_backend(v, backend) for k, v in _weights().items()}
    rep = analyze_sensitivity(w)
    a = np.asarray(_weights()["a"])
    wq, s, bi = mq.mlx_quantize(a, 64, 4)
    y = mq.mlx_dequantize(wq, s, bi, 64, 4, dtype="float32")
    ta = next(t for t in rep.tensors if t.name == "a")
    assert ta.errors["int4 g64 affine"] == pytest.approx(float(np.mean((y - a) ** 2)), rel=1e-5)
    assert ta.sizes["int4 g64 affine"] == 4 * a.size + (a.size // 64) * 32
    odd = next(t for t in rep.tensors if t.name == "odd")
    assert "int4 g64 affine" not in odd.errors and "int8 axis sym" in odd.errors  # 100 is not divisible by 64
    # more bits never hurt for the same granularity
    for t in rep.tensors:
        errs = [t.errors[f"int{b} g64 affine"] for b in (2, 3, 4, 5, 6, 8) if f"int{b} g64 affine" in t.errors]
        assert errs == sorted(errs, reverse=True)


def _brute_force(rep, budget, objective):
    best = None
    names = [t.name for t in rep.tensors]
    for combo in itertools.product(*[list(t.errors) for t in rep.tensors]):
        size = sum(t.sizes[s] for t, s in zip(rep.tensors, combo, strict=False))
        if size > budget:
            continue
        err = sum(t.cost(s, objective) for t, s in zip(rep.tensors, combo, strict=False))
        if best is None or err < best[0]:
            best = (err, dict(zip(names, combo, strict=False)))
    return best


@pytest.mark.parametrize("bpw", [2.6, 3.5, 4.5, 6.0, 9.0])
@pytest.mark.parametrize("objective", ["sse", "relative"])
def test_plan_meets_budget_and_is_near_optimal(bpw, objective):
    w = _weights()
    del w["odd"]
    rep = analyze_sensitivity(w, [Scheme(b, "group", 64) for b in (2, 3, 4, 6, 8)] + [Scheme(8, "axis", None, True)])
    plan = rep.plan(bits_per_weight=bpw, objective=objective)
    assert plan.total_bits <= bpw * plan.numel
    opt_err, _ = _brute_force(rep, bpw * plan.numel, objective)
    assert plan.total_error <= opt_err * 1.01 + 1e-12  # DP in budget/4096 units: within 1% of the optimum
    # a mixed plan is never worse than a uniform scheme that fits the same budget
    for s in rep.schemes:
        size = sum(t.sizes[s.name] for t in rep.tensors)
        if size <= bpw * plan.numel:
            assert plan.total_error <= sum(t.cost(s.name, objective) for t in rep.tensors) + 1e-12


def test_plan_budget_errors():
    rep = analyze_sensitivity(_weights())
    with pytest.raises(mq.InvalidArgumentError, match="smallest possible size"):
        rep.plan(bits_per_weight=1.0)
    with pytest.raises(mq.InvalidArgumentError, match="exactly one"):
        rep.plan()
    with pytest.raises(mq.InvalidArgumentError, match="exactly one"):
        rep.plan(bits_per_weight=4, budget_bytes=100)
    big = rep.plan(budget_bytes=1e12)
    assert set(big.assignment.values()) == {"float16"}
    assert json.dumps(big.to_dict()) and "bits/weight" in str(big)


def test_skips_and_bad_input():
    rep = analyze_sensitivity({"w": np.ones((4, 64), np.float32), "bias": np.ones(4, np.float32),
                               "ids": np.ones((4, 64), np.int32)})
    assert set(rep.skipped) == {"bias", "ids"}
    with pytest.raises(mq.InvalidArgumentError, match="no tensor"):
        analyze_sensitivity({"bias": np.ones(4, np.float32)})
    with pytest.raises(mq.InvalidArgumentError, match="granularity"):
        Scheme(4, "block")
    with pytest.raises(mq.InvalidArgumentError, match="2, 3, 4, 5, 6, 8"):
        Scheme(7, "group", 64)
    rep = analyze_sensitivity({"z": np.zeros((4, 64), np.float32)}, DEFAULT_SCHEMES)
    assert rep.tensors[0].sqnr_db("float16") == float("inf")


def test_checkpoint_cli_table_plan_plot_json(tmp_path, capsys):
    from mlxquant.checkpoint_io import write_safetensors

    ck = tmp_path / "m.safetensors"
    write_safetensors(ck, _weights())
    png, js = tmp_path / "plot.png", tmp_path / "out.json"
    rc = main(["analyze", str(ck), "--budget-bpw", "4.5", "--plot", str(png), "--json", str(js), "--min-size", "1"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "SQNR (dB)" in out and "bits/weight" in out
    d = json.loads(js.read_text())
    assert d["plan"]["bits_per_weight"] <= 4.5 and len(d["rows"]) > 10
    from PIL import Image

    im = Image.open(png)
    assert im.size == (900, 560) and im.format == "PNG"
    assert main(["analyze", str(ck), "--plot", str(png)]) != 0  # exists: refuses without --force
    assert main(["analyze", str(ck), "--plot", str(png), "--force", "--include", "^a$"]) == 0


def test_plot_direct(tmp_path):
    rep = analyze_sensitivity(_weights())
    plot_sensitivity(rep, str(tmp_path / "p.png"))
    assert (tmp_path / "p.png").stat().st_size > 1000
