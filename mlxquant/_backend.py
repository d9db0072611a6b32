"""The array shim: one small backend class per array library.

Every operation in mlxquant is written once against :class:`Backend`. The backend is chosen from the *primary*
input's type (NumPy in → NumPy out, MLX in → MLX out); a ``backend=`` argument ("numpy" or "mlx") forces one.
MLX is only considered when ``mlx.core`` is already imported (so ``import mlxquant`` never imports MLX), or when
``backend="mlx"`` is asked for explicitly.

Dtypes are named by strings shared by both backends: ``"float32" "float16" "bfloat16" "float64" "int8" "uint8"
"int16" "uint16" "int32" "uint32" "int64" "uint64" "bool"``.

Notes on semantic equality of the two backends (see docs/spec.md):

* ``round`` is round-half-to-even in both (``np.round`` / ``mx.round``).
* Float division ``a / b`` in float32 is correctly rounded in both and bit-identical.
* ``astype`` from float to integer is a plain C cast in both: undefined for NaN and out-of-range values. Callers
  must clip and replace NaN first; :meth:`Backend.float_to_int` does exactly that.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._errors import BackendError, InvalidArgumentError

__all__ = [
    "BACKEND_NAMES",
    "Backend",
    "MlxBackend",
    "NumpyBackend",
    "get_backend",
    "is_mlx_array",
    "to_numpy",
]

BACKEND_NAMES = ("numpy", "mlx")

_DTYPE_NAMES = (
    "float32",
    "float16",
    "bfloat16",
    "float64",
    "int8",
    "uint8",
    "int16",
    "uint16",
    "int32",
    "uint32",
    "int64",
    "uint64",
    "bool",
)

# The largest MLX buffer cache we ask for: MLX's default CPU cache is small (32 MB), so large ops page-fault on
# every call; 1 GiB made dequantize ~10x faster (REFERENCE §7). We only ever raise the limit, never lower it.
_MLX_CACHE_LIMIT = 1 << 30


class Backend:
    """The primitives every generic mlxquant operation is written against."""

    name: str = "abstract"

    # ---- identity and conversion -------------------------------------------------------------------------------
    def is_native(self, x: Any) -> bool:
        raise NotImplementedError

    def asarray(self, x: Any, dtype: str | None = None) -> Any:
        raise NotImplementedError

    def to_numpy(self, x: Any) -> np.ndarray:
        raise NotImplementedError

    def dtype(self, name: str) -> Any:
        raise NotImplementedError

    def dtype_name(self, x: Any) -> str:
        raise NotImplementedError

    def astype(self, x: Any, name: str) -> Any:
        raise NotImplementedError

    def view(self, x: Any, name: str) -> Any:
        """Reinterpret the bits of ``x`` as dtype ``name`` (same item size)."""
        raise NotImplementedError

    def eval(self, *xs: Any) -> None:
        """Force evaluation (MLX is lazy; NumPy: no-op)."""

    # ---- generic helpers shared by both backends -----------------------------------------------------------------
    def const(self, value: Any, name: str = "float32") -> Any:
        """A constant of an explicit dtype (never a bare Python float that would promote NumPy to float64)."""
        return self.asarray(np.asarray(value, dtype=_np_dtype(name)) if name != "bfloat16" else value, name)

    def is_floating(self, x: Any) -> bool:
        return self.dtype_name(x) in ("float16", "bfloat16", "float32", "float64")

    def is_integer(self, x: Any) -> bool:
        return self.dtype_name(x).startswith(("int", "uint"))

    def float_to_int(self, x: Any, lo: float, hi: float, name: str, nan_value: float = 0.0) -> Any:
        """Saturating float→int cast with a defined result: NaN → ``nan_value``, then clip to [lo, hi], then cast.

        ``x`` must already be integral-valued (rounded); the clip makes the C cast defined.
        """
        fdt = self.dtype_name(x)
        x = self.where(self.isnan(x), self.const(nan_value, fdt), x)
        x = self.clip(x, self.const(lo, fdt), self.const(hi, fdt))
        return self.astype(x, name)

    def round_half_away(self, x: Any) -> Any:
        """Round half away from zero: sign(x)·floor(|x| + 0.5), exact for every float32 (see docs/spec.md)."""
        # floor(|x| + 0.5) is wrong for 0.49999997 (the add rounds up to 1.0); trunc(x) + (|x - trunc(x)| >= 0.5)
        # is exact because x - trunc(x) is exact in binary floating point.
        t = self.trunc(x)
        frac = self.abs(x - t)
        half = self.const(0.5, self.dtype_name(x))
        one = self.const(1.0, self.dtype_name(x))
        return self.where(frac >= half, t + self.where(x < 0, -one, one), t)

    def round_half_up(self, x: Any) -> Any:
        """Round half toward +inf: floor(x + 0.5) computed exactly (TF FakeQuant's rounding)."""
        f = self.floor(x)
        half = self.const(0.5, self.dtype_name(x))
        return self.where(x - f >= half, f + self.const(1.0, self.dtype_name(x)), f)

    # ---- element-wise and structural primitives (same names and semantics as NumPy) ------------------------------
    def __getattr__(self, item: str) -> Any:  # pragma: no cover - defined in subclasses
        raise AttributeError(f"backend {self.name!r} has no primitive {item!r}")


def _np_dtype(name: str) -> Any:
    if name == "bfloat16":
        raise InvalidArgumentError("NumPy has no bfloat16 dtype; use the MLX backend or mlxquant.to_bfloat16")
    if name not in _DTYPE_NAMES:
        raise InvalidArgumentError(f"unknown dtype {name!r}; valid dtypes are: {', '.join(_DTYPE_NAMES)}")
    return np.dtype(name)


class NumpyBackend(Backend):
    """NumPy backend. All results are fresh arrays; inputs are never written."""

    name = "numpy"

    def is_native(self, x: Any) -> bool:
        return isinstance(x, (np.ndarray, np.generic))

    def asarray(self, x: Any, dtype: str | None = None) -> np.ndarray:
        if is_mlx_array(x):
            x = to_numpy(x)
        if dtype is None:
            return np.asarray(x)
        return np.asarray(x, dtype=_np_dtype(dtype))

    def to_numpy(self, x: Any) -> np.ndarray:
        return np.asarray(x)

    def dtype(self, name: str) -> Any:
        return _np_dtype(name)

    def dtype_name(self, x: Any) -> str:
        dt = np.asarray(x).dtype
        if dt.name == "bfloat16":
            return "bfloat16"
        return dt.name

    def astype(self, x: Any, name: str) -> np.ndarray:
        return np.asarray(x).astype(_np_dtype(name), copy=False)

    def view(self, x: Any, name: str) -> np.ndarray:
        return np.ascontiguousarray(x).view(_np_dtype(name))

    # primitives
    zeros = staticmethod(lambda shape, dtype="float32": np.zeros(shape, dtype=_np_dtype(dtype)))
    ones = staticmethod(lambda shape, dtype="float32": np.ones(shape, dtype=_np_dtype(dtype)))
    full = staticmethod(lambda shape, v, dtype="float32": np.full(shape, v, dtype=_np_dtype(dtype)))
    arange = staticmethod(lambda *a, dtype="int32": np.arange(*a, dtype=_np_dtype(dtype)))
    reshape = staticmethod(lambda x, shape: np.reshape(x, shape))
    transpose = staticmethod(lambda x, axes=None: np.transpose(x, axes))
    moveaxis = staticmethod(np.moveaxis)
    expand_dims = staticmethod(np.expand_dims)
    squeeze = staticmethod(lambda x, axis=None: np.squeeze(x, axis))
    broadcast_to = staticmethod(np.broadcast_to)
    concatenate = staticmethod(lambda xs, axis=0: np.concatenate(xs, axis=axis))
    stack = staticmethod(lambda xs, axis=0: np.stack(xs, axis=axis))
    repeat = staticmethod(lambda x, n, axis=None: np.repeat(x, n, axis=axis))
    tile = staticmethod(np.tile)
    pad = staticmethod(lambda x, widths, value=0: np.pad(x, widths, mode="constant", constant_values=value))
    where = staticmethod(np.where)
    clip = staticmethod(np.clip)
    minimum = staticmethod(np.minimum)
    maximum = staticmethod(np.maximum)
    abs = staticmethod(np.abs)
    sign = staticmethod(np.sign)
    round = staticmethod(np.round)  # round half to even
    floor = staticmethod(np.floor)
    ceil = staticmethod(np.ceil)
    trunc = staticmethod(np.trunc)
    sqrt = staticmethod(np.sqrt)
    exp = staticmethod(np.exp)
    log = staticmethod(np.log)
    log2 = staticmethod(np.log2)
    isnan = staticmethod(np.isnan)
    isinf = staticmethod(np.isinf)
    isfinite = staticmethod(np.isfinite)
    logical_and = staticmethod(np.logical_and)
    logical_or = staticmethod(np.logical_or)
    logical_not = staticmethod(np.logical_not)
    left_shift = staticmethod(np.left_shift)
    right_shift = staticmethod(np.right_shift)
    bitwise_and = staticmethod(np.bitwise_and)
    bitwise_or = staticmethod(np.bitwise_or)
    any = staticmethod(lambda x, axis=None, keepdims=False: np.any(x, axis=axis, keepdims=keepdims))
    all = staticmethod(lambda x, axis=None, keepdims=False: np.all(x, axis=axis, keepdims=keepdims))
    sum = staticmethod(lambda x, axis=None, keepdims=False: np.sum(x, axis=axis, keepdims=keepdims))
    mean = staticmethod(lambda x, axis=None, keepdims=False: np.mean(x, axis=axis, keepdims=keepdims))
    min = staticmethod(lambda x, axis=None, keepdims=False: np.min(x, axis=axis, keepdims=keepdims))
    max = staticmethod(lambda x, axis=None, keepdims=False: np.max(x, axis=axis, keepdims=keepdims))
    argmax = staticmethod(lambda x, axis=None: np.argmax(x, axis=axis))
    argmin = staticmethod(lambda x, axis=None: np.argmin(x, axis=axis))
    argsort = staticmethod(lambda x, axis=-1: np.argsort(x, axis=axis, kind="stable"))
    sort = staticmethod(lambda x, axis=-1: np.sort(x, axis=axis))
    cumsum = staticmethod(lambda x, axis=None: np.cumsum(x, axis=axis))
    take = staticmethod(lambda x, idx, axis=None: np.take(x, idx, axis=axis))
    take_along_axis = staticmethod(np.take_along_axis)
    matmul = staticmethod(np.matmul)

    @staticmethod
    def sigmoid(x: np.ndarray) -> np.ndarray:
        # 1/(1+exp(-x)), written to avoid overflow warnings for large negative x.
        with np.errstate(over="ignore"):
            return (1 / (1 + np.exp(-x))).astype(x.dtype, copy=False)


class MlxBackend(Backend):
    """MLX backend (lazy arrays; CPU on Linux, Metal on macOS, CUDA with ``mlx[cuda]``)."""

    name = "mlx"

    def __init__(self) -> None:
        try:
            import mlx.core as mx
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise BackendError(
                "the MLX backend was requested but mlx is not importable "
                f"({e}); install 'mlx' on macOS or 'mlx[cpu]' / 'mlx[cuda12]' on Linux"
            ) from None
        self.mx = mx
        prev = mx.set_cache_limit(_MLX_CACHE_LIMIT)
        if prev > _MLX_CACHE_LIMIT:
            mx.set_cache_limit(prev)

    def is_native(self, x: Any) -> bool:
        return isinstance(x, self.mx.array)

    def asarray(self, x: Any, dtype: str | None = None) -> Any:
        mx = self.mx
        if isinstance(x, mx.array):
            return x if dtype is None or self.dtype_name(x) == dtype else x.astype(self.dtype(dtype))
        a = np.asarray(x)
        if a.dtype == np.float64 and dtype is None:
            # mx.array(float64) silently becomes float32; make that explicit.
            dtype = "float32"
        if dtype is not None and dtype != "bfloat16":
            a = a.astype(_np_dtype(dtype), copy=False)
            return mx.array(a)
        out = mx.array(a)
        return out if dtype is None else out.astype(self.dtype(dtype))

    def to_numpy(self, x: Any) -> np.ndarray:
        return to_numpy(x)

    def dtype(self, name: str) -> Any:
        if name not in _DTYPE_NAMES:
            raise InvalidArgumentError(f"unknown dtype {name!r}; valid dtypes are: {', '.join(_DTYPE_NAMES)}")
        return getattr(self.mx, "bool_" if name == "bool" else name)  # MLX names its boolean dtype bool_

    def dtype_name(self, x: Any) -> str:
        return str(x.dtype).split(".")[-1]

    def astype(self, x: Any, name: str) -> Any:
        return x.astype(self.dtype(name))

    def view(self, x: Any, name: str) -> Any:
        return self.mx.view(x, self.dtype(name))

    def eval(self, *xs: Any) -> None:
        self.mx.eval(*xs)

    # primitives
    def zeros(self, shape: Any, dtype: str = "float32") -> Any:
        return self.mx.zeros(shape, dtype=self.dtype(dtype))

    def ones(self, shape: Any, dtype: str = "float32") -> Any:
        return self.mx.ones(shape, dtype=self.dtype(dtype))

    def full(self, shape: Any, v: Any, dtype: str = "float32") -> Any:
        return self.mx.full(shape, v, dtype=self.dtype(dtype))

    def arange(self, *a: Any, dtype: str = "int32") -> Any:
        return self.mx.arange(*a, dtype=self.dtype(dtype))

    def reshape(self, x: Any, shape: Sequence[int]) -> Any:
        return self.mx.reshape(x, tuple(shape))

    def transpose(self, x: Any, axes: Sequence[int] | None = None) -> Any:
        return self.mx.transpose(x, axes) if axes is not None else self.mx.transpose(x)

    def moveaxis(self, x: Any, source: int, destination: int) -> Any:
        return self.mx.moveaxis(x, source, destination)

    def expand_dims(self, x: Any, axis: Any) -> Any:
        return self.mx.expand_dims(x, axis)

    def squeeze(self, x: Any, axis: Any = None) -> Any:
        return self.mx.squeeze(x, axis) if axis is not None else self.mx.squeeze(x)

    def broadcast_to(self, x: Any, shape: Sequence[int]) -> Any:
        return self.mx.broadcast_to(x, tuple(shape))

    def concatenate(self, xs: Sequence[Any], axis: int = 0) -> Any:
        return self.mx.concatenate(list(xs), axis=axis)

    def stack(self, xs: Sequence[Any], axis: int = 0) -> Any:
        return self.mx.stack(list(xs), axis=axis)

    def repeat(self, x: Any, n: int, axis: int | None = None) -> Any:
        return self.mx.repeat(x, n, axis=axis) if axis is not None else self.mx.repeat(x, n)

    def tile(self, x: Any, reps: Any) -> Any:
        return self.mx.tile(x, reps)

    def pad(self, x: Any, widths: Any, value: Any = 0) -> Any:
        return self.mx.pad(x, [tuple(w) for w in widths], constant_values=value)

    def where(self, c: Any, a: Any, b: Any) -> Any:
        return self.mx.where(c, a, b)

    def clip(self, x: Any, lo: Any, hi: Any) -> Any:
        return self.mx.clip(x, lo, hi)

    def minimum(self, a: Any, b: Any) -> Any:
        return self.mx.minimum(a, b)

    def maximum(self, a: Any, b: Any) -> Any:
        return self.mx.maximum(a, b)

    def abs(self, x: Any) -> Any:
        return self.mx.abs(x)

    def sign(self, x: Any) -> Any:
        return self.mx.sign(x)

    def round(self, x: Any) -> Any:  # round half to even (bit-identical to np.round, REFERENCE §7)
        return self.mx.round(x)

    def floor(self, x: Any) -> Any:
        return self.mx.floor(x)

    def ceil(self, x: Any) -> Any:
        return self.mx.ceil(x)

    def trunc(self, x: Any) -> Any:
        # mx has no trunc: floor toward zero by sign (exact).
        mx = self.mx
        return mx.where(x < 0, mx.ceil(x), mx.floor(x))

    def sqrt(self, x: Any) -> Any:
        return self.mx.sqrt(x)

    def exp(self, x: Any) -> Any:
        return self.mx.exp(x)

    def log(self, x: Any) -> Any:
        return self.mx.log(x)

    def log2(self, x: Any) -> Any:
        return self.mx.log2(x)

    def sigmoid(self, x: Any) -> Any:
        return self.mx.sigmoid(x)

    def isnan(self, x: Any) -> Any:
        return self.mx.isnan(x)

    def isinf(self, x: Any) -> Any:
        return self.mx.isinf(x)

    def isfinite(self, x: Any) -> Any:
        return self.mx.isfinite(x)

    def logical_and(self, a: Any, b: Any) -> Any:
        return self.mx.logical_and(a, b)

    def logical_or(self, a: Any, b: Any) -> Any:
        return self.mx.logical_or(a, b)

    def logical_not(self, a: Any) -> Any:
        return self.mx.logical_not(a)

    def left_shift(self, a: Any, b: Any) -> Any:
        return self.mx.left_shift(a, b)

    def right_shift(self, a: Any, b: Any) -> Any:
        return self.mx.right_shift(a, b)

    def bitwise_and(self, a: Any, b: Any) -> Any:
        return self.mx.bitwise_and(a, b)

    def bitwise_or(self, a: Any, b: Any) -> Any:
        return self.mx.bitwise_or(a, b)

    def any(self, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        return self.mx.any(x, axis=axis, keepdims=keepdims)

    def all(self, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        return self.mx.all(x, axis=axis, keepdims=keepdims)

    def sum(self, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        return self.mx.sum(x, axis=axis, keepdims=keepdims)

    def mean(self, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        return self.mx.mean(x, axis=axis, keepdims=keepdims)

    def min(self, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        return self.mx.min(x, axis=axis, keepdims=keepdims)

    def max(self, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        return self.mx.max(x, axis=axis, keepdims=keepdims)

    def argmax(self, x: Any, axis: Any = None) -> Any:
        return self.mx.argmax(x, axis=axis)

    def argmin(self, x: Any, axis: Any = None) -> Any:
        return self.mx.argmin(x, axis=axis)

    def argsort(self, x: Any, axis: int = -1) -> Any:
        # MLX's argsort is stable on CPU and GPU for equal keys? Not guaranteed: break ties by index explicitly
        # where order matters (see decode.nms).
        return self.mx.argsort(x, axis=axis)

    def sort(self, x: Any, axis: int = -1) -> Any:
        return self.mx.sort(x, axis=axis)

    def cumsum(self, x: Any, axis: Any = None) -> Any:
        return self.mx.cumsum(x, axis=axis)

    def take(self, x: Any, idx: Any, axis: Any = None) -> Any:
        return self.mx.take(x, self.asarray(idx), axis=axis) if axis is not None else self.mx.take(x, self.asarray(idx))

    def take_along_axis(self, x: Any, idx: Any, axis: int) -> Any:
        return self.mx.take_along_axis(x, idx, axis=axis)

    def matmul(self, a: Any, b: Any) -> Any:
        return self.mx.matmul(a, b)


_NUMPY = NumpyBackend()
_MLX: MlxBackend | None = None


def _mlx_backend() -> MlxBackend:
    global _MLX
    if _MLX is None:
        _MLX = MlxBackend()
    return _MLX


def is_mlx_array(x: Any) -> bool:
    """True if ``x`` is an ``mlx.core.array`` (never imports MLX)."""
    mod = sys.modules.get("mlx.core")
    return mod is not None and isinstance(x, mod.array)


def get_backend(x: Any = None, backend: str | None = None) -> Backend:
    """The backend for primary input ``x``, or the one forced by ``backend``.

    Args:
        x: the primary input; an ``mlx.core.array`` selects MLX, anything else NumPy.
        backend: ``None`` (follow ``x``), ``"numpy"`` or ``"mlx"``.

    Raises:
        InvalidArgumentError: unknown backend name.
        BackendError: ``"mlx"`` requested but MLX cannot be imported.
    """
    if backend is None:
        return _mlx_backend() if is_mlx_array(x) else _NUMPY
    if backend == "numpy":
        return _NUMPY
    if backend == "mlx":
        return _mlx_backend()
    raise InvalidArgumentError(f"unknown backend {backend!r}; valid backends are: {', '.join(BACKEND_NAMES)}")


def to_numpy(x: Any) -> np.ndarray:
    """Any array (NumPy, MLX, list) as a NumPy array. MLX bfloat16 becomes float32 (exact)."""
    if is_mlx_array(x):
        import mlx.core as mx

        if x.dtype == mx.bfloat16:
            x = x.astype(mx.float32)
        return np.array(x)
    return np.asarray(x)
