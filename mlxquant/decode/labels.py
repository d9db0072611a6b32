"""Label sets shipped as data files (mlxquant/decode/labels/*.txt) and the background-offset rule.

* ``imagenet``: the 1000 ILSVRC-2012 classes in the canonical (Keras ``imagenet_class_index.json`` / torchvision)
  order — 0 tench, 1 goldfish, 835 sundial, 836 sunglass, 837 sunglasses, 999 toilet tissue;
* ``coco80``: the 80 COCO detection classes in Ultralytics / Darknet order;
* ``coco91``: 91 entries indexed by COCO category id (0 ``__background__``, ``N/A`` at the 10 unused ids),
  torchvision detection order;
* ``voc``: 21 with ``background`` at 0; ``cifar10``, ``cifar100``; ``cityscapes`` (19 train ids), ``ade20k`` (150).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any

from .._errors import InvalidArgumentError, ShapeError

__all__ = ["LABEL_SETS", "get_labels", "resolve_labels"]

LABEL_SETS = ("imagenet", "coco80", "coco91", "voc", "cifar10", "cifar100", "cityscapes", "ade20k")
_ALIASES = {"coco": "coco80", "imagenet1k": "imagenet", "imagenet1000": "imagenet", "pascal_voc": "voc"}


@cache
def _load(name: str) -> tuple[str, ...]:
    text = resources.files("mlxquant.decode").joinpath("labels", f"{name}.txt").read_text(encoding="utf-8")
    return tuple(line.rstrip("\r") for line in text.split("\n") if line.strip() != "")


def get_labels(name: str) -> tuple[str, ...]:
    """A shipped label set by name (see :data:`LABEL_SETS`).

    Example:
        >>> labels = get_labels("imagenet")
        >>> len(labels), labels[836]
        (1000, 'sunglass')
    """
    key = _ALIASES.get(name, name)
    if key not in LABEL_SETS:
        raise InvalidArgumentError(f"unknown label set {name!r}; valid label sets are: {', '.join(LABEL_SETS)}")
    return _load(key)


def resolve_labels(labels: Any, num_classes: int, *, what: str = "output") -> tuple[tuple[str, ...] | None, int]:
    """Labels for ``num_classes`` outputs and the background offset (0 or 1).

    A model with exactly one more class than the labels (1001 vs 1000) has a background class at index 0: the
    offset is 1, and class ``k`` of the output is ``labels[k - 1]`` (``"background"`` for k = 0).

    Raises:
        ShapeError: fewer labels than classes (other than the single background column), naming both counts.
    """
    if labels is None:
        return None, 0
    lab = get_labels(labels) if isinstance(labels, str) else tuple(str(x) for x in labels)
    n = len(lab)
    if num_classes == n:
        return lab, 0
    if num_classes == n + 1:
        return ("background", *lab), 1
    if num_classes < n:
        # More labels than classes is legal only for COCO-91 style id tables; otherwise it is a mismatch.
        raise ShapeError(
            f"the {what} has {num_classes} classes but the label set has {n} labels; pass labels with {num_classes} "
            f"entries (or {num_classes - 1} when class 0 is background), or labels=None"
        )
    raise ShapeError(
        f"the labels are shorter than the classes: the {what} has {num_classes} classes, the label set has {n} "
        f"labels (expected {num_classes}, or {num_classes - 1} plus a background column)"
    )


def label_of(labels: Sequence[str] | None, k: int) -> str:
    """The label of class id ``k`` (``str(k)`` without labels)."""
    return str(k) if labels is None else labels[k]
