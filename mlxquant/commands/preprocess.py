"""``mlxquant preprocess IMAGES... --preset NAME | --model MODEL -o batch.npz``: images → one model-ready tensor."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "run"]

HELP = "turn images into one model-ready batch tensor (.npz), from a preset or a model's input spec"
DESCRIPTION = (
    "Preprocess images (files or folders) into one batch tensor saved as .npz: 'tensor' (the batch), 'images' "
    "(the source paths) and 'transforms' (JSON: how each image was resized/padded, to map results back). With "
    "--model the size, layout, dtype and quantization come from the model's input; with --preset from a vision "
    "preset. The output file appears only when everything succeeded."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ._common import TASKS

    p.add_argument("images", metavar="IMAGES", nargs="+", help="image files or folders")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--preset", help="a vision preset (e.g. yolo, mobilenet, resnet)")
    src.add_argument("--model", help="derive everything from this .onnx/.tflite model's input")
    p.add_argument("--task", choices=TASKS, help="with --model: the resize strategy (detect letterboxes); "
                   "default: guessed from the model's output")
    p.add_argument("--size", type=int, nargs="+", metavar="N", help="override the size: N (square) or H W")
    p.add_argument("-o", "--out", required=True, metavar="FILE.npz", help="output file (see --force)")
    p.add_argument("--force", action="store_true", help="overwrite the output file")


def _transform_record(t: object) -> object:
    import dataclasses

    if dataclasses.is_dataclass(t) and not isinstance(t, type):
        return dataclasses.asdict(t)
    if hasattr(t, "to_dict"):
        return t.to_dict()  # type: ignore[no-any-return]
    return repr(t)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from .. import vision
    from .._backend import to_numpy
    from .._errors import InvalidArgumentError
    from .._io import atomic_path, check_output_path
    from .._progress import progress
    from ._common import guess_task, list_images

    images = list_images(args.images)
    out = Path(args.out)
    if out.suffix != ".npz":
        raise InvalidArgumentError(f"output must be a .npz file, got {str(out)!r}")
    check_output_path(out, force=args.force)
    overrides: dict[str, object] = {}
    if args.size:
        if len(args.size) not in (1, 2):
            raise InvalidArgumentError(f"--size takes N or H W, got {len(args.size)} numbers")
        overrides["size"] = (args.size[0], args.size[-1])
    kw: dict[str, object]
    if args.model:
        from ..models import inspect_model
        from ..pipeline import derive_preprocess

        info = inspect_model(args.model)
        kw = derive_preprocess(info.inputs[0], task=args.task or guess_task(info), overrides=overrides)
    else:
        kw = {"preset": args.preset, **overrides}
    tensors, transforms = [], []
    for path in progress(images, desc="preprocess"):
        batch = vision.preprocess([str(path)], **kw)
        tensors.append(to_numpy(batch.tensor))
        transforms.extend(batch.transforms)
    tensor = np.concatenate(tensors, axis=0)
    if args.model:
        from ..pipeline import quantize_input

        # int16 / per-axis integer inputs: vision stays float32, quantized here with the model's own parameters
        tensor = to_numpy(quantize_input(info.inputs[0], tensor, kw, info.format))
    record = json.dumps([_transform_record(t) for t in transforms], default=str)
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, tensor=tensor, images=np.array([str(p) for p in images]), transforms=np.array(record))
    print(f"{len(images)} image{'s' * (len(images) != 1)} → {out}: tensor {list(tensor.shape)} {tensor.dtype}")
    return 0
