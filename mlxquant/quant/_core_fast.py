"""NumPy fast path for quantize / dequantize: cache-sized chunks, in-place ufuncs, a small thread pool.

Same arithmetic as the generic kernels in :mod:`mlxquant.quant.primitives` (property-tested equal in
tests/parity/test_core_parity.py), restructured for memory traffic: the generic path makes one full pass over memory
per operation (divide, round, clip, NaN fix, add, cast: ~6 reads and writes of 4 bytes per element), this path reads
``x`` once and writes the result once, running every step on a chunk that stays in L2 cache (64K elements, 256 KiB),
in preallocated buffers (``out=``). NumPy releases the GIL inside ufuncs, so the chunks are spread over the calling
thread and a thread pool (one thread per core in all), each taking the next chunk from a shared counter.

NaN costs nothing when absent: the float→int cast raises FloatingPointError under ``errstate(invalid="raise")``
exactly when a NaN reaches it (everything else has been clipped into range), and only then is the chunk redone with
NaN replaced by the profile's value.

Applies to: float32 input of at least :data:`MIN_SIZE` elements (strided input is copied to contiguous first),
every quantize formula (``div``, ``mul``, ``mul_add``; ``fma`` through float64 with a TwoSum and round-to-odd),
any rounding, per-tensor, per-axis, or blocked along the last axis with a block size that divides it, dtypes up to
16 bits.
Everything else returns None and takes the generic path.

Steps per chunk (RNE): ``buf = x / s`` (or ``x · inv``), ``rint``, ``+ zp``, ``clip`` to [qmin, qmax] with scalar
bounds, cast into the output. Other roundings clip first (to [qmin - zp, qmax - zp]) and then round.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

__all__ = ["CHUNK", "MIN_SIZE", "dequantize", "quantize", "set_threads"]

#: Elements per chunk: 64K float32 = 256 KiB, a few buffers of which stay in a 1 MiB L2 cache.
CHUNK = 1 << 16
#: Below this many elements the generic path is as fast (thread and chunk overheads dominate).
MIN_SIZE = 1 << 17
#: Per-axis along a last axis shorter than this runs on the flat array with tiled parameters.
_TILE_BELOW = 1024

_core = getattr(np, "_core", None) or np.core  # NumPy 2 / NumPy 1
_clip: Any = _core.umath.clip  # the raw ufunc, without np.clip's Python-level argument handling (~2x faster)
_POOL: ThreadPoolExecutor | None = None
_POOL_PID = -1
_POOL_LOCK = threading.Lock()
_THREADS = max(1, min(os.cpu_count() or 1, 8))
_local = threading.local()


def set_threads(n: int | None) -> int:
    """Set the number of worker threads of the fast path (None: one per core, up to 8); returns the previous value."""
    global _THREADS, _POOL
    prev = _THREADS
    with _POOL_LOCK:
        _THREADS = max(1, min(os.cpu_count() or 1, 8)) if n is None else max(1, int(n))
        if _POOL is not None:
            _POOL.shutdown(wait=True)
            _POOL = None
    return prev


def _pool() -> ThreadPoolExecutor:
    """The worker pool, created on first use, and again in a forked child (whose copy of the pool has no threads:
    submitting to it would wait forever)."""
    global _POOL, _POOL_PID
    if _POOL is None or _POOL_PID != os.getpid():
        with _POOL_LOCK:
            if _POOL is None or _POOL_PID != os.getpid():
                _POOL = ThreadPoolExecutor(max_workers=_THREADS, thread_name_prefix="mlxquant")
                _POOL_PID = os.getpid()
    return _POOL


def _buffer(n: int) -> np.ndarray:
    """This thread's float32 scratch buffer of at least n elements."""
    buf = getattr(_local, "buf", None)
    if buf is None or buf.size < n:
        buf = np.empty(max(n, CHUNK), np.float32)
        _local.buf = buf
    return buf[:n]


