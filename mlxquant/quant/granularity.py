"""Granularity: per-tensor, per-axis and blocked quantization parameters (ONNX semantics).

* per-tensor: ``axis=None, block_size=None``; scale and zero point hold one value (shape ``()`` or ``(1,)``).
* per-axis: ``axis=a, block_size=None``; scale is 1-D of length ``x.shape[a]``; the zero point is a scalar or has
  the scale's shape.
* blocked: ``axis=a, block_size=B``; scale has ``x``'s rank, ``ceil(D/B)`` entries along ``a`` (``D = x.shape[a]``)
  and ``x``'s extent on every other axis; element ``i`` along ``a`` uses block ``i // B`` (the last block may be
  partial). The zero point is a scalar or has the scale's shape.

:class:`Layout` turns parameters of any granularity into arrays that broadcast against ``x`` (or against a blocked
view of ``x`` when ``B`` divides ``D``), and reduces ``x`` to per-granule min/max for ``choose_qparams``.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

from .._backend import Backend
from .._checks import check_axis
from .._errors import InvalidArgumentError, ShapeError

__all__ = ["Layout", "make_layout", "param_shape"]


@dataclass(frozen=True)
class Layout:
    """The granularity of one quantization call over an array of shape ``shape``."""

    shape: tuple[int, ...]
    axis: int | None  # normalized (non-negative) axis, or None for per-tensor
    block_size: int | None

    @property
    def kind(self) -> str:
        """``"tensor"``, ``"axis"`` or ``"block"``."""
        if self.axis is None:
            return "tensor"
        return "axis" if self.block_size is None else "block"

    @property
    def n_blocks(self) -> int:
        assert self.axis is not None and self.block_size is not None
        d = self.shape[self.axis]
        return -(-d // self.block_size)

    @property
    def param_shape(self) -> tuple[int, ...]:
        """The required shape of scale (and of a non-scalar zero point)."""
        if self.axis is None:
            return ()
        if self.block_size is None:
            return (self.shape[self.axis],)
        s = list(self.shape)
        s[self.axis] = self.n_blocks
        return tuple(s)

    @property
    def exact_blocks(self) -> bool:
        """True for blocked layouts whose block size divides the axis (a reshape view suffices)."""
        return self.kind == "block" and self.shape[self.axis] % self.block_size == 0  # type: ignore[index,operator]

    # ---- parameters -------------------------------------------------------------------------------------------
    def check_param(self, name: str, shape: tuple[int, ...], *, scalar_ok: bool) -> bool:
        """Raise :class:`ShapeError` unless ``shape`` fits this layout; return True if it is a per-tensor scalar."""
        size = 1
        for d in shape:
            size *= d
        is_scalar = len(shape) <= 1 and size == 1
        if self.kind == "tensor":
            if not is_scalar:
                raise ShapeError(
                    f"{name} has shape {shape}, expected () or (1,) for per-tensor quantization "
                    "(pass axis= for per-axis or axis= and block_size= for blocked quantization)"
                )
            return True
        expected = self.param_shape
        if tuple(shape) == expected:
            return False
        if scalar_ok and is_scalar:
            return True
        what = "per-axis" if self.kind == "axis" else f"blocked (block_size={self.block_size})"
        raise ShapeError(
            f"{name} has shape {tuple(shape)}, expected {expected} for {what} quantization along axis {self.axis} "
            f"of an array of shape {self.shape}" + (" (or a scalar)" if scalar_ok else "")
        )

    def view(self, b: Backend, x: Any) -> Any:
        """``x`` reshaped so that :meth:`expand` parameters broadcast against it (blocked: split the axis)."""
        if self.exact_blocks:
            a = self.axis
            assert a is not None and self.block_size is not None
            return b.reshape(x, (*self.shape[:a], self.n_blocks, self.block_size, *self.shape[a + 1 :]))
        return x

    def unview(self, b: Backend, y: Any) -> Any:
        """Undo :meth:`view`."""
        if self.exact_blocks:
            return b.reshape(y, self.shape)
        return y

    def expand(self, b: Backend, p: Any, scalar: bool) -> Any:
        """A parameter array (already checked) reshaped to broadcast against :meth:`view` of ``x``."""
        if scalar:
            return b.reshape(p, ())
        a = self.axis
        assert a is not None
        nd = len(self.shape)
        if self.kind == "axis":
            return b.reshape(p, tuple(self.shape[a] if i == a else 1 for i in range(nd)))
        if self.exact_blocks:
            return b.expand_dims(p, a + 1)
        # partial last block: repeat each block's value B times along the axis and cut to D.
        assert self.block_size is not None
        rep = b.repeat(p, self.block_size, axis=a)
        return rep[(slice(None),) * a + (slice(0, self.shape[a]),)]

    # ---- reductions -------------------------------------------------------------------------------------------
    def minmax(self, b: Backend, x: Any) -> tuple[Any, Any]:
        """Per-granule (min, max) of ``x`` with :attr:`param_shape` (empty arrays reduce to (0, 0))."""
        size = 1
        for d in self.shape:
            size *= d
        kind = self.kind
        if size == 0:
            z = b.zeros(self.param_shape, "float32")
            return z, z
        if kind == "tensor":
            return b.min(x), b.max(x)
        a = self.axis
        assert a is not None
        if kind == "axis":
            axes = tuple(i for i in range(len(self.shape)) if i != a)
            if not axes:
                return x, x
            return b.min(x, axis=axes), b.max(x, axis=axes)
        assert self.block_size is not None
        d, bs, nb = self.shape[a], self.block_size, self.n_blocks
        if d % bs:
            # Pad the partial last block by repeating its last element (never changes a block's min or max).
            idx = b.asarray([d - 1] * (nb * bs - d), "int32")
            x = b.concatenate([x, b.take(x, idx, axis=a)], axis=a)
        xr = b.reshape(x, (*self.shape[:a], nb, bs, *self.shape[a + 1 :]))
        return b.min(xr, axis=a + 1), b.max(xr, axis=a + 1)


def _as_int(v: Any) -> Any:
    """A NumPy (or other ``__index__``) integer as a Python int; anything else unchanged, for the checks to reject."""
    if v is None or isinstance(v, (bool, int)) or not hasattr(v, "__index__") or (hasattr(v, "dtype") and v.ndim):
        return v
    return operator.index(v)


def make_layout(shape: tuple[int, ...], axis: int | None, block_size: int | None) -> Layout:
    """Validate ``axis`` / ``block_size`` against an array shape and return the :class:`Layout`.

    Raises:
        InvalidArgumentError: axis out of range or not an int, block_size not a positive int, block_size without
            axis.
    """
    shape = tuple(int(d) for d in shape)
    axis, block_size = _as_int(axis), _as_int(block_size)  # NumPy integers (e.g. from argmax, .shape) are ints too
    if block_size is not None:
        if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
            raise InvalidArgumentError(f"invalid block_size {block_size!r}: it must be a positive int")
        if axis is None:
            raise InvalidArgumentError("block_size requires axis= (the axis along which the blocks run)")
    if axis is None:
        return Layout(shape, None, None)
    if len(shape) == 0:
        raise InvalidArgumentError(f"axis={axis} was given but the input is 0-d (use per-tensor quantization)")
    ax = check_axis(axis, len(shape))
    return Layout(shape, ax, block_size)


def param_shape(shape: tuple[int, ...], axis: int | None, block_size: int | None) -> tuple[int, ...]:
    """The scale shape that ``axis`` / ``block_size`` require for an input of ``shape``."""
    return make_layout(shape, axis, block_size).param_shape
