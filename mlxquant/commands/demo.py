"""``mlxquant demo``: the main job end to end on embedded defaults, offline, in a few seconds.

Photos shipped in ``mlxquant/data`` (public domain / CC0) and a small YOLOv8-style colour-region detector the
project builds itself (``tools/build_models.py``) go through: preprocess (letterbox derived from the model's input)
→ quantize the model to int8 with onnxruntime's ``quantize_static`` (calibrated on the photos) → run the float and
the int8 model with onnxruntime → decode (NMS) and map the boxes back to each photo → compare float vs int8 (score
SQNR, box SQNR, matched detections and their IoU) → a short report, annotated images and ``report.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

__all__ = ["DEMO_IMAGES", "DESCRIPTION", "DETECTOR_QUANT_NODES", "HELP", "add_arguments", "demo", "run"]

HELP = "run the main job on embedded photos and a built-in model: preprocess, quantize, run, decode, compare"
DESCRIPTION = (
    "Offline demo on embedded defaults: sample photos (public domain / CC0) and a small colour-region detector built "
    "by the project. Preprocesses, quantizes the model to int8 (onnxruntime quantize_static), runs float and int8 "
    "with onnxruntime, decodes, compares, prints a report and writes annotated images + report.json to --out. "
    "Needs the onnx extra: pip install 'mlxquant[onnx]'."
)

#: The embedded photos (mlxquant/data; licences in mlxquant/data/README.txt).
DEMO_IMAGES = ("astronaut.jpg", "coffee.jpg", "chelsea.jpg")
DEMO_MODEL = "colour_detector.onnx"
DEFAULT_OUT = "mlxquant-demo"
#: Detector nodes quantized to int8: the colour conv + softmax and the colour-fraction pooling that gives the scores.
#: The moment arithmetic of the boxes stays float (E[x²] − E[x]² cancels catastrophically at 8 bits), the way
#: deployed detectors keep their box decoding in float.
DETECTOR_QUANT_NODES = ("colour_conv", "colour_softmax", "drop_other", "classes_as_batch", "cell_p1",
                        *(f"pool_p1_{k}" for k in (256, 128, 64)), *(f"flat_f_{k}" for k in (256, 128, 64)))
#: Confidence threshold of the demo (score = √fraction · completeness of a colour in a window, see the model docs).
DEMO_CONF = 0.4


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", metavar="IMAGES", nargs="*", help="your own photos (default: the embedded ones)")
    p.add_argument("-o", "--out", default=DEFAULT_OUT, metavar="OUTDIR",
                   help=f"output folder (default ./{DEFAULT_OUT}; a previous demo output there is replaced)")
    p.add_argument("--conf", type=float, default=DEMO_CONF, help=f"confidence threshold (default {DEMO_CONF})")


def _data_path(name: str) -> Path:
    from importlib.resources import files

    return Path(str(files("mlxquant") / "data" / name))


def _side_by_side(left, right, titles: tuple[str, str]):
    from PIL import Image, ImageDraw

    w, h = left.size
    canvas = Image.new("RGB", (2 * w + 8, h + 18), (255, 255, 255))
    canvas.paste(left, (0, 18))
    canvas.paste(right, (w + 8, 18))
    d = ImageDraw.Draw(canvas)
    d.text((4, 3), titles[0], fill=(0, 0, 0))
    d.text((w + 12, 3), titles[1], fill=(0, 0, 0))
    return canvas


def demo(images: list[str] | None = None, out: str | Path = DEFAULT_OUT, *, conf: float = DEMO_CONF,
         echo: bool = True) -> dict:
    """Run the demo (see the module docstring); returns the report as a dict (also written to report.json).

    Raises:
        MissingDependencyError: onnx / onnxruntime missing (``pip install 'mlxquant[onnx]'``).
        InvalidArgumentError: ``out`` exists and is not a previous demo output.
    """
    import numpy as np
    from PIL import Image

    from .. import draw, pipeline
    from .._errors import InvalidArgumentError
    from .._io import atomic_dir
    from ..models import inspect_model
    from ..runtimes import ort_quantize_static
    from ..vision import load_image

    t_start = time.perf_counter()
    out = Path(out)
    if out.exists() and not (out.is_dir() and ((out / "report.json").is_file() or not any(out.iterdir()))):
        raise InvalidArgumentError(f"output {str(out)!r} exists and is not a previous demo output; choose --out")
    if not out.parent.exists():
        raise InvalidArgumentError(f"the folder of output {str(out)!r} does not exist")
    paths = [Path(p) for p in images] if images else [_data_path(n) for n in DEMO_IMAGES]
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"no such image: {str(p)!r}")
    model = _data_path(DEMO_MODEL)
    decode = {"conf": conf, "iou": 0.45}
    lines: list[str] = []

    def say(s: str = "") -> None:
        lines.append(s)
        if echo:
            print(s, flush=True)

    with atomic_dir(out, force=True) as tmp:
        fp = pipeline.Detector(model, decode=decode)
        # 1. preprocess (letterbox to the model's 256×256 NCHW float input, derived from the model file)
        t0 = time.perf_counter()
        batch = fp.preprocess([str(p) for p in paths])
        t_pre = time.perf_counter() - t0
        tensor = np.asarray(batch.tensor)
        # 2. quantize with onnxruntime's quantize_static, calibrated on these photos
        t0 = time.perf_counter()
        qpath = ort_quantize_static(model, tmp / "colour_detector.int8.onnx", list(tensor), per_channel=True,
                                    nodes=DETECTOR_QUANT_NODES)
        t_quant = time.perf_counter() - t0
        qp = pipeline.Detector(qpath, decode=decode)
        # 3. run both (onnxruntime CPU), 4. decode + map back to each photo
        fp.infer(tensor)
        qp.infer(tensor)  # warm-up: the first run allocates
        t0 = time.perf_counter()
        out_f = fp.infer(tensor)
        t_inf_f = time.perf_counter() - t0
        t0 = time.perf_counter()
        out_q = qp.infer(tensor)
        t_inf_q = time.perf_counter() - t0
        t0 = time.perf_counter()
        dets_f = fp.decode(out_f, list(batch.transforms))
        dets_q = qp.decode(out_q, list(batch.transforms))
        t_dec = (time.perf_counter() - t0) / 2
        # 5. compare
        yf, yq = out_f[0], out_q[0]
        scores = pipeline.compare_outputs([yf[:, 4:]], [yq[:, 4:]])
        active = np.broadcast_to((yf[:, 4:].max(axis=1) > conf)[:, None, :], yf[:, :4].shape)
        boxes = pipeline.compare_outputs([yf[:, :4][active]], [yq[:, :4][active]]) if active.any() else None
        matches = [pipeline.match_detections(a, b) for a, b in zip(dets_f, dets_q, strict=True)]

        info_q = inspect_model(qpath)
        n = len(paths)
        say(f"mlxquant demo: {n} photo{'s' * (n != 1)}, colour-region detector (YOLOv8-style output "
            f"[{', '.join(map(str, fp.info.outputs[0].shape))}], {len(fp.info.labels or [])} colour classes), "
            "onnxruntime CPU")
        say(f"  preprocess  letterbox → {list(tensor.shape)} {tensor.dtype} "
            f"({fp.preprocess_options.get('layout')}, derived from the model input)")
        say(f"  quantize    int8 QDQ with onnxruntime quantize_static, per-channel, calibrated on the photos; "
            f"input {info_q.inputs[0].describe_quant()}")
        say("")
        header = f"  {'photo':<16}{'float':>6}{'int8':>6}{'matched':>9}{'IoU':>7}   best detection (int8)"
        say(header)
        records = []
        for p, df, dq, m in zip(paths, dets_f, dets_q, matches, strict=True):
            dqn = dq.to_numpy()
            best = "-"
            if len(dqn):
                x1, y1, x2, y2 = (round(float(v)) for v in dqn.boxes[0])
                best = f"{dqn.labels[0]} {float(dqn.scores[0]):.2f} at [{x1}, {y1}, {x2}, {y2}]"
            iou = "-" if m["matched"] == 0 else f"{m['mean_iou']:.3f}"
            say(f"  {p.name:<16}{len(df):>6}{len(dq):>6}{m['matched']:>5}/{m['reference']:<3}{iou:>7}   {best}")
            # drawn on the pixels the pipeline saw (EXIF orientation applied), so the boxes land where they were found
            im = Image.fromarray(load_image(p))
            pic = _side_by_side(draw.boxes(im.copy(), df), draw.boxes(im.copy(), dq),
                                ("float32 (onnxruntime)", "int8 QDQ (onnxruntime)"))
            pic.save(tmp / f"{p.stem}.jpg", quality=90)
            records.append({"image": str(p), "annotated": f"{p.stem}.jpg", "float": df.to_dict(),
                            "int8": dq.to_dict(), "match": m})
        say("")
        total_ref = sum(m["reference"] for m in matches)
        total_match = sum(m["matched"] for m in matches)
        ious = [m["mean_iou"] * m["matched"] for m in matches if m["matched"]]
        mean_iou = sum(ious) / total_match if total_match else float("nan")
        say(f"  float vs int8: score SQNR {scores['sqnr_db']:.1f} dB (max |Δ| {scores['max_abs_diff']:.3f}), "
            + (f"box SQNR {boxes['sqnr_db']:.1f} dB on anchors above conf, " if boxes else "")
            + f"{total_match}/{total_ref} float detections matched (IoU ≥ 0.5, mean {mean_iou:.3f})")
        say(f"  time        preprocess {1e3 * t_pre / n:.1f} ms/img, inference {1e3 * t_inf_f / n:.1f} ms/img "
            f"float / {1e3 * t_inf_q / n:.1f} ms/img int8, decode {1e3 * t_dec / n:.1f} ms/img, "
            f"quantize_static {t_quant:.2f} s")
        report = {
            "model": str(model), "quantized_model": "colour_detector.int8.onnx", "images": records,
            "preprocess": {k: (list(v) if isinstance(v, tuple) else v) for k, v in fp.preprocess_options.items()},
            "decode": decode, "score_sqnr_db": scores["sqnr_db"],
            "box_sqnr_db": boxes["sqnr_db"] if boxes else None, "matched": total_match, "float_detections": total_ref,
            "mean_iou": mean_iou,
            "timings_s": {"preprocess": t_pre, "quantize": t_quant, "inference_float": t_inf_f,
                          "inference_int8": t_inf_q, "decode": t_dec},
        }
        (tmp / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
        (tmp / "report.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    say(f"  wrote       {out}/: {', '.join(p.stem + '.jpg' for p in paths)}, colour_detector.int8.onnx, report.json "
        f"({time.perf_counter() - t_start:.1f} s in all)")
    return report


def run(args: argparse.Namespace) -> int:
    demo(args.images or None, args.out, conf=args.conf)
    return 0
