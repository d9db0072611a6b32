"""Argument and shape checks that raise with the expected and the actual value."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ._errors import InvalidArgumentError, ShapeError

__all__ = ["check_axis", "check_choice", "check_positive_int", "check_range", "check_shape"]


def check_choice(name: str, value: Any, valid: Iterable[Any], error: type[Exception] = InvalidArgumentError) -> Any:
    """Raise ``error`` unless ``value`` is one of ``valid``; the message lists the valid values."""
    valid = tuple(valid)
    if value not in valid:
        raise error(f"invalid {name} {value!r}; valid values are: {', '.join(map(str, valid))}")
    return value


def check_shape(name: str, actual: Sequence[int], expected: Sequence[int | None]) -> None:
    """Raise :class:`ShapeError` unless ``actual`` matches ``expected`` (``None`` matches any extent)."""
    actual = tuple(int(a) for a in actual)
    ok = len(actual) == len(expected) and all(e is None or a == e for a, e in zip(actual, expected, strict=True))
    if not ok:
        exp = "(" + ", ".join("*" if e is None else str(e) for e in expected) + ")"
        raise ShapeError(f"{name} has shape {actual}, expected {exp}")


def check_axis(axis: int, ndim: int, name: str = "axis") -> int:
    """Normalize a possibly negative axis; raise if out of range for ``ndim`` dimensions."""
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise InvalidArgumentError(f"{name} must be an int, got {type(axis).__name__}")
    if not -ndim <= axis < ndim:
        raise InvalidArgumentError(f"{name} {axis} is out of range for an array of {ndim} dimensions")
    return axis % ndim


def check_positive_int(name: str, value: Any) -> int:
    """Raise unless ``value`` is an int ≥ 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(f"{name} must be a positive int, got {value!r}")
    return value


def check_range(name: str, value: float, lo: float, hi: float) -> float:
    """Raise unless lo ≤ value ≤ hi."""
    if not (lo <= value <= hi):
        raise InvalidArgumentError(f"{name} must be in [{lo}, {hi}], got {value!r}")
    return value
