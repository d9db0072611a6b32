"""Non-maximum suppression: greedy (torchvision / TF semantics), soft (TF) and weighted (MediaPipe).

Normative semantics (docs/spec/decode.md §2):

* Candidates are visited in descending score order; equal scores are visited lower index first (-0.0 == 0.0).
* Greedy: a candidate is kept unless an already *kept* candidate (of the same class when ``classes`` is given)
  overlaps it with IoU **strictly greater** than ``iou_threshold``. The comparison is the one torchvision makes,
  ``float32 IoU > float64 threshold``, implemented exactly in float32 as ``IoU >= t_up`` where ``t_up`` is the
  smallest float32 strictly greater than the threshold.
* Class-aware suppression is exact per class (no coordinate offset trick, which shifts IoU in float32).

The generic implementation (:func:`_nms_generic`) is one fixed-shape formulation written against the backend shim:
blocks of the score-sorted boxes, an IoU matrix per block against the earlier blocks, and a fixed-point iteration
``keep = ¬suppressed_by_earlier_blocks ∧ ¬any(keep[i] ∧ S[i, j], i < j)`` that reaches the greedy answer (the fixed
point is unique because entry j only depends on entries before it). On MLX it runs as such (shapes depend only on N);
on NumPy a vectorized greedy loop is the fast path, proven equal to the generic one by a property test
(tests/parity/test_decode_nms_parity.py).
"""

from __future__ import annotations

import heapq
import math
from typing import Any

import numpy as np

from .._backend import Backend, get_backend, to_numpy
from .._checks import check_choice
from .._errors import InvalidArgumentError, NonFiniteError, ShapeError
from .boxes import _pair_iou, validate_boxes

__all__ = ["NMS_MODES", "iou_threshold_up", "nms", "weighted_nms"]

NMS_MODES = ("greedy", "soft", "weighted")
SOFT_METHODS = ("gaussian", "linear")

# Generic path block size: an IoU tile is at most BLOCK x N float32 (N = 20k -> 80 MB), small enough for MLX CPU
# and GPU memory, large enough that the Python loop over blocks is short.
_BLOCK = 1024


def iou_threshold_up(iou_threshold: float) -> np.float32:
    """The smallest float32 ``t`` with ``t > iou_threshold`` (float64): ``iou > thr`` ⟺ ``iou >= t`` for float32 iou.

    Example:
        >>> float(iou_threshold_up(0.5)) > 0.5
        True
    """
    t = np.float32(iou_threshold)
    if float(t) <= float(iou_threshold):
        t = np.nextafter(t, np.float32(np.inf))
    return np.float32(t)


def _check_threshold(name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)):
        raise InvalidArgumentError(f"{name} must be a number in [0, 1], got {v!r}")
    v = float(v)
    if not (0.0 <= v <= 1.0):  # also rejects NaN
        raise InvalidArgumentError(f"{name} must be in [0, 1], got {v!r}")
    return v


def _check_max_det(max_det: Any) -> int | None:
    if max_det is None:
        return None
    if isinstance(max_det, bool) or not isinstance(max_det, (int, np.integer)) or max_det < 0:
        raise InvalidArgumentError(f"max_det must be None or an int >= 0, got {max_det!r}")
    return int(max_det)


