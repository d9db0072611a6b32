"""Typed, frozen decoding results: :class:`Classification`, :class:`Detections`, :class:`Segmentation`.

Arrays inside results stay on the backend of the model output (NumPy in → NumPy out, MLX in → MLX out);
``to_numpy()``, ``to_dict()`` and ``to_json()`` give plain NumPy / Python values.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._backend import get_backend, to_numpy
from .._errors import InvalidArgumentError

__all__ = ["Classification", "ClassificationBatch", "Detections", "Segmentation"]


def _np(x: Any) -> Any:
    return None if x is None else to_numpy(x)


def _to_input_size(m: Any, transform: Any, bilinear: bool) -> Any:
    """``m`` [..., h, w] brought to the transform's model-input size [..., H, W] when it is smaller or larger
    (segmentation heads at 1/4 resolution, YOLO-seg prototype-resolution masks): half-pixel bilinear (float masks,
    as ``F.interpolate(align_corners=False)``) or half-pixel nearest (class ids: input pixel o reads
    ``floor((o + 0.5)·h / H)``)."""
    size = getattr(transform, "input_size", None)
    if size is None or len(m.shape) < 2:
        return m
    hh, ww = int(size[0]), int(size[1])
    h, w = int(m.shape[-2]), int(m.shape[-1])
    if (h, w) == (hh, ww):
        return m
    b = get_backend(m)
    lead = tuple(int(d) for d in m.shape[:-2])
    x = b.reshape(m, (int(np.prod(lead)) if lead else 1, h, w))
    if bilinear:
        from .yolo import _upsample_bilinear

        x = _upsample_bilinear(b, b.astype(x, "float32"), hh, ww)
    else:
        # float64 index arithmetic: exact for any realistic size
        ri = np.minimum(np.floor((np.arange(hh) + 0.5) * h / hh), h - 1).astype(np.int32)
        ci = np.minimum(np.floor((np.arange(ww) + 0.5) * w / ww), w - 1).astype(np.int32)
        x = b.take(b.take(x, b.asarray(ri), axis=1), b.asarray(ci), axis=2)
    return b.reshape(x, (*lead, hh, ww))


@dataclass(frozen=True)
class Classification:
    """Top-k result of one image: ``indices`` (int32, best first), ``scores`` (float32) and ``labels``."""

    indices: Any
    scores: Any
    labels: tuple[str, ...]
    background_offset: int = 0

    def __len__(self) -> int:
        return len(self.labels)

    def to_dict(self) -> dict[str, Any]:
        return {
            "indices": [int(i) for i in _np(self.indices)],
            "scores": [float(s) for s in _np(self.scores)],
            "labels": list(self.labels),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def top(self) -> tuple[int, str, float]:
        """(index, label, score) of the best class."""
        return int(_np(self.indices)[0]), self.labels[0], float(_np(self.scores)[0])


class ClassificationBatch(Sequence[Classification]):
    """A batch of :class:`Classification` (list-like); ``to_dict()`` gives a list of dicts."""

    def __init__(self, items: Sequence[Classification]) -> None:
        self._items = tuple(items)

    def __getitem__(self, i: Any) -> Any:
        return self._items[i]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Classification]:
        return iter(self._items)

    def __repr__(self) -> str:
        return f"ClassificationBatch({list(self._items)!r})"

    def to_dict(self) -> list[dict[str, Any]]:
        return [c.to_dict() for c in self._items]

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


@dataclass(frozen=True)
class Detections:
    """Detections of one image, xyxy boxes in model-input pixels.

    Attributes:
        boxes: float32 ``[K, 4]`` xyxy.
        scores: float32 ``[K]``, descending.
        class_ids: int32 ``[K]``.
        labels: ``K`` label strings.
        keypoints: optional float32 ``[K, P, 2]`` (x, y) in the same pixels (or ``[K, P, 3]`` with visibility).
        masks: optional ``[K, H, W]`` masks (float32 probabilities or bool), model-input resolution.
        image_size: (height, width) of the model input the coordinates refer to, when known.
    """

    boxes: Any
    scores: Any
    class_ids: Any
    labels: tuple[str, ...] = ()
    keypoints: Any = None
    masks: Any = None
    image_size: tuple[int, int] | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def to_numpy(self) -> Detections:
        """The same detections with NumPy arrays."""
        return Detections(_np(self.boxes), _np(self.scores), _np(self.class_ids), self.labels, _np(self.keypoints),
                          _np(self.masks), self.image_size, dict(self.extras))

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "boxes": _np(self.boxes).astype(float).tolist(),
            "scores": _np(self.scores).astype(float).tolist(),
            "class_ids": _np(self.class_ids).astype(int).tolist(),
            "labels": list(self.labels),
        }
        if self.keypoints is not None:
            d["keypoints"] = _np(self.keypoints).astype(float).tolist()
        if self.image_size is not None:
            d["image_size"] = list(self.image_size)
        return d

    def to_json(self) -> str:
        """JSON of :meth:`to_dict` (masks are left out; use ``to_numpy().masks``)."""
        return json.dumps(self.to_dict())

    def map_to_original(self, transform: Any, *, clip: bool = True, mode: str | None = None) -> Detections:
        """Map boxes (and keypoints) to the original image through ``transform.inverse_boxes`` / ``inverse_points``.

        Args:
            transform: a vision transform (``mlxquant.vision``) with ``inverse_boxes(xyxy, clip=..., mode=...)``
                and ``inverse_points(xy, clip=...)``; masks go through ``inverse_mask`` when present (float
                prototype-resolution masks are first upsampled bilinearly to the transform's input size).
            clip: clip to the original image.
            mode: passed to ``inverse_boxes`` (``"exact"`` or ``"ultralytics"``) when given.
        """
        if not hasattr(transform, "inverse_boxes"):
            raise InvalidArgumentError(
                f"transform must provide inverse_boxes (an mlxquant.vision transform), got {type(transform).__name__}"
            )
        kw: dict[str, Any] = {"clip": clip}
        if mode is not None:
            kw["mode"] = mode
        boxes = transform.inverse_boxes(self.boxes, **kw)
        kp = self.keypoints
        if kp is not None:
            b = get_backend(kp)
            xy = kp[..., :2]
            k, p = int(xy.shape[0]), int(xy.shape[1])
            mapped = transform.inverse_points(b.reshape(xy, (k * p, 2)), clip=clip)
            mapped = b.reshape(b.asarray(mapped), (k, p, 2))
            kp = b.concatenate([mapped, kp[..., 2:]], axis=-1) if kp.shape[-1] > 2 else mapped
        masks = self.masks
        if masks is not None and hasattr(transform, "inverse_mask"):
            # masks="proto" masks are float probabilities at prototype resolution: bilinear to the input size first
            bil = get_backend(masks).is_floating(masks)
            masks = transform.inverse_mask(_to_input_size(masks, transform, bil))
        return Detections(boxes, self.scores, self.class_ids, self.labels, kp, masks, None, dict(self.extras))


@dataclass(frozen=True)
class Segmentation:
    """Semantic segmentation of one image.

    Attributes:
        mask: int32 ``[H, W]`` class ids (ties → lower index).
        confidence: float32 ``[H, W]`` probability of the chosen class (None for argmax outputs).
        labels: label names or None.
        num_classes: number of classes of the output (2 for a single-channel sigmoid output).
    """

    mask: Any
    confidence: Any
    labels: tuple[str, ...] | None
    num_classes: int

    def class_counts(self) -> dict[int, int]:
        """Pixel count per class id present in the mask."""
        m = _np(self.mask).ravel()
        ids, counts = np.unique(m, return_counts=True)
        return {int(i): int(c) for i, c in zip(ids, counts, strict=True)}

    def class_fractions(self) -> dict[str, float]:
        """Fraction of pixels per present class, keyed by label (or id)."""
        m = _np(self.mask)
        total = m.size or 1
        out = {}
        for k, c in self.class_counts().items():
            name = self.labels[k] if self.labels is not None and 0 <= k < len(self.labels) else str(k)
            out[name] = c / total
        return out

    def resize_to_original(self, transform: Any) -> Segmentation:
        """Map mask (nearest) and confidence to the original image through ``transform.inverse_mask``.

        An output at another resolution than the model input (e.g. 1/4) is first brought to the input size by
        half-pixel nearest sampling (mask and confidence alike, so each pixel keeps its class's confidence).
        """
        if not hasattr(transform, "inverse_mask"):
            raise InvalidArgumentError(
                f"transform must provide inverse_mask (an mlxquant.vision transform), got {type(transform).__name__}"
            )
        mask = transform.inverse_mask(_to_input_size(self.mask, transform, False))
        conf = (transform.inverse_mask(_to_input_size(self.confidence, transform, False))
                if self.confidence is not None else None)
        return Segmentation(mask, conf, self.labels, self.num_classes)

    def colorize(self, palette: Any = "voc") -> np.ndarray:
        """RGB uint8 ``[H, W, 3]`` image of the mask with a palette (name or ``[C, 3]`` array)."""
        from .segmentation import palette as _palette

        pal = _palette(palette, max(self.num_classes, 1)) if isinstance(palette, str) else np.asarray(palette, np.uint8)
        m = _np(self.mask).astype(np.int64)
        return pal[np.clip(m, 0, pal.shape[0] - 1)]

    def overlay(self, image: Any, alpha: float = 0.5, palette: Any = "voc", *, background: int | None = 0) -> Any:
        """Blend the colourized mask over ``image`` (PIL image or ``[H, W, 3]`` uint8); returns a PIL image."""
        from .segmentation import overlay as _overlay

        return _overlay(image, self, alpha=alpha, palette=palette, background=background)
