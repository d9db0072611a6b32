"""The geometric record of a preprocessing step and its exact inverse.

A :class:`Transform` says how original-image pixel coordinates map to model-input coordinates:
``x_in = x_orig · scale_x + offset_x`` and ``y_in = y_orig · scale_y + offset_y``, in *pixel-edge* coordinates
(pixel ``i`` covers ``[i, i + 1)``; the half-pixel convention of Pillow, OpenCV and ONNX ``half_pixel``). Because
every strategy resizes the whole image to an integer size (``scale = resized / original`` per axis) and then pads or
crops by whole pixels, this affine map is exact, and so is its inverse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._backend import get_backend
from .._checks import check_choice
from .._errors import InputTypeError, ShapeError

__all__ = ["INVERSE_MODES", "Transform"]

INVERSE_MODES = ("exact", "ultralytics")


def _float_dtype(b: Any, x: Any) -> str:
    name = b.dtype_name(x)
    if name in ("float32", "float64"):
        return name
    if name in ("float16", "bfloat16") or name.startswith(("int", "uint")) or name == "bool":
        return "float32"
    raise InputTypeError(f"coordinates must be numeric, got dtype {name}")


@dataclass(frozen=True)
class Transform:
    """How an original image became the model input (see the module docstring for the coordinate convention).

    Attributes:
        original_size: (height, width) of the original image.
        input_size: (height, width) of the model input.
        scale_x: model-input pixels per original pixel along x (``resized_width / width``).
        scale_y: likewise along y.
        offset_x: model-input x of original x = 0 (left padding minus left crop).
        offset_y: likewise for y.
        resized_size: (height, width) of the resized content before padding / cropping.
        pad: (top, bottom, left, right) padding added after resizing (pixels, may be fractional for "mediapipe").
        crop: (top, left) offset of the crop taken from the resized content.
        strategy: the fit strategy that produced it.
    """

    original_size: tuple[int, int]
    input_size: tuple[int, int]
    scale_x: float
    scale_y: float
    offset_x: float = 0.0
    offset_y: float = 0.0
    resized_size: tuple[int, int] | None = None
    pad: tuple[float, float, float, float] = (0, 0, 0, 0)
    crop: tuple[int, int] = (0, 0)
    strategy: str = "stretch"

    # ---- points ---------------------------------------------------------------------------------------------------
    def _affine(self, xy: Any, sx: float, sy: float, ox: float, oy: float, inverse: bool, clip_hw: Any) -> Any:
        b = get_backend(xy)
        a = b.asarray(xy)
        if len(a.shape) == 0 or int(a.shape[-1]) % 2:
            raise ShapeError(f"coordinates have shape {tuple(a.shape)}, expected (..., 2) points or (..., 4) boxes")
        dt = _float_dtype(b, a)
        a = b.astype(a, dt)
        n = int(a.shape[-1])
        # interleaved x, y, x, y, ...: per-column constants
        s = np.array([sx, sy] * (n // 2), dtype=np.float64)
        o = np.array([ox, oy] * (n // 2), dtype=np.float64)
        if inverse:
            # (x - offset) / scale: a subtraction and a correctly rounded division (same bits on NumPy and MLX).
            out = (a - b.asarray(o, dt)) / b.asarray(s, dt)
        else:
            out = a * b.asarray(s, dt) + b.asarray(o, dt)
        if clip_hw is not None:
            hi = np.array([clip_hw[1], clip_hw[0]] * (n // 2), dtype=np.float64)
            out = b.clip(out, b.const(0.0, dt), b.asarray(hi, dt))
        return out

    def inverse_points(self, xy: Any, *, clip: bool = True) -> Any:
        """Map model-input points [..., 2] (x, y) to original-image coordinates, clipped to [0, w] × [0, h].

        Example:
            >>> import numpy as np
            >>> t = Transform((100, 200), (64, 64), 0.32, 0.32, 0.0, 16.0, (32, 64), (16, 16, 0, 0))
            >>> t.inverse_points(np.array([[32.0, 32.0]], dtype=np.float32))
            array([[100.,  50.]], dtype=float32)
        """
        return self._affine(xy, self.scale_x, self.scale_y, self.offset_x, self.offset_y, True,
                            self.original_size if clip else None)

    def forward_points(self, xy: Any, *, clip: bool = False) -> Any:
        """Map original-image points [..., 2] to model-input coordinates (optionally clipped to the input).

        Example:
            >>> import numpy as np
            >>> t = Transform((100, 200), (64, 64), 0.32, 0.32, 0.0, 16.0, (32, 64), (16, 16, 0, 0))
            >>> t.forward_points(np.array([[100.0, 50.0]], dtype=np.float32))
            array([[32., 32.]], dtype=float32)
        """
        return self._affine(xy, self.scale_x, self.scale_y, self.offset_x, self.offset_y, False,
                            self.input_size if clip else None)

    def forward_boxes(self, xyxy: Any, *, clip: bool = False) -> Any:
        """Map original-image boxes [..., 4] (x1, y1, x2, y2) to model-input coordinates.

        Example:
            >>> import numpy as np
            >>> t = Transform((100, 200), (64, 64), 0.32, 0.32, 0.0, 16.0, (32, 64), (16, 16, 0, 0))
            >>> t.forward_boxes(np.array([[0.0, 0.0, 200.0, 100.0]], dtype=np.float32))
            array([[ 0., 16., 64., 48.]], dtype=float32)
        """
        self._check_boxes(xyxy)
        return self.forward_points(xyxy, clip=clip)

    def inverse_boxes(self, xyxy: Any, *, clip: bool = True, mode: str = "exact") -> Any:
        """Map model-input boxes [..., 4] (x1, y1, x2, y2) back to the original image.

        Args:
            xyxy: boxes in model-input pixels, NumPy or MLX, shape [..., 4].
            clip: clip to [0, w] × [0, h] of the original image.
            mode: "exact" (this transform's own affine map) or "ultralytics": ultralytics 8.4
                ``ops.scale_boxes(img1_shape, boxes, img0_shape)`` — one gain ``min(H/h, W/w)`` and the pad
                ``round((W - round(w·gain)) / 2 - 0.1)`` recomputed from the two shapes, as Ultralytics does, whatever
                the strategy that made the input (it assumes a centred letterbox).

        Returns:
            Boxes in original-image pixels (float32 for integer or half-precision input, else the input's dtype).

        Example:
            >>> import numpy as np
            >>> t = Transform((1080, 1920), (640, 640), 1 / 3, 1 / 3, 0.0, 140.0, (360, 640), (140, 140, 0, 0))
            >>> t.inverse_boxes(np.array([[0.0, 140.0, 320.0, 500.0]], dtype=np.float32))
            array([[   0.,    0.,  960., 1080.]], dtype=float32)
        """
        check_choice("mode", mode, INVERSE_MODES)
        self._check_boxes(xyxy)
        if mode == "exact":
            return self.inverse_points(xyxy, clip=clip)
        (h0, w0), (h1, w1) = self.original_size, self.input_size
        gain = min(h1 / h0, w1 / w0)
        # Python's round (half to even) as in ultralytics; the -0.1 bias is theirs (LetterBox pads top = round(dh-0.1)).
        pad_x = round((w1 - round(w0 * gain)) / 2 - 0.1)
        pad_y = round((h1 - round(h0 * gain)) / 2 - 0.1)
        return self._affine(xyxy, gain, gain, float(pad_x), float(pad_y), True, self.original_size if clip else None)

    @staticmethod
    def _check_boxes(xyxy: Any) -> None:
        shape = tuple(getattr(xyxy, "shape", np.shape(xyxy)))
        if len(shape) == 0 or shape[-1] != 4:
            raise ShapeError(f"boxes have shape {shape}, expected (..., 4) as x1, y1, x2, y2")

    # ---- masks ----------------------------------------------------------------------------------------------------
    def content_window(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) of the original image's content inside the model input (the non-padding region)."""
        (h, w), (hh, ww) = self.original_size, self.input_size
        x0 = max(0.0, self.offset_x)
        y0 = max(0.0, self.offset_y)
        x1 = min(float(ww), w * self.scale_x + self.offset_x)
        y1 = min(float(hh), h * self.scale_y + self.offset_y)
        return x0, y0, x1, y1

    def inverse_mask(self, mask: Any, *, method: str = "nearest") -> Any:
        """Map a model-input mask [..., H, W] onto the original image grid [..., h, w].

        Each original pixel centre ``u + 0.5`` is mapped to the input coordinate ``m = (u + 0.5)·scale + offset``;
        "nearest" reads input pixel ``floor(m)``, "bilinear" interpolates at ``m - 0.5`` (half-pixel), both clamped
        to the content window so padding never bleeds in. Original pixels that were cropped away (strategy "cover")
        read the nearest visible pixel.

        Returns:
            [..., h, w]: the mask's dtype for "nearest", float32 for "bilinear".

        Example:
            >>> import numpy as np
            >>> t = Transform((2, 4), (4, 4), 1.0, 1.0, 0.0, 1.0, (2, 4), (1, 1, 0, 0))
            >>> m = np.zeros((4, 4), dtype=np.uint8); m[1, :2] = 1
            >>> t.inverse_mask(m)
            array([[1, 1, 0, 0],
                   [0, 0, 0, 0]], dtype=uint8)
        """
        from .resize import AxisTable, apply_tables

        check_choice("method", method, ("nearest", "bilinear"))
        b = get_backend(mask)
        m = b.asarray(mask)
        if len(m.shape) < 2 or tuple(int(s) for s in m.shape[-2:]) != tuple(self.input_size):
            raise ShapeError(f"mask has shape {tuple(m.shape)}, expected (..., {self.input_size[0]}, "
                             f"{self.input_size[1]}) (the model input size)")
        x0, y0, x1, y1 = self.content_window()
        tables = []
        for n, s, off, lo, hi, size_in in ((self.original_size[0], self.scale_y, self.offset_y, y0, y1,
                                            self.input_size[0]),
                                           (self.original_size[1], self.scale_x, self.offset_x, x0, x1,
                                            self.input_size[1])):
            lo_i = math.floor(lo)
            hi_i = max(lo_i, math.ceil(hi) - 1)
            mcoord = (np.arange(n, dtype=np.float64) + 0.5) * s + off
            if method == "nearest":
                idx = np.clip(np.floor(mcoord), lo_i, hi_i)[:, None]
                w = np.ones((n, 1))
            else:
                src = mcoord - 0.5
                f0 = np.floor(src)
                f = src - f0
                idx = np.clip(np.stack([f0, f0 + 1], axis=1), lo_i, hi_i)
                w = np.stack([1.0 - f, f], axis=1)
            tables.append(AxisTable(idx.astype(np.int64), w, size_in))
        nd = len(m.shape)
        if method == "nearest":
            # a pure gather: any dtype (bool, class ids, scores) passes through unchanged
            out = b.take(m, b.asarray(tables[0].idx[:, 0]), axis=nd - 2)
            return b.take(out, b.asarray(tables[1].idx[:, 0]), axis=nd - 1)
        work = b.astype(m, "float32") if b.dtype_name(m) != "float32" else m
        out = apply_tables(b.expand_dims(work, -1), tables[0], tables[1], backend=b.name)
        return b.squeeze(out, -1)
