"""Calibration observers: update throughput on 16M values per batch beside PyTorch's observers, and memory after
1,000 batches.

Sections (medians of several repetitions; GB/s = bytes of the batch read per second — an observer reads its input
once and writes only its small statistics; ratios to a memcpy of the same bytes measured in the same run, whose GB/s
counts read + written):

1. ``update`` of one 16M-value float32 batch (64 MB) for each mlxquant observer, on NumPy and on MLX (CPU), beside
   torch.ao.quantization's MinMaxObserver, PerChannelMinMaxObserver, MovingAverageMinMaxObserver and
   HistogramObserver on the same data (zero-copy torch.from_numpy);
2. float conversions of the same 16M values (to_float16 / to_bfloat16 / to_float8 e4m3fn and e5m2, NumPy and MLX) beside
   ml_dtypes' ``astype`` (GB/s = 4 bytes read + the output bytes written per value);
3. memory after 1,000 batches: 1,000 batches of 64K values each (smaller than 16M so that the run stays short; the
   observers' state does not depend on the batch size) — the JSON state size and the process RSS growth, for each
   mlxquant observer, beside torch's HistogramObserver.

Run from the repository root: ``python benchmarks/bench_calibration.py [--quick]``. The machine this ran on is shared
(other jobs run beside it): treat single numbers as noisy, ratios measured in the same run as the signal.
"""

# ruff: noqa: B023  (every lambda is timed and discarded inside its own loop iteration)
from __future__ import annotations

import argparse
import gc
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Bench, memcpy_baseline, mlx_sync, time_fn

import mlxquant as mq


def rss_kb() -> int:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="1M values, 100 batches (smoke run)")
    args = p.parse_args()
    n = (1 << 20) if args.quick else (1 << 24)
    n_batches = 100 if args.quick else 1000
    repeat = 3 if args.quick else 5
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n).astype(np.float32)
    x2d = x.reshape(64, -1)  # per-channel variants: 64 channels along axis 0
    bench = Bench("calibration", n_values=n, batches_for_memory=n_batches)
    bench.add_baseline(*memcpy_baseline(x.nbytes, repeat=repeat))

    import mlx.core as mx

    xm = mx.array(x)
    xm2d = mx.array(x2d)
    mx.eval(xm, xm2d)
    observers = {
        "MinMax": lambda: mq.MinMaxObserver(),
        "MinMax per-channel": lambda: mq.MinMaxObserver(axis=0),
        "MovingAverage": lambda: mq.MovingAverageMinMaxObserver(),
        "Percentile": lambda: mq.PercentileObserver(),
        "Entropy": lambda: mq.EntropyObserver(),
        "MSE": lambda: mq.MSEObserver(),
        "Histogram (torch mode)": lambda: mq.HistogramObserver(),
        "Histogram (fixed mode)": lambda: mq.HistogramObserver(mode="fixed"),
    }
    for name, make in observers.items():
        data_np, data_mx = (x2d, xm2d) if "per-channel" in name else (x, xm)
        for be, data in (("numpy", data_np), ("mlx", data_mx)):
            obs = make()
            t = time_fn(lambda: obs.update(data), repeat=repeat, warmup=1)
            bench.add(f"mlxquant {name} [{be}]", t, x.nbytes, group=name)

    try:
        import torch
        from torch.ao.quantization import observer as tobs

        torch.set_num_threads(max(1, torch.get_num_threads()))
        tx, tx2d = torch.from_numpy(x), torch.from_numpy(x2d)
        peers = {
            "MinMax": (lambda: tobs.MinMaxObserver(), tx),
            "MinMax per-channel": (lambda: tobs.PerChannelMinMaxObserver(ch_axis=0), tx2d),
            "MovingAverage": (lambda: tobs.MovingAverageMinMaxObserver(), tx),
            "Histogram (torch mode)": (lambda: tobs.HistogramObserver(), tx),
        }
        for name, (make, data) in peers.items():
            obs = make()
            t = time_fn(lambda: obs(data), repeat=repeat, warmup=1)
            bench.add(f"torch {name}", t, x.nbytes, group=name)
    except ImportError:
        print("torch is not installed: peer rows skipped")

    # float conversions
    try:
        import ml_dtypes
    except ImportError:
        ml_dtypes = None
    conv = {
        "to_float16": (lambda a: mq.to_float16(a, warn=False), 2, np.float16),
        "to_bfloat16": (lambda a: mq.to_bfloat16(a, as_bits=True), 2, getattr(ml_dtypes, "bfloat16", None)),
        "to_float8 e4m3fn": (lambda a: mq.to_float8(a, "e4m3fn"), 1, getattr(ml_dtypes, "float8_e4m3fn", None)),
        "to_float8 e5m2": (lambda a: mq.to_float8(a, "e5m2"), 1, getattr(ml_dtypes, "float8_e5m2", None)),
    }
    for name, (fn, out_bytes, peer) in conv.items():
        moved = x.size * (4 + out_bytes)
        bench.add(f"mlxquant {name} [numpy]", time_fn(lambda: fn(x), repeat=repeat), moved, group=name)
        bench.add(f"mlxquant {name} [mlx]", time_fn(lambda: fn(xm), repeat=repeat, sync=mlx_sync), moved, group=name)
        if peer is not None:
            bench.add(f"ml_dtypes/numpy astype {name}", time_fn(lambda: x.astype(peer), repeat=repeat), moved,
                      group=name)

    bench.report(relative_to="memcpy")
    # mlxquant vs torch, per observer
    print("\nmlxquant [numpy] / torch throughput:")
    ratios = {}
    for name in ("MinMax", "MinMax per-channel", "MovingAverage", "Histogram (torch mode)"):
        try:
            r = bench.get(f"mlxquant {name} [numpy]").gbps / bench.get(f"torch {name}").gbps
            rm = bench.get(f"mlxquant {name} [mlx]").gbps / bench.get(f"torch {name}").gbps
        except KeyError:
            continue
        ratios[name] = {"numpy": r, "mlx": rm}
        print(f"  {name:<24} numpy {r:5.2f}x   mlx {rm:5.2f}x")

    # memory after many batches
    small = rng.standard_normal(1 << 16).astype(np.float32)
    mem = {}
    print(f"\nmemory after {n_batches} batches of {small.size} values:")
    for name, make in observers.items():
        data = small.reshape(64, -1) if "per-channel" in name else small
        obs = make()
        obs.update(data)
        s1 = len(json.dumps(obs.state_dict()))
        gc.collect()
        r0 = rss_kb()
        for i in range(n_batches - 1):
            obs.update(data * np.float32(1 + (i % 7)))  # the range grows and shrinks: histograms re-bin
        gc.collect()
        r1 = rss_kb()
        s2 = len(json.dumps(obs.state_dict()))
        mem[name] = {"state_json_bytes_after_1": s1, f"state_json_bytes_after_{n_batches}": s2,
                     "rss_growth_kb": r1 - r0}
        print(f"  {name:<24} state JSON {s1:>8} B after 1 batch, {s2:>8} B after {n_batches}; RSS +{r1 - r0} kB")
    bench.params["memory"] = mem
    bench.params["torch_ratios"] = ratios
    path = bench.write_json()
    print(f"\nresults written to {path}")


if __name__ == "__main__":
    main()