def _chunks(rows: int, cols: int, period: int = 1) -> list[tuple[int, int, int, int]]:
    """Cache-sized (r0, r1, c0, c1) blocks of a (rows, cols) array (column blocks start at multiples of period)."""
    if cols >= CHUNK:
        step = max(period, (CHUNK // period) * period)
        return [(r, r + 1, c, min(c + step, cols)) for r in range(rows) for c in range(0, cols, step)]
    step = max(1, CHUNK // max(cols, 1))
    return [(r, min(r + step, rows), 0, cols) for r in range(0, rows, step)]


def _sub(a: np.ndarray, pmode: str, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    """The part of a broadcast parameter that covers block (r0:r1, c0:c1)."""
    if pmode in ("row", "block") and a.ndim:
        return a[r0:r1]
    if pmode == "tiled" and a.ndim:  # the pattern repeats every d elements and blocks start at multiples of d
        return a[:, : c1 - c0]
    if pmode == "col" and a.ndim:
        return a[:, c0:c1]
    return a


def _run(blocks: list[tuple[int, int, int, int]], fn: Any) -> None:
    """Run fn([block]) over all blocks: the calling thread and the pool's workers take the next block from a shared
    counter until none is left, so a worker that the OS does not schedule (a busy machine) delays nobody."""
    if _THREADS == 1 or len(blocks) == 1:
        fn(blocks)
        return
    lock = threading.Lock()
    counter = iter(range(len(blocks)))

    def worker() -> None:
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            fn(blocks[i : i + 1])

    futures = [_pool().submit(worker) for _ in range(min(_THREADS, len(blocks)) - 1)]
    try:
        worker()
    finally:
        for f in futures:
            f.result()


def _layout_ok(layout: Any) -> bool:
    """Per-tensor, per-axis, and blocked along the last axis with a block size that divides it."""
    if layout.kind != "block":
        return True
    return layout.axis == len(layout.shape) - 1 and layout.exact_blocks


def _as_2d(shape: tuple[int, ...], kind: str, axis: int | None, block: int | None) -> tuple[int, int, str]:
    """View the array as (rows, cols) so that parameters are per-row ("row"), per-column ("col") or scalar.

    Blocked (along the last axis, exact blocks): one row per block ("block").
    """
    n = int(np.prod(shape)) if shape else 1
    if kind == "tensor":
        return 1, n, "scalar"
    assert axis is not None
    if kind == "block":
        assert block is not None
        return n // block, block, "block"
    d = shape[axis]
    inner = int(np.prod(shape[axis + 1 :])) if axis + 1 < len(shape) else 1
    if inner == 1 and d < _TILE_BELOW:
        # a short last axis: (n/d, d) would make every ufunc loop d elements long; use the flat array with the
        # parameters tiled to the chunk length instead
        return 1, n, "tiled"
    if inner == 1:
        return n // d if d else 0, d, "col"
    return n // inner if inner else 0, inner, "row"


def _param_2d(v: np.ndarray, rows: int, cols: int, mode: str, d: int) -> np.ndarray:
    """The parameter broadcast against a (rows, cols) view: scalar, (1, cols) or (rows, 1)."""
    v = np.asarray(v).reshape(-1)
    if mode == "scalar" or v.size == 1:
        return v.reshape(())
    if mode == "tiled":
        return np.tile(v, max(1, CHUNK // d)).reshape(1, -1)
    if mode == "col":
        return v.reshape(1, d)
    if mode == "block":  # the expanded blocked parameter holds one value per block, in row order
        return v.reshape(rows, 1)
    return np.tile(v, rows // d).reshape(rows, 1)


def quantize(x: np.ndarray, p: Any, formula: str, mode: str) -> np.ndarray | None:
    """The fast quantize, or None when it does not apply (then the generic kernel runs)."""
    qt = p.qt
    if (
        formula not in ("div", "mul", "mul_add", "fma")
        or qt.bits > 16
        or not _layout_ok(p.layout)
        or x.dtype != np.float32
        or x.size < max(MIN_SIZE, 1)
    ):
        return None
    if not x.flags.c_contiguous:  # (np.ascontiguousarray would turn 0-d into 1-d)
        x = np.ascontiguousarray(x)  # a strided view: one copy, still far cheaper than the generic kernel's passes
    shape = x.shape
    rows, cols, pmode = _as_2d(shape, p.layout.kind, p.layout.axis, p.layout.block_size)
    d = shape[p.layout.axis] if p.layout.axis is not None else 1
    x2 = x.reshape(rows, cols)
    out = np.empty((rows, cols), qt.storage)
    s = np.asarray(p.scale, np.float32)
    zp = np.asarray(p.zp_host, np.float32)
    factor = _param_2d(s if formula == "div" else np.float32(1.0) / s, rows, cols, pmode, d)
    zpa = _param_2d(zp, rows, cols, pmode, d)
    included = formula in ("mul_add", "fma")  # the zero point is added before rounding
    factor64, zpa64 = factor.astype(np.float64), zpa.astype(np.float64)
    lo = (np.float32(qt.qmin) - zpa).astype(np.float32)
    hi = (np.float32(qt.qmax) - zpa).astype(np.float32)
    add_zp = bool(np.any(zp != 0))
    op = np.divide if formula == "div" else np.multiply
    rnd = _ROUNDERS[mode]
    rne = mode == "half_even"
    qmin_f, qmax_f = np.float32(qt.qmin), np.float32(qt.qmax)

    def work(chunks: list[tuple[int, int, int, int]]) -> None:
        with np.errstate(invalid="raise", over="ignore", divide="ignore", under="ignore"):
            for r0, r1, c0, c1 in chunks:
                fc, loc, hic, zc = (_sub(a, pmode, r0, r1, c0, c1) for a in (factor, lo, hi, zpa))
                buf = _buffer((r1 - r0) * (c1 - c0)).reshape(r1 - r0, c1 - c0)
                if formula == "fma":
                    f64, z64 = _sub(factor64, pmode, r0, r1, c0, c1), _sub(zpa64, pmode, r0, r1, c0, c1)
                    _fma_to_f32(x2[r0:r1, c0:c1], f64, z64, buf)
                else:
                    op(x2[r0:r1, c0:c1], fc, out=buf)
                    if included:  # mul_add: f32(f32(x·inv) + zp)
                        np.add(buf, zc, out=buf)
                if included:
                    # zp is inside: round, then saturate to [qmin, qmax] (RHA/RHU must not meet inf: clip first)
                    if rne:
                        np.rint(buf, out=buf)
                        _clip(buf, qmin_f, qmax_f, out=buf)
                    else:
                        _clip(buf, qmin_f, qmax_f, out=buf)
                        rnd(buf)
                elif rne:
                    # rint, + zp, then clip to the dtype's range with *scalar* bounds (fast even per-axis). Exact:
                    # rint(v) + zp is exact below 2**24, and beyond that it saturates the same way (monotone).
                    np.rint(buf, out=buf)
                    if add_zp:
                        np.add(buf, zc, out=buf)
                    _clip(buf, qmin_f, qmax_f, out=buf)
                else:
                    # the other roundings subtract trunc/floor, which must not meet inf: clip first (the bounds
                    # are integers, so clip∘round = round∘clip)
                    _clip(buf, loc, hic, out=buf)
                    rnd(buf)
                    if add_zp:
                        np.add(buf, zc, out=buf)
                try:
                    np.copyto(out[r0:r1, c0:c1], buf, casting="unsafe")
                except FloatingPointError:  # a NaN reached the cast: NaN -> qmin
                    np.copyto(buf, np.float32(qt.qmin), where=np.isnan(buf))
                    np.copyto(out[r0:r1, c0:c1], buf, casting="unsafe")

    _run(_chunks(rows, cols, d if pmode == "tiled" else 1), work)
    return out.reshape(shape)


def _buffers64(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """This thread's four float64 scratch buffers of at least n elements."""
    bufs = getattr(_local, "buf64", None)
    if bufs is None or bufs[0].size < n:
        bufs = tuple(np.empty(max(n, CHUNK), np.float64) for _ in range(4))
        _local.buf64 = bufs
    return bufs[0][:n], bufs[1][:n], bufs[2][:n], bufs[3][:n]


def _fma_to_f32(xc: np.ndarray, inv64: np.ndarray, zp64: np.ndarray, out: np.ndarray) -> None:
    """out = f32(x·inv + zp) rounded once (torch's fused multiply-add), via float64.

    x·inv is exact in float64 (24 + 24 bits); the sum with zp is exact as a TwoSum pair (s, e); rounding s to odd
    when e != 0 and then to float32 is a correct single rounding (53 >= 24 + 2 bits; Boldo & Melquiond). Same value
    as the float32-only ``primitives._fma_f32`` of the generic kernel (property-tested).
    """
    shape = xc.shape
    p, sm, t1, t2 = (b.reshape(shape) for b in _buffers64(xc.size))
    with np.errstate(invalid="ignore", over="ignore"):
        np.copyto(p, xc)  # float32 -> float64, exact
        np.multiply(p, inv64, out=p)  # exact product
        np.add(p, zp64, out=sm)  # s = RN64(p + zp)
        np.subtract(sm, p, out=t1)  # bb = s - p
        np.subtract(sm, t1, out=t2)  # s - bb
        np.subtract(p, t2, out=t2)  # p - (s - bb)
        np.subtract(zp64, t1, out=t1)  # zp - bb
        np.add(t2, t1, out=t2)  # e: s + e == p + zp exactly (NaN for inf/NaN input)
        bits = sm.view(np.int64)
        grow = np.equal(np.greater(t2, 0), np.greater(sm, 0))  # step one ulp toward e: +1 grows |s|
        fix = (t2 != 0) & (t2 == t2) & ((bits & 1) == 0)  # inexact, e not NaN, last bit even -> make it odd
        np.add(bits, np.where(grow, fix, -fix.astype(np.int64)), out=bits, casting="unsafe")
        np.copyto(out, sm, casting="same_kind")  # float64 -> float32, round to nearest even: the single rounding


def _rne(buf: np.ndarray) -> None:
    np.rint(buf, out=buf)


def _rha(buf: np.ndarray) -> None:
    # trunc(v) + sign(v)·[|v - trunc(v)| >= 0.5], in place with one scratch array (exact for every float32)
    t = np.trunc(buf)
    np.subtract(buf, t, out=buf)
    np.abs(buf, out=buf)
    np.greater_equal(buf, np.float32(0.5), out=buf, casting="unsafe")
    np.copysign(buf, t, out=buf)
    np.add(buf, t, out=buf)


def _rhu(buf: np.ndarray) -> None:
    f = np.floor(buf)
    np.subtract(buf, f, out=buf)
    np.greater_equal(buf, np.float32(0.5), out=buf, casting="unsafe")
    np.add(buf, f, out=buf)


_ROUNDERS = {"half_even": _rne, "half_away": _rha, "half_up": _rhu}


def dequantize(q: np.ndarray, p: Any) -> np.ndarray | None:
    """The fast dequantize, or None when it does not apply."""
    qt = p.qt
    if (
        qt.bits > 16
        or not _layout_ok(p.layout)
        or q.dtype.name not in ("int8", "uint8", "int16", "uint16")
        or q.size < max(MIN_SIZE, 1)
    ):
        return None
    if not q.flags.c_contiguous:
        q = np.ascontiguousarray(q)
    shape = q.shape
    rows, cols, pmode = _as_2d(shape, p.layout.kind, p.layout.axis, p.layout.block_size)
    d = shape[p.layout.axis] if p.layout.axis is not None else 1
    q2 = q.reshape(rows, cols)
    out = np.empty((rows, cols), np.float32)
    s = _param_2d(np.asarray(p.scale, np.float32), rows, cols, pmode, d)
    zp = np.asarray(p.zp_host, np.float32)
    zpa = _param_2d(zp, rows, cols, pmode, d)
    sub_zp = bool(np.any(zp != 0))

    def work(chunks: list[tuple[int, int, int, int]]) -> None:
        for r0, r1, c0, c1 in chunks:
            sc, zc = (_sub(a, pmode, r0, r1, c0, c1) for a in (s, zpa))
            oc = out[r0:r1, c0:c1]
            # int -> float32 cast in place, then float ops on the cached block (mixed-type ufuncs are ~2x slower)
            np.copyto(oc, q2[r0:r1, c0:c1], casting="unsafe")
            if sub_zp:
                np.subtract(oc, zc, out=oc)  # exact: |q - zp| < 2**17
            np.multiply(oc, sc, out=oc)

    _run(_chunks(rows, cols, d if pmode == "tiled" else 1), work)
    return out.reshape(shape)
