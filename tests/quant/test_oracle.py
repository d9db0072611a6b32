"""mlxquant against the loop-based exact oracle (tests/reference/quant_oracle.py), every profile, on both backends."""

from __future__ import annotations

import numpy as np
import pytest

import mlxquant as mq
from mlxquant.quant.primitives import fake_quantize_mask, qparams_from_minmax
from tests.helpers import as_backend, assert_equal
from tests.quant.adversarial import adversarial_values, random_scales
from tests.reference import quant_oracle as O

PROFILES = ("onnx", "torch", "tflite", "tflite_reference")
DTYPES = ("int2", "uint2", "int4", "uint4", "int8", "uint8", "int16", "uint16", "int32")


def _values(rng, s, zp, dtype, n=120):
    qmin, qmax = O.QRANGES[dtype]
    lo, hi = (qmin, qmax) if dtype != "int32" else (-3000, 3000)
    x = adversarial_values(rng, s, zp, lo, hi, n_random=n, max_k=80)
    return x[rng.permutation(x.size)[: 4 * n]]


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_quantize_per_tensor_vs_oracle(backend: str, profile: str, dtype: str) -> None:
    rng = np.random.default_rng(abs(hash((profile, dtype))) % 2**32)
    qmin, qmax = O.QRANGES[dtype]
    for s in (0.1, 1.0, *random_scales(rng, 2, 1e-3, 10.0)):
        zps = {0, qmin, qmax, int(rng.integers(qmin, qmax + 1))} if dtype != "int32" else {0, 7, -(2**20)}
        for zp in sorted(zps):
            x = _values(rng, s, zp, dtype)
            want = np.array([O.quantize(float(v), float(np.float32(s)), zp, dtype, profile) for v in x])
            got = mq.quantize(as_backend(x, backend), np.float32(s), zp, dtype, profile=profile)
            assert_equal(got, want.astype(mq.QTYPES[dtype].storage), backend=backend, msg=f"s={s} zp={zp}")


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("rounding", ["half_even", "half_away", "half_up"])
def test_rounding_override_vs_oracle(backend: str, profile: str, rounding: str) -> None:
    rng = np.random.default_rng(3)
    mode = {"half_even": "even", "half_away": "away", "half_up": "up"}[rounding]
    for axis in (None, 0):
        x = _values(rng, 0.25, 3, "int8").reshape(-1, 4)
        s = np.float32(0.25) if axis is None else np.full(x.shape[0], 0.25, np.float32)
        want = np.array(
            [[O.quantize(float(v), 0.25, 3, "int8", profile, axis is not None, mode) for v in row] for row in x]
        )
        got = mq.quantize(as_backend(x, backend), s, 3, "int8", axis=axis, profile=profile, rounding=rounding)
        assert_equal(got, want.astype(np.int8), backend=backend)