def _prepare(boxes: Any, scores: Any, classes: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """NumPy float32 views of the inputs, validated (never written)."""
    bx = np.asarray(to_numpy(boxes), dtype=np.float32)
    sc = np.asarray(to_numpy(scores), dtype=np.float32)
    validate_boxes(bx)
    if sc.ndim != 1 or sc.shape[0] != bx.shape[0]:
        raise ShapeError(f"scores has shape {tuple(sc.shape)}, expected ({bx.shape[0]},) to match boxes {bx.shape}")
    if np.isnan(sc).any():
        raise NonFiniteError(f"scores[{int(np.argmax(np.isnan(sc)))}] is NaN; scores must not be NaN")
    cl = None
    if classes is not None:
        cl = np.asarray(to_numpy(classes))
        if cl.shape != sc.shape:
            raise ShapeError(f"classes has shape {tuple(cl.shape)}, expected ({sc.shape[0]},) to match scores")
        if cl.dtype.kind == "f":
            if not np.isfinite(cl).all() or (cl != np.round(cl)).any():
                raise InvalidArgumentError("classes must be integer class ids")
        elif cl.dtype.kind not in "iub":
            raise InvalidArgumentError(f"classes must be integer class ids, got dtype {cl.dtype}")
        cl = cl.astype(np.int64)
    return bx, sc, cl


# ---- ordering ------------------------------------------------------------------------------------------------------
def _desc_order(b: Backend, scores: Any) -> Any:
    """Positions sorting ``scores`` descending, ties to the lower index, as one sort of unique int64 keys.

    key = (2^32 - 1 - u(score)) * 2^31 + index, with u the order-preserving map of float32 bits to [0, 2^32)
    (-0.0 is first turned into +0.0 by adding +0.0). Unique keys make the result independent of sort stability
    (mx.argsort is not documented as stable).
    """
    n = scores.shape[0]
    s = scores + b.const(0.0, "float32")  # -0.0 + 0.0 = +0.0 (IEEE 754), so -0.0 ties with 0.0
    i = b.astype(b.view(s, "int32"), "int64")
    two31 = b.const(2**31, "int64")
    u = b.where(i >= b.const(0, "int64"), i + two31, b.const(-1, "int64") - i)  # monotone in the float value
    key = (b.const(2**32 - 1, "int64") - u) * two31 + b.arange(n, dtype="int64")
    return b.argsort(key, axis=-1)


# ---- generic fixed-shape greedy NMS (both backends) ----------------------------------------------------------------
def _nms_generic(b: Backend, boxes: Any, scores: Any, classes: Any | None, iou_threshold: float,
                 block: int = _BLOCK) -> Any:
    """Greedy NMS as a blocked fixed-point iteration; returns kept original indices (int32, descending score)."""
    n = boxes.shape[0]
    if n == 0:
        return b.zeros((0,), "int32")
    t_up = b.const(iou_threshold_up(iou_threshold), "float32")
    order = _desc_order(b, scores)
    bx = b.take(boxes, order, axis=0)
    x1, y1, x2, y2 = bx[:, 0], bx[:, 1], bx[:, 2], bx[:, 3]
    area = (x2 - x1) * (y2 - y1)
    cl = b.take(classes, order, axis=0) if classes is not None else None
    keep_blocks: list[Any] = []
    for s in range(0, n, block):
        e = min(n, s + block)
        m = e - s
        bj = (x1[None, s:e], y1[None, s:e], x2[None, s:e], y2[None, s:e], area[None, s:e])
        if s > 0:
            prev_keep = b.concatenate(keep_blocks, axis=0)
            iou = _pair_iou(b, x1[:s, None], y1[:s, None], x2[:s, None], y2[:s, None], area[:s, None], *bj)
            over = iou >= t_up
            if cl is not None:
                over = b.logical_and(over, cl[:s, None] == cl[None, s:e])
            sup = b.any(b.logical_and(over, prev_keep[:, None]), axis=0)
        else:
            sup = b.zeros((m,), "bool")
        iou = _pair_iou(b, x1[s:e, None], y1[s:e, None], x2[s:e, None], y2[s:e, None], area[s:e, None], *bj)
        ar = b.arange(m, dtype="int32")
        S = b.logical_and(iou >= t_up, ar[:, None] < ar[None, :])  # S[i, j]: earlier i would suppress later j
        if cl is not None:
            S = b.logical_and(S, cl[s:e, None] == cl[None, s:e])
        free = b.logical_not(sup)
        k = free
        for _ in range(m + 1):  # converges in at most m iterations (entry j is final after j + 1)
            k_new = b.logical_and(free, b.logical_not(b.any(b.logical_and(k[:, None], S), axis=0)))
            if bool(b.all(k_new == k)):
                break
            k = k_new
        keep_blocks.append(k)
    keep = to_numpy(b.concatenate(keep_blocks, axis=0)).astype(bool)
    # API boundary: the only data-dependent shape.
    pos = b.asarray(np.flatnonzero(keep).astype(np.int32))
    return b.astype(b.take(order, pos, axis=0), "int32")


# ---- NumPy fast path -----------------------------------------------------------------------------------------------
# Candidates resolved together per block on the fast path: a block's pairwise IoU is BLOCK^2 (cheap), and the kept
# boxes of a block suppress all later boxes in one pass instead of one pass per kept box. 64 was the best of
# 16 / 32 / 64 / 128 with the band index on the benchmark's clustered and spread sets (benchmarks/bench_decode.py,
# noisy shared machine): larger blocks pay cross passes for boxes an earlier kept box of the block would suppress.
_FAST_BLOCK = 64


# Strictly upper-triangular mask: S[i, j] for an earlier i and a later j only.
_UPPER = np.triu(np.ones((_FAST_BLOCK, _FAST_BLOCK), dtype=bool), 1)


def _resolve_block_bits(S: np.ndarray) -> list[int]:
    """Greedy within a block, given the strictly upper-triangular ``S[i, j]`` (earlier i would suppress later j):
    exact sequential greedy with each row packed into one Python int (bit j = S[i, j]), so the m-step loop costs a
    few integer operations per step instead of a NumPy pass per fixed-point iteration."""
    m = S.shape[0]
    nw = (m + 63) // 64
    packed = np.zeros((m, 8 * nw), np.uint8)
    packed[:, :(m + 7) // 8] = np.packbits(S, axis=1, bitorder="little")
    if nw == 1:
        rows = packed.view("<u8")[:, 0].tolist()  # bit j of rows[i] = S[i, j]
    else:
        rows = [int.from_bytes(r, "little") for r in map(bytes, packed)]
    sup = 0
    keep = []
    for i in range(m):
        if not (sup >> i) & 1:
            keep.append(i)
            sup |= rows[i]
    return keep


def _pair_iou_np(ax1: np.ndarray, ay1: np.ndarray, ax2: np.ndarray, ay2: np.ndarray, aa: np.ndarray,
                 bx1: np.ndarray, by1: np.ndarray, bx2: np.ndarray, by2: np.ndarray, ba: np.ndarray) -> np.ndarray:
    """The IoU of docs/spec/decode.md §1 (same float32 operations as boxes._pair_iou); NaN for 0/0 (never >= t)."""
    w = np.minimum(ax2, bx2) - np.maximum(ax1, bx1)
    np.maximum(w, np.float32(0), out=w)
    h = np.minimum(ay2, by2) - np.maximum(ay1, by1)
    np.maximum(h, np.float32(0), out=h)
    inter = w * h
    with np.errstate(invalid="ignore", divide="ignore"):
        return inter / ((aa + ba) - inter)


def _median(v: np.ndarray) -> float:
    """``np.median`` of a 1-D float64 array (same value: mean of the two middle ones), without its overhead."""
    n = v.shape[0]
    m = n // 2
    if n % 2:
        return float(np.partition(v, m)[m])
    p = np.partition(v, (m - 1, m))
    return float((p[m - 1] + p[m]) / 2)


def _greedy_sorted_numpy(x1: np.ndarray, y1: np.ndarray, x2: np.ndarray, y2: np.ndarray, area: np.ndarray,
                         t_up: np.float32, cls: np.ndarray | None = None,
                         tried: tuple[int, int] | None = None) -> np.ndarray:
    """Greedy NMS over score-sorted boxes; returns kept sorted positions (exactly the greedy result).

    Blocked: the next ``_FAST_BLOCK`` not-yet-suppressed boxes are resolved among themselves by the sequential
    greedy on their upper-triangular suppression matrix, rows packed as bit masks (none of them is suppressed by an
    earlier kept box: those were all applied already); then the block's kept boxes suppress every later box in one
    pass. That pass only visits
    boxes that can reach the threshold (docs/spec/decode.md §2): IoU > t implies |cx_i - cx_j| < (1 - t)/(2t) · w_i
    and |cy_i - cy_j| < (1 - t)/(2t) · h_i (the IoU is at most the 1-D IoU of the x extents, maximal for a box
    1/t times wider with the kept box nested at its edge);
    boxes are indexed by horizontal bands of their centre, sorted by centre x inside a band, so the candidates of a
    kept box are a few contiguous runs. The bounds use t slightly below the threshold (conservative); the decision
    itself is the exact float32 IoU >= t_up on each candidate pair.

    With ``cls`` (class ranks 0..K-1 of the sorted boxes) suppression is per class in the same single pass: class c
    owns bands ``c·nb .. c·nb + nb - 1`` of the index, candidate pairs and the block matrix are masked by class
    equality — per-class greedy, since classes do not interact.
    """
    n = x1.shape[0]
    alive = np.ones(n, dtype=bool)
    kept_parts: list[np.ndarray] = []
    density: float | None = None
    if n == 0:
        return np.zeros(0, np.int64)
    f64 = np.float64
    cx = (x1.astype(f64) + x2.astype(f64)) * 0.5  # exact in float64
    cy = (y1.astype(f64) + y2.astype(f64)) * 0.5
    w = x2.astype(f64) - x1.astype(f64)
    h = y2.astype(f64) - y1.astype(f64)
    # conservative threshold for the geometric bounds: float32 IoU >= t_up implies real IoU > t_lo
    t_lo = float(t_up) * (1.0 - 1e-5)
    if t_lo > 0:
        fac = (1.0 - t_lo) / (2.0 * t_lo)
        rx, ry = fac * w, fac * h
    else:  # threshold 0: any overlap suppresses; overlap needs |dc| < (w_i + w_j) / 2
        rx, ry = (w + w.max()) * 0.5, (h + h.max()) * 0.5
    slack = 1e-6 * (1.0 + np.abs(cx).max() + np.abs(cy).max())  # float64 rounding of the window arithmetic
    rx, ry = rx + slack, ry + slack
    cymin, cxmin = cy.min(), cx.min()
    span = cx.max() - cxmin + 1.0
    # at most ~4096 bands per class: keeps |key| <= 4097·K·span, whose float64 rounding stays far below the slack
    # (also when most boxes have near-zero height and the median window is tiny)
    band_h = max(_median(2.0 * ry), 1e-9 * (1.0 + abs(cymin)), float(cy.max() - cymin) / 4096.0)
    band = np.floor((cy - cymin) / band_h)
    nb = int(band.max()) + 1
    if cls is not None:
        band = band + cls * nb  # class c: bands c·nb .. c·nb + nb - 1
    key = band * span + (cx - cxmin)
    perm = np.argsort(key)  # keys sorted (equal keys in any order: a run takes all of them)
    keys = key[perm]
    pos = 0
    while pos < n:
        cand = np.flatnonzero(alive[pos:])
        if cand.shape[0] == 0:
            break
        r = cand.shape[0]
        # the rest by the pair formulation once it fits: pairs among the r alive boxes estimated from the last
        # cross pass (candidates per kept box, scaled to the alive share of the later boxes; ~r^2 from a refused try)
        if density is not None:
            est = r * density * r / 2
            if tried is not None:
                est = max(est, tried[1] * (r / tried[0]) ** 2)
        if pos and r <= _PAIRS_MAX_N and density is not None and est <= _PAIRS_EST_PER_BOX * r + _PAIRS_EST_SLACK:
            sub = cand + pos  # not suppressed by any kept box: the greedy on them alone decides the rest
            res, p = _greedy_pairs(x1[sub], y1[sub], x2[sub], y2[sub], area[sub], t_up,
                                   None if cls is None else cls[sub])
            if res is not None:
                kept_parts.append(sub[res])
                break
            tried = (r, p)
        cand = cand[:_FAST_BLOCK] + pos
        last = int(cand[-1])
        # -- resolve the block (upper-triangular suppression matrix, fixed point as in _nms_generic)
        m = cand.shape[0]
        kept = cand
        if m > 1:
            cx1, cy1, cx2, cy2, ca = x1[cand], y1[cand], x2[cand], y2[cand], area[cand]
            iou = _pair_iou_np(cx1[:, None], cy1[:, None], cx2[:, None], cy2[:, None], ca[:, None],
                               cx1[None, :], cy1[None, :], cx2[None, :], cy2[None, :], ca[None, :])
            S = iou >= t_up
            S &= _UPPER[:m, :m]
            if cls is not None:
                cc = cls[cand]
                S &= cc[:, None] == cc[None, :]
            if S.any():
                kept = cand[_resolve_block_bits(S)]
        kept_parts.append(kept)
        alive[pos:last + 1] = False
        pos = last + 1
        if pos >= n:
            break
        # -- the block's kept boxes suppress later boxes: candidate runs from the band index
        b_lo = np.clip(np.floor((cy[kept] - ry[kept] - cymin) / band_h), 0, nb - 1).astype(np.int64)
        b_hi = np.clip(np.floor((cy[kept] + ry[kept] - cymin) / band_h), 0, nb - 1).astype(np.int64)
        if cls is not None:
            b_lo += cls[kept] * nb
            b_hi += cls[kept] * nb
        nbands = b_hi - b_lo + 1
        kb = np.repeat(kept, nbands)
        bb = np.repeat(b_lo, nbands) + (np.arange(int(nbands.sum())) - np.repeat(np.cumsum(nbands) - nbands, nbands))
        base = bb * span - cxmin
        lo = np.searchsorted(keys, base + cx[kb] - rx[kb], side="left")
        hi = np.searchsorted(keys, base + cx[kb] + rx[kb], side="right")
        ln = hi - lo
        tot = int(ln.sum())
        density = tot / (kept.shape[0] * (n - pos))  # candidates per kept box and later box
        if tot == 0:
            continue
        if tot < kept.shape[0] * (n - pos):  # fewer candidate pairs than the dense [kept, remaining] matrix
            kk = np.repeat(kb, ln)
            jj = perm[np.arange(tot) - np.repeat(np.cumsum(ln) - ln - lo, ln)]
            live = alive[jj]  # later, not yet suppressed (decided boxes are dead)
            if cls is not None:  # a window reaching past its band's ends may touch another class's bands
                live &= cls[jj] == cls[kk]
            kk, jj = kk[live], jj[live]
            if jj.shape[0]:
                iou = _pair_iou_np(x1[kk], y1[kk], x2[kk], y2[kk], area[kk], x1[jj], y1[jj], x2[jj], y2[jj],
                                   area[jj])
                alive[jj[iou >= t_up]] = False
        else:
            r = np.flatnonzero(alive[pos:]) + pos
            if r.shape[0]:
                iou = _pair_iou_np(x1[kept][:, None], y1[kept][:, None], x2[kept][:, None], y2[kept][:, None],
                                   area[kept][:, None], x1[r][None, :], y1[r][None, :], x2[r][None, :],
                                   y2[r][None, :], area[r][None, :])
                over = iou >= t_up
                if cls is not None:
                    over &= cls[kept][:, None] == cls[r][None, :]
                alive[r[over.any(axis=0)]] = False
    return np.concatenate(kept_parts) if kept_parts else np.zeros(0, np.int64)


# ---- NumPy fast path, small / sparse sets: all candidate pairs at once ----------------------------------------------
# Below this many not-yet-decided boxes the pair formulation is tried (docs/spec/decode.md §2): every pair that can
# reach the threshold is found in one vectorized pass, decided by the exact IoU, and the greedy runs over bit-packed
# rows in Python. It replaces the per-block NumPy call overhead (~150 µs per block of 64) by work proportional to the
# number of candidate pairs, so it is used only while that count is small (_pairs_budget; a refused try costs ~100 µs).
_PAIRS_MAX_N = 2048
_PAIRS_DIRECT_N = 512  # tried before any block up to this size; larger sets after the first block
_PAIRS_PER_BOX = 12
_PAIRS_SLACK = 8192
# handing the rest of a set over after a block pays off when the remaining pairs are few per alive box (clustered
# sets: the next blocks would suppress most of them cheaply; spread sets: many blocks would be left)
_PAIRS_EST_PER_BOX = 6
_PAIRS_EST_SLACK = 2048


def _pairs_budget(n: int) -> int:
    return _PAIRS_PER_BOX * n + _PAIRS_SLACK


def _greedy_pairs(x1: np.ndarray, y1: np.ndarray, x2: np.ndarray, y2: np.ndarray, area: np.ndarray,
                  t_up: np.float32, cls: np.ndarray | None = None) -> tuple[np.ndarray | None, int]:
    """Greedy NMS over score-sorted boxes from all candidate pairs at once: ``(kept sorted positions, pairs)``, or
    ``(None, upper bound of the pairs)`` when the set is too dense for it (more candidate pairs than
    :func:`_pairs_budget`: the blocked pass is cheaper there).

    Candidate pairs: the same geometric window as :func:`_greedy_sorted_numpy` (IoU > t_lo implies
    ``|cx_i - cx_j| < (1 - t_lo)/(2 t_lo) · w_i``, likewise y; the bound is symmetric, the 1-D IoU being symmetric,
    so the window of either box of a pair contains the other). Box centres are binned into a grid (rows of about the
    median y window, class c owning rows ``c·nb .. c·nb + nb - 1``; columns of half the median x window) and sorted
    by cell, row-major; each pair is generated once, from the box that comes first in that order: the later boxes of
    its own row inside its x window's columns, and the columns of the higher rows (same class) its y window reaches,
    each a contiguous run of the sorted boxes (cell counts, cumulated). Every candidate pair is decided by the exact
    float32 IoU of docs/spec/decode.md §1 (bit for bit symmetric: min, max and + commute), which gives the strictly
    upper-triangular suppression relation ``S[i, j]`` (i before j in score order) on the boxes in some suppressing
    pair; the sequential greedy (take the first remaining box, clear its row) runs over those rows packed into
    Python ints. Boxes in no suppressing pair are kept.
    """
    n = x1.shape[0]
    if n <= 1:
        return np.arange(n), 0
    f64 = np.float64
    X1, Y1, X2, Y2 = x1.astype(f64), y1.astype(f64), x2.astype(f64), y2.astype(f64)
    cx = (X1 + X2) * 0.5  # exact in float64
    cy = (Y1 + Y2) * 0.5
    w = X2 - X1
    h = Y2 - Y1
    t_lo = float(t_up) * (1.0 - 1e-5)  # conservative: float32 IoU >= t_up implies real IoU > t_lo
    cxmin, cxmax, cymin, cymax = float(cx.min()), float(cx.max()), float(cy.min()), float(cy.max())
    if t_lo > 0:
        fac = (1.0 - t_lo) / (2.0 * t_lo)
        rx = w * fac
        ry = h * fac
    else:  # threshold 0: any overlap suppresses; overlap needs |dc| < (w_i + w_j) / 2
        rx = (w + float(w.max())) * 0.5
        ry = (h + float(h.max())) * 0.5
    slack = 1e-6 * (1.0 + max(abs(cxmin), abs(cxmax)) + max(abs(cymin), abs(cymax)))  # float64 window rounding
    rx += slack
    ry += slack
    budget = _pairs_budget(n)
    # cell grid: rows of height ~ the median y window (class c owns rows c·nb .. c·nb + nb - 1), columns of half
    # the median x window; at most ~4096 of each per class, and at most 4(n + classes) + 1024 cells in all
    mid = n // 2
    band_h = max(float(np.partition(ry, mid)[mid]), 1e-9 * (1.0 + abs(cymin)), (cymax - cymin) / 4096.0)
    cw = max(0.5 * float(np.partition(rx, mid)[mid]), 1e-9 * (1.0 + abs(cxmin)), (cxmax - cxmin) / 4096.0)
    nk = 1 if cls is None else int(cls.max()) + 1
    while nk * (int((cymax - cymin) / band_h) + 2) * (int((cxmax - cxmin) / cw) + 2) > 4 * (n + nk) + 1024:
        band_h *= 2.0
        cw *= 2.0
    row = np.floor((cy - cymin) / band_h)
    nb = int(row.max()) + 1
    r_hi = np.minimum(np.floor((cy + ry - cymin) / band_h), nb - 1)
    col = np.floor((cx - cxmin) / cw)
    ncol = int(col.max()) + 1
    c_lo = np.maximum(np.floor((cx - rx - cxmin) / cw), 0)
    c_hi = np.minimum(np.floor((cx + rx - cxmin) / cw), ncol - 1)
    if cls is not None:
        off = cls * nb
        row += off
        r_hi += off
    cell = (row * ncol + col).astype(np.int64)
    ncell = nk * nb * ncol
    cum = np.zeros(ncell + 1, np.int64)
    np.cumsum(np.bincount(cell, minlength=ncell), out=cum[1:])
    nrow = (r_hi - row).astype(np.int64) + 1
    first = np.cumsum(nrow) - nrow  # each source's run in its own row
    src = np.repeat(np.arange(n), nrow)  # source (score position) of each run
    rr = (row[src] + (np.arange(first[-1] + nrow[-1]) - first[src])) * ncol
    lo = cum[(rr + c_lo[src]).astype(np.int64)]
    hi = cum[(rr + c_hi[src]).astype(np.int64) + 1]
    ln = hi - lo
    np.maximum(ln, 0, out=ln)
    upper = int(ln.sum())  # an upper bound of the pair count (own rows counted whole)
    if upper > budget:
        return None, upper
    perm = np.argsort(cell, kind="stable")  # row-major cells; order inside a cell does not matter
    rank = np.empty(n, np.int64)
    rank[perm] = np.arange(n)
    lo[first] = rank + 1  # own row: only the boxes after the source in perm order (later cells of the window)
    ln = hi - lo
    np.maximum(ln, 0, out=ln)
    tot = int(ln.sum())
    if tot == 0:
        return np.arange(n), 0
    px1, py1, px2, py2, pa = x1[perm], y1[perm], x2[perm], y2[perm], area[perm]
    jj = np.arange(tot, dtype=np.int32) - np.repeat((np.cumsum(ln) - ln - lo).astype(np.int32), ln)
    rep = np.repeat
    # the IoU of docs/spec/decode.md §1, same float32 operations as _pair_iou_np (NaN for 0/0, never >= t_up)
    iw = np.minimum(rep(x2[src], ln), px2.take(jj))
    iw -= np.maximum(rep(x1[src], ln), px1.take(jj))
    np.maximum(iw, np.float32(0), out=iw)
    ih = np.minimum(rep(y2[src], ln), py2.take(jj))
    ih -= np.maximum(rep(y1[src], ln), py1.take(jj))
    np.maximum(ih, np.float32(0), out=ih)
    iw *= ih  # inter
    un = rep(area[src], ln)
    un += pa.take(jj)
    un -= iw  # (area_a + area_b) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iw /= un
    k = np.flatnonzero(iw >= t_up)
    if k.shape[0] == 0:
        return np.arange(n), tot
    a = rep(src.astype(np.int32), ln)[k]
    b = perm[jj[k]]
    i = np.minimum(a, b)  # score order: i before j
    j = np.maximum(a, b)
    inv = np.zeros(n, bool)
    inv[i] = True
    inv[j] = True
    ids = np.flatnonzero(inv)  # boxes in some suppressing pair; all others are kept
    m = ids.shape[0]
    cmap = np.cumsum(inv) - 1
    ci = cmap[i]
    cj = cmap[j]
    nbyte = (m + 7) >> 3
    rows = np.zeros(m * nbyte, np.uint8)  # row ci, bit cj (little-endian) = S[i, j]
    np.bitwise_or.at(rows, ci * nbyte + (cj >> 3), np.left_shift(1, cj & 7).astype(np.uint8))
    rows ^= 0xFF  # complemented rows: "and" clears the suppressed boxes
    has_row = np.zeros(m, bool)
    has_row[ci] = True
    raw = rows.tobytes()
    hr = has_row.tolist()
    rem = (1 << m) - 1  # involved boxes not yet decided and not suppressed
    keep = []
    from_bytes = int.from_bytes
    while rem:
        low = rem & -rem
        q = low.bit_length() - 1  # the first remaining box in score order: kept
        keep.append(q)
        rem ^= low
        if hr[q]:
            rem &= from_bytes(raw[q * nbyte:(q + 1) * nbyte], "little")
    out = ~inv
    out[ids[keep]] = True
    return np.flatnonzero(out), tot


def _nms_numpy_fast(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray | None,
                    iou_threshold: float) -> np.ndarray:
    n = boxes.shape[0]
    if n == 0:
        return np.zeros(0, np.int32)
    t_up = iou_threshold_up(iou_threshold)
    s = scores + np.float32(0.0)  # -0.0 -> +0.0 so that it ties with 0.0 in the stable sort
    order = np.argsort(-s, kind="stable")
    bx = boxes[order]
    x1, y1, x2, y2 = (np.ascontiguousarray(bx[:, k]) for k in range(4))
    # per class in one pass (class ranks 0..K-1 in score order): same result as NMS class by class, merged by
    # descending score with ties to the lower index, without a Python loop over the classes
    cls = None if classes is None else np.unique(classes, return_inverse=True)[1].reshape(-1)[order].astype(np.int64)
    area = (x2 - x1) * (y2 - y1)
    pos, tried = None, None  # larger sets: first one block (it removes most of a clustered set)
    if n <= _PAIRS_DIRECT_N:
        pos, p = _greedy_pairs(x1, y1, x2, y2, area, t_up, cls)
        tried = (n, p)
    if pos is None:
        pos = _greedy_sorted_numpy(x1, y1, x2, y2, area, t_up, cls, tried=tried)
    return order[pos].astype(np.int32)


# ---- soft NMS (TensorFlow NonMaxSuppressionV5 semantics) -------------------------------------------------------------
def _soft_nms_numpy(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray | None, iou_threshold: float,
                    sigma: float, score_threshold: float, max_det: int | None, method: str
                    ) -> tuple[np.ndarray, np.ndarray]:
    """TF's lazy priority-queue soft-NMS (per class when classes is given). Returns (indices, new scores)."""
    if classes is not None:
        parts = [(_soft_nms_numpy(boxes[idx], scores[idx], None, iou_threshold, sigma, score_threshold, None,
                                  method), idx) for idx in (np.flatnonzero(classes == c) for c in np.unique(classes))]
        ind = np.concatenate([idx[p[0]] for p, idx in parts]) if parts else np.zeros(0, np.int32)
        sc = np.concatenate([p[1] for p, _ in parts]) if parts else np.zeros(0, np.float32)
        o = np.lexsort((ind, -sc))
        ind, sc = ind[o], sc[o]
        return ind[:max_det].astype(np.int32), sc[:max_det]
    n = boxes.shape[0]
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = (x2 - x1) * (y2 - y1)
    t_up = iou_threshold_up(iou_threshold)
    # TF: scale = -0.5 / sigma (Gaussian weight exp(scale * iou^2)), sigma a float32 tensor and the division in
    # double; linear (Bodla et al.): 1 - iou when iou > thr.
    scale = np.float32(-0.5 / float(np.float32(sigma))) if sigma > 0 else np.float32(0)
    heap = [(-float(scores[i]), i, i, 0) for i in range(n) if scores[i] > score_threshold]  # TF: score > thr
    heapq.heapify(heap)  # (−score, index, box, suppress_begin): ties pop the lower index first
    sel: list[int] = []
    sel_sc: list[float] = []
    cap = n if max_det is None else max_det
    while heap and len(sel) < cap:
        neg, _, i, begin = heapq.heappop(heap)
        orig = np.float32(-neg)
        cur = orig
        for j in range(len(sel) - 1, begin - 1, -1):
            k = sel[j]
            w = max(min(x2[i], x2[k]) - max(x1[i], x1[k]), np.float32(0))
            h = max(min(y2[i], y2[k]) - max(y1[i], y1[k]), np.float32(0))
            inter = np.float32(w * h)
            union = np.float32(area[i] + area[k]) - inter
            iou = np.float32(inter / union) if union > 0 else np.float32(0)
            if method == "gaussian":
                cur = np.float32(cur * np.float32(math.exp(float(scale * iou * iou))))
            elif iou >= t_up:
                cur = np.float32(cur * (np.float32(1) - iou))
            if cur <= score_threshold:
                break
        if cur == orig:
            sel.append(i)
            sel_sc.append(float(cur))
        elif cur > score_threshold:
            heapq.heappush(heap, (-float(cur), i, i, len(sel)))
    return np.asarray(sel, np.int32), np.asarray(sel_sc, np.float32)


# ---- weighted NMS (MediaPipe WeightedNonMaxSuppression) --------------------------------------------------------------
def _weighted_numpy(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, keypoints: np.ndarray | None,
                    max_det: int | None, score_threshold: float | None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    n = boxes.shape[0]
    order = np.argsort(-(scores + np.float32(0)), kind="stable")
    remained = order
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = (x2 - x1) * (y2 - y1)
    out_i: list[int] = []
    out_b: list[np.ndarray] = []
    out_k: list[np.ndarray] = []
    cap = n if max_det is None else max_det
    while remained.shape[0] and len(out_i) < cap:
        top = remained[0]
        if score_threshold is not None and score_threshold > 0 and scores[top] < score_threshold:
            break  # MediaPipe: min_score_threshold > 0 and score < threshold stops
        r = remained
        w = np.maximum(np.minimum(x2[top], x2[r]) - np.maximum(x1[top], x1[r]), np.float32(0))
        h = np.maximum(np.minimum(y2[top], y2[r]) - np.maximum(y1[top], y1[r]), np.float32(0))
        inter = w * h
        union = (area[top] + area[r]) - inter
        with np.errstate(invalid="ignore", divide="ignore"):
            sim = np.where(union > 0, inter / np.where(union > 0, union, 1), np.float32(0))
        cand = sim > np.float32(iou_threshold)  # MediaPipe: similarity > min_suppression_threshold (float)
        c = r[cand]
        merged = boxes[top].astype(np.float32).copy()
        mk = keypoints[top].astype(np.float32).copy() if keypoints is not None else None
        if c.shape[0]:
            ws = scores[c].astype(np.float32)
            tot = np.float32(ws.sum(dtype=np.float32))
            merged = ((boxes[c] * ws[:, None]).sum(0, dtype=np.float32) / tot).astype(np.float32)
            if keypoints is not None:
                mk = ((keypoints[c] * ws[:, None, None]).sum(0, dtype=np.float32) / tot).astype(np.float32)
        out_i.append(int(top))
        out_b.append(merged)
        if mk is not None:
            out_k.append(mk)
        rest = r[~cand]
        if rest.shape[0] == remained.shape[0]:
            break  # MediaPipe: stop when an iteration removes nothing (a zero-area top box)
        remained = rest
    bx = np.stack(out_b).astype(np.float32) if out_b else np.zeros((0, 4), np.float32)
    kp = None
    if keypoints is not None:
        kp = np.stack(out_k) if out_k else np.zeros((0, *keypoints.shape[1:]), np.float32)
    return np.asarray(out_i, np.int32), bx, kp


def weighted_nms(boxes: Any, scores: Any, iou_threshold: float = 0.3, *, keypoints: Any = None,
                 max_det: int | None = None, score_threshold: float | None = None, backend: str | None = None
                 ) -> tuple[Any, Any, Any]:
    """MediaPipe's weighted NMS: each kept box is the score-weighted mean of the boxes it suppresses (itself included).

    Visits boxes in descending score order (ties: lower index). The top remaining box collects every remaining box
    with IoU > ``iou_threshold`` (itself included); its output box (and keypoints) is the score-weighted mean of
    those, its score stays the top score. The weighted mean is taken over xyxy corners (as MediaPipe averages
    xmin, ymin, xmax, ymax).

    Args:
        boxes: ``[N, 4]`` xyxy.
        scores: ``[N]``.
        iou_threshold: MediaPipe ``min_suppression_threshold`` (0.3 for face detection).
        keypoints: optional ``[N, K, 2]`` averaged with the same weights.
        max_det: keep at most this many.
        score_threshold: MediaPipe ``min_score_threshold`` (stop at the first top box below it).
        backend: force ``"numpy"`` or ``"mlx"``.

    Returns:
        ``(indices, merged_boxes, merged_keypoints)``; ``merged_keypoints`` is None without keypoints.

    Example:
        >>> import numpy as np
        >>> b = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
        >>> idx, mb, _ = weighted_nms(b, np.array([0.9, 0.6, 0.8], np.float32), 0.3)
        >>> idx.tolist(), [round(float(v), 2) for v in mb[0]]
        ([0, 2], [0.4, 0.4, 10.4, 10.4])
    """
    b = get_backend(boxes, backend)
    thr = _check_threshold("iou_threshold", iou_threshold)
    md = _check_max_det(max_det)
    bx, sc, _ = _prepare(boxes, scores, None)
    kp = None
    if keypoints is not None:
        kp = np.asarray(to_numpy(keypoints), np.float32)
        if kp.ndim != 3 or kp.shape[0] != bx.shape[0] or kp.shape[2] != 2:
            raise ShapeError(f"keypoints has shape {tuple(kp.shape)}, expected ({bx.shape[0]}, K, 2)")
    idx, mb, mk = _weighted_numpy(bx, sc, thr, kp, md, score_threshold)
    if b.name == "mlx":
        return b.asarray(idx), b.asarray(mb), (b.asarray(mk) if mk is not None else None)
    return idx, mb, mk


def nms(
    boxes: Any,
    scores: Any,
    iou_threshold: float = 0.5,
    *,
    classes: Any = None,
    max_det: int | None = None,
    mode: str = "greedy",
    score_threshold: float | None = None,
    sigma: float = 0.5,
    soft_method: str = "gaussian",
    return_scores: bool = False,
    method: str = "auto",
    backend: str | None = None,
) -> Any:
    """Non-maximum suppression; kept indices in descending score order (ties: lower index first).

    Args:
        boxes: ``[N, 4]`` xyxy float boxes (NumPy or MLX); x2 >= x1 and y2 >= y1, finite.
        scores: ``[N]`` scores (any finite or infinite float, not NaN).
        iou_threshold: in [0, 1]; greedy suppresses when IoU > threshold (strict, torchvision / TF semantics).
        classes: optional ``[N]`` integer class ids: suppression only within a class (exact, per class).
        max_det: keep at most this many (after suppression).
        mode: ``"greedy"``, ``"soft"`` (TF soft-NMS) or ``"weighted"`` (MediaPipe; indices of the representative
            boxes — use :func:`weighted_nms` for the merged boxes).
        score_threshold: in [0, 1] or None; candidates need ``score > score_threshold`` (strict, TF / OpenCV); in
            soft mode rescored candidates are dropped once ``score <= score_threshold``.
        sigma: soft-NMS Gaussian sigma: weight ``exp(-0.5 * iou^2 / sigma)`` (TF ``soft_nms_sigma``).
        soft_method: ``"gaussian"`` (TF) or ``"linear"`` (weight ``1 - iou`` when IoU > threshold).
        return_scores: also return the (soft-NMS rescored) scores of the kept boxes.
        method: greedy formulation: ``"auto"`` (the NumPy fast path for NumPy input and for MLX arrays when MLX
            runs on the CPU — the fixed-shape formulation is O(N^2) work, which only pays off on a GPU; the
            fixed-shape MLX formulation otherwise), ``"generic"`` (always the fixed-shape formulation on the
            input's backend) or ``"fast"`` (always the NumPy fast path). All give identical indices.
        backend: force ``"numpy"`` or ``"mlx"``.

    Returns:
        int32 indices ``[K]`` on the input's backend (and float32 scores ``[K]`` with ``return_scores``).

    Raises:
        ShapeError: boxes not ``[N, 4]`` or scores/classes not ``[N]``.
        InvalidArgumentError: threshold outside [0, 1], unknown mode, boxes with x2 < x1.
        NonFiniteError: NaN scores or non-finite boxes.

    Example:
        >>> import numpy as np
        >>> boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float32)
        >>> nms(boxes, np.array([0.9, 0.8, 0.7], np.float32), 0.5)
        array([0, 2], dtype=int32)
        >>> nms(boxes, np.array([0.9, 0.8, 0.7], np.float32), 0.5, classes=np.array([0, 1, 0]))
        array([0, 1, 2], dtype=int32)
    """
    check_choice("mode", mode, NMS_MODES)
    check_choice("soft_method", soft_method, SOFT_METHODS)
    check_choice("method", method, ("auto", "generic", "fast"))
    b = get_backend(boxes, backend)
    thr = _check_threshold("iou_threshold", iou_threshold)
    st = None if score_threshold is None else _check_threshold("score_threshold", score_threshold)
    md = _check_max_det(max_det)
    if mode == "soft" and not (isinstance(sigma, (int, float)) and sigma > 0 and math.isfinite(sigma)):
        raise InvalidArgumentError(f"sigma must be a finite number > 0, got {sigma!r}")
    bx, sc, cl = _prepare(boxes, scores, classes)
    cand = None
    if st is not None and mode != "soft":
        cand = np.flatnonzero(sc > np.float32(st))  # TF / OpenCV: score > score_threshold
    if mode == "soft":
        idx, new_sc = _soft_nms_numpy(bx, sc, cl, thr, float(sigma), -np.inf if st is None else st, md, soft_method)
        out = b.asarray(idx) if b.name == "mlx" else idx
        return (out, b.asarray(new_sc) if b.name == "mlx" else new_sc) if return_scores else out
    if mode == "weighted":
        if cl is not None:
            raise InvalidArgumentError("mode='weighted' is class-agnostic (as MediaPipe); pass classes=None")
        sub = cand if cand is not None else np.arange(bx.shape[0])
        idx, _, _ = _weighted_numpy(bx[sub], sc[sub], thr, None, md, None)
        idx = sub[idx].astype(np.int32)
    elif method == "fast" or (method == "auto" and (b.name == "numpy" or _mlx_on_cpu(b))):
        sub = cand if cand is not None else None
        if sub is None:
            idx = _nms_numpy_fast(bx, sc, cl, thr)
        else:
            idx = sub[_nms_numpy_fast(bx[sub], sc[sub], None if cl is None else cl[sub], thr)].astype(np.int32)
        idx = idx[:md] if md is not None else idx
    else:
        xb = b.asarray(boxes, "float32")
        xs = b.asarray(scores, "float32")
        xc = b.asarray(cl.astype(np.int32)) if cl is not None else None
        if cand is not None:
            ci = b.asarray(cand.astype(np.int32))
            xb, xs = b.take(xb, ci, axis=0), b.take(xs, ci, axis=0)
            xc = b.take(xc, ci, axis=0) if xc is not None else None
            k = _nms_generic(b, xb, xs, xc, thr)
            out = b.take(ci, k, axis=0)
        else:
            out = _nms_generic(b, xb, xs, xc, thr)
        out = out[:md] if md is not None else out
        if return_scores:
            return out, b.take(b.asarray(scores, "float32"), out, axis=0)
        return out
    if return_scores:
        sc_out = sc[idx]
        return (b.asarray(idx), b.asarray(sc_out)) if b.name == "mlx" else (idx, sc_out)
    return b.asarray(idx) if b.name == "mlx" else idx


def _mlx_on_cpu(b: Backend) -> bool:
    """True when ``b`` is MLX and its default device is the CPU (Linux wheels, or a CPU default on macOS)."""
    if b.name != "mlx":
        return False
    mx = b.mx  # type: ignore[attr-defined]
    return bool(mx.default_device() == mx.cpu)


def _nms_indices(boxes: Any, scores: Any, classes: Any, iou_threshold: float, b: Backend) -> Any:
    """Internal greedy NMS without re-validation (inputs already checked by a decoder); result on ``b``."""
    if b.name == "numpy" or _mlx_on_cpu(b):
        k = _nms_numpy_fast(np.asarray(to_numpy(boxes), np.float32), np.asarray(to_numpy(scores), np.float32),
                            None if classes is None else np.asarray(to_numpy(classes)), iou_threshold)
        return k if b.name == "numpy" else b.asarray(k)
    return _nms_generic(b, boxes, scores, classes, iou_threshold)
