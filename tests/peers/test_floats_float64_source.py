"""float64 sources: bfloat16 and float8 round through float32 (as ml_dtypes and ONNX Cast), float16 directly."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import mlxquant as mq
from tests.helpers import as_backend

TARGETS = {"e4m3fn": ml_dtypes.float8_e4m3fn, "e5m2": ml_dtypes.float8_e5m2}


def _float64_probe() -> np.ndarray:
    rng = np.random.default_rng(64)
    base = rng.standard_normal(20000) * rng.choice([1e-6, 1e-2, 1.0, 100.0, 1e4], 20000)
    # values a hair off the float8 rounding boundaries: double rounding through float32 changes them
    ties = np.array([1 + 2**-4, 1 + 2**-3, 464.0, 1.5 * 2**-7, 2**-9 * 3]) * np.array([1.0, -1.0])[:, None]
    eps = np.array([-(2.0**-40), 2.0**-40, 1e-7, -1e-7])
    near = (ties.ravel()[:, None] * (1 + eps)[None, :]).ravel()
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e300, -1e300, 5e-324, 3.4e38, 3.5e38])
    return np.concatenate([base, near, special]).astype(np.float64)


@pytest.mark.parametrize("fmt", list(TARGETS))
def test_float64_to_float8_equals_ml_dtypes(fmt: str) -> None:
    x = _float64_probe()
    ref = x.astype(TARGETS[fmt]).view(np.uint8)
    got = mq.to_float8(x, fmt)
    np.testing.assert_array_equal(np.asarray(got), ref)


def test_float64_documented_examples() -> None:
    x = np.array([1 + 2**-4 + 2**-40, 464.0000001])
    assert mq.to_float8(x, "e4m3fn").tolist() == [0x38, 0x7E]
    assert mq.to_float8(np.array([1 + 2**-3 + 2**-40]), "e5m2").tolist() == [0x3C]


def test_float64_to_bfloat16_and_float16(backend: str) -> None:
    x = _float64_probe()
    with np.errstate(over="ignore"):
        if backend == "mlx":  # MLX has no float64: the input becomes float32 (exactly what the reference sees too)
            x = x.astype(np.float32).astype(np.float64)
        xb = as_backend(x, backend) if backend == "numpy" else as_backend(x.astype(np.float32), backend)
        bf = mq.to_numpy(mq.to_bfloat16(xb, as_bits=True))
        np.testing.assert_array_equal(bf, x.astype(ml_dtypes.bfloat16).view(np.uint16))
        f16 = mq.to_numpy(mq.to_float16(xb, warn=False)).view(np.uint16)
        np.testing.assert_array_equal(f16, x.astype(np.float16).view(np.uint16))
