"""Backend-independent assertions (in the spirit of array-api-extra's xp_assert_equal).

Every helper checks backend type, dtype and shape *before* values, and raises on any mismatch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlxquant._backend import get_backend, is_mlx_array, to_numpy

__all__ = ["as_backend", "assert_close", "assert_equal", "backend_of", "readonly"]


def backend_of(x: Any) -> str:
    return "mlx" if is_mlx_array(x) else "numpy"


def as_backend(x: Any, backend: str, dtype: str | None = None) -> Any:
    """Convert a NumPy array (or list) to ``backend``; for NumPy, a read-only copy that catches input mutation."""
    b = get_backend(backend=backend)
    if backend == "numpy":
        a = np.array(x, dtype=dtype, copy=True)
        a.setflags(write=False)
        return a
    return b.asarray(np.asarray(x), dtype)


def readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


def _dtype_name(x: Any) -> str:
    return get_backend(x).dtype_name(x)


def assert_equal(
    actual: Any, expected: Any, *, backend: str | None = None, check_dtype: bool = True, msg: str = ""
) -> None:
    """Exact equality (NaN == NaN) after checking backend, dtype and shape."""
    if backend is not None and backend_of(actual) != backend:
        raise AssertionError(f"{msg} result is on backend {backend_of(actual)!r}, expected {backend!r}")
    if check_dtype and not isinstance(expected, (int, float, list)):
        if _dtype_name(actual) != _dtype_name(expected):
            raise AssertionError(f"{msg} dtype {_dtype_name(actual)} != expected {_dtype_name(expected)}")
    a, e = to_numpy(actual), to_numpy(expected)
    if a.shape != e.shape:
        raise AssertionError(f"{msg} shape {a.shape} != expected {e.shape}")
    np.testing.assert_array_equal(a, e, err_msg=msg, strict=False)


def assert_close(
    actual: Any, expected: Any, *, rtol: float, atol: float, backend: str | None = None, msg: str = ""
) -> None:
    """Float closeness with an explicit, documented tolerance, after checking backend and shape."""
    if backend is not None and backend_of(actual) != backend:
        raise AssertionError(f"{msg} result is on backend {backend_of(actual)!r}, expected {backend!r}")
    a, e = to_numpy(actual), to_numpy(expected)
    if a.shape != e.shape:
        raise AssertionError(f"{msg} shape {a.shape} != expected {e.shape}")
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=msg, equal_nan=True)
