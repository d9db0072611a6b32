"""mq.metrics against the loop oracle, edge cases, compare() report and bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import mlxquant as mq
from mlxquant import metrics
from tests.helpers import as_backend, backend_of
from tests.reference import calib_oracle as oracle


@pytest.mark.parametrize("seed", range(4))
def test_against_oracle(backend, seed):
    rng = np.random.default_rng(seed)
    r = rng.standard_normal(500).astype(np.float32)
    c = (r + rng.standard_normal(500) * 0.05).astype(np.float32)
    want = oracle.metrics_all(r.tolist(), c.tolist())
    R, C = as_backend(r, backend), as_backend(c, backend)
    # float32 accumulation vs the float64 oracle: relative 1e-5 (SQNR: 1e-4 dB)
    assert float(metrics.mse(R, C)) == pytest.approx(want["mse"], rel=1e-5)
    assert float(metrics.rmse(R, C)) == pytest.approx(math.sqrt(want["mse"]), rel=1e-5)
    assert float(metrics.max_abs_error(R, C)) == pytest.approx(want["max_abs_error"], rel=1e-6)
    assert float(metrics.mean_abs_error(R, C)) == pytest.approx(want["mean_abs_error"], rel=1e-5)
    assert float(metrics.sqnr(R, C)) == pytest.approx(want["sqnr"], abs=1e-4)
    assert float(metrics.cosine_similarity(R, C)) == pytest.approx(want["cosine"], rel=1e-6)
    assert backend_of(metrics.mse(R, C)) == backend


def test_topk_and_kl_against_oracle(backend):
    rng = np.random.default_rng(0)
    r = rng.standard_normal((20, 10)).astype(np.float32)
    c = (r + rng.standard_normal((20, 10)) * 0.5).astype(np.float32)
    r[0, :3] = 1.0  # ties: the lower index wins
    c[0, :3] = 1.0
    for k in (1, 3, 10):
        got = float(metrics.topk_agreement(as_backend(r, backend), as_backend(c, backend), k))
        assert got == pytest.approx(oracle.topk_agreement(r.tolist(), c.tolist(), k), abs=1e-7)
    p = np.exp(r) / np.exp(r).sum(-1, keepdims=True)
    q = np.exp(c) / np.exp(c).sum(-1, keepdims=True)
    want = np.mean([oracle.kl(a, b) for a, b in zip(p.tolist(), q.tolist(), strict=False)])
    got = float(metrics.kl_divergence(as_backend(p.astype(np.float32), backend), as_backend(q.astype(np.float32),
                                                                                               backend)))
    assert got == pytest.approx(want, rel=1e-4)
    got_logits = float(metrics.kl_divergence(as_backend(r, backend), as_backend(c, backend), from_logits=True))
    assert got_logits == pytest.approx(want, rel=1e-4)
    rows = metrics.kl_divergence(as_backend(p.astype(np.float32), backend), as_backend(q.astype(np.float32), backend),
                                 reduction="none")
    assert tuple(rows.shape) == (20,)


def test_edge_values(backend):
    z = as_backend(np.zeros(4, np.float32), backend)
    x = as_backend(np.array([1.0, 2.0, 3.0, 4.0], np.float32), backend)
    assert float(metrics.sqnr(x, x)) == math.inf
    assert float(metrics.sqnr(z, x)) == -math.inf
    assert float(metrics.sqnr(z, z)) == math.inf
    assert float(metrics.cosine_similarity(z, z)) == 1.0
    assert float(metrics.cosine_similarity(z, x)) == 0.0
    assert float(metrics.kl_divergence(as_backend(np.array([0.5, 0.5], np.float32), backend),
                                       as_backend(np.array([1.0, 0.0], np.float32), backend))) == math.inf
    assert float(metrics.kl_divergence(as_backend(np.array([0.0, 1.0], np.float32), backend),
                                       as_backend(np.array([0.5, 0.5], np.float32), backend))) == pytest.approx(
        math.log(2), rel=1e-6)
    per_row = metrics.mse(as_backend(np.ones((3, 4), np.float32), backend), as_backend(np.zeros((3, 4), np.float32),
                                                                                          backend), axis=1)
    assert tuple(per_row.shape) == (3,)


def test_bad_input(backend):
    a = as_backend(np.ones((2, 3), np.float32), backend)
    with pytest.raises(mq.ShapeError, match=r"\(3, 2\)"):
        metrics.mse(a, as_backend(np.ones((3, 2), np.float32), backend))
    with pytest.raises(mq.InvalidArgumentError, match="k must be"):
        metrics.topk_agreement(a, a, 4)
    with pytest.raises(mq.InvalidArgumentError, match="reduction"):
        metrics.kl_divergence(a, a, reduction="max")
    with pytest.raises(mq.ShapeError, match="non-empty"):
        metrics.compare(as_backend(np.zeros(0, np.float32), backend), as_backend(np.zeros(0, np.float32), backend))


def test_compare_report(backend):
    rng = np.random.default_rng(1)
    r = rng.standard_normal((8, 100)).astype(np.float32)
    c = r.copy()
    c[0, 0] = np.nan
    rep = metrics.compare(as_backend(r, backend), as_backend(c, backend), topk=(1, 5), kl=True, from_logits=True)
    assert rep.nonfinite_candidate == 1 and rep.nonfinite_reference == 0
    d = rep.to_dict()
    assert json.loads(json.dumps(d))["shape"] == [8, 100] and set(d["topk"]) == {"1", "5"}
    text = str(rep)
    assert "SQNR" in text and "top-5 agree" in text and "non-finite" in text
    rep2 = metrics.compare(as_backend(r, backend), as_backend(r * 1.01, backend))
    assert rep2.cosine == pytest.approx(1.0) and rep2.sqnr_db == pytest.approx(40.0, abs=1e-3)
    assert rep2.reference_range == (float(r.min()), float(r.max()))


def test_empty_input_raises_instead_of_nan(backend):
    # a mean over nothing is undefined: NumPy gave NaN with a RuntimeWarning, MLX a silent NaN
    e = as_backend(np.zeros((0, 3), np.float32), backend)
    for fn in (metrics.mse, metrics.rmse, metrics.mean_abs_error, metrics.max_abs_error):
        with pytest.raises(mq.ShapeError, match="empty"):
            fn(e, e)
    with pytest.raises(mq.ShapeError, match="empty"):
        metrics.topk_agreement(e, e, 1)


def test_every_metric_returns_a_0d_float32_array_on_the_input_backend(backend):
    # the documented type: a 0-d float32 array (NumPy's mean/max give np.float32 scalars, which are not ndarrays)
    r = as_backend(np.array([[0.1, 0.7, 0.2], [0.5, 0.4, 0.1]], np.float32), backend)
    c = as_backend(np.array([[0.2, 0.6, 0.2], [0.3, 0.6, 0.1]], np.float32), backend)
    kind = type(as_backend(np.zeros(1, np.float32), backend))
    for fn in (metrics.mse, metrics.rmse, metrics.max_abs_error, metrics.mean_abs_error, metrics.sqnr,
               metrics.cosine_similarity, metrics.topk_agreement, metrics.kl_divergence):
        v = fn(r, c)
        assert type(v) is kind and tuple(v.shape) == () and mq.get_backend(v).dtype_name(v) == "float32", fn
