"""Calibration observers: statistics of a stream of tensors → quantization parameters.

Every observer has ``update(x)`` (returns ``x`` unchanged), ``merge(other)`` (in place, returns ``self``),
``compute_qparams(dtype=..., symmetric=..., ...) -> QParams``, ``state_dict()`` (plain JSON-serializable Python) and
``from_state_dict()``; ``axis=None`` observes per tensor, ``axis=k`` per slice along axis ``k`` (per channel).

* :class:`MinMaxObserver` / :class:`MovingAverageMinMaxObserver` equal PyTorch's MinMaxObserver,
  MovingAverageMinMaxObserver and their PerChannel variants after the same stream of batches (``profile="torch"``).
* :class:`PercentileObserver`, :class:`EntropyObserver` and :class:`MSEObserver` port the amax rules of NVIDIA's
  HistogramCalibrator (pytorch-quantization / ModelOpt: ``_compute_amax_percentile``, ``_compute_amax_entropy``,
  ``_compute_amax_mse``) onto :class:`FixedHistogram`, a fixed-memory histogram of |x| whose merges are exact and
  order-independent.
* :class:`HistogramObserver` reproduces PyTorch's HistogramObserver (its histc binning, ``_combine_histograms`` and
  ``_non_linear_param_search``), which is fixed-memory but *order-dependent*; ``mode="fixed"`` runs the same L2
  search on an order-independent signed :class:`FixedHistogram` instead.

Non-finite values: NaN and ±inf are never folded into the statistics; they are counted (``num_nan``, ``num_inf``)
and reported by :meth:`summary`. An observer that saw no finite value raises on ``compute_qparams``.

The reductions (min/max, binning) run on the input's backend; the accumulated statistics are small and are kept as
NumPy float32/int64 on the host (counting bins is done with ``np.bincount`` on the host for both backends).
``compute_qparams`` returns :class:`~mlxquant.quant.primitives.QParams` on the backend of the observed data.
"""

from __future__ import annotations

import math
from typing import Any, TypeVar

import numpy as np

from .._backend import Backend, get_backend, to_numpy
from .._checks import check_axis, check_choice, check_positive_int
from .._errors import InputTypeError, InvalidArgumentError, NonFiniteError, ShapeError

__all__ = [
    "EntropyObserver",
    "FixedHistogram",
    "HistogramObserver",
    "MSEObserver",
    "MinMaxObserver",
    "MovingAverageMinMaxObserver",
    "PercentileObserver",
    "amax_entropy",
    "amax_mse",
    "amax_percentile",
]

_F32 = np.float32
# Smallest histogram range 2^-64: magnitudes below ~5e-20 all land in bin 0 (keeps 2^k scale factors in float32).
_MIN_RANGE_EXP = -64
_STATE_VERSION = 1


# ---------------------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------------------
def _prepare(x: Any, axis: int | None) -> tuple[Backend, Any]:
    """Input as a float32 2-D array (channels, values) on its own backend; axis=None gives one channel."""
    b = get_backend(x)
    x = b.asarray(x)
    if not b.is_floating(x):
        raise InputTypeError(f"observers need floating-point input, got dtype {b.dtype_name(x)}")
    if b.dtype_name(x) != "float32":
        x = b.astype(x, "float32")  # torch observers also compute in float32 (x.to(min_val.dtype))
    if axis is None:
        return b, b.reshape(x, (1, -1)) if len(x.shape) else b.reshape(x, (1, 1))
    ax = check_axis(axis, len(x.shape))
    x = b.moveaxis(x, ax, 0)
    c = int(x.shape[0])
    return b, b.reshape(x, (c, -1)) if c else x


