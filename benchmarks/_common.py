"""Shared benchmark helpers: timing medians, a memcpy bandwidth baseline, throughput, tables and JSON results.

Every benchmark script in ``benchmarks/`` measures mlxquant beside its peers *in the same run* and reports GB/s
(bytes read + bytes written per second) and ratios, so that numbers from different machines stay comparable.

Typical use::

    from _common import Bench, bandwidth_baseline, time_fn

    bench = Bench("quantize", n_elements=1 << 24)
    bench.add_baseline(*bandwidth_baseline(64 << 20))           # memcpy of the same bytes
    bench.add("mlxquant numpy per-tensor", time_fn(lambda: mq.quantize(x, s)), bytes_moved=5 * n)
    bench.report(relative_to="memcpy")
    bench.write_json()                                          # benchmarks/results/quantize.json

Run a benchmark as a script from the repository root (``python benchmarks/bench_quantize.py``); this module is
imported by path, so the scripts also work from any working directory.
"""

from __future__ import annotations

import datetime as _dt
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "RESULTS_DIR",
    "Bench",
    "Measurement",
    "bandwidth_baseline",
    "environment",
    "format_table",
    "gbps",
    "memcpy_baseline",
    "mlx_sync",
    "time_fn",
    "write_json",
]

#: Where every benchmark writes its JSON results.
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def time_fn(
    fn: Callable[[], Any],
    *,
    repeat: int = 7,
    warmup: int = 2,
    min_time: float = 0.0,
    sync: Callable[[Any], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> list[float]:
    """Wall-clock seconds of ``repeat`` calls of ``fn`` after ``warmup`` calls (GC disabled while timing).

    Args:
        fn: the zero-argument callable to time. Its result is passed to ``sync`` (e.g. ``mx.eval``) inside the timed
            region, so lazy backends are measured doing the work.
        repeat: number of timed calls (the median of these is what benchmarks report).
        warmup: untimed calls first (page faults, JIT, caches, thread-pool start-up).
        min_time: keep timing beyond ``repeat`` until at least this many seconds were spent (short ops).
        sync: called on ``fn``'s result inside the timed region.
        clock: the clock (default wall time, ``time.perf_counter``). ``time.process_time`` measures CPU seconds of
            the whole process, which is robust to other load on a shared machine when the timed code runs on one
            thread (then it is "per-core" time).

    Returns:
        The list of per-call times in seconds.
    """
    for _ in range(warmup):
        r = fn()
        if sync is not None:
            sync(r)
        del r
    times: list[float] = []
    gc_was = gc.isenabled()
    gc.disable()
    try:
        spent = 0.0
        while len(times) < repeat or spent < min_time:
            t0 = clock()
            r = fn()
            if sync is not None:
                sync(r)
            dt = clock() - t0
            del r
            times.append(dt)
            spent += dt
            if len(times) >= 10 * max(repeat, 1):
                break
    finally:
        if gc_was:
            gc.enable()
    return times


def mlx_sync(result: Any) -> None:
    """``sync`` for :func:`time_fn` on MLX results: evaluates every MLX array in ``result`` (a tuple is fine)."""
    import mlx.core as mx

    if isinstance(result, (tuple, list)):
        mx.eval(*[r for r in result if isinstance(r, mx.array)])
    elif isinstance(result, mx.array):
        mx.eval(result)


def gbps(bytes_moved: float, seconds: float) -> float:
    """Throughput in GB/s (10⁹ bytes per second)."""
    return bytes_moved / seconds / 1e9 if seconds > 0 else float("inf")


def memcpy_baseline(n_bytes: int, *, repeat: int = 7) -> tuple[str, list[float], int]:
    """A plain memory copy of ``n_bytes`` (``np.copyto`` between two preallocated, pre-faulted buffers).

    Returns ``(name, times, bytes_moved)`` with bytes_moved = read + written = ``2 * n_bytes``; feed it to
    :meth:`Bench.add_baseline`.
    """
    src = np.ones(n_bytes, dtype=np.uint8)
    dst = np.zeros(n_bytes, dtype=np.uint8)
    times = time_fn(lambda: np.copyto(dst, src), repeat=repeat)
    return "memcpy", times, 2 * n_bytes


def bandwidth_baseline(n_bytes: int, *, repeat: int = 7) -> tuple[str, list[float], int]:
    """Alias of :func:`memcpy_baseline` (the bandwidth every memory-bound kernel is compared to)."""
    return memcpy_baseline(n_bytes, repeat=repeat)


def environment() -> dict[str, Any]:
    """Machine and package versions, recorded in every JSON result."""
    env: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
    }
    try:
        env["affinity_cpus"] = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS
        pass
    for mod in ("mlx.core", "torch", "onnxruntime", "onnx", "ai_edge_litert", "mlxquant"):
        m = sys.modules.get(mod)
        if m is not None:
            env[mod.split(".")[0]] = getattr(m, "__version__", "?")
    m = sys.modules.get("mlx.core")
    if m is not None:
        try:
            env["mlx_device"] = str(m.default_device())
        except Exception:  # pragma: no cover
            pass
    return env


@dataclass
class Measurement:
    """One timed entry: name, per-call times, bytes moved per call, and free-form notes."""

    name: str
    times: list[float]
    bytes_moved: int
    group: str = ""
    notes: str = ""
    baseline: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def best(self) -> float:
        return min(self.times)

    @property
    def gbps(self) -> float:
        return gbps(self.bytes_moved, self.median)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(median_s=self.median, best_s=self.best, gbps=self.gbps)
        return d


class Bench:
    """A collection of measurements of one benchmark run, with a table printer and a JSON writer."""

    def __init__(self, name: str, **params: Any) -> None:
        self.name = name
        self.params = params
        self.items: list[Measurement] = []
        self.started = _dt.datetime.now(_dt.timezone.utc)

    def add(
        self,
        name: str,
        times: list[float],
        bytes_moved: int,
        *,
        group: str = "",
        notes: str = "",
        baseline: bool = False,
        **extra: Any,
    ) -> Measurement:
        m = Measurement(name, list(times), int(bytes_moved), group, notes, baseline, dict(extra))
        self.items.append(m)
        return m

    def add_baseline(self, name: str, times: list[float], bytes_moved: int, **kw: Any) -> Measurement:
        return self.add(name, times, bytes_moved, baseline=True, **kw)

    def get(self, name: str) -> Measurement:
        for m in self.items:
            if m.name == name:
                return m
        raise KeyError(name)

    def ratios(self, relative_to: str) -> dict[str, float]:
        """Throughput of each entry divided by the throughput of ``relative_to``."""
        ref = self.get(relative_to).gbps
        return {m.name: m.gbps / ref for m in self.items}

    def report(self, relative_to: str | list[str] | tuple[str, ...] = ("memcpy",), file: Any = None) -> str:
        """Print (and return) a table: name, median ms, GB/s and the ratio to each reference entry."""
        refs = [relative_to] if isinstance(relative_to, str) else list(relative_to)
        refs = [r for r in refs if any(m.name == r for m in self.items)]
        text = format_table(self.items, refs)
        print(text, file=file if file is not None else sys.stdout, flush=True)
        return text

    def to_dict(self, relative_to: str | list[str] | tuple[str, ...] = ("memcpy",)) -> dict[str, Any]:
        refs = [relative_to] if isinstance(relative_to, str) else list(relative_to)
        refs = [r for r in refs if any(m.name == r for m in self.items)]
        return {
            "benchmark": self.name,
            "started_utc": self.started.isoformat(timespec="seconds"),
            "host": platform.node(),
            "params": self.params,
            "environment": environment(),
            "results": [m.as_dict() for m in self.items],
            "ratios": {r: self.ratios(r) for r in refs},
        }

    def write_json(self, path: str | os.PathLike[str] | None = None, **kw: Any) -> Path:
        """Write the results to ``path`` (default ``benchmarks/results/<name>.json``; host and time are inside)."""
        if path is None:
            path = RESULTS_DIR / f"{self.name}.json"
        return write_json(self.to_dict(**kw), path)


def write_json(data: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``data`` as indented JSON (NumPy scalars converted), atomically (temp file then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def default(o: Any) -> Any:
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, Path):
            return str(o)
        return str(o)

    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=default) + "\n")
    os.replace(tmp, path)
    return path


def format_table(items: list[Measurement], refs: list[str]) -> str:
    """A fixed-width table of measurements (median ms, GB/s, ratio to each of ``refs``)."""
    by_name = {m.name: m for m in items}
    w = max([len(m.name) for m in items] + [10])
    head = f"{'name':<{w}}  {'median ms':>10}  {'GB/s':>7}" + "".join(f"  {'x ' + r:>14}" for r in refs)
    lines = [head, "-" * len(head)]
    group = None
    for m in items:
        if m.group and m.group != group:
            group = m.group
            lines.append(f"[{group}]")
        row = f"{m.name:<{w}}  {m.median * 1e3:>10.2f}  {m.gbps:>7.2f}"
        for r in refs:
            row += f"  {m.gbps / by_name[r].gbps:>14.2f}"
        if m.notes:
            row += f"  {m.notes}"
        lines.append(row)
    return "\n".join(lines)
