"""Dumb, loop-based oracles for issue 4 (calibration, metrics, float formats). Never imports mlxquant.

Each function is written straight from the peer's documented algorithm, for clarity rather than speed.
"""

from __future__ import annotations

import bisect
import math
import struct
from fractions import Fraction

import numpy as np

# ---------------------------------------------------------------------------------------------------------------
# Float formats: exact rational arithmetic, nearest representable value, ties to the even code.
# ---------------------------------------------------------------------------------------------------------------
FORMATS = {  # name: (ebits, mbits, bias, has_inf)
    "float16": (5, 10, 15, True),
    "bfloat16": (8, 7, 127, True),
    "e4m3fn": (4, 3, 7, False),
    "e5m2": (5, 2, 15, True),
}


def decode_code(code: int, fmt: str) -> float:
    """Value of one code (Python float; NaN for NaN codes)."""
    e, m, bias, has_inf = FORMATS[fmt]
    n = 1 + e + m
    s = -1.0 if code >> (n - 1) else 1.0
    ef = (code >> m) & ((1 << e) - 1)
    mf = code & ((1 << m) - 1)
    if has_inf and ef == (1 << e) - 1:
        return s * math.inf if mf == 0 else math.nan
    if not has_inf and ef == (1 << e) - 1 and mf == (1 << m) - 1:
        return math.nan
    if ef == 0:
        return s * mf * 2.0 ** (1 - bias - m)
    return s * (1 + mf / (1 << m)) * 2.0 ** (ef - bias)


_TABLES: dict[str, tuple[list[Fraction], list[int]]] = {}


def _table(fmt: str) -> tuple[list[Fraction], list[int]]:
    """Sorted non-negative finite values and their codes."""
    if fmt not in _TABLES:
        e, m, _, _ = FORMATS[fmt]
        vals = []
        for code in range(1 << (e + m)):
            v = decode_code(code, fmt)
            if math.isfinite(v):
                vals.append((Fraction(v), code))
        vals.sort()
        _TABLES[fmt] = ([v for v, _ in vals], [c for _, c in vals])
    return _TABLES[fmt]


def encode_value(x: float, fmt: str, saturate: bool = False, via_float32: bool = False) -> int:
    """Code of ``x`` under round-to-nearest-even (ties go to the even code), one value at a time."""
    e, m, _, has_inf = FORMATS[fmt]
    n = 1 + e + m
    sign_bit = 1 << (n - 1)
    nan_code = ((1 << (e + m)) - 1) if not has_inf else (((1 << e) - 1) << m) | (1 << (m - 1))
    if via_float32:
        x = struct.unpack("<f", struct.pack("<f", x))[0]
    neg = math.copysign(1.0, x) < 0
    sb = sign_bit if neg else 0
    if math.isnan(x):
        return sb | nan_code
    vals, codes = _table(fmt)
    vmax = vals[-1]
    if math.isinf(x):
        if saturate:
            return sb | codes[-1]
        if has_inf:
            return sb | (((1 << e) - 1) << m)
        return sb | (codes[-1] if saturate else nan_code)
    a = Fraction(abs(x))
    # beyond the largest value: the next value up would be vmax + ulp(vmax); halfway decides
    ulp = vals[-1] - vals[-2]
    if a > vmax:
        nxt = vmax + ulp
        over = a > (vmax + nxt) / 2 or (a == (vmax + nxt) / 2 and codes[-1] % 2 == 1)
        if over:
            if saturate:
                return sb | codes[-1]
            return sb | ((((1 << e) - 1) << m) if has_inf else nan_code)
        return sb | codes[-1]
    i = bisect.bisect_left(vals, a)
    if vals[i] == a:
        return sb | codes[i]
    lo, hi = vals[i - 1], vals[i]
    if a - lo < hi - a:
        return sb | codes[i - 1]
    if a - lo > hi - a:
        return sb | codes[i]
    return sb | (codes[i - 1] if codes[i - 1] % 2 == 0 else codes[i])


