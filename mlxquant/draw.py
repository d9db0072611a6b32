"""Drawing decoded results on images: boxes with labels and scores, keypoints, segmentation masks (PIL).

``import mlxquant.draw`` does not import PIL; every function imports it on use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._backend import to_numpy
from ._errors import InvalidArgumentError

__all__ = ["COLORS", "boxes", "color_for", "keypoints", "mask"]

#: A 20-colour palette with distinct hues (Ultralytics' default colours); class k uses COLORS[k % 20].
COLORS = (
    (255, 56, 56), (255, 157, 151), (255, 112, 31), (255, 178, 29), (207, 210, 49), (72, 249, 10), (146, 204, 23),
    (61, 219, 134), (26, 147, 52), (0, 212, 187), (44, 153, 168), (0, 194, 255), (52, 69, 147), (100, 115, 255),
    (0, 24, 236), (132, 56, 255), (82, 0, 133), (203, 56, 255), (255, 149, 200), (255, 55, 199),
)


def color_for(class_id: int) -> tuple[int, int, int]:
    """The colour of a class id."""
    return COLORS[int(class_id) % len(COLORS)]


def _text_color(c: Sequence[int]) -> tuple[int, int, int]:
    # ITU-R BT.601 luma: black text on light colours, white on dark ones.
    return (0, 0, 0) if 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2] > 140 else (255, 255, 255)


def _to_pil(image: Any) -> Any:
    from PIL import Image

    if isinstance(image, Image.Image):
        return image.convert("RGB").copy()
    a = np.asarray(to_numpy(image))
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[2] not in (1, 3):
        a = np.transpose(a, (1, 2, 0))
    if a.dtype != np.uint8:
        if a.dtype.kind == "f" and a.size and float(np.nanmax(a)) <= 1.0:
            a = a * 255.0
        a = np.clip(np.round(np.nan_to_num(a)), 0, 255).astype(np.uint8)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    return Image.fromarray(a).convert("RGB")


def boxes(image: Any, detections: Any, *, show_labels: bool = True, show_scores: bool = True, width: int = 2,
          colors: Sequence[Sequence[int]] | None = None) -> Any:
    """Draw xyxy boxes with ``label score`` tags; returns a new PIL image (the input is not modified).

    Args:
        image: PIL image or ``[H, W, 3]`` / ``[3, H, W]`` array (uint8, or float in [0, 1]).
        detections: a :class:`~mlxquant.decode.Detections`, or an ``[K, 4]`` array of xyxy boxes.
        show_labels: write the label; show_scores: write the score (two decimals).
        width: line width in pixels (>= 1).
        colors: optional per-class colours (default :data:`COLORS`).

    Example:
        >>> import numpy as np
        >>> img = boxes(np.zeros((32, 32, 3), np.uint8), np.array([[4, 4, 20, 20]], np.float32))
        >>> img.size, img.getpixel((4, 10))
        ((32, 32), (255, 56, 56))
    """
    from PIL import ImageDraw

    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise InvalidArgumentError(f"width must be an int >= 1, got {width!r}")
    img = _to_pil(image)
    draw = ImageDraw.Draw(img)
    if hasattr(detections, "boxes"):
        bx = to_numpy(detections.boxes)
        sc = to_numpy(detections.scores)
        ids = to_numpy(detections.class_ids)
        labels = detections.labels
    else:
        bx = np.asarray(to_numpy(detections), np.float32).reshape(-1, 4)
        sc, ids, labels = None, np.zeros(bx.shape[0], np.int32), ()
    pal = colors if colors is not None else COLORS
    for k in range(bx.shape[0]):
        c = tuple(int(v) for v in pal[int(ids[k]) % len(pal)])
        x1, y1, x2, y2 = (float(v) for v in bx[k])
        draw.rectangle([x1, y1, x2, y2], outline=c, width=width)
        parts = []
        if show_labels and k < len(labels):
            parts.append(str(labels[k]))
        if show_scores and sc is not None:
            parts.append(f"{float(sc[k]):.2f}")
        if parts:
            text = " ".join(parts)
            lf, t, r, bt = draw.textbbox((0, 0), text)
            tw, th = r - lf, bt - t
            ty = y1 - th - 4 if y1 - th - 4 >= 0 else y1
            draw.rectangle([x1, ty, x1 + tw + 4, ty + th + 4], fill=c)
            draw.text((x1 + 2, ty + 2 - t), text, fill=_text_color(c))
    return img


def keypoints(image: Any, points: Any, *, radius: int = 3, color: Sequence[int] | None = None) -> Any:
    """Draw keypoints (``Detections.keypoints`` ``[K, P, 2|3]`` or an array ``[..., 2]``) as filled circles.

    Example:
        >>> import numpy as np
        >>> keypoints(np.zeros((16, 16, 3), np.uint8), np.array([[8.0, 8.0]])).getpixel((8, 8))
        (0, 212, 187)
    """
    from PIL import ImageDraw

    img = _to_pil(image)
    draw = ImageDraw.Draw(img)
    kp = points.keypoints if hasattr(points, "keypoints") else points
    if kp is None:
        return img
    a = np.asarray(to_numpy(kp), np.float32)
    a = a.reshape(-1, a.shape[-1])
    for i, p in enumerate(a):
        if a.shape[1] > 2 and p[2] <= 0:
            continue  # invisible keypoint
        c = tuple(int(v) for v in (color if color is not None else COLORS[(9 + i) % len(COLORS)]))
        x, y = float(p[0]), float(p[1])
        if color is None:
            c = COLORS[9]
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=c)
    return img


def mask(image: Any, seg: Any, *, alpha: float = 0.5, palette: Any = "voc", background: int | None = 0) -> Any:
    """Overlay a segmentation (``Segmentation`` or ``[H, W]`` class ids) on an image; returns a PIL image.

    See :func:`mlxquant.decode.segmentation.overlay` (``round((1 - alpha)·image + alpha·colour)``).

    Example:
        >>> import numpy as np
        >>> mask(np.zeros((2, 2, 3), np.uint8), np.array([[0, 15], [0, 0]]), alpha=1.0).getpixel((1, 0))
        (192, 128, 128)
    """
    from .decode.segmentation import overlay

    return overlay(_to_pil(image), seg, alpha=alpha, palette=palette, background=background)
