"""Sensitivity analysis: the error of each tensor under each candidate quantization scheme, and a mixed-precision
plan that meets a size budget with the least total error.

Errors are measured by quantizing and dequantizing each tensor with mlxquant's own operations (group-wise affine:
:func:`mlxquant.mlx_quantize` / :func:`mlxquant.mlx_dequantize`, i.e. ``mx.quantize``'s format; symmetric groups,
per-axis and per-tensor: the core :func:`~mlxquant.quant.primitives.choose_qparams` +
:func:`~mlxquant.quant.primitives.fake_quantize`; float16: :func:`mlxquant.to_float16`).

Size accounting (bits per tensor): ``n·bits`` plus side data: affine groups store a 16-bit scale and a 16-bit bias
per group (MLX keeps them in the weight's half-precision dtype), symmetric groups a 16-bit scale, per-axis a 32-bit
scale and (affine) a 32-bit zero point per channel, per-tensor 64 bits, float16 none.

The plan minimizes ``Σ_t error_t(scheme_t)`` subject to ``Σ_t size_t(scheme_t) ≤ budget`` (a multiple-choice
knapsack): the better of (a) a dynamic program over the budget in 4096 units, sizes rounded up (never over budget)
and (b) the Lagrangian / convex-hull greedy (every tensor starts at its smallest option, then the upgrade with the
largest error reduction per extra bit is applied while it fits); a last pass gives each tensor the best option the
remaining budget allows. ``objective="sse"`` sums squared errors (n·MSE: big tensors weigh more),
``"relative"`` sums n·MSE/mean(x²) (scale-free).
"""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._backend import get_backend, to_numpy
from ._checks import check_choice
from ._errors import InvalidArgumentError, MissingDependencyError

__all__ = [
    "DEFAULT_SCHEMES",
    "Plan",
    "Scheme",
    "SensitivityReport",
    "TensorResult",
    "analyze_sensitivity",
    "plot_sensitivity",
]


@dataclass(frozen=True)
class Scheme:
    """One candidate quantization scheme.

    Attributes:
        bits: code width (16 with ``granularity="float16"``).
        granularity: ``"group"`` (blocks along the last axis), ``"axis"`` (per row = per output channel, axis 0),
            ``"tensor"`` or ``"float16"`` (no integer quantization: round to float16).
        group_size: values per group (``"group"`` only).
        symmetric: symmetric (zero point 0) instead of affine.
    """

    bits: int
    granularity: str = "group"
    group_size: int | None = 64
    symmetric: bool = False

    def __post_init__(self) -> None:
        check_choice("granularity", self.granularity, ("group", "axis", "tensor", "float16"))
        if self.granularity == "group" and not self.group_size:
            raise InvalidArgumentError("a group scheme needs group_size")
        if self.granularity == "group" and not self.symmetric and self.bits not in (2, 3, 4, 5, 6, 8):
            raise InvalidArgumentError(f"affine group bits must be one of 2, 3, 4, 5, 6, 8 (MLX), got {self.bits}")
        if self.granularity in ("axis", "tensor") or (self.granularity == "group" and self.symmetric):
            if self.bits not in (2, 4, 8, 16):
                raise InvalidArgumentError(f"{self.granularity} bits must be one of 2, 4, 8, 16, got {self.bits}")

    @property
    def name(self) -> str:
        if self.granularity == "float16":
            return "float16"
        kind = "sym" if self.symmetric else "affine"
        where = f"g{self.group_size}" if self.granularity == "group" else self.granularity
        return f"int{self.bits} {where} {kind}"

    def size_bits(self, shape: tuple[int, ...]) -> int:
        """Storage of a tensor of ``shape`` under this scheme, side data included."""
        n = int(np.prod(shape)) if shape else 1
        if self.granularity == "float16":
            return 16 * n
        if self.granularity == "tensor":
            return self.bits * n + 64
        if self.granularity == "axis":
            rows = shape[0] if shape else 1
            return self.bits * n + rows * (32 if self.symmetric else 64)
        groups = math.ceil(n / int(self.group_size))  # type: ignore[arg-type]
        return self.bits * n + groups * (16 if self.symmetric else 32)

    def applies_to(self, shape: tuple[int, ...]) -> bool:
        if self.granularity == "group":
            return len(shape) >= 2 and shape[-1] % int(self.group_size) == 0  # type: ignore[operator]
        if self.granularity == "axis":
            return len(shape) >= 2
        return True


