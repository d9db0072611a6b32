"""The backend shim itself: selection, conversions, exact rounding helpers."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import mlxquant as mq
from mlxquant._backend import get_backend
from tests.helpers import as_backend, assert_equal, backend_of


def test_import_is_light() -> None:
    heavy = ("mlx.core", "torch", "onnxruntime", "onnx", "PIL.Image", "cv2", "ml_dtypes", "gguf")
    code = f"import sys, mlxquant; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]", f"import mlxquant pulled in heavy modules: {out}"


def test_unknown_backend() -> None:
    with pytest.raises(mq.InvalidArgumentError, match="valid backends are: numpy, mlx"):
        get_backend(backend="jax")


def test_backend_follows_input(backend: str) -> None:
    x = as_backend(np.zeros(3, np.float32), backend)
    assert get_backend(x).name == backend


@pytest.mark.parametrize(
    "values, away, up",
    [
        ([0.5, 1.5, 2.5, -0.5, -2.5], [1, 2, 3, -1, -3], [1, 2, 3, 0, -2]),
        ([0.49999997, -0.49999997, 8388607.5, -8388607.5], [0, 0, 8388608, -8388608], [0, 0, 8388608, -8388607]),
        ([0.0, -0.0, 1e30, -1e30], [0, 0, 1e30, -1e30], [0, 0, 1e30, -1e30]),
    ],
)
def test_round_helpers_exact(backend: str, values: list, away: list, up: list) -> None:
    b = get_backend(backend=backend)
    x = as_backend(np.array(values, np.float32), backend)
    assert_equal(b.round_half_away(x), np.array(away, np.float32), backend=backend)
    assert_equal(b.round_half_up(x), np.array(up, np.float32), backend=backend)


def test_float_to_int_is_defined(backend: str) -> None:
    b = get_backend(backend=backend)
    x = as_backend(np.array([np.nan, np.inf, -np.inf, 300.0, -300.0, 5.0], np.float32), backend)
    out = b.float_to_int(x, -128, 127, "int8")
    assert backend_of(out) == backend
    assert_equal(out, np.array([0, 127, -128, 127, -128, 5], np.int8), backend=backend)
