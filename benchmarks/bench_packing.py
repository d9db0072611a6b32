"""Packing, MLX / GGUF weight formats and the checkpoint quantizer: throughput against the peers, in one run.

Sections (all medians of several repetitions, GB/s = bytes read + written per second, ratios to a memcpy of the
same machine measured in the same run):

1. pack / unpack per layout and bits (NumPy and MLX), 4096×4096 codes;
2. affine quantize / dequantize of a 4096×4096 float32 matrix: mlxquant (NumPy auto = the cache-blocked NumPy fast
   path, NumPy generic, MLX generic, MLX auto = ``mx.quantize`` after the checks) against ``mx.quantize`` /
   ``mx.dequantize``;
3. GGUF Q4_0 of the same matrix against the ``gguf`` package's quantizer;
4. the checkpoint quantizer on a generated checkpoint (default 1 GB of float32 linear weights, also a smaller one):
   input GB/s and peak RSS of a fresh process (``VmHWM`` from /proc) beside the largest tensor's size.

Run from the repository root: ``python benchmarks/bench_packing.py [--quick] [--ckpt-gb 1.0]``.
"""

# ruff: noqa: B023  (every lambda is timed and discarded inside its own loop iteration)
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Bench, memcpy_baseline, mlx_sync, time_fn

import mlxquant as mq

# Peak memory of the child: VmHWM (the high-water mark of this process's own address space; ru_maxrss would also
# carry the parent's peak over fork + exec on Linux).
_CHILD = r"""
import json, sys, time
def hwm_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
sys.path.insert(0, {repo!r})
from mlxquant.checkpoint import quantize_checkpoint
import mlxquant.quant.formats.mlx, numpy
if {backend!r} == "mlx":
    import mlx.core
base = hwm_kb()
t0 = time.perf_counter()
r = quantize_checkpoint({src!r}, {dst!r}, backend={backend!r}, progress=False)
dt = time.perf_counter() - t0
print(json.dumps({{"seconds": dt, "bytes_in": r.bytes_in, "bytes_out": r.bytes_out,
                  "maxrss_kb": hwm_kb(), "base_rss_kb": base}}))
"""


def _make_checkpoint(folder: Path, gb: float, rows: int = 4096, cols: int = 4096) -> tuple[int, int]:
    """Float32 linear weights of rows×cols until ~gb GB; written tensor by tensor (streaming, low memory)."""
    from mlxquant.checkpoint_io import SafetensorsWriter

    per = rows * cols * 4
    n = max(1, int(gb * 1e9 // per))
    specs = [(f"model.layers.{i}.mlp.up_proj.weight", "float32", (rows, cols)) for i in range(n)]
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "model.safetensors", "wb") as f:
        w = SafetensorsWriter(f, specs, {"format": "pt"})
        for name, _, shape in specs:
            w.write(name, rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02))
        w.close()
    return n * per, per