#: The default candidates: MLX affine groups of 64 at 2–8 bits, int8/int4 per-channel symmetric, and float16.
DEFAULT_SCHEMES: tuple[Scheme, ...] = (
    *(Scheme(b, "group", 64) for b in (2, 3, 4, 5, 6, 8)),
    Scheme(4, "axis", None, True),
    Scheme(8, "axis", None, True),
    Scheme(16, "float16", None),
)


def _roundtrip(w: Any, s: Scheme) -> Any:
    """Quantize-dequantize ``w`` (float32, NumPy or MLX) under ``s``."""
    if s.granularity == "float16":
        from .quant.floats import to_float16

        b = get_backend(w)
        return b.astype(to_float16(w, warn=False), "float32")
    if s.granularity == "group" and not s.symmetric:
        from .quant.formats.mlx import mlx_dequantize, mlx_quantize

        w2 = get_backend(w).reshape(w, (-1, int(w.shape[-1])))
        wq, sc, bi = mlx_quantize(w2, s.group_size, s.bits)
        out = mlx_dequantize(wq, sc, bi, s.group_size, s.bits, dtype="float32")
        return get_backend(w).reshape(out, tuple(w.shape))
    from .quant.primitives import choose_qparams, fake_quantize

    dtype = f"int{s.bits}"
    if s.granularity == "group":
        qp = choose_qparams(w, dtype, symmetric=True, narrow_range=True, axis=-1, block_size=s.group_size)
    elif s.granularity == "axis":
        qp = choose_qparams(w, dtype, symmetric=s.symmetric, narrow_range=s.symmetric, axis=0)
    else:
        qp = choose_qparams(w, dtype, symmetric=s.symmetric, narrow_range=s.symmetric)
    return fake_quantize(w, qp)


