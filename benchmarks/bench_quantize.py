"""Quantize / dequantize throughput: mlxquant (NumPy and MLX paths) beside onnxruntime, torch, naive NumPy and memcpy.

16M float32 values (a 4096×4096 matrix) → int8, per-tensor and per-axis (axis 0), all in the same run. Throughput
is bytes read + written per second (quantize: 4 + 1 bytes per element; dequantize: 1 + 4); ratios are against
memcpy of the float32 bytes and against onnxruntime. JSON goes to benchmarks/results/.

    python benchmarks/bench_quantize.py            # full run (~1 min)
    python benchmarks/bench_quantize.py --quick    # 1M elements, fewer repeats (a smoke test)

The goal for the NumPy-input path is at least half of onnxruntime's QuantizeLinear throughput.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import Bench, memcpy_baseline, mlx_sync, time_fn

import mlxquant as mq
from mlxquant._backend import get_backend
from mlxquant.quant import _core_fast, primitives


def _ort_sessions(rows: int, cols: int, threads: int = 0):
    import onnxruntime as ort
    from onnx import TensorProto, helper

    def make(op: str, axis: int | None, s_shape: list[int]):
        attrs = {} if axis is None else {"axis": axis}
        x_t, y_t = (
            (TensorProto.FLOAT, TensorProto.INT8) if op == "QuantizeLinear" else (TensorProto.INT8, TensorProto.FLOAT)
        )
        g = helper.make_graph(
            [helper.make_node(op, ["x", "s", "zp"], ["y"], **attrs)],
            "g",
            [
                helper.make_tensor_value_info("x", x_t, [rows, cols]),
                helper.make_tensor_value_info("s", TensorProto.FLOAT, s_shape),
                helper.make_tensor_value_info("zp", TensorProto.INT8, s_shape),
            ],
            [helper.make_tensor_value_info("y", y_t, [rows, cols])],
        )
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
        m.ir_version = 10
        so = ort.SessionOptions()
        if threads:
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = threads
        return ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])

    return {
        ("q", "tensor"): make("QuantizeLinear", None, []),
        ("q", "axis"): make("QuantizeLinear", 0, [rows]),
        ("dq", "tensor"): make("DequantizeLinear", None, []),
        ("dq", "axis"): make("DequantizeLinear", 0, [rows]),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=4096)
    ap.add_argument("--cols", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--quick", action="store_true", help="1M elements, 3 repeats")
    ap.add_argument("--no-mlx", action="store_true")
    ap.add_argument("--out", type=str, default=None, help="JSON path (default: benchmarks/results/...)")
    args = ap.parse_args(argv)
    if args.quick:
        args.rows, args.cols, args.repeat = 1024, 1024, 3
    rows, cols, rep = args.rows, args.cols, args.repeat
    n = rows * cols
    warnings.filterwarnings("ignore")

    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, cols)).astype(np.float32)
    s = np.float32(0.02)
    zp = 3
    s_ax = rng.uniform(0.01, 0.03, rows).astype(np.float32)
    zp_ax = rng.integers(-5, 5, rows).astype(np.int8)
    q = mq.quantize(x, s, zp)
    q_ax = mq.quantize(x, s_ax, zp_ax, axis=0)
    qbytes, dqbytes = 5 * n, 5 * n

    bench = Bench("quantize", rows=rows, cols=cols, n=n, repeat=rep, threads=_core_fast._THREADS)
    bench.add_baseline(*memcpy_baseline(4 * n, repeat=rep), group="baseline", notes="copy of the float32 bytes")

    # ---------------- quantize ----------------
    g = "quantize per-tensor"
    sessions = None
    try:
        sessions = _ort_sessions(rows, cols)
        sq = sessions[("q", "tensor")]
        feed = {"x": x, "s": np.asarray(s), "zp": np.asarray(zp, np.int8)}
        bench.add("onnxruntime QuantizeLinear", time_fn(lambda: sq.run(None, feed), repeat=rep), qbytes, group=g)
    except ImportError:
        print("onnxruntime not installed: skipping it", file=sys.stderr)
    try:
        import torch

        tx = torch.from_numpy(x)
        bench.add(
            "torch.quantize_per_tensor",
            time_fn(lambda: torch.quantize_per_tensor(tx, float(s), zp, torch.qint8), repeat=rep),
            qbytes,
            group=g,
            notes=f"{torch.get_num_threads()} threads",
        )
    except ImportError:
        torch = None
        print("torch not installed: skipping it", file=sys.stderr)
    bench.add(
        "naive numpy",
        time_fn(lambda: np.clip(np.rint(x / s) + zp, -128, 127).astype(np.int8), repeat=rep),
        qbytes,
        group=g,
        notes="one pass per op",
    )
    bench.add("mlxquant numpy", time_fn(lambda: mq.quantize(x, s, zp), repeat=rep), qbytes, group=g, notes="fast path")
    prev = _core_fast.set_threads(1)
    bench.add("mlxquant numpy 1 thread", time_fn(lambda: mq.quantize(x, s, zp), repeat=rep), qbytes, group=g)
    _core_fast.set_threads(prev)
    nb = get_backend(backend="numpy")
    p_generic = primitives._params(nb, x.shape, s, zp, mq.QTYPES["int8"], None, None, False)

    def generic():
        with np.errstate(all="ignore"):
            return primitives._quantize_generic(nb, x, p_generic, "div", "half_even")

    bench.add("mlxquant numpy generic", time_fn(generic, repeat=rep), qbytes, group=g, notes="the shim kernel")
    bench.add(
        "mlxquant numpy profile=torch",
        time_fn(lambda: mq.quantize(x, s, zp, profile="torch"), repeat=max(3, rep // 3)),
        qbytes,
        group=g,
        notes="exact FMA emulation, generic",
    )

    mx = None
    if not args.no_mlx:
        import mlx.core as mx

        xm = mx.array(x)
        qm = mx.array(q)
        mx.eval(xm, qm)
        bench.add(
            "mlxquant mlx",
            time_fn(lambda: mq.quantize(xm, s, zp), repeat=rep, sync=mlx_sync),
            qbytes,
            group=g,
            notes=str(mx.default_device()),
        )

    g = "quantize per-axis (axis 0)"
    if sessions is not None:
        sa = sessions[("q", "axis")]
        feed_ax = {"x": x, "s": s_ax, "zp": zp_ax}
        bench.add(
            "onnxruntime QuantizeLinear axis", time_fn(lambda: sa.run(None, feed_ax), repeat=rep), qbytes, group=g
        )
    if torch is not None:
        ts, tz = torch.from_numpy(s_ax.astype(np.float64)), torch.from_numpy(zp_ax.astype(np.int64))
        bench.add(
            "torch.quantize_per_channel",
            time_fn(lambda: torch.quantize_per_channel(tx, ts, tz, 0, torch.qint8), repeat=rep),
            qbytes,
            group=g,
        )
    s_col, z_col = s_ax[:, None], zp_ax[:, None].astype(np.float32)
    bench.add(
        "naive numpy axis",
        time_fn(lambda: np.clip(np.rint(x / s_col) + z_col, -128, 127).astype(np.int8), repeat=rep),
        qbytes,
        group=g,
    )
    bench.add("mlxquant numpy axis", time_fn(lambda: mq.quantize(x, s_ax, zp_ax, axis=0), repeat=rep), qbytes, group=g)
    if mx is not None:
        bench.add(
            "mlxquant mlx axis",
            time_fn(lambda: mq.quantize(xm, s_ax, zp_ax, axis=0), repeat=rep, sync=mlx_sync),
            qbytes,
            group=g,
        )

    g = "quantize blocked (last axis, block 32)"
    nb = cols // 32 if cols % 32 == 0 else None
    if nb:
        s_bl = rng.uniform(0.05, 0.2, (rows, nb)).astype(np.float32)
        if sessions is not None:
            import onnxruntime as ort
            from onnx import TensorProto, helper

            gb = helper.make_graph(
                [helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["y"], axis=1, block_size=32)],
                "g",
                [
                    helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, cols]),
                    helper.make_tensor_value_info("s", TensorProto.FLOAT, [rows, nb]),
                ],
                [helper.make_tensor_value_info("y", TensorProto.INT8, [rows, cols])],
                [helper.make_tensor("zp", TensorProto.INT8, [rows, nb], [0] * (rows * nb))],
            )
            mb = helper.make_model(gb, opset_imports=[helper.make_opsetid("", 21)])
            mb.ir_version = 10
            sb = ort.InferenceSession(mb.SerializeToString(), providers=["CPUExecutionProvider"])
            bench.add(
                "onnxruntime QuantizeLinear int8 blocked",
                time_fn(lambda: sb.run(None, {"x": x, "s": s_bl}), repeat=rep),
                qbytes,
                group=g,
            )
        bench.add(
            "mlxquant numpy int8 blocked",
            time_fn(lambda: mq.quantize(x, s_bl, 0, "int8", axis=1, block_size=32), repeat=rep),
            qbytes,
            group=g,
        )
        if mx is not None:
            bench.add(
                "mlxquant mlx int8 blocked",
                time_fn(lambda: mq.quantize(xm, s_bl, 0, "int8", axis=1, block_size=32), repeat=rep, sync=mlx_sync),
                qbytes,
                group=g,
            )

    # ---------------- dequantize ----------------
    g = "dequantize per-tensor"
    if sessions is not None:
        sd = sessions[("dq", "tensor")]
        feed_d = {"x": q, "s": np.asarray(s), "zp": np.asarray(zp, np.int8)}
        bench.add("onnxruntime DequantizeLinear", time_fn(lambda: sd.run(None, feed_d), repeat=rep), dqbytes, group=g)
    if torch is not None:
        tq = torch.quantize_per_tensor(tx, float(s), zp, torch.qint8)
        bench.add("torch dequantize", time_fn(lambda: tq.dequantize(), repeat=rep), dqbytes, group=g)
    bench.add(
        "naive numpy dq",
        time_fn(lambda: (q.astype(np.float32) - np.float32(zp)) * s, repeat=rep),
        dqbytes,
        group=g,
    )
    bench.add("mlxquant numpy dq", time_fn(lambda: mq.dequantize(q, s, zp), repeat=rep), dqbytes, group=g)
    if mx is not None:
        bench.add(
            "mlxquant mlx dq",
            time_fn(lambda: mq.dequantize(qm, s, zp), repeat=rep, sync=mlx_sync),
            dqbytes,
            group=g,
        )
    g = "dequantize per-axis (axis 0)"
    if sessions is not None:
        sda = sessions[("dq", "axis")]
        feed_da = {"x": q_ax, "s": s_ax, "zp": zp_ax}
        bench.add(
            "onnxruntime DequantizeLinear axis", time_fn(lambda: sda.run(None, feed_da), repeat=rep), dqbytes, group=g
        )
    bench.add(
        "mlxquant numpy dq axis",
        time_fn(lambda: mq.dequantize(q_ax, s_ax, zp_ax, axis=0), repeat=rep),
        dqbytes,
        group=g,
    )
    if mx is not None:
        qam = mx.array(q_ax)
        bench.add(
            "mlxquant mlx dq axis",
            time_fn(lambda: mq.dequantize(qam, s_ax, zp_ax, axis=0), repeat=rep, sync=mlx_sync),
            dqbytes,
            group=g,
        )

    # ---------------- per core: one thread each, CPU time (robust to other load on a shared machine) -------------
    g = "per core (1 thread, CPU time)"
    cpu = time.process_time
    src, dst = np.ones(4 * n, np.uint8), np.empty(4 * n, np.uint8)
    bench.add("memcpy 1 thread cpu", time_fn(lambda: np.copyto(dst, src), repeat=rep, clock=cpu), 8 * n, group=g)
    if sessions is not None:
        s1 = _ort_sessions(rows, cols, threads=1)
        sq1, sd1 = s1[("q", "tensor")], s1[("dq", "tensor")]
        bench.add(
            "onnxruntime Q 1 thread cpu", time_fn(lambda: sq1.run(None, feed), repeat=rep, clock=cpu), qbytes, group=g
        )
        bench.add(
            "onnxruntime DQ 1 thread cpu",
            time_fn(lambda: sd1.run(None, feed_d), repeat=rep, clock=cpu),
            dqbytes,
            group=g,
        )
    if torch is not None:
        nthreads = torch.get_num_threads()
        torch.set_num_threads(1)
        bench.add(
            "torch q 1 thread cpu",
            time_fn(lambda: torch.quantize_per_tensor(tx, float(s), zp, torch.qint8), repeat=rep, clock=cpu),
            qbytes,
            group=g,
        )
        torch.set_num_threads(nthreads)
    prev = _core_fast.set_threads(1)
    bench.add(
        "mlxquant numpy q 1 thread cpu", time_fn(lambda: mq.quantize(x, s, zp), repeat=rep, clock=cpu), qbytes, group=g
    )
    bench.add(
        "mlxquant numpy q axis 1 thread cpu",
        time_fn(lambda: mq.quantize(x, s_ax, zp_ax, axis=0), repeat=rep, clock=cpu),
        qbytes,
        group=g,
    )
    bench.add(
        "mlxquant numpy dq 1 thread cpu",
        time_fn(lambda: mq.dequantize(q, s, zp), repeat=rep, clock=cpu),
        dqbytes,
        group=g,
    )
    _core_fast.set_threads(prev)
    bench.add(
        "naive numpy q cpu",
        time_fn(lambda: np.clip(np.rint(x / s) + zp, -128, 127).astype(np.int8), repeat=max(3, rep // 3), clock=cpu),
        qbytes,
        group=g,
    )
    if mx is not None:
        bench.add(
            "mlxquant mlx q cpu",
            time_fn(lambda: mq.quantize(xm, s, zp), repeat=rep, sync=mlx_sync, clock=cpu),
            qbytes,
            group=g,
        )
        bench.add(
            "mlxquant mlx dq cpu",
            time_fn(lambda: mq.dequantize(qm, s, zp), repeat=rep, sync=mlx_sync, clock=cpu),
            dqbytes,
            group=g,
        )

    refs = ["memcpy"] + (["onnxruntime QuantizeLinear"] if sessions is not None else [])
    print(f"\n{n:,} float32 elements, median of {rep}; GB/s = bytes read + written; {os.cpu_count()} CPUs")
    bench.report(refs)
    if sessions is not None:
        ratio = bench.get("mlxquant numpy").gbps / bench.get("onnxruntime QuantizeLinear").gbps
        goal = "MET" if ratio >= 0.5 else "NOT met"
        print(
            f"\ngoal (NumPy path >= 0.5x onnxruntime QuantizeLinear), wall clock, all threads: {ratio:.2f}x -> {goal}"
        )
        r1 = bench.get("mlxquant numpy q 1 thread cpu").gbps / bench.get("onnxruntime Q 1 thread cpu").gbps
        print(f"per core (1 thread each, CPU time): {r1:.2f}x onnxruntime")
        bench.params["goal_ratio_wall"] = ratio
        bench.params["goal_ratio_per_core"] = r1
    path = bench.write_json(args.out, relative_to=refs)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