def bench_checkpoint(bench: Bench, gb: float, backend: str, repo: str) -> dict:
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as d:
        total, largest = _make_checkpoint(Path(d) / "src", gb)
        os.system("sync")
        code = _CHILD.format(repo=repo, src=str(Path(d) / "src"), dst=str(Path(d) / "out"), backend=backend)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        res = json.loads(out.stdout.strip().splitlines()[-1])
    res.update(total_bytes=total, largest_tensor_bytes=largest, backend=backend,
               input_gbps=res["bytes_in"] / res["seconds"] / 1e9, peak_rss_mb=res["maxrss_kb"] / 1024,
               import_rss_mb=res["base_rss_kb"] / 1024,
               work_rss_over_largest=(res["maxrss_kb"] - res["base_rss_kb"]) * 1024 / largest)
    bench.add(f"checkpoint {gb:g} GB ({backend})", [res["seconds"]], res["bytes_in"] + res["bytes_out"],
              group="checkpoint quantizer", notes=f"input {res['input_gbps']:.3f} GB/s, peak RSS "
              f"{res['peak_rss_mb']:.0f} MB ({res['import_rss_mb']:.0f} MB after imports; work = "
              f"{res['work_rss_over_largest']:.2f}x the largest tensor)",
              **{k: v for k, v in res.items() if k not in ("seconds",)})
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions and a smaller matrix")
    ap.add_argument("--ckpt-gb", type=float, nargs="*", default=[0.25, 1.0], help="checkpoint sizes to measure")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    import mlx.core as mx

    n = 2048 if args.quick else 4096
    rep = 3 if args.quick else args.repeat
    kw = dict(repeat=rep, warmup=1)
    bench = Bench("packing", matrix=f"{n}x{n}", repeat=rep, ckpt_gb=args.ckpt_gb)
    rng = np.random.default_rng(0)
    w = rng.standard_normal((n, n), dtype=np.float32)
    wm = mx.array(w)
    mx.eval(wm)
    bench.add_baseline("memcpy", *memcpy_baseline(w.nbytes, repeat=rep)[1:], group="baseline",
                       notes=f"{w.nbytes >> 20} MB")

    # 1. pack / unpack
    for layout, spec in mq.PACK_LAYOUTS.items():
        for bits in spec.bits:
            q = rng.integers(0, 1 << bits, size=(n, n), dtype=np.uint8)
            qm = mx.array(q)
            packed = mq.pack(q, bits, layout=layout)
            pm = mx.array(packed)
            moved = q.nbytes + packed.nbytes
            count = q.size if layout == "onnx" else n
            grp = f"pack/unpack {layout}"
            bench.add(f"pack {layout} {bits}b numpy", time_fn(lambda: mq.pack(q, bits, layout=layout), **kw), moved,
                      group=grp)
            bench.add(f"pack {layout} {bits}b mlx", time_fn(lambda: mq.pack(qm, bits, layout=layout), sync=mlx_sync,
                                                          **kw), moved, group=grp)
            bench.add(f"unpack {layout} {bits}b numpy",
                      time_fn(lambda: mq.unpack(packed, bits, count=count, layout=layout), **kw), moved, group=grp)
            bench.add(f"unpack {layout} {bits}b mlx",
                      time_fn(lambda: mq.unpack(pm, bits, count=count, layout=layout), sync=mlx_sync, **kw), moved,
                      group=grp)

    # 2. affine quantize / dequantize
    for bits in (4, 3):
        wq, sc, bi = mx.quantize(wm, group_size=64, bits=bits)
        mx.eval(wq, sc, bi)
        moved_q = w.nbytes + wq.nbytes + sc.nbytes + bi.nbytes
        grp = f"affine {bits}-bit g64 {n}x{n}"
        bench.add(f"mx.quantize {bits}b", time_fn(lambda: mx.quantize(wm, group_size=64, bits=bits), sync=mlx_sync,
                                                  **kw), moved_q, group=grp)
        bench.add(f"mlx_quantize {bits}b numpy", time_fn(lambda: mq.mlx_quantize(w, 64, bits), **kw), moved_q,
                  group=grp)
        bench.add(f"mlx_quantize {bits}b numpy generic",
                  time_fn(lambda: mq.mlx_quantize(w, 64, bits, impl="generic"), **kw), moved_q, group=grp)
        bench.add(f"mlx_quantize {bits}b mlx generic", time_fn(lambda: mq.mlx_quantize(wm, 64, bits, impl="generic"),
                                                               sync=mlx_sync, **kw), moved_q, group=grp)
        bench.add(f"mlx_quantize {bits}b mlx auto", time_fn(lambda: mq.mlx_quantize(wm, 64, bits), sync=mlx_sync,
                                                            **kw), moved_q, group=grp)
        wq_np, sc_np, bi_np = (np.array(a) for a in (wq, sc, bi))
        bench.add(f"mx.dequantize {bits}b", time_fn(lambda: mx.dequantize(wq, sc, bi, group_size=64, bits=bits),
                                                    sync=mlx_sync, **kw), moved_q, group=grp)
        bench.add(f"mlx_dequantize {bits}b numpy", time_fn(lambda: mq.mlx_dequantize(wq_np, sc_np, bi_np, 64, bits),
                                                           **kw), moved_q, group=grp)
        bench.add(f"mlx_dequantize {bits}b mlx", time_fn(lambda: mq.mlx_dequantize(wq, sc, bi, 64, bits),
                                                         sync=mlx_sync, **kw), moved_q, group=grp)

    # 3. GGUF Q4_0
    from gguf import GGMLQuantizationType, quants

    blocks = quants.quantize(w, GGMLQuantizationType.Q4_0)
    moved_g = w.nbytes + blocks.nbytes
    grp = f"GGUF Q4_0 {n}x{n}"
    bench.add("gguf package quantize Q4_0", time_fn(lambda: quants.quantize(w, GGMLQuantizationType.Q4_0), **kw),
              moved_g, group=grp)
    bench.add("gguf_quantize Q4_0 numpy", time_fn(lambda: mq.gguf_quantize(w, "Q4_0"), **kw), moved_g, group=grp)
    bench.add("gguf_quantize Q4_0 mlx", time_fn(lambda: mq.gguf_quantize(wm, "Q4_0"), sync=mlx_sync, **kw), moved_g,
              group=grp)
    bench.add("gguf package dequantize Q4_0", time_fn(lambda: quants.dequantize(blocks, GGMLQuantizationType.Q4_0),
                                                      **kw), moved_g, group=grp)
    bench.add("gguf_dequantize Q4_0 numpy", time_fn(lambda: mq.gguf_dequantize(blocks, "Q4_0"), **kw), moved_g,
              group=grp)

    # 4. checkpoint quantizer (fresh processes: peak RSS per run)
    repo = str(Path(__file__).resolve().parent.parent)
    for gb in args.ckpt_gb:
        for backend in ("numpy", "mlx"):
            t0 = time.perf_counter()
            bench_checkpoint(bench, gb, backend, repo)
            print(f"  checkpoint {gb} GB {backend}: {time.perf_counter() - t0:.1f} s wall incl. generation",
                  flush=True)

    bench.report(relative_to=("memcpy",))
    print(f"wrote {bench.write_json()}")


if __name__ == "__main__":
    main()