@dataclass
class TensorResult:
    """The errors of one tensor under every applicable scheme.

    Attributes:
        name: tensor name.
        shape: its shape.
        mean_square: mean(x²) of the tensor (the signal power).
        errors: scheme name → MSE of the round trip.
        sizes: scheme name → storage bits.
    """

    name: str
    shape: tuple[int, ...]
    mean_square: float
    errors: dict[str, float] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)

    @property
    def numel(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1

    def sqnr_db(self, scheme: str) -> float:
        e = self.errors[scheme]
        if e == 0:
            return math.inf
        if self.mean_square == 0:
            return -math.inf
        return 10 * math.log10(self.mean_square / e)

    def cost(self, scheme: str, objective: str) -> float:
        sse = self.errors[scheme] * self.numel
        if objective == "relative":
            return sse / self.mean_square if self.mean_square > 0 else (0.0 if sse == 0 else math.inf)
        return sse


@dataclass
class Plan:
    """A mixed-precision assignment.

    Attributes:
        assignment: tensor name → scheme name.
        total_bits: storage of the planned tensors.
        budget_bits: the budget it meets.
        total_error: Σ error (the objective's units).
        objective: ``"sse"`` or ``"relative"``.
        numel: total number of weights planned.
    """

    assignment: dict[str, str]
    total_bits: int
    budget_bits: float
    total_error: float
    objective: str
    numel: int

    @property
    def bits_per_weight(self) -> float:
        return self.total_bits / max(self.numel, 1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "assignment": dict(self.assignment),
            "total_bits": self.total_bits,
            "total_bytes": self.total_bits / 8,
            "budget_bits": self.budget_bits,
            "bits_per_weight": self.bits_per_weight,
            "total_error": self.total_error,
            "objective": self.objective,
        }

    def __str__(self) -> str:
        w = max([len(k) for k in self.assignment] + [len("tensor")])
        lines = [f"{'tensor':<{w}}  scheme"]
        lines += [f"{k:<{w}}  {v}" for k, v in self.assignment.items()]
        lines.append(
            f"total {self.total_bits / 8 / 1e6:.3f} MB ({self.bits_per_weight:.3f} bits/weight, budget "
            f"{self.budget_bits / max(self.numel, 1):.3f}); {self.objective} error {self.total_error:.4g}"
        )
        return "\n".join(lines)


@dataclass
class SensitivityReport:
    """Per-tensor errors under every scheme; :meth:`plan` builds a mixed-precision plan.

    Attributes:
        tensors: one :class:`TensorResult` per analysed tensor.
        schemes: the candidate schemes.
        skipped: tensor name → why it was not analysed.
    """

    tensors: list[TensorResult]
    schemes: list[Scheme]
    skipped: dict[str, str] = field(default_factory=dict)

    def plan(
        self,
        *,
        bits_per_weight: float | None = None,
        budget_bytes: float | None = None,
        objective: str = "sse",
    ) -> Plan:
        """The least-error assignment of schemes within a size budget.

        Args:
            bits_per_weight: average budget in bits per weight (side data included), or
            budget_bytes: total budget in bytes.
            objective: ``"sse"`` (sum of squared errors) or ``"relative"`` (sum of n·MSE/mean(x²)).

        Returns:
            A :class:`Plan`.

        Raises:
            InvalidArgumentError: no budget, two budgets, or a budget below the smallest possible size.
        """
        check_choice("objective", objective, ("sse", "relative"))
        if (bits_per_weight is None) == (budget_bytes is None):
            raise InvalidArgumentError("give exactly one of bits_per_weight= or budget_bytes=")
        numel = sum(t.numel for t in self.tensors)
        budget = bits_per_weight * numel if bits_per_weight is not None else float(budget_bytes) * 8  # type: ignore
        return _plan(self.tensors, budget, objective, numel)

    def rows(self) -> list[dict[str, Any]]:
        """One row per (tensor, scheme): name, shape, scheme, bits per weight, MSE, SQNR dB."""
        out = []
        for t in self.tensors:
            for s, e in t.errors.items():
                out.append({
                    "tensor": t.name, "shape": list(t.shape), "scheme": s,
                    "bits_per_weight": t.sizes[s] / t.numel, "mse": e, "sqnr_db": t.sqnr_db(s),
                })
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"schemes": [s.name for s in self.schemes], "rows": self.rows(), "skipped": dict(self.skipped)}

    def __str__(self) -> str:
        names = [s.name for s in self.schemes]
        w = max([len(t.name) for t in self.tensors] + [6])
        head = f"{'tensor':<{w}}  " + "  ".join(f"{n:>16}" for n in names)
        lines = ["SQNR (dB) per tensor and scheme", head]
        for t in self.tensors:
            cells = [f"{t.sqnr_db(n):16.2f}" if n in t.errors else f"{'n/a':>16}" for n in names]
            lines.append(f"{t.name:<{w}}  " + "  ".join(cells))
        for k, v in self.skipped.items():
            lines.append(f"skipped {k}: {v}")
        return "\n".join(lines)


def _hull(points: list[tuple[int, float, str]]) -> list[tuple[int, float, str]]:
    """Lower-left convex hull of (size, error) options, by increasing size and strictly decreasing error."""
    pts = sorted(points, key=lambda p: (p[0], p[1]))
    front: list[tuple[int, float, str]] = []
    for p in pts:  # Pareto front first
        if not front or p[1] < front[-1][1]:
            if front and front[-1][0] == p[0]:
                front.pop()
            front.append(p)
    hull: list[tuple[int, float, str]] = []
    for p in front:
        while len(hull) >= 2:
            (x1, y1, _), (x2, y2, _) = hull[-2], hull[-1]
            # drop hull[-1] if it lies on or above the segment hull[-2] → p
            if (y2 - y1) * (p[0] - x1) >= (p[1] - y1) * (x2 - x1):
                hull.pop()
            else:
                break
        hull.append(p)
    return hull