def _scan(b: Backend, x2: Any) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Per-row min and max over the finite values (+inf / -inf for a row without any), NaN and inf counts.

    Fast path: plain min, max and sum per row (no temporaries). A NaN or ±inf anywhere makes the sum non-finite
    (IEEE addition propagates them on every device), and then the masked path recomputes min/max over the finite
    values and counts the rest. A finite sum that overflows to inf only costs the slow path.
    """
    mn = b.min(x2, axis=1)
    mx = b.max(x2, axis=1)
    sm = b.sum(x2, axis=1)
    mn_h, mx_h, sm_h = to_numpy(mn).astype(_F32), to_numpy(mx).astype(_F32), to_numpy(sm)
    if np.all(np.isfinite(sm_h)) and np.all(np.isfinite(mn_h)) and np.all(np.isfinite(mx_h)):
        return mn_h, mx_h, 0, 0
    fin = b.isfinite(x2)
    mn = b.min(b.where(fin, x2, b.const(np.inf, "float32")), axis=1)
    mx = b.max(b.where(fin, x2, b.const(-np.inf, "float32")), axis=1)
    nan = int(to_numpy(b.sum(b.astype(b.isnan(x2), "int32"))))
    inf = int(to_numpy(b.sum(b.astype(b.isinf(x2), "int32"))))
    return to_numpy(mn).astype(_F32), to_numpy(mx).astype(_F32), nan, inf


def _jsonable_floats(a: np.ndarray) -> list[float | str]:
    """float32 array → JSON-safe list (exact: float32 → Python float is exact; ±inf as strings)."""
    out: list[float | str] = []
    for v in np.asarray(a, dtype=_F32).reshape(-1).tolist():
        out.append("inf" if v == math.inf else "-inf" if v == -math.inf else v)
    return out


def _floats_from_json(v: list[float | str]) -> np.ndarray:
    return np.asarray([float(t) for t in v], dtype=_F32)


def _qparams_from_minmax(
    min_val: np.ndarray,
    max_val: np.ndarray,
    backend: str,
    per_axis: int | None,
    dtype: str,
    symmetric: bool,
    narrow_range: bool,
    reduce_range: bool,
    profile: str,
) -> Any:
    from .primitives import qparams_from_minmax  # the per-profile rules live in the core (issue 2)

    b = get_backend(backend=backend)
    mn, mx = (min_val[0], max_val[0]) if per_axis is None else (min_val, max_val)
    return qparams_from_minmax(
        b.asarray(np.asarray(mn, dtype=_F32)),
        b.asarray(np.asarray(mx, dtype=_F32)),
        dtype,
        symmetric=symmetric,
        narrow_range=narrow_range,
        reduce_range=reduce_range,
        profile=profile,
        axis=per_axis,
    )


_MinMaxT = TypeVar("_MinMaxT", bound="MinMaxObserver")


class _Observer:
    """Shared bookkeeping: axis, channel count, non-finite counters, backend of the observed data."""

    kind = "observer"

    def __init__(self, axis: int | None = None) -> None:
        if axis is not None and (isinstance(axis, bool) or not isinstance(axis, int)):
            raise InvalidArgumentError(f"axis must be None or an int, got {axis!r}")
        self.axis = axis
        self.channels: int | None = None
        self.num_batches = 0
        self.count = 0  # finite values seen
        self.num_nan = 0
        self.num_inf = 0
        self.backend: str | None = None

    # -- shared pieces ---------------------------------------------------------------------------------------------
    def _begin(self, x: Any) -> tuple[Backend, Any] | None:
        b, x2 = _prepare(x, self.axis)
        c = int(x2.shape[0])
        if self.channels is not None and c != self.channels:
            raise ShapeError(
                f"{type(self).__name__} was observing {self.channels} channel(s) along axis {self.axis}, "
                f"got a batch with {c}"
            )
        n = int(np.prod(x2.shape))
        if n == 0:  # torch observers return early on empty input, without initializing
            return None
        self._before = (self.num_batches, self.count, self.num_nan, self.num_inf, self.channels, self.backend)
        self.channels = c
        self.backend = self.backend or b.name
        mn, mx, nan, inf = _scan(b, x2)
        self.num_nan += nan
        self.num_inf += inf
        self.count += n - nan - inf
        self.num_batches += 1
        self._batch_minmax = (mn, mx, nan + inf == 0)
        return b, x2

    def _undo_begin(self) -> None:
        """Forget the counts that :meth:`_begin` added for a batch that is then refused."""
        self.num_batches, self.count, self.num_nan, self.num_inf, self.channels, self.backend = self._before

    def _check_merge(self, other: _Observer) -> None:
        if type(other) is not type(self):
            raise InputTypeError(f"cannot merge {type(other).__name__} into {type(self).__name__}")
        if other.axis != self.axis:
            raise InvalidArgumentError(f"cannot merge observers with axis {self.axis} and {other.axis}")
        if self.channels is not None and other.channels is not None and self.channels != other.channels:
            raise ShapeError(f"cannot merge observers of {self.channels} and {other.channels} channels")

    def _merge_counts(self, other: _Observer) -> None:
        self.channels = self.channels if self.channels is not None else other.channels
        self.backend = self.backend or other.backend
        self.num_batches += other.num_batches
        self.count += other.count
        self.num_nan += other.num_nan
        self.num_inf += other.num_inf

    def _require_data(self) -> None:
        if self.channels is None or self.count == 0:
            what = "only non-finite values" if (self.num_nan or self.num_inf) else "no data"
            raise NonFiniteError(
                f"{type(self).__name__} saw {what} ({self.num_nan} NaN, {self.num_inf} inf); "
                "call update() with finite data before compute_qparams()"
            )

    def _base_state(self) -> dict[str, Any]:
        return {
            "kind": type(self).__name__,
            "version": _STATE_VERSION,
            "axis": self.axis,
            "channels": self.channels,
            "num_batches": self.num_batches,
            "count": self.count,
            "num_nan": self.num_nan,
            "num_inf": self.num_inf,
            "backend": self.backend,
        }

    def _load_base(self, d: dict[str, Any]) -> None:
        if d.get("kind") != type(self).__name__:
            raise InvalidArgumentError(f"state_dict is for {d.get('kind')!r}, not {type(self).__name__}")
        self.channels = d["channels"]
        self.num_batches = int(d["num_batches"])
        self.count = int(d["count"])
        self.num_nan = int(d["num_nan"])
        self.num_inf = int(d["num_inf"])
        self.backend = d["backend"]

    def summary(self) -> dict[str, Any]:
        """Counts of what the observer saw: batches, finite values, NaN and inf (never folded into statistics)."""
        return {
            "batches": self.num_batches,
            "finite": self.count,
            "nan": self.num_nan,
            "inf": self.num_inf,
            "channels": self.channels,
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> Any:
        """Rebuild an observer from :meth:`state_dict` output (also after a JSON round trip)."""
        raise NotImplementedError


# ---------------------------------------------------------------------------------------------------------------
# min / max
# ---------------------------------------------------------------------------------------------------------------
class MinMaxObserver(_Observer):
    """Running min and max (PyTorch's MinMaxObserver / PerChannelMinMaxObserver).

    Args:
        axis: ``None`` for per-tensor statistics, or the channel axis (PyTorch's ``ch_axis``).

    Example:
        >>> import numpy as np
        >>> obs = MinMaxObserver()
        >>> _ = obs.update(np.array([-1.0, 0.2, 2.0, 3.0], np.float32))
        >>> obs.min_val.tolist(), obs.max_val.tolist()
        ([-1.0], [3.0])
    """

    def __init__(self, axis: int | None = None) -> None:
        super().__init__(axis)
        self.min_val: np.ndarray = np.empty(0, _F32)
        self.max_val: np.ndarray = np.empty(0, _F32)

    def update(self, x: Any) -> Any:
        """Fold one batch into the statistics; returns ``x`` unchanged.

        Raises:
            InputTypeError: non-float input.
            ShapeError: the channel count changed.
        """
        got = self._begin(x)
        if got is None:
            return x
        mn, mx, _ = self._batch_minmax
        self._fold(mn, mx)
        return x

    def _fold(self, mn: np.ndarray, mx: np.ndarray) -> None:
        if self.min_val.size == 0:
            self.min_val, self.max_val = mn, mx
        else:
            self.min_val = np.minimum(self.min_val, mn)
            self.max_val = np.maximum(self.max_val, mx)

    def merge(self, other: MinMaxObserver) -> MinMaxObserver:
        """Fold another observer's statistics into this one (min of mins, max of maxes); returns ``self``.

        Raises:
            ShapeError: different channel counts.
        """
        self._check_merge(other)
        if other.min_val.size:
            self._fold(other.min_val, other.max_val)
        self._merge_counts(other)
        return self

    def _require_minmax(self) -> None:
        self._require_data()
        if not np.all(np.isfinite(self.min_val)):
            bad = int(np.sum(~np.isfinite(self.min_val)))
            raise NonFiniteError(f"{bad} channel(s) of {type(self).__name__} saw no finite value")

    def compute_qparams(
        self,
        dtype: str = "uint8",
        *,
        symmetric: bool = False,
        narrow_range: bool = False,
        reduce_range: bool = False,
        profile: str = "torch",
    ) -> Any:
        """Quantization parameters from the observed range, by the profile's rule (core ``qparams_from_minmax``).

        Args:
            dtype: quantized dtype (``"uint8"`` = torch quint8, ``"int8"`` = qint8, ``"int32"``, ``"int4"``, ...).
            symmetric: symmetric scheme (torch ``per_tensor_symmetric`` / ``per_channel_symmetric``).
            narrow_range: use the narrow signed range (e.g. [-127, 127]).
            reduce_range: torch's reduce_range (one bit less of range).
            profile: whose rule: ``"torch"`` (default), ``"onnx"``, ...

        Returns:
            QParams on the backend of the observed data (per-axis when ``axis`` is set).

        Raises:
            NonFiniteError: no finite data was observed.
        """
        self._require_minmax()
        # Every profile's rule only uses min⁻ = min(min, 0) and max⁺ = max(max, 0); passing those keeps a moving
        # average whose float32 min ends an ulp or two above its max (a constant batch) well defined, where torch's
        # calculate_qparams asserts (docs/spec/calibration.md).
        return _qparams_from_minmax(
            np.minimum(self.min_val, _F32(0)),
            np.maximum(self.max_val, _F32(0)),
            self.backend or "numpy",
            None if self.axis is None else self.axis,
            dtype,
            symmetric,
            narrow_range,
            reduce_range,
            profile,
        )

    def state_dict(self) -> dict[str, Any]:
        """JSON-serializable state (floats are exact float32 values)."""
        d = self._base_state()
        d.update(min_val=_jsonable_floats(self.min_val), max_val=_jsonable_floats(self.max_val))
        return d

    @classmethod
    def _init_args(cls, state: dict[str, Any]) -> dict[str, Any]:
        """The constructor arguments recorded in a :meth:`state_dict` (subclasses add theirs)."""
        return {"axis": state["axis"]}

    def _load_extra(self, state: dict[str, Any]) -> None:
        """Restore what a subclass adds to the state beyond min/max (nothing here)."""

    @classmethod
    def from_state_dict(cls: type[_MinMaxT], state: dict[str, Any]) -> _MinMaxT:
        obs = cls(**cls._init_args(state))
        obs._load_base(state)
        obs.min_val = _floats_from_json(state["min_val"])
        obs.max_val = _floats_from_json(state["max_val"])
        obs._load_extra(state)
        return obs


class MovingAverageMinMaxObserver(MinMaxObserver):
    """Exponential moving average of per-batch min and max (PyTorch's MovingAverage(PerChannel)MinMaxObserver).

    The first batch initializes; then ``min += c·(batch_min - min)`` (float32 arithmetic, as torch). A channel with
    no finite value in a batch keeps its previous statistics (torch would propagate NaN).

    Args:
        averaging_constant: ``c`` in (0, 1].
        axis: ``None`` (per tensor) or the channel axis.

    Example:
        >>> import numpy as np
        >>> obs = MovingAverageMinMaxObserver(averaging_constant=0.01)
        >>> _ = obs.update(np.array([-1.0, 1.0], np.float32)); _ = obs.update(np.array([-3.0, 5.0], np.float32))
        >>> [round(float(v), 6) for v in (obs.min_val[0], obs.max_val[0])]
        [-1.02, 1.04]
    """

    def __init__(self, averaging_constant: float = 0.01, axis: int | None = None) -> None:
        super().__init__(axis)
        if not (isinstance(averaging_constant, (int, float)) and 0 < averaging_constant <= 1):
            raise InvalidArgumentError(f"averaging_constant must be in (0, 1], got {averaging_constant!r}")
        self.averaging_constant = float(averaging_constant)

    def _fold(self, mn: np.ndarray, mx: np.ndarray) -> None:
        if self.min_val.size == 0:
            self.min_val, self.max_val = mn.copy(), mx.copy()
            return
        c = _F32(self.averaging_constant)  # torch multiplies a float32 tensor by the Python float: float32 math
        ok = np.isfinite(mn)
        fresh = ~np.isfinite(self.min_val)
        new_min = np.where(fresh, mn, self.min_val + c * (mn - self.min_val))
        new_max = np.where(fresh, mx, self.max_val + c * (mx - self.max_val))
        self.min_val = np.where(ok, new_min, self.min_val).astype(_F32)
        self.max_val = np.where(ok, new_max, self.max_val).astype(_F32)

    def merge(self, other: MinMaxObserver) -> MinMaxObserver:
        """Not defined: a moving average depends on the order of batches.

        Raises:
            InvalidArgumentError: always (use :class:`MinMaxObserver` or a histogram observer to merge shards).
        """
        raise InvalidArgumentError(
            "MovingAverageMinMaxObserver cannot be merged: its result depends on the order of batches; "
            "use MinMaxObserver or a histogram observer for sharded calibration"
        )

    def state_dict(self) -> dict[str, Any]:
        d = super().state_dict()
        d["averaging_constant"] = self.averaging_constant
        return d

    @classmethod
    def _init_args(cls, state: dict[str, Any]) -> dict[str, Any]:
        return {**super()._init_args(state), "averaging_constant": state["averaging_constant"]}


# ---------------------------------------------------------------------------------------------------------------
# fixed-memory, exactly mergeable histogram
# ---------------------------------------------------------------------------------------------------------------
class FixedHistogram:
    """Histogram with a fixed number of bins over a power-of-two range that grows by exact re-binning.

    Unsigned (``signed=False``): bins of ``|x|`` over ``[0, R)``; signed: bins of ``x`` over ``[-R, R)``.
    ``R = 2^e`` is the smallest power of two strictly above the largest magnitude seen (at least 2^-64). The bin
    of ``x`` is ``floor(|x|·nbins/R)`` (unsigned) or ``floor(x·nbins/(2R)) + nbins/2`` (signed): a product by a
    power of two, hence exact. When R doubles, bin ``j`` of the old histogram is exactly bins ``2j, 2j+1`` of the
    new one merged, so growing and merging are exact integer operations: merging shards in any order equals a single
    pass over all the data. Memory is ``channels × nbins`` int64 whatever the number of batches.

    Args:
        num_bins: a power of two ≥ 2.
        signed: histogram of signed values over [-R, R) instead of |x| over [0, R).
    """

    def __init__(self, num_bins: int = 2048, signed: bool = False) -> None:
        check_positive_int("num_bins", num_bins)
        if num_bins < 2 or num_bins & (num_bins - 1):
            raise InvalidArgumentError(f"num_bins must be a power of two ≥ 2, got {num_bins}")
        self.num_bins = num_bins
        self.signed = bool(signed)
        self.counts: np.ndarray | None = None  # (channels, num_bins) int64
        self.exp: np.ndarray | None = None  # (channels,) int64: R = 2^exp

    @property
    def log2_bins(self) -> int:
        return self.num_bins.bit_length() - 1

    def _rescale(self, counts: np.ndarray, old: np.ndarray, new: np.ndarray) -> np.ndarray:
        """Re-bin each row from range 2^old to 2^new (new ≥ old): exact sums of 2^(new-old) adjacent bins."""
        out = counts.copy()
        n = self.num_bins
        for c in np.nonzero(new != old)[0]:
            d = int(new[c] - old[c])
            if self.signed:
                # centre-aligned: old bin i covers [(i - n/2)·w, ...); new index = floor((i - n/2) / 2^d) + n/2
                idx = np.floor_divide(np.arange(n) - n // 2, 1 << min(d, 62)) + n // 2
            else:
                idx = np.arange(n) >> min(d, 62)
            row = np.zeros(n, np.int64)
            np.add.at(row, idx, counts[c])  # exact integer re-binning
            out[c] = row
        return out

    def _needed_exp(self, amax: np.ndarray) -> np.ndarray:
        """Smallest e ≥ -64 with 2^e > amax (frexp: amax = m·2^e, 0.5 ≤ m < 1, so 2^(e-1) ≤ amax < 2^e)."""
        _, e = np.frexp(amax.astype(np.float64))
        e = np.where(amax > 0, e, _MIN_RANGE_EXP)
        return np.maximum(e, _MIN_RANGE_EXP).astype(np.int64)

    def update(self, b: Backend, x2: Any, *, all_finite: bool = False, amax: np.ndarray | None = None) -> None:
        """Add a (channels, values) float32 batch on backend ``b``; non-finite values are skipped.

        ``all_finite=True`` (the caller checked) skips the masks; ``amax`` (per-row max |x| over finite values)
        saves a reduction.
        """
        c = int(x2.shape[0])
        fin = None if all_finite else b.isfinite(x2)
        ax = b.abs(x2)
        if amax is None:
            masked = ax if fin is None else b.where(fin, ax, b.const(0, "float32"))
            amax = to_numpy(b.max(masked, axis=1)).astype(_F32)
        amax = np.where(np.isfinite(amax), amax, 0).astype(_F32)  # a row without finite values
        need = self._needed_exp(amax)
        if self.counts is None:
            self.counts = np.zeros((c, self.num_bins), np.int64)
            self.exp = need
        else:
            new = np.maximum(self.exp, need)
            self.counts = self._rescale(self.counts, self.exp, new)
            self.exp = new
        n = self.num_bins
        # bins per unit: n / R (unsigned) or n / (2R) (signed), a power of two exactly representable in float32
        k = (self.log2_bins - self.exp - (1 if self.signed else 0)).astype(np.int64)
        scale = b.asarray(np.ldexp(np.ones(c, _F32), k.astype(np.int32)).astype(_F32).reshape(c, 1))
        if self.signed:
            p = x2 * scale
            # |p| < 1: floor is 0 or -1 by the sign of x (p may underflow to ±0 for tiny x; the sign of x decides)
            small = b.abs(p) < b.const(1, "float32")
            fl = b.where(
                small, b.where(x2 < b.const(0, "float32"), b.const(-1, "float32"), b.const(0, "float32")), b.floor(p)
            )
            fl = fl + b.const(n // 2, "float32")
        elif fin is None:
            # all finite: 0 ≤ |x|·scale < n, and the float→int cast truncates, which is floor for values ≥ 0
            fl = ax * scale
        else:
            fl = b.floor(ax * scale)
        if fin is None:
            # every value is finite and |x| < R, so 0 ≤ fl ≤ n - 1: the float→int cast is defined as it is
            idx = b.astype(fl, "int32")
        else:
            # non-finite → the spill bin n (dropped); the clip makes the float→int cast defined
            fl = b.where(fin, fl, b.const(n, "float32"))
            idx = b.float_to_int(fl, 0, n, "int32", nan_value=n)
        if c > 1:
            idx = idx + b.reshape(b.arange(c, dtype="int32"), (c, 1)) * b.const(n + 1, "int32")
        flat = np.asarray(b.to_numpy(b.reshape(idx, (-1,))))
        cnt = np.bincount(flat, minlength=c * (n + 1)).reshape(c, n + 1)[:, :n]
        self.counts = self.counts + cnt.astype(np.int64)

    def merge(self, other: FixedHistogram) -> None:
        """Add another histogram (exact; order-independent)."""
        if other.num_bins != self.num_bins or other.signed != self.signed:
            raise InvalidArgumentError(
                f"cannot merge histograms of {other.num_bins} bins (signed={other.signed}) into "
                f"{self.num_bins} bins (signed={self.signed})"
            )
        if other.counts is None:
            return
        if self.counts is None:
            self.counts, self.exp = other.counts.copy(), other.exp.copy()
            return
        if other.counts.shape != self.counts.shape:
            raise ShapeError(f"cannot merge histograms of shape {other.counts.shape} into {self.counts.shape}")
        new = np.maximum(self.exp, other.exp)
        self.counts = self._rescale(self.counts, self.exp, new) + self._rescale(other.counts, other.exp, new)
        self.exp = new

    def edges(self, channel: int = 0) -> np.ndarray:
        """Bin edges of one channel (float64, exact: multiples of a power of two)."""
        if self.exp is None:
            raise NonFiniteError("the histogram is empty")
        r = math.ldexp(1.0, int(self.exp[channel]))
        if self.signed:
            return np.linspace(-r, r, self.num_bins + 1)
        return np.arange(self.num_bins + 1, dtype=np.float64) * (r / self.num_bins)

    def state_dict(self) -> dict[str, Any]:
        """JSON-serializable state; counts are stored sparsely (index, count) per channel."""
        rows = []
        if self.counts is not None:
            for row in self.counts:
                nz = np.nonzero(row)[0]
                rows.append([nz.tolist(), row[nz].tolist()])
        return {
            "num_bins": self.num_bins,
            "signed": self.signed,
            "exp": None if self.exp is None else self.exp.tolist(),
            "counts": rows,
        }

    @classmethod
    def from_state_dict(cls, d: dict[str, Any]) -> FixedHistogram:
        h = cls(d["num_bins"], d["signed"])
        if d["exp"] is not None:
            h.exp = np.asarray(d["exp"], np.int64)
            h.counts = np.zeros((len(d["counts"]), h.num_bins), np.int64)
            for c, (idx, val) in enumerate(d["counts"]):
                h.counts[c, np.asarray(idx, np.int64)] = np.asarray(val, np.int64)
        return h


# ---------------------------------------------------------------------------------------------------------------
# ModelOpt / pytorch-quantization amax rules (calib/histogram.py), on one histogram of |x|
# ---------------------------------------------------------------------------------------------------------------
def amax_percentile(counts: np.ndarray, edges: np.ndarray, percentile: float = 99.99) -> float:
    """``_compute_amax_percentile``: the left edge of the bin where the CDF first reaches ``percentile``.

    ``cdf = cumsum(counts / total)``; ``idx = searchsorted(cdf, percentile / 100)`` (first index with
    cdf ≥ p); ``amax = edges[idx]``.

    Example:
        >>> import numpy as np
        >>> amax_percentile(np.array([10, 80, 10]), np.array([0.0, 1.0, 2.0, 3.0]), 50.0)
        1.0
    """
    if not (0 <= percentile <= 100):
        raise InvalidArgumentError(f"percentile must be in [0, 100], got {percentile!r}")
    counts = np.asarray(counts)
    total = counts.sum()
    if total <= 0:
        raise NonFiniteError("the histogram is empty")
    cdf = np.cumsum(counts / total)
    idx = int(np.searchsorted(cdf, percentile / 100))
    return float(np.asarray(edges)[min(idx, len(edges) - 1)])


def amax_entropy(
    counts: np.ndarray,
    edges: np.ndarray,
    num_bits: int = 8,
    unsigned: bool = False,
    stride: int = 1,
    start_bin: int = 128,
) -> float:
    """``_compute_amax_entropy`` (TensorRT's KL calibration): the amax whose 2^(bits-1+unsigned)-level
    quantization of the histogram has the least KL divergence; the *last* minimum wins.

    ``bins[0] = bins[1]``; for each i in ``start_bin..len(bins)`` step ``stride``: P = bins[:i] with the tail
    sum added to P[i-1]; bins[:i] are grouped by ``digitize(range(i), linspace(0, i, nbins + 1)) - 1``, empty
    bins excluded; Q spreads each group's total evenly over its nonzero bins; KL(P‖Q) as ``scipy.stats.entropy``
    (both normalized, inf where P > 0 = Q); ``amax = edges[i]``.

    Example:
        >>> import numpy as np
        >>> h = np.bincount(np.minimum((np.abs(np.random.default_rng(0).standard_normal(20000)) * 100).astype(int),
        ...                 511), minlength=512)
        >>> round(amax_entropy(h, np.arange(513) / 100.0), 2)
        3.95
    """
    check_positive_int("stride", stride)
    bins = np.asarray(counts).astype(np.float64)
    if len(bins) < 2 or bins.sum() <= 0:
        raise NonFiniteError("the histogram is empty")
    bins = bins.copy()
    bins[0] = bins[1]  # ModelOpt: the zero bin is replaced by its neighbour (ReLU outputs pile up at 0)
    nq = 1 << (num_bits - 1 + int(unsigned))
    best_i, best = None, math.inf
    n = len(bins)
    csum_tail = np.concatenate([np.cumsum(bins[::-1])[::-1], [0.0]])  # csum_tail[i] = sum(bins[i:])
    for i in range(start_bin, n + 1, stride):
        space = np.linspace(0, i, num=nq + 1)
        g = np.digitize(np.arange(i), space) - 1
        seg = bins[:i]
        nz = seg != 0
        gsum = np.bincount(g[nz], weights=seg[nz], minlength=nq + 1)
        gcnt = np.bincount(g[nz], minlength=nq + 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            dens = np.where(gcnt > 0, gsum / np.maximum(gcnt, 1), 0.0)
        q = np.where(nz, dens[g], 0.0)
        p = seg.copy()
        p[-1] += csum_tail[i]
        d = _kl(p, q)
        if d <= best:  # '<=' keeps the last minimum (ModelOpt takes the last argmin)
            best, best_i = d, i
    if best_i is None:
        raise InvalidArgumentError(f"start_bin {start_bin} is beyond the histogram's {n} bins")
    return float(np.asarray(edges)[best_i])


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    """scipy.stats.entropy(p, q): normalize both, sum of rel_entr (inf where p > 0 and q = 0)."""
    sp, sq = p.sum(), q.sum()
    if sp != 0:
        p = p / sp
    if sq != 0:
        q = q / sq
    if np.any((p > 0) & (q <= 0)):
        return math.inf
    m = p > 0
    return float(np.sum(np.where(m, p * np.log(np.where(m, p, 1.0) / np.where(m, q, 1.0)), 0.0)))


def amax_mse(
    counts: np.ndarray,
    edges: np.ndarray,
    num_bits: int = 8,
    unsigned: bool = False,
    stride: int = 1,
    start_bin: int = 128,
) -> float:
    """``_compute_amax_mse``: the bin centre (from ``start_bin``) whose fake-quantization of all bin centres has the
    least count-weighted squared error (``np.argmin``: the first minimum wins, and the first NaN when float32 errors
    overflow, as the original).

    In float32 as the original (torch): ``centers = (edges[1:] + edges[:-1]) / 2``; for a candidate ``amax``,
    ``scale = qmax / amax`` with ``qmax = 2^(bits-1+unsigned) - 1``, ``q = clamp(rne(c·scale), qmin, qmax) / scale``
    with ``qmin = 0`` (unsigned) or ``-qmax`` (pytorch-quantization's narrow range); error ``mean((q - c)²·counts)``.

    Example:
        >>> import numpy as np
        >>> h = np.bincount(np.minimum((np.abs(np.random.default_rng(0).standard_normal(20000)) * 100).astype(int),
        ...                 511), minlength=512)
        >>> round(amax_mse(h, np.arange(513) / 100.0, num_bits=4), 3)
        2.475
    """
    check_positive_int("stride", stride)
    cnt = np.asarray(counts).astype(_F32)
    with np.errstate(over="ignore"):
        e = np.asarray(edges).astype(_F32)
    if cnt.sum() <= 0:
        raise NonFiniteError("the histogram is empty")
    if not np.all(np.isfinite(e)):
        raise NonFiniteError(
            f"amax_mse works in float32 and the bin edges overflow it (last edge {float(np.asarray(edges)[-1])!r}); "
            "scale the data down"
        )
    centers = (e[1:] + e[:-1]) / _F32(2)
    qmax = _F32(2.0 ** (num_bits - 1 + int(unsigned)) - 1)
    qmin = _F32(0) if unsigned else -qmax
    args = list(range(start_bin, len(centers), stride))
    if not args:
        raise InvalidArgumentError(f"start_bin {start_bin} is beyond the histogram's {len(centers)} bins")
    errs = []
    for i in args:
        amax = centers[i]
        if amax <= _F32(2.0**-24):  # pytorch-quantization: amax ≤ 2^-24 quantizes everything to 0
            qc = np.zeros_like(centers)
        else:
            scale = qmax / amax
            qc = np.clip(np.round(centers * scale), qmin, qmax) / scale
        with np.errstate(over="ignore", invalid="ignore"):  # |error| > 1.8e19 squares to inf (inf·0 = NaN), as torch
            errs.append(np.mean(((qc - centers) ** 2 * cnt).astype(_F32), dtype=_F32))
    # np.argmin as the original: the first minimum, and the first NaN if any (float32 overflow of huge ranges)
    return float(centers[args[int(np.argmin(np.asarray(errs, _F32)))]])


class _AmaxObserver(MinMaxObserver):
    """Min/max plus a fixed-memory histogram of |x|; qparams from an amax rule."""

    def __init__(self, axis: int | None = None, num_bins: int = 2048) -> None:
        super().__init__(axis)
        self.hist = FixedHistogram(num_bins, signed=False)

    def update(self, x: Any) -> Any:
        got = self._begin(x)
        if got is None:
            return x
        b, x2 = got
        mn, mx, all_finite = self._batch_minmax
        self._fold(mn, mx)
        self.hist.update(b, x2, all_finite=all_finite, amax=np.maximum(-mn, mx))
        return x

    def merge(self, other: _AmaxObserver) -> _AmaxObserver:
        self._check_merge(other)
        if other.hist.num_bins != self.hist.num_bins:
            raise InvalidArgumentError(
                f"cannot merge {other.hist.num_bins}-bin into {self.hist.num_bins}-bin histograms"
            )
        super().merge(other)
        self.hist.merge(other.hist)
        return self

    def _amax_one(self, counts: np.ndarray, edges: np.ndarray, bits: int, unsigned: bool) -> float:
        raise NotImplementedError

    def compute_amax(self, num_bits: int = 8, unsigned: bool = False) -> np.ndarray:
        """The calibrated amax per channel (float32 array of shape (channels,)).

        Raises:
            NonFiniteError: no finite data was observed.
        """
        self._require_minmax()
        if self.hist.counts is None:  # pragma: no cover - set together with min/max
            raise NonFiniteError("the histogram is empty")
        out = []
        for c in range(self.hist.counts.shape[0]):
            counts, edges = self.hist.counts[c], self.hist.edges(c)
            # Trim the empty bins above the data: ModelOpt's histogram ends at the data's amax, ours at a power of
            # two; without trimming the entropy/MSE search would consider ranges beyond every observed value.
            last = int(np.nonzero(counts)[0][-1]) + 1 if counts.any() else 1
            last = max(last, min(len(counts), 2))
            out.append(self._amax_one(counts[:last], edges[: last + 1], num_bits, unsigned))
        return np.asarray(out, _F32)

    def compute_qparams(
        self,
        dtype: str = "int8",
        *,
        symmetric: bool = True,
        narrow_range: bool = False,
        reduce_range: bool = False,
        profile: str = "torch",
    ) -> Any:
        """QParams from the calibrated amax: min and max clipped into [-amax, amax], then the profile's rule.

        The amax rule runs with ``num_bits`` of ``dtype`` (``unsigned`` when ``dtype`` is unsigned and the data is
        non-negative, as ModelOpt's unsigned quantizers after ReLU).

        Raises:
            NonFiniteError: no finite data was observed.
        """
        from .dtypes import qtype

        qt = qtype(dtype)
        self._require_minmax()
        unsigned = (not qt.signed) and bool(np.all(self.min_val >= 0))
        amax = self.compute_amax(qt.bits, unsigned)
        # both ends clipped into [-amax, amax] (keeps min ≤ max when amax is below the smallest observed value)
        mn = np.clip(self.min_val, -amax, amax).astype(_F32)
        mx = np.clip(self.max_val, -amax, amax).astype(_F32)
        return _qparams_from_minmax(
            mn, mx, self.backend or "numpy", self.axis, dtype, symmetric, narrow_range, reduce_range, profile
        )

    def state_dict(self) -> dict[str, Any]:
        d = super().state_dict()
        d["hist"] = self.hist.state_dict()
        return d

    @classmethod
    def _init_args(cls, state: dict[str, Any]) -> dict[str, Any]:
        return {**super()._init_args(state), "num_bins": state["hist"]["num_bins"]}

    def _load_extra(self, state: dict[str, Any]) -> None:
        self.hist = FixedHistogram.from_state_dict(state["hist"])


class PercentileObserver(_AmaxObserver):
    """amax = the ``percentile`` of |x| from a fixed-memory histogram (ModelOpt ``_compute_amax_percentile``).

    Args:
        percentile: in [0, 100]; 99.99 as ModelOpt's default.
        axis: ``None`` or the channel axis.
        num_bins: histogram bins (power of two).

    Example:
        >>> import numpy as np
        >>> obs = PercentileObserver(percentile=99.0)
        >>> _ = obs.update(np.linspace(-1, 1, 10001, dtype=np.float32))
        >>> obs.compute_amax().tolist()
        [0.9892578125]
    """

    def __init__(self, percentile: float = 99.99, axis: int | None = None, num_bins: int = 2048) -> None:
        super().__init__(axis, num_bins)
        if not (isinstance(percentile, (int, float)) and 0 <= percentile <= 100):
            raise InvalidArgumentError(f"percentile must be in [0, 100], got {percentile!r}")
        self.percentile = float(percentile)

    def _amax_one(self, counts: np.ndarray, edges: np.ndarray, bits: int, unsigned: bool) -> float:
        return amax_percentile(counts, edges, self.percentile)

    def state_dict(self) -> dict[str, Any]:
        d = super().state_dict()
        d["percentile"] = self.percentile
        return d

    @classmethod
    def _init_args(cls, state: dict[str, Any]) -> dict[str, Any]:
        return {**super()._init_args(state), "percentile": state["percentile"]}


class _BinSearchObserver(_AmaxObserver):
    """An amax searched over the candidate bins ``start_bin, start_bin + stride, ...`` (Entropy and MSE).

    Subclasses set ``_search`` to the ModelOpt rule (:func:`amax_entropy` or :func:`amax_mse`).
    """

    _search: Any

    def __init__(self, axis: int | None = None, num_bins: int = 2048, start_bin: int = 128, stride: int = 1) -> None:
        super().__init__(axis, num_bins)
        self.start_bin = check_positive_int("start_bin", start_bin)
        self.stride = check_positive_int("stride", stride)

    def _amax_one(self, counts: np.ndarray, edges: np.ndarray, bits: int, unsigned: bool) -> float:
        return type(self)._search(counts, edges, bits, unsigned, self.stride, self.start_bin)

    def state_dict(self) -> dict[str, Any]:
        d = super().state_dict()
        d.update(start_bin=self.start_bin, stride=self.stride)
        return d

    @classmethod
    def _init_args(cls, state: dict[str, Any]) -> dict[str, Any]:
        return {**super()._init_args(state), "start_bin": state["start_bin"], "stride": state["stride"]}


class EntropyObserver(_BinSearchObserver):
    """amax minimizing the KL divergence of the quantized histogram (TensorRT / ModelOpt ``_compute_amax_entropy``).

    Args:
        axis: ``None`` or the channel axis.
        num_bins: histogram bins (power of two).
        start_bin: first candidate bin (128 as ModelOpt).
        stride: candidate step.

    Example:
        >>> import numpy as np
        >>> obs = EntropyObserver()
        >>> _ = obs.update(np.random.default_rng(0).standard_normal(50000).astype(np.float32))
        >>> obs.compute_amax().tolist()
        [4.0234375]
    """

    _search = staticmethod(amax_entropy)


class MSEObserver(_BinSearchObserver):
    """amax minimizing the histogram-weighted squared quantization error (ModelOpt ``_compute_amax_mse``).

    Args:
        axis: ``None`` or the channel axis.
        num_bins: histogram bins (power of two).
        start_bin: first candidate bin (128 as ModelOpt).
        stride: candidate step.

    Example:
        >>> import numpy as np
        >>> obs = MSEObserver()
        >>> _ = obs.update(np.random.default_rng(0).standard_normal(50000).astype(np.float32))
        >>> obs.compute_amax(num_bits=4).tolist()
        [2.501953125]
    """

    _search = staticmethod(amax_mse)


# ---------------------------------------------------------------------------------------------------------------
# PyTorch's HistogramObserver (torch/ao/quantization/observer.py), ported step by step in float32
# ---------------------------------------------------------------------------------------------------------------
def _torch_linspace(start: np.float32, end: np.float32, steps: int) -> np.ndarray:
    """torch.linspace on CPU (float32): ``fma(step, i, start)`` for the first half, ``fma(-step, steps-1-i, end)``
    for the rest, ``step = f32(f32(end - start) / (steps - 1))``. The fused multiply-add is emulated in float64
    (the product of a float32 and an index < 2^29 is exact there; the sum is rounded twice only when the exponents
    differ by more than ~29 bits) — matched torch bit for bit on 32769-point ranges."""
    start, end = _F32(start), _F32(end)
    if steps == 1:
        return np.asarray([start], _F32)
    step = (end - start) / _F32(steps - 1)
    i = np.arange(steps, dtype=np.float64)
    half = steps // 2
    lo = (np.float64(start) + np.float64(step) * i).astype(_F32)
    hi = (np.float64(end) - np.float64(step) * (steps - 1 - i)).astype(_F32)
    return np.where(np.arange(steps) < half, lo, hi).astype(_F32)


def _torch_histc_bins(b: Backend, x: Any, lo: np.float32, hi: np.float32, bins: int,
                      inside_known: bool = False) -> np.ndarray:
    """torch.histc(x, bins, min=lo, max=hi) on CPU: pos = trunc((x - lo)·bins / (hi - lo)) in float32, the top
    edge inclusive, values outside [lo, hi] skipped; lo == hi widens to [lo - 1, hi + 1] (ATen histc)."""
    lo, hi = _F32(lo), _F32(hi)
    if lo == hi:
        lo, hi = lo - _F32(1), hi + _F32(1)
    lo_b, hi_b = b.const(lo, "float32"), b.const(hi, "float32")
    pos = b.trunc((x - lo_b) * b.const(bins, "float32") / (hi_b - lo_b))
    if inside_known:
        # every value lies in [lo, hi]: pos ∈ [0, bins]; the top edge belongs to the last bin
        idx = b.astype(b.minimum(pos, b.const(bins - 1, "float32")), "int32")
    else:
        inside = b.logical_and(x >= lo_b, x <= hi_b)
        pos = b.where(inside, pos, b.const(bins + 1, "float32"))
        idx = b.float_to_int(pos, 0, bins + 1, "int32", nan_value=bins + 1)
        idx = b.where(idx == b.const(bins, "int32"), b.const(bins - 1, "int32"), idx)
    flat = np.asarray(b.to_numpy(b.reshape(idx, (-1,))))
    return np.bincount(flat, minlength=bins + 2)[:bins].astype(_F32)


def _torch_div_floor(a: np.ndarray, d: float) -> np.ndarray:
    """torch.div(a, d, rounding_mode="floor") for float32 (ATen div_floor_floating: fmod-based)."""
    a = np.asarray(a, _F32)
    d = _F32(d)
    mod = np.fmod(a, d)
    div = (a - mod) / d
    div = np.where((mod != 0) & ((d < 0) != (mod < 0)), div - _F32(1), div)
    fl = np.floor(div)
    fl = np.where(div - fl > _F32(0.5), fl + _F32(1), fl)
    return np.where(div != 0, fl, np.copysign(_F32(0), a / d)).astype(_F32)


class HistogramObserver(_Observer):
    """PyTorch's HistogramObserver: a histogram of x, then the L2 non-linear search for the clipping range.

    ``mode="torch"`` (default) reproduces torch.ao.quantization.HistogramObserver step by step (2048 bins over
    [min, max] of the data so far, re-binned by 16× upsampling when the range grows, float32 arithmetic): the same
    stream of batches gives the same qparams. Its histogram is fixed-memory but depends on the order of batches, so
    :meth:`merge` is refused in this mode. ``mode="fixed"`` keeps an order-independent signed
    :class:`FixedHistogram` (exactly mergeable) and runs the same search over it; its qparams are close to but not
    equal to torch's.

    Args:
        bins: histogram bins (torch: 2048; a power of two in ``"fixed"`` mode).
        mode: ``"torch"`` or ``"fixed"``.

    Example:
        >>> import numpy as np
        >>> obs = HistogramObserver()
        >>> _ = obs.update(np.linspace(-1, 3, 1001, dtype=np.float32))
        >>> obs.compute_qparams("uint8")
        QParams(scale=0.015678614377975464, zero_point=64, dtype='uint8')
    """

    kind = "histogram"

    def __init__(self, bins: int = 2048, mode: str = "torch", upsample_rate: int = 16) -> None:
        super().__init__(None)
        check_positive_int("bins", bins)
        self.mode = check_choice("mode", mode, ("torch", "fixed"))
        self.bins = bins
        self.upsample_rate = check_positive_int("upsample_rate", upsample_rate)
        self.histogram = np.zeros(bins, _F32)
        self.min_val = _F32(np.inf)
        self.max_val = _F32(-np.inf)
        self.fixed = FixedHistogram(bins, signed=True) if mode == "fixed" else None

    # -- torch's forward ---------------------------------------------------------------------------------------------
    def update(self, x: Any) -> Any:
        """Fold one batch in (non-finite values are counted and skipped); returns ``x``."""
        got = self._begin(x)
        if got is None:
            return x
        b, x2 = got
        mn, mx, all_finite = self._batch_minmax
        x_min, x_max = _F32(mn[0]), _F32(mx[0])
        if not np.isfinite(x_min):
            return x
        if self.fixed is not None:
            self.fixed.update(b, x2, all_finite=all_finite, amax=np.maximum(-mn, mx))
            self.min_val, self.max_val = min(self.min_val, x_min), max(self.max_val, x_max)
            return x
        flat = b.reshape(x2, (-1,))
        fresh = not (np.isfinite(self.min_val) and np.isfinite(self.max_val))
        lo, hi = (x_min, x_max) if fresh else (min(self.min_val, x_min), max(self.max_val, x_max))
        with np.errstate(over="ignore"):
            span = _F32(hi) - _F32(lo)
        if not np.isfinite(span):
            # torch's histc then drops every value (x - lo)·bins / inf and returns a NaN scale; refuse instead
            self._undo_begin()
            raise NonFiniteError(
                f"HistogramObserver: the range [{float(lo)!r}, {float(hi)!r}] is too wide for a float32 histogram "
                "(max - min overflows float32); scale the data down or use MinMaxObserver"
            )
        if fresh:
            self.min_val, self.max_val = x_min, x_max
            self.histogram = _torch_histc_bins(b, flat, x_min, x_max, self.bins, all_finite)
            return x
        cur_min, cur_max = self.min_val, self.max_val
        new_min, new_max = min(cur_min, x_min), max(cur_max, x_max)
        update_hist = _torch_histc_bins(b, flat, new_min, new_max, self.bins, all_finite)
        if new_min == cur_min and new_max == cur_max:
            self.histogram = (self.histogram + update_hist).astype(_F32)
        else:
            self.histogram = self._combine(self.histogram, cur_min, cur_max, update_hist, new_min, new_max)
            self.min_val, self.max_val = new_min, new_max
        return x

    def _combine(self, orig: np.ndarray, omin: Any, omax: Any, upd: np.ndarray, umin: Any, umax: Any) -> np.ndarray:
        if omin == omax:
            bin_value = _F32(orig.sum(dtype=_F32))
            t = _torch_histc_bins(get_backend(backend="numpy"), np.asarray([omin], _F32), umin, umax, self.bins)
            return (t * bin_value + upd).astype(_F32)
        r = self.upsample_rate
        hist = np.repeat(orig, r) / _F32(r)
        bin_size = (_F32(omax) - _F32(omin)) / _F32(self.bins * r)
        mids = _torch_linspace(omin, omax, self.bins * r + 1)[:-1] + _F32(0.5) * bin_size
        bounds = _torch_linspace(umin, umax, self.bins + 1)
        assign = np.searchsorted(bounds, mids, side="right") - 1  # torch.bucketize(right=True) - 1
        assign = np.clip(assign, 0, self.bins - 1)
        out = np.zeros(self.bins, _F32)
        np.add.at(out, assign, hist.astype(_F32))  # torch.bincount(weights=float32) accumulates in order, float32
        return (upd + out).astype(_F32)

    # -- torch's _non_linear_param_search ----------------------------------------------------------------------------
    def _search_inputs(self) -> tuple[np.ndarray, np.float32, np.float32]:
        if self.fixed is not None and self.fixed.counts is not None:
            e = self.fixed.edges(0)
            return self.fixed.counts[0].astype(_F32), _F32(e[0]), _F32(e[-1])
        return self.histogram, _F32(self.min_val), _F32(self.max_val)

    def _quant_error(self, hist: np.ndarray, mn: Any, mx: Any, start: int, end: int, dst_nbins: int) -> float:
        bins = self.bins
        bin_width = (float(mx) - float(mn)) / bins  # torch: Python floats (.item())
        dst_bin_width = bin_width * (end - start + 1) / dst_nbins
        if dst_bin_width == 0.0:
            return 0.0
        src_bin = np.arange(bins)
        src_begin = ((src_bin - start).astype(_F32) * _F32(bin_width)).astype(_F32)
        src_end = src_begin + _F32(bin_width)
        dbw = _F32(dst_bin_width)
        d_begin = np.clip(_torch_div_floor(src_begin, dst_bin_width), 0, dst_nbins - 1).astype(_F32)
        d_begin_c = (d_begin + _F32(0.5)) * dbw
        d_end = np.clip(_torch_div_floor(src_end, dst_bin_width), 0, dst_nbins - 1).astype(_F32)
        density = hist / _F32(bin_width)

        def norm(db: Any, de: Any) -> np.ndarray:
            db, de = np.asarray(db, _F32), np.asarray(de, _F32)
            return density * ((de * de * de - db * db * db) / _F32(3))

        total = np.zeros(bins, _F32)
        total += norm(src_begin - d_begin_c, np.ones(bins, _F32) * _F32(dst_bin_width / 2))
        total += (d_end - d_begin - _F32(1)) * norm(_F32(-dst_bin_width / 2), _F32(dst_bin_width / 2))
        d_end_c = d_end * dbw + _F32(dst_bin_width / 2)
        total += norm(_F32(-dst_bin_width / 2), src_end - d_end_c)
        return float(total.sum(dtype=_F32))

    def search_range(self, dtype_bits: int = 8) -> tuple[float, float]:
        """torch's ``_non_linear_param_search``: the (min, max) clipping range minimizing the L2 error."""
        self._require_data()
        with np.errstate(over="ignore"):
            hist, mn, mx = self._search_inputs()
            bin_width = (mx - mn) / _F32(bins := self.bins)
        if not (np.isfinite(mn) and np.isfinite(mx) and np.isfinite(bin_width)):
            raise NonFiniteError(
                f"HistogramObserver: the histogram range [{float(mn)!r}, {float(mx)!r}] overflows float32 "
                "(|x| near 2^128 in mode='fixed'); scale the data down or use MinMaxObserver"
            )
        total = float(hist.sum(dtype=_F32))
        csum = np.cumsum(hist, dtype=_F32)
        dst_nbins = 2**dtype_bits
        stepsize = 1e-5  # torch's granularity
        alpha, beta = 0.0, 1.0
        start_bin, end_bin = 0, bins - 1
        norm_min = math.inf
        while alpha < beta:
            next_alpha = alpha + stepsize
            next_beta = beta - stepsize
            lo, hi = start_bin, end_bin
            while lo < end_bin and csum[lo] < _F32(next_alpha * total):
                lo += 1
            while hi > start_bin and csum[hi] > _F32(next_beta * total):
                hi -= 1
            next_start, next_end = start_bin, end_bin
            if (lo - start_bin) > (end_bin - hi):
                next_start = lo
                alpha = next_alpha
            else:
                next_end = hi
                beta = next_beta
            if next_start == start_bin and next_end == end_bin:
                continue
            norm = self._quant_error(hist, mn, mx, next_start, next_end, dst_nbins)
            if norm > norm_min:
                break
            norm_min = norm
            start_bin, end_bin = next_start, next_end
        new_min = _F32(mn + bin_width * _F32(start_bin))
        new_max = _F32(mn + bin_width * _F32(end_bin + 1))
        return float(new_min), float(new_max)

    def compute_qparams(
        self,
        dtype: str = "uint8",
        *,
        symmetric: bool = False,
        narrow_range: bool = False,
        reduce_range: bool = False,
        profile: str = "torch",
    ) -> Any:
        """QParams of the searched range by the profile's rule (torch: ``_calculate_qparams``).

        torch searches with ``dst_nbins = 2 ** bits`` of the observer dtype (256 for 8-bit).

        Raises:
            NonFiniteError: no finite data was observed.
        """
        from .dtypes import qtype

        self._require_data()
        bits = 8 if qtype(dtype).bits <= 8 else qtype(dtype).bits  # torch: 2 ** iinfo(dtype).bits of qint8/quint8
        lo, hi = self.search_range(bits)
        return _qparams_from_minmax(
            np.asarray([lo], _F32),
            np.asarray([hi], _F32),
            self.backend or "numpy",
            None,
            dtype,
            symmetric,
            narrow_range,
            reduce_range,
            profile,
        )

    def merge(self, other: HistogramObserver) -> HistogramObserver:
        """Merge another observer's histogram (``mode="fixed"`` only; exact and order-independent).

        Raises:
            InvalidArgumentError: in ``mode="torch"`` (torch's histogram depends on batch order).
        """
        self._check_merge(other)
        if self.mode != "fixed" or other.mode != "fixed":
            raise InvalidArgumentError(
                "HistogramObserver(mode='torch') cannot be merged: PyTorch's histogram depends on the order of "
                "batches; use mode='fixed' for sharded calibration"
            )
        if other.bins != self.bins:
            raise InvalidArgumentError(f"cannot merge {other.bins}-bin into {self.bins}-bin histograms")
        self.fixed.merge(other.fixed)  # type: ignore[union-attr]
        self.min_val, self.max_val = min(self.min_val, other.min_val), max(self.max_val, other.max_val)
        self._merge_counts(other)
        return self

    def state_dict(self) -> dict[str, Any]:
        d = self._base_state()
        d.update(
            bins=self.bins,
            mode=self.mode,
            upsample_rate=self.upsample_rate,
            min_val=_jsonable_floats(np.asarray([self.min_val])),
            max_val=_jsonable_floats(np.asarray([self.max_val])),
            histogram=self.histogram.astype(np.float64).tolist() if self.mode == "torch" else None,
            fixed=self.fixed.state_dict() if self.fixed is not None else None,
        )
        return d

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> HistogramObserver:
        obs = cls(bins=state["bins"], mode=state["mode"], upsample_rate=state["upsample_rate"])
        obs._load_base(state)
        obs.min_val = _floats_from_json(state["min_val"])[0]
        obs.max_val = _floats_from_json(state["max_val"])[0]
        if state["histogram"] is not None:
            obs.histogram = np.asarray(state["histogram"], _F32)
        if state["fixed"] is not None:
            obs.fixed = FixedHistogram.from_state_dict(state["fixed"])
        return obs