# ---------------------------------------------------------------------------------------------------------------
# PyTorch observer qparams (torch/ao/quantization/observer.py, _calculate_qparams), scalar, float32 steps.
# ---------------------------------------------------------------------------------------------------------------
def torch_minmax_qparams(
    mn: float, mx: float, qmin: int, qmax: int, symmetric: bool, unsigned: bool
) -> tuple[float, int]:
    f = np.float32
    eps = f(np.finfo(np.float32).eps)
    mn_neg = min(f(mn), f(0))
    mx_pos = max(f(mx), f(0))
    if symmetric:
        amax = max(-mn_neg, mx_pos)
        s = max(f(amax) / f((qmax - qmin) / 2), eps)
        zp = 128 if (unsigned and (qmin, qmax) in ((0, 255), (0, 127))) else ((qmin + qmax) // 2 if unsigned else 0)
        return float(s), zp
    s = max(f(mx_pos - mn_neg) / f(qmax - qmin), eps)
    zp = qmin - int(np.round(f(mn_neg) / f(s)))
    return float(s), min(max(zp, qmin), qmax)


def moving_average(batches_min_max: list[tuple[float, float]], c: float) -> tuple[float, float]:
    mn = mx = None
    for bmin, bmax in batches_min_max:
        if mn is None:
            mn, mx = np.float32(bmin), np.float32(bmax)
        else:
            mn = np.float32(mn + np.float32(c) * (np.float32(bmin) - mn))
            mx = np.float32(mx + np.float32(c) * (np.float32(bmax) - mx))
    return float(mn), float(mx)


# ---------------------------------------------------------------------------------------------------------------
# ModelOpt / pytorch-quantization HistogramCalibrator amax rules (calib/histogram.py), on a given histogram of |x|.
# ---------------------------------------------------------------------------------------------------------------
def amax_percentile(counts: list[float], edges: list[float], percentile: float) -> float:
    total = sum(counts)
    cum = 0.0
    for i, c in enumerate(counts):
        cum += c / total  # the source accumulates cumsum(hist / total)
        if cum >= percentile / 100:
            return edges[i]
    return edges[len(counts)]  # cdf never reached p (rounding): searchsorted returns len(cdf)


def amax_mse(counts: list[float], edges: list[float], num_bits: int, unsigned: bool, start_bin: int = 128) -> float:
    """pytorch-quantization _compute_amax_mse with fake_tensor_quant (narrow range, torch.round = half-even),
    one candidate and one bin at a time, float32 scalars."""
    f = np.float32
    centers = [f((f(edges[i]) + f(edges[i + 1])) / f(2)) for i in range(len(counts))]
    qmax = f(2.0 ** (num_bits - 1 + int(unsigned)) - 1)
    qmin = f(0) if unsigned else -qmax
    best, best_amax = None, None
    for i in range(start_bin, len(centers)):
        amax = centers[i]
        scale = qmax / amax
        terms = []
        for c, x in zip(counts, centers, strict=False):
            q = min(max(f(np.round(x * scale)), qmin), qmax) / scale
            terms.append(f((q - x) ** 2 * f(c)))
        err = float(np.mean(np.asarray(terms, np.float32), dtype=np.float32))
        if best is None or err < best:
            best, best_amax = err, amax
    return float(best_amax)


def _entropy(p: list[float], q: list[float]) -> float:
    """scipy.stats.entropy(p, q): normalized, sum of p·log(p/q); inf if some p > 0 has q = 0."""
    sp, sq = sum(p), sum(q)
    total = 0.0
    for a, b in zip(p, q, strict=False):
        pa = a / sp
        qb = b / sq if sq else b
        if pa > 0:
            if qb <= 0:
                return math.inf
            total += pa * math.log(pa / qb)
    return total


def amax_entropy(counts: list[float], edges: list[float], num_bits: int, unsigned: bool, start_bin: int = 128) -> float:
    """pytorch-quantization _compute_amax_entropy, written as plain loops."""
    bins = [float(v) for v in counts]
    bins[0] = bins[1]
    nbins = 1 << (num_bits - 1 + int(unsigned))
    divergences = []
    for i in range(start_bin, len(bins) + 1):
        space = np.linspace(0, i, num=nbins + 1)
        group = []
        for k in range(i):
            j = 0
            while j < len(space) and space[j] <= k:
                j += 1
            group.append(j - 1 if bins[k] != 0 else -1)
        sums: dict[int, float] = {}
        cnts: dict[int, int] = {}
        for k in range(i):
            if group[k] != -1:
                sums[group[k]] = sums.get(group[k], 0.0) + bins[k]
                cnts[group[k]] = cnts.get(group[k], 0) + 1
        q = [sums[group[k]] / cnts[group[k]] if group[k] != -1 else 0.0 for k in range(i)]
        p = bins[:i]
        p[-1] += sum(bins[i:])
        divergences.append(_entropy(p, q))
    best = min(divergences)
    last = max(k for k, d in enumerate(divergences) if d == best)
    return float(edges[last + start_bin])


# ---------------------------------------------------------------------------------------------------------------
# Metrics, one element at a time in float64
# ---------------------------------------------------------------------------------------------------------------
def metrics_all(r: list[float], c: list[float]) -> dict[str, float]:
    n = len(r)
    se = sum((b - a) ** 2 for a, b in zip(r, c, strict=False))
    sig = sum(a * a for a in r)
    dot = sum(a * b for a, b in zip(r, c, strict=False))
    nr, nc = math.sqrt(sig), math.sqrt(sum(b * b for b in c))
    return {
        "mse": se / n,
        "max_abs_error": max(abs(b - a) for a, b in zip(r, c, strict=False)),
        "mean_abs_error": sum(abs(b - a) for a, b in zip(r, c, strict=False)) / n,
        "sqnr": math.inf if se == 0 else (-math.inf if sig == 0 else 10 * math.log10(sig / se)),
        "cosine": 1.0 if nr == 0 and nc == 0 else (0.0 if nr == 0 or nc == 0 else dot / (nr * nc)),
    }


def topk_agreement(r: list[list[float]], c: list[list[float]], k: int) -> float:
    total = 0.0
    for rr, cc in zip(r, c, strict=False):
        tr = sorted(range(len(rr)), key=lambda i: (-rr[i], i))[:k]
        tc = sorted(range(len(cc)), key=lambda i: (-cc[i], i))[:k]
        total += len(set(tr) & set(tc)) / k
    return total / len(r)


def kl(p: list[float], q: list[float]) -> float:
    t = 0.0
    for a, b in zip(p, q, strict=False):
        if a > 0:
            if b <= 0:
                return math.inf
            t += a * math.log(a / b)
    return t