_DP_UNITS = 4096  # budget resolution of the knapsack DP (sizes are rounded up to budget/4096: never over budget)


_Option = tuple[int, float, str]  # (size bits, error, scheme name)


def _dp_choice(opts: dict[str, list[_Option]], budget: float) -> dict[str, _Option] | None:
    """Multiple-choice knapsack by dynamic programming over the budget in 4096 units (sizes rounded up)."""
    if budget <= 0 or not math.isfinite(budget):
        return None
    unit = budget / _DP_UNITS
    names = list(opts)
    inf = math.inf
    dp = np.zeros(_DP_UNITS + 1)  # dp[c]: least error of the tensors so far within c units
    picks = []
    for n in names:
        new = np.full(_DP_UNITS + 1, inf)
        arg = np.full(_DP_UNITS + 1, -1, np.int16)
        for k, (size, err, _) in enumerate(opts[n]):
            u = math.ceil(size / unit - 1e-9)
            if u > _DP_UNITS:
                continue
            cand = np.full(_DP_UNITS + 1, inf)
            cand[u:] = dp[: _DP_UNITS + 1 - u] + err
            better = cand < new
            new = np.where(better, cand, new)
            arg = np.where(better, k, arg)
        dp = new
        picks.append(arg)
    if not math.isfinite(dp[_DP_UNITS]):
        return None
    out: dict[str, tuple[int, float, str]] = {}
    c = _DP_UNITS
    for n, arg in zip(reversed(names), reversed(picks), strict=False):
        k = int(arg[c])
        p = opts[n][k]
        out[n] = p
        c -= math.ceil(p[0] / unit - 1e-9)
    return out


def _plan(tensors: list[TensorResult], budget: float, objective: str, numel: int) -> Plan:
    opts = {t.name: [(t.sizes[s], t.cost(s, objective), s) for s in t.errors] for t in tensors}
    for t in tensors:
        if not opts[t.name]:
            raise InvalidArgumentError(f"no scheme applies to tensor {t.name!r}")
    choice = {n: min(o, key=lambda p: (p[0], p[1])) for n, o in opts.items()}
    used = sum(c[0] for c in choice.values())
    if used > budget:
        raise InvalidArgumentError(
            f"the budget ({budget / 8:.0f} bytes, {budget / max(numel, 1):.3f} bits/weight) is below the smallest "
            f"possible size ({used / 8:.0f} bytes, {used / max(numel, 1):.3f} bits/weight)"
        )
    hulls = {n: _hull(o) for n, o in opts.items()}
    pos = {n: next(i for i, p in enumerate(h) if p[2] == choice[n][2]) if any(p[2] == choice[n][2] for p in h) else 0
           for n, h in hulls.items()}
    for n in hulls:
        choice[n] = hulls[n][pos[n]]
    used = sum(c[0] for c in choice.values())
    heap: list[tuple[float, str]] = []

    def push(n: str) -> None:
        h, i = hulls[n], pos[n]
        if i + 1 < len(h):
            d_size = h[i + 1][0] - h[i][0]
            d_err = h[i][1] - h[i + 1][1]
            heapq.heappush(heap, (-(d_err / max(d_size, 1)), n))

    for n in hulls:
        push(n)
    while heap:
        _, n = heapq.heappop(heap)
        h, i = hulls[n], pos[n]
        extra = h[i + 1][0] - h[i][0]
        if used + extra <= budget:
            used += extra
            pos[n] = i + 1
            choice[n] = h[i + 1]
            push(n)
    greedy = dict(choice)
    dp = _dp_choice(opts, budget)
    if dp is not None:
        dp_used = sum(p[0] for p in dp.values())
        if dp_used <= budget and sum(p[1] for p in dp.values()) < sum(p[1] for p in greedy.values()):
            choice, used = dp, dp_used
    # last pass: any option (hull or not) that lowers a tensor's error within the remaining budget
    improved = True
    while improved:
        improved = False
        best = None
        for n, o in opts.items():
            for p in o:
                extra = p[0] - choice[n][0]
                gain = choice[n][1] - p[1]
                if gain > 0 and used + extra <= budget and (best is None or gain > best[0]):
                    best = (gain, n, p, extra)
        if best is not None:
            _, n, p, extra = best
            choice[n] = p
            used += extra
            improved = True
    return Plan(
        assignment={n: c[2] for n, c in choice.items()},
        total_bits=int(used),
        budget_bits=budget,
        total_error=float(sum(c[1] for c in choice.values())),
        objective=objective,
        numel=numel,
    )


