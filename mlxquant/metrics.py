"""Error metrics between a reference and a candidate (e.g. float vs quantized outputs), on NumPy and MLX.

Each metric is one generic implementation against the backend shim; the result follows the reference's backend
(a 0-d float32 array for a full reduction, or an array over the remaining axes with ``axis=``). The candidate is
moved to the reference's backend. Arithmetic is float32 (float64 inputs on NumPy stay float64). NaN in the inputs
propagates into the metric (``compare`` counts non-finite values separately).

Definitions (``r`` reference, ``c`` candidate, ``e = c - r``):

* ``mse = mean(e²)``, ``rmse = sqrt(mse)``, ``max_abs_error = max |e|``, ``mean_abs_error = mean |e|``
* ``sqnr = 10·log10(Σ r² / Σ e²)`` dB (``+inf`` when e = 0 everywhere; ``-inf`` when r = 0 and e ≠ 0)
* ``cosine_similarity = Σ r·c / (‖r‖·‖c‖)``; 1.0 when both are all-zero, 0.0 when exactly one is
* ``topk_agreement``: per row, |top-k(r) ∩ top-k(c)| / k, averaged over rows (k = 1: argmax agreement)
* ``kl_divergence = Σ p·log(p/q)`` per row over ``axis`` (terms with p = 0 are 0; p > 0 = q gives +inf);
  ``from_logits=True`` applies a softmax first (log-softmax form, stable)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ._backend import Backend, get_backend, to_numpy
from ._checks import check_choice, check_positive_int
from ._errors import InputTypeError, InvalidArgumentError, ShapeError

__all__ = [
    "CompareReport",
    "compare",
    "cosine_similarity",
    "kl_divergence",
    "max_abs_error",
    "mean_abs_error",
    "mse",
    "rmse",
    "sqnr",
    "topk_agreement",
]

_LN10 = math.log(10.0)  # log10(x) = ln(x) / ln(10)


def _pair(reference: Any, candidate: Any) -> tuple[Backend, Any, Any, str]:
    b = get_backend(reference)
    r = b.asarray(reference)
    c = b.asarray(candidate)
    if tuple(r.shape) != tuple(c.shape):
        raise ShapeError(f"candidate has shape {tuple(c.shape)}, expected the reference's shape {tuple(r.shape)}")
    dt = "float64" if (b.name == "numpy" and "float64" in (b.dtype_name(r), b.dtype_name(c))) else "float32"
    for name, a in (("reference", r), ("candidate", c)):
        if b.dtype_name(a) == "bool":
            raise InputTypeError(f"{name} must be numeric, got dtype bool")
    return b, b.astype(r, dt), b.astype(c, dt), dt


def _axis(axis: int | Sequence[int] | None) -> Any:
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


def mse(reference: Any, candidate: Any, *, axis: int | Sequence[int] | None = None) -> Any:
    """Mean squared error ``mean((c - r)²)``.

    Args:
        reference: the reference array (float or int; NumPy or MLX).
        candidate: same shape.
        axis: reduce over these axes only (default: all).

    Returns:
        float32 array (0-d for a full reduction) on the reference's backend.

    Raises:
        ShapeError: shapes differ, or the arrays are empty (also for rmse, mean_abs_error, max_abs_error,
            topk_agreement).

    Example:
        >>> import numpy as np
        >>> float(mse(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0])))
        1.3333333333333333
    """
    b, r, c, _ = _pair(reference, candidate)
    _nonempty(r, "mse")
    e = c - r
    return b.asarray(b.mean(e * e, axis=_axis(axis)))  # NumPy reductions give scalars: keep the 0-d array


def rmse(reference: Any, candidate: Any, *, axis: int | Sequence[int] | None = None) -> Any:
    """Root mean squared error ``sqrt(mse)``.

    Example:
        >>> import numpy as np
        >>> float(rmse(np.array([0.0, 0.0], np.float32), np.array([3.0, 4.0], np.float32)))
        3.535533905029297
    """
    b = get_backend(reference)
    return b.asarray(b.sqrt(mse(reference, candidate, axis=axis)))


def max_abs_error(reference: Any, candidate: Any, *, axis: int | Sequence[int] | None = None) -> Any:
    """Largest absolute difference ``max |c - r|``.

    Example:
        >>> import numpy as np
        >>> float(max_abs_error(np.array([1.0, -2.0], np.float32), np.array([1.5, -4.0], np.float32)))
        2.0
    """
    b, r, c, _ = _pair(reference, candidate)
    _nonempty(r, "max_abs_error")
    return b.asarray(b.max(b.abs(c - r), axis=_axis(axis)))


def mean_abs_error(reference: Any, candidate: Any, *, axis: int | Sequence[int] | None = None) -> Any:
    """Mean absolute difference ``mean |c - r|``.

    Example:
        >>> import numpy as np
        >>> float(mean_abs_error(np.array([1.0, -2.0], np.float32), np.array([1.5, -4.0], np.float32)))
        1.25
    """
    b, r, c, _ = _pair(reference, candidate)
    _nonempty(r, "mean_abs_error")
    return b.asarray(b.mean(b.abs(c - r), axis=_axis(axis)))


def sqnr(reference: Any, candidate: Any, *, axis: int | Sequence[int] | None = None) -> Any:
    """Signal-to-quantization-noise ratio in dB: ``10·log10(Σ r² / Σ (c - r)²)``.

    ``+inf`` when the candidate equals the reference; ``-inf`` when the reference is all zero but the candidate
    is not; NaN when both sums are zero is avoided (it is +inf: no noise).

    Example:
        >>> import numpy as np
        >>> round(float(sqnr(np.array([1.0, 1.0], np.float32), np.array([1.1, 0.9], np.float32))), 3)
        20.0
    """
    b, r, c, dt = _pair(reference, candidate)
    e = c - r
    sig = b.sum(r * r, axis=_axis(axis))
    noise = b.sum(e * e, axis=_axis(axis))
    zero = b.const(0, dt)
    inf = b.const(math.inf, dt)
    safe_noise = b.where(noise == zero, b.const(1, dt), noise)
    safe_sig = b.where(sig == zero, b.const(1, dt), sig)
    db = b.const(10, dt) * (b.log(safe_sig) - b.log(safe_noise)) / b.const(_LN10, dt)
    db = b.where(sig == zero, -inf, db)
    return b.where(noise == zero, inf, db)


def cosine_similarity(reference: Any, candidate: Any, *, axis: int | Sequence[int] | None = None) -> Any:
    """Cosine similarity ``Σ r·c / (‖r‖·‖c‖)``; 1.0 when both are all-zero, 0.0 when exactly one is.

    Example:
        >>> import numpy as np
        >>> float(cosine_similarity(np.array([1.0, 0.0], np.float32), np.array([1.0, 1.0], np.float32)))
        0.7071067690849304
    """
    b, r, c, dt = _pair(reference, candidate)
    ax = _axis(axis)
    dot = b.sum(r * c, axis=ax)
    nr = b.sqrt(b.sum(r * r, axis=ax))
    nc = b.sqrt(b.sum(c * c, axis=ax))
    zero = b.const(0, dt)
    den = nr * nc
    cos = dot / b.where(den == zero, b.const(1, dt), den)
    both = b.logical_and(nr == zero, nc == zero)
    one_side = b.logical_and(b.logical_or(nr == zero, nc == zero), b.logical_not(both))
    cos = b.where(one_side, zero, cos)
    return b.where(both, b.const(1, dt), cos)


def _nonempty(r: Any, what: str) -> None:
    # a mean (or max) over nothing is undefined: raise rather than return NaN (NumPy would also warn, MLX not)
    if _size(r) == 0:
        raise ShapeError(f"{what} of empty arrays is undefined (shape {tuple(int(d) for d in r.shape)})")


def _size(x: Any) -> int:
    n = 1
    for d in x.shape:
        n *= int(d)
    return n


def topk_agreement(reference: Any, candidate: Any, k: int = 1, *, axis: int = -1) -> Any:
    """Fraction of the reference's top-k classes that are also in the candidate's top-k, averaged over rows.

    Ties inside a row are broken by the lower index (a stable descending order); for k = 1 this is argmax
    agreement.

    Args:
        reference: scores, e.g. (batch, classes) logits.
        candidate: same shape.
        k: 1 ≤ k ≤ number of classes.
        axis: the class axis.

    Returns:
        0-d float32 array in [0, 1] on the reference's backend.

    Example:
        >>> import numpy as np
        >>> r = np.array([[0.1, 0.7, 0.2], [0.5, 0.4, 0.1]], np.float32)
        >>> c = np.array([[0.2, 0.6, 0.3], [0.3, 0.6, 0.1]], np.float32)
        >>> float(topk_agreement(r, c, 1)), float(topk_agreement(r, c, 2))
        (0.5, 1.0)
    """
    b, r, c, dt = _pair(reference, candidate)
    check_positive_int("k", k)
    if len(r.shape) == 0:
        raise ShapeError("topk_agreement needs at least one (class) axis")
    _nonempty(r, "topk_agreement")
    n = int(r.shape[axis])
    if k > n:
        raise InvalidArgumentError(f"k must be ≤ the number of classes {n}, got {k}")
    r = b.moveaxis(r, axis, -1)
    c = b.moveaxis(c, axis, -1)
    ri = _topk_indices(b, r, k, n, dt)
    ci = _topk_indices(b, c, k, n, dt)
    hit = b.any(b.expand_dims(ri, -1) == b.expand_dims(ci, -2), axis=-1)
    per_row = b.sum(b.astype(hit, "float32"), axis=-1) / b.const(k, "float32")
    return b.asarray(b.mean(per_row))


def _topk_indices(b: Backend, x: Any, k: int, n: int, dt: str) -> Any:
    # Descending order with ties broken by the lower index: a stable ascending argsort of -x (NumPy: kind="stable";
    # MLX's CPU sort is stable, tested in tests/calibration/test_metrics.py; GPU tie order is not verified).
    order = b.argsort(-x, axis=-1)
    return order[..., :k]


def _log_softmax(b: Backend, x: Any, axis: int) -> Any:
    m = b.max(x, axis=axis, keepdims=True)
    z = x - m
    return z - b.log(b.sum(b.exp(z), axis=axis, keepdims=True))


def kl_divergence(
    reference: Any,
    candidate: Any,
    *,
    axis: int = -1,
    from_logits: bool = False,
    reduction: str = "mean",
) -> Any:
    """KL(P‖Q) between the reference distribution P and the candidate Q along ``axis``.

    Args:
        reference: probabilities (or logits with ``from_logits``), e.g. (batch, classes).
        candidate: same shape.
        axis: the class axis.
        from_logits: apply a softmax to both first.
        reduction: ``"mean"`` over rows (default), ``"sum"`` or ``"none"`` (one value per row).

    Returns:
        float32 array on the reference's backend (0-d unless ``reduction="none"``), in nats.

    Example:
        >>> import numpy as np
        >>> round(float(kl_divergence(np.array([0.5, 0.5]), np.array([0.9, 0.1]))), 6)
        0.510826
    """
    check_choice("reduction", reduction, ("mean", "sum", "none"))
    b, p, q, dt = _pair(reference, candidate)
    zero = b.const(0, dt)
    if from_logits:
        lp = _log_softmax(b, p, axis)
        lq = _log_softmax(b, q, axis)
        terms = b.exp(lp) * (lp - lq)
    else:
        pos = p > zero
        one = b.const(1, dt)
        ratio_log = b.log(b.where(pos, p, one)) - b.log(b.where(q > zero, q, one))
        terms = b.where(pos, p * ratio_log, zero)
        terms = b.where(b.logical_and(pos, q <= zero), b.const(math.inf, dt), terms)
    per_row = b.sum(terms, axis=axis)
    if reduction == "none":
        return b.asarray(per_row)
    return b.asarray(b.mean(per_row) if reduction == "mean" else b.sum(per_row))


@dataclass
class CompareReport:
    """The result of :func:`compare`: plain Python numbers, a readable ``str`` and ``to_dict()``.

    Attributes:
        shape: the compared shape.
        count: number of elements.
        mse, rmse, max_abs_error, mean_abs_error, sqnr_db, cosine: as the functions of the same name.
        reference_range: (min, max) of the finite reference values.
        nonfinite_reference, nonfinite_candidate: NaN/inf counts.
        topk: {k: agreement} when requested.
        kl: mean KL divergence when requested.
    """

    shape: tuple[int, ...]
    count: int
    mse: float
    rmse: float
    max_abs_error: float
    mean_abs_error: float
    sqnr_db: float
    cosine: float
    reference_range: tuple[float, float]
    nonfinite_reference: int
    nonfinite_candidate: int
    topk: dict[int, float] = field(default_factory=dict)
    kl: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (Python floats and ints; ±inf stay floats)."""
        return {
            "shape": list(self.shape),
            "count": self.count,
            "mse": self.mse,
            "rmse": self.rmse,
            "max_abs_error": self.max_abs_error,
            "mean_abs_error": self.mean_abs_error,
            "sqnr_db": self.sqnr_db,
            "cosine": self.cosine,
            "reference_range": list(self.reference_range),
            "nonfinite_reference": self.nonfinite_reference,
            "nonfinite_candidate": self.nonfinite_candidate,
            "topk": {str(k): v for k, v in self.topk.items()},
            "kl": self.kl,
        }

    def __str__(self) -> str:
        rows = [
            ("shape", "x".join(map(str, self.shape)) or "scalar"),
            ("SQNR", f"{self.sqnr_db:.2f} dB"),
            ("cosine", f"{self.cosine:.6f}"),
            ("MSE", f"{self.mse:.4g}"),
            ("RMSE", f"{self.rmse:.4g}"),
            ("max |err|", f"{self.max_abs_error:.4g}"),
            ("mean |err|", f"{self.mean_abs_error:.4g}"),
            ("ref range", f"[{self.reference_range[0]:.4g}, {self.reference_range[1]:.4g}]"),
        ]
        for k, v in self.topk.items():
            rows.append((f"top-{k} agree", f"{100 * v:.2f} %"))
        if self.kl is not None:
            rows.append(("KL(ref‖cand)", f"{self.kl:.4g} nats"))
        if self.nonfinite_reference or self.nonfinite_candidate:
            rows.append(("non-finite", f"ref {self.nonfinite_reference}, cand {self.nonfinite_candidate}"))
        w = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{w}}  {v}" for k, v in rows)


