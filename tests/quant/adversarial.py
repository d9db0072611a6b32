"""Adversarial inputs for quantization tests (shared by tests/quant, tests/peers and tests/parity).

Everything is float32 and deterministic for a given ``numpy.random.Generator``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SPECIAL_SCALES", "adversarial_values", "near_ties", "random_scales", "specials"]

F32 = np.float32

#: Scales every suite tries besides random ones: exact, inexact, powers of two, tiny and huge.
SPECIAL_SCALES = (1.0, 0.1, 0.5, 3.0, 0.0078125, 0.003921569, 1e-3, 7.3e-5, 1e-30, 1e30, 2.0**-126, 1.1920929e-07)


def specials() -> np.ndarray:
    """±0, NaN, ±inf, ±FLT_MAX, ±smallest subnormal, ±FLT_MIN."""
    f = np.finfo(np.float32)
    return np.array(
        [
            0.0,
            -0.0,
            np.nan,
            np.inf,
            -np.inf,
            f.max,
            -f.max,
            f.smallest_subnormal,
            -f.smallest_subnormal,
            f.tiny,
            -f.tiny,
        ],
        F32,
    )


def near_ties(scale: float, ks: np.ndarray) -> np.ndarray:
    """(k + 0.5)·s and k·s for each k, each with both float32 neighbours (np.nextafter)."""
    s = F32(scale)
    ks = np.asarray(ks, np.float64)
    base = np.concatenate([(ks + 0.5) * np.float64(s), ks * np.float64(s)]).astype(F32)
    # also the float32 product rounded differently: (k + 0.5) * s computed in float32
    base32 = ((ks + 0.5).astype(F32) * s).astype(F32)
    base = np.concatenate([base, base32])
    up = np.nextafter(base, F32(np.inf))
    down = np.nextafter(base, F32(-np.inf))
    return np.concatenate([base, up, down]).astype(F32)


def adversarial_values(
    rng: np.random.Generator,
    scale: float,
    zero_point: int,
    qmin: int,
    qmax: int,
    n_random: int = 2000,
    max_k: int = 600,
) -> np.ndarray:
    """A float32 vector that exercises every rounding and saturation edge of (scale, zero_point, [qmin, qmax])."""
    lo, hi = qmin - zero_point - 3, qmax - zero_point + 3
    ks = np.arange(lo, hi + 1)
    if ks.size > max_k:
        edge = max_k // 4
        middle = rng.choice(ks[edge:-edge], max_k - 2 * edge, replace=False)
        ks = np.concatenate([ks[:edge], ks[-edge:], middle, np.arange(-20, 21)])
    s = np.float64(F32(scale))
    spread = (qmax - qmin) / 2.0
    rand = (rng.standard_normal(n_random) * spread * s + rng.uniform(-1, 1) * spread * s).astype(F32)
    uni = rng.uniform(lo * s, hi * s, n_random).astype(F32)
    with np.errstate(over="ignore"):
        vals = np.concatenate([near_ties(float(s), ks), rand, uni, specials()])
    return vals.astype(F32)


def random_scales(rng: np.random.Generator, n: int, lo: float = 1e-6, hi: float = 1e3) -> np.ndarray:
    """Log-uniform float32 scales."""
    return (10.0 ** rng.uniform(np.log10(lo), np.log10(hi), n)).astype(F32)