@pytest.mark.parametrize("profile", PROFILES)
def test_per_axis_and_blocked_vs_oracle(backend: str, profile: str) -> None:
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((6, 11)) * 4).astype(np.float32)
    x.reshape(-1)[:5] = [np.nan, np.inf, -np.inf, 0.5, -0.0]
    s_ax = random_scales(rng, 11, 0.01, 1.0)
    z_ax = rng.integers(-10, 10, 11)
    got = mq.to_numpy(mq.quantize(as_backend(x, backend), s_ax, z_ax, "int8", axis=1, profile=profile))
    for (i, j), v in np.ndenumerate(x):
        assert got[i, j] == O.quantize(float(v), float(s_ax[j]), int(z_ax[j]), "int8", profile, True), (i, j)
    # blocked along axis 1 with block 4: 3 blocks, the last partial (11 = 4 + 4 + 3)
    s_bl = random_scales(rng, 18, 0.01, 1.0).reshape(6, 3)
    z_bl = rng.integers(-10, 10, (6, 3))
    got = mq.to_numpy(mq.quantize(as_backend(x, backend), s_bl, z_bl, "int8", axis=1, block_size=4, profile=profile))
    for (i, j), v in np.ndenumerate(x):
        want = O.quantize(float(v), float(s_bl[i, j // 4]), int(z_bl[i, j // 4]), "int8", profile, True)
        assert got[i, j] == want, (i, j)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dequantize_vs_oracle(backend: str, dtype: str) -> None:
    rng = np.random.default_rng(7)
    qmin, qmax = O.QRANGES[dtype]
    qt = mq.QTYPES[dtype]
    q = rng.integers(qmin, qmax, 200, endpoint=True).astype(qt.storage)
    q[:2] = [qmin, qmax]
    for s in (0.1, 3.0, *random_scales(rng, 2)):
        for zp in (0, qmin, qmax):
            want = np.array([O.dequantize(int(v), float(np.float32(s)), zp) for v in q], np.float32)
            got = mq.dequantize(as_backend(q, backend), np.float32(s), zp)
            assert_equal(got, want, backend=backend, msg=f"s={s} zp={zp}")


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("dtype", ["int8", "uint8", "int4", "int16"])
def test_fake_quantize_and_mask_vs_oracle(backend: str, profile: str, dtype: str) -> None:
    rng = np.random.default_rng(11)
    qmin, qmax = O.QRANGES[dtype]
    for s in (0.1, *random_scales(rng, 2, 1e-3, 1.0)):
        for zp in (0, qmin, qmax):
            x = _values(rng, s, zp, dtype, n=60)
            x = x[np.abs(x) < 1e30]
            ref = [O.fake_quantize(float(v), float(np.float32(s)), zp, dtype, profile) for v in x]
            y = mq.fake_quantize(as_backend(x, backend), np.float32(s), zp, dtype, profile=profile)
            m = fake_quantize_mask(as_backend(x, backend), np.float32(s), zp, dtype, profile=profile)
            assert_equal(y, np.array([r[0] for r in ref], np.float32), backend=backend)
            assert_equal(m, np.array([r[1] for r in ref]), check_dtype=False, backend=backend)


def _minmax_cases(rng):
    yield -1.0, 3.0
    yield 0.0, 0.0
    yield 2.5, 2.5
    yield -2.5, -2.5
    yield -1e-30, 1e-30
    yield 0.0, 1e-20
    yield -3.0e37, 1.0e37
    # zero points at exact .5 steps (the three zero-point rules differ there)
    for mn, mx in ((-0.1, 0.5), (-0.3, 0.7), (-0.6, 1.4), (-3.0, 3.0), (-2.5, 0.5), (-2.6, 4.2), (-1.0, 1.0)):
        yield float(np.float32(mn)), float(np.float32(mx))
    for _ in range(40):
        a, b = sorted(rng.standard_normal(2) * 10.0 ** rng.uniform(-6, 5))
        yield float(np.float32(a)), float(np.float32(b))


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("dtype", ["int8", "uint8", "int4", "uint4", "int16", "uint16"])
@pytest.mark.parametrize("symmetric", [False, True])
def test_qparams_vs_oracle(backend: str, profile: str, dtype: str, symmetric: bool) -> None:
    rng = np.random.default_rng(13)
    for mn, mx_ in _minmax_cases(rng):
        s, zp = O.qparams(mn, mx_, dtype, profile, symmetric=symmetric)
        p = qparams_from_minmax(
            as_backend(np.float32(mn), backend), np.float32(mx_), dtype, symmetric=symmetric, profile=profile
        )
        assert np.float32(mq.to_numpy(p.scale)) == np.float32(s), (mn, mx_, p, s)
        assert int(mq.to_numpy(p.zero_point)) == zp, (mn, mx_, p, zp)


@pytest.mark.parametrize("profile", ["onnx", "torch"])
@pytest.mark.parametrize("dtype", ["int8", "uint8", "int4"])
def test_reduce_and_narrow_range_vs_oracle(profile: str, dtype: str) -> None:
    rng = np.random.default_rng(17)
    for mn, mx_ in _minmax_cases(rng):
        for symmetric in (False, True):
            for rr, nr in ((True, False), (False, True)):
                s, zp = O.qparams(mn, mx_, dtype, profile, symmetric, reduce_range=rr, narrow_range=nr)
                p = qparams_from_minmax(
                    mn, mx_, dtype, symmetric=symmetric, reduce_range=rr, narrow_range=nr, profile=profile
                )
                assert (np.float32(p.scale), int(p.zero_point)) == (np.float32(s), zp), (mn, mx_, symmetric, rr, nr)
