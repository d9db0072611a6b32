"""Helpers shared by the image commands (preprocess, run, demo): listing images, annotating results."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._errors import InvalidArgumentError

__all__ = ["IMAGE_SUFFIXES", "TASKS", "annotate", "guess_task", "list_images"]

#: Files taken from a folder argument (case-insensitive suffixes).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")
TASKS = ("classify", "detect", "segment")


def list_images(args: Sequence[str]) -> list[Path]:
    """Expand files and folders (a folder contributes its image files, sorted by name; not recursive; hidden files
    such as macOS ``._photo.jpg`` resource forks are skipped)."""
    out: list[Path] = []
    for a in args:
        p = Path(a)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES
                           and not f.name.startswith("."))
            if not found:
                raise InvalidArgumentError(f"folder {a!r} holds no images ({', '.join(IMAGE_SUFFIXES)})")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"no such image or folder: {a!r}")
    if not out:
        raise InvalidArgumentError("no images given")
    return out


def guess_task(info: Any) -> str:
    """classify ([B, C]), segment ([B, C, H, W] / [B, H, W, C] with H, W > 1) or detect (YOLO [B, D, N])."""
    shape = info.outputs[0].shape
    dims = [d for d in shape if not (isinstance(d, int) and d == 1)] if len(shape) > 2 else list(shape)
    if len(shape) == 2 or (len(shape) == 4 and shape[2] == 1 and shape[3] == 1):
        return "classify"
    if len(shape) == 4:
        return "segment"
    if len(shape) == 3:
        return "detect"
    raise InvalidArgumentError(f"cannot tell the task from output shape {list(shape)} ({len(dims)} dims); "
                               f"pass --task with one of: {', '.join(TASKS)}")


def annotate(image: Any, result: Any, task: str) -> Any:
    """An RGB PIL image with the result drawn on it (boxes, top-1 label, or a colour overlay)."""
    from PIL import Image, ImageDraw

    img = image.convert("RGB") if isinstance(image, Image.Image) else Image.fromarray(image).convert("RGB")
    if task == "detect":
        from .. import draw

        return draw.boxes(img, result)
    if task == "classify":
        _, label, score = result.top()
        d = ImageDraw.Draw(img)
        text = f"{label} {score:.2f}"
        d.rectangle([0, 0, 8 + 7 * len(text), 16], fill=(0, 0, 0))
        d.text((4, 2), text, fill=(255, 255, 255))
        return img
    import numpy as np

    colours = result.colorize()
    overlay = Image.fromarray(np.asarray(colours, np.uint8)).resize(img.size, Image.NEAREST)
    return Image.blend(img, overlay, 0.5)
