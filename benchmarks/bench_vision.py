"""Image preprocessing throughput: 64 JPEG photos (1920×1080, quality 90) → model inputs.

Targets: (A) Ultralytics-style letterbox 640×640, NCHW float32 /255; (B) 224×224 NHWC uint8 (stretch).
Pipelines, same run: mlxquant NumPy (threaded decode + Pillow-exact resize), mlxquant NumPy with the opt-in JPEG
``draft`` decode, mlxquant MLX (decode threads, batched resize/normalize on the MLX device), a sequential Pillow +
NumPy pipeline, and an OpenCV pipeline. Time is split into decode / resize / normalize for each (stage timings
are separate runs of each stage alone, so they do not add up exactly to the end-to-end median). Repetitions run
round-robin over all entries (the machine is shared; a burst of foreign load then hits every pipeline alike).

Reports images/s, GB/s (decoded input bytes + output bytes) and ratios to the Pillow+NumPy pipeline and to a memcpy of
the same bytes; JSON in benchmarks/results/vision.json.
Run: ``python benchmarks/bench_vision.py [--n 64] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS_DIR, Bench, memcpy_baseline, mlx_sync, time_fn

import mlxquant as mq

H, W = 1080, 1920


def make_photos(folder: Path, n: int) -> list[str]:
    """Smooth random gradients + blobs + noise (JPEG-realistic), saved by Pillow at quality 90."""
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    paths = []
    for i in range(n):
        img = np.zeros((H, W, 3), np.float32)
        for c in range(3):
            a, b_, ph = rng.uniform(0.002, 0.01, 3)
            img[..., c] = 127 + 80 * np.sin(a * xx + ph * 10) * np.cos(b_ * yy + c)
        for _ in range(6):
            cx, cy, r = rng.uniform(0, W), rng.uniform(0, H), rng.uniform(50, 300)
            img += (rng.uniform(-60, 60, 3) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))[..., None])
        img += rng.normal(0, 6, img.shape).astype(np.float32)
        p = folder / f"photo_{i:03d}.jpg"
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(p, quality=90)
        paths.append(str(p))
    return paths


# ---- peer pipelines ------------------------------------------------------------------------------------------------
def pil_decode(p):
    from PIL import Image

    with Image.open(p) as im:
        return im.convert("RGB")


def pil_letterbox(im):
    from PIL import Image

    r = min(640 / im.height, 640 / im.width)
    nw, nh = round(im.width * r), round(im.height * r)
    top, left = round((640 - nh) / 2 - 0.1), round((640 - nw) / 2 - 0.1)
    canvas = Image.new("RGB", (640, 640), (114, 114, 114))
    canvas.paste(im.resize((nw, nh), Image.BILINEAR), (left, top))
    return np.asarray(canvas)


def np_normalize_nchw(a):
    return (a.astype(np.float32) / np.float32(255)).transpose(2, 0, 1)


def pil_pipeline_a(paths):
    return np.stack([np_normalize_nchw(pil_letterbox(pil_decode(p))) for p in paths])


def pil_pipeline_b(paths):
    from PIL import Image

    return np.stack([np.asarray(pil_decode(p).resize((224, 224), Image.BILINEAR)) for p in paths])


def cv_decode(p):
    import cv2

    return cv2.cvtColor(cv2.imread(p, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def cv_letterbox(a):
    import cv2

    _, (nh, nw), (t, b_, l_, r) = mq.vision.letterbox_params(a.shape[:2], (640, 640))
    return cv2.copyMakeBorder(cv2.resize(a, (nw, nh), interpolation=cv2.INTER_LINEAR), t, b_, l_, r,
                              cv2.BORDER_CONSTANT, value=(114, 114, 114))


def cv_pipeline_a(paths):
    return np.stack([np_normalize_nchw(cv_letterbox(cv_decode(p))) for p in paths])


def cv_pipeline_b(paths):
    import cv2

    return np.stack([cv2.resize(cv_decode(p), (224, 224), interpolation=cv2.INTER_LINEAR) for p in paths])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--only", default=None,
                    help="run only the entries whose name starts with this prefix (e.g. 'B:'); no JSON is written")
    args = ap.parse_args()
    import mlx.core as mx

    tmp = tempfile.TemporaryDirectory()
    paths = make_photos(Path(tmp.name), args.n)
    n = args.n
    in_bytes = n * H * W * 3
    out_a, out_b = n * 3 * 640 * 640 * 4, n * 224 * 224 * 3
    rep = dict(repeat=args.repeat, warmup=1)
    wk = args.workers
    bench = Bench("vision", n_images=n, size=f"{H}x{W}", jpeg_quality=90, workers=wk or min(8, os.cpu_count() or 1),
                  cpu_count=os.cpu_count())
    bench.add_baseline("memcpy", *memcpy_baseline(in_bytes + out_a)[1:])

    entries: list[tuple] = []

    def add(name, fn, out_bytes, group, sync=None, notes="", count=None):
        entries.append((name, fn, out_bytes, group, sync, notes, n if count is None else count))

    # ---- stage split (each stage timed alone on the whole set) ----------------------------------------------------
    decoded_pil = [np.asarray(pil_decode(p)) for p in paths]
    pool = ThreadPoolExecutor(max_workers=wk or min(8, os.cpu_count() or 1))
    add("decode: Pillow sequential", lambda: [pil_decode(p) for p in paths], 0, "stage")
    add("decode: OpenCV sequential", lambda: [cv_decode(p) for p in paths], 0, "stage")
    add("decode: mlxquant load_image threads", lambda: list(pool.map(mq.vision.load_image, paths)), 0, "stage")
    add("decode: mlxquant draft (opt-in)", lambda: list(pool.map(
        lambda p: mq.vision.load_image(p, draft=(360, 640)), paths)), 0, "stage")
    add("resize A: Pillow letterbox", lambda: [pil_letterbox(__import__("PIL.Image").Image.fromarray(a))
                                               for a in decoded_pil], 0, "stage")
    add("resize A: OpenCV letterbox", lambda: [cv_letterbox(a) for a in decoded_pil], 0, "stage")
    add("resize A: mlxquant numpy (threads)", lambda: list(pool.map(
        lambda a: mq.vision.fit(a, 640, strategy="letterbox", antialias=True)[0], decoded_pil)), 0, "stage")
    batch_mx = mx.array(np.stack(decoded_pil[: min(n, 16)]))
    mx.eval(batch_mx)
    add("resize A: mlxquant mlx (16 imgs, CPU fast path)", lambda: mq.vision.fit(
        batch_mx, 640, strategy="letterbox", antialias=True)[0], 0, "stage", sync=mlx_sync,
        notes="16 images only (memory); MLX on CPU takes the proven-equal Pillow path", count=int(batch_mx.shape[0]))
    from mlxquant._backend import get_backend
    from mlxquant.vision.resize import _resize_generic

    add("resize A: mlxquant mlx generic device path (16 imgs)", lambda: _resize_generic(
        get_backend(backend="mlx"), batch_mx, (360, 640), method="bilinear", antialias=True,
        coordinate_mode="half_pixel", nearest_mode=None, cubic_a=None, integer=True), 0, "stage", sync=mlx_sync,
        notes="the batched gather path a GPU runs; here on MLX's single-threaded CPU backend",
        count=int(batch_mx.shape[0]))
    lb = [pil_letterbox(__import__("PIL.Image").Image.fromarray(a)) for a in decoded_pil]
    add("normalize A: NumPy /255 + transpose", lambda: np.stack([np_normalize_nchw(a) for a in lb]), out_a, "stage")
    lbs = np.stack(lb)
    add("normalize A: mlxquant normalize+layout", lambda: mq.vision.to_layout(
        mq.vision.normalize(lbs, "scale"), "nchw", src="nhwc"), out_a, "stage")

    # ---- end to end -----------------------------------------------------------------------------------------------
    add("A: Pillow + NumPy (sequential)", lambda: pil_pipeline_a(paths), out_a, "A 640")
    add("A: OpenCV (sequential)", lambda: cv_pipeline_a(paths), out_a, "A 640")
    add("A: mlxquant numpy (yolo, cv2-like resize)", lambda: mq.vision.preprocess(paths, "yolo", workers=wk).tensor,
        out_a, "A 640")
    add("A: mlxquant numpy (yolo, Pillow resize)", lambda: mq.vision.preprocess(paths, "yolo", antialias=True,
                                                                               workers=wk).tensor, out_a, "A 640")
    add("A: mlxquant numpy + draft decode", lambda: mq.vision.preprocess(paths, "yolo", antialias=True, draft=True,
                                                                        workers=wk).tensor, out_a, "A 640",
        notes="opt-in JPEG DCT downscale: different pixels")
    add("A: mlxquant mlx", lambda: mq.vision.preprocess(paths, "yolo", antialias=True, backend="mlx",
                                                        workers=wk).tensor, out_a, "A 640", sync=mlx_sync)
    add("B: Pillow + NumPy (sequential)", lambda: pil_pipeline_b(paths), out_b, "B 224")
    add("B: OpenCV (sequential)", lambda: cv_pipeline_b(paths), out_b, "B 224")
    add("B: mlxquant numpy", lambda: mq.vision.preprocess(paths, "tflite_quantized", 224, workers=wk).tensor, out_b,
        "B 224")
    add("B: mlxquant numpy + draft decode", lambda: mq.vision.preprocess(paths, "tflite_quantized", 224, draft=True,
                                                                        workers=wk).tensor, out_b, "B 224",
        notes="opt-in JPEG DCT downscale: different pixels")
    add("B: mlxquant mlx", lambda: mq.vision.preprocess(paths, "tflite_quantized", 224, backend="mlx",
                                                        workers=wk).tensor, out_b, "B 224", sync=mlx_sync)
    if args.only:
        entries[:] = [e for e in entries if e[0].startswith(args.only)]
    # The machine is shared: run the repetitions round-robin over all entries, so that a burst of foreign load hits
    # every pipeline alike, and report medians.
    times: dict[str, list[float]] = {e[0]: [] for e in entries}
    for r in range(rep["warmup"] + rep["repeat"]):
        for name, fn, _, _, sync, _, _ in entries:
            t = time_fn(fn, sync=sync, repeat=1, warmup=0)
            if r >= rep["warmup"]:
                times[name].extend(t)
        print(f"round {r + 1}/{rep['warmup'] + rep['repeat']} done", flush=True)
    for name, _, out_bytes, group, _, notes, k in entries:
        m = bench.add(name, times[name], (in_bytes + out_bytes) * k // n, group=group, notes=notes)
        m.extra["images_per_s"] = k / m.median
        print(f"{group:8s} {name:52s} {m.median * 1e3:9.1f} ms  {k / m.median:7.1f} img/s", flush=True)
    pool.shutdown()
    print()
    bench.report(relative_to=["memcpy", "A: Pillow + NumPy (sequential)", "B: Pillow + NumPy (sequential)"])
    if args.only:
        tmp.cleanup()
        return
    path = bench.write_json(RESULTS_DIR / "vision.json",
                            relative_to=["memcpy", "A: Pillow + NumPy (sequential)", "B: Pillow + NumPy (sequential)"])
    print(f"wrote {path}")
    tmp.cleanup()


if __name__ == "__main__":
    main()
