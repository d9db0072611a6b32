"""pipeline's nearest-neighbour mask upsampling and detection matching against loop oracles (tests/reference)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from mlxquant.decode.results import Detections, Segmentation
from mlxquant.pipeline import _upsample_segmentation, match_detections

from ..reference.pipeline_oracle import greedy_match, nearest_upsample


@given(st.integers(1, 9), st.integers(1, 9), st.integers(1, 40), st.integers(1, 40), st.integers(0, 2**31 - 1))
def test_nearest_upsample_matches_oracle(h: int, w: int, oh: int, ow: int, seed: int) -> None:
    mask = np.random.default_rng(seed).integers(0, 5, (h, w)).astype(np.int32)
    seg = Segmentation(mask, None, None, 5)
    got = _upsample_segmentation(seg, (oh, ow)).mask
    assert got.dtype == np.int32 and got.shape == (oh, ow)
    np.testing.assert_array_equal(got, np.array(nearest_upsample(mask.tolist(), oh, ow), np.int32))


def test_nearest_upsample_exact_factor_and_identity() -> None:
    mask = np.array([[0, 1], [2, 3]], np.int32)
    up = _upsample_segmentation(Segmentation(mask, None, None, 4), (4, 4)).mask
    np.testing.assert_array_equal(up, np.repeat(np.repeat(mask, 2, 0), 2, 1))
    seg = Segmentation(mask, None, None, 4)
    assert _upsample_segmentation(seg, (2, 2)) is seg  # same size: untouched


def _dets(boxes: np.ndarray, cls: np.ndarray) -> Detections:
    return Detections(boxes.astype(np.float32), np.ones(len(boxes), np.float32), cls.astype(np.int32), ())


@given(st.integers(0, 6), st.integers(0, 6), st.integers(0, 2**31 - 1))
def test_match_detections_matches_oracle(n_ref: int, n_test: int, seed: int) -> None:
    rng = np.random.default_rng(seed)

    def boxes(n: int) -> np.ndarray:
        xy = rng.integers(0, 40, (n, 2)).astype(np.float32)
        wh = rng.integers(1, 30, (n, 2)).astype(np.float32)
        return np.concatenate([xy, xy + wh], 1)

    rb, tb = boxes(n_ref), boxes(n_test)
    if n_ref and n_test:  # make some near-duplicates so that matches happen
        k = min(n_ref, n_test)
        tb[:k] = rb[:k] + rng.integers(-2, 3, (k, 4))
        tb[:k, 2:] = np.maximum(tb[:k, 2:], tb[:k, :2] + 1)
    rc, tc = rng.integers(0, 2, n_ref), rng.integers(0, 2, n_test)
    got = match_detections(_dets(rb, rc), _dets(tb, tc), 0.5)
    want = greedy_match(rb.tolist(), rc.tolist(), tb.tolist(), tc.tolist(), 0.5)
    assert got["matched"] == len(want) and got["reference"] == n_ref and got["test"] == n_test
    if want:
        assert abs(got["mean_iou"] - float(np.mean([p[2] for p in want]))) < 1e-6
    assert got["recall"] == (len(want) / n_ref if n_ref else 1.0)
