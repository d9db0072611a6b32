"""``mlxquant run MODEL IMAGES... -o OUTDIR``: run a model on images, write annotated images and results.json."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "run"]

HELP = "run a .onnx/.tflite model on images: annotated images + results.json"
DESCRIPTION = (
    "Run a model on images (files or folders) with a real runtime (onnxruntime or LiteRT). The preprocessing is "
    "derived from the model's input (size, layout, dtype, quantization), the decoding from its output; results are "
    "mapped back to each original image. Writes OUTDIR/<image>.png (annotated) and OUTDIR/results.json; OUTDIR "
    "appears only when everything succeeded."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..runtimes import RUNTIMES
    from ._common import TASKS

    p.add_argument("model", metavar="MODEL", help="a .onnx or .tflite model")
    p.add_argument("images", metavar="IMAGES", nargs="+", help="image files or folders")
    p.add_argument("-o", "--out", required=True, metavar="OUTDIR", help="output folder (must not exist; see --force)")
    p.add_argument("--task", choices=TASKS, help="default: guessed from the output shape")
    p.add_argument("--runtime", choices=RUNTIMES, default="auto", help="default: by the model's format")
    p.add_argument("--preset", help="vision preset (normalization etc.) for float models not fed [0, 1] RGB")
    p.add_argument("--size", type=int, nargs="+", metavar="N",
                   help="model input size N (square) or H W, for models with a dynamic height/width")
    p.add_argument("--labels", help="label set name (imagenet, coco80, ...) or a text file with one label per line")
    p.add_argument("--conf", type=float, default=0.25, help="detection confidence threshold (default 0.25)")
    p.add_argument("--iou", type=float, default=0.45, help="detection NMS IoU threshold (default 0.45)")
    p.add_argument("--topk", type=int, default=5, help="classes per image for classification (default 5)")
    p.add_argument("--boxes", choices=("pixels", "normalized"), default="pixels",
                   help="detection box units of the model output (Ultralytics TFLite exports: normalized)")
    p.add_argument("--force", action="store_true", help="replace OUTDIR if it exists")


def _labels(arg: str | None) -> object:
    if arg is None:
        return None
    p = Path(arg)
    if p.is_file():
        return [line.strip() for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    if p.suffix or len(p.parts) > 1:  # meant as a file (a label set name has no suffix or folder)
        raise FileNotFoundError(f"no such labels file: {arg!r} (or pass a label set name: imagenet, coco80, ...)")
    return arg


def run(args: argparse.Namespace) -> int:
    from .. import pipeline
    from .._io import atomic_dir
    from .._progress import progress
    from ..models import inspect_model
    from ._common import annotate, guess_task, list_images

    images = list_images(args.images)
    out = Path(args.out)
    if out.exists() and not args.force:
        raise FileExistsError(f"output {str(out)!r} already exists; pass --force to replace it")
    task = args.task or guess_task(inspect_model(args.model))
    decode: dict[str, object] = {}
    labels = _labels(args.labels)
    if labels is not None:
        decode["labels"] = labels
    if task == "detect":
        decode.update(conf=args.conf, iou=args.iou)
    elif task == "classify":
        decode["topk"] = args.topk
    cls = {"classify": pipeline.Classifier, "detect": pipeline.Detector, "segment": pipeline.Segmenter}[task]
    extra: dict[str, object] = {"boxes": args.boxes} if task == "detect" else {}
    preprocess: dict[str, object] = {}
    if args.size:
        if len(args.size) not in (1, 2):
            from .._errors import InvalidArgumentError

            raise InvalidArgumentError(f"--size takes N or H W, got {len(args.size)} numbers")
        preprocess["size"] = (args.size[0], args.size[-1])
    pipe = cls(args.model, runtime=args.runtime, preset=args.preset, preprocess=preprocess, decode=decode, **extra)

    from ..vision import load_image

    records = []
    totals = {"preprocess": 0.0, "inference": 0.0, "decode": 0.0}
    with atomic_dir(out, force=args.force) as tmp:
        used: set[str] = set()
        for path in progress(images, desc="run"):
            result = pipe(str(path))
            for k in totals:
                totals[k] += pipe.timings.get(k, 0.0)
            name = path.stem
            while name in used:  # two images with one stem in different folders
                name += "_"
            used.add(name)
            # drawn on the pixels the pipeline saw (EXIF orientation applied, 16-bit brought to 8), so boxes and
            # masks land where they were found
            annotate(load_image(path), result, task).save(tmp / f"{name}.png")
            rec = {"image": str(path), "annotated": f"{name}.png"}
            if task == "segment":
                rec["class_fractions"] = result.class_fractions()
            else:
                rec.update(result.to_dict())
            records.append(rec)
        doc = {"model": str(args.model), "task": task, "runtime": pipe.runtime.name,
               "preprocess": {k: (list(v) if isinstance(v, tuple) else v) for k, v in pipe.preprocess_options.items()},
               "timings_s": totals, "results": records}
        (tmp / "results.json").write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
    n = len(images)
    print(f"{task}: {n} image{'s' * (n != 1)} → {out}/ (results.json + annotated images); "
          f"preprocess {1e3 * totals['preprocess'] / n:.1f} ms, inference {1e3 * totals['inference'] / n:.1f} ms, "
          f"decode {1e3 * totals['decode'] / n:.1f} ms per image")
    return 0
