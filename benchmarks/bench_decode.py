"""Benchmark: NMS at 1k / 5k / 20k boxes and a full YOLOv8 640 decode, mlxquant (NumPy, MLX) beside the peers.

Peers, measured in the same run: a plain NumPy greedy NMS (the usual per-kept-box loop), OpenCV
``cv2.dnn.NMSBoxes`` (C++), and a torch NMS written like Ultralytics' ``TorchNMS.nms`` (torchvision is not
installable here). Two box distributions per size:

* ``clustered``: jittered copies around 100 objects (YOLO candidates after the confidence filter: few kept);
* ``spread``: small boxes spread over the image (many kept, the case where greedy NMS is quadratic).

Reported: median ms, boxes/s, ratios against OpenCV and the plain NumPy greedy, and a memcpy of the same input
bytes (N x 5 float32) as the bandwidth baseline. JSON goes to benchmarks/results/.

Run: ``python benchmarks/bench_decode.py [--quick]`` (``--quick``: fewer repetitions, no fixed-shape MLX runs).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import Bench, memcpy_baseline, mlx_sync, time_fn

import mlxquant as mq


def boxes(kind: str, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if kind == "clustered":
        k = 100
        cc = rng.uniform(0, 640, (k, 2))
        sz = rng.uniform(20, 200, (k, 2))
        j = rng.integers(0, k, n)
        c = cc[j] + rng.normal(0, 8, (n, 2))
        wh = sz[j] * rng.uniform(0.8, 1.2, (n, 2))
    else:
        c = rng.uniform(0, 640, (n, 2))
        wh = rng.uniform(10, 60, (n, 2))
    b = np.concatenate([c - wh / 2, c + wh / 2], 1).astype(np.float32)
    return b, rng.random(n).astype(np.float32)


def plain_numpy_nms(b: np.ndarray, s: np.ndarray, thr: float) -> list[int]:
    """The common NumPy greedy NMS (one vector pass per kept box over the remaining ones)."""
    x1, y1, x2, y2 = b.T
    areas = (x2 - x1) * (y2 - y1)
    order = s.argsort()[::-1]
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(i)
        r = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[r]) - np.maximum(x1[i], x1[r]))
        h = np.maximum(0.0, np.minimum(y2[i], y2[r]) - np.maximum(y1[i], y1[r]))
        inter = w * h
        order = r[inter / (areas[i] + areas[r] - inter) <= thr]
    return keep


def torch_nms(boxes_t, scores_t, thr: float):
    """Ultralytics TorchNMS.nms-style greedy NMS in torch (torchvision semantics)."""
    import torch

    x1, y1, x2, y2 = boxes_t.unbind(1)
    areas = (x2 - x1) * (y2 - y1)
    order = scores_t.argsort(0, descending=True)
    keep = torch.zeros(order.numel(), dtype=torch.int64)
    k = 0
    while order.numel() > 0:
        i = order[0]
        keep[k] = i
        k += 1
        if order.numel() == 1:
            break
        rest = order[1:]
        w = (torch.minimum(x2[i], x2[rest]) - torch.maximum(x1[i], x1[rest])).clamp_(min=0)
        h = (torch.minimum(y2[i], y2[rest]) - torch.maximum(y1[i], y1[rest])).clamp_(min=0)
        inter = w * h
        order = rest[inter / (areas[i] + areas[rest] - inter) <= thr]
    return keep[:k]


def yolo_output(seed: int = 0, n: int = 8400, c: int = 80, candidates: int = 300) -> np.ndarray:
    """A [1, 84, 8400] YOLOv8 output with ``candidates`` anchors above conf 0.25 around 8 objects."""
    rng = np.random.default_rng(seed)
    out = np.zeros((1, 4 + c, n), np.float32)
    out[0, 0:2] = rng.uniform(0, 640, (2, n))
    out[0, 2:4] = rng.uniform(8, 200, (2, n))
    out[0, 4:] = rng.uniform(0, 0.2, (c, n))  # background anchors: every class below conf
    idx = rng.choice(n, candidates, replace=False)
    obj = rng.integers(0, 8, candidates)
    ctr = rng.uniform(60, 580, (8, 2))
    wh = rng.uniform(30, 200, (8, 2))
    cls = rng.integers(0, c, 8)
    xy = ctr[obj] + rng.normal(0, 5, (candidates, 2))
    sz = wh[obj] * rng.uniform(0.9, 1.1, (candidates, 2))
    for r in range(2):
        out[0, r, idx] = xy[:, r]
        out[0, 2 + r, idx] = sz[:, r]
    out[0, 4 + cls[obj], idx] = rng.uniform(0.3, 0.95, candidates)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    rep = 3 if args.quick else 7
    import cv2
    import mlx.core as mx
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    thr = 0.5
    bench = Bench("decode", iou_threshold=thr, threads="1 (torch, cv2; NumPy and MLX CPU are single-threaded here)",
                  load_note="shared 2-core machine, other engineers running tests: medians are noisy")
    summary = []
    for n in (1000, 5000, 20000):
        for kind in ("clustered", "spread"):
            b, s = boxes(kind, n)
            g = f"NMS {n // 1000}k {kind}"
            nbytes = n * 5 * 4
            _, t, by = memcpy_baseline(nbytes, repeat=rep)
            bench.add_baseline(f"{g}: memcpy", t, by, group=g)
            ref = mq.decode.nms(b, s, thr)
            r = max(2, rep // 2) if (n >= 20000 and kind == "spread") else rep
            bench.add(f"{g}: mlxquant numpy", time_fn(lambda b=b, s=s: mq.decode.nms(b, s, thr), repeat=r), nbytes,
                      group=g, kept=int(ref.shape[0]))
            bench.add(f"{g}: plain numpy greedy", time_fn(lambda b=b, s=s: plain_numpy_nms(b, s, thr), repeat=r),
                      nbytes, group=g)
            xywh = np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], 1).tolist()
            sl = s.tolist()
            cv = np.asarray(cv2.dnn.NMSBoxes(xywh, sl, 0.0, thr)).ravel()
            assert np.array_equal(np.sort(cv), np.sort(ref)), "OpenCV disagrees"
            bench.add(f"{g}: opencv NMSBoxes", time_fn(lambda xywh=xywh, sl=sl: cv2.dnn.NMSBoxes(xywh, sl, 0.0, thr),
                                                       repeat=r), nbytes, group=g, notes="input: Python lists")
            tb, ts = torch.from_numpy(b), torch.from_numpy(s)
            bench.add(f"{g}: torch NMS", time_fn(lambda tb=tb, ts=ts: torch_nms(tb, ts, thr), repeat=r), nbytes,
                      group=g)
            mb, ms = mx.array(b), mx.array(s)
            got = np.asarray(mq.decode.nms(mb, ms, thr))
            assert np.array_equal(got, ref), "MLX disagrees"
            bench.add(f"{g}: mlxquant mlx (cpu)", time_fn(lambda mb=mb, ms=ms: mq.decode.nms(mb, ms, thr), repeat=r,
                                                          sync=mlx_sync), nbytes, group=g,
                      notes="method=auto: MLX on the CPU takes the NumPy fast path")
            if n <= 5000 and not args.quick:
                got = np.asarray(mq.decode.nms(mb, ms, thr, method="generic"))
                assert np.array_equal(got, ref), "MLX generic disagrees"
                bench.add(f"{g}: mlxquant mlx generic (cpu)",
                          time_fn(lambda mb=mb, ms=ms: mq.decode.nms(mb, ms, thr, method="generic"),
                                  repeat=2 if n >= 5000 else rep, warmup=1, sync=mlx_sync), nbytes, group=g,
                          notes="fixed-shape O(N^2) formulation (meant for GPUs), on MLX CPU")
            summary.append(g)
    # class-aware NMS (80 classes): mlxquant's single pass vs OpenCV's NMSBoxesBatched (class offset trick)
    crng = np.random.default_rng(1)
    for n in (1000, 5000):
        b, s = boxes("clustered", n)
        cl = crng.integers(0, 80, n)
        g = f"NMS {n // 1000}k clustered 80 classes"
        ref = mq.decode.nms(b, s, thr, classes=cl)
        bench.add(f"{g}: mlxquant numpy", time_fn(lambda b=b, s=s, cl=cl: mq.decode.nms(b, s, thr, classes=cl),
                                                  repeat=rep), n * 6 * 4, group=g, kept=int(ref.shape[0]))
        xywh = np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], 1).tolist()
        sl, cll = s.tolist(), cl.tolist()
        bench.add(f"{g}: opencv NMSBoxes", time_fn(lambda xywh=xywh, sl=sl, cll=cll: cv2.dnn.NMSBoxesBatched(
            xywh, sl, cll, 0.0, thr), repeat=rep), n * 6 * 4, group=g, notes="NMSBoxesBatched, input: Python lists")
        summary.append(g)
    # full YOLOv8 decode
    out = yolo_output()
    g = "YOLOv8 [1,84,8400] decode"
    nbytes = out.nbytes
    _, t, by = memcpy_baseline(nbytes, repeat=rep)
    bench.add_baseline(f"{g}: memcpy", t, by, group=g)
    d = mq.decode.yolo(out)[0]
    bench.add(f"{g}: mlxquant numpy", time_fn(lambda: mq.decode.yolo(out), repeat=max(rep, 20)), nbytes, group=g,
              detections=len(d))
    mo = mx.array(out)
    bench.add(f"{g}: mlxquant mlx (cpu)", time_fn(lambda: [x.boxes for x in mq.decode.yolo(mo)], repeat=rep,
                                                  sync=mlx_sync), nbytes, group=g)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.reference.decode_oracle import ultralytics_nms

    to = torch.from_numpy(out)
    bench.add(f"{g}: ultralytics port (torch)", time_fn(lambda: ultralytics_nms(to), repeat=rep), nbytes, group=g,
              notes="tests/reference port, python-loop NMS")
    bench.report(relative_to=[])
    print()
    rows = []
    for grp in [*summary, g]:
        items = [m for m in bench.items if m.group == grp and not m.baseline]
        by = {m.name.split(": ", 1)[1]: m for m in items}
        ours = by["mlxquant numpy"]
        line = f"{grp:<26} ours {ours.median * 1e3:8.2f} ms (best {ours.best * 1e3:7.2f})"
        for peer in ("opencv NMSBoxes", "plain numpy greedy", "torch NMS", "ultralytics port (torch)",
                     "mlxquant mlx (cpu)", "mlxquant mlx generic (cpu)"):
            if peer in by:
                p = by[peer]
                line += (f" | {peer} {p.median * 1e3:8.2f} ms x{p.median / ours.median:5.2f}"
                         f" (best x{p.best / ours.best:5.2f})")
        rows.append(line)
    print("mlxquant numpy against each peer: peer time / our time (x > 1: mlxquant is faster), medians and bests:")
    print("\n".join(rows))
    path = bench.write_json(Path(os.environ.get("BENCH_OUT", "")) / "decode.json" if os.environ.get("BENCH_OUT")
                            else Path(__file__).resolve().parent / "results" / "decode.json")
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