def _iter_inputs(tensors: Mapping[str, Any] | str | Any) -> Iterable[tuple[str, Any]]:
    if isinstance(tensors, Mapping):
        yield from tensors.items()
        return
    from .checkpoint_io import iter_tensors

    yield from iter_tensors(tensors)


def analyze_sensitivity(
    tensors: Mapping[str, Any] | str,
    schemes: Sequence[Scheme] | None = None,
    *,
    include: str | None = None,
    min_size: int = 1,
    include_1d: bool = False,
    progress: Any = None,
) -> SensitivityReport:
    """The error of each tensor under each candidate scheme.

    Args:
        tensors: a dict name → float array (NumPy or MLX), or a checkpoint path (safetensors file, sharded index,
            folder, or ``.npz``; read one tensor at a time).
        schemes: candidate :class:`Scheme` list (default :data:`DEFAULT_SCHEMES`); schemes that do not apply to a
            tensor (e.g. a width not divisible by the group size) are left out for that tensor.
        include: regular expression; only matching tensor names are analysed.
        min_size: skip tensors with fewer elements.
        include_1d: also analyse 1-D tensors (biases, norms; skipped by default).
        progress: optional callable ``progress(name)`` called before each tensor.

    Returns:
        A :class:`SensitivityReport`; ``report.plan(bits_per_weight=4.5)`` gives a mixed-precision plan.

    Raises:
        InvalidArgumentError: no tensor left to analyse.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> w = {"a": rng.standard_normal((64, 128)).astype(np.float32),
        ...      "b": (rng.standard_normal((64, 128)) ** 3).astype(np.float32)}
        >>> rep = analyze_sensitivity(w)
        >>> round(rep.tensors[0].sqnr_db("int4 g64 affine"), 1)
        20.9
        >>> plan = rep.plan(bits_per_weight=4.5)
        >>> plan.assignment, plan.bits_per_weight <= 4.5
        ({'a': 'int3 g64 affine', 'b': 'int5 g64 affine'}, True)
    """
    schemes = list(DEFAULT_SCHEMES if schemes is None else schemes)
    if not schemes:
        raise InvalidArgumentError("give at least one scheme")
    pattern = re.compile(include) if include else None
    results: list[TensorResult] = []
    skipped: dict[str, str] = {}
    for name, arr in _iter_inputs(tensors):
        if pattern is not None and not pattern.search(name):
            continue
        b = get_backend(arr)
        a = b.asarray(arr)
        shape = tuple(int(d) for d in a.shape)
        n = int(np.prod(shape)) if shape else 1
        if not b.is_floating(a):
            skipped[name] = f"dtype {b.dtype_name(a)} is not float"
            continue
        if len(shape) < 2 and not include_1d:
            skipped[name] = "1-D (pass include_1d=True)"
            continue
        if n < min_size or n == 0:
            skipped[name] = f"{n} elements < min_size {min_size}"
            continue
        if progress is not None:
            progress(name)
        w = b.astype(a, "float32")
        if not bool(to_numpy(b.all(b.isfinite(w)))):
            skipped[name] = "holds NaN or inf"
            continue
        ms = float(to_numpy(b.mean(w * w)))
        res = TensorResult(name, shape, ms)
        for s in schemes:
            if not s.applies_to(shape):
                continue
            y = _roundtrip(w, s)
            e = y - w
            res.errors[s.name] = float(to_numpy(b.mean(e * e)))
            res.sizes[s.name] = s.size_bits(shape)
        if not res.errors:
            skipped[name] = "no candidate scheme applies"
            continue
        results.append(res)
    if not results:
        raise InvalidArgumentError("no tensor to analyse" + (f" (skipped: {skipped})" if skipped else ""))
    return SensitivityReport(results, schemes, skipped)


_PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
            (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]


def plot_sensitivity(report: SensitivityReport, path: str, *, width: int = 900, height: int = 560,
                     max_lines: int = 24) -> None:
    """Save a PNG of SQNR (dB) against bits per weight: one colour per tensor, a dot per scheme, the line through
    the best SQNR reachable at each size.

    Drawn with Pillow's ImageDraw (no matplotlib). At most ``max_lines`` tensors are drawn (the most sensitive:
    lowest SQNR at their smallest size), the legend lists them.

    Raises:
        MissingDependencyError: Pillow is not installed.
    """
    try:
        from PIL import Image, ImageDraw
    except ImportError:  # pragma: no cover - pillow is a core dependency
        raise MissingDependencyError("plotting needs Pillow (a dependency of mlxquant): pip install pillow") from None
    series = []
    for t in report.tensors:
        pts = sorted(((t.sizes[s] / t.numel, t.sqnr_db(s)) for s in t.errors), key=lambda p: p[0])
        pts = [(x, min(y, 200.0)) for x, y in pts if math.isfinite(y) or y > 0]
        if pts:
            series.append((t.name, pts))
    series.sort(key=lambda s: s[1][0][1])
    series = series[:max_lines]
    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)
    left, right, top, bottom = 60, width - 230, 30, height - 50
    xs = [x for _, p in series for x, _ in p] or [0, 16]
    ys = [y for _, p in series for _, y in p] or [0, 1]
    x0, x1 = 0.0, max(xs) * 1.05
    y0, y1 = min(0.0, min(ys)), max(ys) * 1.08 + 1e-9

    def px(x: float, y: float) -> tuple[float, float]:
        return (left + (x - x0) / (x1 - x0) * (right - left), bottom - (y - y0) / (y1 - y0) * (bottom - top))

    d.rectangle([left, top, right, bottom], outline=(0, 0, 0))
    for k in range(0, int(x1) + 1, 2 if x1 > 10 else 1):
        gx, _ = px(k, y0)
        d.line([gx, bottom, gx, bottom + 5], fill=(0, 0, 0))
        d.text((gx - 4, bottom + 8), str(k), fill=(0, 0, 0))
    step = max(5, round((y1 - y0) / 8 / 5) * 5)
    for k in range(math.floor(y0 / step) * step, int(y1) + 1, step):
        _, gy = px(x0, k)
        d.line([left - 5, gy, left, gy], fill=(0, 0, 0))
        d.line([left, gy, right, gy], fill=(230, 230, 230))
        d.text((left - 40, gy - 6), f"{k}", fill=(0, 0, 0))
    d.text(((left + right) // 2 - 60, height - 22), "bits per weight", fill=(0, 0, 0))
    d.text((8, 8), "SQNR (dB) vs bits per weight, per tensor", fill=(0, 0, 0))
    for i, (name, pts) in enumerate(series):
        col = _PALETTE[i % len(_PALETTE)]
        xy = [px(x, y) for x, y in pts]
        front, best = [], -math.inf  # the line follows the Pareto front: best SQNR reachable at each size
        for (_x, y), q in zip(pts, xy, strict=False):
            if y > best:
                front.append(q)
                best = y
        if len(front) > 1:
            d.line(front, fill=col, width=2)
        for cx, cy in xy:
            d.ellipse([cx - 3, cy - 3, cx + 3, cy + 3], fill=col)
        ly = top + 14 * i
        d.line([right + 12, ly + 6, right + 30, ly + 6], fill=col, width=3)
        label = name if len(name) <= 30 else "…" + name[-29:]
        d.text((right + 36, ly), label, fill=(0, 0, 0))
    from ._io import atomic_path  # atomic output: a half-written PNG never appears

    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")