def compare(
    reference: Any,
    candidate: Any,
    *,
    topk: int | Sequence[int] | None = None,
    kl: bool = False,
    from_logits: bool = False,
    axis: int = -1,
) -> CompareReport:
    """Compare a candidate (e.g. a quantized model's output) with a reference: every metric in one report.

    Args:
        reference: reference array.
        candidate: same shape.
        topk: class-agreement k (or several) along ``axis`` for score arrays.
        kl: also compute the mean KL divergence along ``axis`` (probabilities, or logits with ``from_logits``).
        from_logits: treat inputs as logits for ``kl``.
        axis: class axis for ``topk`` and ``kl``.

    Returns:
        A :class:`CompareReport`.

    Raises:
        ShapeError: shapes differ or are empty.

    Example:
        >>> import numpy as np
        >>> rep = compare(np.array([[1.0, 2.0, 3.0]], np.float32), np.array([[1.0, 2.5, 2.9]], np.float32), topk=1)
        >>> rep.topk[1], round(rep.sqnr_db, 2)
        (1.0, 17.31)
        >>> print(rep)  # doctest: +ELLIPSIS
        shape        1x3
        SQNR         17.31 dB
        ...
    """
    b, r, c, dt = _pair(reference, candidate)
    if _size(r) == 0:
        raise ShapeError("compare needs non-empty arrays")

    def f(v: Any) -> float:
        return float(to_numpy(v))

    fin = b.isfinite(r)
    rmin = f(b.min(b.where(fin, r, b.const(math.inf, dt))))
    rmax = f(b.max(b.where(fin, r, b.const(-math.inf, dt))))
    ks = [] if topk is None else ([topk] if isinstance(topk, int) else list(topk))
    m = f(mse(r, c))
    return CompareReport(
        shape=tuple(int(d) for d in r.shape),
        count=_size(r),
        mse=m,
        rmse=math.sqrt(m) if m == m else m,
        max_abs_error=f(max_abs_error(r, c)),
        mean_abs_error=f(mean_abs_error(r, c)),
        sqnr_db=f(sqnr(r, c)),
        cosine=f(cosine_similarity(r, c)),
        reference_range=(rmin, rmax),
        nonfinite_reference=int(f(b.sum(b.astype(b.logical_not(fin), "int32")))),
        nonfinite_candidate=int(f(b.sum(b.astype(b.logical_not(b.isfinite(c)), "int32")))),
        topk={k: f(topk_agreement(r, c, k, axis=axis)) for k in ks},
        kl=f(kl_divergence(r, c, axis=axis, from_logits=from_logits)) if kl else None,
    )
