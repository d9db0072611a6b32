"""Images per second of ``mq.pipeline.Detector`` on a batch, split into preprocess / inference / decode, beside the
same pipeline written by hand with PIL + NumPy, in the same run (same onnxruntime session settings, same model).

Model: the shipped colour-region detector (``mlxquant/data/colour_detector.onnx``, YOLOv8-style output
[B, 12, 472], 256×256 input) and its int8 QDQ version (onnxruntime ``quantize_static``). Images: the embedded photos
tiled to a batch of 640×480 and 480×640 JPEG-decoded arrays. A memcpy of the preprocessed tensor's bytes is the
bandwidth baseline.

    python benchmarks/bench_pipeline.py [--batch 16] [--repeat 7]

Writes benchmarks/results/pipeline-<host>-<time>.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Bench, memcpy_baseline, time_fn

import mlxquant as mq
from mlxquant.commands.demo import DEMO_IMAGES, DETECTOR_QUANT_NODES, _data_path
from mlxquant.runtimes import ort_quantize_static

CONF, IOU = 0.4, 0.45


def make_batch(n: int) -> list[np.ndarray]:
    """n HWC uint8 photos, alternating landscape 640×480 and portrait 480×640 crops of the embedded photos."""
    from PIL import Image

    photos = [Image.open(_data_path(name)).convert("RGB") for name in DEMO_IMAGES]
    out = []
    for i in range(n):
        size = (640, 480) if i % 2 == 0 else (480, 640)
        out.append(np.asarray(photos[i % len(photos)].resize(size, Image.BILINEAR)))
    return out


# ---------------------------------------------------------------------------------------------- hand-written
def hand_preprocess(images: list[np.ndarray], size: int = 256) -> tuple[np.ndarray, list[tuple[float, int, int]]]:
    """Ultralytics-style letterbox with PIL (bilinear), /255, HWC→CHW, stacked; returns (tensor, [(r, left, top)])."""
    from PIL import Image

    batch = np.empty((len(images), 3, size, size), np.float32)
    meta = []
    for i, img in enumerate(images):
        h, w = img.shape[:2]
        r = min(size / h, size / w)
        nw, nh = max(round(w * r), 1), max(round(h * r), 1)
        dw, dh = (size - nw) / 2, (size - nh) / 2
        left, top = round(dw - 0.1), round(dh - 0.1)
        canvas = Image.new("RGB", (size, size), (114, 114, 114))
        canvas.paste(Image.fromarray(img).resize((nw, nh), Image.BILINEAR), (left, top))
        batch[i] = np.asarray(canvas, np.float32).transpose(2, 0, 1) * np.float32(1 / 255)
        meta.append((r, left, top))
    return batch, meta


def _nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    order = np.argsort(-scores, kind="stable")
    keep = []
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    while order.size:
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        order = rest[inter / (area[i] + area[rest] - inter) <= iou]
    return keep


def hand_decode(out: np.ndarray, meta: list[tuple[float, int, int]], shapes: list[tuple[int, int]]) -> list[dict]:
    """YOLOv8 [B, 4+C, N] → per-class NMS → boxes mapped back to the original image (clipped)."""
    res = []
    for b in range(out.shape[0]):
        p = out[b].T
        cls = p[:, 4:].argmax(1)
        score = p[np.arange(len(p)), 4 + cls]
        m = score > CONF
        xywh, cls, score = p[m, :4], cls[m], score[m]
        boxes = np.concatenate([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], 1)
        keep = []
        for c in np.unique(cls):
            idx = np.nonzero(cls == c)[0]
            keep.extend(idx[_nms(boxes[idx], score[idx], IOU)])
        keep = np.array(sorted(keep, key=lambda k: -score[k]), np.int64)
        r, left, top = meta[b]
        h, w = shapes[b]
        bx = (boxes[keep] - np.array([left, top, left, top], np.float32)) / np.float32(r)
        bx = np.clip(bx, 0, [w, h, w, h])
        res.append({"boxes": bx, "scores": score[keep], "classes": cls[keep]})
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args(argv)
    n = args.batch
    images = make_batch(n)
    shapes = [im.shape[:2] for im in images]
    model = _data_path("colour_detector.onnx")
    bench = Bench("pipeline", batch=n, input="256x256 letterbox", model="colour_detector (+ int8 QDQ)")
    with tempfile.TemporaryDirectory() as tmp:
        qmodel = Path(tmp) / "colour_detector.int8.onnx"
        calib, _ = hand_preprocess(images[:4])
        ort_quantize_static(model, qmodel, list(calib), nodes=DETECTOR_QUANT_NODES)
        rows = []
        for label, path in (("float32", model), ("int8", qmodel)):
            # antialias=True: resize exactly like PIL's BILINEAR (the hand-written pipeline); the YOLO preset's default
            # is OpenCV-style (no antialias), which differs by up to ~46 levels on these downscales
            det = mq.pipeline.Detector(path, preprocess={"antialias": True}, decode={"conf": CONF, "iou": IOU})
            sess = det.runtime.session  # the same onnxruntime session for both pipelines: inference is shared
            batch = det.preprocess(images)
            tensor = np.asarray(batch.tensor)
            outs = det.infer(tensor)
            t_pre = time_fn(lambda d=det: d.preprocess(images), repeat=args.repeat)
            t_inf = time_fn(lambda d=det, x=tensor: d.infer(x), repeat=args.repeat)
            t_dec = time_fn(lambda d=det, o=outs, t=list(batch.transforms): d.decode(o, t), repeat=args.repeat)
            t_all = time_fn(lambda d=det: d(images), repeat=args.repeat)
            h_tensor, meta = hand_preprocess(images)
            h_out = sess.run(None, {"images": h_tensor})
            t_hpre = time_fn(lambda: hand_preprocess(images), repeat=args.repeat)
            t_hinf = time_fn(lambda x=h_tensor, s=sess: s.run(None, {"images": x}), repeat=args.repeat)
            t_hdec = time_fn(lambda o=h_out[0], m=meta: hand_decode(o, m, shapes), repeat=args.repeat)
            # the two pipelines must agree, or the comparison means nothing
            ours = [d.to_numpy() for d in det(images)]
            theirs = hand_decode(h_out[0], meta, shapes)
            agree = [mq.pipeline.match_detections(o, type(o)(t["boxes"].astype(np.float32), t["scores"],
                                                                t["classes"].astype(np.int32), ()), 0.5)["recall"]
                     for o, t in zip(ours, theirs, strict=True)]
            nbytes = tensor.nbytes
            for name, times in ((f"{label} mlxquant preprocess", t_pre), (f"{label} mlxquant inference", t_inf),
                                (f"{label} mlxquant decode", t_dec), (f"{label} mlxquant end-to-end", t_all),
                                (f"{label} PIL+NumPy preprocess", t_hpre), (f"{label} PIL+NumPy inference", t_hinf),
                                (f"{label} PIL+NumPy decode", t_hdec)):
                med = float(np.median(times))
                bench.add(name, times, nbytes, group=label, images_per_s=n / med)
                rows.append((name, med, n / med))
            rows.append((f"{label} detections agree (mean recall hand vs mlxquant)", float(np.mean(agree)), 0.0))
        bench.add_baseline(*memcpy_baseline(tensor.nbytes))
    print(f"Detector pipeline, batch of {n} photos (640×480 / 480×640) → 256×256, onnxruntime CPU, "
          f"median of {args.repeat}")
    print(f"{'stage':<58}{'median ms':>10}{'images/s':>10}")
    for name, med, ips in rows:
        if "agree" in name:
            print(f"{name:<58}{med:>10.3f}")
        else:
            print(f"{name:<58}{1e3 * med:>10.2f}{ips:>10.1f}")
    for label in ("float32", "int8"):
        inf = bench.get(f"{label} mlxquant inference").median
        pp = bench.get(f"{label} mlxquant preprocess").median + bench.get(f"{label} mlxquant decode").median
        hpp = bench.get(f"{label} PIL+NumPy preprocess").median + bench.get(f"{label} PIL+NumPy decode").median
        print(f"{label}: pre+post = {pp / inf:.2f}× inference (hand-written: {hpp / inf:.2f}×); "
              f"mlxquant pre+post vs hand-written: {hpp / pp:.2f}× the speed")
    base = bench.get("memcpy")
    print(f"memcpy of the {tensor.nbytes / 1e6:.1f} MB tensor: {1e3 * base.median:.3f} ms ({base.gbps:.1f} GB/s)")
    path = bench.write_json()
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
