"""Shared data generators for the decode tests."""

from __future__ import annotations

import numpy as np


def clustered_boxes(rng: np.random.Generator, n: int, k: int = 20, size: float = 640.0, grid: float | None = None):
    """Realistic heavily overlapping boxes: n jittered copies around k objects; optional coordinate grid."""
    c = rng.uniform(0, size, (k, 2))
    sz = rng.uniform(size / 30, size / 3, (k, 2))
    j = rng.integers(0, k, n)
    ctr = c[j] + rng.normal(0, size / 80, (n, 2))
    wh = sz[j] * rng.uniform(0.8, 1.2, (n, 2))
    b = np.concatenate([ctr - wh / 2, ctr + wh / 2], 1)
    if grid:
        b = np.round(b / grid) * grid
        b[:, 2:] = np.maximum(b[:, 2:], b[:, :2])
    return b.astype(np.float32)
